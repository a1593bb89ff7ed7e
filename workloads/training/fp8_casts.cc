// FP8 linear layers' input casts (Transformer Engine's recipes, docs/calibration-fp8.md): a GEMM's 16-bit input is
// cast to FP8 (read e, write LayerShard::fp8_cast_out B per element: the copy and its transpose where FP8 GEMMs are
// TN-only, the copy alone where they take any layout, MXFP8's row- and column-wise copies with their scales).
// backward_of casts the GEMM's output gradient likewise. Current (tensorwise) scaling needs the tensor's amax before
// it can cast: one more kernel reads the input first (e B per element), and the output gradient gets the same pass.
//
// Where a norm feeds the GEMM inside one module (LayerNormLinear: the QKV and the dense MLP's first GEMM), Transformer
// Engine's norm kernel does part of the work, by recipe (normalization.cpp, "Choose implementation"; NormCast):
//  - delayed scaling (FULLY_FUSED): the norm writes FP8 itself, 1 B per element less than its 16-bit output, and the
//    transpose follows (1 + 1 B): 1 B per element over the 16-bit norm, kept on every part (on Blackwell, where no
//    transpose is written, the saved byte and the transpose are not separated);
//  - MXFP8 with cuDNN's norm kernels (NVTE_NORM_FWD_USE_CUDNN, workload key cudnn_norm): the norm writes both copies
//    and their scales instead of its 16-bit output, fp8_cast_out - e B per element more;
//  - current scaling without cuDNN's norms (FUSED_NORM_AMAX_FP8): the norm computes the amax while it writes 16 bits,
//    so no amax pass, then the cast; with them (UNFUSED), the amax pass and the cast as any input's;
//  - MXFP8 without cuDNN's norms (UNFUSED, Transformer Engine's default): the cast as any input's.
// torchao's float8 (torch FSDP2) has no such module: its casts are any input's (MegatronConfig::layer_shard).
#include <string>

#include "workloads/training/gpt_model.h"

namespace lcsim::wl {
namespace {

std::string amax_name(std::string_view cast) {  // "<gemm>_fp8_cast" -> "<gemm>_fp8_amax"
  return std::string(cast.substr(0, cast.size() - 5)) + "_amax";
}

}  // namespace

void fp8_input_cast(std::vector<hw::OpWork>& group, std::string_view name, double elements, double e,
                    const LayerShard& sh, bool after_norm) {
  const NormCast how = after_norm ? sh.fp8_norm_cast : NormCast::kUnfused;
  if (how == NormCast::kFused) {
    const double added = sh.fp8_block_scaled ? sh.fp8_cast_out - e : 1;
    group.push_back(hw::memory_op(std::string(name), Bytes::of(added * elements)));
    return;
  }
  if (sh.fp8_current_scaling && how == NormCast::kUnfused) {
    group.push_back(hw::memory_op(amax_name(name), Bytes::of(e * elements)));
  }
  group.push_back(hw::memory_op(std::string(name), Bytes::of((e + sh.fp8_cast_out) * elements)));
}

void state_norm_cast_backward(std::vector<hw::OpWork>& group, double e, const LayerShard& sh) {
  if (!sh.fp8 || !sh.fp8_current_scaling || sh.fp8_norm_cast != NormCast::kAmaxFused) return;
  for (size_t i = 0; i + 1 < group.size(); ++i) {
    hw::OpWork& cast = group[i];
    const hw::OpWork& next = group[i + 1];
    if (!is_fp8_cast(cast) || cast.backward_stated || next.op_class != hw::OpClass::kGemm) continue;
    if (i > 0 && is_fp8_amax(group[i - 1])) continue;  // its amax has a pass of its own: backward_of's rule
    const double grads = next.gemm.m * next.gemm.n * next.gemm.batch;  // the GEMM's output gradient
    cast.backward_stated = true;
    cast.backward = {{amax_name(cast.name) + "_bwd", Bytes::of(e * grads)},
                     {cast.name + "_bwd", Bytes::of((e + sh.fp8_cast_out) * grads)}};
  }
}

}  // namespace lcsim::wl
