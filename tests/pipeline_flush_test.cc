// The pipeline's warm-up and flush as Megatron-core runs them: the interleaved schedule's warm-up and flush sends
// wait unless overlap_p2p_comm_warmup_flush (forward_backward_pipelining_with_interleaving), and
// defer_embedding_wgrad_compute leaves the output layer's weight gradients to the flush
// (drain_embedding_wgrad_compute). The test layout: TP 2, PP 4 on 32 H100s, 8 layers, 8 micro-batches per rank.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "megatron_timeline_support.h"

#include "models/hardware/catalog.h"
#include "timeline/model.h"
#include "workloads/training/megatron.h"

namespace lcsim {
namespace {

using megatron_support::memory_item;
using megatron_support::parse_sets;
using megatron_support::parse_sets_error;
using megatron_support::run;

using megatron_support::Span;

// Rank 0's lanes: compute (passes), pp (pipeline sends) and dp (data-parallel collectives), in order.
struct Lanes {
  std::vector<Span> passes, sends, dp, steps;  // steps: the optimizer's spans on the compute lane
  const Span& find(const std::vector<Span>& in, const std::string& name) const {
    const Span* s = megatron_support::find(in, name);
    return s ? *s : in.front();
  }
};

Lanes lanes(const std::vector<std::string>& sets, const std::string& name) {
  const megatron_support::TimelineRun run = megatron_support::run_timeline(sets, 1, "pipeline_flush_test", name);
  Lanes out;
  out.sends = run.lane(0, "gpu0 pp");
  out.dp = run.lane(0, "gpu0 dp");
  for (const Span& s : run.lane(0, "gpu0 compute")) {
    if (s.name[0] == 'F' || s.name[0] == 'B') {
      out.passes.push_back(s);
    } else if (s.name.rfind("optimizer", 0) == 0) {  // the optimizer step
      out.steps.push_back(s);
    }
  }
  return out;
}

// Rank 0's passes (compute lane) and pipeline sends (pp lane), in order.
std::pair<std::vector<Span>, std::vector<Span>> rank0(const std::vector<std::string>& sets, const std::string& name) {
  Lanes l = lanes(sets, name);
  return {std::move(l.passes), std::move(l.sends)};
}

// The send that pass `p` started as it ended (nullptr: none).
const Span* send_of(const Span& p, const std::vector<Span>& sends) {
  for (const auto& s : sends) {
    if (std::abs(s.start - p.end) <= 1) return &s;
  }
  return nullptr;
}

// The workload a pasted Megatron-LM line (megatron_args) gives, as parsed.
wl::MegatronConfig line_config(const std::string& args) {
  const Scenario line = megatron_support::parse_with("workload:\n  type: megatron\n  megatron_args: \"" + args + "\"\n");
  return dynamic_cast<const wl::MegatronTraining&>(*line.workload).config();
}

const std::vector<std::string> kInterleaved = {"workload.num_layers_per_virtual_pipeline_stage=1"};

// Rank 0 (stage 0) with 2 chunks and 8 micro-batches: a warm-up of (4 - 0 - 1) x 2 + (2 - 1) x 4 = 10 forward
// passes, as many backward passes alone at the end. By default each of those waits for its send before the next
// pass starts; with overlap_p2p_comm_warmup_flush the second forward starts as the first ends, its send in flight.
TEST(PipelineFlush, WarmupAndFlushSendsWaitUnlessOverlapped) {
  const auto [passes, sends] = rank0(kInterleaved, "default");
  ASSERT_EQ(passes.size(), 32u);
  EXPECT_EQ(passes[0].name, "F0.0");
  int waited = 0;
  for (size_t i = 0; i + 1 < passes.size(); ++i) {
    const bool edge = i < 10 || i >= 22;
    const Span* s = send_of(passes[i], sends);
    if (!edge || !s) continue;
    EXPECT_GE(passes[i + 1].start, s->end - 1) << passes[i].name << " -> " << passes[i + 1].name;
    ++waited;
  }
  // Every warm-up forward sends on (10); in the flush, the backward passes of chunk 1 send to stage 3 (4 of them).
  EXPECT_EQ(waited, 14);
  std::vector<std::string> overlapped = kInterleaved;
  overlapped.push_back("workload.overlap_p2p_comm_warmup_flush=true");
  const auto [early, early_sends] = rank0(overlapped, "overlapped");
  ASSERT_EQ(early.size(), 32u);
  const Span* first = send_of(early[0], early_sends);
  ASSERT_NE(first, nullptr);
  EXPECT_NEAR(early[1].start, early[0].end, 1);
  EXPECT_LT(early[1].start, first->end - 1);

  // Metrics: the flag hides exposed pipeline time, and the steady state's overlap (overlap_p2p_comm) still counts.
  const auto wait = run(kInterleaved), hide = run(overlapped);
  std::vector<std::string> blocking = kInterleaved;
  blocking.push_back("workload.overlap_p2p_comm=false");
  const auto none = run(blocking);
  EXPECT_LT(hide.at("time_exposed_pp_s"), wait.at("time_exposed_pp_s"));
  EXPECT_LT(wait.at("time_exposed_pp_s"), none.at("time_exposed_pp_s"));
  EXPECT_LE(hide.at("iteration_time_s"), wait.at("iteration_time_s"));
  EXPECT_LE(wait.at("iteration_time_s"), none.at("iteration_time_s"));
  // Without interleaving every send waits anyway: the flag changes nothing.
  const auto plain = run({}), flagged = run({"workload.overlap_p2p_comm_warmup_flush=true"});
  EXPECT_EQ(plain.at("iteration_time_s"), flagged.at("iteration_time_s"));
  EXPECT_EQ(plain.at("time_exposed_pp_s"), flagged.at("time_exposed_pp_s"));
}

// The last stage (3) holds the output layer: deferred, its backward passes skip the logits' weight-gradient GEMM
// (and, under sequence parallelism, the input's all-gather it needs); the flush runs 8 of them, and holds each
// micro-batch's input and logit gradient until then: 8 x 2,048 tokens x (2,048 / SP + 32,000 / TP 2) x 2 B.
TEST(PipelineFlush, OutputLayerWeightGradientsLeftToTheFlush) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const std::string on = "workload.defer_embedding_wgrad_compute=true";
  auto plan = [&](const std::vector<std::string>& sets, int stage) {
    const Scenario sc = parse_sets(sets);
    return dynamic_cast<const wl::MegatronTraining&>(*sc.workload).plan_stage(part, stage);
  };
  const auto before = plan({}, 3), after = plan({on}, 3);
  EXPECT_EQ(before.deferred_chunk, -1);
  ASSERT_EQ(after.deferred_chunk, 0);
  EXPECT_EQ(after.backward[0].compute, before.backward[0].compute);
  EXPECT_GT(after.output_wgrad.s(), 0);
  EXPECT_NEAR((after.backward_deferred.compute + after.output_wgrad).s(), before.backward[0].compute.s(), 1e-12);
  EXPECT_TRUE(after.drain_gather.empty());  // no sequence parallelism
  for (int s = 0; s < 3; ++s) EXPECT_EQ(plan({on}, s).deferred_chunk, -1) << s;
  const double tokens = 2048, per_tp = 32000.0 / 2;
  EXPECT_EQ(memory_item(before.memory, "deferred output-layer wgrad buffers"), -1);
  EXPECT_DOUBLE_EQ(memory_item(after.memory, "deferred output-layer wgrad buffers"), 8 * tokens * (2048 + per_tp) * 2);
  EXPECT_DOUBLE_EQ(memory_item(plan({on, "workload.wgrad_deferral_limit=3"}, 3).memory, "deferred output-layer wgrad buffers"),
                   3 * tokens * (2048 + per_tp) * 2);
  EXPECT_DOUBLE_EQ(memory_item(plan({on, "workload.wgrad_deferral_limit=20"}, 3).memory, "deferred output-layer wgrad buffers"),
                   8 * tokens * (2048 + per_tp) * 2);
  // Sequence parallelism: the backward no longer gathers the input again; the flush gathers it, 8 MiB per GEMM.
  const std::string sp = "workload.sequence_parallel=true";
  const auto sp_after = plan({on, sp}, 3);
  ASSERT_EQ(sp_after.drain_gather.size(), 1u);
  EXPECT_EQ(sp_after.drain_gather[0].size.bytes(), tokens * 2048 * 2);
  EXPECT_DOUBLE_EQ(memory_item(sp_after.memory, "deferred output-layer wgrad buffers"), 8 * tokens * (1024 + per_tp) * 2);
  size_t comms_before = 0, comms_after = 0;
  const auto sp_before = plan({sp}, 3);
  for (const auto& s : sp_before.backward[0].segments) comms_before += s.comms.size();
  for (const auto& s : sp_after.backward_deferred.segments) comms_after += s.comms.size();
  EXPECT_EQ(comms_after + 1, comms_before);

