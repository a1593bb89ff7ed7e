// Tensor-parallel comm+GEMM overlap as Transformer Engine's userbuffers run it (tp_comm_overlap,
// tp_comm_overlap_cfg; workloads/training/megatron_tp_overlap.cc, docs/training.md): the chunked GEMMs and the
// collectives beside them in the plan of one layer, each derived by hand from the layer's shapes, the GEMM on the
// SMs a margin leaves, and the SM share that replaces the part's overlap_sm_share for the kernels beside them; and
// without the overlap, a sequence-parallel column-parallel layer's backward as Megatron-LM's and Transformer Engine's
// own linear layers run it (SequenceParallel.*: its input gathered again beside the input-gradient GEMM).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "megatron_support.h"
#include "test_support.h"

#include "models/hardware/catalog.h"
#include "models/hardware/op_cost.h"
#include "scenarios/scenario.h"
#include "workloads/training/megatron.h"
#include "workloads/training/megatron_args.h"

namespace lcsim {
namespace {

using megatron_support::parse_with;
using megatron_support::run;
using policy::CollectiveOp;
using Segment = wl::MegatronTraining::Segment;

// A GEMM confined to 116 of the H100's 132 SMs (a 16-SM margin): 8,448 x 512 x 4,096 in FP8 fills 132 tiles of
// 128x256, one wave on 132 SMs. On 116 SMs at 116/132 of the peak the best tile is 64x128: 528 tiles in
// ceil(528 / 116) = 5 waves at 0.8 of the rate, 5 x 116 x 64 x 128 / 0.8 = 5,939,200 tile-FLOP units against
// 132 x 128 x 256 = 4,325,376 (128x256 in 2 waves, 128x128 in 3, 64x64 in 10 are slower): 1.5625 times as long.
TEST(TpOverlap, AGemmOnFewerSmsTakesTheWavesItsTilesNeedThere) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  ASSERT_EQ(part.compute_units, 132);
  const hw::AcceleratorSpec fewer = hw::with_compute_units(part, 116);
  EXPECT_EQ(fewer.compute_units, 116);
  EXPECT_DOUBLE_EQ(fewer.peak(hw::DType::kFp8).flop_per_s(), part.peak(hw::DType::kFp8).flop_per_s() * 116 / 132);
  const double launch = part.calibration.kernel_launch.s();
  const hw::GemmShape s{8448, 512, 4096, 1};
  const double all = hw::gemm_time(part, hw::DType::kFp8, s).s() - launch;
  const double rate = 1978.9e12 * part.calibration.fp8_gemm_efficiency * 4096 / (4096 + part.calibration.gemm_k_half);
  EXPECT_NEAR(all, 2.0 * 132 * 128 * 256 * 4096 / rate, 1e-12);
  EXPECT_NEAR(hw::gemm_time(fewer, hw::DType::kFp8, s).s() - launch, 1.5625 * all, 1e-12);
  // 116 tiles fit one wave either way: the margin costs nothing.
  const hw::GemmShape fits{128 * 116, 256, 4096, 1};
  EXPECT_NEAR(hw::gemm_time(fewer, hw::DType::kFp8, fits).s(), hw::gemm_time(part, hw::DType::kFp8, fits).s(), 1e-12);
}

// One layer (h 4,096, 32 heads, sequence 4,096, micro-batch 1: t = 4,096 tokens), TP 2 with SP, bf16, no host
// floor. Per TP rank: QKV 4096 x 6144 x 4096 (16 heads + 2 x 16 key/value heads of 128), projection
// 4096 x 4096 x 2048, MLP 4096 x 8192 x 4096 and 4096 x 4096 x 8192, logits 4096 x 16000 x 4096.
std::string layer_yaml(const std::string& extra, bool overlap = true) {
  return R"(workload:
  type: megatron
  model: {num_layers: 1, hidden_size: 4096, num_attention_heads: 32, seq_length: 4096, vocab_size: 32000}
  global_batch_size: 32
  micro_batch_size: 1
  tensor_model_parallel_size: 2
  sequence_parallel: true
  tp_comm_overlap: )" + std::string(overlap ? "true" : "false") + R"(
  host_op_time: 0us
)" + extra;
}

