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

}  // namespace
}  // namespace lcsim
