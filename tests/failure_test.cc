// Failure processes, fault traces, fits and checkpoint-interval policies: rates and repair times match the configured
// ones (statistical checks with fixed seeds and tolerances derived from the sampling error), the real trace loads
// with its published totals, bad traces are file:line errors, and Young/Daly sit at the optimum of Daly's model.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "models/failure/distribution.h"
#include "models/failure/fault_trace.h"
#include "models/failure/fit.h"
#include "models/failure/goodput.h"
#include "models/failure/process.h"
#include "policies/checkpoint_interval.h"
#include "sim/error.h"

namespace lcsim::failure {
namespace {

DistributionConfig dist(const std::string& name, Duration mean, double shape = 1, double sigma = 1) {
  DistributionConfig c;
  c.dist = name;
  c.mean = mean;
  c.shape = shape;
  c.sigma = sigma;
  return c;
}

std::vector<double> draw(const DistributionConfig& c, size_t n, uint64_t seed) {
  const auto d = make_distribution(c);
  RandomStream s(seed);
  std::vector<double> out;
  for (size_t i = 0; i < n; ++i) out.push_back(d->sample(s).s());
  return out;
}

TEST(Failure, ProcessRateAndRepairTimesMatchTheConfiguredOnes) {
  ProcessConfig c;
  c.component = "gpu";
  c.count = 1000;
  c.time_to_failure = dist("exponential", Duration::seconds(100 * 3600.0));
  c.repair = dist("lognormal", Duration::seconds(2 * 3600.0), 1, 0.8);
  const RngFactory rng(7);
  FailureProcess p(c, rng);
  const Duration horizon = Duration::seconds(10000 * 3600.0);
  const auto ev = p.events(horizon);
  // A renewal process of cycle mean mu = MTTF + MTTR: about horizon / mu failures per component; Poisson-like
  // spread (5 sd), plus at most one event per component for the start-up and end effects.
  const double expected = p.long_run_rate() * horizon.s();
  EXPECT_NEAR(static_cast<double>(ev.size()), expected, 5 * std::sqrt(expected) + c.count);
  // Repair times: mean within 5 standard errors; lognormal sd = mean x sqrt(e^{sigma^2} - 1).
  double sum = 0;
  for (const auto& e : ev) sum += (e.repaired_at - e.fail_at).s();
  const double n = static_cast<double>(ev.size()), sd = 7200 * std::sqrt(std::exp(0.64) - 1);
  EXPECT_NEAR(sum / n, 7200, 5 * sd / std::sqrt(n));
  // In time order, never overlapping per component.
  for (size_t i = 1; i < ev.size(); ++i) EXPECT_LE(ev[i - 1].fail_at, ev[i].fail_at);
}

TEST(Failure, EachComponentHasItsOwnStreamAndTheSameSeedGivesTheSameEvents) {
  ProcessConfig c;
  c.count = 3;
  c.time_to_failure = dist("weibull", Duration::seconds(3600), 0.7);
  c.repair = dist("fixed", Duration::seconds(60));
  const RngFactory rng(11);
  const auto a = FailureProcess(c, rng).events(Duration::seconds(1e6));
  const auto b = FailureProcess(c, rng).events(Duration::seconds(1e6));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].fail_at, b[i].fail_at);
  c.count = 50;  // more components: component 0's failures do not move
  const auto more = FailureProcess(c, rng).events(Duration::seconds(1e6));
  std::vector<double> first_a, first_more;
  for (const auto& e : a) if (e.component == 0) first_a.push_back(e.fail_at.s());
  for (const auto& e : more) if (e.component == 0) first_more.push_back(e.fail_at.s());
  EXPECT_EQ(first_a, first_more);
  for (const auto& e : a) EXPECT_EQ((e.repaired_at - e.fail_at).s(), 60);
}

