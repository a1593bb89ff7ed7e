// The chakra_replay workload's run: ranks walk their dependency graphs on the engine (streams, collectives,
// sends and receives), detect deadlocks, and report. Reading the traces is in chakra_load.cc.
#include "workloads/traces/chakra_replay.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <unordered_map>

#include "models/hardware/op_cost.h"
#include "models/hardware/spec_catalog.h"
#include "workloads/traces/chakra_replay_internal.h"

namespace lcsim::wl {

using namespace chakra;  // NOLINT: the workload's own internal names

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
  started_ = ctx.engine.now();
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
  if (ctx.tracer.enabled()) {  // the traced ranks' dependency edges, looked up from the dependent's side
    uint64_t base = 0;
    for (auto& r : run_) {
      if (r->rank >= ctx.traced_ranks) break;
      const Graph& g = *r->g;
      r->flow_base = base;
      base += g.dependents.size() * static_cast<uint64_t>(config_.iterations);
      r->released_by.assign(g.ops.size(), UINT32_MAX);
    }
    messages_traced_ = base;  // message edges come after the graphs' edges
  }
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

uint64_t ChakraReplay::message_flow(uint32_t src, uint32_t dst) {
  if (src >= ctx_->traced_ranks || dst >= ctx_->traced_ranks || !ctx_->tracer.enabled()) return 0;
  return 1 + (messages_traced_++ & 0xffffffffu);
}

uint64_t ChakraReplay::cross_rank_flow(uint64_t edge, uint32_t to) const {
  return 0x80000000u | ((edge * ctx_->traced_ranks + to) & 0x7fffffffu);
}

void ChakraReplay::member_flows(const Rank& r, uint32_t op, std::vector<FlowStep>& flows) const {
  // The copies of a collective this op releases, directly or through instant nodes it releases (they complete
  // at once), wait on it on every traced member: the others', and its own when an instant node sits between
  // (the graph's own edge is drawn between timed ops only).
  const Graph& g = *r.g;
  walk_.assign(1, op);  // the op, then the instant nodes it releases
  while (!walk_.empty()) {
    const uint32_t at = walk_.back();
    walk_.pop_back();
    for (uint32_t k = g.first_dependent[at]; k < g.first_dependent[at + 1]; ++k) {
      const uint32_t d = g.dependents[k];
      if (r.pending[d] != 1) continue;
      if (g.ops[d].kind == Kind::kInstant) {
        walk_.push_back(d);
      } else if (g.ops[d].kind == Kind::kCollective) {
        for (uint32_t m : group_ranks_[g.ops[d].group]) {
          if ((m != r.rank || at != op) && m < ctx_->traced_ranks)
            flows.push_back({cross_rank_flow(r.edge_index(k), m), false, true});
        }
      }
    }
  }
}

void ChakraReplay::span(const Rank& r, uint32_t op, const std::string& track, Duration begin,
                        std::vector<std::pair<std::string, std::string>> args, uint64_t p2p, bool p2p_in,
                        const std::vector<FlowStep>& joined) const {
  if (r.rank >= ctx_->traced_ranks || !ctx_->tracer.enabled()) return;
  // The graph's edges that decided when an op could start, between ops that go on the timeline (instants do not):
  // in from the dependency that released this op (the last of its dependencies to finish), out to each dependent
  // this op releases (it is the dependent's last dependency still pending). A dense graph (a PyTorch trace's
  // data dependencies) thus gives at most one edge per op.
  std::vector<FlowStep> flows;
  const Graph& g = *r.g;
  const auto id = [&](uint32_t k) { return 1 + (r.edge_index(k) & 0xffffffffu); };
  if (const uint32_t k = r.released_by[op]; k != UINT32_MAX && g.ops[g.source(k)].kind != Kind::kInstant) {
    flows.push_back({id(k), true, false});
  }
  for (uint32_t k = g.first_dependent[op]; k < g.first_dependent[op + 1]; ++k) {
    const uint32_t d = g.dependents[k];
    if (g.ops[d].kind != Kind::kInstant && r.pending[d] == 1) flows.push_back({id(k), false, true});
  }
  if (p2p != 0) flows.push_back({p2p, p2p_in, !p2p_in});
  member_flows(r, op, flows);
  flows.insert(flows.end(), joined.begin(), joined.end());
  const ChakraNode& c = r.g->trace.nodes[op];
  args.emplace_back("node", std::to_string(c.id));
  const std::string name = c.name.empty() ? "node " + std::to_string(c.id) : c.name;
  const SpanKind kind = track == "compute" ? SpanKind::kCompute
                        : track == "cpu"   ? SpanKind::kHost
                        : track == "send"  ? SpanKind::kSend
                        : track == "recv"  ? SpanKind::kRecv
                                           : SpanKind::kComm;
  ctx_->tracer.span({.kind = kind, .rank = r.rank, .start = begin, .end = ctx_->engine.now(), .name = name,
                     .args = std::move(args), .flows = std::move(flows)});
}

void ChakraReplay::complete(uint32_t rank, uint32_t op) {
  Rank& r = *run_[rank];
  const ChakraNode& c = r.g->trace.nodes[op];
  if (++nodes_done_ == nodes_total_) {
    emit_busy();
    ctx_->finish();
  }
  ++r.by_type[static_cast<size_t>(std::clamp(c.type, 0, 10))];
  r.host_ops += r.g->ops[op].kind == Kind::kCpu;
  for (uint32_t k = r.g->first_dependent[op]; k < r.g->first_dependent[op + 1]; ++k) {
    const uint32_t d = r.g->dependents[k];
    if (--r.pending[d] == 0) {
      work_.emplace_back(rank, d);
      if (!r.released_by.empty()) r.released_by[d] = k;  // the timeline's edge into d (span())
    }
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
    // Each traced member's copy waits on what released every other traced member's copy (its own edge is the
    // graph's): taken now, before a member's completion moves it to its next iteration.
    // (member, the global index of the edge that released its copy, whether instant nodes sit between that
    // and the timed op that released them; member_flows() gave the timed op the same ids)
    std::vector<std::tuple<uint32_t, uint64_t, bool>> released;
    for (const auto& [rank, x] : members) {
      const Rank& m = *run_[rank];
      if (rank >= ctx_->traced_ranks || m.released_by.empty() || m.released_by[x] == UINT32_MAX) continue;
      uint32_t from = m.g->source(m.released_by[x]);
      bool via = false;
      while (m.g->ops[from].kind == Kind::kInstant && m.released_by[from] != UINT32_MAX) {
        from = m.g->source(m.released_by[from]);
        via = true;
      }
      if (m.g->ops[from].kind != Kind::kInstant)
        released.emplace_back(rank, m.edge_index(m.released_by[x]), via);
    }
    auto done = [this, grp, members, all_issued, released = std::move(released)] {
      --in_flight_;
      std::vector<FlowStep> joined;
      for (const auto& [rank, x] : members) {
        joined.clear();
        for (const auto& [from, edge, via] : released) {
          if (from != rank || via) joined.push_back({cross_rank_flow(edge, rank), true, false});
        }
        Rank& m = *run_[rank];
        account(m);
        --m.comm_outstanding;
        m.comm[grp].busy = false;
        const Duration issued = m.comm_current[grp].second;
        span(m, x, "comm", issued,
             {{"bytes", bytes_text(m.g->ops[x].size)},
              {"waited_for_peers_us", std::to_string((all_issued - issued).s() * 1e6)}},
             0, false, joined);
        complete(rank, x);
        dirty_.insert(rank);
      }
      settle();
    };
    ctx_->collectives.run(o.coll, group_ranks_[grp], o.size, std::move(done));
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
    const uint64_t flow = message_flow(src, dst);  // the receive waited on the send
    span(s, op, "send", begin, {{"to", std::to_string(dst)}}, flow, false);
    complete(src, op);
    Channel& c = channels_[{src, dst, tag}];
    if (c.head < c.waiting.size()) {
      const auto [rank, x, posted] = c.waiting[c.head++];
      Rank& d = *run_[rank];
      account(d);
      --d.comm_outstanding;
      span(d, x, "recv", posted, {{"from", std::to_string(src)}}, flow, true);
      complete(rank, x);
    } else {
      ++c.arrived;
      if (flow != 0) c.arrived_flows.push_back(flow);
    }
    settle();
  });
}

void ChakraReplay::post_recv(Rank& r, uint32_t op) {
  const Graph::Op& o = r.g->ops[op];
  Channel& c = channels_[{o.peer, r.rank, o.tag}];
  if (c.arrived > 0) {  // the message is already here
    --c.arrived;
    const uint64_t flow = c.arrived_head < c.arrived_flows.size() ? c.arrived_flows[c.arrived_head++] : 0;
    span(r, op, "recv", ctx_->engine.now(), {{"from", std::to_string(o.peer)}}, flow, true);
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
  emit_busy();
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

void ChakraReplay::emit_busy() const {
  for (const auto& r : run_) {
    ctx_->tracer.busy({.rank = r->rank, .start = started_, .end = ctx_->engine.now(), .compute = r->compute_busy,
                       .comm = r->exposed});
  }
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
