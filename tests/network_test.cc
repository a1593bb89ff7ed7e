#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>

#include "models/network/collectives.h"
#include "models/network/topology.h"
#include "models/network/transfer.h"
#include "policies/load_balancing.h"
#include "network_fabrics.h"
#include "test_support.h"

namespace lcsim::net {
namespace {

using testing_fabrics::small_fabric;
using testing_fabrics::uniform;


TEST(LeafSpine, BuildsOneLinkPerDirectionAndEqualCostPathsPerSpine) {
  LeafSpine t(small_fabric(), uniform(4, 8));
  EXPECT_EQ(t.endpoint_count(), 32u);
  EXPECT_EQ(t.leaves(), 2u);
  // 4 links per GPU (scale-up up/down, NIC up/down) + 2 per leaf-spine pair.
  EXPECT_EQ(t.links().size(), 32u * 4 + 2u * 4 * 2);
  std::vector<Path> p;
  t.paths(0, 5, p);  // same node: scale-up
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].size(), 2u);
  EXPECT_EQ(t.links()[p[0][0]].tier, "scale_up");
  EXPECT_DOUBLE_EQ(t.links()[p[0][0]].bandwidth.bps(), 450e9);
  t.paths(0, 8, p);  // other node, same leaf
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(t.links()[p[0][0]].tier, "nic");
  t.paths(0, 16, p);  // other leaf: one path per spine
  ASSERT_EQ(p.size(), 4u);
  std::set<uint32_t> spine_links;
  for (const auto& path : p) {
    ASSERT_EQ(path.size(), 4u);
    spine_links.insert(path[1]);
  }
  EXPECT_EQ(spine_links.size(), 4u);
  EXPECT_DOUBLE_EQ(t.oversubscription(), 4.0);  // 16 ports x 400G down, 4 x 400G up
}

TEST(LoadBalancing, EcmpIsASeededDeterministicHashAndSprayUsesEveryPath) {
  policy::EcmpHash a(7), b(7), c(8);
  std::vector<policy::PathShare> x, y;
  int differ = 0;
  std::map<uint32_t, int> use;
  const std::vector<policy::Path> sixteen(16, policy::Path{0});
  for (uint32_t f = 0; f < 256; ++f) {
    a.choose({f, f + 1, 0}, sixteen, nullptr, x);
    b.choose({f, f + 1, 0}, sixteen, nullptr, y);
    ASSERT_EQ(x.size(), 1u);
    EXPECT_EQ(x[0].path_index, y[0].path_index);
    EXPECT_DOUBLE_EQ(x[0].fraction, 1.0);
    ++use[x[0].path_index];
    c.choose({f, f + 1, 0}, sixteen, nullptr, y);
    differ += x[0].path_index != y[0].path_index;
  }
  EXPECT_EQ(use.size(), 16u);  // 256 flows reach every one of 16 paths
  EXPECT_GT(differ, 128);      // another seed, another hash
  policy::Spray s;
  s.choose({0, 1, 0}, std::vector<policy::Path>(4, policy::Path{0}), nullptr, x);
  ASSERT_EQ(x.size(), 4u);
  for (const auto& share : x) EXPECT_DOUBLE_EQ(share.fraction, 0.25);
}

TEST(Collectives, RingFlowsCarryTheRingVolumeAndUseEveryNicOnce) {
  auto engine_owner = sim::make_engine("simgrid");
  sim::Engine& engine = *engine_owner;
  LeafSpine t(small_fabric(), uniform(4, 8));
  policy::Spray spray;
  AnalyticalTransfer transfer(engine, t, spray, {});
  Collectives coll(engine, t, transfer, {}, 8);
  std::vector<uint32_t> ranks;
  for (uint32_t r = 0; r < 32; ++r) ranks.push_back(r);
  const Bytes size = Bytes::mib(256);
  const auto flows = coll.ring_all_reduce_flows(ranks, size);
  ASSERT_EQ(flows.size(), 32u * 8);
  std::map<uint32_t, int> sends, receives, cross_node_sends;
  for (const auto& f : flows) {
    EXPECT_DOUBLE_EQ(f.size.bytes(), size.bytes() * 2 * 31 / 32 / 8);
    ++sends[f.src];
    ++receives[f.dst];
    if (t.node_of(f.src) != t.node_of(f.dst)) ++cross_node_sends[f.src];
  }
  for (uint32_t r = 0; r < 32; ++r) {
    EXPECT_EQ(sends[r], 8) << r;
    EXPECT_EQ(receives[r], 8) << r;
    EXPECT_EQ(cross_node_sends[r], 1) << "GPU " << r << " should leave its node in exactly one channel";
  }
}

