#include "models/failure/distribution.h"

#include <cmath>

#include <limits>

#include "sim/error.h"
#include "sim/registry.h"

namespace lcsim::failure {
namespace {

/// Uniform in (0, 1): never 0, so that logarithms stay finite.
double open_uniform(RandomStream& rng) {
  double u = rng.uniform();
  while (u <= 0.0) u = rng.uniform();
  return u;
}

class Exponential final : public Distribution {
 public:
  explicit Exponential(Duration mean) : mean_(mean) {}
  Duration sample(RandomStream& rng) const override {
    return Duration::seconds(-mean_.s() * std::log(open_uniform(rng)));
  }
  Duration mean() const override { return mean_; }
  double cdf(Duration t) const override { return t.s() <= 0 ? 0.0 : 1.0 - std::exp(-t.s() / mean_.s()); }
  std::string describe() const override { return "exponential, mean " + to_string(mean_); }

 private:
  Duration mean_;
};

/// Weibull with shape k and the scale that gives the configured mean: scale = mean / Gamma(1 + 1/k).
class Weibull final : public Distribution {
 public:
  Weibull(Duration mean, double shape) : mean_(mean), k_(shape), scale_(mean.s() / std::tgamma(1.0 + 1.0 / shape)) {}
  Duration sample(RandomStream& rng) const override {
    return Duration::seconds(scale_ * std::pow(-std::log(open_uniform(rng)), 1.0 / k_));
  }
  Duration mean() const override { return mean_; }
  double cdf(Duration t) const override { return t.s() <= 0 ? 0.0 : 1.0 - std::exp(-std::pow(t.s() / scale_, k_)); }
  std::string describe() const override {
    return "weibull, shape " + std::to_string(k_).substr(0, 5) + ", mean " + to_string(mean_);
  }

 private:
  Duration mean_;
  double k_, scale_;
};

/// Lognormal with log-sd sigma and the mu that gives the configured mean: mu = ln(mean) - sigma^2 / 2.
class LogNormal final : public Distribution {
 public:
  LogNormal(Duration mean, double sigma) : mean_(mean), sigma_(sigma), mu_(std::log(mean.s()) - sigma * sigma / 2) {}
  Duration sample(RandomStream& rng) const override {
    // Box-Muller from two uniforms: fully specified, unlike std::normal_distribution.
    const double z = std::sqrt(-2.0 * std::log(open_uniform(rng))) * std::cos(2.0 * M_PI * rng.uniform());
    return Duration::seconds(std::exp(mu_ + sigma_ * z));
  }
  Duration mean() const override { return mean_; }
  double cdf(Duration t) const override {
    return t.s() <= 0 ? 0.0 : 0.5 * std::erfc(-(std::log(t.s()) - mu_) / (sigma_ * std::sqrt(2.0)));
  }
  std::string describe() const override {
    return "lognormal, sigma " + std::to_string(sigma_).substr(0, 5) + ", mean " + to_string(mean_);
  }

 private:
  Duration mean_;
  double sigma_, mu_;
};

class Fixed final : public Distribution {
 public:
  explicit Fixed(Duration v) : v_(v) {}
  Duration sample(RandomStream&) const override { return v_; }
  Duration mean() const override { return v_; }
  double cdf(Duration t) const override { return t.s() >= v_.s() ? 1.0 : 0.0; }
  std::string describe() const override { return "fixed " + to_string(v_); }

 private:
  Duration v_;
};

using Factory = std::unique_ptr<Distribution> (*)(const DistributionConfig&);

const Registry<Factory>& registry() {
  static const Registry<Factory> r = [] {
    Registry<Factory> out("distribution");
    out.add("exponential", "memoryless: a constant failure rate 1/mean (the usual MTBF model)",
            [](const DistributionConfig& c) -> std::unique_ptr<Distribution> { return std::make_unique<Exponential>(c.mean); });
    out.add("weibull", "shape k: < 1 infant mortality (rate falls with age), 1 exponential, > 1 wear-out",
            [](const DistributionConfig& c) -> std::unique_ptr<Distribution> {
              return std::make_unique<Weibull>(c.mean, c.shape);
            });
    out.add("lognormal", "heavy right tail, typical of repair times (sigma: sd of ln time)",
            [](const DistributionConfig& c) -> std::unique_ptr<Distribution> {
              return std::make_unique<LogNormal>(c.mean, c.sigma);
            });
    out.add("fixed", "always the mean (planned maintenance, scripted restarts)",
            [](const DistributionConfig& c) -> std::unique_ptr<Distribution> { return std::make_unique<Fixed>(c.mean); });
    return out;
  }();
  return r;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> distribution_names() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [n, e] : registry().entries()) out.push_back({n, e.description});
  return out;
}

std::vector<std::string> distribution_names_only() { return registry().names(); }

void DistributionConfig::visit(Section& s) {
  s.choice("dist", dist, registry().names(), "distribution of the times");
  s.field("mean", mean, "mean time", Range{0.0, std::numeric_limits<double>::infinity(), true});
  s.field("shape", shape, "weibull shape k", Range{0.05, 20.0, false});
  s.field("sigma", sigma, "lognormal: standard deviation of ln(time)", Range{0.01, 5.0, false});
}

std::unique_ptr<Distribution> make_distribution(const DistributionConfig& c) { return registry().get(c.dist).factory(c); }

}  // namespace lcsim::failure
