// Failure prediction (policies/failure_prediction.h) in the long-horizon stepper: a predicted failure loses no
// compute (a just-in-time save instead), also when it comes during a save; a false alarm costs exactly one save and
// moves the last checkpoint; with recall 1 and precision 1 a whole Monte Carlo run loses no work and has no false
// alarms; recall and precision set the predicted share and the false-alarm count within binomial / Poisson bounds.
// Migration (action: migrate): a predicted node fault with a spare at hand loses nothing and costs a save and a
// migration (swap + restart) instead of detection, diagnosis, swap and restart; without a spare, or for a software
// fault, only the save; a false alarm costs a save and a migration.
#include <gtest/gtest.h>

#include <cmath>

#include "models/failure/components.h"
#include "models/failure/long_run.h"
#include "models/failure/recovery.h"
#include "policies/checkpoint_interval.h"
#include "policies/failure_prediction.h"

namespace lcsim::failure {
namespace {

Duration h(double x) { return Duration::seconds(x * 3600); }
Duration days(double x) { return Duration::seconds(x * 86400); }
constexpr double kSave = 120;

JobPlan plan() {
  JobPlan p;
  p.work = h(10);
  p.checkpoint_interval = h(1);
  p.checkpoint_save = Duration::seconds(kSave);
  p.restart = Duration::seconds(600);
  p.recovery.diagnosis_success = 1.0;
  p.causes = 2;
  return p;
}

Interruption fault(Duration at, bool predicted) {
  Interruption e{at, 0, Detector::kCollectiveTimeout, Action::kSwap, false, h(10), 0};
  e.predicted = predicted;
  return e;
}

Interruption alarm(Duration at) {
  Interruption e;
  e.at = at;
  e.cause = 1;
  e.false_alarm = true;
  return e;
}

TEST(Prediction, APredictedFailureLosesNothingAndCostsOneSave) {
  const JobPlan p = plan();
  const Duration at = h(2) + Duration::seconds(2 * kSave) + h(0.5);  // 30 min into the third segment
  RandomStream a(1), b(1);
  const JobOutcome missed = run_job(p, {fault(at, false)}, a, days(10));
  const JobOutcome caught = run_job(p, {fault(at, true)}, b, days(10));
  EXPECT_DOUBLE_EQ(missed.lost_work.s(), h(0.5).s());
  EXPECT_EQ(caught.lost_work.s(), 0.0);
  EXPECT_EQ(caught.predicted, 1);
  EXPECT_EQ(caught.interruptions, 1);  // the fault still happens: the same recovery phases
  EXPECT_DOUBLE_EQ(caught.down().s(), missed.down().s());
  // 2 saves, the just-in-time one, then 7.5 h + 120 s of work left: 7 full segments and a short one, 8 saves.
  EXPECT_EQ(caught.checkpoints, 11);
  EXPECT_DOUBLE_EQ(caught.wall.s(), p.work.s() + 11 * kSave + caught.down().s());
  EXPECT_LT(caught.wall, missed.wall);
}

TEST(Prediction, AFailurePredictedDuringASaveStillLosesNothing) {
  const JobPlan p = plan();
  const Duration at = h(1) + Duration::seconds(60);  // half-way through the first save
  RandomStream a(1), b(1);
  const JobOutcome missed = run_job(p, {fault(at, false)}, a, days(10));
  const JobOutcome caught = run_job(p, {fault(at, true)}, b, days(10));
  EXPECT_DOUBLE_EQ(missed.lost_work.s(), h(1).s());
  EXPECT_EQ(caught.lost_work.s(), 0.0);
  // The job saved from 1 h - 60 s instead: that much work done, the rest (60 s) redone in later segments.
  EXPECT_NEAR(caught.useful().s(), p.work.s(), 1e-6);
  EXPECT_DOUBLE_EQ(caught.wall.s(), p.work.s() + caught.checkpoint_time.s() + caught.down().s());
}

TEST(Prediction, AFalseAlarmCostsOneSaveAndMovesTheLastCheckpoint) {
  const JobPlan p = plan();
  RandomStream a(1), b(1);
  const JobOutcome only = run_job(p, {alarm(h(0.25))}, a, days(10));
  EXPECT_EQ(only.false_alarms, 1);
  EXPECT_EQ(only.interruptions, 0);
  EXPECT_EQ(only.checkpoints, 11);
  EXPECT_DOUBLE_EQ(only.wall.s(), p.work.s() + 11 * kSave);
  // A failure at 45 min loses only the work since the alarm's save ended.
  const JobOutcome then = run_job(p, {alarm(h(0.25)), fault(h(0.75), false)}, b, days(10));
  EXPECT_DOUBLE_EQ(then.lost_work.s(), h(0.5).s() - kSave);
}

TEST(Prediction, PolicyKnobs) {
  policy::FailurePredictionPolicy fp;
  EXPECT_FALSE(fp.predicts(0.0));  // disabled
  EXPECT_EQ(fp.false_alarm_rate(1.0), 0.0);
  fp.enabled = true;
  fp.recall = 0.5;
  fp.precision = 0.25;  // 1 true alarm in 4: 3 false ones per true one
  EXPECT_TRUE(fp.predicts(0.49));
  EXPECT_FALSE(fp.predicts(0.5));
  EXPECT_DOUBLE_EQ(fp.false_alarm_rate(2.0), 2.0 * 0.5 * 3);
  fp.lead = Duration::seconds(60);
  EXPECT_FALSE(fp.in_time(Duration::seconds(120)));
  EXPECT_TRUE(fp.in_time(Duration::seconds(60)));
}

// Migration, by hand: plan() has restart 600 s, the default swap 300 s, detection by collective timeout 600 s and
// diagnosis 300 s (always successful): a missed or checkpoint-only fault costs 1,800 s down, a migration 900 s.
constexpr double kMigration = 300 + 600;
constexpr double kRecovery = 600 + 300 + 300 + 600;

TEST(Migration, ATruePositiveWithASpareLosesNothingAndCostsOneMigration) {
  JobPlan p = plan();
  p.migrate = true;
  const Duration at = h(2) + Duration::seconds(2 * kSave) + h(0.5);
  RandomStream a(1), b(1);
  const JobOutcome saved = run_job(plan(), {fault(at, true)}, a, days(10));
  const JobOutcome moved = run_job(p, {fault(at, true)}, b, days(10));
  EXPECT_DOUBLE_EQ(saved.down().s(), kRecovery);
  EXPECT_EQ(moved.lost_work.s(), 0.0);
  EXPECT_EQ(moved.predicted, 1);
  EXPECT_EQ(moved.migrations, 1);
  EXPECT_EQ(moved.interruptions, 0);  // the fault hits a node no longer in the job
  EXPECT_DOUBLE_EQ(moved.migrating.s(), kMigration);
  EXPECT_DOUBLE_EQ(moved.down().s(), kMigration);
  EXPECT_EQ(moved.detection.s() + moved.diagnosis.s() + moved.swap.s() + moved.restart.s(), 0.0);
  EXPECT_EQ(moved.checkpoints, 11);  // the just-in-time save counts, as without migration
  EXPECT_DOUBLE_EQ(moved.wall.s(), p.work.s() + 11 * kSave + kMigration);
  EXPECT_DOUBLE_EQ(saved.wall.s() - moved.wall.s(), kRecovery - kMigration);
}

TEST(Migration, NeedsASpareAtHand) {
  JobPlan p = plan();
  p.migrate = true;
  const Duration at = h(2) + Duration::seconds(2 * kSave) + h(0.5);
  // spares: 0 = no spare ever: only the just-in-time save, then the 10 h wait for the node's repair.
  p.spares = 0;
  RandomStream a(1);
  const JobOutcome none = run_job(p, {fault(at, true)}, a, days(10));
  EXPECT_EQ(none.migrations, 0);
  EXPECT_EQ(none.interruptions, 1);
  EXPECT_EQ(none.lost_work.s(), 0.0);
  EXPECT_DOUBLE_EQ(none.wait_repair.s(), h(10).s());
  // A pool of one whose spare went to an earlier (unpredicted) fault and is in repair for 10 h: no migration.
  p.spares = 1;
  const std::vector<Interruption> two{fault(h(0.5), false), fault(at, true)};
  RandomStream b(1), c(1);
  const JobOutcome dry = run_job(p, two, b, days(10));
  EXPECT_EQ(dry.migrations, 0);
  EXPECT_EQ(dry.interruptions, 2);
  p.spares = 2;  // a second spare: the predicted fault is migrated, the first one recovered as usual
  const JobOutcome spare = run_job(p, two, c, days(10));
  EXPECT_EQ(spare.migrations, 1);
  EXPECT_EQ(spare.interruptions, 1);
  EXPECT_DOUBLE_EQ(spare.lost_work.s(), h(0.5).s());
  EXPECT_DOUBLE_EQ(spare.down().s(), kRecovery + kMigration);
}

TEST(Migration, ASoftwareFaultIsNotMigrated) {
  JobPlan p = plan();
  p.migrate = true;
  Interruption hang = fault(h(0.5), true);
  hang.action = Action::kRestart;
  RandomStream a(1);
  const JobOutcome o = run_job(p, {hang}, a, days(10));
  EXPECT_EQ(o.migrations, 0);
  EXPECT_EQ(o.interruptions, 1);
  EXPECT_EQ(o.lost_work.s(), 0.0);
  EXPECT_DOUBLE_EQ(o.down().s(), 600 + 300 + 600);  // detection, diagnosis, restart: no swap
}

TEST(Migration, AFalseAlarmCostsASaveAndAMigration) {
  JobPlan p = plan();
  p.migrate = true;
  RandomStream a(1);
  const JobOutcome o = run_job(p, {alarm(h(0.25))}, a, days(10));
  EXPECT_EQ(o.false_alarms, 1);
  EXPECT_EQ(o.migrations, 1);
  EXPECT_EQ(o.interruptions, 0);
  EXPECT_EQ(o.checkpoints, 11);
  EXPECT_DOUBLE_EQ(o.migrating.s(), kMigration);
  EXPECT_DOUBLE_EQ(o.wall.s(), p.work.s() + 11 * kSave + kMigration);
  EXPECT_EQ(o.lost_work.s(), 0.0);
}

LongRunSpec llama_like(const policy::FailurePredictionPolicy& fp) {
  LongRunSpec s;
  s.classes = default_component_classes();
  s.gpus = 4096;
  s.nodes = 512;
  s.plan = plan();
  s.plan.work = days(20);
  s.plan.causes = s.classes.size() + 1;
  s.plan.recovery = RecoveryConfig{};
  const double rate = job_failure_rate(s.classes, s.gpus, s.nodes);
  s.plan.checkpoint_interval =
      policy::daly_interval({s.plan.checkpoint_save, s.plan.restart, Duration::seconds(1 / rate)});
  s.horizon = days(400);
  s.seed = 5;
  s.predicts = [fp](double u) { return fp.predicts(u); };
  s.false_alarm_rate = fp.false_alarm_rate(rate);
  return s;
}

TEST(Prediction, PerfectPredictionLosesNoWorkOverAWholeRun) {
  policy::FailurePredictionPolicy fp;
  fp.enabled = true;
  fp.recall = 1;
  fp.precision = 1;
  policy::FailurePredictionPolicy off;
  const auto with = simulate_seeds(llama_like(fp), 4, 0);
  const auto without = simulate_seeds(llama_like(off), 4, 0);
  for (size_t i = 0; i < with.size(); ++i) {
    EXPECT_EQ(with[i].lost_work.s(), 0.0);
    EXPECT_EQ(with[i].false_alarms, 0);
    EXPECT_GT(with[i].predicted, 0);
    EXPECT_GT(without[i].lost_work.s(), 0.0);
    EXPECT_EQ(without[i].predicted, 0);
    EXPECT_GT(with[i].ettr(), without[i].ettr());
  }
}

TEST(Migration, PerfectPredictionWithMigrationBeatsCheckpointOnlyOverAWholeRun) {
  policy::FailurePredictionPolicy fp;
  fp.enabled = true;
  fp.recall = 1;
  fp.precision = 1;
  LongRunSpec save_only = llama_like(fp);
  fp.action = "migrate";
  LongRunSpec move = llama_like(fp);
  move.plan.migrate = fp.migrates();
  ASSERT_TRUE(move.plan.migrate);
  const auto with = simulate_seeds(move, 4, 0);
  const auto without = simulate_seeds(save_only, 4, 0);
  for (size_t i = 0; i < with.size(); ++i) {
    EXPECT_EQ(with[i].lost_work.s(), 0.0);
    EXPECT_GT(with[i].migrations, 0);
    EXPECT_EQ(without[i].migrations, 0);
    // The same failures (the streams do not depend on the action): the migrated ones no longer interrupt.
    EXPECT_LT(with[i].interruptions, without[i].interruptions);
    EXPECT_LT(with[i].down(), without[i].down());
    EXPECT_GT(with[i].ettr(), without[i].ettr());
  }
}

TEST(Prediction, RecallAndPrecisionSetThePredictedShareAndTheFalseAlarms) {
  policy::FailurePredictionPolicy fp;
  fp.enabled = true;
  fp.recall = 0.5;
  fp.precision = 0.5;  // one false alarm per true one
  const LongRunSpec s = llama_like(fp);
  double predicted = 0, missed = 0, alarms = 0, exposure = 0;
  for (const auto& r : simulate_seeds(s, 8, 0)) {
    predicted += r.predicted;
    missed += r.interruptions - r.predicted;
    alarms += r.false_alarms;
    exposure += (r.wall - r.down() - r.checkpoint_time).s();  // alarms count only while the job computes
  }
  // Failures while computing are predicted with p = 0.5 (those during a recovery count as missed: a few).
  const double n = predicted + missed;
  EXPECT_NEAR(predicted / n, 0.5, 4 * std::sqrt(0.25 / n) + 0.03);
  // False alarms: a Poisson count with mean rate x exposure.
  const double expected = s.false_alarm_rate * exposure;
  EXPECT_NEAR(alarms, expected, 4 * std::sqrt(expected));
}

}  // namespace
}  // namespace lcsim::failure
