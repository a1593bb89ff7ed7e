// Running a scenario: the fabric, the engine and the transfer model it asks for, its jobs, the subscribers (timeline,
// energy meter, utilization sampler), and the run's metrics: every job's own, energy by part and state, network and
// link utilization, and the whole job with failures (reliability:).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "models/hardware/energy_meter.h"
#include "models/hardware/power_counter.h"
#include "models/network/transfer.h"
#include "models/network/utilization.h"
#include "scenarios/catalog.h"
#include "scenarios/fabric.h"
#include "scenarios/restart.h"
#include "scenarios/scenario.h"
#include "sim/engine.h"
#include "sim/limits.h"
#include "sim/trace.h"
#include "timeline/timeline_sink.h"
#include "workloads/inference/serving.h"
#include "workloads/job.h"

namespace lcsim {
namespace {

/// How many nodes the GPUs with these global ranks sit on.
size_t nodes_of(const std::vector<wl::Gpu>& gpus, const std::vector<uint32_t>& ranks) {
  std::set<uint32_t> nodes;
  for (uint32_t r : ranks) nodes.insert(gpus[r].node);
  return nodes.size();
}

}  // namespace


namespace {
RunResult run_once(Scenario& sc, const RunHooks& hooks);
}  // namespace

RunResult run_scenario(Scenario& sc, const RunHooks& hooks) {
  try {
    return run_once(sc, hooks);
  } catch (const timeline::TimelineSink::RerunAsProtobuf&) {
    throw TimelineRerun{};
  }
}

namespace {

RunResult run_once(Scenario& sc, const RunHooks& hooks) {
  const Catalog& cat = Catalog::get();
  RunResult result;
  // The analytical fidelity needs only timers: lcsim's own event queue, no SimGrid (many runs per process).
  const net::Fidelity& fidelity = cat.fidelities.get(sc.simulation.fidelity).factory;
  std::unique_ptr<sim::Engine> engine_owner = sim::make_engine(fidelity.engine_backend);
  sim::Engine& engine = *engine_owner;
  std::vector<wl::Gpu> gpus = cluster_gpus(sc.cluster);
  std::vector<sim::HostId> hosts;
  for (auto& g : gpus) {
    g.host = engine.add_host("n" + std::to_string(g.node) + ".gpu" + std::to_string(g.local),
                             g.part->dense_peak.begin()->second);
    hosts.push_back(g.host);
  }
  // The fabric: shared with other runs of an equal one (read-only), or this run's own.
  SharedFabric fabric = hooks.fabrics ? hooks.fabrics->get(sc.cluster) : SharedFabric{build_fabric(sc.cluster), nullptr};
  net::Topology& topology = *fabric.topology;
  if (!fabric.tables) fabric.tables = std::make_shared<const FabricTables>(fabric_tables(topology));
  const FabricTables& tables = *fabric.tables;
  // Hosts and storage servers are endpoints too (flows between them cross the storage/frontend networks).
  for (uint32_t e = topology.endpoint_count(); e < topology.all_endpoint_count(); ++e) {
    hosts.push_back(engine.add_host(topology.endpoint_name(e), FlopRate::per_s(1e12)));
  }
  uint32_t min_gpus = ~0u;
  for (const auto& pool : sc.cluster.pools) min_gpus = std::min(min_gpus, static_cast<uint32_t>(pool.node.gpus));

  Tracer tracer;
  std::ostringstream timeline_in_memory, pftrace_in_memory;
  std::unique_ptr<timeline::TimelineSink> timeline;
  if (sc.outputs.timeline) {
    TimelineLayout layout;
    for (const auto& g : gpus) layout.gpu.push_back({g.node, g.local});
    layout.link = [&topology](uint32_t l) {
      return std::make_pair(topology.links()[l].tier, topology.links()[l].name);
    };
    std::vector<SpanKind> kinds;
    for (const auto& k : sc.outputs.timeline_kinds) {
      SpanKind kind;
      if (parse_span_kind(k, &kind)) kinds.push_back(kind);
    }
    // Files through the front end's opener; a bare stream (json only) or memory otherwise.
    timeline::Format format = timeline::Format::kAuto;
    timeline::parse_format(sc.outputs.timeline_format, &format);
    timeline::TimelineSink::Opener open = hooks.open_timeline;
    if (!open) {
      if (hooks.timeline) format = timeline::Format::kJson;
      open = [&](const std::string& file) -> std::ostream& {
        if (file == "timeline.pftrace") return pftrace_in_memory;
        return hooks.timeline ? *hooks.timeline : timeline_in_memory;
      };
    }
    timeline = std::make_unique<timeline::TimelineSink>(
        format, static_cast<uint64_t>(sc.outputs.timeline_json_limit.bytes()), std::move(open), layout, kinds);
    if (hooks.timeline_rerun && std::strcmp(fidelity.engine_backend, "queue") == 0) {
      timeline->set_rerun_past_limit(true);
    }
    tracer.subscribe(timeline.get());
    // What the timeline groups lanes by besides node and tier: a GPU's rack (the leaf its first NIC port is on)
    // and a link's plane. (Stages and jobs come from the workloads.)
    std::vector<bool> racked(gpus.size(), false);
    for (uint32_t l = 0; l < topology.links().size(); ++l) {
      const net::LinkInfo& li = topology.links()[l];
      if (li.plane >= 0) tracer.lane_attr({.link = true, .id = l, .key = "plane", .value = std::to_string(li.plane)});
      if (li.tier == "nic" && li.from < gpus.size() && !racked[li.from]) {
        racked[li.from] = true;
        tracer.lane_attr({.link = false, .id = li.from, .key = "rack", .value = topology.vertices()[li.to].name});
      }
    }
  }
  // Energy by part and state: the meter integrates what every job reports each GPU did.
  std::vector<hw::EnergyMeter::Pool> meter_pools;
  for (const auto& pool : sc.cluster.pools) meter_pools.push_back({pool.name, &pool.node, pool.count});
  hw::EnergyMeter energy(std::move(meter_pools));
  tracer.subscribe(&energy);
  // Each traced GPU's power as a counter in its node's group (outputs.timeline_counters), by the meter's states.
  std::unique_ptr<hw::PowerCounter> power;
  if (timeline) {
    timeline->set_gpu_counters(sc.outputs.timeline_counters);
    if (sc.outputs.timeline_counters) {
      std::vector<hw::PowerCounter::Gpu> levels;
      const double f = sc.cost.comm_power_fraction;
      for (const auto& g : gpus) {
        const double tdp = g.part->power_cap().w(), idle = g.part->idle_power.w();  // tdp, or its power limit
        levels.push_back({"node" + std::to_string(g.node), "gpu" + std::to_string(g.local) + " power (W)", tdp,
                          idle + f * (tdp - idle), idle});
      }
      power = std::make_unique<hw::PowerCounter>(tracer, std::move(levels));
      tracer.subscribe(power.get());
    }
  }
  RngFactory rng(static_cast<uint64_t>(sc.simulation.seed));
  auto balancer = cat.load_balancers.get(sc.policies.load_balancing)
                      .factory.make(sc.policies.load_balancer, rng.hash("load_balancing", 0));
  net::TransferOptions topts{&tracer, static_cast<size_t>(sc.outputs.timeline_links), sc.cluster.flow_calibration};
  topts.link_rates = sc.outputs.utilization_interval.s() > 0;  // current_rate()'s one reader: the sampler below
  std::unique_ptr<net::TransferModel> transfer = fidelity.transfer(engine, topology, *balancer, topts, hosts);
  // Intra-node collectives on the analytical model (private scale-up links), for workloads that ask for it.
  std::unique_ptr<net::AnalyticalTransfer> scale_up_transfer;
  if (fidelity.analytical_scale_up) {
    scale_up_transfer = std::make_unique<net::AnalyticalTransfer>(engine, topology, *balancer, topts);
  }

  const uint32_t traced = sc.outputs.timeline_ranks == 0 ? static_cast<uint32_t>(gpus.size())
                                                         : static_cast<uint32_t>(sc.outputs.timeline_ranks);
  const wl::ClusterRuntime cluster{engine,  gpus,   topology, *transfer, scale_up_transfer.get(), sc.policies.collectives,
                                   min_gpus, tracer, rng,      traced,
                                   sc.simulation.event_granularity == "kernel", sc.outputs.timeline_detail == "kernels",
                                   sc.checkpoint.run_every > 0 ? &sc.checkpoint : nullptr, &sc.cluster.storage};
  // The jobs: the single-workload form is one job on every GPU in rank order, started at 0.
  const bool single = sc.jobs.empty();
  std::vector<std::unique_ptr<wl::Job>> jobs;
  std::vector<Duration> starts;
  const Catalog& catalog = cat;
  // A restart runs a fresh workload, wired to the run as the first (scenarios/restart.h).
  auto fresh = [&catalog](const std::string& type, wl::Workload* first) { return restart_factory(catalog, type, first); };
  if (single) {
    std::vector<uint32_t> all(gpus.size());
    for (uint32_t i = 0; i < all.size(); ++i) all[i] = i;
    jobs.push_back(std::make_unique<wl::Job>(sc.name, 1, all, *sc.workload,
                                             fresh(sc.workload_type, sc.workload.get()), cluster));
    starts.push_back(Duration());
  } else {
    for (size_t i = 0; i < sc.jobs.size(); ++i) {
      JobConfig& jc = sc.jobs[i];
      jobs.push_back(std::make_unique<wl::Job>(jc.name, static_cast<uint32_t>(i + 1), jc.allocation, *jc.workload,
                                               fresh(jc.workload_type, jc.workload.get()), cluster));
      starts.push_back(jc.start);
    }
  }
  // Serving deployments that autoscale load weights from the storage tiers: the cluster's storage and their first
  // GPU's node template.
  for (auto& j : jobs) {
    auto* serving = dynamic_cast<inf::InferenceServing*>(&j->workload());
    if (!serving) continue;
    uint32_t node = gpus.at(j->allocation().front()).node;
    for (const auto& pool : sc.cluster.pools) {
      if (node < static_cast<uint32_t>(pool.count)) {
        serving->set_storage(sc.cluster.storage, pool.node);
        break;
      }
      node -= static_cast<uint32_t>(pool.count);
    }
  }
  auto all_finished = [&jobs] {
    for (const auto& j : jobs) {
      if (!j->finished()) return false;
    }
    return true;
  };

  char line[256];
  for (const auto& pool : sc.cluster.pools) {
    std::snprintf(line, sizeof line, "pool %s: %d x %s (%d x %s)", pool.name.c_str(), pool.count,
                  pool.node.name.c_str(), pool.node.gpus, pool.node.accelerator.name.c_str());
    std::string h = line + (sc.cluster.shorthand ? "; " + pool.node.description : std::string());
    const hw::AcceleratorSpec& part = pool.node.accelerator;
    if (part.power_cap() < part.tdp) {
      std::snprintf(line, sizeof line, "; power limit %s of %s: compute clock %.3f of its clock at the TDP",
                    to_string(part.power_cap()).c_str(), to_string(part.tdp).c_str(), part.compute_clock_fraction());
      h += line;
    }
    result.header.push_back(h);
  }
  result.header.push_back("network: " + topology.describe());
  if (single) {
    result.header.push_back("workload: " + sc.workload->describe());
  } else {
    for (size_t i = 0; i < jobs.size(); ++i) {
      std::snprintf(line, sizeof line, "job %s: %zu GPUs from t=%s: ", jobs[i]->name().c_str(),
                    jobs[i]->allocation().size(), to_string(starts[i]).c_str());
      result.header.push_back(line + jobs[i]->workload().describe());
    }
  }
  std::snprintf(line, sizeof line, "model: %s network, %s load balancing, %s collectives (%u ring channels), seed %lld",
                sc.simulation.fidelity.c_str(), sc.policies.load_balancing.c_str(),
                sc.policies.collectives.algorithm.c_str(), jobs.front()->collectives().channels(),
                static_cast<long long>(sc.simulation.seed));
  result.header.push_back(line);
  if (hooks.started) hooks.started(result.header);

  if (hooks.progress) {
    engine.set_progress_hook([&hooks, &jobs, &engine] {
      double sum = 0;
      for (const auto& j : jobs) sum += j->finished() ? 1.0 : j->workload().progress();
      hooks.progress(sum / static_cast<double>(jobs.size()), engine.now().s());
    });
  }
  // Link utilization over time (outputs.utilization_interval), sampled until every job has finished.
  std::unique_ptr<net::UtilizationSampler> sampler;
  if (sc.outputs.utilization_interval.s() > 0) {
    sampler = std::make_unique<net::UtilizationSampler>(engine, topology, *transfer, tracer,
                                                        sc.outputs.utilization_interval);
    sampler->start([&all_finished] { return !all_finished(); });
  }
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (starts[i].s() == 0) {
      jobs[i]->start();
    } else {
      engine.at(starts[i], [job = jobs[i].get()] { job->start(); });
    }
  }
  // The fabric's counters when the last job finishes: what a job measures after its work (the in-run checkpoint
  // restore) is not the run's traffic.
  struct FabricCounters {
    std::vector<double> link_bytes;
    uint64_t flows = 0;
    Bytes bytes;
  };
  std::optional<FabricCounters> at_end;
  auto take_counters = [&] {
    if (!at_end) {
      at_end = FabricCounters{transfer->bytes_per_link(), transfer->flows_started(), transfer->bytes_moved()};
    }
  };
  for (const auto& j : jobs) {
    j->on_finished([&] {
      if (all_finished()) take_counters();
    });
  }
  engine.run(sc.simulation.horizon);
  take_counters();  // a job that did not finish: the counters at the end

