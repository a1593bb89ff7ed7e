// lcsim plan (capacity planning): the plan's time to train is the token budget over the chosen layout's own
// throughput (an independent run of that layout); a deadline only the larger GPU count meets picks it; with
// failures, the share of seeds within the deadline and the quantile agree; bad flags are clear errors.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <sys/wait.h>

#include "eval/evaluate.h"
#include "sim/config_tree.h"
#include "sim/error.h"
#include "sweep/capacity.h"

namespace lcsim::sweep {
namespace {

const std::string kScenario = std::string(LCSIM_SOURCE_DIR) + "/tests/sweep/llama2-7b-16.yaml";

CapacityOptions small(double days) {
  CapacityOptions o;
  o.gpus = {8, 16};
  o.tokens = 2e10;
  o.deadline_days = days;
  o.jobs = 2;
  o.space.tp = {1, 2, 4};
  o.space.pp = {1, 2};
  o.space.virtual_stages = {1};
  o.space.micro_batch = {1};
  o.space.recompute = {"none"};
  o.space.distributed_optimizer = {true};
  return o;
}

MetricSet own_run(const CapacityRow& row) {
  ConfigValue t = load_layered(kScenario);
  for (const auto& x : row.overrides) apply_override(t, x);
  const Result r = evaluate(parse_scenario(t));
  EXPECT_TRUE(r.ok()) << r.error;
  return r.metrics;
}

TEST(SweepPlanCmd, TimeIsTokensOverTheChosenLayoutsOwnThroughput) {
  const CapacityPlan p = plan_capacity(kScenario, small(1000));
  ASSERT_EQ(p.rows.size(), 2u);
  for (const auto& row : p.rows) {
    ASSERT_FALSE(row.layout.empty()) << row.gpus << ": " << row.why_none;
    const MetricSet own = own_run(row);
    const double tps = own.get("tokens_per_s");
    EXPECT_DOUBLE_EQ(row.tokens_per_s, tps);
    // The tokens at that throughput and Megatron-LM's evaluations over their iterations (by default every 1,000).
    ASSERT_GT(own.get("budget_evaluations"), 2);
    EXPECT_GT(row.eval_days, 0);
    EXPECT_DOUBLE_EQ(row.eval_days, own.get("budget_eval_time_days"));
    EXPECT_NEAR(row.time_days, 2e10 / tps / 86400 + row.eval_days, 1e-9 * row.time_days);
    EXPECT_GT(row.gpu_hours, 0);
    EXPECT_GT(row.cost, 0);
    EXPECT_GT(row.energy_mwh, 0);
    EXPECT_TRUE(row.meets);
  }
  // Both meet a generous deadline: the smaller count is picked.
  ASSERT_EQ(p.best.size(), 1u);
  EXPECT_EQ(p.rows[p.best[0]].gpus, 8);
  EXPECT_EQ(p.parts[0], "H100-SXM-80GB");
  const std::string text = format_capacity(p);
  EXPECT_NE(text.find("H100-SXM-80GB: 8 GPUs"), std::string::npos) << text;
}

TEST(SweepPlanCmd, ADeadlineOnlyTheLargerCountMeetsPicksIt) {
  const CapacityPlan loose = plan_capacity(kScenario, small(1000));
  const double t8 = loose.rows[0].time_days, t16 = loose.rows[1].time_days;
  ASSERT_LT(t16, t8);
  const CapacityPlan p = plan_capacity(kScenario, small((t8 + t16) / 2));
  EXPECT_FALSE(p.rows[0].meets);
  EXPECT_TRUE(p.rows[1].meets);
  EXPECT_EQ(p.rows[p.best[0]].gpus, 16);
  const CapacityPlan none = plan_capacity(kScenario, small(t16 / 2));
  EXPECT_EQ(none.best[0], none.rows.size());
  EXPECT_NE(format_capacity(none).find("none of the GPU counts tried"), std::string::npos);
}

TEST(SweepPlanCmd, WithFailuresTheQuantileAndTheShareWithinTheDeadlineAgree) {
  // 2,048 GPUs for five days: failures happen, and differ from seed to seed.
  CapacityOptions o = small(1000);
  o.gpus = {2048};
  o.tokens = 1e13;
  o.space.tp = {1, 2};
  o.space.pp = {1};
  o.seeds = 6;
  o.confidence = 0.5;
  o.sets = {"reliability.enabled=true", "workload.global_batch_size=4096"};
  const CapacityPlan loose = plan_capacity(kScenario, o);
  const CapacityRow& r = loose.rows.at(0);
  ASSERT_TRUE(r.reliability);
  EXPECT_EQ(r.seeds, 6);
  EXPECT_GE(r.rel_time_days, r.time_days);      // failures never shorten the run
  EXPECT_GE(r.rel_time_quantile, r.time_days);
  EXPECT_GE(r.rel_gpu_hours, r.gpu_hours * (1 - 1e-12));
  EXPECT_GT(r.rel_time_ci95, 0);  // the seeds differ
  EXPECT_EQ(r.met_fraction, 1.0);
  EXPECT_TRUE(r.meets);
  // A deadline at the median: at least half the seeds finish by it, so it is met at 50%, not at 99%.
  o.deadline_days = r.rel_time_quantile;
  const CapacityPlan at = plan_capacity(kScenario, o);
  EXPECT_GE(at.rows[0].met_fraction, 0.5);
  EXPECT_TRUE(at.rows[0].meets);
  o.confidence = 0.99;
  const CapacityPlan strict = plan_capacity(kScenario, o);
  EXPECT_EQ(strict.rows[0].rel_time_days, r.rel_time_days);  // same seeds, same result
  EXPECT_EQ(strict.rows[0].met_fraction, at.rows[0].met_fraction);
  EXPECT_GT(strict.rows[0].rel_time_quantile, r.rel_time_quantile);  // the slowest seed, past the median
  EXPECT_FALSE(strict.rows[0].meets);
  EXPECT_EQ(strict.best[0], strict.rows.size());
}

TEST(SweepPlanCmd, BadOptionsAreClearErrors) {
  auto message = [](CapacityOptions o) {
    try {
      plan_capacity(kScenario, o);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CapacityOptions o = small(10);
  o.gpus = {12};
  EXPECT_NE(message(o).find("12 is not a multiple of cluster.gpus_per_node (8)"), std::string::npos) << message(o);
  o = small(10);
  o.parts = {"NoSuchGPU"};
  EXPECT_NE(message(o).find("'NoSuchGPU' is not in the part catalog"), std::string::npos) << message(o);
  o = small(10);
  o.tokens = 0;
  EXPECT_NE(message(o).find("--tokens"), std::string::npos);
  o = small(10);
  o.confidence = 1.5;
  EXPECT_NE(message(o).find("--confidence"), std::string::npos);
}

std::string lcsim(const std::string& args, int* rc) {
  const std::string cmd = std::string(LCSIM_BINARY) + " plan " + args + " 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  *rc = WEXITSTATUS(pclose(f));
  return out;
}

TEST(SweepPlanCmd, BadFlagsExitTwoNamingTheFlag) {
  int rc = 0;
  const std::string base = kScenario + " --tokens 1e10 --days 5 ";
  EXPECT_NE(lcsim(base + "--gpus 8,x", &rc).find("--gpus: expected GPU counts and ranges"), std::string::npos);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(lcsim(base + "--gpus 16-8", &rc).find("--gpus: the range '16-8' ends below its start"), std::string::npos);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(lcsim(base + "--gpus 8 --confidence 2", &rc).find("--confidence"), std::string::npos);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(lcsim(base + "--gpus 8 --bogus 1", &rc).find("unknown option '--bogus' for 'lcsim plan'"),
            std::string::npos);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(lcsim(kScenario + " --days 5 --gpus 8", &rc).find("--tokens"), std::string::npos);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(lcsim("--help", &rc).find("usage: lcsim plan"), std::string::npos);
  EXPECT_EQ(rc, 0);
}

// GPU-count ranges (the flag parsing lcsim plan shares with lcsim search): "8-16" doubles from 8 to 16, "8-24/8"
// steps by 8; each plans exactly what the same counts listed one by one plan.
TEST(SweepPlanCmd, GpuRangesPlanWhatTheListedCountsPlan) {
  int rc = 0;
  const std::string base = kScenario + " --tokens 1e10 --days 5 --tp 2 --pp 1 --vpp 1 --mbs 1 --recompute none "
                                       "--dist-opt true -j 2 --gpus ";
  const std::string listed = lcsim(base + "8,16", &rc);
  ASSERT_EQ(rc, 0) << listed;
  EXPECT_EQ(lcsim(base + "8-16", &rc), listed);
  EXPECT_EQ(lcsim(base + "8-16/8", &rc), listed);
  EXPECT_EQ(lcsim(base + "8-16/8,8", &rc), listed);  // duplicates dropped
  const std::string three = lcsim(base + "8-24/8", &rc);
  EXPECT_NE(three.find("24"), std::string::npos) << three;
  EXPECT_EQ(lcsim(base + "8,16,24", &rc), three);
}

}  // namespace
}  // namespace lcsim::sweep