wl::MegatronTraining::StagePlan plan_of(const Scenario& sc) {
  const auto& w = dynamic_cast<const wl::MegatronTraining&>(*sc.workload);
  return w.plan_stage(hw::PartCatalog::get().part("H100-SXM-80GB"), 0);
}

// One of `parts` chunks of tokens of the GEMM `whole` (m: tokens): Transformer Engine runs the chunks on
// s = min(3, parts) compute streams, so lcsim prices s chunks as one batched GEMM and takes 1/s of it (one launch
// each).
double chunk_s(const hw::AcceleratorSpec& p, hw::GemmShape whole, int parts) {
  const double s = std::min(3, parts), launch = p.calibration.kernel_launch.s();
  whole.m /= parts;
  whole.batch = s;
  return (hw::gemm_time(p, hw::DType::kBf16, whole).s() - launch) / s + launch;
}

void expect_comm(const Segment& s, CollectiveOp op, double bytes, bool overlap, const std::string& where) {
  ASSERT_EQ(s.comms.size(), 1u) << where;
  EXPECT_EQ(s.comms[0].op, op) << where;
  EXPECT_DOUBLE_EQ(s.comms[0].size.bytes(), bytes) << where;
  EXPECT_EQ(s.overlap, overlap) << where;
}

// Forward with Transformer Engine's defaults (ring-exchange all-gathers; GEMM + reduce-scatter pipelined in 4
// chunks on 116 SMs, a 16-SM margin). After the embedding (segment 0):
//  1 norm1, then the first exchange: each rank sends its 2,048 tokens x 4,096 x 2 B to the other, beside
//  2 the QKV GEMM of its own 2,048 tokens (the rank's chunk, 2048 x 6144 x 4096; the exchange takes no SMs:
//    share 0), then
//  3 the received chunk's QKV GEMM, attention and the projection's first quarter (1,024 tokens on 116 SMs), whose
//    reduce-scatter (1,024 x 4,096 x 2 B) runs beside
//  4, 5 the next quarters (each waits for the previous reduce-scatter), and 6 the last, whose reduce-scatter is
//    exposed; 7-12 the MLP the same way; 13 the last residual.
TEST(TpOverlap, ForwardGemmsRunInChunksBesideTheirExchanges) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const hw::AcceleratorSpec margin = hw::with_compute_units(part, 116);
  const auto plan = plan_of(parse_with(layer_yaml("")));
  const auto& f = plan.forward[0].segments;
  ASSERT_EQ(f.size(), 1u + 13 + 2) << "embedding, 13 segments of the layer, the head's 2";
  const double chunk = 2048.0 * 4096 * 2, quarter = 1024.0 * 4096 * 2;
  expect_comm(f[1], CollectiveOp::kSendRecv, chunk, true, "qkv exchange");
  EXPECT_TRUE(f[2].comms.empty());
  EXPECT_NEAR(f[2].compute.s(), chunk_s(part, {4096, 6144, 4096}, 2), 1e-12);
  EXPECT_EQ(f[2].sm_share, 0.0) << "the exchange runs on the copy engines";
  for (int i = 3; i <= 6; ++i) expect_comm(f[i], CollectiveOp::kReduceScatter, quarter, i < 6, "proj " + std::to_string(i));
  for (int i = 4; i <= 6; ++i) {
    EXPECT_NEAR(f[i].compute.s(), chunk_s(margin, {4096, 4096, 2048}, 4), 1e-12) << i;
    EXPECT_EQ(f[i].sm_share, 0.0) << "the margin is in the GEMM's time";
  }
  expect_comm(f[7], CollectiveOp::kSendRecv, chunk, true, "fc1 exchange");
  EXPECT_NEAR(f[8].compute.s(), chunk_s(part, {4096, 8192, 4096}, 2), 1e-12);
  for (int i = 9; i <= 12; ++i) expect_comm(f[i], CollectiveOp::kReduceScatter, quarter, i < 12, "fc2 " + std::to_string(i));
  EXPECT_NEAR(f[12].compute.s(), chunk_s(margin, {4096, 4096, 8192}, 4), 1e-12);
  EXPECT_TRUE(f[13].comms.empty());
  EXPECT_EQ(f[13].compute, hw::memory_time(part, Bytes::of(3.0 * 2048 * 4096 * 2)));  // residual of 1/TP tokens
}

