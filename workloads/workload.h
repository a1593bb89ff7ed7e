// What a workload sees of a run: the engine, the accelerators and the collectives library; and what it gives
// back: metrics and a progress fraction. Workloads are registered by name with their own config section.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/hardware/accelerator.h"
#include "models/hardware/power.h"
#include "models/network/collectives.h"
#include "sim/config.h"
#include "sim/engine.h"
#include "sim/metrics.h"
#include "sim/registry.h"
#include "sim/rng.h"
#include "sim/trace.h"

namespace lcsim::storage {
struct CheckpointConfig;
struct CheckpointJob;
struct StorageConfig;
}  // namespace lcsim::storage

namespace lcsim::wl {

/// One accelerator as workloads see it. Everything reads per-device properties: clusters may mix parts.
struct Gpu {
  uint32_t rank;
  uint32_t node;
  uint32_t local;  // index inside the node
  const hw::AcceleratorSpec* part;
  sim::HostId host = 0;  // set once the engine exists
};

struct RunContext {
  sim::Engine& engine;
  const std::vector<Gpu>& gpus;
  net::Collectives& collectives;
  const Tracer& tracer;
  const RngFactory& rng;
  uint32_t traced_ranks;  // ranks [0, traced_ranks) get timeline tracks
  /// Collectives inside one node on the analytical model (private scale-up links: no other node's traffic);
  /// workloads with many small intra-node collectives use it in flow mode too. Null: use `collectives`.
  net::Collectives* scale_up = nullptr;
  /// The job this workload runs as (the engine owner of everything it schedules).
  uint32_t job = 0;
  /// Set by the job; the workload calls finish() once, when its work is done (or cannot go on).
  sim::Callback finished = {};
  /// simulation.event_granularity is kernel: every kernel and collective its own event (no folded passes).
  bool fine_events = false;
  /// outputs.timeline_detail is kernels: collectives inside a pass get their own timeline spans.
  bool kernel_spans = true;
  /// In-run checkpoints (checkpoint.run_every > 0), for training workloads (workloads/training/checkpoint_saver.h);
  /// null: none.
  const storage::CheckpointConfig* checkpoint = nullptr;
  const storage::StorageConfig* storage = nullptr;
  void finish() const {
    if (finished) finished();
  }
};

class Workload {
 public:
  virtual ~Workload() = default;
  /// Declares (parse / describe / emit) the workload's keys.
  virtual void visit(Section& s) = 0;
  /// Takes the configuration of `from`, a workload of this one's own type that visit() parsed (and validated), as
  /// it is: a job's restart and an evaluation's copy (copy_workload, scenarios/restart.h) run it instead of writing
  /// `from` out and reading it back, so that what only parsing knew stays (a Megatron command line's defaults
  /// taken, a trace's location in the scenario file). Called on a fresh workload, before validate(). Reads `from`
  /// only: copies may be made from one workload on several threads at once.
  virtual void copy_config(const Workload& from) = 0;
  /// Checks the config against the cluster before anything runs (including whether it fits in memory);
  /// problems are reported through `s.error()`.
  virtual void validate(const std::vector<Gpu>& gpus, Section& s) = 0;
  /// Called on a copy before its validate(): `from` is a validated, never-started workload of the same type whose
  /// configuration this one took (copy_config), validated against `from_gpus`, and validate() is about to get GPUs
  /// equal to those, rank for rank (a copy of the same cluster: equal parts at other addresses). validate() may then
  /// take over what from's validation computed instead of computing it again; both must stay alive and unchanged
  /// until it returns. Reads `from` only: copies may be made from one workload on several threads at once.
  /// Default: nothing taken over.
  virtual void validate_like(const Workload& /*from*/, const std::vector<Gpu>& /*from_gpus*/) {}
  /// Schedules the workload's first events, from a clean state: a job that was stopped (everything it had
  /// scheduled cancelled) is restarted by calling start() again. Calls ctx.finish() when its work is done.
  /// Emits a BusyEvent (ctx.tracer.busy) for every GPU it runs on, covering its work: the energy meter counts a GPU
  /// nobody reported on as idle.
  virtual void start(RunContext& ctx) = 0;
  virtual void report(MetricSet& m) const = 0;
  virtual double progress() const = 0;
  /// One or two lines for the run summary header.
  virtual std::string describe() const = 0;
  /// A table the front end prints after the run (and writes to report.txt); empty for most workloads.
  virtual std::vector<std::string> table() const { return {}; }
  /// How ranks map onto GPUs (lcsim run --explain-placement), after validate(); empty where it means nothing.
  virtual std::vector<std::string> explain_placement(const std::vector<Gpu>& /*gpus*/) const { return {}; }
  /// Whether every flow that could meet another on the fabric was simulated at the same time as it (after
  /// start()). False where the workload simulates representative copies and reuses their times (megatron on the
  /// analytical fidelity): there the load-balancing policy decides little or nothing, and the run says so.
  virtual bool sees_path_collisions() const { return true; }
  /// The collective algorithm the job runs in place of `configured` (network.collectives.algorithm), or empty to keep
  /// it: what the workload's own settings ask of the communication library (Megatron-LM's --deterministic-mode sets
  /// NCCL_ALGO=Ring unless the launcher set it). Read once, when the job builds its collectives.
  virtual std::string collective_algorithm(const std::string& /*configured*/) const { return {}; }
  /// Reads to the end the input files the workload otherwise only streams while it runs (request traces), so that
  /// `lcsim validate` finds their bad rows before a run: throws InputError naming the file and line. Returns one
  /// line saying what was read; empty where there is nothing of the kind.
  virtual std::string check_inputs() const { return {}; }
  /// What each rank saves in a checkpoint, rank by rank, where the workload knows it better than the job-wide
  /// figures of its metrics (pipeline stages of different sizes, experts replicated over their own group): the
  /// post-run checkpoint estimate (scenarios/storage_run.cc) uses it. After start(); null where the workload has none.
  virtual const storage::CheckpointJob* checkpoint_ranks() const { return nullptr; }
  /// The scenario's cost.token_budget (0: none), given to a single-workload run before validate() (and kept by
  /// copy_config): a workload that spends time besides its throughput to train that many tokens (Megatron-LM's
  /// evaluations) times it and reports it as budget_eval_time_days, which budget_time_days then holds. Default:
  /// nothing besides the throughput.
  virtual void set_token_budget(double /*tokens*/) {}
};

/// `from` as the workload type W whose copy_config() is called: a workload's configuration is copied only into one
/// of its own type (copy_workload makes the copy from the type's factory); another type throws std::bad_cast.
template <class W>
const W& same_type(const Workload& from) {
  return dynamic_cast<const W&>(from);
}

using WorkloadFactory = std::unique_ptr<Workload> (*)();
void register_workloads(Registry<WorkloadFactory>& r);

}  // namespace lcsim::wl
