// The Megatron-LM arguments lcsim reads into keys, one rule each (megatron_args_lists.h): the argument's value, or a
// flag's fixed value. megatron_args.cc applies them; what they mean is in docs/training-megatron-args.md.
#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "workloads/training/megatron_args_lists.h"

namespace lcsim::wl::megatron_lm {

const std::map<std::string, ArgRule>& rules() {
  static const std::map<std::string, ArgRule> r = [] {
    std::map<std::string, ArgRule> m;
    // Value arguments whose key is the argument's own name with underscores (under `prefix`).
    auto same_name = [&m](const std::string& prefix, std::initializer_list<const char*> args) {
      for (const char* k : args) {
        std::string key = k;
        std::replace(key.begin(), key.end(), '-', '_');
        m[k] = {prefix + key};
      }
    };
    same_name("model.", {"num-layers", "hidden-size", "ffn-hidden-size", "num-attention-heads", "num-query-groups",
                         "kv-channels", "seq-length", "vocab-size", "normalization", "position-embedding-type",
                         "num-experts", "moe-router-topk", "moe-ffn-hidden-size",
                         "moe-shared-expert-intermediate-size", "moe-router-num-groups",
                         "moe-router-group-topk", "moe-router-score-function", "moe-router-topk-scaling-factor",
                         "q-lora-rank", "kv-lora-rank", "qk-head-dim", "qk-pos-emb-head-dim",
                         "v-head-dim", "mtp-num-layers"});
    m["group-query-attention"] = {"model.group_query_attention", "true"};
    m["multi-latent-attention"] = {"model.multi_latent_attention", "true"};
    m["swiglu"] = {"model.swiglu", "true"};
    m["qk-layernorm"] = {"model.qk_layernorm", "true"};
    m["hidden-dropout"] = {"model.hidden_dropout"};
    m["disable-bias-linear"] = {"model.add_bias_linear", "false"};
    m["add-qkv-bias"] = {"model.add_qkv_bias", "true"};
    m["untie-embeddings-and-output-weights"] = {"model.untie_embeddings_and_output_weights", "true"};
    m["use-rotary-position-embeddings"] = {"model.position_embedding_type", "rope"};
    m["no-position-embedding"] = {"model.position_embedding_type", "rope"};
    same_name("", {"global-batch-size", "micro-batch-size", "tensor-model-parallel-size",
                   "pipeline-model-parallel-size", "num-layers-per-virtual-pipeline-stage", "context-parallel-size",
                   "expert-model-parallel-size", "recompute-granularity", "moe-token-dispatcher-type",
                   "decoder-first-pipeline-num-layers", "decoder-last-pipeline-num-layers", "recompute-method",
                   "recompute-num-layers", "cp-comm-type", "ddp-bucket-size", "num-virtual-stages-per-pipeline-rank",
                   "microbatch-group-size-per-virtual-pipeline-stage", "pipeline-model-parallel-layout",
                   "expert-tensor-parallel-size", "exp-avg-dtype", "exp-avg-sq-dtype",
                   // The MoE router (moe_router.h): its losses, logit type, token dropping and input jitter.
                   "moe-router-load-balancing-type", "moe-aux-loss-coeff", "moe-z-loss-coeff", "moe-router-dtype",
                   "moe-expert-capacity-factor", "moe-token-drop-policy", "moe-input-jitter-eps",
                   // Megatron-LM's rerun state machine: its per-step check (step_syncs) unless disabled.
                   "rerun-mode"});
    m["moe-router-pre-softmax"] = {"model.moe_router_pre_softmax", "true"};
    m["moe-router-enable-expert-bias"] = {"model.moe_router_enable_expert_bias", "true"};
    m["moe-router-fusion"] = {"moe_router_fusion", "true"};
    // Statistics Megatron-LM's loop computes every step when asked (docs/training.md, "The step's small all-reduces").
    m["log-params-norm"] = {"log_params_norm", "true"};
    m["log-num-zeros-in-grad"] = {"log_num_zeros_in_grad", "true"};
    m["moe-router-force-load-balancing"] = {"moe_router_force_load_balancing", "true"};
    m["moe-pad-expert-input-to-capacity"] = {"moe_pad_expert_input_to_capacity", "true"};
    // The router pads its map to FP8's alignment (renamed --moe-router-padding-for-quantization later).
    m["moe-router-padding-for-fp8"] = {"moe_router_padding_for_fp8", "true"};
    m["moe-router-padding-for-quantization"] = {"moe_router_padding_for_fp8", "true"};
    // The job's length, not the iterations to simulate: a pasted production line says --train-iters 500000.
    m["train-iters"] = {"job_train_iters"};
    // Megatron-LM's evaluation during training (docs/training.md, "Evaluation"); --split and --mock-data say which
    // data sets it has (megatron_args.cc).
    m["eval-interval"] = {"eval_interval"};
    m["eval-iters"] = {"eval_iters"};
    m["sequence-parallel"] = {"sequence_parallel", "true"};
    m["use-distributed-optimizer"] = {"use_distributed_optimizer", "true"};
    m["num-distributed-optimizer-instances"] = {"num_distributed_optimizer_instances"};
    m["ddp-num-buckets"] = {"ddp_num_buckets"};
    m["ddp-reduce-scatter-with-fp32-accumulation"] = {"ddp_reduce_scatter_with_fp32_accumulation", "true"};
    m["ddp-average-in-collective"] = {"ddp_average_in_collective", "true"};
    m["calculate-per-token-loss"] = {"calculate_per_token_loss", "true"};
    m["check-for-large-grads"] = {"check_for_large_grads", "true"};
    m["check-for-spiky-loss"] = {"check_for_spiky_loss", "true"};
    m["use-torch-fsdp2"] = {"use_torch_fsdp2", "true"};
    // Megatron-FSDP (--use-custom-fsdp its older name, which Megatron-LM still maps to it) and its sharding.
    m["use-megatron-fsdp"] = {"use_megatron_fsdp", "true"};
    m["use-custom-fsdp"] = {"use_megatron_fsdp", "true"};
    m["data-parallel-sharding-strategy"] = {"data_parallel_sharding_strategy"};
    m["outer-dp-sharding-strategy"] = {"outer_dp_sharding_strategy"};
    m["fsdp-double-buffer"] = {"fsdp_double_buffer", "true"};
    m["suggested-communication-unit-size"] = {"suggested_communication_unit_size"};
    m["overlap-grad-reduce"] = {"overlap_grad_reduce", "true"};
    m["overlap-param-gather"] = {"overlap_param_gather", "true"};
    m["no-align-param-gather"] = {"align_param_gather", "false"};
    m["no-align-grad-reduce"] = {"align_grad_reduce", "false"};
    m["disable-align-grad-reduce"] = {"align_grad_reduce", "false"};
    m["align-param-gather"] = {"align_param_gather", "true"};  // Megatron-LM 0.9's spelling, off by default there
    m["overlap-param-gather-with-optimizer-step"] = {"overlap_param_gather_with_optimizer_step", "true"};
    m["tp-comm-overlap"] = {"tp_comm_overlap", "true"};
    // Megatron-core's switches per kind of overlap (ModelParallelConfig), each under both of Megatron-LM's spellings
    // (--disable-*: the hand-written parser; --no-*: the one generated from the config, which adds both).
    for (const char* kind : {"overlap-ag", "overlap-rs", "bulk-dgrad", "bulk-wgrad"}) {
      std::string key = std::string("tp_comm_") + kind;
      std::replace(key.begin(), key.end(), '-', '_');
      m[std::string("disable-tp-comm-") + kind] = {key, "false"};
      m[std::string("no-tp-comm-") + kind] = {key, "false"};
    }
    // Honoured as from 2022 (megatron/mpu/layers.py); versions that mark it deprecated ignore it (run header).
    m["no-async-tensor-model-parallel-allreduce"] = {"tensor_parallel_backward_async_allreduce", "false"};
    m["overlap-moe-expert-parallel-comm"] = {"overlap_moe_expert_parallel_comm", "true"};
    m["moe-shared-expert-overlap"] = {"moe_shared_expert_overlap", "true"};
    // The experts' module (Megatron-core's get_moe_module_spec_for_backend / TESpecProvider.grouped_mlp_modules):
    // --moe-grouped-gemm is TEGroupedMLP (TE's GroupedLinear), and with --moe-use-legacy-grouped-gemm (below) the
    // grouped_gemm package's GroupedMLP; without it SequentialMLP, whatever the legacy flag says.
    m["moe-grouped-gemm"] = {"moe_grouped_gemm", "multi_stream"};
    // Transformer Engine's fused permutation kernels in the token dispatcher (moe_utils.permute / unpermute /
    // sort_chunks_by_idxs with fused=True).
    m["moe-permute-fusion"] = {"moe_permute_fusion", "true"};
    m["account-for-embedding-in-pipeline-split"] = {"account_for_embedding_in_pipeline_split", "true"};
    m["account-for-loss-in-pipeline-split"] = {"account_for_loss_in_pipeline_split", "true"};
    m["accumulate-allreduce-grads-in-fp32"] = {"accumulate_allreduce_grads_in_fp32", "true"};
    m["fp8-param-gather"] = {"fp8_param_gather", "true"};
    m["first-last-layers-bf16"] = {"first_last_layers_bf16", "true"};
    m["enable-cuda-graph"] = {"cuda_graph_impl", "local"};
    m["external-cuda-graph"] = {"cuda_graph_impl", "transformer_engine"};
    same_name("", {"cuda-graph-impl"});
    same_name("", {"num-layers-at-start-in-bf16", "num-layers-at-end-in-bf16"});
    m["use-flash-attn"] = {"use_flash_attn", "true"};
    m["overlap-p2p-communication"] = {"overlap_p2p_comm", "true"};
    m["no-overlap-p2p-communication"] = {"overlap_p2p_comm", "false"};
    m["overlap-p2p-communication-warmup-flush"] = {"overlap_p2p_comm_warmup_flush", "true"};
    m["defer-embedding-wgrad-compute"] = {"defer_embedding_wgrad_compute", "true"};
    same_name("", {"wgrad-deferral-limit"});
    // --attention-backend and --transformer-impl decide use_flash_attn (below); their values are checked there.
    m["attention-backend"] = {"use_flash_attn"};
    m["transformer-impl"] = {"use_flash_attn"};
    // Kernel fusions (Megatron-core's TransformerConfig fields; docs/training-fusions.md). --no-bias-gelu-fusion and
    // --no-bias-swiglu-fusion / --bias-swiglu-fusion decide bias_activation_fusion together with --swiglu (below).
    m["no-gradient-accumulation-fusion"] = {"gradient_accumulation_fusion", "false"};
    m["cross-entropy-loss-fusion"] = {"cross_entropy_loss_fusion", "true"};
    m["deterministic-mode"] = {"deterministic_mode", "true"};
    m["no-bias-dropout-fusion"] = {"bias_dropout_fusion", "false"};
    m["no-masked-softmax-fusion"] = {"masked_softmax_fusion", "false"};
    m["no-rope-fusion"] = {"apply_rope_fusion", "false"};
    m["recompute-activations"] = {"recompute_granularity", "selective"};
    m["distribute-saved-activations"] = {"distribute_saved_activations", "true"};
    m["bf16"] = {"precision", "bf16"};
    m["fp16"] = {"precision", "fp16"};
    m["fp8-format"] = {"precision"};  // its value (hybrid, e4m3) is replaced by fp8 below
    // delayed, tensorwise, mxfp8 as lcsim's keys; blockwise and custom are reported by the key's allowed values.
    m["fp8-recipe"] = {"fp8_recipe"};
    return m;
  }();
  return r;
}

DataSets data_sets(const std::string* split, bool mock, const bool (&paths)[3]) {
  DataSets d;
  const auto sets = [&d] {
    return d.valid && d.test ? std::string("evaluation on the validation and the test set")
           : d.valid         ? std::string("evaluation on the validation set only (eval_test_set = false)")
           : d.test          ? std::string("evaluation after training on the test set only (eval_valid_set = false)")
                             : std::string("no evaluation (eval_valid_set = false, eval_test_set = false)");
  };
  if (mock) {
    // BlendedMegatronDatasetConfig: with no data path the datasets are mock ones, split "1,1,1" whatever --split says.
    d.reading = "--mock-data -> " + sets() + " (Megatron-LM's mock datasets split 1,1,1" +
                (split ? std::string(", --split ") + *split + " not used)" : std::string(")"));
    return d;
  }
  if (paths[0] || paths[1] || paths[2]) {  // per-split data: the sets whose paths are given
    d.valid = paths[1];
    d.test = paths[2];
    d.reading = "--train-data-path / --valid-data-path / --test-data-path -> " + sets();
    return d;
  }
  if (!split) return d;  // Megatron-LM's legacy default split '969, 30, 1': both sets
  // parse_and_normalize_split: the numbers of the string (re.findall of [.0-9]+), missing ones 0, three at most,
  // summing to more than 0.
  std::vector<double> shares;
  std::string number;
  const std::string text = *split + " ";
  for (char ch : text) {
    if ((ch >= '0' && ch <= '9') || ch == '.') {
      number += ch;
    } else if (!number.empty()) {
      char* end = nullptr;
      const double v = std::strtod(number.c_str(), &end);
      if (end != number.c_str() + number.size()) {
        d.error = "--split '" + *split + "': '" + number + "' is not a number";
        return d;
      }
      shares.push_back(v);
      number.clear();
    }
  }
  double sum = 0;
  for (double v : shares) sum += v;
  if (shares.empty() || shares.size() > 3 || !(sum > 0)) {
    d.error = "--split '" + *split + "': Megatron-LM reads one to three shares of the data, train, validation and "
              "test, summing to more than 0 (e.g. 969,30,1)";
    return d;
  }
  shares.resize(3, 0.0);
  d.valid = shares[1] > 0;
  d.test = shares[2] > 0;
  d.reading = "--split " + *split + " -> " + sets();
  return d;
}

}  // namespace lcsim::wl::megatron_lm
