// Operator cost model: how long one kernel takes on one part.
//   GEMM [m x k] x [k x n] (batch of them): the best of a few output tile shapes, each costing
//     2 x waves x units x tile_m x tile_n x k / (peak x gemm_efficiency x tile_factor x k/(k + k_half))
//   (FP8 GEMMs: the FP8 peak x fp8_gemm_efficiency when the part has one: FP8 runs further below its
//   peak; an FP8 GEMM that accumulates with promotion to FP32, training's input- and weight-gradient
//   GEMMs, at that rate / fp8_split_accumulation_slowdown; FP8 GEMMs take fp8_gemm_k_half where the part or the
//   run's fp8_gemm_backend sets one)
//   with waves = ceil(tiles x splits / compute units) (tile and wave quantization: small and skinny matrices run
//   far below peak; split-K spreads few tiles over idle units), bounded below by the bytes moved at
//   memory_efficiency x HBM bandwidth, and below by FLOPs / (16-bit peak x gemm_sustained_efficiency) where the
//   part has one (16-bit only: long GEMMs run at the sustained, power-limited clock; docs/calibration.md); plus
//   kernel_launch.
//   Attention (flash style): 4 b h q kv d FLOPs forward (half when causal), 2.5x that backward (the backward pass
//   recomputes the scores), at attention_efficiency of the 16-bit peak (also in FP8 training: attention stays 16-bit);
//   where the part has a measured curve, per pass and against the key/value length s:
//   plateau x s / (s + seq_half) (short sequences amortize less of each tile's softmax work; docs/calibration.md);
//   decode against a KV length is bound by reading the cache.
//   Memory-bound kernels (elementwise, norms, softmax, embedding, loss, optimizer): bytes / (HBM x efficiency),
//   with its own efficiency for norms, activations and rotary embeddings (fitted to measured kernel times).
//   Under a power limit below TDP (AcceleratorSpec::power_limit) every compute rate above (GEMMs, attention,
//   roofline compute) is multiplied by the part's compute_clock_fraction(); memory-bound terms are not (power_limit.h).
// Parameters: the part's KernelCalibration (fitted by `lcsim calibrate`); tile factors below are assumptions.
#pragma once

#include <string>
#include <vector>

#include "models/hardware/accelerator.h"

