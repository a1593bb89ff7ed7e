// A pass folded beside the data-parallel streams (MegatronTraining::fold_beside_dp).
//
// With overlap_grad_reduce the last micro-batch's backward passes complete gradient buckets, and each bucket's
// reduce-scatter (or all-reduce) runs on the data-parallel stream beside the passes that follow; with
// overlap_param_gather the first forward passes run beside the parameter all-gathers, chunk by chunk, on a stream
// of their own. Such a pass is observable from outside the compute stream in two ways only (megatron_comms.cc): the
// streams' chains count as collectives beside the kernels (SM contention: a segment's compute takes longer for the
// time a chain ran beside it), and a data-parallel collective that starts while the compute stream waits (for a
// blocking collective or for an overlapped chain) moves that wait so far to the bubble. Both follow from the times
// the streams' collectives start and end, which are known where each collective's time is memoized (the analytical
// model; one simulated rank in the data-parallel group). So the pass is walked here with the streams beside it,
// event by event in time order, making the fine path's additions in its order; where two events fall at the very
// same time the fine path's order rests on priorities and sequence numbers the walk does not keep, and the pass runs
// segment by segment instead (as does any pass whose data-parallel collectives are not all memoized).
//
// The streams' own events still run at their times (they start the next collectives, count the buckets done and
// mark the chunks gathered); from the pass's start to its end event they leave the count of collectives beside the
// kernels to the fold (RankState::folding_dp), which has set it to what the fine path reaches at the pass's end. A
// bucket the pass completes is queued by an event at the time the fine path queues it (after_compute), with that
// event's priority. Waiting for a chunk's gather at the end of a forward pass is task_done's, after the pass.
#include <limits>
#include <memory>
#include <vector>

#include "workloads/training/megatron_runtime.h"

