#include "models/failure/long_run.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

namespace lcsim::failure {

JobOutcome simulate_seed(const LongRunSpec& spec, int index) {
  const RngFactory rng(mix64(spec.seed ^ hash_name("reliability")) ^ static_cast<uint64_t>(index));
  std::vector<Interruption> events;
  if (spec.replay.empty()) {
    events = draw_interruptions(spec.classes, spec.maintenance, spec.gpus, spec.nodes, spec.horizon, rng);
  } else {
    // The trace as it is, started at a random point of its period and wrapped around until the horizon.
    RandomStream s = rng.stream("failure.replay_offset");
    const Duration period = spec.replay_period;
    const Duration offset = period * s.uniform();
    for (Duration base = Duration() - offset; base < spec.horizon; base += period) {
      for (const Interruption& e : spec.replay) {
        const Duration at = base + e.at;
        if (at < Duration() || at >= spec.horizon) continue;
        Interruption x = e;
        x.at = at;
        events.push_back(x);
      }
      if (period <= Duration()) break;
    }
    std::stable_sort(events.begin(), events.end(),
                     [](const Interruption& a, const Interruption& b) { return a.at < b.at; });
  }
  if (spec.prevents) {
    RandomStream p = rng.stream("failure.prevention");
    for (Interruption& e : events) {
      if (e.planned) continue;
      const double latent = p.uniform(), found = p.uniform();
      e.prevented = spec.prevents(latent, found);
    }
  }
  if (spec.predicts) {
    RandomStream p = rng.stream("failure.prediction");
    for (Interruption& e : events) {
      if (!e.planned) e.predicted = spec.predicts(p.uniform());
    }
  }
  if (spec.false_alarm_rate > 0) {
    RandomStream a = rng.stream("failure.false_alarms");
    const double mean = 1.0 / spec.false_alarm_rate;
    auto gap = [&a, mean] { return Duration::seconds(-mean * std::log1p(-a.uniform())); };
    std::vector<Interruption> alarms;
    for (Duration at = gap(); at < spec.horizon; at += gap()) {
      Interruption x;
      x.at = at;
      x.false_alarm = true;
      x.cause = static_cast<uint16_t>(spec.classes.size());
      alarms.push_back(x);
    }
    std::vector<Interruption> merged;
    merged.reserve(events.size() + alarms.size());
    std::merge(events.begin(), events.end(), alarms.begin(), alarms.end(), std::back_inserter(merged),
               [](const Interruption& x, const Interruption& y) { return x.at < y.at; });
    events = std::move(merged);
  }
  if (spec.slow_rate > 0 && spec.slow_factor > 1) {  // straggling nodes: episodes, not failures
    RandomStream a = rng.stream("failure.stragglers");
    const double mean = 1.0 / spec.slow_rate;
    auto gap = [&a, mean] { return Duration::seconds(-mean * std::log1p(-a.uniform())); };
    std::vector<Interruption> slow;
    for (Duration at = gap(); at < spec.horizon; at += gap()) {
      Interruption x;
      x.at = at;
      x.slow_factor = spec.slow_factor;
      x.repair = spec.slow_duration;
      x.cause = static_cast<uint16_t>(spec.classes.size());
      slow.push_back(x);
    }
    std::vector<Interruption> merged;
    merged.reserve(events.size() + slow.size());
    std::merge(events.begin(), events.end(), slow.begin(), slow.end(), std::back_inserter(merged),
               [](const Interruption& x, const Interruption& y) { return x.at < y.at; });
    events = std::move(merged);
  }
  RandomStream diag = rng.stream("failure.diagnosis");
  return run_job(spec.plan, events, diag, spec.horizon);
}

std::vector<JobOutcome> simulate_seeds(const LongRunSpec& spec, int n, int threads) {
  std::vector<JobOutcome> out(static_cast<size_t>(std::max(0, n)));
  tbb::task_arena arena(threads > 0 ? threads : tbb::task_arena::automatic);
  arena.execute([&] {
    tbb::parallel_for(0, n, [&](int i) { out[static_cast<size_t>(i)] = simulate_seed(spec, i); });
  });
  return out;
}

MeanCi mean_ci(const std::vector<double>& x) {
  MeanCi r;
  if (x.empty()) return r;
  const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
  if (*lo == *hi) return {*lo, 0.0};  // every seed the same (no failures): exactly that, no spread
  const double n = static_cast<double>(x.size());
  double sum = 0;
  for (double v : x) sum += v;
  r.mean = sum / n;
  double ss = 0;
  for (double v : x) ss += (v - r.mean) * (v - r.mean);
  r.ci95 = 1.96 * std::sqrt(ss / (n - 1) / n);
  return r;
}

}  // namespace lcsim::failure
