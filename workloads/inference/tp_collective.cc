// Tensor-parallel collectives of a serving instance (InstanceCost::tp_collective_seconds, serving_model.h).
//
// The TP group sits in one node, so each call is a one-node collective, costed the way the training model's tuner
// costs it (models/network/collectives.cc, Collectives::choose): over the part's measured scale-up protocols
// (hw::CollectiveCalibration: latencies and the fraction of scale-up bandwidth each reaches, fitted to nccl-tests,
// docs/calibration.md; the collective model's default protocol on a part without them) and every registered
// algorithm NCCL's tuner considers that the protocol runs and that applies to one node, the smallest alpha-beta
// estimate: base latency + steps x step latency + bytes over the protocol's bandwidth. So a decode step's small
// all-reduces pay their latency (tens of microseconds each on 8 GPUs), as they do on real NVLink nodes, and large
// prefill ones their bandwidth; an all-gather or a reduce-scatter at the part's measured fraction of that (its
// calibration's all_gather_scale_up_factor, reduce_scatter_scale_up_factor). The node is taken to reduce in its
// switches (NVLS) when the part's calibration lists a protocol that runs `nvls` (parts fitted on NVSwitch nodes).
#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "models/network/collective_algorithms.h"
#include "models/network/collectives.h"
#include "workloads/inference/serving_model.h"

namespace lcsim::inf {

namespace {

bool runs(const std::vector<std::string>& algorithms, const std::string& name) {
  return algorithms.empty() || std::find(algorithms.begin(), algorithms.end(), name) != algorithms.end();
}

}  // namespace

double InstanceCost::tp_collective_seconds(policy::CollectiveOp op, double bytes) const {
  const int n = serving_.tensor_parallel;
  if (n <= 1 || bytes <= 0) return 0;
  std::vector<hw::CollectiveProtocolCalibration> protocols = part_->collectives.protocols;
  if (protocols.empty()) {
    const net::CollectiveProtocol d;  // the collective model's default protocol
    protocols.push_back(
        {d.name, d.base_latency, d.step_latency, d.scale_up_efficiency, false, {}, 0, d.max_chunk, d.floor_latency});
  }
  policy::CollectiveCase c;
  c.op = op;
  c.bytes = Bytes::of(bytes);
  c.ranks = n;
  c.nodes = 1;
  c.ranks_per_node = n;
  for (const auto& p : protocols) {
    c.in_switch_reduction = c.in_switch_reduction || (!p.algorithms.empty() && runs(p.algorithms, "nvls"));
  }
  // All-gather's and reduce-scatter's kernels reach a measured fraction of the all-reduce fit's efficiency.
  const hw::CollectiveCalibration& cal = part_->collectives;
  const double factor =
      net::scale_up_factor(op, cal.all_gather_scale_up_factor, cal.reduce_scatter_scale_up_factor);
  double best = std::numeric_limits<double>::infinity();
  for (const auto& p : protocols) {
    c.intra_bandwidth = Bandwidth::bytes_per_s(part_->scale_up_bandwidth.bps() * p.scale_up_efficiency * factor);
    c.inter_bandwidth = c.intra_bandwidth;
    c.base_latency = p.base_latency;
    c.step_latency = p.step_latency;
    c.chunk_channels = p.chunk_channels;
    c.max_chunk = p.max_chunk;
    c.floor_latency = p.floor_latency;
    std::vector<const policy::CollectiveCost*> costs;
    for (const auto& [name, entry] : net::collective_algorithms().entries()) {
      if (runs(p.algorithms, name)) costs.push_back(entry.factory.cost.get());
    }
    // The tuner's own choice among them (tuned algorithms that apply, the smallest estimate).
    if (const auto pick = policy::choose(costs, c)) best = std::min(best, costs[*pick]->estimate(c).s());
  }
  LCSIM_ASSERT(best < std::numeric_limits<double>::infinity(), "no collective algorithm applies to a TP group");
  return best;
}

}  // namespace lcsim::inf
