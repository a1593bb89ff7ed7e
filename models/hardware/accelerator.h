// Accelerator parts as data: datasheet peaks (dense FLOP rate per data type), memory, scale-up link, power, and
// the calibrated kernel-efficiency parameters of the operator cost model (op_cost.h). Parts live in
// models/hardware/catalog/accelerators/*.yaml (built into the binary); a scenario may derive its own
// (`base: H100-SXM-80GB` plus overrides) or define one inline. Sources: docs/calibration.md.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "models/hardware/collective_calibration.h"
#include "models/hardware/power_limit.h"
#include "sim/config.h"
#include "sim/units.h"

namespace lcsim::hw {

enum class DType { kFp32, kTf32, kBf16, kFp16, kFp8, kInt8, kFp4 };
const std::vector<std::string>& dtype_names();  // "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp4"
DType parse_dtype(const std::string& name);     // asserts: names are validated by Section::choice
std::string dtype_name(DType d);
/// Bytes per element of a data type.
double dtype_bytes(DType d);

/// One fused-attention kernel's measured curve on a part (op_cost.h `attention_efficiency`): per pass,
/// efficiency = plateau x s / (s + seq_half) of the 16-bit peak at key/value length s.
struct AttentionBackendCurve {
  std::string name;  // one of attention_backend_kinds()
  double forward_efficiency = 0, forward_seq_half = 0, backward_efficiency = 0, backward_seq_half = 0;
  void visit(Section& s);
};
/// The fused-attention kernels lcsim has curves for: "flash2" (FlashAttention-2), "flash3" (FlashAttention-3),
/// "cudnn" (cuDNN fused attention, Transformer Engine's FusedAttention).
const std::vector<std::string>& attention_backend_kinds();

/// Kernel-efficiency parameters of the operator cost model, fitted per part by `lcsim calibrate`.
struct KernelCalibration {
  double gemm_efficiency = 0.75;     // fraction of the dense peak reached by large, well-shaped GEMMs
  double fp8_gemm_efficiency = 0;    // the same for FP8 GEMMs (fraction of the FP8 peak); 0 = gemm_efficiency
  // FP8 GEMMs that accumulate with periodic promotion to FP32 (cuBLASLt's FAST_ACCUM off: training's
  // input- and weight-gradient GEMMs) take this many times as long as fast-accumulating ones, which
  // fp8_gemm_efficiency was measured with. 1 = no difference (op_cost.h, docs/calibration.md).
  double fp8_split_accumulation_slowdown = 1;
  // The same for the weight-gradient GEMMs alone; 0 = fp8_split_accumulation_slowdown (op_cost.h).
  double fp8_wgrad_slowdown = 0;
  // MXFP8 GEMMs (block scales applied by the tensor cores; fp8_recipe: mxfp8) take this many times as long as the
  // per-tensor-scaled FP8 GEMMs fp8_gemm_efficiency describes; 1 = the same.
  double mxfp8_gemm_slowdown = 1;
  // Hopper's block-scaled FP8 GEMMs (Transformer Engine's Float8BlockScaling, cuBLAS with 1 x 128 and 128 x 128
  // scales; fp8_recipe: blockwise) take this many times as long as the per-tensor FP8 GEMMs; 1 = the same.
  double fp8_block_gemm_slowdown = 1;
  // NVFP4 GEMMs (E2M1 with an E4M3 scale per 16 elements, applied by Blackwell's tensor cores): fraction of the FP4
  // dense peak they reach; 0 = fp8_gemm_efficiency (docs/calibration-fp8.md, "NVFP4").
  double fp4_gemm_efficiency = 0;
  double gemm_k_half = 0;            // inner dimension k at which a GEMM reaches half its efficiency (0: none)
  double fp8_gemm_k_half = 0;        // the same for FP8 GEMMs; 0 = gemm_k_half
  // FP8 GEMMs with fine-grained scaling as DeepSeek's DeepGEMM runs them (1 x 128 activation and 128 x 128 weight
  // scales, partial sums promoted to FP32 on CUDA cores every 128 elements of k, in every GEMM): fraction of the
  // FP8 peak and k_half fitted to its measured H800 table (docs/calibration.md). The workload key
  // fp8_gemm_backend: deepgemm puts them in place of fp8_gemm_efficiency and fp8_gemm_k_half, with no
  // split-accumulation slowdown (the measured kernels promote already). 0 = not measured on this part.
  double deepgemm_efficiency = 0;
  double deepgemm_k_half = 0;
  double deepgemm_wgrad_slowdown = 0;  // its weight-gradient kernels against that rate at their shape (0 = 1)
  // Ceiling on 16-bit GEMM throughput in kernels long enough to run at the part's sustained (power-limited) clock,
  // as a fraction of the 16-bit peak; a GEMM takes at least FLOPs / (peak x this). 0 = no ceiling (op_cost.h).
  double gemm_sustained_efficiency = 0;
  bool gemm_tiling = true;           // model tile and wave quantization (see op_cost.h)
  double attention_efficiency = 0.55;  // flat fraction of the 16-bit peak (parts without a measured curve)
  // Flash attention against the key/value length s, where measured per direction (op_cost.h):
  // efficiency = plateau x s / (s + seq_half). attention_forward_efficiency 0 = the flat attention_efficiency.
  double attention_forward_efficiency = 0;   // causal forward's plateau (fraction of the 16-bit peak)
  double attention_forward_seq_half = 0;     // key/value tokens at which the forward reaches half its plateau
  double attention_backward_efficiency = 0;  // backward's plateau; 0 = attention_forward_efficiency
  double attention_backward_seq_half = 0;    // the same for the backward
  // Transformer Engine's deterministic attention backward (NVTE_ALLOW_NONDETERMINISTIC_ALGO=0, which Megatron-LM's
  // --deterministic-mode sets): its time over the default backward's; 0 = not measured on this part (not costed).
  double deterministic_attention_backward_slowdown = 0;
  // The kernel the attention figures above describe: the part's default backend ("" = not a named kernel).
  std::string attention_backend;
  std::vector<AttentionBackendCurve> attention_backends;  // the other kernels measured on this part
  double memory_efficiency = 0.85;   // fraction of HBM bandwidth reached by streaming kernels
  // Memory-bound kernels that reach less than a streaming copy (fractions of HBM bandwidth; 0 = memory_efficiency):
  double norm_efficiency = 0;        // layer / RMS norms (a reduction per token)
  double activation_efficiency = 0;  // GeLU, SwiGLU (silu x mul)
  double rope_efficiency = 0;        // rotary embedding of queries and keys
  double loss_efficiency = 0;        // the loss's passes over the logits (cross-entropy: casts, row max and sum)
  // Share of the compute units a collective running beside the kernels occupies (NCCL / DeepEP channels):
  // kernels that run while one is in flight take 1 / (1 - share) as long.
  double overlap_sm_share = 0.15;
  Duration kernel_launch = Duration::us(4);
  std::string source = "default placeholder (not fitted)";
  void visit(Section& s);
};

struct AcceleratorSpec {
  std::string name;
  std::string vendor;
  std::map<DType, FlopRate> dense_peak;  // dense (no structured sparsity) tensor-core peaks; absent = unsupported
  int compute_units = 1;                 // SMs / CUs / engines, for wave quantization
  Bytes hbm_capacity;
  Bandwidth hbm_bandwidth;
  Bandwidth scale_up_bandwidth;  // per device, per direction (NVLink: half the bidirectional figure)
  int scale_up_domain = 8;       // devices in one scale-up domain
  bool scale_up_reduction = false;  // the scale-up switches reduce in the network (NVLink SHARP / NVLS)
  // The scale-up domain is a full mesh of point-to-point links, no switch (AMD Infinity Fabric / xGMI): each device
  // has one link to each of the other scale_up_domain - 1, each scale_up_bandwidth / (scale_up_domain - 1), so a
  // pair's send/recv moves over one link; false: switched (NVSwitch), a pair gets the device's whole bandwidth.
  bool scale_up_mesh = false;
  // The tensor cores apply MX block scales themselves (OCP microscaling: 32 elements per E8M0 scale; Blackwell):
  // MXFP8 GEMMs run at the FP8 rate (fp8_recipe: mxfp8).
  bool block_scaled_fp8 = false;
  // FP8 GEMMs take either operand transposed (Blackwell, SM 10.x: Transformer Engine's
  // nvte_is_non_tn_fp8_gemm_supported): a per-tensor-scaled FP8 tensor needs no transposed copy for the backward
  // GEMMs; false (Hopper, Ada): only the TN layout, so each FP8 cast writes the tensor and its transpose.
  bool non_tn_fp8_gemm = false;
  /// Point-to-point links per device on a mesh (scale_up_domain - 1); 0 when switched.
  int scale_up_links() const { return scale_up_mesh ? scale_up_domain - 1 : 0; }
  Power tdp;         // power when busy; also the highest power limit the part accepts (its default limit)
  Power idle_power;
  Power power_limit;      // board power limit (nvidia-smi -pl); 0 = tdp (power_limit.h)
  Power min_power_limit;  // the lowest limit the part accepts; 0 = not known (then idle_power)
  DvfsPowerCurve::Config power_clock;  // how the compute clock follows the power limit
  std::string confidence = "datasheet";  // datasheet, medium, low
  KernelCalibration calibration;
  CollectiveCalibration collectives;  // measured scale-up collective protocols (empty: none)
  /// The host's framework time per operator relative to a DGX H100 host's (NodeSpec::host_op_time_factor). Not a
  /// key of the part: the node it is installed in sets it, because workloads plan per part.
  double host_op_time_factor = 1;

