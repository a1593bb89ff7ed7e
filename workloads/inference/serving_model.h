// What one serving instance costs: weights and KV-cache memory per GPU and the time of one engine iteration (a
// batch of prefill chunks and decode steps) on the hardware model's roofline.
//
// Per iteration, per GPU of a TP group (for PP > 1, per stage and micro-batch: pipeline.cc):
//   linear FLOPs   = 2 x tokens x params_per_layer x layers / TP  + 2 x sequences_emitting x hidden x vocab / TP
//   attention FLOPs= 4 x heads/TP x head_dim x layers x sum_i (q_i c_i + q_i (q_i + 1) / 2)   (causal, q_i new tokens,
//                    c_i tokens already in the cache)
//   bytes          = weights / TP (every weight read once per iteration) + KV read (c_i) and written (q_i) per layer
//   time           = max(linear / (peak(weight dtype) x gemm_efficiency) + sum_i attention_i / (peak(bf16) x
//                    eff_i), bytes / (HBM bandwidth x memory_efficiency)), where a prefill chunk's eff_i is the
//                    part's flash-attention curve at key/value length c_i + q_i (op_cost.h attention_efficiency,
//                    serving.attention_backend's kernel; the curve training uses) and a decode step's the flat
//                    attention_efficiency
//                    + 2 x layers ring all-reduces of tokens x hidden x 2 B over the scale-up link (TP > 1)
//                    + layers x kernel_launch
// Expert parallelism (MoE, serving.expert_parallel; moe.cc): the routed experts are spread whole over the TP group
// (E / TP experts per GPU) instead of each expert being split TP ways; attention stays TP-sharded. The busiest GPU
// computes expert_load_imbalance x t x k / TP token-expert rows and reads the experts they touch; the MLP all-reduce
// gives way to an all-to-all dispatch and combine per MoE layer (collective model's all-to-all estimate).
// Pipeline parallelism (pipeline.cc) runs the batch as PP micro-batches through the stages, overlapped in time.
// Activation traffic and the embedding lookup are left out (small next to weights and KV at serving sizes).
// Quantized weights: fp8 and int8 GEMMs run at the part's fp8 / int8 peak when it has one (W8A8), else at bf16;
// int4 is weight-only (W4A16: bf16 GEMMs, half a byte per weight read). KV in fp8 / int8 / int4 halves or
// quarters the cache; attention still computes in 16 bit. Sources: docs/inference.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/hardware/accelerator.h"
#include "policies/collective_tuner.h"
#include "sim/config.h"

