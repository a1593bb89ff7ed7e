// See stats.h. The incomplete beta function follows the continued fraction of Abramowitz & Stegun 26.5.8,
// evaluated with the modified Lentz algorithm.
#include "sweep/stats.h"

#include <cmath>
#include <limits>

namespace lcsim::sweep {

namespace {

double beta_cf(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  constexpr double kEps = 1e-15;
  double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 500; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1.0) < kEps) break;
  }
  return h;
}

/// Regularized incomplete beta I_x(a, b).
double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double front =
      std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return front * beta_cf(a, b, x) / a;
  return 1.0 - front * beta_cf(b, a, 1 - x) / b;
}

TestResult finish(double diff, double se, double df, bool paired) {
  TestResult r;
  r.df = df;
  r.paired = paired;
  if (se == 0) {
    r.t = diff == 0 ? 0 : std::copysign(std::numeric_limits<double>::infinity(), diff);
    r.p = diff == 0 ? 1 : 0;
    return r;
  }
  r.t = diff / se;
  r.p = 2 * (1 - student_t_cdf(std::fabs(r.t), df));
  return r;
}

}  // namespace

Summary summarize(const std::vector<double>& xs) {
  Summary s;
  s.n = xs.size();
  s.ci_half = std::nan("");
  if (xs.empty()) {
    s.mean = std::nan("");
    return s;
  }
  double sum = 0;
  for (double x : xs) sum += x;
  s.mean = sum / static_cast<double>(s.n);
  if (s.n < 2) return s;
  double ss = 0;
  for (double x : xs) ss += (x - s.mean) * (x - s.mean);
  s.sd = std::sqrt(ss / static_cast<double>(s.n - 1));
  s.ci_half = student_t_quantile(0.975, static_cast<double>(s.n - 1)) * s.sd / std::sqrt(static_cast<double>(s.n));
  return s;
}

double student_t_cdf(double t, double df) {
  const double x = df / (df + t * t);
  const double tail = 0.5 * incomplete_beta(df / 2, 0.5, x);
  return t >= 0 ? 1 - tail : tail;
}

double student_t_quantile(double p, double df) {
  double lo = -1e6, hi = 1e6;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (student_t_cdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

TestResult paired_t_test(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> d;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) d.push_back(b[i] - a[i]);
  const Summary s = summarize(d);
  return finish(s.mean, s.sd / std::sqrt(static_cast<double>(s.n)), static_cast<double>(s.n - 1), true);
}

TestResult welch_t_test(const std::vector<double>& a, const std::vector<double>& b) {
  const Summary x = summarize(a), y = summarize(b);
  const double va = x.sd * x.sd / static_cast<double>(x.n), vb = y.sd * y.sd / static_cast<double>(y.n);
  const double se = std::sqrt(va + vb);
  double df = 1;
  if (va + vb > 0) {
    df = (va + vb) * (va + vb) /
         (va * va / static_cast<double>(x.n - 1) + vb * vb / static_cast<double>(y.n - 1));
  }
  return finish(y.mean - x.mean, se, df, false);
}

}  // namespace lcsim::sweep
