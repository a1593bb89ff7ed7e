// The Megatron-style training workload: schedules, placement, FLOP accounting, pipeline and parallelism behaviour,
// symmetry (one rank per stage gives what simulating every rank gives), memoization, per-layer planning. The
// command-line import and input checks are in megatron_input_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "megatron_support.h"
#include "test_support.h"

#include "models/hardware/catalog.h"
#include "scenarios/scenario.h"
#include "workloads/training/megatron.h"
#include "workloads/training/placement.h"

namespace lcsim {
namespace {

using wl::Coord;
using wl::GroupKind;
using wl::MegatronTraining;
using wl::Placement;
using megatron_support::kBase;
using megatron_support::parse_with;
using megatron_support::run;

// ---------------------------------------------------------------------------------------------------------------
// Schedules

void expect_complete(const std::vector<MegatronTraining::Task>& tasks, int m, int chunks) {
  std::set<std::tuple<bool, int, int>> seen;
  std::map<std::pair<int, int>, size_t> forward_at;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const auto& t = tasks[i];
    EXPECT_TRUE(seen.insert({t.forward, t.micro_batch, t.chunk}).second) << "task repeated at " << i;
    if (t.forward) forward_at[{t.micro_batch, t.chunk}] = i;
    else {
      ASSERT_TRUE(forward_at.count({t.micro_batch, t.chunk})) << "backward before its forward at " << i;
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(2 * m * chunks));
}

TEST(MegatronSchedule, OneFOneBWarmsUpThenAlternates) {
  const int p = 4, m = 8;
  for (int stage = 0; stage < p; ++stage) {
    const auto tasks = MegatronTraining::schedule("1f1b", p, stage, m, 1);
    expect_complete(tasks, m, 1);
    const int warmup = p - stage - 1;
    for (int i = 0; i < warmup; ++i) EXPECT_TRUE(tasks[i].forward) << "stage " << stage << " task " << i;
    // Steady state: forward, backward, forward, backward...
    for (int i = 0; i < 2 * (m - warmup); ++i) EXPECT_EQ(tasks[warmup + i].forward, i % 2 == 0);
  }
  // The last stage never holds more than one micro-batch's activations.
  const auto last = MegatronTraining::schedule("1f1b", p, p - 1, m, 1);
  int alive = 0, most = 0;
  for (const auto& t : last) most = std::max(most, alive += t.forward ? 1 : -1);
  EXPECT_EQ(most, 1);
}

TEST(MegatronSchedule, GpipeRunsAllForwardsFirst) {
  const auto tasks = MegatronTraining::schedule("gpipe", 4, 1, 6, 1);
  expect_complete(tasks, 6, 1);
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(tasks[i].forward);
}

TEST(MegatronSchedule, InterleavedVisitsChunksInMegatronsOrder) {
  const int p = 4, m = 8, v = 2;
  for (int stage = 0; stage < p; ++stage) {
    const auto tasks = MegatronTraining::schedule("interleaved", p, stage, m, v);
    expect_complete(tasks, m, v);
    const int warmup = (p - stage - 1) * 2 + (v - 1) * p;
    for (int i = 0; i < warmup; ++i) EXPECT_TRUE(tasks[i].forward);
    EXPECT_FALSE(tasks[warmup + 1].forward);
  }
  // Stage 0 forwards micro-batches 0..p-1 on chunk 0, then the same on chunk 1.
  const auto t0 = MegatronTraining::schedule("interleaved", p, 0, m, v);
  for (int k = 0; k < 2 * p; ++k) {
    EXPECT_EQ(t0[k].micro_batch, k % p);
    EXPECT_EQ(t0[k].chunk, k / p);
  }
}

// microbatch_group_size_per_virtual_pipeline_stage: groups of G micro-batches through each chunk in turn
// (Megatron-core's get_schedule_table), warm-up (p - stage - 1) x 2 + (v - 1) G. G = p is the default order; with
// p = 2, v = 2, m = 8 and G = 4 stage 0 forwards micro-batches 0..3 on chunk 0, then 0..3 on chunk 1 (its 6
// warm-up passes and the first steady one), every pass once. A run with G = 2 p keeps more micro-batches in flight
// (more activation memory) and folds as the fine path runs it.
TEST(MegatronSchedule, InterleavedGroupsOfMicroBatches) {
  const int p = 2, m = 8, v = 2;
  for (int stage = 0; stage < p; ++stage) {
    const auto plain = MegatronTraining::schedule("interleaved", p, stage, m, v);
    const auto same = MegatronTraining::schedule("interleaved", p, stage, m, v, p);
    ASSERT_EQ(plain.size(), same.size());
    for (size_t i = 0; i < plain.size(); ++i) {
      EXPECT_EQ(plain[i].forward, same[i].forward);
      EXPECT_EQ(plain[i].micro_batch, same[i].micro_batch);
      EXPECT_EQ(plain[i].chunk, same[i].chunk);
    }
    const auto grouped = MegatronTraining::schedule("interleaved", p, stage, m, v, 4);
    expect_complete(grouped, m, v);
    const int warmup = (p - stage - 1) * 2 + (v - 1) * 4;
    for (int i = 0; i < warmup; ++i) EXPECT_TRUE(grouped[i].forward) << i;
    EXPECT_FALSE(grouped[warmup + 1].forward);
  }
  const auto t0 = MegatronTraining::schedule("interleaved", p, 0, m, v, 4);
  for (int k = 0; k < 7; ++k) {
    EXPECT_EQ(t0[k].micro_batch, k % 4) << k;
    EXPECT_EQ(t0[k].chunk, k / 4) << k;
  }
  const std::vector<std::string> layout = {"workload.pipeline_model_parallel_size=2",
                                           "workload.num_layers_per_virtual_pipeline_stage=2"};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), layout.begin(), layout.end());
    return run(more);
  };
  const auto def = with({}), wide = with({"workload.microbatch_group_size_per_virtual_pipeline_stage=4"});
  const auto fine = with({"workload.microbatch_group_size_per_virtual_pipeline_stage=4", "simulation.event_granularity=kernel"});
  EXPECT_GT(wide.at("memory_activations_bytes"), def.at("memory_activations_bytes"));
  EXPECT_EQ(wide.at("iteration_time_s"), fine.at("iteration_time_s"));
  // PP 4 with 2 chunks, 8 micro-batches: a group of 2 is below PP; of 5 leaves a last group of 3 (Megatron-core's
  // checks).
  const std::string interleaved = "workload.num_layers_per_virtual_pipeline_stage=1";
  std::string e = megatron_support::parse_sets_error({interleaved, "workload.microbatch_group_size_per_virtual_pipeline_stage=2"});
  EXPECT_NE(e.find("micro-batches] = [4, 8], as Megatron-core requires"), std::string::npos) << e;
  e = megatron_support::parse_sets_error({interleaved, "workload.microbatch_group_size_per_virtual_pipeline_stage=5"});
  EXPECT_NE(e.find("leaves a last group of 3 micro-batches"), std::string::npos) << e;
  // 10 micro-batches on PP 4: not a multiple of PP, which the default group (PP) needs; a group of 5 leaves no
  // remainder and Megatron-core runs it (its functional test gpt3_mcore_te_tp1_pp4_vp1_tunable_overlap: 5 micro-batches
  // in a group of 5 on PP 4).
  e = megatron_support::parse_sets_error({interleaved, "workload.global_batch_size=40"});
  EXPECT_NE(e.find("needs the number of micro-batches (10) to be a multiple of pipeline_model_parallel_size (4)"),
            std::string::npos) << e;
  EXPECT_EQ(megatron_support::parse_sets_error({interleaved, "workload.global_batch_size=40",
                                                "workload.microbatch_group_size_per_virtual_pipeline_stage=5"}),
            "");
  const auto ten = run({interleaved, "workload.global_batch_size=40",
                        "workload.microbatch_group_size_per_virtual_pipeline_stage=5"});
  const auto ten_fine = run({interleaved, "workload.global_batch_size=40",
                             "workload.microbatch_group_size_per_virtual_pipeline_stage=5",
                             "simulation.event_granularity=kernel"});
  ASSERT_EQ(ten.count("child_failed"), 0u);
  EXPECT_EQ(ten.at("completed"), 1);
  EXPECT_EQ(ten.at("micro_batches"), 10);
  EXPECT_EQ(ten.at("iteration_time_s"), ten_fine.at("iteration_time_s"));
}

