#include "workloads/training/megatron.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <numeric>
#include <set>
#include <utility>

#include "workloads/training/megatron_args.h"

namespace lcsim::wl {

using policy::CollectiveOp;
using Exposure = MegatronTraining::Exposure;

// ---------------------------------------------------------------------------------------------------------------
// Configuration

void MegatronConfig::visit(Section& s) {
  if (s.mode() == Section::Mode::kParse && s.has("megatron_args")) {
    // The pasted command line first, then the keys written out on top of it; all parsed as one mapping.
    const ConfigValue* raw = s.node()->find("megatron_args");
    if (!raw->is_scalar()) {
      s.error("megatron_args", "expected a Megatron-LM command line as one string");
      s.skip_unknown_keys();
      return;
    }
    try {
      ImportedArgs imported = import_megatron_args(raw->scalar, raw->location);
      ignored_args = imported.ignored;
      ConfigValue merged = imported.tree;
      merge_into(merged, *s.node());
      // `type` belongs to the enclosing workload section, which has consumed it already.
      std::erase_if(merged.children, [](const ConfigValue& v) { return v.key == "type"; });
      Section inner = Section::parser(&merged, s.path(), s.diagnostics());
      visit_keys(inner);
      inner.finish();
    } catch (const InputError& e) {
      for (const auto& d : e.diagnostics()) s.diagnostics()->add(raw->location, s.child_path("megatron_args"), d.message);
      if (e.diagnostics().empty()) s.diagnostics()->add(raw->location, s.child_path("megatron_args"), e.what());
    }
    s.skip_unknown_keys();
    return;
  }
  visit_keys(s);
}

void MegatronConfig::visit_keys(Section& s) {
  s.field("megatron_args", megatron_args,
          "a Megatron-LM command line pasted as it is (\"--num-layers 96 --hidden-size 12288 ... --bf16\"); keys "
          "written out here override it; arguments with no effect on speed or memory (learning rate, data, "
          "logging, checkpoints) are listed as ignored in the run header, unknown ones are errors");
  s.section("model", "model architecture (Megatron-LM argument names)", [this](Section& m) { model.visit(m); });
  s.field("global_batch_size", global_batch_size, "sequences per iteration, all data-parallel ranks together",
          Range::at_least(1));
  s.field("micro_batch_size", micro_batch_size, "sequences per pipeline micro-batch", Range::at_least(1));
  s.field("tensor_model_parallel_size", tensor_model_parallel_size,
          "tensor-parallel ranks (TP): each layer's matrices split over them", Range::at_least(1));
  s.field("pipeline_model_parallel_size", pipeline_model_parallel_size,
          "pipeline stages (PP): layers split into consecutive stages", Range::at_least(1));
  s.field("num_layers_per_virtual_pipeline_stage", num_layers_per_virtual_pipeline_stage,
          "layers per model chunk for the interleaved schedule; 0 = one chunk per stage", Range::at_least(0));
  s.field("decoder_first_pipeline_num_layers", decoder_first_pipeline_num_layers,
          "layers on the first pipeline stage when the split is uneven; 0 = even split", Range::at_least(0));
  s.field("decoder_last_pipeline_num_layers", decoder_last_pipeline_num_layers,
          "layers on the last pipeline stage when the split is uneven; 0 = even split", Range::at_least(0));
  s.field("context_parallel_size", context_parallel_size,
          "context-parallel ranks (CP): each sequence split over them, keys/values exchanged", Range::at_least(1));
  s.field("expert_model_parallel_size", expert_model_parallel_size,
          "expert-parallel ranks (EP), carved out of data x context parallelism: experts split over them",
          Range::at_least(1));
  s.field("sequence_parallel", sequence_parallel,
          "norms and dropouts on 1/TP of the tokens; TP all-reduces become all-gather + reduce-scatter");
  s.field("overlap_p2p_comm", overlap_p2p_comm,
          "interleaved schedule: pipeline sends overlap the next pass (the non-interleaved schedules always wait "
          "for their sends, as Megatron-LM's do)");
  s.choice("pipeline_schedule", pipeline_schedule, {"auto", "gpipe", "1f1b", "interleaved"},
           "auto: interleaved 1F1B with virtual stages, else 1F1B");
  s.field("parallel_order", parallel_order,
          "how ranks decompose, innermost first (Megatron's order): tp, cp, ep, dp, pp joined by '-' (ep may be "
          "left out; expert groups are always cut from the data x context-parallel ranks)");
  s.choice("precision", precision, {"bf16", "fp16", "fp8"}, "data type of the matrix multiplies");
  s.choice("recompute_granularity", recompute_granularity, {"none", "selective", "full"},
           "activation recomputation: selective recomputes attention's core, full each layer's forward");
  s.field("use_distributed_optimizer", use_distributed_optimizer,
          "optimizer states sharded over data-parallel ranks: gradients reduce-scattered, parameters "
          "all-gathered");
  s.field("overlap_grad_reduce", overlap_grad_reduce,
          "reduce gradient buckets during the last micro-batch's backward instead of after it");
  s.field("overlap_param_gather", overlap_param_gather,
          "all-gather updated parameters alongside the next iteration's first forward pass (distributed "
          "optimizer)");
  s.field("tp_comm_overlap", tp_comm_overlap,
          "tensor-parallel all-gathers and reduce-scatters overlapped with the neighbouring GEMMs (needs "
          "sequence_parallel)");
  s.field("use_torch_fsdp2", use_torch_fsdp2,
          "fully sharded data parallelism (ZeRO-3 / FSDP2, as TorchTitan runs it): parameters, gradients and optimizer "
          "states sharded over data x context parallelism; each layer's parameters all-gathered before its forward "
          "and backward (the next layer's prefetched under the current one), its gradients reduce-scattered after "
          "its backward");
  s.field("accumulate_allreduce_grads_in_fp32", accumulate_allreduce_grads_in_fp32,
          "gradients kept and reduced in fp32 (Megatron forces this on with bf16)");
  s.field("ddp_bucket_size", ddp_bucket_size,
          "parameters per gradient bucket; 0 = Megatron's default max(40M, 1M x data-parallel size)",
          Range::at_least(0));
  s.field("use_flash_attn", use_flash_attn, "fused attention: no score matrix in memory");
  s.field("moe_load_imbalance", moe_load_imbalance,
          "tokens of the busiest expert / mean (1 = perfect balance): expert GEMMs and token all-to-alls take "
          "this much longer", Range::at_least(1));
  s.choice("moe_token_dispatcher_type", moe_token_dispatcher_type, {"alltoall", "flex"},
           "alltoall: each token travels once per chosen expert; flex (DeepEP-style): once per destination node, "
           "then over NVLink inside it");
  s.field("overlap_moe_expert_parallel_comm", overlap_moe_expert_parallel_comm,
          "expert-parallel all-to-alls run beside the compute (another micro-batch's work hides them, as 1F1B "
          "all-to-all overlap or DualPipe do): waited for only at the end of each pass");
  s.field("memory_reserve", memory_reserve,
          "per-GPU memory kept for the CUDA context, NCCL, workspaces and fragmentation", Range::at_least(0));
  s.field("train_iters", train_iters,
          "iterations; the first is simulated, the rest repeat its result while the cluster state is unchanged",
          Range::at_least(1));
  s.choice("symmetry", symmetry, {"auto", "off"},
           "auto: simulate one rank per pipeline stage when ranks are identical (same part, no straggler); off: "
           "every rank");
  s.values("straggler_ranks", straggler_ranks, "ranks whose kernels run straggler_slowdown times slower");
  s.field("straggler_slowdown", straggler_slowdown, "kernel time factor of the straggler ranks",
          Range::at_least(1));
  if (s.mode() != Section::Mode::kParse) return;
  if (!Placement::check_order(parallel_order).empty()) {
    s.error("parallel_order", Placement::check_order(parallel_order));
  }
  if (overlap_param_gather && !use_distributed_optimizer) {
    s.error("overlap_param_gather", "needs use_distributed_optimizer: true (as in Megatron-LM)");
  }
  if (tp_comm_overlap && !sequence_parallel) s.error("tp_comm_overlap", "needs sequence_parallel: true");
  if (use_torch_fsdp2 && use_distributed_optimizer) {
    s.error("use_torch_fsdp2", "and use_distributed_optimizer exclude each other (FSDP shards the optimizer too)");
  }
  const std::string sched = schedule();
  if (virtual_stages() > 1 && pipeline_model_parallel_size < 2) {
    s.error("num_layers_per_virtual_pipeline_stage", "interleaving needs pipeline_model_parallel_size > 1");
  } else if (sched == "interleaved" && virtual_stages() == 1) {
    s.error("pipeline_schedule", "interleaved needs num_layers_per_virtual_pipeline_stage (more than one model "
                                 "chunk per stage)");
  }
  if (sched != "interleaved" && virtual_stages() > 1) {
    s.error("pipeline_schedule", "'" + sched + "' runs one model chunk per stage; num_layers_per_virtual_"
                                  "pipeline_stage asks for interleaving");
  }
}

int MegatronConfig::virtual_stages() const {
  if (num_layers_per_virtual_pipeline_stage <= 0) return 1;
  const double per_stage = static_cast<double>(model.num_layers) / pipeline_model_parallel_size;
  return std::max(1, static_cast<int>(std::lround(per_stage / num_layers_per_virtual_pipeline_stage)));
}

std::string MegatronConfig::schedule() const {
  if (pipeline_schedule != "auto") return pipeline_schedule;
  return virtual_stages() > 1 ? "interleaved" : "1f1b";
}

// ---------------------------------------------------------------------------------------------------------------
// Plan: schedules, layer split, per-stage passes

std::vector<MegatronTraining::Task> MegatronTraining::schedule(const std::string& kind, int stages, int stage,
                                                               int m, int chunks) {
  std::vector<Task> out;
  if (kind == "gpipe") {
    for (int i = 0; i < m; ++i) out.push_back({true, i, 0});
    for (int i = 0; i < m; ++i) out.push_back({false, i, 0});
    return out;
  }
  if (kind == "1f1b" || chunks == 1) {
    const int warmup = std::min(m, stages - stage - 1);
    for (int i = 0; i < warmup; ++i) out.push_back({true, i, 0});
    for (int i = 0; i < m - warmup; ++i) {
      out.push_back({true, warmup + i, 0});
      out.push_back({false, i, 0});
    }
    for (int i = m - warmup; i < m; ++i) out.push_back({false, i, 0});
    return out;
  }
  // Interleaved 1F1B (Narayanan et al. SC'21; Megatron's forward_backward_pipelining_with_interleaving): the k-th
  // virtual micro-batch is micro-batch (k / (p v)) p + k % p of chunk (k / p) % v (backward: chunks reversed).
  const int total = m * chunks;
  const int warmup = std::min(total, (stages - stage - 1) * 2 + (chunks - 1) * stages);
  auto mb = [&](int k) { return (k / (stages * chunks)) * stages + k % stages; };
  auto f = [&](int k) { return Task{true, mb(k), (k / stages) % chunks}; };
  auto b = [&](int k) { return Task{false, mb(k), chunks - 1 - (k / stages) % chunks}; };
  for (int k = 0; k < warmup; ++k) out.push_back(f(k));
  for (int i = 0; i < total - warmup; ++i) {
    out.push_back(f(warmup + i));
    out.push_back(b(i));
  }
  for (int k = total - warmup; k < total; ++k) out.push_back(b(k));
  return out;
}

std::pair<int, int> MegatronTraining::layer_range(int v) const {
  const int V = config_.pipeline_model_parallel_size * chunks_, L = config_.model.num_layers;
  const int first = config_.decoder_first_pipeline_num_layers, last = config_.decoder_last_pipeline_num_layers;
  // The first and last virtual stage may hold fewer layers (Megatron's uneven split; with interleaving lcsim
  // applies it to the first and last model chunk); the others share the rest evenly.
  const int special = (first > 0 ? 1 : 0) + (last > 0 ? 1 : 0);
  const int middle = V - special;
  const int per = middle > 0 ? (L - (first > 0 ? first : 0) - (last > 0 ? last : 0)) / middle : 0;
  auto start = [&](int s) {
    if (s <= 0) return 0;
    return std::min(L, (first > 0 ? first : per) + (s - 1) * per);
  };
  return {start(v), v == V - 1 ? L : start(v + 1)};
}

namespace {
MegatronTraining::Segment make_segment(Duration compute, std::vector<MegatronTraining::CommCall> comms = {}) {
  MegatronTraining::Segment s;
  s.compute = compute;
  s.comms = std::move(comms);
  return s;
}
const char* op_word(CollectiveOp op) {
  switch (op) {
    case CollectiveOp::kAllReduce: return "all-reduce";
    case CollectiveOp::kAllGather: return "all-gather";
    case CollectiveOp::kReduceScatter: return "reduce-scatter";
    case CollectiveOp::kAllToAll: return "all-to-all";
    default: return "collective";
  }
}
}  // namespace

MegatronTraining::StagePlan MegatronTraining::plan_stage(const hw::AcceleratorSpec& part, int stage) const {
  const auto& c = config_;
  const auto& m = c.model;
  const int tp = c.tensor_model_parallel_size, cp = c.context_parallel_size, ep = c.expert_model_parallel_size;
  const int pp = c.pipeline_model_parallel_size, V = pp * chunks_;
  const bool sp = c.sequence_parallel && tp > 1, tpc = tp > 1;
  const LayerShard sh{tp, cp, ep, sp, c.moe_load_imbalance, c.use_flash_attn};
  const int b = c.micro_batch_size;
  const double e = 2;  // activations stay 16-bit (fp8 only inside the GEMMs)
  const double t = static_cast<double>(b) * m.seq_length / cp, h = m.hidden_size;
  const Bytes act = Bytes::of(t * h * e);
  const double k = m.moe_router_topk, imb = c.moe_load_imbalance;
  const Bytes routed = Bytes::of(t * k * h * e * imb);                  // tokens gathered over TP for the experts
  // Per rank into the token all-to-all, at perfect balance; with moe_load_imbalance the busiest expert rank
  // receives (dispatch) and sends back (combine) that many times the mean, the others correspondingly less.
  const Bytes dispatch = Bytes::of((sp ? t / tp : t) * k * h * e * dispatch_factor_);
  const Bytes kv = Bytes::of(2.0 * b * m.seq_length * std::max(1.0, 1.0 * m.query_groups() / tp) * m.head_dim() * e);
  auto T = [&](const std::vector<hw::OpWork>& ops) { return hw::total_time(ops, part, dtype_); };
  auto TB = [&](const std::vector<hw::OpWork>& ops) { return hw::total_time(backward_of(ops, e), part, dtype_); };
  auto call = [&](CollectiveOp op, GroupKind g, Bytes size, Exposure x, const std::string& what) {
    return CommCall{op, g, size, x, std::string(group_kind_name(g)) + " " + op_word(op) + " " + what};
  };
  auto tp_call = [&](CollectiveOp op, const std::string& what) { return call(op, GroupKind::kTp, act, Exposure::kTp, what); };
  auto a2a = [&](const std::string& what, bool sends) {
    CommCall x = call(CollectiveOp::kAllToAll, GroupKind::kEp, dispatch, Exposure::kEp, what);
    x.skew = std::min<double>(imb, ep);
    x.skew_sends = sends;
    return x;
  };
  const CollectiveOp row = sp ? CollectiveOp::kReduceScatter : CollectiveOp::kAllReduce;

  // A comm slot between two compute groups: what forward and backward run there.
  struct Slot {
    std::vector<CommCall> fwd, bwd;
    bool overlap = false;
  };
  // Slot before a column-parallel layer (copy / all-gather) and after a row-parallel one (all-reduce / RS).
  auto column_slot = [&](const std::string& what) {
    Slot s;
    if (!tpc) return s;
    if (sp) s.fwd.push_back(tp_call(CollectiveOp::kAllGather, what));
    s.bwd.push_back(tp_call(sp ? CollectiveOp::kReduceScatter : CollectiveOp::kAllReduce, what + " (bwd)"));
    s.overlap = c.tp_comm_overlap;
    return s;
  };
  auto row_slot = [&](const std::string& what) {
    Slot s;
    if (!tpc) return s;
    s.fwd.push_back(tp_call(row, what));
    if (sp) s.bwd.push_back(tp_call(CollectiveOp::kAllGather, what + " (bwd)"));
    s.overlap = c.tp_comm_overlap;
    return s;
  };

  // Parameters one GPU holds (dense over TP; experts over EP and TP): per layer, the embedding (the input half
  // of it when the output layer is untied) and the output layer.
  auto layer_shard = [&](int l) {
    if (!m.is_moe_layer(l)) return std::make_pair(m.attention_params() / tp + m.dense_mlp_params() / tp, 0.0);
    return std::make_pair(m.attention_params() / tp + (m.moe_mlp_params() - m.num_experts * m.expert_params()) / tp,
                          1.0 * m.num_experts / ep * m.expert_params() / tp);
  };
  const double embedding_shard =
      (m.embedding_params() - (m.untie_embeddings_and_output_weights ? 1.0 * m.vocab_size * h : 0.0)) / tp;
  const double output_shard = 1.0 * m.vocab_size * h / tp;

  StagePlan plan;
  const double bucket_limit =
      c.overlap_grad_reduce ? (c.ddp_bucket_size > 0 ? static_cast<double>(c.ddp_bucket_size)
                                                     : std::max(40e6, 1e6 * dp_ * cp))
                            : 1e300;
  const bool output_layer_here = m.untie_embeddings_and_output_weights || pp > 1;
  for (int chunk = 0; chunk < chunks_; ++chunk) {
    const int v = chunk * pp + stage;
    const auto [l0, l1] = layer_range(v);
    Pass F, B;
    Bucket filling{0, 0, chunk};
    auto add_params = [&](double dense, double expert, bool close) {
      filling.dense_params += dense;
      filling.expert_params += expert;
      if (filling.dense_params + filling.expert_params >= bucket_limit || close) {
        plan.buckets.push_back(filling);
        B.segments.back().bucket = static_cast<int>(plan.buckets.size() - 1);
        filling = {0, 0, chunk};
      }
    };
    if (v == 0) {
      Segment s = make_segment(T(embedding_forward_ops(m, b, e, sh)));
      if (tpc) s.comms.push_back(tp_call(row, "embedding"));
      F.segments.push_back(s);
    }
    std::vector<std::vector<Segment>> layer_bwd;
    std::vector<size_t> first_fwd, first_bwd(static_cast<size_t>(l1 - l0)), last_bwd(static_cast<size_t>(l1 - l0));
    for (int l = l0; l < l1; ++l) {
      const LayerOps ops = layer_forward(m, l, b, e, sh);
      const bool moe = m.is_moe_layer(l);
      Slot slots[5];
      slots[0] = column_slot("qkv input");
      if (cp > 1) {
        slots[1].fwd.push_back(call(CollectiveOp::kAllGather, GroupKind::kCp, kv * cp, Exposure::kCp, "keys/values"));
        slots[1].bwd.push_back(call(CollectiveOp::kReduceScatter, GroupKind::kCp, kv * cp, Exposure::kCp, "keys/values (bwd)"));
        slots[1].overlap = true;  // the ring exchange runs under the attention kernels
      }
      slots[2] = row_slot("attention output");
      if (moe) {
        if (ep > 1) {
          slots[3].fwd.push_back(a2a("dispatch", false));
          slots[4].bwd.push_back(a2a("combine (bwd)", false));
        }
        if (tpc) {
          slots[3].fwd.push_back(call(CollectiveOp::kAllGather, GroupKind::kTp, routed, Exposure::kTp, "routed tokens"));
          slots[3].bwd.insert(slots[3].bwd.begin(), call(CollectiveOp::kReduceScatter, GroupKind::kTp, routed, Exposure::kTp, "routed tokens (bwd)"));
          slots[4].fwd.push_back(call(CollectiveOp::kReduceScatter, GroupKind::kTp, routed, Exposure::kTp, "expert output"));
          slots[4].bwd.push_back(call(CollectiveOp::kAllGather, GroupKind::kTp, routed, Exposure::kTp, "expert output (bwd)"));
        }
        if (ep > 1) {
          slots[4].fwd.push_back(a2a("combine", true));
          slots[3].bwd.push_back(a2a("dispatch (bwd)", true));
        }
      } else {
        slots[3] = column_slot("mlp input");
        slots[4] = row_slot("mlp output");
      }
      const std::vector<hw::OpWork>* groups[6] = {&ops.norm1, &ops.qkv, &ops.attention, &ops.norm2, &ops.mlp, &ops.residual};
      const bool side = moe && c.overlap_moe_expert_parallel_comm;  // slots 3 and 4 hold the MoE traffic
      std::vector<Segment> fwd, bwd;
      for (int i = 0; i < 6; ++i) {
        Segment s = make_segment(T(*groups[i]));
        if (i < 5) {
          s.comms = slots[i].fwd;
          s.overlap = slots[i].overlap && !s.comms.empty();
          s.side = side && (i == 3 || i == 4) && !s.comms.empty();
        }
        fwd.push_back(s);
      }
      for (int i = 5; i >= 0; --i) {
        Segment s = make_segment(TB(*groups[i]));
        if (i == 2 && c.recompute_granularity == "selective" && !c.use_flash_attn) {
          // Selective recomputation redoes the attention core (everything but the output projection).
          s.compute += T({ops.attention.begin(), ops.attention.end() - 1});
        }
        if (i >= 1) {
          s.comms = slots[i - 1].bwd;
          s.overlap = slots[i - 1].overlap && !s.comms.empty();
          s.side = side && (i - 1 == 3 || i - 1 == 4) && !s.comms.empty();
        }
        bwd.push_back(s);
      }
      if (c.recompute_granularity == "full") bwd.insert(bwd.begin(), fwd.begin(), fwd.end());
      first_fwd.push_back(F.segments.size());
      F.segments.insert(F.segments.end(), fwd.begin(), fwd.end());
      layer_bwd.push_back(std::move(bwd));
    }
    if (v == V - 1) {
      const auto head = head_forward_ops(m, b, e, sh);
      const std::vector<hw::OpWork> norm(head.begin(), head.begin() + 1), logits(head.begin() + 1, head.end());
      Slot s = column_slot("logits input");
      Segment a = make_segment(T(norm), s.fwd), z = make_segment(T(logits));
      if (tpc) z.comms.push_back(call(CollectiveOp::kAllReduce, GroupKind::kTp, Bytes::of(12 * t), Exposure::kTp, "cross-entropy"));
      F.segments.push_back(a);
      F.segments.push_back(z);
      B.segments.push_back(make_segment(TB(logits), s.bwd));
      B.segments.push_back(make_segment(TB(norm)));
      if (output_layer_here) add_params(output_shard, 0, false);
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
      Segment s = make_segment(Duration());
      if (sp) s.comms.push_back(tp_call(CollectiveOp::kAllGather, "embedding (bwd)"));
      if (!s.comms.empty()) B.segments.push_back(s);
      B.segments.push_back(make_segment(TB(embedding_forward_ops(m, b, e, sh))));
      add_params(embedding_shard, 0, true);
    }
    if (c.use_torch_fsdp2 && l1 > l0) {
      // FSDP: one unit per layer (the first also holds the embedding, the last the output layer). Forward
      // gathers units 0..n-1, backward n-1..0, each prefetched as the previous unit starts computing; a unit's
      // gradients are reduce-scattered when its backward is done.
      const size_t n = static_cast<size_t>(l1 - l0);
      const double gb = c.accumulate_allreduce_grads_in_fp32 ? 4 : 2;
      const double edp = std::max(1, dp_ * cp / ep);
      std::vector<std::vector<CommCall>> gather(n), reduce(n);
      for (size_t j = 0; j < n; ++j) {
        const int l = l0 + static_cast<int>(j);
        auto [dense, expert] = layer_shard(l);
        if (j == 0 && v == 0) dense += embedding_shard;
        if (j == n - 1 && v == V - 1 && output_layer_here) dense += output_shard;
        const std::string unit = " layer " + std::to_string(l);
        gather[j].push_back({CollectiveOp::kAllGather, GroupKind::kDpCp, Bytes::of(dense * 2), Exposure::kDp, "fsdp all-gather" + unit, 1});
        reduce[j].push_back({CollectiveOp::kReduceScatter, GroupKind::kDpCp, Bytes::of(dense * gb), Exposure::kDp, "fsdp reduce-scatter" + unit, 2});
        if (expert > 0 && edp > 1) {
          gather[j].push_back({CollectiveOp::kAllGather, GroupKind::kEdp, Bytes::of(expert * 2), Exposure::kDp, "fsdp expert all-gather" + unit, 1});
          reduce[j].push_back({CollectiveOp::kReduceScatter, GroupKind::kEdp, Bytes::of(expert * gb), Exposure::kDp, "fsdp expert reduce-scatter" + unit, 2});
        }
      }
      F.segments[0].prefetch.push_back(gather[0]);
      F.segments[0].await = 1;
      for (size_t j = 0; j < n; ++j) {
        Segment& first = F.segments[first_fwd[j]];
        first.await = static_cast<int>(j + 1);
        if (j + 1 < n) first.prefetch.push_back(gather[j + 1]);
      }
      B.segments[0].prefetch.push_back(gather[n - 1]);
      B.segments[0].await = 1;
      for (size_t j = n; j-- > 0;) {
        Segment& first = B.segments[first_bwd[j]];
        first.await = static_cast<int>(n - j);
        if (j > 0) first.prefetch.push_back(gather[j - 1]);
        Segment& last = (j == 0 && v == 0) ? B.segments.back() : B.segments[last_bwd[j]];
        last.reduce.insert(last.reduce.end(), reduce[j].begin(), reduce[j].end());
      }
    }
    for (const auto& s : F.segments) F.compute += s.compute;
    for (const auto& s : B.segments) B.compute += s.compute;
    plan.forward.push_back(std::move(F));
    plan.backward.push_back(std::move(B));
  }
  for (const auto& bk : plan.buckets) {
    plan.dense_params += bk.dense_params;
    plan.expert_params += bk.expert_params;
  }
  // Mixed-precision Adam: per parameter read fp32 grad, master, m, v (16 B), write master, m, v (12 B) and the
  // 16-bit weights (2 B): memory bound. The distributed optimizer updates 1/DP of them.
  const double edp = std::max(1, dp_ * cp / ep);
  const bool sharded = c.use_distributed_optimizer || c.use_torch_fsdp2;
  const double local = sharded ? plan.dense_params / (dp_ * cp) + plan.expert_params / edp
                               : plan.dense_params + plan.expert_params;
  plan.optimizer = hw::memory_time(part, Bytes::of(30.0 * local)) + part.calibration.kernel_launch * 3.0;
  if (c.use_distributed_optimizer) {  // the updated 16-bit parameters, gathered back after the step
    if (dp_ * cp > 1) {
      plan.param_gather.push_back({CollectiveOp::kAllGather, GroupKind::kDpCp, Bytes::of(plan.dense_params * 2),
                                   Exposure::kDp, "dp-cp all-gather params"});
    }
    if (plan.expert_params > 0 && edp > 1) {
      plan.param_gather.push_back({CollectiveOp::kAllGather, GroupKind::kEdp, Bytes::of(plan.expert_params * 2),
                                   Exposure::kDp, "expert-dp all-gather params"});
    }
  }

  // Memory of this stage.
  hw::TrainingMemoryInput in;
  in.parameters = plan.dense_params;
  in.expert_parameters = plan.expert_params;
  in.data_parallel = dp_ * cp;
  in.expert_data_parallel = static_cast<int>(edp);
  in.zero_stage = c.use_torch_fsdp2 ? 3 : c.use_distributed_optimizer ? 1 : 0;
  in.grad_bytes = c.accumulate_allreduce_grads_in_fp32 ? 4 : 2;
  int layers = 0;
  for (int chunk = 0; chunk < chunks_; ++chunk) {
    const auto [l0, l1] = layer_range(chunk * pp + stage);
    layers += l1 - l0;
  }
  in.layers = layers;
  in.micro_batch = b;
  const std::string sched = c.schedule();
  double in_flight = micro_batches_;
  if (sched == "1f1b") in_flight = std::min(micro_batches_, pp - stage);
  if (sched == "interleaved") {
    in_flight = std::min(1.0 * micro_batches_ * chunks_, (pp - stage - 1) * 2.0 + (chunks_ - 1) * pp + 1) / chunks_;
  }
  in.in_flight = in_flight;
  in.seq = 1.0 * m.seq_length / cp;
  in.hidden = h;
  double ffn = 0;
  for (int l = 0; l < m.num_layers; ++l) {
    ffn += m.is_moe_layer(l) ? k * m.moe_ffn() * imb + m.moe_shared_expert_intermediate_size : m.ffn();
  }
  in.ffn = ffn / m.num_layers;
  in.heads = m.num_attention_heads;
  in.vocab = m.vocab_size;
  in.swiglu = m.swiglu;
  in.flash_attention = c.use_flash_attn;
  in.recompute = c.recompute_granularity;
  in.tensor_parallel = tp;
  in.sequence_parallel = sp;
  in.holds_output_layer = stage == pp - 1;
  double largest = 0;
  for (const auto& bk : plan.buckets) largest = std::max(largest, bk.dense_params + bk.expert_params);
  in.bucket = c.overlap_grad_reduce ? Bytes::of(2 * largest * in.grad_bytes) : Bytes();
  if (c.use_torch_fsdp2) {
    // Two layers' gathered parameters (the one computing and the prefetched one) and one layer's full gradients.
    const double layer = m.layer_params() / tp;
    in.bucket = Bytes::of(2 * layer * 2 + layer * in.grad_bytes);
  }
  in.runtime_reserve = c.memory_reserve;
  plan.memory = hw::training_memory(in, part.hbm_capacity);
  return plan;
}

std::pair<hw::MemoryFit, int> MegatronTraining::tightest_stage(const hw::AcceleratorSpec& part) const {
  std::pair<hw::MemoryFit, int> worst;
  for (int stage = 0; stage < config_.pipeline_model_parallel_size; ++stage) {
    hw::MemoryFit f = plan_stage(part, stage).memory;
    if (worst.first.items.empty() || f.capacity - f.total < worst.first.capacity - worst.first.total) {
      worst = {std::move(f), stage};
    }
  }
  return worst;
}

double MegatronTraining::model_flops() const {
  return 3.0 * config_.model.forward_model_flops(config_.global_batch_size);
}

// ---------------------------------------------------------------------------------------------------------------
// Validation

void MegatronTraining::validate(const std::vector<Gpu>& gpus, Section& s) {
  auto& c = config_;
  const auto& m = c.model;
  const int n = static_cast<int>(gpus.size());
  const int tp = c.tensor_model_parallel_size, pp = c.pipeline_model_parallel_size, cp = c.context_parallel_size;
  const int ep = c.expert_model_parallel_size;
  auto str = [](auto x) { return std::to_string(x); };
  // Each at most n (<= cluster.max_gpus) before they are multiplied: the product then fits in 64 bits.
  const bool bounded = tp <= n && pp <= n && cp <= n;
  const int64_t model_ranks = bounded ? int64_t{tp} * pp * cp : 0;
  if (!bounded || n % model_ranks != 0) {
    s.error("tensor_model_parallel_size", "TP x PP x CP (" + str(tp) + " x " + str(pp) + " x " + str(cp) + " = " +
                                              (bounded ? str(model_ranks) : "more than " + str(n)) +
                                              ") must divide the cluster's " + str(n) + " GPUs");
    return;
  }
  dp_ = static_cast<int>(n / model_ranks);
  chunks_ = c.virtual_stages();
  if (m.num_attention_heads % tp != 0) {
    s.error("tensor_model_parallel_size", "must divide num_attention_heads (" + str(m.num_attention_heads) + ")");
  }
  if (m.query_groups() % tp != 0 && tp % m.query_groups() != 0) {
    s.error("tensor_model_parallel_size", "and num_query_groups (" + str(m.query_groups()) + ") must divide one another");
  }
  {
    const int first = c.decoder_first_pipeline_num_layers, last = c.decoder_last_pipeline_num_layers;
    const int V = pp * chunks_, x = c.num_layers_per_virtual_pipeline_stage;
    const int special = (first > 0) + (last > 0);
    const int rest = m.num_layers - first - last;
    const int middle = V - special;
    const bool uneven = special > 0;
    if (uneven && (V < 2 || rest < 0 || (middle > 0 && rest % middle != 0) || (middle == 0 && rest != 0))) {
      s.error(first > 0 ? "decoder_first_pipeline_num_layers" : "decoder_last_pipeline_num_layers",
              "the remaining " + str(rest) + " layers must split evenly over the other " + str(middle) +
                  (chunks_ > 1 ? " model chunks" : " stages"));
    } else if (uneven && x > 0 && middle > 0 && rest / middle != x) {
      s.error("num_layers_per_virtual_pipeline_stage",
              "the chunks between the first and last hold " + str(rest / middle) + " layers, not " + str(x));
    } else if (!uneven && (m.num_layers % V != 0 || (x > 0 && m.num_layers != V * x))) {
      s.error(x > 0 ? "num_layers_per_virtual_pipeline_stage" : "pipeline_model_parallel_size",
              "num_layers (" + str(m.num_layers) + ") must split evenly into " + str(pp) + " stages" +
                  (x > 0 ? " of chunks of " + str(x) + " layers" : "") +
                  " (or set decoder_first/last_pipeline_num_layers)");
    }
  }
  const int64_t per_step = int64_t{c.micro_batch_size} * dp_;
  if (c.global_batch_size % per_step != 0) {
    s.error("global_batch_size", "must be a multiple of micro_batch_size x data-parallel size (" +
                                     str(c.micro_batch_size) + " x " + str(dp_) + " = " + str(per_step) + "), got " +
                                     str(c.global_batch_size));
    return;
  }
  micro_batches_ = static_cast<int>(c.global_batch_size / per_step);
  if (c.schedule() == "interleaved" && micro_batches_ % pp != 0) {
    s.error("global_batch_size", "the interleaved schedule needs the number of micro-batches (" + str(micro_batches_) +
                                     ") to be a multiple of pipeline_model_parallel_size (" + str(pp) + ")");
  }
  if (cp > 1 && m.seq_length % (2 * cp) != 0) {
    s.error("context_parallel_size", "2 x CP must divide seq_length (" + str(m.seq_length) + ")");
  }
  if (ep > 1 && m.num_experts == 0) s.error("expert_model_parallel_size", "needs a mixture-of-experts model (model.num_experts)");
  if (m.num_experts > 0) {
    if (m.num_experts % ep != 0) s.error("expert_model_parallel_size", "must divide num_experts (" + str(m.num_experts) + ")");
    if ((dp_ * cp) % ep != 0) {
      s.error("expert_model_parallel_size", "must divide data x context parallel size (" + str(dp_ * cp) + ")");
    }
    if (tp > 1 && !c.sequence_parallel) s.error("sequence_parallel", "must be true with tensor parallelism and experts (as in Megatron-LM)");
  }
  // Token all-to-all volume. alltoall sends a token once per chosen expert (k copies, (G-1)/G of them to other
  // nodes when the EP group spans G nodes); flex sends it once per destination node and forwards it over NVLink
  // inside, so the network carries the expected number of distinct nodes among its k experts, D = n (1 - (1 -
  // 1/n)^k) with n = G, or n = moe_router_group_topk nodes with group-limited routing: D / k of alltoall's bytes.
  dispatch_factor_ = 1;
  if (m.num_experts > 0 && ep > 1 && c.moe_token_dispatcher_type == "flex" && s.diagnostics()->empty()) {
    const Placement pl(tp, cp, dp_, pp, ep, c.parallel_order);
    std::set<uint32_t> nodes;
    for (uint32_t r : pl.group(GroupKind::kEp, 0)) nodes.insert(gpus[r].node);
    const double G = static_cast<double>(nodes.size()), k = m.moe_router_topk;
    if (G > 1) {
      const double reach = m.moe_router_num_groups > 0 ? std::min(G, 1.0 * m.moe_router_group_topk) : G;
      dispatch_factor_ = reach * (1 - std::pow(1 - 1 / reach, k)) / k;
    }
  }
  for (int r : c.straggler_ranks) {
    if (r < 0 || r >= n) s.error("straggler_ranks", "rank " + str(r) + " is outside 0.." + str(n - 1));
  }
  dtype_ = hw::parse_dtype(c.precision);
  std::set<const hw::AcceleratorSpec*> parts;
  for (const auto& g : gpus) parts.insert(g.part);
  for (const auto* part : parts) {
    if (!part->supports(dtype_)) s.error("precision", part->name + " has no " + c.precision + " tensor cores");
  }
  if (s.diagnostics() && !s.diagnostics()->empty()) return;
  // Memory: every stage on every part. Alternatives for the message are tried one at a time.
  memory_ = {};
  for (const auto* part : parts) {
    const auto [fit, stage] = tightest_stage(*part);
    if (memory_.items.empty() || fit.capacity - fit.total < memory_.capacity - memory_.total) {
      memory_ = fit;
      memory_stage_ = stage;
    }
  }
  if (!memory_.fits()) {
    std::vector<std::pair<std::string, std::function<void(MegatronConfig&)>>> changes;
    if (!c.use_distributed_optimizer) changes.push_back({"use_distributed_optimizer: true", [](auto& x) { x.use_distributed_optimizer = true; }});
    if (c.recompute_granularity != "full") changes.push_back({"recompute_granularity: full", [](auto& x) { x.recompute_granularity = "full"; }});
    if (!c.sequence_parallel && tp > 1) changes.push_back({"sequence_parallel: true", [](auto& x) { x.sequence_parallel = true; }});
    if (c.micro_batch_size > 1) changes.push_back({"micro_batch_size: 1", [](auto& x) { x.micro_batch_size = 1; }});
    const hw::AcceleratorSpec* part = nullptr;
    for (const auto* p : parts) part = part && part->hbm_capacity < p->hbm_capacity ? part : p;
    std::vector<std::pair<std::string, hw::MemoryFit>> alts;
    const MegatronConfig saved = c;
    auto fit_with = [&](MegatronConfig& x) {
      c = x;
      hw::MemoryFit worst = tightest_stage(*part).first;
      c = saved;
      return worst;
    };
    MegatronConfig all = saved;
    std::string label;
    for (const auto& [l, change] : changes) {
      MegatronConfig x = saved;
      change(x);
      alts.push_back({l, fit_with(x)});
      change(all);
      label += (label.empty() ? "" : " + ") + l;
    }
    if (changes.size() > 1) alts.push_back({label, fit_with(all)});
    s.error_here("pipeline stage " + str(memory_stage_) + " " + hw::out_of_memory_message(part->name, memory_, alts));
  }
}

std::string MegatronTraining::describe() const {
  const auto& c = config_;
  const auto& m = c.model;
  char buf[512];
  std::string extras;
  if (c.sequence_parallel && c.tensor_model_parallel_size > 1) extras += ", SP";
  if (c.use_distributed_optimizer) extras += ", distributed optimizer";
  if (c.recompute_granularity != "none") extras += ", " + c.recompute_granularity + " recompute";
  if (m.num_experts > 0) extras += ", " + std::to_string(m.num_experts) + " experts top-" + std::to_string(m.moe_router_topk);
  std::snprintf(buf, sizeof buf,
                "Megatron GPT %.4gB params (%d layers, h=%d, %d heads/%d kv, seq %d), TP %d CP %d PP %d (%s%s) DP %d "
                "EP %d, global batch %d, micro %d (%d micro-batches), %s%s",
                m.total_params() / 1e9, m.num_layers, m.hidden_size, m.num_attention_heads, m.query_groups(),
                m.seq_length, c.tensor_model_parallel_size, c.context_parallel_size, c.pipeline_model_parallel_size,
                c.schedule().c_str(), chunks_ > 1 ? (", " + std::to_string(chunks_) + " chunks").c_str() : "", dp_,
                c.expert_model_parallel_size, c.global_batch_size, c.micro_batch_size, micro_batches_,
                c.precision.c_str(), extras.c_str());
  std::string out = buf;
  if (!c.ignored_args.empty()) {
    out += "\n  megatron_args ignored (no effect on speed or memory):";
    for (const auto& a : c.ignored_args) out += " " + a;
  }
  return out;
}

std::vector<std::string> MegatronTraining::explain_placement(const std::vector<Gpu>& gpus) const {
  const auto& c = config_;
  Placement pl(c.tensor_model_parallel_size, c.context_parallel_size, dp_, c.pipeline_model_parallel_size,
               c.expert_model_parallel_size, c.parallel_order);
  std::vector<std::string> out;
  char line[256];
  std::snprintf(line, sizeof line, "placement: order %s (innermost first), TP %d x CP %d x DP %d x PP %d, EP %d",
                c.parallel_order.c_str(), pl.size(Dim::kTp), pl.size(Dim::kCp), pl.size(Dim::kDp), pl.size(Dim::kPp),
                pl.ep());
  out.push_back(line);
  std::vector<GroupKind> kinds = {GroupKind::kTp, GroupKind::kCp, GroupKind::kDp, GroupKind::kPp};
  if (c.model.num_experts > 0) kinds.push_back(GroupKind::kEp);
  for (GroupKind k : kinds) {
    std::set<std::vector<uint32_t>> groups;
    for (uint32_t r = 0; r < gpus.size(); ++r) groups.insert(pl.group(k, r));
    size_t in_node = 0, on_rail = 0;
    for (const auto& g : groups) {
      bool same_node = true, same_rail = true;
      for (uint32_t r : g) {
        same_node = same_node && gpus[r].node == gpus[g.front()].node;
        same_rail = same_rail && gpus[r].local == gpus[g.front()].local;
      }
      in_node += same_node;
      on_rail += !same_node && same_rail;
    }
    std::snprintf(line, sizeof line, "  %-3s groups: %zu of %zu ranks; inside one node: %zu; across nodes on one rail: %zu; "
                  "across nodes and rails: %zu",
                  group_kind_name(k), groups.size(), groups.begin()->size(), in_node, on_rail,
                  groups.size() - in_node - on_rail);
    out.push_back(line);
  }
  out.push_back("  rank  node  gpu  tp  cp  dp  pp");
  const uint32_t n = static_cast<uint32_t>(gpus.size());
  for (uint32_t r = 0; r < n; ++r) {
    if (n > 48 && r == 32) {
      out.push_back("  ... (" + std::to_string(n - 40) + " more)");
      r = n - 8;
    }
    const Coord co = pl.coord(r);
    std::snprintf(line, sizeof line, "  %4u  %4u  %3u  %2d  %2d  %2d  %2d", r, gpus[r].node, gpus[r].local, co.tp, co.cp,
                  co.dp, co.pp);
    out.push_back(line);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Simulation

struct MegatronTraining::PendingCollective {
  uint32_t arrived = 0;
  std::vector<std::pair<uint32_t, sim::Callback>> waiters;  // simulated rank, continuation
};

struct MegatronTraining::RankState {
  uint32_t rank = 0;
  int stage = 0;
  double slow = 1;
  const StagePlan* plan = nullptr;
  const std::vector<Task>* tasks = nullptr;
  size_t task = 0;
  Duration task_start;
  std::vector<double> arrival[2], producer[2];  // [forward?]: per slot (micro-batch x chunk), seconds; <0: not yet
  bool blocked_on_input = false;
  Duration wait_start;
  bool waiting = false;
  Exposure why = Exposure::kTp;
  bool overlap_pending = false;
  Exposure overlap_kind = Exposure::kTp;
  sim::Callback after_overlap;
  bool gather_pending = false;
  sim::Callback after_gather;
  // FSDP streams: [0] parameter gathers (counted per pass), [1] gradient reduce-scatters.
  std::vector<const std::vector<CommCall>*> fsdp_queue[2];
  size_t fsdp_next[2] = {0, 0};
  bool fsdp_busy[2] = {false, false};
  int gathers_done = 0;
  int gathers_issued = 0;
  int await_target = 0;
  sim::Callback after_fsdp_gather, after_fsdp_reduce;
  std::vector<const std::vector<CommCall>*> side_queue;  // expert all-to-alls beside the compute
  size_t side_next = 0;
  bool side_busy = false;
  sim::Callback after_side;
  std::vector<int> dp_queue;
  size_t dp_next = 0;
  bool dp_busy = false;
  size_t buckets_done = 0;
  bool finished_tasks = false;
  bool optimizer_started = false;
  Duration compute, optimizer, finish;
  std::array<Duration, static_cast<size_t>(Exposure::kCount)> waits{};
  std::array<uint64_t, 24> seq{};  // collectives issued per (group kind, stream)
};

MegatronTraining::MegatronTraining() = default;
MegatronTraining::~MegatronTraining() = default;

const MegatronTraining::Pass& MegatronTraining::current_pass(const RankState& st) const {
  const Task& t = (*st.tasks)[st.task];
  return t.forward ? st.plan->forward[static_cast<size_t>(t.chunk)] : st.plan->backward[static_cast<size_t>(t.chunk)];
}

uint32_t MegatronTraining::sim_of(uint32_t rank) const {
  if (sim_index_[rank] >= 0) return static_cast<uint32_t>(sim_index_[rank]);
  return static_cast<uint32_t>(sim_index_[placement_.rank({0, 0, 0, placement_.coord(rank).pp})]);
}


bool MegatronTraining::traced(uint32_t sim) const { return sim < ctx_->traced_ranks; }

void MegatronTraining::trace(uint32_t sim, const std::string& track, const std::string& name, const char* cat,
                             Duration start) const {
  if (!traced(sim)) return;
  const Gpu& g = ctx_->gpus[states_[sim]->rank];
  ctx_->tracer.span({"node" + std::to_string(g.node), "gpu" + std::to_string(g.local) + " " + track, name, cat, start,
                     ctx_->engine.now(), {{"rank", std::to_string(g.rank)}}});
}

void MegatronTraining::build(const std::vector<Gpu>& gpus) {
  const auto& c = config_;
  const int pp = c.pipeline_model_parallel_size;
  placement_ = Placement(c.tensor_model_parallel_size, c.context_parallel_size, dp_, pp, c.expert_model_parallel_size,
                         c.parallel_order);
  std::set<const hw::AcceleratorSpec*> parts;
  for (const auto& g : gpus) parts.insert(g.part);
  symmetric_ = c.symmetry == "auto" && parts.size() == 1 && (c.straggler_ranks.empty() || c.straggler_slowdown == 1.0);
  sim_ranks_.clear();
  sim_index_.assign(gpus.size(), -1);
  for (uint32_t r = 0; r < gpus.size(); ++r) {
    const Coord co = placement_.coord(r);
    if (symmetric_ && (co.tp != 0 || co.cp != 0 || co.dp != 0)) continue;
    sim_index_[r] = static_cast<int>(sim_ranks_.size());
    sim_ranks_.push_back(r);
  }
  schedules_.clear();
  for (int s = 0; s < pp; ++s) schedules_.push_back(schedule(c.schedule(), pp, s, micro_batches_, chunks_));
  states_.clear();
  tasks_total_ = 0;
  for (uint32_t r : sim_ranks_) {
    auto st = std::make_unique<RankState>();
    st->rank = r;
    st->stage = placement_.coord(r).pp;
    const auto key = std::make_pair(gpus[r].part, st->stage);
    if (!plans_.count(key)) plans_[key] = plan_stage(*gpus[r].part, st->stage);
    st->plan = &plans_[key];
    st->tasks = &schedules_[st->stage];
    if (std::find(c.straggler_ranks.begin(), c.straggler_ranks.end(), static_cast<int>(r)) != c.straggler_ranks.end()) {
      st->slow = c.straggler_slowdown;
    }
    tasks_total_ += st->tasks->size() + 1;
    states_.push_back(std::move(st));
  }
  // What an iteration's result depends on besides the configuration: each simulated rank's part and speed.
  memo_key_ = describe();
  for (const auto& st : states_) {
    memo_key_ += "|" + std::to_string(st->rank) + ":" + gpus[st->rank].part->name + ":" + std::to_string(st->slow);
  }
}

void MegatronTraining::start(RunContext& ctx) {
  ctx_ = &ctx;
  flow_ = dynamic_cast<net::FlowTransfer*>(&ctx.collectives.transfer()) != nullptr;
  build(ctx.gpus);
  begin_iteration();
}

void MegatronTraining::begin_iteration() {
  iteration_start_ = ctx_->engine.now();
  done_ranks_ = 0;
  pending_.clear();
  const size_t slots = static_cast<size_t>(micro_batches_ * chunks_);
  for (uint32_t i = 0; i < states_.size(); ++i) {
    RankState& st = *states_[i];
    const StagePlan* plan = st.plan;
    const auto* tasks = st.tasks;
    const uint32_t rank = st.rank;
    const int stage = st.stage;
    const double slow = st.slow;
    st = RankState{};
    st.rank = rank, st.stage = stage, st.plan = plan, st.tasks = tasks, st.slow = slow;
    for (int d = 0; d < 2; ++d) st.arrival[d].assign(slots, -1), st.producer[d].assign(slots, -1);
  }
  for (uint32_t i = 0; i < states_.size(); ++i) {
    RankState& st = *states_[i];
    if (config_.use_distributed_optimizer && config_.overlap_param_gather) {
      // Steady state: the previous step's updated parameters are gathered alongside the first forward pass.
      if (!st.plan->param_gather.empty()) {
        st.gather_pending = true;
        run_comms(i, st.plan->param_gather, 0, [this, i] {
          RankState& s = *states_[i];
          s.gather_pending = false;
          if (s.after_gather) std::exchange(s.after_gather, nullptr)();
        });
      }
    }
    run_task(i);
  }
}

void MegatronTraining::wait(uint32_t sim, Exposure why) {
  RankState& st = *states_[sim];
  st.waiting = true;
  st.why = why;
  st.wait_start = ctx_->engine.now();
}

void MegatronTraining::resume(uint32_t sim) {
  RankState& st = *states_[sim];
  if (!st.waiting) return;
  st.waits[static_cast<size_t>(st.why)] += ctx_->engine.now() - st.wait_start;
  st.waiting = false;
}

void MegatronTraining::run_task(uint32_t sim) {
  RankState& st = *states_[sim];
  if (st.task == st.tasks->size()) {
    tasks_finished(sim);
    return;
  }
  const Task& t = (*st.tasks)[st.task];
  const int v = t.chunk * config_.pipeline_model_parallel_size + st.stage;
  const size_t slot = static_cast<size_t>(t.micro_batch * chunks_ + t.chunk);
  const bool needs_input = t.forward ? v > 0 : true;
  if (needs_input && st.arrival[t.forward][slot] < 0) {
    st.blocked_on_input = true;
    st.wait_start = ctx_->engine.now();
    return;
  }
  st.task_start = ctx_->engine.now();
  st.gathers_done = st.gathers_issued = 0;
  st.fsdp_queue[0].clear();
  st.fsdp_next[0] = 0;
  run_segment(sim, 0);
}

void MegatronTraining::deliver(uint32_t to, int slot, bool forward, Duration producer_done) {
  RankState& st = *states_[to];
  const double now = ctx_->engine.now().s();
  st.arrival[forward][static_cast<size_t>(slot)] = now;
  st.producer[forward][static_cast<size_t>(slot)] = producer_done.s();
  if (!st.blocked_on_input) return;
  const Task& t = (*st.tasks)[st.task];
  if (t.forward != forward || t.micro_batch * chunks_ + t.chunk != slot) return;
  st.blocked_on_input = false;
  // Waiting for the producing stage to compute is the pipeline bubble; waiting for the transfer after it is
  // exposed pipeline communication.
  const double w = st.wait_start.s(), pd = producer_done.s();
  st.waits[static_cast<size_t>(Exposure::kBubble)] += Duration::from_base(std::max(0.0, std::min(now, pd) - w));
  st.waits[static_cast<size_t>(Exposure::kPp)] += Duration::from_base(std::max(0.0, now - std::max(w, pd)));
  run_task(to);
}

void MegatronTraining::run_segment(uint32_t sim, size_t i) {
  RankState& st = *states_[sim];
  const Segment& seg = current_pass(st).segments[i];
  for (const auto& item : seg.prefetch) {  // FSDP: gather ahead of use
    st.fsdp_queue[0].push_back(&item);
    ++st.gathers_issued;
    pump_fsdp(sim, 0);
  }
  if (seg.await > st.gathers_done) {
    wait(sim, Exposure::kDp);
    st.await_target = seg.await;
    st.after_fsdp_gather = [this, sim, i] {
      resume(sim);
      start_compute(sim, i);
    };
    return;
  }
  start_compute(sim, i);
}

void MegatronTraining::pump_fsdp(uint32_t sim, int stream) {
  RankState& st = *states_[sim];
  const size_t k = static_cast<size_t>(stream);
  if (st.fsdp_busy[k] || st.fsdp_next[k] >= st.fsdp_queue[k].size()) return;
  const std::vector<CommCall>* comms = st.fsdp_queue[k][st.fsdp_next[k]];
  st.fsdp_busy[k] = true;
  run_comms(sim, *comms, 0, [this, sim, k, stream] {
    RankState& s = *states_[sim];
    s.fsdp_busy[k] = false;
    ++s.fsdp_next[k];
    if (k == 0) {
      ++s.gathers_done;
      if (s.after_fsdp_gather && s.gathers_done >= s.await_target) std::exchange(s.after_fsdp_gather, nullptr)();
    }
    pump_fsdp(sim, stream);
    if (k == 1 && !s.fsdp_busy[1] && s.fsdp_next[1] == s.fsdp_queue[1].size()) {
      if (s.after_fsdp_reduce) std::exchange(s.after_fsdp_reduce, nullptr)();
    }
  });
}

void MegatronTraining::start_compute(uint32_t sim, size_t i) {
  RankState& st = *states_[sim];
  const Duration d = current_pass(st).segments[i].compute * st.slow;
  st.compute += d;
  ctx_->engine.compute(ctx_->gpus[st.rank].host, d, [this, sim, i] { after_compute(sim, i); });
}

void MegatronTraining::after_compute(uint32_t sim, size_t i) {
  RankState& st = *states_[sim];
  if (st.overlap_pending) {  // the previous segment's overlapped collectives are still running
    wait(sim, st.overlap_kind);
    st.after_overlap = [this, sim, i] {
      resume(sim);
      after_compute(sim, i);
    };
    return;
  }
  const Task& t = (*st.tasks)[st.task];
  const Segment& seg = current_pass(st).segments[i];
  if (!seg.reduce.empty()) {  // FSDP: this unit's gradients are complete
    st.fsdp_queue[1].push_back(&seg.reduce);
    pump_fsdp(sim, 1);
  }
  if (!config_.use_torch_fsdp2 && !t.forward && seg.bucket >= 0 && config_.overlap_grad_reduce &&
      t.micro_batch == micro_batches_ - 1) {
    st.dp_queue.push_back(seg.bucket);
    pump_dp(sim);
  }
  if (seg.comms.empty()) {
    next_segment(sim, i);
  } else if (seg.side) {
    st.side_queue.push_back(&seg.comms);
    pump_side(sim);
    next_segment(sim, i);
  } else if (seg.overlap) {
    st.overlap_pending = true;
    st.overlap_kind = seg.comms.front().kind;
    run_comms(sim, seg.comms, 0, [this, sim] {
      RankState& s = *states_[sim];
      s.overlap_pending = false;
      if (s.after_overlap) std::exchange(s.after_overlap, nullptr)();
    });
    next_segment(sim, i);
  } else {
    wait(sim, seg.comms.front().kind);
    run_comms(sim, seg.comms, 0, [this, sim, i] {
      resume(sim);
      next_segment(sim, i);
    }, true);
  }
}

void MegatronTraining::next_segment(uint32_t sim, size_t i) {
  if (i + 1 < current_pass(*states_[sim]).segments.size()) {
    run_segment(sim, i + 1);
  } else {
    task_done(sim);
  }
}

void MegatronTraining::task_done(uint32_t sim) {
  RankState& st = *states_[sim];
  if (st.overlap_pending) {
    wait(sim, st.overlap_kind);
    st.after_overlap = [this, sim] {
      resume(sim);
      task_done(sim);
    };
    return;
  }
  if (st.gather_pending) {
    wait(sim, Exposure::kDp);
    st.after_gather = [this, sim] {
      resume(sim);
      task_done(sim);
    };
    return;
  }
  if (st.side_busy || st.side_next < st.side_queue.size()) {  // this pass's expert all-to-alls
    wait(sim, Exposure::kEp);
    st.after_side = [this, sim] {
      resume(sim);
      task_done(sim);
    };
    return;
  }
  const Task t = (*st.tasks)[st.task];
  const int pp = config_.pipeline_model_parallel_size, V = pp * chunks_;
  const int v = t.chunk * pp + st.stage;
  const int slot = t.micro_batch * chunks_ + t.chunk;
  trace(sim, "compute", std::string(t.forward ? "F" : "B") + std::to_string(t.micro_batch) +
                            (chunks_ > 1 ? "." + std::to_string(t.chunk) : ""), "compute", st.task_start);
  ++tasks_done_;
  const Duration now = ctx_->engine.now();
  const int to_v = t.forward ? v + 1 : v - 1;
  if (t.forward && v == V - 1) {
    deliver(sim, slot, false, now);  // the loss: this micro-batch's backward may start here
  } else if (to_v >= 0 && to_v < V) {
    const int to_stage = to_v % pp, to_chunk = to_v / pp;
    const int to_slot = t.micro_batch * chunks_ + to_chunk;
    Coord co = placement_.coord(st.rank);
    co.pp = to_stage;
    const uint32_t dst = placement_.rank(co);
    const uint32_t to_sim = sim_of(dst);
    const bool fwd = t.forward;
    if (to_stage == st.stage) {
      deliver(to_sim, to_slot, fwd, now);
    } else {
      const auto& m = config_.model;
      const double tp = config_.tensor_model_parallel_size, cp = config_.context_parallel_size;
      // Each TP rank sends its 1/TP of the activations (sequence-parallel or Megatron's scatter/gather).
      const Bytes size = Bytes::of(1.0 * config_.micro_batch_size * m.seq_length / cp * m.hidden_size * 2 / tp);
      std::vector<net::FlowRequest> flows{{st.rank, dst, size, 0}};
      const bool cross = ctx_->gpus[st.rank].node != ctx_->gpus[dst].node;
      if (symmetric_ && flow_ && cross) {
        // Every replica of this stage sends at the same moment: keep their contention.
        auto pit = p2p_cache_.find({st.stage, to_stage});
        if (pit == p2p_cache_.end()) {
          std::vector<std::pair<uint32_t, uint32_t>> pairs;
          for (uint32_t r = 0; r < ctx_->gpus.size(); ++r) {
            Coord x = placement_.coord(r);
            if (x.pp != st.stage || r == st.rank) continue;
            x.pp = to_stage;
            pairs.push_back({r, placement_.rank(x)});
          }
          pit = p2p_cache_.emplace(std::make_pair(st.stage, to_stage), std::move(pairs)).first;
        }
        for (const auto& [a, b] : pit->second) flows.push_back({a, b, size, 0});
      }
      const Duration start = now;
      // Megatron's non-interleaved schedules wait for their sends (batched isend/irecv, then wait); the
      // interleaved one overlaps them with the next pass when overlap_p2p_comm is on.
      const bool blocking = !(config_.overlap_p2p_comm && chunks_ > 1);
      if (blocking) wait(sim, Exposure::kPp);
      auto arrived = [this, sim, to_sim, to_slot, fwd, start, blocking] {
        trace(sim, "pp", fwd ? "send activations" : "send gradients", "comm", start);
        deliver(to_sim, to_slot, fwd, start);
        if (blocking) {
          resume(sim);
          ++states_[sim]->task;
          run_task(sim);
        }
      };
      if (flows.size() == 1) {
        ctx_->collectives.transfer().transfer(flows, std::move(arrived));
      } else {
        // Mirrored sends, one transfer each (they start together). The representative stands for a typical
        // replica: it goes on when its own replica's sends (all its TP ranks) have arrived, while the other
        // replicas' sends still load the links; their spread is measured.
        const Coord me = placement_.coord(st.rank);
        auto own_left = std::make_shared<size_t>(0);
        auto copies = std::make_shared<Copies>(Copies{flows.size(), -1.0, start.s()});
        auto cb = std::make_shared<sim::Callback>(std::move(arrived));
        for (const auto& f : flows) {
          const Coord x = placement_.coord(f.src);
          const bool own = x.dp == me.dp && x.cp == me.cp;
          *own_left += own ? 1 : 0;
          ctx_->collectives.transfer().transfer({f}, [this, own_left, own, copies, cb] {
            if (own && --*own_left == 0) (*cb)();
            copy_arrived(*copies);
          });
        }
      }
      if (blocking) return;
    }
  }
  ++st.task;
  run_task(sim);
}

void MegatronTraining::run_comms(uint32_t sim, const std::vector<CommCall>& comms, size_t i, sim::Callback done,
                                 bool blocking) {
  if (i == comms.size()) {
    done();
    return;
  }
  RankState& st = *states_[sim];
  if (blocking && st.waiting && i > 0) {  // a blocking chain: charge each collective to its own kind
    resume(sim);
    wait(sim, comms[i].kind);
  }
  const Duration start = ctx_->engine.now();
  collective(sim, comms[i], [this, sim, &comms, i, start, blocking, done = std::move(done)]() mutable {
    trace(sim, comms[i].kind == Exposure::kDp ? "dp" : "comm", comms[i].name, "comm", start);
    run_comms(sim, comms, i + 1, std::move(done), blocking);
  });
}

void MegatronTraining::collective(uint32_t sim, const CommCall& c, sim::Callback done) {
  RankState& st = *states_[sim];
  const auto gkey = std::make_tuple(static_cast<int>(c.group), st.rank);
  auto git = group_cache_.find(gkey);
  if (git == group_cache_.end()) git = group_cache_.emplace(gkey, placement_.group(c.group, st.rank)).first;
  const std::vector<uint32_t>& group = git->second;
  if (group.size() < 2) {
    done();
    return;
  }
  const size_t counter = static_cast<size_t>(c.group) + 8 * static_cast<size_t>(c.stream);
  const uint64_t seq = st.seq[counter]++;
  const auto key = std::make_tuple(static_cast<int>(counter), group.front(), seq);
  auto& slot = pending_[key];
  if (!slot) slot = std::make_unique<PendingCollective>();
  slot->waiters.push_back({sim, std::move(done)});
  uint32_t members = 0;
  for (uint32_t r : group) members += sim_index_[r] >= 0 ? 1 : 0;
  if (++slot->arrived < members) return;
  auto waiters = std::move(slot->waiters);
  pending_.erase(key);
  // Ranks that arrived early and blocked waited for their peers, not for the network: that is imbalance
  // between ranks, counted with the bubble.
  const Duration now = ctx_->engine.now();
  for (const auto& [w, cb] : waiters) {
    RankState& ws = *states_[w];
    if (ws.waiting && ws.wait_start < now) {
      ws.waits[static_cast<size_t>(Exposure::kBubble)] += now - ws.wait_start;
      ws.wait_start = now;
    }
  }
  launch(st.rank, c, group, [waiters = std::move(waiters)] {
    for (const auto& w : waiters) w.second();
  });
}

void MegatronTraining::launch(uint32_t rank, const CommCall& c, const std::vector<uint32_t>& group, sim::Callback done) {
  bool local = true;
  for (uint32_t r : group) local = local && ctx_->gpus[r].node == ctx_->gpus[group.front()].node;
  // Without contention (private scale-up links, or the analytical model) a collective's time depends only on
  // the operation, the group and the size: the first call is simulated, later ones reuse its time.
  net::Collectives* coll = local && ctx_->scale_up ? ctx_->scale_up : &ctx_->collectives;
  if (local ? ctx_->scale_up != nullptr : !flow_) {
    const auto key = std::make_tuple(static_cast<int>(c.group) * 128 + static_cast<int>(c.op) * 2 + (c.skew_sends ? 1 : 0),
                                     static_cast<int64_t>(c.size.bytes()), group.front(), group.back(),
                                     static_cast<uint32_t>(group.size()), c.skew);
    auto it = collective_cache_.find(key);
    if (it != collective_cache_.end()) {
      ctx_->engine.after(it->second, std::move(done));
      return;
    }
    const Duration start = ctx_->engine.now();
    run_on(*coll, c, group, [this, key, start, done = std::move(done)] {
      collective_cache_[key] = ctx_->engine.now() - start;
      done();
    });
    return;
  }
  if (symmetric_ && flow_ && !local) {
    // The same collective runs in every group of this kind on this stage: launch them all, finish with the last.
    const int stage = c.group == GroupKind::kEmbedding ? 0 : placement_.coord(rank).pp;
    auto mit = mirror_cache_.find({static_cast<int>(c.group), stage});
    if (mit == mirror_cache_.end()) {
      std::set<std::vector<uint32_t>> found;
      for (uint32_t r = 0; r < ctx_->gpus.size(); ++r) {
        if (placement_.coord(r).pp == stage) found.insert(placement_.group(c.group, r));
      }
      mit = mirror_cache_.emplace(std::make_pair(static_cast<int>(c.group), stage),
                                  std::vector<std::vector<uint32_t>>(found.begin(), found.end())).first;
    }
    const auto& groups = mit->second;
    // How far apart the copies finish tells whether they really are alike (ECMP collisions hit some groups).
    auto copies = std::make_shared<Copies>(Copies{groups.size(), -1.0, ctx_->engine.now().s()});
    auto cb = std::make_shared<sim::Callback>(std::move(done));
    for (const auto& g : groups) {
      run_on(ctx_->collectives, c, g, [this, copies, cb] {
        if (copy_arrived(*copies)) (*cb)();
      });
    }
    return;
  }
  run_on(ctx_->collectives, c, group, std::move(done));
}

bool MegatronTraining::copy_arrived(Copies& c) {
  const double now = ctx_->engine.now().s();
  if (c.first < 0) c.first = now;
  if (--c.left > 0) return false;
  if (now > c.start) mirror_spread_ = std::max(mirror_spread_, (now - c.first) / (now - c.start));
  return true;
}

void MegatronTraining::run_on(net::Collectives& coll, const CommCall& c, const std::vector<uint32_t>& group,
                              sim::Callback done) {
  if (c.op != CollectiveOp::kAllToAll || c.skew <= 1) {
    coll.run(c.op, group, c.size, std::move(done));
    return;
  }
  // An uneven all-to-all: the group's first rank is the busiest expert rank.
  const size_t n = group.size();
  const Bytes pair = c.size / static_cast<double>(n);
  const double hot = c.skew, cold = (static_cast<double>(n) - hot) / static_cast<double>(n - 1);
  std::vector<std::vector<Bytes>> sizes(n, std::vector<Bytes>(n));
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) sizes[i][j] = pair * ((c.skew_sends ? i : j) == 0 ? hot : cold);
  }
  coll.all_to_allv(group, sizes, std::move(done));
}

void MegatronTraining::pump_side(uint32_t sim) {
  RankState& st = *states_[sim];
  if (st.side_busy || st.side_next >= st.side_queue.size()) return;
  const std::vector<CommCall>* comms = st.side_queue[st.side_next];
  st.side_busy = true;
  run_comms(sim, *comms, 0, [this, sim] {
    RankState& s = *states_[sim];
    s.side_busy = false;
    ++s.side_next;
    pump_side(sim);
    if (!s.side_busy && s.after_side) std::exchange(s.after_side, nullptr)();
  });
}

void MegatronTraining::pump_dp(uint32_t sim) {
  RankState& st = *states_[sim];
  if (st.dp_busy || st.dp_next >= st.dp_queue.size()) return;
  const Bucket& b = st.plan->buckets[static_cast<size_t>(st.dp_queue[st.dp_next++])];
  st.dp_busy = true;
  const double gb = config_.accumulate_allreduce_grads_in_fp32 ? 4 : 2;
  const CollectiveOp op = config_.use_distributed_optimizer ? CollectiveOp::kReduceScatter : CollectiveOp::kAllReduce;
  auto comms = std::make_shared<std::vector<CommCall>>();
  if (b.dense_params > 0) comms->push_back({op, GroupKind::kDpCp, Bytes::of(b.dense_params * gb), Exposure::kDp, std::string("dp-cp ") + op_word(op) + " grads"});
  if (b.expert_params > 0) comms->push_back({op, GroupKind::kEdp, Bytes::of(b.expert_params * gb), Exposure::kDp, std::string("expert-dp ") + op_word(op) + " grads"});
  run_comms(sim, *comms, 0, [this, sim, comms] {
    RankState& s = *states_[sim];
    s.dp_busy = false;
    ++s.buckets_done;
    pump_dp(sim);
    maybe_optimizer(sim);
  });
}

void MegatronTraining::tasks_finished(uint32_t sim) {
  RankState& st = *states_[sim];
  st.finished_tasks = true;
  if (config_.use_torch_fsdp2) {
    // Gradients went out layer by layer: wait for the reduce stream, then the step.
    st.buckets_done = st.plan->buckets.size();
    wait(sim, Exposure::kDp);
    if (st.fsdp_busy[1] || st.fsdp_next[1] < st.fsdp_queue[1].size()) {
      st.after_fsdp_reduce = [this, sim] { maybe_optimizer(sim); };
      return;
    }
    maybe_optimizer(sim);
    return;
  }
  if (!config_.overlap_grad_reduce) {
    for (size_t b = 0; b < st.plan->buckets.size(); ++b) st.dp_queue.push_back(static_cast<int>(b));
  }
  wait(sim, Exposure::kDp);
  pump_dp(sim);
  maybe_optimizer(sim);
}

void MegatronTraining::maybe_optimizer(uint32_t sim) {
  RankState& st = *states_[sim];
  if (!st.finished_tasks || st.optimizer_started || st.buckets_done < st.plan->buckets.size()) return;
  st.optimizer_started = true;
  auto step = [this, sim] {
    RankState& s = *states_[sim];
    resume(sim);
    const Duration start = ctx_->engine.now();
    const Duration d = s.plan->optimizer * s.slow;
    s.optimizer += d;
    ctx_->engine.compute(ctx_->gpus[s.rank].host, d, [this, sim, start] {
      trace(sim, "compute", "optimizer step", "compute", start);
      static const std::vector<CommCall> kNone;
      const std::vector<CommCall>& gather = config_.overlap_param_gather ? kNone : states_[sim]->plan->param_gather;
      if (!gather.empty()) wait(sim, Exposure::kDp);
      run_comms(sim, gather, 0, [this, sim] {
        resume(sim);
        rank_done(sim);
      });
    });
  };
  // Tied word embeddings: the first and last stage add their copies' gradients before the step.
  const bool tied = !config_.model.untie_embeddings_and_output_weights && config_.pipeline_model_parallel_size > 1;
  const int pp = config_.pipeline_model_parallel_size;
  if (tied && (st.stage == 0 || st.stage == pp - 1)) {
    const double gb = config_.accumulate_allreduce_grads_in_fp32 ? 4 : 2;
    auto comms = std::make_shared<std::vector<CommCall>>(std::vector<CommCall>{
        {CollectiveOp::kAllReduce, GroupKind::kEmbedding,
         Bytes::of(1.0 * config_.model.vocab_size * config_.model.hidden_size / config_.tensor_model_parallel_size * gb),
         Exposure::kDp, "embedding all-reduce grads"}});
    run_comms(sim, *comms, 0, [step, comms] { step(); });
  } else {
    step();
  }
}

void MegatronTraining::rank_done(uint32_t sim) {
  RankState& st = *states_[sim];
  st.finish = ctx_->engine.now();
  ++tasks_done_;
  if (++done_ranks_ == states_.size()) iteration_done();
}

void MegatronTraining::iteration_done() {
  const Duration now = ctx_->engine.now();
  const Duration it = now - iteration_start_;
  iteration_times_.push_back(it);
  // Breakdown, mean over simulated ranks (each stands for the same number of ranks): compute, optimizer, the
  // exposed waits, and the idle time at the iteration's end counted with the bubble.
  breakdown_.assign(static_cast<size_t>(Exposure::kCount), 0.0);
  compute_ = optimizer_ = Duration();
  stage_rows_.clear();
  const double n = static_cast<double>(states_.size());
  for (const auto& st : states_) {
    st->waits[static_cast<size_t>(Exposure::kBubble)] += now - st->finish;
    for (size_t k = 0; k < breakdown_.size(); ++k) breakdown_[k] += st->waits[k].s() / n;
    compute_ += st->compute / n;
    optimizer_ += st->optimizer / n;
    std::array<double, 9> row{};
    row[0] = st->compute.s();
    row[1] = st->optimizer.s();
    for (size_t k = 0; k < 6; ++k) row[2 + k] = st->waits[k].s();
    row[8] = st->stage;
    stage_rows_.push_back(row);
  }
  memo_[memo_key_] = it;
  next_iteration();
}

void MegatronTraining::next_iteration() {
  if (static_cast<int>(iteration_times_.size()) + memoized_ >= config_.train_iters) return;
  // The same cluster state gives the same iteration: replay the memoized time, one event per iteration; a state
  // not seen before is simulated.
  auto hit = memo_.find(memo_key_);
  if (hit == memo_.end()) {
    begin_iteration();
    return;
  }
  ctx_->engine.after(hit->second, [this] {
    ++memoized_;
    tasks_done_ += tasks_total_;
    next_iteration();
  });
}

double MegatronTraining::progress() const {
  const double total = static_cast<double>(tasks_total_) * config_.train_iters;
  return total > 0 ? std::min(1.0, static_cast<double>(tasks_done_) / total) : 0.0;
}

double MegatronTraining::busy_fraction(const hw::AcceleratorSpec* /*part*/) const {
  if (iteration_times_.empty()) return 0.0;
  return std::min(1.0, (compute_ + optimizer_).s() / iteration_times_.front().s());
}

void MegatronTraining::report(MetricSet& m) const {
  const auto& c = config_;
  const auto& model = c.model;
  const double n = static_cast<double>(ctx_->gpus.size());
  const double it = iteration_times_.empty() ? 0.0 : iteration_times_.front().s();
  const double tokens = static_cast<double>(c.global_batch_size) * model.seq_length;
  double peak = 0;
  for (const auto& g : ctx_->gpus) peak += g.part->peak(dtype_).flop_per_s();
  m.set("num_gpus", n, "GPUs in the run");
  m.set("tensor_parallel", c.tensor_model_parallel_size, "TP size");
  m.set("pipeline_parallel", c.pipeline_model_parallel_size, "PP size");
  m.set("data_parallel", dp_, "DP size");
  m.set("context_parallel", c.context_parallel_size, "CP size");
  m.set("expert_parallel", c.expert_model_parallel_size, "EP size");
  m.set("micro_batches", micro_batches_, "micro-batches per iteration per pipeline");
  m.set("parameters", model.total_params(), "model parameters");
  m.set("active_parameters", model.active_params(), "parameters a token passes through (MoE: routed experts only)");
  m.set("simulated_ranks", static_cast<double>(states_.size()), "ranks simulated (the others are identical to one of them)");
  m.set("iterations", static_cast<double>(iteration_times_.size() + static_cast<size_t>(memoized_)), "training iterations");
  m.set("iterations_memoized", memoized_, "iterations that repeated the first one's result (same cluster state)");
  m.set("iteration_time_s", it, "duration of one training iteration (simulated time)");
  m.set("tokens_per_iteration", tokens, "global_batch_size x seq_length");
  m.set("tokens_per_s", it > 0 ? tokens / it : 0.0, "training throughput");
  m.set("model_flops_per_iteration", model_flops(), "Megatron-LM's model FLOPs per iteration, all GPUs");
  const double achieved = it > 0 ? model_flops() / it : 0.0;
  m.set("tflops_per_gpu", achieved / n / 1e12, "model TFLOP/s per GPU, counted as Megatron-LM counts them");
  m.set("mfu", peak > 0 ? achieved / peak : 0.0, "model FLOPs utilization against the dense peak of the precision");
  m.set("time_compute_s", compute_.s(), "per iteration, mean over ranks: forward, backward and recompute kernels");
  m.set("time_optimizer_s", optimizer_.s(), "per iteration, mean over ranks: optimizer step");
  const char* names[] = {"tp", "cp", "ep", "pp", "dp", "bubble"};
  const char* help[] = {"tensor-parallel collectives", "context-parallel key/value exchange",
                        "expert-parallel token all-to-alls", "pipeline sends (after the producer finished)",
                        "data-parallel gradient reduction, embedding and parameter all-gather",
                        "pipeline bubble: waiting for another stage's compute, and idle at the iteration's end"};
  for (size_t k = 0; k < 6; ++k) {
    const double v = breakdown_.empty() ? 0.0 : breakdown_[k];
    m.set(k == 5 ? std::string("time_pipeline_bubble_s") : std::string("time_exposed_") + names[k] + "_s", v,
          std::string("per iteration, mean over ranks: ") + help[k] + (k < 5 ? " not hidden behind compute" : ""));
  }
  m.set("symmetry_spread", mirror_spread_,
        "flow model, one rank per stage: largest (last - first) / duration among the copies of a cross-node "
        "collective or pipeline send run for every group; near 0 means the groups really are alike, large "
        "values say that some groups are slower (ECMP collisions): check with symmetry: off");
  m.set("pipeline_bubble_ideal_fraction",
        (c.pipeline_model_parallel_size - 1.0) / (static_cast<double>(chunks_) * micro_batches_),
        "textbook bubble (p - 1) / (v m) of the schedule, relative to the ideal time, for reference");
  m.set("memory_per_gpu_bytes", memory_.total.bytes(), "memory needed per GPU (stage with the least headroom)");
  m.set("memory_capacity_bytes", memory_.capacity.bytes(), "memory of that part");
  m.set("memory_stage", memory_stage_, "pipeline stage with the least headroom");
  for (const auto& item : memory_.items) {
    std::string key = item.name;
    std::replace(key.begin(), key.end(), ' ', '_');
    m.set("memory_" + key + "_bytes", item.bytes.bytes(), "per-GPU memory: " + item.name);
  }
}

std::vector<std::string> MegatronTraining::table() const {
  std::vector<std::string> out;
  char line[256];
  out.push_back("time per iteration by simulated rank (ms): compute, optimizer, then exposed waits");
  out.push_back("  rank stage  compute  optim     tp     cp     ep     pp     dp  bubble");
  for (size_t i = 0; i < stage_rows_.size() && i < 64; ++i) {
    const auto& r = stage_rows_[i];
    std::snprintf(line, sizeof line, "  %4u %5d %8.2f %6.2f %6.2f %6.2f %6.2f %6.2f %6.2f %7.2f", states_[i]->rank,
                  static_cast<int>(r[8]), r[0] * 1e3, r[1] * 1e3, r[2] * 1e3, r[3] * 1e3, r[4] * 1e3, r[5] * 1e3,
                  r[6] * 1e3, r[7] * 1e3);
    out.push_back(line);
  }
  if (stage_rows_.size() > 64) out.push_back("  ... (" + std::to_string(stage_rows_.size() - 64) + " more)");
  if (symmetric_) out.push_back("  (one rank per pipeline stage simulated; the others are identical to it)");
  // The operator graph of one layer as rank 0 runs it (its shard of every kernel), forward and backward.
  const auto& c = config_;
  const int tp = c.tensor_model_parallel_size;
  const LayerShard sh{tp, c.context_parallel_size, c.expert_model_parallel_size, c.sequence_parallel && tp > 1,
                      c.moe_load_imbalance, c.use_flash_attn};
  const hw::AcceleratorSpec& part = *ctx_->gpus[0].part;
  int first_dense = -1, first_moe = -1;
  for (int l = c.model.num_layers - 1; l >= 0; --l) (c.model.is_moe_layer(l) ? first_moe : first_dense) = l;
  for (int layer : {first_dense, first_moe}) {
    if (layer < 0) continue;
    const auto fwd = layer_forward(c.model, layer, c.micro_batch_size, 2, sh).all();
    const auto bwd = backward_of(fwd, 2);
    out.push_back("");
    out.push_back(std::string("kernels of one ") + (c.model.is_moe_layer(layer) ? "MoE" : "dense") +
                  " layer, one micro-batch, on rank 0 (" + part.name + ", its shard):");
    out.push_back("  kernel                     GFLOP        MB   time (us)");
    for (const auto* ops : {&fwd, &bwd}) {
      Duration sum;
      for (const auto& op : *ops) {
        const Duration d = hw::op_time(part, dtype_, op);
        sum += d;
        std::snprintf(line, sizeof line, "  %-22s %9.2f %9.2f %11.1f", op.name.c_str(), op.flops.flop() / 1e9,
                      op.bytes.bytes() / 1e6, d.s() * 1e6);
        out.push_back(line);
      }
      std::snprintf(line, sizeof line, "  %-22s %9.2f %9s %11.1f", ops == &fwd ? "forward total" : "backward total",
                    hw::total_flops(*ops).flop() / 1e9, "", sum.s() * 1e6);
      out.push_back(line);
    }
  }
  return out;
}

}  // namespace lcsim::wl
