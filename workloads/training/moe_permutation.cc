#include "workloads/training/moe_permutation.h"

#include <cmath>
#include <string>
#include <utility>

namespace lcsim::wl {

hw::OpWork stated_pass(const std::string& name, double bytes, std::vector<hw::MemoryPass> backward) {
  hw::OpWork op = hw::memory_op(name, Bytes::of(bytes));
  op.backward_stated = true;
  op.backward = std::move(backward);
  return op;
}

hw::MemoryPass stated_backward(const std::string& name, double bytes) { return {name, Bytes::of(bytes)}; }

namespace {

// Tokens of `n` rows (e B per element forward, eb B their gradients, h wide) into `c` rows in expert order,
// with their routing probabilities (fp32, --moe-router-dtype fp32 as DeepEP requires), by a routing map of
// `experts` columns (moe_utils.permute).
void permute(std::vector<hw::OpWork>& out, double n, double c, double experts, double h, double e, double eb,
             bool fused) {
  const double map = n * experts;  // routing-map entries
  if (fused) {
    // Transformer Engine's make_row_id_map: three Triton passes, no gradient. Pass 1 reads the boolean map (1
    // B) and writes block-local row ids (int32); pass 2 reads and rewrites them; pass 3 reads each token's
    // ids and writes its destination rows and experts (two int32 per copy).
    out.push_back(stated_pass("moe_row_id_map_1", 5 * map));
    out.push_back(stated_pass("moe_row_id_map_2", 8 * map));
    out.push_back(stated_pass("moe_row_id_map_3", 4 * map + 8 * c));
    // permute_with_mask_map: each token read once and written to its c/n destinations, its probabilities (4
    // B) read and written per copy. Backward: unpermute_with_mask_map, the same bytes the other way.
    out.push_back(
        stated_pass(kMoePermute, e * h * (n + c) + 8 * c,
                    {stated_backward(std::string(kMoePermute) + "_bwd", eb * h * (n + c) + 8 * c)}));
    return;
  }
  // PyTorch's operators (moe_utils.permute, dropless): the map transposed and made contiguous (1 B read and
  // written per entry), argsorted (1 B read, an 8 B index written), the first c indices taken modulo the
  // token count (8 + 8 B), the probabilities transposed (4 + 4) and gathered (8 B index, 4 B read, 4 B
  // written per copy), and the tokens gathered by index_select (8 B index, e h read and e h written per
  // copy). Backward: the map's kernels have none; the gather of probabilities a zero fill of the dense
  // gradient and an index_put_, the transpose a transpose; index_select's a zero fill of n rows and an
  // index_add_ of the copies into them.
  out.push_back(stated_pass("moe_map_transpose", 2 * map));
  out.push_back(stated_pass("moe_map_argsort", 9 * map));
  out.push_back(stated_pass("moe_map_modulo", 16 * c));
  out.push_back(stated_pass("moe_probs_transp", 8 * map, {stated_backward("moe_probs_transp_bwd", 8 * map)}));
  out.push_back(stated_pass(
      "moe_probs_gather", 16 * c,
      {stated_backward("moe_probs_bwd_zeros", 4 * map), stated_backward("moe_probs_gather_bwd", 16 * c)}));
  out.push_back(
      stated_pass(kMoePermute, c * (8 + 2 * e * h),
                  {stated_backward(std::string(kMoePermute) + "_bwd_zeros", eb * h * n),
                   stated_backward(std::string(kMoePermute) + "_bwd", c * (8 + eb * h) + eb * h * n)}));
}

// `c` expert-ordered rows back into `n` rows (e B per element forward, eb B their gradients), each the sum of
// its copies (moe_utils.unpermute without probabilities: Megatron-core's experts weight their activation by
// them).
void unpermute(std::vector<hw::OpWork>& out, double n, double c, double h, double e, double eb, bool fused) {
  if (fused) {
    // unpermute_with_mask_map: the copies read, one row per token written; backward permute_with_mask_map,
    // the gradient of each token read once and written to its copies.
    out.push_back(stated_pass(kMoeUnpermute, e * h * (c + n),
                              {stated_backward(std::string(kMoeUnpermute) + "_bwd", eb * h * (c + n))}));
    return;
  }
  // A zero fill of n rows, then scatter_add_ of the copies into them (8 B index and e h read per copy, each
  // row written). Backward: the zero fill has none; scatter_add_'s is a gather of the output gradient into
  // the copies (8 B index, e h read, e h written per copy).
  out.push_back(stated_pass(std::string(kMoeUnpermute) + "_zeros", e * h * n));
  out.push_back(stated_pass(kMoeUnpermute, c * (8 + e * h) + e * h * n,
                            {stated_backward(std::string(kMoeUnpermute) + "_bwd", c * (8 + 2 * eb * h))}));
}

// `rows` received rows reordered by local expert (moe_utils.sort_chunks_by_idxs), with their probabilities
// (`probs`, after the dispatch) or without (before the combine). Fused: TE's make_chunk_sort_map (a 4 B row
// map, no gradient) and sort_chunks_by_map (every row read and written, the probabilities too); backward the
// same kernel the other way. Unfused: torch.split (views) and torch.cat, one cat for the tokens and one for
// the probabilities; backward a cat each (split's backward).
void sort_chunks(std::vector<hw::OpWork>& out, const char* name, double rows, double h, double e, double eb,
                 bool probs, bool fused) {
  const std::string n = name;
  if (fused) {
    out.push_back(stated_pass(n + "_map", 4 * rows));
    const double p = probs ? 8 : 0;
    out.push_back(
        stated_pass(n, rows * (2 * e * h + p), {stated_backward(n + "_bwd", rows * (2 * eb * h + p))}));
    return;
  }
  out.push_back(stated_pass(n, 2 * e * h * rows, {stated_backward(n + "_bwd", 2 * eb * h * rows)}));
  if (probs)
    out.push_back(stated_pass("moe_sort_probs", 8 * rows, {stated_backward("moe_sort_probs_bwd", 8 * rows)}));
}

// DeepEP's received top-k indices and probabilities (k per row, -1 where the expert is elsewhere) into a
// dense map and probabilities of `local` columns (the flex dispatcher's _indices_to_multihot;
// fused_indices_to_multihot with fusion). `copies`: the valid entries (the rows the experts process).
void multihot(std::vector<hw::OpWork>& out, double received, double k, double local, double copies,
              bool fused) {
  const double dense = received * local, entries = received * k;
  if (fused) {
    // One kernel: the indices (8 B) and probabilities (4 B) read, the map (1 B) and probabilities (4 B)
    // written; backward the probabilities' gradient gathered back.
    out.push_back(stated_pass("moe_multihot", 12 * entries + 5 * dense,
                              {stated_backward("moe_multihot_bwd", 4 * dense + 4 * entries)}));
    return;
  }
  // Two zero fills (int64 map, fp32 probabilities), the mask (indices != -1), the valid indices and the row
  // of each (boolean indexing, repeat_interleave), the two index_put_, the valid probabilities (boolean
  // indexing), and the map made boolean. Backward: the probabilities' index_put_ gathers, their selection
  // scatters back.
  out.push_back(stated_pass("moe_multihot_zeros", 8 * dense));
  out.push_back(stated_pass("moe_multihot_pzeros", 4 * dense));
  out.push_back(stated_pass("moe_multihot_mask", 9 * entries));
  out.push_back(stated_pass("moe_multihot_select", 9 * entries + 8 * copies));
  out.push_back(stated_pass("moe_multihot_rows", 16 * copies));
  out.push_back(stated_pass("moe_multihot_map", 16 * copies));
  out.push_back(stated_pass("moe_multihot_psel", 9 * entries + 4 * copies,
                            {stated_backward("moe_multihot_psel_bwd0", 4 * entries),
                             stated_backward("moe_multihot_psel_bwd", 13 * copies)}));
  out.push_back(stated_pass("moe_multihot_probs", 16 * copies,
                            {stated_backward("moe_multihot_probs_bwd", 16 * copies)}));
  out.push_back(stated_pass("moe_multihot_bool", 9 * dense));
}

}  // namespace

double distinct_ranks(double reach, double topk) {
  return reach <= 1 ? 1.0 : reach * (1 - std::pow(1 - 1 / reach, topk));
}

MoePermutationOps moe_permutation_ops(const MoePermutationShape& s) {
  MoePermutationOps ops;
  // The rows the dispatch delivers and the gradients the combine's backward delivers, in FP8 with
  // moe_fp8_dispatch (dispatch_elem_bytes); the tokens before the dispatch and the experts' outputs in 16
  // bits.
  const double h = s.hidden, e = s.elem_bytes, d = s.dispatch_elem_bytes > 0 ? s.dispatch_elem_bytes : e;
  if (s.flex) {
    // MoEFlexTokenDispatcher (_DeepepManager): setup_metadata before the dispatch, the chosen experts (a sorted
    // top-k of the dense probabilities: 2 kernels), then DeepEP's get_dispatch_layout (one kernel: tokens per rank
    // and expert); get_permuted_hidden_states_by_experts after the dispatch, get_restored_hidden_states_by_experts
    // before the combine.
    ops.before_dispatch.push_back(
        stated_pass("moe_dispatch_layout", 4 * s.tokens * s.experts + 16 * s.tokens * s.topk));
    ops.before_dispatch.back().launches = 3;
    multihot(ops.after_dispatch, s.received, s.topk, s.local_experts, s.rows, s.fused);
    permute(ops.after_dispatch, s.received, s.rows, s.local_experts, h, d, e, s.fused);
    unpermute(ops.before_combine, s.received, s.rows, h, e, d, s.fused);
    return ops;
  }
  if (s.allgather) {
    // dispatch_postprocess: the local experts' columns of the gathered map (bool) and probabilities sliced out
    // (.contiguous(): read and write each; the probabilities' backward a zero fill of the gathered gradient and
    // the copy back), the map's column sums (the counts, copied to the host), the gathered tokens permuted by the
    // local map (the probabilities' transpose and selection as permute's own); combine_preprocess: the rows
    // unpermuted into the gathered shape, cast to the probabilities' type for the reduce-scatter where it is not
    // the tokens', and cast back after it (combine_postprocess's view is free).
    const double g = s.gathered, gl = g * s.local_experts, p = s.probs_bytes;
    ops.after_dispatch.push_back(stated_pass("moe_ag_local_map", 2 * gl));
    ops.after_dispatch.push_back(stated_pass(
        "moe_ag_local_probs", 2 * p * gl,
        {stated_backward("moe_ag_local_probs_bwd_zeros", p * g * s.experts), stated_backward("moe_ag_local_probs_bwd", 2 * p * gl)}));
    ops.after_dispatch.push_back(stated_pass("moe_ag_counts", gl));
    permute(ops.after_dispatch, g, s.rows, s.local_experts, h, e, e, s.fused);
    unpermute(ops.before_combine, g, s.rows, h, e, e, s.fused);
    if (p != e) {
      ops.before_combine.push_back(stated_pass("moe_ag_cast", (e + p) * g * h, {stated_backward("moe_ag_cast_bwd", (e + p) * g * h)}));
      ops.after_combine.push_back(stated_pass("moe_ag_uncast", (p + e) * s.tokens * h,
                                              {stated_backward("moe_ag_uncast_bwd", (p + e) * s.tokens * h)}));
    }
    return ops;
  }
  // MoEAlltoAllTokenDispatcher: permutation 1 in dispatch_preprocess, permutation 2 (several local experts)
  // in dispatch_postprocess, their reverses in combine_preprocess and combine_postprocess.
  const double copies = s.tokens * s.topk;
  if (s.count_splits) {
    // preprocess: the tokens per expert (the map summed over tokens), the input splits, the gathered counts'
    // local slice made contiguous and summed three ways: 6 small kernels (7 with the padded map's output count),
    // the all-gather of the counts over the EP x TP group, and their copies to pinned host memory (4, 5 without
    // the fused permutation, one more for the padded count). Costed as one pass over the map and a kernel's fixed
    // cost per further launch.
    const int kernels = 6 + (s.padded_counts ? 1 : 0);
    const int copies_to_host = 4 + (s.fused ? 0 : 1) + (s.padded_counts ? 1 : 0);
    ops.before_dispatch.push_back(stated_pass("moe_token_counts", s.tokens * s.experts));
    ops.before_dispatch.back().launches = kernels + (s.gather_splits ? 1 : 0) + copies_to_host;
  }
  permute(ops.before_dispatch, s.tokens, copies, s.experts, h, e, e, s.fused);
  if (s.local_experts > 1) {
    sort_chunks(ops.after_dispatch, kMoeSort, s.rows, h, d, e, true, s.fused);
    sort_chunks(ops.before_combine, kMoeUnsort, s.rows, h, e, d, false, s.fused);
  }
  unpermute(ops.after_combine, s.tokens, copies, h, e, e, s.fused);
  return ops;
}

}  // namespace lcsim::wl
