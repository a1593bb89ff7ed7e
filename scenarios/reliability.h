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
#include "policies/failure_prediction.h"
#include "policies/health_check.h"
#include "sim/config.h"
#include "sim/metrics.h"

namespace lcsim {

struct ReliabilityConfig {
  bool enabled = false;
  std::string failures = "components";  // components | node
  failure::DistributionConfig node_failures = default_node_failures();
  std::vector<failure::ComponentClass> components = failure::default_component_classes();
  failure::MaintenanceConfig maintenance;
  failure::RecoveryConfig recovery;
  std::string checkpoint_policy = "daly";  // fixed | young | daly
  Duration checkpoint_interval;  // compute between checkpoints (policy fixed); 0 = the policy's interval
  Duration checkpoint_save = Duration::seconds(60);
  Duration restart = Duration::seconds(600);
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
/// (`<prefix>job_time_days`, else `budget_time_days`); returns a warning when the length is unknown.
std::vector<std::string> report_reliability(const ReliabilityConfig& config, int nodes, int gpus, uint64_t seed,
                                            const std::string& prefix, MetricSet& m);

}  // namespace lcsim
