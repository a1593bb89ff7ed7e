#include "scenarios/reliability.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <filesystem>

#include "models/failure/fault_trace.h"
#include "models/failure/long_run.h"
#include "models/failure/straggler.h"
#include "models/failure/trace_classes.h"
#include "models/hardware/spec_catalog.h"
#include "policies/checkpoint_interval.h"
#include "sim/rng.h"
#include "sim/trace.h"

namespace lcsim {

failure::DistributionConfig ReliabilityConfig::default_node_failures() {
  failure::DistributionConfig c;
  c.dist = "exponential";
  c.mean = Duration::seconds(239.0 * 86400);
  return c;
}

void StragglerSettings::visit(Section& s) {
  s.field("cv", cv, "per-worker step-time jitter (coefficient of variation across workers; the PAI 2020 trace "
                    "measures 0.0584): every step waits for the slowest of the job's nodes; 0 = none",
          Range::at_least(0));
  s.field("node_mtbf", node_mtbf, "mean time between slow episodes of one node (a throttling GPU, a slow link); "
                                  "0s = none (assumed)",
          Range::at_least(0));
  s.field("slow_factor", slow_factor, "a slow node's step time over the others': the whole job's pace",
          Range{1, 1000, false});
  s.field("duration", duration, "how long a slow episode lasts unless the node is evicted (assumed)",
          Range::at_least(0));
  s.section("evict", "detect-and-evict: swap a node out after after_steps slow steps (a save, the swap, a restart)",
            [&](Section& x) { evict.visit(x); });
}

std::vector<failure::ComponentClass> ReliabilityConfig::classes() const {
  if (failures == "components" || failures == "trace") return components;
  failure::ComponentClass node;
  node.name = "node";
  node.unit = "node";
  node.mtbf = node_failures.mean;
  node.dist = node_failures.dist;
  node.shape = node_failures.shape;
  node.repair = failure::default_component_classes().front().repair;
  return {node};
}

void ReliabilityConfig::visit(Section& s) {
  s.field("enabled", enabled, "step the whole training job through failures, checkpoints and restarts");
  s.choice("failures", failures, {"components", "node", "trace"},
           "components: a process per component class (components:); node: one process per node (node_failures:); "
           "trace: the faults of failure_trace replayed as they are (each job node is one of the trace's servers)");
  s.field("failure_trace", failure_trace, "failures: trace: a fault trace in the InfiniteHBD format (path relative "
                                          "to this file; data/failures/infinitehbd_fault_trace.json ships with lcsim)");
  if (s.mode() == Section::Mode::kParse && s.node()) {
    const ConfigValue* v = s.node()->find("failure_trace");
    if (v && v->is_scalar() && !v->scalar.empty()) {
      failure_trace = std::filesystem::absolute(hw::relative_to_source(*v)).lexically_normal().string();
    }
    if (failures == "trace" && failure_trace.empty()) {
      s.error("failure_trace", "failures: trace needs a fault trace file (e.g. data/failures/"
                               "infinitehbd_fault_trace.json)");
    }
  }
  s.section("node_failures", "failures: node: time between faults of one node (default: exponential, mean 239 "
                             "days, fitted from a production trace)",
            [&](Section& x) { node_failures.visit(x); });
  s.section("components", "failures: components: one failure process per class (default rates: Llama 3 405B, "
                          "16,384 H100s, 54 days)",
            [&](Section& x) {
              for (auto& c : components) {
                x.section(c.name, "failures of " + c.name, [&c](Section& y) { c.visit(y); });
              }
            });
  s.section("maintenance", "announced maintenance stops", [&](Section& x) { maintenance.visit(x); });
  s.section("recovery", "detection, diagnosis and replacement phases of each interruption",
            [&](Section& x) { recovery.visit(x); });
  s.choice("checkpoint_policy", checkpoint_policy, policy::checkpoint_policy_names(),
           "how the checkpoint interval is chosen when checkpoint_interval is 0s: young, daly (from the job's "
           "configured failure rate and the save time), adaptive (Daly's from the rate observed so far)");
  s.field("checkpoint_interval", checkpoint_interval,
          "compute between synchronous checkpoints; 0s = the checkpoint_policy's interval", Range::at_least(0));
  // Checkpoint save and restart costs (the storage model may set these).
  s.field("checkpoint_save", checkpoint_save, "the job's time lost to one checkpoint save (assumed)",
          Range{0.0, std::numeric_limits<double>::infinity(), true});
  s.field("restart", restart, "after the replacement, to training again: communicator and framework "
                              "re-initialisation, checkpoint restore (assumed)",
          Range::at_least(0));
  s.field("reinit", reinit, "the restart without the restore when checkpoint: gives the restore time: "
                            "communicator and framework re-initialisation (assumed)",
          Range::at_least(0));
  s.section("elastic", "elastic shrink of data parallelism: with no spare at hand, go on at DP - 1 instead of "
                       "waiting for the repair",
            [&](Section& x) { elastic.visit(x); });
  s.section("stragglers", "per-worker jitter and slow-node episodes in the step time, and detect-and-evict",
            [&](Section& x) { stragglers.visit(x); });
  s.field("spares", spares, "hot spare nodes (failed nodes rejoin the pool after repair); -1 = always one at hand",
          Range::at_least(-1));
  s.section("health_checks", "pre-flight health checks: catch a share of latent faults at a time cost per (re)start",
            [&](Section& x) { health_checks.visit(x); });
  s.section("prediction", "failure prediction: a just-in-time checkpoint before a predicted failure; a false "
                          "alarm costs a save",
            [&](Section& x) { prediction.visit(x); });
  s.field("seeds", seeds, "Monte Carlo runs (each with its own failures); metrics are their means",
          Range{1, 10000, false});
  s.field("threads", threads, "threads for the Monte Carlo runs; 0 = all cores (results do not depend on it)",
          Range{0, 256, false});
}

namespace {

/// Seed 0's phases as timeline spans (SpanKind::kPhase, one row per job), on the run's wall-time axis.
void trace_phases(const failure::LongRunSpec& spec, const Tracer* tracer, uint32_t job) {
  failure::LongRunSpec one = spec;
  one.plan.keep_spans = true;
  const failure::JobOutcome o = failure::simulate_seed(one, 0);
  for (const failure::PhaseSpan& p : o.spans) {
    const std::string cause = p.cause < spec.classes.size() ? spec.classes[p.cause].name
                              : p.cause == spec.classes.size() ? std::string("maintenance")
                                                               : std::string("policy");
    SpanEvent e{.kind = SpanKind::kPhase, .rank = job, .start = p.start, .end = p.end,
                .name = failure::phase_name(p.phase), .job = job};
    using failure::Phase;
    if (p.phase != Phase::kCheckpoint && p.phase != Phase::kShrunk && p.phase != Phase::kSlow &&
        p.phase != Phase::kEvict) {
      e.args = {{"cause", cause}};
    }
    tracer->span(e);
  }
}

}  // namespace

std::vector<std::string> report_reliability(const ReliabilityConfig& c, int nodes, int gpus, uint64_t seed,
                                            const std::string& prefix, MetricSet& m, const Tracer* tracer,
                                            uint32_t job) {
  if (!c.enabled) return {};
  double days = 0;
  if (m.has(prefix + "job_time_days")) days = m.get(prefix + "job_time_days");
  else if (m.has("budget_time_days")) days = m.get("budget_time_days");
  if (!(days > 0)) {
    return {"reliability: the job's length is unknown, so no reliability metrics (set cost.token_budget or "
            "workload.job_train_iters)"};
  }
  const Duration work = Duration::seconds(days * 86400);
  failure::LongRunSpec spec;
  spec.classes = c.classes();
  spec.maintenance = c.maintenance;
  if (c.failures == "node") spec.maintenance.enabled = false;
  spec.gpus = gpus;
  spec.nodes = nodes;
  spec.seed = seed;
  double rate = failure::job_failure_rate(spec.classes, gpus, nodes);
  if (c.failures == "trace") {  // the real faults as they came, on the job's nodes; the rate is the replay's
    const failure::FaultTrace trace = failure::load_fault_trace(c.failure_trace);
    spec.replay = failure::trace_interruptions(trace, failure::kInfiniteHbdServers, spec.classes, nodes);
    spec.replay_period = trace.span;
    spec.maintenance.enabled = false;
    rate = trace.span > Duration() ? static_cast<double>(spec.replay.size()) / trace.span.s() : 0.0;
  }
  const Duration job_mtbf = Duration::seconds(rate > 0 ? 1.0 / rate : std::numeric_limits<double>::max());
  // With checkpoint: storage the restart is re-initialisation plus the storage model's restore of the last level.
  const bool from_storage = c.restore > Duration();
  const Duration restart = from_storage ? c.reinit : c.restart;
  const policy::CheckpointCosts costs{c.checkpoint_save, from_storage ? c.reinit + c.restore : c.restart, job_mtbf};
  // The job's own checkpoint interval, where its workload gives one in iterations (Megatron's --save-interval) and
  // reliability.checkpoint_interval is not set: that many iterations of compute, in place of the policy's.
  Duration given = c.checkpoint_interval;
  std::string interval_source = "checkpoint_policy " + c.checkpoint_policy + "'s";
  if (given > Duration()) {
    interval_source = "reliability.checkpoint_interval";
  } else if (m.has(prefix + "checkpoint_every_iterations") && m.has(prefix + "iteration_time_s")) {
    const double every = m.get(prefix + "checkpoint_every_iterations");
    given = Duration::seconds(every * m.get(prefix + "iteration_time_s"));
    interval_source = "the workload's save_interval: " + std::to_string(static_cast<long long>(every)) + " iterations";
  }
  const Duration interval = policy::checkpoint_interval(c.checkpoint_policy, costs, given);
  spec.plan.work = work;
  spec.plan.checkpoint_interval = interval;
  spec.plan.checkpoint_save = c.checkpoint_save;
  spec.plan.restart = restart + c.health_checks.cost();
  spec.plan.restore = c.restore;
  spec.plan.recovery = c.recovery;
  spec.plan.spares = c.spares;
  spec.plan.causes = spec.classes.size() + 1;
  if (c.checkpoint_policy == "adaptive" && given <= Duration()) {
    const policy::AdaptiveInterval adaptive{costs};
    spec.plan.adapt = [adaptive](int n, Duration elapsed) { return adaptive.interval_after(n, elapsed); };
  }
  if (c.health_checks.enabled) {
    const policy::HealthCheckPolicy hc = c.health_checks;
    spec.prevents = [hc](double latent, double found) { return hc.prevents(latent, found); };
  }
  if (c.prediction.enabled && c.prediction.in_time(c.checkpoint_save)) {
    const policy::FailurePredictionPolicy fp = c.prediction;
    spec.predicts = [fp](double u) { return fp.predicts(u); };
    spec.plan.migrate = fp.migrates();
  }
  spec.false_alarm_rate = c.prediction.false_alarm_rate(rate);
  // Elastic shrink: each node out takes the data-parallel replicas it holds (at least one).
  const int dp = static_cast<int>(m.has(prefix + "data_parallel") ? m.get(prefix + "data_parallel")
                                                                  : m.has(prefix + "num_gpus") ? m.get(prefix + "num_gpus")
                                                                                               : nodes);
  if (c.elastic.enabled && dp > 0) {
    // A node holds gpus_per_node / (TP x PP) whole replicas, or a part of one (then it takes that one).
    const int model_parallel = std::max(1, gpus / dp);
    const int per_node = std::max(1, gpus / std::max(1, nodes) / model_parallel);
    const policy::ElasticPolicy el = c.elastic;
    spec.plan.shrink = [el, dp, per_node](int out) { return el.share(dp, out * per_node); };
  }
  // Stragglers: jitter (the slowest of the job's nodes sets every step), slow-node episodes, eviction.
  const StragglerSettings& sg = c.stragglers;
  if (sg.cv > 0) {
    spec.plan.step_slowdown = failure::sync_step_slowdown(sg.cv, nodes, 1.0, 4000, mix64(seed ^ hash_name("stragglers")));
  }
  if (sg.node_mtbf > Duration() && sg.slow_factor > 1) {
    spec.slow_rate = nodes / sg.node_mtbf.s();
    spec.slow_factor = sg.slow_factor;
    spec.slow_duration = sg.duration;
    const double iteration = m.has(prefix + "iteration_time_s") ? m.get(prefix + "iteration_time_s") : 0.0;
    spec.plan.evict_after = sg.evict.detect_after(Duration::seconds(iteration) * spec.plan.step_slowdown, sg.slow_factor);
    spec.plan.evict_cost = c.recovery.swap + spec.plan.restart + spec.plan.restore;
  }
  // Failures are drawn up to a horizon well past the failure-free run; a run still unfinished there is counted.
  spec.horizon = work * 20 + Duration::seconds(30 * 86400.0);
  const std::vector<failure::JobOutcome> runs = failure::simulate_seeds(spec, c.seeds, c.threads);
  if (tracer && tracer->enabled()) trace_phases(spec, tracer, job);

  auto stat = [&](auto f) {
    std::vector<double> x;
    x.reserve(runs.size());
    for (const auto& r : runs) x.push_back(f(r));
    return failure::mean_ci(x);
  };
  auto put = [&](const std::string& name, double v, const std::string& what) { m.set(prefix + name, v, what); };
  const auto ettr = stat([](const failure::JobOutcome& r) { return r.ettr(); });
  const auto wall = stat([](const failure::JobOutcome& r) { return r.wall.s() / 86400; });
  const double g = gpus;
  put("reliability_job_mtbf_h", job_mtbf.s() / 3600, "mean time between the job's unplanned interruptions: 1 / the "
                                                      "sum of its components' failure rates");
  put("reliability_checkpoint_interval_s", interval.s(), "compute between checkpoints (" + interval_source + ")");
  put("reliability_ettr", ettr.mean, "effective training time ratio: useful compute / wall time (mean over seeds)");
  put("reliability_ettr_ci95", ettr.ci95, "95% confidence half-width of reliability_ettr");
  put("reliability_time_days", wall.mean, "the whole job's wall time with failures: time to train (mean over seeds)");
  put("reliability_time_days_ci95", wall.ci95, "95% confidence half-width of reliability_time_days");
  put("reliability_interruptions", stat([](const auto& r) { return double(r.interruptions); }).mean,
      "unplanned interruptions during the job (mean over seeds)");
  put("reliability_interruptions_ci95", stat([](const auto& r) { return double(r.interruptions); }).ci95,
      "95% confidence half-width of reliability_interruptions");
  put("reliability_prevented", stat([](const auto& r) { return double(r.prevented); }).mean,
      "failures pre-flight health checks caught before they interrupted the job (mean)");
  if (c.prediction.enabled) {
    put("reliability_predicted", stat([](const auto& r) { return double(r.predicted); }).mean,
        "failures announced in time: a checkpoint just before, no compute lost (mean)");
    put("reliability_false_alarms", stat([](const auto& r) { return double(r.false_alarms); }).mean,
        "the predictor's false alarms during the job: a checkpoint save each (mean)");
  }
  if (c.prediction.migrates()) {
    put("reliability_migrations", stat([](const auto& r) { return double(r.migrations); }).mean,
        "moves off a node predicted to fail (true and false alarms with a spare at hand): a save, a swap and a "
        "restart each (mean)");
    put("reliability_migrate_h", stat([](const auto& r) { return r.migrating.s() / 3600; }).mean,
        "wall hours spent migrating: swaps, restarts and restores of the migrations (mean)");
  }
  put("reliability_planned_stops", stat([](const auto& r) { return double(r.planned); }).mean,
      "announced maintenance stops during the job (mean)");
  put("reliability_lost_gpu_hours", stat([&](const auto& r) { return r.lost_work.s() * g / 3600; }).mean,
      "GPU-hours of compute redone after interruptions (mean)");
  put("reliability_down_gpu_hours", stat([&](const auto& r) { return r.down().s() * g / 3600; }).mean,
      "GPU-hours the job's GPUs stood still: detection, diagnosis, waiting, swaps, restarts, maintenance (mean)");
  put("reliability_checkpoint_overhead", stat([](const auto& r) {
        return r.wall.s() > 0 ? r.checkpoint_time.s() / r.wall.s() : 0.0;
      }).mean,
      "share of wall time spent saving checkpoints (mean)");
  put("reliability_finished_fraction", stat([](const auto& r) { return r.finished ? 1.0 : 0.0; }).mean,
      "share of seeds whose job finished before the failure horizon (20 x its failure-free length + 30 d)");
  const std::vector<std::pair<std::string, Duration failure::JobOutcome::*>> phases{
      {"detection", &failure::JobOutcome::detection},     {"diagnosis", &failure::JobOutcome::diagnosis},
      {"wait_spare", &failure::JobOutcome::wait_spare},   {"swap", &failure::JobOutcome::swap},
      {"wait_repair", &failure::JobOutcome::wait_repair}, {"restart", &failure::JobOutcome::restart},
      {"maintenance", &failure::JobOutcome::maintenance}};
  if (from_storage) {
    // Where one restore's time came from: measured on the run's own network (checkpoint.run_every), or the
    // storage model's estimate.
    const bool measured = m.has(prefix + "checkpoint_run_restore_s");
    const std::string source = measured ? "measured on the run's own network after training "
                                          "(checkpoint_run_restore_s)"
                                        : "the storage model's estimate of the last level";
    put("reliability_restore_s", c.restore.s(), "one checkpoint restore after each restart: " + source);
    put("reliability_restore_h", stat([](const auto& r) { return r.restore.s() / 3600; }).mean,
        "wall hours restoring checkpoints (" + source + ", after each restart; mean)");
  }
  if (c.elastic.enabled) {
    put("reliability_shrinks", stat([](const auto& r) { return double(r.shrinks); }).mean,
        "failures the job ran through at DP - k instead of waiting for a spare or the repair (mean)");
    put("reliability_shrunk_h", stat([](const auto& r) { return r.shrunk.s() / 3600; }).mean,
        "wall hours run with nodes out (mean)");
    put("reliability_shrunk_loss_h", stat([](const auto& r) { return r.shrunk_loss.s() / 3600; }).mean,
        "of those, the throughput missing: hours x (1 - share) (mean)");
  }
  if (sg.cv > 0 || spec.slow_rate > 0) {
    put("reliability_step_slowdown", spec.plan.step_slowdown,
        "wall time per unit of compute from per-worker jitter: E[slowest of the job's nodes] / mean");
    put("reliability_slow_loss_h", stat([](const auto& r) { return r.slow_loss.s() / 3600; }).mean,
        "wall hours lost to waiting for the slowest worker: jitter and slow nodes (mean)");
  }
  if (spec.slow_rate > 0) {
    put("reliability_slow_episodes", stat([](const auto& r) { return double(r.slow_episodes); }).mean,
        "slow-node episodes during the job (mean)");
    put("reliability_evictions", stat([](const auto& r) { return double(r.evictions); }).mean,
        "slow nodes evicted by detect-and-evict (mean)");
  }
  for (const auto& ph : phases) {
    const auto member = ph.second;
    put("reliability_" + ph.first + "_h", stat([member](const auto& r) { return (r.*member).s() / 3600; }).mean,
        "wall hours in the " + ph.first + " phase of recoveries (mean)");
  }
  // By cause: the classes, then planned maintenance.
  for (size_t k = 0; k <= spec.classes.size(); ++k) {
    const std::string name = k < spec.classes.size() ? spec.classes[k].name : "maintenance";
    put("reliability_" + name + "_interruptions",
        stat([k](const auto& r) { return double(r.by_cause[k].interruptions); }).mean,
        name + (k < spec.classes.size() ? ": unplanned interruptions (mean)" : ": announced stops are "
                                                                               "reliability_planned_stops; this is 0"));
    put("reliability_" + name + "_lost_gpu_hours",
        stat([k, g](const auto& r) { return (r.by_cause[k].lost_work + r.by_cause[k].downtime).s() * g / 3600; }).mean,
        name + ": GPU-hours lost, compute redone plus downtime (mean)");
  }
  // Time to train, cost and energy: the GPUs are held for the whole wall time; compute energy grows with the work
  // redone (idle power while down is not counted).
  const double stretch = wall.mean * 86400 / work.s();
  put("reliability_gpu_hours", wall.mean * 24 * g, "GPU-hours held for the whole run with failures (mean)");
  if (m.has("budget_cost_total") && prefix.empty()) {
    put("reliability_cost_total", m.get("budget_cost_total") * stretch,
        "money for the whole run with failures: budget_cost_total x wall time / failure-free time");
  }
  if (m.has("budget_energy_mwh") && prefix.empty()) {
    const double redo = stat([](const auto& r) { return r.lost_work.s(); }).mean / work.s();
    put("reliability_energy_mwh", m.get("budget_energy_mwh") * (1 + redo),
        "facility energy with failures: budget_energy_mwh x (1 + compute redone / compute); idle power while down "
        "not counted");
  }
  return {};
}

}  // namespace lcsim
