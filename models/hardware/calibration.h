// Calibration: fit a part's kernel-efficiency parameters (KernelCalibration) to measured kernel times.
// Measurements are a CSV with the header `operator,dtype,m,n,k,time_us` (operator: gemm; C[m x n] = A[m x k]
// B[k x n]; dtype a precision name, or mxfp8 for FP8 GEMMs with MXFP8 block scales). The fit minimises the squared
// log error (relative error, so small and large kernels count alike) with Nelder-Mead over gemm_efficiency,
// gemm_k_half, memory_efficiency and kernel_launch, from fixed starting points: deterministic. `lcsim calibrate`
// writes the result as a YAML file that a scenario's accelerator can name (`calibration_file:`).
#pragma once

#include <string>
#include <vector>

#include "models/hardware/op_cost.h"

namespace lcsim::hw {

struct KernelMeasurement {
  std::string op;  // "gemm"
  DType dtype = DType::kBf16;
  bool block_scaled = false;  // dtype mxfp8 in the CSV: an FP8 GEMM with MXFP8's block scales (mxfp8_gemm_slowdown)
  GemmShape shape;
  Duration time;
  int line = 0;  // in the CSV
  std::string dtype_label() const { return block_scaled ? "mxfp8" : dtype_name(dtype); }
};

/// The model's time for one measurement: its GEMM on the part, an MXFP8 one at the part's block-scaled rate.
Duration predicted_time(const AcceleratorSpec& part, const KernelMeasurement& m);

/// Reads a measurement CSV; every bad row is an InputError "file:line: column: message" (all reported).
std::vector<KernelMeasurement> read_measurements(const std::string& path);

struct FitReport {
  KernelCalibration calibration;
  std::vector<Duration> predicted;  // per measurement
  double median_abs_error = 0;      // relative: |predicted - measured| / measured
  double p90_abs_error = 0;
  double max_abs_error = 0;
};

/// Model error of `part` (with its current calibration) on the measurements.
FitReport evaluate(const AcceleratorSpec& part, const std::vector<KernelMeasurement>& data);
/// Fits part.calibration to the measurements (other fields of the calibration are kept). Measurements that are all
/// FP8 GEMMs fit fp8_gemm_efficiency alone, keeping the part's 16-bit GEMM terms (k_half, launch, memory). With
/// `from`, only the measurements that ran that long or longer are fitted (training-size kernels, where the tile
/// model's waves do not describe a part's short ones); the report covers every measurement.
FitReport fit(const AcceleratorSpec& part, const std::vector<KernelMeasurement>& data, Duration from = Duration());
/// Fits gemm_sustained_efficiency alone to the measurements that ran `from` or longer (the part's other terms
/// kept); the report covers every measurement.
FitReport fit_sustained(const AcceleratorSpec& part, const std::vector<KernelMeasurement>& data, Duration from);

/// The calibration file: `part: NAME`, `calibration: {...}`.
std::string calibration_yaml(const std::string& part_name, const KernelCalibration& c);

}  // namespace lcsim::hw
