// Accelerator model: datasheet peaks (dense FLOP rate per data type, HBM, scale-up link) and a roofline
// operator cost: time = max(FLOPs / (peak x efficiency), bytes / (HBM bandwidth x efficiency)) + launch overhead.
// Constants and their sources: docs/calibration.md. Efficiencies are placeholders until calibrated (issue 3).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "sim/config.h"
#include "sim/registry.h"
#include "sim/units.h"

namespace lcsim::hw {

enum class DType { kFp32, kTf32, kBf16, kFp16, kFp8, kInt8 };
const std::vector<std::string>& dtype_names();  // "fp32", "tf32", "bf16", "fp16", "fp8", "int8"
DType parse_dtype(const std::string& name);     // asserts: names are validated by Section::choice
std::string dtype_name(DType d);
/// Bytes per element of a data type.
double dtype_bytes(DType d);

/// Datasheet description of one accelerator part.
struct AcceleratorSpec {
  std::string name;
  std::map<DType, FlopRate> dense_peak;  // dense (no structured sparsity) tensor-core peaks
  Bytes hbm_capacity;
  Bandwidth hbm_bandwidth;
  Bandwidth scale_up_bandwidth;  // per GPU, per direction (NVLink: half the bidirectional figure)
  int scale_up_domain = 8;       // GPUs in one scale-up (NVLink) domain
  Power tdp;
  std::string source;            // where the numbers come from (short; details in docs/calibration.md)

  /// Peak for a data type; InputError if the part has none (e.g. fp8 on A100).
  FlopRate peak(DType d) const;
};

/// Achieved fractions of peak, by operator class (calibrated per part in a later issue).
struct ComputeEfficiency {
  double gemm = 0.75;
  double attention = 0.55;
  double memory = 0.85;
  Duration kernel_launch = Duration::us(4);
  void visit(Section& s);
};

enum class OpClass { kGemm, kAttention, kMemory };

/// One kernel's work: FLOPs and HBM traffic.
struct OpWork {
  const char* name;
  OpClass op_class;
  Flops flops;
  Bytes bytes;
};

/// Roofline cost of one kernel on one accelerator.
Duration op_time(const AcceleratorSpec& part, const ComputeEfficiency& eff, DType dtype, const OpWork& op);

using AcceleratorFactory = AcceleratorSpec (*)();
/// Built-in catalog: H100-SXM-80GB, A100-SXM-80GB.
void register_accelerators(Registry<AcceleratorFactory>& r);

}  // namespace lcsim::hw
