// A group of a layer's kernels (gpt_model.h's LayerOps) split at one of its GEMMs, for the plans that run
// something beside that GEMM alone (Transformer Engine's overlapped GEMMs, megatron_tp_overlap.cc; a sequence-parallel
// column-parallel linear's backward, megatron_plan.cc).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "models/hardware/accelerator.h"
#include "sim/error.h"
#include "workloads/training/gpt_model.h"

namespace lcsim::wl {

/// A group's GEMM `name`: the kernels before its input casts, the casts (FP8: amax and cast-transpose), the GEMM,
/// the kernels after it.
struct GemmSplit {
  std::vector<hw::OpWork> pre, casts;
  hw::OpWork gemm;
  std::vector<hw::OpWork> post;
};

inline bool has_op(const std::vector<hw::OpWork>& group, const std::string& name) {
  return std::any_of(group.begin(), group.end(), [&](const hw::OpWork& op) { return op.name == name; });
}

inline GemmSplit split_at(const std::vector<hw::OpWork>& group, const std::string& name) {
  const auto it = std::find_if(group.begin(), group.end(), [&](const hw::OpWork& op) { return op.name == name; });
  LCSIM_ASSERT(it != group.end(), "the layer has no GEMM " + name);
  auto c = it;
  while (c != group.begin() && (is_fp8_cast(*(c - 1)) || is_fp8_amax(*(c - 1)))) --c;
  return {{group.begin(), c}, {c, it}, *it, {it + 1, group.end()}};
}

}  // namespace lcsim::wl
