// What `lcsim schedule` prints and writes beyond its main table: the training-workload jobs' table (jobs whose
// speed came from their placement on the fabric) and the timeline of a replay (per-job and per-pool lanes).
#pragma once

#include <string>
#include <vector>

#include "sim/metrics.h"

namespace lcsim::app {

/// One row of the workload-jobs table for a run of `policy` at estimate error `error`.
std::string workload_row(const std::string& policy, double error, const MetricSet& m);
/// The table (nothing when no run had workload jobs).
void print_workload_rows(const std::vector<std::string>& rows);

}  // namespace lcsim::app
