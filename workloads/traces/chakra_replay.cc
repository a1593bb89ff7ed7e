#include "workloads/traces/chakra_replay.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <unordered_map>

#include "models/hardware/op_cost.h"
#include "models/hardware/spec_catalog.h"

namespace lcsim::wl {
namespace {

// ChakraProtoMsg::NodeType and CollectiveCommType values (proto/et_def.proto).
enum NodeType : int {
  kInvalidNode = 0,
  kMetadataNode,
  kMemLoadNode,
  kMemStoreNode,
  kCompNode,
  kCommSendNode,
  kCommRecvNode,
  kCommCollNode,
  kStorageNode,
  kBatchNode,
  kCheckpointNode
};
constexpr std::array<const char*, 10> kCommTypeNames = {
    "ALL_REDUCE", "REDUCE",         "ALL_GATHER",           "GATHER", "SCATTER", "BROADCAST",
    "ALL_TO_ALL", "REDUCE_SCATTER", "REDUCE_SCATTER_BLOCK", "BARRIER"};

// Where a node runs: no stream (zero time), the host (CPU) stream, the device compute stream (kernels and
// memory nodes), a communication stream (collectives), or nowhere but the network (sends and receives).
enum class Kind : uint8_t { kInstant, kCpu, kCompute, kMemory, kCollective, kSend, kRecv };

constexpr size_t kMaxProblemsPerFile = 10;

std::string quoted_name(const ChakraNode& n) { return n.name.empty() ? "" : " '" + n.name + "'"; }

std::string bytes_text(Bytes b) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f bytes", b.bytes());
  return buf;
}

}  // namespace

struct ChakraReplay::Graph {
  struct Op {
    Kind kind = Kind::kInstant;
    net::CollectiveOp coll = net::CollectiveOp::kAllReduce;
    int comm_type = -1;
    Bytes size;         // collective or message bytes; memory-node bytes
    uint32_t peer = 0;  // send: destination rank; receive: source rank
    int64_t tag = 0;
    uint32_t group = 0;  // index into the replay's process groups
    uint32_t ndeps = 0;  // dependencies that must finish first (after dropping the ignored ones)
  };
  std::string path;
  ChakraTrace trace;
  std::vector<Op> ops;
  std::vector<uint32_t> first_dependent;  // dependents of op i: dependents[first_dependent[i] .. [i + 1])
  std::vector<uint32_t> dependents;
  std::vector<uint32_t> roots;
  uint64_t dropped_deps = 0;  // ctrl deps on nodes not in the trace, and self-dependencies
  std::set<std::string> pg_names;
};

struct ChakraReplay::Rank {
  struct Stream {
    std::set<std::tuple<double, uint64_t, uint32_t>>
        ready;  // (ready time, node id, op): ready order, ties by id
    bool busy = false;
  };
  uint32_t rank = 0;
  const Graph* g = nullptr;
  const Gpu* gpu = nullptr;
  std::shared_ptr<const std::vector<Duration>> times;  // per op: its time on its stream
  uint64_t fallbacks = 0;                              // compute: model nodes timed as recorded
  uint32_t iteration = 0;
  std::vector<uint32_t> pending;
  size_t left = 0;
  bool done = false;
  Stream cpu, gpu_stream;
  std::vector<Stream> comm;                                 // per process group
  std::vector<uint64_t> issued;                             // per process group: collectives issued
  std::vector<std::pair<uint32_t, Duration>> comm_current;  // per process group: op in flight, issue time
  uint32_t comm_outstanding = 0;                            // collectives, sends and receives not finished
  Duration last, compute_busy, cpu_busy, comm_busy, exposed, finish;
  std::array<uint64_t, 11> by_type{};
  uint64_t host_ops = 0;
};

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

namespace {

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

}  // namespace

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

std::string ChakraReplay::describe() const {
  const std::string where =
      per_rank_files_ ? "per-rank files " + config_.trace + ".<rank>.et" : config_.trace + " on every rank";
  char buf[160];
  std::snprintf(buf, sizeof buf, "; %zu nodes per rank; compute %s; %d iteration%s",
                graphs_.empty() ? size_t{0} : graphs_.front()->ops.size(), config_.compute.c_str(),
                config_.iterations, config_.iterations == 1 ? "" : "s");
  return "Chakra trace replay, " + std::to_string(ranks_) + " ranks: " + where + buf;
}

