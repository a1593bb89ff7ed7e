// One checkpoint save as flows between topology endpoints, for a training workload to put on the run's own transfer
// model (checkpoint.run_every: in-run checkpoints), beside its own collectives and every other job's traffic. So a
// save is slowed by whatever else crosses its PCIe links, NICs and server ports, and an asynchronous flush slows
// whatever it shares links with. Who writes what comes from checkpoint_state() (models/storage/checkpoint.h).
// Tiers: the parallel file system (every writer's part striped over every server) and peer memory (the next node's
// host); local NVMe, the object store, the servers' media and the host's CPU copy are resources of the storage
// model's own estimate, not links of the topology (docs/storage.md).
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

/// Whether a level's tier can run as flows on the topology (parallel_fs, peer_memory).
bool tier_on_topology(const std::string& tier);

/// One save of `level` (an index into config.levels) by `job` (its endpoints are topology endpoints, in rank
/// order). Throws InputError naming checkpoint.levels[i].tier when the tier cannot be reached.
SaveFlows save_flows(const CheckpointConfig& config, const StorageConfig& storage, const net::Topology& topology,
                     const CheckpointJob& job, size_t level);

}  // namespace lcsim::storage