  // Runs: the same kernels, moved into the last stage's flush bubble (the other stages' last backward passes): a
  // shorter iteration; folded passes as the fine path runs them; the limit defers fewer. The input gradient's
  // all-reduce no longer runs beside the weight-gradient GEMM, so its SM contention goes: a little less compute.
  const auto whole = run({}), deferred = run({on});
  EXPECT_LE(deferred.at("time_compute_s"), whole.at("time_compute_s"));
  EXPECT_NEAR(deferred.at("time_compute_s"), whole.at("time_compute_s"), 2e-3 * whole.at("time_compute_s"));
  EXPECT_LT(deferred.at("iteration_time_s"), whole.at("iteration_time_s"));
  const auto fine = run({on, "simulation.event_granularity=kernel"});
  EXPECT_EQ(fine.at("iteration_time_s"), deferred.at("iteration_time_s"));
  const auto sp_run = run({on, sp}), sp_fine = run({on, sp, "simulation.event_granularity=kernel"});
  EXPECT_EQ(sp_fine.at("iteration_time_s"), sp_run.at("iteration_time_s"));
  const auto some = run({on, "workload.wgrad_deferral_limit=3"});
  EXPECT_LT(some.at("time_compute_s"), whole.at("time_compute_s"));
  EXPECT_GT(some.at("time_compute_s"), deferred.at("time_compute_s"));
  EXPECT_NE(some.at("iteration_time_s"), deferred.at("iteration_time_s"));
}

// overlap_param_gather on PP 2 with 4 chunks of one layer (DP 8, 4 micro-batches; G = PP = 2): each chunk's
// parameters gathered on their own, one gather after the other. Aligned (Megatron-LM's default), rank 0 (stage 0)
// gathers chunks 0 and 1 from the start and chunk k + 1 from its forward pass of virtual micro-batch 2k (the first
// of chunk k: F0.1 launches chunk 2, F0.2 chunk 3); not aligned, each chunk's from its own first forward pass. Either
// way a chunk's first forward pass ends only once its gather has.
TEST(PipelineFlush, ParameterGathersRunChunkByChunk) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const std::vector<std::string> sets = {"workload.pipeline_model_parallel_size=2",
                                         "workload.num_layers_per_virtual_pipeline_stage=1",
                                         "workload.use_distributed_optimizer=true", "workload.overlap_param_gather=true"};
  const Scenario sc = parse_sets(sets);
  const auto plan = dynamic_cast<const wl::MegatronTraining&>(*sc.workload).plan_stage(part, 0);
  ASSERT_EQ(plan.param_gather.size(), 1u);
  ASSERT_EQ(plan.param_gather_chunks.size(), 4u);
  double bytes = 0;
  for (const auto& g : plan.param_gather_chunks) {
    ASSERT_EQ(g.size(), 1u);
    bytes += g[0].size.bytes();
  }
  EXPECT_NEAR(bytes, plan.param_gather[0].size.bytes(), 1e-9 * bytes);
  auto gather = [](int k) { return "dp-cp all-gather params (chunk " + std::to_string(k) + ")"; };
  const Lanes aligned = lanes(sets, "aligned");
  ASSERT_EQ(aligned.dp.size() >= 4, true);
  const double t0 = aligned.find(aligned.passes, "F0.0").start;
  EXPECT_NEAR(aligned.find(aligned.dp, gather(0)).start, t0, 1);
  EXPECT_NEAR(aligned.find(aligned.dp, gather(1)).start, aligned.find(aligned.dp, gather(0)).end, 1);
  for (int k : {2, 3}) {
    const double launch = aligned.find(aligned.passes, "F0." + std::to_string(k - 1)).start;
    EXPECT_NEAR(aligned.find(aligned.dp, gather(k)).start, std::max(launch, aligned.find(aligned.dp, gather(k - 1)).end), 1) << k;
  }
  std::vector<std::string> lazy = sets;
  lazy.push_back("workload.align_param_gather=false");
  const Lanes own = lanes(lazy, "lazy");
  for (int k = 0; k < 4; ++k) {
    const Span& first = own.find(own.passes, "F0." + std::to_string(k));
    const double prev = k > 0 ? own.find(own.dp, gather(k - 1)).end : 0;
    EXPECT_NEAR(own.find(own.dp, gather(k)).start, std::max(first.start, prev), 1) << k;
    EXPECT_GE(first.end, own.find(own.dp, gather(k)).end - 1) << k;
    const Span& early = aligned.find(aligned.passes, "F0." + std::to_string(k));
    EXPECT_GE(early.end, aligned.find(aligned.dp, gather(k)).end - 1) << k;
  }
  // Launched ahead, the gathers are waited for less.
  const auto a = run(sets), l = run(lazy);
  EXPECT_LT(a.at("time_exposed_dp_s"), l.at("time_exposed_dp_s"));
  EXPECT_FALSE(line_config("--use-distributed-optimizer --overlap-param-gather --no-align-param-gather").align_param_gather);
}

