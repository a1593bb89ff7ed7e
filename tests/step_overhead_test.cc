// Framework overhead and the optimizer step (models/hardware/step_overhead.h): the host's issue time per kernel,
// the pass-start latency after a pipeline receive, and the optimizer's passes over HBM, each derived by hand.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "megatron_support.h"
#include "test_support.h"

#include "models/hardware/catalog.h"
#include "models/hardware/step_overhead.h"
#include "scenarios/scenario.h"

namespace lcsim {
namespace {

TEST(HostIssue, AGroupTakesAtLeastItsKernelsIssueTime) {
  const hw::HostIssue host({Duration::us(23)});
  // Three 10 us kernels: the host needs 3 x 23 us to issue them, so the GPU waits for it.
  EXPECT_DOUBLE_EQ(host.group_time(Duration::us(30), 3).s(), Duration::us(69).s());
  // Three kernels of 1 ms in all: the host runs ahead, the GPU time stands.
  EXPECT_DOUBLE_EQ(host.group_time(Duration::ms(1), 3).s(), 1e-3);
  EXPECT_DOUBLE_EQ(host.pass_start().s(), 23e-6);
  // Off: the host is never the limit.
  const hw::HostIssue off({Duration()});
  EXPECT_DOUBLE_EQ(off.group_time(Duration::us(30), 3).s(), Duration::us(30).s());
  EXPECT_DOUBLE_EQ(off.pass_start().s(), 0);
}

// The serial bound (workload.host_issue_model serial): issue and execution in series, their sum, where the default
// takes the larger of the two.
TEST(HostIssue, TheSerialBoundAddsTheIssueTime) {
  const hw::HostIssue serial({Duration::us(23), Duration::us(8.3), true});
  EXPECT_DOUBLE_EQ(serial.group_time(Duration::us(30), 3).s(), Duration::us(99).s());
  EXPECT_DOUBLE_EQ(serial.group_time(Duration::ms(1), 3).s(), Duration::us(1069).s());
  // A grouped operator's further experts too: 2 kernels, one per expert over 4 experts: 2 x 23 + 3 x 8.3 us.
  EXPECT_NEAR(serial.group_time(Duration::us(10), 2, 1, 4).s(), (10 + 46 + 24.9) * 1e-6, 1e-12);
  // Without host time the bound is the GPU time, as the default.
  const hw::HostIssue off({Duration(), Duration(), true});
  EXPECT_DOUBLE_EQ(off.group_time(Duration::us(30), 3).s(), Duration::us(30).s());
}

TEST(OptimizerStep, NormAdamAndZeroingAreMemoryBoundPasses) {
  const hw::AcceleratorSpec& h100 = hw::PartCatalog::get().part("H100-SXM-80GB");
  // 1B parameters, unsharded, fp32 gradients: norm reads 4 B, Adam moves 30 B, zeroing writes 4 B per parameter.
  const hw::OptimizerStep plain{1e9, 1e9, 4};
  EXPECT_DOUBLE_EQ(hw::optimizer_step_bytes(plain).bytes(), 38e9);
  const double bw = 3.35e12 * h100.calibration.memory_efficiency;  // streaming kernels
  const double launch = h100.calibration.kernel_launch.s();
  EXPECT_NEAR(hw::optimizer_step_time(h100, plain).s(), 38e9 / bw + 5 * launch, 1e-12);
  // Distributed optimizer over 8 ranks: norm and update on 1/8, the whole gradient buffer zeroed.
  const hw::OptimizerStep sharded{1e9 / 8, 1e9, 4};
  EXPECT_DOUBLE_EQ(hw::optimizer_step_bytes(sharded).bytes(), 1e9 / 8 * 34 + 4e9);
  // bf16 gradients: half the norm and zeroing traffic.
  EXPECT_DOUBLE_EQ(hw::optimizer_step_bytes({1e9, 1e9, 2}).bytes(), 34e9);
}

/// megatron_support's layout (4 HGX H100 nodes, TP 2, PP 4, 8 layers) with 16 sequences a step on a plain (not
/// rail-optimized) fabric, the host issuing kernels at `host_op_time`.
std::map<std::string, double> run(const std::string& host_op_time) {
  // Without the DDP's NaN check (its host waits per bucket: DdpChecks tests them) and the step's small all-reduces
  // (their host waits after each .item(): StepSyncs).
  return megatron_support::run({"workload.global_batch_size=16", "cluster.fabric.rail_optimized=false",
                                "workload.host_op_time=" + host_op_time, "workload.check_for_nan_in_grad=false",
                                "workload.step_syncs=off"});
}

TEST(HostIssue, EveryPipelinePassWaitsForTheHostOnce) {
  // 32 GPUs, TP 2, PP 4: DP 4, so 16 / 4 = 4 micro-batches and 8 passes per rank. With a host far faster than any kernel
  // (1 ns per kernel) no group is host-bound and only the pass starts add up: 8 x 1 ns per rank.
  auto off = run("0us"), fast = run("1ns"), measured = run("23us");
  ASSERT_FALSE(off.count("child_failed") || fast.count("child_failed") || measured.count("child_failed"));
  EXPECT_EQ(off["micro_batches"], 4);
  EXPECT_NEAR(fast["time_compute_s"] - off["time_compute_s"], 8e-9, 1e-12);
  // At the measured 23 us, groups of short kernels (a norm of 2,048 x 2,048 is ~17 us on H100) are host-bound:
  // more than the 8 x 23 us of pass starts.
  EXPECT_GT(measured["time_compute_s"] - off["time_compute_s"], 8 * 23e-6);
  EXPECT_GT(measured["iteration_time_s"], off["iteration_time_s"]);
}

// A whole Megatron run under the serial bound: slower than with the host running ahead, and the same as it when the
// host takes no time.
TEST(HostIssue, TheSerialBoundSlowsARunOnlyByItsIssueTime) {
  auto with = [](const std::string& op_time, const std::string& model) {
    return megatron_support::run({"workload.global_batch_size=16", "cluster.fabric.rail_optimized=false",
                                  "workload.host_op_time=" + op_time, "workload.host_issue_model=" + model});
  };
  const auto overlapped = with("23us", "overlapped"), serial = with("23us", "serial");
  EXPECT_GT(serial.at("time_compute_s"), overlapped.at("time_compute_s"));
  EXPECT_GT(serial.at("iteration_time_s"), overlapped.at("iteration_time_s"));
  const auto free_overlapped = with("0us", "overlapped"), free_serial = with("0us", "serial");
  for (const auto& [k, v] : free_overlapped) EXPECT_EQ(free_serial.at(k), v) << k;
}

TEST(HostIssue, BadValueIsRejectedWithItsKey) {
  ConfigValue tree = parse_yaml_text(megatron_support::kBase, "mt.yaml");
  apply_override(tree, "workload.host_op_time=-1us");
  try {
    parse_scenario(tree);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("workload.host_op_time"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lcsim
