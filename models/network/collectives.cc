#include "models/network/collectives.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <set>

#include "models/network/mesh_rings.h"

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
  s.values("algorithms", algorithms,
           "the algorithms that run with this protocol (as NCCL's per-algorithm, per-protocol tables: e.g. an NVLS "
           "protocol with its own efficiency); empty = every algorithm");
  s.field("chunk_channels", chunk_channels,
          "NVLS only: the channels a call is split over (NCCL's nvlsChannels); it then moves in rounds of "
          "chunk_channels x GPUs chunks and pays one step_latency per round, up to 8 (NCCL_STEPS); 0 = two steps",
          Range::at_least(0));
  s.field("max_chunk", max_chunk,
          "NVLS only: the largest chunk per channel and GPU in a round (NCCL_NVLS_CHUNKSIZE); smaller calls use "
          "64, 32 or 16 KiB as NCCL does", Range::positive());
  s.field("floor_latency", floor_latency,
          "NVLS only: the least time a call takes (its launch and synchronisation, which the data pipeline "
          "overlaps): a call costs max(floor_latency, base + steps + data); 0 = none", Range::at_least(0));
  if (s.mode() != Section::Mode::kParse) return;
  if (name.empty()) s.error("name", "must not be empty");
  const auto& registered = collective_algorithms();
  for (const auto& a : algorithms) {
    if (!registered.contains(a)) s.error("algorithms", unknown_name_message("collective algorithm", a, registered.names()));
  }
}

void CollectiveConfig::visit(Section& s) {
  const auto& registered = collective_algorithms();
  std::vector<std::string> algos = {"auto"};
  std::string described;  // each algorithm's description, as `lcsim explain` and `lcsim list collectives` show it
  for (const auto& [name, e] : registered.entries()) {
    algos.push_back(name);
    described += "; " + name + ": " + e.description;
  }
  s.choice("algorithm", algorithm, algos,
           "collective algorithm; auto = per call, the fastest by the tuner's estimate (like NCCL's tuner); a name "
           "pins it where it applies" + described);
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
  s.field("part_calibration", part_calibration,
          "without protocols here, use the accelerator's measured collective calibration (its catalog entry's "
          "collectives: protocols and send/recv efficiency; docs/calibration.md); false: the built-in defaults");
  s.field("p2p_latency", p2p_latency, "fixed latency of one point-to-point send/recv", Range::at_least(0));
  s.field("p2p_scale_up_efficiency", p2p_scale_up_efficiency,
          "fraction of scale-up bandwidth a send/recv achieves (no reduction, no ring); 0 = scale_up_efficiency",
          Range::between(0, 1));
  s.field("p2p_scale_out_efficiency", p2p_scale_out_efficiency,
          "fraction of scale-out bandwidth a send/recv achieves; 0 = scale_out_efficiency", Range::between(0, 1));
  s.field("all_to_all_scale_out_efficiency", all_to_all_scale_out_efficiency,
          "fraction of the NIC's line rate an all-to-all's traffic between nodes achieves (NCCL's grouped sends to "
          "every peer); 0 = the part's calibration where it has one (H100: fitted to measured expert all-to-alls, "
          "docs/calibration.md), else scale_out_efficiency",
          Range::between(0, 1));
  s.field("all_gather_scale_up_factor", all_gather_scale_up_factor,
          "multiplies an all-gather's scale-up efficiency: the fraction of the all-reduce kernels' bus bandwidth over "
          "the scale-up links that NCCL's all-gather kernels reach; 0 = the part's calibration where it has one "
          "(H100, H200: fitted to measured all-gather tables, docs/calibration.md), else 1",
          Range::between(0, 1));
  s.field("reduce_scatter_scale_up_factor", reduce_scatter_scale_up_factor,
          "the same for a reduce-scatter; 0 = the part's calibration where it has one, else 1", Range::between(0, 1));
  if (s.mode() != Section::Mode::kParse || protocols.empty()) return;
  std::set<std::string> names;
  bool across_nodes = false;
  for (const auto& p : protocols) {
    if (!names.insert(p.name).second) s.error("protocols", "two protocols are named '" + p.name + "'");
    const bool rings = p.algorithms.empty() || std::count(p.algorithms.begin(), p.algorithms.end(), "ring") > 0;
    across_nodes = across_nodes || (!p.intra_node_only && rings);
  }
  if (!across_nodes) {
    s.error("protocols", "no protocol runs rings across nodes: every protocol is intra_node_only or leaves out "
                         "'ring', so calls across nodes and operations only rings implement would have none");
  }
}

