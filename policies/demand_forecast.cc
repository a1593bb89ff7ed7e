// See demand_forecast.h.
#include "policies/demand_forecast.h"

#include <algorithm>
#include <cmath>

#include "sim/error.h"

namespace lcsim::policy {

SeasonalForecaster::SeasonalForecaster(const Config& config) : c_(config) {
  LCSIM_ASSERT(c_.bin_s > 0 && c_.period_s >= c_.bin_s && c_.alpha > 0 && c_.alpha <= 1,
               "forecaster: bin_s > 0, period_s >= bin_s and 0 < alpha <= 1");
  const size_t bins = static_cast<size_t>(std::llround(c_.period_s / c_.bin_s));
  level_.assign(std::max<size_t>(bins, 1), 0);
  seen_.assign(level_.size(), false);
}

size_t SeasonalForecaster::bin_of(double t_s) const {
  const double in_period = std::fmod(std::max(0.0, t_s - start_s_), c_.period_s);
  return std::min(level_.size() - 1, static_cast<size_t>(in_period / c_.bin_s));
}

double SeasonalForecaster::forecast(double t_s) const {
  const size_t b = bin_of(t_s);
  if (seen_[b]) return level_[b];
  return total_time_ > 0 ? total_integral_ / total_time_ : last_value_;
}

double SeasonalForecaster::forecast_max(double from_s, double to_s) const {
  double best = forecast(from_s);
  for (double t = (std::floor((from_s - start_s_) / c_.bin_s) + 1) * c_.bin_s + start_s_; t <= to_s; t += c_.bin_s) {
    best = std::max(best, forecast(t));
  }
  return best;
}

void SeasonalForecaster::close_bins_until(double t_s) {
  while (t_s >= bin_start_s_ + c_.bin_s) {
    const double end = bin_start_s_ + c_.bin_s;
    integral_ += last_value_ * (end - last_t_s_);
    total_integral_ += last_value_ * (end - last_t_s_);
    total_time_ += end - last_t_s_;
    last_t_s_ = end;
    const double mean = integral_ / c_.bin_s;
    const size_t b = bin_of(bin_start_s_);
    // Scored once a full period has passed: the forecast was then a seasonal one (or the mean, for a bin with
    // no history yet).
    if (bin_start_s_ - start_s_ >= c_.period_s) {
      ++scored_;
      abs_err_ += std::fabs(next_forecast_ - mean);
      actual_sum_ += mean;
    }
    level_[b] = seen_[b] ? level_[b] + c_.alpha * (mean - level_[b]) : mean;
    seen_[b] = true;
    integral_ = 0;
    bin_start_s_ = end;
    next_forecast_ = forecast(bin_start_s_);
  }
}

void SeasonalForecaster::observe(double t_s, double value) {
  if (!started_) {
    started_ = true;
    start_s_ = bin_start_s_ = last_t_s_ = t_s;
    last_value_ = value;
    next_forecast_ = value;
    return;
  }
  LCSIM_ASSERT(t_s >= last_t_s_, "forecaster: observations must come in time order");
  close_bins_until(t_s);
  integral_ += last_value_ * (t_s - last_t_s_);
  total_integral_ += last_value_ * (t_s - last_t_s_);
  total_time_ += t_s - last_t_s_;
  last_t_s_ = t_s;
  last_value_ = value;
}

SeasonalForecaster::Error SeasonalForecaster::error() const {
  Error e;
  e.bins = scored_;
  if (scored_ == 0) return e;
  e.mae = abs_err_ / static_cast<double>(scored_);
  e.mean_actual = actual_sum_ / static_cast<double>(scored_);
  e.mape = e.mean_actual > 0 ? e.mae / e.mean_actual : 0;
  return e;
}

double gpu_demand(const ClusterSnapshot& s) {
  double d = 0;
  for (const auto& r : s.running) d += r.gpus;
  for (const auto& p : s.pending) d += p.gpus;
  return d;
}

PowerScaling::PowerScaling(const PowerScalingConfig& config) : c_(config), forecaster_(config.forecaster) {}

std::vector<uint32_t> PowerScaling::target_nodes(const ClusterSnapshot& s) {
  const double now = gpu_demand(s);
  forecaster_.observe(s.now_s, now);
  double want = now;
  if (c_.forecast) want = std::max(want, forecaster_.forecast_max(s.now_s, s.now_s + c_.lookahead_s));
  want *= 1.0 + c_.headroom;
  // Linger: a rise takes effect at once; a fall only after the target has not been needed for linger_s.
  if (want >= held_target_ || s.now_s - high_since_s_ >= c_.linger_s) {
    held_target_ = want;
    high_since_s_ = s.now_s;
  }
  // Whole nodes, pool by pool in order; GPUs of a job pinned to a pool are not steered here (the scheduling
  // policy places them; a pool it needs is powered because the target spills over every pool in turn).
  std::vector<uint32_t> per_pool_nodes(s.pools.size(), 0), target(s.pools.size(), 0);
  std::vector<uint32_t> per_pool_gpus(s.pools.size(), 0);
  for (const auto& n : s.nodes) {
    ++per_pool_nodes[n.pool];
    per_pool_gpus[n.pool] = std::max(per_pool_gpus[n.pool], n.gpus);
  }
  double left = std::ceil(held_target_ - 1e-9);
  // GPUs already held by running jobs keep their nodes powered: the simulator never switches a busy node off.
  for (uint32_t p = 0; p < s.pools.size() && left > 0; ++p) {
    if (per_pool_gpus[p] == 0) continue;
    const double nodes = std::min<double>(per_pool_nodes[p], std::ceil(left / per_pool_gpus[p]));
    target[p] = static_cast<uint32_t>(nodes);
    left -= nodes * per_pool_gpus[p];
  }
  return target;
}

void register_power_policies(Registry<PowerPolicyFactory>& r) {
  r.add("reactive", "nodes powered for the GPU demand now (+10%); idle nodes off after 15 min; every rise waits "
                    "for a boot", [] {
          PowerScalingConfig c;
          c.forecast = false;
          return std::make_unique<PowerScaling>(c);
        });
  r.add("forecast", "like reactive, but powered ahead for the largest hourly-seasonal forecast of the next 30 min",
        [] { return std::make_unique<PowerScaling>(PowerScalingConfig{}); });
}

}  // namespace lcsim::policy
