// Expert parallelism for MoE serving (serving_model.h): the busiest GPU's share of the routed experts and the
// all-to-all dispatch and combine that bring tokens to their experts and back.
//
// With serving.expert_parallel an instance's TP group of n GPUs holds E / n whole experts each (vLLM's
// enable_expert_parallel; DeepSeek-V3 and Mixtral deployments in SGLang and vLLM run this way); attention stays
// TP-sharded. Per MoE layer, for t tokens routed to k experts each (t x k token-expert rows):
//   rows on the busiest GPU = min(t k, max(ceil(t k / n), expert_load_imbalance x t k / n))
//   expert FLOPs            = 2 x rows x 3 h f                    (gate, up, down of one whole expert per row)
//   expert weights read     = min(E / n, rows) x 3 h f x weight bytes
//   all-to-all buffer       = rows x h x 2 B                       (16-bit activations, dispatch and again combine)
// and each all-to-all costs the collective model's estimate for the part (tp_collective.cc; on a part without a
// measured calibration the ring: base + step latency + (n - 1) / n x buffer / scale-up bandwidth, with the
// collective model's default protocol latencies). Attention's all-reduce stays (as a reduce-scatter before the dispatch
// and an all-gather after the combine, the same bytes); the MLP's all-reduce goes.
#include <algorithm>
#include <cmath>
#include <string>

#include "workloads/inference/serving_model.h"

namespace lcsim::inf {

std::string expert_parallel_problem(const ModelShape& model, const ServingConfig& serving) {
  if (!serving.expert_parallel) {
    if (serving.expert_load_imbalance != 1.0) return "expert_load_imbalance applies only with expert_parallel: true";
    return {};
  }
  if (model.num_experts == 0) return "expert_parallel needs an MoE model (model.num_experts > 0)";
  const int n = serving.tensor_parallel;
  if (n < 2) return "expert_parallel spreads the experts over the tensor_parallel GPUs: it needs tensor_parallel > 1";
  if (model.num_experts % n != 0) {
    return "expert_parallel spreads model.num_experts (" + std::to_string(model.num_experts) +
           ") over the tensor_parallel GPUs (" + std::to_string(n) + "): it must divide them";
  }
  return {};
}

void InstanceCost::add_experts(IterationWork& w, double tokens, double layers) const {
  const double n = serving_.tensor_parallel;
  const double pairs = tokens * model_.experts_per_token;
  const double rows = std::min(pairs, std::max(std::ceil(pairs / n), serving_.expert_load_imbalance * pairs / n));
  const double expert_params = 3.0 * model_.hidden_size * model_.ffn_hidden_size;
  const double experts_here = model_.num_experts / n;
  w.expert_rows = rows;
  w.linear_flops += 2 * rows * expert_params * layers;
  w.bytes += std::min(experts_here, rows) * expert_params * layers * quant_bytes(serving_.weight_dtype);
  w.alltoall_bytes = rows * model_.hidden_size * 2;
}

double InstanceCost::alltoall_seconds(double bytes) const {
  if (!expert_parallel()) return 0;
  return tp_collective_seconds(policy::CollectiveOp::kAllToAll, bytes);
}

}  // namespace lcsim::inf
