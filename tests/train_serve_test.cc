// A training job and a serving deployment on one cluster (issue 14 item 8, issue 16 item 6): the shipped example
// scenarios/examples/train-and-serve.yaml, where both cross the same spine uplinks, shows the interference on both
// sets of metrics; placed on disjoint leaves, the two jobs share no link and run exactly as they do alone.
// flow_queue is the flow model (max-min sharing of every link) on lcsim's own event queue: the same numbers as
// SimGrid's, several runs per process.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "scenarios/scenario.h"

namespace lcsim {
namespace {

MetricSet run(const std::vector<std::string>& overrides) {
  std::vector<std::string> all = {"simulation.fidelity=flow_queue"};
  all.insert(all.end(), overrides.begin(), overrides.end());
  Scenario sc = load_scenario(std::string(LCSIM_SOURCE_DIR) + "/scenarios/examples/train-and-serve.yaml", all);
  return run_scenario(sc).metrics;
}

// Serving starts after training has finished: each job runs alone on the same nodes.
const char* kApart = "jobs[1].start=1000s";

TEST(TrainAndServe, SharedSpineUplinksSlowBothJobs) {
  const MetricSet together = run({});
  const MetricSet apart = run({kApart});
  // Every request was served and every training iteration ran, in both runs.
  EXPECT_EQ(together.get("serve.kv_transfers"), 400);
  EXPECT_EQ(apart.get("serve.kv_transfers"), 400);
  // The KV handoffs (node 1 -> node 3) queue behind the gradient all-reduce (node 0 <-> node 2) on the spine uplinks.
  EXPECT_GT(together.get("serve.kv_transfer_mean_s"), 1.1 * apart.get("serve.kv_transfer_mean_s"));
  EXPECT_GT(together.get("serve.kv_transfer_p99_s"), 1.1 * apart.get("serve.kv_transfer_p99_s"));
  // And the all-reduce behind the handoffs: training's iterations take longer.
  EXPECT_GT(together.get("train.iteration_time_s"), apart.get("train.iteration_time_s"));
}

TEST(TrainAndServe, DisjointLeavesShareNothing) {
  const std::vector<std::string> disjoint = {"jobs[0].node_ids=[0,1]", "jobs[1].node_ids=[2,3]"};
  std::vector<std::string> disjoint_apart = disjoint;
  disjoint_apart.push_back(kApart);
  const MetricSet together = run(disjoint);
  const MetricSet apart = run(disjoint_apart);
  for (const char* m : {"train.iteration_time_s", "serve.kv_transfer_mean_s", "serve.kv_transfer_p99_s",
                        "serve.ttft_p50_s", "serve.ttft_p99_s", "serve.tpot_p99_s"}) {
    // Equal up to rounding: serving's clock starts at 1000 s in the second run, so its sums round differently.
    EXPECT_NEAR(together.get(m), apart.get(m), 1e-9 * apart.get(m)) << m;
  }
}

}  // namespace
}  // namespace lcsim
