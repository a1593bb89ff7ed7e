// MegatronTraining's event granularity: a forward or backward pass whose inside nothing else can observe runs as
// one event whose end time is computed, instead of an event per segment compute and per collective.
//
// The rule (docs/performance-training.md, "Event granularity and the in-process API"). A pass folds when, for
// the simulated rank running it:
//  - symmetry is on (one simulated rank per stage: no other simulated rank shares its TP, CP or EP groups, so no
//    rendezvous inside the pass waits for a peer), and no gradients are reduced every micro-batch (FSDP of either kind,
//    Megatron-FSDP's optim_grads: reduces_each_micro_batch);
//  - no other stream of the rank has collectives in flight when the pass starts (expert all-to-alls): a collective
//    started while the compute stream waits charges that wait to the bubble, which makes the inside of the pass
//    observable. The data-parallel streams (gradient buckets, the parameter gather) are the exception: their times
//    are known, so the pass is walked with them beside it (megatron_fold_dp.cc). An overlapped chain of several
//    collectives (context parallelism's CP - 1 send/recv rounds) folds: each of its collectives that starts while
//    the rank waits for the chain moves the wait so far to the bubble on the fine path, and replay makes the same
//    additions (wait_chain);
//  - every segment's collectives run on the compute stream, blocking or overlapped with the next segment's compute
//    (not on the side stream, whose expert all-to-alls run beside several passes), there are no FSDP prefetches
//    or reductions (a gradient bucket completed inside it, in the last micro-batch's backward with
//    overlap_grad_reduce, starts data-parallel work mid-pass: the walk beside the buckets queues it at its time);
//  - every collective is contention-free, so its time is already memoized: on private scale-up links (a TP group
//    inside one NVLink domain, on either fidelity) or anywhere on the analytical model. A collective that crosses
//    nodes on the flow model shares links with other flows, so its pass keeps the fine-grained path;
//  - each of those collectives has been run once already (its time is known).
// SM contention (a compute that ran beside an overlapped chain takes longer, after_compute) is replayed with the
// fine path's own additions.
// Events then grow with stages x micro-batches x chunks, not with layers. The folded pass ends at exactly the time
// the fine-grained path would reach (the same additions, in the same order) and charges the same compute and
// exposed-communication time, so every metric is the same bit for bit; only sim_events drops.
// simulation.event_granularity: kernel keeps the fine-grained path everywhere (for checking), and
// outputs.timeline_detail: kernels writes the collectives inside folded passes as their own spans, with the times
// the fine-grained path gives them.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "sim/error.h"
#include "workloads/training/megatron_runtime.h"

