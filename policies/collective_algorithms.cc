#include "policies/collective_algorithms.h"

#include <algorithm>
#include <cmath>

namespace lcsim::policy {
namespace {

bool power_of_two(int n) { return n > 0 && (n & (n - 1)) == 0; }

// A ring's slowest edge: inside one node, the scale-up link; across nodes, one NIC per channel with k channels.
double ring_bw(const CollectiveCase& c) {
  const double intra = c.intra_bandwidth.bps(), inter = c.inter_bandwidth.bps();
  return c.nodes > 1 ? std::min(intra, c.ranks_per_node * inter) : intra;
}
double cross_bw(const CollectiveCase& c) {
  const double intra = c.intra_bandwidth.bps(), inter = c.inter_bandwidth.bps();
  return c.nodes > 1 ? std::min(intra, inter) : intra;
}

}  // namespace

Duration RingCost::estimate(const CollectiveCase& c) const {
  const double n = c.ranks, S = c.bytes.bytes();
  const double base_latency = c.base_latency.s(), step_latency = c.step_latency.s();
  double steps = n - 1, volume = (n - 1) / n;
  switch (c.op) {
    case CollectiveOp::kAllReduce: steps = 2 * (n - 1); volume = 2 * (n - 1) / n; break;
    case CollectiveOp::kBroadcast: case CollectiveOp::kReduce: volume = 1; break;
    case CollectiveOp::kAllToAll:
      return Duration::seconds(base_latency + step_latency + (n - 1) / n * S / cross_bw(c));
    case CollectiveOp::kSendRecv: return Duration::seconds(base_latency + S / cross_bw(c));
    default: break;
  }
  return Duration::seconds(base_latency + steps * step_latency + volume * S / ring_bw(c));
}

bool TreeCost::applies(const CollectiveCase& c) const {
  return supports(c.op) && (c.nodes > 1 || c.ranks_per_node > 1);
}

Duration TreeCost::estimate(const CollectiveCase& c) const {
  // Reduce up and broadcast down, pipelined; each tree carries half the data over one NIC per node in each
  // direction. Inside a node each GPU of the chain sends the whole buffer up and down (the two trees' halves, each
  // both ways: 2S), at kTreeChainEfficiency: the bound on one node, and beside the NICs' on several.
  const double N = c.nodes, k = c.ranks_per_node, S = c.bytes.bytes();
  const double intra = c.intra_bandwidth.bps(), inter = c.inter_bandwidth.bps();
  const double chain = k > 1 ? 2 * S / (kTreeChainEfficiency * intra) : 0;
  const double across = N > 1 ? S / std::min(intra, 2 * inter) : 0;
  return Duration::seconds(c.base_latency.s() + 2 * (std::log2(N) + k - 1) * c.step_latency.s() +
                           std::max(chain, across));
}

bool HierarchicalCost::applies(const CollectiveCase& c) const {
  return supports(c.op) && c.nodes > 1 && c.ranks_per_node > 1 && c.ranks == c.nodes * c.ranks_per_node;
}

Duration HierarchicalCost::estimate(const CollectiveCase& c) const {
  const double N = c.nodes, k = c.ranks_per_node, S = c.bytes.bytes();
  const double intra = c.intra_bandwidth.bps(), inter = c.inter_bandwidth.bps();
  return Duration::seconds(3 * c.base_latency.s() + (4 * (k - 1) + 2 * (N - 1)) * c.step_latency.s() +
                           2 * (k - 1) / k * S / intra + 2 * (N - 1) / N * (S / k) / inter);
}

Bytes nvls_round(Bytes bytes, int ranks, int channels, Bytes max_chunk) {
  const double S = bytes.bytes(), ops = static_cast<double>(channels) * ranks;  // NCCL's concurrentOps
  double chunk = max_chunk.bytes();
  if (S < 64 * ops * chunk && chunk > 65536) chunk = 65536;
  if (S < 8 * ops * chunk && chunk > 32768) chunk = 32768;
  if (S < 2 * ops * chunk && chunk > 16384) chunk = 16384;
  return Bytes::of(ops * chunk);
}

double nvls_steps(Bytes bytes, int ranks, int channels, Bytes max_chunk) {
  if (channels <= 0) return 2;
  constexpr double kStepsInFlight = 8;  // NCCL_STEPS: rounds a channel keeps in flight
  const double rounds = std::max(1.0, std::ceil(bytes.bytes() / nvls_round(bytes, ranks, channels, max_chunk).bytes()));
  return std::min(rounds, kStepsInFlight);
}

Bytes nvls_fill(Bytes bytes, int ranks, int channels, Bytes max_chunk) {
  if (channels <= 0) return Bytes::of(0);
  return Bytes::of(std::min(bytes.bytes(), nvls_round(bytes, ranks, channels, max_chunk).bytes()));
}

double nvls_traffic(int ranks) { return (ranks + 1.0) / ranks; }

bool NvlsCost::applies(const CollectiveCase& c) const {
  return supports(c.op) && c.nodes == 1 && c.ranks > 2 && c.in_switch_reduction;
}

Duration NvlsCost::estimate(const CollectiveCase& c) const {
  return with_steps(c, nvls_steps(c.bytes, c.ranks, c.chunk_channels, c.max_chunk));
}

Duration NvlsCost::with_steps(const CollectiveCase& c, double steps) {
  const double moved = c.bytes.bytes() + nvls_fill(c.bytes, c.ranks, c.chunk_channels, c.max_chunk).bytes();
  return Duration::seconds(std::max(c.floor_latency.s(), c.base_latency.s() + steps * c.step_latency.s() +
                                                             nvls_traffic(c.ranks) * moved / c.intra_bandwidth.bps()));
}

Duration NvlsCost::tuner_estimate(const CollectiveCase& c) const {
  return with_steps(c, 2);  // the latency of a call of one round (push once, receive once) at every size
}

bool HalvingDoublingCost::supports(CollectiveOp op) const {
  return op == CollectiveOp::kAllReduce || op == CollectiveOp::kReduceScatter || op == CollectiveOp::kAllGather;
}

bool HalvingDoublingCost::applies(const CollectiveCase& c) const { return supports(c.op) && power_of_two(c.ranks); }

Duration HalvingDoublingCost::estimate(const CollectiveCase& c) const {
  const double n = c.ranks;
  const double factor = c.op == CollectiveOp::kAllReduce ? 2 : 1;
  return Duration::seconds(c.base_latency.s() + factor * std::log2(n) * c.step_latency.s() +
                           factor * (n - 1) / n * c.bytes.bytes() / cross_bw(c));
}

}  // namespace lcsim::policy
