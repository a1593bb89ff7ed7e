#include "policies/collective_tuner.h"

#include <algorithm>
#include <cmath>

#include "sim/error.h"

namespace lcsim::policy {

const std::vector<std::string>& collective_op_names() {
  static const std::vector<std::string> n = {"all_reduce", "reduce_scatter", "all_gather", "broadcast",
                                             "reduce",     "all_to_all",     "send_recv"};
  return n;
}

const std::vector<std::string>& collective_algo_names() {
  static const std::vector<std::string> n = {"ring", "tree", "hierarchical", "nvls", "halving_doubling"};
  return n;
}

std::string algo_name(CollectiveAlgo a) { return collective_algo_names()[static_cast<size_t>(a)]; }

std::string algo_description(CollectiveAlgo a) {
  switch (a) {
    case CollectiveAlgo::kRing:
      return "one ring per channel, each entering and leaving a node through a different GPU and NIC; every "
             "operation";
    case CollectiveAlgo::kTree:
      return "double binary tree across nodes, chains inside (NCCL's tree); all-reduce over several nodes";
    case CollectiveAlgo::kHierarchical:
      return "intra-node reduce-scatter, rail-aligned inter-node all-reduce, intra-node all-gather; all-reduce, "
             "equal GPUs per node";
    case CollectiveAlgo::kNvls:
      return "in-switch reduction on NVLS-class scale-up switches; all-reduce inside one node";
    case CollectiveAlgo::kHalvingDoubling:
      return "recursive halving-doubling; all-reduce, reduce-scatter, all-gather on a power-of-two rank count "
             "(only when pinned)";
  }
  return "";
}

CollectiveOp parse_op(const std::string& name) {
  const auto& n = collective_op_names();
  auto it = std::find(n.begin(), n.end(), name);
  LCSIM_ASSERT(it != n.end(), "unvalidated collective " + name);
  return static_cast<CollectiveOp>(it - n.begin());
}

CollectiveAlgo parse_algo(const std::string& name) {
  const auto& n = collective_algo_names();
  auto it = std::find(n.begin(), n.end(), name);
  LCSIM_ASSERT(it != n.end(), "unvalidated algorithm " + name);
  return static_cast<CollectiveAlgo>(it - n.begin());
}

namespace {
bool power_of_two(int n) { return n > 0 && (n & (n - 1)) == 0; }
}  // namespace

bool applies(CollectiveAlgo a, const CollectiveCase& c) {
  const bool reduce_like = c.op == CollectiveOp::kAllReduce;
  switch (a) {
    case CollectiveAlgo::kRing: return true;
    case CollectiveAlgo::kTree: return reduce_like && c.nodes > 1;
    case CollectiveAlgo::kHierarchical:
      return reduce_like && c.nodes > 1 && c.ranks_per_node > 1 && c.ranks == c.nodes * c.ranks_per_node;
    case CollectiveAlgo::kNvls: return reduce_like && c.nodes == 1 && c.in_switch_reduction;
    case CollectiveAlgo::kHalvingDoubling:
      return (reduce_like || c.op == CollectiveOp::kReduceScatter || c.op == CollectiveOp::kAllGather) &&
             power_of_two(c.ranks);
  }
  return false;
}

namespace {

double estimate_s(CollectiveAlgo a, const CollectiveCase& c) {
  const double n = c.ranks, N = c.nodes, k = c.ranks_per_node, S = c.bytes.bytes();
  const double intra = c.intra_bandwidth.bps(), inter = c.inter_bandwidth.bps();
  const double base_latency = c.base_latency.s(), step_latency = c.step_latency.s();
  // A ring's slowest edge: inside one node, the scale-up link; across nodes, one NIC per channel with k channels.
  const double ring_bw = N > 1 ? std::min(intra, k * inter) : intra;
  const double cross_bw = N > 1 ? std::min(intra, inter) : intra;
  const double steps_ar = 2 * (n - 1);
  switch (a) {
    case CollectiveAlgo::kRing: {
      double steps = n - 1, volume = (n - 1) / n;
      switch (c.op) {
        case CollectiveOp::kAllReduce: steps = steps_ar; volume = 2 * (n - 1) / n; break;
        case CollectiveOp::kBroadcast: case CollectiveOp::kReduce: volume = 1; break;
        case CollectiveOp::kAllToAll: steps = 1; volume = (n - 1) / n; return base_latency + step_latency + volume * S / cross_bw;
        case CollectiveOp::kSendRecv: return base_latency + S / cross_bw;
        default: break;
      }
      return base_latency + steps * step_latency + volume * S / ring_bw;
    }
    case CollectiveAlgo::kTree:
      // Double binary tree across nodes, chains inside: reduce up and broadcast down, pipelined; each tree carries
      // half the data over one NIC per node in each direction.
      return base_latency + 2 * (std::log2(N) + k - 1) * step_latency + S / std::min(intra, 2 * inter);
    case CollectiveAlgo::kHierarchical:
      return 3 * base_latency + (4 * (k - 1) + 2 * (N - 1)) * step_latency + 2 * (k - 1) / k * S / intra +
             2 * (N - 1) / N * (S / k) / inter;
    case CollectiveAlgo::kNvls:
      return base_latency + 2 * step_latency + S / intra;
    case CollectiveAlgo::kHalvingDoubling: {
      const double factor = c.op == CollectiveOp::kAllReduce ? 2 : 1;
      return base_latency + factor * std::log2(n) * step_latency + factor * (n - 1) / n * S / cross_bw;
    }
  }
  return 0;
}

}  // namespace

Duration estimate(CollectiveAlgo a, const CollectiveCase& c) { return Duration::seconds(estimate_s(a, c)); }

CollectiveAlgo choose(const CollectiveCase& c) {
  CollectiveAlgo best = CollectiveAlgo::kRing;
  double best_t = estimate_s(best, c);
  // NCCL's own algorithms only (halving-doubling is available when pinned).
  for (CollectiveAlgo a : {CollectiveAlgo::kTree, CollectiveAlgo::kHierarchical, CollectiveAlgo::kNvls}) {
    if (!applies(a, c)) continue;
    const double t = estimate_s(a, c);
    if (t < best_t) {
      best = a;
      best_t = t;
    }
  }
  return best;
}

}  // namespace lcsim::policy
