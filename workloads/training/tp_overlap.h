// Transformer Engine's tensor-parallel comm+GEMM overlap (userbuffers; Megatron-LM's --tp-comm-overlap, NeMo's
// tp_comm_overlap_cfg): how each of a transformer layer's ten overlapped GEMMs runs its TP collective, with
// Transformer Engine's defaults (transformer_engine/pytorch/module/base.py, initialize_ub, get_default_config).
// MegatronTraining::plan_te_layer (megatron_tp_overlap.cc) turns it into segments; docs/training.md says how.
#pragma once

#include <string>
#include <vector>

#include "sim/config.h"

namespace lcsim::wl {

/// One overlapped GEMM's settings (TE's ub_cfgs entry; unset keys keep TE's default for that layer).
struct TpOverlapLayer {
  // ring_exchange: the GEMM in TP chunks, each beside the point-to-point exchange of the next (copy engines);
  // pipeline: a GEMM + reduce-scatter in num_splits chunks, each chunk's reduce-scatter beside the next chunk's
  // GEMM, on num_sm SMs, the last one exposed; bulk: one collective beside one whole GEMM, on num_sm SMs.
  std::string method;
  int num_sm = 16;             // SMs the communication kernels take (pipeline, bulk)
  bool set_sm_margin = false;  // the GEMM runs on the other SMs (else beside them, SM contention)
  int num_splits = 4;          // pipeline: chunks (ring_exchange always runs TP chunks)
  bool fp8_buf = false;        // with FP8, the communication buffer holds FP8 (1 B per element)
};

/// The ten overlapped GEMMs of one layer. fprop: forward; dgrad, wgrad: backward (the bulk pair of a
/// column-parallel layer: the all-gather of its saved input beside dgrad, the reduce-scatter of dgrad's output
/// beside wgrad).
struct TpOverlapConfig {
  TpOverlapLayer qkv_fprop, proj_fprop, fc1_fprop, fc2_fprop;  // AG+GEMM, GEMM+RS, AG+GEMM, GEMM+RS
  TpOverlapLayer proj_dgrad, fc2_dgrad;                        // AG (output gradients) + GEMM
  TpOverlapLayer qkv_dgrad, fc1_dgrad, qkv_wgrad, fc1_wgrad;   // bulk AG beside dgrad, bulk RS beside wgrad
  TpOverlapConfig();  // Transformer Engine's defaults
  void visit(Section& s);
};

}  // namespace lcsim::wl
