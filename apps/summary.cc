#include "apps/summary.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "apps/format.h"

namespace lcsim::app {
namespace {

/// One job's metrics: a prefix ("train.") in front of every name when the scenario has several jobs.
struct JobMetrics {
  const MetricSet& m;
  std::string prefix;
  bool has(const std::string& n) const { return m.has(prefix + n); }
  double get(const std::string& n) const { return m.get(prefix + n); }
  double get_or(const std::string& n, double fallback) const { return has(n) ? get(n) : fallback; }
  const MetricSet::Distribution* distribution(const std::string& n) const {
    for (const auto& d : m.distributions()) {
      if (d.name == prefix + n) return &d;
    }
    return nullptr;
  }
};

/// "label          text": labels in a column of 15, a longer one followed by a space.
std::string row(const std::string& label, const std::string& text) {
  if (label.size() >= 15) return label + " " + text;
  return label + std::string(15 - label.size(), ' ') + text;
}

/// A row of an nccl-tests table (the columns nccl_tests writes).
struct NcclRow {
  double size_bytes = 0, time_us = 0, busbw_gbps = 0;
  std::string algorithm;
};

/// The data rows of the nccl-tests table a job wrote (its lines start with `prefix`); the operation in `op`.
std::vector<NcclRow> nccl_rows(const std::vector<std::string>& table, const std::string& prefix,
                               std::string* op) {
  std::vector<NcclRow> rows;
  for (const auto& full : table) {
    if (full.rfind(prefix, 0) != 0) continue;
    const std::string line = full.substr(prefix.size());
    const std::string kTitle = "# nccl-tests-style ";
    if (line.rfind(kTitle, 0) == 0)
      *op = line.substr(kTitle.size(), line.find(' ', kTitle.size()) - kTitle.size());
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    NcclRow r;
    std::string count, type, redop, root, algbw;
    if (in >> r.size_bytes >> count >> type >> redop >> root >> r.time_us >> algbw >> r.busbw_gbps >>
        r.algorithm) {
      rows.push_back(r);
    }
  }
  return rows;
}

/// Sizes worth a line: at most five, spread over the sweep (1 MiB x 16^k where measured, and the largest).
std::vector<NcclRow> pick_sizes(const std::vector<NcclRow>& rows) {
  if (rows.size() <= 5) return rows;
  std::vector<NcclRow> out;
  for (const auto& r : rows) {
    const double mib = r.size_bytes / (1024.0 * 1024.0);
    const double k = std::log(mib) / std::log(16.0);
    if (mib >= 1 && std::abs(k - std::round(k)) < 1e-9) out.push_back(r);
  }
  if (out.empty() || out.back().size_bytes != rows.back().size_bytes) out.push_back(rows.back());
  while (out.size() > 5) out.erase(out.begin());
  if (out.size() < 2) out = {rows.front(), rows[rows.size() / 2], rows.back()};
  return out;
}

std::string busbw_list(const std::vector<NcclRow>& rows) {
  std::string s;
  for (const auto& r : pick_sizes(rows)) {
    s +=
        (s.empty() ? "" : ", ") + format_bytes_iec(r.size_bytes) + " " + format_bandwidth(r.busbw_gbps * 1e9);
  }
  return s;
}

/// "tree up to 8 MiB, ring from 16 MiB": where the tuner's choice changes.
std::string algorithm_ranges(const std::vector<NcclRow>& rows) {
  std::string s;
  for (size_t i = 0; i < rows.size();) {
    size_t j = i;
    while (j + 1 < rows.size() && rows[j + 1].algorithm == rows[i].algorithm) ++j;
    std::string range;
    if (i == 0 && j + 1 == rows.size())
      range = "at every size";
    else if (i == 0)
      range = "up to " + format_bytes_iec(rows[j].size_bytes);
    else if (j + 1 == rows.size())
      range = "from " + format_bytes_iec(rows[i].size_bytes);
    else
      range = format_bytes_iec(rows[i].size_bytes) + " to " + format_bytes_iec(rows[j].size_bytes);
    s += (s.empty() ? "" : ", ") + rows[i].algorithm + " " + range;
    i = j + 1;
  }
  return s;
}

/// GPUs (or ranks) the workload ran on; 0 when it does not say.
double run_gpus(const JobMetrics& m) { return m.get_or("num_gpus", m.get_or("ranks", 0)); }

bool is_moe(const JobMetrics& m) {
  return m.has("active_parameters") && m.has("parameters") &&
         m.get("active_parameters") < m.get("parameters");
}

/// The iteration split: what the time went to (both training workloads and trace replay).
std::string iteration_split(const JobMetrics& m) {
  std::vector<std::pair<std::string, double>> parts;
  if (m.has("time_compute_s")) {  // megatron
    parts.push_back({"compute", m.get("time_compute_s")});
    double exposed = 0;
    std::string biggest;
    double biggest_s = 0;
    for (const char* k : {"tp", "cp", "ep", "pp", "dp"}) {
      const double x = m.get_or(std::string("time_exposed_") + k + "_s", 0);
      exposed += x;
      if (x > biggest_s) {
        biggest_s = x;
        biggest = k;
      }
    }
    std::string name = "exposed communication";
    if (biggest_s > 0) {
      std::string upper = biggest;
      for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      name += " (most " + upper + ")";
    }
    parts.push_back({name, exposed});
    parts.push_back({"pipeline bubble", m.get_or("time_pipeline_bubble_s", 0)});
    parts.push_back({"optimizer", m.get_or("time_optimizer_s", 0)});
  } else {
    parts.push_back({"compute", m.get_or("compute_time_s", 0)});
    parts.push_back({"exposed communication", m.get_or("exposed_comm_time_s", 0)});
    if (m.has("optimizer_time_s")) parts.push_back({"optimizer", m.get("optimizer_time_s")});
  }
  std::string s;
  for (const auto& [name, t] : parts) {
    if (t <= 0 && name != "compute") continue;
    s += (s.empty() ? "" : ", ") + name + " " + format_duration(t);
    // megatron: how much of the compute the GPU spent waiting for the host to issue its kernels
    if (name == "compute" && m.get_or("time_host_s", 0) > 0) {
      s += " (waiting for the host " + format_duration(m.get("time_host_s")) + ")";
    }
  }
  return s;
}

void training_lines(const JobMetrics& m, const hw::CostConfig& cost, std::vector<std::string>& out) {
  const std::string& currency = cost.currency;
  const double gpus = m.get_or("num_gpus", 0);
  out.push_back(row("iteration", format_duration(m.get("iteration_time_s")) + ": " + iteration_split(m)));
  std::string tput = format_rate(m.get("tokens_per_s"), "tokens") + " on " + format_count(gpus) + " GPUs";
  if (m.has("tflops_per_gpu")) tput += ", " + format_flop_rate(m.get("tflops_per_gpu") * 1e12) + " per GPU";
  if (m.has("mfu")) tput += ", MFU " + format_percent(m.get("mfu"));
  out.push_back(row("throughput", tput));
  if (m.has("memory_per_gpu_bytes") && m.has("memory_capacity_bytes")) {
    const double need = m.get("memory_per_gpu_bytes"), have = m.get("memory_capacity_bytes");
    std::string mem =
        format_bytes(need) + " of " + format_bytes(have) + " HBM (" + format_percent(need / have) + ")";
    if (m.has("pipeline_parallel") && m.get("pipeline_parallel") > 1 && m.has("memory_stage")) {
      mem += ", fullest on pipeline stage " + format_number(m.get("memory_stage"));
    }
    out.push_back(row("memory per GPU", mem));
  }
  if (m.has("job_time_days")) {
    std::string job = format_count(m.get("job_iterations")) + " iterations (" +
                      format_count(m.get("job_tokens")) +
                      " tokens): " + format_duration(m.get("job_time_days") * 86400) + ", " +
                      format_count(m.get("job_gpu_hours")) + " GPU-hours";
    if (m.has("power_kw")) {  // at the run's mean facility power, priced as cost_total is (hw::report_energy)
      const double kwh = m.get("power_kw") * m.get("job_time_days") * 24;
      job +=
          ", " + format_energy_mwh(kwh / 1000) + ", " +
          format_money(m.get("job_gpu_hours") * cost.price_per_gpu_hour + kwh * cost.price_per_kwh, currency);
    }
    out.push_back(row("whole job", job));
    if (m.has("job_evaluations") && m.get("job_evaluations") > 0) {  // Megatron-LM's evaluation, part of the job
      out.push_back(row("evaluation", format_count(m.get("job_evaluations")) + " of them in the whole job: " +
                                          format_duration(m.get("job_eval_time_days") * 86400) + " (" +
                                          format_percent(m.get("job_eval_time_days") / m.get("job_time_days")) +
                                          ")"));
    }
    if (m.has("job_ramp_iterations") && m.get("job_ramp_iterations") > 0) {  // a batch-size schedule's smaller batches
      out.push_back(row("batch ramp", format_count(m.get("job_ramp_iterations")) +
                                          " iterations below the global batch: " +
                                          format_duration(m.get("job_ramp_time_days") * 86400) + " (" +
                                          format_percent(m.get("job_ramp_time_days") / m.get("job_time_days")) +
                                          " of the job)"));
    }
  }
  if (m.has("budget_time_days")) {
    const double tokens = m.has("budget_tokens") ? m.get("budget_tokens")
                                                 : m.get("budget_time_days") * 86400 * m.get("tokens_per_s");
    std::string budget = format_count(tokens) + " tokens: " + format_duration(m.get("budget_time_days") * 86400) +
                         ", " + format_count(m.get("budget_gpu_hours")) + " GPU-hours, " +
                         format_energy_mwh(m.get("budget_energy_mwh")) + ", " +
                         format_money(m.get("budget_cost_total"), currency);
    if (m.has("budget_evaluations") && m.get("budget_evaluations") > 0) {  // Megatron-LM's, in budget_time_days
      budget += "; with " + format_count(m.get("budget_evaluations")) + " evaluations, " +
                format_percent(m.get("budget_eval_time_days") / m.get("budget_time_days")) + " of the time";
    }
    out.push_back(row("token budget", budget));
  }
}

void nccl_lines(const JobMetrics& m, const RunOutcome& r, const std::string& table_prefix,
                std::vector<std::string>& out) {
  std::string op = "collective";
  const auto rows = nccl_rows(r.table, table_prefix, &op);
  std::string what = op + " on " + format_count(m.get_or("ranks", 0)) + " ranks";
  if (!rows.empty()) {
    what += ", " + format_count(static_cast<double>(rows.size())) + " sizes from " +
            format_bytes_iec(rows.front().size_bytes) + " to " + format_bytes_iec(rows.back().size_bytes);
  }
  out.push_back(row("collective", what));
  if (rows.empty()) return;
  out.push_back(row("bus bandwidth", busbw_list(rows)));
  const auto best = std::max_element(rows.begin(), rows.end(), [](const NcclRow& a, const NcclRow& b) {
    return a.busbw_gbps < b.busbw_gbps;
  });
  out.push_back(row("peak", format_bandwidth(best->busbw_gbps * 1e9) + " bus bandwidth at " +
                                format_bytes_iec(best->size_bytes) + " (" +
                                format_duration(best->time_us * 1e-6) + " per call); mean over the sizes " +
                                format_bandwidth(m.get_or("busbw_avg_bytes_per_s", 0))));
  out.push_back(row("algorithm", algorithm_ranges(rows)));
}

void traffic_lines(const JobMetrics& m, std::vector<std::string>& out) {
  out.push_back(row("flows", format_count(m.get_or("flows", 0)) + " flows, " +
                                 format_bandwidth(m.get_or("throughput_bytes_per_s", 0)) + " in all"));
  out.push_back(row("makespan", format_duration(m.get("makespan_s")) + ", " +
                                    format_number(m.get_or("throughput_percent_of_ideal", 0)) +
                                    "% of ideal (" + format_duration(m.get_or("ideal_makespan_s", 0)) +
                                    " with every sender at its NIC rate)"));
  std::string fct = "mean " + format_duration(m.get_or("fct_mean_s", 0));
  if (const auto* d = m.distribution("fct_s"))
    fct += ", p50 " + format_duration(d->p50) + ", p90 " + format_duration(d->p90);
  fct += ", p99 " + format_duration(m.get_or("fct_p99_s", 0)) + ", max " +
         format_duration(m.get_or("fct_max_s", 0));
  out.push_back(row("flow completion", fct));
}

void replay_lines(const JobMetrics& m, std::vector<std::string>& out) {
  out.push_back(row("replay", format_duration(m.get("replay_time_s")) + " on " +
                                  format_count(m.get_or("ranks", 0)) + " ranks (iteration " +
                                  format_duration(m.get_or("iteration_time_s", 0)) + ")"));
  out.push_back(row("busiest rank", "compute " + format_duration(m.get_or("compute_time_s", 0)) + ", host " +
                                        format_duration(m.get_or("host_time_s", 0)) + ", communication " +
                                        format_duration(m.get_or("comm_time_s", 0)) + " (" +
                                        format_duration(m.get_or("exposed_comm_time_s", 0)) + " exposed)"));
  out.push_back(row("trace", format_count(m.get_or("nodes_replayed", 0)) + " nodes replayed, " +
                                 format_count(m.get_or("collective_calls", 0)) + " collectives, " +
                                 format_count(m.get_or("p2p_messages", 0)) + " point-to-point messages"));
}

/// One line for one job of several: its kind, GPUs, span and headline numbers.
std::string job_line(const JobMetrics& m, const std::string& type, const RunOutcome& r,
                     const std::string& name, size_t gpus) {
  std::string s =
      workload_kind(type, is_moe(m)) + " on " + format_count(static_cast<double>(gpus)) + " GPUs, ";
  const double start = m.get_or("job_start_s", -1), end = m.get_or("job_end_s", -1);
  s += start < 0 ? "never started" : "from " + format_duration(start);
  s += end < 0 ? ", did not finish: " : " to " + format_duration(end) + ": ";
  if (m.has("iteration_time_s") && m.has("tokens_per_s")) {
    s += "iteration " + format_duration(m.get("iteration_time_s")) + ", " +
         format_rate(m.get("tokens_per_s"), "tokens");
    if (m.has("mfu")) s += ", MFU " + format_percent(m.get("mfu"));
  } else if (type == "nccl_tests") {
    std::string op;
    const auto rows = nccl_rows(r.table, name + ": ", &op);
    s += op + " bus bandwidth " + busbw_list(rows);
  } else if (m.has("makespan_s")) {
    s += "makespan " + format_duration(m.get("makespan_s")) + ", FCT p99 " +
         format_duration(m.get_or("fct_p99_s", 0));
  } else if (m.has("replay_time_s")) {
    s += "replay " + format_duration(m.get("replay_time_s"));
  }
  return s;
}

void cost_line(const JobMetrics& m, const std::string& label, const std::string& currency,
               std::vector<std::string>& out) {
  if (!m.has("power_kw")) return;
  out.push_back(row(label, format_power_kw(m.get("power_kw")) + " (facility, PUE included); " +
                               format_number(m.get("gpu_hours")) + " GPU-hours, " +
                               format_energy_mwh(m.get("energy_mwh")) + ", " +
                               format_money(m.get("cost_total"), currency)));
}

}  // namespace

std::string run_header(const std::string& version, const std::string& name,
                       const std::vector<std::string>& lines) {
  std::string s = "lcsim " + version + ": " + name + "\n";
  for (const auto& l : lines) s += "  " + l + "\n";
  return s;
}

std::vector<std::string> parts_of(const ClusterConfig& cluster, const std::vector<uint32_t>& ranks) {
  std::vector<std::string> parts;
  auto add = [&parts](const std::string& p) {
    if (std::find(parts.begin(), parts.end(), p) == parts.end()) parts.push_back(p);
  };
  uint32_t first = 0;
  for (const auto& pool : cluster.pools) {
    const uint32_t n = static_cast<uint32_t>(pool.count * pool.node.gpus);
    const bool used = ranks.empty() || std::any_of(ranks.begin(), ranks.end(), [first, n](uint32_t r) {
                        return r >= first && r < first + n;
                      });
    if (used) add(pool.node.accelerator.name);
    first += n;
  }
  return parts;
}

double nodes_of(const ClusterConfig& cluster, const std::vector<uint32_t>& ranks, double gpus) {
  // The cluster's GPUs node by node, pool by pool (ranks number them in that order); a run without an allocation
  // takes its first `gpus` (0: all).
  std::vector<uint32_t> node_of;
  uint32_t node = 0;
  for (const auto& pool : cluster.pools) {
    for (int n = 0; n < pool.count; ++n, ++node) {
      node_of.insert(node_of.end(), static_cast<size_t>(pool.node.gpus), node);
    }
  }
  std::set<uint32_t> spanned;
  if (ranks.empty()) {
    const size_t used = gpus > 0 ? std::min(node_of.size(), static_cast<size_t>(gpus)) : node_of.size();
    for (size_t r = 0; r < used; ++r) spanned.insert(node_of[r]);
  } else {
    for (uint32_t r : ranks) {
      if (r < node_of.size()) spanned.insert(node_of[r]);
    }
  }
  return static_cast<double>(spanned.size());
}

std::vector<std::string> short_summary(const Scenario& sc, const RunOutcome& r,
                                       const ValidationStatus& status) {
  std::vector<std::string> out;
  const std::string& currency = sc.cost.currency;
  if (!r.completed) {
    out.push_back(
        row("INCOMPLETE", "simulation.horizon (" + format_duration(sc.simulation.horizon.s()) +
                              ") ended the run before the workload finished: the numbers cover part of it"));
  }
  std::vector<std::string> confidence;
  auto add_confidence = [&confidence](const std::string& line) {
    if (std::find(confidence.begin(), confidence.end(), line) == confidence.end()) confidence.push_back(line);
  };
  const JobMetrics all{r.metrics, ""};
  if (sc.jobs.empty()) {
    const std::string& type = sc.workload_type;
    if (all.has("iteration_time_s") && all.has("tokens_per_s"))
      training_lines(all, sc.cost, out);
    else if (type == "nccl_tests")
      nccl_lines(all, r, "", out);
    else if (type == "traffic")
      traffic_lines(all, out);
    else if (all.has("replay_time_s"))
      replay_lines(all, out);
    const bool training = all.has("iteration_time_s") && all.has("tokens_per_s");
    const bool per_iteration = training && !all.has("budget_time_days") && !all.has("job_time_days");
    if (training) cost_line(all, "simulated run", currency, out);
    if (per_iteration) {
      out.push_back(row("job length", std::string("not given: cost.token_budget (tokens to train)") +
                                          (type == "megatron" ? " or workload.job_train_iters" : "") +
                                          " gives the whole job's time, GPU-hours, energy and cost"));
    }
    add_confidence(status.confidence(parts_of(sc.cluster, {}), workload_kind(type, is_moe(all)),
                                     run_gpus(all), all.get_or("parameters", 0),
                                     nodes_of(sc.cluster, {}, run_gpus(all))));
  } else {
    size_t done = 0;
    for (const auto& job : sc.jobs) {
      const JobMetrics m{r.metrics, job.name + "."};
      out.push_back(
          row("job " + job.name, job_line(m, job.workload_type, r, job.name, job.allocation.size())));
      done += m.get_or("completed", 0) > 0 ? 1 : 0;
      add_confidence(
          job.name + ": " +
          status.confidence(parts_of(sc.cluster, job.allocation), workload_kind(job.workload_type, is_moe(m)),
                            static_cast<double>(job.allocation.size()), m.get_or("parameters", 0),
                            nodes_of(sc.cluster, job.allocation, 0)));
    }
    out.push_back(row("cluster", format_count(static_cast<double>(done)) + " of " +
                                     format_count(static_cast<double>(sc.jobs.size())) +
                                     " jobs finished, in " + format_duration(all.get_or("sim_time_s", 0)) +
                                     " simulated"));
    cost_line(all, "energy, cost", currency, out);
  }
  for (const auto& c : confidence) out.push_back("Confidence: " + c);
  return out;
}

std::string detail(const RunOutcome& r) {
  std::string s;
  for (const auto& l : r.table) s += l + "\n";
  if (!s.empty()) s += "\n";
  char line[1024];
  std::snprintf(line, sizeof line, "  %-34s %16s   %s\n", "metric (metrics.json)", "value", "meaning");
  s += line;
  for (const auto& m : r.metrics.metrics()) {
    char value[64];  // whole numbers in full (bytes, counts), others to six digits
    if (m.value == std::floor(m.value) && std::abs(m.value) < 1e15)
      std::snprintf(value, sizeof value, "%.0f", m.value);
    else
      std::snprintf(value, sizeof value, "%.6g", m.value);
    std::snprintf(line, sizeof line, "  %-34s %16s   %s\n", m.name.c_str(), value, m.description.c_str());
    s += line;
  }
  return s;
}

}  // namespace lcsim::app
