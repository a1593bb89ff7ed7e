// evaluate(): one scenario's run in process, on a copy of the scenario, with errors returned rather than thrown.
#include "eval/evaluate.h"

#include <atomic>
#include <cstring>
#include <exception>
#include <memory>
#include <utility>

#include "scenarios/catalog.h"
#include "scenarios/restart.h"
#include "sim/config.h"
#include "sim/error.h"
#include "workloads/job.h"

namespace lcsim {

namespace {

/// Set by the first flow-fidelity evaluation of the process: SimGrid allows one engine per process.
std::atomic<bool> g_simgrid_claimed{false};

/// `rerun`: the auto timeline keeps no log and run() throws TimelineRerun past its limit (RunHooks::timeline_rerun).
Result run(Scenario& sc, const EvalOptions& options, bool rerun = false) {
  Result r;
  try {
    if (!sc.has_workload) {
      throw InputError("scenario '" + sc.name + "' has no workload section: nothing to run");
    }
    if (uses_simgrid(sc) && g_simgrid_claimed.exchange(true)) {
      throw InputError("scenario '" + sc.name + "': simulation.fidelity " + sc.simulation.fidelity +
                       " runs on SimGrid, which allows one engine per process, and this process has run one; "
                       "evaluate flow-fidelity scenarios one per process (analytical ones: any number, in parallel)");
    }
    sc.outputs.timeline = options.timeline;
    RunHooks hooks;
    hooks.progress = options.progress;
    hooks.started = options.started;
    hooks.timeline = options.timeline ? options.timeline_out : nullptr;
    if (options.timeline) hooks.open_timeline = options.open_timeline;
    hooks.timeline_rerun = rerun;
    hooks.fabrics = options.context ? &options.context->fabrics : nullptr;
    hooks.table = options.table;
    RunResult rr = run_scenario(sc, hooks);
    r.status = rr.completed ? Result::Status::kCompleted : Result::Status::kIncomplete;
    r.warnings = std::move(rr.warnings);  // settings the run could not honour
    if (!rr.completed) {
      r.warnings.push_back("the horizon (simulation.horizon = " + to_string(sc.simulation.horizon) +
                           ") ended the run before the workload finished: its metrics cover only part of the work");
    }
    r.metrics = std::move(rr.metrics);
    r.header = std::move(rr.header);
    r.table = std::move(rr.table);
    r.timeline_json = std::move(rr.timeline_json);
    r.timeline_pftrace = std::move(rr.timeline_pftrace);
    r.timeline_file = std::move(rr.timeline_file);
    r.utilization_csv = std::move(rr.utilization_csv);
    r.events = rr.events;
  } catch (const InputError& e) {
    r = Result{};
    r.error = e.what();
  } catch (const std::exception& e) {
    r = Result{};
    r.error = e.what();
    r.internal_error = true;
  }
  return r;
}

}  // namespace

bool uses_simgrid(const Scenario& scenario) {
  const auto& fidelities = Catalog::get().fidelities;
  return fidelities.contains(scenario.simulation.fidelity) &&
         std::strcmp(fidelities.get(scenario.simulation.fidelity).factory.engine_backend, "simgrid") == 0;
}

Scenario copy_scenario(const Scenario& from) {
  Scenario sc;
  sc.name = from.name;
  sc.description = from.description;
  sc.cluster = from.cluster;
  sc.workload_type = from.workload_type;
  sc.has_workload = from.has_workload;
  sc.policies = from.policies;
  sc.simulation = from.simulation;
  sc.outputs = from.outputs;
  sc.cost = from.cost;
  sc.reliability = from.reliability;
  sc.checkpoint = from.checkpoint;
  sc.dataset = from.dataset;
  // Validated against the copy's own cluster (equal to the original's): what validation keeps for the run (a
  // Megatron workload's stage plans, by part) then names the parts the run will use. The original's validation
  // is taken over where the workload can (Workload::validate_like: the same configuration on equal parts).
  if (from.workload) {
    const std::vector<wl::Gpu> from_gpus = cluster_gpus(from.cluster);
    sc.workload = copy_workload(Catalog::get(), from.workload_type, *from.workload, cluster_gpus(sc.cluster), &from_gpus);
  }
  if (!from.jobs.empty()) {
    const std::vector<wl::Gpu> all = cluster_gpus(sc.cluster), from_all = cluster_gpus(from.cluster);
    for (const JobConfig& j : from.jobs) {
      JobConfig c;
      c.name = j.name;
      c.workload_type = j.workload_type;
      c.workload_tree = j.workload_tree;
      c.nodes = j.nodes;
      c.pool = j.pool;
      c.node_ids = j.node_ids;
      c.start = j.start;
      c.allocation = j.allocation;
      if (j.workload) {
        const std::vector<wl::Gpu> from_gpus = wl::Job::local_view(from_all, j.allocation);
        c.workload = copy_workload(Catalog::get(), j.workload_type, *j.workload, wl::Job::local_view(all, j.allocation),
                                   &from_gpus);
      }
      sc.jobs.push_back(std::move(c));
    }
  }
  return sc;
}

Result evaluate(const Scenario& scenario, const EvalOptions& options) {
  try {
    // Built in place by copy_scenario (one Scenario made and destroyed per evaluation, not a default one as well).
    Scenario sc = copy_scenario(scenario);
    return run(sc, options, /*rerun=*/true);
  } catch (const InputError& e) {  // from copy_scenario: run() returns its own errors as results
    Result r;
    r.error = e.what();
    return r;
  } catch (const TimelineRerun&) {
    // The auto timeline passed its JSON limit: the same run again, written as protobuf from its start (what the
    // switch within a run writes, without logging every event for it). The header was announced already.
    Scenario again = copy_scenario(scenario);
    again.outputs.timeline_format = "protobuf";
    EvalOptions o = options;
    o.started = nullptr;
    return run(again, o);
  }
}

Result evaluate(Scenario&& scenario, const EvalOptions& options) {
  Scenario sc = std::move(scenario);
  return run(sc, options);
}

}  // namespace lcsim
