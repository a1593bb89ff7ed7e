// MegatronTraining::validate(): the configuration checked against the cluster (parallel sizes, layer split, batch,
// experts, precision), data parallelism and micro-batches sized, and a run that does not fit in memory stopped.
#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "workloads/training/megatron.h"
#include "workloads/training/megatron_config.h"

namespace lcsim::wl {


void MegatronTraining::copy_config(const Workload& from) { config_ = same_type<MegatronTraining>(from).config_; }

void MegatronTraining::validate_like(const Workload& from, const std::vector<Gpu>& from_gpus) {
  like_ = dynamic_cast<const MegatronTraining*>(&from);
  like_gpus_ = &from_gpus;
}

void MegatronTraining::validate(const std::vector<Gpu>& gpus, Section& s) {
  // The workload this one copies (validate_like), for this call only.
  const MegatronTraining* like = like_;
  const std::vector<Gpu>* like_gpus = like_gpus_;
  like_ = nullptr;
  like_gpus_ = nullptr;
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
  dualpipe_ = c.schedule() == "dualpipe";
  if (m.num_attention_heads % tp != 0) {
    s.error("tensor_model_parallel_size", "must divide num_attention_heads (" + str(m.num_attention_heads) + ")");
  }
  if (m.query_groups() % tp != 0 && tp % m.query_groups() != 0) {
    s.error("tensor_model_parallel_size", "and num_query_groups (" + str(m.query_groups()) + ") must divide one another");
  }
  if (c.layout.empty()) {  // a layout was checked as Megatron-core checks it (MegatronConfig's keys)
    const int first = c.decoder_first_pipeline_num_layers, last = c.decoder_last_pipeline_num_layers;
    const int V = model_stages(), x = c.num_layers_per_virtual_pipeline_stage;
    const int special = (first > 0) + (last > 0);
    const int rest = m.num_layers - first - last;
    const int middle = V - special;
    const bool uneven = special > 0;
    if (uneven && (V < 2 || rest < 0 || (middle > 0 && rest % middle != 0) || (middle == 0 && rest != 0))) {
      s.error(first > 0 ? "decoder_first_pipeline_num_layers" : "decoder_last_pipeline_num_layers",
              "the remaining " + str(rest) + " layers must split evenly over the other " + str(middle) +
                  (V > pp ? " model chunks" : " stages"));
    } else if (uneven && x > 0 && middle > 0 && rest / middle != x) {
      s.error("num_layers_per_virtual_pipeline_stage",
              "the chunks between the first and last hold " + str(rest / middle) + " layers, not " + str(x));
    } else if (!uneven && (c.split_layers() % V != 0 || (x > 0 && c.split_layers() != V * x))) {
      const bool counted = c.split_layers() != m.num_layers;
      s.error(x > 0 ? "num_layers_per_virtual_pipeline_stage" : "pipeline_model_parallel_size",
              "num_layers (" + str(m.num_layers) + (counted ? ", " + str(c.split_layers()) + " with the embedding/loss places" : "") +
                  ") must split evenly into " + str(pp) + " stages" +
                  (x > 0 ? " of chunks of " + str(x) + " layers" : V > pp ? " of " + str(V / pp) + " chunks" : "") +
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
  if (c.schedule() == "dualpipe" && (micro_batches_ % 2 != 0 || micro_batches_ < 2 * pp)) {
    s.error("global_batch_size", "dualpipe needs an even number of micro-batches, at least 2 x PP = " + str(2 * pp) +
                                     " (half enter at each end, at least PP each), got " + str(micro_batches_) +
                                     " (global_batch_size / (micro_batch_size x data-parallel size))");
  }
  // Megatron-core's forward_backward_pipelining_with_interleaving: the group in [PP, M], and the last group's
  // remainder 0 or at least PP ("otherwise, it introduces dependency bubbles").
  if (const int g = c.microbatch_group_size_per_virtual_pipeline_stage; g > 0 && c.schedule() == "interleaved") {
    if (g < pp || g > micro_batches_) {
      s.error("microbatch_group_size_per_virtual_pipeline_stage",
              "must lie in [pipeline_model_parallel_size, micro-batches] = [" + str(pp) + ", " + str(micro_batches_) +
                  "], as Megatron-core requires");
    } else if (micro_batches_ % g != 0 && micro_batches_ % g < pp) {
      s.error("microbatch_group_size_per_virtual_pipeline_stage",
              "leaves a last group of " + str(micro_batches_ % g) + " micro-batches, fewer than "
              "pipeline_model_parallel_size (" + str(pp) + "): Megatron-core rejects it");
    }
  }
  // A batch-size schedule's smaller batches each run as many micro-batches as they hold, under the same rules (the
  // training loop's consistency check, the schedules' own checks at every step).
  for (const int64_t b : c.batch_schedule.batches()) {
    const int g = c.microbatch_group_size_per_virtual_pipeline_stage > 0 ? c.microbatch_group_size_per_virtual_pipeline_stage : pp;
    const int64_t count = b / per_step;
    std::string why;
    if (b % per_step != 0) {
      why = "is not a multiple of micro_batch_size x data-parallel size (" + str(per_step) + ")";
    } else if (c.schedule() == "dualpipe" && (count % 2 != 0 || count < 2 * pp)) {
      why = "gives " + str(count) + " micro-batches, where dualpipe needs an even number, at least " + str(2 * pp);
    } else if (c.schedule() == "interleaved" && (count < g || (count % g != 0 && count % g < pp))) {
      why = "gives " + str(count) + " micro-batches, which the interleaved schedule's groups of " + str(g) +
            " do not take (at least a group, and a last group of 0 or at least " + str(pp) + ")";
    }
    if (!why.empty()) {
      s.error(c.rampup_batch_size.empty() ? "step_batch_size_schedule" : "rampup_batch_size",
              "its global batch " + str(b) + " " + why + ": Megatron-LM stops there");
      break;
    }
  }
  // Without a group size the group is PP (the same rule: the remainder must be 0); with one, the rule above.
  if (c.schedule() == "interleaved" && c.microbatch_group_size_per_virtual_pipeline_stage <= 0 &&
      micro_batches_ % pp != 0) {
    s.error("global_batch_size", "the interleaved schedule needs the number of micro-batches (" + str(micro_batches_) +
                                     ") to be a multiple of pipeline_model_parallel_size (" + str(pp) + "), or "
                                     "microbatch_group_size_per_virtual_pipeline_stage set to a group that leaves "
                                     "no remainder, or one of at least pipeline_model_parallel_size");
  }
  if (cp > 1 && m.seq_length % (2 * cp) != 0) {
    s.error("context_parallel_size", "2 x CP must divide seq_length (" + str(m.seq_length) + ")");
  }
  if (cp > 1 && c.cp_implementation == "pytorch" && (c.cp_comm_type == "a2a" || c.cp_comm_type == "a2a+p2p")) {
    s.error("cp_comm_type", "'" + c.cp_comm_type + "' is Transformer Engine's; PyTorch's context parallelism "
            "(cp_implementation: pytorch) runs a ring: p2p or allgather");
  }
  if (const auto& h = c.hierarchical_context_parallel_sizes; !h.empty()) {
    if (c.cp_comm_type != "a2a+p2p") {
      s.error("hierarchical_context_parallel_sizes", "takes effect only with cp_comm_type: a2a+p2p (got " + c.cp_comm_type + ")");
    } else if (h.size() != 2 || h[0] < 1 || h[1] < 1 || h[0] * h[1] != cp) {
      s.error("hierarchical_context_parallel_sizes", "needs two levels [A, P] of at least 1 with A x P = "
                                                     "context_parallel_size (" + str(cp) + ")");
    } else if ((m.num_attention_heads / tp) % h[0] != 0 || std::max(1, m.query_groups() / tp) % h[0] != 0) {
      s.error("hierarchical_context_parallel_sizes", "the all-to-all level (" + str(h[0]) + ") splits the heads: it "
              "must divide the query heads (" + str(m.num_attention_heads / tp) + ") and the key/value heads (" +
              str(std::max(1, m.query_groups() / tp)) + ") per TP rank");
    }
  }
  if (cp > 1 && c.cp_comm_type == "a2a" && (m.num_attention_heads / tp) % cp != 0) {
    s.error("cp_comm_type", "a2a splits the heads over CP: CP must divide the heads per TP rank (" +
                                str(m.num_attention_heads / tp) + ")");
  }
  if (ep > 1 && m.num_experts == 0) s.error("expert_model_parallel_size", "needs a mixture-of-experts model (model.num_experts)");
  if (m.num_experts > 0) {
    if (m.num_experts % ep != 0) s.error("expert_model_parallel_size", "must divide num_experts (" + str(m.num_experts) + ")");
    const int etp = c.expert_tp();
    if (c.experts_fold_tp()) {
      // Megatron-core's expert rank generator cuts the stage's TP x CP x DP ranks into expert TP x EP x DP.
      if ((tp * dp_ * cp) % (ep * etp) != 0) {
        s.error(etp > 1 ? "expert_tensor_parallel_size" : "expert_model_parallel_size",
                "expert_model_parallel_size x expert_tensor_parallel_size (" + str(ep) + " x " + str(etp) +
                    ") must divide tensor x data x context parallel size (" + str(tp * dp_ * cp) + ")");
      }
      if (m.moe_ffn() % etp != 0) {
        s.error("expert_tensor_parallel_size", "must divide the experts' FFN size (" + str(m.moe_ffn()) + ")");
      }
    } else if ((dp_ * cp) % ep != 0) {
      s.error("expert_model_parallel_size", "must divide data x context parallel size (" + str(dp_ * cp) + ")");
    }
    if (tp > 1 && !c.sequence_parallel) s.error("sequence_parallel", "must be true with tensor parallelism and experts (as in Megatron-LM)");
  }
  if (const int instances = c.num_distributed_optimizer_instances; instances > 1) {
    // Megatron-core: DDP asserts the distributed optimizer; parallel_state that N divides DP x CP and expert-DP.
    // Megatron-FSDP's hybrid sharding (its units, the outer level not sharded) is modelled; its other strategies and
    // PyTorch's FSDP2 (Megatron-LM asserts no partial instances with it) are not.
    if (c.use_torch_fsdp2 || (c.use_megatron_fsdp && !c.megatron_fsdp_units())) {
      s.error("num_distributed_optimizer_instances",
              c.use_torch_fsdp2 ? std::string("above 1 with use_torch_fsdp2 is not modelled")
                                : "above 1 with Megatron-FSDP's " + c.data_parallel_sharding_strategy +
                                      " is not modelled (its hybrid sharding is, with optim_grads_params)");
    } else if (!c.use_distributed_optimizer && !c.use_megatron_fsdp) {
      s.error("num_distributed_optimizer_instances", "above 1 needs use_distributed_optimizer: true (Megatron-core: "
                                                     "\"Partial DistOpt cannot be used without DistOpt\")");
    } else if ((dp_ * cp) % instances != 0) {
      s.error("num_distributed_optimizer_instances", "must divide data x context parallel size (" + str(dp_ * cp) + ")");
    } else if (m.num_experts > 0 && static_cast<int>(c.expert_data_parallel(dp_)) % instances != 0) {
      s.error("num_distributed_optimizer_instances", "must divide the experts' data-parallel size (" +
                                                         str(static_cast<int>(c.expert_data_parallel(dp_))) + ")");
    }
  }
  // Token all-to-all volume. alltoall sends a token once per chosen expert (k copies, (G-1)/G of them to other
  // nodes when the EP group spans G nodes); flex sends it once per destination node and forwards it over NVLink
  // inside, so the network carries the expected number of distinct nodes among its k experts, D = n (1 - (1 -
  // 1/n)^k) with n = G, or n = moe_router_group_topk nodes with group-limited routing: D / k of alltoall's bytes,
  // at moe_flex_network_efficiency of the line rate (DeepEP's measured share; costed as that many more bytes).
  // Inside one node (G = 1) the same kernels send a token once per destination rank (DeepEP's intranode kernels,
  // HybridEP's), over NVLink at the collective's own efficiency: D / k of alltoall's bytes with D the expected number
  // of distinct ranks among its k experts, n = EP ranks, or with group-limited routing the ranks of group_topk groups
  // (a group spanning EP / groups ranks where groups < EP). Checked against Megatron-LM's MoE layer benchmark on 8 H100
  // (bench/validate_moe_layer.py; docs/validation.md, "One MoE layer").
  dispatch_factor_ = 1;
  if (m.num_experts > 0 && ep > 1 && c.moe_token_dispatcher_type == "flex" && s.diagnostics()->empty()) {
    const Placement pl(tp, cp, dp_, pp, ep, c.parallel_order, c.expert_tp());
    std::set<uint32_t> nodes;
    for (uint32_t r : pl.group(GroupKind::kEp, 0)) nodes.insert(gpus[r].node);
    const double G = static_cast<double>(nodes.size()), k = m.moe_router_topk;
    if (G > 1) {
      const double reach = m.moe_router_num_groups > 0 ? std::min(G, 1.0 * m.moe_router_group_topk) : G;
      double nodes_reached = reach * (1 - std::pow(1 - 1 / reach, k));
      const int groups = m.moe_router_num_groups, chosen = m.moe_router_group_topk, g = static_cast<int>(G);
      if (groups > g && groups % g == 0 && chosen < groups) {
        // Several groups a node: a token's `chosen` groups (drawn without replacement) land on fewer distinct nodes.
        // A node is reached unless none of its groups is chosen or none of its chosen groups gets one of the k
        // experts (each chosen group does with p = 1 - (1 - 1/chosen)^k): hypergeometric over its groups / G groups.
        const int per_node = groups / g;
        const double p = 1 - std::pow(1 - 1.0 / chosen, k);
        const auto binom = [](int total, int r) {
          if (r < 0 || r > total) return 0.0;
          double b = 1;
          for (int i = 1; i <= r; ++i) b = b * (total - r + i) / i;
          return b;
        };
        double none = 0;
        for (int j = 0; j <= std::min(per_node, chosen); ++j) {
          none += binom(per_node, j) * binom(groups - per_node, chosen - j) / binom(groups, chosen) * std::pow(1 - p, j);
        }
        nodes_reached = G * (1 - none);
      }
      dispatch_factor_ = nodes_reached / k / c.moe_flex_network_efficiency;
    } else {
      const double ranks = ep, groups = m.moe_router_num_groups;
      const double reach = groups > 0 ? std::min(ranks, m.moe_router_group_topk * std::max(1.0, ranks / groups)) : ranks;
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
    if (!part->supports(dtype_)) {
      s.error("precision", part->name + " has no " + c.precision + " tensor cores" +
                               (c.nvfp4() ? std::string(" (NVFP4 training needs Blackwell: B200, B300 and the GB200 / "
                                                        "GB300 racks' GPUs)")
                                          : std::string()));
    }
  }
  attention_label_ = check_attention_backend(c.attention_backend, c.use_flash_attn, parts, s);
  host_label_ = hw::host_factor_label(parts);
  deterministic_label_.clear();
  if (c.deterministic_mode) {  // what --deterministic-mode costs on these parts, for the header
    for (const auto* part : parts) {
      const double slowdown = part->calibration.deterministic_attention_backward_slowdown;
      char buf[160];
      if (hw::costs_deterministic_attention(*part)) {
        std::snprintf(buf, sizeof buf, "%s attention backward x%.4g (deterministic_attention_backward_slowdown)",
                      part->name.c_str(), slowdown);
      } else {
        std::snprintf(buf, sizeof buf, "%s attention backward not costed (its deterministic kernel not measured)",
                      part->name.c_str());
      }
      deterministic_label_ += (deterministic_label_.empty() ? "" : ", ") + std::string(buf);
    }
  }
  if (c.fp8_gemm_backend != "auto" && c.precision != "fp8") {
    s.error("fp8_gemm_backend", "'" + c.fp8_gemm_backend + "' runs FP8 GEMMs: needs precision: fp8 (got " +
                                    c.precision + ")");
  } else {
    for (const auto* part : parts) {
      if (const std::string problem = hw::fp8_gemm_backend_problem(*part, c.fp8_gemm_backend); !problem.empty()) {
        s.error("fp8_gemm_backend", problem);
      }
    }
  }
  if (c.mxfp8()) {
    for (const auto* part : parts) {
      if (!part->block_scaled_fp8) {
        s.error("fp8_recipe", "'mxfp8' needs tensor cores that apply MX block scales (block_scaled_fp8: B200, B300 "
                              "and the GB200 / GB300 racks' GPUs); " + part->name + " has none: use delayed or "
                              "tensorwise");
      }
    }
  }
  if (c.fp8_blockwise()) {
    for (const auto* part : parts) {
      if (part->block_scaled_fp8) {
        s.error("fp8_recipe", "'blockwise' is Hopper's block scaling; on " + part->name + " Transformer Engine runs "
                              "it through MXFP8 GEMMs (emulated): use mxfp8");
      }
    }
  }
  if (s.diagnostics() && !s.diagnostics()->empty()) return;
  // Memory: every stage on every part. Alternatives for the message are tried one at a time.
  memory_ = {};
  plans_.clear();
  // A copy of a validated, never-started workload (validate_like) takes over its plans: the same configuration on
  // equal parts plans every stage the same. Each part here stands for the part of the same ranks there.
  std::map<const hw::AcceleratorSpec*, const hw::AcceleratorSpec*> like_part;
  if (like && !like->ctx_ && like_gpus && like_gpus->size() == gpus.size()) {
    for (size_t r = 0; r < gpus.size() && like; ++r) {
      const auto [it, added] = like_part.emplace(gpus[r].part, (*like_gpus)[r].part);
      if (!added && it->second != (*like_gpus)[r].part) like = nullptr;  // not a copy of that cluster
    }
  } else {
    like = nullptr;
  }
  // The pass order of every stage, for the memory fit's micro-batches in flight (plan_stage) and for the run: a
  // copy shares the original's (the same configuration).
  schedules_ = like && like->schedules_ ? like->schedules_ : make_schedules();
  for (const auto* part : parts) {
    std::vector<PlanPtr> kept;
    auto reuse = [&, from = like ? like_part.at(part) : nullptr](int stage) -> PlanPtr {
      if (!like) return nullptr;
      const auto it = like->plans_.find({from, stage});
      return it == like->plans_.end() ? nullptr : it->second;
    };
    const auto [fit, stage] = tightest_stage(*part, &kept, reuse);
    if (memory_.items.empty() || fit.capacity - fit.total < memory_.capacity - memory_.total) {
      memory_ = fit;
      memory_stage_ = stage;
    }
    // The run plans each stage on the part with its kernels applied (build(): kernels_on); where that leaves the
    // part as it is, these plans are the run's.
    if (c.kernels_change(*part)) continue;
    for (size_t st = 0; st < kept.size(); ++st) plans_[{part, static_cast<int>(st)}] = std::move(kept[st]);
  }
  if (!memory_.fits()) {
    std::vector<std::pair<std::string, std::function<void(MegatronConfig&)>>> changes;
    if (!c.use_distributed_optimizer && !c.fsdp() && !c.use_megatron_fsdp) changes.push_back({"use_distributed_optimizer: true", [](auto& x) { x.use_distributed_optimizer = true; }});
    if (c.use_megatron_fsdp && !c.megatron_fsdp_units() && c.pipeline_model_parallel_size == 1) {  // its ZeRO-3
      changes.push_back({"data_parallel_sharding_strategy: optim_grads_params",
                         [](auto& x) { x.data_parallel_sharding_strategy = "optim_grads_params"; }});
    }
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
    return;
  }
}

// The stage whose plan leaves the least memory free (validate()'s memory check).
std::pair<hw::MemoryFit, int> MegatronTraining::tightest_stage(
    const hw::AcceleratorSpec& part, std::vector<PlanPtr>* keep, const std::function<PlanPtr(int stage)>& reuse) const {
  std::pair<hw::MemoryFit, int> worst;
  for (int stage = 0; stage < config_.pipeline_model_parallel_size; ++stage) {
    PlanPtr known = reuse ? reuse(stage) : nullptr;
    PlanPtr plan = known ? std::move(known) : std::make_shared<const StagePlan>(plan_stage(part, stage));
    const hw::MemoryFit& f = plan->memory;
    if (worst.first.items.empty() || f.capacity - f.total < worst.first.capacity - worst.first.total) {
      worst = {f, stage};
    }
    if (keep) keep->push_back(std::move(plan));
  }
  return worst;
}

}  // namespace lcsim::wl
