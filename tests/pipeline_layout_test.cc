// Megatron-core's custom pipeline layout (--pipeline-model-parallel-layout): read and checked as Megatron-core's
// PipelineParallelLayerLayout reads and checks it, each virtual stage holding the layers the string gives it, and
// MTP modules placed before the last stage run there (docs/training.md, "A custom pipeline layout").
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "megatron_support.h"
#include "models/hardware/catalog.h"
#include "workloads/training/megatron.h"
#include "workloads/training/pipeline_layout.h"

namespace lcsim {
namespace {

using wl::MegatronTraining;
using wl::PipelineLayoutStage;

std::vector<PipelineLayoutStage> parse(const std::string& text) {
  std::string error;
  auto out = wl::parse_pipeline_layout(text, &error);
  EXPECT_EQ(error, "") << text;
  return out;
}

std::string parse_error(const std::string& text) {
  std::string error;
  const auto out = wl::parse_pipeline_layout(text, &error);
  EXPECT_TRUE(out.empty()) << text;
  return error;
}

// Megatron-LM's docs example: DeepSeek-V3 (61 layers, one MTP module) at PP 16 with two chunks per rank, and the
// table its pretty_repr prints for it.
TEST(PipelineLayout, ParsesMegatronsDeepSeekV3Example) {
  const auto stages = parse("Et*3|(tt|)*29,m|L");
  ASSERT_EQ(stages.size(), 32u);
  EXPECT_TRUE(stages[0].embedding);
  EXPECT_EQ(stages[0].decoders, 3);
  EXPECT_EQ(stages[0].layers, "Ettt");
  for (size_t v = 1; v <= 29; ++v) EXPECT_EQ(stages[v].layers, "tt") << v;
  EXPECT_EQ(stages[30].mtp, 1);
  EXPECT_EQ(stages[30].decoders, 0);
  EXPECT_TRUE(stages[31].loss);
  EXPECT_EQ(wl::check_pipeline_layout(stages, 16, 61, 1), "");
  EXPECT_EQ(wl::describe_pipeline_layout(stages, 16),
            "rank 0: E,t*3 | t*2; ranks 1-13: t*2 | t*2; rank 14: t*2 | m; rank 15: t*2 | L");
  // Commas are cosmetic; "x*n" repeats one character, "(...)*n" a group (a '|' inside it included); empty chunks.
  EXPECT_EQ(parse("E,t*2,|t,t*1|(|)*2L").size(), 5u);
  EXPECT_EQ(parse("E,t*2,|t,t*1|(|)*2L")[1].layers, "tt");
  EXPECT_EQ(parse("E,t*2,|t,t*1|(|)*2L")[4].layers, "L");
  EXPECT_EQ(parse("(Et|)*1t*0L").back().layers, "L");
}

TEST(PipelineLayout, MalformedStringsAndBadLayoutsAreNamed) {
  EXPECT_NE(parse_error("Et|tx|L").find("invalid layer character 'x' in virtual stage 1"), std::string::npos);
  EXPECT_NE(parse_error("Et| t|L").find("invalid layer character ' '"), std::string::npos);
  EXPECT_NE(parse_error("(t|)*99999999L").find("unrolls to more than"), std::string::npos);
  auto check = [](const std::string& text, int pp, int layers, int mtp) {
    return wl::check_pipeline_layout(parse(text), pp, layers, mtp);
  };
  EXPECT_EQ(check("Et|t|tL", 2, 3, 0), "has 3 virtual stages, not a multiple of pipeline_model_parallel_size (2)");
  EXPECT_EQ(check("tE|tL", 2, 2, 0), "must begin with the embedding E, got 't'");
  EXPECT_EQ(check("Et|Lt", 2, 2, 0), "must end with the loss L, got 't'");
  EXPECT_EQ(check("EtE|tL", 2, 2, 0), "names the embedding E 2 times; exactly once is allowed");
  EXPECT_EQ(check("Et|tt|t|L", 2, 5, 0), "holds 4 transformer layers (t); model.num_layers is 5");
  EXPECT_EQ(check("Et|t|tm|L", 2, 3, 0), "holds 1 MTP modules (m); model.mtp_num_layers is 0");
  EXPECT_EQ(check("Et|t|mt|L", 2, 3, 1),
            "places a transformer layer (t) after an MTP module (m); decoder layers must come before MTP layers");
  EXPECT_EQ(check("Et|tm||L", 2, 2, 1).rfind("places MTP modules in virtual stage 1 (pipeline rank 1, chunk 0)", 0), 0u);
  EXPECT_EQ(check("Et|t|m|mL", 2, 2, 2), "splits the MTP modules over virtual stages; all of them must be in one");
  // In a scenario: the error names the key, the string and what is wrong; the split keys it replaces are refused.
  std::string e = megatron_support::parse_sets_error({"workload.pipeline_model_parallel_layout=Et|tt|tt|ttL"});
  EXPECT_NE(e.find("workload.pipeline_model_parallel_layout: 'Et|tt|tt|ttL' holds 7 transformer layers (t); "
                   "model.num_layers is 8"), std::string::npos) << e;
  e = megatron_support::parse_sets_error({"workload.pipeline_model_parallel_layout=Et|tt|ttt|ttL",
                                          "workload.decoder_first_pipeline_num_layers=1"});
  EXPECT_NE(e.find("decoder_first_pipeline_num_layers: and pipeline_model_parallel_layout exclude each other"),
            std::string::npos) << e;
}

// A layout that states a split the other keys give runs it bit for bit: every metric the same.
TEST(PipelineLayout, SameSplitAsTheSplitKeysRunsIdentically) {
  auto same = [](const std::vector<std::string>& keys, const std::vector<std::string>& layout) {
    const auto a = megatron_support::run(keys), b = megatron_support::run(layout);
    ASSERT_EQ(a.size(), b.size());
    for (const auto& [k, v] : a) EXPECT_EQ(b.at(k), v) << k;
  };
  // Interleaved, one layer per chunk (PP 4, 8 layers, two chunks per rank).
  same({"workload.num_layers_per_virtual_pipeline_stage=1"},
       {"workload.pipeline_model_parallel_layout=Et|t|t|t|t|t|t|tL"});
  // Uneven: the first and last stages one layer each.
  same({"workload.model.num_layers=10", "workload.decoder_first_pipeline_num_layers=1",
        "workload.decoder_last_pipeline_num_layers=1"},
       {"workload.model.num_layers=10", "workload.pipeline_model_parallel_layout=Et|t*4|t*4|tL"});
  // The embedding and the loss each in a chunk of its own (PP 2, five chunks per rank).
  same({"workload.pipeline_model_parallel_size=2", "workload.num_layers_per_virtual_pipeline_stage=1",
        "workload.account_for_embedding_in_pipeline_split=true", "workload.account_for_loss_in_pipeline_split=true"},
       {"workload.pipeline_model_parallel_size=2", "workload.pipeline_model_parallel_layout=E|(t|)*8L"});
}

// One MTP module, PP 4 with two chunks per rank: in the last virtual stage with the loss, or standalone in the
// chunk before it (rank 2's second chunk), as Megatron-core runs it there: the module's input, layer and norm in
// its stage, its logits and loss with the main ones, and the sends from it on carrying both hidden states.
TEST(PipelineLayout, StandaloneMtpRunsInItsStageAndWidensTheSendsAfterIt) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const std::string mtp = "workload.model.mtp_num_layers=1";
  const std::string last = "workload.pipeline_model_parallel_layout=Et|t|t|t|t|tt|t|mL";
  const std::string alone = "workload.pipeline_model_parallel_layout=Et|t|t|t|t|tt|tm|L";
  const Scenario a = megatron_support::parse_sets({mtp, last}), b = megatron_support::parse_sets({mtp, alone});
  const auto& wa = dynamic_cast<const MegatronTraining&>(*a.workload);
  const auto& wb = dynamic_cast<const MegatronTraining&>(*b.workload);
  EXPECT_EQ(wa.mtp_stage(), 7);
  EXPECT_EQ(wb.mtp_stage(), 6);
  // The hidden state's shard: 1 x 2,048 tokens x 2,048 x 2 B / TP 2; twice that from virtual stage 6 on.
  const double one = 2048.0 * 2048 * 2 / 2;
  for (int k = 0; k < 7; ++k) {
    EXPECT_DOUBLE_EQ(wa.pipeline_send_bytes(k).bytes(), one) << k;
    EXPECT_DOUBLE_EQ(wb.pipeline_send_bytes(k).bytes(), k >= 6 ? 2 * one : one) << k;
  }
  // The work moves, it is not added: rank 2's second chunk gains what rank 3's second chunk loses.
  const auto a2 = wa.plan_stage(part, 2), a3 = wa.plan_stage(part, 3);
  const auto b2 = wb.plan_stage(part, 2), b3 = wb.plan_stage(part, 3);
  const double moved_fwd = b2.forward[1].compute.s() - a2.forward[1].compute.s();
  EXPECT_GT(moved_fwd, 0);
  EXPECT_NEAR(a3.forward[1].compute.s() - b3.forward[1].compute.s(), moved_fwd, 1e-12);
  const double moved_bwd = b2.backward[1].compute.s() - a2.backward[1].compute.s();
  EXPECT_GT(moved_bwd, 0);
  EXPECT_NEAR(a3.backward[1].compute.s() - b3.backward[1].compute.s(), moved_bwd, 1e-12);
  EXPECT_EQ(a2.forward[0].compute, b2.forward[0].compute);  // the first chunks are the same
  // And the MTP layer's activations with them.
  EXPECT_GT(megatron_support::memory_item(b2.memory, "activations"), megatron_support::memory_item(a2.memory, "activations"));
  // Runs: the same compute in all, another iteration; the folded passes as the fine path runs them.
  // (The DDP's NaN check and scaling follow the parameters, which move with the layer: off here.)
  const std::string no_grad = "workload.check_for_nan_in_grad=false", average = "workload.ddp_average_in_collective=true";
  const auto ra = megatron_support::run({mtp, last, no_grad, average}), rb = megatron_support::run({mtp, alone, no_grad, average});
  const auto fine = megatron_support::run({mtp, alone, no_grad, average, "simulation.event_granularity=kernel"});
  EXPECT_NEAR(ra.at("time_compute_s"), rb.at("time_compute_s"), 1e-9);
  EXPECT_NE(ra.at("iteration_time_s"), rb.at("iteration_time_s"));
  for (const auto& [k, v] : rb) {
    if (k != "sim_events") {
      EXPECT_EQ(fine.at(k), v) << k;
    }
  }
}

// Megatron-core keeps a copy of the word embeddings where the MTP modules run ("duplicated embedding weights in mtp
// process stage", LanguageModule) unless a tied output layer in that same last stage is the copy, and all-reduces
// its gradients with the first stage's (pretrain_gpt.py's get_embedding_ranks: the first rank, the last with tied
// embeddings, the MTP ranks).
TEST(PipelineLayout, MtpStageHoldsAnEmbeddingCopyInTheEmbeddingGroup) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const std::string mtp = "workload.model.mtp_num_layers=1", untie = "workload.model.untie_embeddings_and_output_weights=true";
  const std::string alone = "workload.pipeline_model_parallel_layout=Et|t|t|t|t|tt|tm|L";
  auto stage_params = [&](const std::vector<std::string>& sets, int stage) {
    const Scenario sc = megatron_support::parse_sets(sets);
    return dynamic_cast<const MegatronTraining&>(*sc.workload).plan_stage(part, stage).dense_params;
  };
  auto group = [&](const std::vector<std::string>& sets) {
    const Scenario sc = megatron_support::parse_sets(sets);
    return dynamic_cast<const MegatronTraining&>(*sc.workload).embedding_stages();
  };
  const double copy = 32000.0 * 2048 / 2;  // vocabulary x hidden / TP 2
  // MTP in the last stage: untied, the stage holds the copy beside its output layer; tied, the output layer is it.
  EXPECT_DOUBLE_EQ(stage_params({mtp, untie}, 3) - stage_params({mtp}, 3), copy);
  EXPECT_DOUBLE_EQ(stage_params({untie}, 3) - stage_params({}, 3), 0.0);
  EXPECT_EQ(group({}), (std::vector<int>{0, 3}));
  EXPECT_EQ(group({untie}), (std::vector<int>{0}));
  EXPECT_EQ(group({mtp, untie}), (std::vector<int>{0, 3}));
  // Standalone on rank 2: the copy there, tied or not (the module's own parameters as in the last stage: the tied
  // in-last difference), and rank 2 in the group.
  const double module = stage_params({mtp}, 3) - stage_params({}, 3);
  const std::string same = "workload.pipeline_model_parallel_layout=Et|t|t|t|t|tt|t|L";  // the layers without the m
  EXPECT_NEAR(stage_params({mtp, alone}, 2) - stage_params({same}, 2) - module, copy, 1e-6 * copy);
  EXPECT_NEAR(stage_params({mtp, alone, untie}, 2) - stage_params({same, untie}, 2) - module, copy, 1e-6 * copy);
  EXPECT_EQ(group({mtp, alone}), (std::vector<int>{0, 2, 3}));
  EXPECT_EQ(group({mtp, alone, untie}), (std::vector<int>{0, 2}));
  // A run's fullest stage (the last) holds the copy: more weight memory.
  const auto with_copy = megatron_support::run({mtp, untie});
  EXPECT_GT(with_copy.at("memory_weights_bytes"), megatron_support::run({untie}).at("memory_weights_bytes"));
}

