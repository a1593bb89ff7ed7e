// A serving deployment as a scheduled job (issue 16 items 2 and 6): job CSV rows of kind inference that name a
// serving scenario, and their errors; the replay holds a deployment for its duration, keeps its latency per group
// it ran in (time-weighted p50s, worst p99s; derived by hand with a model of known answers), never starts it on
// part of its GPUs, and memoizes groups with it by shape; on the flow model a deployment and a training job that
// cross the same spine uplinks slow each other (each checked against itself alone, from the same model).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "scenarios/cluster_speed.h"
#include "sim/error.h"
#include "cluster_support.h"
#include "workloads/cluster/cluster_sim.h"

namespace lcsim::cluster {
namespace {

namespace fs = std::filesystem;
using namespace support;  // NOLINT(google-build-using-namespace): the cluster tests' helpers

TraceJob train(double submit, uint32_t gpus, uint64_t iterations) {
  return support::training(submit, gpus, iterations, "train.yaml");
}

/// Jobs as a CSV trace gives them, the workload in column 9.
JobTrace trace(std::vector<TraceJob> jobs) { return support::trace(std::move(jobs), 9); }

/// Known answers: workloads named "serve*.yaml" are serving deployments. A training job takes 1 s per iteration
/// alone and 2 s with a neighbour; a deployment's TTFT is p50 1 s / p99 2 s alone and 3 s / 5 s with a neighbour.
class KnownModel final : public JobSpeedModel {
 public:
  uint32_t workload(const std::string& name) override {
    names.push_back(name);
    return static_cast<uint32_t>(names.size() - 1);
  }
  bool serving(uint32_t w) const override { return fs::path(names.at(w)).filename().string().rfind("serve", 0) == 0; }
  std::vector<double> iteration_s(const std::vector<RunningWork>&) override { return {}; }
  std::vector<JobSpeed> speeds(const std::vector<RunningWork>& group) override {
    ++calls;
    const bool crowded = group.size() > 1;
    std::vector<JobSpeed> out;
    for (const auto& w : group) {
      JobSpeed s;
      s.serving = serving(w.workload);
      if (s.serving) {
        s.latency.ttft_p50_s = crowded ? 3 : 1;
        s.latency.ttft_p99_s = crowded ? 5 : 2;
        s.latency.slo_attainment = crowded ? 0.5 : 1;
      } else {
        s.iteration_s = crowded ? 2 : 1;
      }
      out.push_back(s);
    }
    return out;
  }
  std::vector<std::string> names;
  int calls = 0;
};

TraceJob serve(double submit, uint32_t gpus, double duration) {
  TraceJob j;
  j.submit_s = submit;
  j.gpus = gpus;
  j.workload = "serve.yaml";
  j.kind = JobKind::kInference;
  j.duration_s = duration;
  return j;
}

/// The replay of `jobs` on four_nodes() under `policy`, with `model`'s known answers.
ClusterResult replay(std::vector<TraceJob> jobs, const std::string& policy, KnownModel& model) {
  SimOptions opt;
  opt.speed = &model;
  return simulate_cluster(four_nodes(), trace(std::move(jobs)), *make(policy), opt);
}

std::string error_of(const std::string& csv_text, const fs::path& d) {
  std::ofstream(d / "jobs.csv") << csv_text;
  try {
    read_job_csv((d / "jobs.csv").string());
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(ClusterServing, CsvServingRowsAndTheirErrors) {
  fs::path d = temp_dir("serving_csv");
  const std::string head = "submit_s,gpus,kind,workload,iterations,duration_s\n";
  std::ofstream(d / "ok.csv") << head << "0,16,inference,serve.yaml,,600\n1,8,training,train.yaml,100,\n";
  JobTrace t = read_job_csv((d / "ok.csv").string());
  ASSERT_EQ(t.jobs.size(), 2u);
  EXPECT_EQ(t.jobs[0].kind, JobKind::kInference);
  EXPECT_EQ(t.jobs[0].workload, (d / "serve.yaml").lexically_normal().string());
  EXPECT_EQ(t.jobs[0].duration_s, 600);
  EXPECT_EQ(t.jobs[0].iterations, 0u);
  EXPECT_EQ(t.jobs[0].workload_column, 16u);  // "0,16,inference," is 15 characters
  EXPECT_EQ(t.jobs[1].iterations, 100u);
  // A serving row with iterations; without a duration; with duration 0.
  std::string e = error_of(head + "0,16,inference,serve.yaml,10,600\n0,16,inference,serve.yaml,,\n"
                                  "0,16,inference,serve.yaml,,0\n",
                           d);
  EXPECT_NE(e.find("jobs.csv:2:27: iterations: an inference job's workload is a serving deployment"), std::string::npos)
      << e;
  EXPECT_NE(e.find("jobs.csv:3:"), std::string::npos) << e;
  EXPECT_NE(e.find("duration_s: an inference job's serving workload needs duration_s"), std::string::npos) << e;
  EXPECT_NE(e.find("jobs.csv:4:"), std::string::npos) << e;
  EXPECT_NE(e.find("expected seconds > 0, got '0'"), std::string::npos) << e;
  // Without a duration_s column at all, the serving row's error points at its workload.
  e = error_of("submit_s,gpus,kind,workload\n0,16,inference,serve.yaml\n", d);
  EXPECT_NE(e.find("jobs.csv:2:16: duration_s:"), std::string::npos) << e;
  // A training workload needs iterations; an iterations column needs a workload column.
  e = error_of("submit_s,gpus,kind,workload,duration_s\n0,16,training,train.yaml,\n", d);
  EXPECT_NE(e.find("jobs.csv:2:"), std::string::npos) << e;
  EXPECT_NE(e.find("a training workload needs the 'iterations' column"), std::string::npos) << e;
  e = error_of("submit_s,gpus,iterations,duration_s\n0,16,5,60\n", d);
  EXPECT_NE(e.find("column 'iterations' needs a 'workload' column"), std::string::npos) << e;
  fs::remove_all(d);
}

TEST(ClusterServing, AServingWorkloadOnATrainingRowAndTheReverseAreErrors) {
  KnownModel model;
  SimOptions opt;
  opt.speed = &model;
  TraceJob wrong = serve(0, 8, 60);
  wrong.kind = JobKind::kTraining;  // a serving scenario on a training row
  TraceJob reverse = train(0, 8, 10);
  reverse.kind = JobKind::kInference;  // a training scenario on an inference row
  reverse.duration_s = 60;
  try {
    simulate_cluster(four_nodes(), trace({wrong, reverse}), *make("fifo"), opt);
    FAIL();
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("jobs.csv:2:9: kind: job 0's workload serve.yaml is a serving deployment"), std::string::npos)
        << what;
    EXPECT_NE(what.find("jobs.csv:3:9: workload: job 1 is of kind inference, but its workload train.yaml is a "
                        "training workload"),
              std::string::npos)
        << what;
  }
}

TEST(ClusterServing, TheReplayKeepsATimeWeightedRecordPerServingJob) {
  // First fit, 2 nodes per leaf. Job 0 serves on node 0 (leaf 0) from 0 to 10 s. Job 1 (8 GPUs, 4 iterations)
  // arrives at 4 s and takes node 1, beside it on leaf 0: both in one group. Job 1: 3 iterations at 2 s by 10 s,
  // then 1 alone: ends 11 s. Job 0: 4 s alone (TTFT p50 1 s, p99 2 s), 6 s beside job 1 (3 s, 5 s): lifetime p50
  // (4 x 1 + 6 x 3) / 10 = 2.2 s, p99 the worst, 5 s; SLO attainment (4 x 1 + 6 x 0.5) / 10 = 0.7.
  KnownModel model;
  ClusterResult r = replay({serve(0, 8, 10), train(4, 8, 4)}, "fifo", model);
  EXPECT_DOUBLE_EQ(r.jobs[0].end_s, 10);
  EXPECT_DOUBLE_EQ(r.jobs[1].end_s, 11);
  EXPECT_TRUE(r.jobs[0].serving);
  EXPECT_FALSE(r.jobs[0].workload) << "a serving job is not counted as a training workload";
  const ServingRecord& s = r.jobs[0].serving_record;
  EXPECT_DOUBLE_EQ(s.alone_s, 4);
  EXPECT_DOUBLE_EQ(s.shared_s, 6);
  EXPECT_EQ(s.groups, 2u);
  EXPECT_DOUBLE_EQ(s.lifetime.ttft_p50_s, 2.2);
  EXPECT_DOUBLE_EQ(s.lifetime.ttft_p99_s, 5);
  EXPECT_DOUBLE_EQ(s.lifetime.slo_attainment, 0.7);
  EXPECT_DOUBLE_EQ(s.alone.ttft_p99_s, 2);
  // The report carries it: per job and over the serving jobs.
  MetricSet m = r.metrics();
  EXPECT_EQ(m.get("serving_jobs"), 1);
  EXPECT_DOUBLE_EQ(m.get("job0.serving_ttft_p50_s"), 2.2);
  EXPECT_DOUBLE_EQ(m.get("job0.serving_ttft_p99_s"), 5);
  EXPECT_DOUBLE_EQ(m.get("job0.serving_shared_s"), 6);
  EXPECT_DOUBLE_EQ(m.get("serving_ttft_p99_s_max"), 5);
  EXPECT_DOUBLE_EQ(m.get("serving_shared_share"), 0.6);
  EXPECT_EQ(m.get("workload_jobs"), 1);
}

TEST(ClusterServing, AServingJobNeverStartsOnPartOfItsGpus) {
  // Job 0 (training, 3 nodes, 5 iterations alone at 1 s) holds nodes 0-2 from 0 to 5 s. Job 1 serves on 2 nodes
  // from 1 s: one node is free, so it waits for both (gang: all or none) and starts at 5 s, ending at 5 + 20.
  KnownModel model;
  ClusterResult r = replay({train(0, 24, 5), serve(1, 16, 20)}, "fifo", model);
  EXPECT_DOUBLE_EQ(r.jobs[0].end_s, 5);
  EXPECT_DOUBLE_EQ(r.jobs[1].first_start_s, 5);
  EXPECT_DOUBLE_EQ(r.jobs[1].end_s, 25);
  EXPECT_DOUBLE_EQ(r.jobs[1].serving_record.alone_s + r.jobs[1].serving_record.shared_s, 20);
  // Backfill may not start it early either: with nothing else queued it has the same start.
  ClusterResult b = replay({train(0, 24, 5), serve(1, 16, 20)}, "backfill", model);
  EXPECT_DOUBLE_EQ(b.jobs[1].first_start_s, 5);
}

TEST(ClusterServing, MemoizationIncludesTheServingJob) {
  policy::ClusterSnapshot s = build_cluster(four_nodes());
  KnownModel model;
  const uint32_t tw = model.workload("train.yaml"), sw = model.workload("serve.yaml");
  SpeedCache cache(s, model);
  // A training job and a deployment under leaf 0; the same pair under leaf 1: one shape, one simulation.
  std::vector<JobSpeed> a = cache.speeds({{1, tw, {{0, 8}}}, {2, sw, {{1, 8}}}});
  std::vector<JobSpeed> b = cache.speeds({{3, tw, {{2, 8}}}, {4, sw, {{3, 8}}}});
  EXPECT_EQ(model.calls, 1);
  EXPECT_EQ(cache.evaluations(), 1u);
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_DOUBLE_EQ(b[0].iteration_s, 2);
  EXPECT_TRUE(b[1].serving);
  EXPECT_DOUBLE_EQ(b[1].latency.ttft_p99_s, 5);
  EXPECT_EQ(b[1].group_jobs, 2u);
  // Two training jobs in the same places: another shape (the deployment is part of it), another simulation.
  cache.speeds({{1, tw, {{0, 8}}}, {2, tw, {{1, 8}}}});
  EXPECT_EQ(cache.evaluations(), 2u);
  EXPECT_NE(cache.shape({{1, tw, {{0, 8}}}, {2, sw, {{1, 8}}}}), cache.shape({{1, tw, {{0, 8}}}, {2, tw, {{1, 8}}}}));
}

TEST(ClusterServing, ATrainingJobAndADeploymentAcrossTheSameSpineSlowEachOther) {
  fs::path d = temp_dir("serving_flow");
  ScenarioJobSpeed speed(small_cluster(d));
  const std::string src = LCSIM_SOURCE_DIR;
  const uint32_t tw = speed.workload(src + "/scenarios/cluster-jobs/gpt-350m-dp.yaml");
  const uint32_t sw = speed.workload(src + "/scenarios/cluster-serving/llama3-8b-serving.yaml");
  EXPECT_FALSE(speed.serving(tw));
  EXPECT_TRUE(speed.serving(sw));
  // Training on nodes 0 and 2, serving with prefill on node 1 and decode on node 3: both cross the spine.
  const RunningWork t{1, tw, {{0, 8}, {2, 8}}}, s{2, sw, {{1, 8}, {3, 8}}};
  const double train_alone = speed.speeds({t}).front().iteration_s;
  const ServingLatency serve_alone = speed.speeds({s}).front().latency;
  const std::vector<JobSpeed> both = speed.speeds({t, s});
  std::printf("training alone %.6f s, together %.6f s; KV handoff p99 alone %.6f s, together %.6f s; TTFT p99 %.4f "
              "-> %.4f s, TPOT p99 %.5f -> %.5f s\n",
              train_alone, both[0].iteration_s, serve_alone.kv_p99_s, both[1].latency.kv_p99_s,
              serve_alone.ttft_p99_s, both[1].latency.ttft_p99_s, serve_alone.tpot_p99_s, both[1].latency.tpot_p99_s);
  ASSERT_TRUE(both[1].serving);
  EXPECT_GT(serve_alone.kv_p99_s, 0) << "a disaggregated deployment hands KV caches over";
  EXPECT_GT(both[0].iteration_s, train_alone) << "the all-reduce shares the uplinks with the KV handoffs";
  EXPECT_GT(both[1].latency.kv_p99_s, serve_alone.kv_p99_s) << "and the handoffs with the all-reduce";
  // On disjoint leaves (training on 0 and 1, serving on 2 and 3) nothing is shared: each as alone.
  const RunningWork t2{1, tw, {{0, 8}, {1, 8}}}, s2{2, sw, {{2, 8}, {3, 8}}};
  const double t2_alone = speed.speeds({t2}).front().iteration_s;
  const ServingLatency s2_alone = speed.speeds({s2}).front().latency;
  const std::vector<JobSpeed> apart = speed.speeds({t2, s2});
  EXPECT_NEAR(apart[0].iteration_s, t2_alone, 1e-9 * t2_alone);
  EXPECT_NEAR(apart[1].latency.kv_p99_s, s2_alone.kv_p99_s, 1e-9 * s2_alone.kv_p99_s);
  fs::remove_all(d);
}

}  // namespace
}  // namespace lcsim::cluster
