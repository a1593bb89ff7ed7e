// Megatron's DDP around each gradient bucket's collective (megatron_step.cc, plan_reduce_prep) and the loss's NaN
// check (megatron_plan.cc): each bucket's cost derived by hand from the part's HBM model and the host's operation
// time, then seen in whole runs, with and without overlap_grad_reduce, folded and step by step.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "megatron_timeline_support.h"
#include "test_support.h"

#include "models/hardware/catalog.h"
#include "models/hardware/op_cost.h"
#include "models/hardware/step_overhead.h"
#include "scenarios/scenario.h"
#include "workloads/training/megatron.h"

namespace lcsim {
namespace {

using megatron_support::h100;
using megatron_support::host_op;
using megatron_support::parse_sets;
using megatron_support::plan_of;
using wl::MegatronTraining;

// kBase without the pipeline: TP 2, DP 16, 2 micro-batches per rank.
std::vector<std::string> flat(std::vector<std::string> more) {
  more.insert(more.begin(), "workload.pipeline_model_parallel_size=1");
  return more;
}

// `base` with `key` set true, then false.
std::pair<std::vector<std::string>, std::vector<std::string>> on_off(const std::vector<std::string>& base,
                                                                      const std::string& key) {
  auto on = base, off = base;
  on.push_back(key + "=true");
  off.push_back(key + "=false");
  return {on, off};
}

// Per bucket: the NaN check reads the bucket once (an L2 norm: a streaming kernel) and the host synchronizes twice
// on its result (isnan, isinf), the GPU idle one host operation each; the scaling by 1 / DP reads and writes the
// bucket unless the collective averages. fp32 gradients (accumulate_allreduce_grads_in_fp32, the default): 4 B each.
TEST(DdpChecks, EachBucketCostsItsNormTwoHostWaitsAndItsScaling) {
  // With overlap_grad_reduce the buffer splits into buckets (without it Megatron's DDP keeps one).
  const std::vector<std::string> base = flat({"workload.overlap_grad_reduce=true"});
  const auto plan = plan_of(base);
  const Duration op = host_op(base);
  ASSERT_GT(op, Duration());
  ASSERT_GE(plan.buckets.size(), 2u);
  Duration sum, host;
  for (const auto& b : plan.buckets) {
    const double params = b.dense_params + b.expert_params;
    const Duration norm = hw::memory_time(h100(), Bytes::of(4 * params));
    const Duration scale = hw::memory_time(h100(), Bytes::of(2 * 4 * b.dense_params));  // DP 16: scaled
    EXPECT_NEAR(b.prep.s(), (norm + op * 2 + scale).s(), 1e-15);
    EXPECT_EQ(b.prep_host, op * 2);
    sum += b.prep, host += b.prep_host;
  }
  EXPECT_NEAR(plan.reduce_prep.s(), sum.s(), 1e-15);
  EXPECT_EQ(plan.reduce_prep_host, host);
  // Averaged in the collective: the check alone.
  auto avg = base;
  avg.push_back("workload.ddp_average_in_collective=true");
  for (const auto& b : plan_of(avg).buckets) {
    EXPECT_NEAR(b.prep.s(), (hw::memory_time(h100(), Bytes::of(4 * (b.dense_params + b.expert_params))) + op * 2).s(),
                1e-15);
  }
  // --check-for-large-grads: the same norm, one more synchronization; alone, the norm and that one.
  auto large = avg;
  large.push_back("workload.check_for_large_grads=true");
  auto large_alone = large;
  large_alone.push_back("workload.check_for_nan_in_grad=false");
  const auto both = plan_of(large), alone = plan_of(large_alone), nan_only = plan_of(avg);
  ASSERT_EQ(both.buckets.size(), nan_only.buckets.size());
  for (size_t i = 0; i < both.buckets.size(); ++i) {
    EXPECT_NEAR((both.buckets[i].prep - nan_only.buckets[i].prep).s(), op.s(), 1e-15);
    EXPECT_NEAR((nan_only.buckets[i].prep - alone.buckets[i].prep).s(), op.s(), 1e-15);
    EXPECT_EQ(alone.buckets[i].prep_host, op);
  }
  // Neither: nothing, and no pass has a last-micro-batch copy.
  auto none = avg;
  none.push_back("workload.check_for_nan_in_grad=false");
  none.push_back("workload.overlap_grad_reduce=true");
  const auto plain = plan_of(none);
  EXPECT_EQ(plain.reduce_prep, Duration());
  for (const auto& p : plain.backward) EXPECT_FALSE(p.last);
  // One data-parallel rank (TP 2 on 2 GPUs): nothing to scale by 1 / 1.
  const auto one = plan_of(flat({"cluster.nodes=1", "cluster.gpus_per_node=2", "workload.global_batch_size=2",
                                 "workload.check_for_nan_in_grad=false"}));
  EXPECT_EQ(one.reduce_prep, Duration());
}

// With overlap_grad_reduce the work runs where each bucket completes, in the last micro-batch's backward: that pass
// (Pass::last) carries it in the completing segments, the host synchronized there; the other micro-batches' do not.
TEST(DdpChecks, TheLastMicroBatchsBackwardCarriesTheBucketsWork) {
  const auto plan = plan_of(flat({"workload.overlap_grad_reduce=true", "workload.use_distributed_optimizer=true"}));
  ASSERT_EQ(plan.backward.size(), 1u);
  ASSERT_GE(plan.buckets.size(), 2u);
  const auto& b = plan.backward[0];
  ASSERT_TRUE(b.last);
  EXPECT_NEAR(b.last->compute.s(), (b.compute + plan.reduce_prep).s(), 1e-12);
  ASSERT_EQ(b.last->segments.size(), b.segments.size());
  int completing = 0;
  for (size_t i = 0; i < b.segments.size(); ++i) {
    const auto& s = b.last->segments[i];
    if (s.bucket < 0) {
      EXPECT_EQ(s.compute, b.segments[i].compute);
      continue;
    }
    ++completing;
    EXPECT_TRUE(s.host.sync);
    EXPECT_NEAR((s.compute - b.segments[i].compute).s(), plan.buckets[static_cast<size_t>(s.bucket)].prep.s(), 1e-15);
  }
  EXPECT_EQ(completing, static_cast<int>(plan.buckets.size()));
}

// Whole runs without overlap: the buckets' work runs after the backward, before the collectives, so the step grows
// by its sum, and the host's part of it is the checks' waits.
TEST(DdpChecks, WithoutOverlapTheStepGrowsByTheBucketsWork) {
  const std::vector<std::string> base = flat({"workload.overlap_grad_reduce=false", "workload.check_for_nan_in_loss=false",
                                              "workload.ddp_average_in_collective=true"});
  const auto [on, off] = on_off(base, "workload.check_for_nan_in_grad");
  const auto plan = plan_of(on);
  const auto a = megatron_support::run(on), b = megatron_support::run(off);
  ASSERT_FALSE(a.count("child_failed") || b.count("child_failed"));
  EXPECT_NEAR(a.at("iteration_time_s") - b.at("iteration_time_s"), plan.reduce_prep.s(), 1e-9);
  EXPECT_NEAR(a.at("time_host_s") - b.at("time_host_s"), plan.reduce_prep_host.s(), 1e-9);
  EXPECT_NEAR(a.at("time_compute_s") - b.at("time_compute_s"), plan.reduce_prep.s(), 1e-9);
  // The report names it.
  EXPECT_NEAR(a.at("time_ddp_bucket_work_s"), plan.reduce_prep.s(), 1e-12);
  EXPECT_EQ(b.at("time_ddp_bucket_work_s"), 0);
}

// With overlap: the work sits on the compute stream inside the last backward, which the collectives' overlap does not
// hide; each check's host waits add at least their time. Folded passes give what the step-by-step path gives.
TEST(DdpChecks, WithOverlapTheChecksSitInTheLastBackwardFoldedOrNot) {
  const std::vector<std::string> base = flat({"workload.check_for_nan_in_loss=false", "workload.use_distributed_optimizer=true",
                                              "workload.overlap_grad_reduce=true"});
  const auto [on, off] = on_off(base, "workload.check_for_nan_in_grad");
  auto fine = on;
  fine.push_back("simulation.event_granularity=kernel");
  const auto plan = plan_of(on);
  const auto a = megatron_support::run(on), b = megatron_support::run(off), k = megatron_support::run(fine);
  ASSERT_FALSE(a.count("child_failed") || b.count("child_failed") || k.count("child_failed"));
  const double grown = a.at("iteration_time_s") - b.at("iteration_time_s");
  EXPECT_GE(grown, plan.reduce_prep_host.s() - 1e-12);
  EXPECT_LE(grown, plan.reduce_prep.s() + 1e-9);
  EXPECT_GE(a.at("time_host_s") - b.at("time_host_s"), plan.reduce_prep_host.s() - 1e-12);
  for (const auto& [key, v] : a) {
    if (key != "sim_events") {
      EXPECT_EQ(k.at(key), v) << key;
    }
  }
}

// The loss's check: without a pipeline each backward pass waits one host operation after the forward's
// synchronization; with one, every pass already follows a pipeline receive's, and nothing changes.
TEST(DdpChecks, TheLossCheckWaitsBeforeEachBackwardOnlyWithoutAPipeline) {
  const std::vector<std::string> quiet = {"workload.check_for_nan_in_grad=false", "workload.ddp_average_in_collective=true"};
  auto with = [&](std::vector<std::string> sets, bool loss) {
    sets.insert(sets.end(), quiet.begin(), quiet.end());
    sets.push_back(std::string("workload.check_for_nan_in_loss=") + (loss ? "true" : "false"));
    return megatron_support::run(sets);
  };
  const auto a = with(flat({}), true), b = with(flat({}), false);
  ASSERT_FALSE(a.count("child_failed") || b.count("child_failed"));
  EXPECT_EQ(a.at("micro_batches"), 2);
  const Duration op = host_op(flat({}));
  EXPECT_GE(a.at("time_host_s") - b.at("time_host_s"), 2 * op.s() - 1e-12);
  EXPECT_GT(a.at("iteration_time_s"), b.at("iteration_time_s"));
  const auto pa = with({}, true), pb = with({}, false);  // kBase: PP 4
  for (const auto& [key, v] : pb) EXPECT_EQ(pa.at(key), v) << key;
  // --check-for-spiky-loss synchronizes at the same place: alone it waits as the NaN check does.
  const auto spiky = with(flat({"workload.check_for_spiky_loss=true"}), false);
  for (const auto& [key, v] : a) EXPECT_EQ(spiky.at(key), v) << key;
}

// calculate_per_token_loss: no bucket scaled before its collective, the whole buffer divided once after it (a read
// and a write before the optimizer step).
TEST(DdpChecks, PerTokenLossScalesTheBufferOnceAfterTheReduction) {
  const std::vector<std::string> base = flat({"workload.check_for_nan_in_grad=false"});
  auto per_token = base;
  per_token.push_back("workload.calculate_per_token_loss=true");
  const auto mean = plan_of(base), token = plan_of(per_token);
  EXPECT_GT(mean.reduce_prep, Duration());
  EXPECT_EQ(token.reduce_prep, Duration());
  const double buffer = token.dense_params + token.expert_params;
  EXPECT_NEAR((token.optimizer - mean.optimizer).s(), hw::memory_time(h100(), Bytes::of(2 * 4 * buffer)).s(), 1e-15);
}

// --ddp-num-buckets N (ddp_num_buckets): Megatron-LM's get_model sizes the buckets at this rank's parameters (every
// model chunk it holds) over N, rounded down. Every parameter of a stage lands in one of its buckets, so the plan's
// buckets sum to the stage's parameters; with the bucket size given as that quotient the buckets are the same,
// bucket by bucket, with and without a pipeline (where only the first stage's first chunk is split). Given with
// ddp_bucket_size it is refused, as Megatron-LM asserts.
TEST(DdpChecks, NumBucketsSizesTheBucketsFromTheStagesParameters) {
  for (const bool pipeline : {false, true}) {
    std::vector<std::string> base = {"workload.overlap_grad_reduce=true"};
    if (!pipeline) base = flat(base);
    // Three buckets' worth of the flat layout; eight of pipeline rank 0's (embedding and two layers: one bucket
    // each, where the default size puts the layers together).
    const int n = pipeline ? 8 : 3;
    auto by_count = base;
    by_count.push_back("workload.ddp_num_buckets=" + std::to_string(n));
    const auto counted = plan_of(by_count);
    double total = 0;
    for (const auto& b : counted.buckets) total += b.dense_params + b.expert_params;
    ASSERT_GT(total, 0);
    auto by_size = base;
    by_size.push_back("workload.ddp_bucket_size=" + std::to_string(static_cast<long long>(std::floor(total / n))));
    const auto sized = plan_of(by_size);
    ASSERT_EQ(counted.buckets.size(), sized.buckets.size()) << pipeline;
    EXPECT_GE(counted.buckets.size(), 3u) << pipeline;
    for (size_t i = 0; i < sized.buckets.size(); ++i) {
      EXPECT_EQ(counted.buckets[i].dense_params, sized.buckets[i].dense_params) << pipeline << " " << i;
    }
    // Not the default size (max(40M, 1M x DP)): the count decides.
    EXPECT_NE(plan_of(base).buckets.size(), counted.buckets.size()) << pipeline;
  }
  EXPECT_EQ(megatron_support::config_of_line("--ddp-num-buckets 8").ddp_num_buckets, 8);
  const std::string both = megatron_support::parse_sets_error({"workload.ddp_num_buckets=8", "workload.ddp_bucket_size=1000"});
  EXPECT_NE(both.find("ddp_num_buckets: cannot be given with ddp_bucket_size"), std::string::npos) << both;
}

// The command line means what Megatron-LM means: both checks on unless --no-check-for-nan-in-loss-and-grad, the
// gradients scaled unless --ddp-average-in-collective; what Megatron-LM refuses is refused, naming the key.
TEST(DdpChecks, MegatronArgumentsAndRefusals) {
  const auto plain = megatron_support::config_of_line("--tensor-model-parallel-size 2");
  EXPECT_TRUE(plain.check_for_nan_in_grad);
  EXPECT_TRUE(plain.check_for_nan_in_loss);
  EXPECT_FALSE(plain.ddp_average_in_collective);
  EXPECT_FALSE(plain.calculate_per_token_loss);
  const auto off = megatron_support::config_of_line("--no-check-for-nan-in-loss-and-grad --ddp-average-in-collective");
  EXPECT_FALSE(off.check_for_nan_in_grad);
  EXPECT_FALSE(off.check_for_nan_in_loss);
  EXPECT_TRUE(off.ddp_average_in_collective);
  EXPECT_TRUE(megatron_support::config_of_line("--calculate-per-token-loss").calculate_per_token_loss);
  const auto debug = megatron_support::config_of_line("--check-for-large-grads --check-for-spiky-loss");
  EXPECT_TRUE(debug.check_for_large_grads);
  EXPECT_TRUE(debug.check_for_spiky_loss);
  EXPECT_FALSE(plain.check_for_large_grads || plain.check_for_spiky_loss);
  const std::string graph = megatron_support::parse_sets_error(
      {"workload.cuda_graph_impl=local", "workload.cuda_graph_scope=[full_iteration]"});
  EXPECT_NE(graph.find("check_for_nan_in_grad"), std::string::npos) << graph;
  EXPECT_NE(graph.find("full_iteration"), std::string::npos) << graph;
  const std::vector<std::string> graph_sets = {"workload.cuda_graph_impl=local", "workload.cuda_graph_scope=[full_iteration]",
                                               "workload.check_for_nan_in_grad=false", "workload.check_for_nan_in_loss=false"};
  EXPECT_EQ(megatron_support::parse_sets_error(graph_sets), "");
  auto spiky_graph = graph_sets;
  spiky_graph.push_back("workload.check_for_spiky_loss=true");
  EXPECT_NE(megatron_support::parse_sets_error(spiky_graph).find("check_for_spiky_loss"), std::string::npos);
  const std::string both = megatron_support::parse_sets_error(
      {"workload.calculate_per_token_loss=true", "workload.ddp_average_in_collective=true"});
  EXPECT_NE(both.find("calculate_per_token_loss"), std::string::npos) << both;
  EXPECT_NE(both.find("--set 'workload.calculate_per_token_loss=true'"), std::string::npos) << both;
}

}  // namespace
}  // namespace lcsim
