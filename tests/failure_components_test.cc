// Per-component failure processes, recovery phases, spares, maintenance, the fault trace as classes and the
// long-horizon Monte Carlo: the Llama 3 defaults give Llama 3's interruption count, drawn rates match configured
// ones within tolerances derived here, lost work is the work since the last checkpoint, recovery phases add up
// exactly, a spare pool makes the job wait when it runs dry, maintenance loses nothing, and the Monte Carlo gives
// the same numbers on 1 and 4 threads.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "models/failure/components.h"
#include "models/failure/fault_trace.h"
#include "models/failure/long_run.h"
#include "models/failure/recovery.h"
#include "models/failure/straggler.h"
#include "models/failure/trace_classes.h"
#include "policies/checkpoint_interval.h"
#include "policies/health_check.h"
#include "sim/error.h"

namespace lcsim::failure {
namespace {

Duration h(double x) { return Duration::seconds(x * 3600); }
Duration days(double x) { return Duration::seconds(x * 86400); }

TEST(Components, LlamaDefaultsGiveLlamasInterruptions) {
  const auto classes = default_component_classes();
  ASSERT_EQ(classes.size(), 8u);
  // 419 unexpected interruptions on 16,384 GPUs (2,048 nodes) in 54 days, by construction of the defaults.
  EXPECT_NEAR(job_failure_rate(classes, 16384, 2048) * days(54).s(), 419.0, 1e-9);
  // Drawn: Poisson with mean 419 per seed (renewal with repairs of ~5 days on units that fail every ~12 years
  // changes that by far less than its sd of 20.5); over 8 seeds the total is within 4 sd of 8 x 419.
  MaintenanceConfig maint;
  double unplanned = 0, planned = 0;
  for (int s = 0; s < 8; ++s) {
    const auto ev = draw_interruptions(classes, maint, 16384, 2048, days(54), RngFactory(100 + s));
    for (const auto& e : ev) (e.planned ? planned : unplanned) += 1;
    for (size_t i = 1; i < ev.size(); ++i) ASSERT_LE(ev[i - 1].at, ev[i].at);
  }
  EXPECT_NEAR(unplanned, 8 * 419.0, 4 * std::sqrt(8 * 419.0));
  // Maintenance every 54 d / 47: the 47th stop falls on day 54 (not before it, up to rounding), so 46 or 47.
  EXPECT_GE(planned, 8 * 46.0);
  EXPECT_LE(planned, 8 * 47.0);
}

TEST(Components, EachClassDrawsItsConfiguredRateAndRepairTimes) {
  // One class at a time: its count over many units matches units x horizon / (mtbf + mean repair) within 4 sd
  // (Poisson: sd = sqrt(mean)), and its repair times' mean within 4 standard errors (Weibull k = 0.451:
  // sd / mean = sqrt(Gamma(1 + 2/k) / Gamma(1 + 1/k)^2 - 1)).
  auto classes = default_component_classes();
  MaintenanceConfig off;
  off.enabled = false;
  for (size_t k = 0; k < classes.size(); ++k) {
    if (classes[k].mtbf <= Duration()) continue;
    std::vector<ComponentClass> one{classes[k]};
    one[0].mtbf = days(50);  // frequent enough for a tight check
    const int gpus = 800, nodes = 100;
    const Duration horizon = days(1000);
    const auto ev = draw_interruptions(one, off, gpus, nodes, horizon, RngFactory(9));
    const double units = one[0].unit == "gpu" ? gpus : nodes;
    const double cycle = one[0].mtbf.s() + make_distribution(one[0].repair)->mean().s();
    const double expected = units * horizon.s() / cycle;
    EXPECT_NEAR(static_cast<double>(ev.size()), expected, 4 * std::sqrt(expected) + units) << one[0].name;
    if (one[0].repair.dist != "weibull") continue;
    double sum = 0;
    for (const auto& e : ev) sum += e.repair.s();
    const double k_ = one[0].repair.shape, mean = one[0].repair.mean.s();
    const double cv = std::sqrt(std::tgamma(1 + 2 / k_) / std::pow(std::tgamma(1 + 1 / k_), 2) - 1);
    const double n = static_cast<double>(ev.size());
    EXPECT_NEAR(sum / n, mean, 4 * cv * mean / std::sqrt(n)) << one[0].name;
  }
}

JobPlan plan(Duration work, Duration interval) {
  JobPlan p;
  p.work = work;
  p.checkpoint_interval = interval;
  p.checkpoint_save = Duration::seconds(120);
  p.restart = Duration::seconds(600);
  p.recovery.diagnosis_success = 1.0;
  p.causes = 2;
  return p;
}

Interruption fault(Duration at, uint16_t cause = 0, Action a = Action::kSwap, Duration repair = h(10)) {
  return {at, cause, Detector::kCollectiveTimeout, a, false, repair, 0};
}

TEST(Recovery, WithoutFailuresEttrIsOneMinusCheckpointOverhead) {
  RandomStream rng(1);
  const JobPlan p = plan(h(10), h(1));
  const JobOutcome r = run_job(p, {}, rng, days(100));
  EXPECT_EQ(r.checkpoints, 10);
  EXPECT_DOUBLE_EQ(r.wall.s(), h(10).s() + 10 * 120);
  const double overhead = r.checkpoint_time.s() / r.wall.s();
  EXPECT_DOUBLE_EQ(r.ettr(), 1 - overhead);
}

TEST(Recovery, AFailureLosesTheWorkSinceTheLastCheckpointAndEveryPhaseShows) {
  RandomStream rng(1);
  JobPlan p = plan(h(10), h(1));
  p.keep_spans = true;
  // Two segments and their saves done (2 h + 240 s), then 30 min into the third.
  const Duration at = h(2) + Duration::seconds(240) + h(0.5);
  const JobOutcome r = run_job(p, {fault(at, 1)}, rng, days(100));
  EXPECT_EQ(r.interruptions, 1);
  EXPECT_DOUBLE_EQ(r.lost_work.s(), h(0.5).s());
  EXPECT_DOUBLE_EQ(r.by_cause[1].lost_work.s(), h(0.5).s());
  EXPECT_EQ(r.by_cause[1].interruptions, 1);
  // Detection by collective timeout, diagnosis, swap, restart: each once, exactly as configured.
  EXPECT_DOUBLE_EQ(r.detection.s(), p.recovery.collective_timeout.s());
  EXPECT_DOUBLE_EQ(r.diagnosis.s(), p.recovery.diagnosis.s());
  EXPECT_DOUBLE_EQ(r.swap.s(), p.recovery.swap.s());
  EXPECT_DOUBLE_EQ(r.restart.s(), p.restart.s());
  EXPECT_DOUBLE_EQ(r.by_cause[1].downtime.s(), (p.recovery.collective_timeout + p.recovery.diagnosis +
                                                p.recovery.swap + p.restart).s());
  // The useful compute is exactly the work: the rest of the wall time is accounted for.
  EXPECT_NEAR(r.useful().s(), p.work.s(), 1e-6);
  EXPECT_DOUBLE_EQ(r.wall.s(), (p.work + r.lost_work + r.checkpoint_time + r.down()).s());
  // The timeline: lost work, then the four phases back to back from the failure.
  std::vector<Phase> seen;
  for (const auto& s : r.spans) {
    if (s.phase != Phase::kCheckpoint) seen.push_back(s.phase);
  }
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen[0], Phase::kLost);
  EXPECT_EQ(seen[1], Phase::kDetection);
  EXPECT_EQ(seen[4], Phase::kRestart);
}

TEST(Recovery, AFailedDiagnosisCostsTheFallback) {
  JobPlan p = plan(h(10), h(1));
  p.recovery.diagnosis_success = 0.0;
  RandomStream rng(1);
  const JobOutcome r = run_job(p, {fault(h(0.5))}, rng, days(100));
  EXPECT_EQ(r.failed_diagnoses, 1);
  EXPECT_DOUBLE_EQ(r.diagnosis.s(), (p.recovery.diagnosis + p.recovery.diagnosis_fallback).s());
}

TEST(Recovery, ASparePoolThatRunsDryMakesTheJobWaitForARepair) {
  JobPlan p = plan(h(10), h(1));
  const Duration repair = h(20);
  const Duration first = h(0.5), second = h(3);
  // Down time of one recovery: timeout 600 + diagnosis 300 (+ swap 300) + restart 600.
  const Duration localise = p.recovery.collective_timeout + p.recovery.diagnosis;
  {  // One spare: the first failure takes it; the second waits until the first node is back from repair.
    p.spares = 1;
    RandomStream rng(1);
    const JobOutcome r = run_job(p, {fault(first, 0, Action::kSwap, repair), fault(second, 0, Action::kSwap, repair)},
                                 rng, days(100));
    EXPECT_EQ(r.interruptions, 2);
    EXPECT_DOUBLE_EQ(r.wait_spare.s(), ((first + localise + repair) - (second + localise)).s());
    EXPECT_DOUBLE_EQ(r.swap.s(), 2 * p.recovery.swap.s());
  }
  {  // No spares: each failure waits for its own node's repair, and nothing is swapped.
    p.spares = 0;
    RandomStream rng(1);
    const JobOutcome r = run_job(p, {fault(first, 0, Action::kSwap, repair)}, rng, days(100));
    EXPECT_DOUBLE_EQ(r.wait_repair.s(), repair.s());
    EXPECT_DOUBLE_EQ(r.swap.s(), 0.0);
  }
  {  // Plenty of spares: no wait.
    p.spares = 8;
    RandomStream rng(1);
    const JobOutcome r = run_job(p, {fault(first, 0, Action::kSwap, repair), fault(second, 0, Action::kSwap, repair)},
                                 rng, days(100));
    EXPECT_DOUBLE_EQ(r.wait_spare.s(), 0.0);
  }
}

TEST(Recovery, AFailureDuringRecoveryStartsItOver) {
  JobPlan p = plan(h(10), h(1));
  RandomStream rng(1);
  const Duration first = h(0.5), second = first + Duration::seconds(100);  // during the first's detection
  const JobOutcome r = run_job(p, {fault(first), fault(second)}, rng, days(100));
  EXPECT_EQ(r.interruptions, 2);
  EXPECT_DOUBLE_EQ(r.detection.s(), 100 + p.recovery.collective_timeout.s());
  EXPECT_DOUBLE_EQ(r.restart.s(), p.restart.s());
  EXPECT_NEAR(r.useful().s(), p.work.s(), 1e-6);
}

TEST(Recovery, AnnouncedMaintenanceSavesFirstAndLosesNothing) {
  JobPlan p = plan(h(10), h(1));
  RandomStream rng(1);
  Interruption m{h(0.5), 1, Detector::kHeartbeat, Action::kRestart, true, h(2), 0};
  const JobOutcome r = run_job(p, {m}, rng, days(100));
  EXPECT_EQ(r.planned, 1);
  EXPECT_EQ(r.interruptions, 0);
  EXPECT_DOUBLE_EQ(r.lost_work.s(), 0.0);
  EXPECT_DOUBLE_EQ(r.maintenance.s(), h(2).s());
  EXPECT_EQ(r.checkpoints, 11);  // the extra save before the stop
  EXPECT_NEAR(r.useful().s(), p.work.s(), 1e-6);
}

TEST(Recovery, AnAdaptivePolicyMovesTheIntervalAfterEachInterruption) {
  JobPlan p = plan(h(10), h(1));
  p.adapt = [](int n, Duration) { return h(2.0 * n); };
  RandomStream rng(1);
  const JobOutcome r = run_job(p, {fault(h(0.5))}, rng, days(100));
  // Nothing was saved before the fault; then the 10 h of work in segments of 2 h: 5 saves.
  EXPECT_EQ(r.checkpoints, 5);
  EXPECT_EQ(r.last_interval, h(2));
  // The policy: the MTBF estimate moves from the prior toward what was observed, and the interval with it.
  const policy::AdaptiveInterval a{{Duration::seconds(60), Duration::seconds(600), h(10)}, 4};
  EXPECT_DOUBLE_EQ(a.mtbf_after(0, Duration()).s(), h(10).s());
  EXPECT_DOUBLE_EQ(a.mtbf_after(4, h(8)).s(), h((4 * 10 + 8) / 8.0).s());  // failures every 2 h pull it down
  EXPECT_LT(a.interval_after(4, h(8)), a.interval_after(0, Duration()));
  EXPECT_DOUBLE_EQ(a.interval_after(0, Duration()).s(),
                   policy::daly_interval({Duration::seconds(60), Duration::seconds(600), h(10)}).s());
}

LongRunSpec llama_like(int gpus) {
  LongRunSpec s;
  s.classes = default_component_classes();
  s.gpus = gpus;
  s.nodes = gpus / 8;
  s.plan = plan(days(20), Duration());
  s.plan.causes = s.classes.size() + 1;
  s.plan.recovery = RecoveryConfig{};
  const double rate = job_failure_rate(s.classes, s.gpus, s.nodes);
  s.plan.checkpoint_interval = policy::daly_interval({s.plan.checkpoint_save, s.plan.restart,
                                                      Duration::seconds(1 / rate)});
  s.horizon = days(400);
  s.seed = 5;
  return s;
}

TEST(LongRun, TheSameNumbersOnAnyThreadCount) {
  const LongRunSpec s = llama_like(4096);
  const auto one = simulate_seeds(s, 6, 1);
  const auto four = simulate_seeds(s, 6, 4);
  ASSERT_EQ(one.size(), four.size());
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(one[i].wall.s(), four[i].wall.s());
    EXPECT_EQ(one[i].lost_work.s(), four[i].lost_work.s());
    EXPECT_EQ(one[i].interruptions, four[i].interruptions);
  }
  // ... and different seeds differ.
  EXPECT_NE(one[0].wall.s(), one[1].wall.s());
}

