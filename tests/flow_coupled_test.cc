// Coupled all-to-all classes on the flow model (TransferOptions::couple_from): a class of coupled flows (same size,
// extra latency and path latency) runs as one engine flow at one rate over all its paths. Derived by hand and
// checked against the per-flow run on a small fabric, on both engine backends.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/network/collectives.h"
#include "models/network/topology.h"
#include "models/network/transfer.h"
#include "network_fabrics.h"
#include "policies/load_balancing.h"
#include "sim/engine.h"

namespace lcsim::net {
namespace {

using testing_fabrics::uniform;

// Four nodes of 8 GPUs on one leaf (ports_per_leaf 32): every network flow is NIC up, NIC down (50 GB/s, 0.6 us
// each); GPUs of one node talk over their scale-up links. The all-to-all's ranks: GPUs 0, 1, 2 (node 0), 8, 9, 10
// (node 1) and 16 (node 2). Each rank's NIC carries one flow per rank on another node: 4 for the six ranks on
// nodes 0 and 1, 6 for GPU 16.
//   Per flow (exact max-min): the flows from and to GPU 16 get c/6 on its NIC links; a node-0 GPU's NIC up also
//   carries three flows to node 1, which share the rest: (c - c/6) / 3 = 5c/18 each (and so on GPU 8's NIC down).
//   Those end at S / (5c/18) = 3.6 S/c; the flows of GPU 16 at 6 S/c.
//   Coupled: every network flow moves at the rate of the most loaded link, c/6: all end at 6 S/c. Same finish
//   time (the class's most loaded link is busy at c/6 per flow throughout either way), but a node-0 GPU's NIC up
//   carries 4 x c/6 = 2c/3 instead of c/6 + 3 x 5c/18 = c meanwhile.
constexpr double kC = 50e9, kS = 1e9, kNetLatency = 2 * 0.6e-6;

struct Outcome {
  double finish = -1, nic_rate = -1;
  size_t engine_flows = 0;
};

// The fabric of both tests: four nodes of 8 GPUs on one leaf (32 ports) with `spines` spines, ECMP, one host per
// GPU, and the flow model over them coupling all-to-all classes of `couple_from` flows or more.
struct Rig {
  Rig(const std::string& backend, int spines, size_t couple_from, int ports_per_leaf = 32)
      : engine_owner(sim::make_engine(backend)), topology(config(spines, ports_per_leaf), uniform(4, 8)) {
    std::vector<sim::HostId> hosts;
    for (uint32_t i = 0; i < 32; ++i) hosts.push_back(engine().add_host("g" + std::to_string(i), FlopRate::tflops(1)));
    TransferOptions opts;
    opts.couple_from = couple_from;
    flow = std::make_unique<FlowTransfer>(engine(), topology, ecmp, opts);
    flow->install(hosts);
  }
  static LeafSpineConfig config(int spines, int ports_per_leaf) {
    LeafSpineConfig cfg;
    cfg.ports_per_leaf = ports_per_leaf;
    cfg.spines = spines;
    return cfg;
  }
  sim::Engine& engine() { return *engine_owner; }