// Backward (the head's 4 segments first: the output layer's backward as without the overlap, below, and the final
// norm's): the output gradient all-gathered chunk by chunk beside the
// second MLP GEMM's input-gradient GEMM (4096 x 8192 x 4096 in two halves of tokens); the first MLP GEMM's saved
// input (4,096 x 4,096 x 2 B) all-gathered beside its input-gradient GEMM and that GEMM's output reduce-scattered
// beside its weight-gradient GEMM (bulk). With NeMo's setting for GPT3-20B's fc1_dgrad (4 SMs, no margin) the
// input-gradient GEMM keeps all 132 SMs and runs beside a collective holding 4 of them.
TEST(TpOverlap, BackwardGathersTheSavedInputBesideTheInputGradientGemm) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const auto bf16 = hw::DType::kBf16;
  auto plan = plan_of(parse_with(layer_yaml("")));
  const auto* b = &plan.backward[0].segments;
  ASSERT_EQ(b->size(), 4u + 11 + 2) << "the head's 4, 11 segments of the layer, the embedding's 2";
  const double chunk = 2048.0 * 4096 * 2, input = 4096.0 * 4096 * 2;
  expect_comm((*b)[4], CollectiveOp::kSendRecv, chunk, true, "fc2 output gradient exchange");
  EXPECT_NEAR((*b)[5].compute.s(), chunk_s(part, {4096, 8192, 4096}, 2), 1e-12);
  expect_comm((*b)[6], CollectiveOp::kAllGather, input, true, "fc1 saved input");
  expect_comm((*b)[7], CollectiveOp::kReduceScatter, input, true, "fc1 input gradient");
  EXPECT_TRUE((*b)[8].comms.empty()) << "the weight-gradient GEMM waits for the reduce-scatter at its end";
  const hw::AcceleratorSpec margin = hw::with_compute_units(part, 116);  // Transformer Engine's default: 16 SMs
  EXPECT_EQ((*b)[7].compute, hw::gemm_time(margin, bf16, {4096, 4096, 8192}));
  EXPECT_EQ((*b)[7].sm_share, 0.0);
  EXPECT_EQ((*b)[8].compute, hw::gemm_time(margin, bf16, {4096, 8192, 4096}));
  plan = plan_of(parse_with(layer_yaml("  tp_comm_overlap_cfg: {fc1_dgrad: {num_sm: 4, set_sm_margin: false}}\n")));
  b = &plan.backward[0].segments;
  EXPECT_EQ((*b)[7].compute, hw::gemm_time(part, bf16, {4096, 4096, 8192}));
  EXPECT_DOUBLE_EQ((*b)[7].sm_share, 4.0 / 132);
  expect_comm((*b)[9], CollectiveOp::kSendRecv, chunk, true, "projection output gradient exchange");
  expect_comm((*b)[11], CollectiveOp::kAllGather, input, true, "qkv saved input");
  expect_comm((*b)[12], CollectiveOp::kReduceScatter, input, true, "qkv input gradient");
  EXPECT_EQ((*b)[12].compute, hw::gemm_time(margin, bf16, {4096, 4096, 6144}));
}

