// Training jobs in the cluster scheduler's replay (workloads/cluster/) at the speed their placement allows: a group
// of concurrently running jobs becomes one lcsim scenario (the cluster file's pools, fabric and policies; one job
// per running job, on exactly its nodes, starting together), simulated on the flow model, so jobs whose traffic
// crosses the same links slow each other. SimGrid allows one simulation per process, so the flow fidelity runs
// here as `flow_queue` (the same FlowTransfer and max-min sharing on lcsim's own event queue); `analytical`
// clusters stay analytical (no contention between jobs). A serving deployment (an inference_serving workload) is
// one more job of the group on its nodes: its requests' traffic (disaggregated KV handoff, TP collectives across
// nodes) shares the links with the training jobs', and its latency percentiles are its answer. docs/scheduling.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/config_tree.h"
#include "workloads/cluster/cluster_sim.h"

namespace lcsim {

struct JobSpeedOptions {
  int iterations = 2;  // training iterations each job simulates per evaluation (the mean is its speed)
  /// In a group with a serving deployment, training jobs run enough iterations to last its serving span (the
  /// first arrival to the last completion), so both feel each other throughout; at most this many.
  int max_overlap_iterations = 400;
};

class ScenarioJobSpeed final : public cluster::JobSpeedModel {
 public:
  using Options = JobSpeedOptions;
  /// `cluster_file`: a scenario whose `cluster:`, `policies:` and `simulation:` the jobs run on (its workload or
  /// jobs, if any, are ignored). InputError if it cannot be read.
  explicit ScenarioJobSpeed(const std::string& cluster_file, Options options = {});

  /// The same cluster as the replay sees it: one pool per scenario pool (name, nodes, GPUs per node,
  /// throughput 1) and the fabric layout.
  cluster::ClusterConfig cluster_config() const;

  uint32_t workload(const std::string& path) override;
  bool serving(uint32_t w) const override { return serving_.at(w); }
  std::vector<double> iteration_s(const std::vector<cluster::RunningWork>& group) override;
  std::vector<cluster::JobSpeed> speeds(const std::vector<cluster::RunningWork>& group) override;

  /// The scenario that speeds simulates for `group` (first pass), as YAML (for tests and for reproducing one by hand).
  std::string group_yaml(const std::vector<cluster::RunningWork>& group) const;

 private:
  /// `iterations`: training iterations per training job (0: options_.iterations).
  ConfigValue group_tree(const std::vector<cluster::RunningWork>& group, int iterations = 0) const;
  std::vector<cluster::JobSpeed> simulate(const std::vector<cluster::RunningWork>& group, int iterations,
                                          double* serving_span_s) const;

  std::string cluster_file_;
  Options options_;
  ConfigValue base_;  // the cluster scenario without workload/jobs
  cluster::ClusterConfig cluster_;
  std::vector<std::string> names_;
  std::vector<ConfigValue> workloads_;  // each a `workload:` section
  std::vector<bool> serving_;           // per workload: an inference_serving deployment
};

}  // namespace lcsim
