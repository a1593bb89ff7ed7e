#include "workloads/training/gpt_model.h"

#include "workloads/training/cp_attention.h"
#include "workloads/training/moe_permutation.h"

#include <algorithm>
#include <string_view>

namespace lcsim::wl {

void GptModelConfig::visit(Section& s) {
  const size_t errors_before = s.diagnostics() ? s.diagnostics()->items().size() : 0;
  s.field("num_layers", num_layers, "transformer layers", Range::at_least(1));
  s.field("hidden_size", hidden_size, "model width h", Range::at_least(1));
  s.field("ffn_hidden_size", ffn_hidden_size, "MLP width; 0 = 4 x hidden_size", Range::at_least(0));
  s.field("num_attention_heads", num_attention_heads, "attention heads (must divide hidden_size)",
          Range::at_least(1));
  s.field("group_query_attention", group_query_attention, "grouped-query attention: fewer key/value heads");
  s.field("num_query_groups", num_query_groups,
          "key/value heads with group_query_attention (must divide num_attention_heads); 0 = num_attention_heads",
          Range::at_least(0));
  s.field("kv_channels", kv_channels, "head dimension; 0 = hidden_size / num_attention_heads", Range::at_least(0));
  s.field("qk_layernorm", qk_layernorm,
          "normalize each query and key head after the QKV projection (Megatron-LM's --qk-layernorm; Qwen3): one "
          "memory-bound norm over the queries and keys per layer and pass, its input kept for backward");
  s.field("seq_length", seq_length, "tokens per sequence", Range::at_least(1));
  s.field("vocab_size", vocab_size, "vocabulary size (padded, as Megatron pads it)", Range::at_least(1));
  s.field("swiglu", swiglu, "gated MLP (three matrices) instead of GeLU (two)");
  s.field("hidden_dropout", hidden_dropout,
          "dropout probability after the attention and MLP blocks (Megatron-LM's default 0.1); each keeps a 1-byte "
          "mask per element for backward, none at 0 (Llama 3, DeepSeek-V3 train without dropout)",
          Range::between(0, 1));
  s.choice("normalization", normalization, {"LayerNorm", "RMSNorm"}, "norm layers (RMSNorm has no bias)");
  s.choice("position_embedding_type", position_embedding_type, {"learned_absolute", "rope"},
           "learned position embeddings (parameters) or rotary (none)");
  s.field("add_bias_linear", add_bias_linear, "biases in the linear layers");
  s.field("add_qkv_bias", add_qkv_bias,
          "a bias on the QKV projection even where add_bias_linear is off (Megatron-LM's --add-qkv-bias; Qwen2, "
          "GLM-4.5): parameters only, the bias added and its gradient reduced in the GEMM's epilogue");
  s.field("untie_embeddings_and_output_weights", untie_embeddings_and_output_weights,
          "separate output-layer weights instead of reusing the word embeddings");
  s.field("num_experts", num_experts, "routed experts per MoE layer; 0 = dense model", Range::at_least(0));
  s.field("moe_router_topk", moe_router_topk, "experts each token is routed to", Range::at_least(1));
  s.field("moe_ffn_hidden_size", moe_ffn_hidden_size, "width of one expert's MLP; 0 = ffn_hidden_size",
          Range::at_least(0));
  s.field("moe_shared_expert_intermediate_size", moe_shared_expert_intermediate_size,
          "width of the shared expert every token passes through; 0 = none", Range::at_least(0));
  s.field("moe_layer_freq", moe_layer_freq, "every n-th layer is an MoE layer (the others dense)",
          Range::at_least(1));
  s.field("moe_first_dense_layers", moe_first_dense_layers,
          "the first n layers have a dense MLP of ffn_hidden_size whatever moe_layer_freq says (DeepSeek-V3's "
          "first_k_dense_replace: 3; Megatron-LM writes it --moe-layer-freq '([0]*3+[1]*58)')", Range::at_least(0));
  s.field("moe_router_num_groups", moe_router_num_groups,
          "group-limited routing: experts split into this many groups (lcsim takes a group to be a node of the "
          "expert-parallel group); 0 = no limit", Range::at_least(0));
  s.field("moe_router_group_topk", moe_router_group_topk,
          "group-limited routing: each token's experts come from at most this many groups", Range::at_least(0));
  s.choice("moe_router_score_function", moe_router_score_function, {"softmax", "sigmoid"},
           "the router's score over the experts (Megatron-LM's --moe-router-score-function): softmax over the "
           "chosen top-k logits (or over all of them first with moe_router_pre_softmax), or each logit's sigmoid, "
           "the chosen normalized by their sum (DeepSeek-V3); sqrtsoftplus is not modelled (docs/training-moe-router.md)");
  s.field("moe_router_pre_softmax", moe_router_pre_softmax,
          "softmax over every expert's logit before the top-k (--moe-router-pre-softmax; softmax scores only)");
  s.field("moe_router_enable_expert_bias", moe_router_enable_expert_bias,
          "aux-loss-free balancing (--moe-router-enable-expert-bias; sigmoid scores, as Megatron-core requires): a "
          "per-expert bias added to the scores for the selection only, the tokens per expert counted for its update");
  s.field("moe_router_topk_scaling_factor", moe_router_topk_scaling_factor,
          "the chosen probabilities multiplied by this (--moe-router-topk-scaling-factor; DeepSeek-V3: 2.5); 0 = none",
          Range::at_least(0));
  s.field("multi_latent_attention", multi_latent_attention,
          "multi-latent attention (DeepSeek-V2/V3): low-rank query and key/value projections, queries and keys of "
          "qk_head_dim + qk_pos_emb_head_dim per head, values of v_head_dim (kv_channels and group_query_attention "
          "do not apply)");
  s.field("q_lora_rank", q_lora_rank, "multi-latent attention: rank of the query bottleneck; 0 = none",
          Range::at_least(0));
  s.field("kv_lora_rank", kv_lora_rank, "multi-latent attention: rank of the key/value latent", Range::at_least(1));
  s.field("qk_head_dim", qk_head_dim, "multi-latent attention: query/key head dimension without the rotary part",
          Range::at_least(1));
  s.field("qk_pos_emb_head_dim", qk_pos_emb_head_dim,
          "multi-latent attention: the rotary part of each query/key head (the key's shared by all heads)",
          Range::at_least(0));
  s.field("v_head_dim", v_head_dim, "multi-latent attention: value head dimension", Range::at_least(1));
  s.field("mtp_num_layers", mtp_num_layers,
          "multi-token prediction modules (DeepSeek-V3: 1): each runs, on the last pipeline stage after the output "
          "layer, two norms, a 2h -> h projection, one transformer layer of the last layer's kind and the shared "
          "output layer and loss again; 0 = none", Range::at_least(0));
  if (s.mode() != Section::Mode::kParse) return;
  // Cross-field checks only on values that passed their own (a rejected value keeps its default).
  if (s.diagnostics()->items().size() > errors_before) return;
  if ((moe_router_num_groups > 0) != (moe_router_group_topk > 0)) {
    s.error("moe_router_group_topk", "moe_router_num_groups and moe_router_group_topk go together (both > 0)");
  } else if (moe_router_num_groups > 0 && (num_experts % moe_router_num_groups != 0 ||
                                           moe_router_group_topk > moe_router_num_groups)) {
    s.error("moe_router_num_groups", "must divide num_experts (" + std::to_string(num_experts) +
                                         ") and be at least moe_router_group_topk");
  }
  if (moe_router_pre_softmax && moe_router_score_function != "softmax") {
    s.error("moe_router_pre_softmax", "applies to moe_router_score_function: softmax (got " + moe_router_score_function + ")");
  }
  if (moe_router_enable_expert_bias && moe_router_score_function != "sigmoid") {
    s.error("moe_router_enable_expert_bias", "needs moe_router_score_function: sigmoid, as Megatron-core (got " +
                                                  moe_router_score_function + ")");
  }
  if (moe_first_dense_layers > 0 && moe_first_dense_layers >= num_layers) {
    s.error("moe_first_dense_layers", "must be less than num_layers (" + std::to_string(num_layers) + "), got " +
                                          std::to_string(moe_first_dense_layers));
  }
  if (kv_channels == 0 && hidden_size % num_attention_heads != 0) {
    s.error("num_attention_heads", "must divide hidden_size (" + std::to_string(hidden_size) + "), got " +
                                       std::to_string(num_attention_heads) + " (or set kv_channels)");
  }
  if (multi_latent_attention && group_query_attention) {
    s.error("group_query_attention", "and multi_latent_attention exclude each other (as in Megatron-LM)");
  }
  if (multi_latent_attention && qk_layernorm) {
    s.error("qk_layernorm", "is for multi-head and grouped-query attention; multi_latent_attention normalizes its "
                            "query and key/value latents itself (q_lora_rank, kv_lora_rank)");
  }
  if (num_query_groups > 0 && !group_query_attention) {
    s.error("num_query_groups", "takes effect only with group_query_attention: true");
  }
  if (num_attention_heads % query_groups() != 0) {
    s.error("num_query_groups", "must divide num_attention_heads (" + std::to_string(num_attention_heads) +
                                    "), got " + std::to_string(query_groups()));
  }
  if (num_experts > 0 && moe_router_topk > num_experts) {
    s.error("moe_router_topk", "must be at most num_experts (" + std::to_string(num_experts) + "), got " +
                                   std::to_string(moe_router_topk));
  }
}

int GptModelConfig::moe_layers() const {
  if (num_experts == 0) return 0;
  int n = 0;
  for (int l = 0; l < num_layers; ++l) n += is_moe_layer(l) ? 1 : 0;
  return n;
}

namespace {
double norm_params(const GptModelConfig& m) { return m.normalization == "RMSNorm" ? m.hidden_size : 2.0 * m.hidden_size; }
double mlp_params(const GptModelConfig& m, double f) {
  const double h = m.hidden_size;
  const double weights = (m.swiglu ? 3 : 2) * h * f;
  return weights + (m.add_bias_linear ? (m.swiglu ? 2 * f : f) + h : 0.0);
}
}  // namespace

double GptModelConfig::mla_projection_params() const {
  // Megatron-LM's count (megatron/training/training.py, num_floating_point_operations, multi_latent_attention):
  // the query path (with its bottleneck's norm), the key/value latent with its norm and the shared rotary key, the
  // output projection.
  const double h = hidden_size, a = num_attention_heads, qk = qk_head_dim + qk_pos_emb_head_dim;
  const double norm = normalization == "RMSNorm" ? 1 : 2;
  const double q = q_lora_rank > 0 ? q_lora_rank * (h + a * qk + norm) : h * a * qk;
  return q + kv_lora_rank * (h + a * (qk_head_dim + v_head_dim) + norm) + h * qk_pos_emb_head_dim +
         a * v_head_dim * h;
}

double GptModelConfig::attention_params() const {
  if (multi_latent_attention) return mla_projection_params() + norm_params(*this);
  const double h = hidden_size, q = 1.0 * num_attention_heads * head_dim(), kv = 2.0 * query_groups() * head_dim();
  // --qk-layernorm: one norm of head_dim for the queries and one for the keys (weight, and bias with LayerNorm).
  const double qk_norms = qk_layernorm ? 2.0 * head_dim() * (normalization == "LayerNorm" ? 2 : 1) : 0.0;
  const double bias = add_bias_linear ? q + kv + h : add_qkv_bias ? q + kv : 0.0;
  return h * (q + kv) + q * h + bias + norm_params(*this) + qk_norms;
}

double GptModelConfig::dense_mlp_params() const { return mlp_params(*this, ffn()) + norm_params(*this); }

double GptModelConfig::expert_params() const { return mlp_params(*this, moe_ffn()); }

double GptModelConfig::moe_mlp_params() const {
  double p = 1.0 * num_experts * expert_params() + 1.0 * hidden_size * num_experts + norm_params(*this);
  if (moe_shared_expert_intermediate_size > 0) p += mlp_params(*this, moe_shared_expert_intermediate_size);
  return p;
}

double GptModelConfig::layer_params(int layer) const {
  return attention_params() + (is_moe_layer(layer) ? moe_mlp_params() : dense_mlp_params());
}

double GptModelConfig::embedding_params() const {
  const double h = hidden_size;
  double p = static_cast<double>(vocab_size) * h + norm_params(*this);
  if (position_embedding_type == "learned_absolute") p += static_cast<double>(seq_length) * h;
  if (untie_embeddings_and_output_weights) p += static_cast<double>(vocab_size) * h;
  return p;
}

double GptModelConfig::mtp_params() const {
  return 3 * norm_params(*this) + 2.0 * hidden_size * hidden_size + layer_params(num_layers);
}

double GptModelConfig::total_params() const {
  double p = embedding_params() + mtp_num_layers * mtp_params();
  for (int l = 0; l < num_layers; ++l) p += layer_params(l);
  return p;
}

double GptModelConfig::active_params() const {
  const double routed = (num_experts - std::min(num_experts, moe_router_topk)) * expert_params();
  return total_params() - (moe_layers() + (is_moe_layer(num_layers) ? mtp_num_layers : 0)) * routed;
}

double GptModelConfig::forward_model_flops(int b) const {
  const double t = static_cast<double>(b) * seq_length, h = hidden_size, s = seq_length;
  const double a = num_attention_heads, g = query_groups(), q = a * head_dim();
  // Per layer and token, forward (Megatron's count / 3): attention 4h^2 (1 + g/a + s/h) (q/h), MLP 4 h f k m.
  // Multi-latent attention, as Megatron-LM counts it: 2 FLOPs per projection parameter, and the scores and values
  // against the whole sequence, halved for the causal mask (its MLA branch halves them; the MHA branch does not).
  const double attention =
      multi_latent_attention
          ? 2 * mla_projection_params() + s * a * (qk_head_dim + qk_pos_emb_head_dim) + s * a * v_head_dim
          : 4 * h * h * (1 + g / a + s / h) * (q / h);
  const double gated = swiglu ? 1.5 : 1.0;
  // Multi-token prediction, as Megatron-LM counts it: each module's layer like the others, its norms and
  // projection 2 (3h + 2h^2) per token, and the logits once more.
  const int layers = num_layers + mtp_num_layers;
  double mlp = 2.0 * mtp_num_layers * (3 * h + 2 * h * h);
  for (int l = 0; l < layers; ++l) {
    if (is_moe_layer(l)) {
      mlp += 4 * h * moe_ffn() * moe_router_topk * gated + 4 * h * moe_shared_expert_intermediate_size * gated;
    } else {
      mlp += 4 * h * ffn() * gated;
    }
  }
  return t * (layers * attention + mlp + 2 * h * vocab_size * (1 + mtp_num_layers));
}

namespace {
hw::OpWork gemm(const char* name, double m, double n, double k, double e, double batch = 1) {
  return hw::gemm_op(name, {m, n, k, batch}, e);
}
// A GEMM that FP8 training runs in 16 bits all the same: Megatron-LM's output layer and MoE router are not
// Transformer Engine modules, so fp8_autocast leaves them in bf16; DeepSeek-V3 keeps its output head and gating
// in BF16 (report, section 3.3.1); torchtitan's float8 conversion skips the output layer.
hw::OpWork gemm_16bit(const char* name, double m, double n, double k, double e) {
  return hw::gemm_op(name, {m, n, k, 1, true}, e);
}
hw::OpWork memory(const char* name, double elements, double e, hw::MemoryKind kind = hw::MemoryKind::kStreaming) {
  return hw::memory_op(name, Bytes::of(e * elements), kind);
}
constexpr hw::MemoryKind kNorm = hw::MemoryKind::kNorm, kAct = hw::MemoryKind::kActivation,
                         kRope = hw::MemoryKind::kRope;
constexpr std::string_view kEager = "_eager";
// A streaming memory-bound kernel whose backward is one stated pass.
hw::OpWork stated(const std::string& name, Bytes forward, Bytes backward) {
  hw::OpWork op = hw::memory_op(name, forward);
  op.backward_stated = true;
  op.backward = {{name + "_bwd", backward}};
  return op;
}
// What PyTorch eager adds beside the fused kernel `kernel` over `elements` (torch_eager_bytes).
hw::OpWork eager(std::string_view kernel, EagerKernel kind, double elements, double e) {
  const EagerBytes b = torch_eager_bytes(kind, e);
  return stated(std::string(kernel) + std::string(kEager), Bytes::of(b.forward * elements),
                Bytes::of(b.backward * elements));
}
// A norm over `elements` (read and write once, fused), and under torch_eager what torchtitan's RMSNorm adds
// (PyTorch's LayerNorm is one kernel either way).
void norm(std::vector<hw::OpWork>& ops, const std::string& name, double elements, double e, const GptModelConfig& m,
          const LayerShard& sh) {
  // The eager passes first: a cut after the norm's fused kernel (megatron_plan.cc) keeps them with it.
  if (sh.torch_eager && m.normalization == "RMSNorm") {
    ops.push_back(eager(name, EagerKernel::kRmsNorm, elements, e));
  }
  ops.push_back(memory(name.c_str(), 2 * elements, e, kNorm));
}
}  // namespace

std::string_view kernel_of(std::string_view op_name) {
  return op_name.ends_with(kEager) ? op_name.substr(0, op_name.size() - kEager.size()) : op_name;
}

EagerBytes torch_eager_bytes(EagerKernel kernel, double e) {
  const double cast = e + 4;  // a conversion between the 16-bit activations and fp32: read one, write the other
  switch (kernel) {
    case EagerKernel::kRmsNorm:
      // torchtitan's RMSNorm (torchtitan/models/norms.py, norm_type rmsnorm): x.float() (cast), pow(2) (4 + 4),
      // mean over the row (4), + eps and rsqrt per row (nothing per element), x * rsqrt (4 + 4), type_as (cast),
      // times the weight (2e): 28 + 4e B where the fused kernel lcsim costs reads and writes once (2e). Autograd's
      // backward: the weight multiply's input gradient (2e), its weight gradient (a multiply, 3e, and a sum, e),
      // type_as's (cast), the rsqrt multiply's two gradients (4 + 4; then 4 + 4 + 4 and a row sum, 4), mean's
      // expanded gradient (4), pow's (self.pow(1) 4 + 4, times 2 4 + 4, times the gradient 4 + 4 + 4), the two
      // gradients of x.float() added (4 + 4 + 4), float()'s (cast): 68 + 6e + 2 casts, against the fused 4e.
      return {2 * cast + 20, 68 + 2 * e + 2 * cast};
    case EagerKernel::kRope:
      // torchtitan's apply_rotary_emb: xq.float() (cast), view_as_complex (a view), times freqs_cis (complex
      // multiply: 4 + 4 per real element), view_as_real and flatten (views), type_as (cast): 8 + 2 casts, against
      // the fused 2e; backward: type_as's (cast), the multiply's input gradient (4 + 4), float()'s (cast),
      // against the fused 4e.
      return {2 * cast + 8 - 2 * e, 2 * cast + 8 - 4 * e};
    case EagerKernel::kSwiglu:
      // F.silu(w1(x)) * w3(x) (torchtitan's FeedForward: w1 and w3 separate GEMMs, no chunk): silu (e + e) and the
      // multiply (2e + e), 5e against the fused 3e; backward: the multiply's two gradients (3e each) and silu's
      // (3e), 9e against the fused 6e.
      return {2 * e, 3 * e};
  }
  return {0, 0};
}

std::vector<hw::OpWork> LayerOps::all() const {
  std::vector<hw::OpWork> out;
  for (const auto* g : {&norm1, &qkv, &attention, &norm2, &mlp, &residual}) out.insert(out.end(), g->begin(), g->end());
  return out;
}

LayerOps layer_forward(const GptModelConfig& m, int layer, int b, double e, const LayerShard& sh) {
  const double tp = sh.tp, cp = sh.cp;
  const double t = static_cast<double>(b) * m.seq_length / cp;  // tokens of the micro-batch on this CP rank
  const double tn = sh.sp ? t / tp : t;                          // tokens the norms and residuals see
  const double h = m.hidden_size, d = m.head_dim();
  const double a = m.num_attention_heads / tp, g = std::max(1.0, m.query_groups() / tp);
  LayerOps ops;
  norm(ops.norm1, "norm1", tn * h, e, m, sh);
  // FP8 linear layers: each GEMM's 16-bit input cast first (fp8_casts.cc), the norm's where one feeds it.
  auto fp8_cast = [&](std::vector<hw::OpWork>& group, const char* name, double rows, double cols, double batch,
                      bool after_norm = false) {
    if (sh.fp8) fp8_input_cast(group, name, rows * cols * batch, e, sh, after_norm);
  };
  fp8_cast(ops.qkv, "qkv_fp8_cast", t, h, 1, true);
  // Attention's value width per head (the projection's input is a x it) and the fused kernel's head dimension.
  double v_dim = d, kernel_dim = d, kernel_groups = g;
  if (m.multi_latent_attention) {
    // Multi-latent attention (DeepSeek-V2/V3; Megatron-LM's MLASelfAttention): the down projections (to the query
    // bottleneck and to the key/value latent plus the shared rotary key) whole on every TP rank, their norms, the
    // up projections split over the heads; rotary embedding on the queries' and the shared key's rotary parts. The
    // latents' norms live in the up projections' LayerNormLinear modules (Megatron-core's MLA layer spec with
    // qk_layernorm), so the up projections' FP8 casts are norm-fed (fp8_input_cast).
    const double qk = m.qk_head_dim + m.qk_pos_emb_head_dim, rope = m.qk_pos_emb_head_dim, kv = m.kv_lora_rank;
    if (m.q_lora_rank > 0) {
      ops.qkv.push_back(gemm("q_down", t, m.q_lora_rank, h, e));
      norm(ops.qkv, "q_norm", t * m.q_lora_rank, e, m, sh);
      fp8_cast(ops.qkv, "q_up_fp8_cast", t, m.q_lora_rank, 1, true);
      ops.qkv.push_back(gemm("q_up", t, a * qk, m.q_lora_rank, e));
    } else {
      ops.qkv.push_back(gemm("q_proj", t, a * qk, h, e));
    }
    ops.qkv.push_back(gemm("kv_down", t, kv + rope, h, e));
    norm(ops.qkv, "kv_norm", t * kv, e, m, sh);
    fp8_cast(ops.qkv, "kv_up_fp8_cast", t, kv, 1, true);
    ops.qkv.push_back(gemm("kv_up", t, a * (m.qk_head_dim + m.v_head_dim), kv, e));
    ops.qkv.push_back(memory("rope", 2 * t * (a + 1) * rope, e, kRope));
    if (!sh.apply_rope_fusion) ops.qkv.push_back(memory("rope_unfused", 10 * t * (a + 1) * rope, e));
    if (sh.torch_eager) ops.qkv.push_back(eager("rope", EagerKernel::kRope, t * (a + 1) * rope, e));
    // The kernel's scores run at the query/key width and its values at the value width: one head dimension of
    // their mean does the same FLOPs. Every head has its own keys and values.
    v_dim = m.v_head_dim;
    kernel_dim = (qk + m.v_head_dim) / 2;
    kernel_groups = a;
  } else {
    ops.qkv.push_back(gemm("qkv", t, (a + 2 * g) * d, h, e));
    // --qk-layernorm: each query and key head normalized before the rotary embedding (read and write once).
    if (m.qk_layernorm) norm(ops.qkv, "qk_norm", t * (a + g) * d, e, m, sh);
    // Rotary embedding: queries and keys read and written once.
    if (m.position_embedding_type == "rope") {
      ops.qkv.push_back(memory("rope", 2 * t * (a + g) * d, e, kRope));
      // apply_rope_fusion off (rope_utils.py, _apply_rotary_pos_emb_bshd): per element negate half (e), cat (2e),
      // times cos (2e), rotated times sin (2e), add (3e), cat with the empty pass-through part (2e): 12e, 10e more.
      if (!sh.apply_rope_fusion) ops.qkv.push_back(memory("rope_unfused", 10 * t * (a + g) * d, e));
      if (sh.torch_eager) ops.qkv.push_back(eager("rope", EagerKernel::kRope, t * (a + g) * d, e));
    }
    // torchtitan's repeat_kv (cp_repeat_kv): the keys and values expanded to one per query head and reshaped, a
    // copy each (read the group's, write the heads'); its backward sums the repeats back (the same bytes).
    if (sh.cp_repeat_kv && a > g) {
      const Bytes copy = Bytes::of(2 * t * (a + g) * d * e);
      ops.qkv.push_back(stated("repeat_kv", copy, copy));
    }
  }
  // Flash attention of this rank's queries against the whole causal sequence. Context parallelism splits the
  // sequence into load-balanced chunks (each rank does 1/cp of the causal work): Ulysses (a2a) in one kernel of
  // 1/cp of the heads over the whole sequence (costed as this rank's queries against it: the same FLOPs and key
  // length); the ring and all-gather kinds in the calls and merges the frameworks make (cp_attention.h).
  // a2a+p2p's all-to-all level A first gives each rank A chunks of the sequence for 1/A of the heads: a ring of
  // CP / A ranks over the whole sequence (Transformer Engine's AttnFuncWithCPAndKVP2P after flash_attn_a2a_communicate).
  if (sh.flash && cp > 1 && sh.cp_comm_type != "a2a") {
    const double kernel_kv = sh.cp_repeat_kv ? a : kernel_groups, la = sh.cp_a2a;
    const auto calls = cp_attention_forward({sh.cp / sh.cp_a2a, sh.cp_comm_type, sh.cp_pytorch, static_cast<double>(b),
                                             1.0 * m.seq_length, a / la, kernel_kv / la, kernel_dim}, e);
    ops.attention.insert(ops.attention.end(), calls.begin(), calls.end());
  } else if (sh.flash) {
    // Packed copies of the queries, keys and values (this rank's heads) for flash-attn's varlen kernel.
    if (sh.unpad) ops.attention.push_back(memory(kAttnUnpad, 2 * t * (a * kernel_dim + 2 * kernel_groups * kernel_dim), e));
    ops.attention.push_back(hw::attention_op(
        "attention",
        {static_cast<double>(b), m.seq_length / cp, 1.0 * m.seq_length, a, kernel_groups, kernel_dim, true, false}, e));
    if (sh.unpad) ops.attention.push_back(memory(kAttnPad, 3 * t * a * v_dim, e));  // zero-fill + scatter
  } else {
    // Unfused: the whole score matrix is computed and stored (scaled, masked, softmax, dropout in one fused
    // kernel reading 2 B and writing 2 B plus a 1 B mask per score), then multiplied with the values.
    const double q = m.seq_length / cp, k = m.seq_length, heads = b * a;
    ops.attention.push_back(gemm("attn_scores", q, k, m.multi_latent_attention ? m.qk_head_dim + m.qk_pos_emb_head_dim : d, e, heads));
    ops.attention.push_back(memory("attn_softmax", 5.0 / e * heads * q * k, e));
    // masked_softmax_fusion off (FusedScaleMaskSoftmax.forward_torch_softmax): the mask applied by masked_fill_ in
    // place before the softmax, one more pass over the scores (read and write 2 B).
    if (!sh.masked_softmax_fusion) ops.attention.push_back(memory("attn_mask", 2 * heads * q * k, e));
    ops.attention.push_back(gemm("attn_values", q, v_dim, k, e, heads));
  }
  fp8_cast(ops.attention, "attn_proj_fp8_cast", t, a * v_dim, 1);
  ops.attention.push_back(gemm("attn_proj", t, h, a * v_dim, e));
  // bias_dropout_fusion off (fused_bias_dropout.py, _bias_dropout_add_func unfused): the bias (add_bias_linear)
  // and the dropout (hidden_dropout > 0) each read and write the hidden state before the residual add.
  const double unfused_residual =
      sh.bias_dropout_fusion ? 0 : (m.add_bias_linear ? 2.0 : 0.0) + (m.hidden_dropout > 0 ? 2.0 : 0.0);
  ops.norm2.push_back(memory("residual1", 3 * tn * h, e));
  if (unfused_residual > 0) ops.norm2.push_back(memory("residual1_unfused", unfused_residual * tn * h, e));
  norm(ops.norm2, "norm2", tn * h, e, m, sh);
  auto dense_mlp = [&](const char* up, const char* act, const char* down, double f, double tokens, double batch,
                       bool after_norm, double split) {
    fp8_cast(ops.mlp, "mlp_up_fp8_cast", tokens, h, batch, after_norm);
    const bool experts = std::string_view(up) == "expert_up";
    ops.mlp.push_back(gemm(up, tokens, (m.swiglu ? 2 : 1) * f / split, h, e, batch));
    if (experts) ops.mlp.back().gemm.streams = sh.expert_gemm_streams;
    ops.mlp.push_back(memory(act, (m.swiglu ? 3 : 2) * tokens * batch * f / split, e, kAct));
    // bias_activation_fusion off (megatron/core/transformer/mlp.py, MLP.forward; not the routed experts): a bias
    // added by its own kernel (read and write the first GEMM's output), and SwiGLU as silu (read e, write e of f)
    // then a multiply (read 2e, write e): 5e per element of f instead of the fused kernel's 3e.
    if (!sh.bias_activation_fusion && !experts) {
      const double elements = tokens * batch * f / split;
      if (m.add_bias_linear) ops.mlp.push_back(memory("mlp_bias_add", 2 * (m.swiglu ? 2 : 1) * elements, e));
      if (m.swiglu) ops.mlp.push_back(memory("swiglu_unfused", 2 * elements, e));
    }
    if (sh.torch_eager && m.swiglu && !experts) {
      ops.mlp.push_back(eager("swiglu", EagerKernel::kSwiglu, tokens * batch * f / split, e));
    }
    fp8_cast(ops.mlp, "mlp_down_fp8_cast", tokens, f / split, batch);
    ops.mlp.push_back(gemm(down, tokens, h, f / split, e, batch));
    if (experts) ops.mlp.back().gemm.streams = sh.expert_gemm_streams;
  };
  if (m.is_moe_layer(layer)) {
    // The router (moe_router.h): input jitter, the gate's GEMM, then the score function, top-k, probabilities and
    // map, token dropping and the load-balancing losses, all before the dispatch.
    MoeRouterShape rs;
    rs.tokens = tn;
    rs.experts = m.num_experts;
    rs.topk = m.moe_router_topk;
    rs.hidden = h;
    rs.elem_bytes = e;
    rs.score_function = m.moe_router_score_function;
    rs.pre_softmax = m.moe_router_pre_softmax;
    rs.expert_bias = m.moe_router_enable_expert_bias;
    rs.scaling_factor = m.moe_router_topk_scaling_factor;
    rs.group_limited = m.moe_router_num_groups > 0;
    rs.run = sh.router;
    const MoeRouterOps router = moe_router_ops(rs);
    ops.norm2.insert(ops.norm2.end(), router.before_gate.begin(), router.before_gate.end());
    ops.norm2.push_back(gemm_16bit("router", tn, m.num_experts, h, e));
    ops.norm2.insert(ops.norm2.end(), router.after_gate.begin(), router.after_gate.end());
    // Each of the num_experts / ep local experts sees ep x t x topk / num_experts tokens of its EP group (the
    // experts are split over tp too, so tokens are gathered over tp): a grouped GEMM, as large as the busiest.
    // Folded (etp 1 under tp > 1): each rank of the EP group sends its own 1/tp share of the tokens (sequence
    // parallel) to experts held whole: as many FLOPs, in wider and shorter GEMMs.
    const double etp = sh.etp > 0 ? sh.etp : tp;
    const double local = static_cast<double>(m.num_experts) / sh.ep;
    const double tokens = sh.ep * (t * etp / tp) * m.moe_router_topk / m.num_experts * sh.moe_imbalance;
    // SequentialMLP (moe_grouped_gemm: sequential; Megatron-core experts.py): with FP8 each expert's tokens and
    // probabilities are padded to the quantization alignment before its MLP (_pad_tensor_for_quantization: a zero
    // fill and a torch.cat each; the fill's few rows move no counted bytes), and the outputs are concatenated.
    if (sh.sequential_experts && sh.fp8) {
      const double elements = tokens * local * h;
      ops.mlp.push_back(hw::memory_op(kExpertPadZeros, Bytes()));
      ops.mlp.push_back(memory(kExpertPadTokens, 2 * elements, e));
      ops.mlp.push_back(hw::memory_op(kExpertPadProbsZeros, Bytes()));
      ops.mlp.push_back(hw::memory_op(kExpertPadProbs, Bytes::of(8 * tokens * local)));
    }
    // The token dispatcher's permutations (moe_permutation.h), each in the group its slot closes or opens:
    // before the dispatch after the router, after it before the experts, before the combine after them, after it
    // before the residual. flex's dispatch delivers a token once per destination rank: distinct_ranks of the
    // ranks its experts can be on (with group-limited routing, the ranks of moe_router_group_topk groups).
    const double reach = m.moe_router_num_groups > 0
                             ? std::max(1.0, 1.0 * sh.ep * m.moe_router_group_topk / m.moe_router_num_groups)
                             : 1.0 * sh.ep;
    MoePermutationShape perm;
    perm.tokens = tn;
    // Padded to capacity, the permutation moves every expert's capacity rows: topk x capacity factor per token.
    perm.topk = m.moe_router_topk * (sh.router.moe_pad_expert_input_to_capacity ? sh.router.moe_expert_capacity_factor : 1.0);
    perm.rows = tokens * local;
    perm.experts = m.num_experts;
    perm.local_experts = local;
    perm.hidden = h;
    perm.elem_bytes = e;
    perm.dispatch_elem_bytes = sh.fp8_dispatch ? 1 + 4.0 / 128 : 0;  // FP8 and a 4 B scale per 128 (megatron_plan.cc)
    perm.flex = sh.flex_dispatch;
    perm.received = perm.rows * distinct_ranks(std::min(reach, 1.0 * sh.ep), m.moe_router_topk) / m.moe_router_topk;
    perm.fused = sh.permute_fusion;
    perm.count_splits = !sh.flex_dispatch && !sh.allgather_dispatch && !sh.router.moe_pad_expert_input_to_capacity;
    perm.gather_splits = sh.ep * tp > 1;
    perm.padded_counts = sh.router.moe_router_padding_for_fp8;
    perm.allgather = sh.allgather_dispatch;
    perm.gathered = tn * sh.ep * etp;  // the TP x EP group's tokens (folded experts: the EP group, spanning TP)
    perm.probs_bytes = sh.router.logit_bytes(e);
    const MoePermutationOps perm_ops = moe_permutation_ops(perm);
    ops.dispatch_begin = ops.norm2.size();
    ops.norm2.insert(ops.norm2.end(), perm_ops.before_dispatch.begin(), perm_ops.before_dispatch.end());
    ops.mlp.insert(ops.mlp.end(), perm_ops.after_dispatch.begin(), perm_ops.after_dispatch.end());
    // TEGroupedMLP with FP8 (experts.py): the rows and their probabilities padded per expert to FP8's alignment
    // (fused_multi_row_padding: read and write e B per element; the probabilities fp32), the output unpadded
    // after the second GEMM. Backward: the padding's is a cat of the unpadded slices of the gradient, the
    // unpadding's a padding of the gradient: each a copy of as many bytes.
    const double rows_bytes = 2 * tokens * local * h * e;
    if (sh.fp8_expert_padding) {
      ops.mlp.push_back(stated_pass("expert_fp8_pad", rows_bytes, {stated_backward("expert_fp8_pad_bwd", rows_bytes)}));
      ops.mlp.push_back(stated_pass("expert_fp8_pad_probs", 8 * tokens * local,
                                    {stated_backward("expert_fp8_pad_probs_bwd", 8 * tokens * local)}));
    }
    dense_mlp("expert_up", "expert_act", "expert_down", m.moe_ffn(), tokens, local, false, etp);
    if (sh.fp8_expert_padding) {
      ops.mlp.push_back(stated_pass("expert_fp8_unpad", rows_bytes, {stated_backward("expert_fp8_unpad_bwd", rows_bytes)}));
    }
    if (sh.sequential_experts) ops.mlp.push_back(memory(kExpertOutputCat, 2 * tokens * local * h, e));
    ops.mlp.insert(ops.mlp.end(), perm_ops.before_combine.begin(), perm_ops.before_combine.end());
    ops.residual.insert(ops.residual.end(), perm_ops.after_combine.begin(), perm_ops.after_combine.end());
    if (m.moe_shared_expert_intermediate_size > 0) {
      ops.shared_begin = ops.mlp.size();
      dense_mlp("shared_up", "shared_act", "shared_down", m.moe_shared_expert_intermediate_size, t, 1, false, tp);
      ops.shared_end = ops.mlp.size();
    }
  } else {
    dense_mlp("mlp_up", m.swiglu ? "swiglu" : "gelu", "mlp_down", m.ffn(), t, 1, true, tp);
  }
  ops.residual.push_back(memory("residual2", 3 * tn * h, e));
  if (unfused_residual > 0) ops.residual.push_back(memory("residual2_unfused", unfused_residual * tn * h, e));
  state_norm_cast_backward(ops.qkv, e, sh);
  state_norm_cast_backward(ops.mlp, e, sh);
  return ops;
}

OpSacRedo op_sac_redo(const GptModelConfig& m, const LayerOps& ops) {
  // The norms and residual add, the wk part of the fused q/k/v GEMM, rope, the output projection (wo), the w3
  // half of a gated MLP's up GEMM, the activation; not the attention kernel (saved), wq, wv, w1 / fc1 (saved),
  // nor the down GEMM and last residual (after the stop).
  OpSacRedo r;
  r.kernels.assign(ops.norm1.begin(), ops.norm1.end());
  r.kernels.insert(r.kernels.end(), ops.norm2.begin(), ops.norm2.end());
  const double a = m.num_attention_heads, g = m.query_groups();
  for (const auto& op : ops.qkv) {
    if (op.name == "qkv") {
      r.gemm_parts.push_back({op, g / (a + 2 * g)});
    } else {
      r.kernels.push_back(op);
    }
  }
  for (const auto& op : ops.attention) {  // CP's merges are inside the saved attention op (cp_attention.h)
    if (op.op_class != hw::OpClass::kAttention && !is_cp_merge(op.name)) r.kernels.push_back(op);
  }
  const auto up = std::find_if(ops.mlp.begin(), ops.mlp.end(), [](const hw::OpWork& op) { return op.op_class == hw::OpClass::kGemm; });
  for (auto it = ops.mlp.begin(); it != ops.mlp.end(); ++it) {
    if (it == up) {
      if (m.swiglu) r.gemm_parts.push_back({*it, 0.5});
    } else if (it->op_class != hw::OpClass::kGemm && it->name != "mlp_down_fp8_cast") {
      r.kernels.push_back(*it);
    }
  }
  return r;
}

std::vector<hw::OpWork> layer_forward_ops(const GptModelConfig& m, int b, double e) {
  return layer_forward(m, 0, b, e).all();
}

std::vector<hw::OpWork> embedding_forward_ops(const GptModelConfig& m, int b, double e, const LayerShard& sh) {
  const double t = static_cast<double>(b) * m.seq_length / sh.cp;
  return {memory("embedding", 3 * t * m.hidden_size, e)};
}

std::vector<hw::OpWork> mtp_input_forward_ops(const GptModelConfig& m, int b, double e, const LayerShard& sh) {
  const double t = static_cast<double>(b) * m.seq_length / sh.cp, h = m.hidden_size;
  const double tn = sh.sp ? t / sh.tp : t;
  std::vector<hw::OpWork> ops = embedding_forward_ops(m, b, e, sh);
  norm(ops, "mtp_enorm", tn * h, e, m, sh);
  norm(ops, "mtp_hnorm", tn * h, e, m, sh);
  ops.push_back(memory("mtp_concat", 4 * tn * h, e));
  if (sh.fp8) ops.push_back(hw::memory_op("mtp_proj_fp8_cast", Bytes::of((e + sh.fp8_cast_out) * t * 2 * h)));
  ops.push_back(gemm("mtp_proj", t, h / sh.tp, 2 * h, e));
  return ops;
}

std::vector<hw::OpWork> head_forward_ops(const GptModelConfig& m, int b, double e, const LayerShard& sh) {
  const double t = static_cast<double>(b) * m.seq_length / sh.cp;
  const double v = m.vocab_size / static_cast<double>(sh.tp);
  std::vector<hw::OpWork> ops;
  norm(ops, "final_norm", (sh.sp ? t / sh.tp : t) * m.hidden_size, e, m, sh);
  ops.push_back(gemm_16bit("logits", t, v, m.hidden_size, e));
  // fp32 softmax cross-entropy over this rank's vocabulary slice, its passes as Megatron runs them
  ops.push_back(hw::memory_op(sh.cross_entropy_fusion ? kCrossEntropyFused : kCrossEntropy,
                              Bytes::of(cross_entropy_bytes_per_logit(e, false, sh.cross_entropy_fusion) * t * v),
                              hw::MemoryKind::kLoss));
  return ops;
}

double cross_entropy_bytes_per_logit(double e, bool backward, bool fused) {
  // Megatron-LM's vocab-parallel cross-entropy (megatron/core/tensor_parallel/cross_entropy.py, the unfused path,
  // Megatron's default), per logit of the rank's slice. Forward: cast to fp32 (read e, write 4), max over the
  // vocabulary (read 4), subtract the max in place (read 4, write 4), exp in place (4 + 4), sum (4), divide by the
  // sum to keep the softmax for backward (4 + 4). Backward: scale by the loss gradient in place (4 + 4), and the
  // autograd cast back to the logits' type (read 4, write e). fp32 logits skip both casts.
  // Fused (megatron/core/fusions/fused_cross_entropy.py, cross_entropy_loss_fusion): the cast and the max in one
  // jit-fused kernel (read e, write 4; fp32 logits: read 4), the subtraction and exp in one in place (4 + 4), then
  // the sum and the division as unfused: 12 B per logit fewer. Its backward (calculate_gradients) makes the same
  // passes as the unfused one.
  const double cast = e < 4 ? 4 + e : 0;
  if (backward) return 8 + cast;
  return fused ? (e < 4 ? e + 4 : 4) + 20 : cast + 32;
}

double wgrad_accumulation_bytes(double e, double grad_bytes) { return grad_bytes + e + grad_bytes; }

std::vector<hw::OpWork> with_wgrad_accumulation(const std::vector<hw::OpWork>& ops, double bytes_per_element) {
  if (bytes_per_element <= 0) return ops;
  std::vector<hw::OpWork> out;
  for (const auto& op : ops) {
    out.push_back(op);
    if (op.op_class != hw::OpClass::kGemm || !is_wgrad(op)) continue;
    // The weight gradient dW (m x n per batch entry) added into main_grad by a memory-bound kernel of its own.
    const double elements = op.gemm.m * op.gemm.n * op.gemm.batch;
    out.push_back(hw::memory_op(op.name + "_accum", Bytes::of(bytes_per_element * elements)));
  }
  return out;
}

namespace {
bool memory_op_ending(const hw::OpWork& op, std::string_view suffix) {
  return op.op_class == hw::OpClass::kMemory && op.name.size() > suffix.size() &&
         std::string_view(op.name).substr(op.name.size() - suffix.size()) == suffix;
}
}  // namespace

bool is_fp8_cast(const hw::OpWork& op) { return memory_op_ending(op, "_fp8_cast"); }
bool is_fp8_amax(const hw::OpWork& op) { return memory_op_ending(op, "_fp8_amax"); }

Fp8WeightElements fp8_gemm_weight_elements(const std::vector<hw::OpWork>& forward) {
  Fp8WeightElements w;
  for (const auto& op : forward) {
    // Unfused attention's score and value GEMMs multiply activations: no weight.
    const bool weight = op.name != "attn_scores" && op.name != "attn_values";
    if (op.op_class != hw::OpClass::kGemm || op.gemm.keep_16bit || !weight) continue;
    const double elements = op.gemm.k * op.gemm.n * op.gemm.batch;
    w.all += elements;
    if (op.name.starts_with("expert_")) w.experts += elements;
    ++w.gemms;
  }
  return w;
}

namespace {
bool expert_gemm(const hw::OpWork& op) {
  return op.op_class == hw::OpClass::kGemm && (op.name.starts_with("expert_up") || op.name.starts_with("expert_down"));
}
}  // namespace

PerExpertCalls per_expert_calls(const std::vector<hw::OpWork>& ops) {
  auto quantizes = [](const hw::OpWork& op) {
    return is_fp8_cast(op) || is_fp8_amax(op) || memory_op_ending(op, "_fp8_cast_bwd") ||
           memory_op_ending(op, "_fp8_amax_bwd");
  };
  PerExpertCalls n;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (expert_gemm(ops[i])) {
      ++n.ops;
      ++n.gemms;
      if (!is_wgrad(ops[i])) ++n.modules;  // an input gradient or a forward: a module call of its own
    } else if (quantizes(ops[i])) {  // counted with the GEMM it feeds: the next operator that is not a cast
      size_t j = i + 1;
      while (j < ops.size() && quantizes(ops[j])) ++j;
      if (j < ops.size() && expert_gemm(ops[j])) ++n.ops;
    }
  }
  return n;
}

