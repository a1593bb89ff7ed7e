#include "models/failure/fit.h"

#include <cmath>

#include "sim/error.h"

namespace lcsim::failure {
namespace {

std::vector<double> positive(const std::vector<double>& x) {
  std::vector<double> out;
  for (double v : x) {
    if (v > 0 && std::isfinite(v)) out.push_back(v);
  }
  LCSIM_ASSERT(out.size() >= 2, "a fit needs at least two positive samples");
  return out;
}

}  // namespace

DistributionConfig fit_exponential(const std::vector<double>& seconds) {
  const auto x = positive(seconds);
  double sum = 0;
  for (double v : x) sum += v;
  DistributionConfig c;
  c.dist = "exponential";
  c.mean = Duration::seconds(sum / static_cast<double>(x.size()));
  return c;
}

DistributionConfig fit_lognormal(const std::vector<double>& seconds) {
  const auto x = positive(seconds);
  const double n = static_cast<double>(x.size());
  double mu = 0;
  for (double v : x) mu += std::log(v) / n;
  double var = 0;
  for (double v : x) var += (std::log(v) - mu) * (std::log(v) - mu) / n;
  DistributionConfig c;
  c.dist = "lognormal";
  c.sigma = std::sqrt(var);
  c.mean = Duration::seconds(std::exp(mu + var / 2));
  return c;
}

DistributionConfig fit_weibull(const std::vector<double>& seconds) {
  const auto x = positive(seconds);
  const double n = static_cast<double>(x.size());
  double mean_log = 0;
  for (double v : x) mean_log += std::log(v) / n;
  // g(k) = sum(x^k ln x) / sum(x^k) - 1/k - mean(ln x) = 0; g is increasing in k. Work with x / max(x) to keep
  // x^k finite (the equation is scale-free in x).
  double top = 0;
  for (double v : x) top = std::max(top, v);
  double k = 1.0;
  for (int it = 0; it < 200; ++it) {
    double s0 = 0, s1 = 0, s2 = 0;
    for (double v : x) {
      const double l = std::log(v / top), p = std::exp(k * l);
      s0 += p;
      s1 += p * l;
      s2 += p * l * l;
    }
    const double g = s1 / s0 - 1.0 / k - (mean_log - std::log(top));
    const double dg = s2 / s0 - (s1 / s0) * (s1 / s0) + 1.0 / (k * k);
    double next = k - g / dg;
    if (next <= 0) next = k / 2;
    if (std::abs(next - k) < 1e-12 * k) {
      k = next;
      break;
    }
    k = next;
  }
  double sk = 0;
  for (double v : x) sk += std::pow(v / top, k);
  const double scale = top * std::pow(sk / n, 1.0 / k);
  DistributionConfig c;
  c.dist = "weibull";
  c.shape = k;
  c.mean = Duration::seconds(scale * std::tgamma(1.0 + 1.0 / k));
  return c;
}

}  // namespace lcsim::failure
