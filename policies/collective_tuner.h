// Collective algorithm choice, like NCCL's tuner: every algorithm that applies gets a closed-form alpha-beta
// estimate for the call (size, ranks, nodes, link bandwidths) and the fastest wins. Pure arithmetic (no engine),
// so a real control plane can ask the same question. The estimates rank algorithms; the simulation then times
// the chosen one on the fabric (models/network/collective_algorithms.h plans its phases).
//
// Each algorithm's cost side is a small class behind CollectiveCost (policies/collective_algorithms.h); the
// network layer registers each by name with its planner (models/network/collective_algorithms.h).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sim/units.h"

namespace lcsim::policy {

enum class CollectiveOp { kAllReduce, kReduceScatter, kAllGather, kBroadcast, kReduce, kAllToAll, kSendRecv };

const std::vector<std::string>& collective_op_names();  // all_reduce, reduce_scatter, all_gather, broadcast, ...
CollectiveOp parse_op(const std::string& name);          // asserts a valid name

/// What the tuner knows of one call, in units (a control plane fills the same struct).
struct CollectiveCase {
  CollectiveOp op = CollectiveOp::kAllReduce;
  Bytes bytes;                     // nccl-tests' size of the call
  int ranks = 2;
  int nodes = 1;
  int ranks_per_node = 2;          // equal per node for hierarchical algorithms
  Bandwidth intra_bandwidth;       // scale-up, per GPU per direction
  Bandwidth inter_bandwidth;       // scale-out, per GPU per direction
  Duration base_latency;           // per collective
  Duration step_latency;           // per algorithm step
  bool in_switch_reduction = false;  // NVLS-class scale-up switches on every node
  int chunk_channels = 0;            // NVLS: channels a call is split over (0: not chunked, two steps)
  Bytes max_chunk = Bytes::of(131072);  // NVLS: largest chunk one channel moves per round per GPU
  Duration floor_latency;               // NVLS: the least time a call takes (0: none)
};

/// The cost side of one collective algorithm: which operations it implements, where it applies, and its
/// alpha-beta estimate of a call. Stateless; one shared instance per algorithm.
class CollectiveCost {
 public:
  virtual ~CollectiveCost() = default;
  /// Whether the algorithm implements `op` at all (on some shape).
  virtual bool supports(CollectiveOp op) const = 0;
  /// Whether it implements this operation on this shape (rank count, nodes, switch support).
  virtual bool applies(const CollectiveCase& c) const = 0;
  /// Alpha-beta estimate of one call.
  virtual Duration estimate(const CollectiveCase& c) const = 0;
  /// What the tuner ranks the algorithm by: NCCL's tuner prices each (algorithm, protocol) as a line, a latency plus
  /// the bytes over a bandwidth (src/graph/tuning.cc), so its choice between two of them switches once at most as
  /// the size grows. estimate() where that is already a line; an algorithm whose estimate carries more than NCCL's
  /// tuner knows (NVLS's per-round steps and pipeline fill) ranks by its line and is timed by estimate().
  virtual Duration tuner_estimate(const CollectiveCase& c) const { return estimate(c); }
  /// Whether the tuner considers it when nothing is pinned (NCCL's own algorithms); else only when pinned.
  virtual bool tuned() const { return true; }
  /// On equal estimates the lower wins (NCCL's order: ring, tree, ring over rails, NVLS).
  virtual int preference() const = 0;
};

/// The candidate (an index into `candidates`) with the smallest tuner_estimate among those that are tuned() and apply;
/// none if none does. Ties keep the earlier one, so callers list candidates by preference() (ring first).
std::optional<size_t> choose(const std::vector<const CollectiveCost*>& candidates, const CollectiveCase& c);

}  // namespace lcsim::policy