size_t per_expert_gemms(const std::vector<hw::OpWork>& ops) { return per_expert_calls(ops).gemms; }

size_t per_expert_ops(const std::vector<hw::OpWork>& ops) { return per_expert_calls(ops).ops; }

size_t sequential_expert_ops(const std::vector<hw::OpWork>& ops) {
  // The expert GEMMs and the casts feeding them (per_expert_ops), and the experts' other kernels: the activation,
  // the padding (and their backward).
  return per_expert_ops(ops) + static_cast<size_t>(std::count_if(ops.begin(), ops.end(), [](const hw::OpWork& op) {
           return op.op_class != hw::OpClass::kGemm && op.name.starts_with("expert_") &&
                  !op.name.starts_with(kExpertOutputCat);
         }));
}

std::vector<hw::OpWork> backward_of(const std::vector<hw::OpWork>& forward, double e, double fp8_cast_out) {
  std::vector<hw::OpWork> out;
  for (size_t i = 0; i < forward.size(); ++i) {
    const hw::OpWork& op = forward[i];
    if (op.backward_stated) {  // the kernels its forward's author stated (the MoE permutations)
      for (const hw::MemoryPass& p : op.backward) out.push_back(hw::memory_op(p.name, p.bytes));
      continue;
    }
    // SequentialMLP's padding and concatenation (kExpertPad*): the probabilities' padding has no backward kernel
    // (its cat's backward is views); the tokens' padding is undone by the output slice's backward, a zero fill of
    // the padded gradient (e B per element of the copied tokens) and the copy into it (2e); the output cat's
    // backward is views, but the split of the dispatched tokens before the loop has a cat as backward (2e).
    if (op.name == kExpertPadProbsZeros || op.name == kExpertPadProbs) continue;
    if (op.name == kExpertPadZeros) {
      const Bytes copied = i + 1 < forward.size() ? forward[i + 1].bytes : Bytes();
      out.push_back(hw::memory_op(op.name + std::string("_bwd"), copied * 0.5));
      continue;
    }
    if (op.name == kExpertPadTokens || op.name == kExpertOutputCat) {
      out.push_back(hw::memory_op(op.name + std::string("_bwd"), op.bytes));
      continue;
    }
    if (is_fp8_amax(op) && i + 2 < forward.size() && is_fp8_cast(forward[i + 1]) &&
        forward[i + 2].op_class == hw::OpClass::kGemm) {
      // Current scaling: the amax of the output gradient of the GEMM the cast feeds (read e B per element).
      const hw::GemmShape& g = forward[i + 2].gemm;
      out.push_back(hw::memory_op(op.name + "_bwd", Bytes::of(e * g.m * g.n * g.batch)));
      continue;
    }
    if (is_fp8_cast(op) && i + 1 < forward.size() && forward[i + 1].op_class == hw::OpClass::kGemm) {
      // The output gradient of the GEMM the cast feeds, cast and transposed (Transformer Engine's
      // fp8_cast_transpose on grad_output): read e, write 1 + 1 B per element (fp8_cast_out: LayerShard).
      const hw::GemmShape& g = forward[i + 1].gemm;
      out.push_back(hw::memory_op(op.name + "_bwd", Bytes::of((e + fp8_cast_out) * g.m * g.n * g.batch)));
      continue;
    }
    switch (op.op_class) {
      case hw::OpClass::kGemm: {
        const hw::GemmShape& g = op.gemm;
        // dX = dY W^T and dW = X^T dY. Both accumulate with promotion to FP32 in FP8 training (Transformer
        // Engine's _2X_ACC_DGRAD / _2X_ACC_WGRAD, torchao's backward use_fast_accum=False; docs/calibration.md).
        const bool split = true;
        const hw::GemmShape dgrad{g.m, g.k, g.n, g.batch, g.keep_16bit, split, false, g.streams};
        const hw::GemmShape wgrad{g.k, g.n, g.m, g.batch, g.keep_16bit, split, true, g.streams};
        out.push_back(hw::gemm_op(op.name + "_dgrad", dgrad, e));
        out.push_back(hw::gemm_op(op.name + "_wgrad", wgrad, e));
        break;
      }
      case hw::OpClass::kAttention: {
        hw::AttentionShape a = op.attention;
        a.backward = true;
        out.push_back(hw::attention_op(op.name + "_bwd", a, e));
        break;
      }
      case hw::OpClass::kMemory:
        if (is_cp_merge(op.name) && i > 0 && forward[i - 1].op_class == hw::OpClass::kAttention) {
          out.push_back(cp_merge_backward(op, forward[i - 1].attention, e));  // the step's gradient accumulation
          break;
        }
        if (op.name == kCrossEntropy || op.name == kCrossEntropyFused) {  // its own passes, not twice the forward
          const double logits = op.bytes.bytes() / cross_entropy_bytes_per_logit(e, false, op.name == kCrossEntropyFused);
          out.push_back(hw::memory_op(op.name + "_bwd", Bytes::of(logits * cross_entropy_bytes_per_logit(e, true)),
                                      hw::MemoryKind::kLoss));
          break;
        }
        if (const auto* u = std::find_if(std::begin(kUnfusedKernels), std::end(kUnfusedKernels),
                                         [&](const UnfusedKernel& k) { return op.name == k.name; });
            u != std::end(kUnfusedKernels)) {  // what a switched-off fusion adds to the backward, if anything
          if (u->backward_per_forward > 0) {
            out.push_back(hw::memory_op(op.name + "_bwd", op.bytes * u->backward_per_forward));
          }
          break;
        }
        if (op.name == kAttnUnpad || op.name == kAttnPad) {  // zero-fill + scatter (3e of 2e), gather (2e of 3e)
          out.push_back(hw::memory_op(op.name + "_bwd", op.bytes * (op.name == kAttnUnpad ? 1.5 : 2.0 / 3.0), op.memory_kind));
          break;
        }
        out.push_back(hw::memory_op(op.name + "_bwd", op.bytes * 2, op.memory_kind));
        break;
    }
  }
  return out;
}

