// Megatron-LM's training argument parser, argument by argument: generated once from megatron/training/arguments.py at
// NVIDIA/Megatron-LM 0583007 (its add_argument calls, and the arguments its ArgumentGroupFactory generates from the
// config dataclasses: TransformerConfig, CheckpointConfig, LoggerConfig, ...), then kept by hand. Two tables: how each
// argument takes its values (argparse: a flag none, a value argument one, nargs '*', '+' or N every word up to the
// next argument), and what lcsim does with the arguments megatron_args.cc neither reads nor lists: ignored (no
// effect on the time or memory lcsim models: data, tokenizer, logging, checkpointing, evaluation, inference,
// reinforcement-learning and vision settings, numerics), not modelled (accepted, costed as without them, named in the
// run header), or rejected with the reason (docs/training-megatron-args.md).
#include "workloads/training/megatron_args_lists.h"

namespace lcsim::wl::megatron_lm {

// The lists kept by hand before the parser's table, each entry with why it is where it is (arguments of older
// versions included).
// Arguments that change numerics, data, logging or checkpointing but not the time or memory lcsim models.
// Value arguments take one value; flags none.
const std::set<std::string>& listed_ignored() {
  static const std::set<std::string> s = {
      // Megatron-LM's own example lines (examples/llama/train_llama3_8b_h100_fp8.sh): decoupled learning rates of
      // the embedding and output layer, the mock tokenizer's pattern, dataset options, an nsys profile window,
      // and the allocator's cache flush (empty_cache() after each iteration or pass: lcsim counts allocated, not
      // reserved, memory, and no source times the flush).
      // CUDA graphs' warm-up iterations before capture (not the steady step lcsim simulates).
      // Megatron-core hands tp_comm_split_ag / tp_comm_split_rs to Transformer Engine only below TE 1.5 (ub_split_ag,
      // ub_split_rs; TELinear in megatron/core/extensions/transformer_engine.py): since then the overlap method is
      // chosen per GEMM (tp_comm_overlap_cfg), and TE 2.x's modules have no such argument.
      "disable-tp-comm-split-ag", "disable-tp-comm-split-rs", "no-tp-comm-split-ag", "no-tp-comm-split-rs",
      "cuda-graph-warmup-steps",
      "decoupled-lr", "decoupled-min-lr", "tiktoken-pattern", "no-create-attention-mask-in-dataloader",
      "no-mmap-bin-files", "profile", "profile-step-start", "profile-step-end", "profile-ranks",
      "empty-unused-memory-level", "dataloader-type", "eod-mask-loss", "reset-position-ids", "reset-attention-mask",
      "num-dataset-builder-threads", "log-batch-size-to-tensorboard",
      "tensorboard-queue-size",
      "lr", "min-lr", "lr-decay-style", "lr-decay-iters", "lr-decay-samples", "lr-warmup-iters",
      "lr-warmup-samples", "lr-warmup-fraction", "lr-warmup-init", "weight-decay", "start-weight-decay",
      "end-weight-decay", "clip-grad", "adam-beta1", "adam-beta2", "adam-eps", "init-method-std",
      "attention-dropout", "data-path", "train-data-path", "valid-data-path", "test-data-path",
      "vocab-file", "merge-file", "save", "load", "log-interval", "tensorboard-dir", "wandb-project", "wandb-exp-name",
      "wandb-save-dir",
      "seed", "max-position-embeddings", "rotary-base", "rotary-percent", "norm-epsilon",
      "distributed-backend", "distributed-timeout-minutes", "data-cache-path", "num-workers", "exit-interval",
      "exit-duration-in-mins", "loss-scale", "initial-loss-scale", "min-loss-scale", "loss-scale-window",
      "hysteresis", "attention-softmax-in-fp32", "moe-enable-deepep",
      // The expert bias's update speed at the optimizer step (numerics), and per-layer logging of the MoE losses.
      "moe-router-bias-update-rate", "moe-per-layer-logging",
      // The multi-token-prediction loss's weight in the total loss (numerics).
      "mtp-loss-scaling-factor",
      // Initial weights from a dense checkpoint's MLP (loaded once, before training).
      "moe-use-upcycling",
      "fp8-amax-history-len", "fp8-amax-compute-algo",
      "ckpt-format", "timing-log-level", "data-parallel-random-init",
      "tensorboard-log-interval", "log-throughput", "use-mcore-models", "apply-layernorm-1p",
      "log-timers-to-tensorboard", "log-memory-to-tensorboard",
      "log-validation-ppl-to-tensorboard", "no-load-optim", "no-load-rng", "no-save-optim", "no-save-rng",
      "use-checkpoint-args", "manual-gc", "manual-gc-interval",
      // The switch that lets Megatron-core's experimental features be turned on (each by its own argument); the
      // optimizer's schedules (the scheduler's values taken from the arguments, not the checkpoint; weight decay's).
      "enable-experimental", "override-opt-param-scheduler", "weight-decay-incr-style",
      // Checkpointing, fault tolerance and logging (lcsim's checkpoints are scenario keys: docs/storage.md).
      "async-save", "use-dist-ckpt", "ckpt-assume-constant-structure", "dist-ckpt-strictness", "log-straggler",
      "auto-detect-ckpt-format",
      "enable-ft-package", "check-weight-hash-across-dp-replicas-interval", "logging-level", "log-progress",
      "record-memory-history",
      // Numerics: rotary scaling (YaRN's factors), interleaved rotary halves, query-key layer scaling (fp16), the
      // random-number tracker, the gradient division fused into Megatron-FSDP's reduction kernel (not modelled
      // here), the router probabilities applied to the expert input instead of its activation.
      "rotary-scaling-factor", "mscale", "mscale-all-dim", "rope-scaling-factor", "use-rope-scaling",
      "rotary-interleaved", "apply-query-key-layer-scaling", "te-rng-tracker",
      "gradient-reduce-div-fusion", "moe-apply-probs-on-input",
      // Communication set-up lcsim does not distinguish: NCCL options per group, stream priorities, the pipeline's
      // backend (NCCL) and its send/recv form (batched isend/irecv, ring exchange), shapes sent ahead of variable
      // sequence lengths, bucket padding for NCCL's bandwidth.
      "nccl-communicator-config-path", "high-priority-stream-groups", "pipeline-model-parallel-comm-backend",
      "batch-p2p-comm", "use-ring-exchange-p2p", "variable-seq-lengths", "ddp-pad-buckets-for-high-nccl-busbw",
      // The layer-norm kernel variant (apex's persistent kernel; Transformer Engine's norms either way), MXFP8's
      // reuse of the gradient buffer for the parameter all-gather (a memory saving lcsim does not count; the 16-bit
      // gather of an MXFP8 model is costed with or without it: MegatronConfig::fp8_weights_gathered), the
      // precision-aware optimizer's switch (its moment types are their own arguments: --exp-avg-dtype,
      // --exp-avg-sq-dtype).
      "no-persist-layer-norm", "reuse-grad-buf-for-mxfp8-param-ag", "use-precision-aware-optimizer",
      // An argument of another Megatron-LM version than the parser's table (megatron_args_lists.cc), from Megatron-LM's
      // own functional tests: the tokenizer's library.
      "tokenizer-library"};
  return s;
}

// Arguments that change speed or memory in ways lcsim does not model: accepted, costed as without them, and named
// in the run header (docs/training-megatron-args.md says what each does). Value arguments take their values along.
const std::set<std::string>& listed_not_modelled() {
  static const std::set<std::string> s = {
      "delay-wgrad-compute",
      // Megatron-FSDP's knobs beyond its sharding and prefetch (use_megatron_fsdp models 16-bit compute and fp32 main
      // shards, gradients in the DDP's type): the max-pool double buffer, the dtypes of its main parameters,
      // gradients and gradient communication, the fine-grained gather, NCCL buffer registration.
      "megatron-fsdp-grad-comm-dtype",
      "megatron-fsdp-main-grads-dtype", "megatron-fsdp-main-params-dtype", "megatron-fsdp-max-pool-double-buffer",
      "megatron-fsdp-enable-fine-grained-param-gather", "fsdp-manual-registration",
      // HybridEP's SMs for its dispatch and combine kernels (default 16): the flex dispatcher's cost is DeepEP's
      // measured share, whatever the count.
      "moe-hybridep-num-sms"};
  return s;
}

// Arguments whose effect is too large to cost as without them, rejected with the reason.
const std::map<std::string, std::string>& listed_rejected() {
  static const std::map<std::string, std::string> m = {
      {"optimizer-cpu-offload", "optimizer states offloaded to host memory are not modelled"},
      {"heterogeneous-layers-config-path", "layers of different shapes are not modelled"}};
  return m;
}


const std::map<std::string, Takes>& parser() {
  static const std::map<std::string, Takes> m = [] {
    std::map<std::string, Takes> k;
    // Flags (store_true, store_false, BooleanOptionalAction and their --no- / --disable- forms).
    for (const char* n : {
      "account-for-embedding-in-pipeline-split", "account-for-loss-in-pipeline-split",
      "accumulate-allreduce-grads-in-fp32", "add-qkv-bias", "adlr-autoresume", "allow-ambiguous-pad-tokens",
      "apply-layernorm-1p", "apply-query-key-layer-scaling", "apply-residual-connection-post-layernorm",
      "apply-wd-to-qk-layernorm", "async-ckpt-use-cpu-shm", "async-save", "attention-output-gate",
      "attention-softmax-in-fp32", "auto-detect-ckpt-format", "batch-invariant-mode", "bert-no-binary-head", "bf16",
      "biencoder-shared-query-context-model", "cache-mla-latents", "calc-ft-timeouts", "calculate-per-token-loss",
      "check-for-large-grads", "check-for-spiky-loss", "checkpoint-activations", "ckpt-assume-constant-structure",
      "ckpt-convert-update-legacy-dist-opt-format", "ckpt-fully-parallel-load", "ckpt-fully-parallel-save",
      "cpu-offloading-retain-pinned-cpu-buffers", "create-all-gather-group", "cross-entropy-loss-fusion",
      "csa-dense-mode", "cuda-graph-dynamic-microbatches", "data-parallel-random-init",
      "dataloader-defer-npy-index-mmap", "dataloader-fast-cache-load", "dataloader-inter-document-masking",
      "ddp-average-in-collective", "ddp-pad-buckets-for-high-nccl-busbw", "ddp-reduce-scatter-with-fp32-accumulation",
      "decode-only-cuda-graphs", "decrease-batch-size-if-needed", "defer-embedding-wgrad-compute",
      "delay-offload-until-cuda-graph", "delay-wgrad-compute", "dense-grouped-gemm", "deterministic-mode",
      "dino-norm-last-layer", "disable-align-grad-reduce", "disable-apply-dsa-kernel-fusion",
      "disable-bf16-reduced-precision-matmul", "disable-bias-linear", "disable-ckpt-load-validate-sharding-integrity",
      "disable-clone-scatter-output-in-embedding", "disable-create-attention-mask-in-dataloader",
      "disable-dsa-indexer-rotate-activation", "disable-dsa-indexer-scoring-relu",
      "disable-flight-recorder-dump-on-timeout", "disable-flight-recorder-extra-dump-on-exec",
      "disable-flight-recorder-include-only-active", "disable-fp8-wgrad", "disable-gloo-process-groups",
      "disable-jit-fuser", "disable-log-loss-scale-to-tensorboard", "disable-mamba-mem-eff-path",
      "disable-manual-gc-eval", "disable-mok-use-mxfp8-weights", "disable-msc", "disable-pad-vocab-size",
      "disable-straggler-on-startup", "disable-strict-fsdp-dtensor-load", "disable-symmetric-registration",
      "disable-tokenizer-sentencepiece-ignore-extra-whitespaces", "disable-tp-comm-bulk-dgrad",
      "disable-tp-comm-bulk-wgrad", "disable-tp-comm-overlap-ag", "disable-tp-comm-overlap-rs",
      "disable-tp-comm-split-ag", "disable-tp-comm-split-rs", "disable-use-tokenizer-model-from-checkpoint-args",
      "dist-ckpt-optim-fully-reshardable", "dist-ckpt-save-pre-mcore-014",
      "distrib-optim-fully-reshardable-mem-efficient", "distribute-saved-activations", "dsa-indexer-k-norm-fp32",
      "dsa-indexer-rope-interleaved", "dsa-indexer-use-sparse-loss", "enable-chunked-prefill", "enable-cuda-graph",
      "enable-experimental", "enable-ft-package", "enable-full-sharding-in-hsdp", "enable-hyper-connections",
      "enable-msc", "eod-mask-loss", "ep-overlap-early-attn-memory-release", "exit-on-missing-checkpoint",
      "exit-signal-handler", "exit-signal-handler-for-dataloader", "exit-signal-handler-for-training",
      "external-cuda-graph", "fake-process-group", "fallback-to-eager-attn", "fim-data",
      "fine-grained-activation-offloading", "finetune", "first-last-layers-bf16", "flash-decode",
      "flight-recorder-include-stack-trace", "fp16", "fp16-lm-cross-entropy", "fp32-residual-connection",
      "fp4-param-gather", "fp8-output-proj", "fp8-param-gather", "freeze-all-layers",
      "fsdp-db-use-persist-buf-on-alloc-fail", "fsdp-double-buffer", "fsdp-manual-registration", "full-validation",
      "fused-residual-rmsnorm", "gdn-pre-gated-delta-rule-fusion", "grad-reduce-in-bf16", "group-query-attention",
      "grpo-filter-groups-with-same-reward", "head-wise-attn-gate", "high-priority-a2a-comm-stream",
      "hybrid-context-parallel", "inference-cuda-graph-all-prefills", "inference-disable-ep-consensus",
      "inference-disable-triton-nvls-kernels", "inference-dynamic-batching",
      "inference-dynamic-batching-prefix-caching", "inference-dynamic-batching-track-generated-token-events",
      "inference-dynamic-batching-track-paused-request-events", "inference-fuse-tp-communication",
      "inference-moe-disable-fused-quant-kernels", "inference-rng-tracker", "inference-text-gen-server-logging",
      "inference-use-synchronous-zmq-collectives", "inference-wandb-logging", "init-method-xavier-uniform",
      "init-model-with-meta-device", "inprocess-empty-cuda-cache", "inprocess-restart", "is-hybrid-model",
      "keep-fp8-transpose-cache", "lazy-mpu-init", "load-main-params-from-ckpt", "log-device-memory-used",
      "log-energy", "log-max-attention-logit", "log-memory-to-tensorboard", "log-moe-overload-factor",
      "log-num-zeros-in-grad", "log-params-norm", "log-progress", "log-straggler", "log-throughput",
      "log-timers-to-tensorboard", "log-validation-ppl-to-tensorboard", "log-world-size-to-tensorboard",
      "logits-load-ignore-errors", "manual-gc", "megatron-fsdp-enable-fine-grained-param-gather",
      "megatron-fsdp-max-pool-double-buffer", "mla-down-proj-fusion", "mock-data", "moe-apply-probs-on-input",
      "moe-enable-deepep", "moe-enable-routing-replay", "moe-grouped-gemm", "moe-hybridep-pad-variable-tokens",
      "moe-layer-recompute", "moe-ncclep-static-shape", "moe-ncclep-use-symm-mem", "moe-pad-expert-input-to-capacity",
      "moe-pad-experts-for-cuda-graph-inference", "moe-paged-stash", "moe-per-layer-logging", "moe-permute-fusion",
      "moe-permute-fusion-into-hybridep", "moe-router-enable-expert-bias", "moe-router-force-load-balancing",
      "moe-router-fusion", "moe-router-padding-for-fp8", "moe-router-padding-for-quantization",
      "moe-router-pre-softmax", "moe-routing-trace-capture-hidden-states", "moe-routing-trace-capture-logits",
      "moe-routing-trace-dump-weights", "moe-shared-expert-gate", "moe-shared-expert-overlap",
      "moe-single-grouped-bias", "moe-single-grouped-weight", "moe-use-upcycling", "mok-scale-router-before-fc2",
      "mrope-interleaved", "mtp-detach-heads", "mtp-standalone", "mtp-use-repeated-layer", "multi-latent-attention",
      "multiple-validation-sets", "muon-nesterov", "muon-no-split-qkv", "nccl-all-reduce-for-prefill",
      "no-align-grad-reduce", "no-align-param-gather", "no-apply-dsa-kernel-fusion", "no-barrier-with-level-1-timing",
      "no-bias-dropout-fusion", "no-bias-gelu-fusion", "no-bias-swiglu-fusion", "no-check-for-nan-in-loss-and-grad",
      "no-ckpt-fully-parallel-save", "no-ckpt-load-validate-sharding-integrity",
      "no-clone-scatter-output-in-embedding", "no-create-attention-mask-in-dataloader", "no-data-sharding",
      "no-dsa-indexer-rotate-activation", "no-dsa-indexer-scoring-relu", "no-flight-recorder-dump-on-timeout",
      "no-flight-recorder-extra-dump-on-exec", "no-flight-recorder-include-only-active", "no-fp8-wgrad",
      "no-gradient-accumulation-fusion", "no-gradient-reduce-div-fusion", "no-inference-disable-ep-consensus",
      "no-inference-dynamic-batching-prefix-caching", "no-inference-text-gen-server-logging",
      "no-inference-use-synchronous-zmq-collectives", "no-inference-wandb-logging", "no-initialization",
      "no-load-optim", "no-load-rng", "no-log-loss-scale-to-tensorboard", "no-manual-gc-eval",
      "no-masked-softmax-fusion", "no-mmap-bin-files", "no-mok-use-mxfp8-weights", "no-one-logger",
      "no-overlap-p2p-communication", "no-pad-vocab-size", "no-persist-layer-norm", "no-pin-cpu-grads",
      "no-pin-cpu-params", "no-position-embedding", "no-rl-inference-logprobs-is-correction",
      "no-rl-offload-inference-model-weights-when-idle", "no-rl-partial-rollouts", "no-rl-persist-cuda-graphs",
      "no-rl-skip-bos-token", "no-rl-training-cuda-graphs", "no-rl-use-sequence-packing",
      "no-rl-verify-model-weights-swap", "no-rope-fusion", "no-save-optim", "no-save-rng",
      "no-strict-fsdp-dtensor-load", "no-tokenizer-sentencepiece-ignore-extra-whitespaces", "no-tp-comm-bulk-dgrad",
      "no-tp-comm-bulk-wgrad", "no-tp-comm-overlap-ag", "no-tp-comm-overlap-rs", "no-tp-comm-split-ag",
      "no-tp-comm-split-rs", "no-use-layer-wise-param-layout", "no-use-tokenizer-model-from-checkpoint-args",
      "no-yarn-correction-range-round-to-int", "nvtx-ranges", "one-logger-async", "openai-gelu",
      "optimizer-cpu-offload", "optimizer-cuda-graph", "output-bert-embeddings", "overlap-cpu-optimizer-d2h-h2d",
      "overlap-dispatch-backward-with-experts-wgrad", "overlap-grad-reduce", "overlap-moe-expert-parallel-comm",
      "overlap-p2p-communication-warmup-flush", "overlap-param-gather", "overlap-param-gather-with-optimizer-step",
      "override-opt-param-scheduler", "override-opt_param-scheduler", "perform-rl-step", "profile",
      "pytorch-profiler-collect-callstack", "pytorch-profiler-collect-chakra", "pytorch-profiler-collect-shapes",
      "qk-clip", "qk-l2-norm", "qk-layernorm", "quick-geglu", "recompute-activations", "record-memory-history",
      "record-shapes", "replication", "reset-attention-mask", "reset-position-ids", "retriever-score-scaling",
      "reuse-grad-buf-for-mxfp8-param-ag", "rl-inference-logprobs-is-correction",
      "rl-offload-inference-model-weights-when-idle", "rl-offload-optimizer-during-inference", "rl-partial-rollouts",
      "rl-persist-cuda-graphs", "rl-profile", "rl-skip-bos-token", "rl-training-cuda-graphs",
      "rl-use-sequence-packing", "rl-verify-model-weights-swap", "rotary-interleaved",
      "run-workload-inspector-server", "sequence-parallel", "sft", "skip-train", "squared-relu", "swiglu",
      "te-rng-tracker", "test-mode", "tokenizer-hf-no-include-special-tokens", "tokenizer-hf-no-use-fast",
      "tokenizer-sentencepiece-legacy", "torch-fsdp2-no-reshard-after-forward", "tp-comm-overlap",
      "tp-comm-overlap-rs-dgrad", "trust-remote-code", "untie-embeddings-and-output-weights", "use-checkpoint-args",
      "use-checkpoint-opt-param-scheduler", "use-checkpoint-opt_param-scheduler", "use-cpu-initialization",
      "use-dist-ckpt", "use-distributed-optimizer", "use-flash-attn", "use-fused-mhc",
      "use-fused-weighted-squared-relu", "use-grouped-gemm-for-dense-mlp", "use-grouped-gemm-for-shared-expert",
      "use-kitchen-attention", "use-legacy-static-engine", "use-mcore-models", "use-megatron-fsdp",
      "use-mok-megakernel", "use-mp-args-from-checkpoint-args", "use-mup", "use-nccl-ub", "use-one-sent-docs",
      "use-persistent-ckpt-worker", "use-precision-aware-optimizer", "use-pytorch-profiler", "use-ring-exchange-p2p",
      "use-rope-scaling", "use-rotary-position-embeddings", "use-same-sampling-seed-across-dp-ranks", "use-sharp",
      "use-te-activation-func", "use-torch-fsdp2", "use-torch-optimizer-for-cpu-offload", "use-tp-pp-dp-mapping",
      "use-transformer-engine-op-fuser", "verify-integrity", "vision-pretraining",
      "yarn-correction-range-round-to-int"
         }) {
      k[n] = Takes::kNone;
    }
    // Value arguments.
    for (const char* n : {
      "activation-func-clamp-value", "activation-offload-fraction", "actual-vocab-size", "adam-beta1", "adam-beta2",
      "adam-eps", "adlr-autoresume-interval", "app-tag-run-name", "app-tag-run-version", "async-ckpt-cpu-priority",
      "async-ckpt-io-priority", "async-strategy", "async-write-results-mp-mode", "attention-backend",
      "attention-dropout", "batch-size", "bert-embedder-type", "bert-load", "biencoder-projection-dim",
      "block-data-path", "chat-template", "check-weight-hash-across-dp-replicas-interval", "ckpt-convert-format",
      "ckpt-convert-save", "ckpt-format", "ckpt-fully-parallel-load-exchange-algo",
      "ckpt-fully-parallel-load-process-group", "ckpt-fully-parallel-save-process-group", "ckpt-step",
      "classes-fraction", "clip-grad", "config-logger-dir", "context-parallel-size", "cp-partition-mode",
      "cpu-offloading-num-layers", "cross-entropy-fusion-impl", "csa-compress-rotary-base", "csa-window-size",
      "cuda-graph-impl", "cuda-graph-warmup-steps", "data-args-path", "data-cache-path",
      "data-parallel-sharding-strategy", "data-per-class-fraction", "dataloader-type", "ddp-bucket-size",
      "ddp-num-buckets", "decoder-first-pipeline-num-layers", "decoder-last-pipeline-num-layers",
      "decoder-num-layers", "decoder-seq-length", "decoupled-lr", "decoupled-min-lr",
      "delta-offload-bytes-across-pp-ranks", "dino-bottleneck-size", "dino-freeze-last-layer",
      "dino-head-hidden-size", "dino-local-crops-number", "dino-local-img-size", "dino-teacher-temp",
      "dino-warmup-teacher-temp", "dino-warmup-teacher-temp-epochs", "dist-ckpt-format", "dist-ckpt-strictness",
      "dist-ckpt-workers", "distributed-backend", "distributed-timeout-minutes",
      "distributed-timeout-seconds-after-init", "dsa-indexer-head-dim", "dsa-indexer-k-norm-epsilon",
      "dsa-indexer-loss-coeff", "dsa-indexer-n-heads", "dsa-indexer-skip-topk-offset", "dsa-indexer-topk",
      "dsa-indexer-topk-freq", "dsa-kernel-backend", "dump-param-to-param-group-map", "embedding-init-method-std",
      "embedding-path", "empty-unused-memory-level", "encoder-num-layers", "encoder-seq-length", "end-weight-decay",
      "error-injection-rate", "error-injection-type", "eval-global-batch-size", "eval-interval", "eval-iters",
      "eval-micro-batch-size", "evidence-data-path", "exit-duration-in-mins", "exit-interval", "exit-signal",
      "exp-avg-dtype", "exp-avg-sq-dtype", "experimental-attention-variant", "expert-model-parallel-size",
      "expert-tensor-parallel-size", "fault-injector-delay-start-iteration", "fault-injector-fault-delay",
      "fault-injector-fault-probabilities", "fault-injector-fault-types", "fault-injector-mtti-seconds",
      "fault-injector-num-ranks", "fault-injector-offset-seconds", "fault-injector-ranks", "fault-injector-seed",
      "ffn-hidden-size", "fim-eod-token", "fim-fragment-rate", "fim-middle-token", "fim-no-prefix", "fim-pad-token",
      "fim-prefix-token", "fim-rate", "fim-split-sample", "fim-spm-rate", "fim-suffix-token",
      "fine-grained-offloading-max-inflight-offloads", "flight-recorder-dump-path",
      "flight-recorder-trace-buffer-size", "fp4-format", "fp4-quantizer-factory", "fp4-recipe",
      "fp8-amax-compute-algo", "fp8-amax-history-len", "fp8-format", "fp8-interval", "fp8-margin",
      "fp8-quantizer-factory", "fp8-recipe", "ft-num-warmup-iters", "gdn-conv-pad-alignment", "global-batch-size",
      "glu-linear-offset", "gpu-sniff-test-interval", "grpo-clamp-eps-lower", "grpo-clamp-eps-upper",
      "grpo-entropy-term-weight", "grpo-group-size", "grpo-iterations", "grpo-kl-beta", "grpo-prompts-per-step",
      "head-lr-mult", "heterogeneous-layers-config-encoded-json", "heterogeneous-layers-config-path",
      "hidden-dropout", "hidden-size", "hybrid-layer-pattern", "hybrid-override-pattern", "hysteresis",
      "ict-head-size", "ict-load", "img-h", "img-w", "indexer-batch-size", "indexer-log-interval",
      "inference-batch-times-seqlen-threshold", "inference-coordinator-port", "inference-cuda-graph-max-tokens",
      "inference-cuda-graph-scope", "inference-dynamic-batching-async-sched-mode",
      "inference-dynamic-batching-block-size", "inference-dynamic-batching-buffer-size-gb",
      "inference-dynamic-batching-cuda-graph-mixed-prefill-count",
      "inference-dynamic-batching-cuda-graph-sizing-distribution", "inference-dynamic-batching-logprobs-mode",
      "inference-dynamic-batching-mamba-memory-ratio", "inference-dynamic-batching-max-requests",
      "inference-dynamic-batching-max-tokens", "inference-dynamic-batching-num-cuda-graphs",
      "inference-dynamic-batching-paused-buffer-size-gb",
      "inference-dynamic-batching-prefix-caching-coordinator-policy",
      "inference-dynamic-batching-prefix-caching-eviction-policy",
      "inference-dynamic-batching-prefix-caching-mamba-gb", "inference-dynamic-batching-prefix-caching-routing-alpha",
      "inference-dynamic-batching-sampling-backend", "inference-dynamic-batching-unified-memory-level",
      "inference-grouped-gemm-backend", "inference-logging-step-interval", "inference-max-requests",
      "inference-max-seq-length", "inference-moe-token-dispatcher-type", "inference-shards", "init-method-std",
      "initial-loss-scale", "inprocess-active-world-size", "inprocess-barrier-timeout",
      "inprocess-completion-timeout", "inprocess-granularity", "inprocess-hard-timeout",
      "inprocess-heartbeat-interval", "inprocess-heartbeat-timeout", "inprocess-last-call-wait",
      "inprocess-max-iterations", "inprocess-monitor-process-interval", "inprocess-monitor-thread-interval",
      "inprocess-progress-watchdog-interval", "inprocess-soft-timeout", "inprocess-termination-grace-time",
      "iter-per-epoch", "kitchen-attention-backend", "kitchen-config-file", "kitchen-recipe-number", "kv-channels",
      "kv-lora-rank", "langrl-env-config", "linear-attention-freq", "linear-attention-type", "linear-conv-kernel-dim",
      "linear-cp-mode", "linear-key-head-dim", "linear-num-key-heads", "linear-num-value-heads",
      "linear-value-head-dim", "lion-beta1", "lion-beta2", "load", "local-rank", "log-interval",
      "log-memory-interval", "logging-level", "logits-load-decode-threads", "logits-load-dir",
      "logits-load-kd-loss-alpha", "logits-load-msc-prefetch-depth", "logits-load-prefetch-factor", "logits-save-dir",
      "logits-save-dtype", "logits-save-top-k", "logits-save-top-p", "logits-save-top-p-min-k", "loss-scale",
      "loss-scale-window", "lr", "lr-decay-iters", "lr-decay-samples", "lr-decay-style", "lr-warmup-fraction",
      "lr-warmup-init", "lr-warmup-iters", "lr-warmup-samples", "lr-wsd-decay-iters", "lr-wsd-decay-samples",
      "lr-wsd-decay-style", "main-grads-dtype", "main-params-dtype", "make-vocab-size-divisible-by", "mamba-head-dim",
      "mamba-inference-conv-states-dtype", "mamba-inference-ssm-states-dtype", "mamba-num-groups", "mamba-num-heads",
      "mamba-state-dim", "mamba-training-ssm-states-dtype", "manual-gc-interval", "mask-factor", "mask-prob",
      "mask-type", "max-position-embeddings", "max-seqlen-per-dp-cp-rank", "max-tokens-to-oom",
      "megatron-fsdp-grad-comm-dtype", "megatron-fsdp-main-grads-dtype", "megatron-fsdp-main-params-dtype",
      "memory-snapshot-path", "merge-file", "mhc-init-gating-factor", "mhc-recompute-layer-num",
      "mhc-sinkhorn-iterations", "micro-batch-size", "microbatch-group-size-per-virtual-pipeline-stage",
      "mid-level-dataset-surplus", "min-loss-scale", "min-lr", "min-offloaded-tensor-size", "mlp-chunks-for-prefill",
      "mlp-chunks-for-training", "model-parallel-size", "moe-deepep-num-sms", "moe-expert-capacity-factor",
      "moe-expert-rank-capacity-factor", "moe-ffn-hidden-size", "moe-flex-dispatcher-backend",
      "moe-flex-dispatcher-num-sms", "moe-hybridep-num-blocks-permute", "moe-hybridep-num-blocks-unpermute",
      "moe-hybridep-num-sms", "moe-hybridep-num-sms-preprocessing", "moe-input-jitter-eps", "moe-latent-size",
      "moe-layer-freq", "moe-mlp-glu-interleave-size", "moe-n-hash-layers", "moe-paged-stash-buffer-size-factor-cpu",
      "moe-paged-stash-buffer-size-factor-cuda", "moe-paged-stash-page-size", "moe-router-bias-update-rate",
      "moe-router-dtype", "moe-router-force-biased", "moe-router-group-topk", "moe-router-num-groups",
      "moe-router-score-function", "moe-router-topk", "moe-router-topk-scaling-factor",
      "moe-routing-trace-max-training-iters", "moe-routing-trace-path", "moe-shared-expert-glu-interleave-size",
      "moe-shared-expert-intermediate-size", "moe-token-dispatcher-type", "moe-token-drop-policy",
      "moe-upcycling-granularity", "moe-z-loss-coeff", "mok-all-gather-top-experts-chunk-bytes",
      "mok-bwd-num-comm-sms", "mok-fwd-num-comm-sms", "mok-macrobatch-size", "mok-minibatch-size",
      "mok-schedule-capacity-multiplier", "mok-source-mlp-glu-interleave-size", "mscale", "mscale-all-dim",
      "mtp-hybrid-override-pattern", "mtp-loss-scaling-factor", "mtp-num-layers", "muon-coefficient-type",
      "muon-extra-scale-factor", "muon-fp32-matmul-prec", "muon-momentum", "muon-num-ns-steps",
      "muon-scalar-optimizer", "muon-scale-mode", "muon-tp-mode", "mup-attn-scale-power", "mup-base-head-dim",
      "mup-base-hidden-size", "mup-embedding-mult", "mup-output-mult", "mup-width-mult",
      "nccl-communicator-config-path", "no-rope-freq", "no-weight-decay-cond-type", "non-persistent-ckpt-type",
      "non-persistent-global-ckpt-dir", "non-persistent-local-ckpt-algo", "non-persistent-local-ckpt-dir",
      "non-persistent-save-interval", "norm-epsilon", "normalization", "null-tokenizer-eod-id",
      "null-tokenizer-pad-id", "num-attention-heads", "num-channels", "num-classes", "num-dataset-builder-threads",
      "num-distributed-optimizer-instances", "num-experts", "num-layers", "num-layers-at-end-in-bf16",
      "num-layers-at-start-in-bf16", "num-layers-per-virtual-pipeline-stage", "num-query-groups",
      "num-residual-streams", "num-speculative-tokens", "num-virtual-stages-per-pipeline-rank", "num-workers",
      "object-storage-cache-path", "one-logger-project", "one-logger-run-name", "onnx-safe", "optimizer",
      "optimizer-offload-fraction", "outer-dp-sharding-strategy", "override-ckpt-iteration", "padded-vocab-size",
      "patch-dim", "per-dataset-sequences-path", "per-split-data-args-path", "persistent-save-interval",
      "phase-transition-iterations", "pipeline-model-parallel-comm-backend", "pipeline-model-parallel-layout",
      "pipeline-model-parallel-size", "position-embedding-type", "pretrained-checkpoint", "profile-step-end",
      "profile-step-start", "q-lora-rank", "qk-clip-alpha", "qk-clip-threshold", "qk-head-dim", "qk-pos-emb-head-dim",
      "query-in-block-prob", "recompute-granularity", "recompute-method", "recompute-num-layers", "refit-method",
      "relative-attention-max-distance", "relative-attention-num-buckets", "replication-factor", "replication-jump",
      "rerun-mode", "result-rejected-tracker-filename", "rl-consumption-granularity", "rl-default-temperature",
      "rl-default-top-k", "rl-default-top-p", "rl-generation-lag", "rl-importance-sampling-truncation-coef",
      "rl-inference-expert-model-parallel-size", "rl-inference-expert-tensor-model-parallel-size",
      "rl-inference-model-unified-memory-level", "rl-inference-pipeline-model-parallel-size",
      "rl-inference-tensor-model-parallel-size", "rl-kv-cache-management-mode", "rl-profile-dir",
      "rl-prompts-per-eval", "rl-sequence-packing-algo", "rl-sequence-packing-max-sequences-per-bin",
      "rl-submission-granularity", "rope-scaling-factor", "rope-type", "rotary-base", "rotary-percent",
      "rotary-scaling-factor", "rotary-seq-len-interpolation-factor", "sample-rate", "save",
      "save-activations-interval", "save-dgrads-interval", "save-interval", "save-params-interval",
      "save-retain-interval", "save-tokens-per-expert-interval", "save-wgrads-interval", "seed", "seq-length",
      "sft-tokenizer-prompt-format", "sgd-momentum", "sharp-enabled-group", "short-seq-prob", "softmax-type", "split",
      "start-eval-at-iter", "start-weight-decay", "step-batch-size-schedule", "straggler-ctrlr-port",
      "straggler-minmax-count", "suggested-communication-unit-size", "swin-backbone-type", "symmetric-ar-type",
      "te-precision-config-file", "tensor-model-parallel-size", "tensorboard-dir", "tensorboard-log-interval",
      "tensorboard-queue-size", "thd-max-packed-sequences", "tiktoken-num-special-tokens", "tiktoken-pattern",
      "timing-log-level", "timing-log-option", "titles-data-path", "tokenizer-metadata", "tokenizer-model",
      "tokenizer-type", "tp-comm-bootstrap-backend", "tp-comm-overlap-cfg", "train-iters", "train-samples",
      "train-sync-interval", "transformer-impl", "v-head-dim", "vision-backbone-type", "vision-pretraining-type",
      "vocab-extra-ids", "vocab-file", "vocab-size", "wandb-entity", "wandb-exp-name", "wandb-project",
      "wandb-save-dir", "warmup", "weight-decay", "weight-decay-incr-style", "wgrad-deferral-limit",
      "window-attn-skip-freq", "window-size", "yaml-cfg", "yarn-beta-fast", "yarn-beta-slow",
      "yarn-original-max-position-embeddings"
         }) {
      k[n] = Takes::kOne;
    }
    // Lists (nargs '*', '+' or a count).
    for (const char* n : {
      "cp-comm-type", "csa-compress-ratios", "cuda-graph-modules", "cuda-graph-scope", "data-path",
      "ddp-param-name-patterns-for-fp32-local-accumulation", "hierarchical-context-parallel-sizes",
      "high-priority-stream-groups", "iterations-to-skip", "moe-aux-loss-coeff", "moe-router-load-balancing-type",
      "mrope-section", "offload-modules", "profile-ranks", "rampup-batch-size", "recompute-modules",
      "retriever-report-topk-accuracies", "rl-inference-parsers", "rotary-base-per-layer", "spec", "test-data-path",
      "tokenizer-special-tokens", "train-data-path", "valid-data-path", "validation-set-names"
         }) {
      k[n] = Takes::kList;
    }
    return k;
  }();
  return m;
}

const std::set<std::string>& ignored() {
  static const std::set<std::string> s = {
      // In-process restart
      "inprocess-active-world-size", "inprocess-barrier-timeout", "inprocess-completion-timeout",
      "inprocess-empty-cuda-cache", "inprocess-granularity", "inprocess-hard-timeout", "inprocess-heartbeat-interval",
      "inprocess-heartbeat-timeout", "inprocess-last-call-wait", "inprocess-max-iterations",
      "inprocess-monitor-process-interval", "inprocess-monitor-thread-interval",
      "inprocess-progress-watchdog-interval", "inprocess-restart", "inprocess-soft-timeout",
      "inprocess-termination-grace-time",
      // Logits Distillation
      "logits-load-decode-threads", "logits-load-ignore-errors", "logits-load-kd-loss-alpha",
      "logits-load-msc-prefetch-depth", "logits-load-prefetch-factor", "logits-save-dtype", "logits-save-top-k",
      "logits-save-top-p", "logits-save-top-p-min-k",
      // RNG and initialization
      "init-method-xavier-uniform",
      // autoresume
      "adlr-autoresume", "adlr-autoresume-interval",
      // biencoder
      "bert-load", "biencoder-projection-dim", "biencoder-shared-query-context-model", "block-data-path",
      "embedding-path", "evidence-data-path", "ict-head-size", "ict-load", "indexer-batch-size",
      "indexer-log-interval", "query-in-block-prob", "retriever-report-topk-accuracies", "retriever-score-scaling",
      "titles-data-path", "use-one-sent-docs",
      // checkpointing
      "ckpt-fully-parallel-save", "dist-ckpt-format", "dist-ckpt-workers", "override-ckpt-iteration",
      // data and dataloader
      "allow-ambiguous-pad-tokens", "data-args-path", "dataloader-defer-npy-index-mmap", "dataloader-fast-cache-load",
      "dataloader-inter-document-masking", "decoder-seq-length", "disable-create-attention-mask-in-dataloader",
      "fim-data", "fim-eod-token", "fim-fragment-rate", "fim-middle-token", "fim-no-prefix", "fim-pad-token",
      "fim-prefix-token", "fim-rate", "fim-split-sample", "fim-spm-rate", "fim-suffix-token", "mask-prob",
      "mid-level-dataset-surplus", "object-storage-cache-path", "per-dataset-sequences-path",
      "per-split-data-args-path", "phase-transition-iterations", "sample-rate", "short-seq-prob",
      // distributed init
      
      "ddp-param-name-patterns-for-fp32-local-accumulation", "disable-symmetric-registration",
      "enable-full-sharding-in-hsdp", 
      "no-gradient-reduce-div-fusion", "no-use-layer-wise-param-layout", 
      
      // experimental
      "fsdp-db-use-persist-buf-on-alloc-fail", 
      
      
      // ft_package
      "calc-ft-timeouts", "ft-num-warmup-iters",
      // CheckpointConfig
      "async-ckpt-cpu-priority", "async-ckpt-io-priority", "async-ckpt-use-cpu-shm", "async-strategy",
      "async-write-results-mp-mode", "ckpt-convert-format", "ckpt-convert-save",
      "ckpt-convert-update-legacy-dist-opt-format", "ckpt-fully-parallel-load",
      "ckpt-fully-parallel-load-exchange-algo", "ckpt-fully-parallel-load-process-group",
      "ckpt-fully-parallel-save-process-group", "ckpt-step", "disable-ckpt-load-validate-sharding-integrity",
      "disable-strict-fsdp-dtensor-load", "disable-use-tokenizer-model-from-checkpoint-args",
      "dist-ckpt-optim-fully-reshardable", "dist-ckpt-save-pre-mcore-014",
      "distrib-optim-fully-reshardable-mem-efficient", "exit-on-missing-checkpoint", "finetune",
      "load-main-params-from-ckpt", "no-ckpt-fully-parallel-save", "no-ckpt-load-validate-sharding-integrity",
      "no-strict-fsdp-dtensor-load", "no-use-tokenizer-model-from-checkpoint-args", "non-persistent-ckpt-type",
      "non-persistent-global-ckpt-dir", "non-persistent-local-ckpt-algo", "non-persistent-local-ckpt-dir",
      "non-persistent-save-interval", "persistent-save-interval", "pretrained-checkpoint", "replication",
      "replication-factor", "replication-jump", "save-activations-interval", "save-dgrads-interval",
      "save-params-interval", "save-retain-interval", "save-tokens-per-expert-interval", "save-wgrads-interval",
      "use-mp-args-from-checkpoint-args", "use-persistent-ckpt-worker", "verify-integrity",
      // DistributedInitConfig
      "disable-flight-recorder-dump-on-timeout", "disable-flight-recorder-extra-dump-on-exec",
      "disable-flight-recorder-include-only-active", "disable-gloo-process-groups",
      "distributed-timeout-seconds-after-init", "flight-recorder-dump-path", "flight-recorder-include-stack-trace",
      "flight-recorder-trace-buffer-size", "lazy-mpu-init", "local-rank", "no-flight-recorder-dump-on-timeout",
      "no-flight-recorder-extra-dump-on-exec", "no-flight-recorder-include-only-active", "sharp-enabled-group",
      // FaultInjectorConfig
      "fault-injector-delay-start-iteration", "fault-injector-fault-delay", "fault-injector-fault-probabilities",
      "fault-injector-fault-types", "fault-injector-mtti-seconds", "fault-injector-num-ranks",
      "fault-injector-offset-seconds", "fault-injector-ranks", "fault-injector-seed",
      // LoggerConfig
      "disable-log-loss-scale-to-tensorboard", "log-device-memory-used", "log-energy", "log-max-attention-logit",
      "log-memory-interval", "log-world-size-to-tensorboard", "moe-routing-trace-capture-hidden-states",
      "moe-routing-trace-capture-logits", "moe-routing-trace-dump-weights", "moe-routing-trace-max-training-iters",
      "moe-routing-trace-path", "no-barrier-with-level-1-timing", "no-log-loss-scale-to-tensorboard",
      "timing-log-option", "wandb-entity",
      // ProfilingConfig
      "memory-snapshot-path", "nvtx-ranges", "pytorch-profiler-collect-callstack", "pytorch-profiler-collect-chakra",
      "pytorch-profiler-collect-shapes", "record-shapes", "use-pytorch-profiler",
      // RNGConfig
      "inference-rng-tracker",
      // RerunStateMachineConfig
      "error-injection-rate", "error-injection-type",
      // SchedulerConfig
      "lr-wsd-decay-iters", "lr-wsd-decay-samples", "lr-wsd-decay-style", "use-checkpoint-opt-param-scheduler",
      // StragglerDetectionConfig
      "disable-straggler-on-startup", "straggler-ctrlr-port", "straggler-minmax-count",
      // TokenizerConfig
      "chat-template", "disable-pad-vocab-size", "disable-tokenizer-sentencepiece-ignore-extra-whitespaces",
      "no-pad-vocab-size", "no-tokenizer-sentencepiece-ignore-extra-whitespaces", "null-tokenizer-eod-id",
      "null-tokenizer-pad-id", "tiktoken-num-special-tokens", "tokenizer-hf-no-include-special-tokens",
      "tokenizer-hf-no-use-fast", "tokenizer-metadata", "tokenizer-sentencepiece-legacy", "tokenizer-special-tokens",
      "trust-remote-code", "vocab-extra-ids",
      // TrainingConfig
      "decrease-batch-size-if-needed", "disable-manual-gc-eval", "exit-signal", "exit-signal-handler",
      "exit-signal-handler-for-dataloader", "exit-signal-handler-for-training", "gpu-sniff-test-interval",
      "iterations-to-skip", "no-manual-gc-eval", "train-sync-interval",
      // TransformerConfig
      "activation-func-clamp-value", "activation-offload-fraction", "actual-vocab-size",
      "apply-residual-connection-post-layernorm", "config-logger-dir", "cpu-offloading-retain-pinned-cpu-buffers",
      "csa-compress-ratios", "csa-compress-rotary-base", "csa-dense-mode", "csa-window-size",
      "delay-offload-until-cuda-graph", "delta-offload-bytes-across-pp-ranks", "disable-apply-dsa-kernel-fusion",
      "disable-clone-scatter-output-in-embedding", "disable-dsa-indexer-rotate-activation",
      "disable-dsa-indexer-scoring-relu", "disable-mamba-mem-eff-path", "disable-mok-use-mxfp8-weights",
      "dsa-indexer-head-dim", "dsa-indexer-k-norm-epsilon", "dsa-indexer-k-norm-fp32", "dsa-indexer-loss-coeff",
      "dsa-indexer-n-heads", "dsa-indexer-rope-interleaved", "dsa-indexer-skip-topk-offset", "dsa-indexer-topk",
      "dsa-indexer-topk-freq", "dsa-indexer-use-sparse-loss", "dsa-kernel-backend", "embedding-init-method-std",
      "fine-grained-offloading-max-inflight-offloads", "flash-decode", "fp4-quantizer-factory", "fp8-interval",
      "fp8-margin", "gdn-conv-pad-alignment", "gdn-pre-gated-delta-rule-fusion", "glu-linear-offset",
      "high-priority-a2a-comm-stream", "inference-cuda-graph-scope", "inference-disable-triton-nvls-kernels",
      "inference-fuse-tp-communication", "inference-grouped-gemm-backend",
      "inference-moe-disable-fused-quant-kernels", "inference-moe-token-dispatcher-type",
      "init-model-with-meta-device", "linear-attention-type", "linear-conv-kernel-dim", "linear-cp-mode",
      "linear-key-head-dim", "linear-num-key-heads", "linear-num-value-heads", "linear-value-head-dim",
      "log-moe-overload-factor", "mamba-head-dim", "mamba-num-groups", "mamba-num-heads", "mamba-state-dim",
      "mhc-init-gating-factor", "mhc-recompute-layer-num", "mhc-sinkhorn-iterations", "min-offloaded-tensor-size",
      "mlp-chunks-for-prefill", "moe-enable-routing-replay", "moe-mlp-glu-interleave-size",
      "moe-pad-experts-for-cuda-graph-inference", "moe-paged-stash-buffer-size-factor-cpu",
      "moe-paged-stash-buffer-size-factor-cuda", "moe-paged-stash-page-size", "moe-router-force-biased",
      "moe-shared-expert-glu-interleave-size", "moe-single-grouped-bias", "moe-single-grouped-weight",
      "mok-all-gather-top-experts-chunk-bytes", "mok-bwd-num-comm-sms", "mok-fwd-num-comm-sms", "mok-macrobatch-size",
      "mok-minibatch-size", "mok-scale-router-before-fc2", "mok-schedule-capacity-multiplier",
      "mok-source-mlp-glu-interleave-size", "mrope-interleaved", "mrope-section", "mup-attn-scale-power",
      "mup-base-head-dim", "mup-base-hidden-size", "mup-embedding-mult", "mup-output-mult", "mup-width-mult",
      "nccl-all-reduce-for-prefill", "no-apply-dsa-kernel-fusion", "no-clone-scatter-output-in-embedding",
      "no-dsa-indexer-rotate-activation", "no-dsa-indexer-scoring-relu", "no-initialization",
      "no-mok-use-mxfp8-weights", "num-residual-streams", "offload-modules", "qk-clip", "qk-clip-alpha",
      "qk-clip-threshold", "rotary-base-per-layer", "thd-max-packed-sequences", "tp-comm-bootstrap-backend",
      "use-cpu-initialization", "use-fused-mhc", "use-mup",
      // ValidationConfig (its batch sizes, the full validation set and the first evaluation's iteration: not modelled)
      "test-mode", "validation-set-names",
      // inference
      "bert-embedder-type", "decode-only-cuda-graphs", "enable-chunked-prefill",
      "inference-batch-times-seqlen-threshold", "inference-coordinator-port", "inference-cuda-graph-all-prefills",
      "inference-cuda-graph-max-tokens", "inference-disable-ep-consensus", "inference-dynamic-batching",
      "inference-dynamic-batching-async-sched-mode", "inference-dynamic-batching-block-size",
      "inference-dynamic-batching-buffer-size-gb", "inference-dynamic-batching-cuda-graph-mixed-prefill-count",
      "inference-dynamic-batching-cuda-graph-sizing-distribution", "inference-dynamic-batching-logprobs-mode",
      "inference-dynamic-batching-mamba-memory-ratio", "inference-dynamic-batching-max-requests",
      "inference-dynamic-batching-max-tokens", "inference-dynamic-batching-num-cuda-graphs",
      "inference-dynamic-batching-paused-buffer-size-gb", "inference-dynamic-batching-prefix-caching",
      "inference-dynamic-batching-prefix-caching-coordinator-policy",
      "inference-dynamic-batching-prefix-caching-eviction-policy",
      "inference-dynamic-batching-prefix-caching-mamba-gb", "inference-dynamic-batching-prefix-caching-routing-alpha",
      "inference-dynamic-batching-sampling-backend", "inference-dynamic-batching-track-generated-token-events",
      "inference-dynamic-batching-track-paused-request-events", "inference-dynamic-batching-unified-memory-level",
      "inference-logging-step-interval", "inference-max-requests", "inference-max-seq-length", "inference-shards",
      "inference-text-gen-server-logging", "inference-use-synchronous-zmq-collectives", "inference-wandb-logging",
      "mamba-inference-conv-states-dtype", "mamba-inference-ssm-states-dtype", "max-tokens-to-oom",
      "no-inference-disable-ep-consensus", "no-inference-dynamic-batching-prefix-caching",
      "no-inference-text-gen-server-logging", "no-inference-use-synchronous-zmq-collectives",
      "no-inference-wandb-logging", "num-speculative-tokens", "output-bert-embeddings", "use-legacy-static-engine",
      "use-same-sampling-seed-across-dp-ranks",
      // mixed precision
      "mamba-training-ssm-states-dtype",
      // mla
      "cache-mla-latents",
      // moe
      "moe-upcycling-granularity",
      // msc
      "disable-msc", "enable-msc",
      // network size
      "bert-no-binary-head", "decoder-num-layers", "no-rope-freq", "no-yarn-correction-range-round-to-int",
      "onnx-safe", "openai-gelu", "relative-attention-max-distance", "relative-attention-num-buckets",
      "rotary-seq-len-interpolation-factor", "window-attn-skip-freq", "yarn-beta-fast", "yarn-beta-slow",
      "yarn-correction-range-round-to-int", "yarn-original-max-position-embeddings",
      // one logger
      "app-tag-run-name", "app-tag-run-version", "no-one-logger", "one-logger-async", "one-logger-project",
      "one-logger-run-name",
      // regularization
      "apply-wd-to-qk-layernorm", "lion-beta1", "lion-beta2", "muon-coefficient-type", "muon-extra-scale-factor",
      "muon-fp32-matmul-prec", "muon-momentum", "muon-nesterov", "muon-no-split-qkv", "muon-num-ns-steps",
      "muon-scalar-optimizer", "muon-scale-mode", "muon-tp-mode", "no-weight-decay-cond-type", "sgd-momentum",
      // rl
      "grpo-clamp-eps-lower", "grpo-clamp-eps-upper", "grpo-entropy-term-weight",
      "grpo-filter-groups-with-same-reward", "grpo-group-size", "grpo-iterations", "grpo-kl-beta",
      "grpo-prompts-per-step", "langrl-env-config", "no-rl-inference-logprobs-is-correction",
      "no-rl-offload-inference-model-weights-when-idle", "no-rl-partial-rollouts", "no-rl-persist-cuda-graphs",
      "no-rl-skip-bos-token", "no-rl-training-cuda-graphs", "no-rl-use-sequence-packing",
      "no-rl-verify-model-weights-swap", "refit-method", "rl-consumption-granularity", "rl-default-temperature",
      "rl-default-top-k", "rl-default-top-p", "rl-generation-lag", "rl-importance-sampling-truncation-coef",
      "rl-inference-expert-model-parallel-size", "rl-inference-expert-tensor-model-parallel-size",
      "rl-inference-logprobs-is-correction", "rl-inference-model-unified-memory-level", "rl-inference-parsers",
      "rl-inference-pipeline-model-parallel-size", "rl-inference-tensor-model-parallel-size",
      "rl-kv-cache-management-mode", "rl-offload-inference-model-weights-when-idle",
      "rl-offload-optimizer-during-inference", "rl-partial-rollouts", "rl-persist-cuda-graphs", "rl-profile",
      "rl-profile-dir", "rl-prompts-per-eval", "rl-sequence-packing-algo",
      "rl-sequence-packing-max-sequences-per-bin", "rl-skip-bos-token", "rl-submission-granularity",
      "rl-training-cuda-graphs", "rl-use-sequence-packing", "rl-verify-model-weights-swap",
      // sft
      "sft", "sft-tokenizer-prompt-format",
      // training
      "dump-param-to-param-group-map", "no-pin-cpu-grads", "no-pin-cpu-params", "optimizer-offload-fraction",
      "overlap-cpu-optimizer-d2h-h2d", "result-rejected-tracker-filename", "rope-type",
      "use-torch-optimizer-for-cpu-offload",
      // vision
      "classes-fraction", "data-per-class-fraction", "dino-bottleneck-size", "dino-freeze-last-layer",
      "dino-head-hidden-size", "dino-local-crops-number", "dino-local-img-size", "dino-norm-last-layer",
      "dino-teacher-temp", "dino-warmup-teacher-temp", "dino-warmup-teacher-temp-epochs", "head-lr-mult", "img-h",
      "img-w", "iter-per-epoch", "mask-factor", "mask-type", "no-data-sharding", "num-channels", "num-classes",
      "patch-dim", "swin-backbone-type", "vision-backbone-type", "vision-pretraining", "vision-pretraining-type",
      // workload inspector
      "run-workload-inspector-server"
  };
  return s;
}

const std::set<std::string>& not_modelled() {
  static const std::set<std::string> s = {
      "batch-invariant-mode", "cp-partition-mode", "create-all-gather-group", "cuda-graph-dynamic-microbatches",
      "dense-grouped-gemm", "disable-bf16-reduced-precision-matmul", "disable-fp8-wgrad", "disable-jit-fuser",
      "ep-overlap-early-attn-memory-release", "fallback-to-eager-attn", "fp16-lm-cross-entropy", "fp4-param-gather",
      "fp32-residual-connection", "fp8-output-proj", "fp8-quantizer-factory", "fused-residual-rmsnorm",
      "keep-fp8-transpose-cache", "kitchen-attention-backend", "kitchen-config-file", "kitchen-recipe-number",
      "logits-load-dir", "logits-save-dir", "max-seqlen-per-dp-cp-rank", "mla-down-proj-fusion",
      "mlp-chunks-for-training", "moe-deepep-num-sms", "moe-expert-rank-capacity-factor",
      "moe-flex-dispatcher-num-sms", "moe-hybridep-num-blocks-permute", "moe-hybridep-num-blocks-unpermute",
      "moe-hybridep-num-sms-preprocessing", "moe-hybridep-pad-variable-tokens", "moe-n-hash-layers",
      "moe-ncclep-static-shape", "moe-ncclep-use-symm-mem", "moe-paged-stash", "moe-permute-fusion-into-hybridep",
      "moe-shared-expert-gate", "mtp-detach-heads", "mtp-standalone", "mtp-use-repeated-layer",
      "no-fp8-wgrad", "optimizer-cuda-graph", "overlap-dispatch-backward-with-experts-wgrad",
      "qk-l2-norm", "softmax-type", "symmetric-ar-type",
      "te-precision-config-file", "torch-fsdp2-no-reshard-after-forward", "tp-comm-overlap-cfg",
      "tp-comm-overlap-rs-dgrad", "use-fused-weighted-squared-relu", "use-grouped-gemm-for-dense-mlp",
      "use-grouped-gemm-for-shared-expert", "use-kitchen-attention", "use-mok-megakernel", "use-nccl-ub", "use-sharp",
      "use-te-activation-func", "use-transformer-engine-op-fuser",
      // Evaluation (ValidationConfig): another batch for it, the whole validation set each time (as many iterations as
      // the data has), its first iteration; lcsim's evaluation runs eval_iters of the training batch every
      // eval_interval iterations (docs/training.md, "Evaluation").
      "eval-global-batch-size", "eval-micro-batch-size", "full-validation", "multiple-validation-sets",
      "start-eval-at-iter"
  };
  return s;
}

const std::map<std::string, std::string>& rejected() {
  static const std::map<std::string, std::string> m = {
      {"attention-output-gate", "a gated attention output (a further projection) is not modelled"},
      {"batch-size", "no longer valid, use --micro-batch-size instead (Megatron-LM asserts it)"},
      {"checkpoint-activations",
       "no longer valid, use --recompute-activations or --recompute-granularity "
       "and --recompute-method (Megatron-LM exits)"},
      {"cpu-offloading-num-layers", "activations offloaded to host memory are not modelled"},
      {"enable-hyper-connections", "hyper-connections (several residual streams) are not modelled"},
      {"experimental-attention-variant",
       "experimental attention variants (gated delta net, DeepSeek sparse attention) are not modelled"},
      {"fake-process-group", "a fake process group (collectives that move nothing) is not modelled"},
      {"fine-grained-activation-offloading", "activations offloaded to host memory are not modelled"},
      {"freeze-all-layers", "frozen layers (no weight gradients, no optimizer step) are not modelled"},
      {"head-wise-attn-gate", "a head-wise attention gate (a further projection) is not modelled"},
      {"heterogeneous-layers-config-encoded-json", "layers of different shapes are not modelled"},
      {"hybrid-context-parallel", "hybrid context parallelism (packed sequences of variable length) is not modelled"},
      {"hybrid-layer-pattern",
       "hybrid Mamba / attention models are not modelled (lcsim's layers are transformer layers)"},
      {"hybrid-override-pattern",
       "hybrid Mamba / attention models are not modelled (lcsim's layers are transformer layers)"},
      {"is-hybrid-model", "hybrid Mamba / attention models are not modelled (lcsim's layers are transformer layers)"},
      {"linear-attention-freq", "linear-attention layers are not modelled"},
      {"model-parallel-size",
       "no longer valid, use --tensor-model-parallel-size instead (Megatron-LM "
       "asserts it)"},
      {"moe-latent-size", "latent MoE (experts in a projected space) is not modelled"},
      {"mtp-hybrid-override-pattern",
       "hybrid Mamba / attention models are not modelled (lcsim's layers are transformer layers)"},
      {"perform-rl-step", "reinforcement-learning steps (rollouts generated between training steps) are not modelled"},
      {"skip-train", "a run that skips training (evaluation only) is not a training run lcsim models"},
      {"spec", "a custom module spec (layers of another shape) is not modelled"},
      {"warmup", "no longer valid, use --lr-warmup-fraction instead (Megatron-LM asserts it)"},
      {"window-size", "sliding-window attention is not modelled (lcsim's attention is causal over the whole sequence)"},
      {"yaml-cfg", "a YAML configuration file is not read: give its settings as arguments or as workload keys"}
  };
  return m;
}

}  // namespace lcsim::wl::megatron_lm
