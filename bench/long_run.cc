// bench_long_run: wall time per Monte Carlo seed of a whole training run with failures (models/failure/long_run.h):
// 16,384 GPUs on 2,048 nodes, 60 days of compute, Llama 3 failure rates and maintenance, Daly's interval, every
// recovery phase, a spare pool of 32 nodes. Prints seconds per seed on 1 thread and on all cores, and the run's
// ETTR and interruptions (docs/performance.md). Usage: bench_long_run [SEEDS] (default 8).
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>

#include "models/failure/long_run.h"
#include "policies/checkpoint_interval.h"

int main(int argc, char** argv) {
  using namespace lcsim;
  const int seeds = argc > 1 ? std::atoi(argv[1]) : 8;
  failure::LongRunSpec s;
  s.classes = failure::default_component_classes();
  s.gpus = 16384;
  s.nodes = 2048;
  s.plan.work = Duration::seconds(60 * 86400.0);
  s.plan.checkpoint_save = Duration::seconds(60);
  s.plan.restart = Duration::seconds(600);
  s.plan.spares = 32;
  s.plan.causes = s.classes.size() + 1;
  const double rate = failure::job_failure_rate(s.classes, s.gpus, s.nodes);
  s.plan.checkpoint_interval =
      policy::daly_interval({s.plan.checkpoint_save, s.plan.restart, Duration::seconds(1 / rate)});
  s.horizon = s.plan.work * 20 + Duration::seconds(30 * 86400.0);
  for (int threads : {1, 0}) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::clock_t c0 = std::clock();
    const auto runs = failure::simulate_seeds(s, seeds, threads);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    double ettr = 0, n = 0;
    for (const auto& r : runs) {
      ettr += r.ettr() / seeds;
      n += r.interruptions / static_cast<double>(seeds);
    }
    std::printf("threads=%s seeds=%d: wall %.3f s (%.3f s per seed), CPU %.3f s (%.3f s per seed); ETTR %.4f, "
                "%.1f interruptions, %.1f days\n",
                threads == 1 ? "1" : "all", seeds, sec, sec / seeds, cpu, cpu / seeds, ettr, n,
                runs.front().wall.s() / 86400);
  }
  return 0;
}
