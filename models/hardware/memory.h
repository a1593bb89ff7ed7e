// Memory fit per GPU, checked before anything is simulated: weights, gradients, optimizer states (mixed-precision
// Adam; ZeRO-1/2/3 / FSDP sharding over data parallelism), activations (no, selective or full recompute; flash
// attention; tensor and sequence parallelism), temporary buffers and a runtime reserve; KV cache for inference.
// Activation sizes follow Korthikanti et al., "Reducing Activation Recomputation in Large Transformer Models"
// (MLSys 2023), Table 2 and section 4: per layer s*b*h*(34 + 5*a*s/h) bytes in 16-bit training without
// parallelism; the 5as/h term is the attention matrix, absent with flash attention or selective recompute.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "sim/units.h"

namespace lcsim::hw {

struct TrainingMemoryInput {
  double parameters = 0;       // parameters this GPU holds before ZeRO sharding (experts apart)
  int data_parallel = 1;       // ranks that ZeRO shards over
  double expert_parameters = 0;  // expert weights this GPU holds (MoE), sharded over expert_data_parallel
  int expert_data_parallel = 1;
  int zero_stage = 0;          // 0: none, 1: optimizer states, 2: + gradients, 3: + weights (FSDP)
  // Ranks the optimizer states (and master weights) shard over where more than data_parallel (Megatron-FSDP's fully
  // sharded hybrid level: the whole DP group, the rest over one instance); 0: data_parallel.
  int optimizer_data_parallel = 0;
  double weight_bytes = 2;     // per parameter (bf16)
  double grad_bytes = 4;       // per parameter (fp32 main gradients in Megatron)
  double optimizer_bytes = 12; // per parameter: fp32 master copy, Adam m and v
  // Activations, per GPU:
  int layers = 1;              // transformer layers on this GPU
  double micro_batch = 1;      // sequences per micro-batch
  double in_flight = 1;        // micro-batches whose activations are alive at once (pipeline schedules: more)
  double seq = 2048;
  double hidden = 4096;
  double ffn = 16384;
  double heads = 32;
  double kv_heads = 0;         // key/value heads (grouped-query attention); 0 = heads
  double vocab = 50304;
  bool swiglu = false;
  bool flash_attention = true;
  // One layer's activations tensor by tensor (workloads/training/layer_activations.h), bytes per token: kept
  // whole on every TP rank (split over TP with sequence parallelism) and split over TP; < 0: the closed form.
  double layer_whole = -1;
  double layer_split = -1;
  // none, selective (Megatron's: the attention core), full, or op (torchtitan's op-level selective activation
  // checkpointing: each layer keeps its input, every other matrix multiply's output and the attention output;
  // op_sac_saved_bytes).
  std::string recompute = "none";
  // Full recompute, by layer (Megatron's recompute_method): how many of `layers` are recomputed (-1: all), how
  // many layer inputs are kept for them (-1: one per recomputed layer) and how many layers are recomputed
  // together (their activations alive at once). The other layers keep all their activations.
  double recomputed_layers = -1;
  double checkpoints = -1;
  int recompute_group = 1;
  bool distribute_saved_inputs = false;  // full recompute: each checkpointed input split over TP (1/TP kept)
  int tensor_parallel = 1;
  bool sequence_parallel = false;
  bool holds_output_layer = true;  // the logits and loss live on this GPU
  double output_heads = 1;         // logits alive at once there (1 + multi-token-prediction modules)
  double logit_bytes = 6;          // per logit at the loss's peak: 6 Megatron's fused loss, 12 PyTorch's on fp32
  Bytes bucket;                    // communication buffers of their own (FSDP's unsharded units; Megatron's
                                   // buckets are views of the gradient buffer: none)
  Bytes cp_buffers;                // context parallelism's key/value exchange buffers (one layer's, at its peak)
  Bytes moe_gather_buffer;         // the allgather token dispatcher's gathered tokens (one buffer, reused by layers)
  Bytes deferred_wgrad_buffers;    // defer_embedding_wgrad_compute: the output layer's inputs and logit gradients
  // Megatron's reduce-scatter with fp32 accumulation: the buckets' all-to-all receive buffers alive at once, and the
  // share of `in_flight` micro-batches' activations alive beside them (they raise the peak only by what they exceed
  // the rest by).
  Bytes receive_buffers;
  double receive_beside = 0;
  Bytes runtime_reserve = Bytes::gib(2);  // CUDA context, NCCL buffers, library workspaces, fragmentation
};

struct MemoryItem {
  std::string name;
  Bytes bytes;
};

struct MemoryFit {
  std::vector<MemoryItem> items;  // largest first
  Bytes total;
  Bytes capacity;
  bool fits() const { return total <= capacity; }
};

MemoryFit training_memory(const TrainingMemoryInput& in, Bytes capacity);

/// Bytes one layer keeps for its backward under torchtitan's op-level selective activation checkpointing, for one
/// micro-batch: the layer's input, the outputs of the 1st, 3rd, 5th... matrix multiply in the order the layer runs
/// them (wq, wk, wv, wo, then w1, w3, w2 for a gated MLP or fc1, fc2), and the attention kernel's output with its
/// fp32 log-sum-exp. torchtitan (commit 9dec370, torchtitan/parallelisms/parallelize_llama.py): `_save_list`
/// holds aten.mm, the flash / efficient SDPA ops and reduce_scatter_tensor; `_custom_policy` saves them "except
/// every second mm" (the mm counter restarts with each layer's checkpoint context).
double op_sac_saved_bytes(const TrainingMemoryInput& in);

/// Parameters one GPU holds after sharding at ZeRO stage `stage` or above (weights 3, gradients 2, optimizer
/// states 1): {dense over data_parallel, experts over expert_data_parallel}; below `stage`, all of them.
std::pair<double, double> held_parameters(const TrainingMemoryInput& in, int stage);

/// Inference KV cache: 2 (K and V) x layers x tokens x kv_heads x head_dim x bytes.
Bytes kv_cache_bytes(double layers, double tokens, double kv_heads, double head_dim, double elem_bytes);

/// "needs X GB per GPU, <part> has Y GB; largest: a, b, c; would fit with: ..." built from alternative inputs
/// that the caller tried (each a label and its fit; those that fit are listed).
std::string out_of_memory_message(const std::string& part, const MemoryFit& fit,
                                  const std::vector<std::pair<std::string, MemoryFit>>& alternatives);

std::string gb(Bytes b, int decimals = 1);  // "12.3 GB" (decimal, as datasheets state memory)

}  // namespace lcsim::hw