  /// Peak for a data type; InputError if the part has none (e.g. fp8 on A100).
  FlopRate peak(DType d) const;
  bool supports(DType d) const { return dense_peak.count(d) != 0; }
  /// The power limit in force: power_limit where set, else tdp. A computing GPU draws this (power.h).
  Power power_cap() const { return power_limit.w() > 0 && power_limit < tdp ? power_limit : tdp; }
  /// The clock of compute-bound kernels (GEMMs, attention) under power_cap(), as a fraction of their clock at TDP:
  /// 1 exactly without a limit below TDP (power_limit.h).
  double compute_clock_fraction() const;
  /// Declares every key (parse, describe, emit). Peaks are declared per data type; 0 = unsupported.
  void visit(Section& s);
};

/// The backends a run may name on this part: its own (if named) first, then the other measured ones.
std::vector<std::string> attention_backend_names(const AcceleratorSpec& part);
/// Why a run cannot name `backend` on this part ("" = it can: auto, the part's own or a measured other).
std::string attention_backend_problem(const AcceleratorSpec& part, const std::string& backend);
/// The part with `backend`'s curve in place of its own attention figures. "auto" and the part's own backend
/// return it unchanged; InputError naming the part and its measured backends if it has no such curve.
AcceleratorSpec with_attention_backend(const AcceleratorSpec& part, const std::string& backend);
/// What a run's attention costs follow on this part, for run headers: "cudnn", or "flat 0.55 of peak".
std::string attention_backend_label(const AcceleratorSpec& part, const std::string& backend);
/// The part with attention's backward running the deterministic kernel: its backward efficiency divided by
/// deterministic_attention_backward_slowdown (the forward's curve where the backward has none of its own); unchanged
/// where that is not measured (0) or not above 1.
AcceleratorSpec with_deterministic_attention(const AcceleratorSpec& part);
/// Whether a deterministic run costs this part's attention backward: its slowdown measured and above 1.
inline bool costs_deterministic_attention(const AcceleratorSpec& part) {
  return part.calibration.deterministic_attention_backward_slowdown > 1;
}

/// The FP8 GEMM kernel libraries a training run may name: "auto" (the part's fp8_gemm_efficiency: cuBLASLt, as
/// Transformer Engine and torchao call it) and "deepgemm" (DeepSeek's fine-grained-scaling kernels).
const std::vector<std::string>& fp8_gemm_backend_kinds();
/// Why a run cannot name `backend` for its FP8 GEMMs on this part ("" = it can).
std::string fp8_gemm_backend_problem(const AcceleratorSpec& part, const std::string& backend);
/// The part with `backend`'s FP8 GEMM terms in place of its own ("auto": unchanged); InputError naming the part
/// where the backend was not measured on it.
AcceleratorSpec with_fp8_gemm_backend(const AcceleratorSpec& part, const std::string& backend);
/// The part with its FP8 GEMMs at the MXFP8 rate (fp8_gemm_efficiency / mxfp8_gemm_slowdown).
AcceleratorSpec with_mxfp8_gemms(const AcceleratorSpec& part);
/// The part with its FP8 GEMMs at the block-scaled rate (fp8_gemm_efficiency / fp8_block_gemm_slowdown).
AcceleratorSpec with_block_fp8_gemms(const AcceleratorSpec& part);

}  // namespace lcsim::hw
