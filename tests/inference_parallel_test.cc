// Parallelism inside a serving instance, against figures derived here by hand: expert parallelism for MoE models
// (workloads/inference/moe.cc: whole experts per GPU, the all-to-all dispatch and combine, the expert load) and
// pipeline parallelism in time (workloads/inference/pipeline.cc: micro-batches in flight across the stages).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "inference_support.h"
#include "models/hardware/catalog.h"
#include "scenarios/scenario.h"
#include "sim/config_tree.h"
#include "sim/error.h"
#include "workloads/inference/serving_model.h"

namespace lcsim::inf {
namespace {

using support::datasheet_h100;
using support::llama3_8b;
using support::mixtral_8x7b;

// Mixtral-8x7B by hand: h 4096, 32 layers, 32 query heads and 8 KV heads of 128, 8 experts of 3 x 4096 x 14336
// (gate, up, down), top 2, vocab 32000.
constexpr double kH = 4096, kLayers = 32, kVocab = 32000;
constexpr double kAttn = 2 * kH * kH + 2 * kH * (8 * 128);  // Q, O; K, V: 41,943,040
constexpr double kExpert = 3 * kH * 14336;                   // 176,160,768
constexpr double kPeak = 989.4e12, kHbm = 3.35e12, kNvlink = 450e9;
// The collective model's default protocol latencies (models/network/collectives.h): base 8.4 us, step 3.4 us;
// point-to-point 8.4 us.
constexpr double kAllToAllLatency = 8.4e-6 + 3.4e-6, kP2pLatency = 8.4e-6;

TEST(InferenceExpertParallel, ADecodeStepAndMemoryPerGpuByHand) {
  const hw::AcceleratorSpec part = datasheet_h100();
  ServingConfig ep;
  ep.tensor_parallel = 2;
  ep.expert_parallel = true;
  const InstanceCost cost(part, mixtral_8x7b(), ep);
  ASSERT_TRUE(cost.expert_parallel());

  // Memory: each GPU holds half the attention, the LM head and embedding, and 4 of the 8 experts, whole: the same
  // bytes as splitting every expert in two. 46.7 GB of bf16 weights per GPU; the rest of 0.9 x 80 GB is KV cache
  // at 2 x 8 x 128 x 2 B x 32 layers / 2 GPUs = 64 KiB per token per GPU.
  const double weights = (kLayers * (kAttn / 2 + 4 * kExpert) + 2 * kH * kVocab / 2) * 2;
  EXPECT_NEAR(cost.weight_bytes_per_gpu(), weights, 1);
  EXPECT_NEAR(weights, 46.701e9, 0.001e9);
  const double kv_token = 2.0 * 8 * 128 * 2 * kLayers / 2;
  EXPECT_DOUBLE_EQ(cost.kv_bytes_per_token_per_gpu(), 65536);
  EXPECT_EQ(cost.kv_blocks(), static_cast<int64_t>(std::floor((0.9 * 80e9 - weights) / (kv_token * 16))));

  // One sequence decoding at context 1,000: one token, routed to 2 experts; with 4 experts a GPU the busiest GPU
  // computes one token-expert row and reads one whole expert per layer, half the attention and LM head, and its
  // half of the KV heads for 1,001 tokens. Memory-bound.
  const std::vector<BatchEntry> decode = {{1, 1000, true}};
  const IterationWork w = cost.work(decode);
  EXPECT_DOUBLE_EQ(w.expert_rows, 1);
  const double bytes = (kAttn * kLayers + kH * kVocab) * 2 / 2 + kExpert * kLayers * 2 + 1001 * kv_token;
  const double flops = 2 * (kAttn * kLayers + kH * kVocab) / 2 + 2 * kExpert * kLayers;
  EXPECT_NEAR(w.bytes, bytes, 1);
  EXPECT_NEAR(w.linear_flops, flops, 1);
  EXPECT_GT(bytes / kHbm, (flops + w.attention_flops) / kPeak);
  // Per layer: attention's all-reduce of 1 token x 4096 x 2 B as a reduce-scatter and an all-gather (ring on two
  // GPUs, the default protocol of a part without a measured one: base + 1 step + (n-1)/n x 8 KiB over NVLink each),
  // then the dispatch and the combine, each an all-to-all of the GPU's one row (8 KiB): latency + (n-1)/n x 8 KiB
  // / NVLink.
  const double half = kAllToAllLatency + 0.5 * 8192 / kNvlink;
  const double alltoall = kAllToAllLatency + 0.5 * 8192 / kNvlink;
  EXPECT_NEAR(cost.alltoall_seconds(8192), alltoall, 1e-15);
  const double step = bytes / kHbm + kLayers * (2 * half + 2 * alltoall);
  EXPECT_NEAR(cost.iteration_seconds(decode), step, 1e-12);
  EXPECT_NEAR(step, 5.3364e-3, 0.0001e-3);  // 3.82 ms of HBM reads + 1.51 ms of collectives (latency-bound)

  // Without expert parallelism each GPU reads half of both experts (the same bytes) and all-reduces twice a layer,
  // each a two-GPU ring all-reduce: base + 2 steps + 2 (n-1)/n x 8 KiB over NVLink.
  ServingConfig tp = ep;
  tp.expert_parallel = false;
  const InstanceCost plain(part, mixtral_8x7b(), tp);
  EXPECT_NEAR(plain.work(decode).bytes, bytes, 1);
  const double allreduce = 8.4e-6 + 2 * 3.4e-6 + 8192.0 / kNvlink;
  EXPECT_NEAR(plain.tp_collective_seconds(policy::CollectiveOp::kAllReduce, 8192), allreduce, 1e-15);
  EXPECT_NEAR(plain.iteration_seconds(decode), bytes / kHbm + 2 * kLayers * allreduce, 1e-12);
  EXPECT_DOUBLE_EQ(plain.weight_bytes_per_gpu(), cost.weight_bytes_per_gpu());
}

TEST(InferenceExpertParallel, ExpertLoadSetsTheBusiestGpu) {
  const hw::AcceleratorSpec part = datasheet_h100();
  ServingConfig ep;
  ep.tensor_parallel = 8;
  ep.expert_parallel = true;
  // 64 sequences decoding: 128 token-expert rows over 8 GPUs of one expert each, 16 a GPU when balanced.
  const std::vector<BatchEntry> batch(64, BatchEntry{1, 500, true});
  const IterationWork balanced = InstanceCost(part, mixtral_8x7b(), ep).work(batch);
  EXPECT_DOUBLE_EQ(balanced.expert_rows, 16);
  EXPECT_DOUBLE_EQ(balanced.alltoall_bytes, 16 * kH * 2);
  // The busiest GPU with 1.5 x the mean: 24 rows, so 24 x 2 x 3 h f expert FLOPs per layer and a 1.5 x larger
  // all-to-all; its one expert is read once either way.
  ep.expert_load_imbalance = 1.5;
  const InstanceCost skewed(part, mixtral_8x7b(), ep);
  const IterationWork w = skewed.work(batch);
  EXPECT_DOUBLE_EQ(w.expert_rows, 24);
  EXPECT_NEAR(w.linear_flops - balanced.linear_flops, 2 * 8 * kExpert * kLayers, 1);
  EXPECT_NEAR(w.bytes, balanced.bytes, 1);
  EXPECT_NEAR(skewed.alltoall_seconds(w.alltoall_bytes), kAllToAllLatency + 7.0 / 8 * 24 * kH * 2 / kNvlink, 1e-15);
  // A lone token: 2 rows over 8 GPUs, so the busiest GPU has one (never more rows than the batch has).
  EXPECT_DOUBLE_EQ(skewed.work({{1, 500, true}}).expert_rows, 1);
}

// Llama-3-8B by hand, per layer: attention and MLP weights; the LM head; KV bytes of one token in one layer.
constexpr double kLayer = kAttn + 3 * kH * 14336, kLmHead = kH * 128256, kKvLayer = 2.0 * 8 * 128 * 2;

TEST(InferencePipeline, PipelineParallelKeepsLatencyAndRaisesThroughput) {
  const hw::AcceleratorSpec part = datasheet_h100();
  ServingConfig pp1, pp2;
  pp2.pipeline_parallel = 2;
  const InstanceCost one(part, llama3_8b(), pp1), two(part, llama3_8b(), pp2);
  const double send_token = kH * 2 / kNvlink;  // one token's activations over NVLink

  // A lone decode step at context 1,000: memory-bound on each stage (16 layers; the LM head on the second), then
  // one send between the stages: the unpipelined time plus the send.
  const std::vector<BatchEntry> decode = {{1, 1000, true}};
  const double stage1 = (kLayer * 16 * 2 + 1001 * kKvLayer * 16) / kHbm;
  const double stage2 = (kLayer * 16 * 2 + kLmHead * 2 + 1001 * kKvLayer * 16) / kHbm;
  const double whole = ((kLayer * 32 + kLmHead) * 2 + 1001 * kKvLayer * 32) / kHbm;
  EXPECT_NEAR(one.iteration_seconds(decode), whole, 1e-15);
  EXPECT_NEAR(two.iteration_seconds(decode), stage1 + stage2 + kP2pLatency + send_token, 1e-15);
  EXPECT_NEAR(two.iteration_seconds(decode) - one.iteration_seconds(decode), kP2pLatency + send_token, 1e-12);

  // Two 2,048-token prompts, compute-bound: unpipelined, one pass over both; with PP 2 each prompt is a
  // micro-batch, the stages work on both at once, and the round is the longer of the last stage's two passes and
  // one prompt's way through both stages with the send.
  const std::vector<BatchEntry> prefill = {{2048, 0, true}, {2048, 0, true}};
  auto prefill_flops = [](double prompts, double layers, bool head) {
    return prompts * (2 * 2048 * kLayer * layers + 4.0 * 32 * 128 * layers * (2048.0 * 2049 / 2)) +
           (head ? prompts * 2 * kLmHead : 0.0);
  };
  const double both = prefill_flops(2, 32, true) / kPeak;
  EXPECT_NEAR(one.iteration_seconds(prefill), both, both * 1e-12);
  const double first = prefill_flops(1, 16, false) / kPeak, last = prefill_flops(1, 16, true) / kPeak;
  EXPECT_GT(first, (kLayer * 16 * 2 + 2048 * kKvLayer * 16) / kHbm);  // compute-bound
  const double round = std::max(2 * last, first + last + kP2pLatency + 2048 * send_token);
  EXPECT_NEAR(two.iteration_seconds(prefill), round, round * 1e-12);
  EXPECT_NEAR(round, 0.03005, 0.00001);  // 30.1 ms against 59.9 ms unpipelined
  EXPECT_NEAR(both / round, 2, 0.01);    // twice the prompt throughput
}

TEST(InferencePipeline, MicroBatchesBalanceTokens) {
  // Four sequences of 100, 300, 200 and 100 new tokens on PP 2, largest first to the lighter micro-batch (the first
  // on ties): 300 to the first, 200 to the second, 100 to the second (200 < 300), 100 to the first (300 = 300):
  // {300, 100} and {200, 100}. The round is the longer of either's way through both stages and the last stage's
  // work on both.
  const hw::AcceleratorSpec part = datasheet_h100();
  ServingConfig pp2;
  pp2.pipeline_parallel = 2;
  const InstanceCost two(part, llama3_8b(), pp2);
  const std::vector<BatchEntry> batch = {{100, 0, true}, {300, 0, true}, {200, 0, true}, {100, 0, true}};
  const std::vector<BatchEntry> a = {{300, 0, true}, {100, 0, true}}, b = {{200, 0, true}, {100, 0, true}};
  const double a_way = two.iteration_seconds(two.work(a, 16, false)) + two.iteration_seconds(two.work(a, 16, true)) +
                       two.stage_send_seconds(400);
  const double b_way = two.iteration_seconds(two.work(b, 16, false)) + two.iteration_seconds(two.work(b, 16, true)) +
                       two.stage_send_seconds(300);
  const double busiest = two.iteration_seconds(two.work(a, 16, true)) + two.iteration_seconds(two.work(b, 16, true));
  EXPECT_DOUBLE_EQ(two.iteration_seconds(batch), std::max({a_way, b_way, busiest}));
  // The send is the collective model's point-to-point latency and 400 tokens' activations over NVLink.
  EXPECT_NEAR(two.stage_send_seconds(400), kP2pLatency + 400 * kH * 2 / kNvlink, 1e-15);
}

Scenario from_text(const std::string& text, const std::vector<std::string>& overrides = {}) {
  ConfigValue tree = parse_yaml_text(text, "test.yaml");
  for (const auto& o : overrides) apply_override(tree, o);
  return parse_scenario(tree);
}

// Mixtral-8x7B on one HGX H100 node, TP 4 with expert parallelism: two instances.
const std::string kMoe = R"(
name: moe
cluster:
  pools: [{name: serve, node: hgx-h100, count: 1}]
  fabric: {ports_per_leaf: 16, spines: 2}
workload:
  type: inference_serving
  model: {vocab_size: 32000, num_experts: 8, experts_per_token: 2}
  serving: {tensor_parallel: 4, expert_parallel: true}
  requests:
    source: synthetic
    arrival: {process: poisson, rate: 20, requests: 200}
    input_tokens: 512
    output_tokens: 64
simulation: {fidelity: analytical}
)";

std::string error_of(const std::vector<std::string>& overrides) {
  try {
    Scenario sc = from_text(kMoe, overrides);
    run_scenario(sc);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(InferenceExpertParallel, ADeploymentReportsItsExpertLoad) {
  Scenario sc = from_text(kMoe);
  const MetricSet m = run_scenario(sc).metrics;
  EXPECT_EQ(m.get("requests_completed"), 200);
  // Every token goes to 2 of 8 experts: a quarter of an iteration's tokens reach each expert.
  const double tokens_per_iteration = (200.0 * (512 + 64 - 1)) / m.get("iterations");
  EXPECT_NEAR(m.get("moe_tokens_per_expert"), tokens_per_iteration / 4, 1e-9);
  // Balanced over 4 GPUs of 2 experts: half of each iteration's tokens are rows on each GPU (ceil for one token).
  EXPECT_GE(m.get("moe_busiest_gpu_rows"), tokens_per_iteration / 2 - 1e-9);
  EXPECT_LT(m.get("moe_busiest_gpu_rows"), tokens_per_iteration / 2 + 1);
}

TEST(InferenceExpertParallel, BadSettingsAreErrors) {
  EXPECT_NE(error_of({"workload.model.num_experts=0"}).find("expert_parallel needs an MoE model"), std::string::npos);
  EXPECT_NE(error_of({"workload.model.num_experts=6"}).find("model.num_experts (6) over the tensor_parallel GPUs (4)"),
            std::string::npos);
  EXPECT_NE(error_of({"workload.serving.expert_load_imbalance=0.5"}).find("expert_load_imbalance"), std::string::npos);
  EXPECT_NE(error_of({"workload.serving.tensor_parallel=1"}).find("it needs tensor_parallel > 1"), std::string::npos);
  EXPECT_NE(error_of({"workload.serving.expert_parallel=false", "workload.serving.expert_load_imbalance=1.5"})
                .find("expert_load_imbalance applies only with expert_parallel: true"),
            std::string::npos);
}


// A TP group's collectives on a measured part take the collective model's estimate over the part's protocols
// (tp_collective.cc), as the training model's tuner does: H100's catalog lists LL (15.9 us + 0.6 us a step, 0.015 of
// NVLink), LL128 (14.0 us + 1.9 us a step, 0.757), Simple (8.4 + 3.4 us, 0.823) and NVLS (24.5 us + 4.85 us a round
// of 16 x 8 chunks, 0.686, moving 9/8 of the buffer each way on 8 GPUs (policy::nvls_traffic; in-switch reduction)
// plus one round of pipeline fill (policy::nvls_fill), never under its 40.8 us floor).
TEST(InferenceTensorParallel, AllReducesTakeTheMeasuredProtocolsLatencyAndBandwidth) {
  ServingConfig tp8;
  tp8.tensor_parallel = 8;
  const InstanceCost cost(hw::PartCatalog::get().part("H100-SXM-80GB"), mixtral_8x7b(), tp8);
  const auto all_reduce = [&](double bytes) { return cost.tp_collective_seconds(policy::CollectiveOp::kAllReduce, bytes); };
  // 16 KiB (a decode batch of one token, 8,192 x 2 B): LL's ring, 15.9 + 14 x 0.6 us + 1.75 x 16 KiB / (450 GB/s x
  // 0.015) = 28.55 us (NVLS 40.8 us, its floor; LL128's ring 40.68 us).
  EXPECT_NEAR(all_reduce(16384), 15.9e-6 + 14 * 0.6e-6 + 1.75 * 16384 / (450e9 * 0.015), 1e-12);
  // 1 MiB (a decode batch of 64 x 8,192 x 2 B): NVLS, one round (16 KiB chunks: 2 MiB a round, so the fill is the
  // 1 MiB itself), 24.5 + 4.85 us + 9/8 x 2 MiB / (450 GB/s x 0.686) = 36.99 us, under the floor: 40.8 us (LL128's
  // ring 45.99 us, Simple's 60.95 us, LL's 296.2 us).
  EXPECT_NEAR(all_reduce(1048576), 40.8e-6, 1e-12);
  // 256 MiB (a long prefill chunk): NVLS, 32 rounds of 64 KiB chunks (8 MiB a round), 8 of them in flight: 24.5 + 8
  // x 4.85 us + 9/8 x (256 + 8) MiB / (450 GB/s x 0.686) = 1,072.1 us (Simple's ring 1,324.4 us, LL128's 1,419.2 us).
  EXPECT_NEAR(all_reduce(268435456), 24.5e-6 + 8 * 4.85e-6 + 9.0 / 8 * (256 + 8) * 1048576 / (450e9 * 0.686), 1e-12);
  // A decode step pays two per layer; TP 1 pays none.
  const std::vector<BatchEntry> decode = {{1, 1000, true}};
  ServingConfig one = tp8;
  one.tensor_parallel = 1;
  const IterationWork w = cost.work(decode);
  EXPECT_GT(cost.iteration_seconds(w), 2 * 32 * all_reduce(w.allreduce_bytes));
  EXPECT_EQ(InstanceCost(cost.part(), mixtral_8x7b(), one).tp_collective_seconds(policy::CollectiveOp::kAllReduce, 8192), 0);
}

// With expert parallelism attention's output moves as a reduce-scatter and an all-gather (serving_model.cc): on H100
// each at its measured fraction of the all-reduce fit's efficiency (all_gather_scale_up_factor 0.929,
// reduce_scatter_scale_up_factor 0.964; docs/calibration.md), so between two large sizes (the Simple ring, whose
// latencies cancel) each takes 1 / factor of the time a part without the factors takes; all-reduce's is untouched.
TEST(InferenceTensorParallel, GathersAndScattersTakeThePartsMeasuredFactors) {
  ServingConfig tp8;
  tp8.tensor_parallel = 8;
  const hw::AcceleratorSpec& h100 = hw::PartCatalog::get().part("H100-SXM-80GB");
  ASSERT_DOUBLE_EQ(h100.collectives.all_gather_scale_up_factor, 0.929);
  ASSERT_DOUBLE_EQ(h100.collectives.reduce_scatter_scale_up_factor, 0.964);
  hw::AcceleratorSpec plain = h100;
  plain.collectives.all_gather_scale_up_factor = 0;
  plain.collectives.reduce_scatter_scale_up_factor = 0;
  const InstanceCost with(h100, mixtral_8x7b(), tp8), without(plain, mixtral_8x7b(), tp8);
  const double s1 = 1 << 30, s2 = 2.0 * (1 << 30);
  const auto slope = [&](const InstanceCost& c, policy::CollectiveOp op) {
    return c.tp_collective_seconds(op, s2) - c.tp_collective_seconds(op, s1);
  };
  using policy::CollectiveOp;
  // The Simple ring: 7/8 of the extra GiB over 450 GB/s x 0.823 x factor.
  EXPECT_NEAR(slope(without, CollectiveOp::kAllGather), 7.0 / 8 * (s2 - s1) / (450e9 * 0.823), 1e-9);
  EXPECT_NEAR(slope(with, CollectiveOp::kAllGather) / slope(without, CollectiveOp::kAllGather), 1 / 0.929, 1e-9);
  EXPECT_NEAR(slope(with, CollectiveOp::kReduceScatter) / slope(without, CollectiveOp::kReduceScatter), 1 / 0.964,
              1e-9);
  EXPECT_DOUBLE_EQ(with.tp_collective_seconds(CollectiveOp::kAllReduce, s2),
                   without.tp_collective_seconds(CollectiveOp::kAllReduce, s2));
}

}  // namespace
}  // namespace lcsim::inf
