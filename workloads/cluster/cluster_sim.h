// Cluster simulation: replays a job trace on a cluster of GPU pools under a scheduling policy. A duration job holds
// its GPUs for its trace duration divided by its pool's throughput (no fabric contention); a training-workload job
// runs its iterations at the speed a JobSpeedModel gives for its placement and the other running workload jobs,
// re-timed whenever they change (job_speed.h; docs/scheduling.md). Its own event loop (arrivals and completions in time order,
// completions first at equal times) calls the policy once per distinct event time with a ClusterSnapshot, so
// 82K jobs replay in well under a second and the result does not depend on SimGrid.
// Node positions in the fabric come from the topology model (net::LeafSpine): leaf (rail group) and pod.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/network/topology.h"
#include "policies/demand_forecast.h"
#include "policies/scheduling.h"
#include "sim/metrics.h"
#include "sim/trace.h"
#include "workloads/cluster/job_speed.h"
#include "workloads/cluster/job_trace.h"

namespace lcsim::cluster {

struct PoolConfig {
  std::string name = "gpu";
  uint32_t nodes = 1;
  uint32_t gpus_per_node = 8;
  double throughput = 1.0;       // relative to the trace's GPUs
  double cost_per_gpu_hour = 0;  // USD
  double idle_watts_per_gpu = 0;  // a powered GPU with no job (energy metrics; 0: not counted)
  double busy_watts_per_gpu = 0;  // a GPU running a job (a scenario's pool: its part's power limit, cluster_speed.cc)
};

struct TeamConfig {
  std::string name;
  uint32_t quota_gpus = 0;  // 0: none
};

/// A kind of job with its own speed on each pool (a row of Gavel's throughput matrix). With classes, each job
/// of the trace is given one at random by weight (stream cluster.job_class, by job id), as Gavel's simulations
/// assign model types to Philly's jobs, and runs at its class's throughput instead of the pool's.
struct JobClass {
  std::string name;
  double weight = 1;
  std::vector<double> throughput = {};  // per pool, in pool order (> 0)
};

struct ClusterConfig {
  std::vector<PoolConfig> pools;  // nodes numbered pool by pool, in this order
  std::vector<JobClass> job_classes;  // empty: every job runs at its pool's throughput
  net::LeafSpineConfig fabric;    // only the layout matters here: ports_per_leaf, rail_optimized, tiers, leaves_per_pod
  std::vector<TeamConfig> teams;  // jobs of teams not listed have no quota
};

struct SimOptions {
  double estimate_error = 0;    // each job's duration estimate is its duration x U[1-e, 1+e] (stream cluster.estimate)
  uint64_t seed = 1;
  double checkpoint_s = 60;     // a preempted job pays this on its next start (save + restore)
  Tracer* tracer = nullptr;     // per-job states (started, stopped, finished) and per-pool busy-GPU counters
  /// Node power: with a power policy, nodes are switched on (taking boot_s before they take jobs) and idle nodes
  /// off to meet its per-pool targets, asked after every scheduling pass and at least every tick_s while jobs
  /// remain. Without one, every node is always on.
  policy::PowerPolicy* power = nullptr;
  double boot_s = 300;
  double tick_s = 300;
  /// Jobs given as training workloads (TraceJob::workload) run at the speed this model gives for their
  /// placement and the other running workload jobs (job_speed.h); serving deployments (inference rows with a
  /// workload) hold their GPUs for their duration and get their latency from it; required when the trace has such
  /// jobs.
  JobSpeedModel* speed = nullptr;
};

struct JobRecord {
  uint64_t id = 0;
  uint32_t gpus = 0;
  double submit_s = 0;
  double first_start_s = -1;
  double end_s = -1;
  double run_s = 0;          // wall time holding GPUs, all attempts
  double ideal_run_s = 0;    // duration / throughput of the pool it finished on
  uint32_t pool = 0;
  uint32_t preemptions = 0;
  uint32_t leaves = 0;       // leaves its last placement spanned
  uint32_t max_spine_hops = 0;
  bool workload = false;     // a training workload (its speed from its placement), not a duration
  double iterations = 0;
  double alone_iteration_s = 0;  // workload: alone on a compact placement (the first nodes of its pool)
  bool serving = false;      // a serving deployment (kind inference with a workload): held for its duration
  ServingRecord serving_record;  // serving: its latency over the groups it ran in
};

struct PoolUsage {
  std::string name;
  uint32_t gpus = 0;
  double busy_gpu_s = 0;
  double powered_gpu_s = 0;  // GPU-seconds switched on or booting (always on: GPUs x makespan)
  double cost = 0;
  double energy_j = 0;       // powered x idle watts + busy x (busy - idle) watts
};

struct ClusterResult {
  std::vector<JobRecord> jobs;  // by id
  std::vector<PoolUsage> pools;
  double start_s = 0, end_s = 0;  // first submission, last completion
  double fragmentation = 0;       // time-average share of free GPUs that sit on partly used nodes
  double idle_while_waiting = 0;  // time-average share of free GPUs idle while jobs wait
  uint64_t policy_calls = 0;
  uint64_t boots = 0;                                  // nodes switched on by the power policy
  policy::SeasonalForecaster::Error forecast;          // the power policy's demand forecast, where it has one
  uint64_t speed_evaluations = 0, speed_hits = 0;  // workload jobs: groups simulated / answered from the cache
  /// JCT, slowdown (bounded at 10 s), queueing delay (mean, p50, p99), utilization per pool and overall,
  /// fragmentation, cost, goodput, placement spread; energy, powered share and boots; forecast error; serving
  /// deployments' latency (over all of them, and per job as `jobN.serving_*`).
  MetricSet metrics() const;
};

/// Replays `trace` on `cluster` under `policy`. InputError (at the trace's file:line) for a job that no pool can
/// ever hold or that names an unknown pool.
ClusterResult simulate_cluster(const ClusterConfig& cluster, const JobTrace& trace, policy::SchedulingPolicy& policy,
                               const SimOptions& options);

/// The snapshot's static part (pools, nodes with leaf and pod from the topology model, teams), all GPUs free.
policy::ClusterSnapshot build_cluster(const ClusterConfig& cluster);

}  // namespace lcsim::cluster
