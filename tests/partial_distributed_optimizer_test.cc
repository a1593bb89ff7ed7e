// Megatron's partial distributed optimizer (num_distributed_optimizer_instances N > 1; Megatron-LM's
// --num-distributed-optimizer-instances): the DP x CP ranks cut into N consecutive blocks, each one optimizer
// instance; each gradient bucket reduce-scattered inside the instance, then the shard all-reduced across the
// instances; the parameters gathered inside the instance; the optimizer's shard 1 / (DP x CP / N). Its groups by
// hand, its plan, memory and run, and what Megatron-core asserts.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "megatron_support.h"
#include "timeline_support.h"

#include "models/hardware/catalog.h"
#include "scenarios/scenario.h"
#include "timeline/model.h"
#include "workloads/training/megatron.h"
#include "workloads/training/placement.h"

namespace lcsim {
namespace {

using wl::GroupKind;
using wl::Placement;

// kBase's 32 GPUs as TP 2 x DP 16 (no pipeline), the distributed optimizer on.
std::vector<std::string> layout(int instances) {
  return {"workload.pipeline_model_parallel_size=1", "workload.sequence_parallel=true",
          "workload.use_distributed_optimizer=true",
          "workload.num_distributed_optimizer_instances=" + std::to_string(instances)};
}

const wl::MegatronTraining& training(const Scenario& sc) { return dynamic_cast<const wl::MegatronTraining&>(*sc.workload); }

// By hand. TP 2 x DP 8 in Megatron's order: rank 0's DP x CP group is the even ranks 0..14; with two instances its
// block is the first four (0, 2, 4, 6) and its copies the ranks at the same offset in each block (0, 8). With CP 2
// (TP 1, CP 2, DP 4: CP innermost) the DP x CP group is 0..7 and a block of four holds DP ranks 0 and 1 with both CP
// ranks. The experts' group (EP 2 over DP 8, TP 1): expert-DP is the ranks EP apart (0, 2, 4, 6), cut likewise.
// One instance: the block is the whole group and the copies the rank alone.
TEST(PartialDistributedOptimizer, GroupsAreCutAsMegatronCutsThem) {
  using V = std::vector<uint32_t>;
  Placement pl(2, 1, 8, 1, 1, "tp-cp-ep-dp-pp");
  EXPECT_EQ(pl.group(GroupKind::kDpCpIntra, 0), pl.group(GroupKind::kDpCp, 0));
  EXPECT_EQ(pl.group(GroupKind::kDpCpInter, 6), (V{6}));
  pl.set_optimizer_instances(2);
  EXPECT_EQ(pl.group(GroupKind::kDpCp, 0), (V{0, 2, 4, 6, 8, 10, 12, 14}));
  EXPECT_EQ(pl.group(GroupKind::kDpCpIntra, 0), (V{0, 2, 4, 6}));
  EXPECT_EQ(pl.group(GroupKind::kDpCpIntra, 12), (V{8, 10, 12, 14}));
  EXPECT_EQ(pl.group(GroupKind::kDpCpInter, 0), (V{0, 8}));
  EXPECT_EQ(pl.group(GroupKind::kDpCpInter, 6), (V{6, 14}));
  EXPECT_EQ(pl.group(GroupKind::kDpCpInter, 7), (V{7, 15}));  // TP rank 1's
  Placement cp(1, 2, 4, 1, 1, "tp-cp-ep-dp-pp");
  cp.set_optimizer_instances(2);
  EXPECT_EQ(cp.group(GroupKind::kDpCpIntra, 5), (V{4, 5, 6, 7}));
  EXPECT_EQ(cp.group(GroupKind::kDpCpInter, 5), (V{1, 5}));
  Placement ep(1, 1, 8, 1, 2, "tp-cp-ep-dp-pp");
  ep.set_optimizer_instances(2);
  EXPECT_EQ(ep.group(GroupKind::kEdp, 0), (V{0, 2, 4, 6}));
  EXPECT_EQ(ep.group(GroupKind::kEdpIntra, 0), (V{0, 2}));
  EXPECT_EQ(ep.group(GroupKind::kEdpInter, 0), (V{0, 4}));
  EXPECT_STREQ(wl::group_kind_name(GroupKind::kDpCpInter), "dp-cp-inter");
}

// The plan: each rank's optimizer shard twice one instance's (DP 16 / 2 ranks an instance), its step longer, the
// weights and gradients whole as before; the parameters gathered inside the instance, the same bytes.
TEST(PartialDistributedOptimizer, ShardsTheOptimizerOverOneInstance) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const auto one = training(megatron_support::parse_sets(layout(1))).plan_stage(part, 0);
  const auto two = training(megatron_support::parse_sets(layout(2))).plan_stage(part, 0);
  using megatron_support::memory_item;
  EXPECT_DOUBLE_EQ(memory_item(two.memory, "optimizer states"), 2 * memory_item(one.memory, "optimizer states"));
  EXPECT_DOUBLE_EQ(memory_item(two.memory, "weights"), memory_item(one.memory, "weights"));
  EXPECT_DOUBLE_EQ(memory_item(two.memory, "gradients"), memory_item(one.memory, "gradients"));
  EXPECT_GT(two.optimizer, one.optimizer);
  ASSERT_EQ(two.param_gather.size(), 1u);
  ASSERT_EQ(one.param_gather.size(), 1u);
  EXPECT_EQ(one.param_gather.front().group, GroupKind::kDpCp);
  EXPECT_EQ(two.param_gather.front().group, GroupKind::kDpCpIntra);
  EXPECT_DOUBLE_EQ(two.param_gather.front().size.bytes(), one.param_gather.front().size.bytes());
}

// A run's timeline (rank 0's data-parallel lane): with two instances each bucket is reduce-scattered over the
// instance and its shard all-reduced over the copies, and the parameters are gathered over the instance; with one,
// the whole DP x CP group's reduce-scatter and gather. Every rank simulated or one per stage: the same iteration with
// four instances (each inside one node, its copies on one rail). With two, each instance's ring crosses between two
// nodes' different rails, where the concurrent groups' flows can share a spine link by ECMP's hash, which only a
// run of every rank sees (symmetry simulates one group: docs/training.md, "The partial distributed optimizer").
std::set<std::string> dp_slices(int instances, double* iteration) {
  std::string text = megatron_support::kBase;
  const std::string off = "outputs: {timeline: false}";
  text.replace(text.find(off), off.size(), "outputs: {timeline: true, timeline_format: json}");
  ConfigValue tree = parse_yaml_text(text, "mt.yaml");
  for (const auto& s : layout(instances)) apply_override(tree, s);
  Scenario sc = parse_scenario(tree);
  const RunResult r = run_scenario(sc);
  EXPECT_TRUE(r.completed);
  *iteration = r.metrics.get("iteration_time_s");
  const auto dir = timeline::support::temp_dir("partial_distopt_test", std::to_string(instances));
  const timeline::Trace t = timeline::support::read_text(dir, "timeline.json", r.timeline_json);
  std::set<std::string> names;
  for (const auto& tr : t.tracks) {
    if (tr.group != "node0" || tr.name.rfind("gpu0 ", 0) != 0) continue;
    for (const auto& s : tr.slices) {
      const std::string n = t.str(s.name);
      if (n.find("grads") != std::string::npos || n.find("params") != std::string::npos) names.insert(n);
    }
  }
  return names;
}

TEST(PartialDistributedOptimizer, ReduceScattersInsideAnInstanceThenAllReducesTheShardAcross) {
  double t1 = 0, t2 = 0;
  const std::set<std::string> one = dp_slices(1, &t1), two = dp_slices(2, &t2);
  EXPECT_TRUE(one.contains("dp-cp reduce-scatter grads"));
  EXPECT_TRUE(one.contains("dp-cp all-gather params"));
  EXPECT_FALSE(one.contains("dp-cp-inter all-reduce grads"));
  EXPECT_TRUE(two.contains("dp-cp-intra reduce-scatter grads"));
  EXPECT_TRUE(two.contains("dp-cp-inter all-reduce grads"));
  EXPECT_TRUE(two.contains("dp-cp-intra all-gather params"));
  EXPECT_FALSE(two.contains("dp-cp reduce-scatter grads"));
  EXPECT_NE(t1, t2);
  std::vector<std::string> every = layout(4);
  every.push_back("workload.symmetry=off");
  const auto all = megatron_support::run(every), sym = megatron_support::run(layout(4));
  ASSERT_TRUE(all.count("iteration_time_s"));
  EXPECT_DOUBLE_EQ(all.at("iteration_time_s"), sym.at("iteration_time_s"));
}

// What Megatron-core asserts (DDP: "Partial DistOpt cannot be used without DistOpt"; parallel_state: N divides
// DP x CP and the experts' DP), and Megatron-FSDP's hybrid sharding, not modelled; a pasted line reads the value.
TEST(PartialDistributedOptimizer, IsCheckedAsMegatronChecksIt) {
  using megatron_support::parse_sets_error;
  std::vector<std::string> without = layout(2);
  without[2] = "workload.use_distributed_optimizer=false";
  EXPECT_NE(parse_sets_error(without).find("above 1 needs use_distributed_optimizer: true"), std::string::npos);
  EXPECT_NE(parse_sets_error(layout(3)).find("num_distributed_optimizer_instances: must divide data x context "
                                             "parallel size (16)"),
            std::string::npos);
  std::vector<std::string> fsdp = layout(2);
  fsdp.push_back("workload.use_megatron_fsdp=true");
  EXPECT_EQ(parse_sets_error(fsdp), "");  // Megatron-FSDP's hybrid sharding (below)
  fsdp.push_back("workload.data_parallel_sharding_strategy=optim");
  EXPECT_NE(parse_sets_error(fsdp).find("above 1 with Megatron-FSDP's optim is not modelled"), std::string::npos);
  std::vector<std::string> torch = layout(2);
  torch[2] = "workload.use_torch_fsdp2=true";
  EXPECT_NE(parse_sets_error(torch).find("above 1 with use_torch_fsdp2 is not modelled"), std::string::npos);
  EXPECT_EQ(parse_sets_error(layout(16)), "");  // one rank an instance: the whole gradients all-reduced
  const wl::MegatronConfig c = megatron_support::config_of_line(
      "--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 --vocab-size 32000 "
      "--global-batch-size 32 --micro-batch-size 1 --bf16 --use-distributed-optimizer "
      "--num-distributed-optimizer-instances 4");
  EXPECT_EQ(c.num_distributed_optimizer_instances, 4);
  // The run header says so.
  EXPECT_NE(training(megatron_support::parse_sets(layout(2))).describe().find("distributed optimizer (2 instances)"),
            std::string::npos);
}

// Megatron-FSDP's hybrid sharding (its units with two instances, the outer level not sharded): each unit gathered
// and reduce-scattered within its instance every micro-batch, the same bytes as over all of DP x CP; on the last
// micro-batch (the backward pass's copy for it) each reduced shard all-reduced across the instances, 1 / 8 of the
// unit's gradients; every buffer sharded over the instance's 8 ranks, twice one instance's shard.
TEST(PartialDistributedOptimizer, MegatronFsdpShardsWithinAnInstanceAndAllReducesAcross) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const auto plan_of = [&](int instances) {
    std::vector<std::string> sets = layout(instances);
    sets.push_back("workload.use_megatron_fsdp=true");
    return training(megatron_support::parse_sets(sets)).plan_stage(part, 0);
  };
  const auto one = plan_of(1), two = plan_of(2);
  const auto& gather = two.forward.front().segments.front().prefetch.front().front();
  EXPECT_EQ(gather.group, GroupKind::kDpCpIntra);
  EXPECT_DOUBLE_EQ(gather.size.bytes(), one.forward.front().segments.front().prefetch.front().front().size.bytes());
  EXPECT_FALSE(one.backward.front().last);
  ASSERT_TRUE(two.backward.front().last);
  size_t outer = 0;
  const auto& every = two.backward.front().segments;
  const auto& last = two.backward.front().last->segments;
  ASSERT_EQ(every.size(), last.size());
  for (size_t i = 0; i < every.size(); ++i) {
    ASSERT_EQ(last[i].reduce.size(), 2 * every[i].reduce.size());
    for (size_t k = 0; k < every[i].reduce.size(); ++k) {
      const auto& rs = last[i].reduce[k];
      const auto& ar = last[i].reduce[every[i].reduce.size() + k];
      EXPECT_EQ(rs.group, GroupKind::kDpCpIntra);
      EXPECT_EQ(ar.group, GroupKind::kDpCpInter);
      EXPECT_EQ(ar.op, policy::CollectiveOp::kAllReduce);
      EXPECT_DOUBLE_EQ(ar.size.bytes(), rs.size.bytes() / 8);
      ++outer;
    }
  }
  EXPECT_GT(outer, 0u);
  using megatron_support::memory_item;
  for (const char* item : {"weights", "gradients", "optimizer states"}) {
    EXPECT_DOUBLE_EQ(memory_item(two.memory, item), 2 * memory_item(one.memory, item)) << item;
  }
  // A run: four instances (each inside a node), every rank simulated or one per stage, the same iteration.
  std::vector<std::string> sets = layout(4);
  sets.push_back("workload.use_megatron_fsdp=true");
  std::vector<std::string> off = sets;
  off.push_back("workload.symmetry=off");
  const auto sym = megatron_support::run(sets), all = megatron_support::run(off);
  ASSERT_TRUE(sym.count("iteration_time_s"));
  EXPECT_DOUBLE_EQ(sym.at("iteration_time_s"), all.at("iteration_time_s"));
}