// GEMM + reduce-scatter by ring exchange (GPT3-175B's fc2_fprop in NeMo): the second MLP GEMM in two halves of
// tokens (2048 x 4096 x 8192); the first half's partial output (2,048 x 4,096 x 2 B) goes to its owner beside the
// second, then a kernel adds the two partial halves into the rank's output: reads 2 x 2 B, writes 2 B per element.
TEST(TpOverlap, RingExchangeReduceScatterSendsPartialChunksThenAddsThem) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const auto plan = plan_of(parse_with(layer_yaml("  tp_comm_overlap_cfg: {fc2_fprop: {method: ring_exchange, num_sm: 1, set_sm_margin: false}}\n")));
  const auto& f = plan.forward[0].segments;
  ASSERT_EQ(f.size(), 1u + 11 + 2) << "embedding, 11 segments of the layer, the head's 2";
  expect_comm(f[9], CollectiveOp::kSendRecv, 2048.0 * 4096 * 2, true, "fc2 partial chunk");
  EXPECT_TRUE(f[10].comms.empty());
  EXPECT_NEAR(f[10].compute.s(), chunk_s(part, {4096, 4096, 8192}, 2), 1e-12);
  const Duration reduce = hw::memory_time(part, Bytes::of(2048.0 * 4096 * (2 * 2 + 2)));
  EXPECT_EQ(f[11].compute, reduce + hw::memory_time(part, Bytes::of(3.0 * 2048 * 4096 * 2)));  // + the residual
}

// FP8 with fp8_buf: the all-gathers move FP8 (1 B per element), the reduce-scatters keep 16 bits unless their
// buffer is FP8 too (NeMo's FP8 configurations set it on the GEMM + reduce-scatter layers).
TEST(TpOverlap, Fp8BuffersHalveTheBytesExchanged) {
  auto plan = plan_of(parse_with(layer_yaml("  precision: fp8\n")));
  const auto& f = plan.forward[0].segments;
  EXPECT_DOUBLE_EQ(f[1].comms[0].size.bytes(), 2048.0 * 4096);
  EXPECT_DOUBLE_EQ(f[3].comms[0].size.bytes(), 1024.0 * 4096 * 2);
  plan = plan_of(parse_with(layer_yaml("  precision: fp8\n  tp_comm_overlap_cfg: {proj_fprop: {fp8_buf: true}}\n")));
  EXPECT_DOUBLE_EQ(plan.forward[0].segments[3].comms[0].size.bytes(), 1024.0 * 4096);
}

// In a run: where no Transformer Engine overlap takes SMs (no margins, no SMs taken), the part's overlap_sm_share
// no longer applies to the kernels beside the TP collectives; with 33 SMs taken beside them it does (33 / 132 =
// 0.25). The folded passes give what the segment-by-segment path gives, bit for bit. (The output layer is
// Megatron's own, not Transformer Engine's: its NCCL collectives beside its GEMMs take the part's share, so it keeps
// them after its GEMMs here, sequence_parallel_backward_gather: false.)
TEST(TpOverlap, TheOverlapsOwnSmShareReplacesThePartsInARun) {
  std::string none = "workload.tp_comm_overlap_cfg={";
  for (const char* l : {"proj_fprop", "fc2_fprop", "qkv_dgrad", "fc1_dgrad", "qkv_wgrad", "fc1_wgrad"}) {
    none += std::string(l) + ": {num_sm: 0, set_sm_margin: false}, ";
  }
  none += "qkv_fprop: {num_sm: 0}}";
  const std::vector<std::string> on = {"workload.sequence_parallel=true", "workload.tp_comm_overlap=true",
                                       "workload.sequence_parallel_backward_gather=false"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), on.begin(), on.end());
    return run(extra);
  };
  const auto a = with({none});
  const auto b = with({none, "cluster.accelerator={base: H100-SXM-80GB, calibration: {overlap_sm_share: 0.5}}"});
  std::string taken = none;
  taken.replace(taken.find("qkv_dgrad: {num_sm: 0"), 21, "qkv_dgrad: {num_sm: 33");
  const auto c = with({taken});
  const auto d = with({taken, "simulation.event_granularity=kernel"});
  for (const auto* m : {&a, &b, &c, &d}) ASSERT_FALSE(m->count("child_failed"));
  EXPECT_EQ(a.at("time_compute_s"), b.at("time_compute_s"));
  EXPECT_GT(c.at("time_compute_s"), a.at("time_compute_s"));
  for (const char* k : {"iteration_time_s", "time_compute_s", "time_exposed_tp_s"}) EXPECT_EQ(c.at(k), d.at(k)) << k;
  EXPECT_LT(c.at("sim_events"), d.at("sim_events"));
}

