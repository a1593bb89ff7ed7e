// MoE and MLP layers as Megatron-core runs them beyond the router (docs/training-moe-layers.md): Transformer
// Engine's FP8 padding copies around the grouped experts and the router's padding that removes them; modules
// checkpointed whole (recompute_modules mlp, moe, shared_experts; --moe-layer-recompute): their forward again
// before their backward, only their input kept; the shared expert beside the all-to-alls (with TP, its own gather
// and scatter beside them too); the Megatron arguments and bad settings.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "megatron_support.h"
#include "workloads/training/gpt_model.h"
#include "workloads/training/layer_activations.h"
#include "workloads/training/megatron.h"
#include "workloads/training/moe_permutation.h"
#include "workloads/training/placement.h"

namespace lcsim {
namespace {

using megatron_support::op_bytes;

wl::GptModelConfig moe_model() {
  wl::GptModelConfig m;
  m.num_layers = 2, m.hidden_size = 1024, m.num_attention_heads = 8, m.seq_length = 1024, m.vocab_size = 32000;
  m.num_experts = 8, m.moe_router_topk = 2, m.moe_ffn_hidden_size = 512, m.swiglu = true;
  return m;
}

long count(const std::vector<hw::OpWork>& ops, const std::string& prefix) {
  return std::count_if(ops.begin(), ops.end(), [&](const hw::OpWork& op) { return op.name.starts_with(prefix); });
}

// 1,024 tokens, top 2 of 8 experts, EP 2: each of the 4 local experts gets 2 x 1,024 x 2 / 8 = 512 rows, 2,048 rows
// of 1,024 16-bit elements on the rank: each copy reads and writes 4 MiB.
TEST(MoeLayers, Fp8GroupedExpertsPadAndUnpadTheirRows) {
  const wl::GptModelConfig m = moe_model();
  wl::LayerShard sh;
  sh.ep = 2;
  sh.fp8 = true;
  sh.fp8_expert_padding = true;
  const auto mlp = wl::layer_forward(m, 0, 1, 2, sh).mlp;
  const double rows = 2048, h = 1024;
  EXPECT_DOUBLE_EQ(op_bytes(mlp, "expert_fp8_pad"), 2 * rows * h * 2);
  EXPECT_DOUBLE_EQ(op_bytes(mlp, "expert_fp8_pad_probs"), 8 * rows);
  EXPECT_DOUBLE_EQ(op_bytes(mlp, "expert_fp8_unpad"), 2 * rows * h * 2);
  auto at = [&](const std::string& name) {
    return std::find_if(mlp.begin(), mlp.end(), [&](const hw::OpWork& op) { return op.name == name; }) - mlp.begin();
  };
  // The padding before the first expert GEMM's FP8 cast (which stays next to its GEMM), the unpadding after the
  // second GEMM.
  EXPECT_LT(at("expert_fp8_pad_probs"), at("mlp_up_fp8_cast"));
  EXPECT_EQ(at("mlp_up_fp8_cast") + 1, at("expert_up"));
  EXPECT_EQ(at("expert_down") + 1, at("expert_fp8_unpad"));
  // Backward: each a copy of as many bytes (the padding's a cat of the gradient's unpadded slices, the
  // unpadding's a padding of the gradient).
  const auto bwd = wl::backward_of(mlp, 2);
  EXPECT_DOUBLE_EQ(op_bytes(bwd, "expert_fp8_pad_bwd"), 2 * rows * h * 2);
  EXPECT_DOUBLE_EQ(op_bytes(bwd, "expert_fp8_unpad_bwd"), 2 * rows * h * 2);
  EXPECT_DOUBLE_EQ(op_bytes(bwd, "expert_fp8_pad_probs_bwd"), 8 * rows);
  sh.fp8_expert_padding = false;
  EXPECT_EQ(count(wl::layer_forward(m, 0, 1, 2, sh).mlp, "expert_fp8_"), 0);
}

// Which runs pad (MegatronConfig::layer_shard): TEGroupedMLP with Transformer Engine's FP8 and a dropless
// alltoall dispatcher, unless the router pads its map; never in BF16, with DeepGEMM or SequentialMLP (its own
// per-expert padding).
TEST(MoeLayers, PaddingFollowsTheExpertsModuleAndTheRouter) {
  auto pads = [](std::vector<std::string> sets) {
    sets.insert(sets.begin(), {"workload.model.num_experts=8", "workload.expert_model_parallel_size=2",
                               "workload.sequence_parallel=true"});
    const Scenario sc = megatron_support::parse_sets(sets);
    return dynamic_cast<wl::MegatronTraining&>(*sc.workload).config().layer_shard().fp8_expert_padding;
  };
  EXPECT_TRUE(pads({"workload.precision=fp8"}));
  EXPECT_FALSE(pads({"workload.precision=bf16"}));
  EXPECT_FALSE(pads({"workload.precision=fp8", "workload.moe_router_padding_for_fp8=true"}));
  EXPECT_FALSE(pads({"workload.precision=fp8", "workload.fp8_gemm_backend=deepgemm"}));
  EXPECT_FALSE(pads({"workload.precision=fp8", "workload.moe_grouped_gemm=sequential"}));
  EXPECT_FALSE(pads({"workload.precision=fp8", "workload.moe_expert_capacity_factor=1",
                     "workload.moe_pad_expert_input_to_capacity=true"}));
}

// pad_routing_map's six kernels over the map (1 B per logit read by the sum; ==, int32, int64 cumsum, compare,
// masked fill), no gradient.
TEST(MoeLayers, RouterPaddingKernelsByHand) {
  wl::MoeRouterShape s;
  s.tokens = 1024, s.experts = 8, s.topk = 2, s.hidden = 1024, s.elem_bytes = 2;
  s.run.moe_router_padding_for_fp8 = true;
  const auto ops = wl::moe_router_ops(s).after_gate;
  const double M = 1024 * 8;
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_pad_counts"), M);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_pad_zeros"), 2 * M);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_pad_int"), 5 * M);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_pad_cumsum"), 12 * M);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_pad_mask"), 9 * M);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_pad_fill"), 3 * M);
  EXPECT_EQ(count(wl::backward_of(ops, 2), "router_pad"), 0);
}

