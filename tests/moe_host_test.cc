// The host side of a Megatron-core MoE layer (docs/calibration.md, "Framework overhead and the optimizer step"):
// Transformer Engine's GroupedLinear issues one GEMM and one quantization kernel per local expert from the host
// (moe_grouped_gemm: multi_stream), Megatron-core's SequentialMLP issues every expert operator once per local
// expert (sequential), Megatron-LM's flags pick between them, and the dropless dispatchers wait on the host for the
// GPU once per MoE layer's forward.
#include <gtest/gtest.h>

#include "megatron_support.h"
#include "workloads/training/gpt_model.h"
#include "workloads/training/megatron.h"

namespace lcsim {
namespace {

wl::GptModelConfig small_moe(int shared = 0) {
  wl::GptModelConfig m;
  m.num_layers = 2, m.hidden_size = 1024, m.num_attention_heads = 8, m.seq_length = 1024, m.vocab_size = 32000;
  m.num_experts = 8, m.moe_router_topk = 2, m.moe_shared_expert_intermediate_size = shared;
  return m;
}

size_t forward_count(const wl::GptModelConfig& m, const wl::LayerShard& sh) {
  return wl::per_expert_ops(wl::layer_forward(m, 0, 1, 2, sh).mlp);
}
size_t backward_count(const wl::GptModelConfig& m, const wl::LayerShard& sh) {
  return wl::per_expert_ops(wl::backward_of(wl::layer_forward(m, 0, 1, 2, sh).mlp, 2));
}

TEST(MoeHostIssue, PerExpertOperatorsAreTheExpertGemmsAndTheCastsFeedingThem) {
  // Counted from Transformer Engine's _GroupedLinear (grouped_linear.py): forward, per expert, the input's quantize
  // (amax first under current scaling) and the fc1 / fc2 GEMM; backward, per expert, grad_output's quantize (amax
  // first), the dgrad and the wgrad GEMM. The activation between fc1 and fc2 is one kernel over all tokens.
  wl::LayerShard bf16;
  bf16.ep = 2;
  EXPECT_EQ(forward_count(small_moe(), bf16), 2u);   // fc1, fc2
  EXPECT_EQ(backward_count(small_moe(), bf16), 4u);  // fc1 and fc2: dgrad and wgrad each
  wl::LayerShard delayed = bf16;
  delayed.fp8 = true;
  EXPECT_EQ(forward_count(small_moe(), delayed), 4u);   // + the input cast of each
  EXPECT_EQ(backward_count(small_moe(), delayed), 6u);  // + the output gradient's cast of each
  wl::LayerShard current = delayed;
  current.fp8_current_scaling = true;
  EXPECT_EQ(forward_count(small_moe(), current), 6u);   // + an amax pass before each cast
  EXPECT_EQ(backward_count(small_moe(), current), 8u);
  // A shared expert is a plain TE linear pair: one launch per operator, not per expert.
  EXPECT_EQ(forward_count(small_moe(512), current), 6u);
  EXPECT_EQ(backward_count(small_moe(512), current), 8u);
  // A dense layer has none.
  wl::GptModelConfig dense = small_moe();
  dense.num_experts = 0;
  EXPECT_EQ(forward_count(dense, current), 0u);
  EXPECT_EQ(backward_count(dense, current), 0u);
}

/// megatron_support's 32 H100s as TP 2 with no pipeline (DP 16, 2 micro-batches of 1 per rank), its 8 layers MoE:
/// 8 experts over EP 2, 4 local experts per rank (sequence parallel, as Megatron-LM requires with TP and experts).
std::map<std::string, double> run_moe(std::vector<std::string> sets) {
  sets.insert(sets.begin(), {"workload.pipeline_model_parallel_size=1", "workload.model.num_experts=8",
                             "workload.model.moe_router_topk=2", "workload.expert_model_parallel_size=2",
                             "workload.sequence_parallel=true"});
  return megatron_support::run(sets);
}

TEST(MoeHostIssue, HostBoundExpertGroupsTakeTheirLaunchesIssueTime) {
  // With host_op_time 0 only the per-expert launches cost the host. Per MoE layer and micro-batch, bf16: forward 2
  // grouped operators, backward 4, each issuing 3 GEMMs beyond its first (4 local experts): 18 launches, each at
  // expert_gemm_launch_time (bf16 has no per-expert casts: expert_launch_time costs nothing). At 1 s a launch every
  // expert group is host-bound (its kernels take microseconds), so 2 micro-batches x 8 layers x 18 = 288 launches:
  // the iteration is their issue time, and each further second per launch adds 288 s of compute.
  const std::string no_op = "workload.host_op_time=0us", no_cast = "workload.expert_launch_time=0us";
  auto one = run_moe({no_op, no_cast, "workload.expert_gemm_launch_time=1s"});
  auto two = run_moe({no_op, no_cast, "workload.expert_gemm_launch_time=2s"});
  auto casts = run_moe({no_op, "workload.expert_launch_time=1s", "workload.expert_gemm_launch_time=1s"});
  auto grouped = run_moe({no_op, no_cast, "workload.expert_gemm_launch_time=1s", "workload.moe_grouped_gemm=single_kernel"});
  ASSERT_FALSE(one.count("child_failed") || two.count("child_failed") || casts.count("child_failed") ||
               grouped.count("child_failed"));
  EXPECT_EQ(one["micro_batches"], 2);
  EXPECT_NEAR(two["time_compute_s"] - one["time_compute_s"], 288.0, 1e-6);
  EXPECT_NEAR(one["iteration_time_s"], 288.0, 288.0 * 0.005);
  EXPECT_DOUBLE_EQ(casts["time_compute_s"], one["time_compute_s"]);
  // One grouped kernel per operator: no launch is per expert, the host is not the limit.
  EXPECT_LT(grouped["iteration_time_s"], 1.0);
}

TEST(MoeHostIssue, ExpertModuleTimeIsPaidPerFurtherExpertOfEachGroupedModuleCall) {
  // The what-if expert_module_time: per MoE layer and micro-batch, bf16, the grouped expert modules are called 4
  // times (fc1 and fc2, forward and backward), each paying it for 3 further experts (4 local): 12 per layer and
  // micro-batch, 2 x 8 x 12 = 192 per iteration, nothing else costing the host.
  const std::vector<std::string> free = {"workload.host_op_time=0us", "workload.expert_launch_time=0us",
                                         "workload.expert_gemm_launch_time=0us"};
  auto with = [&](const std::string& t) {
    std::vector<std::string> sets = free;
    sets.push_back("workload.expert_module_time=" + t);
    return run_moe(sets);
  };
  auto none = with("0s"), one = with("1s"), two = with("2s");
  ASSERT_FALSE(none.count("child_failed") || one.count("child_failed") || two.count("child_failed"));
  EXPECT_NEAR(two["time_compute_s"] - one["time_compute_s"], 192.0, 1e-6);
  EXPECT_NEAR(one["iteration_time_s"], 192.0, 192.0 * 0.005);
  EXPECT_LT(none["iteration_time_s"], 1.0);
  // One grouped kernel (single_kernel) is still one module call per operator, but no expert is further.
  std::vector<std::string> single = free;
  single.insert(single.end(), {"workload.expert_module_time=1s", "workload.moe_grouped_gemm=single_kernel"});
  auto grouped = run_moe(single);
  ASSERT_FALSE(grouped.count("child_failed"));
  EXPECT_LT(grouped["iteration_time_s"], 1.0);
}

TEST(MoeHostIssue, TheOverlappedSchedulesHostTimeIsPaidPerMoeLayerAndPass) {
  // The what-if moe_ep_overlap_host_time: with overlap_moe_expert_parallel_comm each MoE layer's forward and backward
  // pays it once on the host, hidden only where the host is ahead of the GPU (here by milliseconds at most): 8 layers
  // x 2 micro-batches x 2 passes = 32 per iteration. Without the overlap it is never paid.
  const std::vector<std::string> base = {"workload.host_op_time=0us", "workload.expert_launch_time=0us",
                                         "workload.expert_gemm_launch_time=0us"};
  auto with = [&](const std::string& t, bool overlap) {
    std::vector<std::string> sets = base;
    sets.push_back("workload.moe_ep_overlap_host_time=" + t);
    sets.push_back(std::string("workload.overlap_moe_expert_parallel_comm=") + (overlap ? "true" : "false"));
    return run_moe(sets);
  };
  auto one = with("1s", true), two = with("2s", true), off = with("2s", false), none = with("0s", false);
  ASSERT_FALSE(one.count("child_failed") || two.count("child_failed") || off.count("child_failed") ||
               none.count("child_failed"));
  EXPECT_NEAR(two["time_compute_s"] - one["time_compute_s"], 32.0, 1e-6);
  EXPECT_GT(one["time_host_s"], 31.0);
  EXPECT_DOUBLE_EQ(off["iteration_time_s"], none["iteration_time_s"]);
}

TEST(MoeHostIssue, PerExpertCastsTakeTheLaunchTimeAndGemmsTheirOwn) {
  // FP8 delayed scaling: per MoE layer and micro-batch the grouped operators' casts are forward 2 (fc1's and fc2's
  // inputs) and backward 2 (their output gradients), each issuing 3 kernels beyond its first (4 local experts): 12
  // cast launches at expert_launch_time, beside the 18 GEMM launches at expert_gemm_launch_time (a GEMM call of
  // Transformer Engine's builds its cuBLASLt descriptors and asks the heuristic every time; a cast does not).
  const std::vector<std::string> fp8 = {"workload.precision=fp8", "workload.fp8_recipe=delayed", "workload.host_op_time=0us"};
  auto with = [&](const std::string& cast, const std::string& gemm) {
    std::vector<std::string> sets = fp8;
    sets.push_back("workload.expert_launch_time=" + cast);
    sets.push_back("workload.expert_gemm_launch_time=" + gemm);
    return run_moe(sets);
  };
  auto casts1 = with("1s", "0us"), casts2 = with("2s", "0us"), gemms1 = with("0us", "1s"), gemms2 = with("0us", "2s");
  ASSERT_FALSE(casts1.count("child_failed") || casts2.count("child_failed") || gemms1.count("child_failed") ||
               gemms2.count("child_failed"));
  EXPECT_NEAR(casts2["time_compute_s"] - casts1["time_compute_s"], 2 * 8 * 12.0, 1e-6);
  EXPECT_NEAR(gemms2["time_compute_s"] - gemms1["time_compute_s"], 2 * 8 * 18.0, 1e-6);
}

TEST(MoeHostIssue, TheDispatchersHostWaitIsPaidOncePerMoeLayerForward) {
  // A host far faster than any kernel (1 ns per operator) is never the limit of a group; with no pipeline (no
  // pass waits for a receive) what it adds is the dispatch's wait for the GPU: once per MoE layer forward, 8
  // layers x 2 micro-batches = 16 ns. Backward reuses the forward's split sizes: no wait there.
  // Without Megatron's NaN checks, whose host waits (per bucket; per backward pass without a pipeline) DdpChecks
  // tests, and the step's small all-reduces (StepSyncs).
  const std::vector<std::string> grouped = {"workload.moe_grouped_gemm=single_kernel", "workload.check_for_nan_in_grad=false",
                                            "workload.check_for_nan_in_loss=false", "workload.step_syncs=off"};
  auto with = [&](std::vector<std::string> sets) {
    sets.insert(sets.end(), grouped.begin(), grouped.end());
    return run_moe(sets);
  };
  auto off = with({"workload.host_op_time=0us"}), fast = with({"workload.host_op_time=1ns"});
  ASSERT_FALSE(off.count("child_failed") || fast.count("child_failed"));
  EXPECT_NEAR(fast["time_compute_s"] - off["time_compute_s"], 16e-9, 1e-12);
  // Full recomputation runs each layer's forward, and its dispatch, again before the backward: twice as many waits.
  const std::vector<std::string> full = {"workload.recompute_granularity=full", "workload.recompute_method=uniform",
                                         "workload.recompute_num_layers=1"};
  auto with_full = [&](const std::string& host) {
    std::vector<std::string> sets = full;
    sets.push_back("workload.host_op_time=" + host);
    return with(sets);
  };
  auto roff = with_full("0us"), rfast = with_full("1ns");
  ASSERT_FALSE(roff.count("child_failed") || rfast.count("child_failed"));
  EXPECT_NEAR(rfast["time_compute_s"] - roff["time_compute_s"], 32e-9, 1e-12);
  // A dense model of the same layout has no dispatcher: nothing.
  const std::string no_grad = "workload.check_for_nan_in_grad=false", no_loss = "workload.check_for_nan_in_loss=false";
  const std::string no_step = "workload.step_syncs=off";
  auto doff = megatron_support::run({"workload.pipeline_model_parallel_size=1", "workload.host_op_time=0us", no_grad, no_loss,
                                     no_step});
  auto dfast = megatron_support::run({"workload.pipeline_model_parallel_size=1", "workload.host_op_time=1ns", no_grad, no_loss,
                                      no_step});
  ASSERT_FALSE(doff.count("child_failed") || dfast.count("child_failed"));
  EXPECT_NEAR(dfast["time_compute_s"] - doff["time_compute_s"], 0.0, 1e-12);
}

// Megatron-core's SequentialMLP (experts.py; moe_grouped_gemm: sequential): tokens_per_expert.tolist() and
// torch.split of the tokens and probabilities (views, no kernel), then per local expert its own MLP module (fc1
// with its FP8 cast, the activation, fc2 with its cast), under FP8 first _pad_tensor_for_quantization (a zero fill
// and a torch.cat for the tokens, the same for the probabilities), and after the loop one torch.cat of the outputs.
TEST(MoeHostIssue, SequentialMlpIssuesEveryExpertOperatorOncePerLocalExpert) {
  auto mlp = [](wl::LayerShard sh, int shared = 0) {
    sh.ep = 2;  // 8 experts, 4 local
    sh.sequential_experts = true;
    return wl::layer_forward(small_moe(shared), 0, 1, 2, sh).mlp;
  };
  // Host operators of a group as the plan counts them: each kernel once, each per-expert one 3 more times.
  auto issued = [](const std::vector<hw::OpWork>& ops) { return ops.size() + 3 * wl::sequential_expert_ops(ops); };
  wl::LayerShard bf16;
  // Forward: fc1, activation, fc2 per expert (3 x 4) and the output cat once: 13, and the dispatcher's sort of the
  // received rows by local expert (a cat of the tokens, one of their probabilities) and its unsort before the
  // combine, once each (moe_permutation.h): 16. Backward: fc1 and fc2 dgrad and wgrad and the activation's backward
  // per expert (5 x 4) and the token split's backward cat: 21, and the three cats' backward: 24.
  EXPECT_EQ(mlp(bf16).size(), 4u + 3u);
  EXPECT_EQ(issued(mlp(bf16)), 16u);
  EXPECT_EQ(issued(wl::backward_of(mlp(bf16), 2)), 24u);
  // Delayed FP8: + the two casts and the 4 padding kernels per expert forward ((3 + 2 + 4) x 4 + 1 + 3 = 40);
  // backward + the output gradient's two casts and the output slice's zero fill and copy ((5 + 2 + 2) x 4 + 1 + 3).
  wl::LayerShard delayed = bf16;
  delayed.fp8 = true;
  EXPECT_EQ(issued(mlp(delayed)), 40u);
  EXPECT_EQ(issued(wl::backward_of(mlp(delayed), 2)), 40u);
  // Current scaling: + an amax pass before each cast, forward and backward: (11 x 4) + 1 + 3 = 48 both ways.
  wl::LayerShard current = delayed;
  current.fp8_current_scaling = true;
  EXPECT_EQ(issued(mlp(current)), 48u);
  EXPECT_EQ(issued(wl::backward_of(mlp(current), 2)), 48u);
  // A shared expert is one MLP module: once, not per expert (its 5 kernels delayed FP8: 2 casts, 2 GEMMs, activation).
  EXPECT_EQ(issued(mlp(delayed, 512)), 40u + 5u);
  // Bytes by hand: tokens per local expert 2 x 1024 x 2 / 8 = 512, h 1024, 2 B: the padding copy and the output cat
  // move 2 x 2 B per element of the 4 experts' tokens, the zero fill of the slice's gradient half that.
  const double elements = 512.0 * 4 * 1024;
  EXPECT_DOUBLE_EQ(megatron_support::op_bytes(mlp(delayed), wl::kExpertPadTokens), 4 * elements);
  EXPECT_DOUBLE_EQ(megatron_support::op_bytes(mlp(delayed), wl::kExpertOutputCat), 4 * elements);
  EXPECT_DOUBLE_EQ(megatron_support::op_bytes(mlp(delayed), wl::kExpertPadProbs), 8 * 512.0 * 4);
  const auto bwd = wl::backward_of(mlp(delayed), 2);
  EXPECT_DOUBLE_EQ(megatron_support::op_bytes(bwd, std::string(wl::kExpertPadZeros) + "_bwd"), 2 * elements);
  EXPECT_DOUBLE_EQ(megatron_support::op_bytes(bwd, std::string(wl::kExpertOutputCat) + "_bwd"), 4 * elements);
  EXPECT_EQ(megatron_support::op_bytes(bwd, std::string(wl::kExpertPadProbs) + "_bwd"), -1);
  // No padding in bf16.
  EXPECT_EQ(megatron_support::op_bytes(mlp(bf16), wl::kExpertPadTokens), -1);
}

TEST(MoeHostIssue, HostBoundSequentialExpertsTakeEveryOperatorsIssueTime) {
  // 1 s per operator: every group is host-bound. Per MoE layer and micro-batch (bf16, 4 local experts) the expert
  // group issues 3 operators as one grouped kernel each, 13 as SequentialMLP (above; the dispatcher's 3 sorts, in
  // both, left out); backward 5 against 21: 26 s more per layer and micro-batch, x 8 layers x 2 micro-batches =
  // 416 s. multi_stream at expert_launch_time and expert_gemm_launch_time 0 issues as one kernel does.
  auto seq = run_moe({"workload.host_op_time=1s", "workload.moe_grouped_gemm=sequential"});
  auto one = run_moe({"workload.host_op_time=1s", "workload.moe_grouped_gemm=single_kernel"});
  auto multi = run_moe({"workload.host_op_time=1s", "workload.expert_launch_time=0us", "workload.expert_gemm_launch_time=0us"});
  ASSERT_FALSE(seq.count("child_failed") || one.count("child_failed") || multi.count("child_failed"));
  EXPECT_NEAR(seq["time_compute_s"] - one["time_compute_s"], 416.0, 1e-6);
  EXPECT_NEAR(multi["time_compute_s"], one["time_compute_s"], 1e-9);
}

// Megatron-LM's experts' module from its command line (TESpecProvider.grouped_mlp_modules; training/arguments.py:
// "SequentialMLP (default when --moe-grouped-gemm is not set)"): --moe-grouped-gemm is TEGroupedMLP, with
// --moe-use-legacy-grouped-gemm the grouped_gemm package's GroupedMLP; without --moe-grouped-gemm lcsim keeps its
// default (TEGroupedMLP, what every published MoE configuration sets) and the run header says so.
TEST(MoeHostIssue, MegatronCommandLinesPickTheExpertsModuleAndTheHeaderNamesTheDefault) {
  const std::string line = "--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 "
                           "--vocab-size 32000 --global-batch-size 32 --micro-batch-size 1 --bf16 --use-flash-attn ";
  auto parse = [&](const std::string& extra) {
    return megatron_support::parse_with("workload:\n  type: megatron\n  megatron_args: \"" + line + extra + "\"\n");
  };
  auto config = [](const Scenario& sc) -> const wl::MegatronConfig& {
    return dynamic_cast<wl::MegatronTraining*>(sc.workload.get())->config();
  };
  auto noted = [&](const Scenario& sc) {
    for (const auto& t : config(sc).defaults_taken) {
      if (t.rfind("moe_grouped_gemm = ", 0) == 0) return t;
    }
    return std::string();
  };
  const std::string moe = "--num-experts 8 --moe-router-topk 2 ";
  EXPECT_EQ(config(parse(moe + "--moe-grouped-gemm")).moe_grouped_gemm, "multi_stream");
  EXPECT_EQ(noted(parse(moe + "--moe-grouped-gemm")), "");
  EXPECT_EQ(config(parse(moe + "--moe-grouped-gemm --moe-use-legacy-grouped-gemm")).moe_grouped_gemm, "single_kernel");
  EXPECT_EQ(config(parse(moe + "--moe-use-legacy-grouped-gemm --moe-grouped-gemm")).moe_grouped_gemm, "single_kernel");
  // The legacy flag alone changes nothing in Megatron (SequentialMLP): lcsim's default, named in the header.
  for (const std::string& extra : {moe, moe + "--moe-use-legacy-grouped-gemm"}) {
    const Scenario sc = parse(extra);
    EXPECT_EQ(config(sc).moe_grouped_gemm, "multi_stream") << extra;
    EXPECT_EQ(noted(sc).rfind("moe_grouped_gemm = multi_stream (Megatron-LM: SequentialMLP", 0), 0u) << noted(sc);
    EXPECT_NE(sc.workload->describe().find("lcsim's default taken:"), std::string::npos);
    EXPECT_NE(sc.workload->describe().find("moe_grouped_gemm = multi_stream"), std::string::npos)
        << sc.workload->describe();
  }
  // Written beside the line, the key is not a default taken; a dense model has no experts to name.
  const std::string written = "workload:\n  type: megatron\n  moe_grouped_gemm: sequential\n  megatron_args: \"";
  EXPECT_EQ(noted(megatron_support::parse_with(written + line + moe + "\"\n")), "");
  EXPECT_EQ(noted(parse("")), "");
}

TEST(MoeHostIssue, BadKeysAreRejectedWithTheirNames) {
  for (const auto& [set, key] : std::vector<std::pair<std::string, std::string>>{
           {"workload.moe_grouped_gemm=cutlass", "workload.moe_grouped_gemm"},
           {"workload.moe_grouped_gemm=SequentialMLP",
            "workload.moe_grouped_gemm: unknown value 'SequentialMLP'; did you mean 'sequential'? (valid: "
            "multi_stream, single_kernel, sequential)"},
           {"workload.expert_launch_time=-1us", "workload.expert_launch_time"}}) {
    try {
      megatron_support::parse_sets({set});
      ADD_FAILURE() << set << ": no error";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace lcsim
