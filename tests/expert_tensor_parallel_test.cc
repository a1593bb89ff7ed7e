// Expert tensor parallelism of its own size (expert_tensor_parallel_size other than 1 or TP; Megatron-LM's
// --expert-tensor-parallel-size): the expert groups as Megatron-core's expert rank generator cuts them, the routed
// tokens gathered over the expert TP group, the experts' weights and gathered activations per rank, and a run that
// is the same whichever way it is simulated.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "megatron_support.h"

#include "models/hardware/catalog.h"
#include "scenarios/scenario.h"
#include "workloads/training/gpt_model.h"
#include "workloads/training/layer_activations.h"
#include "workloads/training/megatron.h"
#include "workloads/training/placement.h"

namespace lcsim {
namespace {

using G = std::vector<uint32_t>;

// One stage of 16 ranks (TP 4 x DP 4, Megatron's order), experts on expert TP 2 x EP 4, so expert DP 2: Megatron-core's
// expert generator (order tp-ep-dp-pp with the experts' sizes) numbers the ranks 0..15 and cuts runs of 2 (expert TP),
// runs of 8 (TP x EP), the EP group the ranks of one run of 8 at the same offset in their pairs, and expert DP the
// ranks 8 apart. The dense layers keep their TP groups of 4.
TEST(ExpertTensorParallel, GroupsFollowMegatronsExpertRankGenerator) {
  const wl::Placement pl(4, 1, 4, 1, 4, "tp-cp-ep-dp-pp", 2);
  EXPECT_EQ(pl.group(wl::GroupKind::kEtp, 5), (G{4, 5}));
  EXPECT_EQ(pl.group(wl::GroupKind::kEp, 0), (G{0, 2, 4, 6}));
  EXPECT_EQ(pl.group(wl::GroupKind::kEp, 3), (G{1, 3, 5, 7}));
  EXPECT_EQ(pl.group(wl::GroupKind::kEp, 12), (G{8, 10, 12, 14}));
  EXPECT_EQ(pl.group(wl::GroupKind::kTpEp, 9), (G{8, 9, 10, 11, 12, 13, 14, 15}));
  EXPECT_EQ(pl.group(wl::GroupKind::kEdp, 2), (G{2, 10}));
  EXPECT_EQ(pl.group(wl::GroupKind::kTp, 5), (G{4, 5, 6, 7}));
  // Expert TP above TP (TP 2, expert TP 4, EP 2 over 16 ranks): an expert TP group spans two dense TP pairs.
  const wl::Placement wide(2, 1, 8, 1, 2, "tp-cp-ep-dp-pp", 4);
  EXPECT_EQ(wide.group(wl::GroupKind::kEtp, 5), (G{4, 5, 6, 7}));
  EXPECT_EQ(wide.group(wl::GroupKind::kEp, 5), (G{1, 5}));
  EXPECT_EQ(wide.group(wl::GroupKind::kEdp, 5), (G{5, 13}));
  // Expert TP equal to TP is the dense split, given or left at 0; 1 is MoE parallel folding. Every rank's groups, on
  // two stages.
  const wl::Placement given(4, 1, 4, 2, 4, "tp-cp-ep-dp-pp", 4), dense(4, 1, 4, 2, 4, "tp-cp-ep-dp-pp");
  for (uint32_t r = 0; r < 32; ++r) {
    for (const auto k : {wl::GroupKind::kEp, wl::GroupKind::kEdp, wl::GroupKind::kTpEp}) {
      EXPECT_EQ(given.group(k, r), dense.group(k, r)) << r;
    }
    EXPECT_EQ(given.group(wl::GroupKind::kEtp, r), dense.group(wl::GroupKind::kTp, r)) << r;
  }
  const wl::Placement folded(4, 1, 4, 1, 8, "tp-cp-ep-dp-pp", 1);
  EXPECT_EQ(folded.group(wl::GroupKind::kEp, 9), (G{8, 9, 10, 11, 12, 13, 14, 15}));
  EXPECT_EQ(folded.group(wl::GroupKind::kEtp, 9), (G{9}));
}

// One MoE layer (h 2,048, 8 experts of 8,192, top 2) on TP 4 with sequence parallelism, EP 2, one sequence of 2,048:
// each rank holds 512 tokens. Experts on expert TP 2: the 4 local experts each get 2 x (512 x 2) x 2 / 8 = 512
// gathered tokens against 8,192 / 2 columns; on expert TP 4, 1,024 tokens against 8,192 / 4: the same FLOPs.
TEST(ExpertTensorParallel, ExpertsTakeTheirGroupsTokensAtTheirShareOfTheWidth) {
  wl::GptModelConfig m;
  m.num_layers = 8, m.hidden_size = 2048, m.num_attention_heads = 16, m.seq_length = 2048, m.vocab_size = 32000;
  m.num_experts = 8, m.moe_router_topk = 2;
  wl::LayerShard sh;
  sh.tp = 4, sh.ep = 2, sh.sp = true;
  auto up = [&](int etp) {
    sh.etp = etp;
    const auto mlp = wl::layer_forward(m, 0, 1, 2, sh).mlp;
    return *std::find_if(mlp.begin(), mlp.end(), [](const hw::OpWork& op) { return op.name == "expert_up"; });
  };
  const hw::OpWork two = up(2), four = up(4);
  EXPECT_DOUBLE_EQ(two.gemm.m, 512);
  EXPECT_DOUBLE_EQ(two.gemm.n, 4096);
  EXPECT_DOUBLE_EQ(four.gemm.m, 1024);
  EXPECT_DOUBLE_EQ(four.gemm.n, 2048);
  EXPECT_DOUBLE_EQ(two.gemm.batch, 4);
  EXPECT_DOUBLE_EQ(two.flops.value(), four.flops.value());
}

// kBase's 32 GPUs as TP 4 x PP 2 (DP 4; 16 ranks a stage), 8 experts on EP 2. With expert TP 2 each rank holds its 4
// local experts (2 layers a stage) at half their width, and the routed tokens are gathered over the expert TP pair:
// half the bytes of expert TP 4's gather over the TP group, twice its expert parameters per rank, and a quarter of
// folded experts' (expert TP 1, which gathers nothing). The activations kept per routed token copy grow with expert TP
// (each expert keeps its gathered input): expert TP 2 keeps more than folding, expert TP 4 more again.
TEST(ExpertTensorParallel, ThePlanGathersOverTheExpertTpGroupAndHoldsItsShareOfTheExperts) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  struct Seen {
    double expert_params = 0, gather = -1, activations = 0;
    wl::GroupKind group = wl::GroupKind::kTp;
  };
  auto plan = [&](const std::string& etp) {
    Scenario sc = megatron_support::parse_sets(
        {"workload.model.num_experts=8", "workload.model.ffn_hidden_size=8192", "workload.sequence_parallel=true",
         "workload.tensor_model_parallel_size=4", "workload.pipeline_model_parallel_size=2",
         "workload.expert_model_parallel_size=2", "workload.expert_tensor_parallel_size=" + etp});
    const auto& w = dynamic_cast<const wl::MegatronTraining&>(*sc.workload);
    const auto p = w.plan_stage(part, 0);
    Seen s;
    s.expert_params = p.expert_params;
    for (const auto& pass : p.forward) {
      for (const auto& seg : pass.segments) {
        for (const auto& call : seg.comms) {
          if (call.name.find("all-gather routed tokens") != std::string::npos) s.gather = call.size.bytes(), s.group = call.group;
        }
      }
    }
    s.activations = megatron_support::memory_item(p.memory, "activations");
    return s;
  };
  const Seen two = plan("2"), four = plan("4"), one = plan("1");
  ASSERT_GT(two.gather, 0);
  EXPECT_EQ(two.group, wl::GroupKind::kEtp);
  EXPECT_EQ(four.group, wl::GroupKind::kTp);
  EXPECT_DOUBLE_EQ(two.gather, four.gather / 2);
  EXPECT_EQ(one.gather, -1);
  EXPECT_DOUBLE_EQ(two.expert_params, 2 * four.expert_params);
  EXPECT_DOUBLE_EQ(one.expert_params, 4 * four.expert_params);
  // 4 layers a stage x 4 local experts, each a biased GeLU MLP (2 h f + f + h) split 4 ways.
  EXPECT_DOUBLE_EQ(four.expert_params, 4 * 4 * (2.0 * 2048 * 8192 + 8192 + 2048) / 4);
  ASSERT_GT(one.activations, 0);
  EXPECT_GT(two.activations, one.activations);
  EXPECT_GT(four.activations, two.activations);
  // By the layer's formula: each routed copy's input (2 B per element) and probability (4 B) kept per expert TP.
  wl::GptModelConfig m;
  m.num_layers = 8, m.hidden_size = 2048, m.num_attention_heads = 16, m.seq_length = 2048, m.vocab_size = 32000;
  m.num_experts = 8, m.moe_router_topk = 2, m.ffn_hidden_size = 8192;
  wl::ActivationOptions o;
  const double base = wl::layer_activations(m, 0, o).split;
  o.expert_tp = 2;
  EXPECT_DOUBLE_EQ(wl::layer_activations(m, 0, o).split - base, 2.0 * (2 * 2048 + 4));
}

// The same layout run: the folded passes and the kernel-by-kernel path give the same metrics bit for bit, and the run
// with every rank simulated (symmetry off: the expert TP pairs' collectives meet across simulated ranks) the same
// iteration. Expert TP 2 moves fewer bytes per gather than expert TP 4 and runs at a different time.
TEST(ExpertTensorParallel, ALayoutRunsTheSameAtEveryGranularityAndWithEveryRank) {
  const std::vector<std::string> base = {
      "workload.model.num_experts=8", "workload.model.ffn_hidden_size=8192", "workload.sequence_parallel=true",
      "workload.tensor_model_parallel_size=4", "workload.pipeline_model_parallel_size=2",
      "workload.expert_model_parallel_size=2"};
  auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> sets = base;
    sets.insert(sets.end(), more.begin(), more.end());
    return megatron_support::run(sets);
  };
  const auto folded = with({"workload.expert_tensor_parallel_size=2"});
  const auto kernels = with({"workload.expert_tensor_parallel_size=2", "simulation.event_granularity=kernel"});
  const auto every = with({"workload.expert_tensor_parallel_size=2", "workload.symmetry=off"});
  const auto four = with({"workload.expert_tensor_parallel_size=4"});
  ASSERT_TRUE(folded.count("iteration_time_s"));
  for (const auto& [key, value] : folded) {
    if (key == "sim_events" || key.rfind("sim_", 0) == 0 || key.find("wall") != std::string::npos) continue;
    ASSERT_TRUE(kernels.count(key)) << key;
    EXPECT_EQ(value, kernels.at(key)) << key;
  }
  EXPECT_LT(folded.at("sim_events"), kernels.at("sim_events"));
  EXPECT_NEAR(every.at("iteration_time_s"), folded.at("iteration_time_s"), 1e-9 * folded.at("iteration_time_s"));
  EXPECT_NE(four.at("iteration_time_s"), folded.at("iteration_time_s"));
}

