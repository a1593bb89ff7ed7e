#include "workloads/training/cp_attention.h"

namespace lcsim::wl {
namespace {

// Output elements of a call (its queries' heads) and key/value elements it reads (keys and values).
double q_elements(const hw::AttentionShape& s) { return s.batch * s.q_len * s.heads * s.head_dim; }
double kv_elements(const hw::AttentionShape& s) { return 2 * s.batch * s.kv_len * s.kv_heads * s.head_dim; }

// Bytes per output element of one merge step, forward (cp_attention.h).
constexpr double kTorchMergeBytes = 6 + 12 + 8 + 12;
constexpr double kTorchCastBytes = 6 + 6;
// Bytes per gradient element of PyTorch's fp32 accumulation (read fp32 and 16-bit, write fp32) and final cast.
constexpr double kTorchAccumulateBytes = 4 + 2 + 4;
constexpr double kTorchGradCastBytes = 4 + 2;

}  // namespace

bool is_cp_merge(const std::string& name) {
  return name == kCpMergeTe || name == kCpMergeTorch || name == kCpMergeTorchCast;
}

std::vector<hw::OpWork> cp_attention_forward(const CpAttentionInput& in, double e) {
  const double c = in.seq / (2.0 * in.cp);
  hw::AttentionShape s{in.batch, 2 * c, 2 * c, in.heads, in.kv_heads, in.head_dim, true};
  std::vector<hw::OpWork> out;
  if (in.comm_type == "allgather" && !in.pytorch) {
    s.q_len = s.kv_len = c;
    out.push_back(hw::attention_op("attention_chunk", s, e));
    s.kv_len = in.seq;
    s.bottom_right = true;
    out.push_back(hw::attention_op("attention_chunk", s, e));
    return out;
  }
  out.push_back(hw::attention_op("attention_step", s, e));
  const double q = q_elements(s);
  if (in.pytorch) out.push_back(hw::memory_op(kCpMergeTorchCast, Bytes::of(kTorchCastBytes * q)));
  s.kv_len = c;
  s.causal = false;
  for (int i = 1; i < in.cp; ++i) {
    out.push_back(hw::attention_op("attention_step", s, e));
    out.push_back(in.pytorch ? hw::memory_op(kCpMergeTorch, Bytes::of(kTorchMergeBytes * q))
                             : hw::memory_op(kCpMergeTe, Bytes::of(3 * e * q)));
  }
  return out;
}

Bytes cp_kv_buffers(const CpAttentionInput& in, double e) {
  const double local = 2 * in.batch * in.seq / in.cp * in.kv_heads * in.head_dim * e;
  const bool gathered = in.comm_type == "allgather";
  // PyTorch's: not at the peak. torchtitan's published peaks (docs/validation-training-rounds.md: 83.9, 84.2, 84.0,
  // 84.5 GiB at CP 1, 2, 4, 8 with the sequence per GPU fixed) do not grow with the gathered sequence, which
  // would add 0.5 to 4.3 GB at 64K to 256K (plus 4.3 GB of fp32 dK/dV).
  if (in.pytorch) return Bytes();
  return Bytes::of(gathered ? 2 * in.cp * local : 4 * local);
}

hw::OpWork cp_merge_backward(const hw::OpWork& merge, const hw::AttentionShape& step, double e) {
  const double grads = q_elements(step) + kv_elements(step);
  const double per = merge.name == kCpMergeTe      ? 3 * e
                     : merge.name == kCpMergeTorch ? kTorchAccumulateBytes
                                                   : kTorchGradCastBytes;
  return hw::memory_op(merge.name + "_bwd", Bytes::of(per * grads));
}

}  // namespace lcsim::wl
