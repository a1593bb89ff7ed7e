// Storage traffic on the run's own network (workloads/benchmarks/storage_io.h): a checkpoint save that shares its
// bottleneck link with another job's storage traffic gets half of it (and so does the other job); one that shares
// nothing (the other job reads: the server port's other direction; or it comes later) takes the time it takes alone.
// Every time is derived by hand from the links on the path.
#include <gtest/gtest.h>

#include <string>

#include "scenario_text.h"
#include "scenarios/scenario.h"
#include "sim/error.h"

namespace lcsim {
namespace {

// 4 HGX H100 nodes (8 GPUs each: PCIe Gen5 x16 = 63 GB/s per GPU; 4 x 400 Gb/s = 200 GB/s of storage NICs per
// node) and one storage server whose port is 200 Gb/s = 25 GB/s per direction: the bottleneck of every path below.
// Job `ckpt` (nodes 0 and 1, 16 GPUs) saves 1 GB per GPU: 16 GB / 25 GB/s = 0.64 s alone.
std::string scenario(const std::string& other, const std::string& fidelity = "flow_queue",
                     const std::string& path = "gpudirect") {
  return "name: storage-share\n"
         "cluster:\n"
         "  pools:\n"
         "    - {node: hgx-h100, count: 4}\n"
         "  fabric: {ports_per_leaf: 16, spines: 4, uplink_bandwidth: 400Gb/s}\n"
         "  storage:\n"
         "    parallel_fs: {servers: 1, server_network: 200Gb/s}\n"
         "jobs:\n"
         "  - name: ckpt\n"
         "    node_ids: [0, 1]\n"
         "    workload: {type: storage_io, op: write, path: " + path + ", size_per_gpu: 1GB}\n"
         "  - name: other\n"
         "    node_ids: [2, 3]\n" + other +
         "simulation: {seed: 1, fidelity: " + fidelity + "}\n";
}

MetricSet run(const std::string& yaml) { return testing::run_scenario_text(yaml, "storage_traffic"); }

constexpr double kAlone = 16e9 / 25e9;  // 0.64 s
constexpr double kTol = 1e-4;           // path latencies: a few microseconds

const char* kOtherWrites = "    workload: {type: storage_io, op: write, size_per_gpu: 1GB}\n";
const char* kOtherReads = "    workload: {type: storage_io, op: read, size_per_gpu: 1GB}\n";
const char* kOtherLater = "    start: 10s\n    workload: {type: storage_io, op: write, size_per_gpu: 1GB}\n";

// The flow model on lcsim's queue (flow_queue) in every test but this one, which runs it on SimGrid (flow): one
// SimGrid engine per process.
TEST(StorageTraffic, TwoSavesThroughOneServerPortGetHalfEach) {
  for (const char* fidelity : {"flow_queue", "flow"}) {
    const MetricSet m = run(scenario(kOtherWrites, fidelity));
    // Both jobs' 32 GB through the one 25 GB/s port at once: each gets 12.5 GB/s, both end at 1.28 s.
    EXPECT_NEAR(m.get("ckpt.storage_io_time_s"), 2 * kAlone, kTol) << fidelity;
    EXPECT_NEAR(m.get("other.storage_io_time_s"), 2 * kAlone, kTol) << fidelity;
    EXPECT_DOUBLE_EQ(m.get("ckpt.storage_io_bytes"), 16e9);
    EXPECT_DOUBLE_EQ(m.get("ckpt.storage_io_bytes_per_s"), 16e9 / m.get("ckpt.storage_io_time_s"));
  }
}

TEST(StorageTraffic, ASaveThatSharesNothingIsUnchanged) {
  // The other job reads: the server port's other direction (full duplex), other NICs and PCIe links.
  const MetricSet reads = run(scenario(kOtherReads));
  EXPECT_NEAR(reads.get("ckpt.storage_io_time_s"), kAlone, kTol);
  EXPECT_NEAR(reads.get("other.storage_io_time_s"), kAlone, kTol);
  // The other job writes after the save is done.
  const MetricSet later = run(scenario(kOtherLater));
  EXPECT_NEAR(later.get("ckpt.storage_io_time_s"), kAlone, kTol);
  EXPECT_NEAR(later.get("other.storage_io_time_s"), kAlone, kTol);
}

TEST(StorageTraffic, StagedThroughHostMemoryHasTheSameBottleneck) {
  // path: host: each node's 8 GB from host memory (614 GB/s) over its storage NICs (200 GB/s): still the port.
  EXPECT_NEAR(run(scenario(kOtherLater, "flow_queue", "host")).get("ckpt.storage_io_time_s"), kAlone, kTol);
  EXPECT_NEAR(run(scenario(kOtherWrites, "flow_queue", "host")).get("ckpt.storage_io_time_s"), 2 * kAlone, kTol);
}

TEST(StorageTraffic, TheAnalyticalModelSeesTheSameCapacitiesWithoutCrossTraffic) {
  // Its own 16 flows share the port (0.64 s); the other job's flows are not seen (no cross-traffic).
  EXPECT_NEAR(run(scenario(kOtherLater, "analytical")).get("ckpt.storage_io_time_s"), kAlone, kTol);
  EXPECT_NEAR(run(scenario(kOtherWrites, "analytical")).get("ckpt.storage_io_time_s"), kAlone, kTol);
}

// The servers' drives and the hosts' CPU copy are links of the topology (cluster.storage.parallel_fs.server_read /
// server_write, host_copy_bandwidth), so storage traffic shares them like any other link. `storage` replaces the
// one-server file system line.
std::string with_storage(const std::string& yaml, const std::string& storage) {
  std::string y = yaml;
  const std::string fs = "    parallel_fs: {servers: 1, server_network: 200Gb/s}\n";
  return y.replace(y.find(fs), fs.size(), storage);
}

// A 1600 Gb/s (200 GB/s) port that does not bind, drives that write at 10 GB/s and read at 20 GB/s: the save alone
// writes 16 GB into the drives in 1.6 s; beside the other job's 16 GB they share the 10 GB/s: 3.2 s each; beside
// the other job's read (the drives' read side, 16 GB / 20 GB/s = 0.8 s) it is unchanged. The analytical model has
// the same drives: 1.6 s alone.
TEST(StorageTraffic, TheServersDrivesAreLinksThatEveryTransferShares) {
  const std::string drives =
      "    parallel_fs: {servers: 1, server_network: 1600Gb/s, server_write: 10GB/s, server_read: 20GB/s}\n";
  EXPECT_NEAR(run(with_storage(scenario(kOtherLater), drives)).get("ckpt.storage_io_time_s"), 1.6, kTol);
  const MetricSet writes = run(with_storage(scenario(kOtherWrites), drives));
  EXPECT_NEAR(writes.get("ckpt.storage_io_time_s"), 3.2, kTol);
  EXPECT_NEAR(writes.get("other.storage_io_time_s"), 3.2, kTol);
  const MetricSet reads = run(with_storage(scenario(kOtherReads), drives));
  EXPECT_NEAR(reads.get("ckpt.storage_io_time_s"), 1.6, kTol);
  EXPECT_NEAR(reads.get("other.storage_io_time_s"), 0.8, kTol);
  EXPECT_NEAR(run(with_storage(scenario(kOtherLater, "analytical"), drives)).get("ckpt.storage_io_time_s"), 1.6, kTol);
}

// Staged through host memory with a CPU copy of 5 GB/s per host: each of the save's two hosts copies its 8 GB in
// 1.6 s (the 25 GB/s port would take 0.64 s). The other job, staged the same way, copies on its own hosts' CPUs, so
// beside it both saves still take 1.6 s (the port then carries 32 GB in 1.6 s, 20 GB/s, under its 25). GPUDirect
// crosses no CPU copy: 0.64 s.
TEST(StorageTraffic, StagedSavesCrossTheirOwnHostsCpuCopy) {
  const std::string copy = "    parallel_fs: {servers: 1, server_network: 200Gb/s}\n    host_copy_bandwidth: 5GB/s\n";
  EXPECT_NEAR(run(with_storage(scenario(kOtherLater, "flow_queue", "host"), copy)).get("ckpt.storage_io_time_s"), 1.6,
              kTol);
  const std::string other_staged = "    workload: {type: storage_io, op: write, path: host, size_per_gpu: 1GB}\n";
  const MetricSet both = run(with_storage(scenario(other_staged, "flow_queue", "host"), copy));
  EXPECT_NEAR(both.get("ckpt.storage_io_time_s"), 1.6, kTol);
  EXPECT_NEAR(both.get("other.storage_io_time_s"), 1.6, kTol);
  EXPECT_NEAR(run(with_storage(scenario(kOtherLater), copy)).get("ckpt.storage_io_time_s"), kAlone, kTol);
}

TEST(StorageTraffic, NoStorageServersIsAnError) {
  std::string yaml = scenario(kOtherWrites);
  yaml.replace(yaml.find("    parallel_fs: {servers: 1, server_network: 200Gb/s}\n"),
               std::string("    parallel_fs: {servers: 1, server_network: 200Gb/s}\n").size(), "    gpudirect: true\n");
  try {
    run(yaml);
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no storage servers"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lcsim
