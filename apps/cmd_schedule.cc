#include "apps/cmd_schedule.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "policies/demand_forecast.h"
#include "apps/schedule_report.h"
#include "apps/schedule_timeline.h"
#include "scenarios/cluster_speed.h"
#include "sim/config.h"
#include "sim/error.h"
#include "workloads/cluster/cluster_sim.h"

namespace lcsim::app {

const char* kScheduleHelp = R"(usage: lcsim schedule --trace FILE --pools SPEC [options]

Replays a job trace (Philly CSV or lcsim's job CSV, docs/scheduling.md) on a cluster of GPU pools under each
scheduling policy and prints one row per run: completion time, slowdown, queueing delay, utilization,
fragmentation, placement and cost.

  --trace FILE             the job trace
  --cluster FILE           a scenario whose cluster (pools of node templates, fabric) the jobs run on, instead
                           of --pools: jobs given as training workloads (job CSV columns workload, iterations)
                           then run at the speed of their placement, contending on the fabric (flow model), and
                           inference rows with a workload are serving deployments held for their duration_s,
                           whose latency comes from the jobs they share links with (a table per serving job)
  --pools SPEC             NAME:NODES[:GPUS_PER_NODE[:THROUGHPUT[:USD_PER_GPU_HOUR]]],... in node order,
                           e.g. h100:125:8:2.0:4.0,a100:125:8:1.0:2.0 (defaults 8 GPUs, throughput 1, $0)
  --policies LIST          comma-separated policy names (default: every one; lcsim schedule --list)
  --estimate-error LIST    duration-estimate errors, e.g. 0,0.2,0.5: each job's estimate is its duration
                           x U[1-e, 1+e] (default 0)
  --quota TEAM=GPUS        a team's GPU quota (repeatable); Philly teams are its virtual clusters
  --checkpoint SECONDS     cost of a preemption, paid on resume (default 60)
  --gavel-round SECONDS    gavel-lp's round of time slicing (default 360, Gavel's 6 minutes)
  --ports-per-leaf N       GPUs (NIC ports) per leaf switch (default 32)
  --rail-optimized         rail-optimized fabric: a node's leaf is its rail group
  --tiers 2|3              fabric tiers (default 2); with 3, --leaves-per-pod N (default 8)
  --output DIR             write each run's metrics and per-job rows to DIR/POLICY[-eERROR].metrics.json and
                           .jobs.csv (serving jobs' latency columns included)
  --timeline DIR           write each run's timeline to DIR/POLICY[-eERROR].json (per-job and per-pool lanes;
                           opens in ui.perfetto.dev and lcsim-gui; .pftrace past 256 MiB)
  --limit N                only the first N jobs of the trace
  --synthetic N            N jobs drawn from a mix fitted to the trace instead of the trace itself
  --seed N                 seed for estimate errors and synthetic jobs (default 1)
  --list                   the registered scheduling policies
  --power LIST             node power policies to compare, e.g. always-on,reactive,forecast (--list shows
                           them): prints queueing delay, energy, powered share, boots and forecast error instead
  --boot SECONDS           with --power: a node switched on takes this long before it runs jobs (default 300)
  --gpu-watts SPEC         POOL=IDLE_W:BUSY_W,... per-GPU power for the energy column, e.g. a100=50:400;
                           with --cluster a pool left out draws its part's idle power and its power limit
                           (power_limit, else the TDP); with --pools, 0 (not counted)
  --job-classes SPEC       NAME:WEIGHT:POOL=THROUGHPUT/POOL=THROUGHPUT...,... a throughput matrix: each job gets a
                           class at random by weight and runs at its class's speed on each pool (every pool
                           named), e.g. lm:1:a100=1/h100=3,cnn:1:a100=1/h100=1.2 (for gavel, docs/scheduling.md)
)";

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, sep)) out.push_back(item);
  return out;
}

double number(const std::string& flag, const std::string& v, double lo, double hi) {
  size_t used = 0;
  double x = 0;
  try {
    x = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || v.empty() || !(x >= lo && x <= hi)) {
    std::ostringstream msg;
    msg << "option " << flag << ": expected a number in [" << lo << ", " << hi << "], got '" << v << "'";
    throw InputError(msg.str());
  }
  return x;
}
uint32_t whole(const std::string& flag, const std::string& v, double lo, double hi) {
  double x = number(flag, v, lo, hi);
  if (x != static_cast<double>(static_cast<uint64_t>(x)))
    throw InputError("option " + flag + ": expected a whole number, got '" + v + "'");
  return static_cast<uint32_t>(x);
}

