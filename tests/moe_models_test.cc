// The mixture-of-experts models of the MoE validation rows (bench/training_validation.yaml: Mixtral 8x7B from
// Megatron-Core's MoE README, Qwen3-30B-A3B from Megatron-Bridge's performance tables) as lcsim describes them, held
// against the parameter counts their publishers state, and Qwen3's per-head query/key norm (--qk-layernorm) worked
// out by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "megatron_support.h"

#include "models/hardware/catalog.h"
#include "scenarios/scenario.h"
#include "workloads/training/gpt_model.h"
#include "workloads/training/layer_activations.h"
#include "workloads/training/megatron.h"
#include "workloads/training/placement.h"

namespace lcsim {
namespace {

using megatron_support::op_bytes;

// Mixtral 8x7B as Megatron-LM's MoE README trains it (32 layers, h 4,096, FFN 14,336, 32 heads in 8 groups, SwiGLU,
// 8 experts, top 2, vocabulary 32,000, untied).
wl::GptModelConfig mixtral_8x7b() {
  wl::GptModelConfig m;
  m.num_layers = 32, m.hidden_size = 4096, m.ffn_hidden_size = 14336, m.num_attention_heads = 32;
  m.group_query_attention = true, m.num_query_groups = 8, m.seq_length = 4096, m.vocab_size = 32000;
  m.swiglu = true, m.normalization = "RMSNorm", m.position_embedding_type = "rope", m.add_bias_linear = false;
  m.untie_embeddings_and_output_weights = true, m.num_experts = 8, m.moe_router_topk = 2;
  return m;
}

// Qwen3-30B-A3B's released configuration: 48 layers, h 2,048, 32 query heads and 4 key/value heads of 128 (not
// h / heads = 64), 128 experts of 768, 8 per token, vocabulary 151,936, untied, query/key norms.
wl::GptModelConfig qwen3_30b_a3b() {
  wl::GptModelConfig m;
  m.num_layers = 48, m.hidden_size = 2048, m.ffn_hidden_size = 6144, m.num_attention_heads = 32;
  m.group_query_attention = true, m.num_query_groups = 4, m.kv_channels = 128, m.qk_layernorm = true;
  m.seq_length = 4096, m.vocab_size = 151936, m.swiglu = true, m.normalization = "RMSNorm";
  m.position_embedding_type = "rope", m.add_bias_linear = false, m.untie_embeddings_and_output_weights = true;
  m.num_experts = 128, m.moe_router_topk = 8, m.moe_ffn_hidden_size = 768;
  return m;
}

// Mistral AI's announcement: "46.7B total parameters but only uses 12.9B parameters per token". By hand: a layer's
// attention 4,096 x (4,096 + 2 x 1,024) + 4,096^2 = 41.94M, one expert 3 x 4,096 x 14,336 = 176.16M, the router
// 32,768 and two norms 8,192: 1,451.3M per layer, x 32 = 46.44B, plus 2 x 32,000 x 4,096 = 262.1M of embeddings
// and the final norm: 46.70B; per token the two chosen experts: (41.94M + 2 x 176.16M + 40,960) x 32 + 262.1M =
// 12.88B.
TEST(MoeModels, Mixtral8x7bHasItsPublishedParameterCounts) {
  const wl::GptModelConfig m = mixtral_8x7b();
  EXPECT_NEAR(m.total_params() / 1e9, 46.70, 0.01);
  EXPECT_NEAR(m.active_params() / 1e9, 12.88, 0.01);
  EXPECT_NEAR(m.total_params() / 46.7e9, 1, 0.005);
  EXPECT_NEAR(m.active_params() / 12.9e9, 1, 0.005);
}

// Qwen's model card: "Number of Parameters: 30.5B in total and 3.3B activated". By hand: attention 2,048 x (4,096 +
// 1,024) + 4,096 x 2,048 = 18.87M plus the two 128-wide query/key norms, experts 128 x 3 x 2,048 x 768 = 603.98M,
// router 262,144, norms 4,096: 623.12M per layer, x 48 = 29.910B, plus 2 x 151,936 x 2,048 = 622.3M: 30.53B; per
// token 8 experts of 4.719M: (18.87M + 37.75M + 0.27M) x 48 + 622.3M = 3.35B.
TEST(MoeModels, Qwen3With128ExpertsHasItsPublishedParameterCounts) {
  const wl::GptModelConfig m = qwen3_30b_a3b();
  EXPECT_NEAR(m.total_params() / 1e9, 30.53, 0.01);
  EXPECT_NEAR(m.active_params() / 1e9, 3.35, 0.01);
  EXPECT_NEAR(m.total_params() / 30.5e9, 1, 0.005);
  EXPECT_NEAR(m.active_params() / 3.3e9, 1, 0.02);
}

// --qk-layernorm on Qwen3-30B-A3B's attention, one sequence of 4,096 on TP 2: 16 query and 2 key/value heads of 128
// per rank, so the norm reads and writes 4,096 x (16 + 2) x 128 bf16 elements: 2 x 2 x 9,437,184 = 37,748,736 B,
// between the QKV GEMM and the rotary embedding; without the flag there is no such kernel. Its parameters are two
// 128-wide RMSNorm weights per layer, and a layer keeps the norm's input, (32 + 4) x 128 x 2 B per token more.
TEST(MoeModels, QkLayernormNormalizesEveryQueryAndKeyHeadOnce) {
  wl::GptModelConfig m = qwen3_30b_a3b();
  wl::LayerShard sh;
  sh.tp = 2, sh.sp = true;
  const wl::LayerOps with = wl::layer_forward(m, 0, 1, 2, sh);
  ASSERT_EQ(with.qkv.size(), 3u);
  EXPECT_EQ(with.qkv[0].name, "qkv");
  EXPECT_EQ(with.qkv[1].name, "qk_norm");
  EXPECT_EQ(with.qkv[2].name, "rope");
  EXPECT_DOUBLE_EQ(op_bytes(with.qkv, "qk_norm"), 37748736.0);
  EXPECT_EQ(with.qkv[1].memory_kind, hw::MemoryKind::kNorm);
  const double params = m.attention_params(), saved = wl::layer_activations(m, 0, {}).split;

  m.qk_layernorm = false;
  EXPECT_EQ(op_bytes(wl::layer_forward(m, 0, 1, 2, sh).qkv, "qk_norm"), -1);
  EXPECT_DOUBLE_EQ(params - m.attention_params(), 256.0);
  EXPECT_DOUBLE_EQ(saved - wl::layer_activations(m, 0, {}).split, 36 * 128 * 2.0);
}

// MoE parallel folding's groups on one stage of 8 ranks, TP 2 x DP 4 in Megatron's order (rank = tp + 2 dp), EP 4.
// Folded (expert TP 1), the expert-parallel groups are runs of 4 consecutive ranks over TP x DP, {0..3} and
// {4..7}, and each expert's copies sit 4 apart ({0, 4}, ..., {3, 7}); unfolded (experts on TP 2) EP 4 takes the 4
// data-parallel ranks of one TP rank, {0, 2, 4, 6}, and no two ranks hold the same experts.
TEST(MoeParallelFolding, ExpertGroupsRunOverTensorAndDataParallelRanks) {
  const wl::Placement folded(2, 1, 4, 1, 4, "tp-cp-ep-dp-pp", true), plain(2, 1, 4, 1, 4, "tp-cp-ep-dp-pp");
  using G = std::vector<uint32_t>;
  EXPECT_EQ(folded.group(wl::GroupKind::kEp, 1), (G{0, 1, 2, 3}));
  EXPECT_EQ(folded.group(wl::GroupKind::kEp, 6), (G{4, 5, 6, 7}));
  EXPECT_EQ(folded.group(wl::GroupKind::kEdp, 6), (G{2, 6}));
  EXPECT_EQ(plain.group(wl::GroupKind::kEp, 2), (G{0, 2, 4, 6}));
  EXPECT_EQ(plain.group(wl::GroupKind::kEdp, 2), (G{2}));
  EXPECT_EQ(folded.group(wl::GroupKind::kTp, 6), (G{6, 7}));  // the dense layers keep their TP pairs
}

// Qwen3-235B-A22B's MoE layer (h 4,096, 128 experts of 1,536, top 8) on TP 2 with EP 32, one sequence of 4,096.
// Experts on TP 2: each of the 4 local experts gets 32 x 4,096 x 8 / 128 = 8,192 tokens (gathered over TP) against
// half its width, 2 x 1,536 / 2 = 1,536 up-projection columns. Folded: each rank sends its own 2,048 sequence-
// parallel tokens, so 32 x 2,048 x 8 / 128 = 4,096 tokens against the whole 3,072 columns: the same FLOPs.
TEST(MoeParallelFolding, FoldedExpertsTakeEachRanksTokensAtFullWidth) {
  wl::GptModelConfig m = qwen3_30b_a3b();
  m.num_layers = 94, m.hidden_size = 4096, m.num_attention_heads = 64, m.moe_ffn_hidden_size = 1536;
  wl::LayerShard sh;
  sh.tp = 2, sh.ep = 32, sh.sp = true;
  auto up = [&](const wl::LayerShard& s) {
    const auto mlp = wl::layer_forward(m, 0, 1, 2, s).mlp;
    return *std::find_if(mlp.begin(), mlp.end(), [](const hw::OpWork& op) { return op.name == "expert_up"; });
  };
  const hw::OpWork split = up(sh);
  EXPECT_DOUBLE_EQ(split.gemm.m, 8192);
  EXPECT_DOUBLE_EQ(split.gemm.n, 1536);
  EXPECT_DOUBLE_EQ(split.gemm.batch, 4);
  sh.etp = 1;
  const hw::OpWork folded = up(sh);
  EXPECT_DOUBLE_EQ(folded.gemm.m, 4096);
  EXPECT_DOUBLE_EQ(folded.gemm.n, 3072);
  EXPECT_DOUBLE_EQ(folded.gemm.batch, 4);
  EXPECT_DOUBLE_EQ(folded.flops.value(), split.flops.value());
}

// The plan of a folded stage (kBase: 32 GPUs, TP 2, PP 4, so DP 4; 8 experts on EP 8 = TP x DP, which unfolded
// experts could not take: EP would have to divide DP 4). Each rank holds one whole expert of each of its stage's
// 2 layers: 2 x 3 x 2,048 x 8,192 parameters (SwiGLU, no biases); the routed tokens are no longer gathered over TP
// (no "routed tokens" all-gather), and the tokens still go to the experts by the dispatch all-to-all.
TEST(MoeParallelFolding, AFoldedStageHoldsWholeExpertsAndGathersNoTokensOverTp) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  Scenario sc = megatron_support::parse_sets(
      {"workload.model.num_experts=8", "workload.model.ffn_hidden_size=8192", "workload.model.swiglu=true",
       "workload.model.add_bias_linear=false",
       "workload.sequence_parallel=true", "workload.expert_model_parallel_size=8",
       "workload.expert_tensor_parallel_size=1"});
  const auto& w = dynamic_cast<const wl::MegatronTraining&>(*sc.workload);
  const auto plan = w.plan_stage(part, 1);
  EXPECT_DOUBLE_EQ(plan.expert_params, 2 * 3 * 2048.0 * 8192);
  bool dispatch = false;
  for (const auto& pass : plan.forward) {
    for (const auto& seg : pass.segments) {
      for (const auto& call : seg.comms) {
        EXPECT_EQ(call.name.find("routed tokens"), std::string::npos) << call.name;
        dispatch = dispatch || call.name.find("dispatch") != std::string::npos;
      }
    }
  }
  EXPECT_TRUE(dispatch);
}

// The same folded layout from a pasted Megatron-LM command line (kBase's 32 GPUs: TP 2 x PP 4 leaves DP 4): both
// flags land on their keys, the experts fold TP into EP 8 = 2 x 4, and with every expert on one rank no other
// rank holds a copy (expert-data-parallel size 4 x 2 / (8 x 1) = 1).
TEST(MoeParallelFolding, MegatronCommandLineFlagsSelectFoldingAndQkNorm) {
  Scenario sc = megatron_support::parse_with(R"(workload:
  type: megatron
  megatron_args: >-
    pretrain_gpt.py --num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048
    --vocab-size 32000 --global-batch-size 32 --micro-batch-size 1 --tensor-model-parallel-size 2
    --pipeline-model-parallel-size 4 --sequence-parallel --bf16 --num-experts 8 --expert-model-parallel-size 8
    --expert-tensor-parallel-size 1 --qk-layernorm
)");
  const auto& c = dynamic_cast<wl::MegatronTraining&>(*sc.workload).config();
  EXPECT_TRUE(c.model.qk_layernorm);
  EXPECT_EQ(c.expert_tensor_parallel_size, 1);
  EXPECT_TRUE(c.experts_fold_tp());
  EXPECT_EQ(c.expert_data_parallel(4), 1);
}

}  // namespace
}  // namespace lcsim
