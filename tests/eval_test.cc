// The in-process evaluation API (eval/): evaluate() gives what `lcsim run` writes; evaluations on several threads at
// once give what sequential ones give, bit for bit; a scenario's error comes back as an error, never an exit; the
// flow fidelity (SimGrid, one engine per process) is refused where it cannot run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "eval/batch.h"
#include "eval/evaluate.h"
#include "scenarios/catalog.h"
#include "scenarios/restart.h"
#include "scenarios/scenario.h"
#include "sim/config_tree.h"
#include "sim/error.h"
#include "workloads/training/megatron.h"

namespace lcsim {
namespace {

namespace fs = std::filesystem;

const std::string kSource = LCSIM_SOURCE_DIR;
const std::string k175b = kSource + "/scenarios/training/gpt3-175b-a100-1024.yaml";
const std::string k70b = kSource + "/scenarios/training/llama3-70b-h100-1024.yaml";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Small variants of the shipped 175B scenario (fewer micro-batches), each a distinct layout.
std::vector<std::vector<std::string>> variants() {
  return {
      {"workload.global_batch_size=128"},
      {"workload.global_batch_size=128", "workload.pipeline_model_parallel_size=8"},
      {"workload.global_batch_size=256", "workload.tensor_model_parallel_size=4"},
      {"workload.global_batch_size=256", "workload.micro_batch_size=2"},
      {"workload.global_batch_size=128", "workload.num_layers_per_virtual_pipeline_stage=2",
       "workload.pipeline_model_parallel_size=8"},
      {"workload.global_batch_size=128", "cluster.pools[0].count=64"},
  };
}

TEST(Evaluate, MetricsEqualThoseOfLcsimRun) {
  const fs::path dir = fs::temp_directory_path() / ("lcsim_eval_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::vector<std::string> sets = {"workload.global_batch_size=128"};
  const std::string cmd = std::string(LCSIM_BINARY) + " run " + k175b + " -q --set workload.global_batch_size=128 -o " +
                          dir.string() + " > /dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const Scenario sc = load_scenario(k175b, sets);
  const Result r = evaluate(sc);
  ASSERT_EQ(r.status, Result::Status::kCompleted) << r.error;
  EXPECT_EQ(r.metrics.to_json(), slurp(dir / "metrics.json"));
  EXPECT_GT(r.events, 0u);
  EXPECT_TRUE(r.timeline_json.empty()) << "the timeline is off unless asked for";
  // Asked for, it is the file `lcsim run` writes.
  EvalOptions with_timeline;
  with_timeline.timeline = true;
  const Result t = evaluate(sc, with_timeline);
  EXPECT_EQ(t.timeline_json, slurp(dir / "timeline.json"));
  EXPECT_EQ(t.metrics.to_json(), r.metrics.to_json());
  fs::remove_all(dir);
}

TEST(Evaluate, TheTableIsLeftOutWhenNotAskedForAndNothingElseChanges) {
  // A training run's table: its per-rank times and one layer's kernels. Sweeps and searches turn it off
  // (EvalOptions::table); the metrics and the event count must not move.
  const Scenario sc = load_scenario(k175b, {"workload.global_batch_size=128"});
  const Result with = evaluate(sc);
  ASSERT_EQ(with.status, Result::Status::kCompleted) << with.error;
  ASSERT_FALSE(with.table.empty());
  EXPECT_EQ(with.table.front().rfind("time per iteration by simulated rank", 0), 0u) << with.table.front();
  // Each simulated rank's compute and, of it, its wait for the host: their mean is time_host_s.
  ASSERT_GE(with.table.size(), 3u);
  EXPECT_NE(with.table[1].find("compute    host  optim"), std::string::npos) << with.table[1];
  double host_sum = 0, rows = 0;
  const auto is_row = [](const std::string& l) {
    const size_t at = l.find_first_not_of(' ');
    return at != std::string::npos && std::isdigit(static_cast<unsigned char>(l[at]));
  };
  for (size_t i = 2; i < with.table.size() && is_row(with.table[i]); ++i) {
    std::istringstream row(with.table[i]);
    double rank = 0, stage = 0, compute = 0, host = -1;
    row >> rank >> stage >> compute >> host;
    EXPECT_GE(host, 0) << with.table[i];
    EXPECT_LT(host, compute) << with.table[i];
    host_sum += host, ++rows;
  }
  ASSERT_GT(rows, 0);
  EXPECT_GT(with.metrics.get("time_host_s"), 0);
  EXPECT_NEAR(host_sum / rows, with.metrics.get("time_host_s") * 1e3, 0.01);
  EvalOptions metrics_only;
  metrics_only.table = false;
  const Result without = evaluate(sc, metrics_only);
  ASSERT_EQ(without.status, Result::Status::kCompleted) << without.error;
  EXPECT_TRUE(without.table.empty());
  EXPECT_EQ(without.metrics.to_json(), with.metrics.to_json());
  EXPECT_EQ(without.events, with.events);
}

TEST(Evaluate, AnAutoTimelinePastItsLimitIsRerunAsWhatProtobufWrites) {
  // The auto timeline of an analytical run keeps no event log: past outputs.timeline_json_limit the run is done
  // again with protobuf (evaluate(const Scenario&)). The file must be what protobuf writes, and what the in-run
  // switch writes (evaluate(Scenario&&) keeps the log and switches within the run); the metrics are the same.
  const std::vector<std::string> sets = {"workload.global_batch_size=128", "outputs.timeline_json_limit=100KiB"};
  EvalOptions with_timeline;
  with_timeline.timeline = true;
  const Scenario sc = load_scenario(k175b, sets);
  ASSERT_EQ(sc.outputs.timeline_format, "auto");
  int announced = 0;
  EvalOptions counting = with_timeline;
  counting.started = [&announced](const std::vector<std::string>&) { ++announced; };
  const Result rerun = evaluate(sc, counting);
  ASSERT_EQ(rerun.status, Result::Status::kCompleted) << rerun.error;
  EXPECT_EQ(announced, 1) << "the rerun does not announce the run again";
  EXPECT_EQ(rerun.timeline_file, "timeline.pftrace");
  EXPECT_TRUE(rerun.timeline_json.empty());
  EXPECT_GT(rerun.timeline_pftrace.size(), 100000u);
  std::vector<std::string> proto_sets = sets;
  proto_sets.push_back("outputs.timeline_format=protobuf");
  const Result proto = evaluate(load_scenario(k175b, proto_sets), with_timeline);
  EXPECT_EQ(rerun.timeline_pftrace, proto.timeline_pftrace);
  const Result switched = evaluate(load_scenario(k175b, sets), with_timeline);  // an rvalue: the logged switch
  EXPECT_EQ(switched.timeline_file, "timeline.pftrace");
  EXPECT_EQ(rerun.timeline_pftrace, switched.timeline_pftrace);
  EXPECT_EQ(rerun.metrics.to_json(), switched.metrics.to_json());
  // Under the limit (the default 256 MiB, far above this run's JSON) it is the JSON.
  const Result under = evaluate(load_scenario(k175b, {"workload.global_batch_size=128"}), with_timeline);
  EXPECT_EQ(under.timeline_file, "timeline.json");
  EXPECT_EQ(under.metrics.to_json(), rerun.metrics.to_json());
}

TEST(Evaluate, LeavesTheScenarioAsItWas) {
  // Evaluating twice gives the same result: the run works on a copy (workloads keep state while they run).
  const Scenario sc = load_scenario(k175b, {"workload.global_batch_size=128"});
  const std::string first = evaluate(sc).metrics.to_json();
  EXPECT_EQ(evaluate(sc).metrics.to_json(), first);
}

// evaluate() runs a copy of the scenario, made section by section: the copy must say everything the original says
// (a section left out of copy_scenario would be silently dropped). Every shipped scenario, and one with every
// optional section set.
TEST(Evaluate, ACopyOfAScenarioResolvesToTheSameYaml) {
  std::vector<Scenario> cases;
  for (const auto& dir : {"scenarios/examples", "scenarios/training", "scenarios/validation", "scenarios/what-if"}) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() == ".yaml") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) cases.push_back(load_scenario(f.string()));
  }
  cases.push_back(load_scenario(k175b, {"reliability={enabled: true, seeds: 3, checkpoint_interval: 2h}",
                                        "cost.token_budget=1e12", "cost.pue=1.2", "simulation.seed=9",
                                        "outputs.timeline=false"}));
  ASSERT_GT(cases.size(), 10u);
  for (Scenario& sc : cases) {
    Scenario copy = copy_scenario(sc);
    EXPECT_EQ(resolved_yaml(copy), resolved_yaml(sc)) << sc.name;
  }
}

