// A scenario: the cluster, the workload, the policies, the simulation settings and the outputs, read from one
// YAML file (which may build on another through `base:`) plus command-line overrides; and the run that wires the
// models together, drives the engine and collects the results.
#pragma once

#include <functional>
#include <ostream>
#include <memory>
#include <string>
#include <vector>

#include "models/hardware/catalog.h"
#include "models/hardware/node.h"
#include "models/hardware/power.h"
#include "scenarios/reliability.h"
#include "models/network/collectives.h"
#include "models/network/explicit_topology.h"
#include "models/network/topology.h"
#include "models/network/transfer.h"
#include "models/storage/checkpoint.h"
#include "models/storage/dataset.h"
#include "sim/config.h"
#include "sim/metrics.h"
#include "workloads/workload.h"

namespace lcsim {

class FabricCache;

/// `count` identical nodes.
struct PoolConfig {
  std::string name;
  hw::NodeSpec node;
  int count = 1;
};

/// The machines. Either one pool given by the shorthand keys (accelerator, nodes, gpus_per_node: a bare node
/// with accelerators only) or a list of pools of node templates (heterogeneous clusters).
struct ClusterConfig {
  hw::AcceleratorSpec accelerator = hw::PartCatalog::get().part("H100-SXM-80GB");  // shorthand
  int nodes = 1;
  int gpus_per_node = 8;
  std::vector<PoolConfig> pools;    // resolved: the shorthand becomes one pool
  bool shorthand = true;            // the pools came from the shorthand keys
  std::string topology = "leaf_spine";
  net::LeafSpineConfig fabric;
  net::ExplicitConfig explicit_topology;
  net::FlowCalibration flow_calibration;
  storage::StorageConfig storage;  // parallel file system, object store, GPUDirect Storage
};

struct PolicyConfig {
  std::string load_balancing = "ecmp";
  policy::LoadBalancerParams load_balancer;  // the policy's own keys (the mapping form of load_balancing)
  net::CollectiveConfig collectives;
};

struct SimulationConfig {
  int64_t seed = 1;
  std::string fidelity = "flow";
  Duration horizon = Duration::seconds(30.0 * 86400);
  std::string event_granularity = "pass";  // pass: fold what nothing observes; kernel: an event per kernel
};

struct OutputConfig {
  bool metrics = true;
  bool timeline = true;
  bool resolved_scenario = true;
  int timeline_ranks = 16;
  int timeline_links = 16;
  std::vector<std::string> timeline_kinds;  // span kinds written to timeline.json; empty = all
  std::string timeline_detail = "passes";  // passes: a training pass is one span; kernels: its collectives get spans too
  std::string timeline_format = "auto";    // json, protobuf (Perfetto), auto: json unless it passes timeline_json_limit
  Bytes timeline_json_limit = Bytes::mib(256);
  Duration utilization_interval;  // sample link utilization this often (0: off)
  bool timeline_counters = false;  // per traced GPU: HBM in use, power, queued inputs (off: timeline size, speed)
};

/// One job of a shared cluster: a workload on some of the nodes, from a start time.
struct JobConfig {
  std::string name;
  std::string workload_type = "megatron";
  std::unique_ptr<wl::Workload> workload;
  ConfigValue workload_tree;  // the job's workload section as read (errors found in validation point into it)
  int nodes = 0;              // 0: every node still free (of `pool`)
  std::string pool;           // take nodes from this pool only; empty: any
  std::vector<int> node_ids;  // exactly these nodes (global indices, pool by pool); overrides nodes and pool
  Duration start;
  std::vector<uint32_t> allocation;  // resolved: global GPU ranks, in the job's rank order
};

struct Scenario {
  std::string name = "unnamed";
  std::string description;
  ClusterConfig cluster;
  /// The single-workload form (`workload:`): one job on every node. `jobs:` describes several instead.
  std::string workload_type = "gpt_data_parallel";
  std::unique_ptr<wl::Workload> workload;
  bool has_workload = false;  // the file (or a base) has a workload or jobs section; cluster-only files do not
  std::vector<JobConfig> jobs;
  PolicyConfig policies;
  SimulationConfig simulation;
  OutputConfig outputs;
  hw::CostConfig cost;
  ReliabilityConfig reliability;
  storage::CheckpointConfig checkpoint;
  storage::DatasetConfig dataset;
};

/// Reads a scenario file (following `base:`), applies "--set key=value" overrides, and checks every key.
/// Throws InputError listing every problem found.
Scenario load_scenario(const std::string& path, const std::vector<std::string>& overrides = {});
/// The same from an already-built tree (for tests).
Scenario parse_scenario(const ConfigValue& tree);
/// Every key with its type, units, default and help.
std::vector<KeyDoc> describe_scenario_keys();
/// The fully resolved scenario (all defaults filled in) as YAML; loading it gives the same run.
std::string resolved_yaml(Scenario& scenario);

struct RunResult {
  /// Cluster-wide metrics, and each job's own. The single-workload form reports its job's metrics here at the top
  /// level (as before jobs existed); with `jobs:` each job's metrics are prefixed with "<job name>.".
  MetricSet metrics;
  std::string timeline_json;  // empty when outputs.timeline is false
  std::string timeline_pftrace;  // the Perfetto protobuf timeline, when kept in memory and that format was chosen
  std::string timeline_file;     // which timeline was written: "timeline.json" or "timeline.pftrace" (empty: none)
  std::vector<std::string> header;  // what was simulated, one line each
  std::vector<std::string> table;   // the workload's own table (nccl-tests lines), if any
  std::string utilization_csv;      // time_s,tier,mean,max rows when outputs.utilization_interval is set
  bool completed = false;     // every job finished before the horizon
  /// Settings the run could not honour, one line each (e.g. a load-balancing policy on a fidelity where the
  /// workload's flows never meet): the front end prints them as warnings.
  std::vector<std::string> warnings;
  uint64_t events = 0;
};

struct RunHooks {
  std::function<void(double fraction, double sim_seconds)> progress;  // called now and then
  /// Called with RunResult::header once the models are built, before the simulation starts.
  std::function<void(const std::vector<std::string>& header)> started;
  /// Where timeline.json streams to while the run goes (bounded memory); null: into RunResult::timeline_json.
  std::ostream* timeline = nullptr;
  /// Opens a timeline file by name ("timeline.json" or "timeline.pftrace", as outputs.timeline_format decides) while
  /// the run goes; set, it takes precedence over `timeline`. The stream stays valid until the run returns.
  std::function<std::ostream&(const std::string& file)> open_timeline;
  /// outputs.timeline_format auto on the queue engine (the analytical fidelity): keep no event log for a switch to
  /// protobuf; if the JSON passes outputs.timeline_json_limit, run_scenario throws TimelineRerun and the caller
  /// runs a fresh copy of the scenario with timeline_format protobuf (eval/evaluate.cc does). Off: the sink logs
  /// the events and switches within the run (SimGrid runs, which cannot run twice in a process, always do).
  bool timeline_rerun = false;
  /// Fabrics shared between runs (read-only; scenarios/fabric.h): the run takes its cluster's from here, built once
  /// per distinct fabric. Null: the run builds its own.
  FabricCache* fabrics = nullptr;
  /// Fill RunResult::table from the workloads (Workload::table). Off: it stays empty; the metrics are the same.
  bool table = true;
};

/// Thrown by run_scenario with RunHooks::timeline_rerun when the auto timeline passed its JSON limit: run the
/// scenario again (a fresh copy: this one's workload has run) with outputs.timeline_format protobuf. Not a
/// std::exception.
struct TimelineRerun {};

/// The cluster's accelerators in rank order (pool by pool, node by node); hosts unset.
std::vector<wl::Gpu> cluster_gpus(const ClusterConfig& cluster);

/// The scale-out fabric of a cluster (no engine needed: for `lcsim topology` and for runs).
std::unique_ptr<net::Topology> build_fabric(const ClusterConfig& cluster);

/// After a run: one job's checkpoint levels (checkpoint:) and data loading (dataset:) over the cluster's storage, as
/// metrics (prefixed); sets `reliability`'s checkpoint_save from the last level when checkpoint.feed_reliability.
/// `ranks`: what each rank saves, where the workload says (Workload::checkpoint_ranks); null: the job-wide figures
/// of its memory metrics. Returns warnings (data loading that cannot keep up). scenarios/storage_run.cc.
std::vector<std::string> report_storage(const Scenario& sc, const net::Topology& topology,
                                        const std::vector<wl::Gpu>& gpus, const std::vector<uint32_t>& allocation,
                                        const storage::CheckpointJob* ranks, const std::string& prefix, MetricSet& m,
                                        ReliabilityConfig* reliability);

/// Builds the models, runs the simulation and collects results. One per process (see sim/engine.h).
RunResult run_scenario(Scenario& scenario, const RunHooks& hooks = {});

}  // namespace lcsim