namespace lcsim::wl {

using Exposure = MegatronTraining::Exposure;

bool MegatronTraining::fold_beside_dp(uint32_t sim, const FoldedPass& f) {
  RankState& st = *states_[sim];
  // The streams' state as the fine path left it: a chain running (its collective's end known) or none, nothing
  // queued behind an idle stream, and nothing else beside the kernels.
  if (config_.reduces_each_micro_batch() || st.waiting || st.overlap_pending) return false;
  if ((!st.dp_busy && st.dp_next < st.dp_queue.size()) || (!st.gather_busy && st.gathering())) return false;
  if (st.beside != (st.dp_busy ? 1 : 0) + (st.gather_busy ? 1 : 0)) return false;
  const auto known = [&st](bool busy, const RankState::StreamCursor& c) {
    // an end at the pass's start is before or after it as the heap orders them: not walked
    return !busy || (c.chain && c.end_known && c.index < c.chain->size() && c.end > st.task_start);
  };
  if (!known(st.dp_busy, st.dp_cursor) || !known(st.gather_busy, st.gather_cursor)) return false;
  const Task& task = (*st.tasks)[st.task];
  const bool pushes = f.has_bucket && hooks_launch_buckets(task);
  const Duration inf = Duration::seconds(std::numeric_limits<double>::infinity());
  const auto bubble = static_cast<size_t>(Exposure::kBubble);

  // What the walk adds, applied only if it gets to the end.
  auto waits = st.waits;
  auto seq = st.seq;
  Duration compute = st.compute, host_free = st.host_free, host;
  int count = st.beside;  // collectives beside the kernels (RankState::beside), since when, the time so far
  Duration since = st.beside_since, total = st.beside_total;
  bool waiting = false;  // the compute stream waits (wait(), resume()): since when, charged to which kind
  size_t why = 0;
  Duration wait_start;
  bool ok = true;

  // The data-parallel streams: [0] the gradient buckets (pump_dp), [1] the parameter gather (pump_gather); each
  // its running chain, the collective of it that runs and that one's end (inf: none running).
  struct Stream {
    const std::vector<CommCall>* chain;
    size_t index;
    Duration end;
  };
  Stream streams[2] = {{st.dp_cursor.chain, st.dp_cursor.index, st.dp_busy ? st.dp_cursor.end : inf},
                       {st.gather_cursor.chain, st.gather_cursor.index, st.gather_busy ? st.gather_cursor.end : inf}};
  std::vector<std::shared_ptr<std::vector<CommCall>>> owned;  // bucket chains made here (bucket_comms)
  size_t next_queued = st.dp_next, next_gather = st.gather_next;
  std::vector<int> pushed;
  size_t next_pushed = 0;
  struct Push {
    Duration time;
    int bucket;
    int priority;
  };
  std::vector<Push> push_events;
  // outputs.timeline_detail: kernels on a traced rank: the pass's collectives as spans, written at its end (as
  // finish_fold writes a folded pass's), each with the times the fine path gives it.
  struct Span {
    const CommCall* call;
    Duration begin, end;
  };
  const bool spans = kernel_spans_ && traced(sim);
  std::vector<Span> kernel_spans;

  // The pending overlapped chain of the compute stream: its collectives' starts (those with an event) and its end.
  bool pending = false;
  Duration overlap_end;
  size_t overlap_why = 0;
  std::vector<Duration> tp_starts;
  size_t tp_next = 0;

  const auto beside_time = [&](Duration now) { return total + (count > 0 ? now - since : Duration()); };
  const auto up = [&](Duration now) {  // run_comms: a chain starts beside the kernels
    if (count++ == 0) since = now;
  };
  const auto down = [&](Duration now) {  // and ends
    if (--count == 0) total += now - since;
  };
  // collective(): a collective starting while the rank waits moves the wait so far to the bubble.
  const auto start_collective = [&](Duration now) {
    if (waiting && wait_start < now) {
      waits[bubble] += now - wait_start;
      wait_start = now;
    }
  };
  // Stream k's collective chain[index] starts now: its end from its memoized time (launch()).
  const auto launch_on = [&](Stream& x, Duration now) {
    start_collective(now);
    const CommCall& c = (*x.chain)[x.index];
    const Duration* time = time_alone(c, group_of(c.group, st.rank));
    if (!time) {
      ok = false;
      return;
    }
    x.end = now + *time;
  };
  // pump_dp, pump_gather: stream k's next queued chain starts now, if there is one.
  const auto next_chain = [&](size_t k, Duration now) {
    Stream& x = streams[k];
    x.chain = nullptr;
    x.end = inf;
    if (k == 0) {
      int b = -1;
      if (next_queued < st.dp_queue.size()) {
        b = st.dp_queue[next_queued++];
      } else if (next_pushed < pushed.size()) {
        b = pushed[next_pushed++];
      }
      if (b < 0) return;
      owned.push_back(bucket_comms(st.plan->buckets[static_cast<size_t>(b)]));
      x.chain = owned.back().get();
    } else {
      if (next_gather >= st.gather_queue.size()) return;
      x.chain = &st.plan->param_gather_chunks[static_cast<size_t>(st.gather_queue[next_gather++])];
    }
    if (x.chain->empty()) {  // run_comms would end it at once, outside the count: not walked here
      ok = false;
      return;
    }
    x.index = 0;
    up(now);
    launch_on(x, now);
  };
  // Stream k's running collective ends: the next of its chain starts, or the chain ends and the next starts.
  const auto stream_event = [&](size_t k) {
    Stream& x = streams[k];
    const Duration now = x.end;
    if (x.index + 1 < x.chain->size()) {
      ++x.index;
      launch_on(x, now);
      return;
    }
    down(now);
    next_chain(k, now);
  };
  // The stream whose event comes first (its time in *at), or -1; two at one time are a tie: ok false.
  const auto first_stream = [&](Duration* at) {
    const Duration a = streams[0].end, b = streams[1].end;
    if (a == b && a < inf) ok = false;
    *at = a < b ? a : b;
    return a == inf && b == inf ? -1 : a < b ? 0 : 1;
  };
  // The events of the data-parallel streams and of the pending chain before `until` (a compute-stream event), in
  // time order. The pending chain's events at `until` come after it (a compute's completion runs first); a
  // data-parallel event at `until`, or at the time of one of the chain's, is a tie the walk does not order.
  const auto advance = [&](Duration until) {
    while (ok) {
      const Duration tp = !pending ? inf : tp_next < tp_starts.size() ? tp_starts[tp_next] : overlap_end;
      Duration at;
      const int k = first_stream(&at);
      if (!ok || (k >= 0 && (at == until || (pending && at == tp)))) {
        ok = false;
        return;
      }
      if (k >= 0 && at < until && at < tp) {
        stream_event(static_cast<size_t>(k));
      } else if (pending && tp < until) {
        if (tp_next < tp_starts.size()) {
          start_collective(tp);
          ++tp_next;
        } else {
          down(overlap_end);
          pending = false;
        }
      } else {
        return;
      }
    }
  };
  // The compute stream waits from `from` for the pending chain (after_compute, task_done): its collectives that
  // start meanwhile, and the data-parallel streams', move the wait so far to the bubble; its end charges the rest.
  const auto wait_for_chain = [&](Duration from) {
    waiting = true;
    why = overlap_why;
    wait_start = from;
    while (ok && pending) {
      const Duration tp = tp_next < tp_starts.size() ? tp_starts[tp_next] : overlap_end;
      Duration at;
      const int k = first_stream(&at);
      if (!ok || (k >= 0 && at == tp)) {
        ok = false;
      } else if (k >= 0 && at < tp) {
        stream_event(static_cast<size_t>(k));
      } else if (tp_next < tp_starts.size()) {
        start_collective(tp);
        ++tp_next;
      } else {
        down(overlap_end);
        pending = false;
        waits[why] += overlap_end - wait_start;  // resume()
        waiting = false;
      }
    }
  };

  Duration t = st.task_start;
  int priority = sim::kCompletion;
  for (const FoldedPass::Seg& seg : f.segs) {
    if (!ok) break;
    // start_compute, then its completion (after_compute) and the SM contention's extra time.
    const Duration d = f.run(seg, t, &host_free);
    compute += d;
    if (f.host) host += Segment::host_part(d, seg.compute, seg.host);
    const Duration snapshot = beside_time(t);
    t = t + d;
    advance(t);
    priority = sim::kCompletion;
    if (seg.share > 0) {
      const Duration beside = beside_time(t) - snapshot;
      if (beside > Duration()) {
        const Duration extra = beside * (seg.share / (1 - seg.share));
        compute += extra;
        t = t + extra;
        advance(t);
      }
    }
    if (pending) {  // the previous segment's overlapped chain is still running
      wait_for_chain(t);
      t = overlap_end;
      priority = sim::kDefault;
    }
    if (seg.host.sync) host_free = t;
    if (pushes && seg.bucket >= 0) {  // after_compute: the bucket is complete
      push_events.push_back({t, seg.bucket, priority});
      pushed.push_back(seg.bucket);
      if (!streams[0].chain) next_chain(0, t);
    }
    if (seg.comms.empty()) continue;
    if (seg.overlap) {
      pending = true;
      overlap_why = static_cast<size_t>(seg.comms.front().call->kind);
      up(t);
      tp_starts.clear();
      tp_next = 0;
      Duration s = t;
      for (const FoldedPass::Comm& c : seg.comms) {
        if (!c.event) {
          if (spans) kernel_spans.push_back({c.call, s, s});
          continue;
        }
        tp_starts.push_back(s);
        if (spans) kernel_spans.push_back({c.call, s, s + c.time});
        s = s + c.time;
        ++seq[c.counter];
      }
      overlap_end = s;
      if (tp_starts.empty()) {  // no collective with an event: the chain ends as it starts
        down(t);
        pending = false;
      }
    } else {
      waiting = true;
      why = static_cast<size_t>(seg.comms.front().call->kind);
      wait_start = t;
      bool first = true;
      for (const FoldedPass::Comm& c : seg.comms) {
        if (!first) {  // run_comms: charge the wait so far to the collective before, then wait for this one
          waits[why] += t - wait_start;
          why = static_cast<size_t>(c.call->kind);
          wait_start = t;
        }
        first = false;
        if (!c.event) {
          if (spans) kernel_spans.push_back({c.call, t, t});
          continue;
        }
        ++seq[c.counter];
        const Duration end = t + c.time;
        if (spans) kernel_spans.push_back({c.call, t, end});
        advance(end);
        t = end;
        priority = sim::kDefault;
      }
      waits[why] += t - wait_start;  // the chain's end: resume()
      waiting = false;
    }
  }
  if (ok && pending) {  // task_done: the last segment's overlapped chain
    wait_for_chain(t);
    t = overlap_end;
    priority = sim::kDefault;
  }
  if (ok) {
    Duration at;
    if (first_stream(&at) >= 0 && at == t) ok = false;
  }
  if (!ok) return false;

  st.waits = waits;
  st.seq = seq;
  st.compute = compute;
  st.pass_host = f.host ? host : f.host_fixed;
  st.host_free = host_free;
  st.beside = count;
  st.beside_since = since;
  st.beside_total = total;
  st.folding_dp = true;
  // Queued before the end event, so that one at the pass's very end comes first, as on the fine path.
  for (const Push& p : push_events) {
    ctx_->engine.at(p.time, [this, sim, b = p.bucket] {
      states_[sim]->dp_queue.push_back(b);
      pump_dp(sim);
    }, p.priority);
  }
  if (!spans) {
    ctx_->engine.post(t, this, kFoldEnd | sim, priority);  // fire(): task_done(sim)
    return true;
  }
  ctx_->engine.at(t, [this, sim, kernel_spans = std::move(kernel_spans)] {
    states_[sim]->folding_dp = false;
    for (const Span& k : kernel_spans) {
      trace_at(sim, k.call->kind == Exposure::kDp ? SpanKind::kDataParallel : SpanKind::kComm, k.call->name, k.begin,
               k.end);
    }
    task_done(sim);
  }, priority);
  return true;
}

}  // namespace lcsim::wl