TEST(LongRun, InterruptionsGrowWithScale) {
  // 4x the GPUs: 4x the failure rate, so about 4x the interruptions over the same compute (and more wall time).
  const auto small = simulate_seeds(llama_like(4096), 8, 0);
  const auto large = simulate_seeds(llama_like(16384), 8, 0);
  double a = 0, b = 0;
  for (const auto& r : small) a += r.interruptions;
  for (const auto& r : large) b += r.interruptions;
  EXPECT_GT(b, 3 * a);
  EXPECT_LT(b, 5 * a);
}

TEST(LongRun, DalysIntervalIsTheOptimumOfTheSweepWithPhases) {
  // With detection, diagnosis and swap phases the restart cost grows but Daly's interval does not depend on it:
  // the sweep's best mean wall time over 0.25x .. 4x of Daly is within its confidence interval of Daly's.
  LongRunSpec s = llama_like(4096);
  s.maintenance.enabled = false;
  const Duration daly = s.plan.checkpoint_interval;
  std::vector<double> factors{0.25, 0.5, 1.0, 2.0, 4.0};
  std::vector<MeanCi> walls;
  for (double f : factors) {
    LongRunSpec x = s;
    x.plan.checkpoint_interval = daly * f;
    std::vector<double> w;
    for (const auto& r : simulate_seeds(x, 32, 0)) w.push_back(r.wall.s());
    walls.push_back(mean_ci(w));
  }
  // The same failures in each arm (same seeds), so the differences are mostly the interval's.
  double best = walls[0].mean;
  for (const auto& w : walls) best = std::min(best, w.mean);
  EXPECT_LE(walls[2].mean, best + walls[2].ci95);
  EXPECT_LT(walls[2].mean, walls[0].mean);
  EXPECT_LT(walls[2].mean, walls[4].mean);
}

