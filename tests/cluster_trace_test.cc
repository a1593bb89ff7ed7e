// Job traces: the real Philly trace, lcsim's plain job CSV, bad rows with file:line errors, and synthetic mixes
// fitted from Philly, checked against the trace itself and the Helios summary.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "sim/error.h"
#include "workloads/cluster/job_trace.h"

namespace lcsim::cluster {
namespace {

const std::string kPhilly = std::string(LCSIM_SOURCE_DIR) + "/data/clusters/philly_jobs_pollux.csv";
const std::string kHelios = std::string(LCSIM_SOURCE_DIR) + "/data/clusters/helios_cluster_summary.csv";

/// A file with `text` in a directory of this test's own.
std::string write_temp(const std::string& name, const std::string& text) {
  auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                              ("lcsim_" + std::string(info->name()) + "_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / name) << text;
  return (dir / name).string();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ClusterTrace, ReadsTheWholePhillyTrace) {
  JobTrace t = read_philly_trace(kPhilly);
  // data/README.md: 82,247 jobs, 2017-09-04 10:30 to 2017-12-22 08:02, 1 to 128 GPUs, 93% single-GPU.
  ASSERT_EQ(t.jobs.size(), 82247u);
  EXPECT_EQ(t.jobs.front().submit_s, 0.0);
  for (size_t i = 1; i < t.jobs.size(); ++i) ASSERT_LE(t.jobs[i - 1].submit_s, t.jobs[i].submit_s);
  TraceStats s = trace_stats(t);
  // 2017-09-04 10:30:41 to the last submission, 2017-12-22 08:0x: 108.9 days.
  EXPECT_NEAR(s.span_s / 86400.0, 108.9, 0.1);
  size_t one = 0;
  uint32_t most = 0;
  for (const auto& j : t.jobs) one += j.gpus == 1, most = std::max(most, j.gpus);
  EXPECT_NEAR(static_cast<double>(one) / t.jobs.size(), 0.93, 0.01);
  EXPECT_EQ(most, 128u);
  EXPECT_EQ(s.median_gpus, 1.0);
  // Sum of the trace's gpu_time column (awk over the file): 3.52108e9 GPU-seconds.
  EXPECT_NEAR(s.gpu_hours * 3600.0, 3.52108e9, 0.00001e9);
}

TEST(ClusterTrace, ReadsThePlainCsvWithTypesTeamsAndKinds) {
  std::string path = write_temp("jobs.csv",
                                "# submit, gpus, duration\n"
                                "submit_s,gpus,duration_s,priority,team,kind\n"
                                "10,h100:16,3600,2,llm,training\n"
                                "0,1,60,,vision,inference\n");
  JobTrace t = read_job_trace(path);
  ASSERT_EQ(t.jobs.size(), 2u);
  EXPECT_EQ(t.jobs[0].submit_s, 0.0);  // sorted by submission
  EXPECT_EQ(t.jobs[0].kind, JobKind::kInference);
  EXPECT_EQ(t.jobs[0].line, 4u);
  EXPECT_EQ(t.jobs[1].gpu_type, "h100");
  EXPECT_EQ(t.jobs[1].gpus, 16u);
  EXPECT_EQ(t.jobs[1].priority, 2);
  EXPECT_EQ(t.jobs[1].team, "llm");
  EXPECT_EQ(t.jobs[1].id, 1u);
}

TEST(ClusterTrace, BadRowsGetFileLineAndColumn) {
  std::string path = write_temp("bad.csv",
                                "submit_s,gpus,duration_s,kind\n"
                                "0,8,100,training\n"
                                "5,h100:,100,training\n"
                                "x,8,100,training\n"
                                "7,8,-3,serving\n");
  std::string e = error_of([&] { read_job_csv(path); });
  EXPECT_NE(e.find(path + ":3:3: gpus: expected a GPU count >= 1 or type:count (e.g. h100:8), got 'h100:'"),
            std::string::npos) << e;
  EXPECT_NE(e.find(path + ":4:1: submit_s: expected seconds >= 0, got 'x'"), std::string::npos) << e;
  EXPECT_NE(e.find(path + ":5:5: duration_s: expected seconds >= 0, got '-3'"), std::string::npos) << e;
  EXPECT_NE(e.find(path + ":5:8: kind: expected training or inference, got 'serving'"), std::string::npos) << e;

  std::string cols = write_temp("cols.csv", "submit_s,gpu,duration_s\n0,1,1\n");
  e = error_of([&] { read_job_csv(cols); });
  EXPECT_NE(e.find("unknown column 'gpu'; did you mean 'gpus'?"), std::string::npos) << e;
  EXPECT_NE(e.find("missing required column 'gpus'"), std::string::npos) << e;

  std::string philly = write_temp("philly.csv",
                                  "timestamp,duration,num_gpus,gpu_time,cluster\n"
                                  "2017-10-09 07:01:55,66.0,1,66.0,11cb48\n"
                                  "2017-13-09 07:01:55,66.0,1.5,66.0,11cb48\n"
                                  "2017-10-09 07:01:55,66.0\n");
  e = error_of([&] { read_philly_trace(philly); });
  EXPECT_NE(e.find(philly + ":3:1: timestamp: expected 'YYYY-MM-DD HH:MM:SS', got '2017-13-09 07:01:55'"),
            std::string::npos) << e;
  EXPECT_NE(e.find(philly + ":3:26: num_gpus: expected a whole number of GPUs >= 1, got '1.5'"), std::string::npos)
      << e;
  EXPECT_NE(e.find(philly + ":4:1: expected 5 columns"), std::string::npos) << e;

  e = error_of([&] { read_job_trace(write_temp("none.csv", "") + ".missing"); });
  EXPECT_NE(e.find(".missing"), std::string::npos) << e;
}

TEST(ClusterTrace, SyntheticMixFittedFromPhillyReproducesItsShape) {
  JobTrace philly = read_philly_trace(kPhilly);
  JobMix mix = fit_job_mix(philly);
  TraceStats real = trace_stats(philly);
  EXPECT_NEAR(mix.jobs_per_hour, real.jobs / (real.span_s / 3600.0), 1e-9);
  JobTrace syn = synthesize_jobs(mix, 50000, 7);
  ASSERT_EQ(syn.jobs.size(), 50000u);
  TraceStats s = trace_stats(syn);
  // Arrival rate, size mix and the median duration come back within sampling error.
  EXPECT_NEAR(s.jobs / (s.span_s / 3600.0), mix.jobs_per_hour, 0.03 * mix.jobs_per_hour);
  EXPECT_NEAR(s.mean_gpus, real.mean_gpus, 0.05 * real.mean_gpus);
  EXPECT_EQ(s.median_gpus, real.median_gpus);
  EXPECT_NEAR(std::log(s.median_duration_s), std::log(real.median_duration_s), 0.1);
  // The mean duration too (it sets the load): a log-normal matched to Philly's median and IQR (sigma 2.3 to 5.7)
  // has a mean hundreds of times the trace's and drew jobs of millions of hours. The standard error of a
  // 50,000-job mean of these heavy-tailed durations is about 4% of it (the trace's sd is about 7x its mean), so
  // 15% is over 3 standard errors; and no job is longer than the trace's longest.
  EXPECT_NEAR(s.mean_duration_s, real.mean_duration_s, 0.15 * real.mean_duration_s);
  double longest = 0, longest_syn = 0;
  for (const auto& j : philly.jobs) longest = std::max(longest, j.duration_s);
  for (const auto& j : syn.jobs) longest_syn = std::max(longest_syn, j.duration_s);
  EXPECT_LE(longest_syn, longest);
  // Same seed, same jobs; another seed, other jobs.
  JobTrace again = synthesize_jobs(mix, 50000, 7);
  EXPECT_EQ(again.jobs[49999].submit_s, syn.jobs[49999].submit_s);
  EXPECT_EQ(again.jobs[49999].duration_s, syn.jobs[49999].duration_s);
  EXPECT_NE(synthesize_jobs(mix, 10, 8).jobs[9].submit_s, syn.jobs[9].submit_s);
}

TEST(ClusterTrace, PhillyMixIsInTheRangeOfTheHeliosClusters) {
  // Sanity check against an independent summary (SenseTime Helios, 2020): in every Helios cluster, as in
  // Philly, the median GPU job asks for 1 GPU, and the Philly-fitted mix's mean job size lies below the Helios
  // clusters' (2.1 to 6.7 GPUs: Helios ran larger jobs) but within a factor of 6 of them.
  auto helios = read_helios_summary(kHelios);
  ASSERT_EQ(helios.size(), 5u);
  EXPECT_EQ(helios.back().cluster, "total");
  JobTrace syn = synthesize_jobs(fit_job_mix(read_philly_trace(kPhilly)), 20000, 1);
  TraceStats s = trace_stats(syn);
  for (const auto& h : helios) {
    EXPECT_EQ(h.med_gpu_num, s.median_gpus) << h.cluster;
    EXPECT_LT(s.mean_gpus, h.avg_gpu_num) << h.cluster;
    EXPECT_GT(s.mean_gpus * 6, h.avg_gpu_num) << h.cluster;
  }
}

}  // namespace
}  // namespace lcsim::cluster