  result.completed = all_finished();
  // A load-balancing policy the scenario chose, on a run whose workload never lets flows of different groups
  // meet: say so rather than drop it silently (issue 12.3).
  if (sc.policies.load_balancing != "ecmp" || !(sc.policies.load_balancer == policy::LoadBalancerParams{})) {
    for (const auto& j : jobs) {
      if (j->workload().sees_path_collisions()) continue;
      result.warnings.push_back(
          "policies.load_balancing (" + sc.policies.load_balancing + ") changes little or nothing for " +
          (single ? std::string("this run") : "job " + j->name()) + ": on the " + sc.simulation.fidelity +
          " fidelity its workload simulates one copy of each cross-node collective and reuses its time, so flows "
          "of different groups never meet on the fabric (simulation.fidelity: flow runs every copy)");
    }
  }
  if (sampler) result.utilization_csv = sampler->csv();
  // The jobs' time: until the last one finished (a measurement a job runs after its work, such as the in-run
  // checkpoint restore, is not part of it), or the last event if one did not finish.
  Duration span = result.completed ? Duration() : engine.last_event_time();
  for (const auto& j : jobs) {
    if (result.completed) span = std::max(span, j->finished_at());
  }
  double tokens_per_s = 0;
  uint64_t collective_count = 0;
  if (single) {
    wl::Workload& w = jobs.front()->workload();
    w.report(result.metrics);
    if (hooks.table) result.table = w.table();
    tokens_per_s = result.metrics.has("tokens_per_s") ? result.metrics.get("tokens_per_s") : 0.0;
    collective_count = jobs.front()->collectives().count();
  } else {
    for (const auto& job : jobs) {
      wl::Workload& w = job->workload();
      MetricSet m;
      w.report(m);
      for (const auto& x : m.metrics()) result.metrics.set(job->name() + "." + x.name, x.value, x.description);
      if (hooks.table) {
        for (const auto& l : w.table()) result.table.push_back(job->name() + ": " + l);
      }
      const bool ran = job->starts() > 0;
      if (m.has("tokens_per_s")) tokens_per_s += m.get("tokens_per_s");
      collective_count += job->collectives().count();
      result.metrics.set(job->name() + ".job_start_s", ran ? job->started_at().s() : -1.0, "when the job started");
      result.metrics.set(job->name() + ".job_end_s", job->finished() ? job->finished_at().s() : -1.0,
                         "when the job finished (-1: it did not)");
      result.metrics.set(job->name() + ".completed", job->finished() ? 1.0 : 0.0,
                         "1 if the job finished before the horizon");
    }
    size_t done = 0;
    for (const auto& j : jobs) done += j->finished() ? 1 : 0;
    result.metrics.set("jobs", static_cast<double>(jobs.size()), "jobs on the cluster");
    result.metrics.set("jobs_completed", static_cast<double>(done), "jobs that finished before the horizon");
  }
  const std::vector<hw::PoolUsage> usage = energy.usage(span);
  const int ports = tables.switch_ports;
  // What a single workload spends besides its throughput to train the token budget (Workload::set_token_budget).
  // (the megatron workload's evaluations and batch-size schedule).
  double budget_extra_days = 0;
  for (const char* extra : {"budget_eval_time_days", "budget_ramp_extra_days"}) {
    if (single && result.metrics.has(extra)) budget_extra_days += result.metrics.get(extra);
  }
  const Duration budget_extra = Duration::seconds(budget_extra_days * 86400);
  hw::report_energy(result.metrics, hw::energy_over(usage, ports, span, sc.cost), sc.cost, tokens_per_s, usage, ports,
                    budget_extra);
  // Checkpoints and data loading over the storage (checkpoint:, dataset:); a checkpoint's cost feeds reliability.
  std::map<const wl::Job*, ReliabilityConfig> reliability;
  for (const auto& job : jobs) {
    reliability[job.get()] = sc.reliability;
    const auto w = report_storage(sc, topology, gpus, job->allocation(), job->workload().checkpoint_ranks(), single ? "" : job->name() + ".",
                                  result.metrics, &reliability[job.get()]);
    result.warnings.insert(result.warnings.end(), w.begin(), w.end());
  }
  // Serving: what a million generated tokens cost (inference_serving reports generated_tokens).
  if (single && result.metrics.has("generated_tokens") && result.metrics.get("generated_tokens") > 0) {
    result.metrics.set("cost_per_million_tokens",
                       result.metrics.get("cost_total") / result.metrics.get("generated_tokens") * 1e6,
                       "cost_total / generated tokens x 10^6 (GPU-hours over the whole run and energy)");
  }
  // The whole job with failures (reliability:), per job.
  if (single) {
    const auto w = report_reliability(reliability[jobs.front().get()], static_cast<int>(nodes_of(gpus, jobs.front()->allocation())),
                                      static_cast<int>(gpus.size()), static_cast<uint64_t>(sc.simulation.seed), "",
                                      result.metrics, &tracer, jobs.front()->id());
    result.warnings.insert(result.warnings.end(), w.begin(), w.end());
  } else {
    for (const auto& job : jobs) {
      const auto w = report_reliability(reliability[job.get()], static_cast<int>(nodes_of(gpus, job->allocation())),
                                        static_cast<int>(job->allocation().size()),
                                        static_cast<uint64_t>(sc.simulation.seed) ^ job->id(), job->name() + ".",
                                        result.metrics, &tracer, job->id());
      for (const auto& x : w) result.warnings.push_back(job->name() + ": " + x);
    }
  }
  result.events = engine.events_processed();
  result.metrics.set("sim_time_s", engine.last_event_time().s(), "simulated time of the last event");
  result.metrics.set("sim_events", static_cast<double>(engine.events_processed()), "engine events processed");
  result.metrics.set("network_flows", static_cast<double>(at_end->flows), "flows started on the fabric");
  result.metrics.set("network_bytes", at_end->bytes.bytes(), "bytes moved over the fabric");
  result.metrics.set("collectives", static_cast<double>(collective_count), "collective operations run");
  // Link utilization per tier: bytes carried / (capacity x simulated time), over every link of the tier (tiers in
  // name order, links in id order within each: the tables the fabric's links were grouped in once).
  std::vector<std::vector<double>> util(tables.tiers.size());
  for (size_t t = 0; t < util.size(); ++t) util[t].reserve(tables.tier_links[t]);
  const auto& links = topology.links();
  for (size_t l = 0; l < links.size(); ++l) {
    const double u = span.s() > 0 ? at_end->link_bytes[l] / (links[l].bandwidth.bps() * span.s()) : 0.0;
    util[tables.tier_of[l]].push_back(u);
  }
  // Per-plane throughput: bytes sent into each scale-out plane (NIC uplinks) over the run.
  for (const auto& [plane, uplinks] : tables.plane_uplinks) {
    double bytes = 0;
    for (uint32_t l : uplinks) bytes += at_end->link_bytes[l];
    result.metrics.set("plane" + std::to_string(plane) + "_throughput_bytes_per_s", span.s() > 0 ? bytes / span.s() : 0.0,
                       "bytes GPUs sent into scale-out plane " + std::to_string(plane) + " / run time");
  }
  for (size_t t = 0; t < util.size(); ++t) {
    const std::string& tier = tables.tiers[t];
    std::vector<double>& u = util[t];
    std::sort(u.begin(), u.end());
    double sum = 0;
    for (double x : u) sum += x;
    result.metrics.set("link_util_max_" + tier, u.back(), "busiest " + tier + " link: bytes / (capacity x run time)");
    result.metrics.set("link_util_mean_" + tier, sum / u.size(), "mean utilization of " + tier + " links");
    result.metrics.set("link_util_p99_" + tier, u[std::min(u.size() - 1, u.size() * 99 / 100)],
                       "99th percentile utilization of " + tier + " links");
    result.metrics.set_distribution("link_util_" + tier, std::move(u), "utilization of each " + tier + " link over the run");
  }
  result.metrics.set("completed", result.completed ? 1.0 : 0.0, "1 if the workload finished before the horizon");
  result.metrics.set_label("scenario", sc.name);
  std::string parts;
  for (const auto& pool : sc.cluster.pools) {
    if (parts.find(pool.node.accelerator.name) == std::string::npos) {
      parts += (parts.empty() ? "" : ",") + pool.node.accelerator.name;
    }
  }
  result.metrics.set_label("accelerator", parts);
  result.metrics.set_label("fidelity", sc.simulation.fidelity);
  tracer.flush();  // a span a workload held back (Tracer::span_held)
  if (timeline) {
    if (power) power->finish();
    result.timeline_file = timeline->close();
    if (!hooks.timeline && !hooks.open_timeline) {
      // After an auto switch the JSON is partial: only the file named by close() is the timeline.
      if (result.timeline_file == "timeline.json") result.timeline_json = std::move(timeline_in_memory).str();
      else result.timeline_pftrace = std::move(pftrace_in_memory).str();
    }
  }
  return result;
}

}  // namespace

}  // namespace lcsim
