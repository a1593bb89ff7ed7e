// A switchless full mesh (AMD Infinity Fabric: MI300X, MI325X) as lcsim models it: one link per ordered pair of a
// node's GPUs, and ring collectives laid out over cycles that share no link. Every expected time below is derived
// by hand from the link bandwidth (448 GB/s per GPU over 7 links: 64 GB/s each) and the two 0.5 us scale-up hops.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>

#include "models/network/collectives.h"
#include "models/network/explicit_topology.h"
#include "models/network/graph.h"
#include "models/network/mesh_rings.h"
#include "models/network/topology.h"
#include "models/network/transfer.h"
#include "policies/load_balancing.h"
#include "sim/engine.h"

namespace lcsim::net {
namespace {

constexpr double kLink = 64e9;       // 448 GB/s / 7 links
constexpr double kLatency = 1e-6;    // the pair's link carries the two 0.5 us hops of a switched pair
const double kS = 64.0 * (1 << 20);  // bytes per flow

/// One node of 8 GPUs with 448 GB/s of scale-up each: a mesh of 7 links per GPU, or (links 0) an NVSwitch.
struct Node {
  std::unique_ptr<sim::Engine> engine = sim::make_engine("queue");
  LeafSpine topology;
  policy::Spray spray;
  AnalyticalTransfer transfer;
  Collectives collectives;
  explicit Node(uint32_t links, uint32_t gpus = 8)
      : topology(LeafSpineConfig{}, {NodeShape{gpus, Bandwidth::gbytes_per_s(448), Bandwidth::gbits_per_s(400),
                                               false, {}, {}, links}}),
        transfer(*engine, topology, spray, {}),
        collectives(*engine, topology, transfer, CollectiveConfig{}, gpus) {}

