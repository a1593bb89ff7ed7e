// Statistics for comparing alternatives over repetitions: mean and 95% confidence interval (Student t), the
// paired t-test (alternatives run with the same seeds: common random numbers) and Welch's t-test.
// The t distribution comes from the regularized incomplete beta function (continued fraction, Lentz's method).
#pragma once

#include <cstddef>
#include <vector>

namespace lcsim::sweep {

struct Summary {
  size_t n = 0;
  double mean = 0;
  double sd = 0;       // sample standard deviation (n - 1); 0 when n < 2
  double ci_half = 0;  // half-width of the 95% confidence interval of the mean; NaN when n < 2
};
Summary summarize(const std::vector<double>& xs);

/// P(T <= t) for Student's t with `df` degrees of freedom (df > 0).
double student_t_cdf(double t, double df);
/// The t with P(T <= t) = p.
double student_t_quantile(double p, double df);

struct TestResult {
  double t = 0;
  double df = 0;
  double p = 1;        // two-sided p-value; 0 when both samples have no spread and the means differ
  bool paired = false;
};
/// Paired t-test on b[i] - a[i] (same length, >= 2).
TestResult paired_t_test(const std::vector<double>& a, const std::vector<double>& b);
/// Welch's unequal-variances t-test (each sample >= 2).
TestResult welch_t_test(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace lcsim::sweep
