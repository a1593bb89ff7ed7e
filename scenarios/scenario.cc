#include "scenarios/scenario.h"

#include <cstdio>

#include "models/network/transfer.h"
#include "scenarios/catalog.h"
#include "sim/engine.h"
#include "sim/trace.h"

namespace lcsim {
namespace {

void visit_scenario(Section& s, Scenario& sc) {
  const Catalog& cat = Catalog::get();
  s.field("name", sc.name, "short name of the scenario, used in outputs");
  s.field("description", sc.description, "what the scenario is for");
  s.section("cluster", "the machines: accelerators, nodes and the network between them", [&](Section& c) {
    ClusterConfig& cl = sc.cluster;
    c.choice("accelerator", cl.accelerator, cat.accelerators.names(), "accelerator part from the catalog (lcsim list)");
    c.field("nodes", cl.nodes, "number of nodes", Range::at_least(1));
    c.field("gpus_per_node", cl.gpus_per_node, "accelerators per node (one scale-up domain)", Range::between(1, 576));
    c.section("efficiency", "achieved fractions of peak (calibration)", [&](Section& e) { cl.efficiency.visit(e); });
    c.choice("topology", cl.topology, cat.topologies.names(), "scale-out network topology");
    c.section("fabric", "link bandwidths, latencies and switch counts", [&](Section& f) { cl.fabric.visit(f); });
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
    sc.workload->visit(w);
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
  s.section("outputs", "what a run writes (lcsim run -o DIR)", [&](Section& o) {
    OutputConfig& out = sc.outputs;
    o.field("metrics", out.metrics, "write metrics.json");
    o.field("timeline", out.timeline, "write timeline.json (Chrome trace events; open in Perfetto)");
    o.field("resolved_scenario", out.resolved_scenario, "write scenario.resolved.yaml");
    o.field("timeline_ranks", out.timeline_ranks, "GPUs (lowest ranks first) with timeline tracks; 0 = all",
            Range::at_least(0));
    o.field("timeline_links", out.timeline_links, "busy-link tracks per link tier in the timeline (first links used)",
            Range::at_least(0));
  });
}

void validate(Scenario& sc, const ConfigValue& tree, Diagnostics& diags) {
  const Catalog& cat = Catalog::get();
  // A file without a workload (a cluster to build on) has nothing to check it against.
  if (!tree.find("workload") || !sc.workload || !cat.accelerators.contains(sc.cluster.accelerator)) return;
  const hw::AcceleratorSpec part = cat.accelerators.get(sc.cluster.accelerator).factory();
  const uint32_t gpus = static_cast<uint32_t>(sc.cluster.nodes) * static_cast<uint32_t>(sc.cluster.gpus_per_node);
  Section w = Section::parser(tree.find("workload"), "workload", &diags);
  sc.workload->validate(part, gpus, w);
}

}  // namespace

Scenario parse_scenario(const ConfigValue& tree) {
  Scenario sc;
  sc.has_workload = tree.find("workload") != nullptr;
  Diagnostics diags;
  Section root = Section::parser(&tree, "", &diags);
  visit_scenario(root, sc);
  root.finish();
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

RunResult run_scenario(Scenario& sc, const RunHooks& hooks) {
  const Catalog& cat = Catalog::get();
  RunResult result;
  sim::Engine engine;
  const hw::AcceleratorSpec part = cat.accelerators.get(sc.cluster.accelerator).factory();
  const uint32_t nodes = static_cast<uint32_t>(sc.cluster.nodes);
  const uint32_t gpn = static_cast<uint32_t>(sc.cluster.gpus_per_node);

  std::vector<wl::Gpu> gpus;
  std::vector<sim::HostId> hosts;
  for (uint32_t n = 0; n < nodes; ++n) {
    for (uint32_t g = 0; g < gpn; ++g) {
      const sim::HostId h = engine.add_host("n" + std::to_string(n) + ".gpu" + std::to_string(g),
                                            part.peak(hw::DType::kBf16));
      gpus.push_back({n * gpn + g, n, g, &part, h});
      hosts.push_back(h);
    }
  }
  net::LeafSpine topology(sc.cluster.fabric, nodes, gpn, part.scale_up_bandwidth);

  Tracer tracer;
  TimelineRecorder timeline;
  if (sc.outputs.timeline) tracer.subscribe(&timeline);
  RngFactory rng(static_cast<uint64_t>(sc.simulation.seed));
  auto balancer = cat.load_balancers.get(sc.policies.load_balancing).factory(rng.hash("load_balancing", 0));
  net::TransferOptions topts{&tracer, static_cast<size_t>(sc.outputs.timeline_links)};
  std::unique_ptr<net::TransferModel> transfer;
  if (sc.simulation.fidelity == "flow") {
    auto flow = std::make_unique<net::FlowTransfer>(engine, topology, *balancer, topts);
    flow->install(hosts);
    transfer = std::move(flow);
  } else {
    transfer = std::make_unique<net::AnalyticalTransfer>(engine, topology, *balancer, topts);
  }
  net::Collectives collectives(engine, topology, *transfer, sc.policies.collectives, gpn);

  const uint32_t traced = sc.outputs.timeline_ranks == 0 ? static_cast<uint32_t>(gpus.size())
                                                         : static_cast<uint32_t>(sc.outputs.timeline_ranks);
  wl::RunContext ctx{engine, gpus, sc.cluster.efficiency, collectives, tracer, rng, traced};

  char line[256];
  std::snprintf(line, sizeof line, "cluster: %u nodes x %u %s = %zu GPUs", nodes, gpn, part.name.c_str(), gpus.size());
  result.header.push_back(line);
  result.header.push_back("network: " + topology.describe());
  result.header.push_back("workload: " + sc.workload->describe());
  std::snprintf(line, sizeof line, "model: %s network, %s load balancing, %s all-reduce in %u channels, seed %lld",
                sc.simulation.fidelity.c_str(), sc.policies.load_balancing.c_str(),
                sc.policies.collectives.algorithm.c_str(), collectives.channels(),
                static_cast<long long>(sc.simulation.seed));
  result.header.push_back(line);

  if (hooks.progress) {
    wl::Workload* w = sc.workload.get();
    engine.set_progress_hook([&hooks, w, &engine] { hooks.progress(w->progress(), engine.now().s()); });
  }
  sc.workload->start(ctx);
  engine.run(sc.simulation.horizon);

  result.completed = sc.workload->progress() >= 1.0;
  sc.workload->report(result.metrics);
  result.events = engine.events_processed();
  result.metrics.set("sim_time_s", engine.last_event_time().s(), "simulated time of the last event");
  result.metrics.set("sim_events", static_cast<double>(engine.events_processed()), "engine events processed");
  result.metrics.set("network_flows", static_cast<double>(transfer->flows_started()), "flows started on the fabric");
  result.metrics.set("network_bytes", transfer->bytes_moved().bytes(), "bytes moved over the fabric");
  result.metrics.set("collectives", static_cast<double>(collectives.count()), "collective operations run");
  result.metrics.set("completed", result.completed ? 1.0 : 0.0, "1 if the workload finished before the horizon");
  result.metrics.set_label("scenario", sc.name);
  result.metrics.set_label("accelerator", part.name);
  result.metrics.set_label("fidelity", sc.simulation.fidelity);
  if (sc.outputs.timeline) result.timeline_json = timeline.to_json();
  return result;
}

}  // namespace lcsim