  double seconds(const std::vector<FlowRequest>& flows) { return transfer.estimate(flows).s(); }
  /// Bus bandwidth of a ring all-reduce of kS bytes on the first n GPUs: 2(n-1)/n x S over the time its flows take.
  double ring_busbw(uint32_t n) {
    std::vector<uint32_t> ranks;
    for (uint32_t r = 0; r < n; ++r) ranks.push_back(r);
    const auto phases = collectives.plan(CollectiveOp::kAllReduce, "ring", ranks, Bytes::of(kS));
    double t = 0;
    for (const auto& p : phases) t += transfer.estimate(p.flows).s() - kLatency;
    return 2.0 * (n - 1) / n * kS / t;
  }
};

FlowRequest flow(uint32_t a, uint32_t b) { return FlowRequest{a, b, Bytes::of(kS), 0}; }

TEST(Mesh, EveryPairOfAMeshedNodeHasItsOwnLink) {
  Node mesh(7);
  std::vector<Path> p;
  std::set<uint32_t> links;
  for (uint32_t a = 0; a < 8; ++a) {
    for (uint32_t b = 0; b < 8; ++b) {
      if (a == b) continue;
      mesh.topology.paths(a, b, p);
      ASSERT_EQ(p.size(), 1u);
      ASSERT_EQ(p[0].size(), 1u);
      const LinkInfo& l = mesh.topology.links()[p[0][0]];
      EXPECT_EQ(l.from, a);
      EXPECT_EQ(l.to, b);
      EXPECT_EQ(l.tier, "scale_up");
      EXPECT_DOUBLE_EQ(l.bandwidth.bps(), kLink);
      EXPECT_EQ(static_cast<int64_t>(p[0][0]), mesh.topology.mesh_link(a, b));
      links.insert(p[0][0]);
    }
  }
  EXPECT_EQ(links.size(), 56u);
  EXPECT_DOUBLE_EQ(mesh.topology.scale_up_bandwidth(3).bps(), 448e9);  // the GPU's own figure stays
  Node sw(0);
  EXPECT_EQ(sw.topology.mesh_link(0, 1), -1);
  // An explicit fabric builds the same links inside its meshed nodes.
  ExplicitTopology ex(LeafSpineConfig{}, ExplicitConfig{},
                      {NodeShape{8, Bandwidth::gbytes_per_s(448), Bandwidth::gbits_per_s(400), false, {}, {}, 7}});
  ex.paths(2, 5, p);
  ASSERT_EQ(p.size(), 1u);
  ASSERT_EQ(p[0].size(), 1u);
  EXPECT_EQ(static_cast<int64_t>(p[0][0]), ex.mesh_link(2, 5));
  EXPECT_DOUBLE_EQ(ex.links()[p[0][0]].bandwidth.bps(), kLink);
  EXPECT_DOUBLE_EQ(ex.links()[p[0][0]].latency.s(), kLatency);
}

// One peer: one link, S / 64 GB/s (a switch gives the pair the whole 448 GB/s port). Seven peers at once: seven
// links, each still S / 64 GB/s. Two GPUs sending to one peer: two links into it, each S / 64 GB/s (a switch shares
// the peer's one port: 2S / 448 GB/s).
TEST(Mesh, OnePeerTakesOneLinkSevenPeersTakeSevenLinks) {
  Node mesh(7), sw(0);
  const double one_link = kLatency + kS / kLink;
  EXPECT_NEAR(mesh.seconds({flow(0, 1)}), one_link, 1e-9 * one_link);
  EXPECT_NEAR(sw.seconds({flow(0, 1)}), kLatency + kS / 448e9, 1e-9 * one_link);
  std::vector<FlowRequest> seven;
  for (uint32_t b = 1; b < 8; ++b) seven.push_back(flow(0, b));
  EXPECT_NEAR(mesh.seconds(seven), one_link, 1e-9 * one_link);
  EXPECT_NEAR(mesh.seconds({flow(1, 0), flow(2, 0)}), one_link, 1e-9 * one_link);
  EXPECT_NEAR(sw.seconds({flow(1, 0), flow(2, 0)}), kLatency + 2 * kS / 448e9, 1e-9 * one_link);
}

// The ring sets: Hamiltonian cycles (every GPU once, starting at 0) that share no directed link. The complete
// digraph on m vertices splits into m - 1 of them except for m = 4 and 6 (Tillson, 1980), where at most m - 2 fit
// (m - 1 would be a split).
TEST(Mesh, RingsShareNoLinkAndUseEveryLinkWhereTheMeshSplitsIntoRings) {
  for (uint32_t m = 2; m <= 10; ++m) {
    const auto& rings = mesh_rings(m);
    const size_t expected = m == 4 || m == 6 ? m - 2 : m - 1;
    EXPECT_EQ(rings.size(), expected) << m;
    std::set<std::pair<uint32_t, uint32_t>> used;
    for (const auto& r : rings) {
      ASSERT_EQ(r.size(), m);
      EXPECT_EQ(r[0], 0u);
      EXPECT_EQ(std::set<uint32_t>(r.begin(), r.end()).size(), m);
      for (size_t i = 0; i < m; ++i) {
        const auto link = std::make_pair(r[i], r[(i + 1) % m]);
        if (m > 2) {
          EXPECT_TRUE(used.insert(link).second) << m << ": link used twice";
        }
      }
    }
  }
  EXPECT_TRUE(mesh_rings(1).empty());
  EXPECT_EQ(&mesh_rings(8), &mesh_rings(8));  // computed once
}

// A ring all-reduce moves 2(n-1)/n x S through every GPU; split over R rings that share no link, each link carries
// 1/R of it, so the bus bandwidth is R links: 8 GPUs, 7 rings: 7 x 64 = 448 GB/s (14 channels, each ring twice);
// 4 GPUs, 2 rings: 128 GB/s; 2 GPUs, one link each way: 64 GB/s. Rings as on a switch (the node's order rotated)
// would put every channel on the same 8 links: 64 GB/s at 8 GPUs.
TEST(Mesh, RingAllReduceBusBandwidthFollowsTheRingCount) {
  Node mesh(7);
  EXPECT_NEAR(mesh.ring_busbw(8), 7 * kLink, 1e-6 * kLink);
  EXPECT_NEAR(mesh.ring_busbw(4), 2 * kLink, 1e-6 * kLink);
  EXPECT_NEAR(mesh.ring_busbw(2), kLink, 1e-6 * kLink);
  Node sw(0);
  EXPECT_NEAR(sw.ring_busbw(8), 448e9, 1e-6 * kLink);
  EXPECT_NEAR(sw.ring_busbw(2), 448e9, 1e-6 * kLink);
}

// Two meshed nodes of 8 GPUs (7 links each, 448 GB/s per GPU) on a leaf-spine, with their 16 ranks.
struct TwoMeshedNodes {
  std::unique_ptr<sim::Engine> engine = sim::make_engine("queue");
  NodeShape shape{8, Bandwidth::gbytes_per_s(448), Bandwidth::gbits_per_s(400), false, {}, {}, 7};
  LeafSpine topology{LeafSpineConfig{}, {shape, shape}};
  policy::Spray spray;
  AnalyticalTransfer transfer{*engine, topology, spray, {}};
  Collectives coll{*engine, topology, transfer, CollectiveConfig{}, 8};
  std::vector<uint32_t> ranks = [] {
    std::vector<uint32_t> r;
    for (uint32_t i = 0; i < 16; ++i) r.push_back(i);
    return r;
  }();
};

// Ring all-reduce over two meshed nodes of 8: each of the 7 mesh cycles entered at each of the 8 GPUs, 56 rings.
// Every GPU sends the ring's 2(n-1)/n x S; each leaves its node in 7 of the 56 rings (its NIC carries 1/8 of what
// the node sends out), and each of a node's 56 links lies on 7 of them (the ring's path through a node drops the
// cycle's link into its entry GPU): 1/8 of 2(n-1)/n x S on every link and every NIC.
TEST(Mesh, RingsAcrossMeshedNodesSpreadEvenlyOverLinksAndNics) {
  TwoMeshedNodes m;
  auto& topology = m.topology;
  auto& coll = m.coll;
  const auto& ranks = m.ranks;
  std::map<std::pair<uint32_t, uint32_t>, double> in_node;
  std::map<uint32_t, double> per_gpu, out_of_node;
  for (const auto& p : coll.plan(CollectiveOp::kAllReduce, "ring", ranks, Bytes::of(kS))) {
    for (const auto& f : p.flows) {
      per_gpu[f.src] += f.size.bytes();
      if (topology.node_of(f.src) == topology.node_of(f.dst)) in_node[{f.src, f.dst}] += f.size.bytes();
      else out_of_node[f.src] += f.size.bytes();
    }
  }
  const double volume = 2 * 15.0 / 16 * kS;
  for (uint32_t r = 0; r < 16; ++r) {
    EXPECT_NEAR(per_gpu[r], volume, 1e-9 * volume) << r;
    EXPECT_NEAR(out_of_node[r], volume / 8, 1e-9 * volume) << r;
  }
  EXPECT_EQ(in_node.size(), 2u * 56);
  for (const auto& [pair, bytes] : in_node) EXPECT_NEAR(bytes, volume / 8, 1e-9 * volume);
}

// The hierarchical all-reduce's in-node reduce-scatter on two meshed nodes of 8: the 7 cycles, each twice (14 rings
// for 8 channels), so every one of a node's 56 links carries 2/14 of the phase's 7/8 x S per GPU, 1/7 of it.
TEST(Mesh, HierarchicalInNodeRingsFollowTheMeshCycles) {
  TwoMeshedNodes m;
  auto& coll = m.coll;
  const auto& ranks = m.ranks;
  const auto phases = coll.plan(CollectiveOp::kAllReduce, "hierarchical", ranks, Bytes::of(kS));
  ASSERT_EQ(phases.size(), 3u);
  std::map<std::pair<uint32_t, uint32_t>, double> per_pair;
  for (const auto& f : phases[0].flows) per_pair[{f.src, f.dst}] += f.size.bytes();
  EXPECT_EQ(per_pair.size(), 2u * 56);
  for (const auto& [pair, bytes] : per_pair) EXPECT_NEAR(bytes, 7.0 / 8 * kS / 7, 1e-9 * kS);
}

// What `lcsim topology` reports of one meshed node of 8 GPUs is the hardware: the 28 GPU pairs' links (one each way)
// and no switch. Its bisection, the first 4 GPUs against the last 4, is the 4 x 4 = 16 mesh links that cross the cut
// at 64 GB/s per direction (1,024 GB/s), plus the scale-out path: the first 4 GPUs' 400 Gb/s NICs through the leaf
// (4 x 50 GB/s), 1,224 GB/s. Counting the switch the topology builds for the GPUs' 448 GB/s ports (which no path
// inside a meshed node takes) would add 4 x 448 GB/s (3,016 GB/s). A switched node of the same GPUs keeps its
// switch: 4 x 448 + 4 x 50 = 1,992 GB/s.
TEST(Mesh, TopologyReportOfAMeshedNodeHasTheMeshLinksAndNoSwitch) {
  Node mesh(7), sw(0);
  constexpr double kNic = 50e9;
  const TopologyReport r = TopologyGraph(mesh.topology).report();
  EXPECT_NEAR(r.bisection.bps(), 16 * kLink + 4 * kNic, 1e-9 * kLink);
  std::map<std::string, size_t> kinds(r.vertices_per_kind.begin(), r.vertices_per_kind.end());
  std::map<std::string, size_t> tiers(r.links_per_tier.begin(), r.links_per_tier.end());
  EXPECT_EQ(kinds["gpu"], 8u);
  EXPECT_FALSE(kinds.contains("scale_up_switch"));
  EXPECT_EQ(tiers["scale_up"], 28u);
  EXPECT_EQ(r.diameter_hops, 1);
  std::ostringstream dot;
  TopologyGraph(mesh.topology).write_dot(dot);
  EXPECT_EQ(dot.str().find("nvswitch"), std::string::npos);
  const TopologyReport s = TopologyGraph(sw.topology).report();
  EXPECT_NEAR(s.bisection.bps(), 4 * 448e9 + 4 * kNic, 1e-9 * kLink);
  std::map<std::string, size_t> sw_kinds(s.vertices_per_kind.begin(), s.vertices_per_kind.end());
  EXPECT_EQ(sw_kinds["scale_up_switch"], 1u);
  EXPECT_EQ(s.diameter_hops, 2);
}

}  // namespace
}  // namespace lcsim::net
