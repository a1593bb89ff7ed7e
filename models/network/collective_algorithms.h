// Collective algorithms registered by name: each pairs its cost model for the tuner (policy::CollectiveCost,
// policies/collective_algorithms.h) with a planner that turns one call into phases of flows on the fabric. A
// phase is a latency (base + steps x step, NCCL's own model) followed by ONE wave of aggregated flows, each
// carrying an edge's whole pipelined volume. Collectives (collectives.h) chooses an algorithm and runs its plan.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "models/network/topology.h"
#include "models/network/transfer.h"
#include "policies/collective_tuner.h"
#include "sim/registry.h"

namespace lcsim::net {

using policy::CollectiveOp;

struct CollectivePhase {
  Duration latency;
  std::vector<FlowRequest> flows;
};

/// The cost of one point-to-point send/recv (NCCL send matched with its receive): its fixed latency and the
/// fraction of its link tier's bandwidth it reaches. Every send/recv of the simulator is costed by flow(): nccl_tests'
/// send_recv (RingPlanner), Collectives::send and send_to (pipeline sends, Chakra's point-to-point ops).
struct P2pCost {
  Duration latency;
  double scale_up_efficiency = 1;
  double scale_out_efficiency = 1;
  /// The flow of `s` bytes from endpoint a to b: s / efficiency bytes (inside a meshed node its path is the pair's
  /// one link, Topology::mesh_link), carrying the latency (FlowRequest::latency: paid with the flow, no event).
  FlowRequest flow(const Topology& topology, uint32_t a, uint32_t b, Bytes s) const {
    const double eff = topology.node_of(a) == topology.node_of(b) ? scale_up_efficiency : scale_out_efficiency;
    return FlowRequest{a, b, s / eff, 0, false, latency};
  }
};

/// One call, as a planner sees it: endpoints sorted by node (and grouped by node), the protocol's latencies and
/// the efficiencies that turn bytes into flow sizes.
struct PlanInput {
  CollectiveOp op = CollectiveOp::kAllReduce;
  const std::vector<uint32_t>& ranks;
  const std::vector<std::vector<uint32_t>>& groups;
  Bytes size;
  Duration base;  // the protocol's base latency
  Duration step;  // the protocol's step latency
  uint32_t channels = 1;
  const Topology& topology;
  int chunk_channels = 0;               // the protocol's NVLS channels (policy::nvls_steps)
  Bytes max_chunk = Bytes::kib(128);    // the protocol's largest NVLS chunk
  Duration floor_latency;               // the protocol's least NVLS call time (policy::NvlsCost)
  double scale_up_efficiency = 1;   // collective flows inside a node (config x protocol)
  double scale_out_efficiency = 1;  // the same between nodes
  P2pCost p2p;  // send/recv's latency and efficiencies

  /// A collective flow of `s` bytes from a to b at its tier's efficiency (modelled as that many more bytes).
  FlowRequest flow(uint32_t a, uint32_t b, Bytes s, uint64_t label) const {
    const double eff = topology.node_of(a) == topology.node_of(b) ? scale_up_efficiency : scale_out_efficiency;
    return FlowRequest{a, b, s / eff, label};
  }
};

/// The network side of one algorithm: the phases of one call. Only called for calls the cost side applies to
/// (or that the caller pinned).
class CollectivePlanner {
 public:
  virtual ~CollectivePlanner() = default;
  virtual std::vector<CollectivePhase> plan(const PlanInput& in) const = 0;
};

/// Rings of C channels, each entering and leaving a node through a different GPU (and so NIC); every operation
/// (all-to-all: one wave of pairwise flows; send/recv: every rank to the next).
class RingPlanner final : public CollectivePlanner {
 public:
  std::vector<CollectivePhase> plan(const PlanInput& in) const override;
};
/// Two binary trees over the nodes (the second mirrors the first), chains inside nodes; one pipelined wave.
class TreePlanner final : public CollectivePlanner {
 public:
  std::vector<CollectivePhase> plan(const PlanInput& in) const override;
};
/// Intra-node reduce-scatter ring, rail-aligned inter-node ring all-reduce, intra-node all-gather ring.
class HierarchicalPlanner final : public CollectivePlanner {
 public:
  std::vector<CollectivePhase> plan(const PlanInput& in) const override;
};
/// The switch reduces and multicasts: every GPU pushes its buffer once and receives the result once (with its own
/// share's round trip: policy::nvls_traffic, (n+1)/n of the buffer each way), after base + policy::nvls_steps x
/// step (the rounds of chunks NCCL splits the call into) + its pipeline's fill (policy::nvls_fill, timed at the
/// flows' rate on an idle link), or longer: up to the floor less the flows' time on an idle link.
class NvlsPlanner final : public CollectivePlanner {
 public:
  std::vector<CollectivePhase> plan(const PlanInput& in) const override;
};
/// log2(n) pairwise exchange waves each way (reduce-scatter by halving, all-gather by doubling).
class HalvingDoublingPlanner final : public CollectivePlanner {
 public:
  std::vector<CollectivePhase> plan(const PlanInput& in) const override;
};

/// A registered algorithm: its cost for the tuner and its planner.
struct CollectiveAlgorithm {
  std::shared_ptr<const policy::CollectiveCost> cost;
  std::shared_ptr<const CollectivePlanner> planner;
};
using CollectiveAlgorithms = Registry<CollectiveAlgorithm>;
void register_collective_algorithms(CollectiveAlgorithms& r);
/// The algorithms, registered once by register_collective_algorithms (what Collectives and the config use).
const CollectiveAlgorithms& collective_algorithms();

}  // namespace lcsim::net
