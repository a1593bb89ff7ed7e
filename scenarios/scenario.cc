#include "scenarios/scenario.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <set>

#include "models/network/transfer.h"
#include "scenarios/catalog.h"
#include "sim/engine.h"
#include "sim/limits.h"
#include "workloads/job.h"

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

void visit_rest(Section& s, Scenario& sc);

/// A workload section: its type, then that type's own keys. `describe_all`: in describe mode, also every other
/// type's keys, each under its own heading (for the top-level section; a job's section points there).
void visit_workload(Section& w, std::string& type, std::unique_ptr<wl::Workload>& workload, bool describe_all) {
  const Catalog& cat = Catalog::get();
  const std::string before = type;
  w.choice("type", type, cat.workloads.names(), "registered workload (lcsim list)");
  const ConfigValue* t = w.node() ? w.node()->find("type") : nullptr;
  if (w.mode() == Section::Mode::kParse && t && t->scalar != type) {
    w.skip_unknown_keys();  // the type is wrong; its keys cannot be checked
    return;
  }
  if (w.mode() == Section::Mode::kDescribe && !describe_all) {
    w.skip_unknown_keys();
    return;
  }
  if (!workload || type != before) workload = cat.workloads.get(type).factory();
  if (w.mode() == Section::Mode::kDescribe) {
    w.add_docs({{"workload (type: " + type + ", the default)", "section", "", "",
                 cat.workloads.get(type).description, ""}});
  }
  workload->visit(w);
  if (w.mode() != Section::Mode::kDescribe) return;
  // Every other workload type's keys, each under its own heading.
  for (const std::string& other_type : cat.workloads.names()) {
    if (other_type == type) continue;
    std::vector<KeyDoc> docs{{"workload (type: " + other_type + ")", "section", "", "",
                              cat.workloads.get(other_type).description, ""}};
    Section other = Section::describer("workload", &docs);
    cat.workloads.get(other_type).factory()->visit(other);
    w.add_docs(docs);
  }
}

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
    c.section("storage", "the cluster's storage: parallel file system, object store, GPUDirect Storage "
              "(docs/storage.md)", [&](Section& x) { cl.storage.visit(x); });
  });
  // A resolved scenario keeps the form it was written in: workload (one job) or jobs.
  const bool emit = s.mode() == Section::Mode::kEmit;
  if (!emit || sc.jobs.empty()) {
    s.section("workload", "what runs on the cluster (one job on every node; see jobs for several)",
              [&](Section& w) { visit_workload(w, sc.workload_type, sc.workload, true); });
  }
  if (emit && sc.jobs.empty()) return visit_rest(s, sc);
  s.list("jobs", "jobs sharing the cluster, each a workload on nodes of its own (instead of workload)", sc.jobs,
         [&](Section& j, JobConfig& job) {
           j.field("name", job.name, "job name: its metrics are prefixed with '<name>.'");
           j.field("nodes", job.nodes, "nodes the job runs on; 0 = every node still free (of its pool)",
                   Range::at_least(0));
           j.field("pool", job.pool, "take the nodes from this pool (cluster.pools[].name) only; empty = any");
           j.values("node_ids", job.node_ids,
                    "exactly these nodes (indices over the cluster, pool by pool, from 0), in this rank order; "
                    "instead of nodes and pool");
           j.field("start", job.start, "when the job starts", Range::at_least(0));
           j.section("workload", "what the job runs: the keys of the top-level workload section", [&](Section& w) {
             if (w.mode() == Section::Mode::kParse && w.node()) job.workload_tree = *w.node();
             visit_workload(w, job.workload_type, job.workload, false);
           });
           if (j.mode() == Section::Mode::kParse && !j.has("workload")) j.error_here("a job needs a workload");
         });
  visit_rest(s, sc);
}

