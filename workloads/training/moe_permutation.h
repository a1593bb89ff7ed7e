// The token dispatcher's memory-bound kernels around a MoE layer's expert all-to-alls, as Megatron-core runs
// them (megatron/core/transformer/moe/token_dispatcher.py and moe_utils.py): each token's routed copies
// gathered into expert order before the dispatch (permute), the received chunks sorted by local expert after
// it (several local experts), the reverse before the combine (unsort) and after it (unpermute: the copies
// summed back into one row per token). Unfused: PyTorch's operators (index_select, argsort, split + cat,
// zeros + scatter_add_); fused
// (--moe-permute-fusion): Transformer Engine's permutation kernels (transformer_engine/pytorch/permutation.py
// and its Triton kernels). Bytes and backward kernels per kernel: docs/training.md, "Token permutation".
#pragma once

#include <string>
#include <vector>

#include "models/hardware/op_cost.h"

namespace lcsim::wl {

struct MoePermutationShape {
  double tokens = 0;   // tokens into the dispatcher on this rank (its sequence-parallel share)
  double topk = 1;     // experts per token
  double rows = 0;     // rows the local experts process (after the dispatch and any TP gather; x imbalance)
  double experts = 1;  // routed experts (the alltoall dispatcher's routing map has one column each)
  double local_experts = 1;
  double hidden = 0;
  double elem_bytes = 2;  // the tokens' (16-bit activations)
  // Bytes per element of the rows the dispatch delivers and of the gradients the combine's backward delivers
  // (FP8 with its scales under moe_fp8_dispatch); 0: elem_bytes.
  double dispatch_elem_bytes = 0;
  // flex (DeepEP): the dispatch delivers each token once per destination rank; the tokens are permuted into
  // local expert order after it and unpermuted before the combine (no permute before, no sort). `received`:
  // the token rows it delivers to this rank.
  bool flex = false;
  double received = 0;
  bool fused = false;  // Transformer Engine's fused permutation (Megatron-LM's --moe-permute-fusion)
  // The alltoall dispatcher's preprocess (dropless, not padded to capacity): the tokens per expert and the split
  // sizes counted on the GPU, gathered over the EP x TP group (`gather_splits`) and copied to the host, where the
  // dispatcher then waits for them; `padded_counts`: the routing map padded for FP8, whose output token count is
  // one more sum and copy.
  bool count_splits = false, gather_splits = false, padded_counts = false;
  // allgather (MoEAllGatherTokenDispatcher): every rank of the TP x EP group gathers all its tokens (`gathered`
  // rows), its routing map and probabilities (`probs_bytes` per entry), keeps its local experts' columns and
  // permutes by them; before the combine's reduce-scatter the rows are unpermuted and cast to the probabilities'
  // type, and cast back after it.
  bool allgather = false;
  double gathered = 0, probs_bytes = 4;
};

/// The kernels of each slot, each with its backward kernels stated (hw::OpWork::backward): before the
/// dispatch (after the router), after the dispatch (before the experts), before the combine, after the
/// combine.
struct MoePermutationOps {
  std::vector<hw::OpWork> before_dispatch, after_dispatch, before_combine, after_combine;
};
MoePermutationOps moe_permutation_ops(const MoePermutationShape& s);

/// A memory-bound kernel of `bytes` whose backward kernels are `backward` (none: it has no gradient), and one
/// such backward kernel (the permutation's and the router's kernels state theirs this way).
hw::OpWork stated_pass(const std::string& name, double bytes, std::vector<hw::MemoryPass> backward = {});
hw::MemoryPass stated_backward(const std::string& name, double bytes);

/// Distinct ranks among a token's k experts, each on one of `reach` ranks at random: reach (1 - (1 -
/// 1/reach)^k).
double distinct_ranks(double reach, double topk);

/// Names of the big kernels (the timeline shows them; tests look them up).
inline constexpr const char* kMoePermute = "moe_permute";
inline constexpr const char* kMoeSort = "moe_sort_chunks";
inline constexpr const char* kMoeUnsort = "moe_unsort_chunks";
inline constexpr const char* kMoeUnpermute = "moe_unpermute";

}  // namespace lcsim::wl
