// Megatron-LM's small all-reduces around each optimizer step (step_syncs; megatron_step.cc, plan_step_syncs): before
// the step the rerun state machine's check over every rank and the gradient norm's all-reduce (every rank with the
// distributed optimizer, TP x PP without), after it the update check, the gradient norm's and the learning rate's
// maxima over TP x PP and the loss over DP x CP on the last stage; one host operation after each .item(). Checked on
// the plan by hand, on the groups, and on a run's timeline: the world check ends at one instant on every stage (it
// waits for the slowest), and the step follows it. The layout: kBase (TP 2, PP 4, DP 4 on 32 H100s).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "megatron_timeline_support.h"

#include "models/hardware/catalog.h"
#include "models/hardware/op_cost.h"
#include "models/hardware/step_overhead.h"
#include "scenarios/scenario.h"
#include "timeline/model.h"
#include "workloads/training/megatron.h"
#include "workloads/training/placement.h"

namespace lcsim {
namespace {

using megatron_support::find;
using megatron_support::host_op;
using megatron_support::plan_of;
using megatron_support::Span;
using wl::GroupKind;
using wl::MegatronTraining;

std::vector<std::string> names(const std::vector<MegatronTraining::CommCall>& v) {
  std::vector<std::string> out;
  for (const auto& c : v) out.push_back(c.name);
  return out;
}

// What each stage plans, by hand: two all-reduces before the step (the gradient norm's over every rank with the
// distributed optimizer, over TP x PP without), three after it and the loss's on the last stage, one host operation
// before and four after. Off, and for the loops that auto leaves out (FSDP2, torch_eager): nothing.
TEST(StepSyncs, EachStagePlansTheLoopsAllReducesAndHostWaits) {
  const std::vector<std::string> dist = {"workload.use_distributed_optimizer=true"};
  const Duration op = host_op(dist);
  ASSERT_GT(op, Duration());
  for (int stage = 0; stage < 4; ++stage) {
    const auto p = plan_of(dist, stage);
    EXPECT_EQ(names(p.step_before), (std::vector<std::string>{"world all-reduce rerun check",
                                                               "world all-reduce gradient norm"}));
    std::vector<std::string> after = {"tp-pp all-reduce update check", "tp-pp all-reduce gradient norm max"};
    if (stage == 3) after.push_back("dp-cp all-reduce loss");
    after.push_back("tp-pp all-reduce learning rate max");
    EXPECT_EQ(names(p.step_after), after) << stage;
    EXPECT_EQ(p.step_before_host, op);
    EXPECT_EQ(p.step_after_host, op * 4);
    for (const auto& c : p.step_before) EXPECT_EQ(c.size, Bytes::of(4));
    if (stage == 3) {
      EXPECT_EQ(p.step_after[2].size, Bytes::of(8));
    }
  }
  const auto whole = plan_of({"workload.use_distributed_optimizer=false"}, 0);
  ASSERT_EQ(whole.step_before.size(), 2u);
  EXPECT_EQ(whole.step_before[1].group, GroupKind::kMp);
  for (const auto& sets : {std::vector<std::string>{"workload.step_syncs=off"},
                           std::vector<std::string>{"workload.use_torch_fsdp2=true", "workload.pipeline_model_parallel_size=1"},
                           std::vector<std::string>{"workload.layer_kernels=torch_eager"}}) {
    const auto p = plan_of(sets, 0);
    EXPECT_TRUE(p.step_before.empty() && p.step_after.empty()) << sets[0];
    EXPECT_EQ(p.step_before_host + p.step_after_host, Duration()) << sets[0];
  }
  auto forced = std::vector<std::string>{"workload.layer_kernels=torch_eager", "workload.step_syncs=on"};
  EXPECT_EQ(plan_of(forced, 0).step_after.size(), 3u);
}

// Megatron-LM's --rerun-mode: disabled asks nothing after the passes (no world check, no .item() before the step;
// the gradient norm's all-reduce stays), and the iteration is shorter by at least that host operation;
// validate_results (the default) and skip keep the check; the two reporting modes, which run every step's passes
// twice, are refused, on a line at the argument's value.
TEST(StepSyncs, RerunModeDisabledDropsTheCheck) {
  const std::vector<std::string> dist = {"workload.use_distributed_optimizer=true"};
  auto disabled = dist;
  disabled.push_back("workload.rerun_mode=disabled");
  for (int stage : {0, 3}) {
    const auto p = plan_of(disabled, stage);
    EXPECT_EQ(names(p.step_before), (std::vector<std::string>{"world all-reduce gradient norm"})) << stage;
    EXPECT_EQ(p.step_before_host, Duration()) << stage;
    EXPECT_EQ(p.step_after.size(), plan_of(dist, stage).step_after.size()) << stage;
    EXPECT_EQ(p.step_after_host, host_op(dist) * 4) << stage;
  }
  auto skip = dist;
  skip.push_back("workload.rerun_mode=skip");
  EXPECT_EQ(names(plan_of(skip, 0).step_before), names(plan_of(dist, 0).step_before));
  const auto on = megatron_support::run(dist), off = megatron_support::run(disabled);
  EXPECT_GE(on.at("iteration_time_s") - off.at("iteration_time_s"), host_op(dist).s());
  EXPECT_EQ(megatron_support::config_of_line("--num-layers 2 --hidden-size 512 --num-attention-heads 8 "
                                             "--seq-length 512 --global-batch-size 32 --micro-batch-size 1 "
                                             "--rerun-mode disabled")
                .rerun_mode,
            "disabled");
  for (const char* mode : {"report_stats", "report_determinism_stats"}) {
    const std::string e = megatron_support::parse_sets_error({std::string("workload.rerun_mode=") + mode});
    EXPECT_NE(e.find("rerun_mode"), std::string::npos) << e;
    EXPECT_NE(e.find("twice"), std::string::npos) << e;
  }
  EXPECT_NE(megatron_support::parse_sets_error({"workload.rerun_mode=always"}).find("validate_results"),
            std::string::npos);
}

// Megatron-LM's --log-num-zeros-in-grad and --log-params-norm, every step: the count's kernels (the fp32 gradient
// read, a bool map written and read) and its 8-byte all-reduce over the gradient-statistics group before the step,
// its maximum over TP x PP after it; the norm's kernel (the fp32 main parameters read) and its all-reduces over
// DP x CP and TP x PP after the step; one host operation per .item(). The distributed optimizer's shard (DP 4 here)
// or, without it, the rank's whole parameters.
TEST(StepSyncs, LoggedStatisticsCostTheirKernelsAllReducesAndHostWaits) {
  const std::vector<std::string> dist = {"workload.use_distributed_optimizer=true"};
  auto logged = dist;
  logged.insert(logged.end(), {"workload.log_params_norm=true", "workload.log_num_zeros_in_grad=true"});
  const Duration op = host_op(dist), launch = megatron_support::h100().calibration.kernel_launch;
  const auto p = plan_of(logged, 3);
  const double shard = p.dense_params / 4;  // TP 2, PP 4 on 32 GPUs: DP 4
  ASSERT_GT(shard, 0);
  EXPECT_EQ(p.expert_params, 0);
  EXPECT_EQ(p.step_before_compute, hw::memory_time(megatron_support::h100(), Bytes::of(shard * 6)) + launch * 2);
  EXPECT_EQ(p.step_after_compute, hw::memory_time(megatron_support::h100(), Bytes::of(shard * 4)) + launch * 2);
  EXPECT_EQ(names(p.step_before), (std::vector<std::string>{"world all-reduce rerun check",
                                                             "world all-reduce gradient norm",
                                                             "world all-reduce zeros in gradients"}));
  EXPECT_EQ(p.step_before.back().size, Bytes::of(8));
  EXPECT_EQ(names(p.step_after),
            (std::vector<std::string>{"tp-pp all-reduce update check", "tp-pp all-reduce gradient norm max",
                                      "tp-pp all-reduce zeros in gradients max", "dp-cp all-reduce loss",
                                      "dp-cp all-reduce parameter norm", "tp-pp all-reduce parameter norm",
                                      "tp-pp all-reduce learning rate max"}));
  EXPECT_EQ(p.step_before_host, op * 2);
  EXPECT_EQ(p.step_after_host, op * 6);
  const auto plain = plan_of(dist, 3);
  EXPECT_EQ(plain.step_before_compute + plain.step_after_compute, Duration());
  // Without the distributed optimizer: the whole main parameters and gradients, the count over TP x PP.
  const auto whole = plan_of({"workload.use_distributed_optimizer=false", "workload.log_params_norm=true",
                              "workload.log_num_zeros_in_grad=true"}, 0);
  EXPECT_EQ(whole.step_after_compute,
            hw::memory_time(megatron_support::h100(), Bytes::of(whole.dense_params * 4)) + launch * 2);
  EXPECT_EQ(whole.step_before[2].group, GroupKind::kMp);
  // Off with step_syncs, read from a line, and on the run: the iteration longer by at least the kernels and the
  // three more host operations.
  auto off = logged;
  off.push_back("workload.step_syncs=off");
  EXPECT_EQ(plan_of(off, 3).step_before_compute, Duration());
  const wl::MegatronConfig line = megatron_support::config_of_line(
      "--num-layers 2 --hidden-size 512 --num-attention-heads 8 --seq-length 512 --global-batch-size 32 "
      "--micro-batch-size 1 --log-params-norm --log-num-zeros-in-grad");
  EXPECT_TRUE(line.log_params_norm && line.log_num_zeros_in_grad);
  const auto with = megatron_support::run(logged), without = megatron_support::run(dist);
  EXPECT_GE(with.at("iteration_time_s") - without.at("iteration_time_s"),
            (p.step_before_compute + p.step_after_compute + op * 3).s() * 0.999);
}

// The groups: every rank of the job, and Megatron's model-parallel group (TP x PP of one DP and CP coordinate).
TEST(StepSyncs, WorldAndModelParallelGroups) {
  const wl::Placement p(2, 1, 4, 4, 1, "tp-cp-ep-dp-pp");  // rank = tp + 2 dp + 8 pp
  std::vector<uint32_t> all(32);
  for (uint32_t i = 0; i < 32; ++i) all[i] = i;
  EXPECT_EQ(p.group(GroupKind::kWorld, 13), all);
  EXPECT_EQ(p.group(GroupKind::kMp, 13), (std::vector<uint32_t>{4, 5, 12, 13, 20, 21, 28, 29}));
  EXPECT_STREQ(wl::group_kind_name(GroupKind::kWorld), "world");
  EXPECT_STREQ(wl::group_kind_name(GroupKind::kMp), "tp-pp");
}

// Each pipeline rank's first GPU (node r, gpu0): its compute spans, then its data-parallel spans.
std::vector<std::vector<Span>> spans(const std::vector<std::string>& sets, const std::string& name, double* iteration,
                                     double* host) {
  const megatron_support::TimelineRun run = megatron_support::run_timeline(sets, 32, "step_syncs_test", name);
  *iteration = run.metrics.get("iteration_time_s");
  *host = run.metrics.get("time_host_s");
  std::vector<std::vector<Span>> out(4);
  for (int node = 0; node < 4; ++node) {
    auto& v = out[static_cast<size_t>(node)];
    for (const char* track : {"gpu0 compute", "gpu0 dp"}) {
      const auto& lane = run.lane(node, track);
      v.insert(v.end(), lane.begin(), lane.end());
    }
  }
  return out;
}

// On the timeline: the rerun check ends at the same instant on every pipeline stage, after the last stage to arrive
// (here pipeline rank 0, whose last backward pass ends the schedule); the gradient norm's all-reduce follows it, the
// step one host operation after that; after the step the loop's all-reduces, the loss's on the last stage only, and
// four host operations. The iteration is longer than without them by at least those five host operations.
TEST(StepSyncs, TheWorldCheckWaitsForEveryStageAndTheStepFollows) {
  const std::vector<std::string> base = {"workload.use_distributed_optimizer=true"};
  auto off = base;
  off.push_back("workload.step_syncs=off");
  const Duration op = host_op(base);
  double it_on = 0, it_off = 0, host_on = 0, host_off = 0;
  const auto on = spans(base, "on", &it_on, &host_on);
  spans(off, "off", &it_off, &host_off);
  double end = -1, latest_arrival = 0;
  for (int r = 0; r < 4; ++r) {
    const auto& v = on[static_cast<size_t>(r)];
    const Span* check = find(v, "world all-reduce rerun check");
    const Span* norm = find(v, "world all-reduce gradient norm");
    const Span* step = find(v, "optimizer step");
    ASSERT_TRUE(check && norm && step) << r;
    if (end < 0) end = check->end;
    EXPECT_NEAR(check->end, end, 1.0) << r;
    latest_arrival = std::max(latest_arrival, check->start);
    EXPECT_NEAR(norm->start, check->end, 1.0) << r;
    EXPECT_NEAR(step->start, norm->end + op.s() * 1e9, 1.0) << r;
    const bool last = r == 3;
    bool loss = false;
    for (const Span& s : v) loss = loss || s.name == "dp-cp all-reduce loss";
    EXPECT_EQ(loss, last) << r;
    const Span* lr = find(v, "tp-pp all-reduce learning rate max");
    ASSERT_TRUE(lr) << r;
    EXPECT_GE(lr->start, step->end) << r;
    const Span* syncs = nullptr;
    for (const Span& s : v) {
      if (s.name == "host synchronizations (step)" && s.start >= lr->end - 1.0) syncs = &s;
    }
    ASSERT_TRUE(syncs) << r;
    EXPECT_NEAR(syncs->end - syncs->start, op.s() * 4e9, 1.0) << r;
  }
  EXPECT_GT(end, latest_arrival);
  EXPECT_GT(it_on - it_off, op.s() * 5);
  EXPECT_GT(host_on, host_off);
}

}  // namespace
}  // namespace lcsim