// Multi-latent attention with DeepSeek-V3's sizes (report section 4.2: 128 heads of 128 plus a 64-wide rotary part,
// values of 128, key/value latent 512, query bottleneck 1,536): per layer the HF checkpoint's q_a_proj 7168 x 1536,
// q_a_layernorm 1536, q_b_proj 1536 x 24576, kv_a_proj_with_mqa 7168 x 576, kv_a_layernorm 512, kv_b_proj 512 x
// 32768, o_proj 16384 x 7168: 187,107,328 parameters, plus the layer's input norm (7,168). The kernels' GEMMs do
// 2 FLOPs per projection weight and token; the score and value kernel does 2 s (192 + 128) a per token, halved for
// the causal mask, the count Megatron-LM's MLA branch uses.
TEST(MegatronModel, MultiLatentAttentionCountsDeepSeekV3sProjections) {
  wl::GptModelConfig m;
  m.num_layers = 1, m.hidden_size = 7168, m.num_attention_heads = 128, m.seq_length = 4096, m.vocab_size = 129280;
  m.normalization = "RMSNorm", m.position_embedding_type = "rope", m.add_bias_linear = false;
  m.multi_latent_attention = true, m.q_lora_rank = 1536, m.kv_lora_rank = 512;
  m.qk_head_dim = 128, m.qk_pos_emb_head_dim = 64, m.v_head_dim = 128;
  const double projections = 7168.0 * 1536 + 1536 + 1536.0 * 24576 + 7168.0 * 576 + 512 + 512.0 * 32768 + 16384.0 * 7168;
  EXPECT_DOUBLE_EQ(projections, 187107328.0);
  EXPECT_DOUBLE_EQ(m.attention_params(), projections + 7168);
  const wl::LayerOps ops = wl::layer_forward(m, 0, 1, 2);
  double gemm = 0, attention = 0;
  for (const auto* group : {&ops.qkv, &ops.attention}) {
    for (const auto& op : *group) {
      if (op.op_class == hw::OpClass::kGemm) gemm += op.flops.value();
      if (op.op_class == hw::OpClass::kAttention) attention += op.flops.value();
    }
  }
  const double t = 4096;
  EXPECT_NEAR(gemm, 2 * t * (projections - 1536 - 512), 1e-9 * gemm);
  EXPECT_NEAR(attention, 2 * t * 4096 * (192 + 128) * 128 / 2, 0.01 * attention);
  // Megatron-LM's model FLOPs (training.py, num_floating_point_operations, multi_latent_attention): per token and
  // layer 3 x 2 (projections + s a (192 + 128) / 2), plus the MLP (12 h f x 3/2 for one dense SwiGLU of 18,432) and
  // the logits.
  m.ffn_hidden_size = 18432, m.swiglu = true;
  const double expect = 3 * 2 * t * (projections + 4096.0 * 128 * (192 + 128) / 2) + 12 * t * 7168.0 * 18432 * 1.5 +
                        6 * t * 7168.0 * 129280;
  EXPECT_NEAR(3 * m.forward_model_flops(1), expect, 1e-12 * expect);
}

// ---------------------------------------------------------------------------------------------------------------
// Placement