void visit_rest(Section& s, Scenario& sc) {
  const Catalog& cat = Catalog::get();
  s.section("policies", "scheduling, routing and collective-algorithm policies", [&](Section& p) {
    // A typed slot: a policy name, or {type: NAME, ...that policy's own keys}.
    const auto& lbs = cat.load_balancers;
    std::string names;
    for (const auto& n : lbs.names()) names += (names.empty() ? "" : ", ") + n;
    p.custom(
        "load_balancing",
        "how flows are spread over equal-cost paths: a policy name (" + names +
            "), or a mapping {type: NAME, ...} with that policy's own keys",
        "name or mapping", "ecmp",
        [&](const ConfigValue& v) {
          PolicyConfig& pc = sc.policies;
          pc.load_balancer = {};
          auto known = [&](const std::string& name, const ConfigValue& at) {
            if (lbs.contains(name)) return true;
            p.diagnostics()->add(at.location, p.child_path("load_balancing"),
                                 unknown_name_message("value", name, lbs.names()));
            return false;
          };
          if (v.is_scalar()) {
            if (known(v.scalar, v)) pc.load_balancing = v.scalar;
            return;
          }
          if (!v.is_map() || !v.find("type")) {
            p.diagnostics()->add(v.location, p.child_path("load_balancing"),
                                 "expected a policy name or a mapping with a type: {type: spray, max_paths: 4}");
            return;
          }
          Section sub = Section::parser(&v, p.child_path("load_balancing"), p.diagnostics());
          std::string type = pc.load_balancing;
          sub.field("type", type, "the policy");
          if (!known(type, *v.find("type"))) {
            sub.skip_unknown_keys();
            sub.finish();
            return;
          }
          pc.load_balancing = type;
          lbs.get(type).factory.visit(sub, pc.load_balancer);
          sub.finish();
        },
        [&] {
          ConfigValue out;
          if (sc.policies.load_balancer == policy::LoadBalancerParams{}) {
            out.kind = ConfigValue::Kind::kScalar;
            out.scalar = sc.policies.load_balancing;
            return out;
          }
          Section e = Section::emitter(p.child_path("load_balancing"), &out);
          std::string type = sc.policies.load_balancing;
          e.field("type", type, "the policy");
          lbs.get(type).factory.visit(e, sc.policies.load_balancer);
          return out;
        });
    for (const auto& kv : lbs.entries()) {
      p.describe_mapping("load_balancing", [&, name = kv.first, description = kv.second.description,
                                            visit = kv.second.factory.visit](Section& d) {
        policy::LoadBalancerParams defaults;
        std::vector<KeyDoc> docs{{d.path() + " (type: " + name + ")", "section", "", "", description, ""}};
        Section keys = Section::describer(d.path(), &docs);
        visit(keys, defaults);
        d.add_docs(docs);
      });
    }
    p.section("collectives", "collective communication algorithms",
              [&](Section& c) { sc.policies.collectives.visit(c); });
  });
  s.section("simulation", "engine settings", [&](Section& m) {
    m.field("seed", sc.simulation.seed, "master random seed (same seed, same result)", Range::at_least(0));
    m.choice("fidelity", sc.simulation.fidelity, cat.fidelities.names(), "network model");
    m.field("horizon", sc.simulation.horizon, "stop simulating at this simulated time", Range::positive());
    m.choice("event_granularity", sc.simulation.event_granularity, {"pass", "kernel"},
             "pass: a training pass whose inside nothing else observes (contention-free collectives, no other "
             "stream waiting) is one event, same results; kernel: an event per kernel and collective (slower)");
  });
  s.section("cost", "power, energy and money", [&](Section& c) { sc.cost.visit(c); });
  s.section("reliability", "the whole training job with node failures, checkpoints and restarts",
            [&](Section& r) { sc.reliability.visit(r); });
  s.section("checkpoint", "the training job's checkpoint levels, saved and restored over the cluster's storage",
            [&](Section& x) { sc.checkpoint.visit(x); });
  s.section("dataset", "where training reads its samples from, and whether loading keeps up",
            [&](Section& x) { sc.dataset.visit(x); });
  s.section("outputs", "what a run writes (lcsim run -o DIR)", [&](Section& o) {
    OutputConfig& out = sc.outputs;
    o.field("metrics", out.metrics, "write metrics.json");
    o.field("timeline", out.timeline, "write timeline.json (Chrome trace events; open in Perfetto)");
    o.field("resolved_scenario", out.resolved_scenario, "write scenario.resolved.yaml");
    o.field("timeline_ranks", out.timeline_ranks, "GPUs (lowest ranks first) with timeline tracks; 0 = all",
            Range::at_least(0));
    o.values("timeline_kinds", out.timeline_kinds,
             "span kinds written to the timeline, any of: compute, comm, pp, dp, host, send, recv, links, "
             "reliability (a job's run with failures); [] = all");
    if (o.mode() == Section::Mode::kParse) {
      for (const auto& k : out.timeline_kinds) {
        SpanKind kind;
        if (!parse_span_kind(k, &kind)) o.error("timeline_kinds", unknown_name_message("span kind", k, span_kind_names()));
      }
    }
    o.choice("timeline_detail", out.timeline_detail, {"passes", "kernels"},
             "passes: a training pass (forward or backward of a model chunk) is one span, with pipeline sends and "
             "data-parallel work beside it; kernels: the collectives inside each pass get their own spans too "
             "(a several times larger file)");
    o.choice("timeline_format", out.timeline_format, {"auto", "json", "protobuf"},
             "json: timeline.json (Chrome trace events); protobuf: timeline.pftrace (Perfetto's protobuf trace, about "
             "0.55 of the JSON's bytes per span, read ~15 times faster); auto: json unless it grows past "
             "timeline_json_limit, then protobuf (both open in ui.perfetto.dev and lcsim-gui)");
    o.field("timeline_json_limit", out.timeline_json_limit,
            "auto format: the size of timeline.json above which the run writes timeline.pftrace instead",
            Range::at_least(0));
    o.field("timeline_links", out.timeline_links, "busy-link tracks per link tier in the timeline (first links used)",
            Range::at_least(0));
    o.field("utilization_interval", out.utilization_interval,
            "sample every link tier's mean and max utilization this often, into link_utilization.csv and timeline "
            "counters; 0s = off",
            Range::at_least(0));
    o.field("timeline_counters", out.timeline_counters,
            "counters under each traced GPU's lanes, sampled at changes only: its power (W, by the energy "
            "accounting's states: computing, only communicating, idle), and for training its HBM in use (GB: the "
            "memory fit's weights, gradients, optimizer states and buffers plus one micro-batch's activations per "
            "micro-batch in flight) and its queued inputs (activations and gradients received that its schedule has "
            "not reached yet). Off by default: on the 175B layout they add half again to the timeline's size and a quarter "
            "to a run's time; the GUI draws them when a run writes them");
  });
}

