// Replays the whole Philly trace (data/clusters/philly_jobs_pollux.csv: 82,247 jobs, durations only) on a
// 2,000-GPU cluster (250 nodes x 8 GPUs, 32 GPUs per leaf) under each scheduling policy and prints the wall time
// of reading the trace and of each replay, with the policy calls and mean JCT. Target (issue 16): a replay in at
// most 10 s. docs/performance.md has the measured numbers.
//
//   build/bench/bench_cluster_replay [TRACE] [NODES]
#include <chrono>
#include <cstdio>
#include <string>

#include "workloads/cluster/cluster_sim.h"

int main(int argc, char** argv) {
  using namespace lcsim;
  using Clock = std::chrono::steady_clock;
  std::string path = argc > 1 ? argv[1] : std::string(LCSIM_SOURCE_DIR) + "/data/clusters/philly_jobs_pollux.csv";
  uint32_t nodes = argc > 2 ? static_cast<uint32_t>(std::stoul(argv[2])) : 250;
  auto t0 = Clock::now();
  cluster::JobTrace trace = cluster::read_philly_trace(path);
  double read_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("read %zu jobs in %.3f s\n\n", trace.jobs.size(), read_s);
  cluster::ClusterConfig c;
  c.pools.push_back({"gpu", nodes, 8, 1.0, 2.0});
  Registry<policy::SchedulingPolicyFactory> registry("scheduling policy");
  policy::register_scheduling_policies(registry);
  std::printf("| policy | GPUs | replay wall (s) | policy calls | jobs completed | JCT mean (h) | utilization |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& name : registry.names()) {
    auto policy = registry.get(name).factory();
    auto t1 = Clock::now();
    auto r = cluster::simulate_cluster(c, trace, *policy, {});
    double wall = std::chrono::duration<double>(Clock::now() - t1).count();
    MetricSet m = r.metrics();
    std::printf("| %s | %u | %.3f | %llu | %.0f | %.3f | %.3f |\n", name.c_str(), nodes * 8, wall,
                static_cast<unsigned long long>(r.policy_calls), m.get("jobs_completed"), m.get("jct_s_mean") / 3600,
                m.get("utilization"));
    std::fflush(stdout);
  }
  return 0;
}
