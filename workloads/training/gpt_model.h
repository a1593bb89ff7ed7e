// GPT-style decoder transformer, configured with Megatron-LM's argument names, and its per-layer work (FLOPs and
// HBM bytes per kernel) for one micro-batch on one GPU of a tensor/context/expert-parallel group. Dense or
// mixture-of-experts MLPs, multi-head or grouped-query attention, GeLU or SwiGLU, LayerNorm or RMSNorm.
//
// Model FLOPs follow Megatron-LM's own count (megatron/training/training.py, num_floating_point_operations;
// Narayanan et al., SC'21, appendix): per layer and token 12 h^2 (1 + g/a + s/h) (q/h) for attention (scores
// counted in full, not halved for the causal mask), 12 h f k m for the MLP (k experts routed to, m = 3/2 gated),
// plus 6 h V for the logits, all times 3 for forward + backward, without recomputation. Kernel time uses the
// kernels' real work instead (causal attention, a 2.5x flash-attention backward, the real GEMM shapes).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "models/hardware/op_cost.h"
#include "sim/config.h"
#include "workloads/training/moe_router.h"

namespace lcsim::wl {

struct GptModelConfig {
  int num_layers = 24;
  int hidden_size = 2048;
  int ffn_hidden_size = 0;  // 0: 4 x hidden_size
  int num_attention_heads = 16;
  bool group_query_attention = false;
  int num_query_groups = 0;  // key/value heads with group_query_attention; 0 = num_attention_heads
  int kv_channels = 0;       // head dimension; 0 = hidden_size / num_attention_heads
  // An RMSNorm / LayerNorm over each query and key head after the QKV projection (Megatron-LM's --qk-layernorm;
  // Qwen3, OLMoE): a memory-bound kernel over the queries and keys, two head-wide weights per layer.
  bool qk_layernorm = false;
  int seq_length = 2048;
  int vocab_size = 50304;
  bool swiglu = false;
  // Dropout probability after the attention and MLP blocks (Megatron-LM's --hidden-dropout, default 0.1): with 0,
  // PyTorch's dropout returns its input and keeps no mask (ATen's native/Dropout.cpp), so the memory fit counts none.
  double hidden_dropout = 0.1;
  std::string normalization = "LayerNorm";           // LayerNorm or RMSNorm
  std::string position_embedding_type = "learned_absolute";  // learned_absolute or rope
  bool add_bias_linear = true;
  // A bias on the QKV projection alone (Megatron-LM's --add-qkv-bias; Qwen2, GLM-4.5): Megatron-core's attention
  // builds linear_qkv with bias = add_bias_linear or add_qkv_bias. Its parameters only: Transformer Engine adds the
  // bias in the GEMM's epilogue and reduces its gradient there too, no kernel of its own.
  bool add_qkv_bias = false;
  bool untie_embeddings_and_output_weights = false;
  // Mixture of experts (num_experts > 0: every moe_layer_freq-th layer's MLP is a set of experts).
  int num_experts = 0;
  int moe_router_topk = 2;
  int moe_ffn_hidden_size = 0;  // 0: ffn_hidden_size
  int moe_shared_expert_intermediate_size = 0;
  int moe_layer_freq = 1;
  int moe_first_dense_layers = 0;  // the first n layers dense whatever moe_layer_freq says (DeepSeek-V3: 3)
  int moe_router_num_groups = 0;  // group-limited routing: experts in this many groups (one per node, as in
  int moe_router_group_topk = 0;  // DeepSeek-V3), each token routed within this many of them; 0 = unlimited
  // The router's score function and selection (Megatron-core's TransformerConfig fields; moe_router.h): softmax or
  // sigmoid scores, softmax before the top-k (pre-softmax), a per-expert bias for the selection only
  // (aux-loss-free balancing), the chosen probabilities scaled (0: not).
  std::string moe_router_score_function = "softmax";
  bool moe_router_pre_softmax = false;
  bool moe_router_enable_expert_bias = false;
  double moe_router_topk_scaling_factor = 0;
  // Multi-latent attention (DeepSeek-V2/V3; Megatron-LM's --multi-latent-attention and its arguments): queries
  // through a q_lora_rank bottleneck (0: a plain projection), keys and values from a kv_lora_rank latent; per head
  // queries and keys of qk_head_dim + qk_pos_emb_head_dim (the rotary part), values of v_head_dim.
  bool multi_latent_attention = false;
  int q_lora_rank = 0;
  int kv_lora_rank = 32;  // Megatron-LM's defaults
  int qk_head_dim = 128;
  int qk_pos_emb_head_dim = 64;
  int v_head_dim = 128;
  // Multi-token prediction (DeepSeek-V3, section 2.2; Megatron-LM's --mtp-num-layers): after the output layer,
  // each of mtp_num_layers modules normalises the previous depth's hidden state and the next token's embedding,
  // projects their concatenation (2h -> h), runs one transformer layer (of the last layer's kind) and the output
  // layer and loss again. The embedding and output layer are the main model's (shared, no parameters of their own).
  int mtp_num_layers = 0;
  void visit(Section& s);

