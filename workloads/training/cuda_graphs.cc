#include "workloads/training/cuda_graphs.h"

#include <algorithm>
#include <cstdint>
#include <string_view>

namespace lcsim::wl {

std::unordered_set<std::string> captured_kernels(const MegatronConfig& c, int layer, const LayerOps& ops) {
  std::unordered_set<std::string> out;
  const GptModelConfig& m = c.model;
  if (c.cuda_graph_impl == "none" || layer >= m.num_layers) return out;
  auto add = [&out](const std::vector<hw::OpWork>& g, size_t from = 0, size_t to = SIZE_MAX) {
    for (size_t i = from; i < std::min(to, g.size()); ++i) out.insert(g[i].name);
  };
  if (c.cuda_graph_scope.empty() || c.full_iteration_graph()) {  // the whole layer
    for (const auto* g : {&ops.norm1, &ops.qkv, &ops.attention, &ops.norm2, &ops.mlp, &ops.residual}) add(*g);
    return out;
  }
  const bool moe = m.is_moe_layer(layer);
  // The pre-MLP norm (after the attention's residual add, which no module captures).
  const size_t norm = static_cast<size_t>(
      std::find_if(ops.norm2.begin(), ops.norm2.end(), [](const hw::OpWork& op) { return op.name == "norm2"; }) -
      ops.norm2.begin());
  if (c.graphs("attn")) add(ops.norm1), add(ops.qkv), add(ops.attention);  // self_attention, its norm in linear_qkv
  if (!moe && c.graphs("mlp")) add(ops.norm2, norm), add(ops.mlp);         // the norm fused into linear_fc1
  if (moe && c.graphs("moe_router")) {  // the route step: norm, router, a shared expert that is not overlapped
    add(ops.norm2, norm, ops.dispatch_begin);
    if (!c.moe_shared_expert_overlap) add(ops.mlp, ops.shared_begin, ops.shared_end);
  }
  if (moe && c.graphs("moe_preprocess")) add(ops.norm2, ops.dispatch_begin);  // the permutation before the dispatch
  if (moe && c.graphs("moe")) add(ops.mlp), add(ops.residual);
  return out;
}

bool is_captured(const hw::OpWork& op, const std::unordered_set<std::string>& captured) {
  std::string_view n = op.name;
  for (const std::string_view suffix : {"_accum", "_wgrad", "_dgrad", "_bwd"}) {
    if (n.ends_with(suffix)) n.remove_suffix(suffix.size());
  }
  return captured.count(std::string(n)) > 0;
}

size_t graph_launches(const std::vector<hw::OpWork>& ops, const std::unordered_set<std::string>& captured,
                      std::vector<hw::OpWork>& issued) {
  size_t launches = 0;
  bool in_graph = false;
  for (const hw::OpWork& op : ops) {
    const bool g = is_captured(op, captured);
    if (g && !in_graph) ++launches;
    if (!g) issued.push_back(op);
    in_graph = g;
  }
  return launches;
}

}  // namespace lcsim::wl
