#include "models/network/collective_algorithms.h"

#include <algorithm>
#include <cmath>

#include "models/network/mesh_rings.h"
#include "policies/collective_algorithms.h"

namespace lcsim::net {
namespace {

/// The rings of a ring collective inside meshed nodes (Topology::mesh_link): the group's GPUs taken around
/// mesh_rings(m), R cycles that share no link, so that every link carries traffic (RCCL lays its MI300X rings out
/// likewise). Inside one node ring c goes around cycle c mod R, and there are at least `channels` rings, a multiple
/// of R so that every cycle carries the same share. Rings that leave the node (`across_nodes`) enter each cycle at
/// each of the m GPUs in turn (ring c: cycle (c / m) mod R, entered at c mod m), a multiple of R x m rings: every
/// GPU leaves its node (over its NIC) in as many rings as every other, and every in-node link carries the same
/// share. Null where the first group is not three or more GPUs of one meshed node (then the rings are rotations of
/// the node's own order, as on a switch).
const std::vector<std::vector<uint32_t>>* mesh_cycles(const PlanInput& in, bool across_nodes, uint32_t* rings) {
  const auto& g = in.groups.front();
  if (g.size() < 3 || in.topology.mesh_link(g[0], g[1]) < 0) return nullptr;
  const auto& cycles = mesh_rings(static_cast<uint32_t>(g.size()));
  if (cycles.empty()) return nullptr;
  const uint32_t entries = across_nodes ? static_cast<uint32_t>(g.size()) : 1;
  const uint32_t r = static_cast<uint32_t>(cycles.size()) * entries;
  *rings = r * ((std::max<uint32_t>(in.channels, 1) + r - 1) / r);
  return &cycles;
}

}  // namespace

std::vector<CollectivePhase> RingPlanner::plan(const PlanInput& in) const {
  const auto& ranks = in.ranks;
  const auto& groups = in.groups;
  const double n = static_cast<double>(ranks.size());
  const Bytes size = in.size;
  CollectivePhase p;
  double steps = n - 1, volume = (n - 1) / n;
  bool chain = false, reverse = false;
  switch (in.op) {
    case CollectiveOp::kAllReduce: steps = 2 * (n - 1); volume = 2 * (n - 1) / n; break;
    case CollectiveOp::kBroadcast: volume = 1; chain = true; break;
    case CollectiveOp::kReduce: volume = 1; chain = true; reverse = true; break;
    case CollectiveOp::kAllToAll: {
      p.latency = in.base + in.step;
      for (uint32_t a : ranks) {
        for (uint32_t b : ranks) {
          if (a == b) continue;
          p.flows.push_back(in.flow(a, b, size / n, 0));
          p.flows.back().coupled = true;
        }
      }
      return {p};
    }
    case CollectiveOp::kSendRecv: {  // every rank sends to the next: point-to-point, not the protocol's; each flow
      // carries the send/recv latency (P2pCost::flow), as a pipeline send does
      for (size_t i = 0; i < ranks.size(); ++i) {
        p.flows.push_back(in.p2p.flow(in.topology, ranks[i], ranks[(i + 1) % ranks.size()], size));
      }
      return {p};
    }
    default: break;
  }
  // Ring order of channel c: node k's ranks rotated to start at s_k = c - k, so the ring leaves node k from the
  // GPU that enters node k+1 (s_k - 1 = s_{k+1}): the network hop stays on one rail, as NCCL lays rings out on
  // rail-optimized fabrics. Over the channels every GPU leaves its node once. Inside meshed nodes each node is
  // taken around the channel's mesh cycle instead (mesh_cycles), from s_0 = c and then from the local index the
  // ring left the node before by (the same rail).
  uint32_t rings = in.channels;
  const auto* cycles = mesh_cycles(in, groups.size() > 1, &rings);
  auto ring_order = [&](uint32_t c) {
    std::vector<uint32_t> order;
    size_t start = 0;
    for (size_t k = 0; k < groups.size(); ++k) {
      const auto& g = groups[k];
      const size_t m = g.size();
      if (cycles && (*cycles)[0].size() == m) {
        const auto& cycle = (*cycles)[(groups.size() > 1 ? c / m : c) % cycles->size()];
        start = k == 0 ? c % m : start % m;
        const size_t at = static_cast<size_t>(std::find(cycle.begin(), cycle.end(), start) - cycle.begin());
        for (size_t i = 0; i < m; ++i) order.push_back(g[cycle[(at + i) % m]]);
        start = cycle[(at + m - 1) % m];
        continue;
      }
      start = ((c % m) + m * groups.size() - (k % m)) % m;
      for (size_t i = 0; i < m; ++i) order.push_back(g[(start + i) % m]);
    }
    return order;
  };
  p.latency = in.base + in.step * steps;
  for (uint32_t c = 0; c < rings; ++c) {
    const auto order = ring_order(c);
    const size_t edges = chain ? order.size() - 1 : order.size();
    for (size_t i = 0; i < edges; ++i) {
      const uint32_t a = order[i], b = order[(i + 1) % order.size()];
      const Bytes s = size * volume / rings;
      p.flows.push_back(reverse ? in.flow(b, a, s, c) : in.flow(a, b, s, c));
    }
  }
  return {p};
}

std::vector<CollectivePhase> TreePlanner::plan(const PlanInput& in) const {
  const auto& groups = in.groups;
  CollectivePhase p;
  const size_t N = groups.size();
  const size_t k = groups.front().size();
  p.latency = in.base + in.step * (2 * (std::log2(static_cast<double>(N)) + static_cast<double>(k) - 1));
  const Bytes half = in.size / 2;
  for (int t = 0; t < 2; ++t) {
    auto node_at = [&](size_t i) -> const std::vector<uint32_t>& { return groups[t == 0 ? i : N - 1 - i]; };
    auto leader = [&](size_t i) { const auto& g = node_at(i); return t == 0 ? g.front() : g.back(); };
    for (size_t i = 1; i < N; ++i) {
      const uint32_t child = leader(i), parent = leader((i - 1) / 2);
      p.flows.push_back(in.flow(child, parent, half, t));
      p.flows.push_back(in.flow(parent, child, half, t));
    }
    // The chains inside the nodes, at NCCL's tree correction (policy::kTreeChainEfficiency: as that many more bytes).
    const Bytes chained = half / policy::kTreeChainEfficiency;
    for (size_t i = 0; i < N; ++i) {
      const auto& g = node_at(i);
      for (size_t j = 0; j + 1 < g.size(); ++j) {
        const uint32_t a = t == 0 ? g[j] : g[g.size() - 1 - j], b = t == 0 ? g[j + 1] : g[g.size() - 2 - j];
        p.flows.push_back(in.flow(a, b, chained, t));
        p.flows.push_back(in.flow(b, a, chained, t));
      }
    }
  }
  return {p};
}

std::vector<CollectivePhase> HierarchicalPlanner::plan(const PlanInput& in) const {
  const auto& groups = in.groups;
  const Bytes size = in.size;
  const double k = static_cast<double>(groups.front().size()), N = static_cast<double>(groups.size());
  CollectivePhase rs, ar, ag;
  rs.latency = ag.latency = in.base + in.step * (k - 1);
  ar.latency = in.base + in.step * (2 * (N - 1));
  // The intra-node rings: rotations of the node's order, or inside meshed nodes its mesh cycles (mesh_cycles).
  uint32_t rings = in.channels;
  const auto* cycles = mesh_cycles(in, false, &rings);
  for (const auto& g : groups) {
    const size_t m = g.size();
    for (uint32_t c = 0; c < rings; ++c) {
      for (size_t i = 0; i < m; ++i) {
        uint32_t a = g[(i + c) % m], b = g[(i + c + 1) % m];
        if (cycles) {
          const auto& cycle = (*cycles)[c % cycles->size()];
          a = g[cycle[i]];
          b = g[cycle[(i + 1) % m]];
        }
        rs.flows.push_back(in.flow(a, b, size * ((k - 1) / k) / rings, c));
        ag.flows.push_back(in.flow(a, b, size * ((k - 1) / k) / rings, c));
      }
    }
  }
  for (size_t j = 0; j < groups.front().size(); ++j) {  // rail j: the j-th GPU of every node
    for (size_t i = 0; i < groups.size(); ++i) {
      ar.flows.push_back(in.flow(groups[i][j], groups[(i + 1) % groups.size()][j], size / k * (2 * (N - 1) / N), j));
    }
  }
  return {rs, ar, ag};
}

std::vector<CollectivePhase> NvlsPlanner::plan(const PlanInput& in) const {
  CollectivePhase p;
  const auto& r = in.ranks;
  const int n = static_cast<int>(r.size());
  const Bytes each = in.size * policy::nvls_traffic(n);  // through the switch, each way (S + S/n)
  for (size_t i = 0; i < r.size(); ++i) p.flows.push_back(in.flow(r[i], r[(i + 1) % r.size()], each, 0));
  // The pipeline's fill and the floor are time, not traffic: both are priced at the flows' rate on an idle link
  // (as NvlsCost::estimate), the fill added to the latency, the floor less the flows' time bounding it below.
  const double link = in.topology.scale_up_bandwidth(r[0]).bps();
  const Bytes fill = policy::nvls_fill(in.size, n, in.chunk_channels, in.max_chunk);
  const Duration data = Duration::seconds(p.flows.front().size.bytes() / link);
  p.latency = in.base + in.step * policy::nvls_steps(in.size, n, in.chunk_channels, in.max_chunk) +
              (in.size.bytes() > 0 ? data * (fill.bytes() / in.size.bytes()) : Duration::seconds(0));
  p.latency = std::max(p.latency, in.floor_latency - data);
  return {p};
}

std::vector<CollectivePhase> HalvingDoublingPlanner::plan(const PlanInput& in) const {
  const auto& ranks = in.ranks;
  const double n = static_cast<double>(ranks.size());
  const size_t levels = static_cast<size_t>(std::log2(n) + 0.5);
  auto exchange = [&](size_t level, Duration lat) {  // level 1: partners n/2 apart, S/2 each way
    CollectivePhase p;
    p.latency = lat;
    const size_t d = ranks.size() >> level;
    for (size_t r = 0; r < ranks.size(); ++r) {
      p.flows.push_back(in.flow(ranks[r], ranks[r ^ d], in.size / static_cast<double>(1u << level), 0));
    }
    return p;
  };
  std::vector<CollectivePhase> phases;
  const bool rs = in.op != CollectiveOp::kAllGather, ag = in.op != CollectiveOp::kReduceScatter;
  if (rs) for (size_t l = 1; l <= levels; ++l) phases.push_back(exchange(l, l == 1 ? in.base + in.step : in.step));
  if (ag) for (size_t l = levels; l >= 1; --l) phases.push_back(exchange(l, !rs && l == levels ? in.base + in.step : in.step));
  return phases;
}

void register_collective_algorithms(CollectiveAlgorithms& r) {
  r.add("ring",
        "one ring per channel, each entering and leaving a node through a different GPU and NIC; every operation",
        {std::make_shared<policy::RingCost>(), std::make_shared<RingPlanner>()});
  r.add("tree",
        "double binary tree across nodes, chains inside (NCCL's tree); all-reduce over several nodes, or one node's "
        "chain when pinned",
        {std::make_shared<policy::TreeCost>(), std::make_shared<TreePlanner>()});
  r.add("hierarchical",
        "intra-node reduce-scatter, rail-aligned inter-node all-reduce, intra-node all-gather; all-reduce, equal "
        "GPUs per node",
        {std::make_shared<policy::HierarchicalCost>(), std::make_shared<HierarchicalPlanner>()});
  r.add("nvls", "in-switch reduction on NVLS-class scale-up switches; all-reduce inside one node",
        {std::make_shared<policy::NvlsCost>(), std::make_shared<NvlsPlanner>()});
  r.add("halving_doubling",
        "recursive halving-doubling; all-reduce, reduce-scatter, all-gather on a power-of-two rank count (only "
        "when pinned)",
        {std::make_shared<policy::HalvingDoublingCost>(), std::make_shared<HalvingDoublingPlanner>()});
}

const CollectiveAlgorithms& collective_algorithms() {
  static const CollectiveAlgorithms algorithms = [] {
    CollectiveAlgorithms r("collective algorithm");
    register_collective_algorithms(r);
    return r;
  }();
  return algorithms;
}

}  // namespace lcsim::net