// By hand at the toy layer (h 1,024, expert width 512, SwiGLU, top 2, 16-bit): a checkpointed MoE part keeps only
// its input, the norm's 16-bit output; the shared expert's own tensors leave with shared_experts.
TEST(MoeLayers, CheckpointedModulesKeepOnlyTheirInput) {
  wl::GptModelConfig m = moe_model();
  m.hidden_dropout = 0;
  wl::ActivationOptions o;
  const wl::LayerActivations kept = wl::layer_activations(m, 0, o);
  o.recompute_moe = true;
  const wl::LayerActivations moe = wl::layer_activations(m, 0, o);
  const double h = 1024, f = 512, k = 2;
  // The MoE part: the probabilities (4 B x 8 experts), per routed copy its input (2h), the SwiGLU input (2 x 2f),
  // its output (2f) and its probability (4 B).
  EXPECT_DOUBLE_EQ(kept.split - moe.split, 4 * 8 + k * (2 * h + 2 * 2 * f + 2 * f + 4));
  EXPECT_DOUBLE_EQ(moe.whole, kept.whole);  // its input is the norm output kept either way (16-bit here)
  // With FP8 linear inputs the norm output was kept as the first linear layer's 1 B copy; checkpointed, 2 B.
  o.fp8_linear_inputs = true;
  const double fp8_moe = wl::layer_activations(m, 0, o).whole;
  o.recompute_moe = false;
  EXPECT_DOUBLE_EQ(fp8_moe - wl::layer_activations(m, 0, o).whole, h);
  // The shared expert (width 256): its SwiGLU input (2 x 2 x 256) and output (2 x 256), 16-bit.
  o.fp8_linear_inputs = false;
  m.moe_shared_expert_intermediate_size = 256;
  const double with_shared = wl::layer_activations(m, 0, o).split;
  o.recompute_shared = true;
  EXPECT_DOUBLE_EQ(with_shared - wl::layer_activations(m, 0, o).split, 2 * 2 * 256 + 2 * 256);
  // A dense layer's MLP (width 4h by default, SwiGLU): its up GEMM's output (2 x 2 x 4h) and the activation's (2 x 4h).
  m.num_experts = 0;
  o = {};
  const double dense = wl::layer_activations(m, 0, o).split;
  o.recompute_mlp = true;
  EXPECT_DOUBLE_EQ(dense - wl::layer_activations(m, 0, o).split, 2 * 2 * 4 * h + 2 * 4 * h);
}

