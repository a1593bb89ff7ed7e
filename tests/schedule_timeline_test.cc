// `lcsim schedule --timeline DIR` (issue 16 item 4): per-job and per-pool lanes written through the timeline sink,
// read back with the timeline reader lcsim-gui uses; a serving deployment's lane, table row and --output files
// (issue 16 item 2). Runs the program as a user would.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "timeline/model.h"

namespace lcsim::timeline {
namespace {

namespace fs = std::filesystem;

TEST(ScheduleTimeline, JobAndPoolLanesReadBack) {
  fs::path d = fs::path(::testing::TempDir()) / ("schedule_timeline-" + std::to_string(getpid()));
  fs::create_directories(d);
  // 16 GPUs. FIFO: job 0 (8 GPUs, 100 s) runs 0-100; job 1 (16 GPUs, 50 s, submitted at 1) 100-150; job 2 (8 GPUs,
  // 30 s, submitted at 2) 150-180.
  std::ofstream(d / "jobs.csv") << "submit_s,gpus,duration_s\n0,8,100\n1,16,50\n2,8,30\n";
  const std::string cmd = std::string(LCSIM_BINARY) + " schedule --trace " + (d / "jobs.csv").string() +
                          " --pools gpu:2 --policies fifo,backfill --timeline " + (d / "tl").string() + " > " +
                          (d / "out.txt").string() + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << std::ifstream(d / "out.txt").rdbuf();
  ASSERT_TRUE(fs::exists(d / "tl" / "backfill.json"));
  Trace t = read_timeline((d / "tl" / "fifo.json").string());
  const Track* j1 = t.find("jobs", "job 1 (16 GPUs)", true);
  ASSERT_NE(j1, nullptr);
  ASSERT_EQ(j1->samples.size(), 3u);
  EXPECT_EQ(j1->samples[0].time_ns, 1'000'000'000);  // submitted, 0 GPUs
  EXPECT_EQ(j1->samples[0].value, 0);
  EXPECT_EQ(j1->samples[1].time_ns, 100'000'000'000);  // started on 16 GPUs
  EXPECT_EQ(j1->samples[1].value, 16);
  EXPECT_EQ(j1->samples[2].time_ns, 150'000'000'000);  // finished
  EXPECT_EQ(j1->samples[2].value, 0);
  const Track* j2 = t.find("jobs", "job 2 (8 GPUs)", true);
  ASSERT_NE(j2, nullptr);
  EXPECT_EQ(j2->samples[1].time_ns, 150'000'000'000);
  // The pool lane: busy GPUs 8, 16, 8, 0 at 0, 100, 150, 180 (each change a sample).
  const Track* pool = t.find("pool", "gpu busy GPUs", true);
  ASSERT_NE(pool, nullptr);
  double peak = 0;
  for (const auto& s : pool->samples) peak = std::max(peak, s.value);
  EXPECT_EQ(peak, 16);
  EXPECT_EQ(pool->samples.back().time_ns, 180'000'000'000);
  EXPECT_EQ(pool->samples.back().value, 0);
  // Backfill starts job 2 at once (it ends before job 1's reservation).
  Trace b = read_timeline((d / "tl" / "backfill.json").string());
  const Track* b2 = b.find("jobs", "job 2 (8 GPUs)", true);
  ASSERT_NE(b2, nullptr);
  EXPECT_EQ(b2->samples[1].time_ns, 2'000'000'000);
  fs::remove_all(d);
}

std::string slurp(const fs::path& p) {
  std::stringstream ss;
  ss << std::ifstream(p).rdbuf();
  return ss.str();
}

TEST(ScheduleTimeline, AServingJobHasALaneATableRowAndOutputColumns) {
  fs::path d = fs::path(::testing::TempDir()) / ("schedule_serving-" + std::to_string(getpid()));
  fs::create_directories(d);
  const std::string src = LCSIM_SOURCE_DIR;
  // The scheduled train-and-serve what-if's jobs: the deployment (job 3, 16 GPUs, 900 s) arrives at 3 s; under
  // topology-aware placement a leaf has room at once, so it holds its GPUs from 3 s to 903 s.
  const std::string cmd = std::string(LCSIM_BINARY) + " schedule --trace " + src +
                          "/scenarios/cluster-serving/jobs.csv --cluster " + src +
                          "/scenarios/cluster-serving/cluster.yaml --policies topology --timeline " +
                          (d / "tl").string() + " --output " + (d / "out").string() + " > " +
                          (d / "out.txt").string() + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << slurp(d / "out.txt");
  Trace t = read_timeline((d / "tl" / "topology.json").string());
  const Track* lane = t.find("jobs", "job 3 (16 GPUs, serving)", true);
  ASSERT_NE(lane, nullptr);
  ASSERT_EQ(lane->samples.size(), 3u);
  EXPECT_EQ(lane->samples[1].time_ns, 3'000'000'000);
  EXPECT_EQ(lane->samples[1].value, 16);
  EXPECT_EQ(lane->samples[2].time_ns, 903'000'000'000);
  EXPECT_EQ(lane->samples[2].value, 0);
  EXPECT_NE(t.find("jobs", "job 1 (48 GPUs, workload)", true), nullptr);
  // The printed table has the deployment's row; the per-job CSV its columns (empty for the other jobs).
  const std::string out = slurp(d / "out.txt");
  EXPECT_NE(out.find("Serving jobs"), std::string::npos) << out;
  EXPECT_NE(out.find("| topology | 0% | 3 | 16 |"), std::string::npos) << out;
  const std::string csv = slurp(d / "out" / "topology.jobs.csv");
  EXPECT_NE(csv.find(",slo_attainment,beside_others_s,alone_s\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\n3,16,3,3,903,900,900,0,0,1,serving,0."), std::string::npos) << csv;
  EXPECT_NE(csv.find("\n0,8,0,0,3600,3600,3600,0,0,1,duration,,,,,,,,,\n"), std::string::npos) << csv;
  EXPECT_NE(slurp(d / "out" / "topology.metrics.json").find("\"job3.serving_kv_p99_s\": 0."), std::string::npos);
  // A training workload on an inference row: exit 1, the row's file:line and the column named.
  std::ofstream(d / "bad.csv") << "submit_s,gpus,kind,duration_s,workload\n0,16,inference,60," << src
                               << "/scenarios/cluster-jobs/gpt-350m-dp.yaml\n";
  const std::string bad = std::string(LCSIM_BINARY) + " schedule --trace " + (d / "bad.csv").string() +
                          " --cluster " + src + "/scenarios/cluster-serving/cluster.yaml --policies fifo > " +
                          (d / "bad.txt").string() + " 2>&1";
  EXPECT_NE(std::system(bad.c_str()), 0);
  EXPECT_NE(slurp(d / "bad.txt").find("bad.csv:2:19: workload: job 0 is of kind inference"), std::string::npos)
      << slurp(d / "bad.txt");
  fs::remove_all(d);
}

}  // namespace
}  // namespace lcsim::timeline