// Megatron-core's DDP splits gradients into buckets only in pipeline rank 0's first model chunk: a later rank's
// chunks and rank 0's later chunks reduce as one bucket each (DistributedDataParallel: pp_rank > 0 or
// disable_bucketing; get_model: disable_bucketing for the chunks after the first, and for the first too with
// overlap_param_gather_with_optimizer_step). Small buckets (ddp_bucket_size 1 parameter: one per layer at least).
TEST(PipelineFlush, OnlyTheFirstRanksFirstChunkSplitsItsGradients) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  std::vector<std::string> sets = {"workload.num_layers_per_virtual_pipeline_stage=1",
                                   "workload.use_distributed_optimizer=true", "workload.overlap_grad_reduce=true",
                                   "workload.overlap_param_gather=true", "workload.ddp_bucket_size=1"};
  auto buckets_per_chunk = [&part](const std::vector<std::string>& s, int stage) {
    const Scenario sc = parse_sets(s);
    const auto plan = dynamic_cast<const wl::MegatronTraining&>(*sc.workload).plan_stage(part, stage);
    std::vector<int> n(2, 0);
    double params = 0;
    for (const auto& b : plan.buckets) ++n.at(static_cast<size_t>(b.chunk)), params += b.dense_params;
    EXPECT_NEAR(params, plan.dense_params, 1e-9 * params);
    return n;
  };
  const std::vector<int> first = buckets_per_chunk(sets, 0);
  EXPECT_GE(first[0], 2);  // the embedding and the layer at least
  EXPECT_EQ(first[1], 1);
  for (int stage : {1, 3}) EXPECT_EQ(buckets_per_chunk(sets, stage), (std::vector<int>{1, 1})) << stage;
  sets.push_back("workload.overlap_param_gather_with_optimizer_step=true");
  EXPECT_EQ(buckets_per_chunk(sets, 0), (std::vector<int>{1, 1}));
}

