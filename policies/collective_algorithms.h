// The cost side of each collective algorithm (CollectiveCost, policies/collective_tuner.h): NCCL-style alpha-beta
// estimates, one small class per algorithm. The network layer pairs each with its planner and registers both
// under the algorithm's name (models/network/collective_algorithms.h).
#pragma once

#include "policies/collective_tuner.h"

namespace lcsim::policy {

/// One ring per channel; every operation. Inside one node the slowest edge is a scale-up link; across nodes,
/// one NIC per channel with one channel per GPU of a node.
class RingCost final : public CollectiveCost {
 public:
  bool supports(CollectiveOp) const override { return true; }
  bool applies(const CollectiveCase&) const override { return true; }
  Duration estimate(const CollectiveCase& c) const override;
  int preference() const override { return 0; }
};

/// NCCL's tree all-reduce inside a node: a chain through the node's GPUs, each sending the data up (the reduction)
/// and down (the broadcast), at NCCL's own correction of a tree's bandwidth (src/graph/tuning.cc: a tree all-reduce's
/// bus bandwidth x 0.92). The intra-node chain flows of TreePlanner carry it too.
inline constexpr double kTreeChainEfficiency = 0.92;

/// NCCL's double binary tree across nodes, chains inside; all-reduce over several nodes, or inside one node (the
/// chain alone: only when pinned, as NCCL's tuner picks it there no more than lcsim's, a ring being faster).
class TreeCost final : public CollectiveCost {
 public:
  bool supports(CollectiveOp op) const override { return op == CollectiveOp::kAllReduce; }
  bool applies(const CollectiveCase& c) const override;
  Duration estimate(const CollectiveCase& c) const override;
  int preference() const override { return 1; }
};

/// Intra-node reduce-scatter, rail-aligned inter-node all-reduce, intra-node all-gather; all-reduce with equal
/// GPUs per node on several nodes.
class HierarchicalCost final : public CollectiveCost {
 public:
  bool supports(CollectiveOp op) const override { return op == CollectiveOp::kAllReduce; }
  bool applies(const CollectiveCase& c) const override;
  Duration estimate(const CollectiveCase& c) const override;
  int preference() const override { return 2; }
};

/// NVLS's latency steps for one all-reduce of `bytes` over `ranks` GPUs of one node, split over `channels` (NCCL's
/// nvlsChannels). As NCCL's enqueue.cc does, the call moves in rounds of channels x ranks (NVLS heads) chunks; the
/// chunk is `max_chunk` (NCCL_NVLS_CHUNKSIZE), halved to 64 KiB below 64 rounds' worth, 32 KiB below 8 and 16 KiB
/// below 2; each round pays one step latency until NCCL_STEPS (8) rounds are in flight, after which the rounds'
/// latencies overlap their transfers. So every call up to one round (2 MiB on 8 H100s) costs the same latency (the
/// plateau of measured NVLS curves), and the step count grows with the size up to 8. channels 0: two steps (the
/// unchunked model: push once, receive once).
double nvls_steps(Bytes bytes, int ranks, int channels, Bytes max_chunk);

/// The bytes of one NVLS round of a call of `bytes`: channels x ranks chunks of the chunk nvls_steps picks (2 MiB
/// on 8 H100s up to 8 MiB, 4 MiB up to 64 MiB, 8 MiB up to 1 GiB, 16 MiB above).
Bytes nvls_round(Bytes bytes, int ranks, int channels, Bytes max_chunk);

/// The NVLS pipeline's fill: the bytes' worth of time a call spends beyond its data, min(S, one round); none
/// unchunked (channels 0). NCCL's NVLS all-reduce (src/device/all_reduce.h, single node) is a pipeline per channel:
/// separate warp groups scatter a slab of ranks chunks into the multicast buffer, reduce-load and multicast-store it
/// through the switch, and gather the result out, slab after slab (a loop of heads x chunk per channel); the last
/// slab's reduce and gather follow its scatter, one round's slab-time after the data alone. Under one round every
/// channel's one slab is smaller (the last slab shrinks to its share), so the fill is then S itself. Chosen against
/// the alternatives on the Azure H100 and H200 curves (docs/validation-nccl-nvls.md, the 8 MiB step): no fill
/// leaves 8 MiB 11-14% fast, one round fits every size from 64 KiB within 5%, two put 1 MiB or 64 MiB 7-8% off.
Bytes nvls_fill(Bytes bytes, int ranks, int channels, Bytes max_chunk);

/// The bytes one NVLS all-reduce moves over each GPU's link, each direction, per byte of the call: (n+1)/n. The
/// switch's reduce-read pulls every GPU's whole buffer (S out) and returns each GPU its reduced 1/n share (S/n in);
/// the multicast store sends that share back (S/n out) and delivers every share to every GPU (S in): S + S/n each
/// way (NVIDIA/nccl#1083: NVLS reduce-scatter sends S and receives S/n, all-gather the reverse; nccl-tests#212 and
/// PR #239, NCCL's maintainer: NVLS algorithm bandwidth = link bandwidth x n/(n+1)). So NVLS's edge over a ring
/// (2(n-1)/n) grows with n: equal at 3 GPUs, 1.25x at 4, 1.56x at 8.
double nvls_traffic(int ranks);

/// In-switch reduction (NVLink SHARP): every GPU pushes its buffer through the switch once and receives the result
/// once (nvls_traffic); all-reduce inside one node of more than two GPUs whose scale-up switches reduce (NCCL
/// enables NVLS only above two GPUs, src/transport/nvls.cc). Costs max(floor, base + nvls_steps x step +
/// nvls_traffic x (bytes + nvls_fill) over its bandwidth): the floor is the least a call takes (its launch and the
/// NVLS synchronisation the data pipeline overlaps: the measured curves' flat start, 42 us on ND H100 v5 up to 1 MiB).
class NvlsCost final : public CollectiveCost {
 public:
  bool supports(CollectiveOp op) const override { return op == CollectiveOp::kAllReduce; }
  bool applies(const CollectiveCase& c) const override;
  Duration estimate(const CollectiveCase& c) const override;
  /// estimate() with two steps at every size, the fill kept (a bytes term): NCCL's tuner prices NVLS at one
  /// latency whatever the size (tuning.cc's hwLat), without the rounds' steps.
  Duration tuner_estimate(const CollectiveCase& c) const override;
  int preference() const override { return 3; }

 private:
  /// max(floor, base + steps x step + nvls_traffic x (bytes + fill) over the bandwidth).
  static Duration with_steps(const CollectiveCase& c, double steps);
};

/// Recursive halving-doubling on a power-of-two rank count; all-reduce, reduce-scatter, all-gather. Not one of
/// NCCL's algorithms: only when pinned.
class HalvingDoublingCost final : public CollectiveCost {
 public:
  bool supports(CollectiveOp op) const override;
  bool applies(const CollectiveCase& c) const override;
  Duration estimate(const CollectiveCase& c) const override;
  bool tuned() const override { return false; }
  int preference() const override { return 4; }
};

}  // namespace lcsim::policy
