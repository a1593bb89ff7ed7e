// Megatron-LM's align_grad_reduce (its default; --no-align-grad-reduce turns it off) with overlap_grad_reduce and the
// interleaved schedule: every backward pass runs with grad sync disabled, and after backward step j pipeline rank r
// launches the model chunk whose last backward step is j - r, all its buckets at once; what is not launched by the
// last step is launched after it (megatron_step.cc, aligned_grad_sync). Read off a run's timeline: each pipeline
// rank's backward passes (compute lane) and its data-parallel reduce-scatters (dp lane). The layout: kBase (TP 2,
// PP 4, DP 4 on 32 H100s, 8 layers) with one layer per virtual stage (2 chunks), 8 micro-batches per rank, the
// distributed optimizer and a bucket per layer (ddp_bucket_size 1): pipeline rank 0's first chunk has two buckets
// (its layer, the embedding), every other chunk one.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "megatron_timeline_support.h"

#include "timeline/model.h"
#include "workloads/training/megatron.h"

namespace lcsim {
namespace {

using megatron_support::Span;

// Pipeline rank r's first GPU (tp 0, dp 0: rank 8r, gpu0 of node r): its backward passes in order and its
// data-parallel reduce-scatters in order.
struct Rank {
  std::vector<Span> backward, reduce;
};

std::vector<std::string> layout(bool align) {
  return {"workload.num_layers_per_virtual_pipeline_stage=1", "workload.overlap_grad_reduce=true",
          "workload.use_distributed_optimizer=true", "workload.ddp_bucket_size=1",
          std::string("workload.align_grad_reduce=") + (align ? "true" : "false")};
}

std::vector<Rank> ranks(const std::vector<std::string>& sets, const std::string& name, double* exposed_dp) {
  const megatron_support::TimelineRun run = megatron_support::run_timeline(sets, 32, "align_grad_reduce_test", name);
  *exposed_dp = run.metrics.get("time_exposed_dp_s");
  std::vector<Rank> out(4);
  for (int node = 0; node < 4; ++node) {
    Rank& k = out[static_cast<size_t>(node)];
    for (const Span& s : run.lane(node, "gpu0 compute")) {
      if (s.name[0] == 'B') k.backward.push_back(s);
    }
    k.reduce = megatron_support::named(run.lane(node, "gpu0 dp"), "reduce-scatter grads");
  }
  return out;
}

size_t index_of(const std::vector<Span>& v, const std::string& name) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i].name == name) return i;
  }
  ADD_FAILURE() << "no pass " << name;
  return 0;
}

// Each pipeline rank runs 16 backward steps (8 micro-batches x 2 chunks); chunk c's last is B7.c. Aligned, rank 0
// launches chunk 1 (one bucket) after B7.1 and chunk 0 (two buckets) after B7.0, its last step: no reduce-scatter
// starts inside a backward pass. Rank r >= 1 launches chunk 1 r steps after B7.1 and chunk 0 after its last step.
// Not aligned (the backward hooks), rank 0's first bucket of chunk 0 starts inside B7.0 and every rank's chunk 1
// right after B7.1.
TEST(AlignGradReduce, EachRankLaunchesAChunkAfterBackwardStepLastPlusItsPipelineRank) {
  double exposed_aligned = 0, exposed_hooks = 0;
  const std::vector<Rank> aligned = ranks(layout(true), "aligned", &exposed_aligned);
  const std::vector<Rank> hooks = ranks(layout(false), "hooks", &exposed_hooks);
  for (int r = 0; r < 4; ++r) {
    const Rank& a = aligned[static_cast<size_t>(r)];
    const Rank& h = hooks[static_cast<size_t>(r)];
    ASSERT_EQ(a.backward.size(), 16u) << r;
    ASSERT_EQ(a.reduce.size(), r == 0 ? 3u : 2u) << r;
    ASSERT_EQ(h.reduce.size(), a.reduce.size()) << r;
    const size_t b1 = index_of(a.backward, "B7.1"), b0 = index_of(a.backward, "B7.0");
    EXPECT_EQ(b0, 15u) << r;
    ASSERT_LT(b1 + static_cast<size_t>(r), 15u) << r;
    // Chunk 1: after step b1 + r, and not before (the step before it ends earlier).
    const Span& due = a.backward[b1 + static_cast<size_t>(r)];
    EXPECT_GE(a.reduce[0].start, due.end) << r;
    if (r > 0) {
      EXPECT_GT(a.reduce[0].start, a.backward[b1 + static_cast<size_t>(r) - 1].end) << r;
    }
    EXPECT_LE(h.reduce[0].start, h.backward[b1 + 1].start) << r << ": the hooks launch it as B7.1 ends";
    // Chunk 0: after the last step, on every rank.
    for (size_t i = 1; i < a.reduce.size(); ++i) EXPECT_GE(a.reduce[i].start, a.backward[b0].end) << r << " " << i;
    // No reduce-scatter starts inside a backward pass when aligned.
    for (const Span& s : a.reduce) {
      for (const Span& b : a.backward) EXPECT_FALSE(s.start > b.start && s.start < b.end) << r << " " << b.name;
    }
  }
  EXPECT_LT(hooks[0].reduce[1].start, hooks[0].backward[15].end) << "a bucket of chunk 0 inside B7.0";
  // (The mean exposed data-parallel time over the ranks, compared here until 7 Dec 2026, read the same for both to
  // 1e-18 s, and exactly the same since the step's all-reduces: the timeline is what shows the launch.)
  EXPECT_GT(exposed_aligned, 0);
  EXPECT_GT(exposed_hooks, 0);
}

// Without interleaving Megatron-LM launches what the hooks do (pipeline rank 0 enables them for its last backward;
// the others hold one bucket, complete at their last backward's end): the same run bit for bit. A pasted line reads
// either spelling.
TEST(AlignGradReduce, NoEffectWithoutInterleavingAndReadFromTheCommandLine) {
  const std::vector<std::string> flat = {"workload.overlap_grad_reduce=true", "workload.use_distributed_optimizer=true",
                                         "workload.ddp_bucket_size=1"};
  auto on = flat, off = flat;
  on.push_back("workload.align_grad_reduce=true");
  off.push_back("workload.align_grad_reduce=false");
  const auto a = megatron_support::run(on), b = megatron_support::run(off);
  ASSERT_TRUE(a.count("iteration_time_s"));
  for (const char* k : {"iteration_time_s", "time_exposed_dp_s", "sim_events"}) EXPECT_EQ(a.at(k), b.at(k)) << k;
  EXPECT_TRUE(megatron_support::config_of_line("--overlap-grad-reduce").align_grad_reduce);
  EXPECT_FALSE(megatron_support::config_of_line("--no-align-grad-reduce").align_grad_reduce);
  EXPECT_FALSE(megatron_support::config_of_line("--disable-align-grad-reduce").align_grad_reduce);
}

}  // namespace
}  // namespace lcsim
