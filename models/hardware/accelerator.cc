#include "models/hardware/accelerator.h"

#include <algorithm>
#include <array>
#include <cstdio>

namespace lcsim::hw {

const std::vector<std::string>& dtype_names() {
  static const std::vector<std::string> names = {"fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp4"};
  return names;
}

DType parse_dtype(const std::string& name) {
  const auto& n = dtype_names();
  auto it = std::find(n.begin(), n.end(), name);
  LCSIM_ASSERT(it != n.end(), "unvalidated dtype " + name);
  return static_cast<DType>(it - n.begin());
}

std::string dtype_name(DType d) { return dtype_names()[static_cast<size_t>(d)]; }

double dtype_bytes(DType d) {
  switch (d) {
    case DType::kFp32: case DType::kTf32: return 4;
    case DType::kBf16: case DType::kFp16: return 2;
    case DType::kFp8: case DType::kInt8: return 1;
    case DType::kFp4: return 0.5;
  }
  return 4;
}

const std::vector<std::string>& attention_backend_kinds() {
  static const std::vector<std::string> kinds = {"flash2", "flash3", "cudnn", "flash4"};
  return kinds;
}

void AttentionBackendCurve::visit(Section& s) {
  s.choice("name", name, attention_backend_kinds(), "the kernel this curve was measured on");
  s.field("forward_efficiency", forward_efficiency, "causal forward's plateau (fraction of the 16-bit peak)",
          Range::between(0, 1));
  s.field("forward_seq_half", forward_seq_half, "key/value tokens at which the forward reaches half its plateau",
          Range::at_least(0));
  s.field("backward_efficiency", backward_efficiency, "backward's plateau; 0 = forward_efficiency",
          Range::between(0, 1));
  s.field("backward_seq_half", backward_seq_half, "the same for the backward", Range::at_least(0));
  if (s.mode() == Section::Mode::kParse && forward_efficiency <= 0) s.error("forward_efficiency", "must be positive");
}

std::vector<std::string> attention_backend_names(const AcceleratorSpec& part) {
  std::vector<std::string> names;
  if (!part.calibration.attention_backend.empty()) names.push_back(part.calibration.attention_backend);
  for (const auto& b : part.calibration.attention_backends) {
    if (std::find(names.begin(), names.end(), b.name) == names.end()) names.push_back(b.name);
  }
  return names;
}

std::string attention_backend_problem(const AcceleratorSpec& part, const std::string& backend) {
  const auto& own = part.calibration;
  if (backend == "auto" || backend == own.attention_backend) return "";
  for (const auto& b : own.attention_backends) {
    if (b.name == backend) return "";
  }
  std::string have;
  for (const auto& n : attention_backend_names(part)) have += (have.empty() ? "" : ", ") + n;
  return "'" + backend + "' has no measured curve on " + part.name + " (" +
         (have.empty() ? "it has none: only auto, its flat attention_efficiency"
                       : "measured: " + have + "; auto = " + own.attention_backend) +
         ")";
}

AcceleratorSpec with_attention_backend(const AcceleratorSpec& part, const std::string& backend) {
  if (const std::string problem = attention_backend_problem(part, backend); !problem.empty()) {
    throw InputError("attention_backend: " + problem);
  }
  AcceleratorSpec p = part;
  for (const auto& b : part.calibration.attention_backends) {
    if (b.name != backend || backend == part.calibration.attention_backend) continue;
    auto& c = p.calibration;
    c.attention_backend = b.name;
    c.attention_forward_efficiency = b.forward_efficiency;
    c.attention_forward_seq_half = b.forward_seq_half;
    c.attention_backward_efficiency = b.backward_efficiency;
    c.attention_backward_seq_half = b.backward_seq_half;
  }
  return p;
}

AcceleratorSpec with_deterministic_attention(const AcceleratorSpec& part) {
  AcceleratorSpec p = part;
  auto& c = p.calibration;
  if (!costs_deterministic_attention(part)) return p;
  const double slowdown = c.deterministic_attention_backward_slowdown;
  if (c.attention_forward_efficiency <= 0) {  // the flat figure for both passes: the forward keeps it
    c.attention_forward_efficiency = c.attention_efficiency;
    c.attention_forward_seq_half = 0;
  }
  if (c.attention_backward_efficiency <= 0) {  // the backward follows the forward's curve
    c.attention_backward_efficiency = c.attention_forward_efficiency;
    c.attention_backward_seq_half = c.attention_forward_seq_half;
  }
  c.attention_backward_efficiency /= slowdown;
  return p;
}

std::string attention_backend_label(const AcceleratorSpec& part, const std::string& backend) {
  const AcceleratorSpec p = with_attention_backend(part, backend);
  if (!p.calibration.attention_backend.empty() && p.calibration.attention_forward_efficiency > 0) {
    return p.calibration.attention_backend;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "flat %.3g of peak", p.calibration.attention_efficiency);
  return buf;
}

const std::vector<std::string>& fp8_gemm_backend_kinds() {
  static const std::vector<std::string> kinds = {"auto", "deepgemm"};
  return kinds;
}

std::string fp8_gemm_backend_problem(const AcceleratorSpec& part, const std::string& backend) {
  if (backend == "auto") return "";
  if (backend != "deepgemm") return unknown_name_message("fp8_gemm_backend", backend, fp8_gemm_backend_kinds());
  if (!part.supports(DType::kFp8)) return "'deepgemm' runs FP8 GEMMs and " + part.name + " has no FP8 tensor cores";
  if (part.calibration.deepgemm_efficiency <= 0) {
    return "'deepgemm' was not measured on " + part.name + " (its calibration has no deepgemm_efficiency; "
           "only auto)";
  }
  return "";
}

AcceleratorSpec with_fp8_gemm_backend(const AcceleratorSpec& part, const std::string& backend) {
  if (const std::string problem = fp8_gemm_backend_problem(part, backend); !problem.empty()) {
    throw InputError("fp8_gemm_backend: " + problem);
  }
  AcceleratorSpec p = part;
  if (backend == "deepgemm") {
    auto& c = p.calibration;
    c.fp8_gemm_efficiency = c.deepgemm_efficiency;
    c.fp8_gemm_k_half = c.deepgemm_k_half;
    c.fp8_split_accumulation_slowdown = 1;  // its measured kernels promote to FP32 already
    c.fp8_wgrad_slowdown = c.deepgemm_wgrad_slowdown > 0 ? c.deepgemm_wgrad_slowdown : 1;
  }
  return p;
}

namespace {

// The part with its FP8 GEMMs `slowdown` times as long as its per-tensor-scaled ones.
AcceleratorSpec with_slower_fp8_gemms(const AcceleratorSpec& part, double slowdown) {
  AcceleratorSpec p = part;
  auto& c = p.calibration;
  const double per_tensor = c.fp8_gemm_efficiency > 0 ? c.fp8_gemm_efficiency : c.gemm_efficiency;
  c.fp8_gemm_efficiency = per_tensor / slowdown;
  return p;
}

}  // namespace

AcceleratorSpec with_mxfp8_gemms(const AcceleratorSpec& part) {
  return with_slower_fp8_gemms(part, part.calibration.mxfp8_gemm_slowdown);
}

AcceleratorSpec with_block_fp8_gemms(const AcceleratorSpec& part) {
  return with_slower_fp8_gemms(part, part.calibration.fp8_block_gemm_slowdown);
}

FlopRate AcceleratorSpec::peak(DType d) const {
  auto it = dense_peak.find(d);
  if (it == dense_peak.end()) {
    throw InputError(name + " has no " + dtype_name(d) + " tensor-core rate; pick another precision");
  }
  return it->second;
}

namespace {
// compute_clock_fraction() as this thread solved it last, by everything the bisection reads (the power fraction and
// the curve): every op cost of a capped part asks it (each GEMM, attention and roofline term of a plan), and the
// bisection is 60 pow() calls. A hit returns what the bisection returned for the same inputs, so op costs are the
// same bit for bit; per thread, so evaluations on several threads share nothing; a few entries, for clusters of
// several capped parts. (Not a field of the part: that changes accelerator.h, which most of the tree includes;
// docs/performance-training-2.md.)
struct SolvedClock {
  double p = -1, linear_share = 0, exponent = 0, fraction = 0;
};
constexpr size_t kSolvedClocks = 8;
thread_local std::array<SolvedClock, kSolvedClocks> solved_clocks;
thread_local size_t next_solved_clock = 0;
}  // namespace

double AcceleratorSpec::compute_clock_fraction() const {
  if (power_cap() == tdp) return 1.0;
  const double p = power_cap().w() / tdp.w();
  for (const SolvedClock& c : solved_clocks) {
    if (c.p == p && c.linear_share == power_clock.linear_share && c.exponent == power_clock.exponent) {
      return c.fraction;
    }
  }
  const double x = DvfsPowerCurve(power_clock).clock_fraction(p);
  solved_clocks[next_solved_clock++ % kSolvedClocks] = {p, power_clock.linear_share, power_clock.exponent, x};
  return x;
}

void KernelCalibration::visit(Section& s) {
  s.field("gemm_efficiency", gemm_efficiency, "fraction of the dense peak reached by large, well-shaped GEMMs",
          Range::fraction());
  s.field("fp8_gemm_efficiency", fp8_gemm_efficiency,
          "fraction of the FP8 dense peak reached by large FP8 GEMMs; 0 = gemm_efficiency", Range::between(0, 1));
  s.field("fp8_split_accumulation_slowdown", fp8_split_accumulation_slowdown,
          "how many times as long an FP8 GEMM takes when it promotes its partial sums to FP32 (cuBLASLt "
          "fast accumulation off, as Transformer Engine and torchao run training's input- and "
          "weight-gradient GEMMs) as the fast-accumulating GEMMs fp8_gemm_efficiency was measured with; "
          "1 = the same (docs/calibration.md)",
          Range::between(1, 4));
  s.field("fp8_wgrad_slowdown", fp8_wgrad_slowdown,
          "the same for FP8 weight-gradient GEMMs alone; 0 = fp8_split_accumulation_slowdown "
          "(fp8_gemm_backend: deepgemm sets deepgemm_wgrad_slowdown here)",
          Range::between(0, 4));
  s.field("mxfp8_gemm_slowdown", mxfp8_gemm_slowdown,
          "how many times as long an MXFP8 GEMM (block scales applied by the tensor cores; fp8_recipe: mxfp8) "
          "takes as the per-tensor FP8 GEMMs of fp8_gemm_efficiency; 1 = the same (docs/calibration.md)",
          Range::between(1, 4));
  s.field("fp8_block_gemm_slowdown", fp8_block_gemm_slowdown,
          "how many times as long a block-scaled FP8 GEMM on Hopper (Transformer Engine's Float8BlockScaling: 1 x 128 "
          "and 128 x 128 scales; fp8_recipe: blockwise) takes as the per-tensor FP8 GEMMs of fp8_gemm_efficiency; "
          "1 = the same (docs/calibration-fp8.md)",
          Range::between(1, 4));
  s.field("fp4_gemm_efficiency", fp4_gemm_efficiency,
          "fraction of the FP4 dense peak reached by large NVFP4 GEMMs (E2M1 values, an E4M3 scale per 16 "
          "elements applied by the tensor cores; precision: fp4); 0 = fp8_gemm_efficiency (docs/calibration-fp8.md)",
          Range::between(0, 1));
  s.field("gemm_k_half", gemm_k_half,
          "inner dimension k at which a GEMM reaches half its efficiency; 0 = no dependence on k",
          Range::at_least(0));
  s.field("fp8_gemm_k_half", fp8_gemm_k_half,
          "gemm_k_half of FP8 GEMMs; 0 = gemm_k_half (fp8_gemm_backend: deepgemm sets deepgemm_k_half here)",
          Range::at_least(0));
  s.field("deepgemm_efficiency", deepgemm_efficiency,
          "fraction of the FP8 dense peak DeepSeek's DeepGEMM fine-grained-scaling FP8 GEMMs reach (with "
          "deepgemm_k_half; fitted to its measured H800 table, docs/calibration.md); used by runs with "
          "fp8_gemm_backend: deepgemm; 0 = not measured on this part",
          Range::between(0, 1));
  s.field("deepgemm_k_half", deepgemm_k_half,
          "inner dimension k at which DeepGEMM's FP8 GEMMs reach half their efficiency (its promotion every 128 "
          "elements of k and its per-tile set-up weigh on short k)",
          Range::at_least(0));
  s.field("deepgemm_wgrad_slowdown", deepgemm_wgrad_slowdown,
          "how many times as long DeepGEMM's weight-gradient kernels (FP32 output, scales along the token axis) "
          "take as its forward rate gives at their shape (fitted to their measured H800 table); 0 = 1",
          Range::between(0, 4));
  s.field("gemm_sustained_efficiency", gemm_sustained_efficiency,
          "ceiling on 16-bit GEMM throughput (fraction of the 16-bit dense peak) that long GEMMs, which run at the "
          "part's sustained clock, do not exceed whatever their tiling; 0 = none (docs/calibration.md)",
          Range::between(0, 1));
  s.field("gemm_tiling", gemm_tiling, "model tile and wave quantization of GEMMs (op_cost.h)");
  s.field("attention_efficiency", attention_efficiency,
          "fraction of the dense peak in fused (flash) attention; a derived part (base: NAME) that sets it without "
          "attention_forward_efficiency runs at this flat figure (the base's sequence-length curve is dropped)",
          Range::fraction());
  s.field("attention_forward_efficiency", attention_forward_efficiency,
          "flash attention's forward plateau at long sequences (fraction of the 16-bit peak; causal); its efficiency "
          "at key/value length s is plateau x s / (s + attention_forward_seq_half); 0 = the flat "
          "attention_efficiency for both passes",
          Range::between(0, 1));
  s.field("attention_forward_seq_half", attention_forward_seq_half,
          "key/value tokens at which flash attention's forward reaches half its plateau", Range::at_least(0));
  s.field("attention_backward_efficiency", attention_backward_efficiency,
          "flash attention's backward plateau (fraction of the 16-bit peak); 0 = attention_forward_efficiency",
          Range::between(0, 1));
  s.field("attention_backward_seq_half", attention_backward_seq_half,
          "key/value tokens at which flash attention's backward reaches half its plateau", Range::at_least(0));
  s.field("deterministic_attention_backward_slowdown", deterministic_attention_backward_slowdown,
          "the deterministic attention backward's time over the default backward's (Transformer Engine with "
          "NVTE_ALLOW_NONDETERMINISTIC_ALGO=0, as Megatron-LM's --deterministic-mode runs it); 0 = not measured "
          "on this part (not costed)",
          Range::at_least(0));
  s.field("attention_backend", attention_backend,
          "the fused-attention kernel the attention_* figures above describe, the part's default for a run's "
          "attention_backend: auto (flash2, flash3, cudnn, flash4; empty = not a named kernel)");
  if (s.mode() == Section::Mode::kParse && !attention_backend.empty()) {
    const auto& k = attention_backend_kinds();
    if (std::find(k.begin(), k.end(), attention_backend) == k.end()) {
      s.error("attention_backend", unknown_name_message("attention backend", attention_backend, k));
    }
  }
  s.list("attention_backends", "other fused-attention kernels measured on this part (a run picks one with the "
         "workload's attention_backend)", attention_backends,
         [](Section& x, AttentionBackendCurve& b) { b.visit(x); });
  s.field("memory_efficiency", memory_efficiency, "fraction of HBM bandwidth reached by memory-bound kernels",
          Range::fraction());
  s.field("norm_efficiency", norm_efficiency,
          "fraction of HBM bandwidth reached by layer/RMS norm kernels; 0 = memory_efficiency", Range::between(0, 1));
  s.field("activation_efficiency", activation_efficiency,
          "fraction of HBM bandwidth reached by activation kernels (GeLU, SwiGLU); 0 = memory_efficiency",
          Range::between(0, 1));
  s.field("rope_efficiency", rope_efficiency,
          "fraction of HBM bandwidth reached by rotary-embedding kernels; 0 = memory_efficiency", Range::between(0, 1));
  s.field("loss_efficiency", loss_efficiency,
          "fraction of HBM bandwidth reached by the loss's kernels over the logits (the cross-entropy's casts, row "
          "max and sum, softmax and gradient); 0 = memory_efficiency", Range::between(0, 1));
  s.field("overlap_sm_share", overlap_sm_share,
          "share of the compute units a collective running beside the kernels takes: kernels in flight with one "
          "take 1 / (1 - share) as long (training workloads)",
          Range::between(0, 0.9));
  s.field("kernel_launch", kernel_launch, "fixed overhead of every kernel (launch and dependency gap)",
          Range::at_least(0));
  s.field("source", source, "where these parameters come from");
}

void AcceleratorSpec::visit(Section& s) {
  s.field("name", name, "part name, as scenarios refer to it");
  s.field("vendor", vendor, "manufacturer");
  s.section("dense_peak", "dense tensor-core peak per data type; 0 or absent = not supported", [&](Section& p) {
    for (const auto& dn : dtype_names()) {
      const DType d = parse_dtype(dn);
      FlopRate r = supports(d) ? dense_peak.at(d) : FlopRate();
      p.field(dn, r, dn + " peak", Range::at_least(0));
      if (p.mode() == Section::Mode::kParse) {
        if (r.flop_per_s() > 0) dense_peak[d] = r;
        else dense_peak.erase(d);
      }
    }
  });
  s.field("compute_units", compute_units, "SMs, CUs or engines (for wave quantization)", Range::at_least(1));
  s.field("hbm_capacity", hbm_capacity, "device memory", Range::positive());
  s.field("hbm_bandwidth", hbm_bandwidth, "device memory bandwidth", Range::positive());
  s.field("scale_up_bandwidth", scale_up_bandwidth, "scale-up (NVLink-class) bandwidth per device, per direction",
          Range::positive());
  s.field("scale_up_domain", scale_up_domain, "devices in one scale-up domain", Range::at_least(1));
  s.field("scale_up_reduction", scale_up_reduction,
          "scale-up switches reduce in the network (NVLink SHARP, used by NCCL's NVLS algorithm)");
  s.field("block_scaled_fp8", block_scaled_fp8,
          "the tensor cores apply MX block scales (OCP microscaling, 32 elements per E8M0 scale) at the FP8 rate: "
          "Blackwell's; a run may use fp8_recipe: mxfp8 on it");
  s.field("non_tn_fp8_gemm", non_tn_fp8_gemm,
          "FP8 GEMMs take either operand transposed (Blackwell, SM 10.x; Transformer Engine's "
          "nvte_is_non_tn_fp8_gemm_supported): a per-tensor-scaled FP8 cast writes no transposed copy; false = TN "
          "only (Hopper): each FP8 cast also writes the transpose");
  s.field("scale_up_mesh", scale_up_mesh,
          "the scale-up domain is a full mesh of point-to-point links without a switch (AMD Infinity Fabric): one "
          "link of scale_up_bandwidth / (scale_up_domain - 1) between any two devices, so a pair's traffic is "
          "bounded by that link, a device sending to k peers at once uses k links, and ring collectives follow "
          "cycles of the mesh that share no link; false = switched (NVSwitch): a pair gets the whole "
          "scale_up_bandwidth");
  s.field("tdp", tdp, "power when busy (thermal design power); also the highest power_limit the part accepts",
          Range::positive());
  s.field("idle_power", idle_power, "power when idle", Range::at_least(0));
  s.field("power_limit", power_limit,
          "board power limit (nvidia-smi -pl): compute-bound kernels (GEMMs, attention) run at the clock it sustains, "
          "memory-bound ones and collectives at full speed, and a computing GPU draws it instead of tdp; between "
          "min_power_limit and tdp; 0 = tdp (docs/calibration.md, \"Power limits\")",
          Range::at_least(0));
  s.field("min_power_limit", min_power_limit,
          "the lowest power_limit the part accepts (nvidia-smi's Min Power Limit); 0 = not known: idle_power",
          Range::at_least(0));
  s.section("power_clock", "how the compute clock follows power_limit: power fraction p = linear_share x + (1 - "
            "linear_share) x^exponent at clock fraction x, both of their values at tdp (power_limit.h)",
            [&](Section& c) { power_clock.visit(c); });
  s.choice("confidence", confidence, {"datasheet", "medium", "low"}, "how sure the numbers are");
  s.section("calibration", "kernel-efficiency parameters (lcsim calibrate)", [&](Section& c) { calibration.visit(c); });
  s.section("collectives", "measured scale-up collective calibration (NCCL protocols; bench/fit_nccl_scaleup.py)",
            [&](Section& c) { collectives.visit(c); });
  if (s.mode() == Section::Mode::kParse && dense_peak.empty()) {
    s.error("dense_peak", "a part needs at least one data type with a peak rate");
  }
  if (s.mode() == Section::Mode::kParse && scale_up_mesh && scale_up_domain < 2) {
    s.error("scale_up_mesh", "a mesh needs a scale_up_domain of at least 2 devices (it is " +
                                 std::to_string(scale_up_domain) + ")");
  }
  if (s.mode() == Section::Mode::kParse && idle_power > tdp) {
    s.error("idle_power", "must not exceed tdp (" + to_string(tdp) + ")");
  }
  if (s.mode() == Section::Mode::kParse && power_limit.w() > 0) {
    const Power lowest = min_power_limit.w() > 0 ? min_power_limit : idle_power;
    if (power_limit > tdp || power_limit < lowest) {
      s.error("power_limit", "must be between " + to_string(lowest) + " (" +
                                 (min_power_limit.w() > 0 ? "min_power_limit" : "idle_power: no min_power_limit") +
                                 ") and " + to_string(tdp) + " (tdp), the limits " + name + " accepts; got " +
                                 to_string(power_limit));
    }
  }
}

}  // namespace lcsim::hw
