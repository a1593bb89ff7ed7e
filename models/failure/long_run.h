// Long-horizon runs: a whole training job (weeks to months of compute) stepped through the interruptions its
// component failure processes draw (or a replayed trace gives), once per Monte Carlo seed. Seeds run in parallel
// threads (oneTBB); each seed's numbers depend only on the master seed and its index, so the results are the same
// for any thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "models/failure/components.h"
#include "models/failure/recovery.h"

namespace lcsim::failure {

struct LongRunSpec {
  std::vector<ComponentClass> classes;
  MaintenanceConfig maintenance;
  JobPlan plan;
  int gpus = 8, nodes = 1;
  Duration horizon;
  uint64_t seed = 1;
  /// When not empty, these interruptions (a replayed trace) instead of drawn ones; each seed shifts them
  /// cyclically by a random offset within `replay_period`.
  std::vector<Interruption> replay;
  Duration replay_period;
  /// A policy that prevents some unplanned failures (pre-flight health checks), from two uniform draws per
  /// failure (stream `failure.prevention`, drawn whether or not a policy is set); empty = none prevented.
  std::function<bool(double, double)> prevents;
  /// A failure predictor (policies/failure_prediction.h): whether an unplanned failure is announced in time, from
  /// one uniform draw per failure (stream `failure.prediction`, only when set), and its false alarms per second
  /// (a Poisson process, stream `failure.false_alarms`).
  std::function<bool(double)> predicts;
  double false_alarm_rate = 0;
  /// Straggling nodes (Interruption::slow_factor): episodes per second for the whole job (a Poisson process,
  /// stream `failure.stragglers`, only when > 0), each making every step `slow_factor` x slower for
  /// `slow_duration`.
  double slow_rate = 0;
  double slow_factor = 1;
  Duration slow_duration;
};

/// One seed: its interruptions drawn from `failure.*` streams of RngFactory(seed, index), then the job stepped.
JobOutcome simulate_seed(const LongRunSpec& spec, int index);
/// Seeds 0..n-1 on `threads` threads (0 = oneTBB's default); outcome i is seed i's whatever the thread count.
std::vector<JobOutcome> simulate_seeds(const LongRunSpec& spec, int n, int threads);

/// Mean and 95% confidence half-width (normal approximation) of a sample.
struct MeanCi {
  double mean = 0, ci95 = 0;
};
MeanCi mean_ci(const std::vector<double>& x);

}  // namespace lcsim::failure
