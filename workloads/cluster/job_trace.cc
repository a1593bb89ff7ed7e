#include "workloads/cluster/job_trace.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numbers>

#include "sim/config.h"
#include "sim/error.h"
#include "sim/input_file.h"
#include "sim/rng.h"

namespace lcsim::cluster {
namespace {

constexpr uint64_t kMaxTraceBytes = 1ULL << 30;  // 1 GiB: the whole Philly trace is 3.4 MB
constexpr size_t kMaxErrors = 20;                // then "and N more"

/// Fields of one CSV line (no quoting: none of the formats needs it), trimmed, with their 1-based columns.
std::vector<std::string> split_csv(const std::string& line, std::vector<int>* columns) {
  std::vector<std::string> out;
  columns->clear();
  size_t start = 0;
  while (true) {
    size_t end = line.find(',', start);
    std::string f = line.substr(start, end == std::string::npos ? std::string::npos : end - start);
    size_t a = f.find_first_not_of(" \t"), b = f.find_last_not_of(" \t\r");
    out.push_back(a == std::string::npos ? "" : f.substr(a, b - a + 1));
    columns->push_back(static_cast<int>(start + (a == std::string::npos ? 0 : a)) + 1);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

bool parse_double(const std::string& s, double* out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && std::isfinite(*out);
}
template <class Int>
bool parse_int(const std::string& s, Int* out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

/// `name` relative to the directory of `file` (absolute names stay).
std::string resolve_relative(const std::string& file, const std::string& name) {
  std::filesystem::path n(name);
  if (n.is_absolute()) return name;
  return (std::filesystem::path(file).parent_path() / n).lexically_normal().string();
}

/// Days from 1970-01-01 of a civil date (proleptic Gregorian; H. Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

/// "YYYY-MM-DD HH:MM:SS" -> seconds since 1970 on the same clock; false if malformed.
bool parse_timestamp(const std::string& s, int64_t* out) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
  if (s.size() != 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':') return false;
  if (!parse_int(s.substr(0, 4), &y) || !parse_int(s.substr(5, 2), &mo) || !parse_int(s.substr(8, 2), &d) ||
      !parse_int(s.substr(11, 2), &h) || !parse_int(s.substr(14, 2), &mi) || !parse_int(s.substr(17, 2), &se))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 || h < 0 || mi < 0 || se < 0)
    return false;
  *out = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 + mi * 60 + se;
  return true;
}

/// Streams a CSV file: the header, then each data row with its line number. Collects errors.
class CsvReader {
 public:
  explicit CsvReader(const std::string& path) : path_(path) {
    std::string problem = input_file_problem(path, kMaxTraceBytes, "job trace size limit (1 GiB)");
    if (!problem.empty()) throw InputError({{{path, 0, 0}, "", problem}});
    in_.open(path);
    if (!in_) throw InputError({{{path, 0, 0}, "", "cannot open the job trace"}});
  }
  /// Next non-blank, non-comment line split into fields; false at the end.
  bool next(std::vector<std::string>* fields) {
    std::string line;
    while (std::getline(in_, line)) {
      ++line_;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos || line[0] == '#') continue;
      *fields = split_csv(line, &columns_);
      return true;
    }
    return false;
  }
  uint32_t line() const { return line_; }
  /// A problem with field `field` of the current line (-1: the whole line), at its column.
  void error(const std::string& key, const std::string& message, int field = -1) {
    ++errors_;
    if (diags_.items().size() < kMaxErrors) diags_.add({path_, static_cast<int>(line_), column(field)}, key, message);
  }
  int column(int field) const {
    return field >= 0 && static_cast<size_t>(field) < columns_.size() ? columns_[field] : 1;
  }
  void finish() {
    if (errors_ > kMaxErrors)
      diags_.add({path_, 0, 0}, "", std::to_string(errors_ - kMaxErrors) + " more bad rows not listed");
    diags_.throw_if_any();
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ifstream in_;
  uint32_t line_ = 0;
  std::vector<int> columns_;
  size_t errors_ = 0;
  Diagnostics diags_;
};

void number_jobs(JobTrace& t) {
  std::stable_sort(t.jobs.begin(), t.jobs.end(),
                   [](const TraceJob& a, const TraceJob& b) { return a.submit_s < b.submit_s; });
  for (size_t i = 0; i < t.jobs.size(); ++i) t.jobs[i].id = i;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

const std::vector<std::string> kPhillyColumns = {"timestamp", "duration", "num_gpus", "gpu_time", "cluster"};

JobTrace read_philly(CsvReader& r, const std::vector<std::string>& header) {
  if (header != kPhillyColumns) {
    r.error("", "expected the Philly header '" + join(kPhillyColumns) + "'");
    r.finish();
  }
  JobTrace t{r.path(), {}};
  std::vector<int64_t> stamps;
  std::vector<std::string> f;
  while (r.next(&f)) {
    if (f.size() != kPhillyColumns.size()) {
      r.error("", "expected 5 columns (" + join(kPhillyColumns) + "), got " + std::to_string(f.size()));
      continue;
    }
    int64_t ts = 0;
    double duration = 0, gpus_d = 0;
    bool ok = true;
    if (!parse_timestamp(f[0], &ts)) r.error("timestamp", "expected 'YYYY-MM-DD HH:MM:SS', got '" + f[0] + "'", 0), ok = false;
    if (!parse_double(f[1], &duration) || duration < 0)
      r.error("duration", "expected seconds >= 0, got '" + f[1] + "'", 1), ok = false;
    if (!parse_double(f[2], &gpus_d) || gpus_d < 1 || gpus_d > 1e6 || gpus_d != std::floor(gpus_d))
      r.error("num_gpus", "expected a whole number of GPUs >= 1, got '" + f[2] + "'", 2), ok = false;
    if (!ok) continue;
    TraceJob j;
    j.gpus = static_cast<uint32_t>(gpus_d);
    j.duration_s = duration;
    j.team = f[4];
    j.line = r.line();
    j.gpus_column = static_cast<uint32_t>(r.column(2));
    stamps.push_back(ts);
    t.jobs.push_back(std::move(j));
  }
  r.finish();
  if (!stamps.empty()) {
    int64_t first = *std::min_element(stamps.begin(), stamps.end());
    for (size_t i = 0; i < stamps.size(); ++i) t.jobs[i].submit_s = static_cast<double>(stamps[i] - first);
  }
  number_jobs(t);
  return t;
}

JobTrace read_plain(CsvReader& r, const std::vector<std::string>& header) {
  const std::vector<std::string> known = {"submit_s", "gpus",  "duration_s", "priority",
                                         "team",     "kind",  "workload",   "iterations"};
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < header.size(); ++i) {
    if (std::find(known.begin(), known.end(), header[i]) == known.end())
      r.error(header[i], unknown_name_message("column", header[i], known), static_cast<int>(i));
    else if (col.count(header[i]))
      r.error(header[i], "column '" + header[i] + "' given twice", static_cast<int>(i));
    else
      col[header[i]] = i;
  }
  for (const char* req : {"submit_s", "gpus"})
    if (!col.count(req)) r.error(req, std::string("missing required column '") + req + "'");
  // A job is a duration or a training workload (a scenario file, relative to the trace, run for some iterations).
  if (!col.count("duration_s") && !col.count("workload"))
    r.error("duration_s", "missing required column 'duration_s' (or 'workload' with 'iterations')");
  if (col.count("iterations") && !col.count("workload"))
    r.error("iterations", "column 'iterations' needs a 'workload' column (the training scenario it counts)");
  r.finish();
  JobTrace t{r.path(), {}};
  std::vector<std::string> f;
  auto get = [&](const char* name) -> const std::string* {
    auto it = col.find(name);
    return it == col.end() ? nullptr : &f[it->second];
  };
  auto at = [&](const char* name) { return static_cast<int>(col.at(name)); };
  while (r.next(&f)) {
    if (f.size() != header.size()) {
      r.error("", "expected " + std::to_string(header.size()) + " columns, got " + std::to_string(f.size()));
      continue;
    }
    TraceJob j;
    j.line = r.line();
    bool ok = true;
    if (!parse_double(*get("submit_s"), &j.submit_s) || j.submit_s < 0)
      r.error("submit_s", "expected seconds >= 0, got '" + *get("submit_s") + "'", at("submit_s")), ok = false;
    if (const auto* p = get("kind"); p && !p->empty()) {
      if (*p == "training") j.kind = JobKind::kTraining;
      else if (*p == "inference") j.kind = JobKind::kInference;
      else r.error("kind", "expected training or inference, got '" + *p + "'", at("kind")), ok = false;
    }
    const std::string* wl = get("workload");
    const bool has_workload = wl && !wl->empty();
    // A serving deployment (an inference row's workload) runs for its duration; a training workload for its
    // iterations, its duration_s then only an estimate.
    const bool serving = has_workload && j.kind == JobKind::kInference;
    const std::string* its = get("iterations");
    const bool has_iterations = its && !its->empty();
    if (has_workload) {
      j.workload = resolve_relative(r.path(), *wl);
      j.workload_column = static_cast<uint32_t>(r.column(at("workload")));
    }
    if (serving && has_iterations) {
      r.error("iterations", "an inference job's workload is a serving deployment that runs for its duration_s; it has "
                            "no iterations (leave the column empty), got '" + *its + "'", at("iterations")), ok = false;
    } else if (has_workload && !serving) {
      if (!its)
        r.error("iterations", "a training workload needs the 'iterations' column (how many iterations it runs)",
                at("workload")), ok = false;
      else if (!parse_int(*its, &j.iterations) || j.iterations == 0)
        r.error("iterations", "expected a whole number of training iterations >= 1, got '" + *its + "'",
                at("iterations")), ok = false;
    } else if (!has_workload && has_iterations) {
      r.error("iterations", "iterations without a workload (give the workload's scenario file)", at("iterations")),
          ok = false;
    }
    const std::string* dur = get("duration_s");
    const bool estimate_only = has_workload && !serving;  // training workload: duration_s may be empty
    if (serving && (!dur || dur->empty())) {
      r.error("duration_s", "an inference job's serving workload needs duration_s (seconds the deployment holds "
                            "its GPUs), got none", dur ? at("duration_s") : at("workload")), ok = false;
    } else if (dur && (!dur->empty() || !estimate_only)) {
      if (!parse_double(*dur, &j.duration_s) || j.duration_s < 0 || (serving && j.duration_s == 0))
        r.error("duration_s", std::string(serving ? "expected seconds > 0" : "expected seconds >= 0") +
                                  (estimate_only ? " or empty" : "") + ", got '" + *dur + "'", at("duration_s")),
            ok = false;
    } else if (!dur && !has_workload) {
      r.error("workload", "a job needs a duration_s or a workload", at("workload")), ok = false;
    }
    std::string g = *get("gpus");
    size_t colon = g.find(':');
    if (colon != std::string::npos) {
      j.gpu_type = g.substr(0, colon);
      g = g.substr(colon + 1);
    }
    if (!parse_int(g, &j.gpus) || j.gpus == 0 || (colon != std::string::npos && j.gpu_type.empty()))
      r.error("gpus", "expected a GPU count >= 1 or type:count (e.g. h100:8), got '" + *get("gpus") + "'", at("gpus")),
          ok = false;
    if (const auto* p = get("priority"); p && !p->empty() && !parse_int(*p, &j.priority))
      r.error("priority", "expected an integer, got '" + *p + "'", at("priority")), ok = false;
    if (const auto* p = get("team")) j.team = *p;
    j.gpus_column = static_cast<uint32_t>(r.column(at("gpus")));
    if (ok) t.jobs.push_back(std::move(j));
  }
  r.finish();
  number_jobs(t);
  return t;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  size_t m = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + m, v.end());
  double hi = v[m];
  if (v.size() % 2) return hi;
  return (hi + *std::max_element(v.begin(), v.begin() + m)) / 2;
}

}  // namespace

JobTrace read_philly_trace(const std::string& path) {
  CsvReader r(path);
  std::vector<std::string> header;
  if (!r.next(&header)) throw InputError({{{path, 0, 0}, "", "empty job trace (expected a header line)"}});
  return read_philly(r, header);
}

JobTrace read_job_csv(const std::string& path) {
  CsvReader r(path);
  std::vector<std::string> header;
  if (!r.next(&header)) throw InputError({{{path, 0, 0}, "", "empty job trace (expected a header line)"}});
  return read_plain(r, header);
}

JobTrace read_job_trace(const std::string& path) {
  CsvReader r(path);
  std::vector<std::string> header;
  if (!r.next(&header)) throw InputError({{{path, 0, 0}, "", "empty job trace (expected a header line)"}});
  if (!header.empty() && header[0] == "timestamp") return read_philly(r, header);
  return read_plain(r, header);
}

size_t size_class(uint32_t gpus) { return gpus <= 1 ? 0 : gpus < 8 ? 1 : gpus == 8 ? 2 : 3; }

JobMix fit_job_mix(const JobTrace& trace) {
  JobMix mix;
  const auto& jobs = trace.jobs;
  if (jobs.empty()) return mix;
  double span = jobs.back().submit_s - jobs.front().submit_s;
  mix.jobs_per_hour = span > 0 ? static_cast<double>(jobs.size()) / (span / 3600.0) : 0;
  std::array<double, 24> count{};
  std::map<uint32_t, double> sizes;
  std::array<std::vector<double>, 4> logs;
  std::array<std::vector<double>, 4> durs;
  for (const auto& j : jobs) {
    count[static_cast<size_t>(std::fmod(j.submit_s / 3600.0, 24.0))] += 1;
    sizes[j.gpus] += 1;
    size_t c = size_class(j.gpus);
    logs[c].push_back(std::log(std::max(j.duration_s, 1.0)));
    durs[c].push_back(j.duration_s);
  }
  for (size_t h = 0; h < 24; ++h) mix.hour_weight[h] = count[h] * 24.0 / static_cast<double>(jobs.size());
  for (const auto& [g, n] : sizes) mix.sizes.push_back({g, n / static_cast<double>(jobs.size())});
  for (size_t c = 0; c < 4; ++c) {
    if (logs[c].empty()) continue;
    // Quantile-matched log-normal: the median and interquartile range of log duration (real durations are
    // heavier-tailed than a log-normal; matching moments would move the median by 25% on Philly).
    std::vector<double>& v = logs[c];
    std::sort(v.begin(), v.end());
    auto q = [&](double p) { return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))]; };
    mix.log_mean[c] = median(v);
    mix.log_sd[c] = (q(0.75) - q(0.25)) / 1.349;  // IQR of a normal = 1.349 sigma
    mix.median_duration_s[c] = median(durs[c]);
    for (size_t k = 0; k <= JobMix::kDurationQuantiles; ++k) {
      const double at = static_cast<double>(k) / JobMix::kDurationQuantiles * static_cast<double>(v.size() - 1);
      mix.log_quantiles[c].push_back(v[static_cast<size_t>(std::llround(at))]);
    }
  }
  return mix;
}

