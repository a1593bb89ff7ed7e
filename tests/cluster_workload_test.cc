// Cluster jobs as training workloads (issue 16 item 2): the replay re-times running jobs when the set of running
// jobs changes (hand-derived with a model whose speed is known), groups jobs that cannot share a link and memoizes
// per placement shape; on the flow model two jobs crossing the same spine links slow each other and two jobs on
// disjoint leaves do not; bad workload jobs get clear errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "scenarios/cluster_speed.h"
#include "sim/error.h"
#include "cluster_support.h"
#include "workloads/cluster/cluster_sim.h"

namespace lcsim::cluster {
namespace {

namespace fs = std::filesystem;
using namespace support;  // NOLINT(google-build-using-namespace): the cluster tests' helpers

TraceJob work(double submit, uint32_t gpus, uint64_t iterations) {
  return support::training(submit, gpus, iterations, "w.yaml");
}

/// A known speed: `base_s` per iteration alone; each other job in the group adds `per_neighbour_s`.
class CountingModel final : public JobSpeedModel {
 public:
  uint32_t workload(const std::string& name) override {
    names.push_back(name);
    return static_cast<uint32_t>(names.size() - 1);
  }
  std::vector<double> iteration_s(const std::vector<RunningWork>& group) override {
    ++calls;
    return std::vector<double>(group.size(), base_s + per_neighbour_s * static_cast<double>(group.size() - 1));
  }
  double base_s = 1, per_neighbour_s = 1;
  std::vector<std::string> names;
  int calls = 0;
};

TEST(ClusterWorkload, RunningJobsAreRetimedWhenTheSetChanges) {
  // 4 nodes, 2 per leaf; 1 s per iteration alone, 2 s while another job shares the leaf. First fit: job 0 (16
  // GPUs, 10 iterations from t=0) takes nodes 0-1 (leaf 0) and runs alone: ends at 10. Job 1 (8 GPUs, 10
  // iterations from 0) takes node 2 (leaf 1); job 2 (8 GPUs, 10 iterations from 5) takes node 3 beside it. Job 1:
  // 5 iterations alone by t=5, the other 5 at 2 s: ends 15. Job 2: 5 iterations at 2 s by 15, then 5 alone: 20.
  CountingModel model;
  SimOptions opt;
  opt.speed = &model;
  JobTrace t = trace({work(0, 16, 10), work(0, 8, 10), work(5, 8, 10)});
  ClusterResult r = simulate_cluster(four_nodes(), t, *make("fifo"), opt);
  EXPECT_DOUBLE_EQ(r.jobs[0].end_s, 10);
  EXPECT_DOUBLE_EQ(r.jobs[1].end_s, 15);
  EXPECT_DOUBLE_EQ(r.jobs[2].end_s, 20);
  EXPECT_TRUE(r.jobs[2].workload);
  EXPECT_DOUBLE_EQ(r.jobs[2].ideal_run_s, 10);
  MetricSet m = r.metrics();
  EXPECT_EQ(m.get("workload_jobs"), 3);
  // Stretch: 10/10, 15/10, 15/10.
  EXPECT_DOUBLE_EQ(m.get("workload_stretch_mean"), (1.0 + 1.5 + 1.5) / 3);
  EXPECT_EQ(model.names.size(), 3u);  // asked for each job's workload once
}

TEST(ClusterWorkload, GroupsAreJobsThatShareALeafAndShapesRepeat) {
  ClusterConfig c = four_nodes();
  policy::ClusterSnapshot s = build_cluster(c);
  ASSERT_EQ(s.nodes[1].leaf, s.nodes[0].leaf);
  ASSERT_NE(s.nodes[2].leaf, s.nodes[0].leaf);
  CountingModel model;
  SpeedCache cache(s, model);
  // Two one-node jobs on different leaves: two groups of the same shape: one simulation, one cache hit.
  std::vector<RunningWork> apart = {{1, 0, {{0, 8}}}, {2, 0, {{2, 8}}}};
  EXPECT_EQ(cache.groups(apart).size(), 2u);
  EXPECT_EQ(cache.shape({apart[0]}), cache.shape({apart[1]}));
  std::vector<double> t = cache.iteration_s(apart);
  EXPECT_EQ(t, (std::vector<double>{1, 1}));
  EXPECT_EQ(cache.evaluations(), 1u);
  EXPECT_EQ(cache.hits(), 1u);
  // A job across both leaves links everything into one group; another workload makes another shape.
  std::vector<RunningWork> linked = {{1, 0, {{0, 8}}}, {2, 0, {{3, 8}}}, {3, 0, {{1, 8}, {2, 8}}}};
  EXPECT_EQ(cache.groups(linked).size(), 1u);
  EXPECT_EQ(cache.iteration_s(linked), (std::vector<double>{3, 3, 3}));
  EXPECT_NE(cache.shape({{1, 0, {{0, 8}}}}), cache.shape({{1, 1, {{0, 8}}}}));
  // Two nodes on one leaf vs two nodes on two leaves: different shapes.
  EXPECT_NE(cache.shape({{1, 0, {{0, 8}, {1, 8}}}}), cache.shape({{1, 0, {{1, 8}, {2, 8}}}}));
}

TEST(ClusterWorkload, BadWorkloadJobsGetClearErrors) {
  // No speed model: the job's line is named.
  JobTrace t = trace({work(0, 8, 10)});
  try {
    simulate_cluster(four_nodes(), t, *make("fifo"), {});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("jobs.csv:2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no model of workload speed"), std::string::npos) << e.what();
  }
  // Not whole nodes.
  CountingModel model;
  SimOptions opt;
  opt.speed = &model;
  JobTrace part = trace({work(0, 4, 10)});
  try {
    simulate_cluster(four_nodes(), part, *make("fifo"), opt);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("needs whole nodes: 4 GPUs is not a multiple of pool 'gpu''s 8"),
              std::string::npos)
        << e.what();
  }
}

