// Context parallelism's attention as the frameworks run it, kernel by kernel, on one CP rank (cp > 1, keys and
// values exchanged: cp_comm_type p2p, allgather, a2a+p2p; Ulysses' a2a runs one whole-sequence kernel instead).
//
// The sequence is split into 2 x CP chunks of c = S / (2 CP) tokens and rank r holds chunks r and 2CP-1-r
// (load balancing), so every rank does 1/CP of the causal work, but not in one long kernel:
//  - Ring (Transformer Engine's AttnFuncWithCPAndKVP2P for p2p; PyTorch's _templated_ring_attention, torchtitan,
//    for either rotate method): CP steps, one fused-attention call each. Step 0 is the rank's own chunks,
//    causal (q = kv = 2c). Step i > 0 is not causal: ranks r >= i run both their query chunks against the first
//    half of the received keys/values (q = 2c, kv = c), ranks r < i their second query chunk against all of them
//    (q = c, kv = 2c). The ring waits for its slowest rank at every step, and the shorter key/value loop runs
//    further below the kernel's plateau (op_cost.h), so each step is costed as q = 2c, kv = c (rank CP-1 runs it
//    at every step). After each step the partial outputs are merged by their log-sum-exp:
//      Transformer Engine: one fused kernel (flash_attn_fwd_out_correction, jit_fuser): reads the step's output
//      and the running output, writes the running output: 3 x 2 B per output element;
//      PyTorch (_SDPAMerger._merge_one, eager ATen kernels): block_out.to(float32) (2 + 4 B), out - block_out
//      (4 + 4 + 4), sigmoid(lse difference) x that (4 + 4, the lse terms 1/head_dim of it), out - product
//      (4 + 4 + 4): 38 B per output element, plus the first step's cast to fp32 and the result's back to 16 bits
//      (6 + 6 B) once per layer.
//    Backward (backward_of): each step's attention backward; Transformer Engine accumulates dq and dk/dv in 16 bits
//    (dq.add_, dkv.add_: 3 x 2 B per element), PyTorch in fp32 (grad_query += grad_query_: 4 + 2 + 4 B per element,
//    grad_key/grad_value likewise), and casts the fp32 gradients back to 16 bits at the end (4 + 2 B).
//    PyTorch's copies around its calls (torch/distributed/tensor/experimental/_attention.py, read for this model):
//    forward, key/value contiguous() once and a torch.cat of the key/value pair before each step but the last
//    (2e B per element of the local pair); backward, the same copies again, the fp32 zero-fills of dq, dk, dv, step
//    0's accumulation, per step the _partial_update rebuild of the pair's fp32 dk/dv (torch.cat) and the torch.cat
//    of dk/dv sent on to the next rank (4 + 4 B per element each). Its exchange (megatron_plan.cc): the rotater's
//    keys/values under the steps (allgather: one all-gather issued before step 0 and waited for at step 1; p2p,
//    PyTorch's alltoall rotater: a send per step), again in backward, where the fp32 dk/dv also travel the ring,
//    one send per step, the last one waited for after the final step.
//  - All-gather (Transformer Engine's AttnFuncWithCPAndKVAllGather; the Llama 3 paper's method): the whole
//    sequence's keys/values gathered, then one causal call per local query chunk against the keys/values up to
//    its end, mask aligned to the bottom right: rank 0, the slowest (its first call is the shortest), runs
//    q = c, kv = c and q = c, kv = S. No merge: each call sees all its keys/values.
// Names of the merge kernels (backward_of prices their backward from the attention step before them).
#pragma once

#include <string>
#include <vector>

#include "models/hardware/op_cost.h"

namespace lcsim::wl {

inline constexpr const char* kCpMergeTe = "cp_merge";              // Transformer Engine's fused correction
inline constexpr const char* kCpMergeTorch = "cp_merge_sdpa";      // PyTorch's _SDPAMerger, eager, and a K/V copy
inline constexpr const char* kCpMergeTorchCast = "cp_merge_sdpa_cast";  // its fp32 <-> 16-bit casts and copies, once

struct CpAttentionInput {
  int cp = 2;
  std::string comm_type = "p2p";          // p2p, allgather, a2a+p2p (the ring level)
  bool pytorch = false;                   // PyTorch's context_parallel (torchtitan); false: Transformer Engine
  double batch = 1, seq = 2048;           // sequences per micro-batch, whole sequence length
  double heads = 1, kv_heads = 1, head_dim = 128;  // per TP rank, as the kernel sees them
};

/// One CP rank's forward attention kernels, in order: fused-attention calls and merges.
std::vector<hw::OpWork> cp_attention_forward(const CpAttentionInput& in, double elem_bytes);

/// The backward of a merge kernel `merge` (one of the kCpMerge* names) whose attention step is `step`: the
/// gradient accumulation (and, for kCpMergeTorchCast, the final casts) of that step; PyTorch's with its copies.
hw::OpWork cp_merge_backward(const hw::OpWork& merge, const hw::AttentionShape& step, double elem_bytes);

/// The key/value buffers the exchange holds beside the activations while a layer's attention runs (its backward
/// the peak): Transformer Engine's ring two local K/V chunks in flight (send, receive) and two dK/dV chunks in
/// backward; its all-gather the whole sequence's K/V and, in backward, their gradients at that size before the
/// reduce-scatter. A local chunk is 2 x batch x S/CP x kv_heads x head_dim x elem_bytes. Derived from the
/// algorithms' structure, not measured. PyTorch's: none at the peak (torchtitan's measured peaks do not grow with
/// CP; cp_attention.cc).
Bytes cp_kv_buffers(const CpAttentionInput& in, double elem_bytes);

/// Whether `name` is one of the merge kernels above.
bool is_cp_merge(const std::string& name);

}  // namespace lcsim::wl