/// The shorthand keys describe one pool of nodes named after the part: its accelerators, one 400 Gb/s compute NIC
/// each, and the rest of the node's power (CPUs, memory, NICs, fans) taken from the catalog's first node template
/// with the same part, scaled per accelerator; a part no template holds gets the hgx-h100 template's ratio of host
/// to accelerator power (busy 4.6 kW / 8 x 700 W, idle 1.5 kW / 8 x 700 W) and a DGX H100 host's speed. The pool's
/// description says which.
void build_shorthand_pool(ClusterConfig& cl) {
  if (!cl.shorthand) return;
  PoolConfig pool;
  pool.node.name = "bare-" + cl.accelerator.name;
  pool.node.accelerator = cl.accelerator;
  pool.node.gpus = cl.gpus_per_node;
  pool.node.nics = {hw::NicGroup{cl.gpus_per_node, Bandwidth::gbits_per_s(400), "compute"}};
  const hw::NodeSpec* like = hw::NodeCatalog::get().first_with_part(cl.accelerator.name);
  const double gpus = cl.gpus_per_node;
  if (like) {
    pool.node.overhead_power = Power::watts(like->overhead_power.w() * gpus / like->gpus);
    pool.node.overhead_idle_power = Power::watts(like->overhead_idle_power.w() * gpus / like->gpus);
    pool.node.description = "shorthand cluster: host power per accelerator from node template " + like->name;
    // and its host's speed (the host CPU a superchip such as GB200's Grace comes with)
    pool.node.host_op_time_factor = pool.node.accelerator.host_op_time_factor = like->host_op_time_factor;
  } else {
    const double tdp = cl.accelerator.tdp.w() * gpus;
    pool.node.overhead_power = Power::watts(tdp * 4600.0 / 5600.0);
    pool.node.overhead_idle_power = Power::watts(tdp * 1500.0 / 5600.0);
    pool.node.description = "shorthand cluster: host power scaled from hgx-h100 (no template holds " +
                            cl.accelerator.name + ")";
  }
  pool.name = "nodes";
  pool.count = cl.nodes;
  cl.pools = {pool};
}

