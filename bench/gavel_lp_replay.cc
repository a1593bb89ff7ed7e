// gavel-lp (Gavel's max-min LP with 6-minute rounds, policies/gavel_rounds.h) on the whole Philly trace, on the
// what-if cluster of scenarios/what-if/cluster-policies.sh (32 A100 + 32 H100 nodes of 8 GPUs, 32 GPUs per leaf,
// job classes lm 3x and small 1.2x on the H100). Prints the replay's wall and CPU time (the process's, getrusage),
// rounds, LPs handed to GLPK and reused, and the replay's headline figures. Issue 16's target: at most 10 s.
// docs/performance.md has the measured numbers.
//
//   build/bench/bench_gavel_lp_replay [JOBS] [--per-job] [--no-reuse]
//     JOBS: replay only the trace's first JOBS jobs (default: all); --per-job: one LP variable per job (as before
//     job classes); --no-reuse: solve every round's LP even when its classes did not change.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "policies/gavel_rounds.h"
#include "workloads/cluster/cluster_sim.h"

namespace {

double cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace lcsim;
  using Clock = std::chrono::steady_clock;
  size_t limit = 0;
  policy::GavelRoundsConfig config;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--per-job") == 0) config.by_class = false;
    else if (std::strcmp(argv[i], "--no-reuse") == 0) config.reuse_lp = false;
    else limit = std::stoul(argv[i]);
  }
  cluster::JobTrace trace =
      cluster::read_philly_trace(std::string(LCSIM_SOURCE_DIR) + "/data/clusters/philly_jobs_pollux.csv");
  if (limit > 0 && limit < trace.jobs.size()) trace.jobs.resize(limit);
  cluster::ClusterConfig c;
  c.pools = {{"a100", 32, 8, 1.0, 2.0}, {"h100", 32, 8, 2.0, 3.0}};
  c.job_classes = {{"lm", 1, {1, 3}}, {"small", 1, {1, 1.2}}};
  c.fabric.ports_per_leaf = 32;
  policy::GavelRoundsPolicy policy(config);
  const double cpu0 = cpu_s();
  const auto t0 = Clock::now();
  const auto r = cluster::simulate_cluster(c, trace, policy, {});
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count(), cpu = cpu_s() - cpu0;
  const MetricSet m = r.metrics();
  std::printf("| jobs | LP | replay wall (s) | replay CPU (s) | rounds | LPs solved | LPs reused | JCT mean (h) | "
              "slowdown mean | preemptions |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::printf("| %zu | %s%s | %.2f | %.2f | %llu | %llu | %llu | %.3f | %.2f | %.0f |\n", trace.jobs.size(),
              config.by_class ? "classes" : "per job", config.reuse_lp ? "" : ", no reuse", wall, cpu,
              static_cast<unsigned long long>(policy.rounds()), static_cast<unsigned long long>(policy.lp_solved()),
              static_cast<unsigned long long>(policy.lp_reused()), m.get("jct_s_mean") / 3600,
              m.get("slowdown_mean"), m.get("preemptions"));
  return 0;
}