// evaluate(const Scenario&) runs a copy whose Megatron configuration is copied as it is (MegatronTraining::copy_config,
// scenarios/restart.cc): what a pasted command line set (ignored arguments, the job's length) survives, and so does
// what it left out: the run header's "megatron_args left out, lcsim's default taken" line, which a copy written out
// and read back lost (every key then reads as given; main 555f495). The run is the original's, bit for bit.
TEST(Evaluate, ACopiedMegatronWorkloadKeepsWhatItsCommandLineSaid) {
  const std::vector<std::string> sets = {"workload.global_batch_size=128",
                                         "workload.megatron_args=--lr 3e-4 --data-path /d --train-iters 500000"};
  const Scenario sc = load_scenario(k175b, sets);
  const Scenario copy = copy_scenario(sc);
  const auto& from = dynamic_cast<const wl::MegatronTraining&>(*sc.workload).config();
  const auto& to = dynamic_cast<const wl::MegatronTraining&>(*copy.workload).config();
  EXPECT_EQ(from.ignored_args, (std::vector<std::string>{"--lr", "--data-path"}));
  EXPECT_EQ(to.ignored_args, from.ignored_args);
  EXPECT_EQ(to.assumed_args, from.assumed_args);
  EXPECT_EQ(from.job_train_iters, 500000);
  EXPECT_EQ(to.job_train_iters, 500000);
  // The scenario's full recompute with no --recompute-method: lcsim's "uniform, 1" is named in the header.
  ASSERT_FALSE(from.defaults_taken.empty());
  EXPECT_EQ(to.defaults_taken, from.defaults_taken);
  EXPECT_NE(copy.workload->describe().find("megatron_args left out, lcsim's default taken"), std::string::npos);
  EXPECT_EQ(copy.workload->describe(), sc.workload->describe());
  const Result a = evaluate(sc);  // a copy of sc
  ASSERT_TRUE(a.ok()) << a.error;
  const Result b = evaluate(load_scenario(k175b, sets));  // sc itself, as `lcsim run` runs it
  EXPECT_EQ(a.metrics.to_json(), b.metrics.to_json());
  EXPECT_EQ(a.metrics.get("job_iterations"), 500000);
}

