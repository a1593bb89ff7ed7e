// Jobs whose speed depends on placement: the cluster replay asks a JobSpeedModel how long one iteration of each
// running training job takes, and what latency each running serving deployment gives its requests, given where
// every running job sits, whenever the set of running jobs changes.
// The model behind it (scenarios/cluster_speed.h) simulates the jobs together on the real fabric, so jobs that
// cross the same links slow each other. SpeedCache splits the running jobs into groups that cannot share a fabric
// link (no leaf in common; across pods, no pod in common) and asks the model once per group *shape* (workloads,
// pools, GPUs per node, which nodes share a leaf), so repeated placements cost nothing.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "policies/scheduling.h"

namespace lcsim::cluster {

/// One running workload job (training or serving): which workload (an index the model knows) and where.
struct RunningWork {
  uint64_t job = 0;
  uint32_t workload = 0;
  std::vector<policy::NodeShare> placement;
};

/// What a serving deployment's requests saw in one group simulation (seconds; attainment a share of requests).
struct ServingLatency {
  double ttft_p50_s = 0, ttft_p99_s = 0;
  double tpot_p50_s = 0, tpot_p99_s = 0;
  double kv_mean_s = 0, kv_p99_s = 0;  // disaggregated KV-cache handoff (0 without disaggregation)
  double slo_attainment = 0;
  bool operator==(const ServingLatency&) const = default;
};

/// One job's answer: a training job's seconds per iteration, or a serving deployment's latency.
struct JobSpeed {
  double iteration_s = 0;  // training
  bool serving = false;
  ServingLatency latency;  // serving
  uint32_t group_jobs = 1; // jobs in the group it was simulated with (filled by SpeedCache)
};

/// A serving job's latency over its lifetime, from the groups it ran in: the p50s, the mean handoff and the SLO
/// attainment are time-weighted means over the groups (by how long each lasted); the p99s are the worst any group
/// gave (a tail a deployment showed for a while is its tail).
struct ServingRecord {
  ServingLatency lifetime;
  ServingLatency alone;   // alone on a compact placement (the first nodes of its pool): the reference
  double shared_s = 0;    // seconds it ran in a group with other workload jobs
  double alone_s = 0;     // seconds it ran with no other workload job that can share a link with it
  uint32_t groups = 0;    // group simulations it ran under (each change of its neighbours)
  /// `seconds` under `latency`, in a group of `group_jobs` jobs.
  void add(const ServingLatency& latency, double seconds, uint32_t group_jobs);
};

class JobSpeedModel {
 public:
  virtual ~JobSpeedModel() = default;
  /// The index of the workload a trace names (TraceJob::workload), loading it on first use; InputError if it
  /// cannot be read or is neither a training workload nor a serving deployment.
  virtual uint32_t workload(const std::string& name) = 0;
  /// Whether workload `w` is a serving deployment (inference_serving) rather than a training workload.
  virtual bool serving(uint32_t /*w*/) const { return false; }
  /// Seconds per training iteration of each job of `group`, in its order, when they all run at once on their
  /// placements (node indices of the replay's cluster). Jobs of a group may share links.
  virtual std::vector<double> iteration_s(const std::vector<RunningWork>& group) = 0;
  /// Each job's answer (training: iteration time; serving: latency), all running at once. The default wraps
  /// iteration_s (models of training only).
  virtual std::vector<JobSpeed> speeds(const std::vector<RunningWork>& group);
};

/// Groups and memoizes. `snapshot` gives each node's pool, leaf and pod (build_cluster()).
class SpeedCache {
 public:
  SpeedCache(const policy::ClusterSnapshot& snapshot, JobSpeedModel& model) : snap_(snapshot), model_(model) {}
  /// Every job of `running`'s answer, in its order (memoized per group shape; serving jobs are part of a shape).
  std::vector<JobSpeed> speeds(const std::vector<RunningWork>& running);
  /// Seconds per iteration of every job of `running`, in its order (0 for a serving job).
  std::vector<double> iteration_s(const std::vector<RunningWork>& running);
  /// Groups the model simulated / answered from the cache.
  uint64_t evaluations() const { return evaluations_; }
  uint64_t hits() const { return hits_; }

  /// The groups of `running` (indices into it, ascending): jobs linked by a shared leaf, or by a shared pod when
  /// both span pods. Exposed for tests.
  std::vector<std::vector<size_t>> groups(const std::vector<RunningWork>& running) const;
  /// A group's shape: equal for placements that differ only by which leaves and nodes they use.
  std::string shape(const std::vector<RunningWork>& group) const;

 private:
  const policy::ClusterSnapshot& snap_;
  JobSpeedModel& model_;
  std::map<std::string, std::vector<JobSpeed>> cache_;
  uint64_t evaluations_ = 0, hits_ = 0;
};

}  // namespace lcsim::cluster
