// The `megatron` workload's configuration: Megatron-LM's argument names (or a pasted Megatron command line,
// `megatron_args`), with their defaults; the keys and their checks are in megatron_config.cc.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "models/hardware/step_overhead.h"
#include "sim/config.h"
#include "sim/units.h"
#include "workloads/training/batch_schedule.h"
#include "workloads/training/gpt_model.h"
#include "workloads/training/pipeline_layout.h"
#include "workloads/training/placement.h"
#include "workloads/training/tp_overlap.h"

namespace lcsim::hw {
struct TrainingMemoryInput;
}  // namespace lcsim::hw

namespace lcsim::wl {

struct MegatronConfig {
  std::string megatron_args;  // a pasted Megatron-LM command line; keys written out below override it
  GptModelConfig model;
  int global_batch_size = 512;
  int micro_batch_size = 1;
  int tensor_model_parallel_size = 1;
  int pipeline_model_parallel_size = 1;
  int num_layers_per_virtual_pipeline_stage = 0;  // 0: no interleaving
  int microbatch_group_size_per_virtual_pipeline_stage = 0;  // interleaved: micro-batches per group (0: PP)
  int decoder_first_pipeline_num_layers = 0;      // 0: even split
  int decoder_last_pipeline_num_layers = 0;
  bool account_for_embedding_in_pipeline_split = false;  // the input embedding takes one layer's place
  bool account_for_loss_in_pipeline_split = false;       // the output layer and loss take one layer's place
  /// Layer places the pipeline split divides: num_layers plus one for each of the two flags above.
  int split_layers() const {
    return model.num_layers + (account_for_embedding_in_pipeline_split ? 1 : 0) + (account_for_loss_in_pipeline_split ? 1 : 0);
  }
  int context_parallel_size = 1;
  int expert_model_parallel_size = 1;
  bool sequence_parallel = false;
  std::string pipeline_schedule = "auto";         // auto, gpipe, 1f1b, interleaved
  bool overlap_p2p_comm = true;                   // interleaved only: the steady state's sends
  bool overlap_p2p_comm_warmup_flush = false;     // interleaved only: the warm-up's and flush's sends
  bool defer_embedding_wgrad_compute = false;     // the output layer's weight gradients in the pipeline flush
  int wgrad_deferral_limit = 0;                   // micro-batches deferred (0: all)
  std::string parallel_order = "tp-cp-ep-dp-pp";  // innermost first (Megatron's --order)
  // bf16, fp16, fp8, or fp4 (NVFP4: Transformer Engine's NVFP4BlockScaling, Megatron-LM's --fp4-format e2m1).
  std::string precision = "bf16";
  // FP8 scaling: delayed (Megatron's default), tensorwise (current scaling), mxfp8 (Blackwell's 1 x 32 blocks) or
  // blockwise (Hopper's 128 x 128 weights, 1 x 128 activations)
  std::string fp8_recipe = "delayed";
  std::string recompute_granularity = "none";
  // selective recompute: megatron (the attention core), op (torchtitan's op-level policy) or a positive integer N
  // (torchtitan's layer-level policy: every Nth layer fully recomputed, the others keep everything).
  std::string selective_ac_option = "megatron";
  std::string recompute_method = "uniform";  // full recompute: uniform (groups of N layers) or block (first N)
  int recompute_num_layers = 1;              // N; Megatron requires it with full recompute
  bool distribute_saved_activations = false;  // full recompute: checkpointed inputs split over TP (gathered back)
  // Selective recompute: what is recomputed (Megatron-LM's --recompute-modules): core_attn, layernorm,
  // mla_up_proj, moe_act.
  std::vector<std::string> recompute_modules = {"core_attn"};
  bool recomputes(const std::string& module) const;  // Megatron's selective, and `module` listed
  bool fp8_saved_activations = false;  // linear layers' saved inputs in FP8 (DeepSeek-V3, section 3.3.3)
  // precision: fp8: what a linear layer keeps of its input for backward: fp8 (Transformer Engine: the quantized
  // column-wise copy) or high_precision (torchao's Float8Linear: the 16-bit input).
  std::string fp8_linear_saved_input = "fp8";
  bool fp8_param_gather = false;  // FP8 compute weights, gathered in FP8 (Megatron-LM's --fp8-param-gather)
  bool cudnn_norm = false;  // Transformer Engine's norms through cuDNN (NVTE_NORM_FWD_USE_CUDNN=1; NormCast)
  // precision: fp8 or fp4 with the first and last transformer layers in BF16 (Megatron-core's first_last_layers_bf16 and
  // its two counts, defaults as Megatron-LM's arguments).
  // CUDA graphs (Megatron-LM's --cuda-graph-impl, --cuda-graph-scope): none, local (Megatron-core's own) or
  // transformer_engine; the scope's modules (attn, mlp, moe, moe_router, moe_preprocess; empty = the whole layer)
  // replay as one launch each instead of the host issuing each kernel (docs/training-cuda-graphs.md).
  std::string cuda_graph_impl = "none";
  // The layer's memory-bound operators: fused (one kernel each) or torch_eager (PyTorch without torch.compile,
  // torchtitan's Llama; docs/training-fusions.md).
  std::string layer_kernels = "fused";
  bool torch_eager() const { return layer_kernels == "torch_eager"; }
  /// The linear layers' GEMMs run quantized: FP8 (any recipe) or NVFP4. LayerShard::fp8 is this.
  bool quantized() const { return precision == "fp8" || precision == "fp4"; }
  /// NVFP4 (precision: fp4): E2M1 values, an E4M3 scale per 16 elements (16 x 16 for weights) and a per-tensor FP32
  /// scale from the tensor's amax; the weight gradient's operands through a 16-point Hadamard transform.
  bool nvfp4() const { return precision == "fp4"; }
  /// FP8 with Blackwell's block scaling (precision: fp8, fp8_recipe: mxfp8).
  bool mxfp8() const { return precision == "fp8" && fp8_recipe == "mxfp8"; }
  bool fp8_blockwise() const { return precision == "fp8" && fp8_recipe == "blockwise"; }
  /// fp8_param_gather's weights travel in FP8 (1 B) after the step. Not with MXFP8: Megatron-core keeps an MXFP8
  /// model's gathered parameters in a 16-bit view of the gradient buffer (param_and_grad_buffer.py, shared_buffer
  /// for any MXFP8 parameter), gathers them in 16-bit and quantizes them into the MXFP8 weights after the gather.
  bool fp8_weights_gathered() const { return fp8_param_gather && !mxfp8(); }
  std::vector<std::string> cuda_graph_scope;
  bool first_last_layers_bf16 = false;
  int num_layers_at_start_in_bf16 = 1, num_layers_at_end_in_bf16 = 1;
  /// Whether CUDA graphs capture `module` of the layers: attn, mlp, moe_router, moe_preprocess (each graph of a
  /// MoE layer's route step reaches that far: moe_preprocess and moe include the router), moe (the experts on).
  bool graphs(const std::string& module) const {
    if (cuda_graph_impl == "none") return false;
    if (cuda_graph_scope.empty() || full_iteration_graph() || in_graph_scope(module)) return true;
    if (module == "moe_router") return in_graph_scope("moe_preprocess") || in_graph_scope("moe");
    return module == "moe_preprocess" && in_graph_scope("moe");
  }
  bool in_graph_scope(const std::string& module) const {  // `module` named in cuda_graph_scope
    return std::find(cuda_graph_scope.begin(), cuda_graph_scope.end(), module) != cuda_graph_scope.end();
  }
  /// Each iteration's forward and backward passes, every micro-batch, in one graph (cuda_graph_scope
  /// [full_iteration], Megatron-core's local implementation): the host issues no kernel and waits on no pipeline
  /// receive of its own (docs/training-cuda-graphs.md).
  bool full_iteration_graph() const { return cuda_graph_impl == "local" && in_graph_scope("full_iteration"); }
  /// The host's issue times for the step's kernels on `part` (step_overhead.h): host_op_time, expert_launch_time and
  /// host_module_time times the part's host_op_time_factor (its node's host); none under a whole-iteration graph.
  hw::HostIssue::Config host_issue(const hw::AcceleratorSpec& part) const {
    if (full_iteration_graph()) {
      return hw::HostIssue::Config{Duration(), Duration(), false, false, Duration(), Duration(), Duration()};
    }
    const double f = part.host_op_time_factor;
    // host_op_time 0: the host is never the limit, module calls included.
    const Duration module = host_op_time > Duration() ? host_module_time * f : Duration();
    return hw::HostIssue::Config{host_op_time * f, expert_launch_time * f, host_issue_model == "serial",
                                 host_issue_model == "runahead", module, expert_gemm_launch_time * f,
                                 expert_module_time * f};
  }
  /// Whether layer l (global index; the MTP modules' layers are num_layers + d) runs in BF16 under precision: fp8
  /// or fp4 (Megatron-core's is_first_last_bf16_layer; fp4_utils.py, get_fp4_context, the same counts).
  bool bf16_layer(int l) const {
    return quantized() && first_last_layers_bf16 && l >= 0 &&
           (l < num_layers_at_start_in_bf16 || l >= model.num_layers - num_layers_at_end_in_bf16);
  }
  std::string cp_comm_type = "p2p";          // p2p, a2a, allgather, a2a+p2p (Megatron's --cp-comm-type)
  // a2a+p2p's two levels [all-to-all, ring], their product CP (Megatron's --hierarchical-context-parallel-sizes);
  // empty: [1, CP], the ring over every CP rank.
  std::vector<int> hierarchical_context_parallel_sizes;
  /// Key/value heads the context-parallel exchange moves: one per query head where they are repeated first.
  double cp_kv_heads() const { return cp_repeat_kv ? model.num_attention_heads : model.query_groups(); }
  int cp_a2a_size() const {
    return hierarchical_context_parallel_sizes.size() == 2 ? hierarchical_context_parallel_sizes[0] : 1;
  }
  bool cp_repeat_kv = false;  // keys/values expanded to the query heads before the CP exchange (torchtitan)
  bool attention_unpad = false;  // flash-attn's varlen path with llm-foundry's unpad/pad copies around it
  // Whose context parallelism runs attention: transformer_engine (Megatron-LM, NeMo) or pytorch (torchtitan's
  // torch.distributed.tensor.experimental.context_parallel); cp_attention.h says what each costs.
  std::string cp_implementation = "transformer_engine";
  int num_virtual_stages_per_pipeline_rank = 0;  // another way to ask for interleaving; 0: not given
  // Megatron-core's custom layout (--pipeline-model-parallel-layout): the layers of each virtual stage, e.g.
  // "Et*3|(tt|)*29,m|L"; empty: the split keys above. `layout` is its parsed form (empty when not given).
  std::string pipeline_model_parallel_layout;
  std::vector<PipelineLayoutStage> layout;
  int expert_tensor_parallel_size = 0;       // 0: as tensor_model_parallel_size (the only split modelled)
  bool use_distributed_optimizer = false;
  /// Megatron's partial distributed optimizer (--num-distributed-optimizer-instances): the optimizer sharded over
  /// DP x CP / N ranks (one instance), replicated N times; 1 = one instance over DP x CP.
  int num_distributed_optimizer_instances = 1;
  bool overlap_grad_reduce = false;
  bool overlap_param_gather = false;
  // overlap_param_gather with interleaving: the chunks' gathers launched ahead, at the same step on every pipeline
  // rank (Megatron-LM's default; --no-align-param-gather: each chunk's when its first forward pass starts).
  bool align_param_gather = true;
  // overlap_param_gather with interleaving: the first model chunk's gather dispatched right after its own share of
  // the optimizer step (a second optimizer for it, ChainedOptimizer), beside the other chunks' step; its gradients
  // then go as one bucket (Megatron-LM's get_model: disable_bucketing).
  bool overlap_param_gather_with_optimizer_step = false;
  // overlap_grad_reduce with interleaving: each model chunk's gradient reduction launched by the schedule, all its
  // buckets at once, after backward step b + r on pipeline rank r (b: the chunk's last backward step), so that every
  // pipeline rank launches a chunk's together (Megatron-LM's default; --no-align-grad-reduce: each bucket as its
  // gradients are ready, from the backward hooks).
  bool align_grad_reduce = true;
  bool tp_comm_overlap = false;
  // With tp_comm_overlap, Megatron-core's switches per kind of overlap (ModelParallelConfig; --disable-tp-comm-* /
  // --no-tp-comm-*), as its Transformer Engine layers pass them on (megatron/core/extensions/transformer_engine.py):
  // ag: the all-gather + GEMM overlaps (QKV and first MLP GEMM forward, ub_overlap_ag_fprop; the projection's and
  // second MLP GEMM's output gradients backward, ub_overlap_ag_dgrad); rs: the GEMM + reduce-scatter of the
  // projection and second MLP GEMM forward (ub_overlap_rs_fprop); bulk_dgrad / bulk_wgrad: the QKV and first MLP
  // GEMM backward's bulk all-gather of the saved input / reduce-scatter of the input gradient. Off: Transformer
  // Engine runs that collective with NCCL (megatron_tp_overlap.cc).
  bool tp_comm_overlap_ag = true;
  bool tp_comm_overlap_rs = true;
  bool tp_comm_bulk_dgrad = true;
  bool tp_comm_bulk_wgrad = true;
  // Megatron-core's tp_comm_overlap_disable_qkv / _fc1 (config fields without an argument; NeMo's LoRA recipes set the
  // first): that layer's forward all-gather overlap off alone (its TELayerNormColumnParallelLinear gets
  // ub_overlap_ag = False), its backward's bulk overlaps kept.
  bool tp_comm_overlap_disable_qkv = false;
  bool tp_comm_overlap_disable_fc1 = false;
  // Megatron-LM's --deterministic-mode (megatron/training/determinism.py): NCCL_ALGO defaults to Ring (this job's
  // collectives run rings where the scenario leaves the algorithm to the tuner), Transformer Engine's
  // deterministic attention backward (the part's deterministic_attention_backward_slowdown), and the fused
  // kernels it rejects (tp_comm_overlap, cross_entropy_loss_fusion, moe_router_fusion) checked.
  bool deterministic_mode = false;
  // With sequence parallelism: a column-parallel linear keeps its input's sequence shard and all-gathers it again
  // in backward for the weight gradient (Megatron-LM, Transformer Engine); false: it keeps the gathered input
  // (PyTorch's DTensor tensor parallelism, torchtitan).
  bool sequence_parallel_backward_gather = true;
  // Without sequence parallelism: a column-parallel linear all-reduces its input gradient beside its weight-gradient
  // GEMM (Megatron-LM's allreduce_dgrad, Transformer Engine); false: after its backward, exposed (Megatron-LM of 2021,
  // _CopyToModelParallelRegion; --no-async-tensor-model-parallel-allreduce where it was honoured).
  bool tensor_parallel_backward_async_allreduce = true;
  TpOverlapConfig tp_comm_overlap_cfg;  // Transformer Engine's userbuffers settings per overlapped GEMM
  bool accumulate_allreduce_grads_in_fp32 = true;
  // Megatron's DDP before each gradient bucket's collective, on the compute stream (param_and_grad_buffer.py,
  // start_grad_sync): the NaN check (an L2 norm of the bucket and a host synchronization), and the gradients' scaling
  // by 1/DP where the collective does not average; the loss's NaN check (a host synchronization per micro-batch on
  // the loss's stage). Megatron-LM's defaults; NeMo's and Megatron-Bridge's performance scripts turn the gradient
  // check off, their recipes average in the collective.
  bool check_for_nan_in_grad = true;
  bool check_for_nan_in_loss = true;
  bool check_for_large_grads = false;  // the bucket's norm against its history: one more synchronization per bucket
  bool check_for_spiky_loss = false;   // the loss against its history: a synchronization per micro-batch
  bool ddp_average_in_collective = false;
  // The loss summed over tokens, the gradients divided by the step's token count once, after their reduction
  // (finalize_model_grads' scale_gradients), none scaled before it.
  bool calculate_per_token_loss = false;
  std::string exp_avg_dtype = "fp32";     // Adam's first moment (Megatron-LM's precision-aware optimizer)
  std::string exp_avg_sq_dtype = "fp32";  // and second moment
  /// Bytes per parameter of Adam's two moments.
  double moment_bytes() const;
  bool use_torch_fsdp2 = false;  // fully sharded data parallelism: parameters gathered per layer
  int fsdp_version = 2;  // 2: fully_shard's per-parameter sharding (torchtitan); 1: FSDP1's flat parameter
  // Megatron-FSDP (Megatron-LM's --use-megatron-fsdp): its own fully sharded data parallelism, per TransformerLayer.
  bool use_megatron_fsdp = false;
  std::string data_parallel_sharding_strategy = "optim_grads_params";  // Megatron-FSDP's: what it shards
  std::string outer_dp_sharding_strategy = "no_shard";                 // Megatron-FSDP's HSDP outer level
  /// Megatron-FSDP's fully sharded hybrid level (outer_dp_sharding_strategy optim with its units and several
  /// instances): each unit's shard also gathered over the instances in the first micro-batch, its gradients
  /// reduce-scattered over them on the last, the optimizer over the whole DP x CP group (megatron_fsdp.cc).
  bool outer_optim() const {
    return megatron_fsdp_units() && num_distributed_optimizer_instances > 1 && outer_dp_sharding_strategy == "optim";
  }
  bool fsdp_double_buffer = false;              // Megatron-FSDP's --fsdp-double-buffer: one unit gathered ahead
  int64_t suggested_communication_unit_size = 0;  // Megatron-FSDP's: elements; 0 = its default (prefetch >= 5e8)
  /// Megatron-FSDP sharding the parameters too (optim_grads_params, ZeRO-3): its FSDP units. Its other strategies
  /// keep whole parameters and run the DDP's buckets (dist_opt(), grads_each_micro_batch(), grads_all_reduced()).
  bool megatron_fsdp_units() const { return use_megatron_fsdp && data_parallel_sharding_strategy == "optim_grads_params"; }
  /// Fully sharded data parallelism of either kind: the FSDP units (plan_fsdp_units), no DDP buckets.
  bool fsdp() const { return use_torch_fsdp2 || megatron_fsdp_units(); }
  /// Megatron-FSDP's optim_grads (ZeRO-2): each bucket's gradients reduce-scattered every micro-batch as the bucket
  /// completes (grad_reduce_every_bprop), into a persistent shard; the DDP's buckets, not FSDP units.
  bool grads_each_micro_batch() const { return use_megatron_fsdp && data_parallel_sharding_strategy == "optim_grads"; }
  /// Gradients reduced as a pass completes them, every micro-batch, on the FSDP reduce stream (Segment::reduce).
  bool reduces_each_micro_batch() const { return fsdp() || grads_each_micro_batch(); }
  bool fsdp_limit_all_gathers = true;  // FSDP1's rate limiter (a CPU synchronization before each all-gather)
  /// The ZeRO stage these flags amount to (hw::TrainingMemoryInput::zero_stage): FSDP 3, distributed optimizer 1.
  int zero_stage() const { return fsdp() ? 3 : grads_each_micro_batch() ? 2 : dist_opt() ? 1 : 0; }
  /// A sharded optimizer with whole parameters: Megatron's distributed optimizer (its buckets and the parameter
  /// gather after the step), or Megatron-FSDP's optim and optim_grads, which run the same gather (their main weights
  /// sharded, the compute weights whole). Megatron-LM turns use_distributed_optimizer on with Megatron-FSDP: there
  /// the strategy decides.
  bool dist_opt() const {
    return use_megatron_fsdp ? data_parallel_sharding_strategy == "optim" || data_parallel_sharding_strategy == "optim_grads"
                             : use_distributed_optimizer;
  }
  /// The buckets' gradient collective: an all-reduce without a sharded optimizer, and with Megatron-FSDP's optim
  /// (ZeRO-1), whose gradient buffer is whole (its bucket reduce takes the all-reduce branch); a reduce-scatter with
  /// Megatron's distributed optimizer and Megatron-FSDP's optim_grads.
  bool grads_all_reduced() const {
    return !dist_opt() || (use_megatron_fsdp && data_parallel_sharding_strategy == "optim");
  }
  /// Bytes per gradient element as kept and reduced: fp32 with accumulate_allreduce_grads_in_fp32, else 16-bit.
  double grad_bytes() const { return accumulate_allreduce_grads_in_fp32 ? 4 : 2; }
  /// Tensor parallelism of the experts: tensor_model_parallel_size (0, the default), or its own size
  /// (expert_tensor_parallel_size; 1 under TP > 1 is MoE parallel folding, Liu et al., arXiv 2504.14960: experts whole
  /// on every rank, the expert-parallel group drawn from TP x CP x DP).
  int expert_tp() const { return expert_tensor_parallel_size > 0 ? expert_tensor_parallel_size : tensor_model_parallel_size; }
  /// Whether the experts' groups are cut from the stage's TP x CP x DP ranks (Megatron-core's expert rank generator)
  /// rather than from the DP x CP ranks of one TP rank: wherever their tensor parallelism is not the dense layers'.
  bool experts_fold_tp() const { return expert_tp() != tensor_model_parallel_size; }
  /// Ranks of the allgather dispatcher's group (Megatron-core's tp_ep_group): the experts' TP x EP.
  int tp_ep_size() const { return expert_model_parallel_size * expert_tp(); }
  /// Tokens of the busiest expert / mean, after the router's dropping or padding (MoeRouterSettings::expert_load).
  double expert_load() const { return router.expert_load(moe_load_imbalance); }
  /// Ranks that hold the same experts (Megatron's expert-data-parallel group): the ranks of one pipeline stage over
  /// expert TP x EP (data x context parallelism over EP when the experts keep the dense TP).
  int expert_data_parallel(int data_parallel) const {
    return std::max(1, data_parallel * context_parallel_size * tensor_model_parallel_size /
                           (expert_model_parallel_size * expert_tp()));
  }
  /// Ranks one distributed-optimizer instance spans (its shard's divisor): DP x CP / num_distributed_optimizer_instances,
  /// and of the experts' expert-DP group likewise.
  int optimizer_dp(int data_parallel) const {
    return std::max(1, data_parallel * context_parallel_size / num_distributed_optimizer_instances);
  }
  int optimizer_edp(int data_parallel) const {
    return std::max(1, expert_data_parallel(data_parallel) / num_distributed_optimizer_instances);
  }
  /// Partial distributed optimizer: the dense and expert groups of its reduce-scatter and gather (the whole DP x CP
  /// and expert-DP groups with one instance).
  GroupKind optimizer_group() const { return num_distributed_optimizer_instances > 1 ? GroupKind::kDpCpIntra : GroupKind::kDpCp; }
  GroupKind optimizer_expert_group() const { return num_distributed_optimizer_instances > 1 ? GroupKind::kEdpIntra : GroupKind::kEdp; }
  int64_t ddp_bucket_size = 0;
  // Megatron-LM's --ddp-num-buckets: the bucket size is this rank's parameters (all its model chunks) over it
  // (get_model: num_parameters // ddp_num_buckets); 0 = not given. Exclusive with ddp_bucket_size.
  int64_t ddp_num_buckets = 0;
  // Megatron-LM's --ddp-reduce-scatter-with-fp32-accumulation (DistributedDataParallelConfig's
  // reduce_scatter_with_fp32_accumulation): with the distributed optimizer each bucket's reduce-scatter is an
  // all-to-all of the same bytes, the received chunks then summed in fp32 and copied back (rs_fp32_accumulation()).
  bool ddp_reduce_scatter_with_fp32_accumulation = false;
  // Megatron-LM's small all-reduces and host synchronizations around each optimizer step (docs/training.md, "The
  // step's small all-reduces"): auto (on where the run stands for Megatron-LM's training loop: not FSDP2, not
  // torch_eager layers, which stand for torchtitan and Composer), on, off.
  std::string step_syncs = "auto";
  // Megatron-LM's --rerun-mode (RerunStateMachineConfig.rerun_mode): validate_results (Megatron-LM's default) and
  // skip check every step with an all-reduce over every rank (step_syncs); disabled does not; report_stats and
  // report_determinism_stats rerun every step's passes and are refused (not modelled).
  std::string rerun_mode = "validate_results";
  // Megatron-LM's --log-params-norm and --log-num-zeros-in-grad: statistics computed every step (with step_syncs).
  bool log_params_norm = false;
  bool log_num_zeros_in_grad = false;
  bool step_syncs_on() const {
    return step_syncs == "on" || (step_syncs == "auto" && !use_torch_fsdp2 && !torch_eager());
  }
  /// Whether the buckets' reduce-scatters run as all-to-alls with the sum on the compute stream: the option, where
  /// the buckets are reduce-scattered (Megatron's all-reduce branch never calls the function it replaces).
  bool rs_fp32_accumulation() const { return ddp_reduce_scatter_with_fp32_accumulation && !grads_all_reduced(); }
  bool use_flash_attn = true;
  std::string cross_entropy = "megatron";  // megatron (fused, vocab-parallel) or torch_fp32 (torchtitan)
  // Megatron-core's TransformerConfig switches of the same names (docs/training-fusions.md): the loss's fused
  // kernels (--cross-entropy-loss-fusion), and the weight-gradient GEMMs accumulating into the main gradient
  // themselves (on unless --no-gradient-accumulation-fusion).
  bool cross_entropy_loss_fusion = false;
  bool gradient_accumulation_fusion = true;
  // The layer's elementwise fusions, on by default in Megatron-LM (--no-... turns each off): the MLP's bias and
  // activation, the bias-dropout-add after attention and the MLP, unfused attention's scale-mask-softmax, RoPE.
  bool bias_activation_fusion = true, bias_dropout_fusion = true, masked_softmax_fusion = true, apply_rope_fusion = true;
  // fused-attention kernel: auto (the part's default), flash2, flash3, cudnn, flash4
  std::string attention_backend = "auto";
  std::string fp8_gemm_backend = "auto";   // FP8 GEMM kernels: auto (cuBLASLt's measured rate), deepgemm
  double moe_load_imbalance = 1.0;
  std::string moe_token_dispatcher_type = "alltoall";  // alltoall: one copy per (token, expert); flex: per node
  bool overlap_moe_expert_parallel_comm = false;
  // With it, the share of the SMs the expert all-to-alls take from the MoE layers' kernels beside them (fitted to a
  // measured A/B of the overlap: docs/calibration.md).
  double moe_overlap_sm_share = 0.41;
  // Host time of the overlapped schedule per MoE layer and pass (a what-if, 0 by default; docs/validation.md).
  Duration moe_ep_overlap_host_time = Duration();
  bool moe_shared_expert_overlap = false;  // the shared expert beside the dispatch and combine (docs/training-moe-layers.md)
  bool moe_fp8_dispatch = false;  // tokens to the experts and their gradients in FP8 (DeepSeek-V3, section 3.3.3)
  // Share of the NIC's line rate the flex (DeepEP) dispatcher's all-to-alls reach between nodes (DeepEP's measured
  // normal kernels on H800: docs/calibration.md, expert all-to-all).
  double moe_flex_network_efficiency = 0.80;
  Bytes memory_reserve = Bytes::gib(2);
  // Host time per kernel Megatron-core issues in eager mode: one PyTorch GEMM call's (docs/calibration.md,
  // 'Framework overhead'; models/hardware/step_overhead.h).
  Duration host_op_time = Duration::us(62);
  // Host time per framework module call (a Transformer Engine module's forward or backward) beyond its kernels'
  // launches, fitted to a measured CUDA-graph A/B (docs/calibration.md, 'Host time per module call').
  Duration host_module_time = Duration();
  // runahead (the host keeps its lead over the GPU until it waits for it), overlapped (each group of kernels starts
  // with host and GPU together) or serial (an upper bound)
  std::string host_issue_model = "runahead";
  // Expert GEMMs: multi_stream (Transformer Engine's GroupedLinear, one cuBLAS GEMM and one quantization kernel per
  // local expert, each issued by the host) or single_kernel (one grouped kernel for all local experts).
  std::string moe_grouped_gemm = "multi_stream";
  bool moe_permute_fusion = false;  // the dispatcher's permutations in TE's fused kernels (--moe-permute-fusion)
  MoeRouterSettings router;  // the router's losses, fusion, logit type, input jitter and token dropping (moe_router.h)
  Duration expert_launch_time = Duration::us(8.3);  // host time per further expert's kernel (step_overhead.h)
  // Host time per further expert's GEMM of a grouped operator (Transformer Engine's nvte_cublas_gemm; step_overhead.h).
  Duration expert_gemm_launch_time = Duration::us(13.7);
  // Host time per further local expert of each grouped expert module call (what-if; step_overhead.h).
  Duration expert_module_time = Duration();
  int train_iters = 1;
  int job_train_iters = 0;  // the whole job's iterations (Megatron's --train-iters), for job_* metrics; 0: none
  // Megatron's --train-samples: the whole job's length in samples (sample-based training); its iterations follow
  // Megatron-LM's update_train_iters, with the batch-size schedule below. 0: none.
  int64_t job_train_samples = 0;
  // A global batch-size schedule (Megatron's --rampup-batch-size START INCREMENT SAMPLES, or
  // --step-batch-size-schedule "THRESHOLD:BATCH ..."): the job's first iterations run smaller batches; the simulated
  // iterations run global_batch_size. batch_schedule is derived from them by check_keys (batch_schedule.h).
  std::vector<int64_t> rampup_batch_size;
  std::string step_batch_size_schedule;
  int batch_schedule_timed = 8;  // the schedule's batch sizes timed by a simulated iteration each (the rest
                                 // interpolated in their micro-batch count)
  BatchSchedule batch_schedule;
  // Not a key: the scenario's cost.token_budget (Workload::set_token_budget), whose iterations' evaluations the
  // budget_* metrics hold; 0: no budget.
  double token_budget = 0;
  /// The job's iterations by global batch, in order: job_train_iters of the global batch, or job_train_samples'
  /// (Megatron-LM's update_train_iters with the batch schedule); empty without a job length.
  std::vector<BatchSchedule::Phase> job_phases() const;
  /// The token budget's: its samples (tokens / sequence, rounded up) the same way, a last partial batch run whole.
  std::vector<BatchSchedule::Phase> budget_phases() const;
  /// The token budget's iterations (all of budget_phases); 0 without a budget.
  long long budget_train_iters() const;
  // Megatron's --save-interval (with --save): iterations between checkpoint saves, the reliability model's checkpoint
  // interval where reliability.checkpoint_interval is not set (metric checkpoint_every_iterations); 0: not given.
  int save_interval = 0;
  // Megatron-LM's evaluation during training (training.py): every eval_interval iterations (0: never in the loop),
  // eval_iters forward-only iterations over the validation set; after training, eval_iters over the validation set
  // and eval_iters over the test set (its do_valid and do_test: the data has those splits). eval_iters 0: none.
  int eval_interval = 1000;
  int eval_iters = 100;
  bool eval_valid_set = true;
  bool eval_test_set = true;
  /// Evaluations (of eval_iters iterations each) in a job of `train_iters` iterations: one per eval_interval with a
  /// validation set, then one on each set after training.
  long long evaluations(long long iterations) const;
  /// Evaluations that fall after training iteration `iteration` (1-based) inside the loop: 1 or 0.
  bool evaluates_after(int iteration) const {
    return eval_iters > 0 && eval_valid_set && eval_interval > 0 && iteration % eval_interval == 0;
  }
  /// The run simulates an evaluation: inside its iterations, or one after them for the job_* or budget_* metrics.
  bool runs_evaluation() const {
    return (train_iters >= eval_interval && evaluates_after(eval_interval)) || extrapolates_evaluations();
  }
  /// A job length (job_train_iters, job_train_samples or the token budget) whose evaluations are extrapolated.
  bool extrapolates_evaluations() const {
    const long long job = job_iterations();
    return (job > 0 && evaluations(job) > 0) || (token_budget > 0 && evaluations(budget_train_iters()) > 0);
  }
  /// The job's iterations (all of job_phases); 0 without a job length.
  long long job_iterations() const;
  std::string symmetry = "auto";  // auto: one rank per stage when ranks are identical; off: every rank
  std::vector<int> straggler_ranks;
  double straggler_slowdown = 1.0;