// ---------------------------------------------------------------------------------------------------------------
// The replay

void ChakraReplay::start(RunContext& ctx) {
  LCSIM_ASSERT(graphs_.size() == ranks_ && ranks_ > 0, "ChakraReplay::start before a successful validate()");
  ctx_ = &ctx;
  run_.clear();
  collectives_.clear();
  channels_.clear();
  const bool model = config_.compute == "model";
  const hw::DType dtype = hw::parse_dtype(config_.precision);
  // Stream times per (trace file, part): replicated ranks of one part share them.
  std::map<std::pair<std::string, std::string>, std::pair<std::shared_ptr<std::vector<Duration>>, uint64_t>>
      times;
  for (uint32_t r = 0; r < ranks_; ++r) {
    auto rank = std::make_unique<Rank>();
    rank->rank = r;
    rank->g = graphs_[r].get();
    rank->gpu = &ctx.gpus[r];
    const hw::AcceleratorSpec& part = *rank->gpu->part;
    auto& entry = times[{rank->g->path, part.name}];
    if (!entry.first) {
      auto t = std::make_shared<std::vector<Duration>>(rank->g->ops.size());
      uint64_t fallbacks = 0;
      for (size_t i = 0; i < t->size(); ++i) {
        const ChakraNode& c = rank->g->trace.nodes[i];
        const Duration recorded = Duration::us(static_cast<double>(c.duration_micros));
        switch (rank->g->ops[i].kind) {
          case Kind::kCpu:
            (*t)[i] = recorded;
            break;
          case Kind::kCompute:
            if (!model) {
              (*t)[i] = recorded;
            } else if (c.num_ops > 0 || c.tensor_bytes >= 0) {
              (*t)[i] = hw::roofline_time(
                  part, dtype, Flops::of(static_cast<double>(std::max<int64_t>(c.num_ops, 0))),
                  Bytes::of(static_cast<double>(std::max<int64_t>(c.tensor_bytes, 0))));
            } else {
              (*t)[i] = recorded;
              ++fallbacks;
            }
            break;
          case Kind::kMemory:
            (*t)[i] = rank->g->ops[i].size / (part.hbm_bandwidth * part.calibration.memory_efficiency);
            break;
          default:
            break;
        }
      }
      entry = {t, fallbacks};
    }
    rank->times = entry.first;
    rank->fallbacks = entry.second;
    rank->pending.resize(rank->g->ops.size());
    rank->comm.resize(group_names_.size());
    rank->issued.assign(group_names_.size(), 0);
    rank->comm_current.assign(group_names_.size(), {0, Duration()});
    rank->last = ctx.engine.now();
    run_.push_back(std::move(rank));
  }
  nodes_total_ = 0;
  for (const auto& r : run_) nodes_total_ += r->g->ops.size() * static_cast<uint64_t>(config_.iterations);
  for (auto& r : run_) {
    for (size_t i = 0; i < r->pending.size(); ++i) r->pending[i] = r->g->ops[i].ndeps;
    r->left = r->g->ops.size();
    for (uint32_t op : r->g->roots) work_.emplace_back(r->rank, op);
    if (r->left == 0) {
      r->done = true;
      ++ranks_done_;
    }
  }
  settle();
}

void ChakraReplay::account(Rank& r) {
  const Duration now = ctx_->engine.now();
  const Duration dt = now - r.last;
  if (dt.s() > 0) {
    if (r.gpu_stream.busy) r.compute_busy += dt;
    if (r.cpu.busy) r.cpu_busy += dt;
    if (r.comm_outstanding > 0) {
      r.comm_busy += dt;
      if (!r.gpu_stream.busy) r.exposed += dt;
    }
  }
  r.last = now;
}

void ChakraReplay::span(const Rank& r, uint32_t op, const std::string& track, Duration begin,
                        std::vector<std::pair<std::string, std::string>> args) const {
  if (r.rank >= ctx_->traced_ranks || !ctx_->tracer.enabled()) return;
  const ChakraNode& c = r.g->trace.nodes[op];
  args.emplace_back("node", std::to_string(c.id));
  const std::string name = c.name.empty() ? "node " + std::to_string(c.id) : c.name;
  const SpanKind kind = track == "compute" ? SpanKind::kCompute
                        : track == "cpu"   ? SpanKind::kHost
                        : track == "send"  ? SpanKind::kSend
                        : track == "recv"  ? SpanKind::kRecv
                                           : SpanKind::kComm;
  ctx_->tracer.span({.kind = kind, .rank = r.rank, .start = begin, .end = ctx_->engine.now(), .name = name,
                     .args = std::move(args)});
}

