// Megatron-FSDP (use_megatron_fsdp; Megatron-LM's --use-megatron-fsdp with --data-parallel-sharding-strategy
// optim_grads_params): the FSDP units as use_torch_fsdp2 runs them, with Megatron-FSDP's buffers (no copy-in or
// copy-out around the all-gathers, the reduced shard added into the persistent one), its memory (16-bit compute and
// fp32 main shards), what it is read from on a pasted command line, and what is refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "megatron_support.h"

#include "models/hardware/catalog.h"
#include "models/hardware/op_cost.h"
#include "scenarios/scenario.h"
#include "workloads/training/megatron.h"

namespace lcsim {
namespace {

// kBase's 32 GPUs as TP 2 x DP 16, no pipeline (Megatron-FSDP runs without one here).
std::vector<std::string> layout(const std::string& fsdp) {
  return {"workload.pipeline_model_parallel_size=1", "workload.sequence_parallel=true", fsdp};
}

const wl::MegatronTraining& training(const Scenario& sc) { return dynamic_cast<const wl::MegatronTraining&>(*sc.workload); }

// The all-gather of a unit and its reduce-scatter, as the plan wires them (the first forward segment's prefetch, the
// last backward reduce).
struct Unit {
  Duration gather_prep, reduce_prep;
  double gather_bytes = 0, reduce_bytes = 0;
  Duration first_forward;  // the first forward segment's compute (FSDP2's copy-out of unit 0 rides on it)
};
Unit unit_of(const wl::MegatronTraining& w) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const auto plan = w.plan_stage(part, 0);
  Unit u;
  const auto& f = plan.forward.front().segments;
  EXPECT_FALSE(f.front().prefetch.empty());
  const auto& gather = f.front().prefetch.front().front();
  u.gather_prep = gather.prep, u.gather_bytes = gather.size.bytes();
  u.first_forward = f.front().compute;
  for (const auto& seg : plan.backward.front().segments) {
    for (const auto& r : seg.reduce) u.reduce_prep = r.prep, u.reduce_bytes = r.size.bytes();
  }
  return u;
}

// Each unit moves the same bytes as FSDP2's (16-bit parameters gathered, gradients reduced in fp32), but Megatron-FSDP
// gathers into the unit's bucket from its 16-bit shard (no cast before, no copy after), and with fused gradient
// accumulation its reduce-scatter's only kernel is the shard's accumulation: a read of two fp32 shards and a write of
// one, 3 x 4 B per shard element (the unit's parameters / DP 16).
TEST(MegatronFsdp, UnitsGatherIntoTheirBucketsAndAccumulateTheReducedShard) {
  const Scenario mfsdp = megatron_support::parse_sets(layout("workload.use_megatron_fsdp=true"));
  const Scenario torch = megatron_support::parse_sets(layout("workload.use_torch_fsdp2=true"));
  const Unit m = unit_of(training(mfsdp)), t = unit_of(training(torch));
  EXPECT_DOUBLE_EQ(m.gather_bytes, t.gather_bytes);
  EXPECT_DOUBLE_EQ(m.reduce_bytes, t.reduce_bytes);
  EXPECT_EQ(m.gather_prep, Duration());
  EXPECT_GT(t.gather_prep, Duration());
  EXPECT_LT(m.first_forward, t.first_forward);  // FSDP2's split_with_sizes_copy of unit 0
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const double params = m.reduce_bytes / 4;  // fp32 gradients
  EXPECT_EQ(m.reduce_prep, hw::memory_time(part, Bytes::of(params / 16 * 3 * 4)));
  // Without the fused accumulation the 16-bit param.grad is copied into the fp32 bucket first (2 + 4 B a parameter).
  std::vector<std::string> unfused = layout("workload.use_megatron_fsdp=true");
  unfused.push_back("workload.gradient_accumulation_fusion=false");
  const Unit u = unit_of(training(megatron_support::parse_sets(unfused)));
  EXPECT_EQ(u.reduce_prep, hw::memory_time(part, Bytes::of(params * 6)) + m.reduce_prep);
  // ... and nothing is added into a main gradient on the compute stream (Megatron's DDP adds each weight gradient
  // into main_grad there without the fusion): the backward passes cost the same as with it.
  const hw::AcceleratorSpec& h100 = part;
  const auto backward = [&](const Scenario& sc) { return training(sc).plan_stage(h100, 0).backward.front().compute; };
  EXPECT_EQ(backward(megatron_support::parse_sets(unfused)), backward(mfsdp));
}

// With fp8_param_gather (Megatron-Bridge's FP8 recipes) each unit's FP8 GEMM weights are gathered in FP8: a layer of
// kBase's model has 12 h^2 GEMM weights (QKV 3 h^2, projection h^2, MLP 8 h^2), h 2,048, half on each TP rank, one
// byte fewer each; the layer's norms and the first unit's embedding stay 16-bit.
TEST(MegatronFsdp, Fp8WeightsAreGatheredInFp8) {
  std::vector<std::string> fp8 = layout("workload.use_megatron_fsdp=true");
  fp8.push_back("workload.precision=fp8");
  std::vector<std::string> gathered = fp8;
  gathered.push_back("workload.fp8_param_gather=true");
  const Unit bf16 = unit_of(training(megatron_support::parse_sets(fp8)));
  const Unit in_fp8 = unit_of(training(megatron_support::parse_sets(gathered)));
  EXPECT_DOUBLE_EQ(bf16.gather_bytes - in_fp8.gather_bytes, 12.0 * 2048 * 2048 / 2);
  EXPECT_DOUBLE_EQ(in_fp8.reduce_bytes, bf16.reduce_bytes);
}

// Memory: every buffer sharded over DP 16 as FSDP2's, but a 16-bit compute shard beside the fp32 main one: 6 B of
// weights a parameter against FSDP2's 4, the same gradients (fp32) and moments; the communication buffers hold two
// gathered units and one fp32 gradient bucket (2 x 2 + 4 B a unit parameter) where FSDP2 also holds its 16-bit
// gradients and the all-gather output (2 x 2 + 2 + 4 + 2).
TEST(MegatronFsdp, HoldsAComputeShardBesideTheMainShard) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const auto mem = [&](const std::string& key) {
    return training(megatron_support::parse_sets(layout(key))).plan_stage(part, 0).memory;
  };
  const hw::MemoryFit m = mem("workload.use_megatron_fsdp=true"), t = mem("workload.use_torch_fsdp2=true");
  using megatron_support::memory_item;
  EXPECT_DOUBLE_EQ(memory_item(m, "weights"), memory_item(t, "weights") * 6 / 4);
  EXPECT_DOUBLE_EQ(memory_item(m, "gradients"), memory_item(t, "gradients"));
  EXPECT_DOUBLE_EQ(memory_item(m, "optimizer states"), memory_item(t, "optimizer states"));
  EXPECT_LT(memory_item(m, "communication buffers"), memory_item(t, "communication buffers"));
  EXPECT_DOUBLE_EQ(memory_item(m, "activations"), memory_item(t, "activations"));
}

