// Without sequence parallelism, a column-parallel layer's backward all-reduces its input gradient beside its
// weight-gradient GEMM (tensor_parallel_backward_async_allreduce, default true: Megatron-LM's
// LinearWithGradAccumulationAndAsyncCommunication with allreduce_dgrad, Transformer Engine's Linear /
// LayerNormLinear), or after the layer's backward, exposed (false: the Megatron-LM of 2021 the SC'21 rows ran).
// docs/training.md, "Tensor parallelism without sequence parallelism". And a MoE layer's shared expert under TP and
// SP: its first linear layer is column-parallel, so it gathers its input again in backward (MoeTensorParallel.*).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "megatron_support.h"
#include "test_support.h"

#include "models/hardware/catalog.h"
#include "models/hardware/op_cost.h"
#include "scenarios/scenario.h"
#include "workloads/training/megatron.h"

namespace lcsim {
namespace {

using megatron_support::parse_with;
using policy::CollectiveOp;
using Segment = wl::MegatronTraining::Segment;

// One layer (h 4,096, 32 heads, sequence 4,096, micro-batch 1: t = 4,096 tokens), TP 2 without SP, bf16, no host
// floor. Per TP rank the column-parallel GEMMs are QKV 4096 x 6144 x 4096, the first MLP GEMM 4096 x 8192 x 4096 and
// the logits 4096 x 16000 x 4096; each input gradient is t x h x 2 B = 32 MiB.
std::vector<Segment> backward_with(const std::string& extra, const std::string& model = "") {
  const Scenario sc = parse_with(R"(workload:
  type: megatron
  model: {num_layers: 1, hidden_size: 4096, num_attention_heads: 32, seq_length: 4096, vocab_size: 32000)" + model + R"(}
  global_batch_size: 32
  micro_batch_size: 1
  tensor_model_parallel_size: 2
  host_op_time: 0us
)" + extra);
  const auto& w = dynamic_cast<const wl::MegatronTraining&>(*sc.workload);
  return w.plan_stage(hw::PartCatalog::get().part("H100-SXM-80GB"), 0).backward[0].segments;
}

// The backward, in order: the output layer (the cross-entropy's backward and the logits' input-gradient GEMM ending
// with the all-reduce, which runs beside the next segment: the logits' weight-gradient GEMM, waited for at its end),
// the final norm; the layer: residual, the MLP in two (its down GEMM, activation and up GEMM's input gradient ending
// with the all-reduce; the up GEMM's weight gradient), norm2, attention, the QKV projection in two, norm1; the
// embedding's. Three segments more than the backward that all-reduces after each layer's backward (false), and
// the two halves of each sum to its one segment; that one ends with the same all-reduce, exposed.
TEST(TpAsyncAllReduce, ColumnParallelBackwardAllReducesTheInputGradientBesideTheWeightGradientGemm) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const std::vector<Segment> async = backward_with(""),
                             after = backward_with("  tensor_parallel_backward_async_allreduce: false\n");
  ASSERT_EQ(async.size(), 3u + 8 + 1) << "the head's 3, the layer's 8, the embedding's 1";
  ASSERT_EQ(after.size(), async.size() - 3);
  const double input_gradient = 4096.0 * 4096 * 2;
  const struct {
    size_t at, at_after;
    double n;
    std::string what;
  } layers[] = {{0, 0, 16000, "logits"}, {4, 3, 8192, "mlp up"}, {8, 6, 6144, "qkv"}};
  for (const auto& l : layers) {
    const Segment &dgrad = async[l.at], &wgrad = async[l.at + 1], &one = after[l.at_after];
    ASSERT_EQ(dgrad.comms.size(), 1u) << l.what;
    EXPECT_EQ(dgrad.comms[0].op, CollectiveOp::kAllReduce) << l.what;
    EXPECT_DOUBLE_EQ(dgrad.comms[0].size.bytes(), input_gradient) << l.what;
    EXPECT_TRUE(dgrad.overlap) << l.what << ": beside the weight-gradient GEMM";
    EXPECT_TRUE(wgrad.comms.empty()) << l.what;
    EXPECT_EQ(wgrad.compute, hw::gemm_time(part, hw::DType::kBf16, {4096, l.n, 4096})) << l.what;
    EXPECT_EQ(wgrad.weight, wgrad.compute) << l.what;
    ASSERT_EQ(one.comms.size(), 1u) << l.what;
    EXPECT_EQ(one.comms[0].op, CollectiveOp::kAllReduce) << l.what;
    EXPECT_DOUBLE_EQ(one.comms[0].size.bytes(), input_gradient) << l.what;
    EXPECT_FALSE(one.overlap) << l.what << ": after both GEMMs, exposed";
    EXPECT_NEAR((dgrad.compute + wgrad.compute).s(), one.compute.s(), 1e-15 + 1e-12 * one.compute.s()) << l.what;
    EXPECT_NEAR((dgrad.weight + wgrad.weight).s(), one.weight.s(), 1e-15) << l.what;
  }
  // Sequence parallelism keeps its own plan (the reduce-scatter beside the weight-gradient GEMM), whatever the key.
  const std::vector<Segment> sp = backward_with("  sequence_parallel: true\n"),
                             sp_off = backward_with("  sequence_parallel: true\n"
                                                    "  tensor_parallel_backward_async_allreduce: false\n");
  ASSERT_EQ(sp.size(), sp_off.size());
  for (size_t i = 0; i < sp.size(); ++i) {
    EXPECT_EQ(sp[i].compute, sp_off[i].compute) << i;
    EXPECT_EQ(sp[i].comms.size(), sp_off[i].comms.size()) << i;
  }
}

// In a run (kBase's cluster, 2 layers of h 4,096, 32 heads, sequence 4,096, TP 2, PP 1: DP 16, 2 micro-batches; no SM
// contention and no host floor, so a kernel's time does not depend on what runs beside it):
//  - all-reduce longer than the weight-gradient GEMM (a 10 ms collective latency): the async all-reduce hides exactly
//    the GEMM beside it, so the iteration is shorter by the weight-gradient GEMMs of the column-parallel layers, by
//    hand: per micro-batch 2 x (QKV 4096 x 6144 x 4096 + MLP up 4096 x 8192 x 4096) + the logits 4096 x 16000 x 4096;
//  - all-reduce shorter (the part's calibration: 32 MiB at NVLink speed, about a hundred microseconds, against GEMMs
//    of 0.2 TFLOP and more): it hides whole, so the iteration is shorter by exactly the exposed TP time it no longer
//    adds, by less than the GEMMs beside it, and the kernels take the same time.
TEST(TpAsyncAllReduce, TheAllReduceHidesUnderTheWeightGradientGemmUpToItsLength) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  auto gemm = [&](double n) { return hw::gemm_time(part, hw::DType::kBf16, {4096, n, 4096}).s(); };
  const double wgrads = 2 * (2 * (gemm(6144) + gemm(8192)) + gemm(16000));
  auto with = [](std::vector<std::string> extra, bool async) {
    extra.insert(extra.end(), {"workload.pipeline_model_parallel_size=1", "workload.host_op_time=0us",
                               "workload.model.num_layers=2", "workload.model.hidden_size=4096",
                               "workload.model.num_attention_heads=32", "workload.model.seq_length=4096",
                               "cluster.accelerator={base: H100-SXM-80GB, calibration: {overlap_sm_share: 0}}",
                               std::string("workload.tensor_parallel_backward_async_allreduce=") +
                                   (async ? "true" : "false")});
    return megatron_support::run(extra);
  };
  const std::vector<std::string> slow = {"policies.collectives.part_calibration=false",
                                         "policies.collectives.base_latency=10ms"};
  const auto long_async = with(slow, true), long_after = with(slow, false);
  const auto short_async = with({}, true), short_after = with({}, false);
  for (const auto* m : {&long_async, &long_after, &short_async, &short_after}) ASSERT_FALSE(m->count("child_failed"));
  ASSERT_EQ(short_async.at("micro_batches"), 2);
  EXPECT_NEAR(long_after.at("iteration_time_s") - long_async.at("iteration_time_s"), wgrads, 1e-9);
  EXPECT_NEAR(long_after.at("time_compute_s"), long_async.at("time_compute_s"), 1e-9);
  const double hidden = short_after.at("time_exposed_tp_s") - short_async.at("time_exposed_tp_s");
  EXPECT_GT(hidden, 0);
  EXPECT_LT(hidden, 0.5 * wgrads);
  EXPECT_NEAR(short_after.at("iteration_time_s") - short_async.at("iteration_time_s"), hidden, 1e-9);
  EXPECT_NEAR(short_after.at("time_compute_s"), short_async.at("time_compute_s"), 1e-9);
}

