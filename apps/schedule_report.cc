#include "apps/schedule_report.h"

#include <cstdio>

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

}  // namespace lcsim::app