/// A workload whose configuration holds, besides its one key, what only parsing its section knew: where the section
/// is in its file. Writing the configuration out and reading it back loses that; copy_config keeps it.
class Noted final : public wl::Workload {
 public:
  struct Config {
    int n = 1;
    SourceLocation parsed_at;  // not a key
  };
  Config config_;
  void visit(Section& s) override {
    s.field("n", config_.n, "a number", Range::at_least(0));
    if (s.mode() == Section::Mode::kParse && s.node()) config_.parsed_at = s.node()->location;
  }
  void copy_config(const wl::Workload& from) override { config_ = wl::same_type<Noted>(from).config_; }
  void validate(const std::vector<wl::Gpu>& /*gpus*/, Section& /*s*/) override {}
  void start(wl::RunContext& ctx) override { ctx.finish(); }
  void report(MetricSet& /*m*/) const override {}
  double progress() const override { return 1; }
  std::string describe() const override { return "noted"; }
};

// copy_workload (a job's restart, evaluate()'s copy) asks the workload to copy its own configuration
// (Workload::copy_config): restart.cc knows no workload type. A workload that is not Megatron keeps what a copy
// written out and read back lost; a copy into another type is refused.
TEST(Evaluate, EveryWorkloadCopiesItsOwnConfiguration) {
  Catalog catalog;
  catalog.workloads.add("noted", "test workload", [] { return std::unique_ptr<wl::Workload>(new Noted); });
  const ConfigValue tree = parse_yaml_text("name: x\nworkload:\n  n: 3\n", "noted.yaml");
  Noted original;
  Diagnostics diags;
  Section s = Section::parser(tree.find("workload"), "workload", &diags);
  original.visit(s);
  s.finish();
  diags.throw_if_any();
  ASSERT_EQ(original.config_.n, 3);
  ASSERT_EQ(original.config_.parsed_at.file, "noted.yaml");
  ASSERT_EQ(original.config_.parsed_at.line, 3);
  const std::unique_ptr<wl::Workload> copy = copy_workload(catalog, "noted", original, {});
  const Noted& c = dynamic_cast<const Noted&>(*copy);
  EXPECT_EQ(c.config_.n, 3);
  EXPECT_EQ(c.config_.parsed_at, original.config_.parsed_at);  // read back from a written-out copy: line 0, no file
  EXPECT_THROW(copy_workload(Catalog::get(), "traffic", original, {}), std::bad_cast);
}

TEST(Evaluate, ThreadsGiveTheSameResultsAsSequentialRunsBitForBit) {
  std::vector<Scenario> scenarios;
  for (const auto& sets : variants()) scenarios.push_back(load_scenario(k175b, sets));
  std::vector<std::string> sequential;
  for (const auto& sc : scenarios) {
    const Result r = evaluate(sc);
    ASSERT_TRUE(r.ok()) << r.error;
    sequential.push_back(r.metrics.to_json());
  }
  for (size_t i = 1; i < sequential.size(); ++i) EXPECT_NE(sequential[i], sequential[0]) << "variant " << i;
  // oneTBB batch, several threads.
  std::vector<const Scenario*> ptrs;
  for (const auto& sc : scenarios) ptrs.push_back(&sc);
  BatchOptions options;
  options.threads = 4;
  const std::vector<Result> batch = evaluate_batch(ptrs, options);
  ASSERT_EQ(batch.size(), scenarios.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    ASSERT_TRUE(batch[i].ok()) << batch[i].error;
    EXPECT_EQ(batch[i].metrics.to_json(), sequential[i]) << "variant " << i;
  }
  // Plain threads evaluating the same scenario at once.
  std::vector<std::string> same(4);
  std::vector<std::thread> threads;
  for (size_t k = 0; k < same.size(); ++k) {
    threads.emplace_back([&, k] { same[k] = evaluate(scenarios[4]).metrics.to_json(); });
  }
  for (auto& t : threads) t.join();
  for (const auto& s : same) EXPECT_EQ(s, sequential[4]);
}

