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
  *this = CheckpointSaver();  // a job started again (a restart) starts over
  ctx_ = &ctx;
  if (!ctx.checkpoint || !ctx.storage || ctx.checkpoint->run_every <= 0 || ctx.checkpoint->levels.empty()) return;
  const storage::CheckpointConfig& c = *ctx.checkpoint;
  const net::Topology& t = ctx.collectives.topology();
  every_ = c.run_every;
  // Levels off the topology (local NVMe, the object store) keep the storage model's estimate (a note in the report).
  for (size_t i = 0; i < c.levels.size(); ++i) {
    if (!storage::tier_on_topology(c.levels[i].tier)) continue;
    levels_.push_back({i, c.levels[i].tier, c.levels[i].mode, c.levels[i].every,
                       storage::save_flows(c, *ctx.storage, t, job, i), {}, {}, {}});
  }
  last_in_run_ = !levels_.empty() && levels_.back().index + 1 == c.levels.size();
  if (last_in_run_) restore_ = storage::restore_flows(c, *ctx.storage, t, job, c.levels.size() - 1);
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

void CheckpointSaver::span(SpanKind kind, const std::string& name, const std::string& tier, Duration start,
                           Bytes size) const {
  const uint32_t traced = std::min<uint32_t>(ctx_->traced_ranks, static_cast<uint32_t>(ctx_->gpus.size()));
  for (uint32_t r = 0; r < traced; ++r) {
    ctx_->tracer.span({.kind = kind, .rank = r, .start = start, .end = ctx_->engine.now(), .name = name,
                       .bytes = size.bytes(), .args = {{"tier", tier}, {"bytes", to_string(size)}}});
  }
}

void CheckpointSaver::after_iteration(int done, int total, const std::function<void()>& next) {
  if (!enabled() || done >= total || done % every_ != 0) {
    next();
    return;
  }
  ++taken_;
  due_.clear();
  for (size_t i = 0; i < levels_.size(); ++i) {
    if (taken_ % levels_[i].every == 0) due_.push_back(i);
  }
  save_due(0, next);
}

void CheckpointSaver::save_due(size_t k, const std::function<void()>& next) {
  if (k == due_.size()) {
    next();
    return;
  }
  save_start_ = ctx_->engine.now();
  auto go = [this, k, next] { save(levels_[due_[k]], [this, k, next] { save_due(k + 1, next); }); };
  if (flushing_) {  // the previous flush first: training waits for it
    after_flush_ = go;
  } else {
    go();
  }
}

void CheckpointSaver::save(Level& l, const std::function<void()>& next) {
  const bool async = l.mode == "async";
  const Duration snap_start = ctx_->engine.now();
  ctx_->collectives.transfer().transfer(l.flows.blocking, [this, &l, next, async, snap_start] {
    const Duration now = ctx_->engine.now();
    l.blocking.push_back((now - save_start_).s());
    span(SpanKind::kComm, async ? "checkpoint snapshot to host memory" : "checkpoint save to " + l.tier, l.tier,
         snap_start, l.flows.bytes);
    if (!async) {
      l.save.push_back((now - save_start_).s());
      next();
      return;
    }
    flushing_ = true;
    ++flush_changes_;
    const Duration flush_start = now, started = save_start_;
    ctx_->collectives.transfer().transfer(l.flows.background, [this, &l, flush_start, started] {
      flushing_ = false;
      ++flush_changes_;
      l.flush.push_back((ctx_->engine.now() - flush_start).s());
      l.save.push_back((ctx_->engine.now() - started).s());
      span(SpanKind::kHost, "checkpoint flush to " + l.tier, l.tier, flush_start, l.flows.bytes);
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
  if (!enabled() || !last_in_run_ || levels_.back().blocking.empty()) {  // the last level saved nothing in-run
    finish();
    return;
  }
  // The job's work is done: it finishes now, and the restore runs after it as a measurement (not part of the job's
  // time, energy, throughput or the run's network counters).
  finish();
  const std::string& tier = levels_.back().tier;
  const Duration start = ctx_->engine.now();
  ctx_->collectives.transfer().transfer(restore_.read, [this, &tier, start] {
    restore_read_ = ctx_->engine.now() - start;
    span(SpanKind::kComm, "checkpoint restore: read from " + tier, tier, start,
         restore_.bytes);
    const Duration cast = ctx_->engine.now();
    auto done = [this, &tier, cast] {
      restore_broadcast_ = ctx_->engine.now() - cast;
      restored_ = true;
      if (!restore_.broadcast.empty()) {
        span(SpanKind::kComm, "checkpoint restore: broadcast to the group", tier, cast, restore_.group_bytes);
      }
    };
    if (restore_.broadcast.empty()) {
      done();
    } else {
      ctx_->collectives.transfer().transfer(restore_.broadcast, done);
    }
  });
}

void CheckpointSaver::report_level(MetricSet& m, const Level& l, const std::string& k) const {
  const std::string what = " (in-run checkpoints to " + l.tier + ", " + l.mode + ", on the run's own network)";
  m.set(k + "saves", static_cast<double>(l.blocking.size()), "checkpoints saved during the run" + what);
  m.set(k + "bytes", l.flows.bytes.bytes(), "one checkpoint, the whole job" + what);
  m.set(k + "blocking_s", mean(l.blocking),
        "what training waited per save, mean: the save (sync) or the snapshot (async), and a previous flush still "
        "in flight" + what);
  m.set(k + "save_s", mean(l.save), "one save from its start until the last byte is on the tier, mean" + what);
  if (l.mode == "async") m.set(k + "flush_s", mean(l.flush), "one background flush, mean" + what);
}

void CheckpointSaver::report(MetricSet& m) const {
  if (!enabled()) return;
  const std::string k = "checkpoint_run_";
  // Per level where there are several (checkpoint_run_<tier>_...); the last level's also without the tier, as
  // reliability reads them.
  if (ctx_->checkpoint->levels.size() > 1) {
    for (const Level& l : levels_) report_level(m, l, k + l.tier + "_");
  }
  if (last_in_run_) report_level(m, levels_.back(), k);
  const std::string what = " (in-run checkpoints, on the run's own network)";
  m.set(k + "iterations_during_flush", static_cast<double>(during_flush_.size()),
        "iterations that ran from start to end beside a flush" + what);
  m.set(k + "iterations_partly_during_flush", partial_, "iterations a flush began or ended in" + what);
  m.set(k + "iteration_during_flush_s", mean(during_flush_),
        "mean time of the iterations that ran from start to end beside a flush" + what);
  m.set(k + "iteration_clean_s", mean(clean_), "mean time of the iterations no flush overlapped" + what);
  if (!restored_) return;
  const std::string after = " (after training and the last flush, this job idle, other jobs' traffic on; " +
                            levels_.back().tier + ", on the run's own network)";
  m.set(k + "restore_s", (restore_read_ + restore_broadcast_).s(),
        "one restore of the last save: the read plus the broadcast" + after);
  m.set(k + "restore_read_s", restore_read_.s(),
        "restore: one reader per data-parallel group reads the group's state" + after);
  m.set(k + "restore_broadcast_s", restore_broadcast_.s(),
        "restore: chain broadcast from each reader to the rest of its group" + after);
  m.set(k + "restore_readers", restore_.readers, "restore: ranks that read" + after);
  m.set(k + "restore_bytes", restore_.bytes.bytes(), "restore: bytes read" + after);
}

}  // namespace lcsim::wl
