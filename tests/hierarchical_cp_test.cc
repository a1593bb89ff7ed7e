// Hierarchical context parallelism (cp_comm_type a2a+p2p with hierarchical_context_parallel_sizes [A, P]): the
// all-to-all level over A consecutive CP ranks, Transformer Engine's ring over the P ranks A apart
// (docs/training.md, "Context parallelism"). Its limits are the two plain kinds: [1, CP] is the p2p ring, [CP, 1]
// Ulysses' all-to-all, bit for bit; [2, 2] lies between them.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "megatron_support.h"
#include "workloads/training/gpt_model.h"
#include "workloads/training/megatron.h"
#include "workloads/training/placement.h"

namespace lcsim {
namespace {

using wl::GroupKind;
using wl::Placement;

// TP 2 x CP 4 x DP 2 on 16 GPUs, order tp-cp-ep-dp-pp: rank 0's CP group is {0, 2, 4, 6} (CP indices 0..3). With
// A = 2 the all-to-all level takes consecutive CP indices ({0, 1}, {2, 3}), the ring the indices 2 apart ({0, 2},
// {1, 3}), as Megatron-core's create_hierarchical_groups builds them (the first size innermost).
TEST(HierarchicalCp, GroupsAreConsecutiveThenStrided) {
  Placement pl(2, 4, 2, 1, 1, "tp-cp-ep-dp-pp");
  pl.set_cp_a2a(2);
  EXPECT_EQ(pl.group(GroupKind::kCp, 0), (std::vector<uint32_t>{0, 2, 4, 6}));
  EXPECT_EQ(pl.group(GroupKind::kCpA2a, 0), (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(pl.group(GroupKind::kCpP2p, 0), (std::vector<uint32_t>{0, 4}));
  EXPECT_EQ(pl.group(GroupKind::kCpA2a, 6), (std::vector<uint32_t>{4, 6}));
  EXPECT_EQ(pl.group(GroupKind::kCpP2p, 6), (std::vector<uint32_t>{2, 6}));
  EXPECT_EQ(pl.group(GroupKind::kCpP2p, 9), (std::vector<uint32_t>{9, 13}));  // TP rank 1, DP rank 1
  EXPECT_STREQ(wl::group_kind_name(GroupKind::kCpA2a), "cp-a2a");
}

// A layer at CP 4 with A = 2: a ring of 2 ranks over the whole sequence for half of the heads, each rank holding
// 2 of the 8 chunks of S / 8 before the all-to-all and 4 after it: step 0 causal over 2 x S / 4 tokens, step 1
// S / 2 queries against the first S / 4 received keys, then Transformer Engine's merge.
TEST(HierarchicalCp, RingOfTheSecondLevelOnTheFirstLevelsShareOfTheHeads) {
  wl::GptModelConfig m;
  m.num_layers = 1, m.hidden_size = 2048, m.num_attention_heads = 16, m.seq_length = 8192, m.vocab_size = 32000;
  wl::LayerShard sh;
  sh.cp = 4, sh.cp_a2a = 2, sh.flash = true, sh.cp_comm_type = "a2a+p2p";
  const wl::LayerOps ops = wl::layer_forward(m, 0, 1, 2, sh);
  std::vector<hw::AttentionShape> steps;
  for (const auto& op : ops.attention) {
    if (op.op_class == hw::OpClass::kAttention) steps.push_back(op.attention);
  }
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_DOUBLE_EQ(steps[0].heads, 8);
  EXPECT_DOUBLE_EQ(steps[0].kv_heads, 8);
  EXPECT_DOUBLE_EQ(steps[0].q_len, 4096);
  EXPECT_DOUBLE_EQ(steps[0].kv_len, 4096);
  EXPECT_TRUE(steps[0].causal);
  EXPECT_DOUBLE_EQ(steps[1].q_len, 4096);
  EXPECT_DOUBLE_EQ(steps[1].kv_len, 2048);
  EXPECT_FALSE(steps[1].causal);
}

std::map<std::string, double> run_cp(const std::vector<std::string>& more) {
  std::vector<std::string> sets = {"workload.context_parallel_size=4", "workload.pipeline_model_parallel_size=1",
                                   "workload.sequence_parallel=true", "workload.model.seq_length=8192",
                                   "workload.global_batch_size=8", "workload.micro_batch_size=1"};
  sets.insert(sets.end(), more.begin(), more.end());
  return megatron_support::run(sets);
}

// The base layout at TP 2, CP 4 (8 heads per TP rank): [1, 4] runs as p2p and [4, 1] as a2a, every metric the
// same (no ring: no ring buffers); [2, 2] exposes more than the ring (its all-to-alls wait), needs the same memory
// as the ring (each step moves and holds one rank's keys/values), and folds its passes as the fine-grained path
// runs them. (Against Ulysses it depends on the layout: its all-to-alls move 1/2 of the q/k/v instead of 3/4, but
// its ring's steps may show; here, 8 layers of hidden 2,048 in one node, it exposes a little more.)
TEST(HierarchicalCp, LevelsBetweenRingAndUlysses) {
  const std::string hier = "workload.cp_comm_type=a2a+p2p";
  const auto p2p = run_cp({"workload.cp_comm_type=p2p"}), a2a = run_cp({"workload.cp_comm_type=a2a"});
  const auto ring = run_cp({hier, "workload.hierarchical_context_parallel_sizes=[1, 4]"});
  const auto all = run_cp({hier, "workload.hierarchical_context_parallel_sizes=[4, 1]"});
  const auto mid = run_cp({hier, "workload.hierarchical_context_parallel_sizes=[2, 2]"});
  const auto fine = run_cp({hier, "workload.hierarchical_context_parallel_sizes=[2, 2]", "simulation.event_granularity=kernel"});
  for (const char* k : {"iteration_time_s", "time_exposed_cp_s", "time_compute_s", "memory_per_gpu_bytes"}) {
    EXPECT_EQ(ring.at(k), p2p.at(k)) << k;
    EXPECT_EQ(all.at(k), a2a.at(k)) << k;
    EXPECT_EQ(fine.at(k), mid.at(k)) << k;
  }
  EXPECT_GT(mid.at("time_exposed_cp_s"), p2p.at("time_exposed_cp_s"));
  EXPECT_NE(mid.at("time_exposed_cp_s"), a2a.at("time_exposed_cp_s"));
  EXPECT_NE(mid.at("iteration_time_s"), p2p.at("iteration_time_s"));
  EXPECT_EQ(mid.at("memory_per_gpu_bytes"), p2p.at("memory_per_gpu_bytes"));
}

TEST(HierarchicalCp, BadLevelsNameTheirKey) {
  const auto error = megatron_support::parse_sets_error;
  const std::string cp4 = "workload.context_parallel_size=4", seq = "workload.model.seq_length=8192";
  std::string e = error({cp4, seq, "workload.hierarchical_context_parallel_sizes=[2, 2]"});
  EXPECT_NE(e.find("hierarchical_context_parallel_sizes: takes effect only with cp_comm_type: a2a+p2p"), std::string::npos) << e;
  e = error({cp4, seq, "workload.cp_comm_type=a2a+p2p", "workload.hierarchical_context_parallel_sizes=[2, 4]"});
  EXPECT_NE(e.find("A x P = context_parallel_size (4)"), std::string::npos) << e;
  // 16 heads over TP 2 and an all-to-all level of 16: not a divisor of 8 heads per TP rank.
  e = error({"workload.context_parallel_size=16", "workload.pipeline_model_parallel_size=1", "workload.model.seq_length=32768",
             "workload.cp_comm_type=a2a+p2p", "workload.hierarchical_context_parallel_sizes=[16, 1]"});
  EXPECT_NE(e.find("must divide the query heads (8)"), std::string::npos) << e;
  // Megatron-LM asserts the sizes with a2a+p2p: the pasted line is rejected at the argument's column.
  const std::string line =
      "--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 8192 --vocab-size 32000 "
      "--global-batch-size 8 --micro-batch-size 1 --bf16 --context-parallel-size 4 --cp-comm-type a2a+p2p";
  e = megatron_support::parse_error_with("workload:\n  type: megatron\n  megatron_args: \"" + line + "\"\n");
  EXPECT_NE(e.find("needs --hierarchical-context-parallel-sizes"), std::string::npos) << e;
  EXPECT_NE(e.find("column"), std::string::npos) << e;
  const Scenario sc = megatron_support::parse_with("workload:\n  type: megatron\n  megatron_args: \"" + line +
                                                   " --hierarchical-context-parallel-sizes 2 2\"\n");
  const auto& c = dynamic_cast<wl::MegatronTraining&>(*sc.workload).config();
  EXPECT_EQ(c.hierarchical_context_parallel_sizes, (std::vector<int>{2, 2}));
  EXPECT_EQ(c.cp_a2a_size(), 2);
}

}  // namespace
}  // namespace lcsim
