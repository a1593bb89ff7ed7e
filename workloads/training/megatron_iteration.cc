// MegatronTraining's iteration end (split from megatron_runtime.cc): once a rank's passes are done, its gradient
// reduction, the word embeddings' copies and the optimizer step (whole, or split with the parameter gather), then
// the iteration's breakdown, its memoization and the next iteration's start.
#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "workloads/training/megatron_runtime.h"

namespace lcsim::wl {

using policy::CollectiveOp;
using Exposure = MegatronTraining::Exposure;

void MegatronTraining::tasks_finished(uint32_t sim) {
  RankState& st = *states_[sim];
  if (eval_mode_) {  // an evaluation iteration: no gradients, no step; the loss's all-reduce (megatron_eval.cc)
    st.finished_tasks = true;
    run_blocking_dp(sim, st.plan->eval_loss, [this, sim] { rank_done(sim); });
    return;
  }
  if (st.plan->deferred_chunk >= 0 && !st.drained) {
    // defer_embedding_wgrad_compute: the flush's output-layer weight gradients (Megatron-core's
    // drain_embedding_wgrad_compute, before finalize_model_grads): under sequence parallelism the first deferred
    // input's all-gather is waited for, each next one runs beside the previous GEMM (its time not added).
    st.drained = true;
    if (!st.plan->drain_gather.empty()) wait(sim, Exposure::kTp);
    run_comms(sim, st.plan->drain_gather, 0, [this, sim] {
      RankState& s = *states_[sim];
      resume(sim);
      const Duration d = s.plan->output_wgrad * deferred_micro_batches() * s.slow;
      s.compute += d;
      compute_span(sim, d, "output-layer wgrad (deferred)", [this, sim] { tasks_finished(sim); });
    });
    return;
  }
  st.finished_tasks = true;
  st.tasks_end = ctx_->engine.now();
  if (config_.reduces_each_micro_batch()) {
    // Gradients went out unit by unit (bucket by bucket): wait for the reduce stream, then the step.
    st.buckets_done = st.plan->buckets.size();
    wait(sim, Exposure::kDp);
    if (st.fsdp_busy[1] || st.fsdp_next[1] < st.fsdp_queue[1].size()) {
      st.after_fsdp_reduce = [this, sim] { maybe_optimizer(sim); };
      return;
    }
    maybe_optimizer(sim);
    return;
  }
  const auto reduce = [this, sim] {
    wait(sim, Exposure::kDp);
    pump_dp(sim);
    maybe_optimizer(sim);
  };
  if (!config_.overlap_grad_reduce) {
    for (size_t b = 0; b < st.plan->buckets.size(); ++b) st.dp_queue.push_back(static_cast<int>(b));
    if (st.plan->reduce_prep > Duration()) {
      // Each bucket's NaN check and scaling on the compute stream before its collective (Bucket::prep): with the
      // collectives on the same stream one after the other, their sum first.
      const Duration d = st.plan->reduce_prep * st.slow;
      st.compute += d;
      st.host += st.plan->reduce_prep_host;
      compute_span(sim, d, "gradient checks and scaling", reduce);
      return;
    }
  }
  reduce();
}

void MegatronTraining::maybe_optimizer(uint32_t sim) {
  RankState& st = *states_[sim];
  if (!st.finished_tasks || st.optimizer_started || st.buckets_done < st.plan->buckets.size()) return;
  st.optimizer_started = true;
  if (!st.accumulate_after.empty()) {
    // rs_fp32_accumulation with overlap_grad_reduce: finish_grad_sync, after the passes, waits for each bucket's
    // all-to-all in turn and sums it on the compute stream; the sums that end after the last all-to-all come before
    // the step (the others ran while the rank waited for the data-parallel stream).
    Duration t = st.tasks_end;
    for (const auto& [done, sum] : st.accumulate_after) t = std::max(t, done) + sum * st.slow;
    st.accumulate_after.clear();
    if (const Duration tail = t - ctx_->engine.now(); tail > Duration()) {
      resume(sim);
      st.compute += tail;
      st.optimizer_started = false;
      compute_span(sim, tail, "fp32 accumulation of reduced gradients", [this, sim] { maybe_optimizer(sim); });
      return;
    }
  }
  auto step = [this, sim] {
    resume(sim);
    auto after = [this, sim] {
      static const std::vector<CommCall> kNone;
      const std::vector<CommCall>& gather = config_.overlap_param_gather ? kNone : states_[sim]->plan->param_gather;
      if (!gather.empty()) wait(sim, Exposure::kDp);
      run_comms(sim, gather, 0, [this, sim] {
        resume(sim);
        step_syncs(sim, false, [this, sim] { rank_done(sim); });
      });
    };
    // Megatron-LM's rerun check and gradient-norm all-reduce first (plan_step_syncs).
    step_syncs(sim, true, [this, sim, after] {
      const StagePlan& plan = *states_[sim]->plan;
      // overlap_param_gather_with_optimizer_step: chunk 0's optimizer only (the others' opens the next iteration).
      if (splits_step(sim)) {
        run_optimizer(sim, plan.optimizer_first, "optimizer step (chunk 0)", after);
      } else {
        run_optimizer(sim, plan.optimizer, "optimizer step", after);
      }
    });
  };
  // The word embeddings' copies (the first stage's, a tied output layer's, an MTP stage's) add their gradients
  // before the step (embedding_stages); DualPipe's two copies of each stage do the same.
  const std::vector<int> emb = embedding_stages();
  auto comms = std::make_shared<std::vector<CommCall>>(st.plan->copies_reduce);
  if (emb.size() > 1 && std::find(emb.begin(), emb.end(), st.stage) != emb.end()) {
    const double gb = config_.grad_bytes();
    comms->insert(comms->begin(), CommCall{CollectiveOp::kAllReduce, GroupKind::kEmbedding,
         Bytes::of(1.0 * config_.model.vocab_size * config_.model.hidden_size / config_.tensor_model_parallel_size * gb),
         Exposure::kDp, "embedding all-reduce grads"});
  }
  if (comms->empty()) {
    step();
  } else {
    run_comms(sim, *comms, 0, [step, comms] { step(); });
  }
}

void MegatronTraining::step_syncs(uint32_t sim, bool before, sim::Callback then) {
  RankState& st = *states_[sim];
  // The logged statistics' kernels first (StagePlan::step_before_compute, step_after_compute), then the rest.
  if (const Duration d = (before ? st.plan->step_before_compute : st.plan->step_after_compute) * st.slow;
      d > Duration()) {
    st.compute += d;
    compute_span(sim, d, "logged statistics (step)", [this, sim, before, then = std::move(then)]() mutable {
      step_comms(sim, before, std::move(then));
    });
    return;
  }
  step_comms(sim, before, std::move(then));
}

void MegatronTraining::step_comms(uint32_t sim, bool before, sim::Callback then) {
  RankState& st = *states_[sim];
  const std::vector<CommCall>& comms = before ? st.plan->step_before : st.plan->step_after;
  const Duration host = before ? st.plan->step_before_host : st.plan->step_after_host;
  if (comms.empty() && host == Duration()) {
    then();
    return;
  }
  run_blocking_dp(sim, comms, [this, sim, host, then = std::move(then)]() mutable {
    if (host == Duration()) {
      then();
      return;
    }
    RankState& s = *states_[sim];
    s.compute += host;
    s.host += host;
    compute_span(sim, host, "host synchronizations (step)", std::move(then));
  });
}

void MegatronTraining::run_blocking_dp(uint32_t sim, const std::vector<CommCall>& comms, sim::Callback then) {
  // Blocking, on the compute stream: what a rank waits there (its own collectives and the other ranks' arrival at
  // them) is charged to the data-parallel exposure, as the wait for the gradient reduction before the step is.
  if (!comms.empty()) wait(sim, Exposure::kDp);
  run_comms(sim, comms, 0, [this, sim, then = std::move(then)]() mutable {
    resume(sim);
    then();
  }, true);
}

bool MegatronTraining::splits_step(uint32_t sim) const {
  return config_.overlap_param_gather_with_optimizer_step && !states_[sim]->plan->param_gather_chunks.empty();
}

void MegatronTraining::run_optimizer(uint32_t sim, Duration d, const char* name, sim::Callback then) {
  RankState& st = *states_[sim];
  d = d * st.slow;
  st.optimizer += d;
  compute_span(sim, d, name, std::move(then));
}

void MegatronTraining::compute_span(uint32_t sim, Duration d, const char* name, sim::Callback then) {
  const Duration start = ctx_->engine.now();
  ctx_->engine.compute(ctx_->gpus[states_[sim]->rank].host, d, [this, sim, start, name, then = std::move(then)] {
    trace(sim, SpanKind::kCompute, name, start);
    then();
  });
}

void MegatronTraining::rank_done(uint32_t sim) {
  RankState& st = *states_[sim];
  st.finish = ctx_->engine.now();
  ++tasks_done_;
  if (++done_ranks_ == states_.size()) iteration_done();
}

void MegatronTraining::iteration_done() {
  const Duration now = ctx_->engine.now();
  const Duration it = now - iteration_start_;
  if (eval_mode_) {
    eval_iteration_done(it);
    return;
  }
  iteration_times_.push_back(it);
  // Breakdown, mean over simulated ranks (each stands for the same number of ranks): compute, optimizer, the
  // exposed waits, and the idle time at the iteration's end counted with the bubble.
  breakdown_.assign(static_cast<size_t>(Exposure::kCount), 0.0);
  compute_ = optimizer_ = host_ = bucket_work_ = Duration();
  stage_rows_.clear();
  const double n = static_cast<double>(states_.size());
  for (const auto& st : states_) {
    st->waits[static_cast<size_t>(Exposure::kBubble)] += now - st->finish;
    for (size_t k = 0; k < breakdown_.size(); ++k) breakdown_[k] += st->waits[k].s() / n;
    st->close_pass_host();  // the last pass's
    compute_ += st->compute / n;
    host_ += st->host / n;
    bucket_work_ += st->plan->reduce_prep * st->slow / n;
    optimizer_ += st->optimizer / n;
    std::array<double, 10> row{};
    row[0] = st->compute.s();
    row[1] = st->optimizer.s();
    for (size_t k = 0; k < 6; ++k) row[2 + k] = st->waits[k].s();
    row[8] = st->stage;
    row[9] = st->host.s();
    stage_rows_.push_back(row);
  }
  std::vector<std::pair<Duration, Duration>> busy = rank_busy();
  emit_busy(busy, iteration_start_, now);
  checkpoints_.iteration_ended(it);
  if (checkpoints_.last_iteration_quiet()) {  // an iteration beside a checkpoint flush is not the clean one
    memo_[memo_key_] = it;
    memo_busy_[memo_key_] = std::move(busy);
  }
  next_iteration();
}

std::vector<std::pair<Duration, Duration>> MegatronTraining::rank_busy() const {
  // Power: each simulated rank's compute (with the optimizer) and exposed communication, for every GPU it stands
  // for.
  std::vector<std::pair<Duration, Duration>> busy;
  for (const auto& st : states_) {
    Duration comm;
    for (Exposure k : {Exposure::kTp, Exposure::kCp, Exposure::kEp, Exposure::kPp, Exposure::kDp}) {
      comm += st->waits[static_cast<size_t>(k)];
    }
    busy.push_back({st->compute + st->optimizer, comm});
  }
  return busy;
}

void MegatronTraining::emit_busy(const std::vector<std::pair<Duration, Duration>>& busy, Duration start,
                                 Duration end) const {
  for (uint32_t r = 0; r < ctx_->gpus.size(); ++r) {
    const auto& [compute, comm] = busy[sim_of(r)];
    ctx_->tracer.busy({.rank = r, .start = start, .end = end, .compute = compute, .comm = comm});
  }
}

void MegatronTraining::next_iteration() {
  const int done = static_cast<int>(iteration_times_.size()) + memoized_;
  // Megatron-LM evaluates after the iteration's step and log, before its checkpoint save (megatron_eval.cc).
  if (evaluated_after_ < done && config_.evaluates_after(done)) {
    evaluated_after_ = done;
    evaluate(config_.eval_iters, [this] { next_iteration(); });
    return;
  }
  if (done >= config_.train_iters) {
    if (needs_eval_probe()) {  // the job's evaluations are timed from one iteration of one (megatron_eval.cc)
      evaluate(1, [this] { next_iteration(); });
      return;
    }
    if (const int64_t batch = next_batch_to_time()) {  // the batch schedule's smaller batches
      time_batch(batch, [this] { next_iteration(); });   // (megatron_batch_schedule.cc)
      return;
    }
    checkpoints_.at_end([this] {  // once the last checkpoint flush has landed
      ctx_->tracer.flush();
      ctx_->finish();
    });
    return;
  }
  checkpoints_.after_iteration(done, config_.train_iters, [this] { start_iteration(); });
}

void MegatronTraining::start_iteration() {
  // The same cluster state gives the same iteration: replay the memoized time, one event per iteration; a state
  // not seen before, or one with a checkpoint flush on the links, is simulated. An evaluation's iterations are
  // memoized apart (eval_key_; megatron_eval.cc).
  const std::string& key = eval_mode_ ? eval_key_ : memo_key_;
  auto hit = memo_.find(key);
  if (hit == memo_.end() || checkpoints_.flushing()) {
    begin_iteration();
    return;
  }
  const Duration start = ctx_->engine.now();
  checkpoints_.iteration_started();
  if (eval_mode_) {
    ctx_->engine.after(hit->second, [this, start] {
      ++eval_memoized_;
      emit_busy(memo_busy_.at(eval_key_), start, ctx_->engine.now());
      eval_iteration_end();
    });
    return;
  }
  ctx_->engine.after(hit->second, [this, start] {
    ++memoized_;
    emit_busy(memo_busy_.at(memo_key_), start, ctx_->engine.now());
    tasks_done_ += tasks_total_;
    checkpoints_.iteration_ended(ctx_->engine.now() - start);
    next_iteration();
  });
}

}  // namespace lcsim::wl
