// MegatronTraining's configuration, its keys checked against each other as Megatron-LM checks them (validate_args,
// TransformerConfig, the DDP and Megatron-FSDP) once they are parsed (MegatronConfig::check_keys, called by
// visit_keys in megatron_config.cc); the checks against the cluster are in megatron_validate.cc.
#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>

#include "workloads/training/megatron.h"
#include "workloads/training/megatron_args.h"

namespace lcsim::wl {

void MegatronConfig::check_batch_schedule(Section& s) {
  // Megatron-LM's batch-size schedules (batch_schedule.h) and the job lengths they need.
  batch_schedule = BatchSchedule();
  if (job_train_iters > 0 && job_train_samples > 0) {
    s.error("job_train_samples", "cannot be given with job_train_iters: Megatron-LM trains sample-based "
                                 "(--train-samples) or iteration-based (--train-iters), not both");
  }
  if (!rampup_batch_size.empty() && !step_batch_size_schedule.empty()) {
    s.error("step_batch_size_schedule", "cannot be given with rampup_batch_size: one batch-size schedule");
    return;
  }
  try {
    if (!rampup_batch_size.empty()) {
      if (rampup_batch_size.size() != 3) {
        s.error("rampup_batch_size", "needs three numbers, [START, INCREMENT, SAMPLES] (Megatron-core asserts "
                                     "len(rampup_batch_size) == 3), got " + std::to_string(rampup_batch_size.size()));
        return;
      }
      batch_schedule = BatchSchedule::rampup(rampup_batch_size[0], rampup_batch_size[1], rampup_batch_size[2],
                                             global_batch_size);
    } else if (!step_batch_size_schedule.empty()) {
      batch_schedule = BatchSchedule::steps(step_batch_size_schedule, model.seq_length);
      if (batch_schedule.global() != global_batch_size) {
        s.error("step_batch_size_schedule", "its last batch (" + std::to_string(batch_schedule.global()) +
                                                ") is the global batch: set global_batch_size to it, not " +
                                                std::to_string(global_batch_size));
      }
    }
  } catch (const std::invalid_argument& e) {
    s.error(rampup_batch_size.empty() ? "step_batch_size_schedule" : "rampup_batch_size", e.what());
    batch_schedule = BatchSchedule();
    return;
  }
  if (!batch_schedule.empty() && job_train_iters > 0) {
    s.error(rampup_batch_size.empty() ? "step_batch_size_schedule" : "rampup_batch_size",
            "needs sample-based training (job_train_samples, Megatron's --train-samples, or cost.token_budget), not "
            "job_train_iters: Megatron-LM asserts \"expected no batch-size rampup for iteration-based training\"");
  }
}

void MegatronConfig::check_keys(Section& s) {
  check_batch_schedule(s);
  if (!Placement::check_order(parallel_order).empty()) {
    s.error("parallel_order", Placement::check_order(parallel_order));
  }
  if (overlap_param_gather && !use_distributed_optimizer && !use_megatron_fsdp) {
    s.error("overlap_param_gather", "needs use_distributed_optimizer: true or use_megatron_fsdp (as in Megatron-LM)");
  }
  if (tp_comm_overlap && !sequence_parallel) s.error("tp_comm_overlap", "needs sequence_parallel: true");
  // Transformer Engine's userbuffers fill their all-gather buffer from FP8 and MXFP8 quantizers only (base.py,
  // fill_userbuffers_buffer_for_all_gather: "Unsupported quantizer for Userbuffers"); Megatron-Bridge's performance
  // scripts turn the TP overlap off for nvfp4.
  if (tp_comm_overlap && nvfp4()) {
    s.error("tp_comm_overlap", "with precision: fp4 Transformer Engine's userbuffers take no NVFP4 input "
                               "(\"Unsupported quantizer for Userbuffers\"): set it to false");
  }
  if (ddp_num_buckets > 0 && ddp_bucket_size > 0) {
    s.error("ddp_num_buckets", "cannot be given with ddp_bucket_size (Megatron-LM: \"Cannot specify both "
                               "--ddp-num-buckets and --ddp-bucket-size\")");
  }
  if (ddp_reduce_scatter_with_fp32_accumulation) {
    const char* why = num_distributed_optimizer_instances > 1
                          ? "cannot be used with num_distributed_optimizer_instances > 1 (Megatron-LM asserts: \"RS w/ "
                            "FP32 accumulation not supported with num_distributed_optimizer_instances > 1\")"
                      : use_megatron_fsdp || use_torch_fsdp2
                          ? "is modelled for Megatron's DDP buckets (use_distributed_optimizer), not with "
                            "use_megatron_fsdp or use_torch_fsdp2"
                          : nullptr;
    if (why) s.error("ddp_reduce_scatter_with_fp32_accumulation", why);
  }
  if (rerun_mode == "report_stats" || rerun_mode == "report_determinism_stats") {
    s.error("rerun_mode", "is not modelled: Megatron-LM's rerun state machine then runs every step's forward and "
                          "backward passes twice to compare their results; use validate_results (Megatron-LM's "
                          "default), skip or disabled");
  }
  // What Megatron-LM's --deterministic-mode rejects (megatron/training/determinism.py, apply_determinism_to_args:
  // "Incompatible options are rejected with an explicit error rather than silently overridden").
  if (deterministic_mode) {
    for (const auto& [on, key, why] :
         {std::tuple{tp_comm_overlap, "tp_comm_overlap", "overlapped collectives' ordering is not reproducible"},
          std::tuple{cross_entropy_loss_fusion, "cross_entropy_loss_fusion", "the fused cross entropy is not "
                                                                             "deterministic"},
          std::tuple{router.moe_router_fusion, "moe_router_fusion", "the fused router's auxiliary loss follows it "
                                                                    "and is not deterministic"}}) {
      if (on) {
        s.error(key, std::string("cannot be used with deterministic_mode (--deterministic-mode): Megatron-LM rejects "
                                 "it, ") + why);
      }
    }
  }
  if (torch_eager()) {
    for (auto [on, key] : {std::pair{!bias_activation_fusion, "bias_activation_fusion"},
                           std::pair{!apply_rope_fusion, "apply_rope_fusion"},
                           std::pair{cuda_graph_impl != "none", "cuda_graph_impl"}}) {
      if (on) s.error(key, "is Megatron-LM's; layer_kernels: torch_eager costs PyTorch's own kernels (leave it at "
                           "its default)");
    }
  }
  if (cross_entropy_loss_fusion && cross_entropy != "megatron") {
    s.error("cross_entropy_loss_fusion", "is Megatron-LM's fused loss; it needs cross_entropy: megatron");
  }
  if (distribute_saved_activations) {
    const char* why = recompute_granularity != "full" ? "needs recompute_granularity: full"
                      : tensor_model_parallel_size < 2 ? "needs tensor_model_parallel_size > 1"
                      : sequence_parallel ? "must be false with sequence_parallel (as Megatron-core requires)" : nullptr;
    if (why) s.error("distribute_saved_activations", why);
  }
  if (recompute_granularity == "full" && recompute_num_layers < 1) {
    s.error("recompute_num_layers", "must be at least 1 with recompute_granularity: full");
  }
  for (size_t i = 0; i < recompute_modules.size(); ++i) {
    const std::string& mod = recompute_modules[i];
    static const std::vector<std::string> known = {"core_attn", "layernorm", "mla_up_proj", "moe_act",
                                                   "mlp",       "moe",       "shared_experts"};
    const std::string item = "item " + std::to_string(i) + ": ";
    bool dense = false;  // a dense MLP layer for `mlp` to recompute
    for (int l = 0; l < model.num_layers && mod == "mlp"; ++l) dense = dense || !model.is_moe_layer(l);
    if (std::find(known.begin(), known.end(), mod) == known.end()) {
      s.error("recompute_modules", item + unknown_name_message("recompute module", mod, known));
    } else if (mod == "mla_up_proj" && !model.multi_latent_attention) {
      s.error("recompute_modules", item + "mla_up_proj needs model.multi_latent_attention: true");
    } else if ((mod == "moe_act" || mod == "moe") && model.num_experts == 0) {
      s.error("recompute_modules", item + mod + " needs an MoE model (model.num_experts > 0)");
    } else if (mod == "shared_experts" && model.moe_shared_expert_intermediate_size <= 0) {
      s.error("recompute_modules", item + "shared_experts needs model.moe_shared_expert_intermediate_size > 0");
    } else if (mod == "mlp" && !dense) {
      s.error("recompute_modules", item + "mlp recomputes the dense MLP layers; every layer of this model is MoE");
    } else if (mod == "mlp" && sequence_parallel && tp_comm_overlap && !model.multi_latent_attention) {
      s.error("recompute_modules", item + "mlp with tp_comm_overlap (Transformer Engine's overlapped layers) is not "
                                          "modelled");
    } else if (mod == "moe" && overlap_moe_expert_parallel_comm) {
      s.error("recompute_modules", item + "moe with overlap_moe_expert_parallel_comm is not modelled (Megatron-LM "
                                          "recomputes its a2a_overlap_* segments there)");
    }
  }
  if (recompute_modules != std::vector<std::string>{"core_attn"} && recompute_granularity != "selective") {
    s.error("recompute_modules", "takes effect only with recompute_granularity: selective (got " +
                                     recompute_granularity + ")");
  }
  // Megatron-core checks the flag only where there is a shared expert (TransformerConfig.__post_init__); without
  // one it does nothing, as here.
  if (moe_shared_expert_overlap && model.moe_shared_expert_intermediate_size > 0) {
    const char* why = moe_token_dispatcher_type == "allgather" ? "needs the alltoall or flex dispatcher (as Megatron-core requires)"
                      : overlap_moe_expert_parallel_comm || pipeline_schedule == "dualpipe" ? "with overlap_moe_expert_parallel_comm or dualpipe is not modelled"
                      : recomputes("shared_experts") ? "with recompute module shared_experts is not modelled" : nullptr;
    if (why) s.error("moe_shared_expert_overlap", why);
  }
  // What Megatron-core's TransformerConfig asserts with the 1F1B all-to-all overlap (DualPipe has its own error
  // below). Not its demand for virtual pipeline stages when PP > 1: lcsim's stand-in for the overlap (the
  // all-to-alls beside each pass) runs with 1F1B as well (docs/training.md, "Not modelled (yet)").
  if (overlap_moe_expert_parallel_comm && pipeline_schedule != "dualpipe") {
    const char* why = expert_model_parallel_size < 2 ? "needs expert_model_parallel_size > 1"
                      : moe_token_dispatcher_type == "allgather" ? "needs the alltoall or flex dispatcher"
                      : recompute_granularity == "full" ? "cannot be used with recompute_granularity: full"
                      : model.mtp_num_layers > 1 ? "takes at most one MTP module (model.mtp_num_layers)" : nullptr;
    if (why) s.error("overlap_moe_expert_parallel_comm", std::string(why) + " (Megatron-core's TransformerConfig asserts it)");
  }
  if (router.moe_router_padding_for_fp8 && !quantized()) {
    s.error("moe_router_padding_for_fp8", "pads the routing map to the quantized GEMMs' alignment: needs precision: "
                                          "fp8 or fp4");
  }
  if (router.moe_expert_capacity_factor > 0 && moe_token_dispatcher_type != "alltoall") {
    s.error("moe_expert_capacity_factor", "token dropping is modelled for moe_token_dispatcher_type: alltoall only");
  }
  if (moe_fp8_dispatch && precision != "fp8") {
    s.error("moe_fp8_dispatch", "needs precision: fp8 (got " + precision + ")");
  }
  if (cuda_graph_impl == "none" && !cuda_graph_scope.empty()) {
    s.error("cuda_graph_scope", "needs cuda_graph_impl: local or transformer_engine (Megatron-LM's --cuda-graph-impl)");
  }
  for (const auto& scope : cuda_graph_scope) {
    if (scope == "full_iteration") {
      if (cuda_graph_impl == "transformer_engine") {
        s.error("cuda_graph_scope", "full_iteration needs cuda_graph_impl: local (Megatron-core's own graphs; "
                                    "Transformer Engine's capture is per layer)");
      }
      if (cuda_graph_scope.size() > 1) {
        s.error("cuda_graph_scope", "full_iteration captures every module of every layer; name it alone");
      }
    } else if (scope != "attn" && scope != "mlp" && scope != "moe" && scope != "moe_router" && scope != "moe_preprocess") {
      s.error("cuda_graph_scope",
              "'" + scope + "' is none of attn, mlp, moe, moe_router, moe_preprocess, full_iteration");
    }
  }
  if (calculate_per_token_loss && ddp_average_in_collective) {
    s.error("calculate_per_token_loss", "cannot be used with ddp_average_in_collective: true (Megatron-core's "
                                        "DistributedDataParallel asserts it: the collective would average a sum)");
  }
  if (cuda_graph_impl == "local" && in_graph_scope("full_iteration")) {
    const char* key = check_for_nan_in_grad   ? "check_for_nan_in_grad"
                      : check_for_nan_in_loss ? "check_for_nan_in_loss"
                      : check_for_large_grads ? "check_for_large_grads"
                      : check_for_spiky_loss  ? "check_for_spiky_loss"
                                              : nullptr;
    if (key) {
      s.error(key, "a full_iteration CUDA graph cannot synchronize with the host inside it: set check_for_nan_in_grad, "
                   "check_for_nan_in_loss, check_for_large_grads and check_for_spiky_loss to false (Megatron-LM asserts "
                   "--no-check-for-nan-in-loss-and-grad with it)");
    }
  }
  if (cuda_graph_impl != "none" && model.num_experts > 0 && !router.moe_pad_expert_input_to_capacity &&
      (cuda_graph_scope.empty() || in_graph_scope("moe") || in_graph_scope("full_iteration"))) {
    s.error("cuda_graph_scope", std::string(cuda_graph_scope.empty()            ? "[] (the whole layer)"
                                            : in_graph_scope("full_iteration") ? "full_iteration"
                                                                               : "moe") +
                                    " captures the experts, whose token counts change every step in a dropless MoE: a "
                                    "graph needs fixed shapes; set moe_pad_expert_input_to_capacity (with a capacity "
                                    "factor), or capture attn, moe_router and moe_preprocess only");
  }
  if (first_last_layers_bf16 && !quantized()) {
    s.error("first_last_layers_bf16", "keeps some layers out of FP8 or NVFP4; it needs precision: fp8 or fp4 (got " +
                                          precision + ")");
  }
  if (fp8_saved_activations && precision != "fp8") {
    s.error("fp8_saved_activations", "needs precision: fp8 (got " + precision + ")");
  }
  if (fp8_param_gather && (precision != "fp8" || !(use_distributed_optimizer || use_megatron_fsdp) ||
                           fp8_gemm_backend == "deepgemm")) {
    s.error("fp8_param_gather", "needs precision: fp8, use_distributed_optimizer: true (or use_megatron_fsdp) and "
                                "Transformer Engine's FP8 GEMMs (fp8_gemm_backend auto), as Megatron-LM's "
                                "--fp8-param-gather (got precision " + precision + ")");
  }
  layout.clear();
  if (!pipeline_model_parallel_layout.empty()) {
    std::string why;
    layout = parse_pipeline_layout(pipeline_model_parallel_layout, &why);
    if (why.empty()) why = check_pipeline_layout(layout, pipeline_model_parallel_size, model.num_layers, model.mtp_num_layers);
    if (!why.empty()) {
      const std::string& text = pipeline_model_parallel_layout;
      s.error("pipeline_model_parallel_layout", "'" + (text.size() > 120 ? text.substr(0, 120) + "..." : text) + "' " + why);
      layout.clear();
    }
    // Megatron-LM's validate_args: one way to set the chunks; the layout also gives the split (first/last and the
    // embedding/loss places are the split keys it replaces).
    for (const auto& [key, given] : {std::pair{"num_layers_per_virtual_pipeline_stage", num_layers_per_virtual_pipeline_stage > 0},
                                     std::pair{"num_virtual_stages_per_pipeline_rank", num_virtual_stages_per_pipeline_rank > 0},
                                     std::pair{"decoder_first_pipeline_num_layers", decoder_first_pipeline_num_layers > 0},
                                     std::pair{"decoder_last_pipeline_num_layers", decoder_last_pipeline_num_layers > 0},
                                     std::pair{"account_for_embedding_in_pipeline_split", account_for_embedding_in_pipeline_split},
                                     std::pair{"account_for_loss_in_pipeline_split", account_for_loss_in_pipeline_split}}) {
      if (given) {
        s.error(key, std::string("and pipeline_model_parallel_layout exclude each other (the layout gives the split "
                                 "and the chunks per rank)"));
      }
    }
    if (pipeline_schedule == "dualpipe") {
      s.error("pipeline_model_parallel_layout", "is Megatron's interleaved split; dualpipe places its own stages");
    }
  }
  // Megatron-LM's validate_args, in its order (here, after the layout: it gives the chunks).
  if (overlap_param_gather_with_optimizer_step) {
    if (!use_distributed_optimizer) {
      s.error("overlap_param_gather_with_optimizer_step", "needs use_distributed_optimizer: true (as in Megatron-LM)");
    } else if (!overlap_param_gather) {
      s.error("overlap_param_gather_with_optimizer_step", "needs overlap_param_gather: true (as in Megatron-LM)");
    } else if (pipeline_schedule == "dualpipe" || virtual_stages() < 2) {
      s.error("overlap_param_gather_with_optimizer_step",
              "needs interleaving (more than one model chunk per stage: num_layers_per_virtual_pipeline_stage, "
              "num_virtual_stages_per_pipeline_rank or pipeline_model_parallel_layout), as in Megatron-LM");
    }
  }
  if (num_virtual_stages_per_pipeline_rank > 0 && num_layers_per_virtual_pipeline_stage > 0) {
    s.error("num_virtual_stages_per_pipeline_rank", "and num_layers_per_virtual_pipeline_stage exclude each other");
  }
  if ((account_for_embedding_in_pipeline_split || account_for_loss_in_pipeline_split) &&
      (decoder_first_pipeline_num_layers > 0 || decoder_last_pipeline_num_layers > 0)) {
    s.error(account_for_embedding_in_pipeline_split ? "account_for_embedding_in_pipeline_split"
                                                    : "account_for_loss_in_pipeline_split",
            "and decoder_first/last_pipeline_num_layers exclude each other (as in Megatron-LM): give the uneven "
            "split one way");
  }
  if (attention_unpad && !use_flash_attn) {
    s.error("attention_unpad", "needs fused attention (use_flash_attn: true): the copies surround flash-attn's "
                               "variable-length kernel");
  } else if (attention_unpad && context_parallel_size > 1) {
    // llm-foundry's flash_attn_fn, whose copies the key models, has no context parallelism, and the CP path runs
    // its own per-step calls (cp_attention.h) that take no varlen copies: rejected rather than silently dropped.
    s.error("attention_unpad", "is not modelled with context parallelism (context_parallel_size " +
                                   std::to_string(context_parallel_size) +
                                   "): llm-foundry's flash_attn_fn has no context parallelism and the CP attention "
                                   "steps take no padding copies; use context_parallel_size: 1 or drop attention_unpad");
  }
  if (selective_ac_option != "megatron" && selective_ac_option != "op" && selective_ac_every() == 0) {
    s.error("selective_ac_option", "'" + selective_ac_option + "' is none of megatron, op or a positive integer "
                                   "(every Nth layer recomputed)");
  }
  if (use_torch_fsdp2 && use_distributed_optimizer) {
    s.error("use_torch_fsdp2", "and use_distributed_optimizer exclude each other (FSDP shards the optimizer too)");
  }
  if (use_megatron_fsdp) {
    if (use_torch_fsdp2) s.error("use_megatron_fsdp", "and use_torch_fsdp2 are two FSDP implementations: take one");
    // Megatron-LM sets use_distributed_optimizer itself with Megatron-FSDP (validate_args); its sharded optimizer is
    // Megatron-FSDP's, and data_parallel_sharding_strategy decides what is gathered and reduced (dist_opt()).
    if (overlap_param_gather_with_optimizer_step) {
      s.error("overlap_param_gather_with_optimizer_step", "with use_megatron_fsdp is not modelled (Megatron-FSDP "
                                                           "gathers through its own pipeline, not after chunk 0's step)");
    }
    if (outer_dp_sharding_strategy == "optim") {
      // Megatron-FSDP's fully_shard: "Sharding with Hybrid (Fully) Sharded Data Parallel (HSDP) requires zero_dp_strategy
      // to use FSDP ('optim_grads_params', 3)"; the hybrid level needs several instances (the adapter's enable_hsdp).
      if (!megatron_fsdp_units()) {
        s.error("outer_dp_sharding_strategy", "optim needs data_parallel_sharding_strategy: optim_grads_params "
                                              "(Megatron-FSDP's fully_shard: hybrid sharding requires its units)");
      } else if (num_distributed_optimizer_instances < 2) {
        s.error("outer_dp_sharding_strategy", "optim needs num_distributed_optimizer_instances above 1 (the outer "
                                              "level is the instances: Megatron-FSDP's hybrid sharding)");
      } else if (model.num_experts > 0) {
        s.error("outer_dp_sharding_strategy", "optim with experts is not modelled (in the Megatron-FSDP code read, "
                                              "expert buffers have no outer level)");
      }
    }
    if (pipeline_model_parallel_size > 1 && megatron_fsdp_units()) {
      s.error("use_megatron_fsdp", "with optim_grads_params (its FSDP units) and pipeline parallelism is not modelled "
                                   "(the units combine with TP, CP and EP; data_parallel_sharding_strategy optim_grads, "
                                   "optim and no_shard run with pipeline parallelism)");
    }
  }
  const std::string sched = schedule();
  if (defer_embedding_wgrad_compute) {  // Megatron-core's TransformerConfig checks the first
    if (!gradient_accumulation_fusion) {
      s.error("defer_embedding_wgrad_compute", "needs gradient_accumulation_fusion (Megatron-core: the deferred GEMMs "
                                               "accumulate into the main gradient)");
    }
    if (fsdp() || use_megatron_fsdp) {
      s.error("defer_embedding_wgrad_compute", "with fully sharded data parallelism is not modelled");
    }
    if (sched == "dualpipe") s.error("defer_embedding_wgrad_compute", "with dualpipe is not modelled");
  }
  if (sched == "dualpipe") {
    const std::string why = "dualpipe holds two model chunks per rank, stages r and PP-1-r";
    if (pipeline_model_parallel_size < 2 || pipeline_model_parallel_size % 2 != 0) {
      s.error("pipeline_model_parallel_size", "dualpipe needs an even number of pipeline stages (rank r pairs with "
                                              "rank PP-1-r), got " + std::to_string(pipeline_model_parallel_size));
    }
    if (num_layers_per_virtual_pipeline_stage > 0) s.error("num_layers_per_virtual_pipeline_stage", why + "; no interleaving");
    if (num_virtual_stages_per_pipeline_rank > 0) s.error("num_virtual_stages_per_pipeline_rank", why + "; no interleaving");
    if (overlap_moe_expert_parallel_comm) {
      s.error("overlap_moe_expert_parallel_comm", "dualpipe overlaps the expert all-to-alls of its forward-backward "
                                                  "pairs itself (its single passes do not overlap them): leave it out");
    }
    if (use_torch_fsdp2) s.error("use_torch_fsdp2", "and dualpipe together are not modelled");
    if (use_megatron_fsdp) s.error("use_megatron_fsdp", "and dualpipe together are not modelled");
    return;
  }
  // The key that asked for the chunks: the layout, or the chunk size.
  const char* chunks_key = layout.empty() ? "num_layers_per_virtual_pipeline_stage" : "pipeline_model_parallel_layout";
  if (virtual_stages() > 1 && pipeline_model_parallel_size < 2) {
    s.error(chunks_key, "interleaving needs pipeline_model_parallel_size > 1");
  } else if (sched == "interleaved" && virtual_stages() == 1) {
    s.error("pipeline_schedule", "interleaved needs num_layers_per_virtual_pipeline_stage (more than one model "
                                 "chunk per stage)");
  }
  if (sched != "interleaved" && virtual_stages() > 1) {
    s.error("pipeline_schedule", "'" + sched + "' runs one model chunk per stage; " + chunks_key +
                                     " asks for interleaving");
  }
}

}  // namespace lcsim::wl
