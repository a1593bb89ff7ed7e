// Activation bytes one transformer layer keeps for its backward pass, tensor by tensor (per token of a
// micro-batch), for the memory fit when recomputation is by module or saved activations are FP8, and for
// multi-latent attention, whose widths Korthikanti et al.'s closed form (models/hardware/memory.h) does not know.
// With no module recomputed, 16-bit saved tensors, dropout and plain multi-head attention it gives that closed
// form: 10h kept whole on every TP rank (two norm inputs, their outputs, two dropout masks) and 8h + 4f (GeLU) or
// 8h + 6f (SwiGLU) split over TP. Without dropout the masks are not kept (8h whole); with grouped-query attention
// a fused attention kernel keeps keys and values at their own width (2h x groups / heads each).
#pragma once

#include "workloads/training/gpt_model.h"

namespace lcsim::wl {

struct ActivationOptions {
  bool recompute_norms = false;     // Megatron-LM's recompute module `layernorm`: norm outputs not kept
  bool recompute_mla_up = false;    // `mla_up_proj`: queries, keys and values rebuilt from the latents
  bool recompute_moe_act = false;   // `moe_act`: the experts' SwiGLU/GeLU outputs not kept
  bool fp8_saved = false;           // linear layers' saved inputs (and the experts' SwiGLU inputs) in FP8
  // Transformer Engine's FP8 linear layers (Linear, LayerNormLinear, GroupedLinear) keep only the column-wise FP8
  // copy of their input for the weight gradient: 1 B per element, the SwiGLU inputs stay 16-bit, and the attention
  // output is kept twice (16-bit by the attention kernel, FP8 by the output projection).
  bool fp8_linear_inputs = false;
  double moe_imbalance = 1;         // busiest expert's tokens / mean
  bool fused_attention = true;      // flash / cuDNN attention: keys and values kept at the key/value heads' width
  // bias_activation_fusion off with SwiGLU: the multiply keeps the silu output (e per element of the MLP width) as
  // well as the first GEMM's output the silu keeps (the dense MLP and the shared expert; mlp.py's glu).
  bool unfused_swiglu = false;
  // Megatron-LM's normal-checkpointing modules: the dense MLP (`mlp`), a MoE layer's whole MoE part (`moe`), its
  // shared expert (`shared_experts`) keep none of their tensors, only their input (the norm's 16-bit output).
  bool recompute_mlp = false, recompute_moe = false, recompute_shared = false;
  // moe_shared_expert_overlap with TP: the shared expert's first linear layer keeps its input gathered over TP
  // (SharedExpertMLP.pre_forward_comm), bytes per element times TP; 0: it keeps the norm's output, counted above.
  double shared_gathered_input = 0;
  // The experts' tensor parallelism (expert_tensor_parallel_size): the routed copies are gathered over it after the
  // all-to-all, so each expert's first linear layer keeps its input (and each copy its probability) for expert TP
  // times the rank's own share; the layer's FFN-wide tensors are split over it and stay a 1/TP share.
  double expert_tp = 1;
  // The bytes per element of fp8_linear_inputs' copy: 1 (FP8), 0.5 + 1/16 (NVFP4). Last: the struct is built in order.
  double quantized_bytes = 1;
};

struct LayerActivations {
  double whole = 0;  // bytes per token kept whole on every tensor-parallel rank (without sequence parallelism)
  double split = 0;  // bytes per token split over tensor parallelism
};

/// What layer `layer` (from 0; an MTP module's layer: num_layers) keeps per token for backward.
LayerActivations layer_activations(const GptModelConfig& m, int layer, const ActivationOptions& o);

}  // namespace lcsim::wl