namespace lcsim::wl {

using Exposure = MegatronTraining::Exposure;
using Part = MegatronTraining::Part;

MegatronTraining::FoldedPass* MegatronTraining::folded(uint32_t sim) {
  RankState& st = *states_[sim];
  const Task& t = (*st.tasks)[st.task];
  // Per chunk: backward, forward, input gradients, weight gradients, backward without the output layer's weight
  // gradients; then the F&B pairs (forward x backward chunk).
  // Twice over: the passes as most micro-batches run them, then as the one that completes their buckets (Pass::last).
  const size_t n = static_cast<size_t>(chunks_), kinds = n * (5 + n), per_rank = 2 * kinds;
  if (folds_.size() < states_.size() * per_rank) folds_.resize(states_.size() * per_rank);
  // (Asked once per pass: the plan says first whether any of its passes has such a copy.)
  const bool last = st.plan->has_last && completes_buckets(t) && task_pass(st).last;
  const size_t kind = t.pair() ? 5 * n + static_cast<size_t>(t.chunk) * n + static_cast<size_t>(t.b_chunk)
                      : t.forward                    ? n + static_cast<size_t>(t.chunk)
                      : t.part == Part::kInput       ? 2 * n + static_cast<size_t>(t.chunk)
                      : t.part == Part::kWeight      ? 3 * n + static_cast<size_t>(t.chunk)
                      : t.part == Part::kDeferOutput ? 4 * n + static_cast<size_t>(t.chunk)
                                                     : static_cast<size_t>(t.chunk);
  std::unique_ptr<FoldedPass>& slot = folds_[sim * per_rank + kind + (last ? kinds : 0)];
  if (!slot) {
    slot = std::make_unique<FoldedPass>();
    slot->sim = sim;
  }
  FoldedPass& f = *slot;
  if (f.state != FoldedPass::State::kUnknown) return &f;
  const auto never = [&f] {
    f.state = FoldedPass::State::kNever;
    f.segs.clear();
    return &f;
  };
  if (!fold_ || !symmetric_ || config_.reduces_each_micro_batch()) return never();
  const Pass& pass = current_pass(st);
  std::vector<FoldedPass::Seg> segs;
  bool has_bucket = false;
  for (const Segment& seg : pass.segments) {
    if (!seg.prefetch.empty() || seg.await > 0 || !seg.reduce.empty() || seg.side) return never();
    has_bucket = has_bucket || seg.bucket >= 0;
    const double share = seg.share_or(ctx_->gpus[st.rank].part->calibration.overlap_sm_share);
    FoldedPass::Seg out{seg.compute * st.slow, {}, seg.overlap, share, seg.bucket, seg.host};
    for (const CommCall& c : seg.comms) {
      const std::vector<uint32_t>& group = group_of(c.group, st.rank);
      if (group.size() < 2) {  // a group of one: done at once, no event
        out.comms.push_back({Duration(), &c, 0, false});
        continue;
      }
      if (simulated_members(group) != 1 || !memoizable(group)) return never();
      auto it = collective_cache_.find(collective_key(c, group));
      if (it == collective_cache_.end()) return &f;  // not run yet: the fine-grained path runs it and memoizes it
      out.comms.push_back({it->second, &c, static_cast<size_t>(c.group) + kGroupKinds * static_cast<size_t>(c.stream), true});
    }
    segs.push_back(std::move(out));
  }
  if (segs.empty()) return never();
  f.segs = std::move(segs);
  f.has_bucket = has_bucket;
  const StagePlan& p = *st.plan;
  const auto all_wait = [](const std::vector<Pass>& v) {
    return std::all_of(v.begin(), v.end(), [](const Pass& x) { return x.host_sync; });
  };
  const bool every_pass_waits = all_wait(p.forward) && all_wait(p.backward) && all_wait(p.backward_input) &&
                                all_wait(p.weight) && all_wait(p.pairs) &&
                                (p.deferred_chunk < 0 || p.backward_deferred.host_sync);
  f.host = !every_pass_waits || std::any_of(f.segs.begin(), f.segs.end(), [](const FoldedPass::Seg& s) {
             return s.host.slack > Duration();
           });
  f.host_fixed = Duration();
  if (!f.host) {
    for (const FoldedPass::Seg& s : f.segs) f.host_fixed += Segment::host_part(s.compute, s.compute, s.host);
  }
  flatten(f);
  f.state = FoldedPass::State::kFoldable;
  return &f;
}

void MegatronTraining::flatten(FoldedPass& f) {
  f.plain = true;
  f.simple = true;
  f.plain_segs.clear();
  f.plain_host.clear();
  f.plain_comms.clear();
  f.plain_counts.clear();
  f.simple_segs.clear();
  f.simple_computes.clear();
  f.simple_host.clear();
  const auto count = [&f](size_t c) {
    const auto counter = static_cast<uint32_t>(c);
    auto it = std::find_if(f.plain_counts.begin(), f.plain_counts.end(),
                           [counter](const auto& n) { return n.first == counter; });
    if (it == f.plain_counts.end()) it = f.plain_counts.insert(it, {counter, 0});
    ++it->second;
  };
  bool after_chain = false;  // the segment before has an overlapped chain with an event (simple form)
  for (const FoldedPass::Seg& seg : f.segs) {
    FoldedPass::SimpleSeg simple{seg.compute, seg.share, Duration(), 0, 0, 0, false, seg.host};
    bool any_event = false;
    if (seg.overlap && !seg.comms.empty()) {
      f.plain = false;
      size_t events = 0;
      for (const FoldedPass::Comm& c : seg.comms) {
        if (!c.event) continue;
        ++events;
        simple.overlap_time = c.time;
        count(c.counter);
      }
      if (events > 1) f.simple = false;  // a chain of several (context parallelism's rings): the general path
      simple.overlapped = events == 1;
      simple.overlap_kind = static_cast<uint8_t>(seg.comms.front().call->kind);
    } else {
      for (const FoldedPass::Comm& c : seg.comms) {
        if (!c.event) continue;
        any_event = true;
        f.plain_comms.push_back({c.time, static_cast<uint8_t>(c.call->kind)});
        count(c.counter);
      }
    }
    simple.comms_end = static_cast<uint32_t>(f.plain_comms.size());
    f.plain_segs.push_back({seg.compute, simple.comms_end});
    f.plain_host.push_back(seg.host);
    if (!after_chain && !any_event && !simple.overlapped) {
      f.simple_computes.push_back(seg.compute);
      f.simple_host.push_back(f.plain_host.back());
    } else {
      simple.computes_end = static_cast<uint32_t>(f.simple_computes.size());
      f.simple_segs.push_back(simple);
    }
    after_chain = simple.overlapped;
    // replay(): a compute's completion, then a blocking chain's last collective (an event) if it has one.
    f.plain_priority = any_event ? sim::kDefault : sim::kCompletion;
  }
  if (f.plain) f.simple = false;
  if (!f.plain) f.plain_segs.clear(), f.plain_host.clear();
  if (!f.plain && !f.simple) {
    f.plain_comms.clear();
    f.plain_counts.clear();
  }
  if (!f.simple) {
    f.simple_segs.clear();
    f.simple_computes.clear();
    f.simple_host.clear();
  }
}

// Once per pass (18K per evaluation of the 175B layout): flattened, as send_arrived (sim/engine.cc, dispatch_until).
[[gnu::flatten]] bool MegatronTraining::fold_pass(uint32_t sim) {
  if (!fold_) return false;
  const FoldedPass* f = folded(sim);
  if (f->state != FoldedPass::State::kFoldable) return false;
  RankState& st = *states_[sim];
  const Task& t = (*st.tasks)[st.task];
  // Another stream of the rank is running collectives (expert all-to-alls): each one it starts while the compute
  // stream waits moves that wait to the bubble (megatron_comms.cc), so the inside of this pass is observable. It runs
  // segment by segment. The data-parallel streams (gradient buckets, running or started by a bucket this pass
  // completes; the parameter gather) are walked beside the pass instead where their times are known (fold_beside_dp).
  if (st.side_busy || st.side_next < st.side_queue.size()) return false;
  if (st.dp_busy || st.dp_next < st.dp_queue.size() || st.gathering() ||
      (f->has_bucket && hooks_launch_buckets(t))) {
    return fold_beside_dp(sim, *f);
  }
  int priority = sim::kCompletion;
  // One walk of the pass, applied now (its compute, waits, collective counters and beside time): nothing else
  // touches them while the pass runs (no other stream of the rank is busy, checked above; the rank neither waits
  // for input nor for a send), so adding them at the start makes the same additions in the same order as adding
  // them at the end. Only kernel spans must wait for the end: the timeline keeps the fine path's order of spans,
  // so a traced rank with outputs.timeline_detail: kernels walks the pass again there (finish_fold).
  const bool spans_at_end = kernel_spans_ && traced(sim);
  // From the pass's start: now (run_task set it just before calling here), without another virtual now().
  const Duration end = replay(sim, *f, st.task_start, !spans_at_end, &priority);
  if (spans_at_end) {
    ctx_->engine.at(end, [this, f] { finish_fold(f->sim, *f); }, priority);
  } else {
    ctx_->engine.post(end, this, kFoldEnd | sim, priority);  // fire(): task_done(sim)
  }
  return true;
}

void MegatronTraining::finish_fold(uint32_t sim, const FoldedPass& f) {
  int priority = 0;
  const Duration end = replay(sim, f, states_[sim]->task_start, true, &priority);
  LCSIM_ASSERT(end == ctx_->engine.now(), "a folded pass ended at another time than its steps add up to");
  task_done(sim);
}

// The fine-grained path, step by step (megatron_runtime.cc: start_compute, after_compute, task_done; run_comms):
// a compute ends at t + d (a completion event); an overlapped chain started at t is still pending when a compute
// completes at or before its last collective's end (completions run before other events at the same time), and
// then the rank waits for it, charged to the chain's first kind; a blocking chain charges each collective to its
// own kind; the pass ends when the last segment's chain (if overlapped) is done.
Duration MegatronTraining::replay(uint32_t sim, const FoldedPass& f, Duration start, bool apply, int* priority) {
  RankState& st = *states_[sim];
  const bool spans = apply && kernel_spans_ && traced(sim);
  if (f.plain && apply && !spans) {
    // Nothing overlaps: no chain is ever pending, so SM contention adds nothing and the beside time is unchanged;
    // what remains are the general walk's own additions, in its order, over the flat list of steps.
    // The rank's compute sum is kept in a local while the loop runs (the same additions in the same order; a store
    // per step otherwise, as the steps could alias it for the compiler).
    Duration t = start, compute = st.compute, host_free = st.host_free, host;
    const FoldedPass::PlainComm* c = f.plain_comms.data();
    const auto comms = [&](const FoldedPass::PlainSeg& seg) {
      for (const FoldedPass::PlainComm* end = f.plain_comms.data() + seg.comms_end; c != end; ++c) {
        const Duration begin = t;
        t = t + c->time;
        st.waits[c->kind] += t - begin;
      }
    };
    if (f.host) {
      const HostSide* h = f.plain_host.data();
      for (const FoldedPass::PlainSeg& seg : f.plain_segs) {
        const Duration d = Segment::run(t, seg.compute, *h, &host_free);
        compute += d;
        host += Segment::host_part(d, seg.compute, *h);
        t = t + d;
        if (h++->sync) host_free = t;
        comms(seg);
      }
    } else {
      host = f.host_fixed;
      for (const FoldedPass::PlainSeg& seg : f.plain_segs) {
        compute += seg.compute;
        t = t + seg.compute;
        comms(seg);
      }
    }
    for (const auto& [counter, n] : f.plain_counts) st.seq[counter] += n;
    st.compute = compute;
    st.pass_host = host;
    st.host_free = host_free;
    *priority = f.plain_priority;
    return t;
  }
  if (f.simple && apply && !spans) return replay_simple(sim, f, start, priority);
  Duration t = start;
  bool pending = false;  // an overlapped chain's last event has not run yet
  Duration overlap_end;
  Exposure overlap_kind = Exposure::kTp;
  Duration chain_start;                         // and when its chain started
  const FoldedPass::Seg* overlapped = nullptr;  // the segment whose chain is pending
  // Runs a chain of collectives from `from`; returns its end (each collective waits for the one before).
  auto chain = [&](const FoldedPass::Seg& seg, Duration from, bool blocking, bool* any_event) {
    Duration s = from;
    for (const FoldedPass::Comm& c : seg.comms) {
      const Duration begin = s;
      if (c.event) {
        s = s + c.time;
        *any_event = true;
        if (apply) ++st.seq[c.counter];
      }
      if (apply && blocking) st.waits[static_cast<size_t>(c.call->kind)] += s - begin;
      if (spans) {
        trace_at(sim, c.call->kind == Exposure::kDp ? SpanKind::kDataParallel : SpanKind::kComm, c.call->name, begin, s);
      }
    }
    return s;
  };
  // The rank waits from `from` for the pending chain (after_compute or task_done: wait(overlap_kind)). On the fine
  // path each of the chain's collectives that starts after `from` finds its rank waiting and moves the wait so far
  // to the bubble (megatron_comms.cc, collective: imbalance between ranks), and the chain's end charges the rest to
  // its kind (resume). The chain is walked again with chain()'s additions, so each collective starts at the very
  // time the fine path gives it; a group of one starts nothing (collective returns before the rendezvous).
  auto wait_chain = [&](const FoldedPass::Seg& seg, Duration from) {
    Duration since = from, s = chain_start;
    for (const FoldedPass::Comm& c : seg.comms) {
      if (!c.event) continue;
      if (s > since) {
        st.waits[static_cast<size_t>(Exposure::kBubble)] += s - since;
        since = s;
      }
      s = s + c.time;
    }
    st.waits[static_cast<size_t>(overlap_kind)] += overlap_end - since;
  };
  // SM contention (after_compute): a segment's compute that ran beside the previous segment's overlapped chain
  // takes beside x share / (1 - share) longer, charged once, when the compute completes. `beside_total` is the
  // rank's running sum of time with a collective beside the kernels; the fine path adds each chain's span to it when
  // the chain ends, and measures a segment's beside time as the difference of that sum (plus the running chain's
  // part) between the compute's start and end: the same additions are made here, in the same order.
  Duration beside_total = st.beside_total, host_free = st.host_free, host;
  for (const FoldedPass::Seg& seg : f.segs) {
    const Duration d = f.run(seg, t, &host_free);
    if (apply) st.compute += d;
    if (f.host) host += Segment::host_part(d, seg.compute, seg.host);
    // start_compute: the beside time so far (a chain started at this very time counts zero).
    const Duration snapshot = pending ? beside_total + (t - chain_start) : beside_total + Duration();
    t = t + d;
    *priority = sim::kCompletion;
    if (const double share = seg.share; share > 0) {
      Duration now_beside;
      if (pending && overlap_end >= t) {  // the chain is still running when the compute completes
        now_beside = beside_total + (t - chain_start);
      } else {
        if (pending) {  // it ended during the compute: its span joined the sum then
          beside_total = beside_total + (overlap_end - chain_start);
          pending = false;
        }
        now_beside = beside_total + Duration();
      }
      const Duration beside = now_beside - snapshot;
      if (beside > Duration()) {
        const Duration extra = beside * (share / (1 - share));
        if (apply) st.compute += extra;
        t = t + extra;
      }
    }
    if (pending && overlap_end >= t) {  // the previous segment's overlapped chain is still running
      if (apply) wait_chain(*overlapped, t);
      t = overlap_end;
      *priority = sim::kDefault;
    }
    if (pending) beside_total = beside_total + (overlap_end - chain_start);
    pending = false;
    if (seg.host.sync) host_free = t;
    if (seg.comms.empty()) continue;
    bool any_event = false;
    if (seg.overlap) {
      overlap_kind = seg.comms.front().call->kind;
      chain_start = t;
      overlap_end = chain(seg, t, false, &any_event);
      pending = any_event;
      overlapped = &seg;
    } else {
      t = chain(seg, t, true, &any_event);
      if (any_event) *priority = sim::kDefault;
    }
  }
  if (pending) {  // the last segment's overlapped chain: the pass ends with it
    if (apply) wait_chain(*overlapped, t);
    t = overlap_end;
    *priority = sim::kDefault;
    beside_total = beside_total + (overlap_end - chain_start);
  }
  if (apply) st.beside_total = beside_total, st.host_free = host_free, st.pass_host = f.host ? host : f.host_fixed;
  return t;
}

// replay()'s general path for a simple pass (FoldedPass::simple_segs), applied, without spans: the same additions in
// the same order. wait_chain over a chain of one collective with an event: the collective starts at chain_start, so
// the wait moves to the bubble only if the chain started after the rank began waiting, then the rest is charged to
// the chain's kind. The rank's compute sum stays in a local while the loop runs (as on the plain path).
Duration MegatronTraining::replay_simple(uint32_t sim, const FoldedPass& f, Duration start, int* priority) {
  RankState& st = *states_[sim];
  Duration t = start, compute = st.compute, beside_total = st.beside_total, host_free = st.host_free;
  Duration host = f.host ? Duration() : f.host_fixed;
  bool pending = false;
  Duration overlap_end, chain_start;
  size_t overlap_kind = static_cast<size_t>(Exposure::kTp);
  int prio = sim::kCompletion;
  const auto wait_chain = [&](Duration from) {
    Duration since = from;
    if (chain_start > since) {
      st.waits[static_cast<size_t>(Exposure::kBubble)] += chain_start - since;
      since = chain_start;
    }
    st.waits[overlap_kind] += overlap_end - since;
  };
  const FoldedPass::PlainComm* c = f.plain_comms.data();
  const Duration* alone = f.simple_computes.data();
  // The computes alone up to `end`: no chain is pending, nothing is added but the compute (and the host's clock moved,
  // where the walk follows it).
  const auto run_alone = [&](const Duration* end) {
    if (alone == end) return;
    prio = sim::kCompletion;
    if (!f.host) {
      for (; alone != end; ++alone) {
        compute += *alone;
        t = t + *alone;
      }
      return;
    }
    for (const HostSide* h = f.simple_host.data() + (alone - f.simple_computes.data()); alone != end; ++alone, ++h) {
      const Duration d = Segment::run(t, *alone, *h, &host_free);
      compute += d;
      host += Segment::host_part(d, *alone, *h);
      t = t + d;
      if (h->sync) host_free = t;
    }
  };
  for (const FoldedPass::SimpleSeg& seg : f.simple_segs) {
    run_alone(f.simple_computes.data() + seg.computes_end);  // the computes alone before it
    const Duration d = f.run(seg, t, &host_free);
    compute += d;
    if (f.host) host += Segment::host_part(d, seg.compute, seg.host);
    const Duration snapshot = pending ? beside_total + (t - chain_start) : beside_total + Duration();
    t = t + d;
    prio = sim::kCompletion;
    if (const double share = seg.share; share > 0) {
      Duration now_beside;
      if (pending && overlap_end >= t) {
        now_beside = beside_total + (t - chain_start);
      } else {
        if (pending) {
          beside_total = beside_total + (overlap_end - chain_start);
          pending = false;
        }
        now_beside = beside_total + Duration();
      }
      const Duration beside = now_beside - snapshot;
      if (beside > Duration()) {
        const Duration extra = beside * (share / (1 - share));
        compute += extra;
        t = t + extra;
      }
    }
    if (pending) {
      if (overlap_end >= t) {
        wait_chain(t);
        t = overlap_end;
        prio = sim::kDefault;
      }
      beside_total = beside_total + (overlap_end - chain_start);
      pending = false;
    }
    if (seg.host.sync) host_free = t;
    const FoldedPass::PlainComm* end = f.plain_comms.data() + seg.comms_end;
    if (c != end) {
      prio = sim::kDefault;
      for (; c != end; ++c) {
        const Duration begin = t;
        t = t + c->time;
        st.waits[c->kind] += t - begin;
      }
    }
    if (seg.overlapped) {
      overlap_kind = seg.overlap_kind;
      chain_start = t;
      overlap_end = t + seg.overlap_time;
      pending = true;
    }
  }
  // The computes alone after the last step (then no chain is pending).
  run_alone(f.simple_computes.data() + f.simple_computes.size());
  if (pending) {  // the last step's chain (no compute follows it alone: the segment after a chain is a step)
    wait_chain(t);
    t = overlap_end;
    prio = sim::kDefault;
    beside_total = beside_total + (overlap_end - chain_start);
  }
  for (const auto& [counter, n] : f.plain_counts) st.seq[counter] += n;
  st.compute = compute;
  st.pass_host = host;
  st.beside_total = beside_total;
  st.host_free = host_free;
  *priority = prio;
  return t;
}

}  // namespace lcsim::wl
