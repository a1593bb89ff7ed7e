#include "models/hardware/op_cost.h"

#include <algorithm>
#include <cmath>

namespace lcsim::hw {
namespace {

struct Tile {
  double m, n, factor;
};
// Output tiles a GEMM library chooses from, with their efficiency relative to the largest. Assumed values
// (typical CUTLASS/cuBLAS Hopper and Ampere tiles; smaller tiles reuse less data per load).
constexpr Tile kTiles[] = {{128, 256, 1.0}, {128, 128, 0.92}, {64, 128, 0.8}, {64, 64, 0.6}};

}  // namespace

OpWork gemm_op(std::string name, const GemmShape& s, double e) {
  OpWork op;
  op.name = std::move(name);
  op.op_class = OpClass::kGemm;
  op.gemm = s;
  op.flops = Flops::of(2 * s.m * s.n * s.k * s.batch);
  op.bytes = Bytes::of(e * s.batch * (s.m * s.k + s.k * s.n + s.m * s.n));
  return op;
}

OpWork attention_op(std::string name, const AttentionShape& s, double e) {
  OpWork op;
  op.name = std::move(name);
  op.op_class = OpClass::kAttention;
  op.attention = s;
  double pairs = s.q_len * s.kv_len;
  if (s.causal && s.q_len > 1) pairs = s.bottom_right ? pairs - 0.5 * s.q_len * s.q_len : 0.5 * pairs;
  const double fwd = 4 * s.batch * s.heads * pairs * s.head_dim;
  op.flops = Flops::of(s.backward ? 2.5 * fwd : fwd);
  // Q and O per query head, K and V per key/value head; backward reads them again and writes the gradients.
  const double qo = 2 * s.batch * s.q_len * s.heads * s.head_dim;
  const double kv = 2 * s.batch * s.kv_len * s.kv_heads * s.head_dim;
  op.bytes = Bytes::of(e * (qo + kv) * (s.backward ? 2.0 : 1.0));
  return op;
}

OpWork memory_op(std::string name, Bytes bytes, MemoryKind kind) {
  OpWork op;
  op.name = std::move(name);
  op.op_class = OpClass::kMemory;
  op.memory_kind = kind;
  op.bytes = bytes;
  return op;
}

double memory_efficiency(const AcceleratorSpec& part, MemoryKind kind) {
  const auto& c = part.calibration;
  double e = 0;
  switch (kind) {
    case MemoryKind::kStreaming: break;
    case MemoryKind::kNorm: e = c.norm_efficiency; break;
    case MemoryKind::kActivation: e = c.activation_efficiency; break;
    case MemoryKind::kRope: e = c.rope_efficiency; break;
    case MemoryKind::kLoss: e = c.loss_efficiency; break;
  }
  return e > 0 ? e : c.memory_efficiency;
}

// FP8 or FP4: the quantized GEMM types, which share FP8's terms where FP4 has none of its own and keep 16-bit work
// (keep_16bit GEMMs, attention) at the 16-bit rate.
static bool quantized(DType d) { return d == DType::kFp8 || d == DType::kFp4; }

double gemm_efficiency(const AcceleratorSpec& part, DType dtype) {
  const auto& c = part.calibration;
  if (dtype == DType::kFp4 && c.fp4_gemm_efficiency > 0) return c.fp4_gemm_efficiency;
  return quantized(dtype) && c.fp8_gemm_efficiency > 0 ? c.fp8_gemm_efficiency : c.gemm_efficiency;
}

double gemm_sustained_efficiency(const AcceleratorSpec& part, DType dtype) {
  const double ceiling = part.calibration.gemm_sustained_efficiency;
  const bool sixteen_bit = dtype == DType::kBf16 || dtype == DType::kFp16;
  return sixteen_bit && ceiling > 0 ? ceiling : 1.0;
}

Duration memory_time(const AcceleratorSpec& part, Bytes bytes, MemoryKind kind) {
  return bytes / (part.hbm_bandwidth * memory_efficiency(part, kind)) + part.calibration.kernel_launch;
}

Duration gemm_time(const AcceleratorSpec& part, DType dtype, const GemmShape& s) {
  const auto& c = part.calibration;
  if (s.streams >= 1 && s.batch > 1) {  // separate kernels on S streams: rounds of S, then the rest together
    GemmShape round = s;
    round.streams = 0;
    round.batch = std::min(s.streams, s.batch);
    const double rounds = std::floor(s.batch / round.batch), rest = s.batch - rounds * round.batch;
    Duration t = gemm_time(part, dtype, round) * rounds;
    if (rest > 0) {
      round.batch = rest;
      t = t + gemm_time(part, dtype, round);
    }
    return t;
  }
  if (s.keep_16bit && quantized(dtype) && part.supports(DType::kBf16)) dtype = DType::kBf16;
  const double e = dtype_bytes(dtype);
  const Duration memory =
      Bytes::of(e * s.batch * (s.m * s.k + s.k * s.n + s.m * s.n)) / (part.hbm_bandwidth * c.memory_efficiency);
  const double k_half = quantized(dtype) && c.fp8_gemm_k_half > 0 ? c.fp8_gemm_k_half : c.gemm_k_half;
  const double k_factor = k_half > 0 ? s.k / (s.k + k_half) : 1.0;
  // An FP8 GEMM that promotes its partial sums to FP32 runs slower than the fast-accumulating ones measured.
  const double slowdown =
      s.weight_gradient && c.fp8_wgrad_slowdown > 0 ? c.fp8_wgrad_slowdown : c.fp8_split_accumulation_slowdown;
  const double accumulation = dtype == DType::kFp8 && s.split_accumulation ? 1 / slowdown : 1.0;
  // Under a power limit the compute clock, and with it every compute rate, falls (power_limit.h); 1 without one.
  const double clock = part.compute_clock_fraction();
  const FlopRate rate = part.peak(dtype) * (gemm_efficiency(part, dtype) * k_factor * accumulation) * clock;
  Duration compute;
  if (!c.gemm_tiling) {
    compute = Flops::of(2 * s.m * s.n * s.k * s.batch) / rate;
  } else {
    double best = std::numeric_limits<double>::infinity();
    const double units = part.compute_units;
    for (const Tile& t : kTiles) {
      const double tiles = std::ceil(s.m / t.m) * std::ceil(s.n / t.n) * s.batch;
      // Split-K: with fewer tiles than units, the library splits the inner dimension (slices of >= 256) so that
      // idle units take part.
      const double splits = std::clamp(std::floor(units / tiles), 1.0, std::max(1.0, std::floor(s.k / 256)));
      const double waves = std::ceil(tiles * splits / units);
      const double padded = 2 * waves * units * t.m * t.n * (s.k / splits);
      best = std::min(best, padded / (rate.flop_per_s() * t.factor));
    }
    compute = Duration::seconds(best);
  }
  // Long GEMMs run at the sustained clock: no tiling beats the part's sustained 16-bit ceiling.
  const Duration sustained = Flops::of(2 * s.m * s.n * s.k * s.batch) /
                             (part.peak(dtype) * gemm_sustained_efficiency(part, dtype) * clock);
  return std::max({compute, sustained, memory}) + c.kernel_launch;
}

AcceleratorSpec with_compute_units(const AcceleratorSpec& part, int units) {
  AcceleratorSpec fewer = part;
  fewer.compute_units = units;
  for (auto& [dtype, rate] : fewer.dense_peak) rate = rate * (1.0 * units / part.compute_units);
  return fewer;
}

Duration attention_time(const AcceleratorSpec& part, DType dtype, const AttentionShape& s) {
  const auto& c = part.calibration;
  const OpWork op = attention_op("attention", s, dtype_bytes(dtype) < 2 ? 2 : dtype_bytes(dtype));
  // FP8 training keeps attention in 16 bits (Transformer Engine casts only the linear layers' GEMMs unless FP8
  // attention is asked for, which lcsim does not model): its FLOPs run at the 16-bit peak.
  const DType math = quantized(dtype) && part.supports(DType::kBf16) ? DType::kBf16 : dtype;
  const Duration compute = op.flops / (part.peak(math) * attention_efficiency(part, s) * part.compute_clock_fraction());
  const Duration memory = op.bytes / (part.hbm_bandwidth * c.memory_efficiency);
  return std::max(compute, memory) + c.kernel_launch;
}

double attention_efficiency(const AcceleratorSpec& part, const AttentionShape& s) {
  const auto& c = part.calibration;
  if (c.attention_forward_efficiency <= 0) return c.attention_efficiency;
  const bool own_backward = s.backward && c.attention_backward_efficiency > 0;
  const double plateau = own_backward ? c.attention_backward_efficiency : c.attention_forward_efficiency;
  const double half = own_backward ? c.attention_backward_seq_half : c.attention_forward_seq_half;
  return plateau * s.kv_len / (s.kv_len + half);
}

Duration op_time(const AcceleratorSpec& part, DType dtype, const OpWork& op) {
  // Each further launch of an op that stands for several kernels (OpWork::launches) is one more kernel's fixed cost.
  const Duration more = op.launches > 1 ? part.calibration.kernel_launch * (op.launches - 1) : Duration();
  switch (op.op_class) {
    case OpClass::kGemm: return gemm_time(part, dtype, op.gemm) + more;
    case OpClass::kAttention: return attention_time(part, dtype, op.attention) + more;
    case OpClass::kMemory: return memory_time(part, op.bytes, op.memory_kind) + more;
  }
  return Duration();
}

Duration roofline_time(const AcceleratorSpec& part, DType dtype, Flops flops, Bytes bytes) {
  const auto& c = part.calibration;
  const double eff = std::min(gemm_efficiency(part, dtype), gemm_sustained_efficiency(part, dtype));
  const Duration compute =
      flops.flop() > 0 ? flops / (part.peak(dtype) * eff * part.compute_clock_fraction()) : Duration();
  const Duration memory = bytes / (part.hbm_bandwidth * c.memory_efficiency);
  return std::max(compute, memory) + c.kernel_launch;
}

Duration total_time(const std::vector<OpWork>& ops, const AcceleratorSpec& part, DType dtype) {
  Duration d;
  for (const auto& op : ops) d += op_time(part, dtype, op);
  return d;
}

Flops total_flops(const std::vector<OpWork>& ops) {
  Flops f;
  for (const auto& op : ops) f += op.flops;
  return f;
}

}  // namespace lcsim::hw
