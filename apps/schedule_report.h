// What `lcsim schedule` prints and writes beyond its main table: the training-workload jobs' table (jobs whose
// speed came from their placement on the fabric), the serving jobs' table (their latency beside the jobs they
// shared links with) and the timeline of a replay (per-job and per-pool lanes).
#pragma once

#include <string>
#include <vector>

#include "sim/metrics.h"
#include "workloads/cluster/cluster_sim.h"

namespace lcsim::app {

/// One row of the workload-jobs table for a run of `policy` at estimate error `error`.
std::string workload_row(const std::string& policy, double error, const MetricSet& m);
/// The table (nothing when no run had workload jobs).
void print_workload_rows(const std::vector<std::string>& rows);

/// The serving-jobs table's rows for one run: one per serving deployment that ran (none without one).
std::vector<std::string> serving_rows(const std::string& policy, double error, const cluster::ClusterResult& r);
/// The table (nothing when no run had serving jobs).
void print_serving_rows(const std::vector<std::string>& rows);

/// Writes a run's metrics (DIR/STEM.metrics.json) and one row per job (DIR/STEM.jobs.csv, serving columns empty for
/// other jobs); returns the two paths, comma-separated.
std::string write_run_files(const std::string& dir, const std::string& stem, const cluster::ClusterResult& r);

}  // namespace lcsim::app
