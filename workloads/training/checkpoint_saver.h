// In-run checkpoints of a training workload (checkpoint.run_every): between iterations, the job saves the last
// checkpoint level as flows on the run's own transfer model (models/storage/checkpoint_flows.h), beside its own
// collectives and every other job's traffic. Synchronous: training waits for the whole save. Asynchronous: training
// waits for the snapshot into host memory, then the flush to the tier runs in the background while training goes
// on (a save that comes while the previous flush is still running waits for it first, as Megatron's async save
// does); the run finishes once the last flush has landed. Metrics say what each save cost training and how long
// the iterations that overlapped a flush took against the others. After training (and the last flush), the job
// restores what it saved once, on the same network, as a restart would (storage::restore_flows: one reader per
// group, then a chain broadcast); other jobs' traffic goes on beside it, this job's training has stopped. The
// restore's time is what reliability takes for a restart's restore. docs/storage.md.
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
  bool enabled() const { return every_ > 0; }
  /// At the start and end of every iteration (to tell the ones a flush overlapped).
  void iteration_started();
  void iteration_ended(Duration length);
  /// After `done` iterations of `total`: saves when one is due (not after the last) and then calls `next`;
  /// otherwise calls `next` at once.
  void after_iteration(int done, int total, const std::function<void()>& next);
  /// At the end of training: once no flush is in flight, one restore of the last save, then `finish`.
  void at_end(const std::function<void()>& finish);
  void report(MetricSet& m) const;

 private:
  void save(const std::function<void()>& next);
  void restore(const std::function<void()>& finish);
  void span(SpanKind kind, const std::string& name, Duration start, Bytes size) const;

  RunContext* ctx_ = nullptr;
  int every_ = 0;
  std::string tier_, mode_;
  storage::SaveFlows flows_;
  storage::RestoreFlows restore_;
  Duration restore_read_, restore_broadcast_;
  bool restored_ = false;
  bool flushing_ = false, started_flushing_ = false;
  uint64_t flush_changes_ = 0, changes_at_start_ = 0;  // flushes started or ended: was an iteration's state mixed?
  std::function<void()> after_flush_;  // what waits for the flush in flight
  std::vector<double> blocking_, save_, flush_;  // per save, seconds
  Duration save_start_;
  std::vector<double> during_flush_, clean_;  // iteration times, seconds: a flush all along, or none at all
  int partial_ = 0;                           // iterations a flush began or ended in
};

}  // namespace lcsim::wl
