// In-process evaluation: a scenario in, its metrics (and, when asked, its outputs) out, with no files and no exit.
// The layer between the front ends (apps/: `lcsim run`, the sweep and search commands) and the scenario language
// (scenarios/). Safe to call from several threads at once for scenarios on the analytical fidelity (lcsim's own
// event queue: no global state). The flow fidelity runs on SimGrid, which keeps process-global state: one flow
// evaluation per process; a second comes back as an error (run it in another process).
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "scenarios/fabric.h"
#include "scenarios/scenario.h"
#include "sim/metrics.h"

namespace lcsim {

/// What evaluations share, each part built once and read-only after (or guarded): the fabric of each distinct
/// cluster (scenarios/fabric.h: built on the first evaluation of a cluster whose fabric inputs no earlier one had,
/// frozen, and kept). Safe to use from several threads at once; results are those of evaluations without it, bit
/// for bit. evaluate_batch makes one per batch when its options give none; a front end that evaluates many
/// scenarios of few clusters one by one passes its own (EvalOptions::context).
struct EvalContext {
  FabricCache fabrics;
};

struct EvalOptions {
  /// Shared set-up (see EvalContext); null: the evaluation builds everything for itself. Not owned.
  EvalContext* context = nullptr;
  /// Produce the timeline: streamed to `timeline_out` if set, else kept in Result::timeline_json. Off by default
  /// (an evaluation is for its metrics; the scenario's outputs.timeline is what `lcsim run` passes here).
  bool timeline = false;
  std::ostream* timeline_out = nullptr;
  /// Opens timeline.json or timeline.pftrace (outputs.timeline_format decides) by name; takes precedence over
  /// timeline_out.
  std::function<std::ostream&(const std::string& file)> open_timeline;
  /// Called now and then with the fraction done and the simulated time (for a progress bar).
  std::function<void(double fraction, double sim_seconds)> progress;
  /// Called with Result::header once the models are built, before the simulation starts.
  std::function<void(const std::vector<std::string>& header)> started;
  /// Fill Result::table (the workload's own table: nccl-tests lines, a training run's per-rank times and one
  /// layer's kernels). Off: the table stays empty and nothing else changes; sweeps and searches, which keep only the
  /// metrics, save its cost (a 175B training layout's table costs about 1% of its evaluation).
  bool table = true;
};

struct Result {
  enum class Status {
    kCompleted,   // every job finished
    kIncomplete,  // simulation.horizon ended the run first: the metrics cover only part of the work
    kError,       // the scenario could not run: `error` says why
  };
  Status status = Status::kError;
  MetricSet metrics;
  std::string error;                  // kError: the message, as `lcsim run` prints it
  bool internal_error = false;        // kError: a bug in lcsim rather than a problem with the scenario
  std::vector<std::string> warnings;  // e.g. the horizon cut the run short
  std::vector<std::string> header;    // what was simulated, one line each
  std::vector<std::string> table;     // the workload's own table, if any
  std::string timeline_json;          // EvalOptions::timeline without timeline_out
  std::string timeline_pftrace;       // the same, when the protobuf format was chosen
  std::string timeline_file;          // "timeline.json" or "timeline.pftrace": which one was written
  std::string utilization_csv;        // outputs.utilization_interval set
  uint64_t events = 0;                // engine events processed
  bool ok() const { return status != Status::kError; }
};

/// Simulates `scenario` (loaded by load_scenario or parse_scenario) and returns its results. The scenario is not
/// changed: the run works on its own copy, so one scenario may be evaluated by several threads at once. The copy
/// takes over what the scenario's validation computed (Workload::validate_like): a scenario changed in place after
/// it was loaded is not validated again; parse it again instead.
/// User mistakes found while running come back as Status::kError, never as an exception or an exit.
/// An analytical run with the auto timeline keeps no event log for a switch to protobuf: a run whose JSON passes
/// outputs.timeline_json_limit is run again from a fresh copy with the protobuf format (RunHooks::timeline_rerun).
Result evaluate(const Scenario& scenario, const EvalOptions& options = {});
/// The same, running the scenario itself (no copy): for a front end that evaluates a scenario once. With no copy
/// to run again, its auto timeline logs the events and switches within the run.
Result evaluate(Scenario&& scenario, const EvalOptions& options = {});

/// A copy of a scenario that runs independently of it (its workloads configured and validated afresh).
Scenario copy_scenario(const Scenario& scenario);

/// Whether the scenario runs on the SimGrid engine (the flow fidelity): one such evaluation per process.
bool uses_simgrid(const Scenario& scenario);

}  // namespace lcsim
