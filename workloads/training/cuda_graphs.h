// CUDA graphs in a Megatron layer (MegatronConfig::cuda_graph_impl and cuda_graph_scope; docs/training-cuda-graphs.md):
// which kernels a layer's captured modules hold, and how many launches the host issues for a group of kernels when
// each run of captured ones is one graph launch.
#pragma once

#include <string>
#include <unordered_set>
#include <vector>

#include "models/hardware/op_cost.h"
#include "workloads/training/gpt_model.h"
#include "workloads/training/megatron_config.h"

namespace lcsim::wl {

/// The forward names of the kernels CUDA graphs capture in transformer layer `layer` (with `ops` its kernels): the
/// scope's modules (attn, mlp, moe_router, moe_preprocess, moe; the whole layer without a scope); empty without
/// graphs and for the MTP modules' layers (layer >= num_layers).
std::unordered_set<std::string> captured_kernels(const MegatronConfig& c, int layer, const LayerOps& ops);

/// Whether `op` is a kernel of a captured module: its forward name in `captured` (its backward, gradient and
/// accumulation kernels count as it, by name).
bool is_captured(const hw::OpWork& op, const std::unordered_set<std::string>& captured);

/// The host's launches for `ops` under graphs: one per run of consecutive captured kernels (a kernel's backward,
/// gradient and accumulation kernels count as it, by name); the kernels issued one by one are added to `issued`.
size_t graph_launches(const std::vector<hw::OpWork>& ops, const std::unordered_set<std::string>& captured,
                      std::vector<hw::OpWork>& issued);

}  // namespace lcsim::wl