// Whole runs: each checkpointed module keeps fewer activations and takes longer; the MoE part runs its
// dispatch and combine again (more exposed expert-parallel time); FP8 padding costs time the router's padding
// saves.
TEST(MoeLayers, RunsReflectRecomputationAndPadding) {
  const std::vector<std::string> moe = {"workload.model.num_experts=8", "workload.model.moe_router_topk=2",
                                        "workload.expert_model_parallel_size=2", "workload.sequence_parallel=true"};
  auto run = [&](std::vector<std::string> extra, bool is_moe = true) {
    if (is_moe) extra.insert(extra.begin(), moe.begin(), moe.end());
    return megatron_support::run(extra);
  };
  const auto plain = run({});
  const auto moe_redo = run({"workload.recompute_granularity=selective", "workload.recompute_modules=[core_attn, moe]"});
  EXPECT_GT(moe_redo.at("iteration_time_s"), plain.at("iteration_time_s"));
  EXPECT_LT(moe_redo.at("memory_activations_bytes"), plain.at("memory_activations_bytes"));
  EXPECT_GT(moe_redo.at("time_exposed_ep_s"), plain.at("time_exposed_ep_s"));
  const auto dense = run({}, false);
  const auto mlp_redo = run({"workload.recompute_granularity=selective", "workload.recompute_modules=[core_attn, mlp]"}, false);
  EXPECT_GT(mlp_redo.at("iteration_time_s"), dense.at("iteration_time_s"));
  EXPECT_LT(mlp_redo.at("memory_activations_bytes"), dense.at("memory_activations_bytes"));
  // Micro-batches of 4 sequences: the copies (4 x 2 x 2 rows x 2,048 x 2 B per token) outweigh the router's six
  // kernels over the map (32 B per token and expert) and their launches.
  const std::string mbs4 = "workload.micro_batch_size=4";
  const double padded = run({"workload.precision=fp8", mbs4}).at("iteration_time_s");
  const double router_padded = run({"workload.precision=fp8", mbs4, "workload.moe_router_padding_for_fp8=true"}).at("iteration_time_s");
  EXPECT_LT(router_padded, padded);
}

// The shared expert beside the all-to-alls (moe_shared_expert_overlap; TP 1, EP 2 across nodes): the layer gets
// faster than with the shared expert in line, but not faster than without a shared expert at all (the all-to-alls
// and the shared expert's kernels still take their time, the longer of the two); the fit is unchanged.
TEST(MoeLayers, SharedExpertBesideTheAllToAlls) {
  const std::vector<std::string> base = {"workload.model.num_experts=8", "workload.model.moe_router_topk=2",
                                         "workload.expert_model_parallel_size=2", "workload.tensor_model_parallel_size=1",
                                         "workload.micro_batch_size=4"};
  auto run = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), base.begin(), base.end());
    return megatron_support::run(extra);
  };
  const auto none = run({});
  const auto inline_shared = run({"workload.model.moe_shared_expert_intermediate_size=4096"});
  const auto beside = run({"workload.model.moe_shared_expert_intermediate_size=4096", "workload.moe_shared_expert_overlap=true"});
  EXPECT_LT(beside.at("iteration_time_s"), inline_shared.at("iteration_time_s"));
  EXPECT_GT(beside.at("iteration_time_s"), none.at("iteration_time_s"));
  EXPECT_LT(beside.at("time_exposed_ep_s"), inline_shared.at("time_exposed_ep_s"));
  EXPECT_EQ(beside.at("memory_per_gpu_bytes"), inline_shared.at("memory_per_gpu_bytes"));
  // Recomputed whole, the MoE part runs the overlapped forward again: longer than without recomputation.
  const auto again = run({"workload.model.moe_shared_expert_intermediate_size=4096", "workload.moe_shared_expert_overlap=true",
                          "workload.recompute_granularity=selective", "workload.recompute_modules=[core_attn, moe]"});
  EXPECT_GT(again.at("iteration_time_s"), beside.at("iteration_time_s"));
}