// overlap_param_gather_with_optimizer_step (Megatron-core's ChainedOptimizer with one optimizer for model chunk 0 and
// one for the others): the step runs as chunk 0's optimizer at the iteration's end and the others' at the next
// iteration's start, chunk 0's parameter gather beside it; chunk 1's gather follows (the warm-up's param_sync_func)
// and the first forward pass waits for the other chunks' optimizer and chunk 0's gather. PP 2, 4 chunks of a layer.
TEST(PipelineFlush, ChunkZerosGatherRunsBesideTheOtherChunksStep) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  std::vector<std::string> sets = {"workload.pipeline_model_parallel_size=2",
                                   "workload.num_layers_per_virtual_pipeline_stage=1",
                                   "workload.use_distributed_optimizer=true", "workload.overlap_param_gather=true"};
  const auto plan_of = [&part](const std::vector<std::string>& s) {
    const Scenario sc = parse_sets(s);
    return dynamic_cast<const wl::MegatronTraining&>(*sc.workload).plan_stage(part, 0);
  };
  const auto one = plan_of(sets);
  std::vector<std::string> on = sets;
  on.push_back("workload.overlap_param_gather_with_optimizer_step=true");
  const auto two = plan_of(on);
  EXPECT_EQ(one.optimizer_first, Duration());
  EXPECT_GT(two.optimizer_first, Duration());
  EXPECT_LT(two.optimizer_first, two.optimizer * 0.5);  // chunk 0 holds the embedding and one of 4 layers
  // Two optimizers over the same bytes: the second's five kernel launches more (step_overhead.h).
  EXPECT_NEAR((two.optimizer - one.optimizer).s(), 5 * part.calibration.kernel_launch.s(), 1e-12);
  auto gather = [](int k) { return "dp-cp all-gather params (chunk " + std::to_string(k) + ")"; };
  const Lanes l = lanes(on, "optimizer_step_gather");
  ASSERT_EQ(l.steps.size(), 2u);
  const Span& rest = l.steps[0];
  const Span& own = l.steps[1];
  EXPECT_EQ(rest.name, "optimizer step (chunks 1-3)");
  EXPECT_EQ(own.name, "optimizer step (chunk 0)");
  EXPECT_NEAR(rest.start, 0, 1);
  EXPECT_NEAR((rest.end - rest.start) + (own.end - own.start), two.optimizer.s() * 1e9, 2);
  EXPECT_GT(own.start, l.passes.back().end - 1);  // after the last backward pass
  EXPECT_NEAR(l.find(l.dp, gather(0)).start, 0, 1);
  EXPECT_NEAR(l.find(l.dp, gather(1)).start, std::max(rest.end, l.find(l.dp, gather(0)).end), 1);
  const Span& f0 = l.find(l.passes, "F0.0");
  EXPECT_GE(f0.start, rest.end - 1);
  EXPECT_GE(f0.end, l.find(l.dp, gather(0)).end - 1);
  // Without it every chunk's optimizer runs at the end and chunk 0's gather starts with the iteration.
  const Lanes off = lanes(sets, "optimizer_step_plain");
  ASSERT_EQ(off.steps.size(), 1u);
  EXPECT_EQ(off.steps[0].name, "optimizer step");
  // The Megatron-LM line, and Megatron-LM's checks (validate_args), each naming the key.
  const wl::MegatronConfig c = line_config("--pipeline-model-parallel-size 2 --num-layers-per-virtual-pipeline-stage 1 "
                                            "--use-distributed-optimizer --overlap-param-gather "
                                            "--overlap-param-gather-with-optimizer-step");
  EXPECT_TRUE(c.overlap_param_gather_with_optimizer_step);
  EXPECT_TRUE(c.not_modelled_args.empty());
  const std::string key = "workload.overlap_param_gather_with_optimizer_step=true";
  std::string e = parse_sets_error({key, "workload.num_layers_per_virtual_pipeline_stage=1"});
  EXPECT_NE(e.find("overlap_param_gather_with_optimizer_step: needs use_distributed_optimizer"), std::string::npos) << e;
  e = parse_sets_error({key, "workload.num_layers_per_virtual_pipeline_stage=1", "workload.use_distributed_optimizer=true"});
  EXPECT_NE(e.find("overlap_param_gather_with_optimizer_step: needs overlap_param_gather"), std::string::npos) << e;
  e = parse_sets_error({key, "workload.use_distributed_optimizer=true", "workload.overlap_param_gather=true"});
  EXPECT_NE(e.find("overlap_param_gather_with_optimizer_step: needs interleaving"), std::string::npos) << e;
}