// A run: the same collectives, fewer copies; the DP wait and the compute both no longer than FSDP2's, and the
// iteration shorter. Megatron-FSDP's passes run kernel by kernel, as FSDP2's (no folding: the gathers' awaits are
// observable).
TEST(MegatronFsdp, RunsWithFewerCopiesThanTorchFsdp2) {
  const auto m = megatron_support::run(layout("workload.use_megatron_fsdp=true"));
  const auto t = megatron_support::run(layout("workload.use_torch_fsdp2=true"));
  ASSERT_TRUE(m.count("iteration_time_s"));
  EXPECT_LT(m.at("time_compute_s"), t.at("time_compute_s"));
  EXPECT_LT(m.at("iteration_time_s"), t.at("iteration_time_s"));
  EXPECT_GT(m.at("iteration_time_s"), 0.9 * t.at("iteration_time_s"));
}

// A pasted line (Megatron-LM's functional test deepseek_proxy_fsdp's data-parallel arguments): --use-megatron-fsdp
// with its sharding strategies and --use-distributed-optimizer, which Megatron-LM turns on itself for Megatron-FSDP
// and which then has no effect of its own; --fsdp-double-buffer is accepted as not modelled.
TEST(MegatronFsdp, ACommandLineSelectsIt) {
  const wl::MegatronConfig c = megatron_support::config_of_line(
      "--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 --vocab-size 32000 "
      "--global-batch-size 32 --micro-batch-size 1 --bf16 --tensor-model-parallel-size 2 --sequence-parallel "
      "--use-distributed-optimizer --overlap-grad-reduce --overlap-param-gather --use-megatron-fsdp "
      "--data-parallel-sharding-strategy optim_grads_params --outer-dp-sharding-strategy no_shard "
      "--fsdp-double-buffer --ckpt-format fsdp_dtensor");
  EXPECT_TRUE(c.use_megatron_fsdp);
  EXPECT_TRUE(c.fsdp());
  EXPECT_TRUE(c.use_distributed_optimizer);  // kept as given; Megatron's own distributed optimizer does not run
  EXPECT_FALSE(c.dist_opt());
  EXPECT_EQ(c.zero_stage(), 3);
  EXPECT_NE(std::find(c.not_modelled_args.begin(), c.not_modelled_args.end(), "--fsdp-double-buffer"),
            c.not_modelled_args.end());
}

