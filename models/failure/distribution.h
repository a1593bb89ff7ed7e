// Time distributions for failure processes: times to failure and repair times. Each is a small class behind one
// interface, configured by a `{dist: NAME, mean: DURATION, ...}` mapping and registered by name; all sample from
// lcsim's seeded streams (sim/rng.h) by inversion, so the same seed gives the same times with every standard library.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sim/config.h"
#include "sim/rng.h"
#include "sim/units.h"

namespace lcsim::failure {

/// What a distribution is configured with (one struct for every kind; each kind reads what it needs).
struct DistributionConfig {
  std::string dist = "exponential";  // a registered name: exponential, weibull, lognormal, fixed
  Duration mean = Duration::seconds(3600);
  double shape = 1.0;  // weibull: k (< 1: early failures dominate; 1: exponential; > 1: wear-out)
  double sigma = 1.0;  // lognormal: standard deviation of ln(time)
  void visit(Section& s);
};

class Distribution {
 public:
  virtual ~Distribution() = default;
  virtual Duration sample(RandomStream& rng) const = 0;
  virtual Duration mean() const = 0;
  /// P(T <= t).
  virtual double cdf(Duration t) const = 0;
  virtual std::string describe() const = 0;
};

/// The distribution a config describes; the config must have been parsed (its values checked).
std::unique_ptr<Distribution> make_distribution(const DistributionConfig& c);
/// Registered names with a line each (lcsim list).
std::vector<std::pair<std::string, std::string>> distribution_names();
/// Just the registered names.
std::vector<std::string> distribution_names_only();

}  // namespace lcsim::failure
