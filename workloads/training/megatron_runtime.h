// Internals of the `megatron` workload shared by its runtime files (megatron_runtime.cc, megatron_comms.cc,
// megatron_report.cc): what one simulated rank holds while an iteration runs. Not for use outside them.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "workloads/training/megatron.h"

namespace lcsim::wl {

struct MegatronTraining::RankState {
  uint32_t rank = 0;
  int stage = 0;
  double slow = 1;
  const StagePlan* plan = nullptr;
  const std::vector<Task>* tasks = nullptr;
  size_t task = 0;
  Duration task_start;
  Duration host_free;  // when the host is done issuing what it has issued (Segment::run_from)
  int sends_open = 0;                // the pass's blocking sends not yet arrived
  bool pass_open = false;            // from the pass's start until its span is written (task_done)
  std::vector<FlowStep> pass_flows;  // edges from the pass to collectives the rank joined in its middle
  std::vector<uint8_t> arrived[2];  // [forward?]: per slot (micro-batch x chunk), 1 once its input has arrived
  // Inputs sent without an arrival event (send_output: a non-blocking send its receiver was not waiting for): per
  // slot, when it arrives (< 0: none) and when its producer sent it (for deliver's split of a wait). It counts as
  // arrived from that time on; a rank that blocks on it before then is woken by an event of its own (kDueArrival).
  struct Due {
    double at = -1, from = 0;
  };
  std::vector<Due> due[2];
  bool wake_forward = false;  // the input a kDueArrival event delivers
  size_t wake_slot = 0;
  bool blocked_on_input = false;
  Duration wait_start;
  bool waiting = false;
  Exposure why = Exposure::kTp;
  bool overlap_pending = false;
  Exposure overlap_kind = Exposure::kTp;
  sim::Callback after_overlap;
  // overlap_param_gather: per model chunk 0 (not launched), 1 (queued or running), 2 (done); the chunks queued on
  // the gather stream, one after the other; the chunk a finished forward pass waits for; forward passes started.
  std::vector<int8_t> gather_state;
  std::vector<int> gather_queue;
  size_t gather_next = 0;
  bool gather_busy = false;
  int gather_wait = -1;
  int forwards_started = 0;
  sim::Callback after_gather;
  bool gathering() const { return gather_busy || gather_next < gather_queue.size(); }
  // FSDP streams: [0] parameter gathers (counted per pass), [1] gradient reduce-scatters.
  std::vector<const std::vector<CommCall>*> fsdp_queue[2];
  size_t fsdp_next[2] = {0, 0};
  bool fsdp_busy[2] = {false, false};
  int gathers_done = 0;
  int gathers_issued = 0;
  int await_target = 0;
  sim::Callback after_fsdp_gather, after_fsdp_reduce;
  std::vector<const std::vector<CommCall>*> side_queue;  // expert all-to-alls beside the compute
  size_t side_next = 0;
  bool side_busy = false;
  sim::Callback after_side;
  std::vector<int> dp_queue;
  size_t dp_next = 0;
  size_t grad_sync_next = 0;  // aligned_grad_sync: the next entry of grad_sync_launch_ for this rank's stage
  bool dp_busy = false;
  size_t buckets_done = 0;
  // rs_fp32_accumulation with overlap_grad_reduce: each reduced bucket's end and its sum's time, in the order the
  // buckets finished, and when the passes ended (finish_grad_sync then runs the sums: maybe_optimizer).
  std::vector<std::pair<Duration, Duration>> accumulate_after;
  Duration tasks_end;
  // A data-parallel stream's running chain (pump_dp, pump_gather), which of its collectives is running and when that
  // one ends (known where it started from a memoized time: collective()); read by a pass folded beside the stream
  // (megatron_fold_dp.cc).
  struct StreamCursor {
    const std::vector<CommCall>* chain = nullptr;
    size_t index = 0;
    Duration end;
    bool end_known = false;
  };
  StreamCursor dp_cursor, gather_cursor;
  // A pass folded beside the data-parallel streams is running (until its end event): the fold has made the streams'
  // additions to the count of collectives beside the kernels for that time, so their own events leave them alone.
  bool folding_dp = false;
  // Collectives running beside the kernels (SM contention): how many are in flight, since when, the time with at
  // least one in flight so far, and that time when the current kernel segment started.
  int beside = 0;
  Duration beside_since, beside_total, segment_beside;
  bool contention_charged = true;
  bool finished_tasks = false;
  bool drained = false;  // the flush's deferred output-layer weight gradients have run (tasks_finished)
  bool optimizer_started = false;
  Duration compute, optimizer, finish;
  // The part of compute the GPU waited for the host (Segment::host_part): the running pass's, from 0 in segment
  // order on every walk, added to `host` when the next pass starts (or the iteration ends).
  Duration host, pass_host;
  void close_pass_host() { host += pass_host, pass_host = Duration(); }
  std::array<Duration, static_cast<size_t>(Exposure::kCount)> waits{};
  std::array<uint64_t, 3 * kGroupKinds> seq{};  // collectives issued per (group kind, stream)
  // Timeline counters (traced ranks): HBM in use (bytes), inputs received and not yet started on (per slot).
  double hbm = 0;
  int queued = 0;
  std::vector<char> waiting_input[2];
};

/// A folded pass (MegatronTraining::fold_pass): its segments with the times the fine-grained path takes for them.
struct MegatronTraining::FoldedPass {
  struct Comm {
    Duration time;            // the collective's memoized time (0 and no event: a group of one, done at once)
    const CommCall* call;
    size_t counter;           // its rendezvous counter (group kind + kGroupKinds x stream)
    bool event;               // the fine-grained path has an event for it
  };
  struct Seg {
    Duration compute;
    std::vector<Comm> comms;  // one after the other once the compute is done
    bool overlap;             // alongside the next segment's compute (else blocking)
    double share;             // SM share of the collectives beside its compute (Segment::sm_share, resolved)
    int bucket;               // Segment::bucket
    HostSide host;            // Segment::host
  };
  enum class State : int8_t { kUnknown, kFoldable, kNever };
  State state = State::kUnknown;
  uint32_t sim = 0;  // the simulated rank it belongs to (the end event's callback captures only this and the pass)
  std::vector<Seg> segs;
  bool has_bucket = false;  // a gradient bucket completes inside it (the last micro-batch's backward must not fold)
  // Whether the walk follows the host's clock (Segment::run). Not where no segment has slack (each takes its compute
  // whatever the host's lead) and every pass of the rank starts by waiting for the GPU (the host's clock after this
  // pass is never read before the next pass sets it): the same times, a cheaper walk.
  bool host = true;
  // Where the walk does not follow the host's clock, every segment takes its compute: the pass's host part is this
  // constant, summed from 0 in segment order as the fine path sums it (RankState::pass_host).
  Duration host_fixed;
  /// The segment's time from t (Segment::run where the walk follows the host, else its compute).
  template <class S>
  Duration run(const S& seg, Duration t, Duration* host_free) const {
    return host ? Segment::run(t, seg.compute, seg.host, host_free) : seg.compute;
  }
  /// No segment's collectives overlap the next compute: nothing runs beside the kernels, so the pass is a plain
  /// sequence of additions, kept flat for replay's fast path (the same additions in the same order): per segment its
  /// compute, then its collectives with an event (plain_comms[previous segment's comms_end, comms_end)). A group of
  /// one (no event) adds t - t = +0 to a wait that is never -0, which changes nothing, so it is left out; the
  /// collectives' counters are integers, added per pass (plain_counts: counter, how many).
  struct PlainSeg {
    Duration compute;
    uint32_t comms_end;
  };
  // The flat segments' host sides, beside plain_segs and simple_computes where the walk follows the host (host): the
  // other walks read the compact arrays only.
  std::vector<HostSide> plain_host;
  struct PlainComm {
    Duration time;  // the collective's memoized time
    uint8_t kind;   // its Exposure (what its blocking time is charged to)
  };
  bool plain = false;
  std::vector<PlainSeg> plain_segs;
  std::vector<PlainComm> plain_comms;
  std::vector<std::pair<uint32_t, uint32_t>> plain_counts;
  int plain_priority = 0;  // the priority of the pass's last event on the fine path
  /// Not plain, but each overlapped chain has one collective with an event (Megatron's input-gradient all-reduce
  /// beside the weight-gradient GEMM, TP without SP): replay's second fast path walks this flat form with the
  /// general path's additions in the same order. Blocking collectives are in plain_comms and plain_counts as for a
  /// plain pass; an overlapped chain's counter joins plain_counts too (integers). An overlapped chain without an
  /// event is left out (it never becomes pending). A segment that follows no pending chain and has no collective
  /// with an event is a compute alone (its SM contention adds nothing: no beside time, (x + 0) - (x + 0) = 0): those
  /// are simple_computes, run before each step up to its computes_end (and after the last, up to the end).
  struct SimpleSeg {
    Duration compute;
    double share;           // Seg::share
    Duration overlap_time;  // the overlapped chain's one collective with an event (overlapped only)
    uint32_t computes_end;  // the computes alone before it: simple_computes[previous computes_end, computes_end)
    uint32_t comms_end;     // its blocking collectives: plain_comms[previous comms_end, comms_end)
    uint8_t overlap_kind;   // the chain's first collective's Exposure (what waiting for it is charged to)
    bool overlapped;        // its chain runs beside the next segment's compute
    HostSide host;          // Seg's
  };
  bool simple = false;
  std::vector<SimpleSeg> simple_segs;
  std::vector<Duration> simple_computes;
  std::vector<HostSide> simple_host;  // beside simple_computes (host)
};

// Asked once per pass (fold) and per segment of a pass with a last-micro-batch copy (current_pass): inline.
inline bool MegatronTraining::completes_buckets(const Task& t) const {
  return t.has_backward() && t.part != Part::kInput && t.backward_micro_batch() == last_micro_batch(t.backward_chunk());
}

// Per segment and per pass (start_compute, after_compute, folded): defined here, where RankState is, to inline.
inline const MegatronTraining::Pass& MegatronTraining::task_pass(const RankState& st) const {
  const Task& t = (*st.tasks)[st.task];
  const auto c = static_cast<size_t>(t.chunk);
  return t.pair()                       ? st.plan->pairs[c * 2 + static_cast<size_t>(t.b_chunk)]
                  : t.forward                    ? st.plan->forward[c]
                  : t.part == Part::kInput       ? st.plan->backward_input[c]
                  : t.part == Part::kWeight      ? st.plan->weight[c]
                  : t.part == Part::kDeferOutput ? st.plan->backward_deferred
                                                 : st.plan->backward[c];
}

inline const MegatronTraining::Pass& MegatronTraining::current_pass(const RankState& st) const {
  // The micro-batch that completes the pass's gradient buckets runs their work before the collectives (Pass::last).
  const Pass& p = task_pass(st);
  if (p.first) {  // the iteration's first micro-batch's pass (Pass::first)
    const Task& t = (*st.tasks)[st.task];
    if (!t.pair() && t.micro_batch == 0) return *p.first;
  }
  return p.last && completes_buckets((*st.tasks)[st.task]) ? *p.last : p;
}
}  // namespace lcsim::wl
