// Megatron-FSDP (use_megatron_fsdp; Megatron-LM's --use-megatron-fsdp). With --data-parallel-sharding-strategy
// optim_grads_params: the FSDP units as use_torch_fsdp2 runs them, with Megatron-FSDP's buffers (no copy-in or
// copy-out around the all-gathers, the reduced shard added into the persistent one), its memory (16-bit compute and
// fp32 main shards), what it is read from on a pasted command line, and what is refused. Its other strategies
// (optim_grads, optim, no_shard): the DDP's buckets on their own rhythm, and their memory.
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
// one, 3 x 4 B per shard element (the unit's parameters / DP 16). The first unit's gather leaves out the embedding,
// which Megatron-FSDP gathers once an iteration, before the first micro-batch's forward (Pass::first: one more
// gather, awaited before the first unit's), where FSDP2 gathers it with the first unit each pass.
TEST(MegatronFsdp, UnitsGatherIntoTheirBucketsAndAccumulateTheReducedShard) {
  const Scenario mfsdp = megatron_support::parse_sets(layout("workload.use_megatron_fsdp=true"));
  const Scenario torch = megatron_support::parse_sets(layout("workload.use_torch_fsdp2=true"));
  const Unit m = unit_of(training(mfsdp)), t = unit_of(training(torch));
  const hw::AcceleratorSpec& h100 = hw::PartCatalog::get().part("H100-SXM-80GB");
  const auto mplan = training(mfsdp).plan_stage(h100, 0);
  EXPECT_FALSE(training(torch).plan_stage(h100, 0).forward.front().first);
  ASSERT_TRUE(mplan.forward.front().first);
  const auto& once = *mplan.forward.front().first;
  ASSERT_EQ(once.segments[0].prefetch.size(), mplan.forward.front().segments[0].prefetch.size() + 1);
  const double root = once.segments[0].prefetch.front().front().size.bytes();
  // kBase's tied word embedding and learned positions (this TP rank's halves) and the final norm, 16-bit.
  EXPECT_DOUBLE_EQ(root, 2.0 * (32000.0 * 2048 / 2 + 2048.0 * 2048 / 2 + 2048));
  EXPECT_DOUBLE_EQ(m.gather_bytes + root, t.gather_bytes);
  for (size_t i = 0; i < once.segments.size(); ++i) {
    const int await = mplan.forward.front().segments[i].await;
    EXPECT_EQ(once.segments[i].await, await > 0 ? await + 1 : 0) << i;
  }
  EXPECT_DOUBLE_EQ(m.reduce_bytes, t.reduce_bytes);
  EXPECT_EQ(m.gather_prep, Duration());
  EXPECT_GT(t.gather_prep, Duration());
  EXPECT_LT(m.first_forward, t.first_forward);  // FSDP2's split_with_sizes_copy of unit 0
  const hw::AcceleratorSpec& part = h100;
  const double params = m.reduce_bytes / 4;  // fp32 gradients
  EXPECT_EQ(m.reduce_prep, hw::memory_time(part, Bytes::of(params / 16 * 3 * 4)));
  // Without the fused accumulation each 16-bit weight gradient is copied into the fp32 bucket on the compute stream
  // (_grad_acc, from the module's post-backward hook: read 2 B, write 4), not on the reduce stream, whose work is the
  // same; Megatron's DDP adds it into main_grad instead (read 2 + 4, write 4): a longer kernel per weight gradient.
  std::vector<std::string> unfused = layout("workload.use_megatron_fsdp=true");
  unfused.push_back("workload.gradient_accumulation_fusion=false");
  const Unit u = unit_of(training(megatron_support::parse_sets(unfused)));
  EXPECT_EQ(u.reduce_prep, m.reduce_prep);
  const auto backward = [&](const std::vector<std::string>& sets) {
    return training(megatron_support::parse_sets(sets)).plan_stage(part, 0).backward.front().compute;
  };
  std::vector<std::string> ddp = layout("workload.use_distributed_optimizer=true"), ddp_unfused = ddp;
  ddp_unfused.push_back("workload.gradient_accumulation_fusion=false");
  const Duration copies = backward(unfused) - backward(layout("workload.use_megatron_fsdp=true"));
  EXPECT_GT(copies, Duration());
  EXPECT_LT(copies, backward(ddp_unfused) - backward(ddp));
}