  int ffn() const { return ffn_hidden_size > 0 ? ffn_hidden_size : 4 * hidden_size; }
  int moe_ffn() const { return moe_ffn_hidden_size > 0 ? moe_ffn_hidden_size : ffn(); }
  int query_groups() const { return group_query_attention && num_query_groups > 0 ? num_query_groups : num_attention_heads; }
  int head_dim() const { return kv_channels > 0 ? kv_channels : hidden_size / num_attention_heads; }
  /// Layer `layer` (from 0) has experts; an MTP module's layer (layer >= num_layers) is of the last layer's kind.
  bool is_moe_layer(int layer) const {
    if (layer >= num_layers) layer = num_layers - 1;
    return num_experts > 0 && layer >= moe_first_dense_layers && layer % moe_layer_freq == 0;
  }
  int moe_layers() const;

  /// Attention block parameters of one layer (QKV and output projection, biases, the first norm).
  double attention_params() const;
  /// Multi-latent attention's projections of one layer (query, key/value latent with its norms, output).
  double mla_projection_params() const;
  /// Dense MLP parameters (and the second norm).
  double dense_mlp_params() const;
  /// MoE MLP parameters: the router, all experts, the shared expert (and the second norm).
  double moe_mlp_params() const;
  double expert_params() const;  // one routed expert
  /// Parameters of layer `layer` (from 0), and of an average layer.
  double layer_params(int layer) const;
  double layer_params() const { return (num_layers * attention_params() + (num_layers - moe_layers()) * dense_mlp_params() + moe_layers() * moe_mlp_params()) / num_layers; }
  /// Word (and learned position) embeddings, the final norm and an untied output layer.
  double embedding_params() const;
  double total_params() const;
  /// One MTP module's own parameters: its two input norms, the 2h -> h projection, its transformer layer and its
  /// final norm (the embedding and output layer are shared with the main model).
  double mtp_params() const;
  /// Parameters one token passes through (MoE: only the routed experts).
  double active_params() const;
  /// Megatron's model FLOPs of one forward pass over `b` sequences (see the file comment); training counts 3x.
  double forward_model_flops(int b) const;
};

/// How Transformer Engine's norm writes the FP8 input of the GEMM it feeds inside one module (LayerNormLinear: the
/// QKV and the dense MLP's first GEMM), by recipe (transformer_engine/pytorch/csrc/extensions/normalization.cpp,
/// "Choose implementation"; fp8_input_cast).
enum class NormCast : uint8_t {
  kFused,      // the norm writes FP8 itself (FULLY_FUSED: delayed scaling; MXFP8 with cuDNN's norm kernels)
  kAmaxFused,  // the norm writes 16 bits and their amax, then one cast (FUSED_NORM_AMAX_FP8: current scaling)
  kUnfused,    // the norm writes 16 bits, then the cast as any input's (UNFUSED: MXFP8; current scaling with cuDNN's)
};

/// How one GPU holds a layer: tensor-parallel (column/row split, vocab-parallel embedding), sequence-parallel
/// (norms and residuals on 1/tp of the tokens), context-parallel (1/cp of each sequence; attention against the
/// whole causal sequence), expert-parallel (num_experts / ep experts per GPU; experts also split over tp).
struct LayerShard {
  int tp = 1, cp = 1, ep = 1;
  bool sp = false;
  double moe_imbalance = 1;  // busiest expert's tokens / mean
  bool flash = true;         // fused (flash) attention; false: score GEMM, softmax/mask/dropout, value GEMM
  // Quantized linear layers (FP8, or NVFP4 with precision: fp4): each casts its input first (a memory-bound kernel)
  bool fp8 = false;
  // FP8 current (tensorwise, dynamic) scaling: each cast waits for an amax pass over its input (Transformer
  // Engine's Float8CurrentScaling, Megatron-LM's --fp8-recipe tensorwise, torchao float8's dynamic tensorwise
  // recipe); false: delayed scaling (the amax of earlier iterations, computed inside the cast).
  bool fp8_current_scaling = false;
  // Bytes an FP8 cast writes per element of its input (and the output gradient's cast in backward): 2, the FP8
  // copy and its transpose (Transformer Engine's cast_transpose, where FP8 GEMMs are TN-only: Hopper); 1, the copy
  // alone (per-tensor scaling where FP8 GEMMs take any layout: Blackwell, AcceleratorSpec::non_tn_fp8_gemm); MXFP8
  // 2 + 2/32, its row- and column-wise copies (their scale blocks differ), each with one E8M0 scale per 32 elements;
  // NVFP4 (precision: fp4) 2 x (0.5 + 1/16), both copies (its GEMMs are TN-only), each with an E4M3 scale per 16.
  double fp8_cast_out = 2;
  // Bytes per element of the quantized copy a linear layer keeps of its input for the weight gradient (the
  // column-wise one): 1 (FP8), 0.5 + 1/16 (NVFP4).
  double fp8_saved_bytes = 1;
  bool fp8_block_scaled = false;             // MXFP8 (its casts write fp8_cast_out = 2 + 2/32 B)
  NormCast fp8_norm_cast = NormCast::kFused;  // a norm feeding an FP8 GEMM (NormCast)
  // flash-attn's variable-length path as llm-foundry's flash_attn_fn calls it (attention_unpad): queries, keys and
  // values gathered into packed copies before the kernel (bert_padding.unpad_input), the output scattered back
  // into a zeroed padded tensor after it (pad_input); each copy's backward is the mirror image.
  bool unpad = false;
  // Context parallelism's attention (cp > 1, cp_attention.h): how the keys/values are exchanged (cp_comm_type; a2a
  // runs one whole-sequence kernel), whose implementation (PyTorch's context_parallel or Transformer Engine's) and
  // whether the kernel sees the keys/values repeated to every query head (cp_repeat_kv).
  std::string cp_comm_type = "p2p";
  int cp_a2a = 1;  // a2a+p2p: its all-to-all level (1/cp_a2a of the heads on a ring of cp / cp_a2a ranks)
  bool cp_pytorch = false;
  bool cp_repeat_kv = false;
  // Tensor parallelism of the experts (0: tp). 1 under tp > 1 is MoE parallel folding: each expert whole, fed with
  // its EP group's sequence-parallel shares of the tokens (not gathered over tp).
  int etp = 0;
  // Megatron-core's SequentialMLP (moe_grouped_gemm: sequential): each local expert's tokens through its own MLP
  // module in a Python loop; with FP8 each expert's tokens padded to the quantization alignment first, and the
  // experts' outputs concatenated after.
  bool sequential_experts = false;
  // How the expert GEMMs run (hw::GemmShape::streams): 4 = Transformer Engine's multi-stream grouped GEMM, 1 =
  // SequentialMLP's one after another, 0 = one grouped kernel.
  double expert_gemm_streams = 0;
  // Megatron-core's cross_entropy_loss_fusion (--cross-entropy-loss-fusion): the loss as fused_cross_entropy.py
  // runs it (cross_entropy_bytes_per_logit); false: tensor_parallel/cross_entropy.py's unfused passes.
  bool cross_entropy_fusion = false;
  // Bytes per weight element of the separate gradient accumulation that Megatron-core runs without
  // gradient_accumulation_fusion (wgrad_accumulation_bytes); 0: the weight-gradient GEMM accumulates into the
  // main gradient itself (Megatron's default).
  double wgrad_accumulation_bytes = 0;
  // Megatron-core's elementwise fusions (TransformerConfig fields of these names, all on by default); each off adds
  // the kernels named in kUnfusedKernels (docs/training-fusions.md).
  bool bias_activation_fusion = true, bias_dropout_fusion = true, masked_softmax_fusion = true, apply_rope_fusion = true;
  // PyTorch eager (layer_kernels: torch_eager): RMSNorm, the rotary embedding and SwiGLU as torchtitan's Llama
  // writes them, one kernel per operator (torch_eager_bytes); false: one fused kernel each.
  bool torch_eager = false;
  // Megatron-core's token dispatcher around the expert all-to-alls (moe_permutation.h): flex (DeepEP) permutes the
  // received tokens after the dispatch, alltoall before it (and sorts them by local expert after it); with
  // permute_fusion Transformer Engine's fused kernels (--moe-permute-fusion).
  bool flex_dispatch = false;
  bool allgather_dispatch = false;  // MoEAllGatherTokenDispatcher: the TP x EP group's tokens all-gathered
  bool permute_fusion = false;
  bool fp8_dispatch = false;  // the dispatched rows and the combine's backward gradients in FP8 (moe_fp8_dispatch)
  // Transformer Engine's grouped experts with FP8 (TEGroupedMLP): each expert's rows padded to the FP8 alignment
  // before the first GEMM and unpadded after the second (Fp8Padding / Fp8Unpadding: a copy each, as the dropless
  // routing's counts are not aligned), unless the router pads its map (moe_router_padding_for_fp8).
  bool fp8_expert_padding = false;
  MoeRouterSettings router{};  // the router's losses, fusion, dtype and token dropping (moe_router.h)
};

/// The forward kernels of one layer in the groups that tensor/expert-parallel communication separates:
/// norm1 | qkv | attention + projection | residual + norm2 (+ router) | MLP or experts | residual.
struct LayerOps {
  std::vector<hw::OpWork> norm1, qkv, attention, norm2, mlp, residual;
  size_t shared_begin = 0, shared_end = 0;  // a MoE layer's shared expert: mlp[shared_begin, shared_end)
  size_t dispatch_begin = 0;                 // a MoE layer's permutation before the dispatch: norm2[dispatch_begin, end)
  std::vector<hw::OpWork> all() const;
  bool operator==(const LayerOps&) const = default;
};
LayerOps layer_forward(const GptModelConfig& m, int layer, int b, double elem_bytes, const LayerShard& sh = {});
/// torchtitan's op-level selective checkpointing (hw::op_sac_saved_bytes says what it keeps): before a layer's
/// backward its forward runs again up to the last tensor the backward needs (PyTorch's non-reentrant checkpoint
/// stops there), every kernel but the saved ones. `kernels` run whole; `gemm_parts` run in part (the share of
/// the GEMM that is not saved).
struct OpSacRedo {
  std::vector<hw::OpWork> kernels;
  std::vector<std::pair<hw::OpWork, double>> gemm_parts;
};
OpSacRedo op_sac_redo(const GptModelConfig& m, const LayerOps& ops);
/// Forward kernels of one (average dense) transformer layer, unsharded.
std::vector<hw::OpWork> layer_forward_ops(const GptModelConfig& m, int b, double elem_bytes);
/// Forward kernels of the embedding lookup.
std::vector<hw::OpWork> embedding_forward_ops(const GptModelConfig& m, int b, double elem_bytes, const LayerShard& sh = {});
/// Forward kernels of one multi-token-prediction module's input: the next tokens' embedding lookup, the two
/// norms (embedding and previous hidden state), their concatenation and the 2h -> h projection (FP8 with fp8).
std::vector<hw::OpWork> mtp_input_forward_ops(const GptModelConfig& m, int b, double elem_bytes, const LayerShard& sh = {});
/// Forward kernels of the final norm, the output layer (logits) and the cross-entropy loss.
std::vector<hw::OpWork> head_forward_ops(const GptModelConfig& m, int b, double elem_bytes, const LayerShard& sh = {});
/// An FP8 cast kernel of layer_forward (name ending in "_fp8_cast"), followed there by the GEMM it feeds.
bool is_fp8_cast(const hw::OpWork& op);
/// Current scaling's amax pass before an FP8 cast (name ending in "_fp8_amax"), followed by the cast.
bool is_fp8_amax(const hw::OpWork& op);
/// An FP8 linear layer's input cast into `group`, before the GEMM it feeds (`name` ends in "_fp8_cast"): with current
/// scaling an amax pass first (read e B per element), then the cast (read e, write LayerShard::fp8_cast_out B);
/// `after_norm` where a norm of the same Transformer Engine module writes the input (LayerShard::fp8_norm_cast).
void fp8_input_cast(std::vector<hw::OpWork>& group, std::string_view name, double elements, double e,
                    const LayerShard& sh, bool after_norm);
/// Current scaling's casts whose amax the norm computed (NormCast::kAmaxFused) in `group`: the output gradient of the
/// GEMM each feeds still needs its amax pass and cast in backward, stated on the cast (backward_of runs them).
void state_norm_cast_backward(std::vector<hw::OpWork>& group, double e, const LayerShard& sh);
/// Elements of the weights of a forward set's FP8 GEMMs (k x n x batch of each GEMM not kept in 16 bits): what
/// Transformer Engine casts and transposes to FP8 once per iteration, on its first micro-batch (a linear module's
/// `is_first_microbatch`; later micro-batches reuse the cached FP8 weight and its transpose).
/// All of them, those of the routed experts' GEMMs alone (expert_up, expert_down), and how many GEMMs.
struct Fp8WeightElements {
  double all = 0, experts = 0;
  int gemms = 0;
};
Fp8WeightElements fp8_gemm_weight_elements(const std::vector<hw::OpWork>& forward);
/// Operators of `ops` (a forward group or its backward_of) that Transformer Engine's GroupedLinear runs once per
/// local expert: the routed experts' GEMMs (expert_up, expert_down and their _dgrad / _wgrad) and the FP8 amax and
/// cast kernels feeding them (split_quantize over the experts' token blocks); not the activation between them, one
/// kernel over all the tokens.
size_t per_expert_ops(const std::vector<hw::OpWork>& ops);
/// Of per_expert_ops, the expert GEMMs themselves (each one cuBLAS call per local expert: HostIssue's
/// expert_gemm_launch_time).
size_t per_expert_gemms(const std::vector<hw::OpWork>& ops);
/// What the host issues once per local expert among `ops`, in one walk: per_expert_ops, per_expert_gemms and
/// expert_module_calls (module_calls.h) of the same operators.
struct PerExpertCalls {
  size_t ops = 0, gemms = 0, modules = 0;
};
PerExpertCalls per_expert_calls(const std::vector<hw::OpWork>& ops);
/// Operators of `ops` that Megatron-core's SequentialMLP runs once per local expert, each a module or PyTorch call
/// of its own: every routed-expert operator (the GEMMs, their FP8 casts, the activation, the FP8 padding) but the
/// concatenation of the experts' outputs (and its backward), which runs once.
size_t sequential_expert_ops(const std::vector<hw::OpWork>& ops);
/// Bytes per weight element of that cast: read the 16-bit weight (e), write what an FP8 cast writes on the part
/// (`cast_out`, LayerShard::fp8_cast_out: the FP8 weight and its transpose, 1 + 1, on Hopper; TE's
/// fp8_cast_transpose_fused).
inline double fp8_weight_cast_bytes_per_element(double elem_bytes, double cast_out) {
  return elem_bytes + cast_out;
}
/// Backward kernels of a forward set: each GEMM becomes two (input and weight gradients), attention its
/// backward kernel, an FP8 cast (and its amax pass) the cast and transpose (and amax) of its GEMM's output
/// gradient, each other memory-bound kernel moves twice the bytes.
std::vector<hw::OpWork> backward_of(const std::vector<hw::OpWork>& forward, double elem_bytes, double fp8_cast_out = 2);
/// Whether `op` is one of backward_of's weight-gradient GEMMs (named after its forward GEMM, "_wgrad").
inline bool is_wgrad(const hw::OpWork& op) { return op.name.ends_with("_wgrad"); }
/// attention_unpad's copies in layer_forward (backward_of gives each its own backward bytes): the gather of the
/// queries, keys and values into packed tensors (read e, write e B per element; backward: zero-fill, then scatter
/// the gradient, 3e) and the output's scatter into a zeroed padded tensor (zero-fill e, read e, write e; backward:
/// gather, 2e).
inline constexpr const char* kAttnUnpad = "attn_unpad";
inline constexpr const char* kAttnPad = "attn_pad";
/// SequentialMLP's extra kernels (layer_forward with LayerShard::sequential_experts; backward_of gives each its own
/// backward): with FP8, per expert, its tokens padded to the alignment (a zero fill of the pad rows, a copy of the
/// tokens into the padded tensor: 2e B per element) and its routing probabilities likewise (8 B per token); per
/// layer, the concatenation of the experts' outputs (2e B per element). Backward: the output slice's gradient
/// (zero fill e, copy 2e B per element), nothing for the probabilities' views, and the token split's backward (a
/// concatenation of the input gradients, 2e).
inline constexpr const char* kExpertPadZeros = "expert_pad_zeros";
inline constexpr const char* kExpertPadTokens = "expert_pad_tokens";
inline constexpr const char* kExpertPadProbsZeros = "expert_pad_probs_zeros";
inline constexpr const char* kExpertPadProbs = "expert_pad_probs";
inline constexpr const char* kExpertOutputCat = "expert_output_cat";
/// A kernel a switched-off fusion adds to layer_forward (what it costs beyond the fused kernel), and the bytes its
/// backward adds per forward byte (0: none; docs/training-fusions.md).
struct UnfusedKernel {
  const char* name;
  double backward_per_forward;
};
/// SwiGLU's silu and multiply (2e more per element of the MLP width forward, 8e backward); a bias added on its
/// own (backward: the bias gradient's reduction, made either way); a dropout before the residual add (backward:
/// the mask's multiply, made either way); unfused attention's mask pass (masked_fill_ in place and its backward,
/// 2 + 2 B per score each way); RoPE's rotate-half sequence (10e forward, 15e backward).
inline constexpr UnfusedKernel kUnfusedKernels[] = {{"swiglu_unfused", 4}, {"mlp_bias_add", 0},
                                                    {"residual1_unfused", 0}, {"residual2_unfused", 0},
                                                    {"attn_mask", 1}, {"rope_unfused", 1.5}};
/// What PyTorch eager adds to a fused kernel (layer_kernels: torch_eager), in bytes per element of the tensor
/// it runs over, forward and backward, with 16-bit activations: torchtitan's RMSNorm, its complex-number rotary
/// embedding (per query or key element) and SwiGLU as silu then a multiply (per element of the MLP width)
/// (docs/training-fusions.md, "PyTorch eager").
struct EagerBytes {
  double forward, backward;
};
enum class EagerKernel { kRmsNorm, kRope, kSwiglu };
EagerBytes torch_eager_bytes(EagerKernel kernel, double elem_bytes);
/// The kernel an op stands for: its name less the "_eager" of the passes PyTorch eager adds beside a fused kernel
/// (`norm1_eager` beside `norm1`), so that what is said of a kernel by name (recompute_modules) holds for them.
std::string_view kernel_of(std::string_view op_name);
/// The loss kernel's name in head_forward_ops (backward_of gives it its own backward bytes), unfused and fused.
inline constexpr const char* kCrossEntropy = "cross_entropy";
inline constexpr const char* kCrossEntropyFused = "cross_entropy_fused";
/// Bytes the cross-entropy moves per logit of the rank's vocabulary slice, forward or backward, with logits of
/// `elem_bytes`: Megatron-LM's vocab-parallel cross-entropy, unfused or (`fused`) as cross_entropy_loss_fusion
/// runs it (docs/training-fusions.md).
double cross_entropy_bytes_per_logit(double elem_bytes, bool backward, bool fused = false);
/// Bytes per weight element of the gradient accumulation Megatron-core runs after the weight-gradient GEMM when
/// gradient_accumulation_fusion is off: read the main gradient (`grad_bytes`) and the GEMM's `elem_bytes` output,
/// write the main gradient (docs/training-fusions.md).
double wgrad_accumulation_bytes(double elem_bytes, double grad_bytes);
/// `ops` with, after each weight-gradient GEMM (name ending in "_wgrad"), the separate accumulation of its output
/// into the main gradient, `bytes_per_element` per weight element (named "<gemm>_wgrad_accum"); `ops` unchanged
/// when it is 0.
std::vector<hw::OpWork> with_wgrad_accumulation(const std::vector<hw::OpWork>& ops, double bytes_per_element);

/// The `attention_backend` key (the training workloads; inference_serving's serving section): auto (each part's
/// default kernel) or a named one.
void attention_backend_key(Section& s, std::string& value);
/// Checks `backend` against every part (a curve measured there, and fused attention on); errors name the key.
/// Returns what the run's attention follows, for its header ("cudnn"; per part, joined by " / ", when they differ).
std::string check_attention_backend(const std::string& backend, bool fused,
                                    const std::set<const hw::AcceleratorSpec*>& parts, Section& s);

}  // namespace lcsim::wl