TEST(Failure, LemonsFailMoreOften) {
  ProcessConfig c;
  c.count = 4000;
  c.time_to_failure = dist("exponential", Duration::seconds(1000));
  c.repair = dist("fixed", Duration::seconds(1));
  c.lemon_fraction = 0.1;
  c.lemon_factor = 10;
  const RngFactory rng(3);
  FailureProcess p(c, rng);
  const auto ev = p.events(Duration::seconds(1e5));
  double lemon_events = 0, lemons = 0;
  for (const auto& e : ev) lemon_events += p.lemon(e.component) ? 1 : 0;
  for (uint32_t i = 0; i < 4000; ++i) lemons += p.lemon(i) ? 1 : 0;
  EXPECT_NEAR(lemons, 400, 5 * std::sqrt(4000 * 0.1 * 0.9));  // binomial
  // Per-component rates: a lemon 10 / 1001 s, a normal one 1 / 1001... in expectation lemons' share is
  // 10 L / (10 L + (N - L)), for the L lemons drawn.
  const double share = 10 * lemons / (10 * lemons + (4000 - lemons));
  EXPECT_NEAR(lemon_events / static_cast<double>(ev.size()), share, 0.01);
}

TEST(Failure, FitsRecoverTheParametersTheySampleFrom) {
  const size_t n = 20000;
  // Weibull MLE: Var(k) ~ 0.608 k^2 / n (Fisher information), so sd(k) ~ 0.78 k / sqrt(n).
  const auto w = fit_weibull(draw(dist("weibull", Duration::seconds(36000), 0.7), n, 1));
  EXPECT_EQ(w.dist, "weibull");
  EXPECT_NEAR(w.shape, 0.7, 5 * 0.78 * 0.7 / std::sqrt(n));
  // Lognormal: sd(sigma) = sigma / sqrt(2n); the mean within a few percent (heavy tail).
  const auto l = fit_lognormal(draw(dist("lognormal", Duration::seconds(7200), 1, 1.5), n, 2));
  EXPECT_NEAR(l.sigma, 1.5, 5 * 1.5 / std::sqrt(2.0 * n));
  EXPECT_NEAR(l.mean.s() / 7200, 1.0, 0.1);
  const auto e = fit_exponential(draw(dist("exponential", Duration::seconds(500)), n, 3));
  EXPECT_NEAR(e.mean.s(), 500, 5 * 500 / std::sqrt(n));
  // Each distribution's sample mean matches its configured mean (the scale is derived from it).
  for (const auto& c : {dist("weibull", Duration::seconds(100), 2.5), dist("weibull", Duration::seconds(100), 0.6),
                        dist("lognormal", Duration::seconds(100), 1, 0.5)}) {
    const auto x = draw(c, n, 4);
    double sum = 0, sq = 0;
    for (double v : x) sum += v;
    const double mean = sum / n;
    for (double v : x) sq += (v - mean) * (v - mean);
    EXPECT_NEAR(mean, 100, 5 * std::sqrt(sq / n) / std::sqrt(n)) << c.dist << " " << c.shape;
    // The CDF at the median of the sample is about one half.
    std::vector<double> sorted = x;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_NEAR(make_distribution(c)->cdf(Duration::seconds(sorted[n / 2])), 0.5, 0.02);
  }
}

TEST(FaultTrace, TheProductionTraceLoadsWithItsPublishedTotals) {
  const FaultTrace t = load_fault_trace("data/failures/infinitehbd_fault_trace.json");
  EXPECT_EQ(t.faults.size(), 584u);  // the README: 584 fault_start + 584 fault_end events
  EXPECT_EQ(t.nodes.size(), 231u);   // 231 of the 400 servers had faults
  EXPECT_NEAR(t.span.s() / 86400, 348.9798, 1e-9);
  const auto classes = t.by_class();
  ASSERT_FALSE(classes.empty());
  EXPECT_EQ(classes.front().first, "GPU");
  EXPECT_EQ(classes.front().second, 158u);
  for (const auto& f : t.faults) EXPECT_GE(f.repair().s(), 0);
  // The fitted repair-time distribution (docs/calibration.md): lognormal over the positive repairs.
  std::vector<double> repairs;
  for (const auto& f : t.faults) repairs.push_back(f.repair().s());
  const auto fit = fit_lognormal(repairs);
  EXPECT_NEAR(fit.sigma, 2.52, 0.01);
}

