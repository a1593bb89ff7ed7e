#pragma once
// Megatron-LM's --moe-layer-freq as a Python list expression of the layers (megatron_args.cc reads it).
#include <string>
#include <vector>

namespace lcsim::wl {

/// The layers of a --moe-layer-freq list expression ('([0]*3+[1]*58)', '[0]+[1]*15', ...), 1 for MoE and 0 for dense,
/// appended to `out`; false for anything else (moe_layer_freq.cc says what is read).
bool parse_moe_layer_list(const std::string& text, std::vector<int>& out);
/// The (first dense layers, frequency) of lcsim's model that gives exactly `layers`; false where none does.
bool moe_layer_form(const std::vector<int>& layers, int& dense, int& freq);

}  // namespace lcsim::wl