// Megatron-core's switches per kind of overlap (tp_comm_overlap_ag / _rs / tp_comm_bulk_dgrad / _wgrad; Megatron-LM's
// --disable-tp-comm-* and --no-tp-comm-*): each one off gives that collective back to NCCL where Transformer Engine
// issues it, and leaves the others as they were. Same layer as above (t = 4,096 tokens, h 4,096, TP 2, bf16).
//  - ag off: the QKV and first MLP GEMMs' whole input (4,096 x 4,096 x 2 B) all-gathered before the GEMM, exposed,
//    and the GEMM whole on all 132 SMs; backward the same for the second MLP GEMM's and the projection's output
//    gradients (4,096 x 4,096 x 2 B: the dgrad GEMM's k is h). Two segments fewer each way (the exchange's own).
//  - rs off: the projection and second MLP GEMM whole, then their output (4,096 x 4,096 x 2 B) reduce-scattered,
//    exposed: three segments fewer per GEMM.
//  - bulk_dgrad / bulk_wgrad off: the same collectives at the same places, but the GEMM beside them runs on all 132
//    SMs and the kernels there pay the part's overlap_sm_share (sm_share -1) instead of the margin.
// An imported line sets them from either spelling; --disable-tp-comm-split-ag has no effect since TE 1.5 (ignored).
TEST(TpOverlap, MegatronsSwitchesGiveEachKindOfOverlapBackToNccl) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const hw::AcceleratorSpec margin = hw::with_compute_units(part, 116);
  const auto bf16 = hw::DType::kBf16;
  const double whole = 4096.0 * 4096 * 2, quarter = 1024.0 * 4096 * 2;
  const auto on = plan_of(parse_with(layer_yaml("")));
  ASSERT_EQ(on.forward[0].segments.size(), 1u + 13 + 2);
  ASSERT_EQ(on.backward[0].segments.size(), 4u + 11 + 2);

  auto plan = plan_of(parse_with(layer_yaml("  tp_comm_overlap_ag: false\n")));
  const auto* f = &plan.forward[0].segments;
  const auto* b = &plan.backward[0].segments;
  ASSERT_EQ(f->size(), 1u + 11 + 2);
  expect_comm((*f)[1], CollectiveOp::kAllGather, whole, false, "qkv input, NCCL");
  for (int i = 2; i <= 5; ++i) expect_comm((*f)[i], CollectiveOp::kReduceScatter, quarter, i < 5, "proj, still pipelined");
  expect_comm((*f)[6], CollectiveOp::kAllGather, whole, false, "mlp input, NCCL");
  for (int i = 7; i <= 10; ++i) expect_comm((*f)[i], CollectiveOp::kReduceScatter, quarter, i < 10, "fc2, still pipelined");
  EXPECT_GE((*f)[2].compute, hw::gemm_time(part, bf16, {4096, 6144, 4096})) << "the QKV GEMM whole on every SM";
  ASSERT_EQ(b->size(), 4u + 9 + 2);
  expect_comm((*b)[4], CollectiveOp::kAllGather, whole, false, "mlp output gradient, NCCL");
  EXPECT_GE((*b)[5].compute, hw::gemm_time(part, bf16, {4096, 8192, 4096}))
      << "fc2's input-gradient GEMM whole on every SM, then its weight gradient";
  expect_comm((*b)[8], CollectiveOp::kAllGather, whole, false, "attention output gradient, NCCL");
  expect_comm((*b)[5], CollectiveOp::kAllGather, whole, true, "fc1 saved input, still bulk");

  // tp_comm_overlap_disable_qkv / _fc1: that layer's forward gather alone; the projection's and the backward as before.
  for (const bool qkv : {true, false}) {
    plan = plan_of(parse_with(layer_yaml(qkv ? "  tp_comm_overlap_disable_qkv: true\n" : "  tp_comm_overlap_disable_fc1: true\n")));
    f = &plan.forward[0].segments;
    ASSERT_EQ(f->size(), 1u + 12 + 2) << qkv;
    if (qkv) {
      expect_comm((*f)[1], CollectiveOp::kAllGather, whole, false, "qkv input, NCCL");
      expect_comm((*f)[6], CollectiveOp::kSendRecv, 2048.0 * 4096 * 2, true, "fc1 exchange kept");
    } else {
      expect_comm((*f)[1], CollectiveOp::kSendRecv, 2048.0 * 4096 * 2, true, "qkv exchange kept");
      expect_comm((*f)[7], CollectiveOp::kAllGather, whole, false, "mlp input, NCCL");
    }
    EXPECT_EQ(plan.backward[0].segments.size(), on.backward[0].segments.size()) << qkv;
  }

  plan = plan_of(parse_with(layer_yaml("  tp_comm_overlap_rs: false\n")));
  f = &plan.forward[0].segments;
  ASSERT_EQ(f->size(), 1u + 7 + 2);
  expect_comm((*f)[1], CollectiveOp::kSendRecv, 2048.0 * 4096 * 2, true, "qkv exchange, as before");
  expect_comm((*f)[3], CollectiveOp::kReduceScatter, whole, false, "attention output, NCCL after the whole GEMM");
  expect_comm((*f)[4], CollectiveOp::kSendRecv, 2048.0 * 4096 * 2, true, "fc1 exchange, as before");
  expect_comm((*f)[6], CollectiveOp::kReduceScatter, whole, false, "mlp output, NCCL after the whole GEMM");
  EXPECT_GE((*f)[6].compute, hw::gemm_time(part, bf16, {4096, 4096, 8192}));
  EXPECT_EQ(plan.backward[0].segments.size(), on.backward[0].segments.size()) << "backward has no forward RS";

  for (const bool dgrad : {false, true}) {
    plan = plan_of(parse_with(layer_yaml(dgrad ? "  tp_comm_bulk_dgrad: false\n" : "  tp_comm_bulk_wgrad: false\n")));
    b = &plan.backward[0].segments;
    ASSERT_EQ(b->size(), on.backward[0].segments.size());
    const std::string what = dgrad ? "bulk_dgrad off" : "bulk_wgrad off";
    expect_comm((*b)[6], CollectiveOp::kAllGather, whole, true, what + ": fc1 saved input");
    expect_comm((*b)[7], CollectiveOp::kReduceScatter, whole, true, what + ": fc1 input gradient");
    // The input-gradient GEMM beside the gather, the weight-gradient GEMM beside the reduce-scatter.
    EXPECT_EQ((*b)[7].compute, hw::gemm_time(dgrad ? part : margin, bf16, {4096, 4096, 8192})) << what;
    EXPECT_EQ((*b)[7].sm_share, dgrad ? -1.0 : 0.0) << what;
    EXPECT_EQ((*b)[8].compute, hw::gemm_time(dgrad ? margin : part, bf16, {4096, 8192, 4096})) << what;
    EXPECT_EQ((*b)[8].sm_share, dgrad ? 0.0 : -1.0) << what;
    EXPECT_EQ((*b)[12].compute, hw::gemm_time(dgrad ? part : margin, bf16, {4096, 4096, 6144})) << what << ": qkv too";
  }

  for (const char* line : {"--tp-comm-overlap --disable-tp-comm-overlap-ag --no-tp-comm-overlap-rs "
                           "--disable-tp-comm-bulk-dgrad --no-tp-comm-bulk-wgrad --disable-tp-comm-split-ag",
                           "--tp-comm-overlap --no-tp-comm-overlap-ag --disable-tp-comm-overlap-rs "
                           "--no-tp-comm-bulk-dgrad --disable-tp-comm-bulk-wgrad --no-tp-comm-split-rs"}) {
    const wl::ImportedArgs a = wl::import_megatron_args(line, SourceLocation{});
    for (const char* key : {"tp_comm_overlap_ag", "tp_comm_overlap_rs", "tp_comm_bulk_dgrad", "tp_comm_bulk_wgrad"}) {
      ASSERT_NE(a.tree.find(key), nullptr) << line << ": " << key;
      EXPECT_EQ(a.tree.find(key)->scalar, "false") << line << ": " << key;
    }
    EXPECT_EQ(a.ignored.size(), 1u) << line;
    EXPECT_TRUE(a.not_modelled.empty()) << line;
  }
}

