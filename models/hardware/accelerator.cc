#include "models/hardware/accelerator.h"

#include <algorithm>

namespace lcsim::hw {

const std::vector<std::string>& dtype_names() {
  static const std::vector<std::string> names = {"fp32", "tf32", "bf16", "fp16", "fp8", "int8"};
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
  }
  return 4;
}

FlopRate AcceleratorSpec::peak(DType d) const {
  auto it = dense_peak.find(d);
  if (it == dense_peak.end()) {
    throw InputError(name + " has no " + dtype_name(d) + " tensor-core rate; pick another precision");
  }
  return it->second;
}

void ComputeEfficiency::visit(Section& s) {
  s.field("gemm", gemm, "achieved fraction of the dense peak in large matrix multiplies", Range::fraction());
  s.field("attention", attention, "achieved fraction of the dense peak in fused (flash) attention", Range::fraction());
  s.field("memory", memory, "achieved fraction of HBM bandwidth in memory-bound kernels", Range::fraction());
  s.field("kernel_launch", kernel_launch, "fixed overhead added to every kernel", Range::at_least(0));
}

Duration op_time(const AcceleratorSpec& part, const ComputeEfficiency& eff, DType dtype, const OpWork& op) {
  double compute_eff = 1.0;
  switch (op.op_class) {
    case OpClass::kGemm: compute_eff = eff.gemm; break;
    case OpClass::kAttention: compute_eff = eff.attention; break;
    case OpClass::kMemory: compute_eff = eff.gemm; break;  // any arithmetic in a memory-bound kernel
  }
  const Duration compute = op.flops / (part.peak(dtype) * compute_eff);
  const Duration memory = op.bytes / (part.hbm_bandwidth * eff.memory);
  return std::max(compute, memory) + eff.kernel_launch;
}

namespace {

// NVIDIA H100 Tensor Core GPU datasheet (SXM5 column), dense figures = half the "with sparsity" ones.
AcceleratorSpec h100_sxm_80gb() {
  AcceleratorSpec a;
  a.name = "H100-SXM-80GB";
  a.dense_peak = {{DType::kFp32, FlopRate::tflops(66.9)},  {DType::kTf32, FlopRate::tflops(494.7)},
                  {DType::kBf16, FlopRate::tflops(989.4)}, {DType::kFp16, FlopRate::tflops(989.4)},
                  {DType::kFp8, FlopRate::tflops(1978.9)}, {DType::kInt8, FlopRate::tflops(1978.9)}};
  a.hbm_capacity = Bytes::gb(80);
  a.hbm_bandwidth = Bandwidth::gbytes_per_s(3350);
  a.scale_up_bandwidth = Bandwidth::gbytes_per_s(450);  // NVLink 4: 900 GB/s bidirectional
  a.scale_up_domain = 8;
  a.tdp = Power::watts(700);
  a.source = "NVIDIA H100 Tensor Core GPU datasheet (SXM5)";
  return a;
}

// NVIDIA A100 Tensor Core GPU datasheet (80GB SXM column), dense figures.
AcceleratorSpec a100_sxm_80gb() {
  AcceleratorSpec a;
  a.name = "A100-SXM-80GB";
  a.dense_peak = {{DType::kFp32, FlopRate::tflops(19.5)}, {DType::kTf32, FlopRate::tflops(156)},
                  {DType::kBf16, FlopRate::tflops(312)},  {DType::kFp16, FlopRate::tflops(312)},
                  {DType::kInt8, FlopRate::tflops(624)}};
  a.hbm_capacity = Bytes::gb(80);
  a.hbm_bandwidth = Bandwidth::gbytes_per_s(2039);
  a.scale_up_bandwidth = Bandwidth::gbytes_per_s(300);  // NVLink 3: 600 GB/s bidirectional
  a.scale_up_domain = 8;
  a.tdp = Power::watts(400);
  a.source = "NVIDIA A100 Tensor Core GPU datasheet (80GB SXM)";
  return a;
}

}  // namespace

void register_accelerators(Registry<AcceleratorFactory>& r) {
  r.add("H100-SXM-80GB", "NVIDIA H100 SXM5 80GB: 989.4 TFLOP/s dense bf16, 3.35 TB/s HBM3, NVLink 4",
        &h100_sxm_80gb);
  r.add("A100-SXM-80GB", "NVIDIA A100 SXM4 80GB: 312 TFLOP/s dense bf16, 2.04 TB/s HBM2e, NVLink 3",
        &a100_sxm_80gb);
}

}  // namespace lcsim::hw