// On a contention-free pattern (one leaf: no spine to collide on) the SimGrid flow model and the analytical
// model give the same all-reduce time, and both match 2(n-1)/n * S / B plus the latency terms.
TEST(Collectives, FlowAndAnalyticalAgreeWithTheRingFormula) {
  auto engine_owner = sim::make_engine("simgrid");
  sim::Engine& engine = *engine_owner;
  LeafSpineConfig cfg;
  cfg.ports_per_leaf = 64;
  LeafSpine t(cfg, uniform(4, 8));
  policy::EcmpHash ecmp(1);
  std::vector<sim::HostId> hosts;
  for (uint32_t i = 0; i < 32; ++i) hosts.push_back(engine.add_host("g" + std::to_string(i), FlopRate::tflops(1)));
  FlowTransfer flow(engine, t, ecmp, {});
  flow.install(hosts);
  AnalyticalTransfer analytical(engine, t, ecmp, {});
  CollectiveConfig cc;
  cc.algorithm = "ring";
  Collectives by_flow(engine, t, flow, cc, 8), by_formula(engine, t, analytical, cc, 8);
  std::vector<uint32_t> ranks;
  for (uint32_t r = 0; r < 32; ++r) ranks.push_back(r);
  const Bytes size = Bytes::gib(1);
  double t_flow = -1, t_analytical = -1;
  by_flow.all_reduce(ranks, size, [&] {
    t_flow = engine.now().s();
    const double start = t_flow;
    by_formula.all_reduce(ranks, size, [&, start] { t_analytical = engine.now().s() - start; });
  });
  engine.run(Duration::seconds(1e9));
  // Hand derivation: each channel's ring leaves every node once through a NIC (50 GB/s) and carries
  // 2(n-1)/n * S / C; NVLink edges carry 7 of the 8 channels of a GPU at 450 GB/s, which is faster.
  const double n = 32, C = 8, S = size.bytes();
  const double nic = 2 * (n - 1) / n * S / C / 50e9;
  const double nvl = 7 * 2 * (n - 1) / n * S / C / 450e9;
  ASSERT_GT(nic, nvl);
  const double latency = 8.4e-6 + 2 * (n - 1) * 3.4e-6 + 2 * 0.6e-6;  // base + steps + NIC up/down hops
  EXPECT_NEAR(t_flow, latency + nic, 1e-6 * t_flow);
  EXPECT_NEAR(t_analytical, t_flow, 1e-6 * t_flow);
}


// A wave of at least 4,096 sub-flows runs its identical ones as one weighted engine flow (sim/flow_copies.h; SimGrid
// pays O(comms in flight) per completed comm). A ring all-reduce on 512 GPUs (64 nodes on one leaf, 8 channels)
// is 4,096 flows: each NVLink pair carries 7 identical ones (512 engine flows) and every NIC one (512). The time is
// still the ring formula's, and every link is idle again afterwards.
TEST(Collectives, LargeWaveRunsIdenticalFlowsAsOneAndKeepsTheRingFormula) {
  auto engine_owner = sim::make_engine("simgrid");
  sim::Engine& engine = *engine_owner;
  LeafSpineConfig cfg;
  cfg.ports_per_leaf = 512;
  LeafSpine t(cfg, uniform(64, 8));
  policy::EcmpHash ecmp(1);
  std::vector<sim::HostId> hosts;
  for (uint32_t i = 0; i < 512; ++i) hosts.push_back(engine.add_host("g" + std::to_string(i), FlopRate::tflops(1)));
  FlowTransfer flow(engine, t, ecmp, {});
  flow.install(hosts);
  CollectiveConfig cc;
  cc.algorithm = "ring";
  Collectives coll(engine, t, flow, cc, 8);
  std::vector<uint32_t> ranks;
  for (uint32_t r = 0; r < 512; ++r) ranks.push_back(r);
  const Bytes size = Bytes::gib(1);
  double t_flow = -1;
  coll.all_reduce(ranks, size, [&] { t_flow = engine.now().s(); });
  engine.run(Duration::seconds(1e9));
  EXPECT_EQ(flow.flows_started(), 4096u);
  EXPECT_EQ(engine.activities_started(), 1024u);  // 512 NVLink pairs x 7 copies as one, 512 NIC flows
  const double n = 512, C = 8, S = size.bytes();
  const double nic = 2 * (n - 1) / n * S / C / 50e9;
  const double latency = 8.4e-6 + 2 * (n - 1) * 3.4e-6 + 2 * 0.6e-6;
  EXPECT_NEAR(t_flow, latency + nic, 1e-6 * t_flow);
  for (uint32_t l = 0; l < t.links().size(); ++l) EXPECT_EQ(flow.load(l), 0.0) << t.links()[l].name;
}

