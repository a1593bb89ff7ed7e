// Storage tiers: what each place a byte can live delivers (HBM, host DRAM, local NVMe, a parallel file system, an
// object store), from its component numbers. A tier answers one question: the sustained rate of `clients` clients
// each moving requests of `request` bytes (large sequential or small random I/O), as min(aggregate bandwidth,
// per-client caps x clients, request-rate limits x request size); the object store adds a per-request latency on
// every connection. Transfers that share the cluster's links (checkpoints) go over the network model instead
// (models/storage/checkpoint.h); these figures are the media and service limits at the end of those paths.
// Sources of the shipped numbers: docs/storage.md and docs/calibration.md ("Storage").
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/hardware/node.h"
#include "sim/config.h"
#include "sim/registry.h"
#include "sim/units.h"

namespace lcsim::storage {

/// A parallel file system (Lustre, GPFS, WEKA, VAST class): servers on the cluster's storage network.
struct ParallelFsConfig {
  int servers = 0;                                           // 0: none
  Bandwidth server_network = Bandwidth::gbits_per_s(400);   // each server's NICs on the storage plane, together
  Bandwidth server_read;    // each server's media read rate (large sequential); 0 = its network
  Bandwidth server_write;   // each server's media write rate; 0 = its network
  double server_iops = 0;   // small random reads per second per server (4 KiB class); 0 = no limit
  double metadata_ops = 0;  // file opens/creates per second, whole file system; 0 = no limit
  Bandwidth client_bandwidth;  // one client (host) at most; 0 = no cap
  double rack_units = 2;       // height of one server, for GB/s per rack unit
  void visit(Section& s);
};

/// An S3-class object store reached over the frontend/storage network: each connection pays a request latency
/// per object and streams at most connection_bandwidth.
struct ObjectStoreConfig {
  Bandwidth bandwidth;  // aggregate the service gives this cluster; 0 = none configured
  Duration request_latency = Duration::ms(20);
  Bandwidth connection_bandwidth = Bandwidth::gbytes_per_s(0.1);
  int connections_per_client = 16;
  void visit(Section& s);
};

/// Whole-cluster storage settings (cluster.storage), beside the node templates' own local NVMe.
struct StorageConfig {
  ParallelFsConfig parallel_fs;
  ObjectStoreConfig object_store;
  bool gpudirect = true;          // GPUDirect Storage: device <-> storage without a bounce through host memory
  Bandwidth host_copy_bandwidth;  // staging: one host's CPU copy rate into/out of its bounce buffers; 0 = no limit
  double local_nvme_iops = 0;     // small random reads per second per node; 0 = no limit
  void visit(Section& s);
  bool configured() const { return parallel_fs.servers > 0 || object_store.bandwidth.bps() > 0; }
};

enum class Op { kRead, kWrite };

/// What a tier can deliver (vendor-style figures, from its component numbers).
struct TierFigures {
  Bandwidth read, write;  // aggregate, large sequential
  double iops = 0;        // small random reads per second, aggregate (0: no request limit)
  double metadata_ops = 0;
  double rack_units = 0;
  Bytes capacity;
};

class StorageTier {
 public:
  virtual ~StorageTier() = default;
  virtual std::string kind() const = 0;
  virtual TierFigures figures() const = 0;
  /// Sustained rate of `clients` clients together, each issuing requests of `request` bytes one after another
  /// (with its own connections).
  virtual Bandwidth throughput(Op op, Bytes request, int clients) const;
  /// One line: the tier and its figures.
  std::string describe() const;

 protected:
  /// Per-client cap (0: none).
  virtual Bandwidth client_cap() const { return Bandwidth(); }
};

/// Everything a tier is built from: the cluster's storage settings and one node of it (HBM, DRAM and NVMe are
/// per node: a tier of those is one node's), and how many nodes share a cluster-wide tier.
struct TierContext {
  const StorageConfig* storage;
  const hw::NodeSpec* node;
};
using TierFactory = std::unique_ptr<StorageTier> (*)(const TierContext&);

/// hbm, host_dram, local_nvme, parallel_fs, object_store (each with a one-line description).
void register_storage_tiers(Registry<TierFactory>& r);

}  // namespace lcsim::storage