void ChakraReplay::complete(uint32_t rank, uint32_t op) {
  Rank& r = *run_[rank];
  const ChakraNode& c = r.g->trace.nodes[op];
  if (++nodes_done_ == nodes_total_) ctx_->finish();
  ++r.by_type[static_cast<size_t>(std::clamp(c.type, 0, 10))];
  r.host_ops += r.g->ops[op].kind == Kind::kCpu;
  for (uint32_t k = r.g->first_dependent[op]; k < r.g->first_dependent[op + 1]; ++k) {
    const uint32_t d = r.g->dependents[k];
    if (--r.pending[d] == 0) work_.emplace_back(rank, d);
  }
  if (--r.left > 0) return;
  if (++r.iteration < static_cast<uint32_t>(config_.iterations)) {
    for (size_t i = 0; i < r.pending.size(); ++i) r.pending[i] = r.g->ops[i].ndeps;
    r.left = r.g->ops.size();
    for (uint32_t root : r.g->roots) work_.emplace_back(rank, root);
    return;
  }
  r.done = true;
  r.finish = ctx_->engine.now();
  ++ranks_done_;
}

void ChakraReplay::ready(uint32_t rank, uint32_t op) {
  Rank& r = *run_[rank];
  const Graph::Op& o = r.g->ops[op];
  const auto key = std::make_tuple(ctx_->engine.now().s(), r.g->trace.nodes[op].id, op);
  switch (o.kind) {
    case Kind::kInstant:
      complete(rank, op);
      return;
    case Kind::kCpu:
      r.cpu.ready.insert(key);
      break;
    case Kind::kCompute:
    case Kind::kMemory:
      r.gpu_stream.ready.insert(key);
      break;
    case Kind::kCollective:
      r.comm[o.group].ready.insert(key);
      break;
    case Kind::kSend:
      issue_send(r, op);
      return;
    case Kind::kRecv:
      post_recv(r, op);
      return;
  }
  dirty_.insert(rank);
}

void ChakraReplay::settle() {
  while (failure_.empty() && (!work_.empty() || !dirty_.empty())) {
    for (size_t i = 0; i < work_.size(); ++i) {
      const auto [rank, op] = work_[i];
      ready(rank, op);
    }
    work_.clear();
    while (!dirty_.empty()) {
      const uint32_t rank = *dirty_.begin();
      dirty_.erase(dirty_.begin());
      start_streams(*run_[rank]);
    }
  }
  if (failure_.empty() && in_flight_ == 0 && ranks_done_ < ranks_) fail(deadlock_message());
}

void ChakraReplay::start_streams(Rank& r) {
  auto run_on = [&](Rank::Stream& s, bool device) {
    if (s.busy || s.ready.empty()) return;
    const uint32_t op = std::get<2>(*s.ready.begin());
    s.ready.erase(s.ready.begin());
    account(r);
    s.busy = true;
    ++in_flight_;
    const Duration begin = ctx_->engine.now();
    const uint32_t rank = r.rank;
    auto done = [this, rank, op, begin, device] {
      --in_flight_;
      Rank& x = *run_[rank];
      account(x);
      (device ? x.gpu_stream : x.cpu).busy = false;
      span(x, op, device ? "compute" : "cpu", begin);
      complete(rank, op);
      dirty_.insert(rank);
      settle();
    };
    if (device) {
      ctx_->engine.compute(r.gpu->host, (*r.times)[op], std::move(done));
    } else {
      ctx_->engine.after((*r.times)[op], std::move(done), sim::kCompletion);
    }
  };
  run_on(r.cpu, false);
  run_on(r.gpu_stream, true);
  for (auto& s : r.comm) {
    if (s.busy || s.ready.empty()) continue;
    const uint32_t op = std::get<2>(*s.ready.begin());
    s.ready.erase(s.ready.begin());
    s.busy = true;
    issue_collective(r, op);
  }
}