std::string trace_error(const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / "lcsim_bad_trace.json";
  std::ofstream(path) << text;
  try {
    load_fault_trace(path.string());
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(FaultTrace, BadEventsAreErrorsAtTheirLine) {
  const std::string ok_start =
      R"({"node_id": "a", "event_time": 1.0, "event_type": "fault_start", "fault_type": {"Level": "H", "Class": "GPU", "Desc": "x"}})";
  EXPECT_NE(trace_error("[\n" + ok_start + ",\n" +
                        R"({"node_id": "a", "event_time": 2.0, "event_type": "fault_stop", "fault_type": {"Class": "GPU"}}])")
                .find(":3:"),
            std::string::npos);
  EXPECT_NE(trace_error("[\n" + ok_start + ",\n" +
                        R"({"node_id": "a", "event_time": 2.0, "event_type": "fault_stop", "fault_type": {"Class": "GPU"}}])")
                .find("unknown event type 'fault_stop' (allowed: fault_start, fault_end)"),
            std::string::npos);
  EXPECT_NE(trace_error("[\n" + ok_start + ",\n" +
                        R"({"node_id": "a", "event_time": 0.5, "event_type": "fault_end", "fault_type": {"Class": "GPU"}}])")
                .find("events must be in time order"),
            std::string::npos);
  EXPECT_NE(trace_error("[\n" + ok_start + "\n]").find("is never closed by a fault_end"), std::string::npos);
  EXPECT_NE(trace_error(R"([{"node_id": "b", "event_type": "fault_start", "fault_type": {}}])").find("[0].event_time: missing"),
            std::string::npos);
  EXPECT_NE(trace_error(R"([{"node_id": "b", "event_time": "soon", "event_type": "fault_start", "fault_type": {}}])")
                .find("got 'soon'"),
            std::string::npos);
  EXPECT_NE(trace_error("{a: 1}").find("a fault trace is a list of events"), std::string::npos);
}

TEST(CheckpointInterval, DalyAndYoungSitAtTheOptimumOfDalysModel) {
  const policy::CheckpointCosts c{Duration::seconds(300), Duration::seconds(600), Duration::seconds(8 * 3600.0)};
  const Duration work = Duration::seconds(30 * 86400.0);
  // The optimum of T(tau) on a fine grid.
  double best_tau = 0, best = 1e300;
  for (double tau = 60; tau < 20000; tau += 1) {
    const double t = policy::expected_wall_time(c, Duration::seconds(tau), work).s();
    if (t < best) best = t, best_tau = tau;
  }
  const double daly = policy::daly_interval(c).s(), young = policy::young_interval(c).s();
  EXPECT_NEAR(young, std::sqrt(2 * 300 * 8 * 3600.0), 1e-9);
  // Daly's higher-order estimate is within 1% of the optimum interval and costs under 0.01% more time; Young's
  // first-order one under 0.1% more.
  EXPECT_NEAR(daly / best_tau, 1.0, 0.01);
  EXPECT_LT(policy::expected_wall_time(c, Duration::seconds(daly), work).s() / best, 1.0001);
  EXPECT_LT(policy::expected_wall_time(c, Duration::seconds(young), work).s() / best, 1.001);
  // Far from the optimum it costs more: checkpointing 10x too often or too rarely.
  EXPECT_GT(policy::expected_wall_time(c, Duration::seconds(best_tau / 10), work).s() / best, 1.05);
  EXPECT_GT(policy::expected_wall_time(c, Duration::seconds(best_tau * 10), work).s() / best, 1.05);
  // A save that costs more than 2 M: checkpoint once per M.
  EXPECT_EQ(policy::daly_interval({Duration::seconds(100), {}, Duration::seconds(40)}).s(), 40);
}

Duration hours(double h) { return Duration::seconds(h * 3600); }

TEST(Goodput, WithoutInterruptionsEttrIsOneMinusCheckpointOverhead) {
  const RunPlan plan{hours(100), hours(10), hours(0.1), hours(0.5)};
  const RunOutcome r = step_run(plan, {});
  EXPECT_EQ(r.checkpoints, 10);
  EXPECT_EQ(r.interruptions, 0);
  EXPECT_NEAR(r.wall.s(), hours(101).s(), 1e-6);
  EXPECT_NEAR(r.ettr(), 100.0 / 101.0, 1e-12);
  EXPECT_NEAR(r.useful().s(), hours(100).s(), 1e-6);
}

TEST(Goodput, AnInterruptionLosesTheWorkSinceTheLastCheckpoint) {
  const RunPlan plan{hours(100), hours(10), hours(0.1), hours(0.5)};
  // Checkpoints complete at 10.1 h and 20.2 h; an interruption at 25 h loses the 4.8 h computed since 20.2 h.
  const RunOutcome r = step_run(plan, {hours(25)});
  EXPECT_EQ(r.interruptions, 1);
  EXPECT_NEAR(r.lost_work.s(), hours(4.8).s(), 1e-6);
  EXPECT_NEAR(r.restart_time.s(), hours(0.5).s(), 1e-9);
  EXPECT_NEAR(r.wall.s(), hours(101 + 4.8 + 0.5).s(), 1e-6);
  // During a save: the whole segment is lost, and the partial save counted; during a restart: it starts over.
  const RunOutcome s = step_run(plan, {hours(10.05), hours(10.3)});
  EXPECT_EQ(s.interruptions, 2);
  EXPECT_NEAR(s.lost_work.s(), hours(10).s(), 1e-6);
  EXPECT_NEAR(s.restart_time.s(), hours(0.25 + 0.5).s(), 1e-6);
  EXPECT_NEAR(s.wall.s(), hours(101 + 10 + 0.05 + 0.25 + 0.5).s(), 1e-6);
  // Without checkpoints an interruption loses everything so far.
  const RunOutcome n = step_run({hours(100), Duration(), Duration(), hours(0.5)}, {hours(60)});
  EXPECT_NEAR(n.lost_work.s(), hours(60).s(), 1e-6);
  EXPECT_NEAR(n.wall.s(), hours(160.5).s(), 1e-6);
}

// Monte Carlo over Poisson interruptions: the mean wall time matches Daly's closed form, and a sweep of checkpoint
// intervals (the same interruptions for every interval) is lowest near Daly's interval.
TEST(Goodput, MonteCarloMatchesDalyAndItsIntervalIsTheSweepsOptimum) {
  const policy::CheckpointCosts c{Duration::seconds(300), Duration::seconds(600), hours(8)};
  const Duration work = hours(24 * 10);
  const double daly = policy::daly_interval(c).s();
  const int segments = static_cast<int>(std::lround(work.s() / daly));
  const Duration tau = Duration::seconds(work.s() / segments);  // a whole number of segments, as Daly's model has
  const auto arrivals = make_distribution(dist("exponential", c.mtbf));
  const int runs = 400;
  const std::vector<double> factors = {0.25, 0.5, 1, 2, 4};
  std::vector<double> sum(factors.size(), 0.0);
  double sum_tau = 0, sq_tau = 0;
  for (int k = 0; k < runs; ++k) {
    RandomStream s(1000 + k);
    std::vector<Duration> at;
    for (Duration t = arrivals->sample(s); t < hours(24 * 60); t += arrivals->sample(s)) at.push_back(t);
    const double w = step_run({work, tau, c.save, c.restart}, at).wall.s();
    sum_tau += w;
    sq_tau += w * w;
    for (size_t i = 0; i < factors.size(); ++i) {
      sum[i] += step_run({work, Duration::seconds(daly * factors[i]), c.save, c.restart}, at).wall.s();
    }
  }
  const double mean = sum_tau / runs, sd = std::sqrt(sq_tau / runs - mean * mean);
  EXPECT_NEAR(mean, policy::expected_wall_time(c, tau, work).s(), 5 * sd / std::sqrt(runs));
  const size_t best = static_cast<size_t>(std::min_element(sum.begin(), sum.end()) - sum.begin());
  EXPECT_EQ(factors[best], 1.0) << "sweep means (h): " << sum[0] / runs / 3600 << " " << sum[1] / runs / 3600 << " "
                                << sum[2] / runs / 3600 << " " << sum[3] / runs / 3600 << " " << sum[4] / runs / 3600;
}

}  // namespace
}  // namespace lcsim::failure
