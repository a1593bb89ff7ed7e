// A training job's whole run with failures (the scenario's `reliability:` section): the simulated iteration gives
// the job's compute time (its token budget or job_train_iters); per-component failure processes (GPU, HBM, NIC,
// link, switch, host, software, filesystem; Llama 3 rates by default), planned maintenance, or one node-level
// process interrupt it; each interruption goes through detection, diagnosis, replacement (hot spares or waiting
// for a repair) and restart; synchronous checkpoints bound what it loses. The run is stepped through its
// interruptions without an engine (models/failure/recovery.h), once per seed on parallel threads; the metrics are
// means over the seeds with 95% confidence half-widths, overall and by cause.
#pragma once

#include <string>
#include <vector>

#include "models/failure/components.h"
#include "models/failure/distribution.h"
#include "models/failure/recovery.h"
#include "policies/elastic.h"
#include "policies/failure_prediction.h"
#include "policies/health_check.h"
#include "policies/straggler_eviction.h"
#include "sim/config.h"
#include "sim/metrics.h"

namespace lcsim {

class Tracer;

/// Stragglers in the long run: per-worker jitter (every step waits for the slowest of the job's nodes) and
/// straggling-node episodes (one node slow_factor x slower for `duration`), with a detect-and-evict policy.
struct StragglerSettings {
  double cv = 0;               // across-worker coefficient of variation of step times; 0 = no jitter
  Duration node_mtbf;          // mean time between slow episodes of one node; 0 = none
  double slow_factor = 2;      // a slow node's step time over the others'
  Duration duration = Duration::seconds(6 * 3600.0);  // how long an episode lasts when nobody evicts the node
  policy::StragglerEvictionPolicy evict;
  void visit(Section& s);
};

struct ReliabilityConfig {
  bool enabled = false;
  std::string failures = "components";  // components | node | trace
  std::string failure_trace;            // failures: trace: a fault trace (fault_trace.h format), absolute path
  failure::DistributionConfig node_failures = default_node_failures();
  std::vector<failure::ComponentClass> components = failure::default_component_classes();
  failure::MaintenanceConfig maintenance;
  failure::RecoveryConfig recovery;
  std::string checkpoint_policy = "daly";  // fixed | young | daly
  Duration checkpoint_interval;  // compute between checkpoints (policy fixed); 0 = the policy's interval
  Duration checkpoint_save = Duration::seconds(60);
  Duration restart = Duration::seconds(600);
  Duration reinit = Duration::seconds(300);  // the restart without the restore, when checkpoint: gives the restore
  Duration restore;  // set by the storage model (checkpoint:): reading the last level back; 0 = part of `restart`
  policy::ElasticPolicy elastic;
  StragglerSettings stragglers;
  int spares = -1;  // hot spare nodes; -1 = a spare is always at hand
  policy::HealthCheckPolicy health_checks;
  policy::FailurePredictionPolicy prediction;
  int seeds = 16;
  int threads = 0;  // Monte Carlo threads; 0 = all cores (the results do not depend on it)
  void visit(Section& s);
  /// Exponential with the mean time between faults of one node fitted from the InfiniteHBD production trace
  /// (239 days; docs/calibration.md, "Failures").
  static failure::DistributionConfig default_node_failures();
  /// The failure classes this config runs (failures: node gives a single "node" class).
  std::vector<failure::ComponentClass> classes() const;
};

/// Adds `<prefix>reliability_*` metrics for a job of `nodes` nodes and `gpus` GPUs whose length the metrics give
/// (`<prefix>job_time_days`, else `budget_time_days`); returns a warning when the length is unknown. With a
/// `tracer`, seed 0's phases (lost work, detection, ..., checkpoints) go to it as SpanKind::kPhase spans of job
/// `job`, on the run's wall-time axis.
std::vector<std::string> report_reliability(const ReliabilityConfig& config, int nodes, int gpus, uint64_t seed,
                                            const std::string& prefix, MetricSet& m, const Tracer* tracer = nullptr,
                                            uint32_t job = 0);

}  // namespace lcsim