// With TP 2 (sequence parallelism) the overlapped shared expert gathers its input and reduce-scatters its output on
// its own stream: beside the all-to-alls and the layer's other kernels instead of on the compute stream, so less TP
// time is exposed and the layer is faster than in line, but not faster than without a shared expert. Its first
// linear layer keeps the gathered input (16-bit: TP x 2 B per element and token, over the sequence shard's
// share of the norm's output the in-line layer keeps), so the fit grows. Without a shared expert the flag changes
// nothing.
TEST(MoeLayers, SharedExpertBesideTheAllToAllsWithTensorParallelism) {
  const std::vector<std::string> base = {"workload.model.num_experts=8", "workload.model.moe_router_topk=2",
                                         "workload.expert_model_parallel_size=2", "workload.sequence_parallel=true",
                                         "workload.micro_batch_size=4"};
  auto run = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), base.begin(), base.end());
    return megatron_support::run(extra);
  };
  const std::string shared = "workload.model.moe_shared_expert_intermediate_size=4096";
  const std::string overlap = "workload.moe_shared_expert_overlap=true";
  const auto none = run({});
  const auto inline_shared = run({shared});
  const auto beside = run({shared, overlap});
  EXPECT_LT(beside.at("iteration_time_s"), inline_shared.at("iteration_time_s"));
  EXPECT_GT(beside.at("iteration_time_s"), none.at("iteration_time_s"));
  EXPECT_LT(beside.at("time_exposed_tp_s"), inline_shared.at("time_exposed_tp_s"));
  EXPECT_GT(beside.at("memory_per_gpu_bytes"), inline_shared.at("memory_per_gpu_bytes"));
  // Its passes fold as the fine-grained path runs them, bit for bit.
  const auto fine = run({shared, overlap, "simulation.event_granularity=kernel"});
  EXPECT_EQ(fine.at("iteration_time_s"), beside.at("iteration_time_s"));
  EXPECT_EQ(fine.at("time_exposed_tp_s"), beside.at("time_exposed_tp_s"));
  EXPECT_EQ(fine.at("time_exposed_ep_s"), beside.at("time_exposed_ep_s"));
  // Recomputed whole, the MoE part runs its forward again, the shared expert's gather and scatter included.
  const auto again = run({shared, overlap, "workload.recompute_granularity=selective", "workload.recompute_modules=[core_attn, moe]"});
  EXPECT_GT(again.at("iteration_time_s"), beside.at("iteration_time_s"));
  EXPECT_GT(again.at("time_exposed_tp_s") + again.at("time_compute_s"), beside.at("time_exposed_tp_s") + beside.at("time_compute_s"));
  const auto flag_alone = run({overlap});
  EXPECT_EQ(flag_alone.at("iteration_time_s"), none.at("iteration_time_s"));
  EXPECT_EQ(flag_alone.at("memory_per_gpu_bytes"), none.at("memory_per_gpu_bytes"));
  // By hand, per token of the layer: the gathered input adds TP x 2 B x h to what is split over TP.
  wl::GptModelConfig m = moe_model();
  m.moe_shared_expert_intermediate_size = 4096;
  wl::ActivationOptions o;
  const double kept = wl::layer_activations(m, 0, o).split;
  o.shared_gathered_input = 2 * 2;
  EXPECT_DOUBLE_EQ(wl::layer_activations(m, 0, o).split - kept, 2 * 2 * 1024.0);
}

