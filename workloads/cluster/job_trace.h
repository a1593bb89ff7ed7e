// Cluster job traces: the Philly trace (as the Pollux authors extracted it), lcsim's plain job CSV, and
// synthetic job mixes fitted from a trace (arrival process by hour of day, job sizes, log-normal durations per
// size class). Readers stream the file row by row and report every bad row as file:line: column: problem.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace lcsim::cluster {

enum class JobKind : uint8_t { kTraining, kInference };

/// One job as a trace gives it. Durations are on the trace's own GPUs (throughput 1.0).
struct TraceJob {
  uint64_t id = 0;          // 0..n-1 in submission order (ties: file order)
  double submit_s = 0;      // from the trace's first submission
  uint32_t gpus = 0;
  std::string gpu_type;     // a pool name, or "" for any
  double duration_s = 0;
  int32_t priority = 0;
  std::string team;         // user or team (Philly: the virtual cluster)
  JobKind kind = JobKind::kTraining;
  /// A workload instead of a bare duration (path resolved against the trace's folder). Training (kind training):
  /// a scenario whose `workload:` the job runs for `iterations` iterations, its speed from its placement;
  /// duration_s, if given, is then only the user's estimate. Serving (kind inference): a scenario whose
  /// inference_serving deployment holds its GPUs for duration_s (required; no iterations), its latency from its
  /// placement and neighbours.
  std::string workload;
  uint64_t iterations = 0;
  uint32_t line = 0;        // where it came from, for errors about it later
  uint32_t gpus_column = 0; // the column of its GPU count on that line
  uint32_t workload_column = 0;  // and of its workload (0: none)
};

struct JobTrace {
  std::string file;
  std::vector<TraceJob> jobs;  // sorted by submit time, ties in file order; ids follow this order
};

/// Philly, Pollux extract: header `timestamp,duration,num_gpus,gpu_time,cluster` (extra columns rejected);
/// timestamp `YYYY-MM-DD HH:MM:SS`, wall clock; submit times count from the earliest row.
JobTrace read_philly_trace(const std::string& path);

/// lcsim's job CSV: a header naming the columns, in any order. Required: `submit_s`, `gpus` (a count, or
/// `type:count` such as `h100:8`), `duration_s`. Optional: `priority` (integer), `team`, `kind`
/// (training | inference), `workload` + `iterations` (a scenario file, relative to the trace, and how many
/// iterations of its workload the job runs: its speed then comes from its placement; duration_s may then be
/// empty or an estimate). An `inference` row's `workload` is a serving deployment that runs for its duration_s
/// (required) and takes no iterations. Lines starting with '#' and blank lines are skipped.
JobTrace read_job_csv(const std::string& path);

/// Either format, told apart by the header line.
JobTrace read_job_trace(const std::string& path);

/// What a trace looks like, to generate more jobs like it.
struct JobMix {
  double jobs_per_hour = 0;                  // mean arrival rate
  std::array<double, 24> hour_weight{};      // arrival rate by hour of day (of the trace's clock), mean 1
  std::vector<std::pair<uint32_t, double>> sizes;  // GPUs -> probability
  /// Log-normal summary per size class (1 GPU, 2-7, 8, more than 8), matched to the median and interquartile
  /// range of log seconds: a description of the trace, not what synthesize_jobs draws from (Philly's log IQR
  /// gives sigma 2.3 to 5.7, whose log-normal mean is hundreds of times the trace's).
  std::array<double, 4> log_mean{}, log_sd{};
  std::array<double, 4> median_duration_s{};
  /// Durations are drawn from each class's empirical quantile function of log seconds: kDurationQuantiles + 1
  /// points (0, 0.1%, ..., 100%), linear in between, so the median, the tail and the mean follow the trace and no
  /// draw exceeds its longest job.
  static constexpr size_t kDurationQuantiles = 1000;
  std::array<std::vector<double>, 4> log_quantiles;
};
size_t size_class(uint32_t gpus);
JobMix fit_job_mix(const JobTrace& trace);
/// `count` jobs drawn from the mix (non-homogeneous Poisson arrivals by thinning), reproducible from `seed`.
JobTrace synthesize_jobs(const JobMix& mix, size_t count, uint64_t seed);

/// Summary statistics of a trace, to compare with published cluster summaries (Helios, PAI).
struct TraceStats {
  size_t jobs = 0;
  double mean_gpus = 0;
  double median_gpus = 0;
  double median_duration_s = 0;
  double mean_duration_s = 0;
  double gpu_hours = 0;
  double span_s = 0;  // last submission - first
};
TraceStats trace_stats(const JobTrace& trace);

/// One row of the Helios per-cluster summary (helios_cluster_summary.csv): GPU job statistics.
struct HeliosClusterSummary {
  std::string cluster;
  double gpus = 0, gpu_jobs = 0, avg_run_time_gpu_s = 0, med_run_time_gpu_s = 0, avg_gpu_num = 0, med_gpu_num = 0;
};
std::vector<HeliosClusterSummary> read_helios_summary(const std::string& path);

}  // namespace lcsim::cluster
