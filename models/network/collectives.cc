#include "models/network/collectives.h"

#include <cmath>
#include <limits>
#include <memory>
#include <set>

namespace lcsim::net {

void CollectiveProtocol::visit(Section& s) {
  s.field("name", name, "the protocol's name (shown in nccl_tests' algorithm column, e.g. simple, ll128, ll)");
  s.field("base_latency", base_latency, "fixed latency of one collective phase with this protocol (NCCL baseLat)",
          Range::at_least(0));
  s.field("step_latency", step_latency, "latency of each algorithm step with this protocol (NCCL hwLat)",
          Range::at_least(0));
  s.field("scale_up_efficiency", scale_up_efficiency,
          "fraction of scale-up bandwidth this protocol reaches; multiplies collectives.scale_up_efficiency",
          Range::fraction());
  s.field("scale_out_efficiency", scale_out_efficiency,
          "fraction of scale-out bandwidth this protocol reaches; multiplies collectives.scale_out_efficiency",
          Range::fraction());
  s.field("intra_node_only", intra_node_only,
          "only for calls inside one node (NCCL enables LL128 on A100 only when no network is on the path)");
  if (s.mode() == Section::Mode::kParse && name.empty()) s.error("name", "must not be empty");
}

void CollectiveConfig::visit(Section& s) {
  std::vector<std::string> algos = {"auto"};
  for (const auto& a : policy::collective_algo_names()) algos.push_back(a);
  s.choice("algorithm", algorithm, algos,
           "collective algorithm; auto = per call, the fastest by the tuner's estimate (like NCCL's tuner)");
  s.field("channels", channels, "rings run in parallel, each with 1/channels of the data; 0 = GPUs per node",
          Range::at_least(0));
  s.field("base_latency", base_latency, "fixed latency of one collective phase (NCCL ring/simple baseLat)",
          Range::at_least(0));
  s.field("step_latency", step_latency, "latency of each algorithm step (NCCL ring/simple hwLat)",
          Range::at_least(0));
  s.field("qps_per_connection", qps_per_connection,
          "flows per connection between nodes (NCCL_IB_QPS_PER_CONNECTION): each carries an equal share and has its "
          "own label, so ECMP hashes them apart",
          Range::between(1, 64));
  s.field("scale_up_efficiency", scale_up_efficiency,
          "fraction of scale-up link bandwidth that collective traffic achieves (protocol overhead; calibrated)",
          Range::fraction());
  s.field("scale_out_efficiency", scale_out_efficiency,
          "fraction of scale-out link bandwidth that collective traffic achieves (protocol overhead; calibrated)",
          Range::fraction());
  s.list("protocols",
         "NCCL-style protocols (e.g. ll128 and simple), each with its latencies and bandwidth efficiencies; every "
         "call runs the fastest by the tuner's estimate. Empty: one protocol from base_latency and step_latency",
         protocols, [](Section& x, CollectiveProtocol& p) { p.visit(x); });
  s.field("p2p_latency", p2p_latency, "fixed latency of one point-to-point send/recv", Range::at_least(0));
  s.field("p2p_scale_up_efficiency", p2p_scale_up_efficiency,
          "fraction of scale-up bandwidth a send/recv achieves (no reduction, no ring); 0 = scale_up_efficiency",
          Range::between(0, 1));
  s.field("p2p_scale_out_efficiency", p2p_scale_out_efficiency,
          "fraction of scale-out bandwidth a send/recv achieves; 0 = scale_out_efficiency", Range::between(0, 1));
  if (s.mode() != Section::Mode::kParse || protocols.empty()) return;
  std::set<std::string> names;
  bool across_nodes = false;
  for (const auto& p : protocols) {
    if (!names.insert(p.name).second) s.error("protocols", "two protocols are named '" + p.name + "'");
    across_nodes = across_nodes || !p.intra_node_only;
  }
  if (!across_nodes) s.error("protocols", "every protocol is intra_node_only: calls across nodes would have none");
}

Collectives::Collectives(sim::Engine& engine, const Topology& topology, TransferModel& transfer,
                         CollectiveConfig config, uint32_t gpus_per_node)
    : engine_(engine), topology_(topology), transfer_(transfer), config_(std::move(config)) {
  channels_ = config_.channels > 0 ? static_cast<uint32_t>(config_.channels) : gpus_per_node;
  protocols_ = config_.protocols;
  if (protocols_.empty()) {
    CollectiveProtocol p;
    p.base_latency = config_.base_latency;
    p.step_latency = config_.step_latency;
    protocols_.push_back(p);
  }
}

Duration Collectives::ring_latency(size_t n) const {
  return protocols_.front().base_latency + protocols_.front().step_latency * (2.0 * (static_cast<double>(n) - 1));
}

double Collectives::p2p_efficiency(uint32_t a, uint32_t b) const {
  if (topology_.node_of(a) == topology_.node_of(b)) {
    return config_.p2p_scale_up_efficiency > 0 ? config_.p2p_scale_up_efficiency : config_.scale_up_efficiency;
  }
  return config_.p2p_scale_out_efficiency > 0 ? config_.p2p_scale_out_efficiency : config_.scale_out_efficiency;
}

std::vector<std::vector<uint32_t>> Collectives::by_node(const std::vector<uint32_t>& ranks) const {
  std::vector<std::vector<uint32_t>> groups;
  for (uint32_t r : ranks) {
    if (groups.empty() || topology_.node_of(groups.back().front()) != topology_.node_of(r)) groups.emplace_back();
    groups.back().push_back(r);
  }
  return groups;
}

policy::CollectiveCase Collectives::describe(CollectiveOp op, const std::vector<uint32_t>& ranks, Bytes size,
                                             const CollectiveProtocol& p) const {
  policy::CollectiveCase c;
  c.op = op;
  c.bytes = size;
  c.ranks = static_cast<int>(ranks.size());
  const auto groups = by_node(ranks);
  c.nodes = static_cast<int>(groups.size());
  c.ranks_per_node = static_cast<int>(groups.front().size());
  for (const auto& g : groups) {
    if (static_cast<int>(g.size()) != c.ranks_per_node) c.ranks_per_node = 0;  // uneven: no hierarchical
  }
  c.intra_bandwidth = Bandwidth::bytes_per_s(topology_.scale_up_bandwidth(ranks.front()).bps() *
                                             config_.scale_up_efficiency * p.scale_up_efficiency);
  c.inter_bandwidth = Bandwidth::bytes_per_s(topology_.nic_bandwidth(ranks.front()).bps() *
                                             config_.scale_out_efficiency * p.scale_out_efficiency);
  c.base_latency = p.base_latency;
  c.step_latency = p.step_latency;
  if (op == CollectiveOp::kSendRecv) {
    c.intra_bandwidth = Bandwidth::bytes_per_s(
        topology_.scale_up_bandwidth(ranks.front()).bps() *
        (config_.p2p_scale_up_efficiency > 0 ? config_.p2p_scale_up_efficiency : config_.scale_up_efficiency));
    c.inter_bandwidth = Bandwidth::bytes_per_s(
        topology_.nic_bandwidth(ranks.front()).bps() *
        (config_.p2p_scale_out_efficiency > 0 ? config_.p2p_scale_out_efficiency : config_.scale_out_efficiency));
    c.base_latency = config_.p2p_latency;
  }
  c.in_switch_reduction = true;
  for (const auto& g : groups) c.in_switch_reduction = c.in_switch_reduction && topology_.in_switch_reduction(g.front());
  return c;
}

void Collectives::set_endpoints(std::vector<uint32_t> rank_to_endpoint) { endpoints_ = std::move(rank_to_endpoint); }

uint32_t Collectives::endpoint(uint32_t rank) const {
  if (endpoints_.empty()) return rank;
  LCSIM_ASSERT(rank < endpoints_.size(), "rank outside the job's allocation");
  return endpoints_[rank];
}

const std::vector<uint32_t>& Collectives::mapped(const std::vector<uint32_t>& ranks,
                                                 std::vector<uint32_t>& scratch) const {
  if (endpoints_.empty()) return ranks;
  scratch.clear();
  for (uint32_t r : ranks) scratch.push_back(endpoint(r));
  return scratch;
}

void Collectives::transfer(std::vector<FlowRequest> flows, sim::Callback done, sim::Callback failed) {
  if (!endpoints_.empty()) {
    for (FlowRequest& f : flows) {
      f.src = endpoint(f.src);
      f.dst = endpoint(f.dst);
    }
  }
  transfer_.transfer(flows, std::move(done), std::move(failed));
}

CollectiveAlgo Collectives::algorithm_for(CollectiveOp op, const std::vector<uint32_t>& ranks, Bytes size) const {
  return choose(op, ranks, size).algo;
}

Collectives::Choice Collectives::choose(CollectiveOp op, const std::vector<uint32_t>& ranks, Bytes size,
                                        std::optional<CollectiveAlgo> algo) const {
  std::vector<uint32_t> scratch;
  return choose_endpoints(op, mapped(ranks, scratch), size, algo);
}

Collectives::Choice Collectives::choose_endpoints(CollectiveOp op, const std::vector<uint32_t>& ranks, Bytes size,
                                                  std::optional<CollectiveAlgo> algo) const {
  const bool one_node = by_node(ranks).size() == 1;
  Choice best;
  double best_t = std::numeric_limits<double>::infinity();
  bool found = false;
  for (size_t i = 0; i < protocols_.size(); ++i) {
    if (protocols_[i].intra_node_only && !one_node) continue;
    const policy::CollectiveCase c = describe(op, ranks, size, protocols_[i]);
    CollectiveAlgo a = policy::choose(c);
    if (algo) {
      a = *algo;
    } else if (config_.algorithm != "auto") {
      const CollectiveAlgo pinned = policy::parse_algo(config_.algorithm);
      if (policy::applies(pinned, c)) a = pinned;
    }
    const double t = policy::estimate(a, c).s();
    if (!found || t < best_t) {
      best = {a, i};
      best_t = t;
      found = true;
    }
    // Send/recv does not depend on the collective protocol: the first one that applies stands for all.
    if (op == CollectiveOp::kSendRecv) break;
  }
  LCSIM_ASSERT(found, "no collective protocol applies (validated: one is not intra_node_only)");
  return best;
}

std::vector<FlowRequest> Collectives::ring_all_reduce_flows(const std::vector<uint32_t>& ranks, Bytes size) const {
  return plan(CollectiveOp::kAllReduce, CollectiveAlgo::kRing, ranks, size).front().flows;
}

std::vector<Collectives::Phase> Collectives::plan(CollectiveOp op, CollectiveAlgo algo,
                                                  const std::vector<uint32_t>& ranks, Bytes size,
                                                  size_t protocol) const {
  std::vector<uint32_t> scratch;
  return plan_endpoints(op, algo, mapped(ranks, scratch), size, protocol);
}

std::vector<Collectives::Phase> Collectives::plan_endpoints(CollectiveOp op, CollectiveAlgo algo,
                                                            const std::vector<uint32_t>& ranks, Bytes size,
                                                            size_t protocol) const {
  LCSIM_ASSERT(protocol < protocols_.size(), "no such collective protocol");
  const CollectiveProtocol& proto = protocols_[protocol];
  const double n = static_cast<double>(ranks.size());
  const Duration base = proto.base_latency, step = proto.step_latency;
  // A flow inside a node moves at scale_up_efficiency of its links (times the protocol's), one between nodes at
  // scale_out_efficiency: modelled as that many more bytes.
  auto flow = [this, &proto](uint32_t a, uint32_t b, Bytes s, uint64_t label) {
    const double eff = topology_.node_of(a) == topology_.node_of(b)
                           ? config_.scale_up_efficiency * proto.scale_up_efficiency
                           : config_.scale_out_efficiency * proto.scale_out_efficiency;
    return FlowRequest{a, b, s / eff, label};
  };
  const auto groups = by_node(ranks);
  std::vector<Phase> phases;

  // Ring order of channel c: node k's ranks rotated to start at s_k = c - k, so the ring leaves node k from the
  // GPU that enters node k+1 (s_k - 1 = s_{k+1}): the network hop stays on one rail, as NCCL lays rings out on
  // rail-optimized fabrics. Over the channels every GPU leaves its node once.
  auto ring_order = [&](uint32_t c) {
    std::vector<uint32_t> order;
    for (size_t k = 0; k < groups.size(); ++k) {
      const auto& g = groups[k];
      const size_t m = g.size();
      const size_t start = ((c % m) + m * groups.size() - (k % m)) % m;
      for (size_t i = 0; i < m; ++i) order.push_back(g[(start + i) % m]);
    }
    return order;
  };

  switch (algo) {
    case CollectiveAlgo::kRing: {
      Phase p;
      double steps = n - 1, volume = (n - 1) / n;
      bool chain = false, reverse = false;
      switch (op) {
        case CollectiveOp::kAllReduce: steps = 2 * (n - 1); volume = 2 * (n - 1) / n; break;
        case CollectiveOp::kBroadcast: volume = 1; chain = true; break;
        case CollectiveOp::kReduce: volume = 1; chain = true; reverse = true; break;
        case CollectiveOp::kAllToAll: {
          p.latency = base + step;
          for (uint32_t a : ranks) {
            for (uint32_t b : ranks) {
              if (a != b) p.flows.push_back(flow(a, b, size / n, 0));
            }
          }
          return {p};
        }
        case CollectiveOp::kSendRecv: {  // every rank sends to the next: point-to-point, not the protocol's
          p.latency = config_.p2p_latency;
          for (size_t i = 0; i < ranks.size(); ++i) {
            const uint32_t a = ranks[i], b = ranks[(i + 1) % ranks.size()];
            p.flows.push_back(FlowRequest{a, b, size / p2p_efficiency(a, b), 0});
          }
          return {p};
        }
        default: break;
      }
      p.latency = base + step * steps;
      for (uint32_t c = 0; c < channels_; ++c) {
        const auto order = ring_order(c);
        const size_t edges = chain ? order.size() - 1 : order.size();
        for (size_t i = 0; i < edges; ++i) {
          const uint32_t a = order[i], b = order[(i + 1) % order.size()];
          p.flows.push_back(reverse ? flow(b, a, size * volume / channels_, c) : flow(a, b, size * volume / channels_, c));
        }
      }
      phases.push_back(std::move(p));
      break;
    }
    case CollectiveAlgo::kTree: {
      // Two binary trees over the nodes (the second mirrors the first), a chain inside each node from its
      // leader; each tree reduces half the data up and broadcasts it down, pipelined: one wave.
      Phase p;
      const size_t N = groups.size();
      const size_t k = groups.front().size();
      p.latency = base + step * (2 * (std::log2(static_cast<double>(N)) + static_cast<double>(k) - 1));
      const Bytes half = size / 2;
      for (int t = 0; t < 2; ++t) {
        auto node_at = [&](size_t i) -> const std::vector<uint32_t>& { return groups[t == 0 ? i : N - 1 - i]; };
        auto leader = [&](size_t i) { const auto& g = node_at(i); return t == 0 ? g.front() : g.back(); };
        for (size_t i = 1; i < N; ++i) {
          const uint32_t child = leader(i), parent = leader((i - 1) / 2);
          p.flows.push_back(flow(child, parent, half, t));
          p.flows.push_back(flow(parent, child, half, t));
        }
        for (size_t i = 0; i < N; ++i) {
          const auto& g = node_at(i);
          for (size_t j = 0; j + 1 < g.size(); ++j) {
            const uint32_t a = t == 0 ? g[j] : g[g.size() - 1 - j], b = t == 0 ? g[j + 1] : g[g.size() - 2 - j];
            p.flows.push_back(flow(a, b, half, t));
            p.flows.push_back(flow(b, a, half, t));
          }
        }
      }
      phases.push_back(std::move(p));
      break;
    }
    case CollectiveAlgo::kHierarchical: {
      const double k = static_cast<double>(groups.front().size()), N = static_cast<double>(groups.size());
      Phase rs, ar, ag;
      rs.latency = ag.latency = base + step * (k - 1);
      ar.latency = base + step * (2 * (N - 1));
      for (const auto& g : groups) {
        for (uint32_t c = 0; c < channels_; ++c) {
          for (size_t i = 0; i < g.size(); ++i) {
            const uint32_t a = g[(i + c) % g.size()], b = g[(i + c + 1) % g.size()];
            rs.flows.push_back(flow(a, b, size * ((k - 1) / k) / channels_, c));
            ag.flows.push_back(flow(a, b, size * ((k - 1) / k) / channels_, c));
          }
        }
      }
      for (size_t j = 0; j < groups.front().size(); ++j) {  // rail j: the j-th GPU of every node
        for (size_t i = 0; i < groups.size(); ++i) {
          ar.flows.push_back(flow(groups[i][j], groups[(i + 1) % groups.size()][j], size / k * (2 * (N - 1) / N), j));
        }
      }
      phases = {rs, ar, ag};
      break;
    }
    case CollectiveAlgo::kNvls: {
      // The switch reduces and multicasts: every GPU pushes its buffer up once and receives the result once.
      Phase p;
      p.latency = base + step * 2.0;
      for (size_t i = 0; i < ranks.size(); ++i) p.flows.push_back(flow(ranks[i], ranks[(i + 1) % ranks.size()], size, 0));
      phases.push_back(std::move(p));
      break;
    }
    case CollectiveAlgo::kHalvingDoubling: {
      const size_t levels = static_cast<size_t>(std::log2(n) + 0.5);
      auto exchange = [&](size_t level, Duration lat) {  // level 1: partners n/2 apart, S/2 each way
        Phase p;
        p.latency = lat;
        const size_t d = ranks.size() >> level;
        for (size_t r = 0; r < ranks.size(); ++r) {
          p.flows.push_back(flow(ranks[r], ranks[r ^ d], size / static_cast<double>(1u << level), 0));
        }
        return p;
      };
      const bool rs = op != CollectiveOp::kAllGather, ag = op != CollectiveOp::kReduceScatter;
      if (rs) for (size_t l = 1; l <= levels; ++l) phases.push_back(exchange(l, l == 1 ? base + step : step));
      if (ag) for (size_t l = levels; l >= 1; --l) phases.push_back(exchange(l, !rs && l == levels ? base + step : step));
      break;
    }
  }
  // Connections between nodes open several queue pairs: split each such flow into equal parts with their own
  // labels (so ECMP sees distinct flows).
  const uint32_t q = static_cast<uint32_t>(config_.qps_per_connection);
  if (q > 1) {
    for (auto& p : phases) {
      std::vector<FlowRequest> split;
      for (const auto& f : p.flows) {
        if (topology_.node_of(f.src) == topology_.node_of(f.dst)) {
          split.push_back(f);
          continue;
        }
        for (uint32_t i = 0; i < q; ++i) split.push_back({f.src, f.dst, f.size / q, f.label * q + i});
      }
      p.flows = std::move(split);
    }
  }
  return phases;
}

void Collectives::run_phases(std::shared_ptr<std::vector<Phase>> phases, size_t i, Duration start,
                             sim::Callback done) {
  if (i == phases->size()) {
    busy_ += engine_.now() - start;
    done();
    return;
  }
  engine_.after((*phases)[i].latency, [this, phases, i, start, done = std::move(done)]() mutable {
    transfer_.transfer((*phases)[i].flows, [this, phases, i, start, done = std::move(done)]() mutable {
      run_phases(phases, i + 1, start, std::move(done));
    });
  }, sim::kCompletion);
}

void Collectives::run(CollectiveOp op, const std::vector<uint32_t>& ranks, Bytes size, sim::Callback done,
                      std::optional<CollectiveAlgo> algo) {
  ++count_;
  if (ranks.size() < 2 || size.bytes() <= 0) {
    engine_.after(Duration(), std::move(done), sim::kCompletion);
    return;
  }
  std::vector<uint32_t> scratch;
  const std::vector<uint32_t>& eps = mapped(ranks, scratch);
  const Choice c = choose_endpoints(op, eps, size, algo);
  auto phases = std::make_shared<std::vector<Phase>>(plan_endpoints(op, c.algo, eps, size, c.protocol));
  run_phases(phases, 0, engine_.now(), std::move(done));
}

void Collectives::all_to_allv(const std::vector<uint32_t>& job_ranks, const std::vector<std::vector<Bytes>>& sizes,
                              sim::Callback done) {
  ++count_;
  std::vector<uint32_t> scratch;
  const std::vector<uint32_t>& ranks = mapped(job_ranks, scratch);
  LCSIM_ASSERT(sizes.size() == ranks.size(), "all_to_allv: one row of sizes per rank");
  Bytes largest;
  for (const auto& row : sizes) {
    LCSIM_ASSERT(row.size() == ranks.size(), "all_to_allv: one size per pair");
    Bytes sum;
    for (const Bytes& b : row) sum += b;
    largest = std::max(largest, sum);
  }
  if (ranks.size() < 2 || largest.bytes() <= 0) {
    engine_.after(Duration(), std::move(done), sim::kCompletion);
    return;
  }
  const Choice c = choose_endpoints(CollectiveOp::kAllToAll, ranks, largest, CollectiveAlgo::kRing);
  const CollectiveProtocol& proto = protocols_[c.protocol];
  auto phases = std::make_shared<std::vector<Phase>>(1);
  Phase& p = phases->front();
  p.latency = proto.base_latency + proto.step_latency;
  for (size_t i = 0; i < ranks.size(); ++i) {
    for (size_t j = 0; j < ranks.size(); ++j) {
      if (i == j || sizes[i][j].bytes() <= 0) continue;
      const uint32_t a = ranks[i], b = ranks[j];
      const double eff = topology_.node_of(a) == topology_.node_of(b)
                             ? config_.scale_up_efficiency * proto.scale_up_efficiency
                             : config_.scale_out_efficiency * proto.scale_out_efficiency;
      p.flows.push_back(FlowRequest{a, b, sizes[i][j] / eff, 0});
    }
  }
  run_phases(phases, 0, engine_.now(), std::move(done));
}

void Collectives::send(uint32_t src_rank, uint32_t dst_rank, Bytes size, sim::Callback done) {
  const uint32_t src = endpoint(src_rank), dst = endpoint(dst_rank);
  std::vector<FlowRequest> flows{FlowRequest{src, dst, size / p2p_efficiency(src, dst), 0}};
  engine_.after(config_.p2p_latency, [this, flows = std::move(flows), done = std::move(done)]() mutable {
    transfer_.transfer(flows, std::move(done));
  }, sim::kCompletion);
}

}  // namespace lcsim::net
