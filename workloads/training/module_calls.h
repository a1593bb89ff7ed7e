// Framework module calls among a group of kernels: what the host spends beyond its kernel launches in eager-mode
// Megatron-core (hw::HostIssue::Config::module_time; docs/calibration.md, "Host time per module call").
//
// A module call is one forward or backward of a Transformer Engine (or Megatron) module, whose Python, quantizer and
// workspace bookkeeping run on the host before its kernels: a linear layer's forward GEMM and its backward (counted
// at the input-gradient GEMM: its weight gradient is computed in the same call), a core attention's forward and
// backward (a context-parallel ring's steps are one call: Transformer Engine's AttnFuncWithCPAndKVP2P loops over them
// inside it; an unfused core attention's two batched GEMMs are one call), the output layer and an MTP projection.
// The MoE router's gate is not counted: its host time is its kernels' launches (moe_router.cc counts them). A
// grouped expert module (Transformer Engine's GroupedLinear) is one call for all local experts; Megatron-core's
// SequentialMLP calls each expert's modules once per local expert (the caller multiplies).
#pragma once

#include <cstddef>
#include <vector>

#include "models/hardware/op_cost.h"

namespace lcsim::wl {

/// Counts module calls over kernels given in issue order, one group or one layer's pass at a time: a context-parallel
/// ring's attention steps count once per counter (make one counter per pass, or per group of a pass).
class ModuleCalls {
 public:
  /// 1 where `op` starts a module call, else 0.
  size_t count(const hw::OpWork& op);
  size_t count(const std::vector<hw::OpWork>& ops);

 private:
  bool cp_forward_ = false, cp_backward_ = false;  // a ring's step already counted
};

/// Module calls among one group's kernels (a fresh counter).
size_t module_calls(const std::vector<hw::OpWork>& ops);
/// The routed experts' module calls among them (expert_up, expert_down and their input gradients): what
/// SequentialMLP repeats for each further local expert.
size_t expert_module_calls(const std::vector<hw::OpWork>& ops);

}  // namespace lcsim::wl
