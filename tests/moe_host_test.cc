// The host side of a Megatron-core MoE layer (docs/calibration.md, "Framework overhead and the optimizer step"):
// Transformer Engine's GroupedLinear issues one GEMM and one quantization kernel per local expert from the host
// (moe_grouped_gemm: multi_stream), and the dropless dispatchers wait on the host for the GPU once per MoE layer's
// forward.
#include <gtest/gtest.h>

#include "megatron_support.h"
#include "workloads/training/gpt_model.h"

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
  // grouped operators, backward 4, each issuing 3 kernels beyond its first (4 local experts): 18 launches. At 1 s a
  // launch every expert group is host-bound (its kernels take microseconds), so 2 micro-batches x 8 layers x 18 =
  // 288 launches: the iteration is their issue time, and each further second per launch adds 288 s of compute.
  auto one = run_moe({"workload.host_op_time=0us", "workload.expert_launch_time=1s"});
  auto two = run_moe({"workload.host_op_time=0us", "workload.expert_launch_time=2s"});
  auto grouped = run_moe({"workload.host_op_time=0us", "workload.expert_launch_time=1s", "workload.moe_grouped_gemm=single_kernel"});
  ASSERT_FALSE(one.count("child_failed") || two.count("child_failed") || grouped.count("child_failed"));
  EXPECT_EQ(one["micro_batches"], 2);
  EXPECT_NEAR(two["time_compute_s"] - one["time_compute_s"], 288.0, 1e-6);
  EXPECT_NEAR(one["iteration_time_s"], 288.0, 288.0 * 0.005);
  // One grouped kernel per operator: no launch is per expert, the host is not the limit.
  EXPECT_LT(grouped["iteration_time_s"], 1.0);
}

TEST(MoeHostIssue, TheDispatchersHostWaitIsPaidOncePerMoeLayerForward) {
  // A host far faster than any kernel (1 ns per operator) is never the limit of a group; with no pipeline (no
  // pass waits for a receive) what it adds is the dispatch's wait for the GPU: once per MoE layer forward, 8
  // layers x 2 micro-batches = 16 ns. Backward reuses the forward's split sizes: no wait there.
  const std::vector<std::string> grouped = {"workload.moe_grouped_gemm=single_kernel"};
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
  auto doff = megatron_support::run({"workload.pipeline_model_parallel_size=1", "workload.host_op_time=0us"});
  auto dfast = megatron_support::run({"workload.pipeline_model_parallel_size=1", "workload.host_op_time=1ns"});
  ASSERT_FALSE(doff.count("child_failed") || dfast.count("child_failed"));
  EXPECT_NEAR(dfast["time_compute_s"] - doff["time_compute_s"], 0.0, 1e-12);
}

TEST(MoeHostIssue, BadKeysAreRejectedWithTheirNames) {
  for (const auto& [set, key] : std::vector<std::pair<std::string, std::string>>{
           {"workload.moe_grouped_gemm=cutlass", "workload.moe_grouped_gemm"},
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
