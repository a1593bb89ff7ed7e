#include "models/hardware/power_limit.h"

#include <cmath>

namespace lcsim::hw {

void DvfsPowerCurve::Config::visit(Section& s) {
  s.field("linear_share", linear_share,
          "share of the power at TDP that scales linearly with the clock (dynamic power at a fixed voltage); the "
          "rest scales as clock^exponent (docs/calibration.md, \"Power limits\")",
          Range::between(0, 1));
  s.field("exponent", exponent, "exponent of the steep term: how fast power rises with clock above the voltage knee",
          Range::between(1, 50));
}

double DvfsPowerCurve::power_fraction(double x) const {
  return config_.linear_share * x + (1 - config_.linear_share) * std::pow(x, config_.exponent);
}

double DvfsPowerCurve::clock_fraction(double p) const {
  if (p >= 1) return 1.0;
  if (p <= 0) return 0.0;
  // power_fraction rises monotonically from 0 at x = 0 to 1 at x = 1.
  double lo = 0, hi = 1;
  for (int i = 0; i < 60; ++i) {
    const double mid = 0.5 * (lo + hi);
    (power_fraction(mid) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace lcsim::hw
