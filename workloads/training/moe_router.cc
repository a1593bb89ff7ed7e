#include "workloads/training/moe_router.h"

#include <algorithm>

#include "sim/config.h"
#include "workloads/training/moe_permutation.h"

namespace lcsim::wl {

void MoeRouterSettings::visit(Section& s) {
  s.choice(
      "moe_router_load_balancing_type", moe_router_load_balancing_type,
      {"aux_loss", "seq_aux_loss", "global_aux_loss", "none"},
      "MoE router's load-balancing loss (Megatron-LM's --moe-router-load-balancing-type, default aux_loss): "
      "with moe_aux_loss_coeff > 0 the router computes every expert's score again, its top-k map and the "
      "loss (per micro-batch, sequence or global batch: the same kernels); sinkhorn is not modelled "
      "(docs/training-moe-router.md)");
  s.field("moe_aux_loss_coeff", moe_aux_loss_coeff,
          "weight of the load-balancing loss (Megatron-LM's --moe-aux-loss-coeff, default 0: none computed)",
          Range::at_least(0));
  s.field("moe_z_loss_coeff", moe_z_loss_coeff,
          "weight of the router's z-loss (Megatron-LM's --moe-z-loss-coeff; 0: none): a logsumexp over every "
          "expert's logit per token, and its gradient",
          Range::at_least(0));
  s.choice(
      "moe_router_dtype", moe_router_dtype, {"none", "fp32"},
      "type of the router's logits and scores (Megatron-LM's --moe-router-dtype): none = the activations' "
      "(16-bit), fp32 = 4 B per logit in every router kernel (the gate's GEMM stays 16-bit, Transformer "
      "Engine's general GEMM writing fp32); fp64 is not modelled");
  s.field(
      "moe_router_fusion", moe_router_fusion,
      "the router's score function, top-k and auxiliary-loss scores in Transformer Engine's fused kernels "
      "(Megatron-LM's --moe-router-fusion; default false: PyTorch's topk, softmax, scatter and casts)");
  s.field("moe_router_force_load_balancing", moe_router_force_load_balancing,
          "route by random logits (Megatron-LM's --moe-router-force-load-balancing, used by benchmarks that "
          "force-balance the experts): one more kernel per MoE layer; the experts' load is "
          "moe_load_imbalance either "
          "way");
  s.field(
      "moe_expert_capacity_factor", moe_expert_capacity_factor,
      "token dropping (Megatron-LM's --moe-expert-capacity-factor; 0: dropless): each expert takes at most "
      "this many times the mean tokens, so the busiest expert's load is min(moe_load_imbalance, this); "
      "alltoall dispatcher only",
      Range::at_least(0));
  s.field("moe_pad_expert_input_to_capacity", moe_pad_expert_input_to_capacity,
          "with moe_expert_capacity_factor, every expert's input padded to its capacity "
          "(--moe-pad-expert-input-to-capacity): every expert and all-to-all carries capacity rows, and the "
          "dispatcher does not wait on the host for the routing counts");
  s.choice("moe_token_drop_policy", moe_token_drop_policy, {"probs", "position"},
           "which tokens an expert over capacity drops (--moe-token-drop-policy): the lowest probabilities, "
           "or the "
           "latest positions (a top-k over the routing map made int32 first)");
  s.field(
      "moe_input_jitter_eps", moe_input_jitter_eps,
      "multiplicative noise on the router's input (Megatron-LM's --moe-input-jitter-eps; 0: none): a uniform "
      "draw over the tokens' hidden states and a multiply, before the gate",
      Range::at_least(0));
  s.field("moe_router_padding_for_fp8", moe_router_padding_for_fp8,
          "with precision: fp8, the router pads its routing map so that every expert gets a multiple of FP8's "
          "alignment (16 rows; Megatron-LM's --moe-router-padding-for-fp8, later "
          "--moe-router-padding-for-quantization): six small kernels over the map, and Transformer Engine's grouped "
          "experts then copy nothing to pad and unpad their rows (their Fp8Padding returns its input when every "
          "count is aligned); the few padding rows themselves are not counted (docs/training-moe-router.md)");
  if (s.mode() != Section::Mode::kParse) return;
  if (moe_pad_expert_input_to_capacity && moe_expert_capacity_factor <= 0) {
    s.error("moe_pad_expert_input_to_capacity",
            "needs moe_expert_capacity_factor > 0 (as Megatron-core asserts)");
  }
}

double MoeRouterSettings::expert_load(double imbalance) const {
  if (moe_expert_capacity_factor <= 0) return imbalance;
  return moe_pad_expert_input_to_capacity ? moe_expert_capacity_factor
                                          : std::min(imbalance, moe_expert_capacity_factor);
}

MoeRouterOps moe_router_ops(const MoeRouterShape& s) {
  MoeRouterOps ops;
  const MoeRouterSettings& r = s.run;
  const double T = s.tokens, E = s.experts, k = s.topk, M = T * E, K = T * k;
  const double L = r.logit_bytes(s.elem_bytes);  // bytes per logit
  const double cast = L < 4 ? 4 + L : 0;  // per element, an fp32 tensor cast to the logits' type (or none)
  const bool softmax = s.score_function == "softmax";
  std::vector<hw::OpWork>& out = ops.after_gate;
  auto add = [&out](const char* name, double bytes, std::vector<hw::MemoryPass> backward = {}) {
    out.push_back(stated_pass(name, bytes, std::move(backward)));
  };
  // The PyTorch kernels Megatron-core's code runs for the pass just added, where lcsim costs several as one
  // (OpWork::launches; counted from router.py and moe_utils.py, docs/training-moe-router.md, "Host launches").
  auto launches = [&out](int n) { out.back().launches = n; };
  const bool seq_loss = r.moe_router_load_balancing_type == "seq_aux_loss";
  // apply_input_jitter: a uniform draw of the input's shape (rsample: the fill, then scaled and shifted) and
  // the multiply; its backward multiplies the gradient by the same noise.
  if (r.moe_input_jitter_eps > 0) {
    const double x = T * s.hidden * s.elem_bytes;
    ops.before_gate.push_back(stated_pass("router_jitter_noise", 5 * x));
    ops.before_gate.push_back(
        stated_pass("router_jitter", 3 * x, {stated_backward("router_jitter_bwd", 3 * x)}));
  }
  // Each loss beside the routing probabilities sends its own gradient to the logits, summed into theirs by
  // one more kernel (read two, write one) in backward.
  const hw::MemoryPass grad_sum = stated_backward("router_grad_sum", 3 * L * M);
  // RandomSTE: logits.clone().normal_(); its backward passes the gradient through.
  if (r.moe_router_force_load_balancing) add("router_random_logits", 3 * L * M), launches(2);  // clone, normal_
  // z-loss: logsumexp over each token's logits (a max pass and an exp-sum pass), squared and averaged;
  // backward the softmax of the logits times the gradient, added to the logits' gradient.
  if (r.moe_z_loss_coeff > 0)
    add("router_z_loss", 2 * L * M + 12 * T, {stated_backward("router_z_loss_bwd", 2 * L * M), grad_sum});

  // topk_routing_with_score_function.
  if (r.moe_router_fusion) {
    // Transformer Engine's fused_topk_with_score_function: one kernel reads the logits and writes the routing
    // probabilities (the logits' type), the boolean map and an fp32 copy of the scores for its backward;
    // backward reads the probabilities' gradient, that copy and the map and writes the logits' gradient.
    add("router_topk_fused", (2 * L + 5) * M, {stated_backward("router_topk_fused_bwd", (2 * L + 5) * M)});
  } else {
    if (softmax && !s.pre_softmax) {
      // topk over the logits (values and int64 indices), then softmax over the k chosen in fp32. topk's
      // backward: a zero fill of the logits' shape and a scatter of the k gradients.
      add("router_topk", L * M + (L + 8) * K, {stated_backward("router_topk_bwd", L * M + (8 + 2 * L) * K)});
      launches(2);  // a sorted top-k: the selection and its sort
      add("router_softmax", (L + 4) * K, {stated_backward("router_softmax_bwd", (12 + cast) * K)});
    } else {
      // Every expert's score in fp32: softmax (pre-softmax) or the logits made fp32 and their sigmoid.
      if (softmax) {
        add("router_scores", (L + 4) * M, {stated_backward("router_scores_bwd", (12 + cast) * M)});
      } else {
        if (cast > 0)
          add("router_scores_cast", cast * M, {stated_backward("router_scores_cast_bwd", cast * M)});
        add("router_scores", 8 * M, {stated_backward("router_scores_bwd", 12 * M)});
      }
      // group_limited_topk: each group's top scores summed, the top groups, their mask expanded to every
      // expert (a copy), made boolean and inverted, and masked_fill of the rest; with the expert bias only
      // the selection sees it (no gradient), else the masked fill's backward masks the gradient.
      if (s.group_limited) {
        add("router_group_limit", 24 * M,
            s.expert_bias ? std::vector<hw::MemoryPass>{}
                          : std::vector{stated_backward("router_group_limit_bwd", 9 * M)});
        // group_limited_topk before its final top-k: each group's top 2 (sorted: 2), their sum, the top groups
        // (unsorted: 1), zeros_like, scatter_, the mask expanded (a copy), bool, inverted, masked_fill (a copy
        // and the fill).
        launches(11);
      }
      if (s.expert_bias) {
        // The bias added for the selection only; the chosen scores gathered from the unbiased ones.
        add("router_bias_add", 8 * M);
        add("router_topk", 4 * M + 12 * K), launches(2);
        add("router_gather", 16 * K,
            {stated_backward("router_gather_bwd_zeros", 4 * M),
             stated_backward("router_gather_bwd", 16 * K)});
      } else {
        add("router_topk", 4 * M + 12 * K, {stated_backward("router_topk_bwd", 4 * M + 16 * K)});
        launches(2);
      }
      // sigmoid: the k scores normalized by their sum (a sum and a division).
      if (!softmax && k > 1)
        add("router_normalize", 12 * K + 8 * T, {stated_backward("router_normalize_bwd", 20 * K + 8 * T)}),
            launches(3);  // the sum, + 1e-20, the division
    }
    if (s.scaling_factor > 0) add("router_scale", 8 * K, {stated_backward("router_scale_bwd", 8 * K)});
    if (cast > 0) add("router_probs_cast", cast * K, {stated_backward("router_probs_cast_bwd", cast * K)});
    // routing_probs = zeros_like(logits).scatter(1, indices, probs): a zero fill, the out-of-place scatter's
    // copy and its writes; backward gathers the k gradients. routing_map =
    // zeros_like(logits).int().scatter(1, indices, 1).bool(): a zero fill, a cast to int32, the scatter's
    // copy and writes, a cast to bool; no gradient.
    add("router_probs_zeros", L * M);
    add("router_probs_scatter", 2 * L * M + (8 + 2 * L) * K,
        {stated_backward("router_probs_scatter_bwd", (8 + 2 * L) * K)});
    launches(2);  // the out-of-place scatter's copy, then the scatter
    add("router_map_zeros", L * M);
    add("router_map_int", (L + 4) * M);
    add("router_map_scatter", 8 * M + 12 * K), launches(2);
    add("router_map_bool", 5 * M);
  }

  // apply_router_token_dropping: each expert keeps its `capacity` best tokens (a top-k down each expert's
  // column of the probabilities, or of the map made int32 by position), marked by a scattered mask; the
  // probabilities multiplied by it (its backward masks the gradient). A capacity above the token count keeps
  // every token.
  if (r.moe_expert_capacity_factor > 0) {
    const double capacity = K * r.moe_expert_capacity_factor / E;  // rows per expert
    if (capacity >= T) {
      add("router_capacity_ones", M);
    } else {
      const bool position = r.moe_token_drop_policy == "position";
      if (position) add("router_capacity_int", 5 * M);
      const double v = position ? 4 : L;
      add("router_capacity_topk", v * M + (v + 8) * capacity * E);
      add("router_capacity_zeros", L * M);
      add("router_capacity_scatter", 2 * L * M + (8 + L) * capacity * E);
      add("router_capacity_bool", (L + 1) * M);
    }
    if (!r.moe_pad_expert_input_to_capacity) add("router_capacity_and", 3 * M);
    add("router_capacity_apply", (2 * L + 1) * M,
        {stated_backward("router_capacity_apply_bwd", (2 * L + 1) * M)});
  }

  // pad_routing_map (moe_utils.py): over the map seen expert by expert, the tokens per expert (a sum), the
  // zeros marked (==), made int32 and their running count (cumsum, int64), compared with each expert's shortfall,
  // and the first zeros set (masked_fill). No gradient.
  if (r.moe_router_padding_for_fp8) {
    add("router_pad_counts", M);
    add("router_pad_zeros", 2 * M);
    add("router_pad_int", 5 * M);
    add("router_pad_cumsum", 12 * M);
    add("router_pad_mask", 9 * M);
    add("router_pad_fill", 3 * M);
  }

  // compute_routing_scores_for_aux_loss and the loss: every expert's score again, their top-k map, the tokens
  // per expert (summed over the map; their all-reduce over TP x CP is not modelled) and the scores summed per
  // expert. Backward: the scores' gradient (broadcast from the per-expert sums) through the score function to
  // the logits.
  if (r.aux_loss()) {
    if (r.moe_router_fusion) {
      // Transformer Engine's fused_compute_score_for_moe_aux_loss (scores, map and an fp32 copy for backward)
      // and fused_moe_aux_loss (its backward writes the scores' gradient).
      add("router_aux_scores_fused", (L + 9) * M,
          {stated_backward("router_aux_scores_fused_bwd", (8 + L) * M), grad_sum});
      add("router_aux_counts", M);
      add("router_aux_loss_fused", 4 * M, {stated_backward("router_aux_loss_fused_bwd", 4 * M)});
      launches(seq_loss ? 4 : 3);  // the fused loss, (/ batch size,) the tracker's division and sum
    } else {
      if (softmax) {
        add("router_aux_scores", (L + 4) * M,
            {stated_backward("router_aux_scores_bwd", (4 + L) * M), grad_sum});
      } else {
        if (cast > 0)
          add("router_aux_scores_cast", cast * M, {stated_backward("router_aux_scores_cast_bwd", cast * M)});
        add("router_aux_scores", 8 * M, {stated_backward("router_aux_scores_bwd", 12 * M), grad_sum});
        add("router_aux_normalize", 12 * M + 8 * T,
            {stated_backward("router_aux_normalize_bwd", 16 * M + 8 * T)});
        launches(3);
      }
      add("router_aux_topk", 4 * M + 12 * K), launches(2);
      add("router_aux_map_zeros", L * M);
      add("router_aux_map_int", (L + 4) * M);
      add("router_aux_map_scatter", 8 * M + 12 * K), launches(2);
      add("router_aux_map_bool", 5 * M);
      add("router_aux_counts", M);
      // switch_load_balancing_loss_func (the probabilities summed, times the counts, summed, scaled), (/ batch
      // size for the sequence-wise loss,) the tracker's division and sum.
      add("router_aux_loss", 4 * M), launches(seq_loss ? 7 : 6);
    }
  }
  // Aux-loss-free balancing (moe_router_enable_expert_bias): the map's tokens per expert accumulated for the
  // bias update at the optimizer step.
  if (s.expert_bias) add("router_bias_counts", M), launches(2);  // the map's sum, added to the running counts
  return ops;
}

}  // namespace lcsim::wl
