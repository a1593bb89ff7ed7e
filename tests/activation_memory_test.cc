// The activation memory of a megatron job where Korthikanti et al.'s closed form over-counts or the schedule's
// average misplaces it: no dropout masks at dropout 0, grouped-query keys and values at their own width, micro-
// batches in flight counted chunk by chunk, and Megatron's gradient buckets as views of the gradient buffer.
// Every expected number is worked out by hand (docs/calibration.md, Memory).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "megatron_support.h"

#include "models/hardware/catalog.h"
#include "models/hardware/memory.h"
#include "scenarios/scenario.h"
#include "workloads/training/layer_activations.h"
#include "workloads/training/megatron.h"

namespace lcsim {
namespace {

using wl::MegatronTraining;

using megatron_support::parse_sets;
const auto& item = megatron_support::memory_item;

// Llama 3 405B's layer (h 16,384, 128 heads of 128 with 8 key/value heads, SwiGLU FFN 53,248, no dropout), per
// token: whole the two norm inputs and outputs, 8h (no masks); split q 2h, k and v 2 x 8 x 128 each, the output 2h,
// the SwiGLU input 2 x 2 x 53,248 and output 2 x 53,248. Unfused attention repeats k and v to all 128 heads (8h).
TEST(ActivationMemory, NoDropoutKeepsNoMasksAndGroupedQueriesKeepNarrowKeysAndValues) {
  wl::GptModelConfig m;
  m.hidden_size = 16384, m.num_attention_heads = 128, m.group_query_attention = true, m.num_query_groups = 8;
  m.ffn_hidden_size = 53248, m.swiglu = true, m.hidden_dropout = 0;
  const wl::LayerActivations a = wl::layer_activations(m, 0, {});
  EXPECT_DOUBLE_EQ(a.whole, 8 * 16384.0);
  EXPECT_DOUBLE_EQ(a.split, 2 * 16384.0 + 2 * 2 * 8 * 128 + 2 * 16384 + 6 * 53248.0);
  wl::ActivationOptions unfused;
  unfused.fused_attention = false;
  EXPECT_DOUBLE_EQ(wl::layer_activations(m, 0, unfused).split, 8 * 16384.0 + 6 * 53248.0);
  m.hidden_dropout = 0.1;  // Megatron's default: two 1-byte masks
  EXPECT_DOUBLE_EQ(wl::layer_activations(m, 0, {}).whole, 10 * 16384.0);
}

// kBase (h 2,048, 16 heads, GeLU FFN 8,192, s 2,048, TP 2 without sequence parallelism, dropout 0.1) with 2 layers
// on PP 2 interleaved, one layer per chunk, the embedding and the loss each in a layer's place: rank 0 holds the
// embedding (chunk 0) and layer 1 (chunk 1), rank 1 layer 0 (chunk 0) and the loss (chunk 1). DP 8, 4 micro-batches.
// Megatron's order on rank 0 (warm-up (2 - 0 - 1) x 2 + (2 - 1) x 2 = 4): F(0,c0) F(1,c0) F(0,c1) F(1,c1), then
// F(2,c0) B(0,c1) F(3,c0) B(1,c1) F(2,c1) B(0,c0) F(3,c1) B(1,c0) ...: layer 1 (chunk 1) has at most 2 micro-batches
// alive. Rank 1 (warm-up 2): F(0,c0) F(1,c0) F(0,c1) B(0,c1) F(1,c1) B(1,c1) F(2,c0) B(0,c0) ...: layer 0 has 3
// alive. The old average over chunks said (4 + 1) / 2 = 2.5 and (2 + 1) / 2 = 1.5 micro-batches of one layer.
TEST(ActivationMemory, InterleavedInFlightCountsEachChunksLayers) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  Scenario sc = parse_sets({"workload.model.num_layers=2", "workload.pipeline_model_parallel_size=2",
                            "workload.num_layers_per_virtual_pipeline_stage=1",
                            "workload.account_for_embedding_in_pipeline_split=true",
                            "workload.account_for_loss_in_pipeline_split=true", "workload.overlap_grad_reduce=true"});
  const auto& w = dynamic_cast<const MegatronTraining&>(*sc.workload);
  const auto r0 = w.plan_stage(part, 0), r1 = w.plan_stage(part, 1);
  EXPECT_DOUBLE_EQ(r0.in_flight, 2);
  EXPECT_DOUBLE_EQ(r1.in_flight, 3);
  // One layer-pass per token: 10h whole + (8h + 4f) / 2 = 20,480 + 24,576 = 45,056 B, x 2,048 tokens.
  const double pass = 45056.0 * 2048;
  EXPECT_DOUBLE_EQ(item(r0.memory, "activations"), 2 * pass);
  EXPECT_DOUBLE_EQ(item(r1.memory, "activations"), 3 * pass);
  // Overlapped gradient reduction adds no buffer: Megatron's buckets are views of the gradient buffer.
  EXPECT_DOUBLE_EQ(item(r0.memory, "communication buffers"), 0);
}

// The megatron job's count, end to end: the same kBase layout (TP 2, PP 4: stage 1 holds 2 layers and 3 of the 8
// micro-batches under 1F1B) with grouped-query attention (4 key/value heads of 16) and no dropout keeps per token
// and layer 8h whole and q 2h, k and v 2 x 4 x 128 each, the output 2h and 4f split: 16,384 + (4,096 + 2,048 +
// 4,096 + 32,768) / 2 = 37,888 B, against 45,056 B with MHA and dropout.
TEST(ActivationMemory, MegatronStageCountsNarrowKeysAndValuesAndNoMasks) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  Scenario gqa = parse_sets({"workload.model.group_query_attention=true", "workload.model.num_query_groups=4",
                             "workload.model.hidden_dropout=0"});
  Scenario mha = parse_sets({});
  const auto g = dynamic_cast<const MegatronTraining&>(*gqa.workload).plan_stage(part, 1);
  const auto a = dynamic_cast<const MegatronTraining&>(*mha.workload).plan_stage(part, 1);
  ASSERT_DOUBLE_EQ(g.in_flight, 3);
  EXPECT_DOUBLE_EQ(item(g.memory, "activations"), 37888.0 * 2048 * 2 * 3);
  EXPECT_DOUBLE_EQ(item(a.memory, "activations"), 45056.0 * 2048 * 2 * 3);
}

