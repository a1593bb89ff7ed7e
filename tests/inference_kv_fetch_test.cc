// KV-cache tier fetches as flows on the transfer model (workloads/inference/kv_fetch.h): one fetch takes its tier's
// latency plus its bytes over the path's narrowest link; fetches over one link share it; the ssd drives queue; a
// cluster without the path falls back to the configured bandwidth.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "models/network/topology.h"
#include "models/network/transfer.h"
#include "policies/load_balancing.h"
#include "workloads/inference/kv_fetch.h"

namespace lcsim::inf {
namespace {

const Bandwidth kGen5x16 = Bandwidth::gbytes_per_s(63.04);  // PCIe Gen5 x16, per direction

// Two nodes of 8 GPUs, each GPU on its own PCIe switch (HGX H100), a 400 Gb/s storage NIC per host.
net::NodeShape io_node() {
  net::NodeShape n{8, Bandwidth::gbytes_per_s(450), Bandwidth::gbits_per_s(400), false,
                   {{"storage", Bandwidth::gbits_per_s(400)}}};
  n.io = {kGen5x16, Bandwidth(), 8, kGen5x16, Bandwidth::gbytes_per_s(600), Duration::ns(115)};
  return n;
}

net::LeafSpineConfig fabric(int storage_servers) {
  net::LeafSpineConfig c;
  c.ports_per_leaf = 16;
  c.spines = 4;
  c.storage_servers = storage_servers;
  c.storage_server_bandwidth = Bandwidth::gbits_per_s(800);
  return c;
}

const std::vector<KvTierLink> kTiers = {{"dram", 6e-6, 51e9}, {"ssd", 80e-6, 6.9e9}, {"pool", 170e-6, 50e9}};

class KvFetch : public ::testing::TestWithParam<std::string> {
 protected:
  void build(net::LeafSpine& t) {
    if (GetParam() == "flow") {
      std::vector<sim::HostId> hosts;
      for (uint32_t i = 0; i < t.all_endpoint_count(); ++i) {
        hosts.push_back(engine_->add_host("e" + std::to_string(i), FlopRate::tflops(1)));
      }
      auto f = std::make_unique<net::FlowTransfer>(*engine_, t, spray_, net::TransferOptions{});
      f->install(hosts);
      tm_ = std::move(f);
    } else {
      tm_ = std::make_unique<net::AnalyticalTransfer>(*engine_, t, spray_, net::TransferOptions{});
    }
    fetcher_ = std::make_unique<KvFetcher>(*engine_, *tm_, t, kTiers);
    for (uint32_t g = 0; g < 16; ++g) fetcher_->add_gpu(g);
  }
  // Starts fetches of `bytes` from `tier` to GPU `gpu` at time 0; returns when each one ended.
  std::vector<double> run(const std::vector<std::pair<std::string, uint32_t>>& fetches, double bytes) {
    std::vector<double> took(fetches.size(), -1);
    for (size_t k = 0; k < fetches.size(); ++k) {
      fetcher_->fetch({fetches[k].second}, {fetches[k].first}, {bytes},
                      [this, &took, k] { took[k] = engine_->now().s(); });
    }
    engine_->run(Duration::seconds(100));
    return took;
  }
  static double path_latency(const net::Topology& t, uint32_t from, uint32_t to) {
    std::vector<net::Path> p;
    t.service_paths(from, to, p);
    double s = 0;
    for (uint32_t l : p.at(0)) s += t.links()[l].latency.s();
    return s;
  }
  std::unique_ptr<sim::Engine> engine_ = sim::make_engine(GetParam() == "flow" ? "simgrid" : "queue");
  policy::Spray spray_;
  std::unique_ptr<net::TransferModel> tm_;
  std::unique_ptr<KvFetcher> fetcher_;
};

// 1 GB from host DRAM to GPU 0: host memory (600 GB/s), the switch uplink and the GPU's PCIe link (63.04 GB/s
// each): 6 us + 1e9 / 63.04e9 + the path's two 115 ns PCIe hops.
TEST_P(KvFetch, OneDramFetchIsLatencyPlusBytesOverThePcieLink) {
  net::LeafSpine t(fabric(0), std::vector<net::NodeShape>(2, io_node()));
  build(t);
  EXPECT_TRUE(fetcher_->modelled("dram", 0));
  EXPECT_FALSE(fetcher_->modelled("pool", 0));  // no storage servers
  const double lat = path_latency(t, t.host_endpoint(0), 0);
  EXPECT_NEAR(lat, 2 * 115e-9, 1e-15);
  const auto took = run({{"dram", 0}}, 1e9);
  EXPECT_NEAR(took[0], 6e-6 + 1e9 / 63.04e9 + lat, 1e-9);
  EXPECT_DOUBLE_EQ(tm_->bytes_per_link()[t.find_links("n0.gpu0.pcie_down")[0]], 1e9);
}

// 1 GB from the pool, striped over two storage servers (800 Gb/s ports): both halves cross the host's 400 Gb/s
// storage NIC (50 GB/s, the narrowest link), then PCIe into the GPU: 170 us + 1e9 / 50e9 + the path latency.
TEST_P(KvFetch, OnePoolFetchCrossesTheStoragePlaneAtItsNarrowestLink) {
  net::LeafSpine t(fabric(2), std::vector<net::NodeShape>(2, io_node()));
  build(t);
  ASSERT_TRUE(fetcher_->modelled("pool", 9));
  const double lat = path_latency(t, t.storage_endpoint(0), 9);
  const auto took = run({{"pool", 9}}, 1e9);  // GPU 1 of node 1
  EXPECT_NEAR(took[0], 170e-6 + 1e9 / 50e9 + lat, 1e-9);
  EXPECT_DOUBLE_EQ(tm_->bytes_per_link()[t.find_links("storage0.up")[0]], 0.5e9);
  EXPECT_DOUBLE_EQ(tm_->bytes_per_link()[t.find_links("storage1.up")[0]], 0.5e9);
  EXPECT_DOUBLE_EQ(tm_->bytes_per_link()[t.find_links("n1.gpu1.pcie_down")[0]], 1e9);
}

// The ssd tier: the drives (6.9 GB/s per GPU) are slower than PCIe, so one fetch is 80 us + 1e9 / 6.9e9; two at
// once on one GPU's share of the drives are served in turn (the second ends at twice the bytes' time).
TEST_P(KvFetch, SsdFetchesQueueOnTheDrives) {
  net::LeafSpine t(fabric(0), std::vector<net::NodeShape>(2, io_node()));
  build(t);
  const auto took = run({{"ssd", 0}, {"ssd", 0}, {"ssd", 1}}, 1e9);
  EXPECT_NEAR(took[0], 80e-6 + 1e9 / 6.9e9, 1e-9);
  EXPECT_NEAR(took[1], 80e-6 + 2e9 / 6.9e9, 1e-9);
  EXPECT_NEAR(took[2], 80e-6 + 1e9 / 6.9e9, 1e-9);  // GPU 1: its own share of the drives
}

// Without host I/O in the node shape there is no path: bytes / the configured bandwidth per GPU, after the latency.
TEST_P(KvFetch, WithoutAPathTheConfiguredBandwidthIsUsed) {
  net::NodeShape plain{8, Bandwidth::gbytes_per_s(450), Bandwidth::gbits_per_s(400)};
  net::LeafSpine t(fabric(0), std::vector<net::NodeShape>(2, plain));
  build(t);
  EXPECT_FALSE(fetcher_->modelled("dram", 0));
  const auto took = run({{"dram", 0}, {"pool", 3}}, 1e9);
  EXPECT_NEAR(took[0], 6e-6 + 1e9 / 51e9, 1e-9);
  EXPECT_NEAR(took[1], 170e-6 + 1e9 / 50e9, 1e-9);
}

// One fetch from two tiers at once: done when the slower tier is. An instance of two GPUs splits the bytes.
TEST_P(KvFetch, AFetchFromTwoTiersEndsWithTheSlowerAndSplitsOverTheGpus) {
  net::LeafSpine t(fabric(0), std::vector<net::NodeShape>(2, io_node()));
  build(t);
  double done = -1;
  fetcher_->fetch({0, 1}, {"dram", "ssd"}, {2e9, 2e9}, [&] { done = engine_->now().s(); });
  engine_->run(Duration::seconds(100));
  // ssd: 1 GB per GPU at 6.9 GB/s; its PCIe share of the flows ends well before.
  EXPECT_NEAR(done, 80e-6 + 1e9 / 6.9e9, 1e-9);
  EXPECT_DOUBLE_EQ(fetcher_->bytes_fetched()[0], 2e9);
  EXPECT_DOUBLE_EQ(fetcher_->bytes_fetched()[1], 2e9);
}

INSTANTIATE_TEST_SUITE_P(Transfer, KvFetch, ::testing::Values("flow", "analytical"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

// Two fetches over one GPU's PCIe link at once share it fairly on the flow model: each takes twice as long as
// one alone. (The analytical model keeps a batch's own PCIe link to itself: it contends only on the fabric.)
TEST(KvFetchFlow, TwoConcurrentFetchesOverOneLinkEachTakeTwiceAsLong) {
  auto engine = sim::make_engine("simgrid");
  policy::Spray spray;
  net::LeafSpine t(fabric(0), std::vector<net::NodeShape>(2, io_node()));
  std::vector<sim::HostId> hosts;
  for (uint32_t i = 0; i < t.all_endpoint_count(); ++i) {
    hosts.push_back(engine->add_host("e" + std::to_string(i), FlopRate::tflops(1)));
  }
  net::FlowTransfer tm(*engine, t, spray, net::TransferOptions{});
  tm.install(hosts);
  KvFetcher f(*engine, tm, t, kTiers);
  f.add_gpu(0);
  std::vector<net::Path> p;
  t.service_paths(t.host_endpoint(0), 0, p);
  double lat = 0;
  for (uint32_t l : p.at(0)) lat += t.links()[l].latency.s();
  double a = -1, b = -1;
  f.fetch({0}, {"dram"}, {1e9}, [&] { a = engine->now().s(); });
  f.fetch({0}, {"dram"}, {1e9}, [&] { b = engine->now().s(); });
  engine->run(Duration::seconds(100));
  EXPECT_NEAR(a, 6e-6 + 2e9 / 63.04e9 + lat, 1e-9);
  EXPECT_NEAR(b, a, 1e-12);
}

}  // namespace
}  // namespace lcsim::inf