// Four flows from one leaf to another over four spines: ECMP may collide, adaptive sees the flows routed before
// it and never puts two on one spine; spraying splits each over all four.
TEST(LoadBalancing, AdaptiveSpreadsFlowsThatEcmpMayCollide) {
  auto engine_owner = sim::make_engine("simgrid");
  sim::Engine& engine = *engine_owner;
  LeafSpineConfig cfg;
  cfg.ports_per_leaf = 8;
  cfg.spines = 4;
  LeafSpine t(cfg, uniform(2, 8));
  policy::Adaptive adaptive(3);
  AnalyticalTransfer transfer(engine, t, adaptive, {});
  std::vector<FlowRequest> flows;
  for (uint32_t i = 0; i < 4; ++i) flows.push_back({i, 8 + i, Bytes::gb(1), 0});
  // One flow at a time, as separate transfers, like independent senders.
  for (const auto& f : flows) transfer.transfer({f}, [] {});
  std::set<uint32_t> spine_links_used;
  for (size_t l = 0; l < t.links().size(); ++l) {
    if (t.links()[l].tier == "spine" && transfer.bytes_per_link()[l] > 0) {
      EXPECT_DOUBLE_EQ(transfer.bytes_per_link()[l], 1e9) << t.links()[l].name;
      spine_links_used.insert(static_cast<uint32_t>(l));
    }
  }
  EXPECT_EQ(spine_links_used.size(), 8u);  // 4 up + 4 down, one flow each
  engine.run(Duration::seconds(1e9));
}

// Eight flows from the same GPU to the other leaf over eight spines: they share its NIC on every path, so only
// the spine links tell the paths apart. Compared on the busiest link of the whole path, every path ties on the
// NIC and the choice falls back to the hash (8 flows in 8 bins collide with probability 99.8%); compared on the
// links the paths do not share, each flow takes its own spine.
TEST(LoadBalancing, AdaptiveIgnoresLinksEveryPathShares) {
  auto engine_owner = sim::make_engine("simgrid");
  sim::Engine& engine = *engine_owner;
  LeafSpineConfig cfg;
  cfg.ports_per_leaf = 8;
  cfg.spines = 8;
  LeafSpine t(cfg, uniform(2, 8));
  policy::Adaptive adaptive(3);
  AnalyticalTransfer transfer(engine, t, adaptive, {});
  for (uint32_t i = 0; i < 8; ++i) transfer.transfer({{0, 8 + i, Bytes::gb(1), i}}, [] {});
  int spine_links = 0;
  for (size_t l = 0; l < t.links().size(); ++l) {
    if (t.links()[l].tier == "spine" && transfer.bytes_per_link()[l] > 0) {
      EXPECT_DOUBLE_EQ(transfer.bytes_per_link()[l], 1e9) << t.links()[l].name;
      ++spine_links;
    }
  }
  EXPECT_EQ(spine_links, 16);  // eight spines, up and down, one flow each
  engine.run(Duration::seconds(1e9));
}

TEST(LeafSpine, RailOptimizedPutsEachRailOnItsOwnLeavesAndRingsStayOnRails) {
  LeafSpineConfig cfg;
  cfg.rail_optimized = true;
  cfg.ports_per_leaf = 4;  // 4 nodes per leaf and rail
  const auto shapes = uniform(8, 8);
  LeafSpine t(cfg, shapes);
  EXPECT_EQ(t.leaves(), 16u);  // 8 rails x 2 leaves
  EXPECT_EQ(t.leaf_of(0), 0u);          // node 0, GPU 0: rail 0, first leaf
  EXPECT_EQ(t.leaf_of(3), 6u);          // node 0, GPU 3: rail 3
  EXPECT_EQ(t.leaf_of(4 * 8 + 3), 7u);  // node 4, GPU 3: rail 3, second leaf
  std::vector<Path> p;
  t.paths(3, 8 + 3, p);  // same rail, same leaf: NIC up, NIC down
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].size(), 2u);
  t.paths(3, 8 + 4, p);  // another rail: through the spines
  EXPECT_EQ(p.size(), static_cast<size_t>(cfg.spines));

  auto engine_owner = sim::make_engine("simgrid");
  sim::Engine& engine = *engine_owner;
  policy::Spray spray;
  AnalyticalTransfer transfer(engine, t, spray, {});
  CollectiveConfig cc;
  cc.algorithm = "ring";
  Collectives coll(engine, t, transfer, cc, 8);
  std::vector<uint32_t> ranks;
  for (uint32_t r = 0; r < 64; ++r) ranks.push_back(r);
  int cross = 0;
  for (const auto& f : coll.ring_all_reduce_flows(ranks, Bytes::gib(1))) {
    if (t.node_of(f.src) == t.node_of(f.dst)) continue;
    ++cross;
    EXPECT_EQ(f.src % 8, f.dst % 8) << "network hop " << f.src << " -> " << f.dst << " changes rail";
  }
  EXPECT_EQ(cross, 8 * 8);  // 8 channels x 8 node boundaries
}


