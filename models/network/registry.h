// The network's pluggable parts, registered by name (called from scenarios/catalog.cc): topologies (how the fabric
// is wired) and fidelities (which engine backend and transfer model a run uses). No if-chain chooses between them.
#pragma once

#include <memory>
#include <vector>

#include "models/network/explicit_topology.h"
#include "models/network/topology.h"
#include "models/network/transfer.h"
#include "sim/registry.h"

namespace lcsim::net {

/// What a topology builder reads: the fabric keys, the explicit switch list (topology: explicit) and the nodes.
struct TopologyInputs {
  const LeafSpineConfig& fabric;
  const ExplicitConfig& explicit_topology;
  const std::vector<NodeShape>& nodes;
};
using TopologyFactory = std::unique_ptr<Topology> (*)(const TopologyInputs&);
void register_topologies(Registry<TopologyFactory>& r);

/// A fidelity: the engine backend it runs on, and its transfer model, built over every endpoint's engine host
/// (GPUs, then service endpoints).
struct Fidelity {
  const char* engine_backend;
  std::unique_ptr<TransferModel> (*transfer)(sim::Engine& engine, Topology& topology,
                                             const policy::LoadBalancer& balancer, TransferOptions options,
                                             const std::vector<sim::HostId>& hosts);
  /// Intra-node collectives get an analytical transfer model of their own (private scale-up links), so that
  /// thousands of small collectives do not become flows.
  bool analytical_scale_up;
};
void register_fidelities(Registry<Fidelity>& r);

}  // namespace lcsim::net
