// A cluster's scale-out fabric: what its build reads of the cluster (FabricInputs), the build, and fabrics built
// once and shared, read-only, between runs whose clusters give equal inputs (FabricCache: the in-process API's
// evaluations of one cluster, eval/).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "models/network/explicit_topology.h"
#include "models/network/topology.h"

namespace lcsim {

struct ClusterConfig;

/// Everything build_fabric reads of a cluster: equal inputs build equal fabrics (the topology factories are
/// functions of these alone). Each node's shape comes from its template and part (bandwidths, PCIe, host NICs); the
/// storage keys that put servers and copies on the fabric are folded into `fabric`.
struct FabricInputs {
  std::string topology;  // cluster.topology: the registered builder
  net::LeafSpineConfig fabric;
  net::ExplicitConfig explicit_topology;
  std::vector<net::NodeShape> nodes;  // node by node, pool by pool
  bool operator==(const FabricInputs&) const = default;
};

FabricInputs fabric_inputs(const ClusterConfig& cluster);
/// The fabric of these inputs, with cluster.fabric.failed taken down; InputError for an unknown failed name (or
/// what the builder rejects).
std::unique_ptr<net::Topology> build_fabric(const FabricInputs& inputs);

/// Fabric switch ports in use, which draw power: the links leaving a switch vertex of the scale-out fabric (leaf,
/// spine, core, or a switch of an explicit topology). Not counted: GPUs, scale-up switches (inside a node's power),
/// hosts, storage servers, in-node PCIe parts, and the storage/frontend/management networks, which the topology
/// models as one abstract switch each.
int fabric_switch_ports(const net::Topology& topology);

/// What a run's metrics read of a fabric's links, grouped once per fabric (no string keys per link per run).
struct FabricTables {
  int switch_ports = 0;            // fabric_switch_ports
  std::vector<std::string> tiers;  // every link tier, in name order
  std::vector<uint32_t> tier_of;   // per link: its tier's index in `tiers`
  std::vector<size_t> tier_links;  // per tier: its links
  /// The GPUs' NIC uplinks (tier nic, named *nic_up*) by scale-out plane: planes in order, links in id order.
  std::vector<std::pair<int, std::vector<uint32_t>>> plane_uplinks;
};
FabricTables fabric_tables(const net::Topology& topology);

/// A fabric a run uses, and its tables.
struct SharedFabric {
  /// Shared: frozen (Topology::freeze), read-only, safe to read from many threads.
  std::shared_ptr<net::Topology> topology;
  std::shared_ptr<const FabricTables> tables;
};

/// Fabrics built once per distinct FabricInputs and shared between runs, on any threads. A fabric is frozen once
/// built and never changes after: a run reads its links and paths; what a run changes (link loads, the path
/// cache, rates) lives in the run's own transfer model. At most kKept fabrics are kept (the oldest goes first; a
/// run holding one keeps it alive).
class FabricCache {
 public:
  static constexpr size_t kKept = 64;
  /// The fabric of `cluster`: the kept one whose inputs equal the cluster's, else built (under the cache's lock, so
  /// that one build serves every thread asking for it), frozen and kept. A build's InputError propagates and
  /// nothing is kept.
  SharedFabric get(const ClusterConfig& cluster);
  /// Fabrics built so far (one per distinct input, unless one was dropped past kKept and built again).
  size_t builds() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<FabricInputs, SharedFabric>> kept_;
  size_t builds_ = 0;
};

}  // namespace lcsim