TEST(Failures, FailedSpinesAndLinksLeaveThePathSetAndPinningFollowsTheDestination) {
  LeafSpineConfig cfg;
  cfg.ports_per_leaf = 8;
  cfg.spines = 4;
  LeafSpine t(cfg, uniform(2, 8));
  std::vector<Path> p;
  t.paths(0, 8, p);
  ASSERT_EQ(p.size(), 4u);
  EXPECT_TRUE(t.fail("spine1"));
  EXPECT_TRUE(t.fail("leaf1.spine3.down"));
  EXPECT_FALSE(t.fail("spine9"));
  t.paths(0, 8, p);
  ASSERT_EQ(p.size(), 2u);  // spines 0 and 2 left
  for (const auto& path : p) {
    for (uint32_t l : path) EXPECT_TRUE(t.link_up(l)) << t.links()[l].name;
  }
  EXPECT_TRUE(t.fail("leaf0"));  // a leaf takes its NICs with it
  t.paths(0, 8, p);
  EXPECT_TRUE(p.empty());
  t.paths(0, 1, p);  // same node: NVLink is untouched
  EXPECT_EQ(p.size(), 1u);
  policy::Pinned pinned;
  std::vector<policy::PathShare> out;
  const std::vector<policy::Path> four(4, policy::Path{0});
  pinned.choose({1, 6, 0}, four, nullptr, out);
  EXPECT_EQ(out[0].path_index, 2u);
  pinned.choose({5, 6, 9}, four, nullptr, out);
  EXPECT_EQ(out[0].path_index, 2u);  // same destination, same path
}


TEST(LeafSpine, MultiPlaneSplitsEachNicOverItsOwnFabrics) {
  LeafSpineConfig cfg;
  cfg.ports_per_leaf = 8;
  cfg.spines = 4;
  cfg.planes = 2;
  LeafSpine t(cfg, uniform(2, 8));
  EXPECT_DOUBLE_EQ(t.nic_bandwidth(0).bps(), 50e9);  // the GPU's total, two 200G ports
  std::vector<Path> p;
  t.paths(0, 8, p);
  ASSERT_EQ(p.size(), 8u);  // 4 spines in each of 2 planes
  std::set<std::string> first_hops;
  for (const auto& path : p) {
    EXPECT_DOUBLE_EQ(t.links()[path.front()].bandwidth.bps(), 25e9);
    first_hops.insert(t.links()[path.front()].name);
  }
  EXPECT_EQ(first_hops, (std::set<std::string>{"n0.gpu0.p0.nic_up", "n0.gpu0.p1.nic_up"}));
  EXPECT_TRUE(t.fail("spine0"));  // spine 0 of every plane
  t.paths(0, 8, p);
  EXPECT_EQ(p.size(), 6u);
}


