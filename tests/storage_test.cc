// Storage tiers, checkpoint save/restore over the fabric, and data loading: each expected time is derived by hand
// from the bottleneck of its path (bytes crossing the busiest resource / its capacity, plus the path's latency).
#include <gtest/gtest.h>

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