// Experts (8 of them, EP 2: expert-DP 8 of the 32 GPUs' TP 2 x DP 16): each MoE unit's reduce stream adds the expert
// shard's accumulation into its persistent shard (3 x 4 B per expert-shard element, fp32 gradients, so no scaling
// kernel) to the dense shard's, before the unit's chain; with 16-bit gradients each also scales its bucket first
// (read and write 2 B a parameter).
TEST(MegatronFsdp, ExpertUnitsAccumulateAndScaleTheirShards) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  std::vector<std::string> sets = layout("workload.use_megatron_fsdp=true");
  for (const char* s : {"workload.model.num_experts=8", "workload.expert_model_parallel_size=2",
                        "workload.model.moe_router_topk=2"}) {
    sets.push_back(s);
  }
  const auto prep_of = [&](const std::vector<std::string>& with, double* dense, double* expert) {
    const auto plan = training(megatron_support::parse_sets(with)).plan_stage(part, 0);
    for (const auto& seg : plan.backward.front().segments) {
      if (seg.reduce.size() != 2) continue;
      *dense = seg.reduce[0].size.bytes(), *expert = seg.reduce[1].size.bytes();
      EXPECT_EQ(seg.reduce[1].prep, Duration());
      return seg.reduce[0].prep;
    }
    ADD_FAILURE() << "no unit with experts";
    return Duration();
  };
  double dense = 0, expert = 0;
  const Duration fp32 = prep_of(sets, &dense, &expert);
  EXPECT_EQ(fp32, hw::memory_time(part, Bytes::of(dense / 4 / 16 * 3 * 4)) +
                      hw::memory_time(part, Bytes::of(expert / 4 / 8 * 3 * 4)));
  sets.push_back("workload.accumulate_allreduce_grads_in_fp32=false");
  const Duration bf16 = prep_of(sets, &dense, &expert);
  EXPECT_EQ(bf16, (hw::memory_time(part, Bytes::of(dense / 2 * 2 * 2)) +
                   hw::memory_time(part, Bytes::of(dense / 2 / 16 * 3 * 2))) +
                      (hw::memory_time(part, Bytes::of(expert / 2 * 2 * 2)) +
                       hw::memory_time(part, Bytes::of(expert / 2 / 8 * 3 * 2))));
}

// The strategies without units (optim_grads, optim, no_shard) run the same gradient_reduce_preprocessing on the DDP's
// buckets: with 16-bit gradients each bucket's dense and expert gradients scaled (one read and one write of 2 B each)
// by 1 / DP; where the collective averages, the dense part not at all and the expert part by EDP / DP (EDP 8 here
// against DP 16: still a kernel); with fp32 gradients nothing.
TEST(MegatronFsdp, StrategiesWithoutUnitsScaleTheirBucketsExpertPartToo) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  std::vector<std::string> sets = layout("workload.use_megatron_fsdp=true");
  for (const char* s : {"workload.model.num_experts=8", "workload.expert_model_parallel_size=2",
                        "workload.model.moe_router_topk=2", "workload.data_parallel_sharding_strategy=optim",
                        "workload.accumulate_allreduce_grads_in_fp32=false", "workload.overlap_grad_reduce=true"}) {
    sets.push_back(s);
  }
  const auto buckets = [&](const std::vector<std::string>& with) {
    return training(megatron_support::parse_sets(with)).plan_stage(part, 0).buckets;
  };
  const auto plain = buckets(sets);
  ASSERT_FALSE(plain.empty());
  bool experts = false;
  for (const auto& b : plain) {
    experts = experts || b.expert_params > 0;
    EXPECT_EQ(b.prep, hw::memory_time(part, Bytes::of((b.dense_params + b.expert_params) * 2 * 2)));
  }
  EXPECT_TRUE(experts);
  auto avg = sets;
  avg.push_back("workload.ddp_average_in_collective=true");
  for (const auto& b : buckets(avg)) {
    EXPECT_EQ(b.prep, b.expert_params > 0 ? hw::memory_time(part, Bytes::of(b.expert_params * 2 * 2)) : Duration());
  }
  auto fp32 = sets;
  fp32.back() = "workload.overlap_grad_reduce=true";
  fp32[fp32.size() - 2] = "workload.accumulate_allreduce_grads_in_fp32=true";
  for (const auto& b : buckets(fp32)) EXPECT_EQ(b.prep, Duration());
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
// weights a parameter against FSDP2's 4, the same gradients (fp32) and moments; with its double buffers the
// communication buffers hold two gathered units and one fp32 gradient bucket (2 x 2 + 4 B a unit parameter) where
// FSDP2 also holds its 16-bit gradients and the all-gather output (2 x 2 + 2 + 4 + 2). Without them Megatron-FSDP's
// prefetch (at least 5e8 elements) gathers every one of kBase's 8 layers (25M parameters a TP rank each) at once:
// six more gathered units, 2 B a parameter each.
TEST(MegatronFsdp, HoldsAComputeShardBesideTheMainShard) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const auto mem = [&](std::vector<std::string> sets) {
    return training(megatron_support::parse_sets(sets)).plan_stage(part, 0).memory;
  };
  std::vector<std::string> doubled = layout("workload.use_megatron_fsdp=true");
  doubled.push_back("workload.fsdp_double_buffer=true");
  const hw::MemoryFit m = mem(doubled), t = mem(layout("workload.use_torch_fsdp2=true"));
  const hw::MemoryFit ahead = mem(layout("workload.use_megatron_fsdp=true"));
  using megatron_support::memory_item;
  EXPECT_DOUBLE_EQ(memory_item(m, "weights"), memory_item(t, "weights") * 6 / 4);
  EXPECT_DOUBLE_EQ(memory_item(m, "gradients"), memory_item(t, "gradients"));
  EXPECT_DOUBLE_EQ(memory_item(m, "optimizer states"), memory_item(t, "optimizer states"));
  EXPECT_LT(memory_item(m, "communication buffers"), memory_item(t, "communication buffers"));
  EXPECT_DOUBLE_EQ(memory_item(m, "activations"), memory_item(t, "activations"));
  const double layer = megatron_support::config_of(megatron_support::parse_sets(doubled)).model.layer_params() / 2;
  EXPECT_DOUBLE_EQ(memory_item(ahead, "communication buffers") - memory_item(m, "communication buffers"), 6 * 2 * layer);
}