// A run's resolved scenario reloads to itself with Megatron-FSDP beside the distributed optimizer's keys (as Megatron-LM
// lines and the H100 validation scenario give them: use_distributed_optimizer and overlap_param_gather on), and
// overlap_param_gather needs either of them, as Megatron-LM's validate_args says.
TEST(MegatronFsdp, ItsResolvedScenarioReloadsToItself) {
  std::vector<std::string> sets = layout("workload.use_megatron_fsdp=true");
  sets.push_back("workload.use_distributed_optimizer=true");
  sets.push_back("workload.overlap_param_gather=true");
  sets.push_back("workload.overlap_grad_reduce=true");
  Scenario sc = megatron_support::parse_sets(sets);
  const std::string first = resolved_yaml(sc);
  const auto path = std::filesystem::temp_directory_path() / "lcsim_megatron_fsdp_resolved.yaml";
  std::ofstream(path) << first;
  Scenario again = load_scenario(path.string());
  EXPECT_EQ(resolved_yaml(again), first);
  std::filesystem::remove(path);
  EXPECT_FALSE(megatron_support::config_of(again).dist_opt());
  std::vector<std::string> alone = layout("workload.use_megatron_fsdp=true");
  alone.push_back("workload.overlap_param_gather=true");
  EXPECT_EQ(megatron_support::parse_sets_error(alone), "");
  std::vector<std::string> neither = layout("workload.overlap_param_gather=true");
  EXPECT_NE(megatron_support::parse_sets_error(neither).find("needs use_distributed_optimizer: true or use_megatron_fsdp"),
            std::string::npos);
}

// What is not modelled says so: the other sharding strategies (ZeRO-2, 1, 0 reduce and gather on another rhythm),
// the fully sharded hybrid level, pipeline parallelism, both FSDPs at once.
TEST(MegatronFsdp, WhatIsNotModelledIsRefused) {
  using megatron_support::parse_sets_error;
  const auto with = [](std::vector<std::string> sets) {
    sets.insert(sets.begin(), "workload.use_megatron_fsdp=true");
    return sets;
  };
  EXPECT_NE(parse_sets_error(with({"workload.pipeline_model_parallel_size=1", "workload.data_parallel_sharding_strategy=optim_grads"}))
                .find("data_parallel_sharding_strategy: optim_grads is not modelled"),
            std::string::npos);
  EXPECT_NE(parse_sets_error(with({"workload.pipeline_model_parallel_size=1", "workload.data_parallel_sharding_strategy=optim"}))
                .find("all-reduces the gradients on the last micro-batch"),
            std::string::npos);
  EXPECT_NE(parse_sets_error(with({"workload.pipeline_model_parallel_size=1", "workload.outer_dp_sharding_strategy=optim"}))
                .find("outer_dp_sharding_strategy"),
            std::string::npos);
  EXPECT_NE(parse_sets_error(with({})).find("with pipeline parallelism is not modelled"), std::string::npos);
  EXPECT_NE(parse_sets_error(with({"workload.pipeline_model_parallel_size=1", "workload.use_distributed_optimizer=true",
                                    "workload.overlap_param_gather=true", "workload.overlap_grad_reduce=true",
                                    "workload.overlap_param_gather_with_optimizer_step=true"}))
                .find("overlap_param_gather_with_optimizer_step: with use_megatron_fsdp is not modelled"),
            std::string::npos);
  EXPECT_NE(parse_sets_error(with({"workload.pipeline_model_parallel_size=1", "workload.use_torch_fsdp2=true"}))
                .find("two FSDP implementations"),
            std::string::npos);
}

}  // namespace
}  // namespace lcsim
