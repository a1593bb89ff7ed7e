#include "models/failure/process.h"

#include <algorithm>

namespace lcsim::failure {

void ProcessConfig::visit(Section& s) {
  s.field("component", component, "what fails (gpu, nic, link, switch, host, software, ...): names events");
  s.field("count", count, "how many such components the cluster has", Range::at_least(1));
  s.section("time_to_failure", "distribution of the time from repair (or start) to the next failure",
            [&](Section& x) { time_to_failure.visit(x); });
  s.section("repair", "distribution of the time a failed component stays down", [&](Section& x) { repair.visit(x); });
  s.field("lemon_fraction", lemon_fraction, "share of components that fail more often", Range::between(0, 1));
  s.field("lemon_factor", lemon_factor, "how many times more often a lemon fails", Range::at_least(1));
}

FailureProcess::FailureProcess(ProcessConfig config, const RngFactory& rng)
    : config_(std::move(config)),
      rng_(rng),
      ttf_(make_distribution(config_.time_to_failure)),
      repair_(make_distribution(config_.repair)) {
  // A draw per component from its own stream: which components are lemons depends on neither the horizon nor the
  // number of components.
  lemon_.assign(static_cast<size_t>(config_.count), false);
  if (config_.lemon_fraction <= 0) return;  // no draws needed: nobody is a lemon
  for (uint32_t i = 0; i < static_cast<uint32_t>(config_.count); ++i) {
    RandomStream s = rng_.stream("failure.lemon." + config_.component, i);
    lemon_[i] = s.uniform() < config_.lemon_fraction;
  }
}

std::vector<FailureEvent> FailureProcess::events(Duration horizon) const {
  std::vector<FailureEvent> out;
  for (uint32_t i = 0; i < static_cast<uint32_t>(config_.count); ++i) {
    RandomStream s = rng_.stream("failure." + config_.component, i);
    const double speed = lemon(i) ? config_.lemon_factor : 1.0;
    Duration t;
    while (true) {
      t += ttf_->sample(s) / speed;
      if (t >= horizon) break;
      const Duration up = t + repair_->sample(s);
      out.push_back({i, t, up});
      t = up;
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const FailureEvent& a, const FailureEvent& b) {
    return a.fail_at < b.fail_at || (a.fail_at == b.fail_at && a.component < b.component);
  });
  return out;
}

double FailureProcess::long_run_rate() const {
  const double lemons = config_.count * config_.lemon_fraction, normal = config_.count - lemons;
  const double mttf = ttf_->mean().s(), mttr = repair_->mean().s();
  return normal / (mttf + mttr) + lemons / (mttf / config_.lemon_factor + mttr);
}

}  // namespace lcsim::failure