// NVIDIA's Megatron-LM functional tests run expert TP beside another TP (ETP 2 beside TP 4, ETP 4 beside TP 2):
// pasted, both lines are read, and the expert groups take their own size.
TEST(ExpertTensorParallel, MegatronCommandLinesWithTheirOwnExpertTp) {
  for (const auto& [tp, etp, ep] : {std::tuple{4, 2, 2}, std::tuple{2, 4, 2}}) {
    const std::string line = "--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 "
                             "--vocab-size 32000 --global-batch-size 32 --micro-batch-size 1 --bf16 --num-experts 8 "
                             "--moe-router-topk 2 --sequence-parallel --tensor-model-parallel-size " +
                             std::to_string(tp) + " --expert-tensor-parallel-size " + std::to_string(etp) +
                             " --expert-model-parallel-size " + std::to_string(ep);
    const Scenario sc =
        megatron_support::parse_with("workload:\n  type: megatron\n  megatron_args: \"" + line + "\"\n");
    const auto& c = dynamic_cast<wl::MegatronTraining&>(*sc.workload).config();
    EXPECT_EQ(c.expert_tp(), etp);
    EXPECT_TRUE(c.experts_fold_tp());
    EXPECT_EQ(c.tp_ep_size(), etp * ep);
    EXPECT_EQ(c.expert_data_parallel(32 / tp), 32 / (etp * ep));
  }
}

}  // namespace
}  // namespace lcsim
