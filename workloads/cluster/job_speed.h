// Jobs whose speed depends on placement: the cluster replay asks a JobSpeedModel how long one iteration of each
// running training job takes, given where every running job sits, whenever the set of running jobs changes.
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

/// One running training job: which workload (an index the model knows) and where.
struct RunningWork {
  uint64_t job = 0;
  uint32_t workload = 0;
  std::vector<policy::NodeShare> placement;
};

class JobSpeedModel {
 public:
  virtual ~JobSpeedModel() = default;
  /// The index of the workload a trace names (TraceJob::workload), loading it on first use; InputError if it
  /// cannot be read or is not a training workload.
  virtual uint32_t workload(const std::string& name) = 0;
  /// Seconds per training iteration of each job of `group`, in its order, when they all run at once on their
  /// placements (node indices of the replay's cluster). Jobs of a group may share links.
  virtual std::vector<double> iteration_s(const std::vector<RunningWork>& group) = 0;
};

/// Groups and memoizes. `snapshot` gives each node's pool, leaf and pod (build_cluster()).
class SpeedCache {
 public:
  SpeedCache(const policy::ClusterSnapshot& snapshot, JobSpeedModel& model) : snap_(snapshot), model_(model) {}
  /// Seconds per iteration of every job of `running`, in its order.
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
  std::map<std::string, std::vector<double>> cache_;
  uint64_t evaluations_ = 0, hits_ = 0;
};

}  // namespace lcsim::cluster
