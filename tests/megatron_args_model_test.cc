// The Megatron workload's input, what a pasted Megatron-LM command line builds: the experts' module by backend, the
// QKV bias, the FP8 recipe, uneven and virtual pipeline stages, recomputation and the MoE layer pattern (the line's
// import itself, its ignored and unknown arguments and Megatron's own checks: megatron_input_test.cc).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "megatron_support.h"
#include "workloads/training/megatron.h"

namespace lcsim {
namespace {

using megatron_support::config_of;
using megatron_support::config_of_line;
using megatron_support::parse_with;

// The experts' module follows the backend, as Megatron-core's spec providers build it: Transformer Engine's
// TEGroupedMLP with --moe-grouped-gemm (the legacy GroupedMLP with --moe-use-legacy-grouped-gemm), and with
// --transformer-impl local SequentialMLP whatever --moe-grouped-gemm says (LocalSpecProvider.grouped_mlp_modules),
// named in the run header as the reading taken (versions that still had the legacy GroupedMLP built that instead).
// Megatron-LM's DeepSeek-V2-Lite example (examples/deepseek2_lite) passes both.
TEST(MegatronInput, TransformerImplLocalBuildsSequentialExperts) {
  const std::string moe = "--num-layers 4 --hidden-size 1024 --num-attention-heads 16 --seq-length 512 "
                          "--vocab-size 1024 --num-experts 8 --moe-router-topk 2 --global-batch-size 32 "
                          "--micro-batch-size 1 --moe-grouped-gemm ";
  auto config = [&](const std::string& tail) { return config_of_line(moe + tail); };
  const wl::MegatronConfig te = config("");
  EXPECT_EQ(te.moe_grouped_gemm, "multi_stream");
  EXPECT_EQ(config("--moe-use-legacy-grouped-gemm").moe_grouped_gemm, "single_kernel");
  const wl::MegatronConfig local = config("--transformer-impl local");
  EXPECT_EQ(local.moe_grouped_gemm, "sequential");
  EXPECT_EQ(config("--transformer-impl local --moe-use-legacy-grouped-gemm").moe_grouped_gemm, "sequential");
  const auto read = std::find_if(local.flags_read.begin(), local.flags_read.end(), [](const std::string& f) {
    return f.rfind("--moe-grouped-gemm with --transformer-impl local -> moe_grouped_gemm = sequential", 0) == 0;
  });
  EXPECT_NE(read, local.flags_read.end());
  EXPECT_TRUE(te.flags_read.empty() || std::none_of(te.flags_read.begin(), te.flags_read.end(), [](const auto& f) {
                return f.find("--transformer-impl local") != std::string::npos;
              }));
  // Without --moe-grouped-gemm nothing is read: lcsim's default stands, named in the header as a default taken.
  const std::string bare = moe.substr(0, moe.find("--moe-grouped-gemm"));
  const wl::MegatronConfig plain = config_of_line(bare + "--transformer-impl local");
  EXPECT_EQ(plain.moe_grouped_gemm, wl::MegatronConfig{}.moe_grouped_gemm);
  EXPECT_TRUE(std::any_of(plain.defaults_taken.begin(), plain.defaults_taken.end(),
                          [](const std::string& d) { return d.rfind("moe_grouped_gemm = ", 0) == 0; }));
}

// --add-qkv-bias (Qwen2's and GLM-4.5's attention): with --disable-bias-linear, a bias on the QKV projection alone,
// as Megatron-core builds linear_qkv (bias = add_bias_linear or add_qkv_bias): per layer the query and key/value
// widths in parameters, nothing else (its add and gradient sit in the GEMM's epilogue).
TEST(MegatronInput, AddQkvBiasCountsTheQkvBiasAlone) {
  const std::string line = "--num-layers 4 --hidden-size 1024 --num-attention-heads 16 --group-query-attention "
                           "--num-query-groups 4 --kv-channels 64 --seq-length 512 --vocab-size 1024 "
                           "--global-batch-size 32 --micro-batch-size 1 --disable-bias-linear ";
  auto config = [&](const std::string& tail) { return config_of_line(line + tail); };
  const wl::MegatronConfig plain = config(""), qkv = config("--add-qkv-bias");
  EXPECT_FALSE(plain.model.add_qkv_bias);
  EXPECT_TRUE(qkv.model.add_qkv_bias);
  EXPECT_FALSE(qkv.model.add_bias_linear);
  // 16 query heads and 2 x 4 key/value heads of 64 per layer, 4 layers.
  EXPECT_DOUBLE_EQ(qkv.model.total_params() - plain.model.total_params(), 4.0 * (16 + 2 * 4) * 64);
  // With every linear biased the flag adds nothing more.
  const std::string biased = line.substr(0, line.find("--disable-bias-linear"));
  EXPECT_DOUBLE_EQ(config_of_line(biased + "--add-qkv-bias").model.total_params(),
                   config_of_line(biased).model.total_params());
}

// --fp8-recipe blockwise (Transformer Engine's Float8BlockScaling; NVIDIA's H100 FP8 MoE recipes in
// examples/moe_recipes use it) reads as the recipe key, in either spelling (costs: Fp8Training.BlockwiseCasts...).
TEST(MegatronInput, BlockwiseFp8RecipeReadsAsTheRecipe) {
  const std::string line = "--num-layers 4 --hidden-size 1024 --num-attention-heads 16 --seq-length 512 "
                           "--vocab-size 1024 --global-batch-size 32 --micro-batch-size 1 --bf16 --fp8-format e4m3 ";
  for (const std::string recipe : {"--fp8-recipe blockwise", "--fp8-recipe=blockwise"}) {
    const wl::MegatronConfig c = config_of_line(line + recipe);
    EXPECT_EQ(c.fp8_recipe, "blockwise") << recipe;
    EXPECT_TRUE(c.fp8_blockwise()) << recipe;
  }
  // NVIDIA's DeepSeek-V3 H100 FP8 recipe (examples/moe_recipes/deepseek_v3/h100/fp8_1024GPU_TP2PP8EP64.yaml) also
  // passes the MTP loss's weight: numerics, ignored.
  const std::vector<std::string> ignored =
      config_of_line(line + "--fp8-recipe blockwise --mtp-num-layers 1 --mtp-loss-scaling-factor 0.1").ignored_args;
  EXPECT_NE(std::find(ignored.begin(), ignored.end(), "--mtp-loss-scaling-factor"), ignored.end());
}

TEST(MegatronInput, UnevenStagesAndVirtualStagesFromTheCommandLine) {
  Scenario a = parse_with(R"(workload:
  type: megatron
  megatron_args: >-
    --num-layers 10 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 --vocab-size 32000
    --global-batch-size 32 --micro-batch-size 1 --tensor-model-parallel-size 2 --pipeline-model-parallel-size 4
    --decoder-first-pipeline-num-layers 1 --decoder-last-pipeline-num-layers 1 --bf16
)");
  const auto* w = dynamic_cast<wl::MegatronTraining*>(a.workload.get());
  EXPECT_EQ(w->config().decoder_first_pipeline_num_layers, 1);
  EXPECT_EQ(w->layer_range(0), std::make_pair(0, 1));
  EXPECT_EQ(w->layer_range(1), std::make_pair(1, 5));
  EXPECT_EQ(w->layer_range(2), std::make_pair(5, 9));
  EXPECT_EQ(w->layer_range(3), std::make_pair(9, 10));
  Scenario v = parse_with(R"(workload:
  type: megatron
  megatron_args: >-
    --num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 --vocab-size 32000
    --global-batch-size 32 --micro-batch-size 1 --tensor-model-parallel-size 2 --pipeline-model-parallel-size 4
    --num-virtual-stages-per-pipeline-rank 2 --no-overlap-p2p-communication --bf16
)");
  EXPECT_EQ(config_of(v).virtual_stages(), 2);
  EXPECT_EQ(config_of(v).schedule(), "interleaved");
  EXPECT_FALSE(config_of(v).overlap_p2p_comm);
}

TEST(MegatronInput, RecomputeMethodFromTheCommandLine) {
  // What Megatron requires with full recomputation.
  Scenario sc = parse_with(R"(workload:
  type: megatron
  megatron_args: "--recompute-granularity full --recompute-method block --recompute-num-layers 1"
)");
  EXPECT_EQ(config_of(sc).recompute_method, "block");
  EXPECT_EQ(config_of(sc).recompute_num_layers, 1);
  EXPECT_EQ(config_of(sc).recomputed_layers(2), 1);
}

// Megatron-LM's --moe-layer-freq as DeepSeek-V3's launch writes it (3 dense layers, then MoE ones) and
// --recompute-modules with its list of names; the other list expressions Megatron evaluates, each read as the layers
// it lists (DeepSeek-V2-Lite's '[0]+[1]*15', every other layer, a repeated group); a pattern lcsim cannot hold, one
// that is no list expression, one of more layers than any model, one whose length is not --num-layers, and a
// misspelt module are errors naming what is wrong.
TEST(MegatronInput, MoeLayerPatternAndRecomputeModulesFromTheCommandLine) {
  const std::string moe = "--num-layers 8 --hidden-size 1024 --num-attention-heads 16 --seq-length 512 "
                          "--vocab-size 1024 --num-experts 4 --moe-router-topk 2 --global-batch-size 32 "
                          "--micro-batch-size 1 --recompute-granularity selective ";
  Scenario sc = parse_with("workload:\n  type: megatron\n  megatron_args: \"" + moe +
                           "--moe-layer-freq '([0]*3+[1]*5)' --recompute-modules layernorm moe_act\"\n");
  const wl::MegatronConfig& c = config_of(sc);
  EXPECT_EQ(c.model.moe_first_dense_layers, 3);
  EXPECT_EQ(c.model.moe_layer_freq, 1);
  for (int l = 0; l < 8; ++l) EXPECT_EQ(c.model.is_moe_layer(l), l >= 3) << l;
  EXPECT_EQ(c.recompute_modules, (std::vector<std::string>{"layernorm", "moe_act"}));
  EXPECT_TRUE(c.recomputes("moe_act"));
  EXPECT_FALSE(c.recomputes("core_attn"));
  // An integer keeps its meaning.
  EXPECT_EQ(config_of(parse_with("workload:\n  type: megatron\n  megatron_args: \"" + moe + "--moe-layer-freq 2\"\n"))
                .model.moe_layer_freq,
            2);
  auto error_of = [&](const std::string& tail) {
    try {
      parse_with("workload:\n  type: megatron\n  megatron_args: \"" + moe + tail + "\"\n");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // Each list expression is read as the layers it lists, where lcsim's model (the first N layers dense, then every
  // k-th layer MoE) holds them.
  auto layers_of = [&](const std::string& freq) {
    const Scenario parsed =
        parse_with("workload:\n  type: megatron\n  megatron_args: \"" + moe + "--moe-layer-freq '" + freq + "'\"\n");
    const wl::MegatronConfig& m = config_of(parsed);
    std::string out;
    for (int l = 0; l < 8; ++l) out += m.model.is_moe_layer(l) ? '1' : '0';
    return out;
  };
  EXPECT_EQ(layers_of("[0]+[1]*7"), "01111111");
  EXPECT_EQ(layers_of("[1,0,1,0,1,0,1,0]"), "10101010");
  EXPECT_EQ(layers_of("([1]+[0])*4"), "10101010");
  EXPECT_EQ(layers_of("([0]*2+[1]*2)+[1,1]+([1]*1)*2"), "00111111");
  EXPECT_EQ(layers_of("([0]*4+[1,0])+[1,0]"), "00001010");
  // Quoted once more, as a launcher that hands the line to a second shell writes it (slime's "'([1]*48)'").
  {
    const Scenario parsed =
        parse_with("workload:\n  type: megatron\n  megatron_args: >-\n    " + moe + "--moe-layer-freq \"'[0]+[1]*7'\"\n");
    const wl::MegatronConfig& m = config_of(parsed);
    EXPECT_EQ(m.model.moe_first_dense_layers, 1);
    EXPECT_EQ(m.model.moe_layer_freq, 1);
  }
  const std::string interleaved = error_of("--moe-layer-freq '[0,1,0,1,0,1,0,1]'");
  EXPECT_NE(interleaved.find("--moe-layer-freq '[0,1,0,1,0,1,0,1]'"), std::string::npos) << interleaved;
  EXPECT_NE(interleaved.find("other layer patterns are not modelled"), std::string::npos) << interleaved;
  const std::string grouped = error_of("--moe-layer-freq '([1]*3+[0]*1)*2'");
  EXPECT_NE(grouped.find("other layer patterns are not modelled"), std::string::npos) << grouped;
  for (const char* bad : {"[0]*3+[2]*5", "[0]*3+", "([1]*8", "[1]**8", "[0,1]*x", "__import__(os)"}) {
    const std::string e = error_of(std::string("--moe-layer-freq '") + bad + "'");
    EXPECT_NE(e.find("list expression of the layers"), std::string::npos) << bad << ": " << e;
  }
  const std::string huge = error_of("--moe-layer-freq '([1]*9999999)*9999999'");
  EXPECT_NE(huge.find("list expression of the layers"), std::string::npos) << huge;
  std::string deep = "[1]*8";
  for (int i = 0; i < 40; ++i) deep = "(" + deep + ")";
  EXPECT_NE(error_of("--moe-layer-freq '" + deep + "'").find("list expression of the layers"), std::string::npos);
  const std::string length = error_of("--moe-layer-freq '([0]*3+[1]*58)'");
  EXPECT_NE(length.find("lists 61 layers but --num-layers is 8"), std::string::npos) << length;
  const std::string typo = error_of("--recompute-modules layernorn");
  EXPECT_NE(typo.find("recompute_modules"), std::string::npos) << typo;
  EXPECT_NE(typo.find("did you mean 'layernorm'"), std::string::npos) << typo;
}

}  // namespace
}  // namespace lcsim