std::vector<cluster::PoolConfig> parse_pools(const std::string& spec) {
  std::vector<cluster::PoolConfig> out;
  for (const auto& item : split(spec, ',')) {
    auto f = split(item, ':');
    if (f.size() < 2 || f.size() > 5 || f[0].empty())
      throw InputError("option --pools: expected NAME:NODES[:GPUS_PER_NODE[:THROUGHPUT[:USD_PER_GPU_HOUR]]], got '" +
                       item + "'");
    cluster::PoolConfig p;
    p.name = f[0];
    p.nodes = whole("--pools " + p.name + " nodes", f[1], 1, 1e6);
    if (f.size() > 2) p.gpus_per_node = whole("--pools " + p.name + " GPUs per node", f[2], 1, 1024);
    if (f.size() > 3) p.throughput = number("--pools " + p.name + " throughput", f[3], 1e-6, 1e6);
    if (f.size() > 4) p.cost_per_gpu_hour = number("--pools " + p.name + " price", f[4], 0, 1e6);
    for (const auto& q : out)
      if (q.name == p.name) throw InputError("option --pools: pool '" + p.name + "' given twice");
    out.push_back(p);
  }
  if (out.empty()) throw InputError("option --pools: no pools given");
  return out;
}

}  // namespace

namespace {

/// --job-classes NAME:WEIGHT:POOL=TP/POOL=TP,...: every pool named once per class.
std::vector<cluster::JobClass> parse_job_classes(const std::string& spec,
                                                 const std::vector<cluster::PoolConfig>& pools) {
  const std::string expected = "expected NAME:WEIGHT:POOL=THROUGHPUT/POOL=THROUGHPUT... (every pool), got '";
  std::vector<cluster::JobClass> out;
  for (const auto& item : split(spec, ',')) {
    auto f = split(item, ':');
    if (f.size() != 3 || f[0].empty()) throw InputError("option --job-classes: " + expected + item + "'");
    cluster::JobClass jc;
    jc.name = f[0];
    jc.weight = number("--job-classes " + f[0] + " weight", f[1], 1e-9, 1e9);
    jc.throughput.assign(pools.size(), 0);
    for (const auto& pt : split(f[2], '/')) {
      auto kv = split(pt, '=');
      if (kv.size() != 2) throw InputError("option --job-classes: " + expected + item + "'");
      size_t p = 0;
      while (p < pools.size() && pools[p].name != kv[0]) ++p;
      if (p == pools.size()) {
        throw InputError("option --job-classes: class '" + f[0] + "' names pool '" + kv[0] + "', not one of --pools");
      }
      jc.throughput[p] = number("--job-classes " + f[0] + " " + kv[0], kv[1], 1e-6, 1e6);
    }
    for (size_t p = 0; p < pools.size(); ++p) {
      if (jc.throughput[p] == 0) {
        throw InputError("option --job-classes: class '" + f[0] + "' gives no throughput for pool '" + pools[p].name +
                         "'");
      }
    }
    out.push_back(std::move(jc));
  }
  return out;
}

/// --power: each scheduling policy under each power policy (always-on: none).
int power_table(const Registry<policy::SchedulingPolicyFactory>& registry,
                const Registry<policy::PowerPolicyFactory>& power_registry, const std::vector<std::string>& policies,
                const std::vector<std::string>& power, const cluster::ClusterConfig& config,
                const cluster::JobTrace& trace, cluster::SimOptions options) {
  std::printf("| policy | power | queue mean (h) | queue p99 (h) | JCT mean (h) | slowdown mean | energy (MWh) | "
              "powered share | boots | forecast MAE (GPUs) | forecast MAPE | replay (s) |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& name : policies) {
    for (const auto& pw : power) {
      auto policy = registry.get(name).factory();
      std::unique_ptr<policy::PowerPolicy> pp;
      if (pw != "always-on") pp = power_registry.get(pw).factory();
      options.power = pp.get();
      auto t0 = std::chrono::steady_clock::now();
      auto result = cluster::simulate_cluster(config, trace, *policy, options);
      double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      MetricSet m = result.metrics();
      char mae[32] = "-", mape[32] = "-";
      if (m.has("forecast_mape")) {
        std::snprintf(mae, sizeof mae, "%.1f", m.get("forecast_mae_gpus"));
        std::snprintf(mape, sizeof mape, "%.3f", m.get("forecast_mape"));
      }
      std::printf("| %s | %s | %.3f | %.2f | %.2f | %.2f | %.2f | %.3f | %.0f | %s | %s | %.2f |\n", name.c_str(),
                  pw.c_str(), m.get("queue_delay_s_mean") / 3600, m.get("queue_delay_s_p99") / 3600,
                  m.get("jct_s_mean") / 3600, m.get("slowdown_mean"), m.get("energy_kwh") / 1000,
                  m.get("powered_share"), m.get("boots"), mae, mape, wall);
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace

int cmd_schedule(const std::vector<std::string>& args) {
  Registry<policy::SchedulingPolicyFactory> registry("scheduling policy");
  policy::register_scheduling_policies(registry);
  std::string trace_path;
  cluster::ClusterConfig config;
  std::vector<std::string> policies;
  std::vector<double> errors = {0};
  cluster::SimOptions options;
  size_t limit = 0, synthetic = 0;
  bool have_pools = false;
  Registry<policy::PowerPolicyFactory> power_registry("power policy");
  policy::register_power_policies(power_registry);
  std::vector<std::string> power;
  std::vector<std::pair<std::string, std::pair<double, double>>> watts;
  std::string classes_spec;
  std::unique_ptr<ScenarioJobSpeed> speed;
  std::string timeline_dir, output_dir;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) throw InputError("option " + a + " needs a value (see lcsim schedule --help)");
      return args[++i];
    };
    if (a == "-h" || a == "--help") {
      std::cout << kScheduleHelp;
      return 0;
    } else if (a == "--list") {
      for (const auto& [name, e] : registry.entries()) std::printf("  %-12s %s\n", name.c_str(), e.description.c_str());
      std::printf("power policies (--power):\n  %-12s %s\n", "always-on", "every node on all the time");
      for (const auto& [name, e] : power_registry.entries())
        std::printf("  %-12s %s\n", name.c_str(), e.description.c_str());
      return 0;
    } else if (a == "--trace") {
      trace_path = value();
    } else if (a == "--pools") {
      config.pools = parse_pools(value());
      have_pools = true;
    } else if (a == "--cluster") {
      speed = std::make_unique<ScenarioJobSpeed>(value());
    } else if (a == "--timeline") {
      timeline_dir = value();
    } else if (a == "--output") {
      output_dir = value();
    } else if (a == "--policies") {
      policies = split(value(), ',');
      for (const auto& p : policies) registry.get(p);  // unknown names fail here, with suggestions
    } else if (a == "--estimate-error") {
      errors.clear();
      for (const auto& e : split(value(), ',')) errors.push_back(number("--estimate-error", e, 0, 0.99));
      if (errors.empty()) throw InputError("option --estimate-error: no values given");
    } else if (a == "--quota") {
      auto kv = split(value(), '=');
      if (kv.size() != 2 || kv[0].empty()) throw InputError("option --quota: expected TEAM=GPUS, got '" + args[i] + "'");
      config.teams.push_back({kv[0], whole("--quota " + kv[0], kv[1], 1, 1e9)});
    } else if (a == "--gavel-round") {
      policy::SchedulingPolicyOptions po;
      po.gavel_round_s = number(a, value(), 1, 1e7);
      registry = Registry<policy::SchedulingPolicyFactory>("scheduling policy");
      policy::register_scheduling_policies(registry, po);
    } else if (a == "--checkpoint") {
      options.checkpoint_s = number(a, value(), 0, 1e9);
    } else if (a == "--ports-per-leaf") {
      config.fabric.ports_per_leaf = static_cast<int>(whole(a, value(), 1, 1e6));
    } else if (a == "--rail-optimized") {
      config.fabric.rail_optimized = true;
    } else if (a == "--tiers") {
      config.fabric.tiers = static_cast<int>(whole(a, value(), 2, 3));
    } else if (a == "--leaves-per-pod") {
      config.fabric.leaves_per_pod = static_cast<int>(whole(a, value(), 1, 1e6));
    } else if (a == "--limit") {
      limit = whole(a, value(), 1, 1e9);
    } else if (a == "--synthetic") {
      synthetic = whole(a, value(), 1, 1e8);
    } else if (a == "--seed") {
      options.seed = whole(a, value(), 0, 4e9);
    } else if (a == "--power") {
      power = split(value(), ',');
      for (const auto& p : power) {
        if (p != "always-on") power_registry.get(p);  // unknown names fail here, with suggestions
      }
    } else if (a == "--job-classes") {
      classes_spec = value();
    } else if (a == "--boot") {
      options.boot_s = number(a, value(), 0, 1e7);
    } else if (a == "--gpu-watts") {
      for (const auto& item : split(value(), ',')) {
        auto kv = split(item, '=');
        auto w = kv.size() == 2 ? split(kv[1], ':') : std::vector<std::string>{};
        if (w.size() != 2) throw InputError("option --gpu-watts: expected POOL=IDLE_W:BUSY_W, got '" + item + "'");
        watts.push_back({kv[0], {number("--gpu-watts " + kv[0] + " idle", w[0], 0, 1e5),
                                 number("--gpu-watts " + kv[0] + " busy", w[1], 0, 1e5)}});
      }
    } else {
      throw InputError("unknown option '" + a + "' for 'lcsim schedule' (see lcsim schedule --help)");
    }
  }
  if (trace_path.empty()) throw InputError("lcsim schedule: --trace FILE is required (see lcsim schedule --help)");
  if (speed && have_pools) throw InputError("lcsim schedule: give --cluster FILE or --pools SPEC, not both");
  if (speed) {
    cluster::ClusterConfig c = speed->cluster_config();
    config.pools = c.pools;
    config.fabric = c.fabric;
    options.speed = speed.get();
    have_pools = true;
  }
  if (!have_pools) throw InputError("lcsim schedule: --pools SPEC is required (see lcsim schedule --help)");
  if (policies.empty()) policies = registry.names();

  for (const auto& [pool, w] : watts) {
    bool found = false;
    for (auto& p : config.pools) {
      if (p.name == pool) p.idle_watts_per_gpu = w.first, p.busy_watts_per_gpu = w.second, found = true;
    }
    if (!found) throw InputError("option --gpu-watts: '" + pool + "' is not one of the --pools");
  }
  if (!classes_spec.empty()) config.job_classes = parse_job_classes(classes_spec, config.pools);
  cluster::JobTrace trace = cluster::read_job_trace(trace_path);
  if (synthetic > 0) trace = cluster::synthesize_jobs(cluster::fit_job_mix(trace), synthetic, options.seed);
  if (limit > 0 && trace.jobs.size() > limit) trace.jobs.resize(limit);
  uint64_t gpus = 0;
  for (const auto& p : config.pools) gpus += uint64_t{p.nodes} * p.gpus_per_node;
  std::printf("%zu jobs from %s on %llu GPUs (", trace.jobs.size(), trace_path.c_str(),
              static_cast<unsigned long long>(gpus));
  for (size_t p = 0; p < config.pools.size(); ++p)
    std::printf("%s%s: %u x %u, throughput %g", p ? "; " : "", config.pools[p].name.c_str(), config.pools[p].nodes,
                config.pools[p].gpus_per_node, config.pools[p].throughput);
  std::printf(")\n\n");
  if (!power.empty()) return power_table(registry, power_registry, policies, power, config, trace, options);
  std::printf("| policy | est. error | JCT mean (h) | JCT p50 (h) | JCT p99 (h) | slowdown mean | slowdown p99 | "
              "queue mean (h) | utilization | fragmentation | >8-GPU jobs on 1 leaf | preemptions | cost ($k) | "
              "replay (s) |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::vector<std::string> work_rows, serve_rows, timelines, files;
  for (const auto& name : policies) {
    for (double e : errors) {
      auto policy = registry.get(name).factory();
      options.estimate_error = e;
      Tracer tracer;
      std::unique_ptr<ScheduleTimeline> timeline;
      std::string run_stem = name;
      if (errors.size() > 1) run_stem += "-e" + std::to_string(static_cast<int>(e * 100 + 0.5));
      if (!timeline_dir.empty()) {
        std::filesystem::create_directories(timeline_dir);
        timeline = std::make_unique<ScheduleTimeline>(trace, timeline_dir + "/" + run_stem);
        tracer.subscribe(timeline.get());
        options.tracer = &tracer;
      }
      auto t0 = std::chrono::steady_clock::now();
      auto result = cluster::simulate_cluster(config, trace, *policy, options);
      double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      tracer.flush();  // a span a job held back (Tracer::span_held)
      if (timeline) timelines.push_back(timeline->close()), options.tracer = nullptr;
      MetricSet m = result.metrics();
      std::printf("| %s | %.0f%% | %.2f | %.3f | %.1f | %.2f | %.1f | %.2f | %.3f | %.3f | %.2f | %.0f | %.1f | %.2f |\n",
                  name.c_str(), e * 100, m.get("jct_s_mean") / 3600, m.get("jct_s_p50") / 3600,
                  m.get("jct_s_p99") / 3600, m.get("slowdown_mean"), m.get("slowdown_p99"),
                  m.get("queue_delay_s_mean") / 3600, m.get("utilization"), m.get("fragmentation"),
                  m.get("multi_node_jobs_one_leaf"), m.get("preemptions"), m.get("cost_usd") / 1000, wall);
      std::fflush(stdout);
      if (m.has("workload_jobs")) work_rows.push_back(workload_row(name, e, m));
      for (auto& row : serving_rows(name, e, result)) serve_rows.push_back(std::move(row));
      if (!output_dir.empty()) {
        std::filesystem::create_directories(output_dir);
        files.push_back(write_run_files(output_dir, run_stem, result));
      }
    }
  }
  print_workload_rows(work_rows);
  print_serving_rows(serve_rows);
  for (const auto& f : files) std::printf("%soutputs: %s\n", &f == &files.front() ? "\n" : "", f.c_str());
  for (const auto& t : timelines) std::printf("%stimeline: %s\n", &t == &timelines.front() ? "\n" : "", t.c_str());
  return 0;
}

}  // namespace lcsim::app