void ChakraReplay::issue_collective(Rank& r, uint32_t op) {
  const Graph::Op& o = r.g->ops[op];
  const uint32_t grp = o.group;
  account(r);
  ++r.comm_outstanding;
  const uint64_t k = r.issued[grp]++;
  r.comm_current[grp] = {op, ctx_->engine.now()};
  collectives_.arrive({grp, k}, r.rank, op, group_ranks_[grp].size(), [&](Issued::Arrivals members) {
    // Every rank of the group issued its k-th collective: they must agree on what it is.
    for (const auto& [rank, x] : members) {
      const Graph::Op& other = run_[rank]->g->ops[x];
      if (other.comm_type != o.comm_type || other.size.bytes() != o.size.bytes()) {
        const ChakraNode& a = r.g->trace.nodes[op];
        const ChakraNode& b = run_[rank]->g->trace.nodes[x];
        fail("collective #" + std::to_string(k + 1) +
             (group_names_[grp].empty() ? "" : " of group '" + group_names_[grp] + "'") +
             " does not match across ranks: rank " + std::to_string(r.rank) + " issued node " +
             std::to_string(a.id) + quoted_name(a) + " (" + kCommTypeNames[static_cast<size_t>(o.comm_type)] +
             ", " + bytes_text(o.size) + ") in " + r.g->path + ", rank " + std::to_string(rank) +
             " issued node " + std::to_string(b.id) + quoted_name(b) + " (" +
             kCommTypeNames[static_cast<size_t>(other.comm_type)] + ", " + bytes_text(other.size) + ") in " +
             run_[rank]->g->path);
        return;
      }
    }
    ++collective_calls_;
    ++in_flight_;
    const Duration all_issued = ctx_->engine.now();
    ctx_->collectives.run(o.coll, group_ranks_[grp], o.size, [this, grp, members, all_issued] {
      --in_flight_;
      for (const auto& [rank, x] : members) {
        Rank& m = *run_[rank];
        account(m);
        --m.comm_outstanding;
        m.comm[grp].busy = false;
        const Duration issued = m.comm_current[grp].second;
        span(m, x, "comm", issued,
             {{"bytes", bytes_text(m.g->ops[x].size)},
              {"waited_for_peers_us", std::to_string((all_issued - issued).s() * 1e6)}});
        complete(rank, x);
        dirty_.insert(rank);
      }
      settle();
    });
  });
}

void ChakraReplay::issue_send(Rank& r, uint32_t op) {
  const Graph::Op& o = r.g->ops[op];
  account(r);
  ++r.comm_outstanding;
  ++in_flight_;
  ++p2p_messages_;
  const Duration begin = ctx_->engine.now();
  const uint32_t src = r.rank, dst = o.peer;
  const int64_t tag = o.tag;
  ctx_->collectives.send(src, dst, o.size, [this, src, dst, tag, op, begin] {
    --in_flight_;
    Rank& s = *run_[src];
    account(s);
    --s.comm_outstanding;
    span(s, op, "send", begin, {{"to", std::to_string(dst)}});
    complete(src, op);
    Channel& c = channels_[{src, dst, tag}];
    if (c.head < c.waiting.size()) {
      const auto [rank, x, posted] = c.waiting[c.head++];
      Rank& d = *run_[rank];
      account(d);
      --d.comm_outstanding;
      span(d, x, "recv", posted, {{"from", std::to_string(src)}});
      complete(rank, x);
    } else {
      ++c.arrived;
    }
    settle();
  });
}

void ChakraReplay::post_recv(Rank& r, uint32_t op) {
  const Graph::Op& o = r.g->ops[op];
  Channel& c = channels_[{o.peer, r.rank, o.tag}];
  if (c.arrived > 0) {  // the message is already here
    --c.arrived;
    span(r, op, "recv", ctx_->engine.now(), {{"from", std::to_string(o.peer)}});
    complete(r.rank, op);
    return;
  }
  account(r);
  ++r.comm_outstanding;
  c.waiting.emplace_back(r.rank, op, ctx_->engine.now());
}

void ChakraReplay::fail(const std::string& message) {
  if (!failure_.empty()) return;
  char at[64];
  std::snprintf(at, sizeof at, "replay stopped at t=%.9g s: ", ctx_->engine.now().s());
  failure_ = at + message;
  ctx_->finish();
}