// Megatron-FSDP's all-gather prefetch (AllGatherPipeline.all_gather_params): as each unit starts, the following units
// up to half its communication unit (suggested_communication_unit_size; by default at least 5e8 elements, here all of
// kBase's 8 layers of 25M); with fsdp_double_buffer one unit ahead, as FSDP2. The most units gathered ahead of the
// one a segment waits for, in the forward and backward passes.
size_t most_ahead(const wl::MegatronTraining::Pass& p) {
  size_t issued = 0, most = 0;
  for (const auto& s : p.segments) {
    issued += s.prefetch.size();
    if (s.await > 0) most = std::max(most, issued - static_cast<size_t>(s.await));
  }
  return most;
}
TEST(MegatronFsdp, PrefetchGathersUnitsUpToItsBudget) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const auto plan = [&](const std::vector<std::string>& more) {
    std::vector<std::string> sets = layout("workload.use_megatron_fsdp=true");
    sets.insert(sets.end(), more.begin(), more.end());
    return training(megatron_support::parse_sets(sets)).plan_stage(part, 0);
  };
  const auto all = plan({}), doubled = plan({"workload.fsdp_double_buffer=true"});
  const auto torch = training(megatron_support::parse_sets(layout("workload.use_torch_fsdp2=true"))).plan_stage(part, 0);
  EXPECT_EQ(most_ahead(all.forward.front()), 7u);
  EXPECT_EQ(most_ahead(all.backward.front()), 7u);
  EXPECT_EQ(most_ahead(doubled.forward.front()), 1u);
  EXPECT_EQ(most_ahead(torch.forward.front()), 1u);
  // A budget of 1.75 layers' elements (a communication unit of 3.5): two units ahead.
  const double layer =
      megatron_support::config_of(megatron_support::parse_sets(layout("workload.use_megatron_fsdp=true"))).model.layer_params() / 2;
  const auto two = plan({"workload.suggested_communication_unit_size=" + std::to_string(static_cast<int64_t>(3.5 * layer))});
  EXPECT_EQ(most_ahead(two.forward.front()), 2u);
  EXPECT_EQ(most_ahead(two.backward.front()), 2u);
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
// and which then has no effect of its own; --fsdp-double-buffer (one unit gathered ahead).
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
  EXPECT_TRUE(c.fsdp_double_buffer);
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

