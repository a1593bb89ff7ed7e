// Collective algorithm choice, like NCCL's tuner: every algorithm that applies gets a closed-form alpha-beta
// estimate for the call (size, ranks, nodes, link bandwidths) and the fastest wins. Pure arithmetic (no engine),
// so a real control plane can ask the same question. The estimates rank algorithms; the simulation then times
// the chosen one on the fabric.
#pragma once

#include <string>
#include <vector>

#include "sim/units.h"

namespace lcsim::policy {

enum class CollectiveOp { kAllReduce, kReduceScatter, kAllGather, kBroadcast, kReduce, kAllToAll, kSendRecv };
enum class CollectiveAlgo { kRing, kTree, kHierarchical, kNvls, kHalvingDoubling };

const std::vector<std::string>& collective_op_names();    // all_reduce, reduce_scatter, all_gather, broadcast, ...
const std::vector<std::string>& collective_algo_names();  // ring, tree, hierarchical, nvls, halving_doubling
std::string algo_name(CollectiveAlgo a);
/// One line on what the algorithm does and where it applies, for `lcsim list collectives`.
std::string algo_description(CollectiveAlgo a);
CollectiveOp parse_op(const std::string& name);      // asserts a valid name
CollectiveAlgo parse_algo(const std::string& name);  // asserts a valid name

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
};

/// Whether an algorithm implements this operation on this shape.
bool applies(CollectiveAlgo a, const CollectiveCase& c);
/// Alpha-beta estimate of one algorithm.
Duration estimate(CollectiveAlgo a, const CollectiveCase& c);
/// The applicable algorithm with the smallest estimate among NCCL's own (ring, tree, hierarchical as
/// ring-over-rails, NVLS); ring on ties and when nothing else applies. Halving-doubling only when pinned.
CollectiveAlgo choose(const CollectiveCase& c);

}  // namespace lcsim::policy