Collectives::Collectives(sim::Engine& engine, const Topology& topology, TransferModel& transfer,
                         CollectiveConfig config, uint32_t gpus_per_node)
    : engine_(engine), topology_(topology), transfer_(transfer), config_(std::move(config)) {
  channels_ = config_.channels > 0 ? static_cast<uint32_t>(config_.channels) : gpus_per_node;
  for (const auto& [name, e] : collective_algorithms().entries()) algorithms_.push_back(&e);
  std::stable_sort(algorithms_.begin(), algorithms_.end(), [](const auto* a, const auto* b) {
    return a->factory.cost->preference() < b->factory.cost->preference();
  });
  for (const auto* e : algorithms_) costs_.push_back(e->factory.cost.get());
  ring_ = algorithm_index("ring");
  if (config_.algorithm != "auto") configured_ = algorithm_index(config_.algorithm);
  protocols_ = config_.protocols;
  p2p_ = {config_.p2p_latency,
          config_.p2p_scale_up_efficiency > 0 ? config_.p2p_scale_up_efficiency : config_.scale_up_efficiency,
          config_.p2p_scale_out_efficiency > 0 ? config_.p2p_scale_out_efficiency : config_.scale_out_efficiency};
  if (protocols_.empty()) {
    CollectiveProtocol p;
    p.base_latency = config_.base_latency;
    p.step_latency = config_.step_latency;
    protocols_.push_back(p);
  }
  for (const auto& p : protocols_) {
    std::vector<size_t> allowed;
    std::vector<const policy::CollectiveCost*> costs;
    for (size_t a = 0; a < algorithms_.size(); ++a) {
      if (p.algorithms.empty() ||
          std::find(p.algorithms.begin(), p.algorithms.end(), algorithms_[a]->name) != p.algorithms.end()) {
        allowed.push_back(a);
        costs.push_back(costs_[a]);
      }
    }
    protocol_algorithms_.push_back(std::move(allowed));
    protocol_costs_.push_back(std::move(costs));
  }
}