TEST(PipelineFlush, MegatronLineAndChecks) {
  const wl::MegatronConfig c = line_config("--pipeline-model-parallel-size 4 --num-layers-per-virtual-pipeline-stage 1 "
                                            "--defer-embedding-wgrad-compute --wgrad-deferral-limit 2 "
                                            "--overlap-p2p-communication-warmup-flush");
  EXPECT_TRUE(c.defer_embedding_wgrad_compute);
  EXPECT_EQ(c.wgrad_deferral_limit, 2);
  EXPECT_TRUE(c.overlap_p2p_comm_warmup_flush);
  EXPECT_TRUE(c.not_modelled_args.empty());
  const std::string on = "workload.defer_embedding_wgrad_compute=true";
  std::string e = parse_sets_error({on, "workload.gradient_accumulation_fusion=false"});
  EXPECT_NE(e.find("defer_embedding_wgrad_compute: needs gradient_accumulation_fusion"), std::string::npos) << e;
  e = parse_sets_error({on, "workload.wgrad_deferral_limit=-1"});
  EXPECT_NE(e.find("wgrad_deferral_limit"), std::string::npos) << e;
  e = parse_sets_error({on, "workload.pipeline_schedule=dualpipe"});
  EXPECT_NE(e.find("defer_embedding_wgrad_compute: with dualpipe is not modelled"), std::string::npos) << e;
}

}  // namespace
}  // namespace lcsim