// A wrong setting names its key, what was given and what is allowed; every one is reported.
TEST(TpOverlap, BadSettingsNameTheKeyAndWhatIsAllowed) {
  std::string error = "no error";
  try {
    parse_with(layer_yaml("  tp_comm_overlap_cfg: {qkv_fprop: {method: pipeline}, proj_fprop: {num_splits: 0, nums_sm: 3}}\n"));
  } catch (const InputError& e) {
    error = e.what();
  }
  for (const char* part : {"workload.tp_comm_overlap_cfg.qkv_fprop.method: unknown value 'pipeline' (valid: ring_exchange)",
                           "workload.tp_comm_overlap_cfg.proj_fprop.num_splits: must be >= 1, got '0'",
                           "proj_fprop.nums_sm: unknown key 'nums_sm'; did you mean 'num_sm'?"}) {
    EXPECT_NE(error.find(part), std::string::npos) << error;
  }
}

// Each ring-exchange step is exposed by exactly what it outlasts the chunk GEMM beside it. With a send/recv latency
// far above any chunk GEMM of this layout (h 2,048: microseconds), every step is exposed and adding 1 ms to the
// latency adds 1 ms per step to the iteration and to the exposed TP time, nothing else: per layer and micro-batch
// 4 steps at TP 2 (QKV and first MLP GEMM forward, the projection's and second MLP GEMM's input gradients
// backward), 8 layers x 2 micro-batches (PP 1, DP 16, global batch 32): 64 ms.
TEST(TpOverlap, EachRingStepIsExposedByWhatItOutlastsItsChunkGemm) {
  const std::vector<std::string> layout = {"workload.sequence_parallel=true", "workload.tp_comm_overlap=true",
                                           "workload.pipeline_model_parallel_size=1"};
  auto with_latency = [&](const char* latency) {
    std::vector<std::string> sets = layout;
    sets.push_back(std::string("policies.collectives.p2p_latency=") + latency);
    return run(sets);
  };
  const auto one = with_latency("1ms"), two = with_latency("2ms");
  ASSERT_FALSE(one.count("child_failed") || two.count("child_failed"));
  ASSERT_EQ(one.at("micro_batches"), 2);
  EXPECT_NEAR(two.at("iteration_time_s") - one.at("iteration_time_s"), 64e-3, 1e-9);
  EXPECT_NEAR(two.at("time_exposed_tp_s") - one.at("time_exposed_tp_s"), 64e-3, 1e-9);
  EXPECT_EQ(two.at("time_compute_s"), one.at("time_compute_s"));
}

