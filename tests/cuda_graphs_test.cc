// CUDA graphs (cuda_graph_impl, cuda_graph_scope; Megatron-LM's --cuda-graph-impl / --cuda-graph-scope): the kernels
// of a captured module replay as one graph launch, so the host issues one operator's time per captured run instead
// of one per kernel (docs/training-cuda-graphs.md).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "megatron_support.h"
#include "models/hardware/catalog.h"
#include "workloads/training/megatron.h"

namespace lcsim {
namespace {

using wl::MegatronTraining;

MegatronTraining::StagePlan stage_plan(const std::vector<std::string>& sets, int stage) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const Scenario sc = megatron_support::parse_sets(sets);
  return dynamic_cast<const MegatronTraining&>(*sc.workload).plan_stage(part, stage);
}

// A host so slow (1 ms per operator) that it bounds every group of the test layout's small layers (hidden 2,048,
// 2,048 tokens over TP 2: no kernel near a millisecond). Whole layers captured (local, scope []): each forward
// segment with kernels costs one launch, 1 ms, the pass's first one more (the wait after the pipeline receive, not
// captured); without graphs a segment of n kernels costs n ms.
TEST(CudaGraphs, CapturedLayersCostOneLaunchPerRunOfKernels) {
  const std::string slow = "workload.host_op_time=1ms";
  const auto graphs = stage_plan({slow, "workload.cuda_graph_impl=local"}, 1);
  const auto eager = stage_plan({slow}, 1);
  ASSERT_EQ(graphs.forward[0].segments.size(), eager.forward[0].segments.size());
  bool some_several = false;
  for (size_t i = 0; i < graphs.forward[0].segments.size(); ++i) {
    const double g = graphs.forward[0].segments[i].compute.s(), e = eager.forward[0].segments[i].compute.s();
    const double expected = e == 0 ? 0.0 : i == 0 ? 2e-3 : 1e-3;
    EXPECT_NEAR(g, expected, 1e-12) << i;
    some_several = some_several || e > g + 1e-4;
  }
  EXPECT_TRUE(some_several);  // the eager host issued several kernels somewhere
  // Backward too: no segment above one launch (plus the pass's first wait).
  for (size_t i = 0; i < graphs.backward[0].segments.size(); ++i) {
    EXPECT_LE(graphs.backward[0].segments[i].compute.s(), (i == 0 ? 2e-3 : 1e-3) + 1e-12) << i;
  }
  // Only the attention captured: its three groups at one launch each, the MLP's as without graphs.
  const auto attn = stage_plan({slow, "workload.cuda_graph_impl=transformer_engine", "workload.cuda_graph_scope=[attn]"}, 1);
  EXPECT_NEAR(attn.forward[0].segments[1].compute.s(), 1e-3, 1e-12);  // layer 2's QKV group
  EXPECT_EQ(attn.forward[0].segments[4].compute, eager.forward[0].segments[4].compute);  // its MLP group
  // A host that never binds: graphs change nothing, bit for bit.
  const auto fast = megatron_support::run({"workload.host_op_time=0s"});
  const auto fast_graphs = megatron_support::run({"workload.host_op_time=0s", "workload.cuda_graph_impl=local"});
  for (const auto& [k, v] : fast) EXPECT_EQ(fast_graphs.at(k), v) << k;
  // At the default host time the run is no slower with graphs.
  EXPECT_LE(megatron_support::run({"workload.cuda_graph_impl=local"}).at("iteration_time_s"),
            megatron_support::run({}).at("iteration_time_s"));
}

// The same with Transformer Engine's TP overlap (tp_comm_overlap: its chunked GEMMs and their exchanges cut a
// layer into more segments, megatron_tp_overlap.cc): captured, each segment's run of kernels is one launch there
// too, where before the graphs were not seen on those layers and every kernel and GEMM chunk was a launch.
TEST(CudaGraphs, TpOverlappedLayersCountTheirCapturedRunsAsOneLaunch) {
  const std::vector<std::string> te = {"workload.host_op_time=1ms", "workload.sequence_parallel=true",
                                       "workload.tp_comm_overlap=true"};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), te.begin(), te.end());
    return stage_plan(more, 1);
  };
  const auto graphs = with({"workload.cuda_graph_impl=local"}), eager = with({});
  ASSERT_EQ(graphs.forward[0].segments.size(), eager.forward[0].segments.size());
  // The overlapped layers' own segments (chunks), more than the layers have without the overlap.
  const auto plain = stage_plan({te[0], te[1]}, 1);
  EXPECT_GT(eager.forward[0].segments.size(), plain.forward[0].segments.size());
  bool some_several = false;
  for (size_t i = 0; i < graphs.forward[0].segments.size(); ++i) {
    const double g = graphs.forward[0].segments[i].compute.s(), e = eager.forward[0].segments[i].compute.s();
    EXPECT_LE(g, (i == 0 ? 2e-3 : 1e-3) + 1e-12) << i;
    EXPECT_LE(g, e + 1e-12) << i;
    some_several = some_several || e > g + 1e-4;
  }
  EXPECT_TRUE(some_several);
  for (size_t i = 0; i < graphs.backward[0].segments.size(); ++i) {
    EXPECT_LE(graphs.backward[0].segments[i].compute.s(), (i == 0 ? 2e-3 : 1e-3) + 1e-12) << i;
  }
  EXPECT_LT(graphs.forward[0].compute + graphs.backward[0].compute,
            eager.forward[0].compute + eager.backward[0].compute);
}

