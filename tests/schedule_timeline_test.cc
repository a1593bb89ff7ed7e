// `lcsim schedule --timeline DIR` (issue 16 item 4): per-job and per-pool lanes written through the timeline sink,
// read back with the timeline reader lcsim-gui uses. Runs the program as a user would.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

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

}  // namespace
}  // namespace lcsim::timeline