std::string ChakraReplay::deadlock_message() const {
  std::vector<std::string> lines;
  auto where = [&](const Rank& r, uint32_t op) {
    const ChakraNode& c = r.g->trace.nodes[op];
    return "rank " + std::to_string(r.rank) + " node " + std::to_string(c.id) + quoted_name(c) + " (" +
           r.g->path + ")";
  };
  for (const auto& rp : run_) {
    const Rank& r = *rp;
    if (r.done) continue;
    for (size_t grp = 0; grp < r.comm.size(); ++grp) {
      if (!r.comm[grp].busy) continue;
      const uint32_t op = r.comm_current[grp].first;
      const uint64_t k = r.issued[grp] - 1;
      const std::vector<uint32_t> missing =
          collectives_.missing({static_cast<uint32_t>(grp), k}, group_ranks_[grp]);
      const Graph::Op& o = r.g->ops[op];
      lines.push_back(where(r, op) + " waits in collective #" + std::to_string(k + 1) +
                      (group_names_[grp].empty() ? "" : " of group '" + group_names_[grp] + "'") + " (" +
                      kCommTypeNames[static_cast<size_t>(o.comm_type)] + ", " + bytes_text(o.size) +
                      ") for rank" + (missing.size() == 1 ? " " : "s ") + member_list(missing) +
                      ", which never issued it");
    }
  }
  for (const auto& [key, c] : channels_) {
    for (size_t i = c.head; i < c.waiting.size(); ++i) {
      const auto& [rank, op, posted] = c.waiting[i];
      lines.push_back(where(*run_[rank], op) + " waits for a message from rank " +
                      std::to_string(std::get<0>(key)) + " with tag " + std::to_string(std::get<2>(key)) +
                      ", which rank " + std::to_string(std::get<0>(key)) + " never sent");
    }
  }
  if (lines.empty()) {  // not expected (the graphs are acyclic): name the first node that never started
    for (const auto& rp : run_) {
      if (rp->done) continue;
      for (size_t i = 0; i < rp->pending.size(); ++i) {
        if (rp->pending[i] > 0) {
          lines.push_back(where(*rp, static_cast<uint32_t>(i)) + " waits on " +
                          std::to_string(rp->pending[i]) + " dependencies that never finished");
          break;
        }
      }
      if (!lines.empty()) break;
    }
  }
  std::string out = "deadlock: ";
  for (size_t i = 0; i < lines.size() && i < 4; ++i) out += (i ? "; " : "") + lines[i];
  if (lines.size() > 4) out += "; and " + std::to_string(lines.size() - 4) + " more waiting";
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Results

double ChakraReplay::progress() const {
  if (!failure_.empty()) return 1.0;  // a failed replay has nothing left to do; report() says why
  return nodes_total_ == 0 ? 0.0 : static_cast<double>(nodes_done_) / static_cast<double>(nodes_total_);
}

double ChakraReplay::busy_fraction(const hw::AcceleratorSpec* part) const {
  if (!ctx_) return 0.0;
  Duration end;
  for (const auto& r : run_) end = std::max(end, r->finish);
  size_t gpus = 0;
  for (const auto& g : ctx_->gpus) gpus += g.part == part;
  double busy = 0;
  for (const auto& r : run_) busy += r->gpu->part == part ? r->compute_busy.s() : 0.0;
  return end.s() > 0 && gpus > 0 ? busy / (end.s() * static_cast<double>(gpus)) : 0.0;
}

void ChakraReplay::report(MetricSet& m) const {
  if (!failure_.empty()) throw InputError({Diagnostic{trace_location_, "workload.trace", failure_}});
  Duration last, first = Duration::seconds(1e300), compute, cpu, comm, exposed;
  uint64_t fallbacks = 0, dropped = 0, host = 0;
  std::array<uint64_t, 11> types{};
  for (const auto& r : run_) {
    last = std::max(last, r->finish);
    first = std::min(first, r->finish);
    compute = std::max(compute, r->compute_busy);
    cpu = std::max(cpu, r->cpu_busy);
    comm = std::max(comm, r->comm_busy);
    exposed = std::max(exposed, r->exposed);
    fallbacks += config_.compute == "model" ? r->fallbacks : 0;
    dropped += r->g->dropped_deps;
    host += r->host_ops;
    for (size_t t = 0; t < types.size(); ++t) types[t] += r->by_type[t];
  }
  if (run_.empty()) first = Duration();
  const double iters = config_.iterations;
  m.set("ranks", ranks_, "ranks replayed");
  m.set("replay_time_s", last.s(), "simulated time until the last rank finished every iteration");
  m.set("iteration_time_s", last.s() / iters, "replay_time_s / iterations");
  m.set("rank_finish_max_s", last.s(), "latest finish time of a rank");
  m.set("rank_finish_min_s", first.s(), "earliest finish time of a rank");
  m.set("compute_time_s", compute.s(),
        "device compute-stream busy time of the busiest rank (kernels, memory nodes)");
  m.set("host_time_s", cpu.s(), "host (CPU) stream busy time of the busiest rank (is_cpu_op nodes)");
  m.set("comm_time_s", comm.s(), "time with a collective, send or receive outstanding, busiest rank");
  m.set("exposed_comm_time_s", exposed.s(),
        "time communication was outstanding while the compute stream was idle, worst rank");
  uint64_t all = 0;
  for (uint64_t t : types) all += t;
  m.set("nodes_replayed", static_cast<double>(all), "trace nodes executed, all ranks and iterations");
  m.set("nodes_comp", static_cast<double>(types[kCompNode]), "COMP_NODE nodes executed");
  m.set("nodes_comm_coll", static_cast<double>(types[kCommCollNode]), "COMM_COLL_NODE nodes executed");
  m.set("nodes_comm_send", static_cast<double>(types[kCommSendNode]), "COMM_SEND_NODE nodes executed");
  m.set("nodes_comm_recv", static_cast<double>(types[kCommRecvNode]), "COMM_RECV_NODE nodes executed");
  m.set("nodes_mem", static_cast<double>(types[kMemLoadNode] + types[kMemStoreNode]),
        "MEM_LOAD_NODE and MEM_STORE_NODE nodes executed");
  m.set("nodes_other",
        static_cast<double>(all - types[kCompNode] - types[kCommCollNode] - types[kCommSendNode] -
                            types[kCommRecvNode] - types[kMemLoadNode] - types[kMemStoreNode]),
        "other nodes executed (metadata, storage, ...: zero time)");
  m.set("nodes_host", static_cast<double>(host), "nodes run on the host stream (is_cpu_op), among the above");
  m.set("collective_calls", static_cast<double>(collective_calls_),
        "collectives run, each once for its group");
  m.set("p2p_messages", static_cast<double>(p2p_messages_), "point-to-point messages sent");
  m.set("model_fallback_nodes", static_cast<double>(fallbacks),
        "compute: model, kernels without num_ops or tensor sizes that kept their recorded time (all ranks)");
  m.set("ignored_dependencies", static_cast<double>(dropped),
        "ctrl_deps on nodes absent from the trace and self-dependencies, dropped (all ranks)");
}

std::vector<std::string> ChakraReplay::table() const {
  std::vector<std::string> out;
  if (!failure_.empty() || run_.empty()) return out;
  char line[200];
  std::snprintf(line, sizeof line, "# Chakra replay: %u ranks, compute %s, %d iteration%s", ranks_,
                config_.compute.c_str(), config_.iterations, config_.iterations == 1 ? "" : "s");
  out.push_back(line);
  out.push_back("#  rank   finish_ms  compute_ms     host_ms     comm_ms  exposed_ms   nodes");
  const size_t shown = std::min<size_t>(run_.size(), 16);
  for (size_t i = 0; i < shown; ++i) {
    const Rank& r = *run_[i];
    uint64_t nodes = 0;
    for (uint64_t t : r.by_type) nodes += t;
    std::snprintf(line, sizeof line, "%7u  %10.4f  %10.4f  %10.4f  %10.4f  %10.4f  %6llu", r.rank,
                  r.finish.s() * 1e3, r.compute_busy.s() * 1e3, r.cpu_busy.s() * 1e3, r.comm_busy.s() * 1e3,
                  r.exposed.s() * 1e3, static_cast<unsigned long long>(nodes));
    out.push_back(line);
  }
  if (run_.size() > shown)
    out.push_back("# ... " + std::to_string(run_.size() - shown) + " more ranks in metrics.json");
  std::snprintf(line, sizeof line, "# %llu collectives, %llu point-to-point messages",
                static_cast<unsigned long long>(collective_calls_),
                static_cast<unsigned long long>(p2p_messages_));
  out.push_back(line);
  return out;
}

}  // namespace lcsim::wl
