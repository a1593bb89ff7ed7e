#include "scenarios/reliability.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "models/failure/goodput.h"
#include "models/failure/process.h"
#include "policies/checkpoint_interval.h"
#include "sim/rng.h"

namespace lcsim {

failure::DistributionConfig ReliabilityConfig::default_node_failures() {
  failure::DistributionConfig c;
  c.dist = "exponential";
  c.mean = Duration::seconds(239.0 * 86400);
  return c;
}

void ReliabilityConfig::visit(Section& s) {
  s.field("enabled", enabled, "step the whole training job through node failures, checkpoints and restarts");
  s.section("node_failures", "time between faults of one node (default: exponential, mean 239 days, fitted from a "
                             "production trace)",
            [&](Section& x) { node_failures.visit(x); });
  s.field("checkpoint_interval", checkpoint_interval,
          "compute between synchronous checkpoints; 0s = Daly's interval from the job's MTBF and the save time",
          Range::at_least(0));
  s.field("checkpoint_save", checkpoint_save, "the job's time lost to one checkpoint save (assumed)",
          Range{0.0, std::numeric_limits<double>::infinity(), true});
  s.field("restart", restart, "from an interruption to training again: detection, re-initialisation, restore "
                              "(assumed)",
          Range::at_least(0));
  s.field("seeds", seeds, "Monte Carlo runs (each with its own failures); metrics are their means",
          Range{1, 10000, false});
}

std::vector<std::string> report_reliability(const ReliabilityConfig& c, int nodes, int gpus, uint64_t seed,
                                            const std::string& prefix, MetricSet& m) {
  if (!c.enabled) return {};
  double days = 0;
  if (m.has(prefix + "job_time_days")) days = m.get(prefix + "job_time_days");
  else if (m.has("budget_time_days")) days = m.get("budget_time_days");
  if (!(days > 0)) {
    return {"reliability: the job's length is unknown, so no reliability metrics (set cost.token_budget or "
            "workload.job_train_iters)"};
  }
  const Duration work = Duration::seconds(days * 86400);
  const Duration job_mtbf = c.node_failures.mean / nodes;
  const policy::CheckpointCosts costs{c.checkpoint_save, c.restart, job_mtbf};
  const Duration interval = c.checkpoint_interval > Duration() ? c.checkpoint_interval : policy::daly_interval(costs);
  failure::ProcessConfig pc;
  pc.component = "node";
  pc.count = nodes;
  pc.time_to_failure = c.node_failures;
  pc.repair.dist = "fixed";
  pc.repair.mean = Duration::seconds(1);  // spares: the job does not wait for the repair
  // Failures are drawn up to a horizon well past the failure-free run; a run still unfinished there is counted.
  const Duration horizon = work * 20 + Duration::seconds(30 * 86400.0);
  double ettr = 0, ettr2 = 0, wall = 0, wall2 = 0, interruptions = 0, lost = 0, ckpt = 0, finished = 0;
  for (int s = 0; s < c.seeds; ++s) {
    const RngFactory rng(mix64(seed ^ hash_name("reliability")) ^ static_cast<uint64_t>(s));
    const failure::FailureProcess p(pc, rng);
    std::vector<Duration> at;
    for (const auto& e : p.events(horizon)) at.push_back(e.fail_at);
    const failure::RunOutcome r = failure::step_run({work, interval, c.checkpoint_save, c.restart}, at, horizon);
    ettr += r.ettr();
    ettr2 += r.ettr() * r.ettr();
    wall += r.wall.s() / 86400;
    wall2 += (r.wall.s() / 86400) * (r.wall.s() / 86400);
    interruptions += r.interruptions;
    lost += r.lost_work.s() * gpus / 3600;
    ckpt += r.wall.s() > 0 ? r.checkpoint_time.s() / r.wall.s() : 0.0;
    finished += r.finished ? 1 : 0;
  }
  const double n = c.seeds;
  auto half = [n](double sum, double sq) {
    const double mean = sum / n;
    return n > 1 ? 1.96 * std::sqrt(std::max(0.0, (sq - n * mean * mean) / (n - 1)) / n) : 0.0;
  };
  m.set(prefix + "reliability_job_mtbf_h", job_mtbf.s() / 3600, "mean time between the job's interruptions: a node's "
                                                                  "mean time between faults / its nodes");
  m.set(prefix + "reliability_checkpoint_interval_s", interval.s(), "compute between checkpoints (Daly's interval "
                                                                    "unless set)");
  m.set(prefix + "reliability_ettr", ettr / n, "effective training time ratio: useful compute / wall time (mean over "
                                               "seeds)");
  m.set(prefix + "reliability_ettr_ci95", half(ettr, ettr2), "95% confidence half-width of reliability_ettr");
  m.set(prefix + "reliability_time_days", wall / n, "the whole job's wall time with failures (mean over seeds)");
  m.set(prefix + "reliability_time_days_ci95", half(wall, wall2), "95% confidence half-width of "
                                                                  "reliability_time_days");
  m.set(prefix + "reliability_interruptions", interruptions / n, "interruptions during the job (mean over seeds)");
  m.set(prefix + "reliability_lost_gpu_hours", lost / n, "GPU-hours of compute redone after interruptions (mean)");
  m.set(prefix + "reliability_checkpoint_overhead", ckpt / n, "share of wall time spent saving checkpoints (mean)");
  m.set(prefix + "reliability_finished_fraction", finished / n, "share of seeds whose job finished before the "
                                                                "failure horizon (20 x its failure-free length + 30 d)");
  return {};
}

}  // namespace lcsim
