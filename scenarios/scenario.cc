#include "scenarios/scenario.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>

#include "models/network/transfer.h"
#include "scenarios/catalog.h"
#include "sim/engine.h"
#include "sim/limits.h"
#include "sim/trace.h"

namespace lcsim {

std::vector<wl::Gpu> cluster_gpus(const ClusterConfig& cl) {
  std::vector<wl::Gpu> gpus;
  uint32_t node = 0;
  for (const auto& pool : cl.pools) {
    for (int k = 0; k < pool.count; ++k, ++node) {
      for (int g = 0; g < pool.node.gpus; ++g) {
        gpus.push_back({static_cast<uint32_t>(gpus.size()), node, static_cast<uint32_t>(g), &pool.node.accelerator});
      }
    }
  }
  return gpus;
}

namespace {

void visit_scenario(Section& s, Scenario& sc) {
  const Catalog& cat = Catalog::get();
  s.field("name", sc.name, "short name of the scenario, used in outputs");
  s.field("description", sc.description, "what the scenario is for");
  s.section("cluster", "the machines: accelerators, nodes and the network between them", [&](Section& c) {
    ClusterConfig& cl = sc.cluster;
    const bool parse = c.mode() == Section::Mode::kParse;
    if (parse && c.has("pools")) cl.shorthand = false;
    const bool emit = c.mode() == Section::Mode::kEmit;
    if (!emit || cl.shorthand) {
      c.custom(
          "accelerator", "shorthand: the accelerator of every node; a catalog name (lcsim list accelerators) or a "
          "mapping (base: NAME plus overrides, or a whole part)",
          "name or mapping", cl.accelerator.name,
          [&](const ConfigValue& v) { cl.accelerator = hw::PartCatalog::get().resolve(v, c.child_path("accelerator"), *c.diagnostics()); },
          [&] { return hw::PartCatalog::get().to_config(cl.accelerator); });
      hw::PartCatalog::get().describe_mapping(c, "accelerator");
      c.field("nodes", cl.nodes, "shorthand: number of nodes", Range::at_least(1));
      c.field("gpus_per_node", cl.gpus_per_node, "shorthand: accelerators per node (one scale-up domain)",
              Range::between(1, 576));
    }
    if (!emit || !cl.shorthand) {
      c.list("pools", "node pools (instead of the shorthand keys); mixing parts makes a heterogeneous cluster",
             cl.pools, [](Section& p, PoolConfig& pool) {
               p.field("name", pool.name, "pool name (default: the node template's)");
               p.custom(
                   "node", "node template (lcsim list nodes) or a mapping (base: NAME plus overrides)",
                   "name or mapping", "hgx-h100",
                   [&](const ConfigValue& v) {
                     pool.node = hw::NodeCatalog::get().resolve(v, p.child_path("node"), *p.diagnostics());
                   },
                   [&] { return hw::NodeCatalog::get().to_config(pool.node); });
               hw::NodeCatalog::get().describe_mapping(p, "node");
               p.field("count", pool.count, "nodes in the pool", Range::at_least(1));
               if (p.mode() == Section::Mode::kParse) {
                 if (!p.has("node")) p.error_here("a pool needs a node (a template name or a mapping)");
                 if (pool.name.empty()) pool.name = pool.node.name;
               }
             });
    }
    if (parse && c.has("pools")) {
      for (const char* k : {"accelerator", "nodes", "gpus_per_node"}) {
        if (c.has(k)) c.error(k, "give either pools or the shorthand keys (accelerator, nodes, gpus_per_node)");
      }
    }
    c.choice("topology", cl.topology, cat.topologies.names(), "scale-out network topology");
    c.section("fabric", "link bandwidths, latencies and switch counts (leaf_spine; explicit uses its scale-up keys "
              "and failed)", [&](Section& f) { cl.fabric.visit(f); });
    c.section("explicit", "the scale-out network as switches and links (topology: explicit)",
              [&](Section& x) { cl.explicit_topology.visit(x); });
    c.section("flow_calibration", "size-dependent bandwidth and latency factors of every flow (as SimGrid's network "
              "calibration)", [&](Section& f) { cl.flow_calibration.visit(f); });
  });
  s.section("workload", "what runs on the cluster", [&](Section& w) {
    const std::string before = sc.workload_type;
    w.choice("type", sc.workload_type, cat.workloads.names(), "registered workload (lcsim list)");
    const ConfigValue* t = w.node() ? w.node()->find("type") : nullptr;
    if (w.mode() == Section::Mode::kParse && t && t->scalar != sc.workload_type) {
      w.skip_unknown_keys();  // the type is wrong; its keys cannot be checked
      return;
    }
    if (!sc.workload || sc.workload_type != before) sc.workload = cat.workloads.get(sc.workload_type).factory();
    if (w.mode() == Section::Mode::kDescribe) {
      w.add_docs({{"workload (type: " + sc.workload_type + ", the default)", "section", "", "",
                   cat.workloads.get(sc.workload_type).description, ""}});
    }
    sc.workload->visit(w);
    if (w.mode() != Section::Mode::kDescribe) return;
    // Every other workload type's keys, each under its own heading.
    for (const std::string& type : cat.workloads.names()) {
      if (type == sc.workload_type) continue;
      std::vector<KeyDoc> docs{{"workload (type: " + type + ")", "section", "", "", cat.workloads.get(type).description, ""}};
      Section other = Section::describer("workload", &docs);
      cat.workloads.get(type).factory()->visit(other);
      w.add_docs(docs);
    }
  });
  s.section("policies", "scheduling, routing and collective-algorithm policies", [&](Section& p) {
    p.choice("load_balancing", sc.policies.load_balancing, cat.load_balancers.names(),
             "how flows are spread over equal-cost paths");
    p.section("collectives", "collective communication algorithms",
              [&](Section& c) { sc.policies.collectives.visit(c); });
  });
  s.section("simulation", "engine settings", [&](Section& m) {
    m.field("seed", sc.simulation.seed, "master random seed (same seed, same result)", Range::at_least(0));
    m.choice("fidelity", sc.simulation.fidelity, cat.fidelities.names(), "network model");
    m.field("horizon", sc.simulation.horizon, "stop simulating at this simulated time", Range::positive());
  });
  s.section("cost", "power, energy and money", [&](Section& c) { sc.cost.visit(c); });
  s.section("outputs", "what a run writes (lcsim run -o DIR)", [&](Section& o) {
    OutputConfig& out = sc.outputs;
    o.field("metrics", out.metrics, "write metrics.json");
    o.field("timeline", out.timeline, "write timeline.json (Chrome trace events; open in Perfetto)");
    o.field("resolved_scenario", out.resolved_scenario, "write scenario.resolved.yaml");
    o.field("timeline_ranks", out.timeline_ranks, "GPUs (lowest ranks first) with timeline tracks; 0 = all",
            Range::at_least(0));
    o.field("timeline_links", out.timeline_links, "busy-link tracks per link tier in the timeline (first links used)",
            Range::at_least(0));
    o.field("utilization_interval", out.utilization_interval,
            "sample every link tier's mean and max utilization this often, into link_utilization.csv and timeline "
            "counters; 0s = off",
            Range::at_least(0));
  });
}

/// The shorthand keys describe one pool of bare nodes: accelerators only, one 400 Gb/s compute NIC each, no
/// host power (use a node template for whole-node power).
void build_shorthand_pool(ClusterConfig& cl) {
  if (!cl.shorthand) return;
  PoolConfig pool;
  pool.node.name = "bare-" + cl.accelerator.name;
  pool.node.description = "accelerators only (shorthand cluster)";
  pool.node.accelerator = cl.accelerator;
  pool.node.gpus = cl.gpus_per_node;
  pool.node.nics = {hw::NicGroup{cl.gpus_per_node, Bandwidth::gbits_per_s(400), "compute"}};
  pool.name = "nodes";
  pool.count = cl.nodes;
  cl.pools = {pool};
}

void validate(Scenario& sc, const ConfigValue& tree, Diagnostics& diags) {
  int64_t total_gpus = 0;
  for (const auto& pool : sc.cluster.pools) total_gpus += int64_t{pool.count} * pool.node.gpus;
  if (total_gpus > limits::kMaxClusterGpus) {
    const ConfigValue* c = tree.find("cluster");
    diags.add(c ? c->location : SourceLocation{}, "cluster",
              "a cluster of " + std::to_string(total_gpus) + " accelerators, more than allowed " +
                  limits::named("cluster.max_gpus", static_cast<uint64_t>(limits::kMaxClusterGpus)));
    return;
  }
  for (size_t i = 0; i < sc.cluster.pools.size(); ++i) {
    const auto& n = sc.cluster.pools[i].node;
    if (sc.cluster.fabric.nic_bandwidth.bps() <= 0 && n.compute_nic_bandwidth_per_gpu().bps() <= 0) {
      const ConfigValue* c = tree.find("cluster");
      diags.add(c ? c->location : SourceLocation{}, "cluster.pools[" + std::to_string(i) + "].node",
                "node '" + n.name + "' has no compute-plane NICs; add some or set cluster.fabric.nic_bandwidth");
    }
  }
  if (!sc.cluster.fabric.failed.empty() || sc.cluster.topology == "explicit") {
    try {
      build_fabric(sc.cluster);
    } catch (const InputError& e) {
      // The builders name the key at fault; report it where the scenario set that key.
      for (const auto& d : e.diagnostics()) {
        const ConfigValue* v = &tree;
        for (size_t start = 0; v && start <= d.key_path.size();) {
          const size_t dot = d.key_path.find('.', start);
          v = v->find(d.key_path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
          start = dot == std::string::npos ? d.key_path.size() + 1 : dot + 1;
        }
        diags.add(v ? v->location : SourceLocation{}, d.key_path, d.message);
      }
    }
  }
  // A file without a workload (a cluster to build on) has nothing to check it against.
  if (!tree.find("workload") || !sc.workload || !diags.empty()) return;
  Section w = Section::parser(tree.find("workload"), "workload", &diags);
  sc.workload->validate(cluster_gpus(sc.cluster), w);
}

}  // namespace

Scenario parse_scenario(const ConfigValue& tree) {
  Scenario sc;
  sc.has_workload = tree.find("workload") != nullptr;
  Diagnostics diags;
  Section root = Section::parser(&tree, "", &diags);
  visit_scenario(root, sc);
  root.finish();
  build_shorthand_pool(sc.cluster);
  if (diags.empty()) validate(sc, tree, diags);
  diags.throw_if_any();
  return sc;
}

Scenario load_scenario(const std::string& path, const std::vector<std::string>& overrides) {
  ConfigValue tree = load_layered(path);
  for (const auto& o : overrides) apply_override(tree, o);
  return parse_scenario(tree);
}

std::vector<KeyDoc> describe_scenario_keys() {
  std::vector<KeyDoc> docs;
  docs.push_back({"base", "string", "", "", "a scenario file this one builds on (path relative to this file); "
                  "keys here override it, mappings merge key by key", ""});
  Scenario sc;
  Section root = Section::describer("", &docs);
  visit_scenario(root, sc);
  return docs;
}

std::string resolved_yaml(Scenario& scenario) {
  ConfigValue tree;
  Section root = Section::emitter("", &tree);
  visit_scenario(root, scenario);
  return emit_yaml(tree, "Fully resolved scenario written by lcsim: every key, defaults included.\n"
                         "lcsim run on this file repeats the run.");
}

std::unique_ptr<net::Topology> build_fabric(const ClusterConfig& cl) {
  std::vector<net::NodeShape> shapes;
  for (const auto& pool : cl.pools) {
    for (int k = 0; k < pool.count; ++k) {
      std::map<std::string, Bandwidth> other;
      for (const auto& g : pool.node.nics) {
        if (g.plane != "compute") other[g.plane] += g.bandwidth * static_cast<double>(g.count);
      }
      shapes.push_back({static_cast<uint32_t>(pool.node.gpus), pool.node.accelerator.scale_up_bandwidth,
                        pool.node.compute_nic_bandwidth_per_gpu(), pool.node.accelerator.scale_up_reduction,
                        {other.begin(), other.end()}});
    }
  }
  std::unique_ptr<net::Topology> fabric;
  if (cl.topology == "explicit") {
    fabric = std::make_unique<net::ExplicitTopology>(cl.fabric, cl.explicit_topology, shapes);
  } else {
    fabric = std::make_unique<net::LeafSpine>(cl.fabric, shapes);
  }
  for (const auto& name : cl.fabric.failed) {
    if (!fabric->fail(name)) {
      throw InputError({{SourceLocation{}, "cluster.fabric.failed",
                         "no link or switch named '" + name +
                             "' (switches: leaf0.., spine0..; links: leafL.spineS.up/down, nN.gpuG.nic_up/nic_down, "
                             "...)"}});
    }
  }
  return fabric;
}

RunResult run_scenario(Scenario& sc, const RunHooks& hooks) {
  const Catalog& cat = Catalog::get();
  RunResult result;
  sim::Engine engine;
  std::vector<wl::Gpu> gpus = cluster_gpus(sc.cluster);
  std::vector<sim::HostId> hosts;
  for (auto& g : gpus) {
    g.host = engine.add_host("n" + std::to_string(g.node) + ".gpu" + std::to_string(g.local),
                             g.part->dense_peak.begin()->second);
    hosts.push_back(g.host);
  }
  std::unique_ptr<net::Topology> fabric = build_fabric(sc.cluster);
  const net::Topology& topology = *fabric;
  uint32_t min_gpus = ~0u;
  for (const auto& pool : sc.cluster.pools) min_gpus = std::min(min_gpus, static_cast<uint32_t>(pool.node.gpus));

  Tracer tracer;
  TimelineRecorder timeline;
  if (sc.outputs.timeline) tracer.subscribe(&timeline);
  RngFactory rng(static_cast<uint64_t>(sc.simulation.seed));
  auto balancer = cat.load_balancers.get(sc.policies.load_balancing).factory(rng.hash("load_balancing", 0));
  net::TransferOptions topts{&tracer, static_cast<size_t>(sc.outputs.timeline_links), sc.cluster.flow_calibration};
  std::unique_ptr<net::TransferModel> transfer;
  if (sc.simulation.fidelity == "flow") {
    auto flow = std::make_unique<net::FlowTransfer>(engine, topology, *balancer, topts);
    flow->install(hosts);
    transfer = std::move(flow);
  } else {
    transfer = std::make_unique<net::AnalyticalTransfer>(engine, topology, *balancer, topts);
  }
  net::Collectives collectives(engine, topology, *transfer, sc.policies.collectives, min_gpus);
  // Intra-node collectives on the analytical model (private scale-up links), for workloads that ask for it.
  std::unique_ptr<net::AnalyticalTransfer> scale_up_transfer;
  std::unique_ptr<net::Collectives> scale_up;
  if (sc.simulation.fidelity == "flow") {
    scale_up_transfer = std::make_unique<net::AnalyticalTransfer>(engine, topology, *balancer, topts);
    scale_up = std::make_unique<net::Collectives>(engine, topology, *scale_up_transfer, sc.policies.collectives, min_gpus);
  }

  const uint32_t traced = sc.outputs.timeline_ranks == 0 ? static_cast<uint32_t>(gpus.size())
                                                         : static_cast<uint32_t>(sc.outputs.timeline_ranks);
  wl::RunContext ctx{engine, gpus, collectives, tracer, rng, traced, scale_up ? scale_up.get() : &collectives};

  char line[256];
  for (const auto& pool : sc.cluster.pools) {
    std::snprintf(line, sizeof line, "pool %s: %d x %s (%d x %s)", pool.name.c_str(), pool.count,
                  pool.node.name.c_str(), pool.node.gpus, pool.node.accelerator.name.c_str());
    result.header.push_back(line);
  }
  result.header.push_back("network: " + topology.describe());
  result.header.push_back("workload: " + sc.workload->describe());
  std::snprintf(line, sizeof line, "model: %s network, %s load balancing, %s collectives (%u ring channels), seed %lld",
                sc.simulation.fidelity.c_str(), sc.policies.load_balancing.c_str(),
                sc.policies.collectives.algorithm.c_str(), collectives.channels(),
                static_cast<long long>(sc.simulation.seed));
  result.header.push_back(line);

  if (hooks.progress) {
    wl::Workload* w = sc.workload.get();
    engine.set_progress_hook([&hooks, w, &engine] { hooks.progress(w->progress(), engine.now().s()); });
  }
  // Link utilization over time: every interval, each tier's mean and busiest link (current rate / capacity).
  std::function<void()> sample;
  if (sc.outputs.utilization_interval.s() > 0) {
    result.utilization_csv = "time_s,tier,mean,max\n";
    sample = [&] {
      std::map<std::string, std::pair<double, std::pair<double, size_t>>> tiers;  // tier -> (max, (sum, n))
      const auto& ls = topology.links();
      for (size_t l = 0; l < ls.size(); ++l) {
        const double u = transfer->current_rate(static_cast<uint32_t>(l)).bps() / ls[l].bandwidth.bps();
        auto& t = tiers[ls[l].tier];
        t.first = std::max(t.first, u);
        t.second.first += u;
        ++t.second.second;
      }
      for (const auto& [tier, t] : tiers) {
        const double mean = t.second.first / static_cast<double>(t.second.second);
        char row[128];
        std::snprintf(row, sizeof row, "%.9g,%s,%.6g,%.6g\n", engine.now().s(), tier.c_str(), mean, t.first);
        result.utilization_csv += row;
        tracer.counter({"link utilization", tier + " mean", engine.now(), mean});
        tracer.counter({"link utilization", tier + " max", engine.now(), t.first});
      }
      if (sc.workload->progress() < 1.0) engine.after(sc.outputs.utilization_interval, sample, sim::kLate);
    };
    engine.after(Duration(), sample, sim::kLate);
  }
  sc.workload->start(ctx);
  engine.run(sc.simulation.horizon);

  result.completed = sc.workload->progress() >= 1.0;
  sc.workload->report(result.metrics);
  result.table = sc.workload->table();
  const Duration span = engine.last_event_time();
  std::vector<hw::PoolUsage> usage;
  for (const auto& pool : sc.cluster.pools) {
    usage.push_back({&pool.node, pool.count, sc.workload->busy_fraction(&pool.node.accelerator)});
  }
  const double tokens_per_s = result.metrics.has("tokens_per_s") ? result.metrics.get("tokens_per_s") : 0.0;
  hw::report_energy(result.metrics, hw::energy_over(usage, span, sc.cost), sc.cost, tokens_per_s, usage);
  result.events = engine.events_processed();
  result.metrics.set("sim_time_s", span.s(), "simulated time of the last event");
  result.metrics.set("sim_events", static_cast<double>(engine.events_processed()), "engine events processed");
  result.metrics.set("network_flows", static_cast<double>(transfer->flows_started()), "flows started on the fabric");
  result.metrics.set("network_bytes", transfer->bytes_moved().bytes(), "bytes moved over the fabric");
  result.metrics.set("collectives", static_cast<double>(collectives.count()), "collective operations run");
  // Link utilization per tier: bytes carried / (capacity x simulated time), over every link of the tier.
  std::map<std::string, std::vector<double>> util;
  const auto& links = topology.links();
  for (size_t l = 0; l < links.size(); ++l) {
    const double u = span.s() > 0 ? transfer->bytes_per_link()[l] / (links[l].bandwidth.bps() * span.s()) : 0.0;
    util[links[l].tier].push_back(u);
  }
  // Per-plane throughput: bytes sent into each scale-out plane (NIC uplinks) over the run.
  std::map<int, double> plane_bytes;
  for (size_t l = 0; l < links.size(); ++l) {
    if (links[l].tier == "nic" && links[l].name.find("nic_up") != std::string::npos) {
      plane_bytes[links[l].plane] += transfer->bytes_per_link()[l];
    }
  }
  for (const auto& [plane, bytes] : plane_bytes) {
    result.metrics.set("plane" + std::to_string(plane) + "_throughput_bytes_per_s", span.s() > 0 ? bytes / span.s() : 0.0,
                       "bytes GPUs sent into scale-out plane " + std::to_string(plane) + " / run time");
  }
  for (auto& [tier, u] : util) {
    std::sort(u.begin(), u.end());
    double sum = 0;
    for (double x : u) sum += x;
    result.metrics.set("link_util_max_" + tier, u.back(), "busiest " + tier + " link: bytes / (capacity x run time)");
    result.metrics.set("link_util_mean_" + tier, sum / u.size(), "mean utilization of " + tier + " links");
    result.metrics.set("link_util_p99_" + tier, u[std::min(u.size() - 1, u.size() * 99 / 100)],
                       "99th percentile utilization of " + tier + " links");
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
  if (sc.outputs.timeline) result.timeline_json = timeline.to_json();
  return result;
}

}  // namespace lcsim