// A sprayed flow on the flow model is one engine flow over all its paths at one rate (Engine::flow_spread), or with
// independent_paths one max-min sub-flow per path (the model before). GPU 0 sends 1 GB to GPU 16 (other leaf)
// over the 4 spines (0.25 GB per path); four 4 GB flows from GPUs 1-4 to 17-20 all take the path through one spine,
// so its two links have 5 users (the same 4-link path latency for all, so SimGrid's latency-weighted sharing is
// even). By hand: that spine gives each user 50/5 = 10 GB/s; the NIC (50 GB/s) holds 4 x 10 for the sprayed flow at
// one rate: 40 GB/s in all, 0.25 GB per path in 25 ms. As independent sub-flows the 3 other paths share the NIC's
// 40 GB/s left (13.3 GB/s each: the NIC is full) and end at 18.75 ms, the loaded one at 25 ms too.
TEST(FlowTransfer, SprayedFlowIsOneEngineFlowAtTheLoadedPathsRate) {
  for (const bool independent : {false, true}) {
    SCOPED_TRACE(independent ? "independent paths" : "one rate");
    auto engine_owner = sim::make_engine("queue");
    sim::Engine& engine = *engine_owner;
    LeafSpine t(small_fabric(), uniform(4, 8));
    policy::Spray spray(0, 0, independent);
    std::vector<sim::HostId> hosts;
    for (uint32_t i = 0; i < 32; ++i) hosts.push_back(engine.add_host("g" + std::to_string(i), FlopRate::tflops(1)));
    FlowTransfer flow(engine, t, spray, {});
    flow.install(hosts);  // engine link i is topology link i
    std::vector<Path> p;
    t.paths(0, 16, p);
    ASSERT_EQ(p.size(), 4u);
    const Path loaded = p[1];
    for (uint32_t i = 1; i <= 4; ++i) {
      t.paths(i, 16 + i, p);
      const Path* through = nullptr;
      for (const Path& q : p) through = q[1] == loaded[1] && q[2] == loaded[2] ? &q : through;
      ASSERT_NE(through, nullptr);
      engine.flow(hosts[i], hosts[16 + i], Bytes::gb(4), std::vector<sim::LinkId>(through->begin(), through->end()),
                  [] {});
    }
    const size_t before = engine.activities_started();
    double sprayed = -1, nic = -1;
    flow.transfer({{0, 16, Bytes::gb(1), 0}}, [&] { sprayed = engine.now().s(); });
    EXPECT_EQ(engine.activities_started() - before, independent ? 4u : 1u);
    engine.at(Duration::ms(5), [&] { nic = flow.current_rate(loaded[0]).bps(); });
    engine.run(Duration::seconds(1e9));
    EXPECT_NEAR(sprayed, 4 * 0.6e-6 + 0.025, 1e-9);
    EXPECT_NEAR(nic, independent ? 50e9 : 40e9, 1e3);
    for (uint32_t l : loaded) EXPECT_EQ(flow.load(l), 0.0) << t.links()[l].name;
  }
}

TEST(FlowCalibration, SizeDependentFactorsSlowSmallFlowsAsConfigured) {
  auto engine_owner = sim::make_engine("simgrid");
  sim::Engine& engine = *engine_owner;
  LeafSpineConfig cfg;
  LeafSpine t(cfg, uniform(2, 8));
  policy::Spray spray;
  TransferOptions opts;
  opts.calibration.bandwidth_factors = {{Bytes(), 0.5}, {Bytes::mib(1), 0.9}};
  opts.calibration.latency_factors = {{Bytes(), 3.0}, {Bytes::mib(1), 1.0}};
  std::vector<sim::HostId> hosts;
  for (uint32_t i = 0; i < 16; ++i) hosts.push_back(engine.add_host("g" + std::to_string(i), FlopRate::tflops(1)));
  FlowTransfer flow(engine, t, spray, opts);
  flow.install(hosts);
  AnalyticalTransfer analytical(engine, t, spray, opts);
  // GPU 0 -> GPU 8 (other node, same leaf): NIC up and down, 0.6 us each.
  double small = -1, large = -1, small_a = -1;
  flow.transfer({{0, 8, Bytes::kib(64), 0}}, [&] {
    small = engine.now().s();
    const double t0 = small;
    flow.transfer({{0, 8, Bytes::mib(64), 0}}, [&, t0] {
      large = engine.now().s() - t0;
      const double t1 = engine.now().s();
      analytical.transfer({{0, 8, Bytes::kib(64), 0}}, [&, t1] { small_a = engine.now().s() - t1; });
    });
  });
  engine.run(Duration::seconds(1e9));
  const double lat = 1.2e-6;
  EXPECT_NEAR(small, 3 * lat + 65536 / (0.5 * 50e9), 1e-9);
  EXPECT_NEAR(large, lat + 67108864 / (0.9 * 50e9), 1e-9);
  EXPECT_NEAR(small_a, small, 1e-9);
}


TEST(LeafSpine, ThreeTiersRouteThroughPodsAndCores) {
  LeafSpineConfig cfg;
  cfg.tiers = 3;
  cfg.ports_per_leaf = 8;   // one node per leaf
  cfg.leaves_per_pod = 2;   // two nodes per pod
  cfg.spines = 2;           // aggregation switches per pod
  cfg.cores_per_spine = 3;  // 6 cores
  LeafSpine t(cfg, uniform(8, 8));
  std::vector<Path> p;
  t.paths(0, 8, p);  // node 0 -> node 1: same pod, other leaf: one path per aggregation switch
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].size(), 4u);
  t.paths(0, 16, p);  // node 0 -> node 2: other pod: aggregation x core
  ASSERT_EQ(p.size(), 6u);
  for (const auto& path : p) {
    ASSERT_EQ(path.size(), 6u);
    EXPECT_EQ(t.links()[path[2]].tier, "core");
    EXPECT_EQ(t.links()[path[2]].to, t.links()[path[3]].from);  // up to a core and down from the same core
  }
  size_t cores = 0;
  for (const auto& v : t.vertices()) cores += v.kind == "core";
  EXPECT_EQ(cores, 6u);
  EXPECT_TRUE(t.fail("core0"));
  t.paths(0, 16, p);
  EXPECT_EQ(p.size(), 5u);
}


