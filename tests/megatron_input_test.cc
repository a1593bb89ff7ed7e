// The Megatron workload's input: a pasted Megatron-LM command line imported as scenario keys (what it sets, what it
// leaves out, unknown arguments, job length), and input checks (inconsistent parallelism, out of memory); what the
// line builds (experts, recipes, pipeline stages, recomputation, MoE pattern): megatron_args_model_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "megatron_support.h"
#include "models/hardware/catalog.h"
#include "workloads/training/megatron.h"
#include "workloads/training/megatron_args.h"

namespace lcsim {
namespace {

using megatron_support::config_of;
using megatron_support::parse_with;
using megatron_support::run;

// kBase on one DGX A100 node (8 GPUs, TP 2 PP 4), workload last so that keys can be appended.
std::string kBaseA100() {
  std::string text = megatron_support::kBase;
  const std::string from = "cluster: {accelerator: H100-SXM-80GB, nodes: 4";
  text.replace(text.find(from), from.size(), "cluster: {accelerator: A100-SXM-80GB, nodes: 1");
  const auto w = text.find("workload:");
  const auto sim = text.find("simulation:");
  return text.substr(0, w) + text.substr(sim) + text.substr(w, sim - w);
}

TEST(MegatronInput, CommandLineImportEqualsWrittenKeys) {
  Scenario a = parse_with(R"(workload:
  type: megatron
  megatron_args: >-
    torchrun --nproc_per_node 8 pretrain_gpt.py --num-layers 8 --hidden-size 2048 --num-attention-heads 16
    --seq-length 2048 --vocab-size 32000 --global-batch-size 32 --micro-batch-size 1
    --tensor-model-parallel-size 2 --pipeline-model-parallel-size 4 --sequence-parallel --bf16
    --lr 3e-4 --data-path /data/x --use-distributed-optimizer
)");
  auto* w = dynamic_cast<wl::MegatronTraining*>(a.workload.get());
  ASSERT_NE(w, nullptr);
  const auto& c = w->config();
  EXPECT_EQ(c.model.num_layers, 8);
  EXPECT_EQ(c.model.hidden_size, 2048);
  EXPECT_EQ(c.tensor_model_parallel_size, 2);
  EXPECT_EQ(c.pipeline_model_parallel_size, 4);
  EXPECT_TRUE(c.sequence_parallel);
  EXPECT_TRUE(c.use_distributed_optimizer);
  EXPECT_EQ(c.ignored_args, (std::vector<std::string>{"--lr", "--data-path"}));
  // A script's lines as pasted: backslash continuations and comments ('#' starting a word, to the end of its line).
  Scenario script = parse_with(R"(workload:
  type: megatron
  megatron_args: |
    torchrun --nproc_per_node 8 pretrain_gpt.py \
      --num-layers 8 --hidden-size 2048 --num-attention-heads 16 \
      --seq-length 2048 --vocab-size 32000 --global-batch-size 32 --micro-batch-size 1 \
      --tensor-model-parallel-size 2 --pipeline-model-parallel-size 4  # model parallelism
      # --sequence-parallel  (commented out)
      --bf16 --lr 3e-4 --data-path /data/x#1 --use-distributed-optimizer
)");
  const auto& sc = dynamic_cast<wl::MegatronTraining*>(script.workload.get())->config();
  EXPECT_EQ(sc.pipeline_model_parallel_size, 4);
  EXPECT_FALSE(sc.sequence_parallel);
  EXPECT_TRUE(sc.use_distributed_optimizer);
  EXPECT_EQ(sc.ignored_args, c.ignored_args);  // "/data/x#1": a '#' inside a word is part of it
  // A key written out overrides the command line.
  Scenario b = parse_with(R"(workload:
  type: megatron
  megatron_args: "--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --tensor-model-parallel-size 2"
  tensor_model_parallel_size: 1
)");
  EXPECT_EQ(dynamic_cast<wl::MegatronTraining*>(b.workload.get())->config().tensor_model_parallel_size, 1);
}

TEST(MegatronInput, PastedTrainItersIsTheJobLengthNotTheSimulatedIterations) {
  Scenario a = parse_with(R"(workload:
  type: megatron
  megatron_args: >-
    pretrain_gpt.py --num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048
    --vocab-size 32000 --global-batch-size 32 --micro-batch-size 1 --tensor-model-parallel-size 2
    --pipeline-model-parallel-size 4 --bf16 --train-iters 500000
)");
  const auto& c = dynamic_cast<wl::MegatronTraining*>(a.workload.get())->config();
  EXPECT_EQ(c.train_iters, 1) << "a pasted --train-iters must not become 500,000 simulated iterations";
  EXPECT_EQ(c.job_train_iters, 500000);
  const std::string header = a.workload->describe();
  EXPECT_NE(header.find("\n  job: 500000 iterations (job_train_iters, Megatron's --train-iters); simulated: 1 "
                        "(train_iters); job_time_days, job_gpu_hours and job_tokens extrapolate from the simulated "
                        "iteration"),
            std::string::npos)
      << header;
  // Only the attention and, TP 2 without SP, the input gradient's async all-reduce assumed (the line does not say).
  ASSERT_EQ(c.defaults_taken.size(), 2u) << header;
  EXPECT_EQ(c.defaults_taken[0].rfind("use_flash_attn = true", 0), 0u) << header;
  EXPECT_EQ(c.defaults_taken[1].rfind("tensor_parallel_backward_async_allreduce = true", 0), 0u) << header;
  // train_iters written beside the line is what is simulated.
  Scenario b = parse_with(R"(workload:
  type: megatron
  megatron_args: "--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --train-iters 500000"
  train_iters: 3
)");
  EXPECT_EQ(dynamic_cast<wl::MegatronTraining*>(b.workload.get())->config().train_iters, 3);
  EXPECT_NE(b.workload->describe().find("simulated: 3 (train_iters)"), std::string::npos);
}

TEST(MegatronRun, PastedTrainItersIsExtrapolatedNotSimulated) {
  auto one = run({});
  auto job = run({"workload.megatron_args=--train-iters 500000 --eval-iters 0"});  // evaluation: megatron_eval_test.cc
  ASSERT_FALSE(one.count("child_failed") || job.count("child_failed"));
  EXPECT_EQ(one.count("job_iterations"), 0u) << "no job length, no job metrics";
  EXPECT_EQ(job["iterations"], 1);
  EXPECT_DOUBLE_EQ(job["iteration_time_s"], one["iteration_time_s"]);
  EXPECT_DOUBLE_EQ(job["sim_time_s"], one["sim_time_s"]) << "the job's 500,000 iterations are not simulated";
  EXPECT_DOUBLE_EQ(job["gpu_hours"], one["gpu_hours"]);
  EXPECT_EQ(job["job_iterations"], 500000);
  EXPECT_DOUBLE_EQ(job["job_tokens"], 500000.0 * 32 * 2048);  // global batch 32 x sequence 2048
  EXPECT_NEAR(job["job_time_days"], 500000 * one["iteration_time_s"] / 86400, 1e-9 * job["job_time_days"]);
  EXPECT_NEAR(job["job_gpu_hours"], 500000 * one["iteration_time_s"] * 32 / 3600, 1e-9 * job["job_gpu_hours"]);
}

TEST(MegatronInput, EssentialsAPastedLineLeavesOutAreNamed) {
  const std::string line =
      "--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 --global-batch-size 32 "
      "--micro-batch-size 1 --tensor-model-parallel-size 2 --bf16";
  Scenario a = parse_with("workload:\n  type: megatron\n  megatron_args: \"" + line + "\"\n");
  const auto& c = dynamic_cast<wl::MegatronTraining*>(a.workload.get())->config();
  EXPECT_EQ(c.model.vocab_size, 50304);
  ASSERT_EQ(c.defaults_taken.size(), 3u);  // the vocabulary, fused attention, TP 2 without SP: the async all-reduce
  const std::string header = a.workload->describe();
  EXPECT_NE(header.find("tensor_parallel_backward_async_allreduce = true (input-gradient all-reduce beside the "
                        "weight-gradient GEMM) (Megatron-LM: async since 2022 (allreduce_dgrad), exposed in the 2021 "
                        "code; set false for that code)"),
            std::string::npos)
      << header;
  EXPECT_NE(header.find("\n  megatron_args left out, lcsim's default taken: model.vocab_size = 50304 (Megatron-LM: "
                        "from the tokenizer, padded to a multiple of 128 x TP: give --vocab-size, or --tokenizer-type "
                        "HuggingFaceTokenizer with a --tokenizer-model of a family lcsim knows "
                        "(docs/training-megatron-args.md))"),
            std::string::npos)
      << header;
  // Given on the line, or written out beside it: nothing to name.
  // --no-async-tensor-model-parallel-allreduce is read as the Megatron-LM that honoured it read it, and the header
  // says so (later versions ignore it).
  Scenario given = parse_with("workload:\n  type: megatron\n  megatron_args: \"" + line +
                              " --vocab-size 32000 --attention-backend fused --no-async-tensor-model-parallel-allreduce\"\n");
  const auto& g = dynamic_cast<wl::MegatronTraining*>(given.workload.get())->config();
  EXPECT_TRUE(g.defaults_taken.empty());
  EXPECT_FALSE(g.tensor_parallel_backward_async_allreduce);
  EXPECT_NE(given.workload->describe().find("\n  megatron_args read as: --no-async-tensor-model-parallel-allreduce "
                                            "-> tensor_parallel_backward_async_allreduce = false (honoured"),
            std::string::npos)
      << given.workload->describe();
  Scenario written = parse_with("workload:\n  type: megatron\n  megatron_args: \"" + line +
                                "\"\n  model: {vocab_size: 32000}\n  use_flash_attn: true\n"
                                "  tensor_parallel_backward_async_allreduce: true\n");
  EXPECT_TRUE(dynamic_cast<wl::MegatronTraining*>(written.workload.get())->config().flags_read.empty());
  EXPECT_TRUE(dynamic_cast<wl::MegatronTraining*>(written.workload.get())->config().defaults_taken.empty());
  EXPECT_EQ(written.workload->describe().find("default taken"), std::string::npos);
  // A bare line: every essential is named, with the value used.
  Scenario bare = parse_with("workload:\n  type: megatron\n  megatron_args: \"--tensor-model-parallel-size 2\"\n");
  const auto& taken = dynamic_cast<wl::MegatronTraining*>(bare.workload.get())->config().defaults_taken;
  std::string all;
  for (const auto& t : taken) all += t + "\n";
  EXPECT_EQ(taken.size(), 10u) << all;
  for (const char* key : {"model.num_layers = 24 ", "model.hidden_size = 2048 ", "model.num_attention_heads = 16 ",
                          "model.seq_length = 2048 ", "model.vocab_size = 50304 ", "global_batch_size = 512 ",
                          "micro_batch_size = 1 ", "precision = bf16 (Megatron-LM: fp32 without --bf16",
                          "use_flash_attn = true (fused attention)", "tensor_parallel_backward_async_allreduce = true "}) {
    EXPECT_NE(all.find(key), std::string::npos) << key << " in\n" << all;
  }
  // A workload written out as keys (no pasted line) names nothing: its defaults are documented keys.
  Scenario keys = parse_with("workload:\n  type: megatron\n  tensor_model_parallel_size: 2\n");
  EXPECT_TRUE(dynamic_cast<wl::MegatronTraining*>(keys.workload.get())->config().defaults_taken.empty());
}

// Megatron-LM's validate_args: --bf16 forces fp32 gradients unless --grad-reduce-in-bf16 (which wins over
// --accumulate-allreduce-grads-in-fp32); --fp16 keeps 16-bit gradients unless the fp32 flag is given.
TEST(MegatronInput, GradientTypeFollowsMegatronsValidateArgs) {
  auto grads_fp32 = [](const std::string& flags) {
    return config_of(parse_with("workload:\n  type: megatron\n  megatron_args: \"--num-layers 8 " + flags + "\"\n"))
        .accumulate_allreduce_grads_in_fp32;
  };
  EXPECT_TRUE(grads_fp32("--bf16"));
  EXPECT_FALSE(grads_fp32("--bf16 --grad-reduce-in-bf16"));
  EXPECT_FALSE(grads_fp32("--bf16 --accumulate-allreduce-grads-in-fp32 --grad-reduce-in-bf16"));
  EXPECT_FALSE(grads_fp32("--fp16"));
  EXPECT_TRUE(grads_fp32("--fp16 --accumulate-allreduce-grads-in-fp32"));
  EXPECT_FALSE(grads_fp32("--fp16 --grad-reduce-in-bf16")) << "only bf16 reads --grad-reduce-in-bf16";
  // The gradient buffers hold half the bytes with 16-bit gradients (memory.cc: grad_bytes 4 or 2 per parameter).
  const auto fp32 = run({"workload.megatron_args=--bf16"});
  const auto bf16 = run({"workload.megatron_args=--bf16 --grad-reduce-in-bf16"});
  ASSERT_TRUE(fp32.count("memory_gradients_bytes") && bf16.count("memory_gradients_bytes"));
  EXPECT_GT(fp32.at("memory_gradients_bytes"), 0);
  EXPECT_DOUBLE_EQ(bf16.at("memory_gradients_bytes") * 2, fp32.at("memory_gradients_bytes"));
}

// Megatron-LM's own H100 example (examples/llama/train_llama3_8b_h100_fp8.sh, less --fp8-param-gather, which lcsim
// does not model yet) is accepted: what it passes for learning rates, the mock tokenizer, the dataset, profiling
// and the allocator is listed as ignored.
TEST(MegatronInput, MegatronLmsLlama3ExampleLineIsAccepted) {
  const Scenario sc = parse_with(R"(workload:
  type: megatron
  megatron_args: >-
    --use-mcore-models --num-layers 4 --hidden-size 4096 --ffn-hidden-size 14336 --num-attention-heads 32
    --group-query-attention --num-query-groups 8 --kv-channels 128 --seq-length 8192 --max-position-embeddings 8192
    --position-embedding-type rope --rotary-base 1000000 --rotary-percent 1.0 --attention-dropout 0.0
    --hidden-dropout 0.0 --swiglu --init-method-std 0.0134 --attention-backend fused --apply-layernorm-1p
    --untie-embeddings-and-output-weights --disable-bias-linear --micro-batch-size 1 --global-batch-size 128
    --lr 0.00015 --min-lr 0.00001 --decoupled-lr 5.0e-4 --decoupled-min-lr 4.5e-5 --lr-decay-style cosine
    --clip-grad 1.0 --bf16 --grad-reduce-in-bf16 --calculate-per-token-loss --manual-gc
    --empty-unused-memory-level 1 --fp8-format hybrid --fp8-amax-history-len 1024 --fp8-amax-compute-algo max
    --tensor-model-parallel-size 1 --context-parallel-size 1 --use-distributed-optimizer --overlap-grad-reduce
    --overlap-param-gather --mock-data --tokenizer-type NullTokenizer --vocab-size 128256
    --tiktoken-pattern v2 --split '99,1,0' --no-create-attention-mask-in-dataloader --no-mmap-bin-files
    --num-workers 1 --log-throughput --profile --profile-step-start 4 --profile-step-end 6
    --ckpt-format torch_dist --distributed-timeout-minutes 60
)");
  const auto& c = config_of(sc);
  EXPECT_EQ(c.precision, "fp8");
  EXPECT_FALSE(c.accumulate_allreduce_grads_in_fp32);
  for (const char* arg : {"--decoupled-lr", "--tiktoken-pattern", "--no-mmap-bin-files", "--profile-step-end",
                          "--empty-unused-memory-level"}) {
    EXPECT_NE(std::find(c.ignored_args.begin(), c.ignored_args.end(), arg), c.ignored_args.end()) << arg;
  }
}

TEST(MegatronInput, EveryKnownArgumentIsDocumented) {
  std::ifstream in("docs/training-megatron-args.md");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  ASSERT_FALSE(doc.empty());
  for (const auto& names : {wl::megatron_arg_names(), wl::megatron_ignored_arg_names()}) {
    for (const auto& n : names) EXPECT_NE(doc.find("`--" + n + "`"), std::string::npos) << n;
  }
}

// Two flags Megatron-core accepts where they change nothing lcsim costs, as NVIDIA's DeepSeek-V3 GB200 line passes
// them: --moe-router-pre-softmax with --moe-router-score-function sigmoid (read for softmax only) and --qk-layernorm
// with --multi-latent-attention (the latents' norms, which lcsim's multi-latent attention always has). Both are
// listed as ignored; the same keys written in the scenario stay errors, as they are there.
TEST(MegatronInput, FlagsWithoutEffectInTheirContextAreIgnoredAsMegatronDoes) {
  const std::string model =
      "--num-layers 4 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 --vocab-size 32000 "
      "--global-batch-size 32 --micro-batch-size 1 --bf16 --num-experts 8 --moe-router-topk 2 "
      "--moe-router-score-function sigmoid --moe-router-pre-softmax --multi-latent-attention --q-lora-rank 512 "
      "--kv-lora-rank 256 --qk-head-dim 64 --qk-pos-emb-head-dim 32 --v-head-dim 64 --qk-layernorm";
  const Scenario sc = parse_with("workload:\n  type: megatron\n  megatron_args: \"" + model + "\"\n");
  const auto& c = config_of(sc);
  EXPECT_TRUE(c.model.multi_latent_attention);
  EXPECT_FALSE(c.model.qk_layernorm);
  EXPECT_FALSE(c.model.moe_router_pre_softmax);
  for (const char* arg : {"--moe-router-pre-softmax", "--qk-layernorm"}) {
    EXPECT_NE(std::find(c.ignored_args.begin(), c.ignored_args.end(), arg), c.ignored_args.end()) << arg;
  }
  const std::string bad = megatron_support::parse_error_with(R"(workload:
  type: megatron
  model: {num_layers: 4, hidden_size: 2048, num_attention_heads: 16, seq_length: 2048, vocab_size: 32000,
          num_experts: 8, moe_router_topk: 2, moe_router_score_function: sigmoid, moe_router_pre_softmax: true}
  global_batch_size: 32
  micro_batch_size: 1
)");
  EXPECT_NE(bad.find("moe_router_pre_softmax"), std::string::npos) << bad;
}

// Arguments of production lines (NVIDIA's and others' training scripts): read into keys (--use-te,
// --use-tp-pp-dp-mapping), ignored (checkpointing, numerics), accepted but named in the run header as not modelled
// (CUDA graphs, with its scope's values taken along), or rejected with the reason at their column.
TEST(MegatronInput, ProductionArgumentsAreReadIgnoredOrRejected) {
  const std::string model =
      "--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 --vocab-size 32000 "
      "--global-batch-size 32 --micro-batch-size 1 --bf16 ";
  const Scenario sc = parse_with("workload:\n  type: megatron\n  megatron_args: \"" + model +
                                 "--use-te --use-tp-pp-dp-mapping --async-save --te-rng-tracker "
                                 "--enable-cuda-graph --cuda-graph-scope attn mlp --num-experts 8 --expert-model-parallel-size 2 "
                                 "--delay-wgrad-compute --overlap-moe-expert-parallel-comm "
                                 "--num-distributed-optimizer-instances 1 --enable-experimental "
                                 "--override-opt-param-scheduler --weight-decay-incr-style constant "
                                 "--moe-hybridep-num-sms 32 --auto-detect-ckpt-format\"\n");
  const auto& c = dynamic_cast<wl::MegatronTraining&>(*sc.workload).config();
  EXPECT_EQ(c.parallel_order, "tp-cp-ep-pp-dp");
  EXPECT_EQ(c.num_distributed_optimizer_instances, 1);  // read into its key (the partial distributed optimizer)
  EXPECT_EQ(c.ignored_args,
            (std::vector<std::string>{"--async-save", "--te-rng-tracker", "--enable-experimental", "--override-opt-param-scheduler",
                                      "--weight-decay-incr-style", "--auto-detect-ckpt-format"}));
  EXPECT_EQ(c.not_modelled_args, (std::vector<std::string>{"--delay-wgrad-compute", "--moe-hybridep-num-sms 32"}));
  EXPECT_EQ(c.cuda_graph_impl, "local");  // read since 4 Dec 2026 (docs/training-cuda-graphs.md)
  EXPECT_EQ(c.cuda_graph_scope, (std::vector<std::string>{"attn", "mlp"}));
  try {
    parse_with("workload:\n  type: megatron\n  megatron_args: \"" + model +
               "--optimizer-cpu-offload --heterogeneous-layers-config-path h.yaml --main-grads-dtype bf16\"\n");
    FAIL() << "no error";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.diagnostics().size(), 3u) << msg;
    EXPECT_NE(msg.find("--optimizer-cpu-offload: optimizer states offloaded to host memory are not modelled"),
              std::string::npos) << msg;
    EXPECT_NE(msg.find("--heterogeneous-layers-config-path: layers of different shapes are not modelled"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--main-grads-dtype bf16 is not modelled"), std::string::npos) << msg;
  }
}

// --delay-wgrad-compute is accepted and not costed (the run header names it), but checked as Megatron-core's
// TransformerConfig checks it, against the line and the keys beside it: it needs the 1F1B all-to-all overlap and
// Transformer Engine's grouped GEMM (not the legacy one).
TEST(MegatronInput, DelayWgradComputeIsCheckedAsMegatronChecksIt) {
  const std::string model =
      "--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 --vocab-size 32000 "
      "--global-batch-size 32 --micro-batch-size 1 --bf16 --num-experts 8 --expert-model-parallel-size 2 ";
  const auto line = [&](const std::string& rest, const std::string& keys = "") {
    return "workload:\n  type: megatron\n  megatron_args: \"" + model + rest + "\"\n" + keys;
  };
  const Scenario sc = parse_with(line("--delay-wgrad-compute --overlap-moe-expert-parallel-comm"));
  EXPECT_EQ(config_of(sc).not_modelled_args, (std::vector<std::string>{"--delay-wgrad-compute"}));
  // The overlap given as a key beside the line counts as Megatron's argument would.
  const Scenario keyed = parse_with(line("--delay-wgrad-compute", "  overlap_moe_expert_parallel_comm: true\n"));
  EXPECT_TRUE(config_of(keyed).overlap_moe_expert_parallel_comm);
  auto error_of = [&](const std::string& rest) {
    try {
      parse_with(line(rest));
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  std::string e = error_of("--delay-wgrad-compute");
  EXPECT_NE(e.find("megatron_args"), std::string::npos) << e;
  EXPECT_NE(e.find("--delay-wgrad-compute needs --overlap-moe-expert-parallel-comm"), std::string::npos) << e;
  e = error_of("--delay-wgrad-compute --overlap-moe-expert-parallel-comm --moe-grouped-gemm --moe-use-legacy-grouped-gemm");
  EXPECT_NE(e.find("--delay-wgrad-compute is not supported with --moe-use-legacy-grouped-gemm"), std::string::npos) << e;
}

TEST(MegatronInput, ExpertOverlapOnACommandLineNeedsVirtualStagesWithPipelineParallelism) {
  const std::string model =
      "--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 --vocab-size 32000 "
      "--global-batch-size 32 --micro-batch-size 1 --bf16 --num-experts 8 --expert-model-parallel-size 2 "
      "--overlap-moe-expert-parallel-comm ";
  const auto line = [&](const std::string& rest, const std::string& keys = "") {
    return "workload:\n  type: megatron\n  megatron_args: \"" + model + rest + "\"\n" + keys;
  };
  auto error_of = [&](const std::string& rest, const std::string& keys = "") {
    return megatron_support::parse_error_with(line(rest, keys));
  };
  // Megatron runs it without pipeline parallelism, and with virtual stages given either way.
  EXPECT_EQ(error_of(""), "");
  EXPECT_EQ(error_of("--pipeline-model-parallel-size 2 --num-layers-per-virtual-pipeline-stage 2"), "");
  EXPECT_EQ(error_of("--pipeline-model-parallel-size 2 --num-virtual-stages-per-pipeline-rank 2"), "");
  const std::string e = error_of("--pipeline-model-parallel-size 2");
  EXPECT_NE(e.find("megatron_args"), std::string::npos) << e;
  EXPECT_NE(e.find("--overlap-moe-expert-parallel-comm with --pipeline-model-parallel-size 2 needs virtual pipeline "
                   "stages"), std::string::npos) << e;
  // The chunks given as a key beside the line count as Megatron's argument would.
  EXPECT_EQ(error_of("--pipeline-model-parallel-size 2", "  num_layers_per_virtual_pipeline_stage: 2\n"), "");
  // The scenario key alone keeps lcsim's 1F1B stand-in, which Megatron cannot run.
  const Scenario keyed = parse_with(
      "workload:\n  type: megatron\n  pipeline_model_parallel_size: 2\n  expert_model_parallel_size: 2\n"
      "  overlap_moe_expert_parallel_comm: true\n  global_batch_size: 32\n  model:\n    num_layers: 8\n"
      "    hidden_size: 2048\n    num_attention_heads: 16\n    seq_length: 2048\n    vocab_size: 32000\n"
      "    num_experts: 8\n");
  EXPECT_TRUE(config_of(keyed).overlap_moe_expert_parallel_comm);
  EXPECT_EQ(config_of(keyed).virtual_stages(), 1);
}

// --deterministic-mode sets deterministic_mode (costed: megatron_determinism_test.cc, DeterministicMode.*). What today's
// Megatron-LM rejects with it (megatron/training/determinism.py, apply_determinism_to_args) is an error at each
// argument: --tp-comm-overlap, --cross-entropy-loss-fusion, --moe-router-fusion (the router's aux-loss fusion
// follows it); --use-flash-attn is accepted (TE's FlashAttention is deterministic on supported configurations).
// Without it all of them are read as before.
TEST(MegatronInput, DeterministicModeIsCheckedAsMegatronChecksIt) {
  const std::string model =
      "--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 --vocab-size 32000 "
      "--global-batch-size 32 --micro-batch-size 1 --bf16 --tensor-model-parallel-size 2 --sequence-parallel ";
  const auto line = [&](const std::string& rest) {
    return "workload:\n  type: megatron\n  megatron_args: \"" + model + rest + "\"\n";
  };
  const Scenario sc = parse_with(line("--deterministic-mode --use-flash-attn"));
  const auto& c = config_of(sc);
  EXPECT_TRUE(c.deterministic_mode);
  EXPECT_TRUE(c.use_flash_attn);
  EXPECT_TRUE(c.not_modelled_args.empty());
  const Scenario fused = parse_with(line("--tp-comm-overlap --cross-entropy-loss-fusion --moe-router-fusion"));
  EXPECT_FALSE(config_of(fused).deterministic_mode);
  EXPECT_TRUE(config_of(fused).tp_comm_overlap);
  EXPECT_TRUE(config_of(fused).cross_entropy_loss_fusion);
  EXPECT_TRUE(config_of(fused).router.moe_router_fusion);
  try {
    parse_with(line("--deterministic-mode --tp-comm-overlap --cross-entropy-loss-fusion --moe-router-fusion"));
    FAIL() << "no error";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    ASSERT_EQ(e.diagnostics().size(), 3u) << msg;
    for (const char* key : {"tp_comm_overlap", "cross_entropy_loss_fusion", "moe_router_fusion"}) {
      EXPECT_NE(msg.find(std::string(key) + ": cannot be used with deterministic_mode (--deterministic-mode): "
                                            "Megatron-LM rejects it"),
                std::string::npos)
          << key << ": " << msg;
    }
  }
  // The same keys written in the scenario are checked alike.
  EXPECT_NE(megatron_support::parse_error_with(line("--deterministic-mode") + "  tp_comm_overlap: true\n")
                .find("tp_comm_overlap: cannot be used with deterministic_mode"),
            std::string::npos);
}

TEST(MegatronInput, UnknownArgumentNamesItAndSuggests) {
  try {
    parse_with("workload:\n  type: megatron\n  megatron_args: \"--num-layer 8\"\n");
    FAIL() << "no error";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("mt.yaml:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'--num-layer'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("did you mean '--num-layers'"), std::string::npos) << msg;
  }
}

TEST(MegatronInput, EveryUnknownArgumentIsReportedAtItsColumn) {
  // Columns (1-based) in the command line: --foo at 16, --bar at 43.
  try {
    parse_with("workload:\n  type: megatron\n  megatron_args: \"--num-layers 8 --foo 3 --hidden-size 2048 --bar\"\n");
    FAIL() << "no error";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.diagnostics().size(), 2u) << msg;
    EXPECT_NE(msg.find("at column 16 of the command line: unknown Megatron argument '--foo'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("at column 43 of the command line: unknown Megatron argument '--bar'"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("'3'"), std::string::npos) << "the unknown argument's value is not a problem of its own: " << msg;
  }
  // A multi-line (folded) line names the line too; a bad value is reported beside an unknown argument.
  try {
    parse_with("workload:\n  type: megatron\n  megatron_args: |\n    --num-layers 8\n    --attention-backend magic --baz\n");
    FAIL() << "no error";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("at line 2 column 1 of the command line: unknown --attention-backend 'magic'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("auto, flash, fused, unfused, local"), std::string::npos) << msg;
    EXPECT_NE(msg.find("at line 2 column 27 of the command line: unknown Megatron argument '--baz'"), std::string::npos) << msg;
  }
}

TEST(MegatronInput, AttentionBackendAndTransformerImplDecideFusedAttention) {
  const std::string line = "--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 "
                           "--vocab-size 32000 --global-batch-size 32 --micro-batch-size 1 --bf16 ";
  auto parse = [&](const std::string& extra) {
    return parse_with("workload:\n  type: megatron\n  megatron_args: \"" + line + extra + "\"\n");
  };
  EXPECT_FALSE(config_of(parse("--attention-backend unfused")).use_flash_attn);
  EXPECT_FALSE(config_of(parse("--attention-backend local")).use_flash_attn);
  EXPECT_TRUE(config_of(parse("--attention-backend fused")).use_flash_attn);
  EXPECT_TRUE(config_of(parse("--attention-backend auto")).use_flash_attn);
  EXPECT_FALSE(config_of(parse("--transformer-impl local")).use_flash_attn) << "Megatron's own layers: unfused";
  EXPECT_TRUE(config_of(parse("--transformer-impl local --use-flash-attn")).use_flash_attn);
  EXPECT_TRUE(config_of(parse("--transformer-impl transformer_engine")).use_flash_attn);
  // The header says what the line asked for and what was run.
  Scenario unfused = parse("--attention-backend unfused");
  EXPECT_NE(unfused.workload->describe().find("megatron_args attention: --attention-backend unfused -> unfused attention"),
            std::string::npos)
      << unfused.workload->describe();
  // Left out: the header names the assumption (fused attention, as Megatron-LM's default Transformer Engine path).
  Scenario plain = parse("");
  const auto& taken = config_of(plain).defaults_taken;
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].rfind("use_flash_attn = true (fused attention) (Megatron-LM: --attention-backend auto", 0), 0u)
      << taken[0];
  EXPECT_NE(plain.workload->describe().find(", fused attention"), std::string::npos);
}

// Which kernel a command line asks for: --attention-backend fused is Transformer Engine's cuDNN fused attention,
// flash the flash-attn package (FlashAttention-2), auto Transformer Engine's own choice (lcsim: the part's default,
// cuDNN on Hopper); --use-flash-attn asks for FlashAttention-2 unless --attention-backend names a kernel.
TEST(MegatronInput, AttentionBackendArgumentsPickTheKernel) {
  const std::string line = "--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 "
                           "--vocab-size 32000 --global-batch-size 32 --micro-batch-size 1 --bf16 ";
  auto backend = [&](const std::string& extra) {
    return config_of(parse_with("workload:\n  type: megatron\n  megatron_args: \"" + line + extra + "\"\n"))
        .attention_backend;
  };
  EXPECT_EQ(backend(""), "auto");
  EXPECT_EQ(backend("--attention-backend auto"), "auto");
  EXPECT_EQ(backend("--attention-backend fused"), "cudnn");
  EXPECT_EQ(backend("--attention-backend flash"), "flash2");
  EXPECT_EQ(backend("--transformer-impl local --use-flash-attn"), "flash2");
  EXPECT_EQ(backend("--use-flash-attn --attention-backend fused"), "cudnn");
  EXPECT_EQ(backend("--attention-backend fused --use-flash-attn"), "cudnn");
  // A key written beside the line overrides it; the header names the kernel run.
  Scenario sc = parse_with("workload:\n  type: megatron\n  megatron_args: \"" + line +
                           "--attention-backend flash\"\n  attention_backend: flash3\n");
  EXPECT_EQ(config_of(sc).attention_backend, "flash3");
  EXPECT_NE(sc.workload->describe().find(", fused attention (flash3)"), std::string::npos) << sc.workload->describe();
  EXPECT_NE(sc.workload->describe().find("--attention-backend flash -> fused attention, attention_backend flash3"),
            std::string::npos)
      << sc.workload->describe();
  EXPECT_NE(parse_with("workload:\n  type: megatron\n  megatron_args: \"" + line + "\"\n")
                .workload->describe()
                .find(", fused attention (cudnn)"),
            std::string::npos);
}

// The key: an unknown kernel names file, line, key and the allowed list; a kernel not measured on the run's part
// names the part and what it has; a kernel with unfused attention is a contradiction.
TEST(MegatronInput, AttentionBackendKeyIsCheckedAgainstTheParts) {
  auto error_of = [](const std::string& workload) -> std::string {
    try {
      parse_with(workload);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  const std::string base = "workload:\n  type: megatron\n  model: {num_layers: 8, hidden_size: 2048, "
                           "num_attention_heads: 16, seq_length: 2048, vocab_size: 32000}\n  global_batch_size: 32\n";
  std::string msg = error_of(base + "  attention_backend: flash5\n");
  EXPECT_NE(msg.find("mt.yaml:9:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("attention_backend"), std::string::npos) << msg;
  EXPECT_NE(msg.find("auto, flash2, flash3, cudnn, flash4"), std::string::npos) << msg;
  msg = error_of(base + "  use_flash_attn: false\n  attention_backend: cudnn\n");
  EXPECT_NE(msg.find("'cudnn' needs use_flash_attn: true"), std::string::npos) << msg;
  EXPECT_EQ(error_of(base + "  use_flash_attn: false\n"), "");
  // On A100 (no measured kernel curve) only auto runs.
  std::string a100 = kBaseA100();
  try {
    parse_scenario(parse_yaml_text(a100 + "  attention_backend: flash2\n", "a.yaml"));
    FAIL() << "no error";
  } catch (const InputError& e) {
    msg = e.what();
    EXPECT_NE(msg.find("a.yaml:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'flash2' has no measured curve on A100-SXM-80GB"), std::string::npos) << msg;
  }
  EXPECT_NO_THROW(parse_scenario(parse_yaml_text(a100, "a.yaml")));
}

// The kernel sets attention's cost: on the same layout FlashAttention-2 is slower than cuDNN (the default), which
// is slower than FlashAttention-3 (1.6x and 1.8x FlashAttention-2 at 8K tokens, less at this run's 2,048).
TEST(MegatronRun, AttentionBackendSetsAttentionsCost) {
  auto fa2 = run({"workload.attention_backend=flash2"});
  auto plain = run({});
  auto cudnn = run({"workload.attention_backend=cudnn"});
  auto fa3 = run({"workload.attention_backend=flash3"});
  EXPECT_EQ(plain["time_compute_s"], cudnn["time_compute_s"]) << "auto is cudnn on H100";
  EXPECT_GT(fa2["time_compute_s"], cudnn["time_compute_s"]);
  EXPECT_GT(cudnn["time_compute_s"], fa3["time_compute_s"]);
}

TEST(MegatronRun, UnfusedAttentionFromTheCommandLineCostsTimeAndMemory) {
  auto fused_run = run({});
  auto unfused_run = run({"workload.megatron_args=--attention-backend unfused"});
  ASSERT_FALSE(fused_run.count("child_failed") || unfused_run.count("child_failed"));
  EXPECT_GT(unfused_run["time_compute_s"], fused_run["time_compute_s"]);
  EXPECT_GT(unfused_run["memory_per_gpu_bytes"], fused_run["memory_per_gpu_bytes"]);
}

TEST(MegatronInput, OutOfMemorySuggestsWhatWouldFit) {
  try {
    Scenario sc = parse_with(R"(workload:
  type: megatron
  model: {num_layers: 32, hidden_size: 8192, num_attention_heads: 64, seq_length: 4096, vocab_size: 32000}
  global_batch_size: 32
  tensor_model_parallel_size: 2
  pipeline_model_parallel_size: 1
)");
    FAIL() << "no error";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("does not fit in memory"), std::string::npos) << msg;
    EXPECT_NE(msg.find("pipeline stage 0"), std::string::npos) << msg;
  }
}

TEST(MegatronInput, InconsistentParallelismIsAnError) {
  // Each case: extra keys, and the key the error must name.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"  pipeline_model_parallel_size: 4\n  tensor_model_parallel_size: 3\n", "tensor_model_parallel_size"},
      {"  pipeline_model_parallel_size: 4\n  global_batch_size: 30\n", "global_batch_size"},
      {"  pipeline_model_parallel_size: 4\n  expert_model_parallel_size: 2\n", "expert_model_parallel_size"},
      {"  pipeline_model_parallel_size: 4\n  parallel_order: tp-dp-pp\n", "parallel_order"},
      {"  pipeline_model_parallel_size: 4\n  overlap_param_gather: true\n", "overlap_param_gather"},
      {"  use_torch_fsdp2: true\n  use_distributed_optimizer: true\n", "use_torch_fsdp2"},
      {"  num_layers_per_virtual_pipeline_stage: 2\n", "num_layers_per_virtual_pipeline_stage"},
  };
  for (const auto& [extra, key] : cases) {
    try {
      parse_with("workload:\n  type: megatron\n  model: {num_layers: 8, hidden_size: 2048, num_attention_heads: 16, "
                 "seq_length: 2048, vocab_size: 32000}\n" + extra);
      ADD_FAILURE() << "no error for: " << extra;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("workload." + key + ":"), std::string::npos) << e.what();
    }
  }
}

// Megatron-LM's --account-for-embedding-in-pipeline-split / --account-for-loss-in-pipeline-split (the split Llama 3
// describes in its section 3.3.2): 6 layers + the embedding's and the loss's places = 8 places, over PP 2 with one
// layer per chunk = 4 chunks per rank, 8 virtual stages of one place each. Virtual stage 0 holds the embedding
// alone, 1-6 one layer each, 7 the output layer and loss alone.
TEST(MegatronInput, EmbeddingAndLossTakeALayersPlaceInThePipelineSplit) {
  const std::string model =
      "--num-layers 6 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 --vocab-size 32000 "
      "--untie-embeddings-and-output-weights --global-batch-size 32 --micro-batch-size 1 "
      "--tensor-model-parallel-size 2 --pipeline-model-parallel-size 2 --num-layers-per-virtual-pipeline-stage 1 --bf16";
  Scenario a = parse_with("workload:\n  type: megatron\n  megatron_args: \"" + model +
                          " --account-for-embedding-in-pipeline-split --account-for-loss-in-pipeline-split\"\n");
  const auto& w = dynamic_cast<const wl::MegatronTraining&>(*a.workload);
  EXPECT_TRUE(w.config().account_for_embedding_in_pipeline_split && w.config().account_for_loss_in_pipeline_split);
  EXPECT_EQ(w.config().virtual_stages(), 4);
  const std::vector<std::pair<int, int>> want = {{0, 0}, {0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 6}, {6, 6}};
  for (int v = 0; v < 8; ++v) EXPECT_EQ(w.layer_range(v), want[static_cast<size_t>(v)]) << "virtual stage " << v;
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const auto p0 = w.plan_stage(part, 0), p1 = w.plan_stage(part, 1);
  EXPECT_EQ(p0.forward[0].segments.size(), 1u) << "the first chunk: the embedding alone";
  EXPECT_EQ(p1.forward[3].segments.size(), 2u) << "the last chunk: final norm and logits alone";
  // Every parameter is in exactly one gradient bucket, as with the even split of the same model (3 chunks of one
  // layer per rank): the output layer of a last chunk with no layer too.
  Scenario even = parse_with("workload:\n  type: megatron\n  megatron_args: \"" + model + "\"\n");
  const auto& e = dynamic_cast<const wl::MegatronTraining&>(*even.workload);
  const double flagged = p0.dense_params + p1.dense_params;
  const double plain = e.plan_stage(part, 0).dense_params + e.plan_stage(part, 1).dense_params;
  EXPECT_NEAR(flagged, plain, 1e-12 * plain);
  EXPECT_NEAR(plain, w.config().model.total_params() / 2, 1e-12 * plain) << "TP 2 holds half of every matrix";
  // With uneven first/last stage sizes as well: one way only, as Megatron-LM requires; places that do not split.
  try {
    parse_with("workload:\n  type: megatron\n  megatron_args: \"" + model +
               " --account-for-loss-in-pipeline-split --decoder-first-pipeline-num-layers 1\"\n");
    FAIL() << "no error";
  } catch (const InputError& x) {
    EXPECT_NE(std::string(x.what()).find("workload.account_for_loss_in_pipeline_split:"), std::string::npos) << x.what();
  }
  try {
    parse_with("workload:\n  type: megatron\n  megatron_args: \"" + model + " --account-for-loss-in-pipeline-split\"\n");
    FAIL() << "no error";
  } catch (const InputError& x) {
    EXPECT_NE(std::string(x.what()).find("7 with the embedding/loss places"), std::string::npos) << x.what();
  }
}

// The all-gather CP exchange (Llama 3's, section 3.3.2: "we first all-gather the key (K) and value (V) tensors")
// gathers the whole sequence's keys and values of this rank's query groups, each CP rank contributing its part:
// 4 groups over TP 2 = 2 per rank, 128 wide, 4,096 tokens, keys and values, 2 bytes: 2 x 4096 x 2 x 128 x 2 =
// 4,194,304 bytes (Collectives sizes an all-gather by its output), the backward's reduce-scatter the same.
TEST(MegatronPlan, TheContextParallelAllGatherMovesTheSequencesKeysAndValuesOnce) {
  Scenario sc = parse_with(R"(workload:
  type: megatron
  model: {num_layers: 8, hidden_size: 2048, num_attention_heads: 16, group_query_attention: true, num_query_groups: 4,
          seq_length: 4096, vocab_size: 32000}
  global_batch_size: 32
  tensor_model_parallel_size: 2
  pipeline_model_parallel_size: 2
  context_parallel_size: 2
  cp_comm_type: allgather
)");
  const auto& w = dynamic_cast<const wl::MegatronTraining&>(*sc.workload);
  const auto plan = w.plan_stage(hw::PartCatalog::get().part("H100-SXM-80GB"), 0);
  using X = wl::MegatronTraining::Exposure;
  std::vector<std::pair<policy::CollectiveOp, double>> seen;
  for (const auto* pass : {&plan.forward[0], &plan.backward[0]}) {
    for (const auto& s : pass->segments) {
      for (const auto& c : s.comms) {
        if (c.kind == X::kCp) seen.push_back({c.op, c.size.bytes()});
      }
    }
  }
  ASSERT_EQ(seen.size(), 8u) << "4 layers: an all-gather forward and a reduce-scatter backward each";
  for (const auto& [op, bytes] : seen) {
    EXPECT_TRUE(op == policy::CollectiveOp::kAllGather || op == policy::CollectiveOp::kReduceScatter);
    EXPECT_DOUBLE_EQ(bytes, 4194304.0);
  }
}

}  // namespace
}  // namespace lcsim
