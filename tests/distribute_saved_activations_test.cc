// distribute_saved_activations (Megatron-LM's --distribute-saved-activations): with full recomputation each
// checkpointed input is kept split over the TP ranks and all-gathered over TP before its recomputation
// (CheckpointFunction: split_tensor_into_1d_equal_chunks, gather_split_1d_tensor).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "megatron_support.h"
#include "models/hardware/memory.h"

namespace lcsim {
namespace {

double activations(const hw::MemoryFit& f) { return megatron_support::memory_item(f, "activations"); }

// Two layers recomputed whole, one checkpoint each, TP 2 without sequence parallelism, 8 tokens of hidden 4: each
// checkpoint keeps 2 B x 8 x 4 = 64 B whole, or 32 B split over TP: 64 B less in all.
TEST(DistributeSavedActivations, CheckpointedInputsSplitOverTpByHand) {
  hw::TrainingMemoryInput in;
  in.seq = 8, in.micro_batch = 1, in.hidden = 4, in.ffn = 16, in.heads = 2, in.layers = 2;
  in.recompute = "full", in.tensor_parallel = 2, in.sequence_parallel = false;
  const double whole = activations(hw::training_memory(in, Bytes::gib(80)));
  in.distribute_saved_inputs = true;
  EXPECT_DOUBLE_EQ(whole - activations(hw::training_memory(in, Bytes::gib(80))), 64);
}

// The test layout (TP 2, PP 4) with full recomputation and no sequence parallelism: less memory, a TP all-gather
// per checkpoint more (more exposed TP time, a longer iteration), folded passes as the fine path runs them.
TEST(DistributeSavedActivations, RunsGatherEachCheckpointBeforeItsRecomputation) {
  const std::vector<std::string> full = {"workload.recompute_granularity=full", "workload.recompute_method=uniform",
                                         "workload.recompute_num_layers=1"};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), full.begin(), full.end());
    return megatron_support::run(more);
  };
  const auto kept = with({}), split = with({"workload.distribute_saved_activations=true"});
  const auto fine = with({"workload.distribute_saved_activations=true", "simulation.event_granularity=kernel"});
  EXPECT_LT(split.at("memory_activations_bytes"), kept.at("memory_activations_bytes"));
  EXPECT_GT(split.at("time_exposed_tp_s"), kept.at("time_exposed_tp_s"));
  EXPECT_GT(split.at("iteration_time_s"), kept.at("iteration_time_s"));
  EXPECT_EQ(fine.at("iteration_time_s"), split.at("iteration_time_s"));
  EXPECT_EQ(fine.at("time_exposed_tp_s"), split.at("time_exposed_tp_s"));
}

TEST(DistributeSavedActivations, NeedsFullRecomputeTpAndNoSequenceParallelism) {
  const std::string on = "workload.distribute_saved_activations=true";
  std::string e = megatron_support::parse_sets_error({on});
  EXPECT_NE(e.find("distribute_saved_activations: needs recompute_granularity: full"), std::string::npos) << e;
  const std::string full = "workload.recompute_granularity=full";
  e = megatron_support::parse_sets_error({on, full, "workload.tensor_model_parallel_size=1"});
  EXPECT_NE(e.find("needs tensor_model_parallel_size > 1"), std::string::npos) << e;
  e = megatron_support::parse_sets_error({on, full, "workload.sequence_parallel=true"});
  EXPECT_NE(e.find("must be false with sequence_parallel"), std::string::npos) << e;
}

}  // namespace
}  // namespace lcsim
