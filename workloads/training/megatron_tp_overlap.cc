// MegatronTraining's plan of a dense layer under tp_comm_overlap: its four linear layers run their tensor-parallel
// collectives as Transformer Engine's userbuffers run them (transformer_engine/common/comm_gemm_overlap/
// comm_gemm_overlap.cpp; the settings per GEMM in tp_overlap.h), counted mechanism by mechanism:
//  - ring_exchange AG+GEMM (CommOverlapP2PBase::split_overlap_ag): the GEMM in TP chunks of tokens; chunk i is
//    computed while the chunk it holds goes to the next rank (a point-to-point send on the copy engines), chunk
//    i+1 waits for its arrival. The first chunk is the rank's own: no exchange is exposed unless one outlasts a
//    chunk GEMM; each chunk GEMM is TP times smaller (the GEMM model's wave quantization prices it, over the
//    chunks that run at once on TE's 3 compute streams).
//  - pipeline GEMM+RS (CommOverlapBase::split_overlap_rs): the GEMM in num_splits chunks of tokens, each chunk's
//    reduce-scatter (num_sm SMs) beside the next chunk's GEMM; the last chunk's reduce-scatter is exposed.
//  - ring_exchange GEMM+RS (CommOverlapP2PBase::split_overlap_rs): TP chunks, each chunk's partial output sent to
//    the rank that owns it beside the next chunk's GEMM (the last chunk is the rank's own), then a kernel adds
//    the TP partial outputs (reduce_bf16 / reduce_fp8_in_bf16_out), exposed.
//  - bulk (CommOverlapBase::bulk_overlap): a column-parallel layer's backward all-gathers its saved input (for
//    the weight gradient) beside the input-gradient GEMM and reduce-scatters that GEMM's output beside the
//    weight-gradient GEMM; each waits for its collective at its end.
// The SMs the communication takes: with set_sm_margin the GEMM runs on the others (its time on that many SMs,
// peak scaled, waves quantized on them) and nothing more is charged; without, the collective's num_sm share is
// the SM-contention charge of the kernels beside it (Segment::sm_share); ring exchanges run on copy engines.
#include <algorithm>
#include <map>
#include <string>
#include <unordered_set>
#include <vector>

#include "models/hardware/step_overhead.h"
#include "sim/error.h"
#include "workloads/training/cuda_graphs.h"
#include "workloads/training/gemm_split.h"
#include "workloads/training/megatron.h"
#include "workloads/training/module_calls.h"

