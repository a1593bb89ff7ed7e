// One checkpoint save as flows between topology endpoints, for a training workload to put on the run's own transfer
// model (checkpoint.run_every: in-run checkpoints), beside its own collectives and every other job's traffic. So a
// save is slowed by whatever else crosses its PCIe links, NICs and server ports, and an asynchronous flush slows
// whatever it shares links with. Who writes what comes from checkpoint_state() (models/storage/checkpoint.h).
// Tiers: the parallel file system (every writer's part striped over every server) and peer memory (the next node's
// host); local NVMe, the object store, the servers' media and the host's CPU copy are resources of the storage
// model's own estimate, not links of the topology (docs/storage.md). A restore is flows too (restore_flows()).
#pragma once

#include <string>
#include <vector>

#include "models/network/transfer.h"
#include "models/storage/checkpoint.h"

namespace lcsim::storage {

struct SaveFlows {
  /// What training waits for: the whole save (sync; GPUDirect: GPU -> tier; staged: GPU -> own host memory and host
  /// memory -> tier at once), or the snapshot into host memory (async).
  std::vector<net::FlowRequest> blocking;
  /// Async: the flush from host memory to the tier, in the background after the snapshot. Empty for sync.
  std::vector<net::FlowRequest> background;
  Bytes bytes;       // the whole job's checkpoint
  int writers = 0;
};

/// One restore of a level, as a restart after losing a node reads it back (the pattern of checkpoint_cost()'s
/// estimate): one reader per data-parallel group (its data-parallel rank 0) reads the group's state from the tier
/// (GPUDirect: straight into the GPU; staged: tier -> the reader's host memory and host memory -> GPU at once),
/// then each group passes it down a chain to its other members (rank d -> rank d + 1, all links at once: a
/// pipelined broadcast over the compute fabric).
struct RestoreFlows {
  std::vector<net::FlowRequest> read;       // first
  std::vector<net::FlowRequest> broadcast;  // after the read; empty when every group has one member
  Bytes group_bytes;                        // what the largest group's reader reads (its stage's state / TP)
  Bytes bytes;                              // what every reader reads, together
  int readers = 0;
};

/// Whether a level's tier can run as flows on the topology (parallel_fs, peer_memory).
bool tier_on_topology(const std::string& tier);

/// One save of `level` (an index into config.levels) by `job` (its endpoints are topology endpoints, in rank
/// order). Throws InputError naming checkpoint.levels[i].tier when the tier cannot be reached.
SaveFlows save_flows(const CheckpointConfig& config, const StorageConfig& storage, const net::Topology& topology,
                     const CheckpointJob& job, size_t level);

/// One restore of `level` by `job` (see RestoreFlows). Throws InputError as save_flows() does.
RestoreFlows restore_flows(const CheckpointConfig& config, const StorageConfig& storage,
                           const net::Topology& topology, const CheckpointJob& job, size_t level);

}  // namespace lcsim::storage