TEST(ClusterWorkload, CsvJobsNameWorkloadsRelativeToTheTrace) {
  fs::path d = temp_dir("csv_workload");
  std::ofstream(d / "jobs.csv") << "submit_s,gpus,workload,iterations,duration_s\n0,16,w.yaml,100,\n1,8,,,30\n"
                                << "2,8,w.yaml,0,\n3,8,,5,40\n";
  try {
    read_job_csv((d / "jobs.csv").string());
    FAIL();
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("jobs.csv:4:"), std::string::npos) << what;
    EXPECT_NE(what.find("expected a whole number of training iterations >= 1, got '0'"), std::string::npos) << what;
    EXPECT_NE(what.find("jobs.csv:5:"), std::string::npos) << what;
    EXPECT_NE(what.find("iterations without a workload"), std::string::npos) << what;
  }
  std::ofstream(d / "ok.csv") << "submit_s,gpus,workload,iterations,duration_s\n0,16,w.yaml,100,\n1,8,,,30\n";
  JobTrace t = read_job_csv((d / "ok.csv").string());
  ASSERT_EQ(t.jobs.size(), 2u);
  EXPECT_EQ(t.jobs[0].workload, (d / "w.yaml").lexically_normal().string());
  EXPECT_EQ(t.jobs[0].iterations, 100u);
  EXPECT_TRUE(t.jobs[1].workload.empty());
  EXPECT_EQ(t.jobs[1].duration_s, 30);
  fs::remove_all(d);
}

TEST(ClusterWorkload, JobsAcrossTheSameSpineLinksSlowEachOtherOnTheFlowModel) {
  fs::path d = temp_dir("flow_contention");
  ScenarioJobSpeed speed(small_cluster(d), {1});
  uint32_t w = speed.workload(std::string(LCSIM_SOURCE_DIR) + "/scenarios/cluster-jobs/gpt-350m-dp.yaml");
  // Alone on two nodes across the leaves (nodes 0 and 2), and on two nodes of one leaf (0 and 1).
  const double across = speed.iteration_s({{1, w, {{0, 8}, {2, 8}}}}).front();
  const double one_leaf = speed.iteration_s({{1, w, {{0, 8}, {1, 8}}}}).front();
  // Together, crossing the same uplinks: jobs on {0, 2} and {1, 3}.
  std::vector<double> crossed = speed.iteration_s({{1, w, {{0, 8}, {2, 8}}}, {2, w, {{1, 8}, {3, 8}}}});
  // Together on disjoint leaves: {0, 1} and {2, 3}.
  std::vector<double> apart = speed.iteration_s({{1, w, {{0, 8}, {1, 8}}}, {2, w, {{2, 8}, {3, 8}}}});
  std::printf("alone: one leaf %.6f s, across %.6f s; together across %.6f %.6f, apart %.6f %.6f\n", one_leaf, across,
              crossed[0], crossed[1], apart[0], apart[1]);
  EXPECT_GT(across, one_leaf * 1.05) << "crossing an 8:1 oversubscribed spine layer costs time even alone";
  EXPECT_GT(crossed[0], across * 1.1) << "the two jobs' all-reduces share the leaves' two uplinks";
  EXPECT_GT(crossed[1], across * 1.1);
  EXPECT_DOUBLE_EQ(apart[0], one_leaf) << "disjoint leaves share no link";
  EXPECT_DOUBLE_EQ(apart[1], one_leaf);
  fs::remove_all(d);
}

// `lcsim schedule --cluster`: each pool's GPUs draw their part's power where --gpu-watts names no other, the power
// limit in force while they run a job. The catalog's H100 SXM: 70 W idle, 700 W TDP; a pool of them capped at
// 500 W draws 500 W busy; a limit at or above the TDP leaves the TDP.
TEST(ClusterWorkload, PoolsOfAScenarioDrawTheirPartsPowerLimit) {
  fs::path d = temp_dir("pool_watts");
  std::ofstream(d / "c.yaml") << "cluster:\n  pools:\n"
                                 "    - {name: full, count: 2, node: {base: hgx-h100}}\n"
                                 "    - {name: capped, count: 2, node: {base: hgx-h100, accelerator: {base: H100-SXM-80GB,"
                                 " power_limit: 500W}}}\n"
                                 "    - {name: above, count: 1, node: {base: hgx-h100, accelerator: {base: H100-SXM-80GB,"
                                 " power_limit: 700W}}}\n"
                                 "simulation: {seed: 1}\n";
  ScenarioJobSpeed speed((d / "c.yaml").string());
  const ClusterConfig c = speed.cluster_config();
  ASSERT_EQ(c.pools.size(), 3u);
  EXPECT_EQ(c.pools[0].name, "full");
  EXPECT_DOUBLE_EQ(c.pools[0].idle_watts_per_gpu, 70);
  EXPECT_DOUBLE_EQ(c.pools[0].busy_watts_per_gpu, 700);
  EXPECT_EQ(c.pools[1].name, "capped");
  EXPECT_DOUBLE_EQ(c.pools[1].idle_watts_per_gpu, 70);
  EXPECT_DOUBLE_EQ(c.pools[1].busy_watts_per_gpu, 500);
  EXPECT_DOUBLE_EQ(c.pools[2].busy_watts_per_gpu, 700);
  fs::remove_all(d);
}

}  // namespace
}  // namespace lcsim::cluster
