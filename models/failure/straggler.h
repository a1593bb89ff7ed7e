// Stragglers in synchronous training: every step waits for the slowest of N workers, so per-worker jitter costs
// E[max of N] - mean. Worker step times are 1 + cv z (z standard normal, drawn by lcsim's own Box-Muller), with cv
// fitted from measured per-worker mini-batch times (Alibaba PAI 2020 trace, data/calibration/
// alibaba_pai2020_minibatch/); a slow node is a worker whose mean is `slow_factor` x the others'. Assumption: the
// workers' jitter is independent from step to step and across workers.
#pragma once

#include <cstdint>
#include <string>

namespace lcsim::failure {

/// What a per-worker step-time file shows: the across-worker coefficient of variation per step (mean over the
/// steps) and the slowest worker's time over the mean worker's (mean over the steps).
struct WorkerSpread {
  int workers = 0;
  int steps = 0;
  double cv = 0;             // mean over steps of sd / mean across workers
  double max_over_mean = 1;  // mean over steps of max / mean across workers
};

/// Reads the PAI mini-batch format (`,worker,gpu,time,batch_time_norm`: one row per worker and step). Bad rows are
/// InputErrors at their file:line; steps missing a worker are skipped.
WorkerSpread load_worker_spread(const std::string& path);

/// E[max over n workers of step time] / the mean worker's, by Monte Carlo over `samples` steps (seeded); one
/// worker `slow_factor` times slower when it is > 1 (a straggling node).
double sync_step_slowdown(double cv, int n, double slow_factor, int samples, uint64_t seed);

}  // namespace lcsim::failure
