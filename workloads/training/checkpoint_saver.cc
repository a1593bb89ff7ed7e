#include "workloads/training/checkpoint_saver.h"

#include <algorithm>
#include <numeric>
#include <utility>

namespace lcsim::wl {
namespace {

double mean(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

}  // namespace

void CheckpointSaver::setup(RunContext& ctx, const storage::CheckpointJob& job) {
  ctx_ = &ctx;
  if (!ctx.checkpoint || !ctx.storage || ctx.checkpoint->run_every <= 0 || ctx.checkpoint->levels.empty()) return;
  const storage::CheckpointConfig& c = *ctx.checkpoint;
  every_ = c.run_every;
  tier_ = c.levels.back().tier;
  mode_ = c.levels.back().mode;
  flows_ = storage::save_flows(c, *ctx.storage, ctx.collectives.topology(), job, c.levels.size() - 1);
  restore_ = storage::restore_flows(c, *ctx.storage, ctx.collectives.topology(), job, c.levels.size() - 1);
}

void CheckpointSaver::iteration_started() {
  started_flushing_ = flushing_;
  changes_at_start_ = flush_changes_;
}

void CheckpointSaver::iteration_ended(Duration length) {
  if (!enabled()) return;
  if (flush_changes_ != changes_at_start_) {
    ++partial_;
  } else {
    (started_flushing_ ? during_flush_ : clean_).push_back(length.s());
  }
}

void CheckpointSaver::span(SpanKind kind, const std::string& name, Duration start, Bytes size) const {
  const uint32_t traced = std::min<uint32_t>(ctx_->traced_ranks, static_cast<uint32_t>(ctx_->gpus.size()));
  for (uint32_t r = 0; r < traced; ++r) {
    ctx_->tracer.span({.kind = kind, .rank = r, .start = start, .end = ctx_->engine.now(), .name = name,
                       .bytes = size.bytes(), .args = {{"tier", tier_}, {"bytes", to_string(size)}}});
  }
}

void CheckpointSaver::after_iteration(int done, int total, const std::function<void()>& next) {
  if (!enabled() || done >= total || done % every_ != 0) {
    next();
    return;
  }
  save_start_ = ctx_->engine.now();
  if (flushing_) {  // the previous flush first: training waits for it
    after_flush_ = [this, next] { save(next); };
    return;
  }
  save(next);
}

void CheckpointSaver::save(const std::function<void()>& next) {
  const bool async = mode_ == "async";
  const Duration snap_start = ctx_->engine.now();
  ctx_->collectives.transfer().transfer(flows_.blocking, [this, next, async, snap_start] {
    const Duration now = ctx_->engine.now();
    blocking_.push_back((now - save_start_).s());
    span(SpanKind::kComm, async ? "checkpoint snapshot to host memory" : "checkpoint save to " + tier_, snap_start,
         flows_.bytes);
    if (!async) {
      save_.push_back((now - save_start_).s());
      next();
      return;
    }
    flushing_ = true;
    ++flush_changes_;
    const Duration flush_start = now, started = save_start_;
    ctx_->collectives.transfer().transfer(flows_.background, [this, flush_start, started] {
      flushing_ = false;
      ++flush_changes_;
      flush_.push_back((ctx_->engine.now() - flush_start).s());
      save_.push_back((ctx_->engine.now() - started).s());
      span(SpanKind::kHost, "checkpoint flush to " + tier_, flush_start, flows_.bytes);
      if (after_flush_) std::exchange(after_flush_, {})();
    });
    next();
  });
}

void CheckpointSaver::at_end(const std::function<void()>& finish) {
  if (flushing_) {
    after_flush_ = [this, finish] { restore(finish); };
  } else {
    restore(finish);
  }
}

void CheckpointSaver::restore(const std::function<void()>& finish) {
  if (!enabled() || blocking_.empty()) {  // nothing saved, nothing to restore
    finish();
    return;
  }
  // The job's work is done: it finishes now, and the restore runs after it as a measurement (not part of the job's
  // time, energy, throughput or the run's network counters).
  finish();
  const Duration start = ctx_->engine.now();
  ctx_->collectives.transfer().transfer(restore_.read, [this, start] {
    restore_read_ = ctx_->engine.now() - start;
    span(SpanKind::kComm, "checkpoint restore: read from " + tier_, start,
         restore_.group_bytes * static_cast<double>(restore_.readers));
    const Duration cast = ctx_->engine.now();
    auto done = [this, cast] {
      restore_broadcast_ = ctx_->engine.now() - cast;
      restored_ = true;
      if (!restore_.broadcast.empty()) {
        span(SpanKind::kComm, "checkpoint restore: broadcast to the group", cast, restore_.group_bytes);
      }
    };
    if (restore_.broadcast.empty()) {
      done();
    } else {
      ctx_->collectives.transfer().transfer(restore_.broadcast, done);
    }
  });
}

void CheckpointSaver::report(MetricSet& m) const {
  if (!enabled()) return;
  const std::string k = "checkpoint_run_";
  const std::string what = " (in-run checkpoints to " + tier_ + ", " + mode_ + ", on the run's own network)";
  m.set(k + "saves", static_cast<double>(blocking_.size()), "checkpoints saved during the run" + what);
  m.set(k + "bytes", flows_.bytes.bytes(), "one checkpoint, the whole job" + what);
  m.set(k + "blocking_s", mean(blocking_),
        "what training waited per save, mean: the save (sync) or the snapshot (async), and a previous flush still "
        "in flight" + what);
  m.set(k + "save_s", mean(save_), "one save from its start until the last byte is on the tier, mean" + what);
  if (mode_ == "async") m.set(k + "flush_s", mean(flush_), "one background flush, mean" + what);
  m.set(k + "iterations_during_flush", static_cast<double>(during_flush_.size()),
        "iterations that ran from start to end beside a flush" + what);
  m.set(k + "iterations_partly_during_flush", partial_, "iterations a flush began or ended in" + what);
  m.set(k + "iteration_during_flush_s", mean(during_flush_),
        "mean time of the iterations that ran from start to end beside a flush" + what);
  m.set(k + "iteration_clean_s", mean(clean_), "mean time of the iterations no flush overlapped" + what);
  if (!restored_) return;
  const std::string after = " (after training and the last flush, this job idle, other jobs' traffic on; " + tier_ +
                            ", on the run's own network)";
  m.set(k + "restore_s", (restore_read_ + restore_broadcast_).s(),
        "one restore of the last save: the read plus the broadcast" + after);
  m.set(k + "restore_read_s", restore_read_.s(),
        "restore: one reader per data-parallel group reads the group's state" + after);
  m.set(k + "restore_broadcast_s", restore_broadcast_.s(),
        "restore: chain broadcast from each reader to the rest of its group" + after);
  m.set(k + "restore_readers", restore_.readers, "restore: ranks that read" + after);
  m.set(k + "restore_bytes", restore_.group_bytes.bytes() * restore_.readers, "restore: bytes read" + after);
}

}  // namespace lcsim::wl
