// In-run checkpoints (checkpoint.run_every, workloads/training/checkpoint_saver.h): a data-parallel training job
// saves its checkpoint between iterations as flows on the run's own network. Every time is derived by hand from the
// links on the path: a synchronous save stops training for the bottleneck of its path; an asynchronous one stops it
// for the snapshot into host memory and flushes in the background.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "scenario_text.h"
#include "scenarios/scenario.h"
#include "sim/error.h"

namespace lcsim {
namespace {

// 2 HGX H100 nodes (16 GPUs; each GPU's PCIe Gen5 x16 link and its switch's uplink 63.04 GB/s; host memory
// 614 GB/s; 4 x 400 Gb/s = 200 GB/s of storage NICs per node) and one storage server whose port is 200 Gb/s =
// 25 GB/s: the bottleneck of every save below. A small GPT, data parallel over the 16 GPUs; its checkpoint is
// parameters x bytes_per_parameter (state: parameters, spread over every rank), scaled up so that path latencies
// (microseconds) are negligible against the save.
std::string scenario(const std::string& mode, int every, int iters, const std::string& fidelity,
                     const std::string& extra = "") {
  return "name: checkpoint-run\n"
         "cluster:\n"
         "  pools:\n"
         "    - {node: hgx-h100, count: 2}\n"
         "  fabric: {ports_per_leaf: 16, spines: 4, uplink_bandwidth: 400Gb/s}\n"
         "  storage:\n"
         "    parallel_fs: {servers: 1, server_network: 200Gb/s}\n"
         "workload:\n"
         "  type: gpt_data_parallel\n"
         "  model: {num_layers: 2, hidden_size: 512, num_attention_heads: 8, seq_length: 512, vocab_size: 1024}\n"
         "  global_batch_size: 16\n"
         "  train_iters: " + std::to_string(iters) + "\n"
         "checkpoint:\n"
         "  levels: [{tier: parallel_fs, mode: " + mode + "}]\n"
         "  state: parameters\n"
         "  bytes_per_parameter: 140\n"
         "  run_every: " + std::to_string(every) + "\n" + extra +
         "simulation: {seed: 1, fidelity: " + fidelity + "}\n";
}

MetricSet run(const std::string& yaml, const std::string& tag = "") {
  return testing::run_scenario_text(yaml, "checkpoint_run", tag);
}

/// Running `yaml` throws an InputError whose text holds every one of `parts`.
void expect_input_error(const std::string& yaml, const std::vector<std::string>& parts) {
  try {
    run(yaml);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    const std::string what = e.what();
    for (const auto& p : parts) EXPECT_NE(what.find(p), std::string::npos) << what;
  }
}

constexpr double kPort = 25e9;    // the server's port, bytes/s
constexpr double kPcie = 63.04e9; // a GPU's PCIe link (and its switch's uplink), bytes/s
constexpr double kRel = 1e-3;     // path latencies: a few microseconds against milliseconds

// The flow model on lcsim's queue (flow_queue) and on SimGrid (flow): one SimGrid engine per process, so only this
// test runs it.
TEST(CheckpointRun, SyncSaveStopsTrainingForItsBottleneck) {
  for (const char* fidelity : {"flow_queue", "flow"}) {
    const MetricSet m = run(scenario("sync", 1, 3, fidelity), fidelity);
    const double bytes = m.get("parameters") * 140;
    EXPECT_DOUBLE_EQ(m.get("checkpoint_run_bytes"), bytes);
    EXPECT_EQ(m.get("checkpoint_run_saves"), 2) << "after iterations 1 and 2, not after the last";
    // Every GPU's share striped to the one server: all of it through its 25 GB/s port.
    EXPECT_NEAR(m.get("checkpoint_run_blocking_s"), bytes / kPort, bytes / kPort * kRel) << fidelity;
    EXPECT_DOUBLE_EQ(m.get("checkpoint_run_save_s"), m.get("checkpoint_run_blocking_s"));
    // Training waits: no iteration overlaps a save.
    EXPECT_EQ(m.get("checkpoint_run_iterations_during_flush"), 0);
  }
}

TEST(CheckpointRun, SyncSaveAddsToTheRunNotToIterations) {
  const MetricSet with = run(scenario("sync", 1, 3, "flow_queue"), "with");
  const MetricSet without = run(scenario("sync", 0, 3, "flow_queue"), "without");
  EXPECT_FALSE(without.has("checkpoint_run_saves"));
  EXPECT_NEAR(with.get("iteration_time_s"), without.get("iteration_time_s"), 1e-12);
  // The run is longer by the two saves, and its last event comes after the restore that follows training; the
  // restore is a measurement, not the run's traffic.
  EXPECT_NEAR(with.get("sim_time_s") - without.get("sim_time_s"),
              2 * with.get("checkpoint_run_blocking_s") + with.get("checkpoint_run_restore_s"), 1e-9);
  EXPECT_NEAR(with.get("network_bytes") - without.get("network_bytes"), 2 * with.get("checkpoint_run_bytes"), 1e3);
}

// Restore after training, on the same network: the data-parallel group's reader (GPU 0 of node 0) reads the whole
// checkpoint from the one server, through its 25 GB/s port (GPUDirect: then the node's 200 GB/s of storage NICs,
// the 63.04 GB/s PCIe uplink and link; staged: into host memory, and host memory -> GPU at once, 63.04 GB/s); then
// the chain broadcast 0 -> 1 -> ... -> 15 moves the whole checkpoint over every hop at once: NVLink inside a node
// (450 GB/s), and one hop between the nodes, GPU 7 -> GPU 8, over their 400 Gb/s = 50 GB/s NICs (each behind a
// 63.04 GB/s PCIe link), the broadcast's bottleneck (all 16 NICs on one leaf: no spine).
TEST(CheckpointRun, RestoreIsTheReadBottleneckThenTheBroadcast) {
  constexpr double kNic = 50e9;
  // One SimGrid engine per process: the flow backend once, staged.
  const std::pair<const char*, const char*> cases[] = {
      {"flow_queue", "true"}, {"flow_queue", "false"}, {"flow", "false"}};
  for (const auto& [fidelity, gds] : cases) {
    const std::string tag = std::string(fidelity) + "-gds-" + gds;
    std::string yaml = scenario("sync", 1, 2, fidelity,
                                "cost: {token_budget: 1e9}\n"
                                "reliability: {enabled: true, seeds: 1}\n");
    const std::string server = "server_network: 200Gb/s}\n";
    yaml.replace(yaml.find(server), server.size(), server + "    gpudirect: " + gds + "\n");
    const MetricSet m = run(yaml, tag);
    const double bytes = m.get("parameters") * 140;
    EXPECT_EQ(m.get("checkpoint_run_restore_readers"), 1) << tag;
    EXPECT_DOUBLE_EQ(m.get("checkpoint_run_restore_bytes"), bytes) << tag;
    EXPECT_NEAR(m.get("checkpoint_run_restore_read_s"), bytes / kPort, bytes / kPort * kRel) << tag;
    EXPECT_NEAR(m.get("checkpoint_run_restore_broadcast_s"), bytes / kNic, bytes / kNic * kRel) << tag;
    EXPECT_NEAR(m.get("checkpoint_run_restore_s"), bytes / kPort + bytes / kNic,
                (bytes / kPort + bytes / kNic) * kRel) << tag;
    // In a quiet network the estimate on its private engine reads the same pattern over the same links.
    EXPECT_NEAR(m.get("checkpoint_run_restore_s"), m.get("checkpoint_parallel_fs_restore_s"),
                m.get("checkpoint_parallel_fs_restore_s") * kRel) << tag;
    // Reliability restores for the measured time after every restart.
    EXPECT_DOUBLE_EQ(m.get("reliability_restore_s"), m.get("checkpoint_run_restore_s")) << tag;
  }
}

// The restore shows on the timeline: its read and its broadcast on the comm row of each traced rank (all 16).
TEST(CheckpointRun, TheRestoreShowsOnTheTimeline) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / ("checkpoint_run_timeline_" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "scenario.yaml") << scenario("sync", 1, 2, "flow_queue");
  Scenario sc = load_scenario((dir / "scenario.yaml").string(), {});
  const RunResult r = run_scenario(sc);
  fs::remove_all(dir);
  auto count = [&](const std::string& name) {
    size_t n = 0;
    for (size_t at = r.timeline_json.find(name); at != std::string::npos; at = r.timeline_json.find(name, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("\"checkpoint restore: read from parallel_fs\""), 16u);
  EXPECT_EQ(count("\"checkpoint restore: broadcast to the group\""), 16u);
}

TEST(CheckpointRun, AsyncSaveBlocksForTheSnapshotAndFlushesBehind) {
  // One save, after iteration 4 of 8: the flush runs beside iterations 5.. (and the run ends once it has landed).
  const MetricSet m = run(scenario("async", 4, 8, "flow_queue"));
  const double bytes = m.get("parameters") * 140;
  // Snapshot: each GPU's 1/16 over its own PCIe link and its switch's uplink (63.04 GB/s); a node's 8 GPUs into
  // 614 GB/s of host memory (76.75 GB/s each) do not bind.
  EXPECT_NEAR(m.get("checkpoint_run_blocking_s"), bytes / 16 / kPcie, bytes / 16 / kPcie * kRel);
  // Flush: host memory -> storage NICs -> the one 25 GB/s server port.
  EXPECT_NEAR(m.get("checkpoint_run_flush_s"), bytes / kPort, bytes / kPort * kRel);
  // The restore waits for the last flush: the run ends after both.
  EXPECT_GT(m.get("checkpoint_run_restore_s"), bytes / kPort);
  EXPECT_NEAR(m.get("checkpoint_run_save_s"), m.get("checkpoint_run_blocking_s") + m.get("checkpoint_run_flush_s"),
              1e-12);
  EXPECT_EQ(m.get("checkpoint_run_saves"), 1);
  EXPECT_GT(m.get("checkpoint_run_iterations_during_flush"), 0);
  // On the shipped template the flush (host memory, storage NICs, the storage plane) shares no link with the
  // training step's traffic (PCIe links to the compute NICs, the compute fabric): no slowdown.
  EXPECT_NEAR(m.get("checkpoint_run_iteration_during_flush_s"), m.get("checkpoint_run_iteration_clean_s"), 1e-12);
}

// Converged NICs (node template storage_nic_attach: gpu_nic) against a storage NIC of its own: 2 one-GPU nodes (a
// DGX H100 cut to one GPU, its PCIe switch and one 400 Gb/s = 50 GB/s compute NIC) and a file-system server whose
// 1600 Gb/s port does not bind. One async save after iteration 6 of 12; its flush runs beside the iterations after.
// The gradient all-reduce (ring, one channel, one flow per connection, after backward) sends one flow out of each
// GPU's NIC port per step; with the converged NIC each host's flush sends one more through that same port.
/// `count` one-GPU nodes (an HGX H100 cut to one GPU and its PCIe switch, one 400 Gb/s compute NIC and, `separate`,
/// one 400 Gb/s storage NIC) and one file-system server with a `port` port.
std::string one_gpu_cluster(const std::string& attach, int count, const std::string& port) {
  const std::string storage_nic = attach == "separate" ? ", {count: 1, bandwidth: 400Gb/s, plane: storage}" : "";
  return "cluster:\n"
         "  pools:\n"
         "    - node: {base: hgx-h100, gpus: 1, pcie_switches: 1, storage_nic_attach: " + attach + ",\n"
         "             nics: [{count: 1, bandwidth: 400Gb/s, plane: compute}" + storage_nic + "]}\n"
         "      count: " + std::to_string(count) + "\n"
         "  storage:\n"
         "    parallel_fs: {servers: 1, server_network: " + port + "}\n";
}

std::string nic_scenario(const std::string& attach) {
  return "name: checkpoint-nic\n" + one_gpu_cluster(attach, 2, "1600Gb/s") +
         "workload:\n"
         "  type: gpt_data_parallel\n"
         "  model: {num_layers: 4, hidden_size: 1024, num_attention_heads: 8, seq_length: 512, vocab_size: 1024}\n"
         "  global_batch_size: 16\n"
         "  train_iters: 12\n"
         "checkpoint:\n"
         "  levels: [{tier: parallel_fs, mode: async}]\n"
         "  state: parameters\n"
         "  bytes_per_parameter: 140\n"
         "  run_every: 6\n"
         "policies:\n"
         "  collectives: {algorithm: ring, channels: 1, qps_per_connection: 1, part_calibration: false,\n"
         "                scale_out_efficiency: 1}\n"
         "simulation: {seed: 1, fidelity: flow_queue}\n";
}

// Max-min on the converged port, with SimGrid CM02's weights (a flow's share goes as 1 / its path latency; both
// engine backends share so): the all-reduce's flow crosses PCIe up, NIC up, NIC down and PCIe down
// (L_ar = 2 x 115 ns + 2 x 0.6 us = 1.43 us), the flush's PCIe up, NIC up and the storage server's port
// (L_fl = 115 ns + 2 x 0.6 us = 1.315 us). On the port the all-reduce gets L_fl / (L_ar + L_fl) of 50 GB/s, so its
// two steps of S / 2 bytes (S: the gradient bytes per GPU) take S / C x (1 + L_ar / L_fl) instead of S / C, and an
// iteration beside the flush is longer than a clean one by S / C x L_ar / L_fl (S / C with equal latencies). With a
// storage NIC of its own the flush shares no link with training: no slowdown at all.
TEST(CheckpointRun, AFlushThroughAConvergedNicSlowsTheAllReduceByItsShareOfThePort) {
  constexpr double kNic = 50e9, kAllReduceLatency = 2 * 115e-9 + 2 * 0.6e-6, kFlushLatency = 115e-9 + 2 * 0.6e-6;
  const MetricSet conv = run(nic_scenario("gpu_nic"), "converged");
  const MetricSet sep = run(nic_scenario("separate"), "separate");
  for (const MetricSet* m : {&conv, &sep}) {
    ASSERT_EQ(m->get("checkpoint_run_saves"), 1);
    ASSERT_GE(m->get("checkpoint_run_iterations_during_flush"), 2) << "the flush outlasts several iterations";
  }
  const double s = conv.get("grad_bytes_per_gpu");
  const double slowdown = s / kNic * kAllReduceLatency / kFlushLatency;
  EXPECT_NEAR(conv.get("checkpoint_run_iteration_during_flush_s") - conv.get("checkpoint_run_iteration_clean_s"),
              slowdown, slowdown * kRel);
  EXPECT_NEAR(sep.get("checkpoint_run_iteration_during_flush_s"), sep.get("checkpoint_run_iteration_clean_s"), 1e-12);
  // A clean iteration is the same on both: the NIC port is the all-reduce's alone.
  EXPECT_NEAR(conv.get("checkpoint_run_iteration_clean_s"), sep.get("checkpoint_run_iteration_clean_s"), 1e-12);
}

// A converged node template that still lists storage NICs is an error naming the key.
TEST(CheckpointRun, ConvergedNicWithStorageNicsIsAnError) {
  std::string yaml = nic_scenario("gpu_nic");
  const std::string nics = "plane: compute}";
  yaml.replace(yaml.find(nics), nics.size(), nics + ", {count: 1, bandwidth: 400Gb/s, plane: storage}");
  expect_input_error(yaml, {"storage_nic_attach", "storage-plane"});
}

TEST(CheckpointRun, ReliabilityTakesTheMeasuredBlockingTime) {
  // A save after every iteration: each flush outlasts the next iteration, so saves 2 and 3 wait for the previous
  // flush before their snapshot, and training waits more per save than the estimate's snapshot alone.
  const MetricSet m = run(scenario("async", 1, 4, "flow_queue",
                                   "cost: {token_budget: 1e9}\n"
                                   "reliability: {enabled: true, seeds: 1, checkpoint_policy: young}\n"));
  const double measured = m.get("checkpoint_run_blocking_s");
  const double estimate = m.get("checkpoint_parallel_fs_blocking_s");
  EXPECT_GT(measured, 2 * estimate);
  // Young's interval from the measured cost: sqrt(2 delta M).
  const double mtbf = m.get("reliability_job_mtbf_h") * 3600;
  EXPECT_NEAR(m.get("reliability_checkpoint_interval_s"), std::sqrt(2 * measured * mtbf),
              std::sqrt(2 * measured * mtbf) * 1e-9);
}

// Two levels, each at its own frequency: peer memory at every checkpoint, the file system at every second one
// (checkpoints after iterations 1 to 4 of 5). Peer memory, GPUDirect: each node's 8 GPUs write half the checkpoint
// to the other node's host memory through the node's 4 x 400 Gb/s = 200 GB/s of storage NICs (a GPU's share, 25
// GB/s, is below its 63.04 GB/s PCIe link): bytes / 2 / 200 GB/s. The file system as before: bytes / 25 GB/s.
TEST(CheckpointRun, EachLevelOnTheTopologySavesAtItsOwnFrequency) {
  std::string yaml = scenario("sync", 1, 5, "flow_queue");
  const std::string levels = "[{tier: parallel_fs, mode: sync}]";
  yaml.replace(yaml.find(levels), levels.size(), "[{tier: peer_memory}, {tier: parallel_fs, every: 2}]");
  const MetricSet m = run(yaml);
  const double bytes = m.get("parameters") * 140, peer = bytes / 2 / 200e9, fs = bytes / kPort;
  EXPECT_EQ(m.get("checkpoint_run_peer_memory_saves"), 4);
  EXPECT_EQ(m.get("checkpoint_run_parallel_fs_saves"), 2);
  EXPECT_NEAR(m.get("checkpoint_run_peer_memory_blocking_s"), peer, peer * kRel);
  EXPECT_NEAR(m.get("checkpoint_run_parallel_fs_blocking_s"), fs, fs * kRel);
  // The last level, unprefixed, is what reliability and the restore read.
  EXPECT_EQ(m.get("checkpoint_run_saves"), 2);
  EXPECT_DOUBLE_EQ(m.get("checkpoint_run_blocking_s"), m.get("checkpoint_run_parallel_fs_blocking_s"));
  EXPECT_TRUE(m.has("checkpoint_run_restore_s"));
}

// A level off the topology (local NVMe) keeps the storage model's estimate; the one on it saves in-run. With the
// last level off it, there is no in-run restore.
TEST(CheckpointRun, ALevelOffTheTopologyKeepsTheEstimate) {
  std::string yaml = scenario("sync", 1, 3, "flow_queue");
  const std::string levels = "[{tier: parallel_fs, mode: sync}]";
  yaml.replace(yaml.find(levels), levels.size(), "[{tier: parallel_fs}, {tier: local_nvme}]");
  const MetricSet m = run(yaml);
  const double fs = m.get("parameters") * 140 / kPort;
  EXPECT_EQ(m.get("checkpoint_run_parallel_fs_saves"), 2);
  EXPECT_NEAR(m.get("checkpoint_run_parallel_fs_blocking_s"), fs, fs * kRel);
  EXPECT_FALSE(m.has("checkpoint_run_local_nvme_saves"));
  EXPECT_FALSE(m.has("checkpoint_run_saves"));
  EXPECT_FALSE(m.has("checkpoint_run_restore_s"));
  EXPECT_GT(m.get("checkpoint_local_nvme_save_s"), 0) << "the estimate";
}

// --- Megatron jobs (workloads/training/megatron_checkpoint.cc) ---
// 4 one-GPU nodes (an HGX H100 cut to one GPU, its PCIe switch (63.04 GB/s), one 400 Gb/s = 50 GB/s compute NIC
// and, `separate`, one 400 Gb/s storage NIC; `gpu_nic`: the compute NIC carries storage too) and one file-system
// server whose 6400 Gb/s port does not bind: each rank's save is limited by its node's 50 GB/s NIC alone. Megatron
// TP 1 x PP 2 x DP 2: ranks 0, 1 hold stage 0 (data-parallel ranks 0 and 1), ranks 2, 3 stage 1.
// Model (LayerNorm, biases, learned positions, tied embeddings; h = 2048, 4 layers, vocab 1024, seq 512), by hand:
// a layer: attention 4h^2 + 6h (QKV 3h^2 + 3h, projection h^2 + h, norm 2h) + MLP 8h^2 + 7h (2 x 4h^2, biases
// 4h + h, norm 2h) = 12h^2 + 13h = 50,358,272; the embedding: vocab h + seq h + the final norm 2h = 3,149,824.
// Stage 0 holds the embedding and layers 0-1: P0 = 103,866,368; stage 1 layers 2-3 and the tied output copy
// (vocab h = 2,097,152): P1 = 102,813,696. Per rank the memory model holds 2 B of weights and 12 B of optimizer
// states per parameter (the optimizer's over DP with the distributed optimizer).
constexpr double kP0 = 2 * (12.0 * 2048 * 2048 + 13 * 2048) + (1024.0 * 2048 + 512 * 2048 + 2 * 2048);
constexpr double kP1 = 2 * (12.0 * 2048 * 2048 + 13 * 2048) + 1024.0 * 2048;
constexpr double kNic50 = 50e9;

std::string megatron_scenario(const std::string& attach, const std::string& mode, int every, int iters,
                              const std::string& extra = "") {
  return "name: checkpoint-megatron\n" + one_gpu_cluster(attach, 4, "6400Gb/s") +
         "    gpudirect: true\n"
         "workload:\n"
         "  type: megatron\n"
         "  model: {num_layers: 4, hidden_size: 2048, num_attention_heads: 16, seq_length: 512, vocab_size: 1024}\n"
         "  global_batch_size: 16\n"
         "  micro_batch_size: 1\n"
         "  tensor_model_parallel_size: 1\n"
         "  pipeline_model_parallel_size: 2\n"
         "  train_iters: " + std::to_string(iters) + "\n" + extra +
         "checkpoint:\n"
         "  levels: [{tier: parallel_fs, mode: " + mode + "}]\n"
         "  run_every: " + std::to_string(every) + "\n"
         "simulation: {seed: 1, fidelity: flow_queue}\n";
}

// Synchronous saves, the state from the Megatron layout. With the distributed optimizer every rank writes its
// optimizer shard and half of its stage's weights: 12 P / 2 + 2 P / 2 = 7 P (ranks 0, 1: 7 P0; ranks 2, 3: 7 P1),
// each through its own node's NIC: the save takes 7 P0 / 50 GB/s. Without it data-parallel rank 0 of each stage
// (ranks 0 and 2) writes its stage's 14 P: 14 P0 / 50 GB/s, twice as long, the same bytes.
TEST(CheckpointRun, MegatronSavesItsLayoutsShardsAtTheBottleneckOfTheirPaths) {
  const MetricSet sharded = run(megatron_scenario("separate", "sync", 1, 3, "  use_distributed_optimizer: true\n"),
                                "sharded");
  const MetricSet whole = run(megatron_scenario("separate", "sync", 1, 3), "whole");
  const double bytes = 14 * (kP0 + kP1);
  for (const MetricSet* m : {&sharded, &whole}) {
    EXPECT_EQ(m->get("checkpoint_run_saves"), 2) << "after iterations 1 and 2, not after the last";
    EXPECT_NEAR(m->get("checkpoint_run_bytes"), bytes, 1);
    EXPECT_EQ(m->get("checkpoint_run_iterations_during_flush"), 0);
  }
  EXPECT_NEAR(sharded.get("checkpoint_run_blocking_s"), 7 * kP0 / kNic50, 7 * kP0 / kNic50 * kRel);
  EXPECT_NEAR(whole.get("checkpoint_run_blocking_s"), 14 * kP0 / kNic50, 14 * kP0 / kNic50 * kRel);
  EXPECT_DOUBLE_EQ(whole.get("checkpoint_run_save_s"), whole.get("checkpoint_run_blocking_s"));
}

// Sync saves stop training between iterations: the iterations are the same as without checkpoints (the first
// simulated, the rest replayed from the memo) and the run is longer by the saves and the restore after it.
TEST(CheckpointRun, MegatronSyncSavesAddToTheRunNotToIterations) {
  const MetricSet with = run(megatron_scenario("separate", "sync", 2, 5), "with");
  const MetricSet without = run(megatron_scenario("separate", "sync", 0, 5), "without");
  EXPECT_FALSE(without.has("checkpoint_run_saves"));
  EXPECT_EQ(with.get("checkpoint_run_saves"), 2);
  EXPECT_DOUBLE_EQ(with.get("iteration_time_s"), without.get("iteration_time_s"));
  EXPECT_EQ(with.get("iterations_memoized"), 4) << "no flush: every iteration after the first is replayed";
  EXPECT_NEAR(with.get("checkpoint_run_iteration_clean_s"), with.get("iteration_time_s"), 1e-12);
  EXPECT_NEAR(with.get("sim_time_s") - without.get("sim_time_s"),
              2 * with.get("checkpoint_run_blocking_s") + with.get("checkpoint_run_restore_s"), 1e-9);
}

// The restore after training, by hand: one reader per data-parallel group (ranks 0 and 2, each on its own node)
// reads its stage's 14 P through its node's 50 GB/s storage NIC (GPUDirect), then passes it to the group's other
// rank (1 and 3) over the 50 GB/s compute NICs: 14 P0 / 50 GB/s twice. Reliability restores for that time.
TEST(CheckpointRun, MegatronRestoresOneReadPerGroupThenTheBroadcast) {
  const MetricSet m = run(megatron_scenario("separate", "sync", 1, 2,
                                            "  use_distributed_optimizer: true\n"
                                            "cost: {token_budget: 1e9}\n"
                                            "reliability: {enabled: true, seeds: 1}\n"));
  const double t = 14 * kP0 / kNic50;
  EXPECT_EQ(m.get("checkpoint_run_restore_readers"), 2);
  EXPECT_NEAR(m.get("checkpoint_run_restore_bytes"), 14 * (kP0 + kP1), 1);
  EXPECT_NEAR(m.get("checkpoint_run_restore_read_s"), t, t * kRel);
  EXPECT_NEAR(m.get("checkpoint_run_restore_broadcast_s"), t, t * kRel);
  EXPECT_DOUBLE_EQ(m.get("reliability_restore_s"), m.get("checkpoint_run_restore_s"));
}

// An asynchronous save after iteration 3 of 14 (state: parameters, 140 B each, so the flush of 140 x parameters /
// 4 per rank at 50 GB/s outlasts several iterations). Through a converged NIC the flush shares each node's one
// NIC port with the pipeline sends and the data-parallel gradient reduction: the iterations beside it are
// simulated (not replayed from the memo) and slower than the memoized clean one. With a storage NIC of its own
// the flush shares no link with training: the iterations beside it take the clean time.
TEST(CheckpointRun, MegatronIterationsBesideAFlushAreSimulatedAndSlowedOnlyByAConvergedNic) {
  const std::string state = "  state: parameters\n  bytes_per_parameter: 140\n";
  auto yaml = [&](const std::string& attach) {
    std::string y = megatron_scenario(attach, "async", 3, 14);
    const std::string every = "  run_every: 3\n";
    y.replace(y.find(every), every.size(), every + state);
    return y;
  };
  const MetricSet conv = run(yaml("gpu_nic"), "converged");
  const MetricSet sep = run(yaml("separate"), "separate");
  for (const MetricSet* m : {&conv, &sep}) {
    ASSERT_EQ(m->get("checkpoint_run_saves"), 4);
    ASSERT_GE(m->get("checkpoint_run_iterations_during_flush"), 2) << "the flush outlasts several iterations";
    // Simulated: the first iteration, and every iteration a flush overlapped in whole or in part.
    EXPECT_EQ(m->get("iterations") - m->get("iterations_memoized"),
              1 + m->get("checkpoint_run_iterations_during_flush") +
                  m->get("checkpoint_run_iterations_partly_during_flush"));
    EXPECT_DOUBLE_EQ(m->get("checkpoint_run_iteration_clean_s"), m->get("iteration_time_s"));
  }
  // Separate NIC: the flush (host memory, the storage NIC, the storage plane) is 140 x parameters / 4 per node at
  // 50 GB/s; converged: it shares the NIC, so it is at least as long.
  const double flush = 140 * sep.get("parameters") / 4 / kNic50;
  EXPECT_NEAR(sep.get("checkpoint_run_flush_s"), flush, flush * kRel);
  EXPECT_GE(conv.get("checkpoint_run_flush_s"), flush * (1 - kRel));
  EXPECT_GT(conv.get("checkpoint_run_iteration_during_flush_s"),
            conv.get("checkpoint_run_iteration_clean_s") * 1.01);
  EXPECT_NEAR(sep.get("checkpoint_run_iteration_during_flush_s"), sep.get("checkpoint_run_iteration_clean_s"), 1e-12);
  EXPECT_NEAR(conv.get("checkpoint_run_iteration_clean_s"), sep.get("checkpoint_run_iteration_clean_s"), 1e-12);
}

// Mixture of experts: TP 1, PP 1, DP 4, EP 2 on the 4 one-GPU nodes: ranks 0 and 2 hold experts 0-1 of every
// layer, ranks 1 and 3 experts 2-3 (Megatron's expert groups: consecutive ranks of the data-parallel dimension), so
// each expert's weights are replicated over 2 ranks, the dense ones over 4. Every parameter is saved exactly once:
// 14 B x all parameters, whatever the optimizer. Experts: 4 per layer, each 2 h f + f + h with f = h = 2048
// (GeLU, biases), 4 layers: E = 16 x 8,392,704. With the distributed optimizer every rank writes a quarter of the
// whole (the dense weights over 4, its experts' over 2, its optimizer shard): 14 P / 4 through its 50 GB/s NIC.
// Without it, rank 0 writes the dense state and experts 0-1 (14 (P - E / 2)), rank 1 experts 2-3 (14 E / 2).
TEST(CheckpointRun, MegatronMoeSavesEveryExpertOnce) {
  auto moe = [](const std::string& extra) {
    return "name: checkpoint-moe\n" + one_gpu_cluster("separate", 4, "6400Gb/s") +
           "    gpudirect: true\n"
           "workload:\n"
           "  type: megatron\n"
           "  model: {num_layers: 4, hidden_size: 2048, num_attention_heads: 16, seq_length: 512, vocab_size: 1024,\n"
           "          num_experts: 4, moe_ffn_hidden_size: 2048, moe_router_topk: 2}\n"
           "  global_batch_size: 16\n"
           "  micro_batch_size: 1\n"
           "  expert_model_parallel_size: 2\n"
           "  train_iters: 2\n" + extra +
           "checkpoint:\n"
           "  levels: [{tier: parallel_fs, mode: sync}]\n"
           "  run_every: 1\n"
           "simulation: {seed: 1, fidelity: flow_queue}\n";
  };
  const MetricSet sharded = run(moe("  use_distributed_optimizer: true\n"), "moe-sharded");
  const MetricSet whole = run(moe(""), "moe-whole");
  const double p = sharded.get("parameters"), e = 16 * (2.0 * 2048 * 2048 + 2 * 2048);
  for (const MetricSet* m : {&sharded, &whole}) EXPECT_NEAR(m->get("checkpoint_run_bytes"), 14 * p, 1);
  EXPECT_NEAR(sharded.get("checkpoint_run_blocking_s"), 14 * p / 4 / kNic50, 14 * p / 4 / kNic50 * kRel);
  const double first = 14 * (p - e / 2) / kNic50;
  EXPECT_NEAR(whole.get("checkpoint_run_blocking_s"), first, first * kRel);
  // The post-run estimate (checkpoint_<tier>_*) takes the same rank-by-rank state: every expert once, and the
  // largest writer's share (a quarter of the whole; without the distributed optimizer, rank 0's dense state and
  // half the experts) as its per-writer figure's basis.
  for (const MetricSet* m : {&sharded, &whole}) EXPECT_NEAR(m->get("checkpoint_parallel_fs_bytes"), 14 * p, 1);
  EXPECT_EQ(sharded.get("checkpoint_parallel_fs_writers"), 4);
  EXPECT_EQ(whole.get("checkpoint_parallel_fs_writers"), 2);
}

// The post-run estimate of a pipeline whose stages differ (the first holds the embedding, the last the tied output
// layer's copy of it, as Megatron keeps and saves it; the vocabulary is large enough to matter) sums each stage's
// own state, as the in-run save does: 14 B x (every parameter + the copy, V h = 65,536 x 1,024). It took the
// tightest stage's figures (one layer and the embedding) for every rank before: 4 x that, far more.
TEST(CheckpointRun, MegatronEstimateSumsEachPipelineStagesOwnState) {
  const std::string yaml = "name: checkpoint-pp\n" + one_gpu_cluster("separate", 4, "6400Gb/s") +
                           "    gpudirect: true\n"
                           "workload:\n"
                           "  type: megatron\n"
                           "  model: {num_layers: 4, hidden_size: 1024, num_attention_heads: 16, seq_length: 512,\n"
                           "          vocab_size: 65536}\n"
                           "  global_batch_size: 8\n"
                           "  micro_batch_size: 1\n"
                           "  pipeline_model_parallel_size: 4\n"
                           "  train_iters: 1\n"
                           "checkpoint:\n"
                           "  levels: [{tier: parallel_fs, mode: sync}]\n"
                           "simulation: {seed: 1, fidelity: flow_queue}\n";
  const MetricSet m = run(yaml, "checkpoint-pp");
  const double p = m.get("parameters");
  EXPECT_NEAR(m.get("checkpoint_parallel_fs_bytes"), 14 * (p + 65536.0 * 1024), 1);
  EXPECT_EQ(m.get("checkpoint_parallel_fs_writers"), 4);
}

TEST(CheckpointRun, NoLevelOnTheTopologyIsAnError) {
  const std::string yaml = "name: bad\n"
                           "workload: {type: gpt_data_parallel}\n"
                           "checkpoint:\n"
                           "  levels: [{tier: local_nvme}]\n"
                           "  run_every: 10\n";
  expect_input_error(yaml, {"checkpoint.run_every", "parallel_fs or peer_memory"});
}

}  // namespace
}  // namespace lcsim
