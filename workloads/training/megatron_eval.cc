// MegatronTraining's evaluation during training, as Megatron-LM runs it (megatron/training/training.py at 001b00c:
// train() and evaluate(); megatron/core/pipeline_parallel/schedules.py at 00611e6, forward_only): every
// eval_interval iterations, where the data has a validation set, eval_iters iterations of the global batch's forward
// passes, the loss all-reduced over DP x CP on the last pipeline stage after each; before them the parameters'
// forced all-gather (disable_forward_pre_hook with the distributed optimizer's overlapped gather) and the barriers
// of the timers that start with barrier=True, after them another. After training one evaluation on the validation
// set and one on the test set (do_valid, do_test).
//
// Inside the simulated iterations (train_iters) evaluations run where Megatron-LM runs them, before the checkpoint
// save of the same iteration. For the job_* metrics (job_train_iters) the run simulates one evaluation of one
// iteration after its training iterations where none ran in them, and the job's evaluations are extrapolated from
// it: each evaluation's start and end plus eval_iters of its iterations. docs/training.md, "Evaluation".
#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "workloads/training/megatron_runtime.h"

namespace lcsim::wl {

std::vector<MegatronTraining::Task> MegatronTraining::forward_only(const std::vector<Task>& tasks) {
  // Megatron-core with forward_only: without pipelining each micro-batch's forward step; 1F1B each stage's forward
  // steps in micro-batch order, each input received and each output sent blocking (recv_forward, send_forward); the
  // interleaved schedule runs every virtual micro-batch in its warm-up (num_warmup_microbatches = all of them), in the
  // schedule table's order, which is the order of the training schedule's forward passes. DualPipe (DeepSeek's
  // repository has no forward-only step): its forward passes in its own order, an F&B pair's forward half alone.
  std::vector<Task> out;
  for (const Task& t : tasks) {
    if (t.forward) out.push_back(Task{true, t.micro_batch, t.chunk});
  }
  return out;
}

void MegatronTraining::plan_eval(StagePlan& plan, int stage) const {
  const auto& c = config_;
  plan.eval_start.clear();
  plan.eval_end.clear();
  plan.eval_loss.clear();
  if (!c.runs_evaluation()) return;
  // train(): disable_forward_pre_hook (should_disable_forward_pre_hook: the distributed optimizer with
  // overlap_param_gather, not Megatron-FSDP) forces start_param_sync(force_sync=True), every bucket's all-gather,
  // synchronous; then timers('eval-time').start(barrier=True) and evaluate()'s timers('evaluate').start(barrier=True),
  // each a barrier over every rank (NCCL's barrier: a one-element all-reduce).
  if (c.overlap_param_gather && !c.use_megatron_fsdp) {
    for (CommCall call : plan.param_gather) {
      call.name += " (forced, before evaluation)";
      plan.eval_start.push_back(std::move(call));
    }
  }
  plan.eval_start.push_back(small_all_reduce(GroupKind::kWorld, 4, "barrier (eval-time timer)"));
  plan.eval_start.push_back(small_all_reduce(GroupKind::kWorld, 4, "barrier (evaluate timer)"));
  // After it: timers('interval-time').start(barrier=True).
  plan.eval_end.push_back(small_all_reduce(GroupKind::kWorld, 4, "barrier (interval-time timer)"));
  // evaluate(): on the last pipeline stage, GPT's 'lm loss' (its sum and token count, two fp32) all-reduced over
  // DP x CP after each iteration; no .item() until the evaluation ends.
  if (stage == c.pipeline_model_parallel_size - 1) {
    plan.eval_loss.push_back(small_all_reduce(GroupKind::kDpCp, 8, "loss (evaluation)"));
  }
}

void MegatronTraining::set_token_budget(double tokens) { config_.token_budget = std::max(0.0, tokens); }

bool MegatronTraining::needs_eval_probe() const {
  return config_.extrapolates_evaluations() && eval_overheads_.empty();
}

void MegatronTraining::evaluate(int iterations, sim::Callback then) {
  eval_mode_ = true;
  eval_left_ = iterations;
  after_eval_ = std::move(then);
  eval_overhead_ = Duration();
  eval_sync(&StagePlan::eval_start, [this] { start_iteration(); });
}

void MegatronTraining::eval_sync(std::vector<CommCall> StagePlan::*comms, sim::Callback then) {
  // Between iterations every collective has completed: each communicator's count starts again, as at an iteration's
  // start (begin_iteration).
  pending_.clear();
  for (auto& st : states_) st->seq.fill(0);
  eval_sync_start_ = ctx_->engine.now();
  eval_sync_left_ = states_.size();
  after_eval_sync_ = std::move(then);
  for (uint32_t i = 0; i < states_.size(); ++i) {
    run_blocking_dp(i, states_[i]->plan->*comms, [this] {
      if (--eval_sync_left_ == 0) {
        eval_overhead_ += ctx_->engine.now() - eval_sync_start_;
        std::exchange(after_eval_sync_, nullptr)();
      }
    });
  }
}

void MegatronTraining::eval_iteration_done(Duration it) {
  eval_times_.push_back(it);
  std::vector<std::pair<Duration, Duration>> busy = rank_busy();
  emit_busy(busy, iteration_start_, ctx_->engine.now());
  if (checkpoints_.last_iteration_quiet()) {
    memo_[eval_key_] = it;
    memo_busy_[eval_key_] = std::move(busy);
  }
  eval_iteration_end();
}

void MegatronTraining::eval_iteration_end() {
  if (--eval_left_ > 0) {
    start_iteration();
    return;
  }
  eval_sync(&StagePlan::eval_end, [this] {
    eval_mode_ = false;
    eval_overheads_.push_back(eval_overhead_);
    std::exchange(after_eval_, nullptr)();
  });
}

}  // namespace lcsim::wl