// Megatron-LM's --hidden-dropout is read (it was accepted and ignored): a pasted Llama-style line with 0.0 keeps no
// masks; without the argument Megatron's default 0.1 applies.
TEST(ActivationMemory, HiddenDropoutFromTheCommandLine) {
  const std::string line = "--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 "
                           "--global-batch-size 32 --micro-batch-size 1 --tensor-model-parallel-size 2 "
                           "--pipeline-model-parallel-size 4";
  auto dropout = [&](const std::string& more) {
    const std::string workload = "workload:\n  type: megatron\n  megatron_args: \"" + line + more + "\"\n";
    Scenario sc = megatron_support::parse_with(workload);
    return dynamic_cast<const MegatronTraining&>(*sc.workload).config().model.hidden_dropout;
  };
  EXPECT_DOUBLE_EQ(dropout(" --hidden-dropout 0.0"), 0);
  EXPECT_DOUBLE_EQ(dropout(""), 0.1);
}

// Qwen3-30B-A3B's layer (h 2,048, 32 query heads and 4 key/value heads of 128, per-head query/key norm, 128 experts
// of width 768, top 8, SwiGLU, no dropout), per token. 16-bit: whole the two norm inputs and outputs 4 x 2 x 2,048
// = 16,384; split q, k, v 2 x (32 + 8) x 128 = 10,240, the attention output 2 x 4,096 = 8,192, the query/key norm's
// input 2 x 36 x 128 = 9,216, the router's fp32 probabilities 4 x 128 = 512 and per routed copy (8) the expert's
// input 2 x 2,048, its SwiGLU input 2 x 1,536, its output 2 x 768 and its fp32 probability 4: 8 x 8,708 = 69,664.
// Transformer Engine's FP8 linear layers keep 1-byte copies of their inputs: the norm outputs (2 x 2,048), the
// experts' inputs (2,048) and SwiGLU outputs (768), and a second, FP8 copy of the attention output (4,096) beside
// the attention kernel's 16-bit one; the SwiGLU input stays 16-bit: whole 12,288, split 10,240 + 12,288 + 9,216 +
// 512 + 8 x (2,048 + 3,072 + 768 + 4) = 79,392. DeepSeek-V3's caching (fp8_saved) also stores the SwiGLU input in
// FP8 and keeps the attention output once: split 10,240 + 8,192 + 9,216 + 512 + 8 x (2,048 + 1,536 + 768 + 4) =
// 63,008, with or without the Transformer Engine flag.
TEST(ActivationMemory, TransformerEngineFp8KeepsOneByteCopiesOfLinearInputs) {
  wl::GptModelConfig m;
  m.hidden_size = 2048, m.num_attention_heads = 32, m.group_query_attention = true, m.num_query_groups = 4;
  m.kv_channels = 128, m.qk_layernorm = true, m.swiglu = true, m.hidden_dropout = 0;
  m.num_experts = 128, m.moe_router_topk = 8, m.moe_ffn_hidden_size = 768, m.ffn_hidden_size = 6144;
  const wl::LayerActivations bf16 = wl::layer_activations(m, 0, {});
  EXPECT_DOUBLE_EQ(bf16.whole, 16384.0);
  EXPECT_DOUBLE_EQ(bf16.split, 10240.0 + 8192 + 9216 + 512 + 69664);
  wl::ActivationOptions te;
  te.fp8_linear_inputs = true;
  const wl::LayerActivations fp8 = wl::layer_activations(m, 0, te);
  EXPECT_DOUBLE_EQ(fp8.whole, 12288.0);
  EXPECT_DOUBLE_EQ(fp8.split, 79392.0);
  wl::ActivationOptions deepseek;
  deepseek.fp8_saved = true;
  EXPECT_DOUBLE_EQ(wl::layer_activations(m, 0, deepseek).whole, 12288.0);
  EXPECT_DOUBLE_EQ(wl::layer_activations(m, 0, deepseek).split, 63008.0);
  deepseek.fp8_linear_inputs = true;
  EXPECT_DOUBLE_EQ(wl::layer_activations(m, 0, deepseek).split, 63008.0);
}

