// A MoE layer's router after its gating GEMM, as Megatron-core's TopKRouter runs it in training
// (megatron/core/transformer/moe/router.py and moe_utils.py): the score function and top-k selection over the
// gate's logits, the routing probabilities and map scattered back to one column per expert, the
// load-balancing losses (auxiliary, z-loss) and token dropping to a capacity, each a memory-bound kernel over
// tokens x experts (fp32 where Megatron computes in fp32), with its backward kernels stated. Unfused:
// PyTorch's operators; fused
// (--moe-router-fusion): Transformer Engine's fused router kernels. Bytes per kernel:
// docs/training-moe-router.md.
#pragma once

#include <string>
#include <vector>

#include "models/hardware/op_cost.h"

namespace lcsim {
class Section;
}

namespace lcsim::wl {

/// The router's training settings: Megatron-core TransformerConfig fields of the same names (the workload's
/// keys).
struct MoeRouterSettings {
  std::string moe_router_load_balancing_type = "aux_loss";  // aux_loss, seq_aux_loss, global_aux_loss, none
  double moe_aux_loss_coeff = 0;                            // Megatron-LM's default: no auxiliary loss
  double moe_z_loss_coeff = 0;                              // 0: none (Megatron's None)
  std::string moe_router_dtype = "none";                    // none: logits in the activations' type; fp32
  bool moe_router_fusion = false;
  bool moe_router_force_load_balancing = false;  // random logits (benchmarks' forced balance)
  double moe_expert_capacity_factor = 0;         // 0: dropless
  bool moe_pad_expert_input_to_capacity = false;
  std::string moe_token_drop_policy = "probs";  // probs, position
  double moe_input_jitter_eps = 0;              // 0: none
  // FP8: the routing map padded so that every expert's token count is a multiple of the quantization's
  // alignment (pad_routing_map), so the grouped experts skip their own padding copies (Fp8Padding).
  bool moe_router_padding_for_fp8 = false;

  void visit(Section& s);
  bool aux_loss() const { return moe_aux_loss_coeff > 0 && moe_router_load_balancing_type != "none"; }
  /// Bytes per logit and routing probability: fp32 with moe_router_dtype fp32, else the activations' `elem_bytes`.
  double logit_bytes(double elem_bytes) const { return moe_router_dtype == "fp32" ? 4 : elem_bytes; }
  /// Tokens of the busiest expert / mean after dropping: the imbalance, capped at the capacity factor; every
  /// expert padded to the capacity with moe_pad_expert_input_to_capacity.
  double expert_load(double imbalance) const;
  bool operator==(const MoeRouterSettings&) const = default;
};

struct MoeRouterShape {
  double tokens = 0;  // tokens into the router on this rank (its sequence-parallel share)
  double experts = 1, topk = 1, hidden = 0;
  double elem_bytes = 2;                   // the activations'
  std::string score_function = "softmax";  // the model's: softmax or sigmoid
  bool pre_softmax = false, expert_bias = false;
  double scaling_factor = 0;  // 0: none
  bool group_limited = false;
  MoeRouterSettings run;
};

/// Kernels before the gating GEMM (input jitter) and after it (through the routing probabilities and map).
struct MoeRouterOps {
  std::vector<hw::OpWork> before_gate, after_gate;
};
MoeRouterOps moe_router_ops(const MoeRouterShape& s);

}  // namespace lcsim::wl
