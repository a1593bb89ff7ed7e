// Storage tiers, checkpoint save/restore over the fabric, and data loading: each expected time is derived by hand
// from the bottleneck of its path (bytes crossing the busiest resource / its capacity, plus the path's latency).
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <set>

#include "models/network/explicit_topology.h"
#include "models/network/topology.h"
#include "models/storage/checkpoint.h"
#include "models/storage/dataset.h"
#include "models/storage/tier.h"

namespace lcsim::storage {
namespace {

// Two 8-GPU nodes, each GPU on its own PCIe Gen5 x16 switch (63.04 GB/s), 600 GB/s of host memory, four 400G
// storage NICs (200 GB/s); storage servers of 400 Gb/s (50 GB/s) each.
net::NodeShape io_node() {
  net::NodeShape n{8, Bandwidth::gbytes_per_s(450), Bandwidth::gbits_per_s(400), false,
                   {{"storage", Bandwidth::gbits_per_s(4 * 400)}}};
  n.io = {Bandwidth::gbytes_per_s(63.04), Bandwidth(), 8, Bandwidth::gbytes_per_s(63.04),
          Bandwidth::gbytes_per_s(600), Duration::ns(115)};
  return n;
}

net::LeafSpineConfig fabric(int servers) {
  net::LeafSpineConfig c;
  c.ports_per_leaf = 8;
  c.spines = 2;
  c.storage_servers = servers;
  c.storage_server_bandwidth = Bandwidth::gbits_per_s(400);
  c.uplink_bandwidth = Bandwidth::gbits_per_s(3200);  // a non-blocking compute fabric
  return c;
}

hw::NodeSpec node_spec() {
  hw::NodeSpec n;
  n.name = "test-node";
  n.gpus = 8;
  n.accelerator.hbm_bandwidth = Bandwidth::gbytes_per_s(3350);
  n.accelerator.hbm_capacity = Bytes::gb(80);
  n.host_memory = Bytes::gb(2000);
  n.host_memory_bandwidth = Bandwidth::gbytes_per_s(600);
  n.nvme_read_bandwidth = Bandwidth::gbytes_per_s(52);
  n.nvme_write_bandwidth = Bandwidth::gbytes_per_s(28);
  n.nvme_capacity = Bytes::gb(30720);
  return n;
}

Registry<TierFactory> tiers() {
  Registry<TierFactory> r("storage tier");
  register_storage_tiers(r);
  return r;
}

struct Cluster {
  explicit Cluster(int servers) : t(fabric(servers), std::vector<net::NodeShape>(2, io_node())) {
    for (uint32_t g = 0; g < 16; ++g) job.endpoints.push_back(g);
    job.parameters = 16e9 / 14;  // 16 GB of state: 1 GB per rank
    st.parallel_fs.servers = servers;
  }
  CheckpointCost run(const std::string& tier, const std::string& mode) {
    CheckpointConfig c;
    c.levels.push_back({tier, mode, 1});
    return checkpoint_cost(c, st, t, specs, job);
  }
  net::LeafSpine t;
  hw::NodeSpec spec = node_spec();
  std::vector<const hw::NodeSpec*> specs{&spec, &spec};
  StorageConfig st;
  CheckpointJob job;
};

// Latency of the slowest path of a save is at most a few microseconds; the bandwidth terms are tenths of seconds.
constexpr double kLatency = 5e-6;

TEST(StorageTier, ParallelFsFiguresComeFromItsServers) {
  StorageConfig st;
  st.parallel_fs.servers = 10;
  st.parallel_fs.server_network = Bandwidth::gbits_per_s(8 * 200);  // 200 GB/s of NICs
  st.parallel_fs.server_read = Bandwidth::gbytes_per_s(90);
  st.parallel_fs.server_write = Bandwidth::gbytes_per_s(65);
  st.parallel_fs.server_iops = 3e6;
  st.parallel_fs.rack_units = 2;
  const hw::NodeSpec n = node_spec();
  const auto fs = tiers().get("parallel_fs").factory({&st, &n});
  const TierFigures f = fs->figures();
  EXPECT_DOUBLE_EQ(f.read.bps(), 900e9);  // 10 x min(200, 90) GB/s
  EXPECT_DOUBLE_EQ(f.write.bps(), 650e9);
  EXPECT_DOUBLE_EQ(f.iops, 30e6);
  EXPECT_DOUBLE_EQ(f.read.bps() / f.rack_units, 45e9);  // 45 GB/s per rack unit
  // 4 KiB random reads: the request rate binds (30M x 4096 B = 122.9 GB/s), not the 900 GB/s of bandwidth.
  EXPECT_DOUBLE_EQ(fs->throughput(Op::kRead, Bytes::kib(4), 64).bps(), 30e6 * 4096);
  EXPECT_DOUBLE_EQ(fs->throughput(Op::kRead, Bytes::mib(4), 64).bps(), 900e9);
  // A per-client cap binds with few clients.
  st.parallel_fs.client_bandwidth = Bandwidth::gbytes_per_s(20);
  const auto capped = tiers().get("parallel_fs").factory({&st, &n});
  EXPECT_DOUBLE_EQ(capped->throughput(Op::kRead, Bytes::mib(4), 4).bps(), 80e9);
}

TEST(StorageTier, ObjectStorePaysItsRequestLatencyOnEveryConnection) {
  StorageConfig st;
  st.object_store.bandwidth = Bandwidth::gbytes_per_s(100);
  st.object_store.request_latency = Duration::ms(20);
  st.object_store.connection_bandwidth = Bandwidth::gbytes_per_s(0.1);
  st.object_store.connections_per_client = 16;
  const hw::NodeSpec n = node_spec();
  const auto os = tiers().get("object_store").factory({&st, &n});
  // 64 KiB objects: 65536 / (0.02 + 65536 / 1e8) per connection, x 16 connections x 8 clients.
  const double per_conn = 65536 / (0.02 + 65536 / 1e8);
  EXPECT_NEAR(os->throughput(Op::kRead, Bytes::kib(64), 8).bps(), per_conn * 16 * 8, 1e-6);
  // 1 GiB objects stream at the connection rate; 1000 clients hit the aggregate.
  EXPECT_NEAR(os->throughput(Op::kRead, Bytes::gib(1), 1).bps(), 16 * 1.0737e9 / (0.02 + 10.737), 2e6);
  EXPECT_DOUBLE_EQ(os->throughput(Op::kRead, Bytes::gib(1), 1000).bps(), 100e9);
}

TEST(StorageTier, NodeTiersComeFromTheTemplate) {
  StorageConfig st;
  st.local_nvme_iops = 1.2e6;
  const hw::NodeSpec n = node_spec();
  const auto r = tiers();
  EXPECT_DOUBLE_EQ(r.get("hbm").factory({&st, &n})->figures().read.bps(), 8 * 3350e9);
  EXPECT_DOUBLE_EQ(r.get("host_dram").factory({&st, &n})->figures().write.bps(), 600e9);
  const auto nvme = r.get("local_nvme").factory({&st, &n});
  EXPECT_DOUBLE_EQ(nvme->figures().write.bps(), 28e9);
  EXPECT_DOUBLE_EQ(nvme->throughput(Op::kRead, Bytes::kib(1), 1).bps(), 1.2e6 * 1024);
  EXPECT_THROW(r.get("tape"), InputError);
}

// 16 ranks x 1 GB with GPUDirect to one server: 16 GB through the server's 50 GB/s port (GPU PCIe 63 GB/s, each
// node's 200 GB/s of storage NICs are wider) = 0.32 s.
TEST(Checkpoint, SyncSaveTakesItsBottleneckTime) {
  Cluster s(1);
  const LevelCost c = s.run("parallel_fs", "sync").levels.at(0);
  EXPECT_DOUBLE_EQ(c.per_rank.bytes(), 1e9);
  EXPECT_NEAR(c.save.s(), 16e9 / 50e9, kLatency);
  EXPECT_EQ(c.blocking, c.save);
  EXPECT_EQ(c.bottleneck, "storage0.down");
  // A slower medium behind the port becomes the bottleneck: 16 GB / 20 GB/s.
  s.st.parallel_fs.server_write = Bandwidth::gbytes_per_s(20);
  const LevelCost slow = s.run("parallel_fs", "sync").levels.at(0);
  EXPECT_NEAR(slow.save.s(), 16e9 / 20e9, kLatency);
  EXPECT_EQ(slow.bottleneck, "storage0.media_write");
  // Four servers: each gets 4 GB, at 50 GB/s each: 0.08 s; now each node's storage NICs (8 GB at 200 GB/s = 0.04 s)
  // and each GPU's PCIe link (1 GB at 63.04 GB/s = 0.0159 s) are still wider.
  Cluster four(4);
  EXPECT_NEAR(four.run("parallel_fs", "sync").levels.at(0).save.s(), 4e9 / 50e9, kLatency);
}

// Staging through host memory: with a CPU copy limit of 10 GB/s per host, each host pushes 8 GB: 0.8 s, slower than
// the 0.32 s of GPUDirect; host memory carries every byte twice (in and out).
TEST(Checkpoint, StagingThroughHostMemoryAddsItsCopyLimit) {
  Cluster s(1);
  s.st.gpudirect = false;
  EXPECT_NEAR(s.run("parallel_fs", "sync").levels.at(0).save.s(), 16e9 / 50e9, kLatency);  // no copy limit: same
  s.st.host_copy_bandwidth = Bandwidth::gbytes_per_s(10);
  const LevelCost c = s.run("parallel_fs", "sync").levels.at(0);
  EXPECT_NEAR(c.save.s(), 8e9 / 10e9, kLatency);
  EXPECT_EQ(c.bottleneck, "n0.cpu_copy");
}

// Async: training waits for the snapshot (1 GB per GPU over its 63.04 GB/s PCIe link; 8 GB per node through 600 GB/s
// of DRAM is faster), the flush to the server (0.32 s) runs in the background.
TEST(Checkpoint, AsyncBlocksOnlyForTheSnapshot) {
  Cluster s(1);
  const LevelCost c = s.run("parallel_fs", "async").levels.at(0);
  EXPECT_NEAR(c.blocking.s(), 1e9 / 63.04e9, kLatency);
  EXPECT_NEAR(c.save.s(), 1e9 / 63.04e9 + 16e9 / 50e9, 2 * kLatency);
}

// Local NVMe: each node writes 8 GB at 28 GB/s; peer memory: each node's 8 GB crosses its 200 GB/s of storage NICs.
TEST(Checkpoint, LocalAndPeerLevels) {
  Cluster s(1);
  EXPECT_NEAR(s.run("local_nvme", "sync").levels.at(0).save.s(), 8e9 / 28e9, kLatency);
  EXPECT_NEAR(s.run("peer_memory", "sync").levels.at(0).save.s(), 8e9 / 200e9, kLatency);
}

// Restore with one reader per data-parallel group: TP 8 (a node), DP 2. The 8 readers (node 0) read 16 GB / 8 =
// 2 GB each from one 50 GB/s server: 0.32 s; then each sends its 2 GB to its peer on node 1 over 400 Gb/s NICs:
// 2 GB / 50 GB/s = 0.04 s.
TEST(Checkpoint, RestoreReadsOncePerGroupAndBroadcasts) {
  Cluster s(1);
  s.job.tensor_parallel = 8;
  const LevelCost c = s.run("parallel_fs", "sync").levels.at(0);
  EXPECT_NEAR(c.restore_read.s(), 16e9 / 50e9, kLatency);
  EXPECT_NEAR(c.restore_broadcast.s(), 2e9 / 50e9, kLatency);
  EXPECT_NEAR(c.restore.s(), c.restore_read.s() + c.restore_broadcast.s(), 1e-12);
}

TEST(Checkpoint, MissingTierNamesItsKey) {
  Cluster s(0);
  try {
    s.run("parallel_fs", "sync");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint.levels[0].tier"), std::string::npos) << e.what();
  }
}

// Converged NICs (node template storage_nic_attach: gpu_nic) on every kind of topology: two 2-GPU nodes with no
// storage NICs; each GPU's storage traffic, and its host's, leaves through that GPU's own compute NIC ports (one per
// plane on leaf_spine, each of its own links on an explicit topology) and through no other GPU's. Found by hand
// from the links' names and ends, not from the topology's own port lists.
struct ConvergedCase {
  std::string name;
  std::function<std::unique_ptr<net::Topology>(const std::vector<net::NodeShape>&)> build;
  int ports;  // NIC ports per GPU
};

net::NodeShape converged_node() {
  net::NodeShape n{2, Bandwidth::gbytes_per_s(450), Bandwidth::gbits_per_s(400), false, {}};
  n.io = {Bandwidth::gbytes_per_s(63.04), Bandwidth(), 2, Bandwidth::gbytes_per_s(63.04),
          Bandwidth::gbytes_per_s(600), Duration::ns(115), /*storage_on_gpu_nic=*/true};
  return n;
}

std::vector<ConvergedCase> converged_cases() {
  auto leaf_spine = [](std::function<void(net::LeafSpineConfig&)> set) {
    return [set](const std::vector<net::NodeShape>& nodes) -> std::unique_ptr<net::Topology> {
      net::LeafSpineConfig c = fabric(1);
      set(c);
      return std::make_unique<net::LeafSpine>(c, nodes);
    };
  };
  auto explicit_tor = [](const std::vector<net::NodeShape>& nodes) -> std::unique_ptr<net::Topology> {
    net::ExplicitConfig x;  // every GPU on two top-of-rack switches, the two joined
    x.switches = {{"tor0", "tor", {}}, {"tor1", "tor", {}}};
    for (int k = 0; k < 2; ++k) {
      for (int g = 0; g < 2; ++g) {
        for (int t = 0; t < 2; ++t) {
          net::ExplicitConfig::Link l;
          l.a = "n" + std::to_string(k) + ".gpu" + std::to_string(g);
          l.b = "tor" + std::to_string(t);
          x.links.push_back(l);
        }
      }
    }
    net::ExplicitConfig::Link spine;
    spine.a = "tor0";
    spine.b = "tor1";
    x.links.push_back(spine);
    return std::make_unique<net::ExplicitTopology>(fabric(1), x, nodes);
  };
  return {
      {"leaf_spine", leaf_spine([](auto&) {}), 1},
      {"two planes", leaf_spine([](auto& c) { c.planes = 2; }), 2},
      {"four planes, rail-optimised", leaf_spine([](auto& c) { c.planes = 4; c.rail_optimized = true; }), 4},
      {"three tiers", leaf_spine([](auto& c) { c.tiers = 3; c.leaves_per_pod = 1; c.cores_per_spine = 1; }), 1},
      {"explicit, two ToRs", explicit_tor, 2},
  };
}

/// The (GPU, link) pairs of the scale-out links leaving a GPU (up) or entering it on `paths`.
std::set<std::pair<uint32_t, uint32_t>> gpu_ports(const net::Topology& t, const std::vector<net::Path>& paths,
                                                  bool up) {
  std::set<std::pair<uint32_t, uint32_t>> out;
  for (const auto& p : paths) {
    for (uint32_t l : p) {
      const net::LinkInfo& li = t.links()[l];
      const uint32_t gpu = up ? li.from : li.to;
      if (gpu < t.endpoint_count() && li.tier != "pcie" && li.tier != "scale_up") out.insert({gpu, l});
    }
  }
  return out;
}

TEST(ConvergedNic, EveryGpuReachesStorageThroughItsOwnPortsOnEveryTopologyKind) {
  for (const ConvergedCase& c : converged_cases()) {
    const auto t = c.build(std::vector<net::NodeShape>(2, converged_node()));
    const uint32_t server = t->storage_endpoint(0);
    std::vector<net::Path> paths;
    // Each GPU of node 1 (GPUDirect): one way per port of its own, both directions, through no other GPU's.
    for (uint32_t g = 2; g < 4; ++g) {
      t->service_paths(g, server, paths);
      EXPECT_EQ(paths.size(), static_cast<size_t>(c.ports)) << c.name;
      const auto ups = gpu_ports(*t, paths, true);
      EXPECT_EQ(ups.size(), static_cast<size_t>(c.ports)) << c.name;
      for (const auto& [gpu, link] : ups) EXPECT_EQ(gpu, g) << c.name << ": " << t->links()[link].name;
      t->service_paths(server, g, paths);
      const auto downs = gpu_ports(*t, paths, false);
      EXPECT_EQ(downs.size(), static_cast<size_t>(c.ports)) << c.name;
      for (const auto& [gpu, link] : downs) EXPECT_EQ(gpu, g) << c.name;
    }
    // Node 0's host (a flush from host memory): one way per port of each of its GPUs.
    t->service_paths(t->host_endpoint(0), server, paths);
    EXPECT_EQ(paths.size(), static_cast<size_t>(2 * c.ports)) << c.name;
    const auto ups = gpu_ports(*t, paths, true);
    EXPECT_EQ(ups.size(), static_cast<size_t>(2 * c.ports)) << c.name;
    std::set<uint32_t> gpus;
    for (const auto& [gpu, link] : ups) gpus.insert(gpu);
    EXPECT_EQ(gpus, (std::set<uint32_t>{0, 1})) << c.name;
  }
}

// An explicit topology whose GPU has no link of its own cannot carry that GPU's converged storage traffic: an
// error naming the key.
TEST(ConvergedNic, AnExplicitGpuWithoutALinkIsAnError) {
  net::ExplicitConfig x;
  x.switches = {{"tor0", "tor", {}}};
  for (const char* gpu : {"n0.gpu0", "n0.gpu1", "n1.gpu0"}) {  // n1.gpu1 left out
    net::ExplicitConfig::Link l;
    l.a = gpu;
    l.b = "tor0";
    x.links.push_back(l);
  }
  try {
    net::ExplicitTopology t(fabric(1), x, std::vector<net::NodeShape>(2, converged_node()));
    FAIL();
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cluster.explicit.links"), std::string::npos) << what;
    EXPECT_NE(what.find("n1.gpu1 has no link of its own"), std::string::npos) << what;
  }
}

// Training needs 100M tokens/s x 4 B = 400 MB/s. Two nodes of local NVMe at 1.2M IOPS with 32 KiB shuffled samples
// deliver 2 x 1.2M x 32768 B = 78.6 GB/s; an object store with 20 ms per request, 16 connections per node and
// 32 KiB objects delivers 2 x 16 x 32768 / (0.02 + 32768 / 1e8) B/s = 51.6 MB/s: training runs 7.75x slower.
TEST(Dataset, SmallShuffledReadsFromAnObjectStoreCannotKeepUp) {
  StorageConfig st;
  st.local_nvme_iops = 1.2e6;
  st.object_store.bandwidth = Bandwidth::gbytes_per_s(100);
  DatasetConfig c;
  c.source = "local_nvme";
  c.access = "shuffled";
  c.read_size = Bytes::kib(32);
  const hw::NodeSpec n = node_spec();
  const auto r = tiers();
  DataLoad d = evaluate_dataset(c, st, r, n, 2, Bandwidth(), 1e8);
  EXPECT_DOUBLE_EQ(d.needed, 4e8);
  EXPECT_DOUBLE_EQ(d.delivered, 2 * 1.2e6 * 32768);
  EXPECT_DOUBLE_EQ(d.slowdown, 1.0);
  c.source = "object_store";
  d = evaluate_dataset(c, st, r, n, 2, Bandwidth(), 1e8);
  const double os = 2 * 16 * 32768 / (0.02 + 32768 / 1e8);
  EXPECT_NEAR(d.delivered, os, 1e-3);
  EXPECT_NEAR(d.slowdown, 4e8 / os, 1e-9);
  MetricSet m;
  EXPECT_EQ(report_dataset(d, c, "", m).size(), 1u);
  EXPECT_DOUBLE_EQ(m.get("data_loading_slowdown"), d.slowdown);
}

// Staging 100 TB onto the parallel file system: the site link (100 Gb/s = 12.5 GB/s) binds: 8000 s.
TEST(Dataset, StagingTakesTheSlowestLegOfTheCopy) {
  StorageConfig st;
  st.parallel_fs.servers = 4;
  st.object_store.bandwidth = Bandwidth::gbytes_per_s(100);
  st.object_store.connection_bandwidth = Bandwidth::gbytes_per_s(1);
  DatasetConfig c;
  c.source = "parallel_fs";
  c.size = Bytes::gb(100000);
  c.staged = true;
  c.staging_link = Bandwidth::gbits_per_s(100);
  const hw::NodeSpec n = node_spec();
  const DataLoad d = evaluate_dataset(c, st, tiers(), n, 16, Bandwidth(), 1e6);
  EXPECT_NEAR(d.staging.s(), 1e14 / 12.5e9, 1e-6);
  EXPECT_DOUBLE_EQ(d.staging_bytes.bytes(), 1e14);
}

}  // namespace
}  // namespace lcsim::storage
