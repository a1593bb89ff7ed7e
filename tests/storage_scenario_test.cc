// The shipped storage example end to end: the file system's vendor-style figures from its component numbers, each
// checkpoint level's time against the bottleneck of its path on the real node template, data loading, and the
// checkpoint cost handed to the reliability model.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "scenarios/scenario.h"

namespace lcsim {
namespace {

const char* kExample = "scenarios/examples/storage-checkpoint-h100.yaml";

MetricSet run(const std::vector<std::string>& overrides = {}) {
  std::vector<std::string> all = {"outputs.timeline=false"};
  all.insert(all.end(), overrides.begin(), overrides.end());
  Scenario sc = load_scenario(kExample, all);
  return run_scenario(sc).metrics;
}

// Four appliances of 8 x 200 Gb/s ports (200 GB/s), 90 GB/s read and 65 GB/s write media, 3M IOPS, 2U each.
TEST(StorageExample, ReproducesTheVendorFiguresFromItsComponents) {
  const MetricSet m = run();
  EXPECT_DOUBLE_EQ(m.get("storage_pfs_read_bytes_per_s"), 4 * 90e9);
  EXPECT_DOUBLE_EQ(m.get("storage_pfs_write_bytes_per_s"), 4 * 65e9);
  EXPECT_DOUBLE_EQ(m.get("storage_pfs_iops"), 4 * 3e6);
  EXPECT_DOUBLE_EQ(m.get("storage_pfs_read_bytes_per_s_per_rack_unit"), 45e9);
}

TEST(StorageExample, EachLevelTakesTheBottleneckOfItsPath) {
  const MetricSet m = run({"checkpoint.state=parameters"});  // 14 B per parameter over every rank
  const double bytes = m.get("parameters") * 14;
  EXPECT_DOUBLE_EQ(m.get("checkpoint_parallel_fs_bytes"), bytes);
  EXPECT_DOUBLE_EQ(m.get("checkpoint_parallel_fs_per_rank_bytes"), bytes / 128);
  // Sync to the file system: 16 nodes x 200 GB/s of storage NICs and 4 x 200 GB/s of server ports are wider than
  // the servers' media, 4 x 65 GB/s.
  EXPECT_NEAR(m.get("checkpoint_parallel_fs_save_s"), bytes / 260e9, 1e-4);
  EXPECT_DOUBLE_EQ(m.get("checkpoint_parallel_fs_blocking_s"), m.get("checkpoint_parallel_fs_save_s"));
  // Async to local NVMe: training waits for each GPU's share over its own PCIe Gen5 x16 link (63.04 GB/s; 8 GPUs
  // on 614 GB/s of DRAM have 76.8 GB/s each); the flush moves each node's 8 parts through the host's CPU copy
  // (20 GB/s, below the drives' 28 GB/s).
  const double per_rank = bytes / 128;
  EXPECT_NEAR(m.get("checkpoint_local_nvme_blocking_s"), per_rank / 63.04e9, 1e-5);
  EXPECT_NEAR(m.get("checkpoint_local_nvme_save_s"), per_rank / 63.04e9 + 8 * per_rank / 20e9, 1e-4);
  // Restore: with TP = PP = 1 all 128 ranks form one data-parallel group, so one GPU reads the whole state over its
  // PCIe link (63.04 GB/s; the servers' 4 x 90 GB/s of reads and the node's storage NICs are wider), then passes
  // it down the chain.
  EXPECT_NEAR(m.get("checkpoint_parallel_fs_restore_read_s"), bytes / 63.04e9, 1e-3);
}

// Shuffled 8 KiB samples from the file system: 12M IOPS x 8192 B = 98.3 GB/s, below its 360 GB/s of bandwidth.
TEST(StorageExample, DataLoadingComparesNeedAndDelivery) {
  const MetricSet m = run();
  EXPECT_DOUBLE_EQ(m.get("data_needed_bytes_per_s"), m.get("tokens_per_s") * 4);
  EXPECT_DOUBLE_EQ(m.get("data_delivered_bytes_per_s"), 12e6 * 8192);
  EXPECT_DOUBLE_EQ(m.get("data_loading_slowdown"), 1.0);
  // Text needs little: 4 B per token. From an object store with 100 ms per 8 KiB request and one connection per
  // node, 16 x 8192 / (0.1 + 8192 / 1e8) B/s = 1.31 MB/s falls short, and training slows down.
  const MetricSet os = run({"dataset.source=object_store", "cluster.storage.object_store.request_latency=100ms",
                            "cluster.storage.object_store.connections_per_client=1"});
  const double delivered = 16 * 8192 / (0.1 + 8192 / 1e8);
  EXPECT_GT(os.get("data_loading_slowdown"), 1.0);
  EXPECT_NEAR(os.get("data_delivered_bytes_per_s"), delivered, 1e-3);
  EXPECT_NEAR(os.get("data_loading_slowdown"), os.get("tokens_per_s") * 4 / delivered, 1e-9);
  EXPECT_NEAR(os.get("data_limited_iteration_time_s"), os.get("iteration_time_s") * os.get("data_loading_slowdown"),
              1e-12);
}

// The reliability model takes the last level's blocking time as its checkpoint_save and re-initialisation (5 min)
// plus the level's restore as its restart: the same as setting those values by hand with the hand-over off (the
// interval bit for bit; the rest to rounding: by hand the restart is one phase instead of two).
TEST(StorageExample, ReliabilityUsesTheStorageModelsCheckpointCost) {
  const MetricSet fed = run();
  char save[64], restart[64];
  std::snprintf(save, sizeof save, "reliability.checkpoint_save=%.17gs", fed.get("checkpoint_parallel_fs_blocking_s"));
  std::snprintf(restart, sizeof restart, "reliability.restart=%.17gs", 300 + fed.get("checkpoint_parallel_fs_restore_s"));
  const MetricSet by_hand = run({"checkpoint.feed_reliability=false", save, restart});
  EXPECT_EQ(fed.get("reliability_checkpoint_interval_s"), by_hand.get("reliability_checkpoint_interval_s"));
  for (const char* k : {"reliability_ettr", "reliability_checkpoint_overhead", "reliability_time_days"}) {
    EXPECT_NEAR(fed.get(k), by_hand.get(k), 1e-12 * by_hand.get(k)) << k;
  }
  const MetricSet assumed = run({"checkpoint.feed_reliability=false"});  // the assumed 60 s
  EXPECT_GT(assumed.get("reliability_checkpoint_interval_s"), fed.get("reliability_checkpoint_interval_s"));
}

}  // namespace
}  // namespace lcsim
