// MegatronTraining's plan of one pipeline stage: its layers, its forward and backward passes as segments of
// kernels and collectives, FSDP units, gradient buckets, the optimizer step and the memory it needs.
#include "workloads/training/megatron.h"

#include <algorithm>
#include <functional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_set>
#include <utility>
#include <vector>

#include "models/hardware/step_overhead.h"
#include "workloads/training/cuda_graphs.h"
#include "workloads/training/gemm_split.h"
#include "workloads/training/module_calls.h"

namespace lcsim::wl {

using policy::CollectiveOp;
using Exposure = MegatronTraining::Exposure;


MegatronTraining::StagePlan MegatronTraining::plan_stage(const hw::AcceleratorSpec& part, int stage) const {
  const auto& c = config_;
  const auto& m = c.model;
  const int tp = c.tensor_model_parallel_size, cp = c.context_parallel_size, ep = c.expert_model_parallel_size;
  const int pp = c.pipeline_model_parallel_size, V = model_stages();
  const bool sp = c.sequence_parallel && tp > 1, tpc = tp > 1;
  // How this GPU holds a layer; plan_layer switches it to BF16 for first_last_layers_bf16's layers and back.
  LayerShard sh = c.layer_shard(&part);
  const LayerShard run_shard = sh;
  const int b = c.micro_batch_size;
  const double e = 2;  // activations stay 16-bit (fp8 only inside the GEMMs)
  const double t = static_cast<double>(b) * m.seq_length / cp, h = m.hidden_size;
  const Bytes act = Bytes::of(t * h * e);
  const double k = m.moe_router_topk, imb = c.expert_load();
  const Bytes routed = Bytes::of(t * k * h * e * imb);                  // tokens gathered over TP for the experts
  // Per rank into the token all-to-all, at perfect balance; with moe_load_imbalance the busiest expert rank
  // receives (dispatch) and sends back (combine) that many times the mean, the others correspondingly less.
  const Bytes dispatch = Bytes::of((sp ? t / tp : t) * k * h * e * dispatch_factor_);
  // FP8 dispatch (moe_fp8_dispatch): 1 B per element and a 4 B scale per 1 x 128 tile (DeepSeek-V3, section 3.3.3:
  // the activations before the up-projections and the gradients before the down-projections; combines in BF16).
  const Bytes dispatch_fp8 = c.moe_fp8_dispatch ? dispatch * ((1 + 4.0 / 128) / e) : dispatch;
  // Keys and values the CP exchange moves: one per query group, or one per query head where the framework
  // repeats them before attention (cp_repeat_kv), for the whole sequence: the all-gather's output (Collectives
  // sizes an all-gather by what it gathers), each rank contributing its 1/CP; the ring moves as many bytes.
  const double kv_heads = c.cp_kv_heads();
  const Bytes kv = Bytes::of(2.0 * b * m.seq_length * std::max(1.0, kv_heads / tp) * m.head_dim() * e);
  // Ulysses (cp_comm_type a2a): per rank, this rank's tokens' queries, keys and values of its TP heads in, and
  // the attention output back.
  const double heads_tp = 1.0 * m.num_attention_heads / tp, groups_tp = std::max(1.0, kv_heads / tp);
  const Bytes qkv_a2a = Bytes::of(t * (heads_tp + 2 * groups_tp) * m.head_dim() * e);
  const Bytes out_a2a = Bytes::of(t * heads_tp * m.head_dim() * e);
  // Each group of kernels as the host issues them (step_overhead.h): never faster than its kernels' issue time.
  // Transformer Engine's multi-stream grouped GEMM issues each local expert's GEMM and FP8 casts from the host
  // (moe_grouped_gemm); one grouped kernel (or DeepGEMM's) is one launch, as any other operator. Megatron-core's
  // SequentialMLP calls every routed-expert operator once per local expert from Python, each a whole operator.
  const hw::HostIssue host(c.host_issue(part));
  // Issued per expert exactly where the GEMMs run as separate kernels (LayerShard::expert_gemm_streams).
  const bool sequential = sh.sequential_experts, per_expert = sh.expert_gemm_streams > 0;
  const int local_experts = per_expert && m.num_experts > 0 ? m.num_experts / ep : 1;
  // CUDA graphs (cuda_graphs.h): the kernels the layer being planned has in captured modules (plan_layer fills it
  // and empties it after). A run of captured kernels is one graph launch for the host, one operator's issue time.
  std::unordered_set<std::string> graphed;
  auto T = [&](const std::vector<hw::OpWork>& kernels) {  // with the gradient accumulation unless fused
    const std::vector<hw::OpWork> ops = with_wgrad_accumulation(kernels, sh.wgrad_accumulation_bytes);
    const Duration gpu = hw::total_time(ops, part, dtype_);
    // The kernels the host issues one by one (all of them without graphs) and the captured runs' launches.
    std::vector<hw::OpWork> issued;
    const size_t launches = graphed.empty() ? 0 : graph_launches(ops, graphed, issued);
    const std::vector<hw::OpWork>& each = graphed.empty() ? ops : issued;
    // Each kernel's host launches (OpWork::launches: several where lcsim costs several PyTorch kernels as one).
    size_t issued_kernels = launches;
    for (const hw::OpWork& op : each) issued_kernels += static_cast<size_t>(std::max(1, op.launches));
    // The framework module calls among them (module_calls.h); a captured module's call is its graph's launch.
    size_t modules = module_calls(each);
    if (sequential) {
      modules += expert_module_calls(each) * static_cast<size_t>(local_experts - 1);
      return host.work(gpu, issued_kernels + sequential_expert_ops(each) * (local_experts - 1), 0, 1, modules);
    }
    const PerExpertCalls grouped = local_experts > 1 ? per_expert_calls(each) : PerExpertCalls{};
    return host.work(gpu, issued_kernels, grouped.ops, local_experts, modules, grouped.gemms, grouped.modules);
  };
  auto TB = [&](const std::vector<hw::OpWork>& ops) { return T(backward_of(ops, e, sh.fp8_cast_out)); };
  // The weight-gradient GEMMs among backward kernels (what a zero-bubble schedule defers), at most their time.
  auto W = [&](const std::vector<hw::OpWork>& bwd) {
    std::vector<hw::OpWork> w = bwd;
    std::erase_if(w, [](const hw::OpWork& op) { return !is_wgrad(op); });
    return w.empty() ? Duration() : std::min(T(w).time, T(bwd).time);
  };
  auto TW = [&](const std::vector<hw::OpWork>& ops) { return W(backward_of(ops, e, sh.fp8_cast_out)); };
  auto call = [&](CollectiveOp op, GroupKind g, Bytes size, Exposure x, const std::string& what) {
    return CommCall{op, g, size, x, std::string(group_kind_name(g)) + " " + op_word(op) + " " + what};
  };
  // The keys/values a CP ring exchanges: allgather (PyTorch's rotater), one all-gather of the sequence's keys/values;
  // p2p (Transformer Engine's ring, PyTorch's alltoall rotater: a permute to the next rank), CP - 1 sends of one
  // rank's pair (cp_attention.h).
  // a2a+p2p: the ring runs over the P ranks of its second level; each step still moves one rank's keys/values (after
  // the all-to-all a rank holds A chunks of the sequence for 1/A of the heads).
  const int ring = cp / c.cp_a2a_size();
  const GroupKind ring_group = c.cp_a2a_size() > 1 ? GroupKind::kCpP2p : GroupKind::kCp;
  auto kv_exchange = [&](std::vector<CommCall>& to, const std::string& what) {
    if (c.cp_comm_type == "allgather") {
      to.push_back(call(CollectiveOp::kAllGather, GroupKind::kCp, kv, Exposure::kCp, what));
      return;
    }
    for (int i = 1; i < ring; ++i) to.push_back(call(CollectiveOp::kSendRecv, ring_group, kv / cp, Exposure::kCp, what));
  };
  auto tp_call = [&](CollectiveOp op, const std::string& what) { return call(op, GroupKind::kTp, act, Exposure::kTp, what); };
  auto a2a = [&](const std::string& what, bool sends, Bytes size) {
    CommCall x = call(CollectiveOp::kAllToAll, GroupKind::kEp, size, Exposure::kEp, what);
    x.skew = std::min<double>(imb, ep);
    x.skew_sends = sends;
    x.token_dispatch = c.moe_token_dispatcher_type == "flex";  // DeepEP / HybridEP: their own share of the line rate
    return x;
  };
  const CollectiveOp row = sp ? CollectiveOp::kReduceScatter : CollectiveOp::kAllReduce;

  // torchtitan's op-level selective checkpointing (gpt_model.h, op_sac_redo): the kernels run again, and the parts
  // of GEMMs, in the order the additions were always made.
  auto op_sac_recompute = [&](const LayerOps& ops) {
    const OpSacRedo r = op_sac_redo(m, ops);
    hw::HostIssue::Work part_gemms;
    for (const auto& [op, share] : r.gemm_parts) part_gemms += T({op}) * share;
    return T(r.kernels) + part_gemms;
  };

  // A comm slot between two compute groups: what forward and backward run there.
  struct Slot {
    std::vector<CommCall> fwd, bwd;
    bool overlap = false;
    int overlap_bwd = -1;  // the backward's own setting where it differs (-1: overlap)
    bool bwd_overlaps() const { return overlap_bwd < 0 ? overlap : overlap_bwd == 1; }
    // A column-parallel layer whose backward column_backward splits at its GEMM: the GEMM, what it is, and whether
    // it gathers its input again (sequence parallelism) or all-reduces the input gradient beside the wgrad GEMM.
    std::string gemm, what;
    bool gather = false;
  };
  // Slot before a column-parallel layer (copy / all-gather) and after a row-parallel one (all-reduce / RS).
  auto column_slot = [&](const std::string& what, const std::string& gemm) {
    Slot s;
    if (!tpc) return s;
    if (sp) s.fwd.push_back(tp_call(CollectiveOp::kAllGather, what));
    s.bwd.push_back(tp_call(sp ? CollectiveOp::kReduceScatter : CollectiveOp::kAllReduce, what + " (bwd)"));
    s.overlap = c.tp_comm_overlap;
    if (sp ? c.sequence_parallel_backward_gather : c.tensor_parallel_backward_async_allreduce) {
      s.gemm = gemm, s.what = what, s.gather = sp;
    }
    return s;
  };
  // The backward of a column-parallel layer under sequence parallelism as Megatron-LM's
  // LinearWithGradAccumulationAndAsyncCommunication (megatron/mpu/layers.py, 2022; megatron/core/tensor_parallel/
  // layers.py since) and Transformer Engine's Linear / LayerNormLinear run it: the layer kept only its input's
  // sequence shard, so it all-gathers the input again for the weight gradient, issued before the input-gradient GEMM
  // and waited for after it; then it reduce-scatters the input gradient beside the weight-gradient GEMM, waited for
  // at the end (both async, in issue order under CUDA_DEVICE_MAX_CONNECTIONS=1). The gathered input is what the
  // layer saved: Transformer Engine's FP8 copy (1 B) where it keeps one (fp8_linear_saved_input), else 16-bit.
  // `group`'s backward as three segments: its other kernels (after `redo`, kernels run again before them) ending with
  // the all-gather; the input-gradient GEMM ending with the slot's reduce-scatter; the weight-gradient GEMM, which
  // waits for it; then, where the group has any, the backward of the kernels before the GEMM's input casts. Without
  // sequence parallelism (Megatron-LM's allreduce_dgrad since 2022, megatron/core/tensor_parallel/layers.py; Transformer
  // Engine's "Overlap dgrad-RS/AR with wgrad") the input gradient is all-reduced the same way, and the first two segments
  // are one: the other kernels and the input-gradient GEMM, ending with the all-reduce beside the weight-gradient GEMM.
  // Empty where the slot is not split or the group has no such GEMM (multi-latent attention's projections).
  auto column_backward = [&](const std::vector<hw::OpWork>& group, const Slot& slot,
                             const std::vector<hw::HostIssue::Work>& redo) {
    std::vector<Segment> out;
    if (slot.gemm.empty() || !has_op(group, slot.gemm)) return out;
    const GemmSplit g = split_at(group, slot.gemm);
    std::vector<hw::OpWork> in = g.casts;
    in.push_back(g.gemm);
    std::vector<hw::OpWork> grads = backward_of(in, e, sh.fp8_cast_out);  // the casts' backward, dgrad, wgrad
    const hw::OpWork wgrad = grads.back(), dgrad = grads[grads.size() - 2];
    grads.resize(grads.size() - 2);
    std::vector<hw::OpWork> first = backward_of(g.post, e, sh.fp8_cast_out);
    std::vector<hw::OpWork> before = backward_of(g.pre, e, sh.fp8_cast_out);
    first.insert(first.end(), grads.begin(), grads.end());
    if (!slot.gather) first.push_back(dgrad);
    // The layer's own collective (the slot's first backward one); the slot's others (a MoE layer's dispatch) after
    // the kernels before the GEMM, as the unsplit group has them.
    const size_t own = std::min<size_t>(1, slot.bwd.size());
    const std::vector<CommCall> mine(slot.bwd.begin(), slot.bwd.begin() + own), rest(slot.bwd.begin() + own, slot.bwd.end());
    // Transformer Engine's FP8 copy where it keeps one; Megatron-core's shared expert keeps its 16-bit input under
    // current scaling (SharedExpertMLP: set_save_original_input on linear_fc1, TE 2.6+, fp8_recipe != delayed).
    const bool fp8_saved = sh.fp8 && !g.gemm.gemm.keep_16bit &&
                           (c.fp8_linear_saved_input == "fp8" || c.fp8_saved_activations) &&
                           !(slot.gemm == "shared_up" && c.fp8_recipe != "delayed");
    const Bytes input = Bytes::of(g.gemm.gemm.m * g.gemm.gemm.k * (fp8_saved ? sh.fp8_saved_bytes : e));
    out.push_back(Segment::of(
        T(first), slot.gather ? std::vector<CommCall>{call(CollectiveOp::kAllGather, GroupKind::kTp, input,
                                                            Exposure::kTp, slot.what + " again (bwd)")}
                              : mine));
    for (const hw::HostIssue::Work& d : redo) out.back().add(d);
    out.back().weight = W(first);
    out.back().overlap = true;
    if (slot.gather) {
      out.push_back(Segment::of(T({dgrad}), mine));
      out.back().overlap = !mine.empty();
    }
    // The weight-gradient GEMM, the wait for the reduce-scatter / all-reduce at its end (the linear layer's
    // backward ends there), then the kernels before the GEMM where the group has any.
    out.push_back(Segment::of(T({wgrad})));
    out.back().weight = W({wgrad});
    if (before.empty()) {
      out.back().comms = rest;
    } else {
      out.push_back(Segment::of(T(before), rest));
      out.back().weight = W(before);
    }
    out.back().overlap = slot.bwd_overlaps() && !rest.empty();
    return out;
  };
  auto row_slot = [&](const std::string& what) {
    Slot s;
    if (!tpc) return s;
    s.fwd.push_back(tp_call(row, what));
    if (sp) s.bwd.push_back(tp_call(CollectiveOp::kAllGather, what + " (bwd)"));
    s.overlap = c.tp_comm_overlap;
    return s;
  };

  // Parameters one GPU holds (megatron_step.cc): per layer, the embedding and the output layer.
  const auto layer_shard = [this](int l) { return layer_parameters(l); };
  const double embedding_shard = embedding_parameters(), output_shard = output_parameters();

  StagePlan plan;
  const bool output_layer_here = m.untie_embeddings_and_output_weights || pp > 1;
  const double bucket_limit = gradient_bucket_limit(stage);
  struct PrevLayer {  // the last layer planned, for the next one (see below)
    bool valid = false, moe = false;
    LayerOps ops;
    std::vector<Segment> fwd, bwd;
  } prev;
  // Kernels that selective recompute runs again (recompute_modules), by name (gpt_model.cc's layer_forward).
  std::set<std::string> rerun;
  if (c.recomputes("layernorm")) rerun.insert({"norm1", "norm2"});
  if (c.recomputes("mla_up_proj")) {
    rerun.insert({"q_norm", "q_up_fp8_cast", "q_up", "kv_norm", "kv_up_fp8_cast", "kv_up", "rope"});
  }
  if (c.recomputes("moe_act")) rerun.insert({"expert_act", "shared_act"});
  auto again_of = [&rerun](const std::vector<hw::OpWork>& group) {  // a group's kernels recomputed by name
    std::vector<hw::OpWork> again;
    for (const auto& op : group) {
      if (rerun.contains(std::string(kernel_of(op.name)))) again.push_back(op);  // PyTorch eager's passes too
    }
    return again;
  };
  // The segments of layer `l` (from 0; an MTP module's layer: num_layers), in `prev`. A layer with the same kernels
  // and MoE-ness as the last one planned has the same segments (nothing else below depends on the layer): they
  // are reused rather than costed again.
  // Transformer Engine's FP8 weight cache (Megatron-core's TE layers get is_first_microbatch): each FP8 GEMM's weight
  // is cast and transposed on the first micro-batch of the iteration only. FSDP2's float8 (torchao) and DeepGEMM's
  // block-quantized weights are cast their own ways, not modelled.
  const bool te_weight_cache = sh.fp8 && !c.use_torch_fsdp2 && c.fp8_gemm_backend != "deepgemm";
  double fp8_weights = 0, fp8_expert_weights = 0;  // elements cast per iteration on this stage (of experts)
  int fp8_weight_casts = 0;
  auto plan_layer = [&](int l) {
    struct Restore {  // the run's shard again, and no captured kernel, when the layer is planned
      LayerShard& s;
      const LayerShard& to;
      std::unordered_set<std::string>& g;
      ~Restore() {
        s = to;
        g.clear();
      }
    } restore{sh, run_shard, graphed};
    const bool bf16 = c.bf16_layer(l);
    if (bf16) sh.fp8 = sh.fp8_current_scaling = sh.fp8_expert_padding = false;
    LayerOps ops = layer_forward(m, l, b, e, sh);
    if (bf16) {  // no FP8 casts (above) and every GEMM at the 16-bit rate, as a BF16 run's
      for (auto* g : {&ops.norm1, &ops.qkv, &ops.attention, &ops.norm2, &ops.mlp, &ops.residual}) {
        for (hw::OpWork& op : *g) op.gemm.keep_16bit = op.op_class == hw::OpClass::kGemm || op.gemm.keep_16bit;
      }
    }
    graphed = captured_kernels(c, l, ops);
    const bool moe = m.is_moe_layer(l);
    if (!prev.valid || moe != prev.moe || !(ops == prev.ops)) {
      Slot slots[5];
      std::vector<CommCall> cp_a2a_fwd, cp_a2a_bwd;  // a2a+p2p's all-to-all level (blocking, before its ring)
      slots[0] = column_slot("qkv input", "qkv");
      if (cp > 1 && c.cp_comm_type == "a2a") {
        // Ulysses: queries, keys and values all-to-all'd to whole sequences of 1/CP of the heads, the attention
        // output back; neither overlaps (both are costed here, before the attention group, and in backward).
        slots[1].fwd.push_back(call(CollectiveOp::kAllToAll, GroupKind::kCp, qkv_a2a, Exposure::kCp, "q/k/v"));
        slots[1].fwd.push_back(call(CollectiveOp::kAllToAll, GroupKind::kCp, out_a2a, Exposure::kCp, "attention output"));
        slots[1].bwd.push_back(call(CollectiveOp::kAllToAll, GroupKind::kCp, out_a2a, Exposure::kCp, "attention output (bwd)"));
        slots[1].bwd.push_back(call(CollectiveOp::kAllToAll, GroupKind::kCp, qkv_a2a, Exposure::kCp, "q/k/v (bwd)"));
      } else if (cp > 1 && c.cp_implementation == "pytorch") {
        // PyTorch's ring (cp_attention.h): its keys/values under the attention steps, forward (the all-gather is
        // issued before step 0 and waited for at step 1; the fp32 gradients' sends are below, with slot 2).
        kv_exchange(slots[1].fwd, "keys/values");
        slots[1].overlap = true;
        slots[1].bwd.push_back(call(CollectiveOp::kSendRecv, GroupKind::kCp, kv / cp * (4 / e), Exposure::kCp,
                                    "key/value gradients, last (bwd)"));
        slots[1].overlap_bwd = 0;  // waited for after the last step
      } else if (cp > 1 && c.cp_comm_type == "allgather") {  // waits for the gathered keys and values
        slots[1].fwd.push_back(call(CollectiveOp::kAllGather, GroupKind::kCp, kv, Exposure::kCp, "keys/values"));
        slots[1].bwd.push_back(call(CollectiveOp::kReduceScatter, GroupKind::kCp, kv, Exposure::kCp, "keys/values (bwd)"));
      } else if (cp > 1) {
        // p2p (and a2a+p2p's ring level): Transformer Engine's ring, CP - 1 rounds in which every rank sends its
        // neighbour one rank's keys and values (batch_isend_irecv: NCCL send/recv at its calibrated cost), under the
        // attention kernels; the backward sends as many bytes back round by round. a2a+p2p first all-to-alls the
        // queries, keys and values over its first level (flash_attn_a2a_communicate, as Ulysses over A ranks) and
        // the output back after the ring, neither overlapped (both costed before the ring, as Ulysses' are);
        // backward the output gradient's and the q/k/v gradients' all-to-alls.
        if (c.cp_a2a_size() > 1) {
          cp_a2a_fwd = {call(CollectiveOp::kAllToAll, GroupKind::kCpA2a, qkv_a2a, Exposure::kCp, "q/k/v"),
                        call(CollectiveOp::kAllToAll, GroupKind::kCpA2a, out_a2a, Exposure::kCp, "attention output")};
          cp_a2a_bwd = {call(CollectiveOp::kAllToAll, GroupKind::kCpA2a, out_a2a, Exposure::kCp, "attention output (bwd)"),
                        call(CollectiveOp::kAllToAll, GroupKind::kCpA2a, qkv_a2a, Exposure::kCp, "q/k/v (bwd)")};
        }
        kv_exchange(slots[1].fwd, "keys/values");
        kv_exchange(slots[1].bwd, "keys/values (bwd)");
        slots[1].overlap = true;
      }
      slots[2] = row_slot("attention output");
      if (cp > 1 && c.cp_implementation == "pytorch" && c.cp_comm_type != "a2a") {
        // Backward: the keys/values exchanged again and the fp32 dk/dv sent on after each step but the last, all
        // under the attention backward's steps: issued before its segment (slot 2's backward comms precede it).
        // Where slot 2 holds TP traffic that is not overlapped, they stay exposed with it.
        const bool free = slots[2].bwd.empty() || slots[2].bwd_overlaps();
        kv_exchange(slots[2].bwd, "keys/values (bwd)");
        for (int i = 1; i < cp; ++i) {
          slots[2].bwd.push_back(call(CollectiveOp::kSendRecv, GroupKind::kCp, kv / cp * (4 / e), Exposure::kCp,
                                      "key/value gradients (bwd)"));
        }
        if (free) slots[2].overlap_bwd = 1;
      }
      // The allgather dispatcher gathers over the experts' TP x EP group: with experts split over TP even at EP 1.
      // Experts split over their own TP group (expert_tensor_parallel_size > 1): the alltoall dispatcher gathers the
      // routed tokens over it after the all-to-all and reduce-scatters the experts' output before the combine
      // (Megatron-core's MoEAlltoAllTokenDispatcher: A2A(EP) -> AG(expert TP), RS(expert TP) -> A2A(EP)).
      const bool split_experts = c.expert_tp() > 1;
      const Bytes routed_gathered = routed * (1.0 * c.expert_tp() / tp);  // each rank's routed share x expert TP
      const bool gather = moe && c.tp_ep_size() > 1 && sh.allgather_dispatch;
      // moe_shared_expert_overlap: the shared expert leaves the experts' group; its first linear layer (with the
      // activation) runs beside the dispatch, its second beside the combine, each way (SharedExpertMLP's stream);
      // with TP its own gather before the dispatch, its reduce-scatter after its second GEMM, beside what follows
      // (backward: its output's gather first, its input's scatter after its first GEMM; docs/training-moe-layers.md).
      const bool shared_beside = moe && c.moe_shared_expert_overlap && ops.shared_end > ops.shared_begin;
      if (gather) {
        // MoEAllGatherTokenDispatcher over its tp_ep_group (the EP group with TP 1 or folded experts, which spans
        // the TP ranks; TP x EP with experts split over TP, every TP rank then running its shard of the local experts
        // on all the gathered rows): the routing map (1 B), probabilities and tokens of every rank gathered; the
        // experts' outputs (partial over TP) reduce-scattered back in the probabilities' type. Backward: the tokens'
        // and probabilities' gathers reduce-scatter their gradients, the outputs' scatter gathers theirs.
        const double g = t / tp * c.tp_ep_size(), p = c.router.logit_bytes(e), E = m.num_experts;
        auto ag = [&](CollectiveOp op, double bytes, const std::string& what) {
          return call(op, GroupKind::kTpEp, Bytes::of(bytes), Exposure::kEp, what);
        };
        slots[3].fwd = {ag(CollectiveOp::kAllGather, g * E, "routing map"), ag(CollectiveOp::kAllGather, g * E * p, "routing probabilities"),
                        ag(CollectiveOp::kAllGather, g * h * e, "tokens")};
        slots[3].bwd = {ag(CollectiveOp::kReduceScatter, g * h * e, "tokens (bwd)"),
                        ag(CollectiveOp::kReduceScatter, g * E * p, "routing probabilities (bwd)")};
        slots[4].fwd = {ag(CollectiveOp::kReduceScatter, g * h * p, "expert output")};
        slots[4].bwd = {ag(CollectiveOp::kAllGather, g * h * p, "expert output (bwd)")};
      }
      if (moe) {
        if (ep > 1 && !gather) {
          slots[3].fwd.push_back(a2a("dispatch", false, dispatch_fp8));
          slots[4].bwd.push_back(a2a("combine (bwd)", false, dispatch_fp8));
        }
        if (split_experts && !gather) {  // folded experts take each rank's own tokens: no TP gather
          // Over the TP group itself where the experts keep the dense split (the same ranks).
          const GroupKind group = c.experts_fold_tp() ? GroupKind::kEtp : GroupKind::kTp;
          const auto etp_call = [&](CollectiveOp op, const std::string& what) {
            return call(op, group, routed_gathered, Exposure::kTp, what);
          };
          slots[3].fwd.push_back(etp_call(CollectiveOp::kAllGather, "routed tokens"));
          slots[3].bwd.insert(slots[3].bwd.begin(), etp_call(CollectiveOp::kReduceScatter, "routed tokens (bwd)"));
          slots[4].fwd.push_back(etp_call(CollectiveOp::kReduceScatter, "expert output"));
          slots[4].bwd.push_back(etp_call(CollectiveOp::kAllGather, "expert output (bwd)"));
        }
        if (tpc && m.moe_shared_expert_intermediate_size > 0 && !shared_beside) {
          // The shared expert keeps the dense layers' TP and runs on the layer's own (sequence-parallel) input,
          // folded or not: it gathers the tokens and scatters its output itself (Megatron-core's SharedExpertMLP, an
          // MLP of TP linear layers called on MoELayer's input). Its first linear layer is column-parallel: its
          // backward gathers its input again beside the input-gradient GEMM (column_backward).
          slots[3].fwd.push_back(call(CollectiveOp::kAllGather, GroupKind::kTp, act, Exposure::kTp, "shared expert input"));
          slots[3].bwd.insert(slots[3].bwd.begin(), call(CollectiveOp::kReduceScatter, GroupKind::kTp, act, Exposure::kTp, "shared expert input (bwd)"));
          slots[4].fwd.push_back(call(CollectiveOp::kReduceScatter, GroupKind::kTp, act, Exposure::kTp, "shared expert output"));
          slots[4].bwd.push_back(call(CollectiveOp::kAllGather, GroupKind::kTp, act, Exposure::kTp, "shared expert output (bwd)"));
          if (sp && c.sequence_parallel_backward_gather) {
            slots[3].gemm = "shared_up", slots[3].what = "shared expert input", slots[3].gather = true;
          }
        }
        if (ep > 1 && !gather) {
          slots[4].fwd.push_back(a2a("combine", true, dispatch));
          slots[3].bwd.push_back(a2a("dispatch (bwd)", true, dispatch));
        }
      } else {
        slots[3] = column_slot("mlp input", "mlp_up");
        slots[4] = row_slot("mlp output");
      }
      const std::vector<hw::OpWork>* groups[6] = {&ops.norm1, &ops.qkv, &ops.attention, &ops.norm2, &ops.mlp, &ops.residual};
      const bool side = moe && c.overlap_moe_expert_parallel_comm;  // slots 3 and 4 hold the MoE traffic
      std::vector<Segment> fwd, bwd;
      // Transformer Engine's comm+GEMM overlap on the dense layers it covers (its four linear layers; MoE and
      // multi-latent attention layers keep the overlap below).
      const bool te = sp && c.tp_comm_overlap && !moe && !m.multi_latent_attention;
      if (te) {
        const TeCp te_cp{slots[1].fwd, slots[1].bwd, slots[1].overlap, cp_a2a_fwd, cp_a2a_bwd};
        plan_te_layer(part, ops, te_cp, graphed, fwd, bwd);
      }
      // a2a+p2p: the group before the ring ends with the all-to-all level's blocking collectives, the ring chain
      // follows in a segment of no kernels of its own, beside the next group (attention forward, q/k/v backward).
      const auto a2a_then_ring = [](std::vector<Segment>& to, Segment& s, const std::vector<CommCall>& level) {
        Segment exchange = Segment::of(Duration(), std::move(s.comms));
        exchange.overlap = s.overlap;
        s.comms = level;
        s.overlap = false;
        to.push_back(s);
        s = exchange;
      };
      std::vector<hw::OpWork> routed_mlp = ops.mlp, fc1, fc2;
      if (shared_beside) {
        const auto sb = ops.mlp.begin() + static_cast<long>(ops.shared_begin), se = ops.mlp.begin() + static_cast<long>(ops.shared_end);
        auto f2 = std::find_if(sb, se, [](const hw::OpWork& op) { return op.name == "shared_down"; });
        while (f2 > sb && (is_fp8_cast(*(f2 - 1)) || is_fp8_amax(*(f2 - 1)))) --f2;
        fc1.assign(sb, f2), fc2.assign(f2, se);
        routed_mlp.erase(routed_mlp.begin() + static_cast<long>(ops.shared_begin), routed_mlp.begin() + static_cast<long>(ops.shared_end));
        groups[4] = &routed_mlp;
      }
      auto shared_bwd = [&](const std::vector<hw::OpWork>& half) {  // its backward, beside the all-to-all's
        Segment x = Segment::of(TB(half));
        x.weight = TW(half);
        if (const auto again = again_of(half); !again.empty()) x.add(T(again));
        return x;
      };
      // With TP the shared expert's own collectives split the groups around the all-to-alls where Megatron-core
      // waits for them: its input's gather runs beside the permutation (issued after the router), its output's
      // scatter beside the unpermutation (joined before the residual add); backward, its output gradient's gather
      // beside the unpermutation's backward, its input gradient's scatter beside the router's (joined before the norm).
      const bool shared_tp = shared_beside && tpc;
      const auto cut = [](const std::vector<hw::OpWork>& g, size_t at) {
        const auto mid = g.begin() + static_cast<long>(std::min(at, g.size()));
        return std::make_pair(std::vector<hw::OpWork>(g.begin(), mid), std::vector<hw::OpWork>(mid, g.end()));
      };
      const auto index = [](const std::vector<hw::OpWork>& g, const char* name) {
        return static_cast<size_t>(std::find_if(g.begin(), g.end(), [&](const hw::OpWork& op) { return op.name == name; }) - g.begin());
      };
      std::vector<hw::OpWork> route, permute, norm, gate, unpermute, add;
      if (shared_tp) {
        std::tie(route, permute) = cut(ops.norm2, ops.dispatch_begin);
        std::tie(norm, gate) = cut(ops.norm2, index(ops.norm2, "norm2") + 1);
        std::tie(unpermute, add) = cut(ops.residual, index(ops.residual, "residual2"));
      }
      for (int i = 0; i < 6 && !te; ++i) {
        if (shared_tp && i == 3) {
          fwd.push_back(Segment::of(T(route), {tp_call(CollectiveOp::kAllGather, "shared expert input")}));
          fwd.back().overlap = true;
        }
        Segment s = Segment::of(T(shared_tp && i == 3 ? permute : shared_tp && i == 5 ? unpermute : *groups[i]));
        if (i < 5) {
          s.comms = slots[i].fwd;
          s.overlap = slots[i].overlap && !s.comms.empty();
          s.side = side && (i == 3 || i == 4) && !s.comms.empty();
        }
        // Megatron-core's dropless dispatchers wait on the host for the GPU before the all-to-all: alltoall
        // synchronizes its device-to-host copy of the routing counts (its split sizes), flex (DeepEP) polls the
        // received-token counters its notify kernel writes. The host resumes only when the router's kernels
        // have run, so the dispatch starts one host_op_time after the group before it (as a pass after a blocking
        // receive). Backward reuses the forward's splits (all-to-all) or cached layout (DeepEP): no wait. Padded
        // to capacity (drop_and_pad) the splits are known without the counts: no wait.
        // allgather's wait is after its gathers: the counts of the gathered map's local columns (.cpu()).
        if (moe && i == (gather ? 4 : 3) && !c.router.moe_pad_expert_input_to_capacity) {
          s.add_host_wait(host.pass_start());
          s.host.sync = true;
        }
        if (i == 1 && !cp_a2a_fwd.empty()) a2a_then_ring(fwd, s, cp_a2a_fwd);
        fwd.push_back(s);
        if (shared_beside && (i == 3 || i == 4)) {
          fwd.back().overlap = !fwd.back().comms.empty();
          fwd.push_back(Segment::of(T(i == 3 ? fc1 : fc2)));
          if (shared_tp && i == 4) fwd.back().comms = {tp_call(CollectiveOp::kReduceScatter, "shared expert output")}, fwd.back().overlap = true;
        }
        if (shared_tp && i == 5) fwd.push_back(Segment::of(T(add)));
      }
      for (int i = 5; i >= 0 && !te; --i) {
        std::vector<hw::HostIssue::Work> redo;  // kernels run again before the group's backward
        if (i == 2 && c.recomputes("core_attn") && !c.use_flash_attn) {
          // Selective recomputation redoes the attention core (everything but the output projection).
          redo.push_back(T({ops.attention.begin(), ops.attention.end() - 1}));
        }
        // The other recomputed modules: their kernels' forward runs again before the group's backward.
        if (const auto again = again_of(*groups[i]); !again.empty()) redo.push_back(T(again));
        if (i >= 1) {
          std::vector<Segment> split = column_backward(*groups[i], slots[i - 1], redo);
          if (!split.empty()) {
            bwd.insert(bwd.end(), split.begin(), split.end());
            continue;
          }
        }
        const size_t first = bwd.size();  // the group's first segment: its recomputed kernels run there
        if (shared_tp && i == 5) {
          bwd.push_back(Segment::of(TB(add), {tp_call(CollectiveOp::kAllGather, "shared expert output (bwd)")}));
          bwd.back().overlap = true;
        } else if (shared_tp && i == 3) {
          bwd.push_back(Segment::of(TB(gate)));
          bwd.back().weight = TW(gate);
        }
        const std::vector<hw::OpWork>& group = shared_tp && i == 5 ? unpermute : shared_tp && i == 3 ? norm : *groups[i];
        Segment s = Segment::of(TB(group));
        s.weight = TW(group);
        if (bwd.size() == first) {
          for (const hw::HostIssue::Work& d : redo) s.add(d);
        } else {
          for (const hw::HostIssue::Work& d : redo) bwd[first].add(d);
        }
        if (i >= 1) {
          s.comms = slots[i - 1].bwd;
          s.overlap = slots[i - 1].bwd_overlaps() && !s.comms.empty();
          s.side = side && (i - 1 == 3 || i - 1 == 4) && !s.comms.empty();
        }
        if (i == 2 && !cp_a2a_bwd.empty()) a2a_then_ring(bwd, s, cp_a2a_bwd);
        bwd.push_back(s);
        if (shared_beside && (i == 5 || i == 4)) {
          bwd.back().overlap = !bwd.back().comms.empty();
          bwd.push_back(shared_bwd(i == 5 ? fc2 : fc1));
          if (shared_tp && i == 4) bwd.back().comms = {tp_call(CollectiveOp::kReduceScatter, "shared expert input (bwd)")}, bwd.back().overlap = true;
        }
      }
      // Modules checkpointed whole (recompute_modules mlp, moe, shared_experts: Megatron-core's normal
      // checkpointing) run their forward again, collectives included, before the layer's backward reaches them.
      if (!te && (moe ? c.recomputes("moe") : c.recomputes("mlp"))) {
        Segment pre = fwd[3];  // a MoE layer's router, permutation and dispatch; a dense MLP's input gather
        // Not the norm itself; with the shared expert's gather the router alone (the permutation's segment follows).
        const size_t after_norm = std::min(index(ops.norm2, "norm2") + 1, ops.norm2.size());
        pre.compute = Duration();
        pre.host = {};
        pre.add(T({ops.norm2.begin() + static_cast<long>(after_norm),
                   ops.norm2.begin() + static_cast<long>(shared_tp ? ops.dispatch_begin : ops.norm2.size())}));
        if (moe && !c.router.moe_pad_expert_input_to_capacity && !gather && !shared_tp) {
          pre.add_host_wait(host.pass_start());
          pre.host.sync = true;
        }
        bwd.insert(bwd.begin(), pre);
        bwd.insert(bwd.begin() + 1, fwd.begin() + 4, fwd.begin() + (shared_tp ? 8 : shared_beside ? 7 : 5));  // to the combine
      } else if (!te && moe && c.recomputes("shared_experts") && ops.shared_end > ops.shared_begin) {
        Segment again = Segment::of(T({ops.mlp.begin() + static_cast<long>(ops.shared_begin),
                                        ops.mlp.begin() + static_cast<long>(ops.shared_end)}));
        if (tpc) {  // its own gather and scatter, as its forward ran them
          again.comms = {call(CollectiveOp::kAllGather, GroupKind::kTp, act, Exposure::kTp, "shared expert input (recompute)"),
                         call(CollectiveOp::kReduceScatter, GroupKind::kTp, act, Exposure::kTp, "shared expert output (recompute)")};
        }
        bwd.insert(bwd.begin(), again);
      }
      if (c.op_selective_ac()) bwd.insert(bwd.begin(), Segment::of(op_sac_recompute(ops)));
      // The expert all-to-alls on the side stream take moe_overlap_sm_share of the SMs from the MoE layer's kernels
      // beside them (NCCL's or the flex dispatcher's kernels and their HBM traffic; fitted to a measured A/B of
      // the overlap, docs/calibration.md), where a segment does not carry a share of its own.
      if (side) {
        for (std::vector<Segment>* pass : {&fwd, &bwd}) {
          for (Segment& s : *pass) s.sm_share = s.sm_share < 0 ? c.moe_overlap_sm_share : s.sm_share;
          // The overlapped schedule's own host work per MoE layer and pass (a what-if, 0 by default): its
          // scheduling of the layer's sub-modules on the compute and communication streams.
          if (c.moe_ep_overlap_host_time > Duration() && !pass->empty()) {
            pass->front().add(host.host_only(c.moe_ep_overlap_host_time * part.host_op_time_factor));
          }
        }
      }
      prev = {true, moe, std::move(ops), std::move(fwd), std::move(bwd)};
    }
  };
  for (int chunk = 0; chunk < chunks_; ++chunk) {
    const int v = virtual_stage(stage, chunk);
    const auto [l0, l1] = layer_range(v);
    Pass F, B, D;  // D: B with the output layer's weight gradients deferred (defer_embedding_wgrad_compute)
    struct DeferredHead {
      size_t begin, end;  // an output layer's backward in B.segments
      Segment without;    // it without its weight gradients
    };
    std::vector<DeferredHead> deferred_heads;
    // Megatron-core's DDP splits gradients into buckets (bucket_limit) only in pipeline rank 0's first model chunk:
    // each chunk of a later pipeline rank, and each later chunk of rank 0, reduces as one bucket when its last
    // backward pass is done (DistributedDataParallel: 'pp_rank > 0 or disable_bucketing'; Megatron-LM's get_model:
    // disable_bucketing for the chunks after the first, and for the first too with
    // overlap_param_gather_with_optimizer_step). DualPipe, not Megatron's DDP, keeps buckets in both its chunks.
    const bool bucketed = dualpipe_ || (stage == 0 && chunk == 0 && !c.overlap_param_gather_with_optimizer_step);
    const double limit = bucketed ? bucket_limit : 1e300;
    Bucket filling{0, 0, chunk, {}, {}, {}};
    auto add_params = [&](double dense, double expert, bool close) {
      filling.dense_params += dense;
      filling.expert_params += expert;
      if (filling.dense_params + filling.expert_params >= limit || close) {
        plan.buckets.push_back(filling);
        B.segments.back().bucket = static_cast<int>(plan.buckets.size() - 1);
        filling = {0, 0, chunk, {}, {}, {}};
      }
    };
    if (v == 0) {
      Segment s = Segment::of(T(embedding_forward_ops(m, b, e, sh)));
      if (tpc) s.comms.push_back(tp_call(row, "embedding"));
      F.segments.push_back(s);
    }
    std::vector<std::vector<Segment>> layer_bwd;
    std::vector<size_t> first_fwd, first_bwd(static_cast<size_t>(l1 - l0)), last_bwd(static_cast<size_t>(l1 - l0));
    // Megatron-FSDP with fp8_param_gather: each unit's FP8 GEMM weights are gathered in FP8.
    const bool fsdp_fp8 = c.megatron_fsdp_units() && c.fp8_weights_gathered();
    std::vector<Fp8WeightElements> unit_fp8;
    for (int l = l0; l < l1; ++l) {
      plan_layer(l);
      if (te_weight_cache || fsdp_fp8) {
        const Fp8WeightElements w = fp8_gemm_weight_elements(prev.ops.all());
        if (te_weight_cache) fp8_weights += w.all, fp8_expert_weights += w.experts, fp8_weight_casts += w.gemms;
        if (fsdp_fp8) unit_fp8.push_back(w);
      }
      std::vector<Segment> fwd = prev.fwd, bwd = prev.bwd;
      if (l - l0 < c.recomputed_layers(l1 - l0)) {
        bwd.insert(bwd.begin(), fwd.begin(), fwd.end());
        // distribute_saved_activations: a checkpoint's input (one per uniform group, one per layer with block) is
        // all-gathered over TP before its recomputation.
        const int per = c.recompute_method == "uniform" ? std::max(1, c.recompute_num_layers) : 1;
        if (c.distribute_saved_activations && (l - l0) % per == 0) {
          bwd.insert(bwd.begin(), Segment::of(Duration(), {tp_call(CollectiveOp::kAllGather, "checkpointed input")}));
        }
      }
      first_fwd.push_back(F.segments.size());
      F.segments.insert(F.segments.end(), fwd.begin(), fwd.end());
      layer_bwd.push_back(std::move(bwd));
    }
    // The output layer's final norm and logits (and, with MTP, each module's): in the last virtual stage, or for a
    // layout's standalone MTP, the modules' norms where they run and their logits with the main ones.
    const auto head = head_forward_ops(m, b, e, sh);
    const std::vector<hw::OpWork> norm(head.begin(), head.begin() + 1), logits(head.begin() + 1, head.end());
    const bool standalone = standalone_mtp();
    // Multi-token prediction modules (gpt_model.h): each its input (embedding, norms, projection), one layer of the
    // last layer's kind (recomputed as a chunk's first layer would be) and its head (`head_fwd`, `head_bwd`);
    // backward runs them last module first, before the chunk's layers. `close`: the chunk's last bucket closes with
    // its last module (no transformer layer follows in backward).
    auto plan_mtp = [&](const std::function<void()>& head_fwd, const std::function<void()>& head_bwd, bool close) {
      const auto input = mtp_input_forward_ops(m, b, e, sh);
      plan_layer(m.num_layers);
      std::vector<Segment> layer_fwd = prev.fwd, layer_bwd_mtp = prev.bwd;
      if (c.recomputed_layers(1) > 0) layer_bwd_mtp.insert(layer_bwd_mtp.begin(), layer_fwd.begin(), layer_fwd.end());
      const auto [dense, expert] = layer_shard(m.num_layers);
      for (int d = 0; d < m.mtp_num_layers; ++d) {
        F.segments.push_back(Segment::of(T(input)));
        F.segments.insert(F.segments.end(), layer_fwd.begin(), layer_fwd.end());
        head_fwd();
      }
      for (int d = 0; d < m.mtp_num_layers; ++d) {
        head_bwd();
        B.segments.insert(B.segments.end(), layer_bwd_mtp.begin(), layer_bwd_mtp.end());
        B.segments.push_back(Segment::of(TB(input)));
        B.segments.back().weight = TW(input);
        // The stage's copy of the word embeddings (mtp_embedding_copy) with the first module's parameters.
        const double copy = d == 0 && mtp_embedding_copy() ? 1.0 * m.vocab_size * h / tp : 0.0;
        add_params(copy + dense + (m.mtp_params() - m.layer_params(m.num_layers)) / tp, expert, close && d == m.mtp_num_layers - 1);
      }
    };
    if (standalone && v == mtp_stage()) {
      // Megatron-core's MultiTokenPredictionBlock in its own chunk (GPTModel._postprocess with mtp_process and no
      // post_process): each module's head is its final norm; their hidden states go on beside the main ones
      // (send_output: 1 + mtp_num_layers times the bytes).
      plan_mtp([&] { F.segments.push_back(Segment::of(T(norm))); },
               [&] { B.segments.push_back(Segment::of(TB(norm))); }, l1 == l0);
    }
    if (v == V - 1) {
      Slot s = column_slot("logits input", "logits");
      Segment a = Segment::of(T(norm), s.fwd), z = Segment::of(T(logits));
      if (tpc) z.comms.push_back(call(CollectiveOp::kAllReduce, GroupKind::kTp, Bytes::of(12 * t), Exposure::kTp, "cross-entropy"));
      auto logits_bwd = [&] {
        const size_t begin = B.segments.size();
        const std::vector<Segment> split = column_backward(logits, s, {});
        B.segments.insert(B.segments.end(), split.begin(), split.end());
        if (split.empty()) {
          B.segments.push_back(Segment::of(TB(logits), s.bwd));
          B.segments.back().weight = TW(logits);
        }
        if (c.defer_embedding_wgrad_compute) {
          // Megatron-core's output layer with a grad_output_buffer (LinearWithGradAccumulationAndAsyncCommunication):
          // no weight gradient, so no input gathered again; the input gradient's reduction is waited for at once.
          std::vector<hw::OpWork> bwd = backward_of(logits, e, sh.fp8_cast_out);
          const auto wgrads = std::stable_partition(bwd.begin(), bwd.end(), [](const hw::OpWork& op) { return !is_wgrad(op); });
          const std::vector<hw::OpWork> wgrad(wgrads, bwd.end());
          bwd.erase(wgrads, bwd.end());
          deferred_heads.push_back({begin, B.segments.size(), Segment::of(T(bwd), s.bwd)});
          plan.output_wgrad += T(wgrad).time;
        }
      };
      auto head_bwd = [&] {
        logits_bwd();
        B.segments.push_back(Segment::of(TB(norm)));
      };
      F.segments.push_back(a);
      F.segments.push_back(z);
      if (standalone) {
        // process_mtp_loss: each module's hidden state through the (shared) output layer and its loss, after the
        // input's all-gather under sequence parallelism; backward before the main output layer's.
        for (int d = 0; d < m.mtp_num_layers; ++d) {
          if (!s.fwd.empty()) F.segments.push_back(Segment::of(Duration(), s.fwd));
          F.segments.push_back(z);
        }
        for (int d = 0; d < m.mtp_num_layers; ++d) logits_bwd();
      } else if (m.mtp_num_layers > 0) {  // after the main loss, each with the norm, output layer and loss
        plan_mtp(
            [&] {
              F.segments.push_back(a);
              F.segments.push_back(z);
            },
            head_bwd, false);
      }
      head_bwd();
      // A last chunk with no layer (account_for_loss_in_pipeline_split) closes its bucket here.
      if (output_layer_here || l1 == l0) add_params(output_layer_here ? output_shard : 0, 0, l1 == l0 && v != 0);
    }
    for (int i = static_cast<int>(layer_bwd.size()) - 1; i >= 0; --i) {
      const int l = l0 + i;
      first_bwd[static_cast<size_t>(i)] = B.segments.size();
      B.segments.insert(B.segments.end(), layer_bwd[i].begin(), layer_bwd[i].end());
      last_bwd[static_cast<size_t>(i)] = B.segments.size() - 1;
      const auto [dense, expert] = layer_shard(l);
      add_params(dense, expert, v != 0 && i == 0);
    }
    if (v == 0) {
      Segment s = Segment::of(Duration());
      if (sp) s.comms.push_back(tp_call(CollectiveOp::kAllGather, "embedding (bwd)"));
      if (!s.comms.empty()) B.segments.push_back(s);
      B.segments.push_back(Segment::of(TB(embedding_forward_ops(m, b, e, sh))));
      add_params(embedding_shard, 0, true);
    }
    if (c.fsdp() && l1 > l0) {
      // FSDP: one unit per layer (the first also holds the embedding, the last the output layer).
      FsdpUnits units{{}, first_fwd, first_bwd, last_bwd, v == 0};
      for (int l = l0; l < l1; ++l) {
        auto [dense, expert] = layer_shard(l);
        double root = 0;
        if (l == l0 && v == 0) root += embedding_shard;
        if (l == l1 - 1 && v == V - 1 && output_layer_here) root += output_shard;
        FsdpUnits::Unit unit{dense + root, expert, l, root};
        if (fsdp_fp8) {
          const Fp8WeightElements& w = unit_fp8[static_cast<size_t>(l - l0)];
          unit.dense_fp8 = w.all - w.experts, unit.expert_fp8 = w.experts;
        }
        units.params.push_back(unit);
      }
      plan_fsdp_units(part, units, F, B);
    }
    // A layout's empty virtual stage (Megatron-core builds an empty block there) passes the hidden state on.
    for (Pass* p : {&F, &B}) {
      if (p->segments.empty()) p->segments.push_back(Segment::of(Duration()));
    }
    if (!deferred_heads.empty()) {  // the last one first: the earlier ranges keep their places
      D = B;
      for (auto it = deferred_heads.rbegin(); it != deferred_heads.rend(); ++it) {
        D.segments.erase(D.segments.begin() + static_cast<long>(it->begin), D.segments.begin() + static_cast<long>(it->end));
        D.segments.insert(D.segments.begin() + static_cast<long>(it->begin), it->without);
      }
      plan.deferred_chunk = chunk;
      if (sp) plan.drain_gather.push_back(tp_call(CollectiveOp::kAllGather, "logits input (deferred wgrad)"));
    }
    const std::vector<Pass*> passes = deferred_heads.empty() ? std::vector<Pass*>{&F, &B} : std::vector<Pass*>{&F, &B, &D};
    for (Pass* p : passes) {
      // Each pass follows the host's blocking pipeline receive: the GPU waits for the host to issue its first kernel.
      // Without a pipeline, the loss's checks (check_for_nan_in_loss, check_for_spiky_loss: host synchronizations on
      // the loss) do the same to each backward pass.
      if ((pp > 1 || ((c.check_for_nan_in_loss || c.check_for_spiky_loss) && p != &F)) && !p->segments.empty()) {
        p->segments.front().add_host_wait(host.pass_start());
        p->host_sync = true;
      }
      for (const auto& s : p->segments) p->compute += s.compute;
    }
    plan.forward.push_back(std::move(F));
    plan.backward.push_back(std::move(B));
    if (!deferred_heads.empty()) plan.backward_deferred = std::move(D);
  }
  if (dualpipe_) plan_dualpipe(plan, pp > 1 ? host.pass_start() : Duration());
  for (const auto& bk : plan.buckets) {
    plan.dense_params += bk.dense_params;
    plan.expert_params += bk.expert_params;
  }
  plan_step(part, plan, {fp8_weights, fp8_expert_weights, fp8_weight_casts});
  plan_reduce_prep(part, plan, host.pass_start());
  plan_step_syncs(part, plan, stage, host.pass_start());
  plan_eval(plan, stage);

  fit_memory(part, stage, embedding_shard, output_shard, plan);
  return plan;
}

}  // namespace lcsim::wl