// What is not modelled says so: the fully sharded hybrid level without several instances (Megatron-FSDP needs them),
// the FSDP units with pipeline parallelism (the other strategies run with it), both FSDPs at once.
TEST(MegatronFsdp, WhatIsNotModelledIsRefused) {
  using megatron_support::parse_sets_error;
  const auto with = [](std::vector<std::string> sets) {
    sets.insert(sets.begin(), "workload.use_megatron_fsdp=true");
    return sets;
  };
  EXPECT_NE(parse_sets_error(with({"workload.pipeline_model_parallel_size=1", "workload.outer_dp_sharding_strategy=optim"}))
                .find("outer_dp_sharding_strategy"),
            std::string::npos);
  EXPECT_NE(parse_sets_error(with({})).find("with optim_grads_params (its FSDP units) and pipeline parallelism is not "
                                            "modelled"),
            std::string::npos);
  for (const char* strategy : {"optim_grads", "optim", "no_shard"}) {
    EXPECT_EQ(parse_sets_error(with({std::string("workload.data_parallel_sharding_strategy=") + strategy})), "")
        << strategy;
  }
  EXPECT_NE(parse_sets_error(with({"workload.pipeline_model_parallel_size=1", "workload.use_distributed_optimizer=true",
                                    "workload.overlap_param_gather=true", "workload.overlap_grad_reduce=true",
                                    "workload.overlap_param_gather_with_optimizer_step=true"}))
                .find("overlap_param_gather_with_optimizer_step: with use_megatron_fsdp is not modelled"),
            std::string::npos);
  EXPECT_NE(parse_sets_error(with({"workload.pipeline_model_parallel_size=1", "workload.use_torch_fsdp2=true"}))
                .find("two FSDP implementations"),
            std::string::npos);
}

// The other sharding strategies keep whole parameters and run the DDP's buckets. Memory, item by item against
// Megatron's DDP on the same layout (DP 16): no_shard holds what the DDP without the distributed optimizer holds,
// optim what the DDP with it holds (the fp32 main weights and moments sharded, the gradients whole), optim_grads the
// gradients sharded too, plus the two largest buckets' whole gradients in their temporary buffers (here the layout's
// 200M-parameter TP shard is one bucket, without overlap_grad_reduce).
TEST(MegatronFsdp, TheStrategiesShardWhatTheyName) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const auto mem = [&](std::vector<std::string> sets) {
    return training(megatron_support::parse_sets(sets)).plan_stage(part, 0).memory;
  };
  const auto fsdp = [](const char* strategy) {
    std::vector<std::string> sets = layout("workload.use_megatron_fsdp=true");
    sets.push_back(std::string("workload.data_parallel_sharding_strategy=") + strategy);
    return sets;
  };
  const hw::MemoryFit ddp = mem(layout("workload.use_distributed_optimizer=false"));
  const hw::MemoryFit dist = mem(layout("workload.use_distributed_optimizer=true"));
  const hw::MemoryFit no_shard = mem(fsdp("no_shard")), optim = mem(fsdp("optim")), grads = mem(fsdp("optim_grads"));
  using megatron_support::memory_item;
  for (const char* item : {"weights", "gradients", "optimizer states", "communication buffers", "activations"}) {
    EXPECT_DOUBLE_EQ(memory_item(no_shard, item), memory_item(ddp, item)) << item;
    EXPECT_DOUBLE_EQ(memory_item(optim, item), memory_item(dist, item)) << item;
  }
  EXPECT_DOUBLE_EQ(memory_item(grads, "weights"), memory_item(dist, "weights"));
  EXPECT_DOUBLE_EQ(memory_item(grads, "optimizer states"), memory_item(dist, "optimizer states"));
  EXPECT_DOUBLE_EQ(memory_item(grads, "gradients"), memory_item(dist, "gradients") / 16);
  EXPECT_DOUBLE_EQ(memory_item(grads, "communication buffers"), memory_item(dist, "gradients"));
  EXPECT_LT(optim.total, no_shard.total);
  EXPECT_EQ(megatron_support::config_of(megatron_support::parse_sets(fsdp("optim_grads"))).zero_stage(), 2);
}

