// Hosts, storage servers and the PCIe path as network endpoints, and ECMP collisions (split from network_test.cc).
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

// Hosts and storage servers are endpoints: a checkpoint-sized flow from a node's host to a storage server crosses
// the storage network at the slower of the two ports, on both transfer models; a GPU reaches neither yet.
class ServiceEndpoints : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<sim::Engine> engine_ = sim::make_engine(GetParam() == "flow" ? "simgrid" : "queue");
  policy::Spray spray_;
};

TEST_P(ServiceEndpoints, HostsAndStorageServersAreEndpoints) {
  LeafSpineConfig cfg = small_fabric();
  cfg.storage_servers = 2;
  cfg.storage_server_bandwidth = Bandwidth::gbits_per_s(800);
  std::vector<NodeShape> shapes = uniform(2, 8);
  for (auto& n : shapes) n.host_networks = {{"storage", Bandwidth::gbits_per_s(400)}, {"frontend", Bandwidth::gbits_per_s(200)}};
  LeafSpine t(cfg, shapes);
  EXPECT_EQ(t.service_endpoint_count(), 4u);  // two hosts, two servers
  const uint32_t host0 = t.host_endpoint(0), host1 = t.host_endpoint(1), server = t.storage_endpoint(1);
  EXPECT_EQ(t.endpoint_name(host0), "n0.host");
  EXPECT_EQ(t.endpoint_name(server), "storage1");
  std::vector<Path> p;
  t.service_paths(host0, server, p);
  EXPECT_EQ(p.size(), 1u);  // the storage network only
  t.service_paths(host0, host1, p);
  EXPECT_EQ(p.size(), 1u);  // storage only: data between hosts stays off the frontend while both are on storage
  EXPECT_EQ(t.links()[p[0][0]].name, "n0.host.storage_up");  // no host I/O here: no DRAM hop
  EXPECT_THROW(t.storage_endpoint(2), InputError);

  sim::Engine* engine = engine_.get();
  std::unique_ptr<TransferModel> tm;
  if (GetParam() == "flow") {
    std::vector<sim::HostId> hosts;
    for (uint32_t i = 0; i < t.all_endpoint_count(); ++i) hosts.push_back(engine->add_host("e" + std::to_string(i), FlopRate::tflops(1)));
    auto f = std::make_unique<FlowTransfer>(*engine, t, spray_, TransferOptions{});
    f->install(hosts);
    tm = std::move(f);
  } else {
    tm = std::make_unique<AnalyticalTransfer>(*engine, t, spray_, TransferOptions{});
  }
  double done = -1;
  tm->transfer({{host0, server, Bytes::gb(1)}}, [&] { done = engine->now().s(); });
  engine->run(Duration::seconds(10));
  EXPECT_NEAR(done, 1e9 / 50e9 + 2 * cfg.link_latency.s(), 1e-9);  // the host's 400 Gb/s storage NIC
  try {
    tm->transfer({{0, server, Bytes::gb(1)}}, [] {});
    ADD_FAILURE() << "a GPU reached a storage server";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no path from gpu 0 to storage1"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Transfer, ServiceEndpoints, ::testing::Values("flow", "analytical"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace lcsim::net

namespace lcsim::net {
namespace {

// The path between a GPU and the world outside its scale-up domain: its PCIe link to a switch it may share, the
// switch's uplink to the root complex, host memory behind it, and the host's NICs (docs/calibration.md, "GPU to
// NIC and host"). PCIe Gen5 x16: 63.04 GB/s per direction.
const Bandwidth kGen5x16 = Bandwidth::gbytes_per_s(63.04);

NodeShape io_node(uint32_t gpus, uint32_t switches, Bandwidth nic) {
  NodeShape n{gpus, Bandwidth::gbytes_per_s(450), nic, false,
              {{"storage", Bandwidth::gbits_per_s(400)}, {"frontend", Bandwidth::gbits_per_s(200)}}};
  n.io = {kGen5x16, Bandwidth(), switches, kGen5x16, Bandwidth::gbytes_per_s(600), Duration::ns(115)};
  return n;
}

class HostIoPaths : public ::testing::TestWithParam<std::string> {
 protected:
  /// A transfer model of the kind under test over `t` (every endpoint, services included, an engine host).
  std::unique_ptr<TransferModel> transfer_over(Topology& t) {
    if (GetParam() == "flow") {
      std::vector<sim::HostId> hosts;
      for (uint32_t i = 0; i < t.all_endpoint_count(); ++i) {
        hosts.push_back(engine_->add_host("e" + std::to_string(i), FlopRate::tflops(1)));
      }
      auto f = std::make_unique<FlowTransfer>(*engine_, t, spray_, TransferOptions{});
      f->install(hosts);
      return f;
    }
    return std::make_unique<AnalyticalTransfer>(*engine_, t, spray_, TransferOptions{});
  }
  /// Runs the batches one after the other (each starts when the one before has ended) and returns how long
  /// each took (-1: never ended).
  std::vector<double> run(TransferModel& tm, const std::vector<std::vector<FlowRequest>>& batches) {
    std::vector<double> took(batches.size(), -1);
    std::function<void(size_t)> next = [&](size_t i) {
      if (i == batches.size()) return;
      const double start = engine_->now().s();
      tm.transfer(batches[i], [&, i, start] {
        took[i] = engine_->now().s() - start;
        next(i + 1);
      });
    };
    next(0);
    engine_->run(Duration::seconds(100));
    return took;
  }
  static double latency(const Topology& t, const Path& p) {
    double s = 0;
    for (uint32_t l : p) s += t.links()[l].latency.s();
    return s;
  }
  std::unique_ptr<sim::Engine> engine_ = sim::make_engine(GetParam() == "flow" ? "simgrid" : "queue");
  policy::Spray spray_;
};

std::vector<std::string> names(const Topology& t, const Path& p) {
  std::vector<std::string> out;
  for (uint32_t l : p) out.push_back(t.links()[l].name);
  return out;
}

// GPUDirect Storage: GPU 0 -> storage server crosses the GPU's PCIe link, its switch's uplink, the host's storage
// NIC and the storage plane; staging goes GPU -> host memory, then host memory -> storage NIC.
TEST_P(HostIoPaths, GpuToStorageCrossesItsPcieLinkAndTheStoragePlane) {
  LeafSpineConfig cfg = small_fabric();
  cfg.storage_servers = 1;
  LeafSpine t(cfg, std::vector<NodeShape>(2, io_node(8, 4, Bandwidth::gbits_per_s(400))));
  const uint32_t host0 = t.host_endpoint(0), server = t.storage_endpoint(0);
  std::vector<Path> p;
  t.service_paths(0, server, p);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(names(t, p[0]), (std::vector<std::string>{"n0.gpu0.pcie_up", "n0.pcie0.uplink_up",
                                                       "n0.host.storage_up", "storage0.down"}));
  t.service_paths(1, host0, p);  // GPU 1 to its own host's memory
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(names(t, p[0]), (std::vector<std::string>{"n0.gpu1.pcie_up", "n0.pcie0.uplink_up", "n0.dram"}));
  t.service_paths(host0, server, p);  // the staged copy's second leg starts in host memory
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(names(t, p[0]), (std::vector<std::string>{"n0.dram", "n0.host.storage_up", "storage0.down"}));
  t.service_paths(server, 9, p);  // a restore into GPU 1 of node 1
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(names(t, p[0]), (std::vector<std::string>{"storage0.up", "n1.host.storage_down", "n1.pcie0.uplink_down",
                                                       "n1.gpu1.pcie_down"}));

  auto tm = transfer_over(t);
  t.service_paths(0, server, p);
  const Path direct = p[0];
  t.service_paths(0, host0, p);
  const Path to_host = p[0];
  // GPUDirect, then staging (GPU -> host memory, host memory -> server), one after the other.
  const auto took = run(*tm, {{{0, server, Bytes::gb(1)}}, {{0, host0, Bytes::gb(1)}}, {{host0, server, Bytes::gb(1)}}});
  // 1 GB at the slowest hop: the 400 Gb/s storage NIC (50 GB/s), below PCIe's 63 GB/s.
  EXPECT_NEAR(took[0], 1e9 / 50e9 + latency(t, direct), 1e-9);
  EXPECT_NEAR(took[1], 1e9 / 63.04e9 + latency(t, to_host), 1e-9);  // into host memory at PCIe rate
  EXPECT_NEAR(took[2], 1e9 / 50e9 + 2 * cfg.link_latency.s(), 1e-9);
  // Both ways cross the GPU's PCIe link and the storage plane once each; only staging goes through host memory,
  // twice (in and out).
  auto carried = [&](const char* link) { return tm->bytes_per_link()[t.find_links(link)[0]]; };
  EXPECT_DOUBLE_EQ(carried("n0.gpu0.pcie_up"), 2e9);
  EXPECT_DOUBLE_EQ(carried("n0.pcie0.uplink_up"), 2e9);
  EXPECT_DOUBLE_EQ(carried("n0.host.storage_up"), 2e9);
  EXPECT_DOUBLE_EQ(carried("storage0.down"), 2e9);
  EXPECT_DOUBLE_EQ(carried("n0.dram"), 2e9);
}

// Converged NICs (node template storage_nic_attach: gpu_nic): no storage NIC on the root complex; the storage plane
// is reached through each GPU's own compute NIC port. GPUDirect from a GPU crosses its PCIe link and its NIC port;
// host memory goes down a PCIe switch's uplink to the NIC port of a GPU behind it (one way per NIC) and comes back
// the same way; host to host (peer memory) takes any NIC out and any NIC in; the frontend keeps its own port.
TEST(HostIo, ConvergedNicsCarryStorageThroughEachGpusNicPort) {
  LeafSpineConfig cfg = small_fabric();
  cfg.storage_servers = 1;
  NodeShape n = io_node(2, 2, Bandwidth::gbits_per_s(400));
  n.host_networks = {{"frontend", Bandwidth::gbits_per_s(200)}};
  n.io.storage_on_gpu_nic = true;
  LeafSpine t(cfg, std::vector<NodeShape>(2, n));
  const uint32_t host0 = t.host_endpoint(0), host1 = t.host_endpoint(1), server = t.storage_endpoint(0);
  using Names = std::vector<std::string>;
  std::vector<Path> p;
  t.service_paths(0, server, p);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(names(t, p[0]), (Names{"n0.gpu0.pcie_up", "n0.gpu0.nic_up", "storage0.down"}));
  t.service_paths(host0, server, p);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(names(t, p[0]), (Names{"n0.dram", "n0.pcie0.uplink_down", "n0.gpu0.nic_up", "storage0.down"}));
  EXPECT_EQ(names(t, p[1]), (Names{"n0.dram", "n0.pcie1.uplink_down", "n0.gpu1.nic_up", "storage0.down"}));
  t.service_paths(server, 3, p);  // a restore into GPU 1 of node 1
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(names(t, p[0]), (Names{"storage0.up", "n1.gpu1.nic_down", "n1.gpu1.pcie_down"}));
  t.service_paths(server, host1, p);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(names(t, p[1]), (Names{"storage0.up", "n1.gpu1.nic_down", "n1.pcie1.uplink_up", "n1.dram"}));
  t.service_paths(host0, host1, p);  // 2 NICs out x 2 NICs in (the frontend only if storage were cut)
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(names(t, p[3]), (Names{"n0.dram", "n0.pcie1.uplink_down", "n0.gpu1.nic_up", "n1.gpu1.nic_down",
                                   "n1.pcie1.uplink_up", "n1.dram"}));
  t.service_paths(1, host0, p);  // a GPU and its own host: PCIe, as before
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(names(t, p[0]), (Names{"n0.gpu1.pcie_up", "n0.pcie1.uplink_up", "n0.dram"}));
}

// GPUs 0 and 1 share PCIe switch 0 (4 switches for 8 GPUs): copying to host memory together they share its uplink;
// GPUs 0 and 2 sit on different switches and do not.
TEST_P(HostIoPaths, TwoGpusBehindOnePcieSwitchShareIt) {
  LeafSpine t(small_fabric(), std::vector<NodeShape>(2, io_node(8, 4, Bandwidth::gbits_per_s(400))));
  EXPECT_EQ(t.pcie_switch_of(1), 0u);
  EXPECT_EQ(t.pcie_switch_of(2), 1u);
  const uint32_t host = t.host_endpoint(0);
  auto tm = transfer_over(t);
  std::vector<Path> p;
  t.service_paths(0, host, p);
  const double lat = latency(t, p[0]);
  const Bytes gb = Bytes::gb(1);
  const auto took = run(*tm, {{{0, host, gb}, {1, host, gb}}, {{0, host, gb}, {2, host, gb}}, {{0, 8, gb}, {1, 9, gb}}});
  EXPECT_NEAR(took[0], 2e9 / 63.04e9 + lat, 1e-9);
  EXPECT_NEAR(took[1], 1e9 / 63.04e9 + lat, 1e-9);
  // GPU-to-NIC traffic stays below the switch: two GPUs on one switch each send at their NIC's rate.
  EXPECT_NEAR(took[2], 1e9 / 50e9, 2e-6);
}

// A node of one GPU with eight 400G NICs (what {base: hgx-h100, gpus: 1} gives): the NICs could carry 400 GB/s,
// the GPU's PCIe link carries 63 GB/s, and that is what it sends at; without the PCIe path it would send at 400.
TEST_P(HostIoPaths, OneGpuNodeSendsAtItsPcieRate) {
  const Bandwidth eight_nics = Bandwidth::gbits_per_s(8 * 400);
  LeafSpine t(small_fabric(), std::vector<NodeShape>(2, io_node(1, 0, eight_nics)));
  EXPECT_DOUBLE_EQ(t.nic_bandwidth(0).bps(), 63.04e9);
  std::vector<Path> p;
  t.paths(0, 1, p);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(names(t, p[0]), (std::vector<std::string>{"n0.gpu0.pcie_up", "n0.gpu0.nic_up", "n1.gpu0.nic_down",
                                                       "n1.gpu0.pcie_down"}));
  auto tm = transfer_over(t);
  EXPECT_NEAR(run(*tm, {{{0, 1, Bytes::gb(1)}}})[0], 1e9 / 63.04e9 + latency(t, p[0]), 1e-9);
  // A failed PCIe link cuts the GPU off the network.
  ASSERT_TRUE(t.fail("n0.gpu0.pcie_up"));
  t.paths(0, 1, p);
  EXPECT_TRUE(p.empty());
}

TEST(HostIo, WithoutPcieTheNicsSetTheRate) {
  LeafSpine t(small_fabric(), std::vector<NodeShape>(2, {1, Bandwidth::gbytes_per_s(450),
                                                         Bandwidth::gbits_per_s(8 * 400)}));
  EXPECT_DOUBLE_EQ(t.nic_bandwidth(0).bps(), 400e9);
  EXPECT_EQ(t.pcie_link(0, true), -1);
  EXPECT_THROW(t.host_endpoint(0), InputError);
}

INSTANTIATE_TEST_SUITE_P(Transfer, HostIoPaths, ::testing::Values("flow", "analytical"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace lcsim::net

namespace lcsim::net {
namespace {

// Static path collisions on both transfer models: eight GPUs of leaf 0 each send 1 GB to a GPU of leaf 1, each as
// its own batch (independent senders), over eight spines. Per-flow ECMP hashes some of them onto the same uplink,
// which they share; spraying splits every flow over all eight. On the flow model (max-min) and on the analytical
// one (a fabric link serves the bytes routed over it in turn) the permutation ends when the busiest uplink has
// carried its k flows: k x 20 ms, against 20 ms sprayed.
class Collisions : public ::testing::TestWithParam<std::string> {
 protected:
  /// The permutation under `policy` on this model, in a child process (one SimGrid simulation per process):
  /// when its last flow ended, and how many flows the busiest spine uplink carried.
  std::pair<double, double> permutation(const std::string& policy) {
    const std::string fidelity = GetParam();
    const auto text = testing::text_in_child([&] {
      auto engine = sim::make_engine(fidelity == "flow" ? "simgrid" : "queue");
      LeafSpineConfig cfg;
      cfg.ports_per_leaf = 8;
      cfg.spines = 8;
      LeafSpine t(cfg, uniform(2, 8));
      policy::EcmpHash ecmp(1);
      policy::Spray spray;
      const policy::LoadBalancer& lb = policy == "ecmp" ? static_cast<const policy::LoadBalancer&>(ecmp) : spray;
      std::unique_ptr<TransferModel> tm;
      if (fidelity == "flow") {
        std::vector<sim::HostId> hosts;
        for (uint32_t i = 0; i < t.endpoint_count(); ++i) {
          hosts.push_back(engine->add_host("g" + std::to_string(i), FlopRate::tflops(1)));
        }
        auto f = std::make_unique<FlowTransfer>(*engine, t, lb, TransferOptions{});
        f->install(hosts);
        tm = std::move(f);
      } else {
        tm = std::make_unique<AnalyticalTransfer>(*engine, t, lb, TransferOptions{});
      }
      double end = 0;
      for (uint32_t i = 0; i < 8; ++i) {
        tm->transfer({{i, 8 + (i + 3) % 8, Bytes::gb(1)}}, [&] { end = engine->now().s(); });
      }
      engine->run(Duration::seconds(10));
      double busiest = 0;
      for (size_t l = 0; l < t.links().size(); ++l) {
        if (t.links()[l].tier == "spine") busiest = std::max(busiest, tm->bytes_per_link()[l] / 1e9);
      }
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g %.17g", end, busiest);
      return std::string(buf);
    });
    EXPECT_TRUE(text.has_value());
    std::pair<double, double> r{-1, -1};
    if (text) std::sscanf(text->c_str(), "%lf %lf", &r.first, &r.second);
    return r;
  }
};

TEST_P(Collisions, EcmpSlowerThanSprayOnAPermutation) {
  const auto [ecmp_end, busiest] = permutation("ecmp");
  const auto [spray_end, spread] = permutation("spray");
  ASSERT_GE(busiest, 2.0) << "this seed's hash should collide (8 flows on 8 spines collide with p = 99.8%)";
  EXPECT_NEAR(spread, 1.0, 1e-9);  // 8 x 1/8 GB on every uplink
  const double latency = 4 * LeafSpineConfig{}.link_latency.s();
  EXPECT_NEAR(ecmp_end, busiest * 0.020 + latency, 1e-6);
  EXPECT_NEAR(spray_end, 0.020 + latency, 1e-6);
  EXPECT_GT(ecmp_end, 1.5 * spray_end);
}

INSTANTIATE_TEST_SUITE_P(Transfer, Collisions, ::testing::Values("flow", "analytical"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace lcsim::net
