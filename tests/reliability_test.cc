// The whole training job with failures (scenario key `reliability:`): metrics from the simulated iteration, node
// failures and checkpoints; Daly's interval by default; no failures = checkpoint overhead only; the same seed gives
// the same numbers; an unknown job length is a warning, not a guess.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "eval/evaluate.h"
#include "policies/checkpoint_interval.h"
#include "scenarios/scenario.h"
#include "sim/error.h"

namespace lcsim {
namespace {

RunResult run(const std::string& file, const std::vector<std::string>& sets) {
  Scenario sc = load_scenario(file, sets);
  return run_scenario(sc);
}

const std::string k70b = "scenarios/training/llama3-70b-h100-1024.yaml";  // 128 nodes, a 15.6T-token budget

TEST(Reliability, NodeFailuresInterruptTheJobAndDalysIntervalIsTheDefault) {
  const RunResult r = run(k70b, {"reliability.enabled=true", "reliability.failures=node", "outputs.timeline=false"});
  const MetricSet& m = r.metrics;
  ASSERT_TRUE(m.has("reliability_ettr")) << (r.warnings.empty() ? "" : r.warnings.front());
  const double mtbf_h = 239.0 * 24 / 128;
  EXPECT_NEAR(m.get("reliability_job_mtbf_h"), mtbf_h, 1e-9);
  const policy::CheckpointCosts c{Duration::seconds(60), Duration::seconds(600), Duration::seconds(mtbf_h * 3600)};
  EXPECT_DOUBLE_EQ(m.get("reliability_checkpoint_interval_s"), policy::daly_interval(c).s());
  EXPECT_GT(m.get("reliability_ettr"), 0.9);
  EXPECT_LT(m.get("reliability_ettr"), 1.0);
  EXPECT_GT(m.get("reliability_time_days"), m.get("budget_time_days"));
  // Interruptions: Poisson at the job's failure rate over the wall time (5 standard errors over the 16 seeds).
  const double expected = m.get("reliability_time_days") * 24 / mtbf_h;
  EXPECT_NEAR(m.get("reliability_interruptions"), expected, 5 * std::sqrt(expected / 16) + 1);
  EXPECT_EQ(m.get("reliability_finished_fraction"), 1.0);
  EXPECT_GT(m.get("reliability_lost_gpu_hours"), 0.0);
  // The same seed: the same numbers; another seed: other failures.
  const RunResult again = run(k70b, {"reliability.enabled=true", "reliability.failures=node", "outputs.timeline=false"});
  EXPECT_EQ(again.metrics.get("reliability_ettr"), m.get("reliability_ettr"));
  const RunResult other = run(k70b, {"reliability.enabled=true", "reliability.failures=node", "outputs.timeline=false",
                                     "simulation.seed=7"});
  EXPECT_NE(other.metrics.get("reliability_ettr"), m.get("reliability_ettr"));
  // The in-process API (what lcsim run uses) runs a copy of the scenario: the section must come along.
  const Result e = evaluate(load_scenario(k70b, {"reliability.enabled=true", "reliability.failures=node",
                                                 "outputs.timeline=false"}));
  ASSERT_TRUE(e.metrics.has("reliability_ettr"));
  EXPECT_EQ(e.metrics.get("reliability_ettr"), m.get("reliability_ettr"));
}

TEST(Reliability, WithoutFailuresOnlyTheCheckpointsCost) {
  const RunResult r = run(k70b, {"reliability={enabled: true, failures: node, node_failures: {dist: exponential, "
                                 "mean: 1000000d}, checkpoint_interval: 1h, checkpoint_save: 2min}",
                                 "outputs.timeline=false"});
  const MetricSet& m = r.metrics;
  ASSERT_TRUE(m.has("reliability_ettr"));
  const double work_h = m.get("budget_time_days") * 24;
  const double saves = std::ceil(work_h);  // one after every hour of compute, and after the last part
  EXPECT_NEAR(m.get("reliability_ettr"), work_h / (work_h + saves / 30), 1e-9);
  EXPECT_EQ(m.get("reliability_interruptions"), 0.0);
  EXPECT_EQ(m.get("reliability_ettr_ci95"), 0.0);
}

// The job's own checkpoint interval (Megatron's --save-interval, workload key save_interval): that many iterations of
// compute between checkpoints, in place of the policy's; reliability.checkpoint_interval, where set, still wins.
TEST(Reliability, TheWorkloadsSaveIntervalIsTheCheckpointInterval) {
  const std::vector<std::string> base = {"reliability.enabled=true", "reliability.failures=node",
                                         "outputs.timeline=false", "workload.save_interval=500"};
  const RunResult r = run(k70b, base);
  const MetricSet& m = r.metrics;
  ASSERT_TRUE(m.has("reliability_ettr"));
  EXPECT_EQ(m.get("checkpoint_every_iterations"), 500.0);
  EXPECT_NEAR(m.get("reliability_checkpoint_interval_s"), 500 * m.get("iteration_time_s"), 1e-9);
  std::string described;
  for (const auto& x : m.metrics()) {
    if (x.name == "reliability_checkpoint_interval_s") described = x.description;
  }
  EXPECT_NE(described.find("save_interval: 500 iterations"), std::string::npos) << described;
  const RunResult daly = run(k70b, {"reliability.enabled=true", "reliability.failures=node", "outputs.timeline=false"});
  EXPECT_NE(daly.metrics.get("reliability_checkpoint_interval_s"), m.get("reliability_checkpoint_interval_s"));
  EXPECT_NE(m.get("reliability_ettr"), daly.metrics.get("reliability_ettr"));
  auto fixed = base;
  fixed.push_back("reliability.checkpoint_interval=1h");
  EXPECT_DOUBLE_EQ(run(k70b, fixed).metrics.get("reliability_checkpoint_interval_s"), 3600.0);
}

TEST(Reliability, AnUnknownJobLengthIsAWarning) {
  const RunResult r = run("scenarios/examples/gpt-1.3b-dp-h100.yaml", {"reliability.enabled=true",
                                                                       "outputs.timeline=false"});
  EXPECT_FALSE(r.metrics.has("reliability_ettr"));
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings.front().find("the job's length is unknown"), std::string::npos);
  // evaluate() (what lcsim run prints from) carries the run's warnings.
  const Result e = evaluate(load_scenario(k70b, {"reliability.enabled=true", "outputs.timeline=false",
                                                 "cost.token_budget=0"}));
  ASSERT_TRUE(e.ok()) << e.error;
  ASSERT_EQ(e.warnings.size(), 1u);
  EXPECT_EQ(e.warnings.front(), r.warnings.front());
  // Off by default: nothing at all.
  const RunResult off = run(k70b, {"outputs.timeline=false"});
  EXPECT_FALSE(off.metrics.has("reliability_ettr"));
}

TEST(Reliability, ComponentFailuresByCauseWithLlamaRates) {
  const RunResult r = run(k70b, {"reliability.enabled=true", "outputs.timeline=false"});
  const MetricSet& m = r.metrics;
  ASSERT_TRUE(m.has("reliability_ettr"));
  // 1,024 GPUs on 128 nodes at Llama 3's rates: 419 interruptions per 16 x this many GPUs in 54 days.
  EXPECT_NEAR(m.get("reliability_job_mtbf_h"), 54.0 * 24 / 419 * 16, 1e-9);
  double by_cause = 0;
  for (const char* c : {"gpu", "hbm", "nic", "link", "switch", "host", "software", "filesystem"}) {
    ASSERT_TRUE(m.has(std::string("reliability_") + c + "_interruptions")) << c;
    by_cause += m.get(std::string("reliability_") + c + "_interruptions");
  }
  EXPECT_NEAR(by_cause, m.get("reliability_interruptions"), 1e-9);
  EXPECT_EQ(m.get("reliability_filesystem_interruptions"), 0.0);  // off by default: no published rate
  // GPUs and HBM cause most of them (Llama 3: 268 of 419).
  EXPECT_GT(m.get("reliability_gpu_interruptions") + m.get("reliability_hbm_interruptions"),
            0.5 * m.get("reliability_interruptions"));
  EXPECT_GT(m.get("reliability_planned_stops"), 0.0);
  EXPECT_GT(m.get("reliability_detection_h"), 0.0);
  EXPECT_GT(m.get("reliability_cost_total"), m.get("budget_cost_total"));
  // The thread count does not change a number.
  const RunResult one = run(k70b, {"reliability.enabled=true", "reliability.threads=1", "outputs.timeline=false"});
  EXPECT_EQ(one.metrics.get("reliability_ettr"), m.get("reliability_ettr"));
  EXPECT_EQ(one.metrics.get("reliability_lost_gpu_hours"), m.get("reliability_lost_gpu_hours"));
}

TEST(Reliability, WithoutSparesTheJobWaitsForRepairs) {
  const RunResult with = run(k70b, {"reliability.enabled=true", "reliability.seeds=4", "outputs.timeline=false"});
  const RunResult none = run(k70b, {"reliability.enabled=true", "reliability.seeds=4", "reliability.spares=0",
                                    "outputs.timeline=false"});
  EXPECT_EQ(with.metrics.get("reliability_wait_repair_h"), 0.0);
  EXPECT_GT(none.metrics.get("reliability_wait_repair_h"), 0.0);
  EXPECT_LT(none.metrics.get("reliability_ettr"), with.metrics.get("reliability_ettr"));
}

TEST(Reliability, FailurePredictionKeysAndMetrics) {
  const std::vector<std::string> base{"reliability.enabled=true", "reliability.seeds=4", "outputs.timeline=false"};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), base.begin(), base.end());
    return run(k70b, more).metrics;
  };
  const MetricSet off = with({});
  EXPECT_FALSE(off.has("reliability_predicted"));  // off by default: no metric, no number moves
  const MetricSet perfect = with({"reliability.prediction={enabled: true, recall: 1, precision: 1}"});
  EXPECT_EQ(perfect.get("reliability_lost_gpu_hours"), 0.0);
  EXPECT_EQ(perfect.get("reliability_false_alarms"), 0.0);
  EXPECT_GT(perfect.get("reliability_predicted"), 0.0);
  EXPECT_GT(perfect.get("reliability_ettr"), off.get("reliability_ettr"));
  // A lead shorter than the save: nothing predicted in time, but the false alarms still cost their saves.
  const MetricSet late = with({"reliability.prediction={enabled: true, recall: 1, precision: 0.5, lead: 30s}"});
  EXPECT_EQ(late.get("reliability_predicted"), 0.0);
  EXPECT_GT(late.get("reliability_false_alarms"), 0.0);
  EXPECT_THROW(with({"reliability.prediction.precision=0"}), InputError);
  EXPECT_THROW(with({"reliability.prediction.recal=1"}), InputError);
}

TEST(Reliability, BadRatesAndDistributionsAreErrorsAtTheirLine) {
  const std::string dir = ::testing::TempDir() + "reliability_bad_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string file = dir + "/bad.yaml";
  std::ofstream(file) << "base: " << std::filesystem::absolute(k70b).string() << "\n"
                      << "reliability:\n"
                      << "  enabled: true\n"
                      << "  components:\n"
                      << "    gpu: {mtbf: -3h}\n"
                      << "    hbm: {dist: weibul}\n";
  try {
    load_scenario(file, {});
    FAIL() << "accepted a negative mtbf";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("bad.yaml:5:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("reliability.components.gpu.mtbf"), std::string::npos) << msg;
    EXPECT_NE(msg.find("bad.yaml:6:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("weibull"), std::string::npos) << msg;  // did you mean
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lcsim
