// The flow model on both engine backends, end to end: a shipped scenario on `flow` (SimGrid 3.32, the reference) and
// on `flow_queue` (lcsim's own max-min solver, sim/queue_engine.cc) gives the same metrics to rounding. The case is
// the DeepSeek-V3-style scenario cut to 16 layers and one micro-batch (bench/flowscale.sh's deepseek-small): coupled
// expert all-to-all classes, NVLink and network paths of different latencies sharing links (latency-weighted
// shares), pipeline sends and data-parallel collectives. Each run is a child process (one SimGrid engine each).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "scenarios/scenario.h"
#include "sim/config_tree.h"
#include "test_support.h"

namespace lcsim {
namespace {

std::map<std::string, double> deepseek_slice(const std::string& fidelity) {
  return testing::metrics_in_child([&] {
    ConfigValue tree = load_yaml_file(std::string(LCSIM_SOURCE_DIR) + "/scenarios/training/deepseek-v3-h800-2048.yaml");
    for (const std::string& set : {"simulation.fidelity=" + fidelity, std::string("workload.train_iters=1"),
                                   std::string("workload.global_batch_size=128"),
                                   std::string("workload.model.num_layers=16"),
                                   // one micro-batch is fewer than DualPipe (the scenario's schedule) needs: 1F1B
                                   // with the all-to-alls beside each pass, as bench/flowscale.sh's slices run
                                   std::string("workload.pipeline_schedule=1f1b"),
                                   std::string("workload.overlap_moe_expert_parallel_comm=true")}) {
      apply_override(tree, set);
    }
    Scenario sc = parse_scenario(tree);
    return run_scenario(sc).metrics;
  });
}

TEST(FlowBackends, QueueSolverGivesSimGridsMetricsOnAMoESlice) {
  const auto simgrid = deepseek_slice("flow");
  const auto queue = deepseek_slice("flow_queue");
  ASSERT_FALSE(simgrid.count("child_failed") || queue.count("child_failed"));
  ASSERT_EQ(simgrid.size(), queue.size());
  ASSERT_GT(simgrid.at("iteration_time_s"), 0.0);
  EXPECT_GT(simgrid.at("time_exposed_ep_s"), 0.0);  // the expert all-to-alls are on the critical path
  EXPECT_EQ(simgrid.at("sim_events"), queue.at("sim_events"));
  for (const auto& [name, value] : simgrid) {
    ASSERT_TRUE(queue.count(name)) << name;
    EXPECT_NEAR(queue.at(name), value, 1e-9 * std::abs(value) + 1e-15) << name;
  }
}

}  // namespace
}  // namespace lcsim