Duration Collectives::ring_latency(size_t n) const {
  return protocols_.front().base_latency + protocols_.front().step_latency * (2.0 * (static_cast<double>(n) - 1));
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
                                             config_.scale_up_efficiency * p.scale_up_efficiency *
                                             config_.scale_up_factor(op));
  c.inter_bandwidth = Bandwidth::bytes_per_s(topology_.nic_bandwidth(ranks.front()).bps() *
                                             (op == CollectiveOp::kAllToAll ? config_.all_to_all_out(p)
                                                                            : config_.scale_out_efficiency *
                                                                                  p.scale_out_efficiency));
  const auto& first = groups.front();
  const uint32_t links = topology_.scale_up_links(first.front());
  if (links > 0 && first.size() > 1 && op != CollectiveOp::kAllToAll) {
    // A meshed node: its rings move over the links of their mesh cycles (mesh_rings: m - 1 of a GPU's links for m
    // GPUs where the mesh decomposes, fewer for 4 and 6), not over every link of the GPU.
    const size_t used = std::min<size_t>(mesh_rings(static_cast<uint32_t>(first.size())).size(), links);
    c.intra_bandwidth = c.intra_bandwidth * (static_cast<double>(used) / links);
  }
  c.base_latency = p.base_latency;
  c.step_latency = p.step_latency;
  c.chunk_channels = p.chunk_channels;
  c.max_chunk = p.max_chunk;
  c.floor_latency = p.floor_latency;
  if (op == CollectiveOp::kSendRecv) {  // each rank to the next: inside a meshed node over one link
    const double pair = ranks.size() > 1 ? topology_.scale_up_pair_share(ranks[0], ranks[1]) : 1.0;
    const double up = topology_.scale_up_bandwidth(ranks.front()).bps();
    c.intra_bandwidth = Bandwidth::bytes_per_s(up * p2p_.scale_up_efficiency * pair);
    c.inter_bandwidth = Bandwidth::bytes_per_s(topology_.nic_bandwidth(ranks.front()).bps() * p2p_.scale_out_efficiency);
    c.base_latency = p2p_.latency;
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

const std::vector<FlowRequest>& Collectives::mapped(const std::vector<FlowRequest>& flows) {
  if (endpoints_.empty()) return flows;
  mapped_flows_ = flows;  // keeps its capacity: no allocation per call once warm
  for (FlowRequest& f : mapped_flows_) {
    f.src = endpoint(f.src);
    f.dst = endpoint(f.dst);
  }
  return mapped_flows_;
}

void Collectives::transfer(const std::vector<FlowRequest>& flows, sim::Callback done, sim::Callback failed) {
  transfer_.transfer(mapped(flows), std::move(done), std::move(failed));
}

void Collectives::transfer_to(const std::vector<FlowRequest>& flows, sim::EventSink* done, uint64_t tag) {
  transfer_.transfer_to(mapped(flows), done, tag);
}

size_t Collectives::algorithm_index(const std::string& name) const {
  for (size_t i = 0; i < algorithms_.size(); ++i) {
    if (algorithms_[i]->name == name) return i;
  }
  throw InputError(unknown_name_message("collective algorithm", name, collective_algorithms().names()));
}

std::string Collectives::algorithm_for(CollectiveOp op, const std::vector<uint32_t>& ranks, Bytes size) const {
  return choose(op, ranks, size).algo;
}

Collectives::Choice Collectives::choose(CollectiveOp op, const std::vector<uint32_t>& ranks, Bytes size,
                                        std::optional<std::string> algo) const {
  std::vector<uint32_t> scratch;
  std::optional<size_t> pinned;
  if (algo) pinned = algorithm_index(*algo);
  const IndexChoice c = choose_endpoints(op, mapped(ranks, scratch), size, pinned);
  return {algorithms_[c.algo]->name, c.protocol};
}

Collectives::IndexChoice Collectives::choose_endpoints(CollectiveOp op, const std::vector<uint32_t>& ranks,
                                                       Bytes size, std::optional<size_t> algo) const {
  const bool one_node = by_node(ranks).size() == 1;
  // Over the protocols that apply (intra_node_only ones only inside one node), the (algorithm, protocol) pair with
  // the smallest tuner estimate (CollectiveCost::tuner_estimate: NCCL's tuner's line). `pin`: only that algorithm,
  // with the protocols that run it (and, for the scenario's pin, only where it applies); none: the tuner's choice
  // per protocol.
  auto search = [&](std::optional<size_t> pin, bool must_apply) {
    std::optional<IndexChoice> best;
    double best_t = std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < protocols_.size(); ++i) {
      if (protocols_[i].intra_node_only && !one_node) continue;
      const auto& allowed = protocol_algorithms_[i];
      const policy::CollectiveCase c = describe(op, ranks, size, protocols_[i]);
      size_t a = 0;
      if (pin) {
        if (std::find(allowed.begin(), allowed.end(), *pin) == allowed.end()) continue;
        if (must_apply && !costs_[*pin]->applies(c)) continue;
        a = *pin;
      } else {
        const auto pick = policy::choose(protocol_costs_[i], c);
        if (!pick) continue;  // nothing this protocol runs applies to the call
        a = allowed[*pick];
      }
      const double t = costs_[a]->tuner_estimate(c).s();
      if (!best || t < best_t) {
        best = IndexChoice{a, i};
        best_t = t;
      }
      // Send/recv does not depend on the collective protocol: the first one that applies stands for all.
      if (op == CollectiveOp::kSendRecv) break;
    }
    return best;
  };
  std::optional<IndexChoice> best;
  if (algo) {
    best = search(algo, false);
  } else {
    if (configured_ < costs_.size()) best = search(configured_, true);  // the scenario's pin, where it applies
    if (!best) best = search(std::nullopt, false);
  }
  LCSIM_ASSERT(best.has_value(), "no collective protocol runs this call (validated: one runs rings across nodes)");
  return *best;
}

