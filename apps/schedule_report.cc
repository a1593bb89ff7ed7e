#include "apps/schedule_report.h"

#include <cstdio>
#include <fstream>

#include "sim/error.h"

namespace lcsim::app {

std::string workload_row(const std::string& policy, double error, const MetricSet& m) {
  char line[512];
  std::snprintf(line, sizeof line,
                "| %s | %.0f%% | %.0f | %.2f | %.2f | %.2f | %.2f | %.3f | %.2f | %.2f | %.0f |", policy.c_str(),
                error * 100, m.get("workload_jobs"), m.get("jct_s_mean") / 60, m.get("jct_s_p50") / 60,
                m.get("jct_s_p99") / 60, m.get("queue_delay_s_mean") / 60, m.get("workload_stretch_mean"),
                m.get("multi_node_jobs_one_leaf"), m.get("makespan_s") / 60, m.get("speed_evaluations"));
  return line;
}

void print_workload_rows(const std::vector<std::string>& rows) {
  if (rows.empty()) return;
  std::printf("\nTraining-workload jobs (speed from placement and fabric contention; stretch = time holding GPUs / "
              "time alone on a compact placement):\n\n");
  std::printf("| policy | est. error | workload jobs | JCT mean (min) | JCT p50 (min) | JCT p99 (min) | "
              "queue mean (min) | stretch mean | >8-GPU jobs on 1 leaf | makespan (min) | fabric simulations |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& r : rows) std::printf("%s\n", r.c_str());
}

std::vector<std::string> serving_rows(const std::string& policy, double error, const cluster::ClusterResult& r) {
  std::vector<std::string> out;
  for (const auto& j : r.jobs) {
    if (!j.serving || j.end_s < 0) continue;
    const cluster::ServingLatency& l = j.serving_record.lifetime;
    const cluster::ServingLatency& a = j.serving_record.alone;
    char line[512];
    std::snprintf(line, sizeof line,
                  "| %s | %.0f%% | %llu | %u | %.3f | %.3f (%.3f) | %.4f (%.4f) | %.2f | %.2f | %.3f | %.1f | %.1f |",
                  policy.c_str(), error * 100, static_cast<unsigned long long>(j.id), j.gpus, l.ttft_p50_s,
                  l.ttft_p99_s, a.ttft_p99_s, l.tpot_p99_s, a.tpot_p99_s, 1000 * l.kv_mean_s, 1000 * l.kv_p99_s,
                  l.slo_attainment, j.serving_record.shared_s / 60, j.serving_record.alone_s / 60);
    out.push_back(line);
  }
  return out;
}

void print_serving_rows(const std::vector<std::string>& rows) {
  if (rows.empty()) return;
  std::printf("\nServing jobs (latency from the groups they ran in: p50s and the mean time-weighted, p99s the worst "
              "group; in brackets alone on a compact placement):\n\n");
  std::printf("| policy | est. error | job | GPUs | TTFT p50 (s) | TTFT p99 (s) | TPOT p99 (s) | KV handoff mean (ms) | "
              "KV handoff p99 (ms) | SLO attainment | beside others (min) | alone (min) |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& r : rows) std::printf("%s\n", r.c_str());
}

std::string write_run_files(const std::string& dir, const std::string& stem, const cluster::ClusterResult& r) {
  const std::string json = dir + "/" + stem + ".metrics.json", csv = dir + "/" + stem + ".jobs.csv";
  std::ofstream mj(json);
  mj << r.metrics().to_json();
  std::ofstream jc(csv);
  jc << "id,gpus,submit_s,first_start_s,end_s,run_s,ideal_run_s,pool,preemptions,leaves,kind,ttft_p50_s,ttft_p99_s,"
        "tpot_p50_s,tpot_p99_s,kv_mean_s,kv_p99_s,slo_attainment,beside_others_s,alone_s\n";
  jc.precision(10);
  for (const auto& j : r.jobs) {
    jc << j.id << ',' << j.gpus << ',' << j.submit_s << ',' << j.first_start_s << ',' << j.end_s << ',' << j.run_s
       << ',' << j.ideal_run_s << ',' << j.pool << ',' << j.preemptions << ',' << j.leaves << ','
       << (j.serving ? "serving" : j.workload ? "training_workload" : "duration");
    if (j.serving) {
      const cluster::ServingLatency& l = j.serving_record.lifetime;
      for (double x : {l.ttft_p50_s, l.ttft_p99_s, l.tpot_p50_s, l.tpot_p99_s, l.kv_mean_s, l.kv_p99_s,
                       l.slo_attainment, j.serving_record.shared_s, j.serving_record.alone_s})
        jc << ',' << x;
    } else {
      jc << ",,,,,,,,,";
    }
    jc << '\n';
  }
  if (!mj || !jc) throw InputError("cannot write " + json + " and " + csv);
  return json + ", " + csv;
}

}  // namespace lcsim::app
