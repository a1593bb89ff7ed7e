// Megatron-LM's --ddp-reduce-scatter-with-fp32-accumulation (ddp_reduce_scatter_with_fp32_accumulation): with the
// distributed optimizer each gradient bucket's reduce-scatter runs as an all-to-all of the same buffer over the
// data-parallel group, then the received chunks are summed in fp32 and copied into the shard on the compute stream
// (reduce_scatter_with_fp32_accumulation.py's work handle; finish_grad_sync waits on it). Checked by hand on the plan
// (each bucket's two kernels from the part's HBM model), then on a run's timeline with and without
// overlap_grad_reduce, the memory fit, the command line and the refusals. The layout: kBase without its pipeline
// (TP 2, DP 16 on 32 H100s, two micro-batches per rank).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "megatron_timeline_support.h"

#include "models/hardware/catalog.h"
#include "models/hardware/memory.h"
#include "models/hardware/op_cost.h"
#include "scenarios/scenario.h"
#include "timeline/model.h"
#include "workloads/training/megatron.h"

namespace lcsim {
namespace {

using megatron_support::h100;
using megatron_support::named;
using megatron_support::parse_sets;
using megatron_support::plan_of;
using megatron_support::Span;
using wl::MegatronTraining;

std::vector<std::string> flat(std::vector<std::string> more) {
  more.insert(more.begin(), {"workload.pipeline_model_parallel_size=1", "workload.use_distributed_optimizer=true"});
  return more;
}

// Per bucket (fp32 gradients, 4 B, Megatron's default): the sum reads the whole bucket received and writes this
// rank's fp32 shard (1 / DP of it), the copy reads that shard and writes it back in the gradient type; two kernels,
// the second's launch added. Without the option, or without the distributed optimizer (the all-reduce branch), none.
TEST(DdpFp32Accumulation, EachBucketSumsTheReceivedChunksAndCopiesTheShardBack) {
  const auto on = plan_of(flat({"workload.overlap_grad_reduce=true",
                                "workload.ddp_reduce_scatter_with_fp32_accumulation=true"}));
  ASSERT_GE(on.buckets.size(), 2u);
  for (const auto& b : on.buckets) {
    const double params = b.dense_params + b.expert_params, shard = params / 16;
    const Duration want = hw::memory_time(h100(), Bytes::of(4 * params + shard * (4 + 4 + 4))) +
                          h100().calibration.kernel_launch;
    EXPECT_NEAR(b.accumulate.s(), want.s(), 1e-15);
    EXPECT_GT(b.accumulate, Duration());
  }
  // In bf16 gradients (accumulate_allreduce_grads_in_fp32 off: Megatron-LM's --grad-reduce-in-bf16): 2 B moved.
  const auto bf16 = plan_of(flat({"workload.overlap_grad_reduce=true", "workload.accumulate_allreduce_grads_in_fp32=false",
                                  "workload.ddp_reduce_scatter_with_fp32_accumulation=true"}));
  ASSERT_EQ(bf16.buckets.size(), on.buckets.size());
  const auto& b0 = bf16.buckets[0];
  const double p0 = b0.dense_params + b0.expert_params;
  EXPECT_NEAR(b0.accumulate.s(),
              (hw::memory_time(h100(), Bytes::of(2 * p0 + p0 / 16 * (4 + 4 + 2))) + h100().calibration.kernel_launch).s(),
              1e-15);
  for (const auto& b : plan_of(flat({"workload.overlap_grad_reduce=true"})).buckets) EXPECT_EQ(b.accumulate, Duration());
  const auto all_reduce = plan_of({"workload.pipeline_model_parallel_size=1", "workload.overlap_grad_reduce=true",
                                   "workload.ddp_reduce_scatter_with_fp32_accumulation=true"});
  for (const auto& b : all_reduce.buckets) EXPECT_EQ(b.accumulate, Duration());
}

// Rank 0's (node 0, gpu0) compute spans and data-parallel spans, each in start order.
struct Lanes {
  std::vector<Span> compute, dp;
  double iteration = 0;
};

Lanes lanes(const std::vector<std::string>& sets, const std::string& name) {
  const megatron_support::TimelineRun run = megatron_support::run_timeline(sets, 1, "ddp_fp32_accumulation_test", name);
  return {run.lane(0, "gpu0 compute"), run.lane(0, "gpu0 dp"), run.metrics.get("iteration_time_s")};
}

// With overlap_grad_reduce the buckets go out as the backward completes them, as all-to-alls (no reduce-scatter on
// the data-parallel lane), and finish_grad_sync sums them on the compute stream after the last pass, each after its
// own all-to-all: one span before the optimizer step, from the later of the last pass's end and the last all-to-all's
// end, as long as the sums still to run then: at least the last bucket's, at most all of them.
TEST(DdpFp32Accumulation, WithOverlapTheSumsFollowTheBackwardAndComeBeforeTheStep) {
  const std::vector<std::string> sets =
      flat({"workload.overlap_grad_reduce=true", "workload.ddp_reduce_scatter_with_fp32_accumulation=true"});
  const auto plan = plan_of(sets);
  const Lanes run = lanes(sets, "overlap");
  const auto a2a = named(run.dp, "all-to-all grads");
  EXPECT_EQ(a2a.size(), plan.buckets.size());
  EXPECT_TRUE(named(run.dp, "reduce-scatter grads").empty());
  const auto sums = named(run.compute, "fp32 accumulation of reduced gradients");
  ASSERT_EQ(sums.size(), 1u);
  double last_pass = 0, last_a2a = 0;
  for (const Span& s : run.compute) {
    if (s.name[0] == 'B') last_pass = std::max(last_pass, s.end);
  }
  for (const Span& s : a2a) last_a2a = std::max(last_a2a, s.end);
  ASSERT_GT(last_pass, 0);
  EXPECT_NEAR(sums[0].start, std::max(last_pass, last_a2a), 1.0);
  Duration all, least = plan.buckets.front().accumulate;
  for (const auto& b : plan.buckets) all += b.accumulate, least = std::min(least, b.accumulate);
  const double took = sums[0].end - sums[0].start;
  EXPECT_GE(took, least.s() * 1e9 - 1.0);
  EXPECT_LE(took, all.s() * 1e9 + 1.0);
  // Then the loop's rerun check (StepSyncs), then the step.
  const auto check = named(run.dp, "world all-reduce rerun check");
  ASSERT_EQ(check.size(), 1u);
  EXPECT_NEAR(check[0].start, sums[0].end, 1.0);
  const auto step = named(run.compute, "optimizer step");
  ASSERT_EQ(step.size(), 1u);
  EXPECT_GT(step[0].start, check[0].end);
  // Slower than the reduce-scatter it replaces (the same bytes, the sums added); the lane says reduce-scatter there.
  const Lanes plain = lanes(flat({"workload.overlap_grad_reduce=true"}), "plain");
  EXPECT_EQ(named(plain.dp, "reduce-scatter grads").size(), plan.buckets.size());
  EXPECT_TRUE(named(plain.compute, "fp32 accumulation").empty());
  EXPECT_GT(run.iteration, plain.iteration);
}

// Without overlap_grad_reduce Megatron's DDP keeps one bucket and finish_grad_sync runs start_grad_sync
// synchronously: the all-to-all after the backward, its sum right after it (the whole bucket's accumulate), then the
// step.
TEST(DdpFp32Accumulation, WithoutOverlapTheSumFollowsItsAllToAll) {
  const std::vector<std::string> sets = flat({"workload.ddp_reduce_scatter_with_fp32_accumulation=true"});
  const auto plan = plan_of(sets);
  ASSERT_EQ(plan.buckets.size(), 1u);
  const Lanes run = lanes(sets, "sync");
  const auto a2a = named(run.dp, "all-to-all grads");
  const auto sums = named(run.compute, "fp32 accumulation of reduced gradients");
  ASSERT_EQ(a2a.size(), 1u);
  ASSERT_EQ(sums.size(), 1u);
  EXPECT_NEAR(sums[0].start, a2a[0].end, 1.0);
  EXPECT_NEAR(sums[0].end - sums[0].start, plan.buckets[0].accumulate.s() * 1e9, 1.0);
  const auto step = named(run.compute, "optimizer step");
  ASSERT_EQ(step.size(), 1u);
  EXPECT_GE(step[0].start, sums[0].end - 1.0);
}

// The all-to-all's output buffers are alive from each bucket's launch to the step: with overlap every bucket's
// (the whole gradient buffer), beside at most the last micro-batch's activations; they show in the memory fit only
// by what they exceed the other micro-batches' activations by. Without overlap one bucket's, after the backward
// (beside no activations).
TEST(DdpFp32Accumulation, ReceiveBuffersInTheMemoryFit) {
  // A large bucket against small activations: the buffers exceed the activations (kBase's toy model, 2 K tokens).
  const auto item = [](const std::vector<std::string>& sets) {
    return megatron_support::memory_item(plan_of(sets).memory, "gradient all-to-all buffers");
  };
  const auto sets = flat({"workload.overlap_grad_reduce=true", "workload.ddp_reduce_scatter_with_fp32_accumulation=true"});
  const auto plan = plan_of(sets);
  double params = 0;
  for (const auto& b : plan.buckets) params += b.dense_params + b.expert_params;
  // No pipeline: one micro-batch in flight, so the buffers sit beside all the activations and count whole.
  EXPECT_NEAR(item(sets), params * 4, 1e-6 * params);
  // Without overlap the one bucket (the whole buffer) after the backward, beside no activations: what it exceeds them by.
  const auto sync_sets = flat({"workload.ddp_reduce_scatter_with_fp32_accumulation=true"});
  const auto sync_plan = plan_of(sync_sets);
  ASSERT_EQ(sync_plan.buckets.size(), 1u);
  const double acts = megatron_support::memory_item(sync_plan.memory, "activations");
  const double bucket = 4 * (sync_plan.buckets[0].dense_params + sync_plan.buckets[0].expert_params);
  ASSERT_GT(bucket, acts);
  EXPECT_NEAR(item(sync_sets), bucket - acts, 1e-6 * bucket);
  EXPECT_EQ(item(flat({"workload.overlap_grad_reduce=true"})), -1.0);
  // By hand on the memory model (A: the activations): buffers of A / 2 beside one of four micro-batches' (A / 4)
  // exceed the rest (3A / 4) by nothing; buffers of A beside half of them add A / 2; beside all of them, A.
  hw::TrainingMemoryInput in;
  in.seq = 1024, in.micro_batch = 1, in.hidden = 1024, in.ffn = 4096, in.heads = 8, in.layers = 4, in.in_flight = 4;
  const double act = megatron_support::memory_item(hw::training_memory(in, Bytes::gib(80)), "activations");
  ASSERT_GT(act, 0);
  in.receive_buffers = Bytes::of(act / 2);
  in.receive_beside = 0.25;
  EXPECT_EQ(megatron_support::memory_item(hw::training_memory(in, Bytes::gib(80)), "gradient all-to-all buffers"), -1.0);
  in.receive_buffers = Bytes::of(act);
  in.receive_beside = 0.5;
  EXPECT_NEAR(megatron_support::memory_item(hw::training_memory(in, Bytes::gib(80)), "gradient all-to-all buffers"),
              act / 2, 1e-6 * act);
  in.receive_beside = 1;
  EXPECT_NEAR(megatron_support::memory_item(hw::training_memory(in, Bytes::gib(80)), "gradient all-to-all buffers"),
              act, 1e-6 * act);
}

// The pasted argument sets the key; Megatron's refusals are refused, naming the key; without the distributed
// optimizer the option changes nothing, bit for bit (Megatron's all-reduce branch never reaches it).
TEST(DdpFp32Accumulation, CommandLineRefusalsAndNoEffectWithoutTheDistributedOptimizer) {
  EXPECT_TRUE(megatron_support::config_of_line("--use-distributed-optimizer --ddp-reduce-scatter-with-fp32-accumulation")
                  .ddp_reduce_scatter_with_fp32_accumulation);
  const std::string partial = megatron_support::parse_sets_error(
      flat({"workload.ddp_reduce_scatter_with_fp32_accumulation=true", "workload.num_distributed_optimizer_instances=2"}));
  EXPECT_NE(partial.find("ddp_reduce_scatter_with_fp32_accumulation: cannot be used with "
                         "num_distributed_optimizer_instances > 1"),
            std::string::npos)
      << partial;
  const std::string fsdp = megatron_support::parse_sets_error(
      {"workload.ddp_reduce_scatter_with_fp32_accumulation=true", "workload.use_megatron_fsdp=true"});
  EXPECT_NE(fsdp.find("ddp_reduce_scatter_with_fp32_accumulation: is modelled for Megatron's DDP buckets"),
            std::string::npos)
      << fsdp;
  const std::vector<std::string> ddp = {"workload.pipeline_model_parallel_size=1", "workload.overlap_grad_reduce=true"};
  auto on = ddp;
  on.push_back("workload.ddp_reduce_scatter_with_fp32_accumulation=true");
  const auto a = megatron_support::run(on), b = megatron_support::run(ddp);
  ASSERT_TRUE(a.count("iteration_time_s"));
  for (const char* k : {"iteration_time_s", "time_exposed_dp_s", "sim_events", "memory_peak_bytes"}) {
    if (a.count(k)) {
      EXPECT_EQ(a.at(k), b.at(k)) << k;
    }
  }
}

}  // namespace
}  // namespace lcsim
