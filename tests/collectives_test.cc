// The collectives library: every algorithm's plan moves the bytes its definition says, aggregated ring flows take
// as long as the step-by-step ring, the tuner's choices, and nccl-tests' bandwidth definitions.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <tuple>

#include "models/network/collectives.h"
#include "sim/config_tree.h"
#include "models/network/topology.h"
#include "models/network/transfer.h"
#include "policies/collective_algorithms.h"
#include "policies/collective_tuner.h"
#include "policies/load_balancing.h"
#include "workloads/benchmarks/nccl_tests.h"

namespace lcsim::net {
namespace {

std::vector<NodeShape> nodes(uint32_t n, uint32_t gpus, bool nvls = false) {
  return std::vector<NodeShape>(n, {gpus, Bandwidth::gbytes_per_s(450), Bandwidth::gbits_per_s(400), nvls});
}

std::vector<uint32_t> all(uint32_t n) {
  std::vector<uint32_t> r;
  for (uint32_t i = 0; i < n; ++i) r.push_back(i);
  return r;
}

// Bytes each rank sends over the whole plan.
std::map<uint32_t, double> sent(const std::vector<Collectives::Phase>& phases) {
  std::map<uint32_t, double> out;
  for (const auto& p : phases) {
    for (const auto& f : p.flows) out[f.src] += f.size.bytes();
  }
  return out;
}

struct Fixture {
  std::unique_ptr<sim::Engine> engine_owner = sim::make_engine("queue");
  sim::Engine& engine = *engine_owner;
  LeafSpine topo;
  policy::Spray spray;
  AnalyticalTransfer transfer;
  Collectives coll;
  explicit Fixture(std::vector<NodeShape> shapes, CollectiveConfig cc = {})
      : topo(LeafSpineConfig{}, shapes), transfer(engine, topo, spray, {}), coll(engine, topo, transfer, cc, shapes[0].gpus) {}
};

TEST(Collectives, EveryAlgorithmSendsWhatItsDefinitionSays) {
  Fixture f(nodes(4, 4, true));
  const auto r = all(16);
  const double S = 64e6, n = 16, k = 4, N = 4;
  using O = CollectiveOp;
  auto check = [&](O op, const std::string& a, double per_rank) {
    const auto s = sent(f.coll.plan(op, a, r, Bytes::of(S)));
    for (uint32_t i : r) EXPECT_NEAR(s.at(i), per_rank, 1e-6 * per_rank) << a << " rank " << i;
  };
  check(O::kAllReduce, "ring", 2 * (n - 1) / n * S);
  check(O::kReduceScatter, "ring", (n - 1) / n * S);
  check(O::kAllGather, "ring", (n - 1) / n * S);
  check(O::kAllToAll, "ring", (n - 1) / n * S);
  check(O::kSendRecv, "ring", S);
  // Reduce-scatter and all-gather inside the node, all-reduce of S/k over each rail.
  check(O::kAllReduce, "hierarchical", 2 * (k - 1) / k * S + 2 * (N - 1) / N * S / k);
  check(O::kAllReduce, "halving_doubling", 2 * (n - 1) / n * S);
  // Broadcast: a chain per channel; every rank but the last of a chain forwards S/C per channel, S in all.
  const auto b = sent(f.coll.plan(O::kBroadcast, "ring", r, Bytes::of(S)));
  double total = 0;
  for (const auto& [rank, bytes] : b) total += bytes;
  EXPECT_NEAR(total, (n - 1) * S, 1e-6 * S);
  // Tree: every tree edge carries half the data up and half down; 2 trees, 15 edges each: 3 between the nodes and
  // 12 in their chains (3 per node), those at NCCL's tree correction (as that many more bytes).
  const auto t = f.coll.plan(O::kAllReduce, "tree", r, Bytes::of(S));
  double tree_bytes = 0;
  for (const auto& fl : t.front().flows) tree_bytes += fl.size.bytes();
  EXPECT_NEAR(tree_bytes, 2 * (3 * 2 * (S / 2) + 12 * 2 * (S / 2) / policy::kTreeChainEfficiency), 1e-6 * S);
  // Inside one node (pinned): the chain alone, each GPU sending the whole buffer (both trees' halves) up and down.
  Fixture one(nodes(1, 4, true));
  const auto chain = sent(one.coll.plan(O::kAllReduce, "tree", all(4), Bytes::of(S)));
  ASSERT_EQ(chain.size(), 4u);
  for (const auto& [rank, bytes] : chain) {
    const double links = rank == 0 || rank == 3 ? 1 : 2;  // the chain's ends have one neighbour per tree
    EXPECT_NEAR(bytes, links * S / policy::kTreeChainEfficiency, 1e-6 * S) << rank;
  }
}

// NVLS moves each buffer up through the switch once and the result down once, plus its own share's round trip
// (the reduce-read returns S/n, the multicast store sends S/n): S + S/n each way, 9/8 S on 8 GPUs, 5/4 S on 4.
TEST(Collectives, NvlsMovesEachBufferOnceUpAndOnceDownPlusItsOwnShare) {
  Fixture f(nodes(1, 8, true));
  const auto p = f.coll.plan(CollectiveOp::kAllReduce, "nvls", all(8), Bytes::mib(64));
  ASSERT_EQ(p.size(), 1u);
  const auto s = sent(p);
  for (uint32_t i = 0; i < 8; ++i) EXPECT_DOUBLE_EQ(s.at(i), Bytes::mib(64).bytes() * 9 / 8);
  const auto s4 = sent(f.coll.plan(CollectiveOp::kAllReduce, "nvls", all(4), Bytes::mib(64)));
  for (uint32_t i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(s4.at(i), Bytes::mib(64).bytes() * 5 / 4);
}

// The tuner's NVLS estimate at zero latencies, by hand: (n+1)/n x S over the link, against a ring's 2(n-1)/n x S.
// On 3 GPUs both move 4/3 S; on 4 NVLS moves 5/4 S against 3/2 S (1.2x); on 8, 9/8 against 7/4 (1.56x): nccl-tests'
// bus bandwidth (2(n-1)/n x S / t) of NVLS is 2(n-1)/(n+1) of its link bandwidth (NCCL's maintainer: algorithm
// bandwidth = link x n/(n+1), nccl-tests#212).
TEST(Nvls, MovesItsOwnShareBackSoItsEdgeOverTheRingGrowsWithTheGpuCount) {
  policy::CollectiveCase c;
  c.nodes = 1, c.in_switch_reduction = true, c.bytes = Bytes::gib(1);
  c.intra_bandwidth = Bandwidth::gbytes_per_s(450);
  const double S = Bytes::gib(1).bytes(), B = 450e9;
  const auto& nvls = *collective_algorithms().get("nvls").factory.cost;
  const auto& ring = *collective_algorithms().get("ring").factory.cost;
  for (int n : {3, 4, 5, 8}) {
    c.ranks = c.ranks_per_node = n;
    EXPECT_NEAR(nvls.estimate(c).s(), (n + 1.0) / n * S / B, 1e-12) << n;
    EXPECT_NEAR(ring.estimate(c).s() / nvls.estimate(c).s(), 2.0 * (n - 1) / (n + 1), 1e-12) << n;
  }
  c.ranks = c.ranks_per_node = 3;
  EXPECT_NEAR(ring.estimate(c).s(), nvls.estimate(c).s(), 1e-12);
}

// A ring all-reduce run as its 2(n-1) real steps (each a wave of n flows of S/n) takes as long as the one wave of
// aggregated flows, once the per-step latencies are accounted for.
TEST(Collectives, AggregatedRingTakesAsLongAsTheStepByStepRing) {
  auto engine_owner = sim::make_engine("simgrid");
  sim::Engine& engine = *engine_owner;
  LeafSpine topo(LeafSpineConfig{}, nodes(1, 8));
  policy::Spray spray;
  std::vector<sim::HostId> hosts;
  for (uint32_t i = 0; i < 8; ++i) hosts.push_back(engine.add_host("g" + std::to_string(i), FlopRate::tflops(1)));
  FlowTransfer flow(engine, topo, spray, {});
  flow.install(hosts);
  CollectiveConfig cc;
  cc.algorithm = "ring";
  cc.channels = 1;
  cc.base_latency = Duration();
  cc.step_latency = Duration();
  Collectives coll(engine, topo, flow, cc, 8);
  const Bytes S = Bytes::mib(256);
  double aggregated = -1, stepwise = -1;
  // The step-by-step ring: each wave starts the next. `step` lives here, past engine.run (a shared_ptr that
  // captured itself leaked).
  std::function<void(int)> step = [&](int i) {
    if (i == 14) {
      stepwise = engine.now().s() - aggregated;
      return;
    }
    std::vector<FlowRequest> wave;
    for (uint32_t r = 0; r < 8; ++r) wave.push_back({r, (r + 1) % 8, S / 8.0, 0});
    flow.transfer(wave, [&step, i] { step(i + 1); });
  };
  coll.all_reduce(all(8), S, [&] {
    aggregated = engine.now().s();
    step(0);
  });
  engine.run(Duration::seconds(1e9));
  // Each step pays the path latency (2 x 0.5 us) once; the aggregated wave pays it once in all.
  const double hop = 2 * 0.5e-6;
  EXPECT_NEAR(stepwise - 13 * hop, aggregated, 1e-9);
  EXPECT_NEAR(aggregated, hop + 2 * 7.0 / 8 * S.bytes() / 450e9, 1e-9);
}

TEST(Collectives, AllToAllvMovesEachPairsBytesAndTheBusiestReceiverSetsTheTime) {
  Fixture f(nodes(2, 4));
  const auto r = all(8);
  const Bytes pair = Bytes::mib(8);
  std::vector<std::vector<Bytes>> uniform(8, std::vector<Bytes>(8, pair)), hot = uniform;
  for (auto& row : hot) row[0] = pair * 3.0;  // every rank sends rank 0 three times as much
  double t_uniform = -1, t_a2a = -1, t_hot = -1;
  f.coll.all_to_allv(r, uniform, [&] {
    t_uniform = f.engine.now().s();
    f.coll.run(CollectiveOp::kAllToAll, r, pair * 8.0, [&] {
      t_a2a = f.engine.now().s() - t_uniform;
      const double start = f.engine.now().s();
      f.coll.all_to_allv(r, hot, [&, start] { t_hot = f.engine.now().s() - start; });
    });
  });
  f.engine.run(Duration::seconds(1e9));
  ASSERT_GT(t_uniform, 0);
  // Equal sizes: the same flows as the all-to-all of the whole buffer.
  EXPECT_NEAR(t_uniform, t_a2a, 1e-12);
  // Rank 0's NIC now receives 3x from the other node: the time grows by nearly that much (latency is fixed).
  EXPECT_GT(t_hot, 2.5 * t_uniform);
  EXPECT_LT(t_hot, 3.0 * t_uniform);
  EXPECT_EQ(f.coll.count(), 3u);
}

// The tuner over the registered algorithms, in the order Collectives hands them to it (by preference).
std::string tuned(const policy::CollectiveCase& c) {
  std::vector<std::pair<std::string, const policy::CollectiveCost*>> algos;
  for (const auto& [name, e] : collective_algorithms().entries()) algos.emplace_back(name, e.factory.cost.get());
  std::stable_sort(algos.begin(), algos.end(),
                   [](const auto& a, const auto& b) { return a.second->preference() < b.second->preference(); });
  std::vector<const policy::CollectiveCost*> costs;
  for (const auto& a : algos) costs.push_back(a.second);
  EXPECT_EQ(algos.front().first, "ring");
  return algos[policy::choose(costs, c).value()].first;
}

bool applies(const std::string& algo, const policy::CollectiveCase& c) {
  return collective_algorithms().get(algo).factory.cost->applies(c);
}

TEST(Tuner, ChoosesLikeNcclWouldForTheCommonShapes) {
  policy::CollectiveCase c;
  c.op = policy::CollectiveOp::kAllReduce;
  c.intra_bandwidth = Bandwidth::gbytes_per_s(450);
  c.inter_bandwidth = Bandwidth::gbytes_per_s(50);
  c.base_latency = Duration::us(8.4);
  c.step_latency = Duration::us(3.4);
  // One H100 node: in-switch reduction wins.
  c.ranks = 8, c.nodes = 1, c.ranks_per_node = 8, c.bytes = Bytes::of(64e6), c.in_switch_reduction = true;
  EXPECT_EQ(tuned(c), "nvls");
  // One A100-class node: ring.
  c.in_switch_reduction = false;
  EXPECT_EQ(tuned(c), "ring");
  // 128 nodes: small messages go by tree (log latency), large ones by ring.
  c.ranks = 1024, c.nodes = 128, c.bytes = Bytes::of(64e3);
  EXPECT_EQ(tuned(c), "tree");
  c.bytes = Bytes::of(4e9);
  EXPECT_EQ(tuned(c), "ring");
  EXPECT_FALSE(applies("nvls", c));
  c.ranks = 1000;
  EXPECT_FALSE(applies("halving_doubling", c));
  // Halving-doubling is never the tuner's choice, even where it is the fastest estimate.
  c.ranks = 8, c.nodes = 8, c.ranks_per_node = 1, c.bytes = Bytes::of(1e3), c.in_switch_reduction = false;
  EXPECT_TRUE(applies("halving_doubling", c));
  EXPECT_LT(collective_algorithms().get("halving_doubling").factory.cost->estimate(c),
            collective_algorithms().get("ring").factory.cost->estimate(c));
  EXPECT_NE(tuned(c), "halving_doubling");
}

TEST(CollectiveRegistry, EveryAlgorithmIsRegisteredWithADescriptionAndItsOperations) {
  const auto& r = collective_algorithms();
  EXPECT_EQ(r.names(), (std::vector<std::string>{"halving_doubling", "hierarchical", "nvls", "ring", "tree"}));
  for (const auto& [name, e] : r.entries()) {
    EXPECT_FALSE(e.description.empty()) << name;
    ASSERT_TRUE(e.factory.cost && e.factory.planner) << name;
  }
  // Which operations each implements (ring: all of them; NVLS, tree, hierarchical: all-reduce only).
  for (const auto& op : policy::collective_op_names()) {
    const auto o = policy::parse_op(op);
    EXPECT_TRUE(r.get("ring").factory.cost->supports(o)) << op;
    EXPECT_EQ(r.get("nvls").factory.cost->supports(o), o == CollectiveOp::kAllReduce) << op;
    EXPECT_EQ(r.get("tree").factory.cost->supports(o), o == CollectiveOp::kAllReduce) << op;
  }
  // An unknown name says which are valid.
  try {
    r.get("rnig");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'ring'"), std::string::npos) << e.what();
  }
}

TEST(CollectiveRegistry, TheScenarioKeyIsCheckedAgainstTheRegistry) {
  ConfigValue root;
  root.kind = ConfigValue::Kind::kMap;
  ConfigValue v;
  v.kind = ConfigValue::Kind::kScalar;
  v.scalar = "nvsl";
  root.set("algorithm", v);
  Diagnostics diags;
  CollectiveConfig cc;
  Section s = Section::parser(&root, "policies.collectives", &diags);
  cc.visit(s);
  s.finish();
  ASSERT_FALSE(diags.empty());
  std::string text;
  for (const auto& d : diags.items()) text += d.message + "\n";
  EXPECT_NE(text.find("nvls"), std::string::npos) << text;
  EXPECT_NE(text.find("halving_doubling"), std::string::npos) << text;
  // A pinned name that applies runs; one that does not falls back to the tuner (ring on an A100-class node).
  for (const auto& name : collective_algorithms().names()) {
    CollectiveConfig pinned;
    pinned.algorithm = name;
    Fixture f(nodes(1, 8, true), pinned);
    const std::string chosen = f.coll.algorithm_for(CollectiveOp::kAllReduce, all(8), Bytes::mib(64));
    EXPECT_EQ(chosen, name == "hierarchical" ? "nvls" : name) << name;
  }
}

TEST(NcclTests, BusBandwidthFactorsAreNcclTests) {
  EXPECT_DOUBLE_EQ(wl::NcclTests::bus_factor("all_reduce", 8), 2.0 * 7 / 8);
  EXPECT_DOUBLE_EQ(wl::NcclTests::bus_factor("all_gather", 8), 7.0 / 8);
  EXPECT_DOUBLE_EQ(wl::NcclTests::bus_factor("reduce_scatter", 8), 7.0 / 8);
  EXPECT_DOUBLE_EQ(wl::NcclTests::bus_factor("all_to_all", 8), 7.0 / 8);
  EXPECT_DOUBLE_EQ(wl::NcclTests::bus_factor("broadcast", 8), 1.0);
  EXPECT_DOUBLE_EQ(wl::NcclTests::bus_factor("send_recv", 2), 1.0);
}

}  // namespace
}  // namespace lcsim::net

namespace lcsim::net {
namespace {

TEST(Collectives, QueuePairsSplitOnlyConnectionsBetweenNodes) {
  Fixture f(nodes(2, 8));  // one engine per process: both collectives share it
  CollectiveConfig cc;
  cc.qps_per_connection = 4;
  Collectives four(f.engine, f.topo, f.transfer, cc, 8);
  const auto split = four.plan(CollectiveOp::kAllReduce, "ring", all(16), Bytes::mib(64));
  const auto base = f.coll.plan(CollectiveOp::kAllReduce, "ring", all(16), Bytes::mib(64));
  size_t cross = 0, base_cross = 0;
  std::set<std::tuple<uint32_t, uint32_t, uint64_t>> keys;
  for (const auto& fl : base.front().flows) base_cross += f.topo.node_of(fl.src) != f.topo.node_of(fl.dst);
  for (const auto& fl : split.front().flows) {
    if (f.topo.node_of(fl.src) == f.topo.node_of(fl.dst)) continue;
    ++cross;
    EXPECT_TRUE(keys.insert({fl.src, fl.dst, fl.label}).second) << "two QPs with the same label";
  }
  EXPECT_EQ(cross, 4 * base_cross);
  EXPECT_EQ(split.front().flows.size() - cross, base.front().flows.size() - base_cross);
  EXPECT_EQ(sent(split), sent(base));  // same bytes per rank
}

}  // namespace
}  // namespace lcsim::net

namespace lcsim::net {
namespace {

// Two protocols like NCCL's on an NVLink node: a low-latency one with less bandwidth and a high-bandwidth one
// with a larger fixed cost.
CollectiveConfig two_protocols() {
  CollectiveConfig cc;
  cc.algorithm = "ring";
  CollectiveProtocol ll128;
  ll128.name = "ll128";
  ll128.base_latency = Duration::us(30);
  ll128.step_latency = Duration::us(2);
  ll128.scale_up_efficiency = 0.5;
  ll128.intra_node_only = true;
  CollectiveProtocol simple;
  simple.name = "simple";
  simple.base_latency = Duration::us(60);
  simple.step_latency = Duration::us(3);
  simple.scale_up_efficiency = 0.65;
  cc.protocols = {ll128, simple};
  return cc;
}

TEST(Protocols, SmallMessagesTakeTheLowLatencyProtocolLargeOnesTheHighBandwidthOne) {
  Fixture f(nodes(1, 8), two_protocols());
  const auto r = all(8);
  // Estimates: 30 + 14 x 2 + V / (0.5 B) against 60 + 14 x 3 + V / (0.65 B), V = 2 x 7/8 x S, B = 450 GB/s:
  // equal at V = 44 us / (1/(0.5 B) - 1/(0.65 B)).
  const double B = 450e9, V = 44e-6 / (1 / (0.5 * B) - 1 / (0.65 * B)), crossover = V / (2 * 7.0 / 8);
  EXPECT_EQ(f.coll.choose(CollectiveOp::kAllReduce, r, Bytes::of(0.9 * crossover)).protocol, 0u);
  EXPECT_EQ(f.coll.choose(CollectiveOp::kAllReduce, r, Bytes::of(1.1 * crossover)).protocol, 1u);
  // The plan carries the chosen protocol's latency and moves bytes / its efficiency.
  const Bytes S = Bytes::mib(64);
  const auto ll = f.coll.plan(CollectiveOp::kAllReduce, "ring", r, S, 0);
  const auto simple = f.coll.plan(CollectiveOp::kAllReduce, "ring", r, S, 1);
  EXPECT_NEAR(ll.front().latency.s(), 30e-6 + 14 * 2e-6, 1e-12);
  EXPECT_NEAR(simple.front().latency.s(), 60e-6 + 14 * 3e-6, 1e-12);
  EXPECT_NEAR(sent(ll).at(0), 2 * 7.0 / 8 * S.bytes() / 0.5, 1e-3);
  EXPECT_NEAR(sent(simple).at(0), 2 * 7.0 / 8 * S.bytes() / 0.65, 1e-3);
  // Simulated, the small call is faster with ll128 and the large one with simple: the choice is the faster one.
  auto time_of = [&](Bytes size, size_t proto) {
    double t = 0;
    for (const auto& p : f.coll.plan(CollectiveOp::kAllReduce, "ring", r, size, proto)) {
      t += p.latency.s() + f.transfer.estimate(p.flows).s();
    }
    return t;
  };
  EXPECT_LT(time_of(Bytes::mib(1), 0), time_of(Bytes::mib(1), 1));
  EXPECT_GT(time_of(Bytes::mib(256), 0), time_of(Bytes::mib(256), 1));
}

TEST(Protocols, IntraNodeOnlyProtocolsAreNotUsedAcrossNodes) {
  Fixture f(nodes(2, 8), two_protocols());
  EXPECT_EQ(f.coll.choose(CollectiveOp::kAllReduce, all(8), Bytes::kib(64)).protocol, 0u);   // one node
  EXPECT_EQ(f.coll.choose(CollectiveOp::kAllReduce, all(16), Bytes::kib(64)).protocol, 1u);  // two nodes
}

TEST(Protocols, WithoutProtocolsTheConfigLatenciesAndEfficienciesStand) {
  CollectiveConfig cc;
  cc.base_latency = Duration::us(5);
  cc.step_latency = Duration::us(2);
  cc.scale_up_efficiency = 0.8;
  Fixture f(nodes(1, 4), cc);
  ASSERT_EQ(f.coll.protocols().size(), 1u);
  EXPECT_FALSE(f.coll.protocols_configured());
  const auto p = f.coll.plan(CollectiveOp::kAllReduce, "ring", all(4), Bytes::mib(8));
  EXPECT_NEAR(p.front().latency.s(), 5e-6 + 6 * 2e-6, 1e-12);
  EXPECT_NEAR(sent(p).at(0), 2 * 3.0 / 4 * Bytes::mib(8).bytes() / 0.8, 1e-3);
  EXPECT_NEAR(f.coll.ring_latency(4).s(), 5e-6 + 6 * 2e-6, 1e-12);
}

TEST(PointToPoint, SendRecvHasItsOwnLatencyAndEfficiencies) {
  CollectiveConfig cc = two_protocols();
  cc.scale_out_efficiency = 0.75;
  cc.p2p_latency = Duration::us(4);
  cc.p2p_scale_up_efficiency = 0.8;
  Fixture f(nodes(2, 2), cc);
  const Bytes S = Bytes::mib(16);
  // Ranks 0, 1 on node 0 and 2 on node 1: 0->1 inside the node, 1->2 and 2->0 across.
  const auto p = f.coll.plan(CollectiveOp::kSendRecv, "ring", {0, 1, 2}, S, 1);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p.front().latency.s(), 0) << "the latency travels with each flow (P2pCost::flow), as a pipeline send's";
  ASSERT_EQ(p.front().flows.size(), 3u);
  for (const auto& fl : p.front().flows) EXPECT_NEAR(fl.latency.s(), 4e-6, 1e-12);
  EXPECT_NEAR(p.front().flows[0].size.bytes(), S.bytes() / 0.8, 1e-3);   // p2p scale-up efficiency
  EXPECT_NEAR(p.front().flows[1].size.bytes(), S.bytes() / 0.75, 1e-3);  // 0 = the collective scale-out one
  // A ring collective on the same ranks uses the protocol's efficiency instead.
  const auto ar = f.coll.plan(CollectiveOp::kAllReduce, "ring", {0, 1}, S, 1);
  EXPECT_NEAR(sent(ar).at(0), S.bytes() / 0.65, 1e-3);
}

struct ParsedCollectives {
  CollectiveConfig config;
  std::vector<std::string> errors;
};

ParsedCollectives parse_collectives(const std::string& yaml) {
  ParsedCollectives out;
  ConfigValue tree = parse_yaml_text(yaml, "c.yaml");
  Diagnostics d;
  Section root = Section::parser(&tree, "", &d);
  root.section("collectives", "collectives", [&](Section& s) { out.config.visit(s); });
  root.finish();
  for (const auto& e : d.items()) out.errors.push_back(e.to_string());
  return out;
}

TEST(Protocols, ParsedFromTheScenarioWithClearErrors) {
  const auto ok = parse_collectives(
      "collectives:\n  protocols:\n    - {name: ll128, base_latency: 30us, scale_up_efficiency: 0.5, "
      "intra_node_only: true}\n    - {name: simple, step_latency: 3us}\n  p2p_scale_up_efficiency: 0.84\n");
  ASSERT_TRUE(ok.errors.empty()) << ok.errors.front();
  ASSERT_EQ(ok.config.protocols.size(), 2u);
  EXPECT_TRUE(ok.config.protocols[0].intra_node_only);
  EXPECT_NEAR(ok.config.protocols[0].base_latency.s(), 30e-6, 1e-12);
  EXPECT_NEAR(ok.config.protocols[1].step_latency.s(), 3e-6, 1e-12);
  EXPECT_DOUBLE_EQ(ok.config.p2p_scale_up_efficiency, 0.84);

  const auto dup = parse_collectives("collectives:\n  protocols: [{name: a}, {name: a}]\n");
  ASSERT_EQ(dup.errors.size(), 1u);
  EXPECT_NE(dup.errors[0].find("two protocols are named 'a'"), std::string::npos) << dup.errors[0];
  const auto intra = parse_collectives("collectives:\n  protocols: [{name: a, intra_node_only: true}]\n");
  ASSERT_EQ(intra.errors.size(), 1u);
  EXPECT_NE(intra.errors[0].find("every protocol is intra_node_only"), std::string::npos) << intra.errors[0];
  const auto range = parse_collectives("collectives:\n  protocols: [{name: a, scale_up_efficiency: 1.5}]\n");
  ASSERT_EQ(range.errors.size(), 1u);
  EXPECT_NE(range.errors[0].find("collectives.protocols[0].scale_up_efficiency"), std::string::npos)
      << range.errors[0];
  // A protocol's algorithms are registered names; some protocol must run rings across nodes.
  const auto typo = parse_collectives("collectives:\n  protocols: [{name: a, algorithms: [rnig]}]\n");
  ASSERT_FALSE(typo.errors.empty());
  EXPECT_NE(typo.errors[0].find("collectives.protocols[0].algorithms"), std::string::npos) << typo.errors[0];
  EXPECT_NE(typo.errors[0].find("did you mean 'ring'"), std::string::npos) << typo.errors[0];
  const auto no_ring = parse_collectives("collectives:\n  protocols: [{name: n, algorithms: [nvls]}]\n");
  ASSERT_EQ(no_ring.errors.size(), 1u);
  EXPECT_NE(no_ring.errors[0].find("leaves out 'ring'"), std::string::npos) << no_ring.errors[0];
}

// A protocol that names its algorithms runs only those: with an NVLS-only protocol beside a ring protocol, NVLS
// calls get the NVLS protocol's efficiency and rings the ring protocol's, and a pinned algorithm runs only with the
// protocols that list it.
TEST(Protocols, EachRunsOnlyTheAlgorithmsItNames) {
  CollectiveConfig cc;
  CollectiveProtocol ring, nvls;
  ring.name = "simple";
  ring.scale_up_efficiency = 0.8;
  ring.algorithms = {"ring", "tree", "hierarchical", "halving_doubling"};
  nvls.name = "nvls";
  nvls.scale_up_efficiency = 0.6;
  nvls.intra_node_only = true;
  nvls.algorithms = {"nvls"};
  cc.protocols = {ring, nvls};
  Fixture f(nodes(1, 8, true), cc);
  const auto big = Bytes::gib(1);
  const auto auto_choice = f.coll.choose(CollectiveOp::kAllReduce, all(8), big);
  EXPECT_EQ(auto_choice.algo, "nvls");  // 1.125/0.6 S beats 1.75/0.8 S
  EXPECT_EQ(f.coll.protocols()[auto_choice.protocol].name, "nvls");
  const auto pinned = f.coll.choose(CollectiveOp::kAllReduce, all(8), big, "ring");
  EXPECT_EQ(pinned.algo, "ring");
  EXPECT_EQ(f.coll.protocols()[pinned.protocol].name, "simple");
  // Flow sizes carry each protocol's own efficiency.
  const auto p = f.coll.plan(CollectiveOp::kAllReduce, "nvls", all(8), big, auto_choice.protocol);
  EXPECT_NEAR(p.front().flows.front().size.bytes(), big.bytes() * 9 / 8 / 0.6, 1.0);
  // On 2 GPUs NVLS does not run (NCCL: above two GPUs only) and the tuner takes the ring.
  EXPECT_EQ(f.coll.choose(CollectiveOp::kAllReduce, all(2), big).algo, "ring");
  // Send/recv and all-to-all only rings implement: the ring protocol runs them.
  EXPECT_EQ(f.coll.protocols()[f.coll.choose(CollectiveOp::kAllToAll, all(8), big).protocol].name, "simple");
}

// NVLS's steps by hand, from NCCL's chunking (src/enqueue.cc) on 8 GPUs and 16 channels: 128 concurrent chunks a
// round; the chunk is 16 KiB below 2 x 128 x 32 KiB = 8 MiB, 32 KiB below 8 x 128 x 64 KiB = 64 MiB, 64 KiB below
// 64 x 128 x 128 KiB = 1 GiB, else 128 KiB; one step per round, at most 8 (NCCL_STEPS).
TEST(Nvls, StepsFollowNcclsChunkingByHand) {
  const Bytes c = Bytes::kib(128);
  auto steps = [&](Bytes s, int ranks = 8, int channels = 16) { return policy::nvls_steps(s, ranks, channels, c); };
  EXPECT_EQ(steps(Bytes::kib(64)), 1);                       // 16 KiB chunks: 2 MiB a round
  EXPECT_EQ(steps(Bytes::mib(2)), 1);                        // exactly one round
  EXPECT_EQ(steps(Bytes::of(2 * 1048576.0 + 1)), 2);         // one byte more: a second round
  EXPECT_EQ(steps(Bytes::mib(4)), 2);                        // 16 KiB: 2 rounds
  EXPECT_EQ(steps(Bytes::mib(8)), 2);                        // 32 KiB (8 MiB is not below 8 MiB): 4 MiB a round
  EXPECT_EQ(steps(Bytes::mib(16)), 4);                       // 32 KiB: 4 rounds
  EXPECT_EQ(steps(Bytes::mib(64)), 8);                       // 64 KiB: 8 MiB a round, 8 rounds
  EXPECT_EQ(steps(Bytes::gib(1)), 8);                        // 128 KiB: 64 rounds, 8 in flight
  EXPECT_EQ(steps(Bytes::mib(4), 4), 2);                     // 4 GPUs: 64 chunks of 32 KiB a round
  EXPECT_EQ(steps(Bytes::mib(3), 4), 3);                     // 16 KiB: 1 MiB a round
  EXPECT_EQ(steps(Bytes::gib(1), 8, 0), 2);                  // no chunk channels: push once, receive once
}

// A Simple ring and a chunked NVLS protocol (30 us base, 6 us a step, 0.6 of the link, 16 channels, the floor given).
CollectiveConfig chunked_nvls(Duration floor = Duration::us(0)) {
  CollectiveConfig cc;
  CollectiveProtocol simple, nvls;
  simple.algorithms = {"ring"};
  nvls.name = "nvls";
  nvls.base_latency = Duration::us(30);
  nvls.step_latency = Duration::us(6);
  nvls.scale_up_efficiency = 0.6;
  nvls.chunk_channels = 16;
  nvls.floor_latency = floor;
  nvls.intra_node_only = true;
  nvls.algorithms = {"nvls"};
  cc.protocols = {simple, nvls};
  return cc;
}

// A chunked NVLS protocol (30 us base, 6 us a step, 0.6 of 450 GB/s, 16 channels) on one 8-GPU node: its flows
// carry each buffer once (and its own share back: 9/8 of it) at the protocol's efficiency, and the plan's latency is
// base + steps x step (1 MiB and 2 MiB the same: one round, the plateau) + the pipeline's one round of fill
// (policy::nvls_fill: the call itself up to one round, 2 MiB; 2 MiB at 4 MiB, 4 MiB at 16 MiB, 16 MiB at 1 GiB), 9/8
// of it at 0.6 x 450 GB/s; the tuner's estimate is the same sum with the data.
TEST(Nvls, ACallCostsBasePlusOneStepPerRoundPlusItsBytesAndOneRoundOfFill) {
  Fixture f(nodes(1, 8, true), chunked_nvls());
  const double MiB = 1048576;
  const std::vector<std::tuple<Bytes, double, double>> cases = {{Bytes::mib(1), 36, 1 * MiB},
                                                                {Bytes::mib(2), 36, 2 * MiB},
                                                                {Bytes::mib(4), 42, 2 * MiB},
                                                                {Bytes::mib(16), 54, 4 * MiB},
                                                                {Bytes::gib(1), 78, 16 * MiB}};
  for (const auto& [size, latency_us, fill] : cases) {
    const auto p = f.coll.plan(CollectiveOp::kAllReduce, "nvls", all(8), size, 1);
    ASSERT_EQ(p.size(), 1u);
    EXPECT_NEAR(p.front().latency.s() * 1e6, latency_us + 9.0 / 8 * fill / 270e9 * 1e6, 1e-9) << size.bytes();
    EXPECT_NEAR(p.front().flows.front().size.bytes(), size.bytes() * 9 / 8 / 0.6, 1e-6 * size.bytes());
  }
  policy::CollectiveCase c;
  c.ranks = 8, c.nodes = 1, c.ranks_per_node = 8, c.in_switch_reduction = true, c.bytes = Bytes::mib(1);
  c.intra_bandwidth = Bandwidth::gbytes_per_s(450 * 0.6);
  c.base_latency = Duration::us(30), c.step_latency = Duration::us(6), c.chunk_channels = 16;
  const double estimate_us = collective_algorithms().get("nvls").factory.cost->estimate(c).s() * 1e6;
  EXPECT_NEAR(estimate_us, 36 + 9.0 / 8 * 2 * MiB / 270e9 * 1e6, 1e-9);
}

// The fill by hand (8 GPUs, 16 channels, NCCL's chunking as in StepsFollowNcclsChunkingByHand): a call under one
// round keeps S / (8 x 16 KiB) channels busy, one slab each, so its fill is S; from one round up it is one round:
// 2 MiB (16 KiB chunks) below 8 MiB, 4 MiB (32 KiB) below 64 MiB, 8 MiB (64 KiB) below 1 GiB, 16 MiB from 1 GiB.
// The 8 MiB call (the H200 table's largest miss before the fill, -13.9%) takes two rounds of 4 MiB and 4 MiB of
// fill: 1.5x its bytes, against 1.5x at 4 MiB (two rounds of 2 MiB) and 1.25x at 16 MiB. Unchunked: none.
TEST(Nvls, ThePipelinesFillIsTheCallUpToOneRoundThenOneRound) {
  const Bytes c = Bytes::kib(128);
  auto fill_mib = [&](Bytes s, int ranks = 8, int channels = 16) {
    return policy::nvls_fill(s, ranks, channels, c).bytes() / 1048576;
  };
  EXPECT_DOUBLE_EQ(policy::nvls_round(Bytes::mib(1), 8, 16, c).bytes(), 2 * 1048576.0);
  EXPECT_DOUBLE_EQ(fill_mib(Bytes::kib(64)), 1.0 / 16);
  EXPECT_DOUBLE_EQ(fill_mib(Bytes::mib(1)), 1);
  EXPECT_DOUBLE_EQ(fill_mib(Bytes::mib(2)), 2);
  EXPECT_DOUBLE_EQ(fill_mib(Bytes::mib(4)), 2);
  EXPECT_DOUBLE_EQ(fill_mib(Bytes::mib(8)), 4);
  EXPECT_DOUBLE_EQ(fill_mib(Bytes::mib(16)), 4);
  EXPECT_DOUBLE_EQ(fill_mib(Bytes::mib(64)), 8);
  EXPECT_DOUBLE_EQ(fill_mib(Bytes::gib(1)), 16);
  EXPECT_DOUBLE_EQ(fill_mib(Bytes::gib(8)), 16);
  EXPECT_DOUBLE_EQ(fill_mib(Bytes::mib(8), 8, 24), 3);  // B200's 24 channels: 192 chunks of 16 KiB (below 12 MiB)
  EXPECT_DOUBLE_EQ(fill_mib(Bytes::gib(1), 8, 0), 0);   // unchunked (the GB200 NVL72 rack's line)
}

// The floor: a call never takes less than floor_latency (the measured curves' flat start), and the data pipeline
// runs under it. Same protocol as above with a 40 us floor: 1 MiB would take 36 us + 9/8 x 2 MiB / 270 GB/s =
// 44.74 us, above the floor (unchanged; the plan's latency 36 us + the fill's 4.37 us); 64 KiB would take 36 + 9/8 x
// 128 KiB / 270 GB/s = 36.55 us: 40 us. The plan pads its latency so that latency + the flows' time on an idle link
// (9/8 x 64 KiB / 0.6 at 450 GB/s = 0.27 us) is the floor: 39.73 us. The estimate of the tuner and the plan agree.
TEST(Nvls, AFloorHoldsSmallCallsAndThePlanPadsItsLatencyToIt) {
  Fixture f(nodes(1, 8, true), chunked_nvls(Duration::us(40)));
  const double data_64k = 9.0 / 8 * 65536 / 270e9;  // 64 KiB's flows, 9/8 of it, at 0.6 x 450 GB/s
  const auto small = f.coll.plan(CollectiveOp::kAllReduce, "nvls", all(8), Bytes::kib(64), 1);
  EXPECT_NEAR(small.front().latency.s(), 40e-6 - data_64k, 1e-15);
  const auto mib = f.coll.plan(CollectiveOp::kAllReduce, "nvls", all(8), Bytes::mib(1), 1);
  EXPECT_NEAR(mib.front().latency.s(), 36e-6 + 9.0 / 8 * 1048576 / 270e9, 1e-15);
  policy::CollectiveCase c;
  c.ranks = 8, c.nodes = 1, c.ranks_per_node = 8, c.in_switch_reduction = true;
  c.intra_bandwidth = Bandwidth::gbytes_per_s(450 * 0.6);
  c.base_latency = Duration::us(30), c.step_latency = Duration::us(6), c.chunk_channels = 16;
  c.floor_latency = Duration::us(40);
  const auto& cost = *collective_algorithms().get("nvls").factory.cost;
  c.bytes = Bytes::kib(64);
  EXPECT_NEAR(cost.estimate(c).s(), 40e-6, 1e-15);
  c.bytes = Bytes::mib(1);
  EXPECT_NEAR(cost.estimate(c).s(), 36e-6 + 9.0 / 8 * 2 * 1048576 / 270e9, 1e-15);
}

// NCCL enables NVLS only above two GPUs (src/transport/nvls.cc): on 2 the tuner cannot pick it and a scenario's
// pin falls back to the tuner's ring; on 3 it applies.
TEST(Nvls, NeverOnTwoGpus) {
  policy::CollectiveCase c;
  c.nodes = 1, c.in_switch_reduction = true;
  c.ranks = c.ranks_per_node = 2;
  EXPECT_FALSE(applies("nvls", c));
  c.ranks = c.ranks_per_node = 3;
  EXPECT_TRUE(applies("nvls", c));
  CollectiveConfig cc;
  cc.algorithm = "nvls";
  Fixture f(nodes(1, 8, true), cc);
  EXPECT_EQ(f.coll.choose(CollectiveOp::kAllReduce, all(2), Bytes::gib(1)).algo, "ring");
  EXPECT_EQ(f.coll.choose(CollectiveOp::kAllReduce, all(3), Bytes::gib(1)).algo, "nvls");
}

}  // namespace
}  // namespace lcsim::net
