// Framework module calls (workloads/training/module_calls.h) and the host's time per call
// (workload.host_module_time; docs/calibration.md, "Host time per module call"): which kernels start a call, and a
// whole run's compute growing by exactly calls x the time under the serial bound, with Transformer Engine's chunked
// TP-overlap GEMMs and CUDA-graph-captured modules counted as the framework calls them.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "megatron_support.h"

#include "models/hardware/op_cost.h"
#include "scenarios/scenario.h"
#include "workloads/training/gpt_model.h"
#include "workloads/training/module_calls.h"

namespace lcsim {
namespace {

hw::OpWork gemm(const char* name) { return hw::gemm_op(name, {1024, 1024, 1024}, 2); }
hw::OpWork attention(const char* name) { return hw::attention_op(name, {1, 1024, 1024, 8, 8, 128, true}, 2); }
hw::OpWork memory(const char* name) { return hw::memory_op(name, Bytes::mib(1)); }

TEST(ModuleCalls, ALayersLinearsAndCoreAttentionEachWay) {
  const std::vector<hw::OpWork> forward = {memory("norm1"), gemm("qkv"), memory("rope"), attention("attention"),
                                           gemm("attn_proj"), memory("norm2"), gemm("mlp_up"), memory("swiglu"),
                                           gemm("mlp_down")};
  EXPECT_EQ(wl::module_calls(forward), 5u);
  // Backward: each linear's input gradient starts its backward call, the weight gradient is in the same call.
  const std::vector<hw::OpWork> backward = wl::backward_of(forward, 2);
  EXPECT_EQ(wl::module_calls(backward), 5u);
  // The router's gate is costed by its launches; an unfused core attention's two GEMMs are one call.
  EXPECT_EQ(wl::module_calls({gemm("router"), gemm("attn_scores"), memory("attn_softmax"), gemm("attn_values")}), 1u);
  EXPECT_EQ(wl::module_calls(wl::backward_of({gemm("router"), gemm("attn_scores"), gemm("attn_values")}, 2)), 1u);
}

TEST(ModuleCalls, AContextParallelRingIsOneCallEachWay) {
  std::vector<hw::OpWork> steps = {attention("attention_step"), memory("cp_merge"), attention("attention_step"),
                                   memory("cp_merge"), attention("attention_step")};
  EXPECT_EQ(wl::module_calls(steps), 1u);
  hw::OpWork back = attention("attention_step_bwd");
  back.attention.backward = true;
  steps.push_back(back);
  steps.push_back(back);
  EXPECT_EQ(wl::module_calls(steps), 2u);  // the forward's call and the backward's
  // One counter per pass: a second counter counts the ring again.
  wl::ModuleCalls calls;
  EXPECT_EQ(calls.count(steps.front()), 1u);
  EXPECT_EQ(calls.count(steps.front()), 0u);
}

TEST(ModuleCalls, SequentialExpertsRepeatTheirGemmsCalls) {
  const std::vector<hw::OpWork> experts = {gemm("expert_up"), memory("expert_act"), gemm("expert_down")};
  EXPECT_EQ(wl::expert_module_calls(experts), 2u);
  EXPECT_EQ(wl::expert_module_calls(wl::backward_of(experts, 2)), 2u);  // the input gradients, not the weights'
  EXPECT_EQ(wl::expert_module_calls({gemm("mlp_up"), gemm("shared_up")}), 0u);
}

// megatron_support's layout (32 GPUs, TP 2, PP 4: DP 4, 32 / 4 = 8 micro-batches a rank; 8 layers, 2 a stage) under
// the serial bound, where each group's issue time adds to its kernels: compute grows by exactly the module calls x
// host_module_time. Per micro-batch a stage's 2 layers make 5 calls forward and 5 backward each; the last stage adds
// the output layer's forward and backward: (8 x 20 x 3 + 8 x 22) / 4 stages = 164 calls per rank (the mean).
double added_compute(const std::vector<std::string>& extra) {
  std::vector<std::string> sets = {"workload.host_issue_model=serial"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  std::vector<std::string> with = sets;
  with.push_back("workload.host_module_time=1ms");
  const auto a = megatron_support::run(sets), b = megatron_support::run(with);
  EXPECT_FALSE(a.count("child_failed") || b.count("child_failed"));
  return b.at("time_compute_s") - a.at("time_compute_s");
}

TEST(ModuleCalls, EachCallAddsTheModuleTimeToARun) {
  EXPECT_NEAR(added_compute({}), 164e-3, 1e-9);
  // Transformer Engine's TP overlap runs each GEMM in chunks, one kernel each: still one call per module.
  EXPECT_NEAR(added_compute({"workload.sequence_parallel=true", "workload.tp_comm_overlap=true"}), 164e-3, 1e-9);
  // CUDA graphs of the attention scope: its captured modules (the QKV and output projections, the core attention,
  // each way) are one graph launch each, no module call: 4 of each layer's 10 calls are left, (8 x 8 x 4 + 8 x 2) / 4.
  EXPECT_NEAR(added_compute({"workload.cuda_graph_impl=transformer_engine", "workload.cuda_graph_scope=[attn]"}),
              68e-3, 1e-9);
  // host_op_time 0: the host is never the limit, module calls included.
  EXPECT_NEAR(added_compute({"workload.host_op_time=0s"}), 0, 1e-12);
}

TEST(ModuleCalls, BadModuleTimeIsRejectedWithItsKey) {
  ConfigValue tree = parse_yaml_text(megatron_support::kBase, "mt.yaml");
  apply_override(tree, "workload.host_module_time=-1us");
  try {
    parse_scenario(tree);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("workload.host_module_time"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lcsim
