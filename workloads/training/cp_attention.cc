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
// PyTorch's copies around the calls (torch/distributed/tensor/experimental/_attention.py, _templated_ring_attention
// and its backward), per element of the rank's whole local key/value pair (2 x 2c tokens): the fp32 zero-fill of a
// gradient (write 4 B), a copy of one fp32 gradient (torch.cat: read 4, write 4). A 16-bit copy is 2e.
constexpr double kTorchZeroBytes = 4;
constexpr double kTorchGradCopyBytes = 4 + 4;

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
  const double q = q_elements(s), kv = kv_elements(s);  // the local pair: kv of step 0's shape (2c keys)
  // PyTorch: key.contiguous() and value.contiguous() first (the model hands SDPA transposed views), then before
  // each of steps 0 .. CP-2 torch.cat([key.flatten(), value.flatten()]) of the pair it holds (the rotater's
  // buffer; the all-gather rotater gathers only the first, the copy is made every step): 2e B per element each,
  // the CP-1 copies counted with the merges of steps 1 .. CP-1.
  if (in.pytorch) out.push_back(hw::memory_op(kCpMergeTorchCast, Bytes::of(kTorchCastBytes * q + 2 * e * kv)));
  s.kv_len = c;
  s.causal = false;
  for (int i = 1; i < in.cp; ++i) {
    out.push_back(hw::attention_op("attention_step", s, e));
    out.push_back(in.pytorch ? hw::memory_op(kCpMergeTorch, Bytes::of(kTorchMergeBytes * q + 2 * e * kv))
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
  const double q = q_elements(step), kv = kv_elements(step);
  if (merge.name == kCpMergeTe) return hw::memory_op(merge.name + "_bwd", Bytes::of(3 * e * (q + kv)));
  // PyTorch's _templated_ring_attention_backward on the costed rank (CP-1: every step i >= 1 has i <= rank).
  if (merge.name == kCpMergeTorch) {
    // Step i >= 1 (kv: the half of the received pair it used, so the pair is 2 kv): grad_query += grad_query_
    // and the half's dk/dv added into chunk 0 in fp32; _partial_update's torch.cat rebuilds the whole pair's
    // fp32 dk/dv; torch.cat of dk/dv for the exchange to the next rank; the key/value copy of a step i != CP-1.
    const double pair = 2 * kv;
    const double bytes = kTorchAccumulateBytes * (q + kv) + 2 * kTorchGradCopyBytes * pair + 2 * e * pair;
    return hw::memory_op(merge.name + "_bwd", Bytes::of(bytes));
  }
  // Once per layer (step 0's shape, kv: the local pair): the fp32 zero-fills of dq, dk, dv; key/value
  // contiguous(); step 0's accumulation (grad_query/key/value += its 16-bit gradients); the torch.cat of dk/dv
  // for step 0's exchange; the final casts of dq and the received dk/dv back to 16 bits.
  const double bytes = (kTorchZeroBytes + kTorchAccumulateBytes + kTorchGradCastBytes) * (q + kv) +
                       kTorchGradCopyBytes * kv + 2 * e * kv;
  return hw::memory_op(merge.name + "_bwd", Bytes::of(bytes));
}

}  // namespace lcsim::wl
