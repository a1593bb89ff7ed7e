// GPT-style decoder transformer, configured with Megatron-LM's argument names, and its per-layer work
// (FLOPs and HBM bytes per kernel) for one micro-batch. FLOPs follow Megatron's accounting (Narayanan et al.,
// SC'21, and megatron/training/training.py num_floating_point_operations): attention scores counted in full,
// backward = 2 x forward, so model FLOPs per iteration = 3 x forward FLOPs (model_flops_per_layer). Kernel
// time uses the kernels' real work instead (causal attention, a 2.5x flash-attention backward).
#pragma once

#include <vector>

#include "models/hardware/op_cost.h"
#include "sim/config.h"

namespace lcsim::wl {

struct GptModelConfig {
  int num_layers = 24;
  int hidden_size = 2048;
  int ffn_hidden_size = 0;  // 0: 4 x hidden_size
  int num_attention_heads = 16;
  int seq_length = 2048;
  int vocab_size = 50304;
  bool swiglu = false;
  bool untie_embeddings_and_output_weights = false;
  void visit(Section& s);

  int ffn() const { return ffn_hidden_size > 0 ? ffn_hidden_size : 4 * hidden_size; }
  /// Parameters of one transformer layer (weights and biases, two layer norms).
  double layer_params() const;
  /// Word and position embeddings (plus an untied output layer) and the final layer norm.
  double embedding_params() const;
  double total_params() const { return num_layers * layer_params() + embedding_params(); }
  /// Megatron's model FLOPs of one forward pass over `b` sequences: per layer 2*t*(4h^2 + 2hf [3hf gated])
  /// + 4*t*s*h for attention (scores counted in full), plus the logits 2*t*h*V.
  double forward_model_flops(int b) const;
};

/// Forward kernels of one transformer layer for a micro-batch of `b` sequences.
std::vector<hw::OpWork> layer_forward_ops(const GptModelConfig& m, int b, double elem_bytes);
/// Forward kernels of the embedding lookup.
std::vector<hw::OpWork> embedding_forward_ops(const GptModelConfig& m, int b, double elem_bytes);
/// Forward kernels of the output layer (logits) and the cross-entropy loss.
std::vector<hw::OpWork> head_forward_ops(const GptModelConfig& m, int b, double elem_bytes);
/// Backward kernels of a forward set: each GEMM becomes two (input and weight gradients), attention its
/// backward kernel, each memory-bound kernel moves twice the bytes.
std::vector<hw::OpWork> backward_of(const std::vector<hw::OpWork>& forward, double elem_bytes);

}  // namespace lcsim::wl