TEST(LongRun, HealthChecksPreventTheirShareOfFailures) {
  LongRunSpec s = llama_like(4096);
  policy::HealthCheckPolicy hc;
  hc.enabled = true;  // 30% latent, half of them found: 15% of failures prevented
  s.prevents = [hc](double a, double b) { return hc.prevents(a, b); };
  double prevented = 0, happened = 0;
  for (const auto& r : simulate_seeds(s, 8, 0)) {
    prevented += r.prevented;
    happened += r.interruptions;
  }
  // Every failure up to the job's end is prevented with p = 0.15, independently: within 4 binomial sd of it
  // (the few absorbed while the job was down for maintenance count as neither).
  const double p = hc.latent_share * hc.coverage;
  const double n = prevented + happened;
  EXPECT_NEAR(prevented / n, p, 4 * std::sqrt(p * (1 - p) / n) + 0.01);
  // Everything latent and always found: nothing interrupts the job.
  hc.latent_share = 1;
  hc.coverage = 1;
  s.prevents = [hc](double a, double b) { return hc.prevents(a, b); };
  for (const auto& r : simulate_seeds(s, 2, 0)) EXPECT_EQ(r.interruptions, 0);
}

TEST(TraceClasses, TheProductionTraceFitsPerClassAndReplays) {
  const FaultTrace t = load_fault_trace("data/failures/infinitehbd_fault_trace.json");
  const auto fitted = fit_trace_classes(t, kInfiniteHbdServers, default_component_classes());
  ASSERT_EQ(fitted.size(), 8u);
  // 158 GPU faults on 400 nodes over 348.98 days.
  EXPECT_NEAR(fitted[0].mtbf.s() / 86400, 400 * 348.98 / 158, 0.01);
  EXPECT_EQ(fitted[1].mtbf, Duration());  // no HBM class in the trace
  size_t total = 0;
  for (const auto& c : fitted) {
    if (c.mtbf > Duration()) total += static_cast<size_t>(std::lround(400 * t.span.s() / c.mtbf.s()));
  }
  EXPECT_EQ(total, t.faults.size());
  // Replay on the trace's 400 nodes: every fault once; on 800 nodes: twice, the copies shifted by half the span.
  const auto once = trace_interruptions(t, kInfiniteHbdServers, fitted, 400);
  const auto twice = trace_interruptions(t, kInfiniteHbdServers, fitted, 800);
  // On 100 nodes: only the faults of the trace's first 100 servers.
  const auto part = trace_interruptions(t, kInfiniteHbdServers, fitted, 100);
  EXPECT_LT(part.size(), once.size());
  EXPECT_EQ(once.size(), t.faults.size());
  EXPECT_EQ(twice.size(), 2 * t.faults.size());
  for (size_t i = 1; i < twice.size(); ++i) ASSERT_LE(twice[i - 1].at, twice[i].at);
}