// Megatron-FSDP's fully sharded hybrid level (outer_dp_sharding_strategy optim, two instances of 8 over DP 16): on
// the last micro-batch each unit's inner shard is reduce-scattered across the instances (the same bytes the
// no_shard level all-reduces); in the first micro-batch's forward and backward every gather chain (each unit's, and
// the embedding and output layer's in the forward) starts with the outer all-gather of 1 / 8 of the inner one's bytes
// into the inner shard, and the other micro-batches gather as before; the optimizer states and its step over all 16
// ranks (half the no_shard level's), weights and gradients as there. With one micro-batch its backward pass has both.
// A run with four instances (each inside a node): every rank simulated or one per stage, the same iteration.
TEST(PartialDistributedOptimizer, MegatronFsdpFullyShardedOuterLevel) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const auto sets_of = [](int instances, const std::string& outer, std::vector<std::string> more = {}) {
    std::vector<std::string> sets = layout(instances);
    sets.push_back("workload.use_megatron_fsdp=true");
    sets.push_back("workload.outer_dp_sharding_strategy=" + outer);
    sets.insert(sets.end(), more.begin(), more.end());
    return sets;
  };
  const auto plan_of = [&](const std::vector<std::string>& sets) {
    return training(megatron_support::parse_sets(sets)).plan_stage(part, 0);
  };
  const auto flat = plan_of(sets_of(2, "no_shard")), sharded = plan_of(sets_of(2, "optim"));
  const auto& B = sharded.backward.front();
  ASSERT_TRUE(B.last);
  size_t outer = 0;
  for (size_t i = 0; i < B.segments.size(); ++i) {
    const auto& every = B.segments[i].reduce;
    const auto& last = B.last->segments[i].reduce;
    ASSERT_EQ(last.size(), 2 * every.size());
    for (size_t k = 0; k < every.size(); ++k) {
      const auto& rs = last[every.size() + k];
      EXPECT_EQ(rs.op, policy::CollectiveOp::kReduceScatter);
      EXPECT_EQ(rs.group, GroupKind::kDpCpInter);
      EXPECT_DOUBLE_EQ(rs.size.bytes(), flat.backward.front().last->segments[i].reduce[every.size() + k].size.bytes());
      ++outer;
    }
  }
  EXPECT_GT(outer, 0u);
  // The first micro-batch's passes: each chain gains the outer gather in front; the plain passes are the no_shard's.
  size_t gathers = 0;
  for (const auto* p : {&sharded.forward.front(), &B}) {
    ASSERT_TRUE(p->first);
    const bool fwd = p == &sharded.forward.front();
    // The no_shard level's passes: its first micro-batch's (the forward's gathers the root too) and the others'.
    const auto& plain_first = fwd ? *flat.forward.front().first : flat.backward.front();
    const auto& plain = fwd ? flat.forward.front() : flat.backward.front();
    ASSERT_EQ(p->first->segments.size(), plain_first.segments.size());
    for (size_t i = 0; i < plain_first.segments.size(); ++i) {
      ASSERT_EQ(p->first->segments[i].prefetch.size(), plain_first.segments[i].prefetch.size());
      for (size_t k = 0; k < plain_first.segments[i].prefetch.size(); ++k) {
        const auto& chain = p->first->segments[i].prefetch[k];
        const auto& was = plain_first.segments[i].prefetch[k];
        ASSERT_EQ(chain.size(), was.size() + 1);
        EXPECT_EQ(chain.front().op, policy::CollectiveOp::kAllGather);
        EXPECT_EQ(chain.front().group, GroupKind::kDpCpInter);
        EXPECT_DOUBLE_EQ(chain.front().size.bytes(), was.front().size.bytes() / 8);
        EXPECT_EQ(chain.front().name.rfind("fsdp outer all-gather", 0), 0u) << chain.front().name;
        EXPECT_EQ(chain[1].group, was.front().group);
        ++gathers;
      }
      // Later micro-batches gather as the no_shard level does.
      ASSERT_EQ(p->segments[i].prefetch.size(), plain.segments[i].prefetch.size());
      for (size_t k = 0; k < plain.segments[i].prefetch.size(); ++k) {
        EXPECT_EQ(p->segments[i].prefetch[k].size(), plain.segments[i].prefetch[k].size());
      }
    }
  }
  EXPECT_GT(gathers, 2u);
  using megatron_support::memory_item;
  for (const char* item : {"weights", "gradients"}) {
    EXPECT_DOUBLE_EQ(memory_item(sharded.memory, item), memory_item(flat.memory, item)) << item;
  }
  EXPECT_DOUBLE_EQ(memory_item(sharded.memory, "optimizer states"), memory_item(flat.memory, "optimizer states") / 2);
  EXPECT_LT(sharded.optimizer, flat.optimizer);
  // One micro-batch (global batch 16 over DP 16): its backward is the first and the last.
  const auto one = plan_of(sets_of(2, "optim", {"workload.global_batch_size=16"}));
  const auto& b1 = one.backward.front();
  ASSERT_TRUE(b1.first);
  bool both = false;
  for (const auto& seg : b1.first->segments) {
    for (const auto& r : seg.reduce) both = both || (r.group == GroupKind::kDpCpInter && r.op == policy::CollectiveOp::kReduceScatter);
  }
  EXPECT_TRUE(both);
  // Runs: four instances, symmetric or every rank; and against the no_shard level.
  const auto sym = megatron_support::run(sets_of(4, "optim"));
  const auto all = megatron_support::run(sets_of(4, "optim", {"workload.symmetry=off"}));
  const auto plain_run = megatron_support::run(sets_of(4, "no_shard"));
  ASSERT_TRUE(sym.count("iteration_time_s"));
  EXPECT_DOUBLE_EQ(sym.at("iteration_time_s"), all.at("iteration_time_s"));
  EXPECT_NE(sym.at("iteration_time_s"), plain_run.at("iteration_time_s"));
  // What Megatron-FSDP requires of it, and the experts it has no outer level for in the code read.
  using megatron_support::parse_sets_error;
  EXPECT_NE(parse_sets_error(sets_of(1, "optim")).find("optim needs num_distributed_optimizer_instances above 1"),
            std::string::npos);
  EXPECT_NE(parse_sets_error(sets_of(2, "optim", {"workload.data_parallel_sharding_strategy=optim_grads"}))
                .find("optim needs data_parallel_sharding_strategy: optim_grads_params"),
            std::string::npos);
  EXPECT_NE(parse_sets_error(sets_of(2, "optim", {"workload.model.num_experts=8", "workload.expert_model_parallel_size=2"}))
                .find("optim with experts is not modelled"),
            std::string::npos);
}

}  // namespace
}  // namespace lcsim