namespace lcsim::wl {

using policy::CollectiveOp;

void MegatronTraining::plan_te_layer(const hw::AcceleratorSpec& part, const LayerOps& ops, const TeCp& cp,
                                     const std::unordered_set<std::string>& graphed, std::vector<Segment>& fwd,
                                     std::vector<Segment>& bwd) const {
  const auto& c = config_;
  const auto& u = c.tp_comm_overlap_cfg;
  const int tp = c.tensor_model_parallel_size;
  const double e = 2;
  const bool fp8 = dtype_ == hw::DType::kFp8;
  const hw::HostIssue host(c.host_issue(part));

  // The part as a GEMM with an SM margin sees it: the SMs the communication leaves, the peak in proportion.
  std::map<int, hw::AcceleratorSpec> fewer;
  auto on = [&](const TpOverlapLayer& l) -> const hw::AcceleratorSpec& {
    if (!l.set_sm_margin || l.num_sm <= 0) return part;
    const int left = std::max(1, part.compute_units - l.num_sm);
    auto it = fewer.find(left);
    if (it == fewer.end()) it = fewer.emplace(left, hw::with_compute_units(part, left)).first;
    return it->second;
  };
  // The share of the SMs the collective takes from the kernels beside it (none: copy engines, or the margin).
  auto beside = [&](const TpOverlapLayer& l) {
    return l.method == "ring_exchange" || l.set_sm_margin ? 0.0 : 1.0 * l.num_sm / part.compute_units;
  };
  auto comm = [&](CollectiveOp op, double elements, bool fp8_buf, const std::string& what) {
    return CommCall{op, GroupKind::kTp, Bytes::of(elements * (fp8 && fp8_buf ? 1 : e)), Exposure::kTp,
                    std::string(group_kind_name(GroupKind::kTp)) + " " + op_word(op) + " " + what};
  };

  // The segment being filled: its kernels (issued back to back by the host), its host launches and the SM share
  // beside it. With CUDA graphs (cuda_graphs.h) a run of kernels of captured modules is one launch, as T() counts
  // them in megatron_plan.cc; another kernel takes its OpWork::launches.
  // Its framework module calls (module_calls.h) are counted once per module, at its first kernel: a chunked GEMM's
  // later chunks are the same call.
  struct Open {
    Duration kernels, weight;
    size_t n = 0, modules = 0;
    bool in_graph = false;
    double share = -1;
  } cur;
  ModuleCalls calls;  // one counter per pass (a context-parallel ring's steps are one call)
  auto launch = [&](const hw::OpWork& k, bool module = true) {
    const bool captured = !graphed.empty() && is_captured(k, graphed);
    if (!captured) {
      cur.n += static_cast<size_t>(std::max(1, k.launches));
      if (module) cur.modules += calls.count(k);
    } else if (!cur.in_graph) {
      ++cur.n;
    }
    cur.in_graph = captured;
  };
  std::vector<Segment>* out = &fwd;
  // A weight-gradient GEMM brings its separate accumulation into the main gradient where that is not fused.
  const LayerShard shard = c.layer_shard(&part);
  const double accumulation = shard.wgrad_accumulation_bytes;
  auto add = [&](const hw::OpWork& op, const hw::AcceleratorSpec& where) {
    for (const hw::OpWork& k : with_wgrad_accumulation({op}, accumulation)) {
      const Duration d = hw::op_time(where, dtype_, k);
      cur.kernels += d;
      launch(k);
      if (is_wgrad(op)) cur.weight += d;
    }
  };
  auto add_all = [&](const std::vector<hw::OpWork>& list) {
    for (const auto& op : list) add(op, part);
  };
  // Ends the segment with `comms` after its kernels (beside the next segment's compute if `overlap`, which then
  // has `next_share` of the SMs taken).
  auto close = [&](std::vector<CommCall> comms, bool overlap, double next_share) {
    Segment s;
    s.add(host.work(cur.kernels, cur.n, 0, 1, cur.modules));
    s.comms = std::move(comms);
    s.overlap = overlap && !s.comms.empty();
    s.weight = std::min(cur.weight, s.compute);
    s.sm_share = cur.share;
    const double share = s.overlap ? next_share : -1;
    if (cur.n > 0 || !s.comms.empty()) out->push_back(std::move(s));
    cur = {};
    cur.share = share;
  };
  // One of `parts` chunks of tokens of the GEMM `g`. The chunks run on min(3, parts) compute streams
  // (_NUM_MAX_UB_STREAMS; each chunk waits only for its own input), so their tiles share waves: a chunk costs
  // 1/s of s chunks priced as one batched GEMM (one launch each).
  auto add_chunk = [&](const hw::OpWork& g, int parts, const hw::AcceleratorSpec& where, bool first) {
    const int streams = std::min(3, parts);
    hw::OpWork batch = g;
    batch.gemm.m /= parts;
    batch.gemm.batch *= streams;
    const Duration kernel = where.calibration.kernel_launch;
    cur.kernels += (hw::op_time(where, dtype_, batch) - kernel) * (1.0 / streams) + kernel;
    launch(g, first);
  };

  // AG+GEMM, ring exchange: `g`'s input (rows: tokens, columns: its k) gathered chunk by chunk beside the GEMM.
  // What is open runs before the GEMM; the last chunk stays open.
  // With tp_comm_overlap_ag off (Megatron-core passes ub_overlap_ag = false): Transformer Engine all-gathers the
  // whole input with NCCL before the GEMM (gather_along_first_dim, synchronous; FP8 runs gather the quantized
  // tensor, 1 B), exposed, and runs the GEMM whole on every SM.
  // tp_comm_overlap_disable_qkv / _fc1 turn off that layer's forward overlap alone (`overlap`).
  auto ring_ag = [&](const TpOverlapLayer& l, const hw::OpWork& g, const std::string& what, bool overlap = true) {
    if (!c.tp_comm_overlap_ag || !overlap) {
      close({comm(CollectiveOp::kAllGather, g.gemm.m * g.gemm.k, true, what)}, false, -1);
      add(g, part);
      return;
    }
    const CommCall step = comm(CollectiveOp::kSendRecv, g.gemm.m / tp * g.gemm.k, l.fp8_buf, what);
    close({step}, true, beside(l));
    for (int i = 0; i + 1 < tp; ++i) {
      add_chunk(g, tp, on(l), i == 0);
      const bool more = i + 2 < tp;  // steps 0..TP-2: step i+1 goes beside chunk i+1
      close(more ? std::vector<CommCall>{step} : std::vector<CommCall>{}, true, beside(l));
    }
    add_chunk(g, tp, on(l), tp == 1);
  };
  // GEMM+RS: `g`'s output (rows: tokens, columns: its n) reduce-scattered over TP. What is open runs before the
  // GEMM (in the first chunk's segment); the segment after it starts open.
  // With tp_comm_overlap_rs off: the whole GEMM, then an NCCL reduce-scatter of its 16-bit output
  // (reduce_scatter_along_first_dim, synchronous), exposed.
  auto gemm_rs = [&](const TpOverlapLayer& l, const hw::OpWork& g, const std::string& what) {
    if (!c.tp_comm_overlap_rs) {
      add(g, part);
      close({comm(CollectiveOp::kReduceScatter, g.gemm.m * g.gemm.n, false, what)}, false, -1);
      return;
    }
    if (l.method == "pipeline") {
      const int n = l.num_splits;
      const CommCall rs = comm(CollectiveOp::kReduceScatter, g.gemm.m / n * g.gemm.n, l.fp8_buf, what);
      for (int i = 0; i < n; ++i) {
        add_chunk(g, n, on(l), i == 0);
        close({rs}, i + 1 < n, beside(l));  // the last chunk's reduce-scatter is exposed
      }
      return;
    }
    const double elements = g.gemm.m / tp * g.gemm.n;  // one chunk of the output
    const CommCall send = comm(CollectiveOp::kSendRecv, elements, l.fp8_buf, what);
    for (int i = 0; i + 1 < tp; ++i) {
      add_chunk(g, tp, on(l), i == 0);
      close({send}, true, beside(l));
    }
    add_chunk(g, tp, on(l), tp == 1);
    close({}, true, -1);  // the last (own) chunk, beside the last send
    // The TP partial outputs (FP8 or 16-bit) summed into the 16-bit output: read TP chunks, write one.
    const double in = fp8 && l.fp8_buf ? 1 : e;
    add(hw::memory_op(g.name + "_rs_reduce", Bytes::of(elements * (tp * in + e))), part);
  };
  // Bulk, backward of a column-parallel layer: its saved input all-gathered beside dgrad, dgrad's output
  // reduce-scattered beside wgrad. `dgrad` and `wgrad` are backward_of's GEMMs of the forward GEMM `g`.
  // Either half off (tp_comm_bulk_dgrad, tp_comm_bulk_wgrad): Transformer Engine runs that collective with NCCL
  // at the same place (gather_along_first_dim / reduce_scatter_along_first_dim with async_op, waited for at the same
  // point; the gathered saved input quantized in FP8 runs, the input gradient 16-bit), beside the GEMM on all its
  // SMs: the kernels there pay the part's overlap_sm_share.
  auto bulk = [&](const TpOverlapLayer& ag, const TpOverlapLayer& rs, const hw::OpWork& g, const hw::OpWork& dgrad,
                  const hw::OpWork& wgrad, const std::string& what) {
    const double elements = g.gemm.m * g.gemm.k;  // the layer's input, all tokens
    const bool ub_ag = c.tp_comm_bulk_dgrad, ub_rs = c.tp_comm_bulk_wgrad;
    close({comm(CollectiveOp::kAllGather, elements, ub_ag ? ag.fp8_buf : true, what + " input (bwd)")}, true,
          ub_ag ? beside(ag) : -1);
    add(dgrad, ub_ag ? on(ag) : part);
    close({comm(CollectiveOp::kReduceScatter, elements, ub_rs && rs.fp8_buf, what + " (bwd)")}, true,
          ub_rs ? beside(rs) : -1);
    add(wgrad, ub_rs ? on(rs) : part);
    close({}, false, -1);
  };
  // Forward kernels of `group` that selective recompute runs again before its backward (recompute_modules).
  auto rerun = [&](const std::vector<hw::OpWork>& group) {
    for (const auto& op : group) {
      const std::string_view kernel = kernel_of(op.name);  // PyTorch eager's passes go with their norm
      if ((kernel == "norm1" || kernel == "norm2") && c.recomputes("layernorm")) add(op, part);
    }
  };

  const GemmSplit qkv = split_at(ops.qkv, "qkv"), proj = split_at(ops.attention, "attn_proj");
  const GemmSplit fc1 = split_at(ops.mlp, "mlp_up"), fc2 = split_at(fc1.post, "mlp_down");

  // Forward.
  add_all(ops.norm1);
  add_all(qkv.casts);
  ring_ag(u.qkv_fprop, qkv.gemm, "qkv input", !c.tp_comm_overlap_disable_qkv);
  add_all(qkv.post);
  if (!cp.a2a_fwd.empty()) close(cp.a2a_fwd, false, -1);
  if (!cp.fwd.empty()) close(cp.fwd, cp.overlap, -1);
  add_all(proj.pre);
  add_all(proj.casts);
  gemm_rs(u.proj_fprop, proj.gemm, "attention output");
  add_all(ops.norm2);
  add_all(fc1.casts);
  ring_ag(u.fc1_fprop, fc1.gemm, "mlp input", !c.tp_comm_overlap_disable_fc1);
  add_all(fc2.pre);
  add_all(fc2.casts);
  gemm_rs(u.fc2_fprop, fc2.gemm, "mlp output");
  add_all(ops.residual);
  close({}, false, -1);

  // Backward: each GEMM's output-gradient casts, then its input and weight gradients (backward_of's order).
  out = &bwd;
  calls = ModuleCalls();
  // Adds the backward of `s`'s casts and returns its GEMM's input and weight gradients (backward_of gives
  // [casts..., dgrad, wgrad]).
  auto grads = [&](const GemmSplit& s) {
    std::vector<hw::OpWork> in = s.casts;
    in.push_back(s.gemm);
    const std::vector<hw::OpWork> b = backward_of(in, e, shard.fp8_cast_out);
    add_all({b.begin(), b.end() - 2});
    return std::make_pair(b[b.size() - 2], b.back());
  };
  add_all(backward_of(ops.residual, e, shard.fp8_cast_out));
  const auto [fc2_dgrad, fc2_wgrad] = grads(fc2);
  ring_ag(u.fc2_dgrad, fc2_dgrad, "mlp output (bwd)");
  add(fc2_wgrad, part);
  add_all(backward_of(fc2.pre, e, shard.fp8_cast_out));
  const auto [fc1_dgrad, fc1_wgrad] = grads(fc1);
  bulk(u.fc1_dgrad, u.fc1_wgrad, fc1.gemm, fc1_dgrad, fc1_wgrad, "mlp input");
  rerun(ops.norm2);
  add_all(backward_of(ops.norm2, e, shard.fp8_cast_out));
  const auto [proj_dgrad, proj_wgrad] = grads(proj);
  ring_ag(u.proj_dgrad, proj_dgrad, "attention output (bwd)");
  add(proj_wgrad, part);
  if (c.recomputes("core_attn") && !c.use_flash_attn) add_all(proj.pre);  // the attention core again
  add_all(backward_of(proj.pre, e, shard.fp8_cast_out));
  if (!cp.a2a_bwd.empty()) close(cp.a2a_bwd, false, -1);
  if (!cp.bwd.empty()) close(cp.bwd, cp.overlap, -1);
  add_all(backward_of(qkv.post, e, shard.fp8_cast_out));
  const auto [qkv_dgrad, qkv_wgrad] = grads(qkv);
  bulk(u.qkv_dgrad, u.qkv_wgrad, qkv.gemm, qkv_dgrad, qkv_wgrad, "qkv input");
  rerun(ops.norm1);
  add_all(backward_of(ops.norm1, e, shard.fp8_cast_out));
  close({}, false, -1);
}

}  // namespace lcsim::wl