// Pasted from a Megatron-LM line (the quotes as a shell reads them): the chunks it implies and each one's layers; an
// empty chunk passes the hidden state on (the same compute as the even split, another schedule).
TEST(PipelineLayout, ReadFromAMegatronLineWithEmptyChunks) {
  const std::string line = R"(workload:
  type: megatron
  host_op_time: 23us
  host_issue_model: overlapped
  megatron_args: >-
    --num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 --vocab-size 32000
    --global-batch-size 32 --micro-batch-size 1 --tensor-model-parallel-size 2 --pipeline-model-parallel-size 4
    --pipeline-model-parallel-layout "Ett|tt|tt|tt|||,|L" --bf16
)";
  const Scenario sc = megatron_support::parse_with(line);
  const auto& w = dynamic_cast<const MegatronTraining&>(*sc.workload);
  EXPECT_EQ(w.config().pipeline_model_parallel_layout, "Ett|tt|tt|tt|||,|L");
  EXPECT_EQ(w.config().virtual_stages(), 2);
  EXPECT_EQ(w.config().schedule(), "interleaved");
  for (int v = 0; v < 4; ++v) EXPECT_EQ(w.layer_range(v), std::make_pair(2 * v, 2 * v + 2)) << v;
  for (int v = 4; v < 8; ++v) EXPECT_EQ(w.layer_range(v), std::make_pair(8, 8)) << v;
  // Ranks 0-2: the first chunk as the even split's stage, the second a pass with no kernel (only the host's wait
  // after the pipeline receive that every pass carries).
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const Scenario even = megatron_support::parse_sets({});
  const auto& we = dynamic_cast<const MegatronTraining&>(*even.workload);
  for (int r = 0; r < 3; ++r) {
    const auto p = w.plan_stage(part, r), q = we.plan_stage(part, r);
    EXPECT_EQ(p.forward[0].compute, q.forward[0].compute) << r;
    EXPECT_EQ(p.backward[0].compute, q.backward[0].compute) << r;
    EXPECT_EQ(p.forward[1].compute, p.backward[1].compute) << r;
    EXPECT_GT(p.forward[1].compute.s(), 0) << r;
    EXPECT_LT(p.forward[1].compute.s(), 1e-4) << r;
  }
  const auto run_even = megatron_support::run({});
  const auto run_empty = megatron_support::run({"workload.pipeline_model_parallel_layout=Ett|tt|tt|tt||||L"});
  EXPECT_GT(run_empty.at("time_compute_s"), run_even.at("time_compute_s"));
  EXPECT_NE(run_empty.at("iteration_time_s"), run_even.at("iteration_time_s"));
  // Megatron-LM's one way to set the chunks.
  std::string bad = line;
  bad.replace(bad.find("--bf16"), 6, "--num-virtual-stages-per-pipeline-rank 2");
  const std::string e = megatron_support::parse_error_with(bad);
  EXPECT_NE(e.find("num_virtual_stages_per_pipeline_rank: and pipeline_model_parallel_layout exclude each other"),
            std::string::npos) << e;
}

}  // namespace
}  // namespace lcsim