// A whole iteration in one graph (local, scope [full_iteration]; Megatron-core's FullCudaGraphWrapper around the
// forward-backward schedule): the host issues nothing, so every segment takes its kernels' GPU time alone, exactly
// as with a host that never binds, and no pass waits on the host after its pipeline receive. Megatron-LM's
// arguments say the same.
TEST(CudaGraphs, FullIterationGraphLeavesTheHostOutOfTheStep) {
  const std::string slow = "workload.host_op_time=1ms";
  const std::string local = "workload.cuda_graph_impl=local", whole = "workload.cuda_graph_scope=[full_iteration]";
  // A whole-iteration graph holds no host synchronization: Megatron's NaN checks off, as Megatron-LM asserts.
  const std::string no_grad = "workload.check_for_nan_in_grad=false", no_loss = "workload.check_for_nan_in_loss=false";
  const std::vector<std::string> full = {local, whole, no_grad, no_loss};
  const auto free_host = stage_plan({"workload.host_op_time=0s"}, 1);
  auto slow_full = full;
  slow_full.push_back(slow);
  const auto graphed = stage_plan(slow_full, 1);
  const auto layers = stage_plan({slow, "workload.cuda_graph_impl=local"}, 1);  // per-layer graphs: launches remain
  for (const auto* p : {&graphed.forward, &graphed.backward}) ASSERT_FALSE(p->empty());
  for (size_t pass = 0; pass < 2; ++pass) {
    const auto& g = pass == 0 ? graphed.forward[0] : graphed.backward[0];
    const auto& f = pass == 0 ? free_host.forward[0] : free_host.backward[0];
    ASSERT_EQ(g.segments.size(), f.segments.size());
    for (size_t i = 0; i < g.segments.size(); ++i) EXPECT_EQ(g.segments[i].compute, f.segments[i].compute) << pass << i;
    EXPECT_EQ(g.compute, f.compute) << pass;
  }
  // Per-layer graphs at the same slow host still pay a launch per captured run and the pass's first wait.
  EXPECT_GT(layers.forward[0].compute, graphed.forward[0].compute + Duration::ms(2));
  // The whole run: a never-binding host gives the same metrics, bit for bit.
  const auto run_full = megatron_support::run({local, whole, slow, no_grad, no_loss});
  const auto run_free = megatron_support::run({"workload.host_op_time=0s", no_grad, no_loss});
  for (const auto& [k, v] : run_free) EXPECT_EQ(run_full.at(k), v) << k;
  const Scenario line = megatron_support::parse_with(R"(workload:
  type: megatron
  megatron_args: "--cuda-graph-impl local --cuda-graph-scope full_iteration --no-check-for-nan-in-loss-and-grad"
)");
  const auto& c = dynamic_cast<const MegatronTraining&>(*line.workload).config();
  EXPECT_TRUE(c.full_iteration_graph());
  EXPECT_TRUE(c.graphs("mlp"));
  EXPECT_EQ(c.host_issue(hw::PartCatalog::get().part("H100-SXM-80GB")).op_time, Duration());
}

