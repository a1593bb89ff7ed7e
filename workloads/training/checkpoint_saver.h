// In-run checkpoints of a training workload (checkpoint.run_every): between iterations, the job saves each
// checkpoint level whose tier is on the topology (peer_memory, parallel_fs), at its own frequency, as flows on the
// run's own transfer model (models/storage/checkpoint_flows.h), beside its own collectives and every other job's
// traffic. Synchronous: training waits for the whole save. Asynchronous: training waits for the snapshot into host
// memory, then the flush to the tier runs in the background while training goes on (a save that comes while the
// previous flush is still running waits for it first, as Megatron's async save does). Metrics say what each save
// cost training and how long the iterations that overlapped a flush took against the others. After training (and
// the last flush) the job finishes, then restores the last level's save once (when that level saves in-run) on
// the same network, as a restart would (storage::restore_flows: one reader per group, then a chain broadcast),
// beside any other job's traffic; reliability takes its time for a restart's restore. docs/storage.md.
#pragma once

#include <functional>
#include <vector>

#include "models/storage/checkpoint_flows.h"
#include "workloads/workload.h"

namespace lcsim::wl {

class CheckpointSaver {
 public:
  /// Reads ctx.checkpoint (null, or run_every 0: disabled). `job`: the job's state, its endpoints in rank order.
  void setup(RunContext& ctx, const storage::CheckpointJob& job);
  bool enabled() const { return every_ > 0 && !levels_.empty(); }
  /// At the start and end of every iteration (to tell the ones a flush overlapped).
  void iteration_started();
  void iteration_ended(Duration length);
  /// A flush is in flight: an iteration now would share links with it (a workload that replays memoized
  /// iterations simulates this one instead).
  bool flushing() const { return flushing_; }
  /// The iteration that last ended ran with no flush at any time in it (its time may be memoized).
  bool last_iteration_quiet() const { return !started_flushing_ && flush_changes_ == changes_at_start_; }
  /// After `done` iterations of `total`: every run_every iterations (not after the last) a checkpoint; each level
  /// on the topology whose `every` divides the checkpoint's number saves, one after the other, then `next`.
  void after_iteration(int done, int total, const std::function<void()>& next);
  /// At the end of training: once no flush is in flight, one restore of the last save, then `finish`.
  void at_end(const std::function<void()>& finish);
  void report(MetricSet& m) const;

 private:
  /// A checkpoint level that saves in-run (its tier is on the topology).
  struct Level {
    size_t index = 0;  // into checkpoint.levels
    std::string tier, mode;
    int every = 1;
    storage::SaveFlows flows;
    std::vector<double> blocking, save, flush;  // per save, seconds
  };
  void save_due(size_t k, const std::function<void()>& next);
  void save(Level& level, const std::function<void()>& next);
  void restore(const std::function<void()>& finish);
  void span(SpanKind kind, const std::string& name, const std::string& tier, Duration start, Bytes size) const;
  void report_level(MetricSet& m, const Level& l, const std::string& prefix) const;

  RunContext* ctx_ = nullptr;
  int every_ = 0;
  std::vector<Level> levels_;  // in the order of checkpoint.levels
  bool last_in_run_ = false;   // the last (most durable) level saves in-run: it is what the restore reads
  int taken_ = 0;              // checkpoints so far
  std::vector<size_t> due_;    // the levels the checkpoint in progress saves to
  storage::RestoreFlows restore_;
  Duration restore_read_, restore_broadcast_;
  bool restored_ = false;
  bool flushing_ = false, started_flushing_ = false;
  uint64_t flush_changes_ = 0, changes_at_start_ = 0;  // flushes started or ended: was an iteration's state mixed?
  std::function<void()> after_flush_;  // what waits for the flush in flight
  Duration save_start_;
  std::vector<double> during_flush_, clean_;  // iteration times, seconds: a flush all along, or none at all
  int partial_ = 0;                           // iterations a flush began or ended in
};

}  // namespace lcsim::wl