// MoEAllGatherTokenDispatcher's kernels at the toy layer (1,024 tokens per rank, EP 2: 2,048 gathered, 4 local
// experts of 8, 2,048 rows, fp32 probabilities): the local columns sliced out, the counts, the permutation of the
// gathered tokens by the 4 local columns, the unpermutation and the casts around the reduce-scatter.
TEST(MoeLayers, AllGatherDispatcherKernelsByHand) {
  wl::MoePermutationShape s;
  s.tokens = 1024, s.topk = 2, s.rows = 2048, s.experts = 8, s.local_experts = 4, s.hidden = 1024;
  s.allgather = true, s.gathered = 2048, s.probs_bytes = 4, s.fused = true;
  const wl::MoePermutationOps ops = wl::moe_permutation_ops(s);
  const double g = 2048, gl = g * 4, h = 1024, rows = 2048;
  EXPECT_TRUE(ops.before_dispatch.empty());
  EXPECT_DOUBLE_EQ(op_bytes(ops.after_dispatch, "moe_ag_local_map"), 2 * gl);
  EXPECT_DOUBLE_EQ(op_bytes(ops.after_dispatch, "moe_ag_local_probs"), 8 * gl);
  EXPECT_DOUBLE_EQ(op_bytes(ops.after_dispatch, "moe_ag_counts"), gl);
  // Transformer Engine's permute over the gathered tokens: each read once, each row written, 8 B of
  // probabilities per row.
  EXPECT_DOUBLE_EQ(op_bytes(ops.after_dispatch, "moe_permute"), 2 * h * (g + rows) + 8 * rows);
  EXPECT_DOUBLE_EQ(op_bytes(ops.before_combine, "moe_unpermute"), 2 * h * (rows + g));
  EXPECT_DOUBLE_EQ(op_bytes(ops.before_combine, "moe_ag_cast"), 6 * g * h);
  EXPECT_DOUBLE_EQ(op_bytes(ops.after_combine, "moe_ag_uncast"), 6 * 1024 * h);
  s.probs_bytes = 2;  // 16-bit probabilities: the reduce-scatter in the tokens' type, no casts
  EXPECT_EQ(count(wl::moe_permutation_ops(s).before_combine, "moe_ag_cast"), 0);
}

// Whole runs (TP 1, EP 2, top 2 of 8): allgather moves every token to every rank of the EP group (EP x 2 h B per
// token) where alltoall moves the routed copies, so it exposes more expert-parallel time; a pasted Megatron line
// without --moe-token-dispatcher-type names the dispatcher lcsim assumed.
TEST(MoeLayers, AllGatherDispatcherRuns) {
  // The host off: at this toy's kernel sizes the alltoall preprocess's launches (moe_token_counts) would set the
  // time, where the test compares what the two dispatchers move.
  const std::vector<std::string> base = {"workload.model.num_experts=8", "workload.model.moe_router_topk=1",
                                         "workload.expert_model_parallel_size=4",
                                         "workload.tensor_model_parallel_size=1", "workload.host_op_time=0us"};
  auto run = [&](const std::string& dispatcher) {
    std::vector<std::string> sets = base;
    sets.push_back("workload.moe_token_dispatcher_type=" + dispatcher);
    return megatron_support::run(sets);
  };
  const auto a2a = run("alltoall"), gather = run("allgather");
  EXPECT_GT(gather.at("time_exposed_ep_s"), a2a.at("time_exposed_ep_s"));
  EXPECT_GT(gather.at("iteration_time_s"), a2a.at("iteration_time_s"));
  const std::string line =
      "--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 --vocab-size 32000 "
      "--global-batch-size 32 --micro-batch-size 1 --bf16 --use-flash-attn --num-experts 8 --moe-router-topk 2 "
      "--moe-grouped-gemm";
  const Scenario sc = megatron_support::parse_with("workload:\n  type: megatron\n  megatron_args: \"" + line + "\"\n");
  const auto& c = dynamic_cast<wl::MegatronTraining&>(*sc.workload).config();
  const bool named = std::any_of(c.defaults_taken.begin(), c.defaults_taken.end(), [](const std::string& d) {
    return d.find("moe_token_dispatcher_type = alltoall (Megatron-LM: allgather") != std::string::npos;
  });
  EXPECT_TRUE(named);
}

