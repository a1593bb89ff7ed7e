// Megatron-LM's --deterministic-mode as lcsim costs it (workload key deterministic_mode; megatron/training/
// determinism.py): the job's collectives run rings where the scenario leaves the algorithm to the tuner (Megatron
// sets NCCL_ALGO=Ring unless the launcher set it), and attention's backward runs the deterministic kernel, slower by
// the part's measured deterministic_attention_backward_slowdown (H100: 1.213, FlashAttention-3's deterministic
// backward; docs/calibration.md). Its input checks: megatron_input_test.cc.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "megatron_support.h"

namespace lcsim {
namespace {

// One HGX H100 node, TP 8: the tensor-parallel all-reduces run NVLS when the tuner chooses (8 GPUs on NVSwitch).
const char* kNode = R"(
name: det
cluster: {accelerator: H100-SXM-80GB, nodes: 1, gpus_per_node: 8}
workload:
  type: megatron
  model: {num_layers: 4, hidden_size: 4096, num_attention_heads: 32, seq_length: 4096, vocab_size: 32000}
  global_batch_size: 8
  micro_batch_size: 1
  tensor_model_parallel_size: 8
simulation: {fidelity: analytical}
outputs: {timeline: false}
)";

std::map<std::string, double> run(const std::vector<std::string>& sets) {
  return megatron_support::run_from(kNode, sets);
}

// The collectives: deterministic mode's tensor-parallel all-reduces cost what the same run with the ring pinned
// costs, not what the tuner's NVLS costs; a pinned algorithm (the launcher's NCCL_ALGO) wins over the default.
TEST(DeterministicMode, RunsTheJobsCollectivesOnRingsUnlessTheScenarioPinsOne) {
  const auto tuner = run({});
  const auto ring = run({"policies.collectives.algorithm=ring"});
  const auto det = run({"workload.deterministic_mode=true"});
  ASSERT_GT(tuner.at("time_exposed_tp_s"), 0);
  EXPECT_LT(tuner.at("time_exposed_tp_s"), 0.95 * ring.at("time_exposed_tp_s"));  // NVLS beats the ring here
  // The same collectives; the runs' clocks differ (the deterministic attention backward), so the sums of the same
  // exposures round apart by a few units in the last place.
  EXPECT_NEAR(det.at("time_exposed_tp_s"), ring.at("time_exposed_tp_s"), 1e-12 * ring.at("time_exposed_tp_s"));
  const auto nvls = run({"policies.collectives.algorithm=nvls"});
  const auto det_nvls = run({"workload.deterministic_mode=true", "policies.collectives.algorithm=nvls"});
  EXPECT_DOUBLE_EQ(det_nvls.at("time_exposed_tp_s"), nvls.at("time_exposed_tp_s"));
}

// The attention backward: with the part's slowdown at 0 (not measured) deterministic mode changes no kernel; with
// H100's 1.213 the compute grows, and with 2 it grows (2 - 1) / (1.213 - 1) times as much: the factor scales the
// attention backward kernels' time and nothing else (compute-bound at this shape).
TEST(DeterministicMode, SlowsTheAttentionBackwardByThePartsMeasuredFactor) {
  const std::string ring = "policies.collectives.algorithm=ring";
  const auto part = [](const std::string& slowdown) {
    return "cluster.accelerator={base: H100-SXM-80GB, calibration: {deterministic_attention_backward_slowdown: " +
           slowdown + "}}";
  };
  const double plain = run({ring}).at("time_compute_s");
  const double off = run({ring, "workload.deterministic_mode=true", part("0")}).at("time_compute_s");
  EXPECT_DOUBLE_EQ(off, plain);
  const double h100 = run({ring, "workload.deterministic_mode=true"}).at("time_compute_s");
  const double two = run({ring, "workload.deterministic_mode=true", part("2")}).at("time_compute_s");
  ASSERT_GT(h100, plain);
  EXPECT_NEAR((two - plain) / (h100 - plain), 1.0 / 0.213, 1e-6);
  // The attention backward is a small share of this layout's compute (4,096 tokens, hidden 4,096).
  EXPECT_LT(h100 / plain, 1.10);
}

}  // namespace
}  // namespace lcsim