/// Gives each job its nodes, in the order the jobs are listed: the first free nodes (of its pool, if it names one).
/// Jobs do not share nodes. Names must be unique.
void allocate_jobs(Scenario& sc, const ConfigValue& list, Diagnostics& diags) {
  struct NodeRef {
    uint32_t first_gpu;
    uint32_t gpus;
    const std::string* pool;
    bool taken = false;
  };
  std::vector<NodeRef> nodes;
  uint32_t gpu = 0;
  for (const auto& pool : sc.cluster.pools) {
    for (int k = 0; k < pool.count; ++k) {
      nodes.push_back({gpu, static_cast<uint32_t>(pool.node.gpus), &pool.name});
      gpu += static_cast<uint32_t>(pool.node.gpus);
    }
  }
  std::set<std::string> names;
  for (size_t i = 0; i < sc.jobs.size(); ++i) {
    JobConfig& job = sc.jobs[i];
    const ConfigValue& item = list.children[i];
    const std::string key = "jobs[" + std::to_string(i) + "]";
    auto where = [&](const char* k) { return item.find(k) ? item.find(k)->location : item.location; };
    if (job.name.empty()) job.name = "job" + std::to_string(i);
    if (!names.insert(job.name).second) diags.add(where("name"), key + ".name", "two jobs named '" + job.name + "'");
    bool pool_known = job.pool.empty();
    for (const auto& p : sc.cluster.pools) pool_known = pool_known || p.name == job.pool;
    if (!pool_known) {
      std::string valid;
      for (const auto& p : sc.cluster.pools) valid += (valid.empty() ? "" : ", ") + p.name;
      diags.add(where("pool"), key + ".pool", "no pool named '" + job.pool + "' (pools: " + valid + ")");
      continue;
    }
    if (!job.node_ids.empty()) {
      if (job.nodes > 0 || !job.pool.empty()) {
        diags.add(where("node_ids"), key + ".node_ids", "give node_ids or nodes/pool, not both");
        continue;
      }
      for (int id : job.node_ids) {
        if (id < 0 || static_cast<size_t>(id) >= nodes.size()) {
          diags.add(where("node_ids"), key + ".node_ids",
                    "no node " + std::to_string(id) + " (the cluster has nodes 0.." + std::to_string(nodes.size() - 1) +
                        ")");
          break;
        }
        NodeRef& n = nodes[static_cast<size_t>(id)];
        if (n.taken) {
          diags.add(where("node_ids"), key + ".node_ids",
                    "node " + std::to_string(id) + " is already another job's (jobs do not share nodes)");
          break;
        }
        n.taken = true;
        for (uint32_t g = 0; g < n.gpus; ++g) job.allocation.push_back(n.first_gpu + g);
      }
      continue;
    }
    std::vector<NodeRef*> free;
    size_t in_pool = 0;
    for (auto& n : nodes) {
      if (!job.pool.empty() && *n.pool != job.pool) continue;
      ++in_pool;
      if (!n.taken) free.push_back(&n);
    }
    const size_t want = job.nodes > 0 ? static_cast<size_t>(job.nodes) : free.size();
    if (want == 0 || want > free.size()) {
      diags.add(where("nodes"), key + ".nodes",
                "asks for " + (job.nodes > 0 ? std::to_string(job.nodes) : std::string("the free")) + " node(s); " +
                    std::to_string(free.size()) + " of " + std::to_string(in_pool) + " " +
                    (job.pool.empty() ? std::string("") : "pool '" + job.pool + "' ") +
                    "nodes are free (jobs do not share nodes)");
      continue;
    }
    for (size_t k = 0; k < want; ++k) {
      free[k]->taken = true;
      for (uint32_t g = 0; g < free[k]->gpus; ++g) job.allocation.push_back(free[k]->first_gpu + g);
    }
  }
}