  std::vector<std::string> ignored_args;  // from megatron_args, for the run header
  std::vector<std::string> assumed_args;  // --attention-backend / --transformer-impl as pasted, for the header
  std::vector<std::string> not_modelled_args;  // accepted but not modelled (costed as without them), for the header
  std::vector<std::string> defaults_taken;  // essentials megatron_args left out: "key = value (Megatron: ...)"
  std::vector<std::string> flags_read;  // flags whose meaning changed across Megatron-LM versions: the reading taken
  void visit(Section& s);
  void visit_keys(Section& s);
  /// The parsed keys checked against each other as Megatron-LM checks them (megatron_config_checks.cc).
  void check_keys(Section& s);
  void check_batch_schedule(Section& s);
  // Fills defaults_taken and flags_read from the merged megatron_args keys (`given`) and the command line's own.
  void name_defaults_taken(const ConfigValue& given, const ConfigValue& line);
  int virtual_stages() const;  // model chunks per pipeline rank
  /// Layers [0, n) of a model chunk holding n layers whose forward is recomputed before its backward (full
  /// recompute: every layer with the uniform method, the first recompute_num_layers with block; else none).
  int recomputed_layers(int layers_in_chunk) const;
  /// torchtitan's layer-level selective checkpointing: N of selective_ac_option = N, else 0.
  int selective_ac_every() const;
  bool op_selective_ac() const { return recompute_granularity == "selective" && selective_ac_option == "op"; }
  std::string schedule() const;  // the resolved pipeline schedule
  /// How one GPU holds a layer under these settings (parallel splits, attention kind, FP8 and its scaling).
  /// `part`: the GPU the layer runs on, where its kernels depend on it (LayerShard::fp8_cast_out); none: Hopper's.
  LayerShard layer_shard(const hw::AcceleratorSpec* part = nullptr) const;
  /// Bytes an FP8 cast writes per element on `part` (LayerShard::fp8_cast_out; none: Hopper's).
  double fp8_cast_out(const hw::AcceleratorSpec* part) const;
  /// The part as this run's kernels see it: its attention_backend's curve, its fp8_gemm_backend's GEMM terms and,
  /// with deterministic_mode, the deterministic attention backward (hw::with_deterministic_attention).
  hw::AcceleratorSpec kernels_on(const hw::AcceleratorSpec& part) const;
  /// Whether kernels_on changes the part (another measured kernel than the part's own).
  bool kernels_change(const hw::AcceleratorSpec& part) const;
  /// The memory fit's inputs that follow from the model and these keys alone: the activations one layer keeps per
  /// token (layer_activations.h, averaged over the layers), their shape, what recomputation they follow, the logits.
  void activation_inputs(hw::TrainingMemoryInput& in) const;
};

}  // namespace lcsim::wl
