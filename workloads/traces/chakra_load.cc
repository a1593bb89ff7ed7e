// The chakra_replay workload's input side: its keys, reading and checking the trace files (one dependency graph per
// distinct file), and the process groups they name.
#include <algorithm>
#include <filesystem>
#include <unordered_map>

#include "models/hardware/op_cost.h"
#include "models/hardware/spec_catalog.h"
#include "workloads/traces/chakra_replay_internal.h"

namespace lcsim::wl {

using namespace chakra;  // NOLINT: the workload's own internal names

void ChakraReplayConfig::visit(Section& s) {
  s.required("trace", trace,
             "Chakra execution trace: one .et file replayed on every rank, or the prefix P of a per-rank set "
             "P.0.et, P.1.et, ... (ASTRA-sim's convention); relative to this scenario file");
  s.field(
      "ranks", ranks,
      "ranks replayed, trace rank r on GPU r; 0 = one per file of the set, or every GPU for a single file",
      Range::at_least(0));
  s.choice(
      "compute", compute, {"recorded", "model"},
      "device kernel times: recorded = each node's duration_micros; model = the part's cost model from the "
      "node's num_ops and tensor bytes (the recorded time where the trace has neither)");
  s.choice("precision", precision, hw::dtype_names(),
           "data type whose dense peak runs num_ops (compute: model)");
  s.choice(
      "dependencies", dependencies, {"data_and_ctrl", "data"},
      "which dependencies a node waits for: data_deps and ctrl_deps, or data_deps only (for traces whose "
      "ctrl_deps form cycles)");
  s.field("iterations", iterations, "times each rank replays its trace, back to back", Range::at_least(1));
}

ChakraReplay::ChakraReplay() = default;
ChakraReplay::~ChakraReplay() = default;

void ChakraReplay::visit(Section& s) {
  config_.visit(s);
  if (s.mode() != Section::Mode::kParse || !s.node()) return;
  const ConfigValue* v = s.node()->find("trace");
  if (v && v->is_scalar() && !v->scalar.empty()) {
    trace_location_ = v->location;
    config_.trace = std::filesystem::absolute(hw::relative_to_source(*v)).lexically_normal().string();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Loading and checking

namespace chakra {

std::shared_ptr<ChakraReplay::Graph> prepare(const std::string& path, uint32_t ranks, bool ctrl_deps,
                                             Section& s) {
  using Graph = ChakraReplay::Graph;
  auto g = std::make_shared<Graph>();
  g->path = path;
  try {
    g->trace = read_chakra_trace(path);
  } catch (const InputError& e) {
    for (const auto& d : e.diagnostics()) s.error("trace", path + ": " + d.message);
    return nullptr;
  }
  std::vector<std::string> problems;
  auto problem = [&](const ChakraNode& n, const std::string& what) {
    problems.push_back("node " + std::to_string(n.id) + quoted_name(n) + " " + what);
  };
  const auto& nodes = g->trace.nodes;
  const size_t n = nodes.size();
  std::unordered_map<uint64_t, uint32_t> index;  // lookups only
  for (size_t i = 0; i < n; ++i) {
    if (!index.emplace(nodes[i].id, static_cast<uint32_t>(i)).second) problem(nodes[i], "appears twice");
  }
  std::vector<std::pair<uint32_t, uint32_t>> edges;  // (dependent, dependency)
  g->ops.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const ChakraNode& c = nodes[i];
    for (const auto& bad : c.problems) problem(c, bad);
    auto add = [&](uint64_t dep, bool data) {
      if (dep == c.id) {
        ++g->dropped_deps;
        return;
      }
      const auto it = index.find(dep);
      if (it == index.end()) {
        if (data) {
          problem(c, "has a data dependency on node " + std::to_string(dep) + ", which is not in the trace");
        } else {
          ++g->dropped_deps;
        }
        return;
      }
      edges.emplace_back(static_cast<uint32_t>(i), it->second);
    };
    for (uint64_t d : c.data_deps) add(d, true);
    if (ctrl_deps) {
      for (uint64_t d : c.ctrl_deps) add(d, false);
    }
    Graph::Op& op = g->ops[i];
    switch (c.type) {
      case kCompNode:
        op.kind = c.is_cpu_op ? Kind::kCpu : Kind::kCompute;
        break;
      case kMemLoadNode:
      case kMemStoreNode:
        op.kind = Kind::kMemory;
        op.size = Bytes::of(
            static_cast<double>(c.tensor_size >= 0 ? c.tensor_size : std::max<int64_t>(c.tensor_bytes, 0)));
        break;
      case kCommCollNode: {
        if (c.is_cpu_op) {  // the host side of a collective call (c10d::...): its recorded time on the CPU
          op.kind = Kind::kCpu;
          break;
        }
        op.kind = Kind::kCollective;
        op.comm_type = static_cast<int>(c.comm_type);
        op.size = Bytes::of(static_cast<double>(c.comm_size));
        op.group = 0;
        switch (c.comm_type) {
          case 0:
            op.coll = net::CollectiveOp::kAllReduce;
            break;
          case 1:
            op.coll = net::CollectiveOp::kReduce;
            break;
          case 2:
            op.coll = net::CollectiveOp::kAllGather;
            break;
          case 5:
            op.coll = net::CollectiveOp::kBroadcast;
            break;
          case 6:
            op.coll = net::CollectiveOp::kAllToAll;
            break;
          case 7:
          case 8:
            op.coll = net::CollectiveOp::kReduceScatter;
            break;
          case 9:  // a barrier: the smallest all-reduce
            op.coll = net::CollectiveOp::kAllReduce;
            op.size = Bytes::of(8);
            break;
          case 3:
          case 4:
            problem(c, std::string("is a ") + kCommTypeNames[static_cast<size_t>(c.comm_type)] +
                           ", which the replay does not support (the collectives library has no gather or "
                           "scatter); supported: ALL_REDUCE, REDUCE, ALL_GATHER, BROADCAST, ALL_TO_ALL, "
                           "REDUCE_SCATTER, REDUCE_SCATTER_BLOCK, BARRIER");
            break;
          case -1:
            problem(c, "is a device collective without a comm_type attribute");
            break;
          default:
            problem(c, "has comm_type " + std::to_string(c.comm_type) +
                           ", which is not a CollectiveCommType (0..9)");
        }
        if (c.comm_type != 9 && c.comm_size < 0 && c.problems.empty()) {
          problem(c, "is a collective without a comm_size attribute");
        }
        if (!c.pg_name.empty()) g->pg_names.insert(c.pg_name);
        break;
      }
      case kCommSendNode:
      case kCommRecvNode: {
        const bool send = c.type == kCommSendNode;
        op.kind = send ? Kind::kSend : Kind::kRecv;
        const int64_t peer = send ? c.comm_dst : c.comm_src;
        const char* key = send ? "comm_dst" : "comm_src";
        if (peer < 0) {
          problem(c, std::string("has no ") + key + " attribute");
        } else if (peer >= static_cast<int64_t>(ranks)) {
          problem(c, std::string("has ") + key + " " + std::to_string(peer) +
                         ", outside the replayed ranks 0.." + std::to_string(ranks - 1));
        }
        if (c.comm_size < 0 && c.problems.empty()) problem(c, "has no comm_size attribute");
        op.peer = static_cast<uint32_t>(std::max<int64_t>(peer, 0));
        op.tag = std::max<int64_t>(c.comm_tag, 0);
        op.size = Bytes::of(static_cast<double>(std::max<int64_t>(c.comm_size, 0)));
        break;
      }
      default:
        op.kind = Kind::kInstant;
    }
  }
  // Dependencies: unique (a dependency listed as data and ctrl counts once), then dependents by node.
  std::sort(edges.begin(), edges.end());
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  std::vector<uint32_t> count(n + 1, 0);
  for (const auto& [to, from] : edges) {
    ++g->ops[to].ndeps;
    ++count[from + 1];
  }
  g->first_dependent.assign(n + 1, 0);
  for (size_t i = 0; i < n; ++i) g->first_dependent[i + 1] = g->first_dependent[i] + count[i + 1];
  g->dependents.resize(edges.size());
  std::vector<uint32_t> fill(g->first_dependent.begin(), g->first_dependent.end() - 1);
  for (const auto& [to, from] : edges)
    g->dependents[fill[from]++] = to;  // edges sorted by dependent: ascending
  for (size_t i = 0; i < n; ++i) {
    if (g->ops[i].ndeps == 0) g->roots.push_back(static_cast<uint32_t>(i));
  }
  // Kahn's algorithm: what it cannot order lies on or behind a cycle; name one cycle.
  if (problems.empty()) {
    std::vector<uint32_t> left(n), queue = g->roots;
    for (size_t i = 0; i < n; ++i) left[i] = g->ops[i].ndeps;
    for (size_t q = 0; q < queue.size(); ++q) {
      for (uint32_t k = g->first_dependent[queue[q]]; k < g->first_dependent[queue[q] + 1]; ++k) {
        if (--left[g->dependents[k]] == 0) queue.push_back(g->dependents[k]);
      }
    }
    if (queue.size() < n) {
      // Walk from an unordered node to one of its unordered dependencies until a node repeats.
      auto first_waiting = [&](uint32_t v) {
        const auto lo = std::lower_bound(edges.begin(), edges.end(), std::make_pair(v, 0u));
        for (auto it = lo; it != edges.end() && it->first == v; ++it) {
          if (left[it->second] > 0) return it->second;
        }
        return v;
      };
      uint32_t v = 0;
      while (left[v] == 0) ++v;
      std::vector<uint32_t> walk;
      std::vector<size_t> seen(n, SIZE_MAX);
      while (seen[v] == SIZE_MAX) {
        seen[v] = walk.size();
        walk.push_back(v);
        v = first_waiting(v);
      }
      std::string cycle;
      const size_t from = seen[v], len = walk.size() - from;
      for (size_t k = from; k < walk.size() && k < from + 6; ++k) {
        const ChakraNode& c = nodes[walk[k]];
        cycle += (cycle.empty() ? "" : " waits on ") + std::to_string(c.id) + quoted_name(c);
      }
      cycle += len > 6 ? " ... (" + std::to_string(len) + " nodes)" : "";
      cycle += " waits on " + std::to_string(nodes[v].id);
      problems.push_back("dependency cycle: node " + cycle + "; " + std::to_string(n - queue.size()) +
                         " nodes could never start" +
                         (ctrl_deps ? "; `dependencies: data` follows data_deps only" : ""));
    }
  }
  for (size_t k = 0; k < problems.size() && k < kMaxProblemsPerFile; ++k)
    s.error("trace", path + ": " + problems[k]);
  if (problems.size() > kMaxProblemsPerFile) {
    s.error("trace",
            path + ": and " + std::to_string(problems.size() - kMaxProblemsPerFile) + " more problems");
  }
  return problems.empty() ? g : nullptr;
}

}  // namespace chakra

void ChakraReplay::validate(const std::vector<Gpu>& gpus, Section& s) {
  namespace fs = std::filesystem;
  graphs_.clear();
  group_names_.clear();
  group_ranks_.clear();
  const std::string& t = config_.trace;
  if (t.empty()) return;  // reported by the parser
  std::error_code ec;
  uint32_t files = 0;
  if (fs::is_regular_file(t, ec)) {
    per_rank_files_ = false;
  } else if (fs::is_regular_file(t + ".0.et", ec)) {
    per_rank_files_ = true;
    while (fs::is_regular_file(t + "." + std::to_string(files) + ".et", ec)) ++files;
  } else {
    s.error("trace", "no trace file '" + t + "', and no per-rank set ('" + t + ".0.et' does not exist)");
    return;
  }
  const uint32_t g = static_cast<uint32_t>(gpus.size());
  uint32_t n = config_.ranks > 0 ? static_cast<uint32_t>(config_.ranks) : per_rank_files_ ? files : g;
  if (per_rank_files_ && n > files) {
    s.error("ranks", "the per-rank set has files for ranks 0.." + std::to_string(files - 1) + "; '" + t +
                         "." + std::to_string(files) + ".et' is missing (got ranks: " + std::to_string(n) +
                         ")");
    return;
  }
  if (n > g) {
    s.error("ranks", "must be 0.." + std::to_string(g) + " (the cluster has " + std::to_string(g) +
                         " GPUs), got " + std::to_string(n) + (config_.ranks == 0 ? " files" : ""));
    return;
  }
  if (config_.compute == "model") {
    const hw::DType d = hw::parse_dtype(config_.precision);
    for (uint32_t r = 0; r < n; ++r) {
      if (!gpus[r].part->supports(d)) {
        s.error("precision", gpus[r].part->name + " has no " + config_.precision + " peak");
        return;
      }
    }
  }
  load(n, s);
}

void ChakraReplay::load(uint32_t n, Section& s) {
  const bool ctrl = config_.dependencies == "data_and_ctrl";
  std::vector<std::shared_ptr<Graph>> loaded(n);
  bool ok = true;
  if (!per_rank_files_) {
    auto one = prepare(config_.trace, n, ctrl, s);
    ok = one != nullptr;
    loaded.assign(n, one);
  } else {
    for (uint32_t r = 0; r < n; ++r) {
      loaded[r] = prepare(config_.trace + "." + std::to_string(r) + ".et", n, ctrl, s);
      ok = ok && loaded[r];
    }
  }
  if (!ok) return;
  // Process groups: "" is every rank; a named group is the ranks whose trace has a collective naming it.
  std::set<std::string> names;
  for (const auto& g : loaded) names.insert(g->pg_names.begin(), g->pg_names.end());
  group_names_ = {""};
  group_names_.insert(group_names_.end(), names.begin(), names.end());
  group_ranks_.assign(group_names_.size(), {});
  for (uint32_t r = 0; r < n; ++r) {
    group_ranks_[0].push_back(r);
    for (size_t k = 1; k < group_names_.size(); ++k) {
      if (loaded[r]->pg_names.count(group_names_[k])) group_ranks_[k].push_back(r);
    }
  }
  for (uint32_t r = 0; r < n; ++r) {
    if (r > 0 && loaded[r] == loaded[r - 1]) continue;
    Graph& g = *loaded[r];
    for (size_t i = 0; i < g.ops.size(); ++i) {
      const std::string& pg = g.trace.nodes[i].pg_name;
      if (g.ops[i].kind != Kind::kCollective || pg.empty()) continue;
      g.ops[i].group = static_cast<uint32_t>(std::lower_bound(group_names_.begin(), group_names_.end(), pg) -
                                             group_names_.begin());
    }
  }
  ranks_ = n;
  graphs_.assign(loaded.begin(), loaded.end());
}
}  // namespace lcsim::wl