// optim_grads reduce-scatters each bucket every micro-batch, on the reduce stream, as the backward segment that
// completes it ends (the bucket's gradients in the gradient type, then the reduced shard added into the persistent
// one: 3 x 4 B per shard element), and gathers the parameters after the step as the distributed optimizer does.
TEST(MegatronFsdp, OptimGradsReduceScattersEveryMicroBatch) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  std::vector<std::string> sets = layout("workload.use_megatron_fsdp=true");
  sets.push_back("workload.data_parallel_sharding_strategy=optim_grads");
  sets.push_back("workload.overlap_grad_reduce=true");
  const auto plan = training(megatron_support::parse_sets(sets)).plan_stage(part, 0);
  const auto dist = training(megatron_support::parse_sets(layout("workload.use_distributed_optimizer=true")))
                        .plan_stage(part, 0);
  ASSERT_GT(plan.buckets.size(), 1u);
  size_t reduced = 0;
  for (const auto& seg : plan.backward.front().segments) {
    if (seg.bucket < 0) {
      EXPECT_TRUE(seg.reduce.empty());
      continue;
    }
    const auto& b = plan.buckets[static_cast<size_t>(seg.bucket)];
    ASSERT_EQ(seg.reduce.size(), 1u);
    EXPECT_EQ(seg.reduce.front().op, policy::CollectiveOp::kReduceScatter);
    EXPECT_DOUBLE_EQ(seg.reduce.front().size.bytes(), b.dense_params * 4);
    EXPECT_EQ(seg.reduce.front().prep, hw::memory_time(part, Bytes::of(b.dense_params / 16 * 3 * 4)));
    ++reduced;
  }
  EXPECT_EQ(reduced, plan.buckets.size());
  ASSERT_EQ(plan.param_gather.size(), dist.param_gather.size());
  EXPECT_DOUBLE_EQ(plan.param_gather.front().size.bytes(), dist.param_gather.front().size.bytes());
  // A run (two micro-batches per step here): each micro-batch's reductions beside the next passes slow their kernels
  // (SM contention), where the distributed optimizer reduces once, in the last micro-batch (without the DDP's NaN
  // check and scaling, which run on the compute stream).
  std::vector<std::string> ddp = layout("workload.use_distributed_optimizer=true");
  ddp.push_back("workload.overlap_grad_reduce=true");
  ddp.push_back("workload.check_for_nan_in_grad=false");
  ddp.push_back("workload.ddp_average_in_collective=true");
  const auto g = megatron_support::run(sets), d = megatron_support::run(ddp);
  ASSERT_TRUE(g.count("time_compute_s"));
  EXPECT_GT(g.at("time_compute_s"), d.at("time_compute_s"));
}

// optim all-reduces the whole gradients on the last micro-batch (its gradient buffer is not sharded, so the bucket's
// reduction takes the all-reduce branch), then gathers the updated parameters: the distributed optimizer's rhythm
// with twice its gradient traffic. no_shard is Megatron's DDP without the distributed optimizer. Compared where the
// two implementations' preparation kernels agree (no NaN check, the average inside the collective): no_shard runs
// exactly as the DDP; optim's exposed data-parallel time is the DDP's plus about one more reduce-scatter.
TEST(MegatronFsdp, OptimAndNoShardRunTheDdpsRhythm) {
  const auto with = [](std::vector<std::string> sets) {
    sets.push_back("workload.check_for_nan_in_grad=false");
    sets.push_back("workload.ddp_average_in_collective=true");
    return sets;
  };
  const auto fsdp = [&](const char* strategy) {
    std::vector<std::string> sets = layout("workload.use_megatron_fsdp=true");
    sets.push_back(std::string("workload.data_parallel_sharding_strategy=") + strategy);
    return megatron_support::run(with(sets));
  };
  const auto no_shard = fsdp("no_shard"), optim = fsdp("optim");
  const auto ddp = megatron_support::run(with(layout("workload.use_distributed_optimizer=false")));
  const auto dist = megatron_support::run(with(layout("workload.use_distributed_optimizer=true")));
  ASSERT_TRUE(no_shard.count("iteration_time_s"));
  EXPECT_DOUBLE_EQ(no_shard.at("iteration_time_s"), ddp.at("iteration_time_s"));
  EXPECT_GT(optim.at("time_exposed_dp_s"), 1.3 * dist.at("time_exposed_dp_s"));
  EXPECT_LT(optim.at("time_exposed_dp_s"), 1.7 * dist.at("time_exposed_dp_s"));
}

// With pipeline parallelism (kBase's TP 2 x PP 4 x DP 4, eight micro-batches): optim_grads runs, each stage's
// buckets reduced every micro-batch, the same iteration with every rank simulated as with one per stage.
TEST(MegatronFsdp, OptimGradsRunsWithAPipeline) {
  const std::vector<std::string> sets = {"workload.use_megatron_fsdp=true",
                                         "workload.data_parallel_sharding_strategy=optim_grads",
                                         "workload.overlap_grad_reduce=true"};
  std::vector<std::string> every = sets;
  every.push_back("workload.symmetry=off");
  const auto one = megatron_support::run(sets), all = megatron_support::run(every);
  ASSERT_TRUE(one.count("iteration_time_s"));
  EXPECT_DOUBLE_EQ(one.at("iteration_time_s"), all.at("iteration_time_s"));
  const auto dist = megatron_support::run({"workload.use_distributed_optimizer=true", "workload.overlap_grad_reduce=true"});
  EXPECT_GT(one.at("time_compute_s"), dist.at("time_compute_s"));
}

}  // namespace
}  // namespace lcsim