TEST(Stragglers, TheSlowestOfNWorkersSetsTheStep) {
  // One worker: the mean (1). Two normal workers: E[max] = 1 + cv / sqrt(pi); Monte Carlo within 4 standard
  // errors (sd of the max of two is below cv).
  EXPECT_NEAR(sync_step_slowdown(0.05, 1, 1, 20000, 3), 1.0, 4 * 0.05 / std::sqrt(20000.0));
  EXPECT_NEAR(sync_step_slowdown(0.05, 2, 1, 20000, 3), 1 + 0.05 / std::sqrt(M_PI), 4 * 0.05 / std::sqrt(20000.0));
  // More workers, slower steps; a straggling node (1.3x) sets the pace.
  EXPECT_GT(sync_step_slowdown(0.05, 1024, 1, 200, 3), sync_step_slowdown(0.05, 8, 1, 200, 3));
  EXPECT_GT(sync_step_slowdown(0.05, 8, 1.3, 2000, 3), 1.3);
}

TEST(Stragglers, PaiWorkerSpreadsLoadAndBadRowsAreErrorsAtTheirLine) {
  const WorkerSpread w = load_worker_spread("data/calibration/alibaba_pai2020_minibatch/job_1_norm.csv");
  EXPECT_EQ(w.workers, 10);
  EXPECT_EQ(w.steps, 300);
  EXPECT_GT(w.cv, 0.0);
  EXPECT_GT(w.max_over_mean, 1.0);
  // The normal model with the measured cv, 10 workers, against the measured slowest / mean: printed for the docs.
  std::printf("PAI job 1: cv %.4f, measured max/mean %.4f, model %.4f\n", w.cv, w.max_over_mean,
              sync_step_slowdown(w.cv, 10, 1, 20000, 1));
  const std::string dir = ::testing::TempDir() + "straggler_bad_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string file = dir + "/bad.csv";
  std::ofstream(file) << ",worker,gpu,time,batch_time_norm\n0,0,25,1,476\n1,1,25,1,-3\n";
  try {
    load_worker_spread(file);
    FAIL() << "accepted a negative step time";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:3"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lcsim::failure
