// The short summary of a run, in process: the header reaches the caller before the simulation runs; the
// summary answers in human units, with the run's own numbers, and says how far the family was validated.
#include "apps/summary.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "apps/format.h"
#include "apps/validation_status.h"
#include "scenarios/scenario.h"

namespace lcsim::app {
namespace {

const std::string kSource = LCSIM_SOURCE_DIR;

std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

/// Nothing a person should not have to read: no 7-digit runs (raw bytes), no exponents, no metric names.
void expect_readable(const std::string& text) {
  EXPECT_FALSE(std::regex_search(text, std::regex("[0-9]{7,}"))) << text;
  EXPECT_FALSE(std::regex_search(text, std::regex("[0-9]e[-+]?[0-9]"))) << text;
  EXPECT_FALSE(std::regex_search(text, std::regex("\\.0*[1-9][0-9]{3,}"))) << text;
  EXPECT_EQ(text.find("_bytes"), std::string::npos) << text;
  EXPECT_EQ(text.find("_s "), std::string::npos) << text;
}

TEST(Summary, HeaderComesBeforeTheSimulationRuns) {
  Scenario sc =
      load_scenario(kSource + "/scenarios/examples/nccl-tests-h100.yaml", {"outputs.timeline=false"});
  RunHooks hooks;
  std::vector<std::string> header;
  double progress_at_header = -1;
  hooks.started = [&](const std::vector<std::string>& lines) {
    header = lines;
    progress_at_header = sc.workload->progress();
  };
  const RunResult r = run_scenario(sc, hooks);
  ASSERT_TRUE(r.completed);
  EXPECT_EQ(header, r.header);
  ASSERT_GE(header.size(), 4u);
  EXPECT_EQ(progress_at_header, 0.0) << "the header came after some of the sizes had been simulated";
  EXPECT_EQ(sc.workload->progress(), 1.0);
  EXPECT_NE(joined(header).find("1 leaf switch of 32 ports, 32 spines"), std::string::npos) << joined(header);
}

TEST(Summary, TrainingInHumanUnitsWithTheRunsOwnNumbers) {
  Scenario sc = load_scenario(kSource + "/scenarios/examples/gpt-1.3b-dp-h100.yaml",
                              {"simulation.fidelity=analytical", "outputs.timeline=false"});
  const RunResult r = run_scenario(sc);
  const auto lines = short_summary(sc, r, ValidationStatus::builtin());
  const std::string text = joined(lines);
  EXPECT_LE(lines.size(), 10u) << text;
  expect_readable(text);
  const auto& m = r.metrics;
  EXPECT_NE(text.find("iteration      " + format_duration(m.get("iteration_time_s")) + ": compute " +
                      format_duration(m.get("compute_time_s"))),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("throughput     " + format_rate(m.get("tokens_per_s"), "tokens") + " on 64 GPUs, " +
                      format_flop_rate(m.get("tflops_per_gpu") * 1e12) + " per GPU, MFU " +
                      format_percent(m.get("mfu"))),
            std::string::npos)
      << text;
  // 41,994,985,472 bytes of the part's 81,559 MiB (the memory plan does not depend on the simulation; no bucket
  // buffers: Megatron reduces the gradient buffer in place).
  EXPECT_NE(text.find("memory per GPU 42 GB of 85.5 GB HBM (49.1%)"), std::string::npos) << text;
  EXPECT_NE(text.find("job length     not given: cost.token_budget"), std::string::npos) << text;
  // The family's line (its row count and errors are validation_status_test's to check against docs/validation.md).
  EXPECT_NE(text.find("Confidence: H100 dense training: validated on "), std::string::npos) << text;
  EXPECT_NE(text.find(" published runs ("), std::string::npos) << text;
}

TEST(Summary, TokenBudgetGivesTheWholeJob) {
  Scenario sc = load_scenario(kSource + "/scenarios/examples/gpt-6.7b-dp-budget.yaml",
                              {"simulation.fidelity=analytical", "outputs.timeline=false"});
  const RunResult r = run_scenario(sc);
  const std::string text = joined(short_summary(sc, r, ValidationStatus::builtin()));
  expect_readable(text);
  const auto& m = r.metrics;
  EXPECT_NE(text.find("token budget   300 B tokens: " + format_duration(m.get("budget_time_days") * 86400) +
                      ", " + format_count(m.get("budget_gpu_hours")) + " GPU-hours, " +
                      format_energy_mwh(m.get("budget_energy_mwh")) + ", USD "),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("job length"), std::string::npos) << text;
}

TEST(Summary, JobTrainItersGivesTheWholeJobAtTheRunsPower) {
  Scenario sc =
      load_scenario(kSource + "/scenarios/examples/gpt-1.3b-dp-h100.yaml",
                    {"simulation.fidelity=analytical", "outputs.timeline=false", "workload.type=megatron",
                     "workload.job_train_iters=500000", "cost.price_per_gpu_hour=3", "cost.currency=EUR"});
  const RunResult r = run_scenario(sc);
  const std::string text = joined(short_summary(sc, r, ValidationStatus::builtin()));
  expect_readable(text);
  const auto& m = r.metrics;
  // 500,000 iterations of 512 x 2,048 tokens; energy at the run's mean facility power, priced like
  // cost_total.
  const double kwh = m.get("power_kw") * m.get("job_time_days") * 24;
  EXPECT_NE(text.find("whole job      500,000 iterations (524 B tokens): " +
                      format_duration(m.get("job_time_days") * 86400) + ", " +
                      format_count(m.get("job_gpu_hours")) + " GPU-hours, " + format_energy_mwh(kwh / 1000) +
                      ", " + format_money(m.get("job_gpu_hours") * 3 + kwh * 0.10, "EUR") + "\n"),
            std::string::npos)
      << text;
  // Megatron-LM's evaluations (100 forward-only iterations every 1,000, then on the validation and test sets): 502.
  EXPECT_EQ(m.get("job_evaluations"), 502);
  EXPECT_NE(text.find("evaluation     502 of them in the whole job: " +
                      format_duration(m.get("job_eval_time_days") * 86400) + " (" +
                      format_percent(m.get("job_eval_time_days") / m.get("job_time_days")) + ")\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("job length"), std::string::npos) << text;
}

TEST(Summary, MixedPartsAreNotValidated) {
  Scenario sc = load_scenario(kSource + "/scenarios/examples/gpt-1.3b-mixed-h100-a100.yaml",
                              {"simulation.fidelity=analytical", "outputs.timeline=false"});
  const RunResult r = run_scenario(sc);
  const std::string text = joined(short_summary(sc, r, ValidationStatus::builtin()));
  EXPECT_NE(text.find("Confidence: not validated for mixed H100-SXM-80GB + A100-SXM-80GB dense training"),
            std::string::npos)
      << text;
}

// The nodes a run spans (its Confidence line's node range): a job's allocation node by node, pool by pool; a run
// without one takes the cluster's first GPUs. Then a collectives run across four HGX B200 nodes is outside the
// one-node family it would otherwise claim.
TEST(Summary, RunsSayHowManyNodesTheySpan) {
  const Scenario sc = load_scenario(kSource + "/scenarios/validation/nccl-b200-gb200.yaml",
                                    {"cluster.pools=[{node: hgx-b200, count: 4}, {node: gb200-nvl72, count: 1}]",
                                     "workload.ranks=32", "workload.sizes=[1GiB]", "simulation.fidelity=analytical"});
  EXPECT_EQ(nodes_of(sc.cluster, {}, 8), 1);
  EXPECT_EQ(nodes_of(sc.cluster, {}, 9), 2);
  EXPECT_EQ(nodes_of(sc.cluster, {}, 0), 5);
  EXPECT_EQ(nodes_of(sc.cluster, {0, 7, 31, 32, 103}, 0), 3);  // 32 and 103: the rack, one node of 72 GPUs
  Scenario four = load_scenario(kSource + "/scenarios/validation/nccl-b200-gb200.yaml",
                                {"cluster.pools=[{node: hgx-b200, count: 4}]", "workload.ranks=32",
                                 "workload.sizes=[1GiB]", "simulation.fidelity=analytical"});
  const RunResult r = run_scenario(four);
  const std::string text = joined(short_summary(four, r, ValidationStatus::builtin()));
  EXPECT_NE(text.find("this run is outside that range: 4 nodes (validated: 1)"), std::string::npos) << text;
}

}  // namespace
}  // namespace lcsim::app