// The backward of the layer without tp_comm_overlap (sequence parallelism as Megatron-LM's and Transformer Engine's
// own linear layers run it; docs/training.md, "Sequence parallelism without overlap").
std::vector<Segment> backward_of_plan(const std::string& extra) {
  return plan_of(parse_with(layer_yaml(extra, false))).backward[0].segments;
}

// The backward, in order: the output layer (its column-parallel logits GEMM: the cross-entropy's backward ending with
// the input's all-gather, the input-gradient GEMM 4096 x 4096 x 16000 ending with the reduce-scatter, the
// weight-gradient GEMM 4096 x 16000 x 4096), the final norm; the layer: residual (the MLP output gradient's
// all-gather, the row-parallel layer's, synchronous as before), the MLP in three (its down GEMM and activation
// backward ending with the up GEMM's input all-gather; the up GEMM's input gradient 4096 x 4096 x 8192 ending with
// the reduce-scatter; its weight gradient 4096 x 8192 x 4096), norm2, attention, the QKV projection in three (input
// gradient 4096 x 4096 x 6144, weight gradient 4096 x 6144 x 4096), norm1; the embedding's two. The all-gathers and
// reduce-scatters move 4,096 x 4,096 x 2 B and each runs beside the next segment, which waits for it at its end.
TEST(SequenceParallel, ColumnParallelBackwardGathersItsInputAgainBesideTheInputGradientGemm) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const auto bf16 = hw::DType::kBf16;
  const std::vector<Segment> b = backward_of_plan("");
  ASSERT_EQ(b.size(), 4u + 10 + 2) << "the head's 4, the layer's 10, the embedding's 2";
  const double input = 4096.0 * 4096 * 2;
  const struct {
    size_t first;
    double n;
    std::string what;
  } layers[] = {{0, 16000, "logits"}, {5, 8192, "mlp up"}, {10, 6144, "qkv"}};
  for (const auto& l : layers) {
    const Segment &gather = b[l.first], &dgrad = b[l.first + 1], &wgrad = b[l.first + 2];
    expect_comm(gather, CollectiveOp::kAllGather, input, true, l.what + ": the input again");
    expect_comm(dgrad, CollectiveOp::kReduceScatter, input, true, l.what + ": the input gradient");
    EXPECT_EQ(dgrad.compute, hw::gemm_time(part, bf16, {4096, 4096, l.n})) << l.what;
    EXPECT_EQ(dgrad.weight, Duration()) << l.what;
    EXPECT_TRUE(wgrad.comms.empty()) << l.what << ": the weight-gradient GEMM waits for the reduce-scatter at its end";
    EXPECT_EQ(wgrad.compute, hw::gemm_time(part, bf16, {4096, l.n, 4096})) << l.what;
    EXPECT_EQ(wgrad.weight, wgrad.compute) << l.what;
  }
  // The MLP's first segment holds the down GEMM's weight gradient (4096 x 4096 x 8192 on 8,192 of 16,384 columns).
  EXPECT_EQ(b[5].weight, hw::gemm_time(part, bf16, {8192, 4096, 4096}));
  expect_comm(b[4], CollectiveOp::kAllGather, input, false, "the row-parallel MLP output's gradient, as before");
}

