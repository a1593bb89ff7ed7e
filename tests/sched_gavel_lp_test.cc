// Gavel's max-min LP (policies/gavel_lp.h) against an allocation solved by hand, and its round-based time slicing
// (policies/gavel_rounds.h): the fractions the rounds realise converge to the LP's, and in the replay jobs take
// turns (preempted between rounds, paying the checkpoint) instead of queueing behind the running ones.
#include <gtest/gtest.h>

#include <map>
#include <random>

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

TEST(GavelLp, ClassesGiveThePerJobOptimum) {
  // Random matrices with few distinct rows (as Philly with two job classes has): the class LP reaches the same
  // max-min and the same sum as one variable per job, its fractions are feasible, and the jobs of a class get the
  // same fractions. Reordering the jobs gives each job the same answer (the class LP sees only the multiset).
  std::mt19937_64 rng(16);
  std::uniform_int_distribution<int> pick(0, 1 << 30);
  for (int trial = 0; trial < 60; ++trial) {
    const size_t kinds = 2 + static_cast<size_t>(pick(rng) % 2);
    std::vector<std::vector<double>> rows;
    for (int r = 0; r < 3; ++r) {
      std::vector<double> row(kinds);
      for (auto& v : row) v = pick(rng) % 7 == 0 ? 0.0 : 0.5 + (pick(rng) % 1000) / 250.0;
      rows.push_back(row);
    }
    GavelLpInput in;
    for (size_t k = 0; k < kinds; ++k) in.capacity.push_back(8.0 * (1 + pick(rng) % 4));
    const size_t jobs = 3 + static_cast<size_t>(pick(rng) % 40);
    const uint32_t sizes[] = {1, 1, 2, 4, 8, 16};
    for (size_t j = 0; j < jobs; ++j) {
      in.throughput.push_back(rows[static_cast<size_t>(pick(rng)) % rows.size()]);
      in.gpus.push_back(sizes[pick(rng) % 6]);
    }
    const GavelLpResult per_job = solve_gavel_lp_per_job(in), by_class = solve_gavel_lp(in);
    EXPECT_LE(by_class.classes, 18u);
    EXPECT_NEAR(by_class.min_normalised, per_job.min_normalised, 1e-7 * (1 + per_job.min_normalised)) << trial;
    double sum_c = 0, sum_j = 0;
    std::vector<double> used(kinds, 0);
    for (size_t j = 0; j < jobs; ++j) {
      sum_c += by_class.normalised[j], sum_j += per_job.normalised[j];
      double time = 0;
      for (size_t k = 0; k < kinds; ++k) time += by_class.fraction[j][k], used[k] += in.gpus[j] * by_class.fraction[j][k];
      EXPECT_LE(time, 1 + 1e-9) << trial << " job " << j;
      if (time > 0) {
        EXPECT_GE(by_class.normalised[j], by_class.min_normalised * (1 - 1e-6)) << trial << " job " << j;
      }
      for (size_t i = 0; i < j; ++i) {
        if (in.throughput[i] == in.throughput[j] && in.gpus[i] == in.gpus[j]) {
          EXPECT_EQ(by_class.fraction[i], by_class.fraction[j]) << trial << " jobs " << i << ", " << j;
        }
      }
    }
    EXPECT_NEAR(sum_c, sum_j, 1e-6 * (1 + sum_j)) << trial;
    for (size_t k = 0; k < kinds; ++k) EXPECT_LE(used[k], in.capacity[k] * (1 + 1e-9)) << trial;
    GavelLpInput rev = in;
    std::reverse(rev.throughput.begin(), rev.throughput.end());
    std::reverse(rev.gpus.begin(), rev.gpus.end());
    const GavelLpResult r = solve_gavel_lp(rev);
    for (size_t j = 0; j < jobs; ++j) EXPECT_EQ(r.fraction[jobs - 1 - j], by_class.fraction[j]) << trial;
  }
}

TEST(GavelLp, SolverReusesTheSameClassesExactly) {
  // The same multiset of rows (other ids, other order) is answered from the latest solution, bit for bit as a
  // fresh solve; a changed count is solved again.
  GavelLpInput a{{{1, 3}, {1, 1.2}, {1, 3}}, {1, 2, 1}, {16, 16}};
  GavelLpInput b{{{1, 3}, {1, 3}, {1, 1.2}}, {1, 1, 2}, {16, 16}};
  GavelLpSolver s;
  const GavelLpResult ra = s.solve(a), rb = s.solve(b);
  EXPECT_EQ(s.solved(), 1u);
  EXPECT_EQ(s.reused(), 1u);
  const GavelLpResult fresh = solve_gavel_lp(b);
  EXPECT_EQ(rb.fraction, fresh.fraction);
  EXPECT_EQ(rb.min_normalised, fresh.min_normalised);
  EXPECT_EQ(ra.fraction[0], rb.fraction[0]);
  b.gpus[2] = 4;
  s.solve(b);
  EXPECT_EQ(s.solved(), 2u);
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

TEST(GavelRounds, ReusingTheRoundsLpDecidesTheSame) {
  // 60 jobs of three sizes and two classes on two pools, arriving in bursts: many rounds see the same classes and
  // counts as the last solved LP and reuse it; every job starts, stops and ends exactly as when each round solves.
  cluster::ClusterConfig c;
  c.pools = {{"a100", 2, 8, 1.0, 2.0}, {"h100", 2, 8, 2.0, 3.0}};
  c.job_classes = {{"lm", 1, {1, 3}}, {"small", 1, {1, 1.2}}};
  cluster::JobTrace t{"bursts", {}};
  for (int i = 0; i < 60; ++i) {
    cluster::TraceJob j;
    j.id = static_cast<uint64_t>(i);
    j.submit_s = 7200.0 * (i / 20);
    j.gpus = i % 3 == 0 ? 8 : i % 3 == 1 ? 4 : 1;
    j.duration_s = 3000 + 500 * (i % 7);
    j.line = static_cast<uint32_t>(i + 2);
    t.jobs.push_back(j);
  }
  cluster::SimOptions o;
  GavelRoundsConfig reuse, fresh;
  fresh.reuse_lp = false;
  GavelRoundsPolicy pr(reuse), pf(fresh);
  const auto rr = cluster::simulate_cluster(c, t, pr, o);
  const auto rf = cluster::simulate_cluster(c, t, pf, o);
  EXPECT_GT(pr.lp_reused(), 5u);
  EXPECT_EQ(pf.lp_reused(), 0u);
  EXPECT_EQ(pr.lp_solved() + pr.lp_reused(), pf.lp_solved());
  ASSERT_EQ(rr.jobs.size(), rf.jobs.size());
  for (size_t i = 0; i < rr.jobs.size(); ++i) {
    EXPECT_EQ(rr.jobs[i].first_start_s, rf.jobs[i].first_start_s) << i;
    EXPECT_EQ(rr.jobs[i].end_s, rf.jobs[i].end_s) << i;
    EXPECT_EQ(rr.jobs[i].preemptions, rf.jobs[i].preemptions) << i;
    EXPECT_EQ(rr.jobs[i].pool, rf.jobs[i].pool) << i;
  }
  EXPECT_GT(rr.jobs.back().preemptions + rr.jobs.front().preemptions, 0u);
}

}  // namespace
}  // namespace lcsim::policy