void attention_backend_key(Section& s, std::string& value) {
  std::vector<std::string> allowed = {"auto"};
  for (const auto& k : hw::attention_backend_kinds()) allowed.push_back(k);
  s.choice("attention_backend", value, allowed,
           "fused-attention kernel whose measured curve costs attention: auto = the part's default (cudnn on "
           "H100 / H200 / H800, Transformer Engine's choice under Megatron-LM; the flat attention_efficiency on "
           "parts without a curve), flash2 = FlashAttention-2, flash3 = FlashAttention-3, cudnn = cuDNN fused "
           "attention, flash4 = FlashAttention-4 (Blackwell; docs/calibration.md)");
}

std::string check_attention_backend(const std::string& backend, bool fused,
                                    const std::set<const hw::AcceleratorSpec*>& parts, Section& s) {
  if (!fused) {
    if (backend != "auto") s.error("attention_backend", "'" + backend + "' needs use_flash_attn: true (unfused "
                                                        "attention computes the score matrix, no fused kernel)");
    return "unfused";
  }
  std::string label;
  for (const auto* part : parts) {
    if (const std::string problem = hw::attention_backend_problem(*part, backend); !problem.empty()) {
      s.error("attention_backend", problem);
      continue;
    }
    const std::string l = hw::attention_backend_label(*part, backend);
    if (label.find(l) == std::string::npos) label += (label.empty() ? "" : " / ") + l;
  }
  return label;
}

}  // namespace lcsim::wl