// The first segment whose collectives include one named `name`; the segments' count if none.
size_t segment_with(const std::vector<Segment>& b, const std::string& name) {
  for (size_t i = 0; i < b.size(); ++i) {
    for (const auto& x : b[i].comms) {
      if (x.name == name) return i;
    }
  }
  return b.size();
}

// One MoE layer (8 experts of 2,048, top 2, a shared expert of 4,096) under TP 2 with SP, EP 1. Megatron-core's
// SharedExpertMLP is an MLP of TP linear layers run on the layer's (sequence-parallel) input, folded experts or not:
// its linear_fc1 keeps its input's shard and, in backward, gathers it again (4,096 x 4,096 x 2 B) beside the
// input-gradient GEMM (4096 x 4096 x 2048: its 2,048 of 4,096 columns), then reduce-scatters the input gradient
// beside the weight-gradient GEMM (4096 x 2048 x 4096), which waits for it at its end; the routed experts' backward
// comes after. The routed tokens' gather (experts split over TP) is its own autograd op: the experts keep the
// gathered tokens and gather nothing again. With sequence_parallel_backward_gather false the MLP's backward is one
// segment, the same kernels, its reduce-scatters after it.
TEST(MoeTensorParallel, TheSharedExpertGathersItsInputAgainInBackward) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const std::string moe = ", num_experts: 8, moe_router_topk: 2, moe_ffn_hidden_size: 2048, "
                          "moe_shared_expert_intermediate_size: 4096";
  const double act = 4096.0 * 4096 * 2;
  for (const char* folded : {"  expert_tensor_parallel_size: 1\n", ""}) {
    const std::string sp = std::string("  sequence_parallel: true\n") + folded;
    const std::vector<Segment> b = backward_with(sp, moe),
                               kept = backward_with(sp + "  sequence_parallel_backward_gather: false\n", moe);
    const size_t at = segment_with(b, "tp all-gather shared expert input again (bwd)");
    ASSERT_LT(at + 3, b.size()) << folded;
    EXPECT_DOUBLE_EQ(b[at].comms[0].size.bytes(), act);
    EXPECT_TRUE(b[at].overlap);
    const Segment &dgrad = b[at + 1], &wgrad = b[at + 2], &routed = b[at + 3];
    ASSERT_EQ(dgrad.comms.size(), 1u);
    EXPECT_EQ(dgrad.comms[0].name, "tp reduce-scatter shared expert input (bwd)");
    EXPECT_DOUBLE_EQ(dgrad.comms[0].size.bytes(), act);
    EXPECT_TRUE(dgrad.overlap);
    EXPECT_EQ(dgrad.compute, hw::gemm_time(part, hw::DType::kBf16, {4096, 4096, 2048}));
    EXPECT_TRUE(wgrad.comms.empty());
    EXPECT_EQ(wgrad.compute, hw::gemm_time(part, hw::DType::kBf16, {4096, 2048, 4096}));
    EXPECT_EQ(wgrad.weight, wgrad.compute);
    // Split over TP (not folded), the routed tokens' reduce-scatter follows the routed experts' backward, exposed.
    ASSERT_EQ(routed.comms.size(), *folded ? 0u : 1u);
    if (!*folded) {
      EXPECT_EQ(routed.comms[0].name, "tp reduce-scatter routed tokens (bwd)");
    }
    EXPECT_FALSE(routed.overlap);
    EXPECT_EQ(segment_with(b, "tp all-gather routed tokens again (bwd)"), b.size()) << "the experts gather nothing again";
    // The kept input: the MLP's backward is one segment (four before), with the same kernels; so are the QKV
    // projection's and the output layer's (three each before).
    ASSERT_EQ(kept.size(), b.size() - 3 - 2 - 2);
    EXPECT_EQ(segment_with(kept, "tp all-gather shared expert input again (bwd)"), kept.size());
    const Segment& one = kept[segment_with(kept, "tp reduce-scatter shared expert input (bwd)")];
    EXPECT_FALSE(one.overlap);
    const Duration split = b[at].compute + dgrad.compute + wgrad.compute + routed.compute;
    EXPECT_NEAR(split.s(), one.compute.s(), 1e-15 + 1e-12 * one.compute.s()) << folded;
  }
}

}  // namespace
}  // namespace lcsim
