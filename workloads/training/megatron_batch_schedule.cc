// MegatronTraining with a global batch-size schedule (Megatron-LM's --rampup-batch-size or
// --step-batch-size-schedule; batch_schedule.h): the simulated iterations run the global batch, and the job's
// iterations at smaller batches (job_train_samples, cost.token_budget) are timed after them. Each batch size to time
// runs one iteration of a copy of this workload at that batch, on the same cluster and engine; up to
// batch_schedule_timed of them (the smallest always, the rest spread over the schedule), the others interpolated
// linearly in their micro-batch count between the timed ones and the global batch. docs/training.md, "Batch-size
// schedules".
#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "sim/config_tree.h"
#include "workloads/training/megatron_runtime.h"

namespace lcsim::wl {

std::vector<int64_t> MegatronTraining::batches_to_time() const {
  const auto& c = config_;
  std::set<int64_t> needed;
  for (const auto& phases : {c.job_phases(), c.budget_phases()}) {
    for (const auto& p : phases) {
      if (p.batch != c.global_batch_size) needed.insert(p.batch);
    }
  }
  const std::vector<int64_t> all(needed.begin(), needed.end());
  const size_t k = static_cast<size_t>(std::max(1, c.batch_schedule_timed));
  if (all.size() <= k) return all;
  // k of them evenly by rank, the smallest and (k > 1) the largest included.
  std::vector<int64_t> out;
  for (size_t i = 0; i < k; ++i) {
    const size_t at = k == 1 ? 0 : (i * (all.size() - 1) + (k - 1) / 2) / (k - 1);
    if (out.empty() || out.back() != all[at]) out.push_back(all[at]);
  }
  return out;
}

int64_t MegatronTraining::next_batch_to_time() const {
  if (config_.batch_schedule.empty()) return 0;
  for (const int64_t b : batches_to_time()) {
    if (!batch_times_.count(b) && !batch_failed_.count(b)) return b;
  }
  return 0;
}

void MegatronTraining::time_batch(int64_t batch, sim::Callback then) {
  // A copy of this workload at that batch: one training iteration, no job length, schedule, evaluation or
  // checkpoint of its own.
  auto probe = std::make_unique<MegatronTraining>();
  MegatronConfig& pc = probe->config_;
  pc = config_;
  pc.global_batch_size = static_cast<int>(batch);
  pc.train_iters = 1;
  pc.job_train_iters = 0;
  pc.job_train_samples = 0;
  pc.token_budget = 0;
  pc.rampup_batch_size.clear();
  pc.step_batch_size_schedule.clear();
  pc.batch_schedule = BatchSchedule();
  pc.eval_iters = 0;
  pc.save_interval = 0;
  ConfigValue tree;
  Diagnostics diags;
  Section none = Section::parser(&tree, "workload", &diags);
  probe->validate(ctx_->gpus, none);
  if (!diags.empty()) {  // not expected (validate() checked the schedule's micro-batch counts): interpolated instead
    batch_failed_.insert(batch);
    then();
    return;
  }
  auto ctx = std::make_unique<RunContext>(*ctx_);
  ctx->checkpoint = nullptr;
  MegatronTraining* p = probe.get();
  ctx->finished = [this, p, batch, then = std::move(then)]() mutable {
    if (p->iteration_times_.empty()) batch_failed_.insert(batch);
    else batch_times_[batch] = p->iteration_times_.front();
    then();
  };
  batch_probes_.push_back({std::move(ctx), std::move(probe)});
  p->start(*batch_probes_.back().ctx);
}

Duration MegatronTraining::batch_time(int64_t batch) const {
  const auto& c = config_;
  const Duration full = iteration_times_.empty() ? Duration() : iteration_times_.front();
  if (batch == c.global_batch_size) return full;
  if (auto t = batch_times_.find(batch); t != batch_times_.end()) return t->second;
  // Linear in the micro-batch count (proportional to the batch) between the nearest timed batches below and above,
  // the global batch the top one; below the smallest timed one, the line through it and the next.
  std::vector<std::pair<double, double>> points;
  for (const auto& [b, t] : batch_times_) points.push_back({static_cast<double>(b), t.s()});
  points.push_back({static_cast<double>(c.global_batch_size), full.s()});
  const double x = static_cast<double>(batch);
  size_t hi = 0;
  while (hi + 1 < points.size() && points[hi].first < x) ++hi;
  if (points.size() == 1) return Duration::seconds(full.s() * x / points[0].first);
  const size_t lo = hi == 0 ? 0 : hi - 1;
  const size_t up = hi == 0 ? 1 : hi;
  const auto [x0, y0] = points[lo];
  const auto [x1, y1] = points[up];
  return Duration::seconds(y0 + (y1 - y0) * (x - x0) / (x1 - x0));
}

MegatronTraining::PhaseTime MegatronTraining::phase_time(const std::vector<BatchSchedule::Phase>& phases) const {
  PhaseTime out;
  const auto& c = config_;
  for (const auto& p : phases) {
    const double n = static_cast<double>(p.iterations);
    const double t = batch_time(p.batch).s();
    out.iterations += n;
    out.samples += n * static_cast<double>(p.batch);
    out.seconds += n * t;
    if (p.batch != c.global_batch_size) {
      out.ramp_iterations += n;
      out.ramp_seconds += n * t;
      out.ramp_samples += n * static_cast<double>(p.batch);
    }
  }
  return out;
}

}  // namespace lcsim::wl