// The megatron job: kBase's stage 1 (2 layers, 3 micro-batches in flight, TP 2 without sequence parallelism, MHA of
// 16 heads, GeLU FFN 8,192, dropout 0.1) keeps 45,056 B per token and layer in 16 bits. With precision: fp8 as
// Transformer Engine saves: whole 4 x 2,048 (norm inputs) + 2 x 2,048 (masks) + 2 x 2,048 (FP8 norm outputs) =
// 16,384; split (q, k, v 6 x 2,048 + the attention output 3 x 2,048 + the GeLU input 2 x 8,192 and its FP8 output
// 8,192) / 2 = 21,504: 37,888 B. torchao's high_precision saving keeps the 16-bit count.
TEST(ActivationMemory, Fp8LinearSavedInputFollowsTheFramework) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  auto activations = [&](const std::vector<std::string>& sets) {
    Scenario sc = parse_sets(sets);
    const auto r = dynamic_cast<const MegatronTraining&>(*sc.workload).plan_stage(part, 1);
    EXPECT_DOUBLE_EQ(r.in_flight, 3);
    return item(r.memory, "activations");
  };
  EXPECT_DOUBLE_EQ(activations({"workload.precision=fp8"}), 37888.0 * 2048 * 2 * 3);
  EXPECT_DOUBLE_EQ(activations({"workload.precision=fp8", "workload.fp8_linear_saved_input=high_precision"}),
                   45056.0 * 2048 * 2 * 3);
  EXPECT_DOUBLE_EQ(activations({"workload.fp8_linear_saved_input=fp8"}), 45056.0 * 2048 * 2 * 3);  // bf16
  // An unknown value names the file and line, the key and what is allowed.
  const std::string msg = megatron_support::parse_error_with(
      "workload:\n  type: megatron\n  model: {num_layers: 2, hidden_size: 1024, num_attention_heads: 8, "
      "seq_length: 1024, vocab_size: 32000}\n  global_batch_size: 32\n  micro_batch_size: 1\n  precision: fp8\n"
      "  fp8_linear_saved_input: bf16\n");
  EXPECT_NE(msg.find("mt.yaml:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fp8_linear_saved_input"), std::string::npos) << msg;
  EXPECT_NE(msg.find("high_precision"), std::string::npos) << msg;
}

}  // namespace
}  // namespace lcsim
