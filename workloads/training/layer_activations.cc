#include "workloads/training/layer_activations.h"

namespace lcsim::wl {

LayerActivations layer_activations(const GptModelConfig& m, int layer, const ActivationOptions& o) {
  // e: a 16-bit tensor; c: a linear layer's saved input (1 B with FP8 caching, DeepSeek-V3 section 3.3.3, or as
  // Transformer Engine's FP8 linear layers keep it: its quantized column-wise copy; linear.py and grouped_linear.py,
  // `update_usage(rowwise_usage=False, columnwise_usage=True)` before saving). s: the experts' SwiGLU input (FP8
  // only with DeepSeek-V3's caching; Transformer Engine saves the activation's 16-bit input). p: the output
  // projection's own FP8 copy of the attention output, which the attention kernel keeps in 16 bits for its backward
  // (none with DeepSeek-V3's caching: one E5M6 tensor serves both).
  const bool te_fp8 = o.fp8_linear_inputs && !o.fp8_saved;
  const double q = te_fp8 ? o.quantized_bytes : 1;  // NVFP4's copy 0.5 + 1/16 B (ActivationOptions)
  const double e = 2, c = o.fp8_saved || te_fp8 ? q : 2, s = o.fp8_saved ? 1 : e, p = te_fp8 ? q : 0;
  const double h = m.hidden_size, a = m.num_attention_heads;
  LayerActivations out;
  // Two norm inputs (the residual stream), two dropout masks (1 B each) unless the dropout is 0 (PyTorch's dropout
  // then returns its input: ATen native/Dropout.cpp, `if (p == 0 || !train ...) return input`), and the two norm
  // outputs, the inputs of the attention and MLP projections, unless the norms are recomputed.
  out.whole = 2 * e * h + (m.hidden_dropout > 0 ? 2 * h : 0.0) + (o.recompute_norms ? 0 : 2 * c * h);
  if (m.multi_latent_attention) {
    // The down projections' outputs, whole on every TP rank: each latent as its norm's input, the norm's output
    // as the up projection's input (recomputed with the norms or the up projections, as DeepSeek-V3 recomputes
    // "all RMSNorm operations and MLA up-projections", section 3.2.3), and the shared rotary key.
    const bool up = o.recompute_norms || o.recompute_mla_up;
    for (const double rank : {static_cast<double>(m.q_lora_rank), static_cast<double>(m.kv_lora_rank)}) {
      if (rank > 0) out.whole += e * rank + (up ? 0 : c * rank);
    }
    out.whole += e * m.qk_pos_emb_head_dim;
    // Fused attention keeps its queries, keys and values (rebuilt from the latents when the up projections are
    // recomputed) and its output, also the output projection's input: with FP8 caching DeepSeek-V3 keeps it in
    // "a customized E5M6 data format" (12 bits, 1.5 B; section 3.3.3), as the attention's backward needs it too.
    const double qk = m.qk_head_dim + m.qk_pos_emb_head_dim, out_bytes = o.fp8_saved ? 1.5 : e;
    out.split += (o.recompute_mla_up ? 0 : e * a * (2 * qk + m.v_head_dim)) + (out_bytes + p) * a * m.v_head_dim;
  } else {
    // Queries, keys and values as the attention kernel saves them, and its output (the output projection's input).
    // A fused kernel takes grouped-query keys and values at their own width (flash-attn's and cuDNN's GQA); the
    // unfused path repeats them to every head first (Megatron-LM's DotProductAttention, repeat_interleave).
    const double d = m.head_dim(), g = o.fused_attention ? m.query_groups() : a;
    out.split += e * (a + 2 * g) * d + (e + p) * a * d;
    // --qk-layernorm: the norm's input, the QKV projection's query and key output (its own weights' gradient and
    // its input gradient need it; the norm output goes on into the rotary embedding).
    if (m.qk_layernorm) out.split += e * (a + m.query_groups()) * d;
  }
  const double up_width = m.swiglu ? 2 : 1, silu = o.unfused_swiglu && m.swiglu ? e : 0;
  // A checkpointed MLP or MoE part keeps its input (the norm's output) in 16 bits, not the FP8 copy its first
  // linear layer would keep (nor nothing, where the norms are recomputed: the checkpoint holds it).
  const bool moe = m.is_moe_layer(layer);
  if (moe ? o.recompute_moe : o.recompute_mlp) {
    out.whole += e * h - (o.recompute_norms ? 0 : c * h);
    return out;
  }
  if (!moe) {
    // The first MLP GEMM's output (the activation's input) and the activation's output (the second's input).
    const double f = m.ffn();
    out.split += e * up_width * f + c * f + silu * f;
    return out;
  }
  // Experts: the router's probabilities (fp32), then per routed copy of a token the expert's input (the first
  // GEMM's), the activation's input (FP8 with FP8 caching: DeepSeek-V3 caches "the inputs of the SwiGLU operator"
  // in FP8), its output unless recomputed (moe_act) and the copy's probability (fp32); with the experts split over
// expert TP the input and probability are kept as gathered over it (ActivationOptions::expert_tp). Megatron-core's experts
  // weight the activation's output by that probability (experts.py, activation_func_with_probs; the unpermute then
  // only sums), so the expert's output is not kept for the probability's gradient; the shared expert as a dense MLP
  // on the norm's output.
  const double f = m.moe_ffn(), k = m.moe_router_topk * o.moe_imbalance;
  out.split += 4.0 * m.num_experts;
  out.split += k * (c * h * o.expert_tp + s * up_width * f + (o.recompute_moe_act ? 0 : c * f) + 4 * o.expert_tp);
  if (const double fs = m.moe_shared_expert_intermediate_size; fs > 0 && !o.recompute_shared) {
    out.split += s * up_width * fs + (o.recompute_moe_act ? 0 : (c + silu) * fs) + o.shared_gathered_input * h;
  }
  return out;
}

}  // namespace lcsim::wl