std::vector<FlowRequest> Collectives::ring_all_reduce_flows(const std::vector<uint32_t>& ranks, Bytes size) const {
  return plan(CollectiveOp::kAllReduce, "ring", ranks, size).front().flows;
}

std::vector<Collectives::Phase> Collectives::plan(CollectiveOp op, const std::string& algo,
                                                  const std::vector<uint32_t>& ranks, Bytes size,
                                                  size_t protocol) const {
  std::vector<uint32_t> scratch;
  return plan_endpoints(op, algorithm_index(algo), mapped(ranks, scratch), size, protocol);
}

std::vector<Collectives::Phase> Collectives::plan_endpoints(CollectiveOp op, size_t algo,
                                                            const std::vector<uint32_t>& ranks, Bytes size,
                                                            size_t protocol, bool token_dispatch) const {
  LCSIM_ASSERT(protocol < protocols_.size(), "no such collective protocol");
  LCSIM_ASSERT(algo < algorithms_.size(), "no such collective algorithm");
  const CollectiveProtocol& proto = protocols_[protocol];
  const auto groups = by_node(ranks);
  // A flow inside a node moves at scale_up_efficiency of its links (times the protocol's), one between nodes at
  // scale_out_efficiency: modelled as that many more bytes.
  const PlanInput in{.op = op,
                     .ranks = ranks,
                     .groups = groups,
                     .size = size,
                     .base = proto.base_latency,
                     .step = proto.step_latency,
                     .channels = channels_,
                     .topology = topology_,
                     .chunk_channels = proto.chunk_channels,
                     .max_chunk = proto.max_chunk,
                     .floor_latency = proto.floor_latency,
                     .scale_up_efficiency = config_.scale_up_efficiency * proto.scale_up_efficiency *
                                            config_.scale_up_factor(op),
                     .scale_out_efficiency = op == CollectiveOp::kAllToAll
                                                 ? all_to_all_out(proto, token_dispatch)
                                                 : config_.scale_out_efficiency * proto.scale_out_efficiency,
                     .p2p = p2p_};
  std::vector<Phase> phases = algorithms_[algo]->factory.planner->plan(in);
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
                      std::optional<std::string> algo, bool token_dispatch) {
  ++count_;
  if (ranks.size() < 2 || size.bytes() <= 0) {
    engine_.after(Duration(), std::move(done), sim::kCompletion);
    return;
  }
  std::vector<uint32_t> scratch;
  const std::vector<uint32_t>& eps = mapped(ranks, scratch);
  std::optional<size_t> pinned;
  if (algo) pinned = algorithm_index(*algo);
  const IndexChoice c = choose_endpoints(op, eps, size, pinned);
  auto phases = std::make_shared<std::vector<Phase>>(plan_endpoints(op, c.algo, eps, size, c.protocol, token_dispatch));
  run_phases(phases, 0, engine_.now(), std::move(done));
}

void Collectives::all_to_allv(const std::vector<uint32_t>& job_ranks, const std::vector<std::vector<Bytes>>& sizes,
                              sim::Callback done, bool token_dispatch) {
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
  const IndexChoice c = choose_endpoints(CollectiveOp::kAllToAll, ranks, largest, ring_);
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
                             : all_to_all_out(proto, token_dispatch);
      p.flows.push_back(FlowRequest{a, b, sizes[i][j] / eff, 0, true});
    }
  }
  run_phases(phases, 0, engine_.now(), std::move(done));
}

void Collectives::send(uint32_t src_rank, uint32_t dst_rank, Bytes size, sim::Callback done) {
  transfer_.transfer({p2p_flow(src_rank, dst_rank, size)}, std::move(done));
}

}  // namespace lcsim::net
