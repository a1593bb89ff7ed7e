// Demand forecasting and pool power scaling (issue 16, item 3): the seasonal forecaster on periodic signals, and
// the replay with nodes switched on and off by the reactive and forecast power policies on a periodic load, with
// the queueing delays derived by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <sys/wait.h>

#include "policies/demand_forecast.h"
#include "sim/error.h"
#include "workloads/cluster/cluster_sim.h"

namespace lcsim::cluster {
namespace {

using policy::SeasonalForecaster;

constexpr double kHour = 3600, kDay = 86400;

// A square wave: 100 GPUs from hour 8 to 20, 10 otherwise, observed at every hour boundary.
double square(double t) {
  const double h = std::fmod(t, kDay) / kHour;
  return h >= 8 && h < 20 ? 100 : 10;
}

TEST(DemandForecast, LearnsAnExactlyPeriodicSignalAfterOnePeriod) {
  SeasonalForecaster f({kDay, kHour, 0.3});
  f.observe(0, square(0));
  // Before a full period: an unseen hour is forecast by the running mean.
  for (int h = 1; h <= 12; ++h) f.observe(h * kHour, square(h * kHour));
  EXPECT_DOUBLE_EQ(f.forecast(20 * kHour), (8 * 10 + 4 * 100) / 12.0);
  for (int h = 13; h <= 4 * 24; ++h) f.observe(h * kHour, square(h * kHour));
  // Every hour of the day is known; the next day's forecast is the wave itself, and every scored hour was exact.
  for (int h = 0; h < 24; ++h) EXPECT_DOUBLE_EQ(f.forecast(4 * kDay + h * kHour + 60), square(h * kHour)) << h;
  const auto e = f.error();
  EXPECT_EQ(e.bins, 3u * 24);  // days 2 to 4 are scored
  EXPECT_DOUBLE_EQ(e.mae, 0);
  EXPECT_DOUBLE_EQ(e.mean_actual, (12 * 10 + 12 * 100) / 24.0);
  // The largest forecast over a window reaches into the next bins.
  EXPECT_DOUBLE_EQ(f.forecast_max(4 * kDay + 7 * kHour + 1800, 4 * kDay + 8 * kHour), 100);
  EXPECT_DOUBLE_EQ(f.forecast_max(4 * kDay + 7 * kHour, 4 * kDay + 7 * kHour + 1800), 10);
}

TEST(DemandForecast, SmoothsNoiseAndTracksAShiftAtRateAlpha) {
  // Demand within an hour integrates to the bin mean: 0 for half the hour, 40 for the other half = 20.
  SeasonalForecaster f({kDay, kHour, 0.5});
  f.observe(0, 0);
  for (int h = 0; h < 24; ++h) {
    f.observe(h * kHour, 0);
    f.observe(h * kHour + 1800, 40);
  }
  f.observe(kDay, 0);
  EXPECT_DOUBLE_EQ(f.forecast(kDay + 10), 20);
  // Day 2 every bin means 60: the forecast errs by 40 per bin, then moves half way (alpha 0.5): 40.
  for (int h = 24; h < 48; ++h) f.observe(h * kHour, 60);
  f.observe(2 * kDay, 60);
  EXPECT_DOUBLE_EQ(f.forecast(2 * kDay + 10), 40);
  EXPECT_EQ(f.error().bins, 24u);
  EXPECT_DOUBLE_EQ(f.error().mae, 40);
  EXPECT_DOUBLE_EQ(f.error().mape, 40.0 / 60.0);
}

// Four days; each day at 09:00, eight 8-GPU jobs of 4 hours arrive on 16 nodes of 8 GPUs; booting takes 600 s.
JobTrace daily_bursts(int days) {
  JobTrace t{"daily-bursts", {}};
  for (int d = 0; d < days; ++d) {
    for (int k = 0; k < 8; ++k) {
      TraceJob j;
      j.id = t.jobs.size();
      j.submit_s = d * kDay + 9 * kHour;
      j.gpus = 8;
      j.duration_s = 4 * kHour;
      j.line = static_cast<uint32_t>(j.id + 2);
      t.jobs.push_back(j);
    }
  }
  return t;
}

ClusterResult replay(const std::string& power, double boot_s = 600) {
  ClusterConfig c;
  c.pools.push_back({"h100", 16, 8, 1.0, 3.0, 70, 700});
  Registry<policy::SchedulingPolicyFactory> r("scheduling policy");
  policy::register_scheduling_policies(r);
  Registry<policy::PowerPolicyFactory> pr("power policy");
  policy::register_power_policies(pr);
  auto sched = r.get("backfill").factory();
  std::unique_ptr<policy::PowerPolicy> pp;
  if (!power.empty()) pp = pr.get(power).factory();
  SimOptions o;
  o.power = pp.get();
  o.boot_s = boot_s;
  return simulate_cluster(c, daily_bursts(4), *sched, o);
}

TEST(ClusterPower, ForecastPowersNodesBeforeThePeriodicLoadArrives) {
  const ClusterResult on = replay("");
  const ClusterResult reactive = replay("reactive");
  const ClusterResult forecast = replay("forecast");
  const MetricSet m_on = on.metrics(), m_re = reactive.metrics(), m_fc = forecast.metrics();
  // Always on: nothing ever waits; every GPU is powered the whole time.
  EXPECT_DOUBLE_EQ(m_on.get("queue_delay_s_mean"), 0);
  EXPECT_DOUBLE_EQ(m_on.get("powered_share"), 1);
  EXPECT_DOUBLE_EQ(m_on.get("boots"), 0);
  // Reactive: all nodes are off by 09:00 (the demand fell to 0 at 13:00, plus 15 min of linger), so on days 2-4
  // every job waits exactly one boot (600 s); on day 1 the nodes are still on from the start.
  for (const auto& j : reactive.jobs) {
    EXPECT_DOUBLE_EQ(j.first_start_s - j.submit_s, j.submit_s < kDay ? 0 : 600) << j.id;
  }
  EXPECT_DOUBLE_EQ(m_re.get("queue_delay_s_mean"), 600 * 3 / 4.0);
  // Forecast: on day 1 the nodes are on from the start; from day 2 the 09:00 hour is forecast at 64 GPUs from
  // 08:30 (30 min lookahead), the nodes boot by 08:40, and no job waits.
  for (const auto& j : forecast.jobs) EXPECT_DOUBLE_EQ(j.first_start_s, j.submit_s) << j.id;
  EXPECT_DOUBLE_EQ(m_fc.get("queue_delay_s_mean"), 0);
  // Reactive: nine nodes (64 GPUs + 10% headroom = 70.4 -> 72 GPUs) boot each day from day 2. Forecast: on the
  // first night the hours not yet seen are forecast by the running mean (64 x 4 h / elapsed time), which keeps
  // two nodes on until 08:30 of day 2; so seven boot then, and nine on days 3 and 4.
  EXPECT_DOUBLE_EQ(m_re.get("boots"), 3 * 9);
  EXPECT_DOUBLE_EQ(m_fc.get("boots"), 7 + 2 * 9);
  // The demand is exactly periodic once the jobs start on time: the forecast of every scored hour was exact.
  ASSERT_TRUE(m_fc.has("forecast_mape"));
  EXPECT_DOUBLE_EQ(m_fc.get("forecast_mae_gpus"), 0);
  // Energy: the same busy work; powered-off idle GPUs save energy; the forecast pays for 30 min of early power.
  EXPECT_DOUBLE_EQ(on.pools[0].busy_gpu_s, forecast.pools[0].busy_gpu_s);
  EXPECT_LT(m_re.get("energy_kwh"), m_fc.get("energy_kwh"));
  EXPECT_LT(m_fc.get("energy_kwh"), m_on.get("energy_kwh"));
  EXPECT_LT(m_fc.get("powered_share"), 0.5);
  // Always on, by hand: 128 GPUs x makespan x 70 W + 32 jobs x 8 GPUs x 4 h x (700 - 70) W.
  const double span = 3 * kDay + 4 * kHour;
  EXPECT_NEAR(m_on.get("energy_kwh"), (128 * span * 70 + 32 * 8 * 4 * kHour * 630) / 3.6e6, 1e-6);
  // Same inputs, same result.
  EXPECT_EQ(replay("forecast").metrics().get("energy_kwh"), m_fc.get("energy_kwh"));
}

TEST(ClusterPower, UnknownPowerPolicyNameSaysWhatIsValid) {
  Registry<policy::PowerPolicyFactory> pr("power policy");
  policy::register_power_policies(pr);
  try {
    pr.get("forcast");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'forecast'?"), std::string::npos) << e.what();
  }
}

// lcsim schedule's new flags: bad values exit 2 with a message naming the flag and what is allowed.
std::string schedule(const std::string& args, int* rc) {
  const std::string cmd = std::string(LCSIM_BINARY) + " schedule --trace " + LCSIM_SOURCE_DIR +
                          "/data/clusters/philly_jobs_pollux.csv --pools a100:1,h100:1 --limit 10 " + args + " 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  *rc = WEXITSTATUS(pclose(f));
  return out;
}

TEST(ClusterPower, ScheduleFlagsRejectBadValues) {
  int rc = 0;
  EXPECT_NE(schedule("--power always-on,forcast", &rc).find("did you mean 'forecast'?"), std::string::npos);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(schedule("--gpu-watts a100=50", &rc).find("--gpu-watts: expected POOL=IDLE_W:BUSY_W"), std::string::npos);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(schedule("--gpu-watts v100=50:300", &rc).find("'v100' is not one of the --pools"), std::string::npos);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(schedule("--job-classes lm:1:a100=1/b200=3", &rc).find("names pool 'b200', not one of --pools"),
            std::string::npos);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(schedule("--job-classes lm:1:a100=1", &rc).find("class 'lm' gives no throughput for pool 'h100'"),
            std::string::npos);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(schedule("--job-classes lm:x:a100=1/h100=2", &rc).find("--job-classes lm weight"), std::string::npos);
  EXPECT_EQ(rc, 2);
  // Good values run: the power table has its columns.
  const std::string ok = schedule("--policies gavel --power always-on,forecast --job-classes "
                                  "lm:1:a100=1/h100=3 --gpu-watts a100=50:400,h100=70:700",
                                  &rc);
  EXPECT_EQ(rc, 0) << ok;
  EXPECT_NE(ok.find("| gavel | forecast |"), std::string::npos) << ok;
}

}  // namespace
}  // namespace lcsim::cluster
