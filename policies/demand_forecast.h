// Demand forecasting and pool power scaling (issue 16, item 3). A forecaster learns the cluster's GPU demand
// (GPUs held by running jobs plus GPUs asked for by waiting ones) by time of day from the trace's own history,
// and a power policy uses it to keep just enough nodes of each pool powered, switching nodes on ahead of a
// forecast rise because a node takes a start-up delay to boot. Like the scheduling policies, these read only the
// ClusterSnapshot; the simulator (workloads/cluster/) owns the nodes' power states and the boot delay.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "policies/scheduling.h"
#include "sim/registry.h"

namespace lcsim::policy {

/// Seasonal exponential smoothing of a piecewise-constant signal, one level per bin of the period (Holt-Winters
/// with a seasonal component only, no trend): when bin b of a period closes with mean demand x, its level moves
/// S[b] <- S[b] + alpha (x - S[b]) (the first time: S[b] = x). A bin never seen yet is forecast by the mean of
/// everything observed so far. Forecast errors are scored per closed bin against the forecast made before it
/// opened, once at least one full period has been seen (before that the forecast is the running mean).
class SeasonalForecaster {
 public:
  struct Config {
    double period_s = 86400;  // one day: the diurnal cycle of job arrivals
    double bin_s = 3600;      // hourly bins
    double alpha = 0.3;       // smoothing weight of the newest period
  };
  explicit SeasonalForecaster(const Config& config);

  /// The signal is `value` from `t_s` on (until the next call). Calls must come in non-decreasing time.
  void observe(double t_s, double value);
  /// The forecast mean of the bin that contains `t_s` (any future time; the bin's level by time of day).
  double forecast(double t_s) const;
  /// The largest bin forecast over [from_s, to_s].
  double forecast_max(double from_s, double to_s) const;

  struct Error {
    size_t bins = 0;     // closed bins scored (after the first full period)
    double mae = 0;      // mean absolute error, in the signal's unit (GPUs)
    double mape = 0;     // mean absolute error / mean actual
    double mean_actual = 0;
  };
  Error error() const;

 private:
  void close_bins_until(double t_s);
  size_t bin_of(double t_s) const;

  Config c_;
  std::vector<double> level_;
  std::vector<bool> seen_;
  double start_s_ = 0, bin_start_s_ = 0, last_t_s_ = 0, last_value_ = 0, integral_ = 0;
  bool started_ = false;
  double total_integral_ = 0, total_time_ = 0;
  double next_forecast_ = 0;  // the forecast of the open bin, made when it opened
  size_t scored_ = 0;
  double abs_err_ = 0, actual_sum_ = 0;
};

/// Decides how many nodes of each pool to keep powered (on or booting). The simulator switches nodes on (they
/// take its start-up delay) or off (only idle nodes, highest index first) to meet the targets.
class PowerPolicy {
 public:
  virtual ~PowerPolicy() = default;
  /// Called after every scheduling pass (and on the simulator's periodic ticks). One entry per pool.
  virtual std::vector<uint32_t> target_nodes(const ClusterSnapshot& snapshot) = 0;
  /// The demand forecaster's score, where the policy has one.
  virtual SeasonalForecaster::Error forecast_error() const { return {}; }
};

struct PowerScalingConfig {
  bool forecast = true;        // false: reactive (the demand now only)
  double lookahead_s = 1800;   // forecast: cover the largest forecast bin from now to now + lookahead (> boot time)
  double headroom = 0.1;       // keep this share above the target, for arrivals the forecast misses
  double linger_s = 900;       // a target falls only after the demand stayed below it this long (Slurm: SuspendTime)
  SeasonalForecaster::Config forecaster;
};

/// Demand now = GPUs held by running jobs + GPUs of waiting jobs. Reactive: the target covers the demand now
/// (plus headroom), so every rise waits for a boot. Forecast: the target covers max(demand now, the largest
/// forecast bin over the lookahead) plus headroom, so nodes are on before the load arrives. Pools are filled in
/// their order (as the scheduling policies take them), each node counted whole.
class PowerScaling final : public PowerPolicy {
 public:
  explicit PowerScaling(const PowerScalingConfig& config);
  std::vector<uint32_t> target_nodes(const ClusterSnapshot& snapshot) override;
  SeasonalForecaster::Error forecast_error() const override { return forecaster_.error(); }

 private:
  PowerScalingConfig c_;
  SeasonalForecaster forecaster_;
  double high_since_s_ = 0;   // linger: when the held target was last reached or raised
  double held_target_ = 0;
};

/// GPUs held by running jobs plus GPUs asked for by pending ones.
double gpu_demand(const ClusterSnapshot& snapshot);

using PowerPolicyFactory = std::function<std::unique_ptr<PowerPolicy>()>;
/// reactive, forecast (always-on is the simulator without a power policy).
void register_power_policies(Registry<PowerPolicyFactory>& r);

}  // namespace lcsim::policy
