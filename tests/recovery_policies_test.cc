// The long-run stepper's newer policies, each against a hand-derived timeline: the restore as its own phase after
// the restart, elastic shrink of data parallelism instead of waiting for a repair, per-worker jitter and slow-node
// episodes in the step time, and detect-and-evict of a slow node.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "models/failure/recovery.h"
#include "models/failure/straggler.h"
#include "policies/elastic.h"
#include "policies/straggler_eviction.h"
#include "sim/rng.h"

namespace lcsim::failure {
namespace {

Duration h(double x) { return Duration::seconds(x * 3600); }
Duration s(double x) { return Duration::seconds(x); }

JobPlan plan(Duration work, Duration interval) {
  JobPlan p;
  p.work = work;
  p.checkpoint_interval = interval;
  p.checkpoint_save = s(60);
  p.restart = s(600);
  p.recovery.heartbeat = s(60);
  p.recovery.diagnosis = s(300);
  p.recovery.diagnosis_success = 1.0;
  p.recovery.swap = s(300);
  p.causes = 2;
  p.keep_spans = true;
  return p;
}

Interruption fault(Duration at, Duration repair) {
  Interruption e;
  e.at = at;
  e.cause = 0;
  e.detector = Detector::kHeartbeat;
  e.action = Action::kSwap;
  e.repair = repair;
  return e;
}

Duration total(const JobOutcome& r, Phase p) {
  Duration d;
  for (const auto& x : r.spans) {
    if (x.phase == p) d += x.end - x.start;
  }
  return d;
}

TEST(Restore, IsAPhaseOfItsOwnAfterTheRestart) {
  RandomStream rng(1);
  JobPlan p = plan(h(10), h(1));
  p.restart = s(300);  // re-initialisation only
  p.restore = s(47.5);
  const JobOutcome r = run_job(p, {fault(h(2) + s(120) + h(0.5), h(5))}, rng, Duration::seconds(1e9));
  EXPECT_DOUBLE_EQ(r.restart.s(), 300);
  EXPECT_DOUBLE_EQ(r.restore.s(), 47.5);
  EXPECT_DOUBLE_EQ(total(r, Phase::kRestore).s(), 47.5);
  // wall = work + 10 saves + 30 min lost + heartbeat + diagnosis + swap + restart + restore
  EXPECT_DOUBLE_EQ(r.wall.s(), h(10).s() + 10 * 60 + 1800 + 60 + 300 + 300 + 300 + 47.5);
  EXPECT_NEAR(r.useful().s(), p.work.s(), 1e-6);
}

TEST(ElasticPolicy, ShareIsProportionalDownToTheMinimum) {
  policy::ElasticPolicy e;
  EXPECT_EQ(e.share(4, 1), 0.0);  // off: wait
  e.enabled = true;
  EXPECT_DOUBLE_EQ(e.share(4, 1), 0.75);
  EXPECT_DOUBLE_EQ(e.share(4, 3), 0.25);
  EXPECT_EQ(e.share(4, 4), 0.0);
  e.min_data_parallel = 3;
  EXPECT_DOUBLE_EQ(e.share(4, 1), 0.75);
  EXPECT_EQ(e.share(4, 2), 0.0);
}

// 100 h of compute, a checkpoint every hour (60 s save), no spares; a node fails 30 min into the 11th hour and is
// out for 20 h. Waiting: the job stands still for the repair. Elastic at DP 4 -> 3: it restarts at once and runs
// at 3/4 of its pace until the node is back, then saves and re-forms at full size.
TEST(ElasticShrink, RunsAtDpMinusOneUntilTheRepairInsteadOfWaiting) {
  const Duration fail = s(10 * 3660 + 1800), repair = h(20);
  JobPlan p = plan(h(100), h(1));
  p.spares = 0;
  RandomStream r1(1);
  const JobOutcome wait = run_job(p, {fault(fail, repair)}, r1, Duration::seconds(1e9));
  EXPECT_DOUBLE_EQ(wait.wait_repair.s(), repair.s());
  const double down = 60 + 300 + 600;  // heartbeat, diagnosis, restart
  EXPECT_DOUBLE_EQ(wait.wall.s(), 100 * 3660 + 1800 + down + repair.s());

  const policy::ElasticPolicy el{true, 1};
  p.shrink = [el](int out) { return el.share(4, out); };
  RandomStream r2(1);
  const JobOutcome e = run_job(p, {fault(fail, repair)}, r2, Duration::seconds(1e9));
  EXPECT_EQ(e.shrinks, 1);
  EXPECT_EQ(e.wait_repair.s(), 0.0);
  // By hand: computing again at t1 with 10 h done; the node is back at the failure + heartbeat + diagnosis + 20 h.
  const double t1 = fail.s() + down, back = fail.s() + 360 + repair.s();
  const double seg = 3600 / 0.75;  // one hour of compute at 3/4 pace
  const int full = static_cast<int>(std::floor((back - t1) / (seg + 60)));  // segments and saves before it is back
  const double part = back - t1 - full * (seg + 60);                        // wall of the unfinished one
  const double done = 10 * 3600 + full * 3600 + part * 0.75;
  const double left = 100 * 3600 - done;
  const double saves_after = std::ceil(left / 3600);
  const double expected = back + 60 + 600 + left + saves_after * 60;  // save and re-form, then the rest
  EXPECT_EQ(full, 14);
  EXPECT_NEAR(e.wall.s(), expected, 1e-6);
  EXPECT_NEAR(e.shrunk.s(), full * seg + part, 1e-6);
  EXPECT_NEAR(e.shrunk_loss.s(), (full * seg + part) * 0.25, 1e-6);
  EXPECT_NEAR(e.useful().s(), p.work.s(), 1e-6);
  EXPECT_LT(e.wall, wait.wall);
  EXPECT_GT(e.ettr(), wait.ettr());
  EXPECT_NEAR(total(e, Phase::kShrunk).s(), e.shrunk.s(), 1e-6);
}

TEST(Stragglers, JitterStretchesEveryStep) {
  JobPlan p = plan(h(10), Duration());
  p.step_slowdown = 1.25;
  RandomStream rng(1);
  const JobOutcome r = run_job(p, {}, rng, Duration::seconds(1e9));
  EXPECT_NEAR(r.wall.s(), 1.25 * h(10).s(), 1e-6);
  EXPECT_NEAR(r.slow_loss.s(), 0.25 * h(10).s(), 1e-6);
  EXPECT_NEAR(r.useful().s(), h(10).s(), 1e-6);
  // Two workers of cv 0.1: E[max] = 1 + 0.1 / sqrt(pi) (the model the scenario feeds in).
  EXPECT_NEAR(sync_step_slowdown(0.1, 2, 1.0, 200000, 3), 1 + 0.1 / std::sqrt(std::numbers::pi), 1e-3);
}

// 20 h of compute without checkpoints; at 5 h one node turns 2x slow for 10 h.
TEST(Stragglers, ASlowNodeSetsThePaceUntilItIsEvicted) {
  JobPlan p = plan(h(20), Duration());
  Interruption slow;
  slow.at = h(5);
  slow.slow_factor = 2;
  slow.repair = h(10);
  RandomStream r1(1);
  const JobOutcome keep = run_job(p, {slow}, r1, Duration::seconds(1e9));
  // 10 h at half pace: 5 h of compute; 10 h left at full pace.
  EXPECT_NEAR(keep.wall.s(), h(25).s(), 1e-6);
  EXPECT_NEAR(keep.slow.s(), h(10).s(), 1e-6);
  EXPECT_NEAR(keep.slow_loss.s(), h(5).s(), 1e-6);
  EXPECT_EQ(keep.slow_episodes, 1);
  EXPECT_EQ(keep.evictions, 0);

  // Detect after 20 steps of 90 s at 2x (1 h), then a save (60 s), the swap and a restart (900 s).
  const policy::StragglerEvictionPolicy ev{true, 20};
  p.evict_after = ev.detect_after(s(90), 2);
  EXPECT_DOUBLE_EQ(p.evict_after.s(), 3600);
  p.evict_cost = s(900);
  RandomStream r2(1);
  const JobOutcome out = run_job(p, {slow}, r2, Duration::seconds(1e9));
  EXPECT_EQ(out.evictions, 1);
  EXPECT_NEAR(out.slow_loss.s(), h(0.5).s(), 1e-6);
  EXPECT_NEAR(out.wall.s(), h(6).s() + 60 + 900 + h(14.5).s(), 1e-6);
  EXPECT_NEAR(out.useful().s(), h(20).s(), 1e-6);
  EXPECT_DOUBLE_EQ(total(out, Phase::kEvict).s(), 900);
  EXPECT_LT(out.wall, keep.wall);
}

// A failure while a node is slow: the segment since the last checkpoint is lost, slow share and all.
TEST(Stragglers, AFailureDuringASlowEpisodeLosesTheWholeSegment) {
  JobPlan p = plan(h(10), h(1));
  Interruption slow;
  slow.at = s(1800);
  slow.slow_factor = 2;
  slow.repair = h(100);
  RandomStream rng(1);
  // The first hour of compute: 30 min at full pace, then 60 min of wall at half pace; the failure 30 min into it.
  const JobOutcome r = run_job(p, {slow, fault(s(3600), h(1))}, rng, Duration::seconds(1e9));
  EXPECT_DOUBLE_EQ(r.lost_work.s(), 3600);
  EXPECT_NEAR(r.useful().s(), h(10).s(), 1e-6);
}

}  // namespace
}  // namespace lcsim::failure