  std::unique_ptr<sim::Engine> engine_owner;
  LeafSpine topology;
  policy::EcmpHash ecmp{1};
  std::unique_ptr<FlowTransfer> flow;
};

Outcome all_to_all(const std::string& backend, size_t couple_from) {
  Rig rig(backend, 4, couple_from);
  sim::Engine& engine = rig.engine();
  const LeafSpine& t = rig.topology;
  FlowTransfer& flow = *rig.flow;
  const std::vector<uint32_t> ranks{0, 1, 2, 8, 9, 10, 16};
  std::vector<FlowRequest> flows;
  for (uint32_t a : ranks) {
    for (uint32_t b : ranks) {
      if (a != b) flows.push_back(FlowRequest{a, b, Bytes::of(kS), 0, true});
    }
  }
  std::vector<Path> p;
  t.paths(0, 8, p);
  const uint32_t nic_up = p.at(0).at(0);
  Outcome r;
  const size_t before = engine.activities_started();
  flow.transfer(flows, [&] { r.finish = engine.now().s(); });
  r.engine_flows = engine.activities_started() - before;
  engine.at(Duration::ms(10), [&] { r.nic_rate = flow.current_rate(nic_up).bps(); });
  engine.run(Duration::seconds(1e9));
  for (uint32_t l = 0; l < t.links().size(); ++l) EXPECT_EQ(flow.load(l), 0.0) << t.links()[l].name;
  return r;
}

class CoupledAllToAll : public testing::TestWithParam<std::string> {};

// (One engine per test: SimGrid allows one per process.)
TEST_P(CoupledAllToAll, ClassMovesAtItsMostLoadedLinksRate) {
  const Outcome run = all_to_all(GetParam(), 2);
  // 42 flows: 12 inside node 0 or node 1 over scale-up links (one class), 30 over the network (one class).
  EXPECT_EQ(run.engine_flows, 2u);
  EXPECT_NEAR(run.finish, kNetLatency + 6 * kS / kC, 1e-9);
  EXPECT_NEAR(run.nic_rate, 4 * kC / 6, 1e3);
}

TEST_P(CoupledAllToAll, PerFlowRunEndsAtTheSameTime) {
  const Outcome run = all_to_all(GetParam(), 1u << 20);
  EXPECT_EQ(run.engine_flows, 42u);
  EXPECT_NEAR(run.finish, kNetLatency + 6 * kS / kC, 1e-9);
  EXPECT_NEAR(run.nic_rate, kC, 1e3);
}

// Coupling is for large all-to-alls only: a batch with fewer coupled flows than couple_from, or flows not marked
// coupled, keep one engine flow each.
TEST_P(CoupledAllToAll, BelowTheThresholdEveryFlowIsItsOwnEngineFlow) {
  const Outcome run = all_to_all(GetParam(), 43);
  EXPECT_EQ(run.engine_flows, 42u);
}

// An all-to-all that comes again with the same ranks and sizes reuses its routes and classes (FlowTransfer keeps
// the plan of a coupled batch): two leaves of two nodes (ports_per_leaf 16) under 4 spines, so ECMP picks a spine
// per cross-leaf flow. Run three times one after the other, the second takes the first's time and adds exactly
// its bytes on every link; after a spine link the all-to-all crossed goes down, the third routes around
// it (it carries no more bytes) and still ends.
TEST_P(CoupledAllToAll, RepeatedAllToAllReusesItsRoutesUntilALinkGoesDown) {
  Rig rig(GetParam(), 4, 2, 16);
  sim::Engine& engine = rig.engine();
  const LeafSpine& t = rig.topology;
  FlowTransfer& flow = *rig.flow;
  const std::vector<uint32_t> ranks{0, 1, 9, 16, 17, 30};
  std::vector<FlowRequest> flows;
  for (uint32_t a : ranks) {
    for (uint32_t b : ranks) {
      if (a != b) flows.push_back(FlowRequest{a, b, Bytes::of(kS), 0, true});
    }
  }
  auto run = [&] {
    const double start = engine.now().s();
    double end = -1;
    flow.transfer(flows, [&] { end = engine.now().s(); });
    engine.run(engine.now() + Duration::seconds(1));  // (SimGrid moves its clock to the horizon at the end)
    for (uint32_t l = 0; l < t.links().size(); ++l) EXPECT_EQ(flow.load(l), 0.0) << t.links()[l].name;
    return end - start;
  };
  const double first = run();
  const std::vector<double> once = flow.bytes_per_link();
  const double second = run();
  EXPECT_GT(first, 0.0);
  EXPECT_NEAR(second, first, 1e-12 * first);  // (it starts later: the clock's rounding differs in the last bits)
  uint32_t spine_link = UINT32_MAX;
  for (uint32_t l = 0; l < t.links().size(); ++l) {
    EXPECT_DOUBLE_EQ(flow.bytes_per_link()[l], 2 * once[l]) << t.links()[l].name;
    if (spine_link == UINT32_MAX && once[l] > 0 && t.links()[l].name.find("spine") != std::string::npos) {
      spine_link = l;
    }
  }
  ASSERT_NE(spine_link, UINT32_MAX);
  flow.set_link_up(spine_link, false);
  const std::vector<double> twice = flow.bytes_per_link();
  EXPECT_GT(run(), 0.0);
  EXPECT_EQ(flow.bytes_per_link()[spine_link], twice[spine_link]);
}

INSTANTIATE_TEST_SUITE_P(Backend, CoupledAllToAll, testing::Values("queue", "simgrid"),
                         [](const testing::TestParamInfo<std::string>& i) { return i.param; });

// The collectives library marks an all-to-all's flows coupled (and nothing else's).
TEST(CoupledAllToAll, CollectivesMarkAllToAllFlowsOnly) {
  Rig rig("queue", 32, 2);
  sim::Engine& engine = rig.engine();
  const LeafSpine& t = rig.topology;
  FlowTransfer& flow = *rig.flow;
  Collectives coll(engine, t, flow, CollectiveConfig{}, 8);
  std::vector<uint32_t> ranks;
  for (uint32_t i = 0; i < 32; ++i) ranks.push_back(i);
  size_t before = engine.activities_started();
  bool done = false;
  coll.run(policy::CollectiveOp::kAllToAll, ranks, Bytes::mib(32), [&] { done = true; });
  engine.run(Duration::seconds(1e9));
  ASSERT_TRUE(done);
  // 32 x 31 flows in two classes: scale-up, and the network's (every pair's path is two NIC links).
  EXPECT_EQ(engine.activities_started() - before, 2u);
  before = engine.activities_started();
  coll.run(policy::CollectiveOp::kAllGather, ranks, Bytes::mib(32), [] {});
  engine.run(Duration::seconds(1e9));
  EXPECT_GT(engine.activities_started() - before, 32u);
}

}  // namespace
}  // namespace lcsim::net