/// Checkpoint levels and the dataset name tiers the cluster must have (cluster.storage, node templates' NVMe).
void check_storage(const Scenario& sc, const ConfigValue& tree, Diagnostics& diags) {
  const storage::StorageConfig& st = sc.cluster.storage;
  auto lacks = [&](const std::string& tier) -> std::string {
    if (tier == "parallel_fs" && st.parallel_fs.servers <= 0) return "needs cluster.storage.parallel_fs.servers > 0";
    if (tier == "object_store" && st.object_store.bandwidth.bps() <= 0) {
      return "needs cluster.storage.object_store.bandwidth > 0";
    }
    if (tier == "local_nvme") {
      for (const auto& pool : sc.cluster.pools) {
        if (pool.node.nvme_read_bandwidth.bps() <= 0 || pool.node.nvme_write_bandwidth.bps() <= 0) {
          return "needs NVMe drives: node template '" + pool.node.name + "' has no nvme_read/write_bandwidth";
        }
      }
    }
    if (tier == "peer_memory") {
      int nodes = 0;
      for (const auto& pool : sc.cluster.pools) nodes += pool.count;
      if (nodes < 2) return "needs 2 nodes or more (a copy in another node's memory)";
    }
    return "";
  };
  auto where = [&](const char* section, const char* key, const ConfigValue* item) {
    const ConfigValue* v = item ? item->find(key) : nullptr;
    if (!v) v = item ? item : tree.find(section);
    return v ? v->location : SourceLocation{};
  };
  const ConfigValue* levels = tree.find("checkpoint") ? tree.find("checkpoint")->find("levels") : nullptr;
  for (size_t i = 0; i < sc.checkpoint.levels.size(); ++i) {
    const std::string why = lacks(sc.checkpoint.levels[i].tier);
    if (why.empty()) continue;
    const ConfigValue* item = levels && i < levels->children.size() ? &levels->children[i] : nullptr;
    diags.add(where("checkpoint", "tier", item), "checkpoint.levels[" + std::to_string(i) + "].tier",
              "tier " + sc.checkpoint.levels[i].tier + " " + why);
  }
  const ConfigValue* ds = tree.find("dataset");
  if (sc.dataset.enabled()) {
    const std::string why = lacks(sc.dataset.source);
    if (!why.empty()) diags.add(where("dataset", "source", ds), "dataset.source", "source " + sc.dataset.source + " " + why);
  }
  if (sc.dataset.staged && (st.object_store.bandwidth.bps() <= 0 || !sc.dataset.enabled() ||
                            sc.dataset.source == "object_store" || sc.dataset.size.bytes() <= 0)) {
    diags.add(where("dataset", "staged", ds), "dataset.staged",
              "staging copies dataset.size bytes from the object store (cluster.storage.object_store.bandwidth > 0) "
              "onto dataset.source (local_nvme or parallel_fs)");
  }
}