TEST(LeafSpine, DualTorHomesEveryNicOnALeafPairThatSharesTheSpines) {
  LeafSpineConfig cfg;
  cfg.dual_tor = true;
  cfg.ports_per_leaf = 8;
  cfg.spines = 4;
  LeafSpine t(cfg, uniform(2, 8));
  EXPECT_DOUBLE_EQ(t.nic_bandwidth(0).bps(), 50e9);  // two 200G ports
  size_t leaves = 0, spines = 0;
  for (const auto& v : t.vertices()) {
    leaves += v.kind == "leaf";
    spines += v.kind == "spine";
  }
  EXPECT_EQ(leaves, 4u);  // 2 pairs
  EXPECT_EQ(spines, 4u);  // shared by both port sets
  std::vector<Path> p;
  t.paths(0, 8, p);  // other leaf pair: 2 ports x 4 spines x 2 ports
  EXPECT_EQ(p.size(), 16u);
  t.paths(0, 1, p);  // same node: scale-up
  EXPECT_EQ(p.size(), 1u);
  // Losing one leaf of a pair halves the ways in and out, but nothing is cut.
  EXPECT_TRUE(t.fail("a.leaf0"));
  t.paths(0, 8, p);
  EXPECT_EQ(p.size(), 8u);
}


TEST(LeafSpine, HostNetworksAreSeparateFromTheComputeFabric) {
  LeafSpineConfig cfg;
  cfg.storage_servers = 2;
  NodeShape shape{8, Bandwidth::gbytes_per_s(450), Bandwidth::gbits_per_s(400), false,
                  {{"storage", Bandwidth::gbits_per_s(800)}, {"management", Bandwidth::gbits_per_s(1)}}};
  LeafSpine t(cfg, std::vector<NodeShape>(2, shape));
  std::map<std::string, int> kinds, tiers;
  for (const auto& v : t.vertices()) ++kinds[v.kind];
  for (const auto& l : t.links()) ++tiers[l.tier];
  EXPECT_EQ(kinds["host"], 2);
  EXPECT_EQ(kinds["storage_switch"], 1);
  EXPECT_EQ(kinds["management_switch"], 1);
  EXPECT_EQ(kinds["storage_server"], 2);
  EXPECT_EQ(tiers["storage"], 2 * (2 + 2));  // two hosts and two servers, both directions
  EXPECT_EQ(tiers["management"], 2 * 2);
  // GPU traffic never touches them.
  std::vector<Path> p;
  t.paths(0, 8, p);
  for (const auto& path : p) {
    for (uint32_t l : path) EXPECT_TRUE(t.links()[l].tier == "nic" || t.links()[l].tier == "spine");
  }
}

}  // namespace
}  // namespace lcsim::net