JobTrace synthesize_jobs(const JobMix& mix, size_t count, uint64_t seed) {
  JobTrace t{"synthetic", {}};
  if (mix.jobs_per_hour <= 0 || mix.sizes.empty()) return t;
  RngFactory rng(seed);
  RandomStream arrivals = rng.stream("cluster.mix.arrival");
  RandomStream draws = rng.stream("cluster.mix.job");
  double wmax = *std::max_element(mix.hour_weight.begin(), mix.hour_weight.end());
  if (wmax <= 0) wmax = 1;
  const double rate_max = mix.jobs_per_hour * wmax / 3600.0;  // per second, the thinning envelope
  double now = 0;
  while (t.jobs.size() < count) {
    now += -std::log(1.0 - arrivals.uniform()) / rate_max;
    double w = mix.hour_weight[static_cast<size_t>(std::fmod(now / 3600.0, 24.0))];
    if (arrivals.uniform() * wmax >= w) continue;
    TraceJob j;
    j.id = t.jobs.size();
    j.submit_s = now;
    double u = draws.uniform(), acc = 0;
    j.gpus = mix.sizes.back().first;
    for (const auto& [g, p] : mix.sizes) {
      acc += p;
      if (u < acc) {
        j.gpus = g;
        break;
      }
    }
    size_t c = size_class(j.gpus);
    const std::vector<double>& lq = mix.log_quantiles[c];
    if (lq.size() >= 2) {
      // The class's empirical quantile function of log seconds, linear between its points.
      const double at = draws.uniform() * static_cast<double>(lq.size() - 1);
      const size_t k = std::min(static_cast<size_t>(at), lq.size() - 2);
      const double f = at - static_cast<double>(k);
      j.duration_s = std::round(std::exp(lq[k] + (lq[k + 1] - lq[k]) * f));
    } else {
      // A mix given by its log-normal parameters only. Box-Muller on our own uniforms (std::normal_distribution
      // differs across libraries).
      double u1 = 1.0 - draws.uniform(), u2 = draws.uniform();
      double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
      j.duration_s = std::round(std::exp(mix.log_mean[c] + mix.log_sd[c] * z));
    }
    j.team = "synthetic";
    t.jobs.push_back(std::move(j));
  }
  return t;
}