// A Megatron workload's validation (the memory fit) keeps its stage plans for the run only where the attention
// backend leaves the part as it is: on H100 (its own kernel cuDNN) `auto` and `cudnn` reuse them, flash2 and flash3
// are planned again with their own curves, so their compute differs (it would equal cuDNN's with the kept plans).
// evaluate() of a copy (validated against the copy's cluster) gives what the scenario's own run gives.
TEST(Evaluate, KeptStagePlansFollowTheAttentionBackend) {
  auto compute = [](const std::string& backend) {
    const std::vector<std::string> sets = {"workload.attention_backend=" + backend, "workload.global_batch_size=128"};
    const Scenario sc = load_scenario(k70b, sets);
    const Result copied = evaluate(sc);
    const Result own = evaluate(load_scenario(k70b, sets));
    EXPECT_TRUE(copied.ok() && own.ok()) << copied.error << own.error;
    EXPECT_EQ(copied.metrics.to_json(), own.metrics.to_json()) << backend;
    return copied.metrics.get("time_compute_s");
  };
  const double cudnn = compute("cudnn");
  EXPECT_EQ(compute("auto"), cudnn);
  EXPECT_NE(compute("flash2"), cudnn);
  EXPECT_NE(compute("flash3"), cudnn);
}

TEST(Evaluate, BatchBuildsScenariosOnWorkersAndReportsTheirErrors) {
  BatchOptions options;
  options.threads = 2;
  const std::vector<Result> out = evaluate_batch(3, [](size_t i) {
    if (i == 1) return load_scenario(k175b, {"workload.tensor_model_parallel_size=3"});
    return load_scenario(k175b, {"workload.global_batch_size=" + std::to_string(128 * (i + 1))});
  }, options);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].ok()) << out[0].error;
  EXPECT_TRUE(out[2].ok()) << out[2].error;
  EXPECT_EQ(out[1].status, Result::Status::kError);
  EXPECT_FALSE(out[1].internal_error);
  EXPECT_NE(out[1].error.find("tensor_model_parallel_size"), std::string::npos) << out[1].error;
  EXPECT_EQ(out[0].metrics.to_json(), evaluate(load_scenario(k175b, {"workload.global_batch_size=128"})).metrics.to_json());
}

TEST(Evaluate, AScenarioErrorComesBackAsAnError) {
  // A cluster-only file (no workload) has nothing to run.
  const Scenario cluster_only = load_scenario(kSource + "/scenarios/clusters/" +
                                              fs::directory_iterator(kSource + "/scenarios/clusters")->path().filename().string());
  ASSERT_FALSE(cluster_only.has_workload);
  const Result r = evaluate(cluster_only);
  EXPECT_EQ(r.status, Result::Status::kError);
  EXPECT_FALSE(r.internal_error);
  EXPECT_NE(r.error.find("no workload"), std::string::npos) << r.error;
  EXPECT_TRUE(r.metrics.metrics().empty());
}

TEST(Evaluate, TheHorizonCuttingARunShortIsAWarning) {
  const Result r = evaluate(load_scenario(k175b, {"workload.global_batch_size=128", "simulation.horizon=1ms"}));
  EXPECT_EQ(r.status, Result::Status::kIncomplete);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("simulation.horizon"), std::string::npos);
  EXPECT_EQ(r.metrics.get("completed"), 0.0);
}

TEST(Evaluate, FlowFidelityRunsOncePerProcessAndNeverInABatch) {
  const Scenario flow = load_scenario(k70b, {"simulation.fidelity=flow", "cluster.nodes=8",
                                             "workload.global_batch_size=16", "workload.pipeline_model_parallel_size=2",
                                             "workload.tensor_model_parallel_size=8"});
  ASSERT_TRUE(uses_simgrid(flow));
  const std::vector<Result> batch = evaluate_batch({&flow});
  EXPECT_EQ(batch[0].status, Result::Status::kError);
  EXPECT_NE(batch[0].error.find("SimGrid"), std::string::npos) << batch[0].error;
  const Result first = evaluate(flow);
  EXPECT_TRUE(first.ok()) << first.error;
  const Result second = evaluate(flow);
  EXPECT_EQ(second.status, Result::Status::kError);
  EXPECT_NE(second.error.find("one engine per process"), std::string::npos) << second.error;
}

}  // namespace
}  // namespace lcsim
