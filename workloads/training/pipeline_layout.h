// Megatron-core's custom pipeline layout (--pipeline-model-parallel-layout, PipelineParallelLayerLayout): which
// layers each virtual pipeline stage holds, written as a string such as "Et*3|(tt|)*29,m|L" (DeepSeek-V3 at PP 16,
// two chunks per rank). docs/training.md, "A custom pipeline layout".
#pragma once

#include <string>
#include <vector>

namespace lcsim::wl {

/// One virtual pipeline stage of a layout: what it holds, in model order.
struct PipelineLayoutStage {
  bool embedding = false;  // E
  int decoders = 0;        // t: transformer layers
  int mtp = 0;             // m: multi-token prediction modules
  bool loss = false;       // L: the output layer and loss
  std::string layers;      // its layer characters in order, as written (after unrolling)
};

/// Reads a layout string as Megatron-core's parse_str_to_list does: commas are cosmetic, "(...)*n" repeats the
/// group, "x*n" repeats one character, '|' ends a virtual stage; E, t, m and L are the layers. The stages are in
/// virtual-stage order (vpp_rank x PP + pp_rank). On a malformed string returns nothing and sets `error`.
std::vector<PipelineLayoutStage> parse_pipeline_layout(const std::string& text, std::string* error);

/// Megatron-core's checks of a parsed layout (PipelineParallelLayerLayout and validate_layer_layout) against the
/// pipeline size, the model's layers and its MTP modules; "" when it passes, else what is wrong.
std::string check_pipeline_layout(const std::vector<PipelineLayoutStage>& stages, int pipeline_parallel,
                                  int num_layers, int mtp_num_layers);

/// The layout per pipeline rank, ranks with the same chunks grouped (as Megatron-core's pretty_repr prints it):
/// "rank 0: E,t*3 | t*2; ranks 1-13: t*2 | t*2; ...", chunks separated by '|', "-" for an empty chunk.
std::string describe_pipeline_layout(const std::vector<PipelineLayoutStage>& stages, int pipeline_parallel);

}  // namespace lcsim::wl
