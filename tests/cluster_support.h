// Helpers of the cluster-replay tests (cluster_workload_test.cc, cluster_serving_test.cc): a registered scheduling
// policy by name, traces of hand-made jobs, a small cluster for the replay and one for the flow model.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "workloads/cluster/cluster_sim.h"

namespace lcsim::cluster::support {

namespace fs = std::filesystem;

inline std::unique_ptr<policy::SchedulingPolicy> make(const std::string& name) {
  Registry<policy::SchedulingPolicyFactory> r("scheduling policy");
  policy::register_scheduling_policies(r);
  return r.get(name).factory();
}

/// A job that runs `iterations` iterations of the training workload `workload`.
inline TraceJob training(double submit, uint32_t gpus, uint64_t iterations, const std::string& workload) {
  TraceJob j;
  j.submit_s = submit;
  j.gpus = gpus;
  j.workload = workload;
  j.iterations = iterations;
  return j;
}

/// The jobs as a CSV trace would give them: ids in order, line i + 2, the workload in `workload_column` (0: none).
inline JobTrace trace(std::vector<TraceJob> jobs, uint32_t workload_column = 0) {
  JobTrace t{"jobs.csv", std::move(jobs)};
  for (size_t i = 0; i < t.jobs.size(); ++i) {
    t.jobs[i].id = i, t.jobs[i].line = static_cast<uint32_t>(i + 2);
    if (workload_column > 0) t.jobs[i].workload_column = workload_column;
  }
  return t;
}

/// 4 nodes of 8 GPUs, 2 nodes per leaf.
inline ClusterConfig four_nodes() {
  ClusterConfig c;
  c.pools.push_back({"gpu", 4, 8, 1.0, 0.0});
  c.fabric.ports_per_leaf = 16;
  return c;
}

inline fs::path temp_dir(const std::string& name) {
  fs::path d = fs::path(::testing::TempDir()) / (name + "-" + std::to_string(getpid()));
  fs::create_directories(d);
  return d;
}

/// 4 HGX H100 nodes, 2 per leaf, 2 spines of 400 Gb/s: each leaf has 16 NIC ports and 2 uplinks (8:1), so jobs
/// that cross leaves share the uplinks. Written as cluster.yaml in `d`; returns its path.
inline std::string small_cluster(const fs::path& d) {
  std::ofstream(d / "cluster.yaml") << "cluster:\n  accelerator: H100-SXM-80GB\n  nodes: 4\n  gpus_per_node: 8\n"
                                       "  fabric: {nic_bandwidth: 400Gb/s, ports_per_leaf: 16, spines: 2, "
                                       "uplink_bandwidth: 400Gb/s}\nsimulation: {seed: 1, fidelity: flow}\n";
  return (d / "cluster.yaml").string();
}

}  // namespace lcsim::cluster::support