void validate(Scenario& sc, const ConfigValue& tree, Diagnostics& diags) {
  check_storage(sc, tree, diags);
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
      // The builders name the key at fault (and where it was set, when they know); report it where the scenario
      // set that key.
      for (const auto& d : e.diagnostics()) {
        if (d.location.line > 0) {
          diags.add(d.location, d.key_path, d.message);
          continue;
        }
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
  if (tree.find("jobs") && tree.find("workload")) {
    diags.add(tree.find("jobs")->location, "jobs", "give either workload (one job on every node) or jobs, not both");
  }
  if (!diags.empty()) return;
  if (tree.find("jobs")) {
    allocate_jobs(sc, *tree.find("jobs"), diags);
    if (!diags.empty()) return;
    const std::vector<wl::Gpu> all = cluster_gpus(sc.cluster);
    for (size_t i = 0; i < sc.jobs.size(); ++i) {
      JobConfig& job = sc.jobs[i];
      if (!job.workload) continue;
      Section w = Section::parser(&job.workload_tree, "jobs[" + std::to_string(i) + "].workload", &diags);
      job.workload->validate(wl::Job::local_view(all, job.allocation), w);
    }
    return;
  }
  // A file without a workload (a cluster to build on) has nothing to check it against.
  if (!tree.find("workload") || !sc.workload) return;
  Section w = Section::parser(tree.find("workload"), "workload", &diags);
  sc.workload->set_token_budget(sc.cost.token_budget);
  sc.workload->validate(cluster_gpus(sc.cluster), w);
}

// Collectives that list no protocols take the accelerators' measured calibration (docs/calibration.md), when
// every pool's part carries the same one (a mixed cluster keeps the defaults).
void apply_collective_calibration(Scenario& sc) {
  net::CollectiveConfig& cc = sc.policies.collectives;
  if (!cc.part_calibration || !cc.protocols.empty() || sc.cluster.pools.empty()) return;
  const hw::CollectiveCalibration& cal = sc.cluster.pools.front().node.accelerator.collectives;
  if (cal.empty()) return;
  for (const auto& pool : sc.cluster.pools) {
    if (pool.node.accelerator.collectives.source != cal.source) return;
  }
  for (const auto& p : cal.protocols) {
    net::CollectiveProtocol q;
    q.name = p.name;
    q.base_latency = p.base_latency;
    q.step_latency = p.step_latency;
    q.scale_up_efficiency = p.scale_up_efficiency;
    q.intra_node_only = p.intra_node_only;
    q.algorithms = p.algorithms;
    q.chunk_channels = p.chunk_channels;
    q.max_chunk = p.max_chunk;
    q.floor_latency = p.floor_latency;
    cc.protocols.push_back(std::move(q));
  }
  if (cc.p2p_scale_up_efficiency <= 0) cc.p2p_scale_up_efficiency = cal.p2p_scale_up_efficiency;
  if (cc.all_to_all_scale_out_efficiency <= 0) cc.all_to_all_scale_out_efficiency = cal.all_to_all_scale_out_efficiency;
  if (cc.all_gather_scale_up_factor <= 0) cc.all_gather_scale_up_factor = cal.all_gather_scale_up_factor;
  if (cc.reduce_scatter_scale_up_factor <= 0) cc.reduce_scatter_scale_up_factor = cal.reduce_scatter_scale_up_factor;
}

}  // namespace

Scenario parse_scenario(const ConfigValue& tree) {
  Scenario sc;
  sc.has_workload = tree.find("workload") != nullptr || tree.find("jobs") != nullptr;
  Diagnostics diags;
  Section root = Section::parser(&tree, "", &diags);
  visit_scenario(root, sc);
  root.finish();
  build_shorthand_pool(sc.cluster);
  apply_collective_calibration(sc);
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

}  // namespace lcsim
