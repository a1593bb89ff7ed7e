#include "workloads/training/tp_overlap.h"

namespace lcsim::wl {

namespace {
// Transformer Engine's get_default_config (initialize_ub, TE 2.x): ring_exchange takes 1 SM (its sends run on the
// copy engines: use_ce) and no margin, TP chunks; pipeline and bulk take 16 SMs with the margin set, pipeline in
// 4 chunks; the buffers of the all-gather layers (layers_all_gather_overlap: qkv_fprop, fc1_fprop, proj_dgrad,
// fc2_dgrad, qkv_dgrad, fc1_dgrad) hold FP8 in FP8 runs (fp8_buf).
TpOverlapLayer te_default(const std::string& method, bool all_gather) {
  TpOverlapLayer l;
  l.method = method;
  const bool ring = method == "ring_exchange";
  l.num_sm = ring ? 1 : 16;
  l.set_sm_margin = !ring;
  l.num_splits = 4;
  l.fp8_buf = all_gather;
  return l;
}
}  // namespace

TpOverlapConfig::TpOverlapConfig()
    : qkv_fprop(te_default("ring_exchange", true)),
      proj_fprop(te_default("pipeline", false)),
      fc1_fprop(te_default("ring_exchange", true)),
      fc2_fprop(te_default("pipeline", false)),
      proj_dgrad(te_default("ring_exchange", true)),
      fc2_dgrad(te_default("ring_exchange", true)),
      qkv_dgrad(te_default("bulk", true)),
      fc1_dgrad(te_default("bulk", true)),
      qkv_wgrad(te_default("bulk", false)),
      fc1_wgrad(te_default("bulk", false)) {}

void TpOverlapConfig::visit(Section& s) {
  struct Entry {
    const char* name;
    TpOverlapLayer* layer;
    std::vector<std::string> methods;
    const char* what;
  };
  const std::vector<Entry> entries = {
      {"qkv_fprop", &qkv_fprop, {"ring_exchange"}, "all-gather of the QKV GEMM's input"},
      {"proj_fprop", &proj_fprop, {"pipeline", "ring_exchange"}, "reduce-scatter of the attention projection's output"},
      {"fc1_fprop", &fc1_fprop, {"ring_exchange"}, "all-gather of the first MLP GEMM's input"},
      {"fc2_fprop", &fc2_fprop, {"pipeline", "ring_exchange"}, "reduce-scatter of the second MLP GEMM's output"},
      {"proj_dgrad", &proj_dgrad, {"ring_exchange"}, "all-gather of the projection's output gradient (backward)"},
      {"fc2_dgrad", &fc2_dgrad, {"ring_exchange"}, "all-gather of the second MLP GEMM's output gradient (backward)"},
      {"qkv_dgrad", &qkv_dgrad, {"bulk"}, "all-gather of the QKV GEMM's saved input beside its input-gradient GEMM"},
      {"fc1_dgrad", &fc1_dgrad, {"bulk"}, "all-gather of the first MLP GEMM's saved input beside its input-gradient GEMM"},
      {"qkv_wgrad", &qkv_wgrad, {"bulk"}, "reduce-scatter of the QKV input gradient beside the weight-gradient GEMM"},
      {"fc1_wgrad", &fc1_wgrad, {"bulk"}, "reduce-scatter of the first MLP input gradient beside the weight-gradient GEMM"},
  };
  for (const Entry& e : entries) {
    s.section(e.name, std::string(e.what) + " (Transformer Engine's ub_cfgs entry; unset keys: TE's default)",
              [&e](Section& l) {
                l.choice("method", e.layer->method, e.methods,
                         "ring_exchange: TP chunks beside point-to-point exchanges; pipeline: num_splits chunks, "
                         "each reduce-scatter beside the next chunk's GEMM, the last exposed; bulk: beside the "
                         "whole GEMM");
                l.field("num_sm", e.layer->num_sm, "SMs the communication kernels take (pipeline, bulk)",
                        Range::at_least(0));
                l.field("set_sm_margin", e.layer->set_sm_margin,
                        "the GEMM runs on the SMs the communication leaves (else the two share them)");
                l.field("num_splits", e.layer->num_splits, "pipeline: chunks of the GEMM", Range::at_least(1));
                l.field("fp8_buf", e.layer->fp8_buf, "FP8 runs: the communication moves FP8 (1 B per element)");
              });
  }
}

}  // namespace lcsim::wl
