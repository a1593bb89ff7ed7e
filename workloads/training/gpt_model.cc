#include "workloads/training/gpt_model.h"

namespace lcsim::wl {

void GptModelConfig::visit(Section& s) {
  s.field("num_layers", num_layers, "transformer layers", Range::at_least(1));
  s.field("hidden_size", hidden_size, "model width h", Range::at_least(1));
  s.field("ffn_hidden_size", ffn_hidden_size, "MLP width; 0 = 4 x hidden_size", Range::at_least(0));
  s.field("num_attention_heads", num_attention_heads, "attention heads (must divide hidden_size)",
          Range::at_least(1));
  s.field("seq_length", seq_length, "tokens per sequence", Range::at_least(1));
  s.field("vocab_size", vocab_size, "vocabulary size (padded, as Megatron pads it)", Range::at_least(1));
  s.field("swiglu", swiglu, "gated MLP (three matrices) instead of GeLU (two)");
  s.field("untie_embeddings_and_output_weights", untie_embeddings_and_output_weights,
          "separate output-layer weights instead of reusing the word embeddings");
  if (s.mode() == Section::Mode::kParse && hidden_size % num_attention_heads != 0) {
    s.error("num_attention_heads", "must divide hidden_size (" + std::to_string(hidden_size) + "), got " +
                                       std::to_string(num_attention_heads));
  }
}

double GptModelConfig::layer_params() const {
  const double h = hidden_size, f = ffn();
  const double attention = 3 * h * h + 3 * h + h * h + h;             // QKV and output projection
  const double mlp = swiglu ? 3 * h * f : 2 * h * f + f + h;          // up (and gate), down
  return attention + mlp + 4 * h;                                     // two layer norms
}

double GptModelConfig::embedding_params() const {
  const double h = hidden_size;
  double p = static_cast<double>(vocab_size) * h + static_cast<double>(seq_length) * h + 2 * h;
  if (untie_embeddings_and_output_weights) p += static_cast<double>(vocab_size) * h;
  return p;
}

double GptModelConfig::forward_model_flops(int b) const {
  const double t = static_cast<double>(b) * seq_length, h = hidden_size, f = ffn(), s = seq_length;
  const double layer = 2 * t * (4 * h * h + (swiglu ? 3 : 2) * h * f) + 4 * t * s * h;
  return num_layers * layer + 2 * t * h * vocab_size;
}

namespace {
hw::OpWork gemm(const char* name, double m, double n, double k, double e) {
  return hw::gemm_op(name, {m, n, k, 1}, e);
}
hw::OpWork memory(const char* name, double elements, double e) { return hw::memory_op(name, Bytes::of(e * elements)); }
}  // namespace

std::vector<hw::OpWork> layer_forward_ops(const GptModelConfig& m, int b, double e) {
  const double t = static_cast<double>(b) * m.seq_length;  // tokens in the micro-batch
  const double h = m.hidden_size, f = m.ffn(), a = m.num_attention_heads;
  std::vector<hw::OpWork> ops;
  ops.push_back(memory("layernorm1", 2 * t * h, e));
  ops.push_back(gemm("qkv", t, 3 * h, h, e));
  // Flash attention over the causal mask.
  ops.push_back(hw::attention_op("attention", {static_cast<double>(b), 1.0 * m.seq_length, 1.0 * m.seq_length, a, a,
                                               h / a, true, false},
                                 e));
  ops.push_back(gemm("attn_proj", t, h, h, e));
  ops.push_back(memory("residual1", 3 * t * h, e));
  ops.push_back(memory("layernorm2", 2 * t * h, e));
  ops.push_back(gemm("mlp_up", t, m.swiglu ? 2 * f : f, h, e));
  ops.push_back(memory(m.swiglu ? "swiglu" : "gelu", m.swiglu ? 3 * t * f : 2 * t * f, e));
  ops.push_back(gemm("mlp_down", t, h, f, e));
  ops.push_back(memory("residual2", 3 * t * h, e));
  return ops;
}

std::vector<hw::OpWork> embedding_forward_ops(const GptModelConfig& m, int b, double e) {
  const double t = static_cast<double>(b) * m.seq_length;
  return {memory("embedding", 3 * t * m.hidden_size, e)};
}

std::vector<hw::OpWork> head_forward_ops(const GptModelConfig& m, int b, double e) {
  const double t = static_cast<double>(b) * m.seq_length;
  return {memory("final_layernorm", 2 * t * m.hidden_size, e), gemm("logits", t, m.vocab_size, m.hidden_size, e),
          // fp32 softmax cross-entropy: read logits, write probabilities
          memory("cross_entropy", 2 * t * m.vocab_size, 4)};
}

std::vector<hw::OpWork> backward_of(const std::vector<hw::OpWork>& forward, double e) {
  std::vector<hw::OpWork> out;
  for (const auto& op : forward) {
    switch (op.op_class) {
      case hw::OpClass::kGemm: {
        const hw::GemmShape& g = op.gemm;
        out.push_back(hw::gemm_op(op.name + "_dgrad", {g.m, g.k, g.n, g.batch}, e));  // dX = dY W^T
        out.push_back(hw::gemm_op(op.name + "_wgrad", {g.k, g.n, g.m, g.batch}, e));  // dW = X^T dY
        break;
      }
      case hw::OpClass::kAttention: {
        hw::AttentionShape a = op.attention;
        a.backward = true;
        out.push_back(hw::attention_op(op.name + "_bwd", a, e));
        break;
      }
      case hw::OpClass::kMemory:
        out.push_back(hw::memory_op(op.name + "_bwd", op.bytes * 2));
        break;
    }
  }
  return out;
}

}  // namespace lcsim::wl