TEST(MegatronPlacement, DefaultOrderKeepsTensorParallelInsideANode) {
  const Placement pl(8, 1, 4, 2, 1, "tp-cp-ep-dp-pp");
  EXPECT_EQ(pl.group(GroupKind::kTp, 0), (std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(pl.group(GroupKind::kDp, 3), (std::vector<uint32_t>{3, 11, 19, 27}));  // same GPU index: one rail
  EXPECT_EQ(pl.group(GroupKind::kPp, 3), (std::vector<uint32_t>{3, 35}));
  EXPECT_EQ(pl.group(GroupKind::kEmbedding, 35), (std::vector<uint32_t>{3, 35}));
  for (uint32_t r = 0; r < 64; ++r) EXPECT_EQ(pl.rank(pl.coord(r)), r);
}

TEST(MegatronPlacement, OrderIsConfigurable) {
  const Placement pl(2, 1, 4, 1, 1, "dp-tp-pp");
  EXPECT_EQ(pl.group(GroupKind::kDp, 0), (std::vector<uint32_t>{0, 1, 2, 3}));
  EXPECT_EQ(pl.group(GroupKind::kTp, 0), (std::vector<uint32_t>{0, 4}));
  EXPECT_NE(Placement::check_order("tp-dp-pp"), "");  // cp missing
  EXPECT_NE(Placement::check_order("tp-cp-dp-dp-pp"), "");
  EXPECT_EQ(Placement::check_order("tp-cp-ep-dp-pp"), "");
}

TEST(MegatronPlacement, ExpertGroupsAreCutFromDataParallelRanks) {
  const Placement pl(2, 1, 8, 1, 4, "tp-cp-ep-dp-pp");
  // Ranks sharing tp 0: 0, 2, 4, ..., 14. EP blocks of 4 consecutive ones; expert-DP = same offset.
  EXPECT_EQ(pl.group(GroupKind::kEp, 2), (std::vector<uint32_t>{0, 2, 4, 6}));
  EXPECT_EQ(pl.group(GroupKind::kEp, 9), (std::vector<uint32_t>{9, 11, 13, 15}));
  EXPECT_EQ(pl.group(GroupKind::kEdp, 2), (std::vector<uint32_t>{2, 10}));
}

// ---------------------------------------------------------------------------------------------------------------
// Model accounting

TEST(MegatronModel, FlopsFollowMegatronsFormula) {
  // Megatron-LM training.py, written out independently: 12 B s L h^2 ((1 + g/a + s/h) q/h + (f/h) k m + V/(2Lh)).
  wl::GptModelConfig m;
  m.num_layers = 126, m.hidden_size = 16384, m.ffn_hidden_size = 53248, m.num_attention_heads = 128;
  m.group_query_attention = true, m.num_query_groups = 8, m.seq_length = 8192, m.vocab_size = 128256;
  m.swiglu = true;
  const double B = 4, s = 8192, L = 126, h = 16384, a = 128, g = 8, f = 53248, V = 128256;
  const double expect = 12 * B * s * L * h * h * ((1 + g / a + s / h) + (f / h) * 1.5 + V / (2 * L * h));
  EXPECT_NEAR(3 * m.forward_model_flops(4), expect, 1e-12 * expect);
  // GPT-3 175B with the SC'21 paper's expression (appendix), whose 96 B s L h^2 (1 + s/(6h) + V/(16 L h))
  // counts a recomputed forward too; without it: 72 B s L h^2 (1 + s/(6h)) + 6 B s h V.
  wl::GptModelConfig g3;
  g3.num_layers = 96, g3.hidden_size = 12288, g3.num_attention_heads = 96, g3.seq_length = 2048, g3.vocab_size = 51200;
  const double gh = 12288, gs = 2048, gl = 96, gv = 51200;
  const double paper = 72 * 1 * gs * gl * gh * gh * (1 + gs / (6 * gh)) + 6 * 1 * gs * gh * gv;
  EXPECT_NEAR(3 * g3.forward_model_flops(1), paper, 1e-12 * paper);
  // Published sizes: GPT-3 "175B", Llama 3 "405B".
  EXPECT_NEAR(g3.total_params() / 1e9, 175, 1.0);
  m.normalization = "RMSNorm", m.position_embedding_type = "rope", m.add_bias_linear = false;
  m.untie_embeddings_and_output_weights = true;
  EXPECT_NEAR(m.total_params() / 1e9, 405, 2.0);
}

TEST(MegatronModel, MixtureOfExpertsCountsRoutedExpertsOnly) {
  wl::GptModelConfig m;
  m.num_layers = 4, m.hidden_size = 1024, m.num_attention_heads = 8, m.seq_length = 1024, m.vocab_size = 32000;
  m.swiglu = true, m.add_bias_linear = false;
  m.num_experts = 8, m.moe_router_topk = 2, m.moe_ffn_hidden_size = 2048;
  const double expert = 3.0 * 1024 * 2048;
  EXPECT_NEAR(m.total_params() - m.active_params(), 4 * 6 * expert, 1e-6);
  wl::GptModelConfig dense = m;
  dense.num_experts = 0, dense.ffn_hidden_size = 2 * 2048;  // two experts' worth of MLP per token
  EXPECT_NEAR(m.forward_model_flops(1), dense.forward_model_flops(1), 1e-9 * dense.forward_model_flops(1));
}

// ---------------------------------------------------------------------------------------------------------------
// Simulation

double breakdown_sum(std::map<std::string, double>& m) {
  return m["time_compute_s"] + m["time_optimizer_s"] + m["time_exposed_tp_s"] + m["time_exposed_cp_s"] +
         m["time_exposed_ep_s"] + m["time_exposed_pp_s"] + m["time_exposed_dp_s"] + m["time_pipeline_bubble_s"];
}

TEST(MegatronRun, BreakdownAddsUpToTheIteration) {
  auto m = run({});
  ASSERT_FALSE(m.count("child_failed"));
  EXPECT_EQ(m["data_parallel"], 4);
  EXPECT_EQ(m["micro_batches"], 8);
  EXPECT_EQ(m["simulated_ranks"], 4);  // one per pipeline stage
  EXPECT_NEAR(breakdown_sum(m), m["iteration_time_s"], 1e-9 * m["iteration_time_s"]);
  EXPECT_GT(m["time_exposed_tp_s"], 0);
  EXPECT_GT(m["time_exposed_dp_s"], 0);
  EXPECT_GT(m["time_pipeline_bubble_s"], 0);
}

TEST(MegatronRun, OneRankPerStageGivesWhatEveryRankGives) {
  for (const char* fidelity : {"analytical", "flow"}) {
    const std::string f = std::string("simulation.fidelity=") + fidelity;
    auto sym = run({f});
    auto all = run({f, "workload.symmetry=off"});
    ASSERT_FALSE(sym.count("child_failed") || all.count("child_failed"));
    EXPECT_EQ(all["simulated_ranks"], 32);
    EXPECT_NEAR(sym["iteration_time_s"], all["iteration_time_s"], 1e-3 * all["iteration_time_s"]) << fidelity;
    EXPECT_NEAR(sym["time_exposed_dp_s"], all["time_exposed_dp_s"], 1e-2 * all["iteration_time_s"]) << fidelity;
  }
}

TEST(MegatronRun, PipelineBubbleShrinksWithMicroBatchesAndInterleaving) {
  // No tensor or data parallelism: the iteration is compute plus the bubble, (p - 1) / m of it for 1F1B.
  // A small vocabulary keeps the output layer from unbalancing the last stage; so does a host that is never the
  // limit (the output layer's short kernels would be host-bound: step_overhead_test.cc covers that).
  const std::vector<std::string> pure = {"workload.tensor_model_parallel_size=1", "cluster.nodes=1",
                                         "cluster.gpus_per_node=4", "workload.model.vocab_size=256",
                                         "workload.host_op_time=0us"};
  auto a = run(pure);
  auto more = [&](std::vector<std::string> extra) {
    auto s = pure;
    s.insert(s.end(), extra.begin(), extra.end());
    return run(s);
  };
  auto b = more({"workload.global_batch_size=64"});
  auto c = more({"workload.num_layers_per_virtual_pipeline_stage=1"});
  ASSERT_FALSE(a.count("child_failed") || b.count("child_failed") || c.count("child_failed"));
  EXPECT_EQ(a["data_parallel"], 1);
  const double frac_a = a["time_pipeline_bubble_s"] / a["time_compute_s"];
  const double frac_b = b["time_pipeline_bubble_s"] / b["time_compute_s"];
  const double frac_c = c["time_pipeline_bubble_s"] / c["time_compute_s"];
  EXPECT_NEAR(frac_a, 3.0 / 32, 0.25 * 3.0 / 32);  // (p - 1) / m with m = 32; embedding and head unbalance it a bit
  EXPECT_LT(frac_b, 0.6 * frac_a);
  EXPECT_LT(frac_c, 0.7 * frac_a);  // two chunks per stage: about half the bubble
  EXPECT_LT(c["iteration_time_s"], a["iteration_time_s"]);
}

TEST(MegatronRun, SequenceParallelAndOverlapChangeTensorParallelTime) {
  auto plain = run({});
  auto sp = run({"workload.sequence_parallel=true"});
  auto overlap = run({"workload.sequence_parallel=true", "workload.tp_comm_overlap=true"});
  ASSERT_FALSE(plain.count("child_failed") || sp.count("child_failed") || overlap.count("child_failed"));
  EXPECT_LT(overlap["time_exposed_tp_s"], 0.5 * sp["time_exposed_tp_s"]);
  // Transformer Engine's overlap is not free (docs/training.md, "TP communication overlap"): its GEMMs run in chunks
  // and with an SM margin. On this small layer (h 2,048, 2,048 tokens) that costs more than the ~8 MB collectives
  // it hides: the iteration is not faster.
  EXPECT_GT(overlap["time_compute_s"], sp["time_compute_s"]);
  // Sequence parallelism takes the norms to 1/TP of the tokens: less compute, where no collective runs beside the
  // kernels (the gathered input kept, sequence_parallel_backward_gather: false).
  auto kept = run({"workload.sequence_parallel=true", "workload.sequence_parallel_backward_gather=false"});
  EXPECT_LT(kept["time_compute_s"], plain["time_compute_s"]);
  // Megatron-LM's own layers gather the input again beside the input-gradient GEMM and reduce-scatter beside the
  // weight-gradient GEMM: less exposed TP time, and the kernels beside them pay the SM contention.
  EXPECT_LT(sp["time_exposed_tp_s"], kept["time_exposed_tp_s"]);
  EXPECT_GT(sp["time_compute_s"], kept["time_compute_s"]);
}

TEST(MegatronRun, SameInputSameMetricsBitForBit) {
  auto a = run({"simulation.fidelity=flow", "policies.load_balancing=ecmp"});
  auto b = run({"simulation.fidelity=flow", "policies.load_balancing=ecmp"});
  ASSERT_FALSE(a.count("child_failed"));
  EXPECT_EQ(a, b);
}

TEST(MegatronRun, StragglerBreaksSymmetryAndSlowsEveryone) {
  auto base = run({});
  // Rank 25 is on the last stage, the slowest (it holds the output layer): its delay is everyone's.
  auto slow = run({"workload.straggler_ranks=[25]", "workload.straggler_slowdown=1.5"});
  ASSERT_FALSE(base.count("child_failed") || slow.count("child_failed"));
  EXPECT_EQ(slow["simulated_ranks"], 32);
  EXPECT_GT(slow["iteration_time_s"], 1.2 * base["iteration_time_s"]);
}

TEST(MegatronRun, LaterIterationsAreMemoized) {
  auto one = run({});
  auto many = run({"workload.train_iters=5000"});
  ASSERT_FALSE(one.count("child_failed") || many.count("child_failed"));
  EXPECT_EQ(many["iterations"], 5000);
  EXPECT_EQ(many["iterations_memoized"], 4999);
  EXPECT_DOUBLE_EQ(many["iteration_time_s"], one["iteration_time_s"]);
  // Megatron-LM's evaluations (eval_interval 1000, eval_iters 100) after iterations 1000, ..., 5000: 500 iterations,
  // the first simulated, the others memoized as well.
  EXPECT_EQ(many["eval_iterations"], 500);
  EXPECT_NEAR(many["sim_time_s"],
              5000 * one["iteration_time_s"] + 5 * (many["eval_overhead_s"] + 100 * many["eval_iteration_time_s"]),
              1e-6 * many["sim_time_s"]);
}

TEST(MegatronRun, ContextParallelSplitsTheSequence) {
  auto base = run({"workload.pipeline_model_parallel_size=2"});
  // The key/value all-gather before attention (the ring of the default p2p hides under the attention kernels).
  auto cp = run({"workload.pipeline_model_parallel_size=1", "workload.context_parallel_size=2",
                 "workload.cp_comm_type=allgather"});
  ASSERT_FALSE(base.count("child_failed") || cp.count("child_failed"));
  EXPECT_EQ(cp["context_parallel"], 2);
  EXPECT_GT(cp["time_exposed_cp_s"], 0);
  EXPECT_LT(cp["memory_activations_bytes"], base["memory_activations_bytes"]);
}

TEST(MegatronRun, ExpertsExchangeTokensAndImbalanceCostsTime) {
  const std::vector<std::string> moe = {"workload.model.num_experts=8", "workload.model.moe_router_topk=2",
                                        "workload.model.moe_ffn_hidden_size=2048", "workload.sequence_parallel=true",
                                        "workload.expert_model_parallel_size=4"};
  auto a = run(moe);
  auto b = moe;
  b.push_back("workload.moe_load_imbalance=1.5");
  auto c = run(b);
  ASSERT_FALSE(a.count("child_failed") || c.count("child_failed"));
  EXPECT_GT(a["time_exposed_ep_s"], 0);
  EXPECT_GT(a["parameters"], a["active_parameters"]);
  EXPECT_GT(c["iteration_time_s"], a["iteration_time_s"]);
  EXPECT_GT(c["time_exposed_ep_s"], a["time_exposed_ep_s"]);
}

TEST(MegatronRun, UnfusedAttentionCostsTimeAndMemory) {
  auto flash = run({});
  auto plain = run({"workload.use_flash_attn=false"});
  ASSERT_FALSE(flash.count("child_failed") || plain.count("child_failed"));
  EXPECT_GT(plain["time_compute_s"], flash["time_compute_s"]);
  EXPECT_GT(plain["memory_activations_bytes"], flash["memory_activations_bytes"]);  // the score matrices
}

TEST(MegatronRun, OverlappedPipelineSendsNeverCostTime) {
  const std::vector<std::string> interleaved = {"workload.num_layers_per_virtual_pipeline_stage=1"};
  auto overlapped = run(interleaved);
  auto blocking = interleaved;
  blocking.push_back("workload.overlap_p2p_comm=false");
  auto waits = run(blocking);
  ASSERT_FALSE(overlapped.count("child_failed") || waits.count("child_failed"));
  EXPECT_GT(waits["time_exposed_pp_s"], overlapped["time_exposed_pp_s"]);
  EXPECT_GE(waits["iteration_time_s"], overlapped["iteration_time_s"]);
}

TEST(MegatronRun, PlacementShowsRailAlignment) {
  const std::string text = *testing::text_in_child([] {
    ConfigValue tree = parse_yaml_text(kBase, "mt.yaml");
    Scenario sc = parse_scenario(tree);
    std::string out;
    for (const auto& l : sc.workload->explain_placement(cluster_gpus(sc.cluster))) out += l + "\n";
    return out;
  });
  // TP 2 inside a node; DP groups (same tp, same pp) cross nodes on one rail with the default order.
  EXPECT_NE(text.find("tp  groups: 16 of 2 ranks; inside one node: 16;"), std::string::npos) << text;
  EXPECT_NE(text.find("dp  groups: 8 of 4 ranks; inside one node: 8;"), std::string::npos) << text;
  EXPECT_NE(text.find("pp  groups: 8 of 4 ranks; inside one node: 0; across nodes on one rail: 8;"),
            std::string::npos) << text;
}

// EP 8 across the 4 nodes (data-parallel ranks outermost), 8 experts, top-4, with the extra settings.
std::map<std::string, double> run_moe(const std::vector<std::string>& extra) {
  std::vector<std::string> sets = {
      "workload.model.num_experts=8", "workload.model.moe_router_topk=4", "workload.model.moe_ffn_hidden_size=2048",
      "workload.tensor_model_parallel_size=1", "workload.expert_model_parallel_size=8",
      "workload.parallel_order=tp-cp-pp-dp"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return run(sets);
}

TEST(MegatronRun, ExpertTrafficShrinksWithFlexDispatchGroupLimitsAndOverlap) {
  const auto with = run_moe;
  auto alltoall = with({});
  // The copies alone: flex at the full line rate (its default is DeepEP's measured share, tests/deepep_test.cc).
  auto flex = with({"workload.moe_token_dispatcher_type=flex", "workload.moe_flex_network_efficiency=1"});
  auto limited = with({"workload.moe_token_dispatcher_type=flex", "workload.moe_flex_network_efficiency=1",
                       "workload.model.moe_router_num_groups=4", "workload.model.moe_router_group_topk=2"});
  auto limited_alltoall = with({"workload.model.moe_router_num_groups=4", "workload.model.moe_router_group_topk=2"});
  auto overlapped = with({"workload.overlap_moe_expert_parallel_comm=true"});
  for (auto* m : {&alltoall, &flex, &limited, &limited_alltoall, &overlapped}) ASSERT_FALSE(m->count("child_failed"));
  ASSERT_GT(alltoall["time_exposed_ep_s"], 0);
  // flex: distinct nodes among 4 experts over 4 nodes, 4 (1 - (3/4)^4) = 2.73 copies instead of 4.
  EXPECT_LT(flex["time_exposed_ep_s"], 0.8 * alltoall["time_exposed_ep_s"]);
  // at most 2 nodes: 2 (1 - (1/2)^4) = 1.875 copies.
  EXPECT_LT(limited["time_exposed_ep_s"], 0.8 * flex["time_exposed_ep_s"]);
  // Group limits alone do not change what the alltoall dispatcher sends.
  EXPECT_DOUBLE_EQ(limited_alltoall["time_exposed_ep_s"], alltoall["time_exposed_ep_s"]);
  EXPECT_LT(overlapped["time_exposed_ep_s"], 0.5 * alltoall["time_exposed_ep_s"]);
  EXPECT_LT(overlapped["iteration_time_s"], alltoall["iteration_time_s"]);
  EXPECT_NEAR(breakdown_sum(overlapped), overlapped["iteration_time_s"], 1e-9 * overlapped["iteration_time_s"]);
}

TEST(MegatronRun, FullyShardedDataParallelGathersEveryLayer) {
  // Data-parallel ranks across the 4 nodes so that FSDP's gathers and reductions use the network.
  const std::vector<std::string> across = {"workload.parallel_order=tp-cp-pp-dp", "simulation.fidelity=flow"};
  auto with = [&](std::vector<std::string> extra) {
    auto sets = across;
    sets.insert(sets.end(), extra.begin(), extra.end());
    return run(sets);
  };
  auto ddp = with({});
  auto zero1 = with({"workload.use_distributed_optimizer=true"});
  auto fsdp = with({"workload.use_torch_fsdp2=true"});
  auto fsdp_all = with({"workload.use_torch_fsdp2=true", "workload.symmetry=off"});
  for (auto* m : {&ddp, &zero1, &fsdp, &fsdp_all}) ASSERT_FALSE(m->count("child_failed"));
  // Weights and gradients sharded over the 4 data-parallel ranks (FSDP's weight shard is the fp32 parameter: 4 B
  // where DDP holds 2 B); the update as the distributed optimizer's, but FSDP zeroes only its gradient shard where
  // the distributed optimizer zeroes the whole buffer.
  EXPECT_NEAR(fsdp["memory_weights_bytes"], ddp["memory_weights_bytes"] / 2, 1e-6 * ddp["memory_weights_bytes"]);
  EXPECT_NEAR(fsdp["memory_gradients_bytes"], ddp["memory_gradients_bytes"] / 4, 1e-6 * ddp["memory_gradients_bytes"]);
  EXPECT_LT(fsdp["time_optimizer_s"], zero1["time_optimizer_s"]);
  EXPECT_LT(zero1["time_optimizer_s"], ddp["time_optimizer_s"]);
  EXPECT_LT(fsdp["memory_per_gpu_bytes"], zero1["memory_per_gpu_bytes"]);
  // Gathering every layer in every micro-batch (forward and backward) moves far more than one reduction.
  EXPECT_GT(fsdp["time_exposed_dp_s"], ddp["time_exposed_dp_s"]);
  EXPECT_GT(fsdp["network_bytes"], 4 * ddp["network_bytes"]);
  EXPECT_NEAR(breakdown_sum(fsdp), fsdp["iteration_time_s"], 1e-9 * fsdp["iteration_time_s"]);
  // One rank per stage gives what every rank gives.
  EXPECT_NEAR(fsdp["iteration_time_s"], fsdp_all["iteration_time_s"], 1e-6 * fsdp["iteration_time_s"]);
}

TEST(MegatronRun, RecomputeMethodBlockRecomputesOnlyTheFirstLayers) {
  // 8 layers on 4 stages: 2 per stage. uniform recomputes both, block 1 the first of each stage.
  auto none = run({});
  auto uniform = run({"workload.recompute_granularity=full"});
  auto block = run({"workload.recompute_granularity=full", "workload.recompute_method=block",
                    "workload.recompute_num_layers=1"});
  auto groups = run({"workload.recompute_granularity=full", "workload.recompute_num_layers=2"});
  for (auto* m : {&none, &uniform, &block, &groups}) ASSERT_FALSE(m->count("child_failed"));
  EXPECT_LT(none["time_compute_s"], block["time_compute_s"]);
  EXPECT_LT(block["time_compute_s"], uniform["time_compute_s"]);
  EXPECT_DOUBLE_EQ(groups["time_compute_s"], uniform["time_compute_s"]) << "uniform groups recompute every layer";
  // Memory: block keeps one layer's activations per stage; uniform in groups of 2 keeps fewer inputs but has two
  // layers' activations back at once.
  EXPECT_LT(uniform["memory_activations_bytes"], block["memory_activations_bytes"]);
  EXPECT_LT(block["memory_activations_bytes"], none["memory_activations_bytes"]);
  EXPECT_NE(uniform["memory_activations_bytes"], groups["memory_activations_bytes"]);
}

// cp_repeat_kv (torchtitan repeats keys and values to the query heads before attention): with 16 heads in 4 groups
// the CP all-gather moves 4x the bytes, the same as a model with a group per head (at these 2 MB sizes latency
// makes the exposed time about 2x); with a group per head nothing changes.
TEST(MegatronRun, RepeatedKeysAndValuesWidenTheContextParallelExchange) {
  auto with = [](const std::vector<std::string>& extra) {
    std::vector<std::string> sets = {"workload.context_parallel_size=2", "workload.pipeline_model_parallel_size=2",
                                     "workload.cp_comm_type=allgather"};
    sets.insert(sets.end(), extra.begin(), extra.end());
    return run(sets);
  };
  const std::vector<std::string> gqa = {"workload.model.group_query_attention=true", "workload.model.num_query_groups=4"};
  std::vector<std::string> gqa_repeat = gqa;
  gqa_repeat.push_back("workload.cp_repeat_kv=true");
  auto mha = with({}), mha_repeat = with({"workload.cp_repeat_kv=true"}), grouped = with(gqa),
       grouped_repeat = with(gqa_repeat);
  for (auto* m : {&mha, &mha_repeat, &grouped, &grouped_repeat}) ASSERT_FALSE(m->count("child_failed"));
  EXPECT_DOUBLE_EQ(mha_repeat["iteration_time_s"], mha["iteration_time_s"]);
  EXPECT_GT(grouped_repeat["time_exposed_cp_s"], 1.5 * grouped["time_exposed_cp_s"]);  // 4x bytes, plus latency
  // The all-gather waits for nothing else: its exposed time is its bytes' time, the same as multi-head's.
  EXPECT_NEAR(grouped_repeat["time_exposed_cp_s"], mha["time_exposed_cp_s"], 1e-9 * mha["time_exposed_cp_s"]);
}

// PyTorch's ring (cp_implementation: pytorch, _attention.py) issues its all-gather before the first attention step
// and waits for it only at the second, and in backward gathers again and sends the fp32 key/value gradients on
// under the steps: only the last gradient send is waited for. Transformer Engine's all-gather (Llama 3's) waits
// before attention and reduce-scatters after it. With attention long enough to cover the exchange (32K tokens),
// PyTorch's exposed CP time is its last sends' alone: below TE's, above none, and larger when the keys and values
// are repeated to the query heads' width (4 groups to 16 heads: 4x the bytes).
TEST(MegatronRun, PytorchContextParallelWaitsOnlyForItsLastGradientSend) {
  auto with = [](const std::string& impl, bool repeat) {
    std::vector<std::string> sets = {"workload.context_parallel_size=2", "workload.pipeline_model_parallel_size=2",
                                     "workload.cp_comm_type=allgather", "workload.model.seq_length=32768",
                                     "workload.global_batch_size=8", "workload.recompute_granularity=full",
                                     "workload.model.group_query_attention=true", "workload.model.num_query_groups=4",
                                     "workload.cp_implementation=" + impl};
    if (repeat) sets.push_back("workload.cp_repeat_kv=true");
    return run(sets);
  };
  auto te = with("transformer_engine", false), torch = with("pytorch", false), wide = with("pytorch", true);
  for (auto* m : {&te, &torch, &wide}) ASSERT_FALSE(m->count("child_failed"));
  EXPECT_GT(torch["time_exposed_cp_s"], 0);
  EXPECT_LT(torch["time_exposed_cp_s"], te["time_exposed_cp_s"]);
  EXPECT_GT(wide["time_exposed_cp_s"], 1.5 * torch["time_exposed_cp_s"]);  // 4x the fp32 bytes, plus latency
}

TEST(MegatronRun, ContextParallelCommTypes) {
  const std::vector<std::string> cp = {"workload.context_parallel_size=2", "workload.pipeline_model_parallel_size=2"};
  auto with = [&](const std::string& type) {
    auto sets = cp;
    sets.push_back("workload.cp_comm_type=" + type);
    return run(sets);
  };
  auto p2p = with("p2p"), gather = with("allgather"), a2a = with("a2a"), hier = with("a2a+p2p");
  for (auto* m : {&p2p, &gather, &a2a, &hier}) ASSERT_FALSE(m->count("child_failed"));
  // The ring hides under attention; the all-gather waits for it; Ulysses all-to-alls are exposed too.
  EXPECT_LT(p2p["time_exposed_cp_s"], gather["time_exposed_cp_s"]);
  EXPECT_GT(a2a["time_exposed_cp_s"], 0);
  EXPECT_NE(a2a["iteration_time_s"], gather["iteration_time_s"]);
  // a2a+p2p without hierarchical sizes is [1, CP]: the ring over every CP rank (hierarchical_cp_test.cc: the levels).
  EXPECT_DOUBLE_EQ(hier["iteration_time_s"], p2p["iteration_time_s"]);
  // Ulysses splits the heads over CP.
  try {
    parse_with("workload:\n  type: megatron\n  model: {num_layers: 8, hidden_size: 2048, num_attention_heads: 6, "
               "kv_channels: 128, seq_length: 2048, vocab_size: 32000}\n  context_parallel_size: 4\n"
               "  tensor_model_parallel_size: 2\n  cp_comm_type: a2a\n");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("workload.cp_comm_type:"), std::string::npos) << e.what();
  }
}

TEST(MegatronRun, OverlappedCommunicationSlowsTheKernelsBesideIt) {
  // Gradient buckets reduced beside the last backward (tp_comm_overlap's GEMMs take Transformer Engine's own SM
  // share instead: tests/tp_overlap_test.cc).
  const std::vector<std::string> overlap = {"workload.overlap_grad_reduce=true"};
  auto contended = run(overlap);
  auto sets = overlap;
  sets.push_back("cluster.accelerator={base: H100-SXM-80GB, calibration: {overlap_sm_share: 0}}");
  auto free = run(sets);
  ASSERT_FALSE(contended.count("child_failed") || free.count("child_failed"));
  EXPECT_GT(contended["time_compute_s"], free["time_compute_s"]);
  // Kernels run 1 / (1 - 0.15) as long while a collective is beside them, never more.
  EXPECT_LT(contended["time_compute_s"], free["time_compute_s"] / (1 - 0.15) * (1 + 1e-9));
  // Without overlap nothing runs beside the kernels (the gradients are reduced after the backward; the TP input
  // gradients' all-reduce after each layer's backward, tensor_parallel_backward_async_allreduce false).
  auto plain = run({"workload.tensor_parallel_backward_async_allreduce=false"});
  sets = {"workload.tensor_parallel_backward_async_allreduce=false",
          "cluster.accelerator={base: H100-SXM-80GB, calibration: {overlap_sm_share: 0}}"};
  auto plain_free = run(sets);
  EXPECT_DOUBLE_EQ(plain["time_compute_s"], plain_free["time_compute_s"]);
}

// overlap_moe_expert_parallel_comm: the MoE layers' kernels beside the side stream's expert all-to-alls take
// moe_overlap_sm_share of the SMs (fitted to a measured A/B, docs/calibration.md); without the overlap the key
// changes nothing.
TEST(MegatronRun, ExpertAllToAllOverlapTakesItsOwnShareOfTheSms) {
  const auto with = run_moe;
  auto fitted = with({"workload.overlap_moe_expert_parallel_comm=true"});
  auto free = with({"workload.overlap_moe_expert_parallel_comm=true", "workload.moe_overlap_sm_share=0"});
  auto half = with({"workload.overlap_moe_expert_parallel_comm=true", "workload.moe_overlap_sm_share=0.2"});
  auto plain = with({});
  auto plain_free = with({"workload.moe_overlap_sm_share=0"});
  for (auto* m : {&fitted, &free, &half, &plain, &plain_free}) ASSERT_FALSE(m->count("child_failed"));
  // The default is the fitted 0.41 (docs/calibration.md); more share, longer kernels, never more than 1 / (1 - share).
  EXPECT_GT(half["time_compute_s"], free["time_compute_s"]);
  EXPECT_GT(fitted["time_compute_s"], half["time_compute_s"]);
  EXPECT_LT(fitted["time_compute_s"], free["time_compute_s"] / (1 - 0.41) * (1 + 1e-9));
  EXPECT_GT(fitted["iteration_time_s"], free["iteration_time_s"]);
  // The overlap still pays: the all-to-alls hidden are worth more than the kernels' slowdown here.
  EXPECT_LT(fitted["iteration_time_s"], plain["iteration_time_s"]);
  // Without the overlap nothing runs on the side stream: the key changes nothing, bit for bit.
  EXPECT_DOUBLE_EQ(plain["iteration_time_s"], plain_free["iteration_time_s"]);
  EXPECT_DOUBLE_EQ(plain["time_compute_s"], plain_free["time_compute_s"]);
}

TEST(MegatronRun, DataParallelReductionIsExposedWithoutOverlap) {
  // Without overlap_grad_reduce the buckets are reduced after the last backward: all of it is exposed; with it,
  // part hides under the last backward (whose kernels then run slower beside it: SM contention).
  auto after = run({});
  auto overlapped = run({"workload.overlap_grad_reduce=true"});
  ASSERT_FALSE(after.count("child_failed") || overlapped.count("child_failed"));
  EXPECT_GT(after["time_exposed_dp_s"], overlapped["time_exposed_dp_s"]);
  EXPECT_GT(overlapped["time_compute_s"], after["time_compute_s"]);
}

TEST(MegatronPlan, NonGemmKernelsAreCostedAtTheirFittedBandwidth) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  wl::GptModelConfig m;
  m.num_layers = 1, m.hidden_size = 4096, m.num_attention_heads = 32, m.seq_length = 4096, m.swiglu = true;
  m.position_embedding_type = "rope";
  const auto ops = wl::layer_forward(m, 0, 1, 2);
  ASSERT_EQ(ops.qkv.size(), 2u) << "rotary embedding after the QKV GEMM";
  EXPECT_EQ(ops.qkv[1].memory_kind, hw::MemoryKind::kRope);
  EXPECT_EQ(ops.norm1[0].memory_kind, hw::MemoryKind::kNorm);
  EXPECT_EQ(ops.mlp[1].memory_kind, hw::MemoryKind::kActivation);
  // Norm: 4,096 tokens x 4,096 read and written in bf16 at the fitted fraction of HBM bandwidth, plus a launch.
  const double bytes = 2.0 * 4096 * 4096 * 2;
  EXPECT_NEAR(hw::op_time(part, hw::DType::kBf16, ops.norm1[0]).s(),
              bytes / (3.35e12 * part.calibration.norm_efficiency) + part.calibration.kernel_launch.s(), 1e-12);
  EXPECT_LT(part.calibration.norm_efficiency, part.calibration.memory_efficiency);
  wl::GptModelConfig learned = m;
  learned.position_embedding_type = "learned_absolute";
  EXPECT_EQ(wl::layer_forward(learned, 0, 1, 2).qkv.size(), 1u);
  // FP8 linear layers (Transformer Engine): a GEMM's bf16 input is cast to FP8 and transposed in one kernel (read
  // 2 B, write 1 + 1 B per element); after a fused LayerNorm (QKV, MLP up) the norm writes FP8 (1 B less) and a
  // transpose follows (1 + 1 B): 1 B per element. Backward: the GEMM's output gradient cast and transposed, 4 B per
  // element of its output. Here 4,096 tokens, h 4,096, 32 heads of 128 (QKV out 3 x 4,096), SwiGLU f = 4h x 2/3.
  wl::LayerShard fp8;
  fp8.fp8 = true;
  const auto cast = wl::layer_forward(m, 0, 1, 2, fp8);
  ASSERT_EQ(cast.qkv.size(), 3u);
  ASSERT_EQ(cast.mlp.size(), ops.mlp.size() + 2);
  const double tok = 4096, f = m.ffn();
  const std::map<std::string, std::pair<double, double>> expected = {  // forward bytes, backward bytes
      {"qkv_fp8_cast", {1 * tok * 4096, 4 * tok * 3 * 4096}},
      {"attn_proj_fp8_cast", {4 * tok * 4096, 4 * tok * 4096}},
      {"mlp_up_fp8_cast", {1 * tok * 4096, 4 * tok * 2 * f}},
      {"mlp_down_fp8_cast", {4 * tok * f, 4 * tok * 4096}}};
  const auto fwd = cast.all();
  const auto bwd = wl::backward_of(fwd, 2);
  size_t seen = 0;
  for (const auto& [name, want] : expected) {
    for (const auto& op : fwd) {
      if (op.name != name) continue;
      EXPECT_DOUBLE_EQ(op.bytes.bytes(), want.first) << name;
      ++seen;
    }
    for (const auto& op : bwd) {
      if (op.name != name + "_bwd") continue;
      EXPECT_DOUBLE_EQ(op.bytes.bytes(), want.second) << name;
      ++seen;
    }
  }
  EXPECT_EQ(seen, 8u);
}

// The loss, pass by pass as Megatron-LM's vocab-parallel cross-entropy runs it (unfused, its default), on one TP
// rank's slice of a 4,096-token micro-batch over a 128,000-entry vocabulary split 4 ways: forward, cast bf16 -> fp32
// (2 + 4 B per logit), max (4), subtract (8), exp (8), sum (4), divide (8) = 38 B; backward, scale (8) and cast back
// (4 + 2) = 14 B. Before, one read and one write in fp32 (8 B) and twice that backward.
TEST(MegatronPlan, CrossEntropyMovesTheBytesOfMegatronsPasses) {
  wl::GptModelConfig m;
  m.num_layers = 1, m.hidden_size = 4096, m.num_attention_heads = 32, m.seq_length = 4096, m.vocab_size = 128000;
  wl::LayerShard sh;
  sh.tp = 4;
  const auto head = wl::head_forward_ops(m, 1, 2, sh);
  ASSERT_EQ(head.size(), 3u);
  EXPECT_EQ(head[2].name, wl::kCrossEntropy);
  const double logits = 4096.0 * 128000 / 4;
  EXPECT_DOUBLE_EQ(head[2].bytes.bytes(), 38 * logits);
  const auto back = wl::backward_of(head, 2);
  ASSERT_EQ(back.size(), 4u);  // norm, logits dgrad + wgrad, loss
  EXPECT_EQ(back[3].name, std::string(wl::kCrossEntropy) + "_bwd");
  EXPECT_DOUBLE_EQ(back[3].bytes.bytes(), 14 * logits);
  EXPECT_DOUBLE_EQ(back[0].bytes.bytes(), 2 * head[0].bytes.bytes());  // other kernels: twice their forward
  // fp32 logits are not cast: 32 B forward, 8 B backward.
  EXPECT_DOUBLE_EQ(wl::cross_entropy_bytes_per_logit(4, false), 32);
  EXPECT_DOUBLE_EQ(wl::cross_entropy_bytes_per_logit(4, true), 8);
  // On H100 at the part's loss efficiency (measured: docs/calibration.md) the loss of this micro-batch takes
  // (38 + 14) B x 131M logits / HBM.
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  EXPECT_EQ(head[2].memory_kind, hw::MemoryKind::kLoss);
  EXPECT_EQ(back[3].memory_kind, hw::MemoryKind::kLoss);
  const double t = hw::op_time(part, hw::DType::kBf16, head[2]).s() + hw::op_time(part, hw::DType::kBf16, back[3]).s();
  EXPECT_NEAR(t, 52 * logits / (3.35e12 * part.calibration.loss_efficiency) + 2 * part.calibration.kernel_launch.s(),
              1e-9);
}

// plan_stage costs a layer once and reuses its segments for the next layers with the same kernels and MoE-ness
// (megatron_plan.cc). With an MoE layer every other layer, each layer keeps its own kind's segments: MoE layers
// dispatch tokens over EP (all-to-all) before their experts, dense ones do not, and their compute differs.
TEST(MegatronPlan, AlternatingMoeLayersEachKeepTheirOwnSegments) {
  Scenario sc = parse_with(R"(workload:
  type: megatron
  model: {num_layers: 8, hidden_size: 2048, num_attention_heads: 16, seq_length: 2048, vocab_size: 32000,
          num_experts: 8, moe_router_topk: 2, moe_ffn_hidden_size: 1024, moe_layer_freq: 2}
  global_batch_size: 32
  micro_batch_size: 1
  tensor_model_parallel_size: 2
  expert_model_parallel_size: 2
  sequence_parallel: true
  pipeline_model_parallel_size: 2
)");
  const auto& w = dynamic_cast<const wl::MegatronTraining&>(*sc.workload);
  const auto plan = w.plan_stage(hw::PartCatalog::get().part("H100-SXM-80GB"), 1);  // layers 4-7, then the head
  ASSERT_EQ(plan.forward.size(), 1u);
  const auto& segs = plan.forward[0].segments;
  ASSERT_EQ(segs.size(), 4u * 6 + 2);
  auto a2a = [](const wl::MegatronTraining::Segment& s) {
    for (const auto& c : s.comms) {
      if (c.op == policy::CollectiveOp::kAllToAll) return true;
    }
    return false;
  };
  for (size_t layer = 0; layer < 4; ++layer) {
    const bool moe = layer % 2 == 0;  // layers 4 and 6
    EXPECT_EQ(a2a(segs[layer * 6 + 3]), moe) << "layer " << 4 + layer;
    for (size_t i = layer == 2 ? 1 : 0; i < 6; ++i) {  // (the pass's first segment also waits for the host)
      const auto& same = segs[(layer % 2) * 6 + i];       // the first layer of its kind
      EXPECT_EQ(segs[layer * 6 + i].compute, same.compute) << "layer " << 4 + layer << " segment " << i;
      EXPECT_EQ(segs[layer * 6 + i].comms.size(), same.comms.size()) << "layer " << 4 + layer << " segment " << i;
    }
  }
  EXPECT_NE(segs[4].compute, segs[6 + 4].compute) << "the MoE and the dense MLP cost differently";
}

// FP8 training runs only the transformer layers' linear GEMMs in FP8: Megatron-LM's output layer and MoE router are
// not Transformer Engine modules (fp8_autocast leaves them in bf16), and DeepSeek-V3 keeps its head and gating in
// BF16 (report, section 3.3.1). Their GEMMs, forward and backward, cost what they cost in a bf16 run; a layer GEMM
// of the same run takes the FP8 rate: on H100, compute-bound, 1,978.9 x 0.692 against 989.4 x 0.7843 TFLOP/s.
TEST(MegatronPlan, Fp8RunsKeepTheOutputLayerAndTheRouterIn16Bits) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  wl::GptModelConfig m;
  m.num_layers = 2, m.hidden_size = 4096, m.num_attention_heads = 32, m.seq_length = 4096, m.vocab_size = 128000;
  m.num_experts = 8, m.moe_router_topk = 2, m.moe_ffn_hidden_size = 1024;
  wl::LayerShard fp8;
  fp8.fp8 = true;
  const auto head = wl::head_forward_ops(m, 1, 2, fp8);
  const auto layer = wl::layer_forward(m, 0, 1, 2, fp8);
  // The router's GEMM, before the dispatcher's permutation kernels in the same group.
  const auto at = std::find_if(layer.norm2.begin(), layer.norm2.end(),
                               [](const hw::OpWork& op) { return op.name == "router"; });
  ASSERT_NE(at, layer.norm2.end());
  const hw::OpWork& router = *at;
  ASSERT_EQ(head[1].name, "logits");
  std::vector<hw::OpWork> kept = {head[1], router};
  for (const auto& op : wl::backward_of({head[1], router}, 2)) kept.push_back(op);
  ASSERT_EQ(kept.size(), 6u);
  for (const auto& op : kept) {
    EXPECT_EQ(hw::op_time(part, hw::DType::kFp8, op), hw::op_time(part, hw::DType::kBf16, op)) << op.name;
  }
  const hw::OpWork& qkv = layer.qkv[1];
  ASSERT_EQ(qkv.name, "qkv");
  const double launch = part.calibration.kernel_launch.s();
  // QKV of 4,096 tokens: 4096 x 12288 x 4096. In FP8: 32 x 48 = 1,536 tiles of 128x256 in 12 waves of 132 SMs
  // at the FP8 peak x fp8_gemm_efficiency x k/(k + k_half); in 16 bits the tile model would reach 0.75 of the peak,
  // above the sustained ceiling, so it runs at the ceiling (docs/calibration.md, "Long GEMMs").
  ASSERT_EQ(qkv.gemm, (hw::GemmShape{4096, 12288, 4096, 1}));
  const double fp8_rate =
      1978.9e12 * part.calibration.fp8_gemm_efficiency * 4096 / (4096 + part.calibration.gemm_k_half);
  EXPECT_NEAR(hw::op_time(part, hw::DType::kFp8, qkv).s() - launch, 2.0 * 12 * 132 * 128 * 256 * 4096 / fp8_rate, 1e-9);
  EXPECT_NEAR(hw::op_time(part, hw::DType::kBf16, qkv).s() - launch,
              2.0 * 4096 * 12288 * 4096 / (989.4e12 * part.calibration.gemm_sustained_efficiency), 1e-9);
  // The plan of an FP8 run: the last segment of the forward pass is the logits GEMM and the loss, at 16 bits.
  Scenario sc = parse_with(R"(workload:
  type: megatron
  model: {num_layers: 2, hidden_size: 4096, num_attention_heads: 32, seq_length: 4096, vocab_size: 128000}
  global_batch_size: 32
  micro_batch_size: 1
  precision: fp8
)");
  const auto& w = dynamic_cast<const wl::MegatronTraining&>(*sc.workload);
  const auto plan = w.plan_stage(part, 0);
  const std::vector<hw::OpWork> loss(head.begin() + 1, head.end());
  EXPECT_EQ(plan.forward[0].segments.back().compute, hw::total_time(loss, part, hw::DType::kBf16));
}

}  // namespace
}  // namespace lcsim