// With the experts split over TP (expert_tensor_parallel_size = TP = 2) the dispatcher gathers over TP x EP
// (Megatron-core's tp_ep_group): rank 0's EP group {0, 2} (the ranks of its TP index), its TP x EP group {0, 1, 2, 3};
// folded, the EP group already spans the TP pair. At the toy layer (512 tokens per rank under sequence parallelism,
// EP 2, 4 local experts) a rank holds 512 x 2 x 2 = 2,048 gathered tokens, whose local map columns it slices (2 B
// per element, read and write). Runs: split experts, EP 2 and EP 1, fold as the fine path runs them; the memory
// fit holds the gathered tokens' buffer once.
TEST(MoeLayers, AllGatherDispatcherOverTpTimesEp) {
  const wl::Placement split(2, 1, 4, 1, 2, "tp-cp-ep-dp-pp"), folded(2, 1, 4, 1, 2, "tp-cp-ep-dp-pp", 1);
  EXPECT_EQ(split.group(wl::GroupKind::kEp, 0), (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(split.group(wl::GroupKind::kTpEp, 0), (std::vector<uint32_t>{0, 1, 2, 3}));
  EXPECT_EQ(split.group(wl::GroupKind::kTpEp, 7), (std::vector<uint32_t>{4, 5, 6, 7}));
  EXPECT_EQ(folded.group(wl::GroupKind::kTpEp, 0), (std::vector<uint32_t>{0, 1}));
  wl::LayerShard sh;
  sh.tp = 2, sh.sp = true, sh.ep = 2, sh.allgather_dispatch = true, sh.flash = true;
  const wl::LayerOps ops = wl::layer_forward(moe_model(), 0, 1, 2, sh);
  EXPECT_DOUBLE_EQ(op_bytes(ops.mlp, "moe_ag_local_map"), 2 * 2048.0 * 4);
  const std::vector<std::string> base = {"workload.model.num_experts=8", "workload.model.moe_router_topk=2",
                                         "workload.sequence_parallel=true", "workload.moe_token_dispatcher_type=allgather"};
  for (const std::string ep : {"2", "1"}) {
    std::vector<std::string> sets = base;
    sets.push_back("workload.expert_model_parallel_size=" + ep);
    const auto pass = megatron_support::run(sets);
    sets.push_back("simulation.event_granularity=kernel");
    const auto fine = megatron_support::run(sets);
    EXPECT_GT(pass.at("time_exposed_ep_s"), 0) << ep;
    EXPECT_EQ(pass.at("iteration_time_s"), fine.at("iteration_time_s")) << ep;
    EXPECT_EQ(pass.at("time_exposed_ep_s"), fine.at("time_exposed_ep_s")) << ep;
    // The gathered tokens in Megatron-core's global buffer: 2,048 / TP 2 per rank, times TP x EP, 2 B x 2,048 each.
    EXPECT_DOUBLE_EQ(pass.at("memory_MoE_all-gather_buffer_bytes"), 1024.0 * 2 * std::stoi(ep) * 2048 * 2) << ep;
  }
}

TEST(MoeLayers, MegatronArgumentsSetTheKeys) {
  const std::string model =
      "--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 --vocab-size 32000 "
      "--global-batch-size 32 --micro-batch-size 1 --bf16 --use-flash-attn --num-experts 8 --moe-router-topk 2 ";
  auto config = [&](const std::string& rest) {
    const Scenario sc = megatron_support::parse_with("workload:\n  type: megatron\n  megatron_args: \"" + model + rest + "\"\n");
    return dynamic_cast<wl::MegatronTraining&>(*sc.workload).config();
  };
  // --moe-layer-recompute: selective, "moe" added to the modules given or to the default [core_attn].
  auto c = config("--moe-layer-recompute --moe-use-upcycling");
  EXPECT_EQ(c.recompute_granularity, "selective");
  EXPECT_EQ(c.recompute_modules, (std::vector<std::string>{"core_attn", "moe"}));
  EXPECT_EQ(c.ignored_args, (std::vector<std::string>{"--moe-use-upcycling"}));
  c = config("--recompute-granularity selective --recompute-modules moe_act layernorm --moe-layer-recompute");
  EXPECT_EQ(c.recompute_modules, (std::vector<std::string>{"moe_act", "layernorm", "moe"}));
  c = config("--moe-shared-expert-intermediate-size 1024 --moe-shared-expert-overlap");
  EXPECT_TRUE(c.moe_shared_expert_overlap);
  c = config("--fp8-format hybrid --moe-router-padding-for-fp8");
  EXPECT_TRUE(c.router.moe_router_padding_for_fp8);
  c = config("--fp8-format hybrid --moe-router-padding-for-quantization");
  EXPECT_TRUE(c.router.moe_router_padding_for_fp8);
  const std::string e = megatron_support::parse_error_with("workload:\n  type: megatron\n  megatron_args: \"" + model +
                                                      "--recompute-granularity full --moe-layer-recompute\"\n");
  EXPECT_NE(e.find("--moe-layer-recompute with --recompute-granularity full"), std::string::npos) << e;
  EXPECT_NE(e.find("column"), std::string::npos) << e;
}

TEST(MoeLayers, BadSettingsNameTheirKeys) {
  const auto error = megatron_support::parse_sets_error;
  auto has = [](const std::string& msg, const std::string& part) { return msg.find(part) != std::string::npos; };
  const std::string selective = "workload.recompute_granularity=selective";
  std::string e = error({selective, "workload.recompute_modules=[moe]"});
  EXPECT_TRUE(has(e, "recompute_modules") && has(e, "moe needs an MoE model")) << e;
  e = error({selective, "workload.recompute_modules=[shared_experts]", "workload.model.num_experts=8",
             "workload.expert_model_parallel_size=2"});
  EXPECT_TRUE(has(e, "shared_experts needs model.moe_shared_expert_intermediate_size")) << e;
  e = error({selective, "workload.recompute_modules=[mlp]", "workload.model.num_experts=8",
             "workload.expert_model_parallel_size=2"});
  EXPECT_TRUE(has(e, "every layer of this model is MoE")) << e;
  e = error({selective, "workload.recompute_modules=[mlp]", "workload.sequence_parallel=true",
             "workload.tp_comm_overlap=true"});
  EXPECT_TRUE(has(e, "mlp with tp_comm_overlap")) << e;
  e = error({selective, "workload.recompute_modules=[moe]", "workload.model.num_experts=8",
             "workload.expert_model_parallel_size=2", "workload.overlap_moe_expert_parallel_comm=true"});
  EXPECT_TRUE(has(e, "overlap_moe_expert_parallel_comm")) << e;
  e = error({selective, "workload.recompute_modules=[experts]"});
  EXPECT_TRUE(has(e, "recompute_modules") && has(e, "experts")) << e;
  const std::vector<std::string> moe = {"workload.model.num_experts=8", "workload.expert_model_parallel_size=2",
                                        "workload.moe_shared_expert_overlap=true"};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), moe.begin(), moe.end());
    return error(more);
  };
  e = with({"workload.model.moe_shared_expert_intermediate_size=1024", "workload.tensor_model_parallel_size=1",
            "workload.moe_token_dispatcher_type=allgather"});
  EXPECT_TRUE(has(e, "moe_shared_expert_overlap") && has(e, "alltoall or flex")) << e;
  // Without a shared expert the flag does nothing, as in Megatron-core (it checks it only where there is one).
  EXPECT_EQ(with({"workload.tensor_model_parallel_size=1"}), "");
  EXPECT_EQ(with({"workload.sequence_parallel=true"}), "");
  e = with({"workload.model.moe_shared_expert_intermediate_size=1024", "workload.tensor_model_parallel_size=1",
            "workload.overlap_moe_expert_parallel_comm=true"});
  EXPECT_TRUE(has(e, "moe_shared_expert_overlap") && has(e, "overlap_moe_expert_parallel_comm")) << e;
  // Megatron-core's other assertions with the all-to-all overlap, each naming the key.
  auto overlapped = [&](const std::vector<std::string>& more) {
    std::vector<std::string> sets = {"workload.overlap_moe_expert_parallel_comm=true", "workload.model.num_experts=8"};
    sets.insert(sets.end(), more.begin(), more.end());
    return error(sets);
  };
  const std::string ep = "workload.expert_model_parallel_size=2";
  e = overlapped({});
  EXPECT_TRUE(has(e, "overlap_moe_expert_parallel_comm: needs expert_model_parallel_size > 1")) << e;
  e = overlapped({ep, "workload.moe_token_dispatcher_type=allgather"});
  EXPECT_TRUE(has(e, "overlap_moe_expert_parallel_comm: needs the alltoall or flex dispatcher")) << e;
  e = overlapped({ep, "workload.recompute_granularity=full"});
  EXPECT_TRUE(has(e, "overlap_moe_expert_parallel_comm: cannot be used with recompute_granularity: full")) << e;
  e = overlapped({ep, "workload.model.mtp_num_layers=2"});
  EXPECT_TRUE(has(e, "overlap_moe_expert_parallel_comm: takes at most one MTP module")) << e;
  EXPECT_EQ(overlapped({ep, "workload.sequence_parallel=true"}), "");
  e = error({"workload.moe_router_padding_for_fp8=true", "workload.model.num_experts=8",
             "workload.expert_model_parallel_size=2"});
  EXPECT_TRUE(has(e, "moe_router_padding_for_fp8") && has(e, "precision: fp8")) << e;
}

}  // namespace
}  // namespace lcsim
