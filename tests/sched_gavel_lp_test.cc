// Gavel's max-min LP (policies/gavel_lp.h) against an allocation solved by hand, and its round-based time slicing
// (policies/gavel_rounds.h): the fractions the rounds realise converge to the LP's, and in the replay jobs take
// turns (preempted between rounds, paying the checkpoint) instead of queueing behind the running ones.
#include <gtest/gtest.h>

#include <map>

#include "policies/gavel_lp.h"
#include "policies/gavel_rounds.h"
#include "workloads/cluster/cluster_sim.h"

namespace lcsim::policy {
namespace {

TEST(GavelLp, TwoJobsOnTwoKindsByHand) {
  // Kind 0: 2 GPUs, kind 1: 1 GPU; two 1-GPU jobs, throughput rows A = [1, 2], B = [1, 4].
  // T_eq (GPU-weighted mean): A (2x1 + 1x2)/3 = 4/3, B (2x1 + 1x4)/3 = 2: normalised A [3/4, 3/2], B [1/2, 2].
  // Both jobs run all the time (kind 0 has room for both): A = 3/4 + 3/4 a1, B = 1/2 + 3/2 b1, with a1 + b1 <= 1
  // (kind 1's one GPU). Max-min: equal at a1 = 5/9, b1 = 4/9, min = 7/6; and those fractions are the only ones
  // that reach it (A needs a1 >= 5/9, B needs b1 >= 4/9).
  GavelLpInput in{{{1, 2}, {1, 4}}, {1, 1}, {2, 1}};
  const GavelLpResult r = solve_gavel_lp(in);
  EXPECT_NEAR(r.min_normalised, 7.0 / 6.0, 1e-6);
  EXPECT_NEAR(r.fraction[0][0], 4.0 / 9.0, 1e-6);
  EXPECT_NEAR(r.fraction[0][1], 5.0 / 9.0, 1e-6);
  EXPECT_NEAR(r.fraction[1][0], 5.0 / 9.0, 1e-6);
  EXPECT_NEAR(r.fraction[1][1], 4.0 / 9.0, 1e-6);
  EXPECT_NEAR(r.normalised[0], 7.0 / 6.0, 1e-6);
  EXPECT_NEAR(r.normalised[1], 7.0 / 6.0, 1e-6);
}

TEST(GavelLp, OversubscribedKindsAreTimeShared) {
  // One 1-GPU node per kind, three 1-GPU jobs: at most 2 of 3 run at once, so the fractions sum to less than one
  // per job and the two kinds are full. A job too large for kind 1 gets none of it; a job too large for every
  // kind gets nothing and does not drag the minimum to zero.
  GavelLpInput in{{{1, 2}, {1, 3}, {1, 1.5}, {1, 1}}, {1, 1, 1, 5}, {1, 1}};
  const GavelLpResult r = solve_gavel_lp(in);
  double kind0 = 0, kind1 = 0;
  for (size_t j = 0; j < 3; ++j) {
    EXPECT_LT(r.fraction[j][0] + r.fraction[j][1], 1.0 - 1e-6) << j;
    EXPECT_GE(r.normalised[j], r.min_normalised - 1e-9) << j;
    kind0 += r.fraction[j][0], kind1 += r.fraction[j][1];
  }
  EXPECT_NEAR(kind0, 1.0, 1e-6);
  EXPECT_NEAR(kind1, 1.0, 1e-6);
  EXPECT_EQ(r.fraction[3][0] + r.fraction[3][1], 0.0);
  EXPECT_GT(r.min_normalised, 0.5);
  // Restricting job 0 to kind 0 (throughput 0 on kind 1) gives it none of kind 1.
  in.throughput[0][1] = 0;
  EXPECT_EQ(solve_gavel_lp(in).fraction[0][1], 0.0);
}

/// Drives the policy round by round on a fixed set of jobs that never finish, applying its decisions as the
/// replay would (preempted jobs back in the queue, started ones placed), and returns it after `rounds` rounds.
struct Driver {
  ClusterSnapshot s;
  std::map<uint64_t, PendingJob> job;
  uint64_t preemptions = 0;
  void run(GavelRoundsPolicy& p, int rounds, double round_s) {
    for (int r = 0; r <= rounds; ++r) {
      s.now_s = r * round_s;
      const Decisions d = p.schedule(s);
      EXPECT_DOUBLE_EQ(d.wake_s, s.now_s + round_s);
      for (uint64_t id : d.preempt) {
        auto it = std::find_if(s.running.begin(), s.running.end(), [&](const RunningJob& x) { return x.id == id; });
        ASSERT_NE(it, s.running.end());
        for (const auto& sh : it->placement) s.nodes[sh.node].free_gpus += sh.gpus;
        s.running.erase(it);
        s.pending.push_back(job[id]);
        ++preemptions;
      }
      std::sort(s.pending.begin(), s.pending.end(), [](const PendingJob& a, const PendingJob& b) { return a.id < b.id; });
      for (const auto& pl : d.start) {
        uint32_t sum = 0;
        for (const auto& sh : pl.shares) {
          ASSERT_GE(s.nodes[sh.node].free_gpus, sh.gpus);
          s.nodes[sh.node].free_gpus -= sh.gpus;
          sum += sh.gpus;
        }
        ASSERT_EQ(sum, job[pl.job].gpus);  // gang
        std::erase_if(s.pending, [&](const PendingJob& x) { return x.id == pl.job; });
        s.running.push_back({pl.job, sum, 0, 0, s.now_s, 0, true, pl.shares});
      }
    }
  }
};

PendingJob one_gpu(uint64_t id, std::vector<double> row) {
  PendingJob j;
  j.id = id;
  j.gpus = 1;
  j.throughput = std::move(row);
  return j;
}

TEST(GavelRounds, RealisedFractionsConvergeToTheLp) {
  for (int three_jobs = 0; three_jobs < 2; ++three_jobs) {
    Driver drv;
    drv.s.pools = {{"a100", 1.0, 0}, {"h100", 2.0, 0}};
    // By hand above: kind 0 two GPUs, kind 1 one; or, oversubscribed, one GPU each and three jobs.
    drv.s.nodes = {{0, three_jobs ? 1u : 2u, three_jobs ? 1u : 2u, 0, 0}, {1, 1, 1, 1, 0}};
    std::vector<PendingJob> jobs = {one_gpu(1, {1, 2}), one_gpu(2, {1, three_jobs ? 3.0 : 4.0})};
    if (three_jobs) jobs.push_back(one_gpu(3, {1, 1.5}));
    for (const auto& j : jobs) drv.job[j.id] = j, drv.s.pending.push_back(j);
    GavelRoundsConfig c;
    c.round_s = 100;
    GavelRoundsPolicy p(c);
    const int rounds = 180;
    drv.run(p, rounds, c.round_s);
    EXPECT_EQ(p.rounds(), static_cast<uint64_t>(rounds + 1));
    for (const auto& j : jobs) {
      const std::vector<double> x = p.lp_fraction(j.id), on = p.time_on_pool(j.id);
      ASSERT_EQ(x.size(), 2u);
      for (size_t k = 0; k < 2; ++k)
        EXPECT_NEAR(on[k] / (rounds * c.round_s), x[k], 0.02) << "job " << j.id << " kind " << k << " 3 jobs "
                                                               << three_jobs;
    }
    if (!three_jobs) {
      EXPECT_NEAR(p.lp_fraction(1)[1], 5.0 / 9.0, 1e-6);
      EXPECT_NEAR(p.lp_fraction(2)[1], 4.0 / 9.0, 1e-6);
    }
    EXPECT_GT(drv.preemptions, 10u);  // taking turns means stopping jobs between rounds
  }
}

std::unique_ptr<SchedulingPolicy> make(const std::string& name) {
  Registry<SchedulingPolicyFactory> r("scheduling policy");
  register_scheduling_policies(r);
  return r.get(name).factory();
}

TEST(GavelRounds, InTheReplayJobsTakeTurnsAndPayTheCheckpoint) {
  // One 8-GPU node per kind and three 8-GPU jobs submitted together: the greedy gavel runs two and queues the
  // third until one finishes; gavel-lp time-slices all three from the second round on, every switch a
  // preemption whose checkpoint the replay charges.
  cluster::ClusterConfig c;
  c.pools = {{"a100", 1, 8, 1.0, 2.0}, {"h100", 1, 8, 2.0, 3.0}};
  cluster::JobTrace t{"three", {}};
  for (int i = 0; i < 3; ++i) {
    cluster::TraceJob j;
    j.id = static_cast<uint64_t>(i);
    j.gpus = 8;
    j.duration_s = 20000;
    j.line = static_cast<uint32_t>(i + 2);
    t.jobs.push_back(j);
  }
  cluster::SimOptions o;
  o.checkpoint_s = 60;
  auto lp = make("gavel-lp");
  auto greedy = make("gavel");
  const auto rl = cluster::simulate_cluster(c, t, *lp, o);
  const auto rg = cluster::simulate_cluster(c, t, *greedy, o);
  double last_start_l = 0, last_start_g = 0;
  uint32_t preempted = 0;
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_GT(rl.jobs[i].end_s, 0) << i;
    last_start_l = std::max(last_start_l, rl.jobs[i].first_start_s);
    last_start_g = std::max(last_start_g, rg.jobs[i].first_start_s);
    preempted += rl.jobs[i].preemptions;
    // Each job's GPU time covers its work at its pools' speeds plus a checkpoint per preemption.
    EXPECT_GE(rl.jobs[i].run_s + 1e-6, 20000 / 2.0 + 60.0 * rl.jobs[i].preemptions) << i;
  }
  EXPECT_DOUBLE_EQ(last_start_g, 10000);  // the third waits for a job on the h100 (20000 s / 2)
  EXPECT_DOUBLE_EQ(last_start_l, 360);    // the second round
  EXPECT_GT(preempted, 10u);
  EXPECT_GT(rl.policy_calls, 40u);  // woken at every round boundary
  auto again = make("gavel-lp");
  EXPECT_EQ(cluster::simulate_cluster(c, t, *again, o).metrics().get("jct_s_mean"), rl.metrics().get("jct_s_mean"));
}

}  // namespace
}  // namespace lcsim::policy
