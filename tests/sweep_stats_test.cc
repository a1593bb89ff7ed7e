// Statistics behind lcsim compare: the t distribution against published table values, confidence intervals,
// the paired and Welch tests against hand-computed cases, and the verdicts of a comparison.
#include <gtest/gtest.h>

#include <cmath>

#include "sweep/compare.h"
#include "sweep/stats.h"

namespace lcsim::sweep {
namespace {

TEST(SweepStats, StudentTMatchesTableValues) {
  // Two-sided 95% critical values of Student's t (any statistics table): df 1, 4, 10, 30.
  EXPECT_NEAR(student_t_quantile(0.975, 1), 12.706, 1e-3);
  EXPECT_NEAR(student_t_quantile(0.975, 4), 2.776, 1e-3);
  EXPECT_NEAR(student_t_quantile(0.975, 10), 2.228, 1e-3);
  EXPECT_NEAR(student_t_quantile(0.975, 30), 2.042, 1e-3);
  EXPECT_NEAR(student_t_cdf(0, 7), 0.5, 1e-12);
  EXPECT_NEAR(student_t_cdf(2.228, 10), 0.975, 1e-4);
  EXPECT_NEAR(student_t_cdf(-2.228, 10), 0.025, 1e-4);
  // df 1 is the Cauchy distribution: P(T <= 1) = 3/4.
  EXPECT_NEAR(student_t_cdf(1, 1), 0.75, 1e-10);
}

TEST(SweepStats, SummaryAndInterval) {
  const Summary s = summarize({2, 4, 4, 4, 5, 5, 7, 9});
  EXPECT_EQ(s.n, 8u);
  EXPECT_DOUBLE_EQ(s.mean, 5);
  EXPECT_NEAR(s.sd, std::sqrt(32.0 / 7), 1e-12);
  EXPECT_NEAR(s.ci_half, 2.365 * std::sqrt(32.0 / 7) / std::sqrt(8.0), 1e-3);  // t(0.975, 7) = 2.365
  const Summary one = summarize({3});
  EXPECT_EQ(one.mean, 3);
  EXPECT_TRUE(std::isnan(one.ci_half));
}

TEST(SweepStats, PairedAndWelchTests) {
  // Paired: differences 1, 2, 3 -> mean 2, sd 1, t = 2 / (1 / sqrt 3) = 3.464 on 2 df, p = 0.0742.
  const TestResult p = paired_t_test({10, 20, 30}, {11, 22, 33});
  EXPECT_NEAR(p.t, 3.4641, 1e-4);
  EXPECT_EQ(p.df, 2);
  EXPECT_NEAR(p.p, 0.0742, 1e-3);
  // Welch: a = 1..5 (mean 3, var 2.5), b = 3..7 (mean 5, var 2.5): t = 2 / sqrt(1) = 2, df = 8, p = 0.0805.
  const TestResult w = welch_t_test({1, 2, 3, 4, 5}, {3, 4, 5, 6, 7});
  EXPECT_NEAR(w.t, 2, 1e-12);
  EXPECT_NEAR(w.df, 8, 1e-9);
  EXPECT_NEAR(w.p, 0.0805, 1e-3);
  // No spread at all and different means: certain.
  EXPECT_EQ(paired_t_test({1, 1}, {2, 2}).p, 0);
}

PointRecord row(int64_t id, const std::string& alt, int rep, double time, double tput) {
  PointRecord r;
  r.id = id;
  r.alternative = alt;
  r.repetition = rep;
  r.status = "completed";
  r.metrics = {{"iteration_time_s", time}, {"tokens_per_s", tput}, {"gpus", 8}};
  return r;
}

TEST(SweepCompare, VerdictsFollowTheMetricsDirectionAndSignificance) {
  // B is slower in every repetition by about 10% (paired: clearly significant) and its throughput differs only
  // by noise that changes sign (not significant).
  std::vector<PointRecord> rows = {row(0, "A", 0, 1.00, 100), row(1, "A", 1, 1.10, 103), row(2, "A", 2, 0.95, 98),
                                   row(3, "B", 0, 1.10, 102), row(4, "B", 1, 1.21, 101), row(5, "B", 2, 1.04, 99)};
  const auto cs = compare_rows(rows);
  ASSERT_EQ(cs.size(), 1u);
  const Comparison& c = cs[0];
  EXPECT_EQ(c.alternatives, (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(c.repetitions, 3);
  ASSERT_EQ(c.metrics.size(), 3u);
  EXPECT_EQ(c.metrics[0].metric, "iteration_time_s");
  EXPECT_NEAR(c.metrics[0].delta[0], 0.1, 1e-12);
  EXPECT_NEAR(c.metrics[0].relative[0], 0.1 / (3.05 / 3), 1e-9);
  EXPECT_EQ(c.metrics[0].verdict[0].rfind("worse (p=", 0), 0u) << c.metrics[0].verdict[0];
  EXPECT_EQ(c.metrics[1].verdict[0].rfind("not significant", 0), 0u) << c.metrics[1].verdict[0];
  EXPECT_EQ(c.metrics[2].verdict[0], "same");
  const std::string table = format_comparison(c, false);
  EXPECT_NE(table.find("iteration_time_s"), std::string::npos) << table;
  EXPECT_EQ(table.find("gpus"), std::string::npos) << table;  // equal everywhere: hidden unless --all
  EXPECT_NE(format_comparison(c, true).find("gpus"), std::string::npos);
}

TEST(SweepCompare, DirectionOfMetrics) {
  EXPECT_EQ(better_direction("tokens_per_s"), +1);
  EXPECT_EQ(better_direction("mfu"), +1);
  EXPECT_EQ(better_direction("iteration_time_s"), -1);
  EXPECT_EQ(better_direction("cost_usd"), -1);
  EXPECT_EQ(better_direction("gpus"), 0);
}

}  // namespace
}  // namespace lcsim::sweep