namespace lcsim::hw {

struct GemmShape {
  double m = 0, n = 0, k = 0;
  double batch = 1;
  // A GEMM FP8 training leaves in 16 bits (the output layer, the MoE router: docs/calibration.md, "FP8 training:
  // what stays in 16 bits"); in an FP8 run it costs at the 16-bit peak and efficiency.
  bool keep_16bit = false;
  // Accumulates with periodic promotion to FP32 when it runs in FP8 (cuBLASLt's
  // CUBLASLT_MATMUL_DESC_FAST_ACCUM off): Transformer Engine's input- and weight-gradient GEMMs
  // (_2X_ACC_DGRAD, _2X_ACC_WGRAD) and torchao float8's backward GEMMs (use_fast_accum only in the
  // forward); backward_of sets it.
  bool split_accumulation = false;
  // The weight gradient dW = X^T dY (backward_of sets it): in FP8 runs it takes fp8_wgrad_slowdown where the part
  // or the run's fp8_gemm_backend sets one (DeepGEMM's measured weight-gradient kernels), else as the other
  // split-accumulation GEMMs.
  bool weight_gradient = false;
  // How the `batch` GEMMs run: 0 = one kernel for all of them (a batched or grouped GEMM); S >= 1 = each its own
  // kernel, issued round-robin to S streams (Transformer Engine's multi-stream grouped GEMM: 4; one after another:
  // 1), costed as rounds of S GEMMs sharing the GPU, each round one batched GEMM (gemm_time).
  double streams = 0;
  bool operator==(const GemmShape&) const = default;
};

struct AttentionShape {
  double batch = 1;
  double q_len = 1;     // query tokens per sequence (1 for decode)
  double kv_len = 1;    // key/value tokens per sequence
  double heads = 1;     // query heads
  double kv_heads = 1;  // key/value heads (GQA: fewer than heads)
  double head_dim = 128;
  bool causal = true;
  bool backward = false;
  // Causal with the mask aligned to the bottom right (q_len < kv_len: the queries are the last q_len positions of
  // the keys, as Transformer Engine's all-gather context parallelism calls it, "padding_causal_bottom_right"):
  // q x kv - q^2 / 2 pairs instead of half of q x kv.
  bool bottom_right = false;
  bool operator==(const AttentionShape&) const = default;
};

enum class OpClass { kGemm, kAttention, kMemory };
/// Memory-bound kernels by how close to a streaming copy they get (KernelCalibration's *_efficiency).
enum class MemoryKind { kStreaming, kNorm, kActivation, kRope, kLoss };

/// A memory-bound kernel named with what it moves: one of the backward kernels a workload states for an OpWork.
struct MemoryPass {
  std::string name;
  Bytes bytes;
  bool operator==(const MemoryPass&) const = default;
};

/// One kernel's work. GEMMs and attention carry their shape; FLOPs and bytes are derived from it.
struct OpWork {
  std::string name;
  OpClass op_class = OpClass::kMemory;
  MemoryKind memory_kind = MemoryKind::kStreaming;
  Flops flops;
  Bytes bytes;
  GemmShape gemm;
  AttentionShape attention;
  // Where the workload states the backward kernel by kernel (a memory-bound kernel whose backward is not a fixed
  // multiple of its forward, e.g. a gather whose gradient is a zero fill and a scatter-add): backward_stated, and
  // those kernels in order (none: no backward kernel). Not stated: the workload's own rules.
  bool backward_stated = false;
  std::vector<MemoryPass> backward;
  // What the host issues for it (step_overhead.h): where lcsim costs several PyTorch kernels as one memory pass
  // (a router's group-limited top-k), or a pass comes with device-to-host copies and a small collective (a token
  // dispatcher's split sizes), the kernels, copies and collective launches the framework's code runs; else 1.
  int launches = 1;
  bool operator==(const OpWork&) const = default;  // same kernel: same cost (plan_stage reuses equal layers' plans)
};

OpWork gemm_op(std::string name, const GemmShape& s, double elem_bytes);
OpWork attention_op(std::string name, const AttentionShape& s, double elem_bytes);
OpWork memory_op(std::string name, Bytes bytes, MemoryKind kind = MemoryKind::kStreaming);

Duration gemm_time(const AcceleratorSpec& part, DType dtype, const GemmShape& s);
Duration attention_time(const AcceleratorSpec& part, DType dtype, const AttentionShape& s);
/// Fraction of the 16-bit peak flash attention of this shape reaches (the part's curve, or its flat figure).
double attention_efficiency(const AcceleratorSpec& part, const AttentionShape& s);
Duration memory_time(const AcceleratorSpec& part, Bytes bytes, MemoryKind kind = MemoryKind::kStreaming);
/// The fraction of the dense peak of `dtype` large GEMMs reach on `part` (fp8_gemm_efficiency for FP8, if set).
double gemm_efficiency(const AcceleratorSpec& part, DType dtype);
/// The ceiling on the fraction of the dense peak of `dtype` that long GEMMs reach (gemm_sustained_efficiency for
/// 16-bit types where the part has one; 1 otherwise).
double gemm_sustained_efficiency(const AcceleratorSpec& part, DType dtype);
/// The fraction of HBM bandwidth a memory-bound kernel of `kind` reaches on `part`.
double memory_efficiency(const AcceleratorSpec& part, MemoryKind kind);
Duration op_time(const AcceleratorSpec& part, DType dtype, const OpWork& op);
/// A kernel known only by its FLOPs and the bytes it moves (no shape, e.g. from an execution trace): the slower
/// of flops at gemm_efficiency x peak and bytes at memory_efficiency x HBM bandwidth, plus kernel_launch.
Duration roofline_time(const AcceleratorSpec& part, DType dtype, Flops flops, Bytes bytes);

/// The part as a kernel confined to `units` of its compute units sees it (a GEMM launched with an SM margin beside
/// communication kernels: Transformer Engine's set_sm_margin): that many units for wave quantization, each peak in
/// proportion. Nothing else changes (HBM bandwidth, calibration).
AcceleratorSpec with_compute_units(const AcceleratorSpec& part, int units);

/// The part's time for a list of kernels run one after another.
Duration total_time(const std::vector<OpWork>& ops, const AcceleratorSpec& part, DType dtype);
Flops total_flops(const std::vector<OpWork>& ops);

}  // namespace lcsim::hw
