// What a training step costs beyond its layers' kernels (docs/calibration.md, "Framework overhead and the
// optimizer step"):
//  - HostIssue: in eager-mode PyTorch (Megatron-LM, FSDP) the CPU issues every kernel; a kernel cannot start
//    before the host has issued it. A group of n kernels therefore takes at least n x op_time, however short the
//    kernels, and a pass that starts after the host waited on the GPU (a pipeline receive) exposes one op_time
//    before its first kernel runs. op_time is the host time of one kernel-issuing operator, measured on a PyTorch
//    execution trace (median 23 us, mlcommons/chakra's feeder test trace; data/README.md; the default here), or
//    per launch fitted to a measured CUDA-graph A/B for Megatron-core (62 us, the megatron workload's default). A
//    grouped operator that loops over local experts in C++ (Transformer Engine's GroupedLinear on its multi-stream
//    cuBLAS path) pays one op_time and expert_launch_time per further expert (docs/calibration.md). work() says
//    what a host already ahead of the GPU can hide (the megatron workload's runahead model, Segment::run).
//  - OptimizerStep: mixed-precision Adam's passes over HBM, bound by memory: the gradient norm for clipping (read
//    every gradient), the update (read fp32 gradient, master, m, v; write master, m, v and the 16-bit weights: 30 B
//    per parameter) and zeroing the gradient buffer for the next step (Megatron-LM's clip_grad_norm_fp32 and
//    zero_grad_buffer), each a handful of multi-tensor kernels.
// Assumes no CPU contention and no Python garbage collection pauses.
#pragma once

#include <cstddef>
#include <set>
#include <string>

#include "models/hardware/accelerator.h"
#include "sim/units.h"

namespace lcsim::hw {

class HostIssue {
 public:
  struct Config {
    Duration op_time = Duration::us(23);  // host time per kernel-issuing operator; 0 = the host is never the limit
    // Host time of each further kernel a grouped operator issues from its own C++ loop, one per local expert
    // (Transformer Engine's GroupedLinear: a cuBLAS GEMM or a quantization kernel per expert).
    Duration expert_launch_time = Duration::us(8.3);
    // false: the host issues ahead of the GPU, a group takes the larger of its GPU time and its issue time (the
    // default); true: no overlap at all, the issue time added to the GPU time (an upper bound on what the host
    // costs, for what-ifs: workload.host_issue_model serial).
    bool serial = false;
    // With overlap: whether a host already ahead of the GPU keeps its lead from one group to the next (Work::slack
    // is what it can hide; workload.host_issue_model runahead); false: every group starts with the host and the GPU
    // together (slack 0).
    bool runahead = false;
    // Host time of each framework module call beyond its kernels' launches (a Transformer Engine module's forward or
    // backward: its Python, quantizer and workspace bookkeeping; docs/calibration.md, "Host time per module call").
    Duration module_time = Duration();
    // Host time of each further expert's GEMM of such an operator (Transformer Engine's nvte_cublas_gemm per local
    // expert: it builds its cuBLASLt descriptors and queries the heuristic on every call); its other per-expert
    // kernels (the quantization casts) take expert_launch_time.
    Duration expert_gemm_launch_time = Duration::us(8.3);
    // Host time of each further local expert per grouped expert module call (a Transformer Engine GroupedLinear's
    // forward or backward: its Python per expert beyond the launches; a what-if, 0 by default).
    Duration expert_module_time = Duration();
  };
  /// A group of kernels as the host issues them: `time` when the host starts issuing as the GPU starts (what
  /// group_time returns), `slack` the part of it the host's issue adds beyond the kernels' own time (a host that is
  /// already ahead of the GPU hides up to that much; 0 for the serial bound), `issue` the host's time to issue them,
  /// `wait` the part of `time` that is the host's whatever the model (time less the kernels' own time: the slack
  /// with runahead, the same excess with overlapped, the issue time with serial).
  struct Work {
    Duration time, slack, issue, wait;
    Work& operator+=(const Work& o) {
      time += o.time, slack += o.slack, issue += o.issue, wait += o.wait;
      return *this;
    }
    Work operator+(const Work& o) const { return Work(*this) += o; }
    Work operator*(double f) const { return {time * f, slack * f, issue * f, wait * f}; }
  };
  explicit HostIssue(const Config& config) : config_(config) {}
  /// A group of `kernels` kernels that take `gpu` on the device, issued back to back by the host (serial: after
  /// the issue time rather than beside it).
  Duration group_time(Duration gpu, size_t kernels) const;
  /// The same where `per_expert` of the group's operators each issue one kernel per local expert (`experts`):
  /// the operator's own op_time, then expert_launch_time for each of the other experts' kernels.
  Duration group_time(Duration gpu, size_t kernels, size_t per_expert, int experts) const;
  /// group_time's result with its slack and issue time (Work); `modules` framework module calls add module_time each;
  /// `per_expert_gemms` of the `per_expert` operators are GEMMs, whose further experts take expert_gemm_launch_time.
  /// `expert_modules` of the `modules` are grouped expert module calls, each adding expert_module_time per further expert.
  Work work(Duration gpu, size_t kernels, size_t per_expert = 0, int experts = 1, size_t modules = 0,
            size_t per_expert_gemms = 0, size_t expert_modules = 0) const;
  /// Host work with no kernel of its own (`d` of the host's time): what it adds to a group as work() would count it.
  Work host_only(Duration d) const {
    if (config_.serial) return {d, Duration(), d, d};
    return {d, config_.runahead ? d : Duration(), d, d};
  }
  /// Exposed at the start of a pass that follows a host synchronization (a blocking pipeline receive).
  Duration pass_start() const { return config_.op_time; }

 private:
  Config config_;
};

/// The parts whose node's host is not as fast as a DGX H100's (AcceleratorSpec::host_op_time_factor), for a run's
/// header: "1.85 (GB200-GPU's host)", by part name, joined by ", "; empty when every host is.
std::string host_factor_label(const std::set<const AcceleratorSpec*>& parts);

struct OptimizerStep {
  double updated_params = 0;  // parameters this GPU updates (1/DP of them with a sharded optimizer)
  double buffer_params = 0;   // parameters in this GPU's gradient buffer (zeroed every step)
  double grad_bytes = 4;      // bytes per gradient element (fp32 main gradients; 2 for bf16)
  double moment_bytes = 8;    // Adam's two moments per parameter (fp32: 8; bf16: 4)
};
/// Bytes the step moves through HBM: gradient norm (updated x grad_bytes), Adam (updated x 30 B with fp32
/// moments: read the gradient, master weight and moments, write the master and moments and the 16-bit weight;
/// each moment read and written in its own type), zeroing
/// (buffer x grad_bytes).
Bytes optimizer_step_bytes(const OptimizerStep& s);
/// Those bytes at the part's streaming efficiency, plus five kernel launches (norm, clip scale, the fused Adam,
/// the 16-bit copy, the memset).
Duration optimizer_step_time(const AcceleratorSpec& part, const OptimizerStep& s);

}  // namespace lcsim::hw
