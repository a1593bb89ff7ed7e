#include "policies/checkpoint_interval.h"

#include <cmath>

namespace lcsim::policy {

Duration young_interval(const CheckpointCosts& c) { return Duration::seconds(std::sqrt(2 * c.save.s() * c.mtbf.s())); }

Duration daly_interval(const CheckpointCosts& c) {
  const double d = c.save.s(), m = c.mtbf.s();
  if (d >= 2 * m) return c.mtbf;
  return Duration::seconds(std::sqrt(2 * d * m) * (1 + std::sqrt(d / (2 * m)) / 3 + d / (18 * m)) - d);
}

Duration expected_wall_time(const CheckpointCosts& c, Duration interval, Duration work) {
  const double m = c.mtbf.s();
  return Duration::seconds(m * std::exp(c.restart.s() / m) * std::expm1((interval.s() + c.save.s()) / m) * work.s() /
                           interval.s());
}

Duration AdaptiveInterval::mtbf_after(int interruptions, Duration elapsed) const {
  return Duration::seconds((prior_weight * prior.mtbf.s() + elapsed.s()) / (prior_weight + interruptions));
}

Duration AdaptiveInterval::interval_after(int interruptions, Duration elapsed) const {
  CheckpointCosts c = prior;
  c.mtbf = mtbf_after(interruptions, elapsed);
  return daly_interval(c);
}

const std::vector<std::string>& checkpoint_policy_names() {
  static const std::vector<std::string> n{"young", "daly", "adaptive"};
  return n;
}

Duration checkpoint_interval(const std::string& policy, const CheckpointCosts& c, Duration fixed) {
  if (fixed > Duration()) return fixed;
  return policy == "young" ? young_interval(c) : daly_interval(c);
}

}  // namespace lcsim::policy
