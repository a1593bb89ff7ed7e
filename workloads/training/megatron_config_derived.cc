// What MegatronConfig's keys imply for the rest of the workload: recomputed modules and layers, the schedule and
// its model chunks, the moments' bytes, the shard of one layer a GPU computes (LayerShard), and the activations
// the memory fit counts per layer.
#include <algorithm>
#include <cmath>
#include <string>

#include "models/hardware/memory.h"
#include "workloads/training/layer_activations.h"
#include "workloads/training/megatron.h"
#include "workloads/training/megatron_args.h"
#include "workloads/training/megatron_config.h"

namespace lcsim::wl {

bool MegatronConfig::recomputes(const std::string& module) const {
  return recompute_granularity == "selective" && selective_ac_option == "megatron" &&
         std::find(recompute_modules.begin(), recompute_modules.end(), module) != recompute_modules.end();
}

double MegatronConfig::moment_bytes() const {
  auto size = [](const std::string& type) { return type == "fp32" ? 4.0 : 2.0; };
  return size(exp_avg_dtype) + size(exp_avg_sq_dtype);
}

long long MegatronConfig::evaluations(long long iterations) const {
  // training.py: in the loop where eval_interval divides the iteration and do_valid; after it (pretrain), once on the
  // validation set (do_valid) and once on the test set (do_test), even where the loop's last iteration evaluated.
  if (eval_iters <= 0) return 0;
  const long long loop = evaluates_after(eval_interval) ? iterations / eval_interval : 0;
  return loop + (eval_valid_set ? 1 : 0) + (eval_test_set ? 1 : 0);
}

std::vector<BatchSchedule::Phase> MegatronConfig::job_phases() const {
  if (job_train_iters > 0) return {{global_batch_size, job_train_iters}};
  if (job_train_samples <= 0) return {};
  // update_train_iters: train_samples // global_batch_size without a schedule.
  if (batch_schedule.empty()) return {{global_batch_size, job_train_samples / std::max(1, global_batch_size)}};
  return batch_schedule.phases(job_train_samples);
}

std::vector<BatchSchedule::Phase> MegatronConfig::budget_phases() const {
  if (token_budget <= 0 || model.seq_length <= 0 || global_batch_size <= 0) return {};
  const double samples = std::min(std::ceil(token_budget / model.seq_length), 1e15);
  if (batch_schedule.empty()) {
    return {{global_batch_size, static_cast<int64_t>(std::ceil(samples / global_batch_size))}};
  }
  // A last partial batch run whole: the schedule's job of one global batch less a sample more.
  return batch_schedule.phases(static_cast<int64_t>(samples) + global_batch_size - 1);
}

namespace {
long long iterations_of(const std::vector<BatchSchedule::Phase>& phases) {
  long long n = 0;
  for (const auto& p : phases) n += p.iterations;
  return n;
}
}  // namespace

long long MegatronConfig::job_iterations() const { return iterations_of(job_phases()); }

long long MegatronConfig::budget_train_iters() const { return iterations_of(budget_phases()); }

int MegatronConfig::virtual_stages() const {
  if (pipeline_schedule == "dualpipe") return 2;
  if (!layout.empty()) return static_cast<int>(layout.size()) / std::max(1, pipeline_model_parallel_size);
  if (num_virtual_stages_per_pipeline_rank > 0) return num_virtual_stages_per_pipeline_rank;
  if (num_layers_per_virtual_pipeline_stage <= 0) return 1;
  const double per_stage = static_cast<double>(split_layers()) / pipeline_model_parallel_size;
  return std::max(1, static_cast<int>(std::lround(per_stage / num_layers_per_virtual_pipeline_stage)));
}

int MegatronConfig::selective_ac_every() const {
  const std::string& o = selective_ac_option;
  if (o.size() > 6 || !all_digits(o)) return 0;
  return std::stoi(o);
}

int MegatronConfig::recomputed_layers(int layers_in_chunk) const {
  // torchtitan's layer-level policy wraps every Nth block in a full checkpoint (its count runs over the model;
  // here over each chunk: the same with one chunk per rank).
  if (recompute_granularity == "selective" && selective_ac_every() > 0) return layers_in_chunk / selective_ac_every();
  if (recompute_granularity != "full") return 0;
  if (recompute_method == "block") return std::min(layers_in_chunk, recompute_num_layers);
  return layers_in_chunk;
}

std::string MegatronConfig::schedule() const {
  if (pipeline_schedule != "auto") return pipeline_schedule;
  return virtual_stages() > 1 ? "interleaved" : "1f1b";
}

// One NVFP4 copy (row- or column-wise) per element: 0.5 B of E2M1 and an E4M3 scale per 16 elements (Transformer
// Engine's nvfp4_tensor.py, make_empty; its scale padding left out). Casts write two, linear layers keep one.
constexpr double kNvfp4CopyBytes = 0.5 + 1.0 / 16;

// Transformer Engine's casts (not torchao's, under torch FSDP2): its FP8 tensors keep no transposed copy where the
// part's FP8 GEMMs take any layout (Float8Quantizer: create_transpose = columnwise_usage &&
// !nvte_is_non_tn_fp8_gemm_supported()); MXFP8 quantizes row- and column-wise, each with its E8M0 scales.
double MegatronConfig::fp8_cast_out(const hw::AcceleratorSpec* part) const {
  if (mxfp8()) return 2 + 2.0 / 32;
  // NVFP4Quantizer: row- and column-wise copies (NVFP4 GEMMs are TN-only).
  if (nvfp4()) return 2 * kNvfp4CopyBytes;
  // Float8BlockQuantizer: row- and column-wise copies, each with an FP32 scale per 128 elements (1 x 128; a weight's
  // 128 x 128 blocks have fewer, counted the same: 3% of the cast's bytes either way).
  if (fp8_blockwise()) return 2 + 2 * 4.0 / 128;
  return part && part->non_tn_fp8_gemm && !use_torch_fsdp2 ? 1 : 2;
}

LayerShard MegatronConfig::layer_shard(const hw::AcceleratorSpec* part) const {
  const int tp = tensor_model_parallel_size;
  LayerShard sh{tp, context_parallel_size, expert_model_parallel_size, sequence_parallel && tp > 1,
                expert_load(), use_flash_attn, quantized()};
  sh.router = router;
  // NVFP4's per-tensor scale comes from the tensor's amax, computed first, as current scaling's (Transformer
  // Engine's NVFP4 guide: s_global = global_amax / (448 x 6)).
  sh.fp8_current_scaling = sh.fp8 && (fp8_recipe == "tensorwise" || nvfp4());
  sh.fp8_cast_out = fp8_cast_out(part);
  sh.fp8_saved_bytes = nvfp4() ? kNvfp4CopyBytes : 1;
  sh.fp8_block_scaled = mxfp8();
  // Transformer Engine's norm before a GEMM (NormCast; fp8_casts.cc); torchao's float8 (torch FSDP2) fuses nothing
  // with current scaling, and stays as it was with delayed scaling. NVFP4: the norm in 16 bits, then the amax pass
  // and the cast (assumed: no NVFP4 output of the norm kernels found; docs/calibration-fp8.md).
  if (nvfp4()) {
    sh.fp8_norm_cast = NormCast::kUnfused;
  } else if (use_torch_fsdp2) {
    sh.fp8_norm_cast = sh.fp8_current_scaling ? NormCast::kUnfused : NormCast::kFused;
  } else if (sh.fp8_current_scaling) {
    sh.fp8_norm_cast = cudnn_norm ? NormCast::kUnfused : NormCast::kAmaxFused;
  } else if (mxfp8()) {
    sh.fp8_norm_cast = cudnn_norm ? NormCast::kFused : NormCast::kUnfused;
  } else if (fp8_blockwise()) {
    sh.fp8_norm_cast = NormCast::kUnfused;  // the norm in 16 bits, then the block quantizer's cast
  }
  sh.etp = expert_tp();
  sh.unpad = attention_unpad;
  sh.cp_comm_type = cp_comm_type;
  sh.cp_a2a = cp_a2a_size();
  sh.cp_pytorch = cp_implementation == "pytorch";
  sh.cp_repeat_kv = cp_repeat_kv;
  sh.sequential_experts = moe_grouped_gemm == "sequential";
  // Transformer Engine's GroupedLinear runs one cuBLAS GEMM per local expert, round-robin on its 4 compute streams
  // (transformer_engine/common/util/multi_stream.cpp, num_compute_streams = 4; general_grouped_gemm);
  // SequentialMLP one after another; one grouped kernel (or DeepGEMM's) all at once.
  const bool te_grouped = moe_grouped_gemm == "multi_stream" && !(sh.fp8 && fp8_gemm_backend == "deepgemm");
  sh.expert_gemm_streams = sh.sequential_experts ? 1 : te_grouped ? 4 : 0;
  sh.cross_entropy_fusion = cross_entropy_loss_fusion;
  sh.bias_activation_fusion = bias_activation_fusion;
  sh.bias_dropout_fusion = bias_dropout_fusion;
  sh.masked_softmax_fusion = masked_softmax_fusion;
  sh.apply_rope_fusion = apply_rope_fusion;
  sh.torch_eager = torch_eager();
  // Without the fused accumulation each weight gradient goes into main_grad by a kernel on the compute stream: the
  // DDP's add (read both, write the sum); Megatron-FSDP's _grad_acc (called from the module's post-backward hook,
  // no stream of its own) copies it into the temporary bucket where the gradients are sharded (optim_grads_params,
  // optim_grads: main_grad.copy_, read 2 B, write the gradient type) and adds it where they are whole.
  const bool overwrite = use_megatron_fsdp && (megatron_fsdp_units() || grads_each_micro_batch());
  sh.wgrad_accumulation_bytes = gradient_accumulation_fusion ? 0
                                : overwrite                  ? 2 + grad_bytes()
                                                             : wgrad_accumulation_bytes(2, grad_bytes());
  sh.flex_dispatch = moe_token_dispatcher_type == "flex";
  sh.allgather_dispatch = moe_token_dispatcher_type == "allgather";
  sh.permute_fusion = moe_permute_fusion;
  sh.fp8_dispatch = moe_fp8_dispatch;
  sh.fp8_expert_padding = sh.fp8 && moe_grouped_gemm == "multi_stream" && fp8_gemm_backend != "deepgemm" &&
                          !router.moe_router_padding_for_fp8 && !router.moe_pad_expert_input_to_capacity &&
                          !sh.flex_dispatch;
  return sh;
}

void MegatronConfig::activation_inputs(hw::TrainingMemoryInput& in) const {
  const GptModelConfig& m = model;
  const int tp = tensor_model_parallel_size, cp = context_parallel_size;
  const double h = m.hidden_size, k = m.moe_router_topk, imb = expert_load(), e = 2;
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
  in.flash_attention = use_flash_attn;
  // What the activations follow: torchtitan's op-level selective checkpointing ("op"), its every-Nth-layer policy
  // (those layers recomputed whole: "full"), Megatron's selective without core_attn (keeps an unfused attention's
  // score matrix, as no recompute does: "none"), else the granularity itself.
  const bool selective = recompute_granularity == "selective";
  in.recompute = op_selective_ac()                        ? "op"
                 : selective && selective_ac_every() > 0 ? "full"
                 : selective && !recomputes("core_attn") ? "none"
                                                         : recompute_granularity;
  // Tensor by tensor (layer_activations.h): it knows what the closed form does not (multi-latent attention,
  // modules recomputed beyond the attention core, FP8 saved activations, grouped-query keys and values, no dropout)
  // and equals it otherwise. Averaged over the model's layers as ffn is.
  ActivationOptions opts{recomputes("layernorm"),
                               recomputes("mla_up_proj"),
                               recomputes("moe_act"),
                               fp8_saved_activations,
                               quantized() && fp8_linear_saved_input == "fp8",
                               imb, use_flash_attn, !bias_activation_fusion || torch_eager(),
                               recomputes("mlp"), recomputes("moe"), recomputes("shared_experts"),
                               // the overlapped shared expert's gathered input (16-bit as column_backward says)
                               moe_shared_expert_overlap && tp > 1 ? tp * (precision == "fp8" && fp8_recipe == "delayed" &&
                                   (fp8_linear_saved_input == "fp8" || fp8_saved_activations) ? 1 : e) : 0.0};
  opts.expert_tp = expert_tp();
  opts.quantized_bytes = nvfp4() ? kNvfp4CopyBytes : 1;
  in.layer_whole = in.layer_split = 0;
  ActivationOptions bf16 = opts;  // first_last_layers_bf16's layers keep their linear inputs in 16 bits
  bf16.fp8_saved = bf16.fp8_linear_inputs = false;
  for (int l = 0; l < m.num_layers; ++l) {  // whole bytes summed, divided once: exact where the layers are alike
    const LayerActivations a = layer_activations(m, l, bf16_layer(l) ? bf16 : opts);
    in.layer_whole += a.whole;
    in.layer_split += a.split;
  }
  in.layer_whole /= m.num_layers;
  in.layer_split /= m.num_layers;
  in.output_heads = 1 + m.mtp_num_layers;
  in.kv_heads = m.query_groups();
  in.logit_bytes = cross_entropy == "torch_fp32" ? 12 : 6;
}

}  // namespace lcsim::wl