namespace lcsim::net {
namespace {

// Runtime fabric changes, on both transfer models (the flow model on both engine backends: `flow` on SimGrid,
// `flow_queue` on lcsim's own solver): a bandwidth change re-times a batch in flight, a failed switch fails the
// batches crossing it, and later flows route around it.
class FabricChange : public ::testing::TestWithParam<std::string> {
 protected:
  FabricChange() : topo_(small_fabric(), uniform(4, 8)) {
    if (GetParam() != "analytical") {
      std::vector<sim::HostId> hosts;
      for (uint32_t i = 0; i < topo_.endpoint_count(); ++i) {
        hosts.push_back(engine_->add_host("g" + std::to_string(i), FlopRate::tflops(1)));
      }
      auto flow = std::make_unique<FlowTransfer>(*engine_, topo_, spray_, TransferOptions{});
      flow->install(hosts);
      transfer_ = std::move(flow);
    } else {
      transfer_ = std::make_unique<AnalyticalTransfer>(*engine_, topo_, spray_, TransferOptions{});
    }
  }
  std::unique_ptr<sim::Engine> engine_ = sim::make_engine(GetParam() == "flow" ? "simgrid" : "queue");
  LeafSpine topo_;
  policy::Spray spray_;
  std::unique_ptr<TransferModel> transfer_;
};

// GPU 0 (leaf 0) to GPU 16 (leaf 1): 1 GB sprayed over 4 spines, limited by GPU 0's 50 GB/s NIC: 20 ms.
const FlowRequest kCrossLeaf{0, 16, Bytes::gb(1)};

TEST_P(FabricChange, BandwidthDropRetimesABatchInFlight) {
  const auto nic = topo_.find_links("n0.gpu0.nic_up");
  ASSERT_EQ(nic.size(), 1u);
  double done = -1;
  transfer_->transfer({kCrossLeaf}, [&] { done = engine_->now().s(); });
  // Half the bytes have crossed at 10 ms; the rest crosses the NIC at 25 GB/s: 20 ms more.
  engine_->at(Duration::ms(10), [&] { transfer_->set_link_bandwidth(nic[0], Bandwidth::gbytes_per_s(25)); });
  engine_->run(Duration::seconds(10));
  EXPECT_NEAR(done, 0.030, 2e-5);
  EXPECT_GT(done, 0.030);  // plus path latency
}

TEST_P(FabricChange, FailedSwitchFailsTheBatchAndLaterFlowsAvoidIt) {
  const auto spine0 = topo_.find_links("spine0");
  ASSERT_EQ(spine0.size(), 4u);  // up and down to each of 2 leaves
  double failed_at = -1, retry_done = -1;
  bool wrongly_done = false;
  double spine0_bytes = -1;
  transfer_->transfer({kCrossLeaf}, [&] { wrongly_done = true; }, [&] {
    failed_at = engine_->now().s();
    spine0_bytes = 0;
    for (uint32_t l : spine0) spine0_bytes += transfer_->bytes_per_link()[l];
    transfer_->transfer({kCrossLeaf}, [&] { retry_done = engine_->now().s(); });
  });
  engine_->at(Duration::ms(10), [&] {
    for (uint32_t l : spine0) transfer_->set_link_up(l, false);
  });
  engine_->run(Duration::seconds(10));
  EXPECT_FALSE(wrongly_done);
  EXPECT_NEAR(failed_at, 0.010, 1e-9);
  EXPECT_EQ(transfer_->batches_failed(), 1u);
  // The retry is sprayed over the 3 spines left, still limited by the NIC: 20 ms, and spine 0 carries nothing more.
  EXPECT_NEAR(retry_done, 0.030, 2e-5);
  double after = 0;
  for (uint32_t l : spine0) after += transfer_->bytes_per_link()[l];
  EXPECT_EQ(after, spine0_bytes);
  std::vector<Path> p;
  topo_.paths(0, 16, p);
  EXPECT_EQ(p.size(), 3u);
}

// The analytical model keeps its batches in reused slots: batches that a failed link ends fail in the order they
// started, whichever slots they took (here the later batch reuses the slot of one that finished).
TEST(AnalyticalTransfer, BatchesAFailureEndsFailInTheOrderTheyStarted) {
  std::unique_ptr<sim::Engine> engine = sim::make_engine("queue");
  LeafSpine topo(small_fabric(), uniform(4, 8));
  policy::Spray spray;
  AnalyticalTransfer transfer(*engine, topo, spray, {});
  const auto nic = topo.find_links("n0.gpu0.nic_up");
  ASSERT_EQ(nic.size(), 1u);
  std::vector<std::string> events;
  transfer.transfer({{1, 17, Bytes::mb(1)}}, [&] { events.push_back("small done"); });   // slot 0, done at once
  transfer.transfer({{0, 16, Bytes::gb(1)}}, [&] { events.push_back("first done"); },    // slot 1
                    [&] { events.push_back("first failed"); });
  engine->at(Duration::ms(1), [&] {
    transfer.transfer({{0, 17, Bytes::gb(1)}}, [&] { events.push_back("second done"); },  // slot 0 again
                      [&] { events.push_back("second failed"); });
  });
  engine->at(Duration::ms(10), [&] { transfer.set_link_up(nic[0], false); });
  engine->run(Duration::seconds(10));
  EXPECT_EQ(events, (std::vector<std::string>{"small done", "first failed", "second failed"}));
  EXPECT_EQ(transfer.batches_failed(), 2u);
  // Nothing is left marked busy or in flight on the links they held.
  for (uint32_t l = 0; l < topo.links().size(); ++l) {
    EXPECT_EQ(transfer.load(l), 0.0) << topo.links()[l].name;
    EXPECT_NEAR(transfer.current_rate(l).bps(), 0.0, 1.0) << topo.links()[l].name;  // bytes/s, after additions
  }
}

// batches_queued() counts the batches a fabric link's queue of earlier batches lengthened: batches started at the
// same instant queue behind each other (the analytical model's FIFO) without being counted (one collective's
// copies in every group, launched together), a batch started while they still cross the spines is counted, and one
// started after they drained is not. Megatron reuses a collective's time only where none was counted meanwhile.
TEST(AnalyticalTransfer, CountsBatchesQueuedBehindEarlierOnes) {
  std::unique_ptr<sim::Engine> engine = sim::make_engine("queue");
  LeafSpine topo(small_fabric(), uniform(4, 8));  // nodes 0 and 1 on one leaf, 2 and 3 on the other; 4 spines
  policy::Spray spray;
  AnalyticalTransfer transfer(*engine, topo, spray, {});
  // A node's eight GPUs to the other leaf's node: 8 GB over the leaf's four uplinks, each loaded twice a NIC's share.
  auto node_to_node = [](uint32_t from, uint32_t to) {
    std::vector<FlowRequest> flows;
    for (uint32_t g = 0; g < 8; ++g) flows.push_back({from * 8 + g, to * 8 + g, Bytes::gb(1)});
    return flows;
  };
  std::map<std::string, double> done;
  auto at_end = [&](const std::string& name) { return [&done, &engine, name] { done[name] = engine->now().s(); }; };
  transfer.transfer(node_to_node(0, 2), at_end("a"));
  transfer.transfer(node_to_node(1, 3), at_end("b"));  // the same instant, the same uplinks: behind a
  EXPECT_EQ(transfer.batches_queued(), 0u);
  uint64_t while_crossing = 0, after = 0;
  engine->at(Duration::ms(1), [&] {
    transfer.transfer(node_to_node(0, 3), at_end("c"));  // a and b still cross the uplinks
    while_crossing = transfer.batches_queued();
  });
  engine->at(Duration::seconds(5), [&] {
    transfer.transfer(node_to_node(1, 2), at_end("d"));  // everything drained
    after = transfer.batches_queued();
  });
  engine->run(Duration::seconds(100));
  ASSERT_EQ(done.size(), 4u);
  EXPECT_GT(done["b"], done["a"] * 1.5);  // b really queued behind a
  EXPECT_GT(done["c"] - 1e-3, done["b"]);
  EXPECT_EQ(while_crossing, 1u);
  EXPECT_EQ(after, 1u);
  EXPECT_NEAR(done["d"] - 5.0, done["a"], 1e-9);  // d alone took a's time
  // An estimate is no batch: it counts nothing.
  transfer.transfer(node_to_node(0, 2), [] {});
  const uint64_t before = transfer.batches_queued();
  (void)transfer.estimate(node_to_node(1, 3));
  EXPECT_EQ(transfer.batches_queued(), before);
  engine->run(Duration::seconds(200));
}

// Candidate paths are cached per pair of endpoints (transfer.cc): a link that goes down or comes back, through the
// transfer model or on the topology itself, changes the paths of the flows routed after it.
TEST_P(FabricChange, RoutingFollowsLinksThatGoDownAndComeBack) {
  const auto spine0 = topo_.find_links("spine0");
  ASSERT_EQ(spine0.size(), 4u);
  auto on_spine0 = [&] {
    double bytes = 0;
    for (uint32_t l : spine0) bytes += transfer_->bytes_per_link()[l];
    return bytes;
  };
  double first = -1, while_down = -1;
  transfer_->transfer({kCrossLeaf}, [] {});  // fills the cache for (0, 16): a quarter over spine 0
  engine_->at(Duration::ms(100), [&] {
    first = on_spine0();
    for (uint32_t l : spine0) topo_.set_link_up(l, false);  // on the topology, not through the transfer model
    transfer_->transfer({kCrossLeaf}, [] {});
  });
  engine_->at(Duration::ms(200), [&] {
    while_down = on_spine0();
    for (uint32_t l : spine0) transfer_->set_link_up(l, true);
    transfer_->transfer({kCrossLeaf}, [] {});
  });
  engine_->run(Duration::seconds(10));
  EXPECT_GT(first, 0);
  EXPECT_EQ(while_down, first);                // the second flow avoided spine 0
  EXPECT_DOUBLE_EQ(on_spine0(), 2 * first);  // the third used it again
}

INSTANTIATE_TEST_SUITE_P(Transfer, FabricChange, ::testing::Values("flow", "flow_queue", "analytical"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace lcsim::net