namespace lcsim::inf {

/// A decoder-only transformer's shape (Hugging Face config names in the help texts).
struct ModelShape {
  int num_layers = 32;
  int hidden_size = 4096;
  int num_attention_heads = 32;
  int num_kv_heads = 8;         // GQA; equal to heads for plain multi-head attention
  int ffn_hidden_size = 14336;  // intermediate_size of the gated (SwiGLU) MLP
  int vocab_size = 128256;
  int num_experts = 0;          // MoE: routed experts per layer (0: dense)
  int experts_per_token = 2;    // MoE: experts each token uses
  void visit(Section& s);
  double head_dim() const { return static_cast<double>(hidden_size) / num_attention_heads; }
  /// Attention and MLP parameters of one layer (all experts for MoE).
  double params_per_layer() const;
  /// Parameters a token's forward pass multiplies with, per layer (MoE: only its experts).
  double active_params_per_layer() const;
  /// Every parameter: layers, input embedding and LM head.
  double total_params() const;
};

/// How one instance serves (vLLM engine arguments in the help texts).
struct ServingConfig {
  int tensor_parallel = 1;
  int pipeline_parallel = 1;
  std::string weight_dtype = "bf16";  // bf16, fp8, int8, int4
  std::string kv_dtype = "bf16";      // bf16, fp8, int8, int4
  int block_size = 16;                // tokens per KV-cache block
  double gpu_memory_utilization = 0.9;
  int max_num_seqs = 256;
  int max_num_batched_tokens = 8192;
  bool chunked_prefill = true;
  std::string preemption = "recompute";  // recompute, swap (KV blocks to host memory over PCIe: preemption.h)
  Bytes swap_space = Bytes::gib(4);      // host memory per GPU for swapped-out KV blocks (vLLM's swap_space)
  bool expert_parallel = false;          // MoE: whole experts spread over the TP group (vLLM's enable_expert_parallel)
  double expert_load_imbalance = 1.0;    // MoE with EP: the busiest GPU's token-expert rows over the mean
  std::string attention_backend = "auto";  // prefill's fused-attention kernel: auto (the part's default), flash2, ...
  void visit(Section& s);
};

/// Why `serving` cannot run `model` with expert parallelism (empty: it can, or EP is off). moe.cc.
std::string expert_parallel_problem(const ModelShape& model, const ServingConfig& serving);

const std::vector<std::string>& quant_dtype_names();
/// Bytes per element of bf16, fp8, int8, int4.
double quant_bytes(const std::string& dtype);

/// One sequence's share of an iteration: `new_tokens` computed with `context` tokens already cached.
struct BatchEntry {
  uint32_t new_tokens = 0;
  uint32_t context = 0;
  bool emits = false;  // ends its prompt (or is a decode step): runs the LM head and emits a token
  uint32_t drafts = 0;  // speculative decoding: draft tokens this decode step verifies (new_tokens = drafts + 1)
};

/// The work of one iteration on one GPU of the instance.
struct IterationWork {
  double linear_flops = 0;
  double attention_flops = 0;
  double attention_seconds = 0;  // attention_flops at the kernel's efficiency per sequence (see work())
  double bytes = 0;
  double allreduce_bytes = 0;  // per all-reduce (TP > 1)
  double alltoall_bytes = 0;   // expert parallelism: each GPU's buffer per all-to-all (dispatch, and again combine)
  double expert_rows = 0;      // MoE: token-expert rows the busiest GPU computes per layer
  double layers = 0;           // layers this work covers (0: the model's; a pipeline stage's share otherwise)
  uint64_t tokens = 0;
  // The memory-bound kernels between the GEMMs, every layer (16-bit activations): two RMSNorms, the rotary
  // embedding of queries and keys, the SwiGLU activation, the residual add. Costed only on parts with fitted
  // norm / activation / rope efficiencies (InstanceCost::calibrated_kernels()).
  double norm_bytes = 0, activation_bytes = 0, rope_bytes = 0, residual_bytes = 0;
};

class InstanceCost {
 public:
  InstanceCost(const hw::AcceleratorSpec& part, const ModelShape& model, const ServingConfig& serving);
  /// Weights held by each GPU.
  double weight_bytes_per_gpu() const;
  /// KV-cache bytes of one token on each GPU (its TP shard of the heads, its PP stage's layers).
  double kv_bytes_per_token_per_gpu() const;
  /// KV-cache blocks the instance holds (HBM x utilization - weights, per GPU, in blocks); 0 when weights fill it.
  int64_t kv_blocks() const;
  IterationWork work(const std::vector<BatchEntry>& batch) const { return work(batch, model_.num_layers, true); }
  /// The work of `layers` layers (a pipeline stage's share), with the LM head when `lm_head` (the last stage).
  IterationWork work(const std::vector<BatchEntry>& batch, double layers, bool lm_head) const;
  /// One GPU's time for `w` (one pass over w.layers layers: no pipelining).
  double iteration_seconds(const IterationWork& w) const;
  /// The time of one iteration of `batch`: with PP > 1, the pipelined round (pipeline.cc).
  double iteration_seconds(const std::vector<BatchEntry>& batch) const;
  /// Expert parallelism: one all-to-all of `bytes` per GPU over the TP group (0 without EP). moe.cc.
  double alltoall_seconds(double bytes) const;
  /// One collective `op` of `bytes` (nccl-tests' size) over the TP group in one node: the smallest estimate over
  /// the part's measured protocols and the algorithms that apply (0 with TP 1). tp_collective.cc.
  double tp_collective_seconds(policy::CollectiveOp op, double bytes) const;
  /// PP > 1: one stage-to-stage send of `tokens` tokens' activations (16 bit). pipeline.cc.
  double stage_send_seconds(uint64_t tokens) const;
  bool expert_parallel() const { return serving_.expert_parallel && model_.num_experts > 0 && serving_.tensor_parallel > 1; }
  const ServingConfig& serving() const { return serving_; }
  const ModelShape& model() const { return model_; }
  /// One layer without attention for `tokens` tokens (what vidur's mlp.csv profiles measure): the layer's GEMMs
  /// on the roofline, its memory-bound kernels and launches. For the calibration check (docs/validation.md).
  double layer_seconds_without_attention(uint64_t tokens) const;
  /// Whether the part has fitted efficiencies for the kernels between the GEMMs (norms, activation, rotary): then
  /// they, and one launch per kernel, are costed; else the plain roofline with one launch per layer.
  bool calibrated_kernels() const;
  /// The FLOP rate the GEMMs run at (the weight dtype's peak, or bf16's).
  FlopRate gemm_peak() const;
  const hw::AcceleratorSpec& part() const { return *part_; }

 private:
  /// The MoE layer's expert rows and weights read on the busiest GPU (moe.cc).
  void add_experts(IterationWork& w, double tokens, double layers) const;
  const hw::AcceleratorSpec* part_;
  hw::AcceleratorSpec attention_part_;  // the part with serving.attention_backend's curve (hw::with_attention_backend)
  ModelShape model_;
  ServingConfig serving_;
};

}  // namespace lcsim::inf