TraceStats trace_stats(const JobTrace& trace) {
  TraceStats s;
  s.jobs = trace.jobs.size();
  if (trace.jobs.empty()) return s;
  std::vector<double> g, d;
  for (const auto& j : trace.jobs) {
    g.push_back(j.gpus);
    d.push_back(j.duration_s);
    s.mean_gpus += j.gpus;
    s.mean_duration_s += j.duration_s;
    s.gpu_hours += j.gpus * j.duration_s / 3600.0;
  }
  s.mean_gpus /= static_cast<double>(s.jobs);
  s.mean_duration_s /= static_cast<double>(s.jobs);
  s.median_gpus = median(g);
  s.median_duration_s = median(d);
  s.span_s = trace.jobs.back().submit_s - trace.jobs.front().submit_s;
  return s;
}

std::vector<HeliosClusterSummary> read_helios_summary(const std::string& path) {
  CsvReader r(path);
  std::vector<std::string> header, f;
  if (!r.next(&header)) throw InputError({{{path, 0, 0}, "", "empty file (expected a header line)"}});
  const std::vector<std::string> want = {"id", "gpu_num", "gpu_job_num", "avg_run_time_gpu", "med_run_time_gpu",
                                         "avg_gpu_num", "med_gpu_num"};
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < header.size(); ++i) col[header[i]] = i;
  for (const auto& w : want)
    if (!col.count(w)) r.error(w, "missing column '" + w + "'");
  r.finish();
  std::vector<HeliosClusterSummary> out;
  while (r.next(&f)) {
    if (f.size() != header.size()) {
      r.error("", "expected " + std::to_string(header.size()) + " columns, got " + std::to_string(f.size()));
      continue;
    }
    HeliosClusterSummary h;
    h.cluster = f[col["id"]];
    std::pair<const char*, double*> nums[] = {{"gpu_num", &h.gpus},
                                             {"gpu_job_num", &h.gpu_jobs},
                                             {"avg_run_time_gpu", &h.avg_run_time_gpu_s},
                                             {"med_run_time_gpu", &h.med_run_time_gpu_s},
                                             {"avg_gpu_num", &h.avg_gpu_num},
                                             {"med_gpu_num", &h.med_gpu_num}};
    for (auto& [name, dst] : nums)
      if (!parse_double(f[col[name]], dst)) r.error(name, "expected a number, got '" + f[col[name]] + "'");
    out.push_back(std::move(h));
  }
  r.finish();
  return out;
}

}  // namespace lcsim::cluster
