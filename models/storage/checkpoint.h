// Checkpoints of a training job: how many bytes each rank writes, and how long saving and restoring each level
// takes when every rank does it at once over the cluster's links (PCIe, host memory, the storage network, the
// storage servers' media), with max-min fair sharing of every resource on the way (the engine's fluid flows on a
// private queue engine, so any fidelity gets the same answer). Levels: peer node memory, local NVMe, the parallel
// file system, the object store; each synchronous (training waits for the whole save) or asynchronous (training
// waits for a snapshot into host memory; the flush to the tier runs in the background). Restore: one reader per
// data-parallel group reads the group's state and passes it down a chain to the other members (a pipelined
// broadcast over the compute fabric).
// Assumptions (docs/storage.md): the unique state is parameters x bytes_per_parameter (bf16 weights 2 + fp32 master
// 4 + Adam m 4 + v 4 = 14, the memory model's defaults), spread evenly over every rank (fully parallel save, as
// Megatron's distributed checkpointing deduplicates over data parallelism); Megatron rank order (tensor, then data,
// then pipeline); a staged copy moves through bounce buffers in a pipeline (both legs at once).
#pragma once

#include <string>
#include <vector>

#include "models/network/topology.h"
#include "models/storage/tier.h"
#include "sim/config.h"
#include "sim/metrics.h"

namespace lcsim::storage {

struct CheckpointLevel {
  std::string tier = "parallel_fs";  // peer_memory, local_nvme, parallel_fs, object_store
  std::string mode = "sync";         // sync: training waits for the save; async: for a snapshot to host memory
  int every = 1;                     // this level takes every Nth checkpoint
  void visit(Section& s);
};

struct CheckpointConfig {
  std::vector<CheckpointLevel> levels;  // empty: checkpoints are not modelled (reliability keeps its assumed cost)
  std::string state = "memory_model";  // memory_model: the memory model's per-rank state; parameters: x bytes_per_parameter
  double bytes_per_parameter = 14;
  bool feed_reliability = true;  // reliability: uses the blocking time of the last level instead of checkpoint_save
  /// In-run checkpoints: a training workload checkpoints every this many iterations; each level on the topology
  /// saves as flows on the run's own network at its own `every` (models/storage/checkpoint_flows.h); 0: none (only
  /// the estimate below).
  int run_every = 0;
  void visit(Section& s);
};

/// The job whose state is saved: its ranks' global GPU endpoints (Megatron order) and its parallelism.
struct CheckpointJob {
  std::vector<uint32_t> endpoints;
  double parameters = 0;
  int tensor_parallel = 1, pipeline_parallel = 1, data_parallel = 1;
  /// From the training memory model (state: memory_model), what one rank holds; zero = parameters x
  /// bytes_per_parameter spread over every rank. Sharded optimizer states (distributed optimizer / ZeRO-1+):
  /// every rank writes its shard and 1 / DP of the replicated weights; otherwise data-parallel rank 0 of each
  /// group writes the group's weights and optimizer states (Megatron's checkpoint without the distributed
  /// optimizer) and the other ranks write nothing. Gradients are not saved (recomputed every step).
  Bytes weights_per_rank, optimizer_per_rank;
  /// Per endpoint (in the order of `endpoints`), where ranks hold different parts of the model (Megatron: each
  /// pipeline stage its own layers, the first and last the embeddings): what that rank holds. Empty: every rank
  /// holds weights_per_rank and optimizer_per_rank.
  std::vector<Bytes> rank_weights, rank_optimizer;
  /// Mixture of experts (Megatron's expert parallelism), per endpoint: the part of rank_weights / rank_optimizer
  /// that is the rank's own experts, and the rank's index in its expert-data-parallel group (the ranks that hold
  /// the same experts); expert weights are replicated over that group (expert_data_parallel ranks), not over DP.
  /// Empty: no experts. Every expert is saved once: sharded, each rank writes 1 / expert_data_parallel of its
  /// experts' weights; otherwise the group's replica 0 writes its experts' weights and optimizer states.
  std::vector<Bytes> rank_expert_weights, rank_expert_optimizer;
  std::vector<int> rank_expert_replica;
  int expert_data_parallel = 1;
  bool optimizer_sharded = false;
  bool weights_sharded = false;  // ZeRO-3 / FSDP: each rank holds (and writes) its own shard of the weights
};

/// Per level: what one save and one restore cost the job.
struct LevelCost {
  std::string tier, mode;
  int every = 1;
  Bytes bytes;         // the whole job's checkpoint
  Bytes per_rank;      // each writing rank's part
  int writers = 0;     // ranks that write
  Duration save;       // from the start of the save until the last byte is on the tier
  Duration blocking;   // what training waits: the save (sync) or the snapshot to host memory (async)
  Duration restore;    // the readers' read plus the broadcast to the rest of each group
  Duration restore_read, restore_broadcast;
  std::string bottleneck;  // the resource that carried the most bytes per capacity in the save
};

struct CheckpointCost {
  std::vector<LevelCost> levels;
  /// What a reliability model needs: the last (most durable) level's blocking time, save and restore.
  Duration blocking_s() const { return levels.empty() ? Duration() : levels.back().blocking; }
  Duration save_s() const { return levels.empty() ? Duration() : levels.back().save; }
  Duration restore_s() const { return levels.empty() ? Duration() : levels.back().restore; }
};

/// Who writes what: the ranks that write (in the job's order) and each one's bytes.
struct CheckpointState {
  std::vector<uint32_t> writers;
  std::vector<Bytes> sizes;  // per writer
  Bytes total;               // the whole job's checkpoint
  Bytes per_writer;          // total / writers
};
CheckpointState checkpoint_state(const CheckpointConfig& config, const CheckpointJob& job);
/// What a restore reads and broadcasts over: the job's data-parallel groups, one per (pipeline stage, tensor rank),
/// stage-major, each in chain order (its first rank reads, then passes the state down), as endpoints. Megatron's
/// rank order: tensor, then data, then pipeline.
std::vector<std::vector<uint32_t>> restore_groups(const CheckpointJob& job);
/// What each of restore_groups(job) reads: the bytes its members wrote.
std::vector<Bytes> restore_group_bytes(const CheckpointState& state, const std::vector<std::vector<uint32_t>>& groups);

/// The job's checkpoint over the cluster. `nodes` gives each node's template (NVMe, DRAM), indexed by the
/// topology's node numbers. Throws InputError when a level needs what the cluster lacks (a parallel file system
/// without servers, peer memory on one node, ...), naming the key.
CheckpointCost checkpoint_cost(const CheckpointConfig& config, const StorageConfig& storage,
                               const net::Topology& topology, const std::vector<const hw::NodeSpec*>& nodes,
                               const CheckpointJob& job);

/// checkpoint_<tier>_{save,blocking,restore}_s, _bytes per level (prefixed).
void report_checkpoints(const CheckpointCost& cost, const std::string& prefix, MetricSet& m);

}  // namespace lcsim::storage
