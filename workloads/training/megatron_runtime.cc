// MegatronTraining's runtime: the simulated ranks and their per-rank scheduler (passes, segments, pipeline
// sends); the iteration's end (gradient reduction, the optimizer step, memoization) is megatron_iteration.cc.
#include "workloads/training/megatron_runtime.h"

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace lcsim::wl {

using policy::CollectiveOp;
using Exposure = MegatronTraining::Exposure;
using Part = MegatronTraining::Part;

MegatronTraining::MegatronTraining() = default;
MegatronTraining::~MegatronTraining() = default;

bool MegatronTraining::missing_input(const RankState& st, bool* forward, size_t* slot) const {
  const Task& t = (*st.tasks)[st.task];
  // An input sent without an event has arrived once its time has come (RankState::due).
  const auto here = [&st, now = ctx_->engine.now().s()](int f, size_t s) {
    return st.arrived[f][s] || (st.due[f][s].at >= 0 && st.due[f][s].at <= now);
  };
  if (t.forward && virtual_stage(st.stage, t.chunk) > 0) {  // the activations from the previous stage
    const size_t s = static_cast<size_t>(t.micro_batch * chunks_ + t.chunk);
    if (!here(1, s)) return *forward = true, *slot = s, true;
  }
  if (t.has_backward() && t.part != Part::kWeight) {  // the gradients from the next stage (or the own loss)
    const size_t s = static_cast<size_t>(t.backward_micro_batch() * chunks_ + t.backward_chunk());
    if (!here(0, s)) return *forward = false, *slot = s, true;
  }
  return false;
}

void MegatronTraining::trace(uint32_t sim, SpanKind kind, const std::string& name, Duration start, uint64_t flow,
                             bool flow_in, bool flow_out) const {
  trace_at(sim, kind, name, start, ctx_->engine.now(), flow, flow_in, flow_out);
}

void MegatronTraining::trace_at(uint32_t sim, SpanKind kind, const std::string& name, Duration start,
                                Duration end, uint64_t flow, bool flow_in, bool flow_out) const {
  if (!traced(sim)) return;
  const uint32_t rank = states_[sim]->rank;
  // Filled in place: its argument vector and strings are reused from the last span (no allocation per span).
  SpanEvent& e = span_;
  e.kind = kind;
  e.rank = rank;
  e.start = start;
  e.end = end;
  e.name = name;
  if (e.args.size() != 1) e.args.assign(1, {"rank", ""});
  e.args[0].second = std::to_string(rank);
  e.flow = flow;
  e.flow_in = flow_in;
  e.flow_out = flow_out;
  e.flows.swap(next_flows_);
  next_flows_.clear();
  // Held until the tracer's next event: a collective the rank joins right now marks it as what it waited on.
  ctx_->tracer.span_held(e);
}

uint64_t MegatronTraining::flow_id(uint32_t sim, int micro_batch) const {
  // Unique within the job (the job's forwarder adds the job and the attempt): iteration, then micro-batch. Bit 31
  // stays clear (the collectives' edges have it set, collective_flows); bit 30 marks the chains of replicas other
  // than the first (TP, CP and DP rank 0: the only one with symmetry).
  const uint64_t iteration = iteration_times_.size() + static_cast<uint64_t>(memoized_) + eval_times_.size() +
                             static_cast<uint64_t>(eval_memoized_);
  const Coord co = placement_.coord(states_[sim]->rank);
  const uint64_t tp = static_cast<uint64_t>(config_.tensor_model_parallel_size);
  const uint64_t cp = static_cast<uint64_t>(config_.context_parallel_size);
  const uint64_t replica = (static_cast<uint64_t>(co.dp) * cp + static_cast<uint64_t>(co.cp)) * tp +
                           static_cast<uint64_t>(co.tp);
  if (replica == 0) return ((iteration & 0x3fff) << 16 | (static_cast<uint64_t>(micro_batch) & 0xffff)) + 1;
  const uint64_t replicas = tp * cp * static_cast<uint64_t>(dp_);
  return 0x40000000u | (((iteration * replicas + replica) * static_cast<uint64_t>(micro_batches_) +
                         static_cast<uint64_t>(micro_batch)) & 0x3fffffffu);
}

void MegatronTraining::build(const std::vector<Gpu>& gpus) {
  const auto& c = config_;
  const int pp = c.pipeline_model_parallel_size;
  placement_ = Placement(c.tensor_model_parallel_size, c.context_parallel_size, dp_, pp, c.expert_model_parallel_size,
                         c.parallel_order, c.expert_tp());
  placement_.set_cp_a2a(c.cp_a2a_size());
  placement_.set_optimizer_instances(c.num_distributed_optimizer_instances);
  placement_.set_embedding_stages(embedding_stages());
  std::set<const hw::AcceleratorSpec*> parts;
  for (const auto& g : gpus) parts.insert(g.part);
  symmetric_ = c.symmetry == "auto" && parts.size() == 1 && (c.straggler_ranks.empty() || c.straggler_slowdown == 1.0);
  sim_ranks_.clear();
  sim_index_.assign(gpus.size(), -1);
  for (uint32_t r = 0; r < gpus.size(); ++r) {
    const Coord co = placement_.coord(r);
    if (symmetric_ && (co.tp != 0 || co.cp != 0 || co.dp != 0)) continue;
    sim_index_[r] = static_cast<int>(sim_ranks_.size());
    sim_ranks_.push_back(r);
  }
  // Each rank's simulated rank, looked up per pipeline send (sim_of): itself, or its stage's first rank.
  stands_for_.resize(gpus.size());
  for (uint32_t r = 0; r < gpus.size(); ++r) {
    const int own = sim_index_[r];
    const int first = own >= 0 ? own : sim_index_[placement_.rank({0, 0, 0, placement_.coord(r).pp})];
    stands_for_[r] = static_cast<uint32_t>(first);
  }
  folds_.clear();
  if (!schedules_) schedules_ = make_schedules();  // validate() made it, where it got as far as the memory fit
  states_.clear();
  tasks_total_ = 0;
  for (uint32_t r : sim_ranks_) {
    auto st = std::make_unique<RankState>();
    st->rank = r;
    st->stage = placement_.coord(r).pp;
    const auto key = std::make_pair(gpus[r].part, st->stage);
    if (!plans_.count(key)) {
      plans_[key] = std::make_shared<const StagePlan>(
          plan_stage(c.kernels_on(*gpus[r].part), st->stage));
    }
    st->plan = plans_[key].get();
    st->tasks = &(*schedules_)[st->stage];
    if (std::find(c.straggler_ranks.begin(), c.straggler_ranks.end(), static_cast<int>(r)) != c.straggler_ranks.end()) {
      st->slow = c.straggler_slowdown;
    }
    tasks_total_ += st->tasks->size() + 1;
    states_.push_back(std::move(st));
  }
  // Where each simulated rank's pipeline sends go (send_output), and their size: each TP rank sends its 1/TP of
  // the activations (sequence-parallel or Megatron's scatter/gather).
  send_dst_.assign(states_.size() * static_cast<size_t>(pp), 0);
  send_cross_.assign(send_dst_.size(), 0);
  // overlap_param_gather aligned (interleaving): the micro-batch group G of the interleaved table (run_task).
  const int group = c.microbatch_group_size_per_virtual_pipeline_stage;
  gather_group_ = c.overlap_param_gather && c.align_param_gather && chunks_ > 1 && !dualpipe_ ? (group > 0 ? group : pp) : 0;
  // align_grad_reduce (megatron_step.cc, aligned_grad_sync): on pipeline rank r, the task that is backward step
  // b_k + r launches chunk k's buckets (b_k: chunk k's last backward step); those beyond the last step launch after it,
  // the one due there first, then the rest in chunk order (the schedule's "Launch any remaining grad reductions").
  aligned_grad_sync_ = aligned_grad_sync();
  grad_sync_launch_.assign(aligned_grad_sync_ ? static_cast<size_t>(pp) : 0, {});
  for (int s = 0; s < pp && aligned_grad_sync_; ++s) {
    const std::vector<Task>& tasks = (*schedules_)[s];
    std::vector<size_t> steps;  // the task of each backward step
    std::vector<int> last(static_cast<size_t>(chunks_), -1);
    for (size_t i = 0; i < tasks.size(); ++i) {
      const Task& t = tasks[i];
      if (!t.has_backward() || t.part == Part::kWeight) continue;
      if (t.backward_micro_batch() == last_micro_batch(t.backward_chunk())) {
        last[static_cast<size_t>(t.backward_chunk())] = static_cast<int>(steps.size());
      }
      steps.push_back(i);
    }
    if (steps.empty()) continue;
    // Chunk k is due after step last[k] + s: by step, then the rest after the last step in chunk order.
    std::vector<std::pair<size_t, int>> due;  // (step, chunk)
    const size_t final_step = steps.size() - 1;
    for (int k = 0; k < chunks_; ++k) {
      if (last[static_cast<size_t>(k)] < 0) continue;
      const size_t step = static_cast<size_t>(last[static_cast<size_t>(k)] + s);
      due.push_back({step <= final_step ? step : final_step + 1, k});
    }
    std::sort(due.begin(), due.end());
    auto& at = grad_sync_launch_[static_cast<size_t>(s)];
    for (const auto& [step, k] : due) at.push_back({steps[std::min(step, final_step)], k});
  }
  rest_step_name_ = "optimizer step (chunks 1-" + std::to_string(chunks_ - 1) + ")";
  warmup_tasks_.assign(static_cast<size_t>(pp), 0);
  for (int s = 0; s < pp && chunks_ > 1 && !dualpipe_; ++s) {
    warmup_tasks_[static_cast<size_t>(s)] = static_cast<size_t>(interleaved_warmup(
        pp, s, micro_batches_, chunks_, c.microbatch_group_size_per_virtual_pipeline_stage));
  }
  // Per route twice: the hidden state's sends, then (a layout's standalone MTP) those that also carry the modules'.
  send_memo_.assign(2 * send_dst_.size(), {});
  send_flow_.assign(2 * send_dst_.size(), net::FlowRequest{0, 0, Bytes()});
  for (size_t i = 0; i < states_.size(); ++i) {
    for (int s = 0; s < pp; ++s) {
      Coord co = placement_.coord(states_[i]->rank);
      co.pp = s;
      const uint32_t dst = placement_.rank(co);
      const size_t route = i * static_cast<size_t>(pp) + static_cast<size_t>(s);
      send_dst_[route] = dst;
      send_cross_[route] = gpus[states_[i]->rank].node != gpus[dst].node;
    }
  }
  // Megatron-core's standalone MTP (a layout's m before the last virtual stage): from its stage on, the main hidden
  // state and each module's go on together (MultiTokenPredictionBlock's output, concatenated), 1 + D times the bytes.
  send_size_ = pipeline_send_bytes(0);
  wide_sends_from_ = standalone_mtp() ? mtp_stage() : model_stages();
  wide_send_size_ = pipeline_send_bytes(model_stages() - 1);
  // What an iteration's result depends on besides the configuration: each simulated rank's part and speed.
  memo_key_ = describe();
  for (const auto& st : states_) {
    memo_key_ += "|" + std::to_string(st->rank) + ":" + gpus[st->rank].part->name + ":" + std::to_string(st->slow);
  }
  // Evaluation (megatron_eval.cc): its forward-only schedules where the run evaluates, inside its iterations or for
  // the job's estimate.
  eval_mode_ = false;
  eval_left_ = evaluated_after_ = eval_memoized_ = 0;
  eval_times_.clear();
  eval_overheads_.clear();
  eval_schedules_.reset();
  batch_times_.clear();
  batch_failed_.clear();
  if (c.runs_evaluation()) {
    eval_key_ = memo_key_ + "|evaluation";
    auto eval = std::make_shared<std::vector<std::vector<Task>>>();
    for (const auto& tasks : *schedules_) eval->push_back(forward_only(tasks));
    eval_schedules_ = std::move(eval);
  }
}

void MegatronTraining::start(RunContext& ctx) {
  ctx_ = &ctx;
  flow_ = dynamic_cast<net::FlowTransfer*>(&ctx.collectives.transfer()) != nullptr;
  fold_ = !ctx.fine_events;
  kernel_spans_ = ctx.kernel_spans;
  build(ctx.gpus);
  setup_checkpoints();
  if (ctx.tracer.enabled()) {  // the timeline groups lanes by pipeline stage
    for (uint32_t r = 0; r < ctx.gpus.size() && r < ctx.traced_ranks; ++r) {
      ctx.tracer.lane_attr({.link = false, .id = r, .key = "stage", .value = std::to_string(placement_.coord(r).pp)});
    }
  }
  begin_iteration();
}

void MegatronTraining::begin_iteration() {
  iteration_start_ = ctx_->engine.now();
  checkpoints_.iteration_started();
  done_ranks_ = 0;
  pending_.clear();
  const size_t slots = static_cast<size_t>(micro_batches_ * chunks_);
  for (uint32_t i = 0; i < states_.size(); ++i) {
    RankState& st = *states_[i];
    const StagePlan* plan = st.plan;
    // An evaluation iteration runs the forward-only schedule (megatron_eval.cc).
    const auto* tasks = &(eval_mode_ ? *eval_schedules_ : *schedules_)[static_cast<size_t>(st.stage)];
    const uint32_t rank = st.rank;
    const int stage = st.stage;
    const double slow = st.slow;
    st = RankState{};
    st.rank = rank, st.stage = stage, st.plan = plan, st.tasks = tasks, st.slow = slow;
    st.host_free = iteration_start_;  // the host waited for the last step's end (the optimizer's norm)
    for (auto& a : st.arrived) a.assign(slots, 0);
    for (auto& d : st.due) d.assign(slots, RankState::Due{});
    counters_begin(i);
  }
  for (uint32_t i = 0; i < states_.size(); ++i) {
    RankState& st = *states_[i];
    if (!eval_mode_ && !st.plan->param_gather_chunks.empty()) {
      // overlap_param_gather, steady state: the previous step's updated parameters, gathered chunk by chunk
      // alongside the forward passes. Aligned (interleaving): chunks 0 and 1 from the start (Megatron-core's
      // forward_backward_pipelining_with_interleaving calls param_sync_func on both before its warm-up).
      st.gather_state.assign(st.plan->param_gather_chunks.size(), 0);
      if (splits_step(i)) {
        // Chunk 0's gather was dispatched after its own optimizer (ChainedOptimizer.step_with_ready_grads), before
        // the other chunks' optimizer: the iteration is taken from there, that optimizer running first beside the
        // gather (the iteration's end runs chunk 0's: maybe_optimizer). The warm-up's param_sync_func then gathers
        // chunk 1 (chunk 0's DDP skips a dispatch it did not force).
        queue_gather(i, 0);
        run_optimizer(i, st.plan->optimizer - st.plan->optimizer_first, rest_step_name_.c_str(), [this, i] {
          if (gather_group_ > 0) queue_gather(i, 1);
          run_task(i);
        });
        continue;
      }
      if (gather_group_ > 0) {
        for (int k = 0; k < std::min(2, chunks_); ++k) queue_gather(i, k);
      }
    }
    run_task(i);
  }
}

void MegatronTraining::queue_gather(uint32_t sim, int chunk) {
  RankState& st = *states_[sim];
  if (st.gather_state[static_cast<size_t>(chunk)] != 0) return;
  st.gather_state[static_cast<size_t>(chunk)] = 1;
  st.gather_queue.push_back(chunk);
  pump_gather(sim);
}

void MegatronTraining::pump_gather(uint32_t sim) {
  RankState& st = *states_[sim];
  if (st.gather_busy || st.gather_next == st.gather_queue.size()) return;
  const int chunk = st.gather_queue[st.gather_next++];
  st.gather_busy = true;
  st.gather_cursor.chain = &st.plan->param_gather_chunks[static_cast<size_t>(chunk)];
  run_comms(sim, st.plan->param_gather_chunks[static_cast<size_t>(chunk)], 0, [this, sim, chunk] {
    RankState& s = *states_[sim];
    s.gather_busy = false;
    s.gather_cursor.chain = nullptr;
    s.gather_state[static_cast<size_t>(chunk)] = 2;
    pump_gather(sim);
    if (s.gather_wait == chunk) {
      s.gather_wait = -1;
      std::exchange(s.after_gather, nullptr)();
    }
  });
}

void MegatronTraining::wait(uint32_t sim, Exposure why) {
  RankState& st = *states_[sim];
  st.waiting = true;
  st.why = why;
  st.wait_start = ctx_->engine.now();
}

void MegatronTraining::resume(uint32_t sim) {
  RankState& st = *states_[sim];
  if (!st.waiting) return;
  st.waits[static_cast<size_t>(st.why)] += ctx_->engine.now() - st.wait_start;
  st.waiting = false;
}

void MegatronTraining::run_task(uint32_t sim) {
  RankState& st = *states_[sim];
  if (st.task == st.tasks->size()) {
    tasks_finished(sim);
    return;
  }
  bool forward = false;
  size_t slot = 0;
  if (missing_input(st, &forward, &slot)) {
    st.blocked_on_input = true;
    st.wait_start = ctx_->engine.now();
    // Sent without an event, still on its way: its arrival wakes the rank (at the completion priority, as the
    // transfer's own event would).
    if (const RankState::Due& d = st.due[forward][slot]; d.at >= 0) {
      st.wake_forward = forward, st.wake_slot = slot;
      ctx_->engine.post(Duration::from_base(d.at), this, kDueArrival | sim, sim::kCompletion);
    }
    return;
  }
  const Task& t = (*st.tasks)[st.task];
  if (t.forward && virtual_stage(st.stage, t.chunk) > 0) count_queued(sim, t.micro_batch * chunks_ + t.chunk, true, false);
  if (t.has_backward() && t.part != Part::kWeight) {
    count_queued(sim, t.backward_micro_batch() * chunks_ + t.backward_chunk(), false, false);
  }
  if (t.forward && !st.gather_state.empty()) {
    // overlap_param_gather: aligned, the forward pass of virtual micro-batch j on pipeline rank s launches chunk
    // k + 1's gather when j + s is chunk k's first (k G in the table's first group), 1 <= k <= chunks - 2
    // (Megatron-core's param_sync_func: param_sync_microbatch_id = virtual micro-batch + pipeline rank); else, and
    // for any chunk not launched yet, the pass's own chunk (Megatron-core's forward pre-hook dispatches it).
    const int x = st.forwards_started++ + st.stage;
    if (gather_group_ > 0 && x % gather_group_ == 0 && x / gather_group_ >= 1 && x / gather_group_ + 1 < chunks_) {
      queue_gather(sim, x / gather_group_ + 1);
    }
    queue_gather(sim, t.chunk);
  }
  st.task_start = ctx_->engine.now();
  // A pass after a blocking pipeline receive: the host waited for the GPU (torch.cuda.synchronize).
  if (current_pass(st).host_sync) st.host_free = std::max(st.host_free, st.task_start);
  st.pass_open = true;
  st.gathers_done = st.gathers_issued = 0;
  st.fsdp_queue[0].clear();
  st.fsdp_next[0] = 0;
  st.close_pass_host();  // the pass before's
  if (fold_pass(sim)) return;
  run_segment(sim, 0);
}

bool MegatronTraining::awaits(uint32_t sim, bool forward, int slot) const {
  // The first input the blocked pass still misses (an F&B pair may miss two, one after the other).
  const RankState& st = *states_[sim];
  bool missing_forward = false;
  size_t missing_slot = 0;
  return st.blocked_on_input && missing_input(st, &missing_forward, &missing_slot) && missing_forward == forward &&
         missing_slot == static_cast<size_t>(slot);
}

void MegatronTraining::deliver(uint32_t to, int slot, bool forward, Duration producer_done, bool own) {
  RankState& st = *states_[to];
  const bool awaited = awaits(to, forward, slot);
  st.arrived[forward][static_cast<size_t>(slot)] = 1;
  if (!awaited) {
    if (!own) count_queued(to, slot, forward, true);  // waits for the schedule to reach it
    return;
  }
  unblock(to, producer_done.s());
}

void MegatronTraining::unblock(uint32_t sim, double producer_done) {
  RankState& st = *states_[sim];
  st.blocked_on_input = false;
  // Waiting for the producing stage to compute is the pipeline bubble; waiting for the transfer after it is
  // exposed pipeline communication.
  const double now = ctx_->engine.now().s(), w = st.wait_start.s(), pd = producer_done;
  st.waits[static_cast<size_t>(Exposure::kBubble)] += Duration::from_base(std::max(0.0, std::min(now, pd) - w));
  st.waits[static_cast<size_t>(Exposure::kPp)] += Duration::from_base(std::max(0.0, now - std::max(w, pd)));
  run_task(sim);
}

void MegatronTraining::due_arrived(uint32_t sim) {
  RankState& st = *states_[sim];
  RankState::Due& d = st.due[st.wake_forward][st.wake_slot];
  LCSIM_ASSERT(st.blocked_on_input && d.at == ctx_->engine.now().s(), "an input woke a rank not waiting for it");
  st.arrived[st.wake_forward][st.wake_slot] = 1;
  unblock(sim, d.from);
}

void MegatronTraining::run_segment(uint32_t sim, size_t i) {
  RankState& st = *states_[sim];
  const Segment& seg = current_pass(st).segments[i];
  for (const auto& item : seg.prefetch) {  // FSDP: gather ahead of use
    st.fsdp_queue[0].push_back(&item);
    ++st.gathers_issued;
    pump_fsdp(sim, 0);
  }
  if (seg.await > st.gathers_done) {
    wait(sim, Exposure::kDp);
    st.await_target = seg.await;
    st.after_fsdp_gather = [this, sim, i = static_cast<uint32_t>(i)] {
      resume(sim);
      start_compute(sim, i);
    };
    return;
  }
  start_compute(sim, i);
}


void MegatronTraining::start_compute(uint32_t sim, size_t i) {
  RankState& st = *states_[sim];
  const Segment& s = current_pass(st).segments[i];
  const Duration scaled = s.compute * st.slow;
  const Duration d = s.run_from(ctx_->engine.now(), scaled, &st.host_free);
  st.segment_beside = beside_time(st);
  st.contention_charged = false;
  st.compute += d;
  st.pass_host += Segment::host_part(d, scaled, s.host);
  // The segment as 32 bits: (this, sim, segment) fits in the std::function's own 16 bytes (no allocation per event).
  const auto seg = static_cast<uint32_t>(i);
  ctx_->engine.compute(ctx_->gpus[st.rank].host, d, [this, sim, seg] { after_compute(sim, seg); });
}

Duration MegatronTraining::beside_time(const RankState& st) const {
  return st.beside_total + (st.beside > 0 ? ctx_->engine.now() - st.beside_since : Duration());
}

void MegatronTraining::after_compute(uint32_t sim, size_t i) {
  RankState& st = *states_[sim];
  if (!st.contention_charged) {
    // SM contention: for the part of the segment that collectives ran beside it (overlapped TP/CP, expert
    // all-to-alls, gradient buckets, parameter gathers, FSDP), their kernels held overlap_sm_share of the SMs:
    // the segment's kernels take that much longer.
    st.contention_charged = true;
    const double share =
        current_pass(st).segments[i].share_or(ctx_->gpus[st.rank].part->calibration.overlap_sm_share);
    const Duration beside = beside_time(st) - st.segment_beside;
    if (share > 0 && beside > Duration()) {
      const Duration extra = beside * (share / (1 - share));
      st.compute += extra;
      const auto seg = static_cast<uint32_t>(i);  // as in start_compute
      ctx_->engine.compute(ctx_->gpus[st.rank].host, extra, [this, sim, seg] { after_compute(sim, seg); });
      return;
    }
  }
  if (st.overlap_pending) {  // the previous segment's overlapped collectives are still running
    wait(sim, st.overlap_kind);
    st.after_overlap = [this, sim, i = static_cast<uint32_t>(i)] {
      resume(sim);
      after_compute(sim, i);
    };
    return;
  }
  const Task& t = (*st.tasks)[st.task];
  const Segment& seg = current_pass(st).segments[i];
  if (seg.host.sync) st.host_free = ctx_->engine.now();  // the host waited for the GPU to get here
  if (!seg.reduce.empty()) {  // FSDP: this unit's gradients are complete (Megatron-FSDP's optim_grads: a bucket's)
    st.fsdp_queue[1].push_back(&seg.reduce);
    pump_fsdp(sim, 1);
  }
  if (!config_.reduces_each_micro_batch() && seg.bucket >= 0 && hooks_launch_buckets(t)) {
    st.dp_queue.push_back(seg.bucket);
    pump_dp(sim);
  }
  if (seg.comms.empty()) {
    next_segment(sim, i);
  } else if (seg.side) {
    st.side_queue.push_back(&seg.comms);
    pump_side(sim);
    next_segment(sim, i);
  } else if (seg.overlap) {
    st.overlap_pending = true;
    st.overlap_kind = seg.comms.front().kind;
    run_comms(sim, seg.comms, 0, [this, sim] {
      RankState& s = *states_[sim];
      s.overlap_pending = false;
      if (s.after_overlap) std::exchange(s.after_overlap, nullptr)();
    }, false, true);
    next_segment(sim, i);
  } else {
    wait(sim, seg.comms.front().kind);
    run_comms(sim, seg.comms, 0, [this, sim, i = static_cast<uint32_t>(i)] {
      resume(sim);
      next_segment(sim, i);
    }, true, true);
  }
}

void MegatronTraining::next_segment(uint32_t sim, size_t i) {
  if (i + 1 < current_pass(*states_[sim]).segments.size()) {
    run_segment(sim, i + 1);
  } else {
    task_done(sim);
  }
}

void MegatronTraining::task_done(uint32_t sim) {
  RankState& st = *states_[sim];
  if (st.overlap_pending) {
    wait(sim, st.overlap_kind);
    st.after_overlap = [this, sim] {
      resume(sim);
      task_done(sim);
    };
    return;
  }
  const Task& ended = (*st.tasks)[st.task];
  if (!st.gather_state.empty() && ended.forward && st.gather_state[static_cast<size_t>(ended.chunk)] == 1) {
    // The forward pass of a chunk whose parameters are still being gathered waits for them at its end.
    wait(sim, Exposure::kDp);
    st.gather_wait = ended.chunk;
    st.after_gather = [this, sim] {
      resume(sim);
      task_done(sim);
    };
    return;
  }
  if (st.side_busy || st.side_next < st.side_queue.size()) {  // this pass's expert all-to-alls
    wait(sim, Exposure::kEp);
    st.after_side = [this, sim] {
      resume(sim);
      task_done(sim);
    };
    return;
  }
  const Task t = (*st.tasks)[st.task];
  const int v = virtual_stage(st.stage, t.chunk), bv = virtual_stage(st.stage, t.backward_chunk());
  // The HBM counter first: the pass's span is held (Tracer::span_held) for a collective the rank may join now.
  if (t.forward && !eval_mode_) count_pass(sim, true);  // evaluation keeps no activations
  if (t.has_backward() && t.part != Part::kInput) count_pass(sim, false);
  st.pass_open = false;
  if (traced(sim)) {  // the name is built only for ranks on the timeline
    // The micro-batch's chain starts at its first forward pass and ends at its last backward pass. An F&B pair is
    // a step of both micro-batches' chains.
    next_flows_.insert(next_flows_.end(), st.pass_flows.begin(), st.pass_flows.end());
    st.pass_flows.clear();
    auto name = [this](bool forward, int mb, int chunk, Part part) {
      return std::string(forward ? "F" : part == Part::kInput ? "B" : part == Part::kWeight ? "W" : "B") +
             std::to_string(mb) + (chunks_ > 1 ? "." + std::to_string(chunk) : "") +
             (part == Part::kInput ? " (input grads)" : "");
    };
    const int mb = t.pair() ? t.micro_batch : t.backward_micro_batch();
    std::string what = (eval_mode_ ? "eval " : "") + name(t.forward, t.micro_batch, t.chunk, t.forward ? Part::kWhole : t.part);
    if (t.pair()) {
      what += " + " + name(false, t.b_micro_batch, t.b_chunk, Part::kWhole);
      next_flows_.push_back({flow_id(sim, t.b_micro_batch), true, bv != 0});
    }
    // Deferred weight gradients are no step of the chain (nothing waits on them).
    // An evaluation's chain ends at the last stage's forward pass.
    const bool first = t.forward && v == 0, last = eval_mode_ ? v == model_stages() - 1 : !t.forward && bv == 0;
    trace(sim, SpanKind::kCompute, what, st.task_start, t.part == Part::kWeight && !t.forward ? 0 : flow_id(sim, mb),
          !first, !last);
  }
  if (!eval_mode_) ++tasks_done_;
  // align_grad_reduce: the schedule launches a chunk's gradient reduction after this backward step (before its sends).
  if (aligned_grad_sync_ && !eval_mode_) {
    const auto& at = grad_sync_launch_[static_cast<size_t>(st.stage)];
    if (st.grad_sync_next < at.size() && at[st.grad_sync_next].first == st.task) {
      std::vector<int> chunks;
      for (; st.grad_sync_next < at.size() && at[st.grad_sync_next].first == st.task; ++st.grad_sync_next) {
        chunks.push_back(at[st.grad_sync_next].second);
      }
      launch_aligned_grad_sync(sim, std::move(chunks), [this, sim] { send_outputs(sim); });
      return;
    }
  }
  send_outputs(sim);
}

void MegatronTraining::send_outputs(uint32_t sim) {
  RankState& st = *states_[sim];
  const Task t = (*st.tasks)[st.task];
  const int V = model_stages();
  const int v = virtual_stage(st.stage, t.chunk), bv = virtual_stage(st.stage, t.backward_chunk());
  const Duration now = ctx_->engine.now();
  st.sends_open = 0;
  // Its outputs: the forward's activations to the next stage (the loss to its own backward at the last one), the
  // backward's input gradients to the previous stage.
  if (t.forward) {
    const int slot = t.micro_batch * chunks_ + t.chunk;
    if (v == V - 1) {
      if (!eval_mode_) deliver(sim, slot, false, now, true);  // the loss: this micro-batch's backward may start here
    } else {
      send_output(sim, t.micro_batch, place_of(v + 1, t.chunk), true);
    }
  }
  if (t.has_backward() && t.part != Part::kWeight && bv > 0) {
    send_output(sim, t.backward_micro_batch(), place_of(bv - 1, t.backward_chunk()), false);
  }
  if (st.sends_open > 0) return;  // goes on when they have arrived (send_arrived)
  ++st.task;
  run_task(sim);
}

void MegatronTraining::send_output(uint32_t sim, int micro_batch, std::pair<int, int> to, bool fwd) {
  RankState& st = *states_[sim];
  const Duration now = ctx_->engine.now();
  const auto [to_stage, to_chunk] = to;
  const int to_slot = micro_batch * chunks_ + to_chunk;
  const size_t route = sim * static_cast<size_t>(config_.pipeline_model_parallel_size) + static_cast<size_t>(to_stage);
  const uint32_t dst = send_dst_[route];  // this rank's coordinates on stage to_stage (build())
  const uint32_t to_sim = sim_of(dst);
  if (to_stage == st.stage) {
    deliver(to_sim, to_slot, fwd, now);
    return;
  }
  // The boundary between virtual stages k and k + 1 that this send crosses (forward from k, backward from k + 1).
  const int to_v = virtual_stage(to_stage, to_chunk), boundary = fwd ? to_v - 1 : to_v;
  const bool wide = boundary >= wide_sends_from_;
  const Bytes size = wide ? wide_send_size_ : send_size_;
  // One flow, unless the flow model must see every replica's copy of it (below).
  const bool mirrored = symmetric_ && flow_ && send_cross_[route] != 0;
  std::vector<net::FlowRequest>& flows = send_flows_;
  if (mirrored) {
    flows.assign(1, {st.rank, dst, size, 0});
    // Every replica of this stage sends at the same moment: keep their contention.
    auto pit = p2p_cache_.find({st.stage, to_stage});
    if (pit == p2p_cache_.end()) {
      std::vector<std::pair<uint32_t, uint32_t>> pairs;
      for (uint32_t r = 0; r < ctx_->gpus.size(); ++r) {
        Coord x = placement_.coord(r);
        if (x.pp != st.stage || r == st.rank) continue;
        x.pp = to_stage;
        pairs.push_back({r, placement_.rank(x)});
      }
      pit = p2p_cache_.emplace(std::make_pair(st.stage, to_stage), std::move(pairs)).first;
    }
    for (const auto& [a, b] : pit->second) flows.push_back({a, b, size, 0});
  }
  const Duration start = now;
  // Megatron's non-interleaved schedules wait for their sends (batched isend/irecv, then wait); the interleaved
  // one overlaps its steady state's with the next pass when overlap_p2p_comm is on, and its warm-up's and flush's
  // only with overlap_p2p_comm_warmup_flush (forward_backward_pipelining_with_interleaving: send_forward_recv_forward
  // and send_backward_recv_backward without overlap_p2p_comm there). DualPipe waits for them before its next pass
  // (DualPipe.step commits and waits for its sends with the next pass's receives).
  bool blocking = true;
  if (chunks_ > 1 && !dualpipe_) {
    const size_t w = warmup_tasks_[static_cast<size_t>(st.stage)];
    // Forward-only (evaluation): every pass is the warm-up's.
    const bool edge = eval_mode_ || st.task < w || st.task >= st.tasks->size() - w;
    blocking = !(edge ? config_.overlap_p2p_comm_warmup_flush : config_.overlap_p2p_comm);
  }
  if (blocking) {
    wait(sim, Exposure::kPp);
    ++st.sends_open;
  }
  // One flow (not every replica's copy on the flow model): the flow made once per route (the same request: its size
  // and latency are fixed), and where the model keeps no batch for it, its arrival (transfer_unwatched: the same
  // additions to the links and the same time as transfer_to()'s event).
  const bool single = !mirrored || flows.size() == 1;
  const size_t memo = route + (wide ? send_dst_.size() : 0);
  net::FlowRequest* single_flow = nullptr;
  Duration arrival;
  bool unwatched = false;
  if (single) {
    single_flow = &send_flow_[memo];
    if (single_flow->size.bytes() == 0) *single_flow = ctx_->collectives.p2p_flow(st.rank, dst, size);
    unwatched = ctx_->collectives.transfer().transfer_unwatched(*single_flow, &send_memo_[memo], &arrival);
  }
  // A non-blocking send its receiver is not waiting for, on neither rank's timeline: no event. The receiver reads
  // its arrival time when it needs the input (missing_input), and only an input still on its way then costs an
  // event (run_task); about two thirds of the 175B layout's sends (docs/performance-training.md, "Sends without an
  // event").
  if (unwatched && !blocking && !traced(sim) && !traced(to_sim) && !awaits(to_sim, fwd, to_slot)) {
    states_[to_sim]->due[fwd][static_cast<size_t>(to_slot)] = {arrival.s(), start.s()};
    return;
  }
  const uint64_t flow = traced(sim) ? flow_id(sim, micro_batch) : 0;
  uint32_t send;
  if (free_sends_.empty()) {
    send = static_cast<uint32_t>(sends_.size());
    sends_.emplace_back();
  } else {
    send = free_sends_.back();
    free_sends_.pop_back();
  }
  sends_[send] = {sim, to_sim, to_slot, fwd, blocking, start, flow};
  // Each send is an NCCL send/recv at its calibrated latency and efficiency (Collectives::send_to, what nccl_tests'
  // send_recv runs per pair).
  if (single) {  // fire(): send_arrived(send); the route found once per (rank, stage)
    // A send someone waits for (its blocked sender, its blocked receiver, or a traced rank) keeps its event; without a
    // batch in the model it is posted here, at the time and in the place in the event order the transfer's own would
    // have taken.
    if (unwatched) {
      ctx_->engine.post(arrival, this, kSendArrived | send, sim::kCompletion);
    } else {
      ctx_->collectives.transfer().transfer_to(*single_flow, this, kSendArrived | send, &send_memo_[memo]);
    }
    return;
  }
  auto arrived = [this, send] { send_arrived(send); };
  // Mirrored sends, one transfer each (they start together). The representative stands for a typical
  // replica: it goes on when its own replica's sends (all its TP ranks) have arrived, while the other
  // replicas' sends still load the links; their spread is measured.
  const Coord me = placement_.coord(st.rank);
  auto own_left = std::make_shared<size_t>(0);
  auto copies = std::make_shared<Copies>(Copies{flows.size(), -1.0, start.s()});
  auto cb = std::make_shared<sim::Callback>(std::move(arrived));
  for (const auto& f : flows) {
    const Coord x = placement_.coord(f.src);
    const bool own = x.dp == me.dp && x.cp == me.cp;
    *own_left += own ? 1 : 0;
    ctx_->collectives.send(f.src, f.dst, f.size, [this, own_left, own, copies, cb] {
      if (own && --*own_left == 0) (*cb)();
      copy_arrived(*copies);
    });
  }
}

void MegatronTraining::fire(uint64_t tag) {
  const uint32_t index = static_cast<uint32_t>(tag);
  if (tag & kSendArrived) {
    send_arrived(index);
  } else if (tag & kDueArrival) {
    due_arrived(index);
  } else {
    states_[index]->folding_dp = false;  // a pass folded beside the data-parallel stream ends (fold_beside_dp)
    task_done(index);
  }
}

[[gnu::flatten]] void MegatronTraining::send_arrived(uint32_t send) {
  const Send sd = sends_[send];
  free_sends_.push_back(send);  // free before going on: the rank's next sends may reuse it
  // Checked first: "send activations" is longer than std::string's inline buffer (a heap copy per send).
  if (traced(sd.sim)) {
    trace(sd.sim, SpanKind::kPipeline, sd.forward ? "send activations" : "send gradients", sd.start, sd.flow, true,
          true);
  }
  deliver(sd.to_sim, sd.to_slot, sd.forward, sd.start);
  if (sd.blocking && --states_[sd.sim]->sends_open == 0) {
    resume(sd.sim);
    ++states_[sd.sim]->task;
    run_task(sd.sim);
  }
}

}  // namespace lcsim::wl