// Megatron-LM's arguments, and what a dropless MoE layer allows: its router and permutation captured (the route and
// preprocess steps), not its experts, whose token counts change every step.
TEST(CudaGraphs, ArgumentsAndDroplessExperts) {
  const Scenario line = megatron_support::parse_with(R"(workload:
  type: megatron
  megatron_args: "--cuda-graph-impl transformer_engine --cuda-graph-scope attn moe_router moe_preprocess --cuda-graph-warmup-steps 3"
)");
  const auto& c = dynamic_cast<const MegatronTraining&>(*line.workload).config();
  EXPECT_EQ(c.cuda_graph_impl, "transformer_engine");
  EXPECT_EQ(c.cuda_graph_scope, (std::vector<std::string>{"attn", "moe_router", "moe_preprocess"}));
  EXPECT_TRUE(c.graphs("moe_router"));
  EXPECT_FALSE(c.graphs("moe"));
  EXPECT_FALSE(c.graphs("mlp"));
  EXPECT_TRUE(c.not_modelled_args.empty());
  const Scenario legacy = megatron_support::parse_with("workload:\n  type: megatron\n  megatron_args: \"--enable-cuda-graph\"\n");
  EXPECT_EQ(dynamic_cast<const MegatronTraining&>(*legacy.workload).config().cuda_graph_impl, "local");
  const std::vector<std::string> moe = {"workload.model.num_experts=8", "workload.model.moe_router_topk=2",
                                        "workload.expert_model_parallel_size=2", "workload.sequence_parallel=true",
                                        "workload.cuda_graph_impl=transformer_engine"};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), moe.begin(), moe.end());
    return megatron_support::parse_sets_error(more);
  };
  EXPECT_NE(with({"workload.cuda_graph_scope=[moe]"}).find("captures the experts, whose token counts change every step"),
            std::string::npos);
  EXPECT_NE(with({}).find("[] (the whole layer) captures the experts"), std::string::npos);
  EXPECT_EQ(with({"workload.cuda_graph_scope=[attn, moe_router, moe_preprocess]"}), "");
  // A whole iteration in one graph captures the experts too; it is Megatron-core's own (local) graphs only, alone.
  const std::string whole = "workload.cuda_graph_scope=[full_iteration]";
  EXPECT_NE(with({"workload.cuda_graph_impl=local", whole}).find("full_iteration captures the experts"),
            std::string::npos);
  EXPECT_NE(megatron_support::parse_sets_error({"workload.cuda_graph_impl=transformer_engine", whole})
                .find("full_iteration needs cuda_graph_impl: local"),
            std::string::npos);
  EXPECT_NE(megatron_support::parse_sets_error(
                    {"workload.cuda_graph_impl=local", "workload.cuda_graph_scope=[attn, full_iteration]"})
                .find("name it alone"),
            std::string::npos);
  EXPECT_NE(megatron_support::parse_sets_error({"workload.cuda_graph_scope=[attn]"}).find("needs cuda_graph_impl"),
            std::string::npos);
  // The route and preprocess steps captured: the MoE layer's host time falls where the host binds.
  const std::string slow = "workload.host_op_time=1ms";
  std::vector<std::string> eager = {moe.begin(), moe.end() - 1};
  eager.push_back(slow);
  std::vector<std::string> routed = eager;
  routed.insert(routed.end(), {"workload.cuda_graph_impl=transformer_engine", "workload.cuda_graph_scope=[moe_router, moe_preprocess]"});
  EXPECT_LT(stage_plan(routed, 1).forward[0].compute, stage_plan(eager, 1).forward[0].compute);
}

}  // namespace
}  // namespace lcsim
