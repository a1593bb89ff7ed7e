// What `lcsim run` prints: the run header (before the simulation starts), a short summary that answers the
// scenario's question in units a person reads (about ten lines, chosen per workload kind), and the full
// detail (every metric with its meaning, the workload's own tables) for --verbose and report.txt.
#pragma once

#include <string>
#include <vector>

#include "apps/validation_status.h"
#include "eval/evaluate.h"
#include "scenarios/scenario.h"

namespace lcsim::app {

/// "lcsim VERSION: NAME" and the run's header lines, indented: what will be simulated.
std::string run_header(const std::string& version, const std::string& name,
                       const std::vector<std::string>& lines);

/// The short summary: result lines for the workload kind (training, collectives, traffic, trace replay; one
/// line per job and cluster totals for several jobs), the job's length, time and cost where known, and one
/// "Confidence:" line per scenario family from `status`.
/// What a summary reads from a run: from run_scenario's RunResult or evaluate()'s Result.
struct RunOutcome {
  const MetricSet& metrics;
  const std::vector<std::string>& table;
  bool completed;
  RunOutcome(const RunResult& r) : metrics(r.metrics), table(r.table), completed(r.completed) {}  // NOLINT
  RunOutcome(const Result& r)  // NOLINT
      : metrics(r.metrics), table(r.table), completed(r.status == Result::Status::kCompleted) {}
};

std::vector<std::string> short_summary(const Scenario& sc, const RunOutcome& r, const ValidationStatus& status);

/// Everything behind the summary: the workload's tables and every metric with its meaning.
std::string detail(const RunOutcome& r);

/// The distinct accelerator parts of the GPUs with these global ranks (all of the cluster's when empty).
std::vector<std::string> parts_of(const ClusterConfig& cluster, const std::vector<uint32_t>& ranks);
/// How many nodes (scale-up domains: an NVL72 rack is one node) the run's GPUs span: `ranks` (a job's allocation),
/// or with none the cluster's first `gpus` GPUs (0: all of them).
double nodes_of(const ClusterConfig& cluster, const std::vector<uint32_t>& ranks, double gpus);

}  // namespace lcsim::app
