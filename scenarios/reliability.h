// A training job's whole run with failures (the scenario's `reliability:` section): the simulated iteration gives
// the job's compute time (its token budget or job_train_iters), node failures interrupt it, synchronous checkpoints
// bound what an interruption loses, and each interruption costs a restart (spares: no wait for repair). The run is
// stepped through its interruptions without an engine (models/failure/goodput.h), once per seed; the metrics are
// means over the seeds with 95% confidence half-widths.
#pragma once

#include <string>
#include <vector>

#include "models/failure/distribution.h"
#include "sim/config.h"
#include "sim/metrics.h"

namespace lcsim {

struct ReliabilityConfig {
  bool enabled = false;
  failure::DistributionConfig node_failures = default_node_failures();
  Duration checkpoint_interval;  // compute between checkpoints; 0 = Daly's interval from the job's MTBF
  Duration checkpoint_save = Duration::seconds(60);
  Duration restart = Duration::seconds(600);
  int seeds = 16;
  void visit(Section& s);
  /// Exponential with the mean time between faults of one node fitted from the InfiniteHBD production trace
  /// (239 days; docs/calibration.md, "Failures").
  static failure::DistributionConfig default_node_failures();
};

/// Adds `<prefix>reliability_*` metrics for a job of `nodes` nodes and `gpus` GPUs whose length the metrics give
/// (`<prefix>job_time_days`, else `budget_time_days`); returns a warning when the length is unknown.
std::vector<std::string> report_reliability(const ReliabilityConfig& config, int nodes, int gpus, uint64_t seed,
                                            const std::string& prefix, MetricSet& m);

}  // namespace lcsim
