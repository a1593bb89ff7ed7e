// MegatronTraining's configuration: its keys (MegatronConfig::visit_keys; their checks against each other in
// megatron_config_checks.cc); a pasted Megatron-LM command line is read in megatron_config_line.cc, the checks against
// the cluster are in megatron_validate.cc.
#include "workloads/training/megatron_config.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "workloads/training/megatron.h"
#include "workloads/training/megatron_args.h"

namespace lcsim::wl {

hw::AcceleratorSpec MegatronConfig::kernels_on(const hw::AcceleratorSpec& part) const {
  hw::AcceleratorSpec p =
      hw::with_fp8_gemm_backend(hw::with_attention_backend(part, attention_backend), fp8_gemm_backend);
  if (mxfp8()) p = hw::with_mxfp8_gemms(p);
  if (fp8_blockwise()) p = hw::with_block_fp8_gemms(p);
  return deterministic_mode ? hw::with_deterministic_attention(p) : p;
}

/// hw::with_attention_backend applies another measured backend's curve when attention_backend names one that is
/// not the part's own (models/hardware/accelerator.cc); any fp8_gemm_backend but auto replaces the GEMM terms;
/// deterministic_mode slows attention's backward where the part has a measured deterministic slowdown; MXFP8
/// slows the FP8 GEMMs where the part has a measured MXFP8 slowdown.
bool MegatronConfig::kernels_change(const hw::AcceleratorSpec& part) const {
  if (fp8_gemm_backend != "auto") return true;
  if (mxfp8() && part.calibration.mxfp8_gemm_slowdown != 1) return true;
  if (fp8_blockwise() && part.calibration.fp8_block_gemm_slowdown != 1) return true;
  if (deterministic_mode && hw::costs_deterministic_attention(part)) return true;
  for (const auto& b : part.calibration.attention_backends) {
    if (b.name == attention_backend && attention_backend != part.calibration.attention_backend) return true;
  }
  return false;
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
  s.field("microbatch_group_size_per_virtual_pipeline_stage", microbatch_group_size_per_virtual_pipeline_stage,
          "interleaved schedule: micro-batches run through each model chunk in turn, a group at a time "
          "(Megatron-LM's --microbatch-group-size-per-virtual-pipeline-stage); 0 = pipeline_model_parallel_size, "
          "Megatron's default; larger groups keep more micro-batches in flight", Range::at_least(0));
  s.field("decoder_first_pipeline_num_layers", decoder_first_pipeline_num_layers,
          "layers on the first pipeline stage when the split is uneven; 0 = even split", Range::at_least(0));
  s.field("decoder_last_pipeline_num_layers", decoder_last_pipeline_num_layers,
          "layers on the last pipeline stage when the split is uneven; 0 = even split", Range::at_least(0));
  s.field("account_for_embedding_in_pipeline_split", account_for_embedding_in_pipeline_split,
          "the input embedding counts as one layer in the pipeline split (Megatron-LM's flag): the first model chunk "
          "holds one transformer layer fewer (none with one layer per chunk: the embedding alone)");
  s.field("account_for_loss_in_pipeline_split", account_for_loss_in_pipeline_split,
          "the output layer and loss count as one layer in the pipeline split (Megatron-LM's flag): the last model "
          "chunk holds one transformer layer fewer (none with one layer per chunk: the output layer and loss alone)");
  s.field("num_virtual_stages_per_pipeline_rank", num_virtual_stages_per_pipeline_rank,
          "model chunks per pipeline rank (interleaving), instead of num_layers_per_virtual_pipeline_stage; 0 = "
          "not given", Range::at_least(0));
  s.field("pipeline_model_parallel_layout", pipeline_model_parallel_layout,
          "Megatron-core's custom pipeline layout (--pipeline-model-parallel-layout): the layers of each virtual "
          "stage in model order, E the embedding, t a transformer layer, m an MTP module, L the output layer and "
          "loss, | between virtual stages, x*n and (...)*n to repeat, commas ignored (e.g. \"Et*3|(tt|)*29,m|L\": "
          "PP 16, two chunks per rank); its length / PP sets the chunks per rank. Empty = the split keys above");
  s.field("expert_tensor_parallel_size", expert_tensor_parallel_size,
          "tensor parallelism of the experts: 0 = tensor_model_parallel_size; 1 under TP > 1 = MoE parallel folding "
          "(Megatron-Core's --expert-tensor-parallel-size 1): experts whole on every rank, each rank's sequence-"
          "parallel share of the tokens dispatched, the expert-parallel group drawn from TP x CP x DP; any other size "
          "splits each expert that many ways, its routed tokens gathered over the expert TP group after the "
          "all-to-all (expert TP x EP must divide TP x CP x DP, and expert TP the experts' FFN size)",
          Range::at_least(0));
  s.field("context_parallel_size", context_parallel_size,
          "context-parallel ranks (CP): each sequence split over them, keys/values exchanged", Range::at_least(1));
  s.field("expert_model_parallel_size", expert_model_parallel_size,
          "expert-parallel ranks (EP), carved out of data x context parallelism: experts split over them",
          Range::at_least(1));
  s.field("sequence_parallel", sequence_parallel,
          "norms and dropouts on 1/TP of the tokens; TP all-reduces become all-gather + reduce-scatter");
  s.field("overlap_p2p_comm", overlap_p2p_comm,
          "interleaved schedule: the steady state's pipeline sends overlap the next pass (the non-interleaved "
          "schedules always wait for their sends, as Megatron-LM's do)");
  s.field("defer_embedding_wgrad_compute", defer_embedding_wgrad_compute,
          "the output layer's weight-gradient GEMMs left to the pipeline flush (Megatron-core's "
          "defer_embedding_wgrad_compute): the last virtual stage's backward passes skip them (and their input's "
          "all-gather), the flush runs them after its last backward pass, and their inputs and logit gradients are "
          "held until then (memory item 'deferred output-layer wgrad buffers')");
  s.field("wgrad_deferral_limit", wgrad_deferral_limit,
          "defer_embedding_wgrad_compute: micro-batches deferred, the first ones (0: all, Megatron-core's default)",
          Range::at_least(0));
  s.field("overlap_p2p_comm_warmup_flush", overlap_p2p_comm_warmup_flush,
          "interleaved schedule: the warm-up's and flush's pipeline sends overlap the next pass too (Megatron-core's "
          "overlap_p2p_comm_warmup_flush, off by default: those passes wait for their sends)");
  s.choice("pipeline_schedule", pipeline_schedule, {"auto", "gpipe", "1f1b", "interleaved", "dualpipe"},
           "auto: interleaved 1F1B with virtual stages, else 1F1B; dualpipe: DeepSeek-V3's bidirectional schedule "
           "(not in Megatron-LM: no command-line flag sets it): each rank holds stages r and PP-1-r, micro-batches "
           "enter from both ends, forward and backward passes of two micro-batches run as pairs with their expert "
           "all-to-alls beside the pair's compute, and some backward passes defer their weight gradients "
           "(zero-bubble); needs an even PP and an even number of micro-batches, at least 2 x PP");
  s.field("parallel_order", parallel_order,
          "how ranks decompose, innermost first (Megatron's order): tp, cp, ep, dp, pp joined by '-' (ep may be "
          "left out; expert groups are always cut from the data x context-parallel ranks)");
  s.choice("precision", precision, {"bf16", "fp16", "fp8", "fp4"},
           "data type of the linear layers' matrix multiplies (attention, the output layer and the router stay "
           "16-bit): fp8 with fp8_recipe; fp4 = NVFP4 (Transformer Engine's NVFP4BlockScaling, Megatron-LM's "
           "--fp4-format e2m1 --fp4-recipe nvfp4): E2M1 values with an E4M3 scale per 16 elements (16 x 16 blocks "
           "for weights) and a per-tensor scale from an amax pass, the forward, input-gradient and weight-gradient "
           "GEMMs at the part's FP4 rate, casts writing row- and column-wise copies (2 x (0.5 + 1/16) B per element), "
           "linear inputs kept as the column-wise copy (0.5 + 1/16 B); parts with an fp4 peak only (Blackwell; "
           "docs/calibration-fp8.md, \"NVFP4\")");
  s.choice("fp8_recipe", fp8_recipe, {"delayed", "tensorwise", "mxfp8", "blockwise"},
           "FP8 scaling (precision: fp8): delayed = scales from earlier iterations' amax, computed inside each "
           "cast (Megatron-LM's default --fp8-recipe, Transformer Engine's DelayedScaling); tensorwise = current "
           "scaling, an amax pass over each tensor before its cast (Transformer Engine's Float8CurrentScaling, "
           "torchao float8's dynamic tensorwise recipe); mxfp8 = Blackwell's block scaling, one E8M0 scale per 32 "
           "elements computed inside each cast, no amax pass (Transformer Engine's MXFP8BlockScaling, "
           "--fp8-recipe mxfp8; parts with block_scaled_fp8 only; docs/calibration-fp8.md); blockwise = Hopper's "
           "block scaling, FP32 scales per 1 x 128 (activations, gradients) or 128 x 128 (weights) elements, row- and "
           "column-wise copies, no amax pass, GEMMs at the part's fp8_block_gemm_slowdown (Transformer Engine's "
           "Float8BlockScaling, --fp8-recipe blockwise; parts without block_scaled_fp8)");
  s.choice("recompute_granularity", recompute_granularity, {"none", "selective", "full"},
           "activation recomputation: selective recomputes attention's core, full each layer's forward");
  s.values("recompute_modules", recompute_modules,
           "selective recompute, Megatron-LM's --recompute-modules (default [core_attn]): core_attn (unfused attention's score matrix; "
           "fused attention keeps none), layernorm (norm outputs recomputed from their inputs), mla_up_proj "
           "(multi-latent attention's queries, keys and values rebuilt from the latents: the up projections, their "
           "norms and rotary embedding run again), moe_act (the experts' activation function run again); the "
           "recomputed kernels' forward time is added to their backward, their tensors leave the memory fit "
           "(DeepSeek-V3: [layernorm, mla_up_proj, moe_act], report sections 3.2.3 and 3.3.3); checkpointed whole, "
           "their forward (collectives included) run again before their backward and only their input kept: mlp "
           "(the dense layers' MLP), moe (a MoE layer's router, dispatch, experts and combine; "
           "--moe-layer-recompute), shared_experts (docs/training.md)");
  s.field("fp8_saved_activations", fp8_saved_activations,
          "linear layers keep their saved inputs, and experts their activation function's input, in FP8 (1 B) "
          "for backward (DeepSeek-V3, report section 3.3.3; needs precision: fp8)");
  s.choice("fp8_linear_saved_input", fp8_linear_saved_input, {"fp8", "high_precision"},
           "with precision: fp8, what a linear layer keeps of its input for the weight gradient: fp8 = the "
           "quantized column-wise copy, 1 B per element, as Transformer Engine's Linear, LayerNormLinear and "
           "GroupedLinear do (Megatron-LM, NeMo; the SwiGLU input stays 16-bit and the attention output is kept "
           "twice, 16-bit by the attention kernel and FP8 by the output projection); high_precision = the 16-bit "
           "input (torchao's Float8Linear, torchtitan's float8: save_for_backward(input_hp, weight_hp_t)). Memory "
           "only; ignored without precision: fp8 (docs/training.md)");
  s.field("fp8_param_gather", fp8_param_gather,
          "with precision: fp8 and the distributed optimizer, the FP8 GEMMs' weights are kept in FP8 (Megatron-LM's "
          "--fp8-param-gather; NeMo's bf16_with_fp8_mixed sets it): the optimizer writes its shard of them in FP8 and "
          "the all-gather after the step moves 1 B per such weight instead of 2; no cast of the 16-bit weight on the "
          "first micro-batch, only the transpose (1 B read, 1 B written per element, once per iteration). Memory as "
          "without it (1 B weight and 1 B transpose for 2 B). With fp8_recipe: mxfp8 the gather stays 16-bit and "
          "the weights are quantized after it (Megatron-core keeps MXFP8 models' parameters in a 16-bit view of the "
          "gradient buffer): costed as without it");
  s.field("cudnn_norm", cudnn_norm,
          "Transformer Engine's norm kernels through cuDNN (NVTE_NORM_FWD_USE_CUDNN=1): with precision: fp8, how a "
          "norm writes the FP8 input of the GEMM it feeds: MXFP8 fused into the norm (default: the norm in 16 bits, "
          "then the cast), current scaling unfused (default: the norm computes the amax, then the cast; "
          "docs/calibration-fp8.md)");
  s.choice("cuda_graph_impl", cuda_graph_impl, {"none", "local", "transformer_engine"},
           "CUDA graphs (Megatron-LM's --cuda-graph-impl; --enable-cuda-graph = local, --external-cuda-graph = "
           "transformer_engine): the modules of cuda_graph_scope replay as one graph launch each, so the host issues "
           "one operator's time per captured module instead of one per kernel (host_op_time, expert_launch_time); "
           "none = every kernel issued (docs/training-cuda-graphs.md)");
  s.values("cuda_graph_scope", cuda_graph_scope,
           "with cuda_graph_impl: the captured modules of each transformer layer: attn (norm, QKV, attention, "
           "projection), mlp (a dense layer's norm and MLP), moe_router (a MoE layer's norm, router and a shared expert "
           "that is not overlapped), moe_preprocess (also the dispatcher's permutation), moe (the whole MoE part: "
           "fixed shapes only, moe_pad_expert_input_to_capacity); [] = the whole layer (Megatron-LM's default); "
           "full_iteration (alone, cuda_graph_impl: local) = every micro-batch's forward and backward passes of an "
           "iteration in one graph: the host issues no kernel and waits on no pipeline receive");
  s.field("first_last_layers_bf16", first_last_layers_bf16,
          "with precision: fp8 or fp4, the first num_layers_at_start_in_bf16 and the last num_layers_at_end_in_bf16 "
          "transformer layers run in BF16, no FP8 / NVFP4 casts, their linear inputs kept in 16 bits (Megatron-LM's "
          "--first-last-layers-bf16; Megatron-Bridge's bf16_with_fp8_current_scaling_mixed sets it with 1 and 1, "
          "its performance scripts turn it off); layers by global index, the MTP modules' after the last");
  s.field("num_layers_at_start_in_bf16", num_layers_at_start_in_bf16,
          "with first_last_layers_bf16: transformer layers at the start run in BF16 (Megatron-LM's default 1)",
          Range::at_least(0));
  s.field("num_layers_at_end_in_bf16", num_layers_at_end_in_bf16,
          "with first_last_layers_bf16: transformer layers at the end run in BF16 (Megatron-LM's default 1)",
          Range::at_least(0));
  s.field("selective_ac_option", selective_ac_option,
          "with recompute_granularity: selective, what is recomputed: megatron (Megatron-LM: the attention core); "
          "op (torchtitan's op-level policy: each layer keeps its input, the outputs of its 1st, 3rd, 5th... "
          "matrix multiply and of the attention kernel, and recomputes the rest before its backward); or a "
          "positive integer N (torchtitan's layer-level policy: every Nth layer recomputed whole, the others "
          "keep all their activations)");
  s.choice("recompute_method", recompute_method, {"uniform", "block"},
           "full recompute: uniform keeps the input of every group of recompute_num_layers layers and recomputes "
           "every layer (one group's activations alive at a time); block recomputes only the first "
           "recompute_num_layers layers of each model chunk and keeps the others' activations");
  s.field("recompute_num_layers", recompute_num_layers,
          "full recompute: layers per uniform group, or layers recomputed per model chunk with block",
          Range::at_least(0));
  s.field("distribute_saved_activations", distribute_saved_activations,
          "full recompute: each checkpointed input kept split over the TP ranks (1/TP each) and all-gathered over TP "
          "before its recomputation (Megatron-LM's --distribute-saved-activations; CheckpointFunction's "
          "split_tensor_into_1d_equal_chunks / gather_split_1d_tensor); needs TP > 1 and no sequence parallelism, "
          "as Megatron-core requires");
  s.field("cp_repeat_kv", cp_repeat_kv,
          "keys and values are expanded to one per query head before attention: a copy of each per layer (and "
          "its backward), and the context-parallel exchange moves num_attention_heads / num_query_groups times the "
          "bytes (torchtitan's Llama: repeat_kv before scaled_dot_product_attention, which PyTorch's context "
          "parallelism wraps); false = Megatron-LM, which exchanges the query groups' keys and values");
  s.field("attention_unpad", attention_unpad,
          "fused attention through flash-attn's variable-length kernel as llm-foundry's flash_attn_fn calls it "
          "(MPT; attn_impl: flash): before the kernel, bert_padding.unpad_input gathers the queries, keys and "
          "values into packed copies; after it, pad_input scatters the output into a zeroed padded tensor; in "
          "backward the gradients take the mirror copies. Memory-bound kernels per layer and pass, in bytes per "
          "element of 16-bit (2 B) tensors: forward 4 per query/key/value element and 6 per output element, "
          "backward 6 and 4 (needs use_flash_attn)");
  s.choice("cp_comm_type", cp_comm_type, {"p2p", "a2a", "allgather", "a2a+p2p"},
           "context parallelism (Transformer Engine's kinds): p2p exchanges key/value chunks in a ring under the "
           "attention kernels (CP - 1 rounds of send/recv at the calibrated point-to-point cost); allgather gathers keys/values before attention (not overlapped; PyTorch's under its calls, cp_implementation); a2a (Ulysses) "
           "all-to-alls queries, keys and values to whole sequences of 1/CP of the heads and the output back (not "
           "overlapped); a2a+p2p (hierarchical) all-to-alls them over the first level of "
           "hierarchical_context_parallel_sizes and runs the p2p ring over the second");
  s.values("hierarchical_context_parallel_sizes", hierarchical_context_parallel_sizes,
           "a2a+p2p's two levels [A, P], A x P = context_parallel_size: Ulysses' all-to-all over A consecutive CP "
           "ranks (1/A of the heads, A chunks of the sequence each), then Transformer Engine's p2p ring over the P "
           "ranks A apart (Megatron's --hierarchical-context-parallel-sizes); not given: [1, CP], the ring over "
           "every CP rank");
  s.choice("cp_implementation", cp_implementation, {"transformer_engine", "pytorch"},
           "whose context parallelism runs attention: transformer_engine (Megatron-LM, NeMo: one fused-attention "
           "call per ring step merged by one fused correction kernel; allgather: one call per local query chunk) or "
           "pytorch (torchtitan's context_parallel: a ring of SDPA calls for p2p and allgather alike, merged in fp32 "
           "by eager elementwise kernels with its key/value copies, gradients accumulated in fp32; its exchange runs "
           "under the calls, and in backward the fp32 key/value gradients go round the ring too, the last send "
           "waited for)");
  s.field("use_distributed_optimizer", use_distributed_optimizer,
          "optimizer states sharded over data-parallel ranks: gradients reduce-scattered, parameters "
          "all-gathered");
  s.field("num_distributed_optimizer_instances", num_distributed_optimizer_instances,
          "with use_distributed_optimizer: Megatron's partial distributed optimizer (--num-distributed-optimizer-"
          "instances): the DP x CP ranks cut into this many consecutive blocks, each one optimizer instance; each "
          "gradient bucket reduce-scattered within the block, then its shard all-reduced across the blocks (the "
          "ranks at the same offset); the parameters gathered within the block; the optimizer's shard 1 / (DP x CP / "
          "N). Experts likewise over their expert-data-parallel group. With use_megatron_fsdp (optim_grads_params): "
          "its hybrid sharding, the units gathered and reduced within the block every micro-batch, each reduced shard "
          "all-reduced across the blocks on the last. 1 = one instance",
          Range::at_least(1));
  s.field("overlap_grad_reduce", overlap_grad_reduce,
          "reduce gradient buckets during the last micro-batch's backward instead of after it");
  s.field("overlap_param_gather", overlap_param_gather,
          "all-gather each model chunk's updated parameters alongside the next iteration's forward passes "
          "(distributed optimizer): launched when the chunk's first forward pass starts (or ahead, "
          "align_param_gather), waited for at that pass's end");
  s.field("align_param_gather", align_param_gather,
          "overlap_param_gather with interleaving: chunks 0 and 1 gathered from the iteration's start, chunk k + 1 "
          "from the forward pass of virtual micro-batch k x G - stage (G: the micro-batch group, PP by default), "
          "the same step on every pipeline rank (Megatron-LM's default; false: --no-align-param-gather, each "
          "chunk's when its first forward pass starts). No effect without interleaving (Megatron-LM turns it off)");
  s.field("overlap_param_gather_with_optimizer_step", overlap_param_gather_with_optimizer_step,
          "overlap_param_gather with interleaving: the optimizer step runs as two optimizers, model chunk 0's "
          "then the other chunks', and chunk 0's parameter gather starts after the first, beside the second "
          "(Megatron-core's ChainedOptimizer); chunk 0's gradients are reduced as one bucket, as every other "
          "chunk's (Megatron-LM's disable_bucketing). Needs use_distributed_optimizer, overlap_param_gather and "
          "more than one model chunk per stage, as in Megatron-LM");
  s.field("align_grad_reduce", align_grad_reduce,
          "overlap_grad_reduce with interleaving: each model chunk's gradients reduced when the schedule launches "
          "them, all its buckets together, after backward step b + r on pipeline rank r (b: the chunk's last "
          "backward step; the rest after the last), not bucket by bucket inside the backward (Megatron-LM's "
          "default: config.grad_sync_func; false: --no-align-grad-reduce, the buckets launched from the backward "
          "hooks as their gradients are ready). No effect without interleaving (Megatron-LM launches the same "
          "there)");
  s.field("tp_comm_overlap", tp_comm_overlap,
          "tensor-parallel all-gathers and reduce-scatters overlapped with the GEMMs that produce or consume them, "
          "in chunks, as Transformer Engine's userbuffers run them (tp_comm_overlap_cfg; needs sequence_parallel)");
  s.field("tp_comm_overlap_ag", tp_comm_overlap_ag,
          "with tp_comm_overlap, the all-gather + GEMM overlaps (the QKV and first MLP GEMMs' input forward, the "
          "projection's and second MLP GEMM's output gradient backward); false: Transformer Engine all-gathers "
          "that tensor with NCCL before the GEMM, exposed (Megatron-LM's --disable-tp-comm-overlap-ag)");
  s.field("tp_comm_overlap_disable_qkv", tp_comm_overlap_disable_qkv,
          "with tp_comm_overlap, the QKV GEMM's forward all-gather with NCCL before the GEMM, exposed, the other "
          "overlaps kept (Megatron-core's TransformerConfig field of that name; NeMo's LoRA recipes set it)");
  s.field("tp_comm_overlap_disable_fc1", tp_comm_overlap_disable_fc1,
          "with tp_comm_overlap, the first MLP GEMM's forward all-gather with NCCL before the GEMM, exposed, the other "
          "overlaps kept (Megatron-core's TransformerConfig field of that name)");
  s.field("tp_comm_overlap_rs", tp_comm_overlap_rs,
          "with tp_comm_overlap, the GEMM + reduce-scatter overlaps of the projection and the second MLP GEMM "
          "forward; false: the GEMM, then an NCCL reduce-scatter of its output, exposed (Megatron-LM's "
          "--disable-tp-comm-overlap-rs)");
  s.field("tp_comm_bulk_dgrad", tp_comm_bulk_dgrad,
          "with tp_comm_overlap, the bulk all-gather of the QKV and first MLP GEMMs' saved input beside their "
          "input-gradient GEMM (userbuffers, tp_comm_overlap_cfg's qkv_dgrad / fc1_dgrad); false: the same "
          "all-gather with NCCL, issued before that GEMM and waited for after it, on the SMs beside it "
          "(Megatron-LM's --disable-tp-comm-bulk-dgrad)");
  s.field("tp_comm_bulk_wgrad", tp_comm_bulk_wgrad,
          "with tp_comm_overlap, the bulk reduce-scatter of the QKV and first MLP GEMMs' input gradient beside "
          "their weight-gradient GEMM (userbuffers, qkv_wgrad / fc1_wgrad); false: the same reduce-scatter with "
          "NCCL beside that GEMM (Megatron-LM's --disable-tp-comm-bulk-wgrad)");
  s.field("deterministic_mode", deterministic_mode,
          "Megatron-LM's --deterministic-mode: this job's collectives run rings where network.collectives.algorithm "
          "is auto (Megatron sets NCCL_ALGO=Ring unless the launcher set it), attention's backward runs the "
          "deterministic kernel (the part's deterministic_attention_backward_slowdown, where measured), and the "
          "fused kernels Megatron rejects with it are errors (tp_comm_overlap, cross_entropy_loss_fusion, "
          "moe_router_fusion)");
  s.field("sequence_parallel_backward_gather", sequence_parallel_backward_gather,
          "with sequence_parallel, a column-parallel linear layer keeps only its input's sequence shard for backward: "
          "its backward all-gathers the input again for the weight gradient, beside the input-gradient GEMM, and "
          "reduce-scatters the input gradient beside the weight-gradient GEMM (Megatron-LM's "
          "LinearWithGradAccumulationAndAsyncCommunication, Transformer Engine's Linear and LayerNormLinear); false: "
          "the layer keeps the gathered input and reduce-scatters the input gradient after its backward (PyTorch's "
          "DTensor tensor parallelism, torchtitan). Time only (docs/training.md)");
  s.field("tensor_parallel_backward_async_allreduce", tensor_parallel_backward_async_allreduce,
          "without sequence_parallel, a column-parallel linear layer all-reduces its input gradient beside its "
          "weight-gradient GEMM: issued after the input-gradient GEMM, waited for after the weight-gradient GEMM "
          "(Megatron-LM's LinearWithGradAccumulationAndAsyncCommunication with allreduce_dgrad, Transformer Engine's "
          "Linear and LayerNormLinear); false: after the layer's backward, exposed (Megatron-LM of 2021, "
          "_CopyToModelParallelRegion; --no-async-tensor-model-parallel-allreduce in the versions that honoured it). "
          "Time only (docs/training.md)");
  s.section("tp_comm_overlap_cfg",
            "with tp_comm_overlap: how Transformer Engine runs each overlapped GEMM (its userbuffers ub_cfgs; NeMo's "
            "tp_comm_overlap_cfg), Transformer Engine's defaults unless set",
            [this](Section& t) { tp_comm_overlap_cfg.visit(t); });
  s.field("use_torch_fsdp2", use_torch_fsdp2,
          "fully sharded data parallelism (ZeRO-3 / FSDP2, as TorchTitan runs it): parameters, gradients and optimizer "
          "states sharded over data x context parallelism; each layer's parameters all-gathered before its forward "
          "and backward (the next layer's prefetched under the current one), its gradients reduce-scattered after "
          "its backward");
  s.field("fsdp_version", fsdp_version,
          "with use_torch_fsdp2: 2 = PyTorch's fully_shard (per-parameter sharding: each gather is copied out of "
          "the all-gather buffer into the parameters, each gradient reduction copied in with chunk_cat; torchtitan); "
          "1 = FullyShardedDataParallel's flat parameter (gathered in place, reduced from the flat gradient; "
          "Composer / llm-foundry). Both keep the fp32 parameter shard as the optimizer's master copy",
          Range::between(1, 2));
  s.field("use_megatron_fsdp", use_megatron_fsdp,
          "Megatron-FSDP (Megatron-LM's --use-megatron-fsdp): data parallelism over data x context parallelism "
          "(experts over expert-DP) sharded as data_parallel_sharding_strategy says; with optim_grads_params each "
          "TransformerLayer is one unit, as use_torch_fsdp2 runs it, with Megatron-FSDP's buffers: all-gathers "
          "straight into the unit's bucket (no copy-in or copy-out), gradients reduce-scattered from a bucket every "
          "micro-batch and added into the persistent shard, a 16-bit compute shard beside the fp32 main shard "
          "(docs/training.md). Megatron-LM turns use_distributed_optimizer on with it: given too, it has no effect of "
          "its own");
  s.choice("data_parallel_sharding_strategy", data_parallel_sharding_strategy,
           {"optim_grads_params", "optim_grads", "optim", "no_shard"},
           "with use_megatron_fsdp: what it shards (Megatron-LM's --data-parallel-sharding-strategy). "
           "optim_grads_params (ZeRO-3, the default): parameters, gradients and optimizer, per TransformerLayer; "
           "optim_grads (ZeRO-2): each gradient bucket reduce-scattered every micro-batch, the parameters whole and "
           "gathered once an iteration after the step; optim (ZeRO-1): gradients accumulated whole and all-reduced on "
           "the last micro-batch, the parameters gathered after the step; no_shard: the gradients all-reduced on the "
           "last micro-batch, nothing gathered");
  s.field("fsdp_double_buffer", fsdp_double_buffer,
          "with use_megatron_fsdp (optim_grads_params): Megatron-FSDP's double buffers (--fsdp-double-buffer), which "
          "stop its all-gather prefetch at the next unit; without them it gathers units ahead until their elements "
          "reach half its communication unit (suggested_communication_unit_size)");
  s.field("suggested_communication_unit_size", suggested_communication_unit_size,
          "with use_megatron_fsdp (optim_grads_params): Megatron-FSDP's --suggested-communication-unit-size, in "
          "elements: its all-gather prefetch reaches half of it ahead; 0 = its default, max(1e9, 2 x the mean unit), "
          "so at least 5e8 elements ahead",
          Range::at_least(0));
  s.choice("outer_dp_sharding_strategy", outer_dp_sharding_strategy, {"no_shard", "optim"},
           "with use_megatron_fsdp's units and num_distributed_optimizer_instances above 1: the hybrid (HSDP) outer "
           "level, the instances. no_shard: each unit's reduced shard all-reduced across them on the last "
           "micro-batch; optim: reduce-scattered there, each unit's shard gathered across them before its gathers "
           "in the first micro-batch's forward and backward, the optimizer states over all of DP x CP");
  s.field("fsdp_limit_all_gathers", fsdp_limit_all_gathers,
          "fsdp_version 1: FullyShardedDataParallel's limit_all_gathers (PyTorch's default since 2.1, llm-foundry's "
          "yamls): the host waits on a CUDA event before issuing each all-gather, and launches it 235 us after the "
          "event (measured in pytorch/pytorch#108234), so each gather starts that much later; FSDP2 limits its "
          "gathers with stream waits: no effect");
  s.field("accumulate_allreduce_grads_in_fp32", accumulate_allreduce_grads_in_fp32,
          "gradients kept and reduced in fp32 (Megatron forces this on with bf16)");
  s.field("check_for_nan_in_grad", check_for_nan_in_grad,
          "Megatron's DDP checks each gradient bucket for NaN and Inf before its collective (the last micro-batch's "
          "backward, or after it without overlap_grad_reduce): an L2 norm of the bucket on the compute stream and a "
          "host synchronization on its result, so the GPU waits one host operation before its next kernel "
          "(Megatron-LM's default; --no-check-for-nan-in-loss-and-grad turns it and check_for_nan_in_loss off; "
          "NeMo's and Megatron-Bridge's performance scripts turn it off). No effect with use_torch_fsdp2");
  s.field("check_for_nan_in_loss", check_for_nan_in_loss,
          "the loss of each micro-batch is checked for NaN and Inf on the host (a synchronization after the forward "
          "pass on the loss's stage): with pipeline parallelism every pass already follows a host synchronization "
          "(the pipeline receive), so it adds time only without it, where each backward pass then starts one host "
          "operation after the GPU is done (Megatron-LM's and Megatron-Bridge's default)");
  s.field("check_for_large_grads", check_for_large_grads,
          "Megatron-LM's --check-for-large-grads: each bucket's L2 norm (computed once with check_for_nan_in_grad) is "
          "compared with its history on the host before the collective, one more host synchronization per bucket "
          "(off by default). No effect with use_torch_fsdp2");
  s.field("check_for_spiky_loss", check_for_spiky_loss,
          "Megatron-LM's --check-for-spiky-loss: each micro-batch's loss is compared with its history on the host, a "
          "synchronization after the forward pass as check_for_nan_in_loss's (off by default)");
  s.field("ddp_average_in_collective", ddp_average_in_collective,
          "the gradient collective averages (NCCL's AVG) instead of Megatron's DDP scaling each bucket's gradients by "
          "1 / (DP x CP) on the compute stream before it (a read and a write of the bucket; expert buckets are still "
          "scaled by 1 / EP where EP > 1). Megatron-LM's default false (--ddp-average-in-collective); NeMo's and "
          "Megatron-Bridge's recipes set it. No effect with use_torch_fsdp2");
  s.field("calculate_per_token_loss", calculate_per_token_loss,
          "the loss summed over tokens: no bucket is scaled before its collective; after the reduction every local "
          "gradient is divided by the step's token count once, a read and a write of the gradient buffer before "
          "the optimizer step (Megatron-core's finalize_model_grads; Megatron-LM's --calculate-per-token-loss). "
          "Not with ddp_average_in_collective (Megatron-core asserts it). No effect with use_torch_fsdp2");
  for (auto [key, value] : {std::pair{"exp_avg_dtype", &exp_avg_dtype}, std::pair{"exp_avg_sq_dtype", &exp_avg_sq_dtype}}) {
    s.choice(key, *value, {"fp32", "bf16", "fp16"},
             "Adam's first (exp_avg) or second (exp_avg_sq) moment kept in this type (Megatron-LM's "
             "precision-aware optimizer; DeepSeek-V3 keeps both in BF16, report section 3.3.3): memory and the "
             "optimizer step's bytes; master weights stay fp32");
  }
  s.field("ddp_bucket_size", ddp_bucket_size,
          "parameters per gradient bucket; 0 = Megatron's default max(40M, 1M x data-parallel size)",
          Range::at_least(0));
  s.field("ddp_num_buckets", ddp_num_buckets,
          "with overlap_grad_reduce, the gradient bucket size as Megatron-LM's --ddp-num-buckets sets it: the "
          "parameters this GPU holds (every model chunk of its pipeline stage) divided by this, rounded down; "
          "0 = not given. Exclusive with ddp_bucket_size, as in Megatron-LM",
          Range::at_least(0));
  s.choice("step_syncs", step_syncs, {"auto", "on", "off"},
           "Megatron-LM's small all-reduces around each optimizer step and the host's waits on them: before the step "
           "the rerun state machine's check (an int over every rank, then .item()) and the gradient norm's "
           "all-reduce (one float over every rank with the distributed optimizer, over TP x PP without); after it "
           "train_step's and training_log's (the update check, the gradient norm's and the learning rate's maxima "
           "over TP x PP, each read with .item(); the loss over DP x CP on the last stage; the loss scale's "
           ".item()). auto: on unless use_torch_fsdp2 or layer_kernels torch_eager (they stand for torchtitan and "
           "Composer, whose loops differ); off: none (lcsim before 7 Dec 2026)");
  s.choice("rerun_mode", rerun_mode,
           {"validate_results", "skip", "disabled", "report_stats", "report_determinism_stats"},
           "Megatron-LM's --rerun-mode: validate_results (its default) and skip ask every rank after the passes "
           "whether to rerun the step, an int all-reduced over every rank and read with .item() (one of step_syncs' "
           "all-reduces); disabled asks nothing. report_stats and report_determinism_stats run every step's "
           "passes twice to compare their results: not modelled (refused)");
  s.field("log_params_norm", log_params_norm,
          "Megatron-LM's --log-params-norm: every step after it (calc_params_l2_norm) a multi-tensor L2 norm over this "
          "rank's fp32 main parameters (its shard with the distributed optimizer), all-reduced over DP x CP and over "
          "TP x PP, read with .item(); with step_syncs on");
  s.field("log_num_zeros_in_grad", log_num_zeros_in_grad,
          "Megatron-LM's --log-num-zeros-in-grad: every step in the optimizer's step (count_zeros) a count of the zero "
          "gradients (count_nonzero over each fp32 gradient: read, a bool map written and summed), all-reduced over "
          "the gradient-statistics group and read with .item(), then train_step's maximum over TP x PP (.item()); "
          "with step_syncs on");
  s.field("ddp_reduce_scatter_with_fp32_accumulation", ddp_reduce_scatter_with_fp32_accumulation,
          "Megatron-LM's --ddp-reduce-scatter-with-fp32-accumulation: with the distributed optimizer each gradient "
          "bucket's reduce-scatter runs as an all-to-all of the same bytes over the data-parallel group, then the "
          "received chunks are summed in fp32 and copied into the shard on the compute stream (after the backward "
          "with overlap_grad_reduce, right after each all-to-all without), its receive buffers alive until the "
          "step; no effect without the distributed optimizer (Megatron's all-reduce branch), not with "
          "num_distributed_optimizer_instances > 1 (Megatron asserts) or FSDP");
  s.field("use_flash_attn", use_flash_attn, "fused attention: no score matrix in memory");
  s.choice("cross_entropy", cross_entropy, {"megatron", "torch_fp32"},
           "the loss, for its memory: megatron = Megatron-LM's vocab-parallel cross entropy (bf16 logits and an fp32 "
           "softmax, 6 B per logit); torch_fp32 = the logits upcast to fp32 and PyTorch's cross_entropy (torchtitan's "
           "Llama: output(h).float(); log_softmax keeps its fp32 output, and the first step of the backward holds it, "
           "its gradient and the input gradient: 12 B per logit). Its time is costed as Megatron's either way");
  s.choice("layer_kernels", layer_kernels, {"fused", "torch_eager"},
           "the layer's memory-bound operators: fused = one kernel per norm, rotary embedding and activation "
           "(Megatron-core with Transformer Engine, or torch.compile); torch_eager = PyTorch without torch.compile, "
           "one kernel per operator as torchtitan's Llama writes them (its RMSNorm in fp32, its complex-number "
           "rotary embedding, silu then a multiply): 32 B more per norm element forward, 84 B backward "
           "(docs/training-fusions.md, 'PyTorch eager')");
  // Kernel fusions, under Megatron-core's TransformerConfig names (docs/training-fusions.md).
  for (auto [key, value, what] : {
         std::tuple{"cross_entropy_loss_fusion", &cross_entropy_loss_fusion,
                    "--cross-entropy-loss-fusion (Megatron-LM's default off): the loss's fp32 cast with its max and "
                    "the max's subtraction with the exp, one kernel each: 26 B per bf16 logit forward, not 38"},
         std::tuple{"gradient_accumulation_fusion", &gradient_accumulation_fusion,
                    "off with --no-gradient-accumulation-fusion: each weight-gradient GEMM writes a 16-bit gradient "
                    "that a kernel of its own adds into the main gradient, every micro-batch (10 B per weight "
                    "element with fp32 gradients, 6 without); on: the GEMM accumulates into it"},
         std::tuple{"bias_activation_fusion", &bias_activation_fusion,
                    "off with --no-bias-swiglu-fusion (--swiglu) or --no-bias-gelu-fusion: SwiGLU as silu then a "
                    "multiply (4 B more per element of the MLP width forward, 16 B backward, silu's output kept), a "
                    "bias added on its own; no effect on GeLU without a bias. Dense MLP and shared expert only"},
         std::tuple{"bias_dropout_fusion", &bias_dropout_fusion,
                    "off with --no-bias-dropout-fusion: the dropout (hidden_dropout > 0) and the bias each a pass "
                    "of their own before the residual add (4 B per element each); no effect without either"},
         std::tuple{"masked_softmax_fusion", &masked_softmax_fusion,
                    "off with --no-masked-softmax-fusion: unfused attention's mask a pass of its own over the "
                    "scores (4 B per score each way); no effect with fused attention"},
         std::tuple{"apply_rope_fusion", &apply_rope_fusion,
                    "off with --no-rope-fusion: RoPE as PyTorch's rotate-half sequence, 20 B more per query or "
                    "key element forward, 30 B backward; no effect without rope"}}) {
    s.field(key, *value, std::string(what) + " (docs/training-fusions.md)");
  }
  attention_backend_key(s, attention_backend);
  s.choice("fp8_gemm_backend", fp8_gemm_backend, hw::fp8_gemm_backend_kinds(),
           "the FP8 GEMM kernels (precision: fp8): auto = the part's fp8_gemm_efficiency (cuBLASLt, as Transformer "
           "Engine and torchao call it; gradient GEMMs slower by fp8_split_accumulation_slowdown); deepgemm = "
           "DeepSeek's DeepGEMM with fine-grained (1 x 128, 128 x 128) scaling, at the part's deepgemm_efficiency "
           "and deepgemm_k_half fitted to its measured H800 table (input gradients at that rate: its kernels promote "
           "as measured), weight gradients deepgemm_wgrad_slowdown longer (docs/calibration.md)");
  s.field("moe_load_imbalance", moe_load_imbalance,
          "tokens of the busiest expert / mean (1 = perfect balance): expert GEMMs and token all-to-alls take "
          "this much longer", Range::at_least(1));
  s.choice("moe_token_dispatcher_type", moe_token_dispatcher_type, {"alltoall", "flex", "allgather"},
           "alltoall: each token travels once per chosen expert; flex (DeepEP-style): once per destination node, "
           "then over NVLink inside it; allgather (Megatron-LM's default without --moe-token-dispatcher-type): "
           "every token of the experts' TP x EP group gathered by every rank, the experts' outputs reduce-scattered "
           "back (docs/training-moe-layers.md)");
  s.field("moe_fp8_dispatch", moe_fp8_dispatch,
          "with precision: fp8, the tokens dispatched to the experts and the output gradients sent back to them (the "
          "combine's backward) travel in FP8 with one fp32 scale per 128 elements (1 + 4/128 B per element); the "
          "combine and the dispatch's backward stay 16-bit (DeepSeek-V3, report section 3.3.3)");
  s.field("moe_flex_network_efficiency", moe_flex_network_efficiency,
          "with moe_token_dispatcher_type: flex across nodes, the share of the NIC's line rate its all-to-alls reach: "
          "DeepEP's normal kernels on H800 with CX7 400 Gb/s at EP 64 moved 46 GB/s (dispatch) and 45 GB/s "
          "(combine) per GPU counted once per destination node, 7/8 of it over the network: 0.80 of 50 GB/s "
          "(DeepEP README, February 2025; 0.87-0.89 after its April 2025 update; docs/calibration.md)",
          Range::fraction());
  s.field("moe_shared_expert_overlap", moe_shared_expert_overlap,
          "the shared expert's two linear layers on their own stream beside the dispatch and the combine all-to-all, "
          "forward and backward, with tensor parallelism its own gather and scatter on that stream too (Megatron-LM's "
          "--moe-shared-expert-overlap; docs/training-moe-layers.md); no effect without a shared expert");
  s.field("overlap_moe_expert_parallel_comm", overlap_moe_expert_parallel_comm,
          "expert-parallel all-to-alls run beside the compute (another micro-batch's work hides them, as 1F1B "
          "all-to-all overlap or DualPipe do): waited for only at the end of each pass");
  s.field("moe_overlap_sm_share", moe_overlap_sm_share,
          "with overlap_moe_expert_parallel_comm, the share of the SMs the expert all-to-alls take from the MoE "
          "layers' kernels beside them (those kernels take 1 / (1 - share) as long; the part's overlap_sm_share "
          "elsewhere): fitted to Megatron-Bridge's measured A/B of the overlap on 16 H100 (docs/calibration.md)",
          Range::between(0, 0.9));
  s.field("moe_ep_overlap_host_time", moe_ep_overlap_host_time,
          "with overlap_moe_expert_parallel_comm, the overlapped schedule's own host time per MoE layer and pass "
          "(scheduling the layer's sub-modules on two streams), hidden where the host runs ahead of the GPU; a what-if, "
          "0 by default (docs/validation.md, 'Qwen3-30B-A3B: a fixed cost per layer and micro-batch'); scaled by the "
          "node's host_op_time_factor", Range::at_least(0));
  s.field("memory_reserve", memory_reserve,
          "per-GPU memory kept for the CUDA context, NCCL, workspaces and fragmentation", Range::at_least(0));
  s.field("host_op_time", host_op_time,
          "host (CPU) time to issue one kernel in eager-mode Megatron-core on a DGX H100 host, one PyTorch GEMM "
          "call's 8.3 us (each node's host_op_time_factor scales it: GB200's Grace): a group of n kernels takes at "
          "least n x it plus its module calls' host_module_time, and each pass after a pipeline receive waits one "
          "before its first kernel (docs/calibration.md, 'Framework overhead'); 0 = the host is never the limit "
          "(module calls included)",
          Range::at_least(0));
  s.field("host_module_time", host_module_time,
          "host (CPU) time of each framework module call beyond its kernels' launches: the forward or backward of "
          "a linear layer (its weight gradient is the same call), a core attention or the output layer; the MoE "
          "router's gate is costed by its launches. Fitted to a measured CUDA-graph A/B of Qwen3-30B-A3B on 16 "
          "H100 (docs/calibration.md, 'Host time per module call'); scaled by the node's host_op_time_factor",
          Range::at_least(0));
  s.choice("host_issue_model", host_issue_model, {"runahead", "overlapped", "serial"},
           "how the host's issue time and the GPU's kernels combine: runahead = the host issues ahead of the GPU "
           "and keeps its lead from one group of kernels to the next, growing while the GPU runs long kernels or "
           "waits on collectives, lost where the host waits for the GPU (a pipeline receive, the dropless "
           "dispatcher's count copy, the iteration's end); overlapped = each group of kernels starts with host and "
           "GPU together and takes the larger of its issue and kernel time; serial = no overlap, their sum: an "
           "upper bound on the host's cost (docs/calibration.md, 'Framework overhead')");
  s.choice("moe_grouped_gemm", moe_grouped_gemm, {"multi_stream", "single_kernel", "sequential"},
           "how a MoE layer's expert GEMMs are issued and run: multi_stream = Transformer Engine's GroupedLinear "
           "(Megatron-core's TEGroupedMLP, --moe-grouped-gemm), one cuBLAS GEMM per local expert in each of forward, "
           "data gradient and weight gradient, and with FP8 one quantization kernel per expert per cast, each issued "
           "by the host, the GEMMs on 4 streams (rounds of 4 sharing the GPU); single_kernel = one grouped kernel "
           "for all local experts (the grouped_gemm package's GroupedMLP, --moe-use-legacy-grouped-gemm; CUTLASS or "
           "cuBLASLt grouped GEMM); sequential = Megatron-core's SequentialMLP (Megatron-LM's default without "
           "--moe-grouped-gemm), one MLP module per local expert run in a Python loop, one GEMM after another: "
           "every expert operator a full host_op_time per expert, with FP8 each expert's tokens padded first, the "
           "outputs concatenated after. fp8_gemm_backend: deepgemm runs multi_stream as single_kernel "
           "(docs/calibration.md)");
  s.field("moe_permute_fusion", moe_permute_fusion,
          "the token dispatcher's permutations in Transformer Engine's fused kernels (Megatron-LM's "
          "--moe-permute-fusion; its default false: PyTorch's index_select, argsort, split + cat and scatter_add_): "
          "every MoE layer permutes each token's routed copies into expert order before the dispatch (flex: after "
          "it), sorts the received rows by local expert after it, and reverses both around the combine, each a "
          "memory-bound kernel over tokens x topk x hidden (docs/training.md, token permutation)");
  router.visit(s);
  s.field("expert_launch_time", expert_launch_time,
          "with moe_grouped_gemm: multi_stream, host time of each kernel a grouped expert operator issues beyond its "
          "first (its first costs host_op_time): measured host time of one PyTorch cuBLAS GEMM call in a host-bound "
          "loop, 8.3 us (pytorch/pytorch#161822; docs/calibration.md); scaled by the node's host_op_time_factor",
          Range::at_least(0));
  s.field("expert_gemm_launch_time", expert_gemm_launch_time,
          "with moe_grouped_gemm: multi_stream, host time of each expert GEMM a grouped expert operator issues beyond "
          "its first (Transformer Engine's nvte_cublas_gemm per local expert; its quantization kernels take "
          "expert_launch_time; docs/calibration.md, 'MoE layers on the host'); scaled by the node's host_op_time_factor",
          Range::at_least(0));
  s.field("expert_module_time", expert_module_time,
          "with moe_grouped_gemm: multi_stream, host time per further local expert of each grouped expert module call "
          "(a Transformer Engine GroupedLinear's forward or backward: its Python per expert beyond the launches); a "
          "what-if, 0 by default (docs/calibration.md, 'MoE layers on the host'); scaled by the node's "
          "host_op_time_factor", Range::at_least(0));
  s.field("train_iters", train_iters,
          "iterations to simulate; the first is simulated, the rest repeat its result while the cluster state is "
          "unchanged",
          Range::at_least(1));
  s.field("job_train_iters", job_train_iters,
          "the whole job's iterations (Megatron's --train-iters lands here, not in train_iters): the job_* metrics "
          "extrapolate its time, tokens and GPU-hours from the simulated iteration, with its evaluations (eval_iters, "
          "eval_interval) from one the run simulates after its iterations; 0 = no job length",
          Range::at_least(0));
  s.field("save_interval", save_interval,
          "Megatron's --save-interval (with --save): iterations between checkpoint saves; the job's checkpoint "
          "interval for reliability: (save_interval x the simulated iteration time of compute between checkpoints) "
          "where reliability.checkpoint_interval is not set, in place of its checkpoint_policy's; 0 = not given",
          Range::at_least(0));
  s.field("eval_interval", eval_interval,
          "Megatron's --eval-interval: every that many training iterations an evaluation of eval_iters forward-only "
          "iterations over the validation set (inside the simulated iterations, and in the job_* metrics); 0 = none "
          "during training", Range::at_least(0));
  s.field("eval_iters", eval_iters,
          "Megatron's --eval-iters: forward-only iterations of one evaluation (the global batch each), during "
          "training and after it on each data set; 0 = no evaluation", Range::at_least(0));
  s.field("eval_valid_set", eval_valid_set,
          "the data has a validation split (Megatron's do_valid; --split's second share): evaluated every "
          "eval_interval iterations and after training");
  s.field("eval_test_set", eval_test_set,
          "the data has a test split (Megatron's do_test; --split's third share): evaluated once after training");
  s.field("job_train_samples", job_train_samples,
          "Megatron's --train-samples: the whole job's length in samples; its iterations follow Megatron-LM's "
          "update_train_iters (samples // global_batch_size, or with a batch-size schedule its iterations of each "
          "batch); the job_* metrics as with job_train_iters; 0 = none",
          Range::at_least(0));
  s.values("rampup_batch_size", rampup_batch_size,
           "Megatron's --rampup-batch-size [START, INCREMENT, SAMPLES]: the job's global batch grows from START by "
           "INCREMENT every SAMPLES / ((global_batch_size - START) / INCREMENT) samples to global_batch_size; the job "
           "(job_train_samples or cost.token_budget) runs those iterations at their own speed; [] = none");
  s.field("step_batch_size_schedule", step_batch_size_schedule,
          "Megatron's --step-batch-size-schedule \"THRESHOLD:BATCH ...\": BATCH from THRESHOLD tokens on (K, M, B, T "
          "suffixes), the first threshold 0, the last batch global_batch_size; as rampup_batch_size for the job; "
          "empty = none");
  s.field("batch_schedule_timed", batch_schedule_timed,
          "batch sizes of a batch-size schedule that are timed by one simulated iteration each, spread over the "
          "schedule (its smallest always); the others interpolated linearly in their micro-batch count",
          Range::between(1, 1000));
  s.choice("symmetry", symmetry, {"auto", "off"},
           "auto: simulate one rank per pipeline stage when ranks are identical (same part, no straggler); off: "
           "every rank");
  s.values("straggler_ranks", straggler_ranks, "ranks whose kernels run straggler_slowdown times slower");
  s.field("straggler_slowdown", straggler_slowdown, "kernel time factor of the straggler ranks",
          Range::at_least(1));
  if (s.mode() == Section::Mode::kParse) check_keys(s);
}

}  // namespace lcsim::wl
