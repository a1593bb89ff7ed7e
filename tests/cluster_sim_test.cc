// Duration-mode cluster replay: hand-checked job timelines under FIFO, backfill and preemption, node positions
// from the topology model, metrics, determinism, bad jobs.
#include <gtest/gtest.h>

#include "cluster_support.h"
#include "sim/error.h"
#include "workloads/cluster/cluster_sim.h"

namespace lcsim::cluster {
namespace {

using support::make;
using support::trace;

ClusterConfig one_pool(uint32_t nodes) {
  ClusterConfig c;
  c.pools.push_back({"gpu", nodes, 8, 1.0, 2.0});
  return c;
}

TraceJob job(double submit, uint32_t gpus, double duration, int32_t priority = 0) {
  TraceJob j;
  j.submit_s = submit;
  j.gpus = gpus;
  j.duration_s = duration;
  j.priority = priority;
  return j;
}

TEST(ClusterSim, FifoAndBackfillTimelinesByHand) {
  // 16 GPUs. Job 0: 8 GPUs for 100 s at t=0. Job 1: 16 GPUs for 50 s at t=1 (waits for job 0). Job 2: 8 GPUs
  // for 30 s at t=2. FIFO: job 1 runs 100-150, job 2 150-180. Backfill: job 2 ends (t=32) before job 1's
  // reservation (t=100), so it runs 2-32; job 1 still 100-150.
  JobTrace t = trace({job(0, 8, 100), job(1, 16, 50), job(2, 8, 30)});
  auto fifo = simulate_cluster(one_pool(2), t, *make("fifo"), {});
  EXPECT_EQ(fifo.jobs[1].first_start_s, 100);
  EXPECT_EQ(fifo.jobs[1].end_s, 150);
  EXPECT_EQ(fifo.jobs[2].first_start_s, 150);
  EXPECT_EQ(fifo.jobs[2].end_s, 180);
  auto bf = simulate_cluster(one_pool(2), t, *make("backfill"), {});
  EXPECT_EQ(bf.jobs[2].first_start_s, 2);
  EXPECT_EQ(bf.jobs[2].end_s, 32);
  EXPECT_EQ(bf.jobs[1].first_start_s, 100);
  MetricSet m = bf.metrics();
  EXPECT_EQ(m.get("jobs_completed"), 3);
  // JCTs 100, 149, 30: mean 93; queue delays 0, 99, 0.
  EXPECT_DOUBLE_EQ(m.get("jct_s_mean"), (100.0 + 149.0 + 30.0) / 3);
  EXPECT_EQ(m.get("jct_s_p50"), 100);
  EXPECT_EQ(m.get("queue_delay_s_p99"), 99);
  // Busy GPU-s: 800 + 800 + 240 = 1840 over 16 GPUs x 150 s.
  EXPECT_DOUBLE_EQ(m.get("utilization"), 1840.0 / (16 * 150));
  EXPECT_DOUBLE_EQ(m.get("cost_usd"), 1840.0 / 3600 * 2.0);
}

TEST(ClusterSim, PreemptedJobResumesFromItsCheckpointAndPaysTheOverhead) {
  // 8 GPUs. Job 0 (priority 0, 100 s) from t=0; job 1 (priority 5, 20 s) at t=40 preempts it. Job 0 has done
  // 40 s; it resumes at t=60 with 60 s left plus the 10 s checkpoint overhead: ends at 130.
  JobTrace t = trace({job(0, 8, 100, 0), job(40, 8, 20, 5)});
  SimOptions o;
  o.checkpoint_s = 10;
  auto r = simulate_cluster(one_pool(1), t, *make("priority"), o);
  EXPECT_EQ(r.jobs[1].first_start_s, 40);
  EXPECT_EQ(r.jobs[1].end_s, 60);
  EXPECT_EQ(r.jobs[0].preemptions, 1u);
  EXPECT_EQ(r.jobs[0].end_s, 130);
  EXPECT_EQ(r.jobs[0].run_s, 110);  // 40 + 70 held
  MetricSet m = r.metrics();
  EXPECT_EQ(m.get("preemptions"), 1);
  EXPECT_DOUBLE_EQ(m.get("goodput_mean"), (100.0 / 110 + 1.0) / 2);
}

/// Keeps the job states and pool counters a replay emits.
class Lanes final : public TraceSink {
 public:
  void on_state(const StateEvent& e) override {
    const char* what = e.what == StateEvent::What::kJobStarted ? "start" : e.what == StateEvent::What::kJobStopped ? "stop" : "end";
    log += std::string(what) + " " + std::to_string(e.id) + " @" + std::to_string(static_cast<int>(e.time.value())) + "; ";
  }
  void on_counter(const CounterEvent& e) override {
    counters += e.name + "=" + std::to_string(static_cast<int>(e.value)) + " @" +
                std::to_string(static_cast<int>(e.time.value())) + "; ";
  }
  std::string log, counters;
};

TEST(ClusterSim, EachJobHasALaneAndEachPoolABusyGpuCounter) {
  JobTrace t = trace({job(0, 8, 100, 0), job(40, 8, 20, 5)});
  Lanes lanes;
  Tracer tracer;
  tracer.subscribe(&lanes);
  SimOptions o;
  o.checkpoint_s = 10;
  o.tracer = &tracer;
  simulate_cluster(one_pool(1), t, *make("priority"), o);
  EXPECT_EQ(lanes.log, "start 0 @0; stop 0 @40; start 1 @40; end 1 @60; start 0 @60; end 0 @130; ");
  EXPECT_EQ(lanes.counters,
            "gpu busy GPUs=8 @0; gpu busy GPUs=0 @40; gpu busy GPUs=8 @40; gpu busy GPUs=0 @60; gpu busy GPUs=8 @60; "
            "gpu busy GPUs=0 @130; ");
}

TEST(ClusterSim, NodePositionsComeFromTheTopologyModel) {
  ClusterConfig c = one_pool(16);
  c.fabric.ports_per_leaf = 32;  // 4 nodes of 8 GPUs per leaf
  auto s = build_cluster(c);
  ASSERT_EQ(s.nodes.size(), 16u);
  EXPECT_EQ(s.nodes[3].leaf, 0u);
  EXPECT_EQ(s.nodes[4].leaf, 1u);
  EXPECT_EQ(s.nodes[15].leaf, 3u);
  // Rail-optimized: NIC i of each node on rail i's leaves, 32 ports each: 32 nodes share a rail group.
  c.fabric.rail_optimized = true;
  c.pools[0].nodes = 64;
  s = build_cluster(c);
  EXPECT_EQ(s.nodes[31].leaf, s.nodes[0].leaf);
  EXPECT_NE(s.nodes[32].leaf, s.nodes[0].leaf);
  // Three tiers: leaves in pods of 2.
  c.fabric.rail_optimized = false;
  c.fabric.tiers = 3;
  c.fabric.leaves_per_pod = 2;
  s = build_cluster(c);
  EXPECT_EQ(s.nodes[7].pod, 0u);
  EXPECT_EQ(s.nodes[8].pod, 1u);
}

TEST(ClusterSim, TopologyAwarePlacementKeepsMultiNodeJobsUnderOneLeaf) {
  // 8 nodes, 4 per leaf. Six 4-GPU jobs fill nodes 0-2 (leaf 0), then a 32-GPU job arrives: first fit takes
  // the first free nodes (3-6, across both leaves); topology-aware takes leaf 1 whole.
  ClusterConfig c = one_pool(8);
  c.fabric.ports_per_leaf = 32;
  std::vector<TraceJob> jobs;
  for (int i = 0; i < 6; ++i) jobs.push_back(job(i, 4, 1000));  // 24 GPUs in 4-GPU pieces
  jobs.push_back(job(10, 32, 100));
  JobTrace t = trace(jobs);
  auto ff = simulate_cluster(c, t, *make("backfill"), {});
  auto topo = simulate_cluster(c, t, *make("topology"), {});
  EXPECT_EQ(topo.jobs[6].leaves, 1u);
  EXPECT_EQ(topo.jobs[6].first_start_s, 10);
  // First fit: the six 4-GPU jobs fill nodes 0-2; the 32 GPUs take nodes 3-6, across both leaves.
  EXPECT_EQ(ff.jobs[6].leaves, 2u);
  EXPECT_EQ(ff.jobs[6].max_spine_hops, 1u);
}

TEST(ClusterSim, SameSeedSameResultAndEstimateErrorChangesOnlyEstimates) {
  // 40 whole-node jobs queue on one node: shortest-estimate-first with exact estimates is the best order for
  // mean JCT, so 50% estimate error can only make it worse (here it does).
  std::vector<TraceJob> jobs;
  for (int i = 0; i < 40; ++i) jobs.push_back(job(i, 8, 100 + (i * 37 % 40) * 50));
  JobTrace t = trace(jobs);
  SimOptions o;
  o.estimate_error = 0.5;
  auto a = simulate_cluster(one_pool(1), t, *make("predictive"), o);
  auto b = simulate_cluster(one_pool(1), t, *make("predictive"), o);
  EXPECT_EQ(a.metrics().to_json(), b.metrics().to_json());
  o.estimate_error = 0;
  auto c = simulate_cluster(one_pool(1), t, *make("predictive"), o);
  EXPECT_GT(a.metrics().get("jct_s_mean"), c.metrics().get("jct_s_mean"));
  // Every job ran for exactly its duration (no preemption): estimates order jobs, never stretch them.
  for (const auto& j : c.jobs) EXPECT_DOUBLE_EQ(j.run_s, t.jobs[j.id].duration_s);
}

TEST(ClusterSim, HeterogeneousPoolsScaleRunTimesByThroughput) {
  ClusterConfig c;
  c.pools = {{"a100", 1, 8, 1.0, 2.0}, {"h100", 1, 8, 2.0, 4.0}};
  JobTrace t = trace({job(0, 8, 100), job(0, 8, 100)});
  auto r = simulate_cluster(c, t, *make("hetero"), {});
  EXPECT_EQ(r.jobs[0].pool, 1u);  // the fastest pool first
  EXPECT_EQ(r.jobs[0].end_s, 50);
  EXPECT_EQ(r.jobs[1].end_s, 100);
  EXPECT_DOUBLE_EQ(r.metrics().get("cost_usd"), 8 * 50 / 3600.0 * 4 + 8 * 100 / 3600.0 * 2);
}

TEST(ClusterSim, JobsThatNoPoolCanHoldAreErrorsAtTheirLine) {
  JobTrace t = trace({job(0, 8, 10), job(1, 24, 10)});
  t.file = "jobs.csv";
  t.jobs[0].gpu_type = "h200";
  t.jobs[0].gpus_column = 4;
  t.jobs[1].gpus_column = 4;
  try {
    simulate_cluster(one_pool(2), t, *make("fifo"), {});
    FAIL() << "no error";
  } catch (const InputError& e) {
    std::string s = e.what();
    EXPECT_NE(s.find("jobs.csv:2:4: gpus: unknown pool 'h200'"), std::string::npos) << s;
    EXPECT_NE(s.find("jobs.csv:3:4: gpus: job 1 needs 24 GPUs; the largest pool it may use has 16"),
              std::string::npos) << s;
  }
}

}  // namespace
}  // namespace lcsim::cluster