// What the gather adds and moves, by hand against the layer's own backward kept as one segment
// (sequence_parallel_backward_gather: false, PyTorch's DTensor tensor parallelism): the same kernels (the three
// segments sum to the one), the reduce-scatter after them and exposed, and no all-gather. In FP8 the gathered input
// is Transformer Engine's saved 1-byte copy (fp8_linear_saved_input: fp8, 4,096 x 4,096 x 1 B), 16-bit where the
// framework keeps the 16-bit input (high_precision); the logits GEMM stays 16-bit either way.
TEST(SequenceParallel, TheGatherMovesWhatTheLayerSavedAndNothingElseChanges) {
  const std::vector<Segment> with = backward_of_plan(""), without =
      backward_of_plan("  sequence_parallel_backward_gather: false\n");
  ASSERT_EQ(without.size(), with.size() - 6) << "three segments for one, three times";
  // The QKV projection: with[10..12] against without[6].
  EXPECT_NEAR((with[10].compute + with[11].compute + with[12].compute).s(), without[6].compute.s(),
              1e-15 + 1e-12 * without[6].compute.s());
  EXPECT_NEAR((with[10].weight + with[12].weight).s(), without[6].weight.s(), 1e-15);
  expect_comm(without[6], CollectiveOp::kReduceScatter, 4096.0 * 4096 * 2, false, "kept input: no gather");
  const std::vector<Segment> fp8 = backward_of_plan("  precision: fp8\n");
  const std::vector<Segment> hp = backward_of_plan("  precision: fp8\n  fp8_linear_saved_input: high_precision\n");
  for (size_t at : {5u, 10u}) {
    expect_comm(fp8[at], CollectiveOp::kAllGather, 4096.0 * 4096 * 1, true, "TE's FP8 copy " + std::to_string(at));
    expect_comm(hp[at], CollectiveOp::kAllGather, 4096.0 * 4096 * 2, true, "16-bit input " + std::to_string(at));
  }
  expect_comm(fp8[0], CollectiveOp::kAllGather, 4096.0 * 4096 * 2, true, "the 16-bit logits GEMM's input");
}

}  // namespace
}  // namespace lcsim
