// Preemption by swap (workloads/inference/preemption.h, batch_scheduler.h): a preempted sequence's KV blocks go to
// host memory and come back, its work is not redone, and the copies cost the GPU's host path, derived here by hand.
#include <gtest/gtest.h>

#include <vector>

#include "models/network/topology.h"
#include "workloads/inference/batch_scheduler.h"
#include "workloads/inference/preemption.h"

namespace lcsim::inf {
namespace {

struct Trace {
  uint64_t computed = 0;  // tokens computed over the run (prefill, recompute, decode)
  int64_t swapped_out = 0, swapped_in = 0, out_events = 0, in_events = 0;
  std::vector<FinishedRequest> done;
  uint64_t preemptions = 0, swaps = 0;
};

/// Two requests on a KV cache of 10 blocks of 16 tokens that cannot hold both to the end: the second is preempted.
Trace run_two(bool swap, int64_t swap_blocks) {
  BatchScheduler::Limits limits;
  limits.block_size = 16;
  limits.kv_blocks = 10;
  limits.swap = swap;
  limits.swap_blocks = swap_blocks;
  BatchScheduler s(limits);
  Request a, b;
  a.id = 1;
  a.input_tokens = 64;  // 64 + 64 tokens: 8 blocks at the end
  a.output_tokens = 64;
  b.id = 2;
  b.input_tokens = 48;  // 48 + 64: 7 blocks
  b.output_tokens = 64;
  EXPECT_TRUE(s.add(a));
  EXPECT_TRUE(s.add(b));
  Trace t;
  BatchScheduler::Plan plan;
  double now = 0;
  while (s.plan(plan)) {
    t.swapped_out += plan.swap_out_blocks;
    t.swapped_in += plan.swap_in_blocks;
    t.out_events += plan.swap_out_blocks > 0;
    t.in_events += plan.swap_in_blocks > 0;
    for (const BatchEntry& e : plan.batch) t.computed += e.new_tokens;
    now += 0.01;
    s.complete(plan, now, t.done);
  }
  t.preemptions = s.preemptions();
  t.swaps = s.swaps();
  return t;
}

TEST(InferencePreemption, SwapResumesWhereItStoppedAndRecomputeRedoes) {
  const Trace rc = run_two(false, 0);
  const Trace sw = run_two(true, 100);
  ASSERT_EQ(rc.done.size(), 2u);
  ASSERT_EQ(sw.done.size(), 2u);
  EXPECT_GE(rc.preemptions, 1u);
  EXPECT_EQ(sw.preemptions, rc.preemptions);  // the same memory pressure at the same moment
  EXPECT_EQ(sw.swaps, sw.preemptions);        // the swap space holds them
  EXPECT_EQ(rc.swapped_out, 0);
  // What goes out comes back, once per preemption.
  EXPECT_GT(sw.swapped_out, 0);
  EXPECT_EQ(sw.swapped_in, sw.swapped_out);
  EXPECT_EQ(sw.out_events, static_cast<int64_t>(sw.swaps));
  EXPECT_EQ(sw.in_events, static_cast<int64_t>(sw.swaps));
  // Every token of both requests computed once with swap: 64 + 48 prompt tokens and 63 + 63 decode steps (the
  // last generated token's KV is never needed). Recompute redoes the victim's prompt and generated tokens.
  EXPECT_EQ(sw.computed, 64u + 48 + 63 + 63);
  EXPECT_GT(rc.computed, sw.computed);
  // With no swap space the preemption falls back to recompute, as vLLM does.
  const Trace full = run_two(true, 0);
  EXPECT_EQ(full.swaps, 0u);
  EXPECT_EQ(full.swapped_out, 0);
  EXPECT_EQ(full.preemptions, rc.preemptions);
}

// One node of 8 GPUs, each behind its own PCIe Gen5 switch (hgx-h100.yaml): Gen5 x16 is 63.04 GB/s per direction
// (PCIe 3's 0.985 GB/s per lane x 4 x 16), the switch uplink Gen5 x16 too, host memory 614 GB/s, 115 ns per PCIe hop.
TEST(InferencePreemption, SwapTimeIsTheHostPathByHand) {
  net::NodeShape node{8, Bandwidth::gbytes_per_s(450), Bandwidth::gbits_per_s(400), false,
                      {{"storage", Bandwidth::gbits_per_s(400)}}};
  const Bandwidth gen5x16 = Bandwidth::gbytes_per_s(63.04);
  node.io = {gen5x16, Bandwidth(), 8, gen5x16, Bandwidth::gbytes_per_s(614), Duration::ns(115)};
  net::LeafSpineConfig cfg;
  const net::LeafSpine t(cfg, {node});
  const HostPath p = host_path(t, 3, Bandwidth::gbytes_per_s(1));
  ASSERT_TRUE(p.modelled);
  // GPU 3 -> its PCIe switch -> the root complex -> host memory: the PCIe links are the narrowest; two PCIe hops.
  EXPECT_DOUBLE_EQ(p.to_host.bps(), 63.04e9);
  EXPECT_DOUBLE_EQ(p.from_host.bps(), 63.04e9);
  EXPECT_NEAR(p.to_host_latency.s(), 2 * 115e-9, 1e-15);
  EXPECT_NEAR(p.from_host_latency.s(), 2 * 115e-9, 1e-15);
  // Swapping out 5 blocks of 16 Llama-3-8B tokens at TP 1 (128 KiB of KV per token: 2 x 8 heads x 128 x 2 B x 32
  // layers) and later 5 back.
  const double block = 2.0 * 8 * 128 * 2 * 32 * 16;
  EXPECT_NEAR(swap_seconds(p, 5 * block, 0), 5 * block / 63.04e9 + 230e-9, 1e-15);
  EXPECT_NEAR(swap_seconds(p, 5 * block, 5 * block), 2 * (5 * block / 63.04e9 + 230e-9), 1e-15);
  EXPECT_NEAR(5 * block / 63.04e9 + 230e-9, 166.57e-6, 0.01e-6);  // 10.5 MB at 63 GB/s: 167 us
  EXPECT_EQ(swap_seconds(p, 0, 0), 0);
  // Without a modelled PCIe path: the fallback bandwidth, no latency.
  net::NodeShape bare{8, Bandwidth::gbytes_per_s(450), Bandwidth::gbits_per_s(400)};
  const net::LeafSpine t2(cfg, {bare});
  const HostPath q = host_path(t2, 3, Bandwidth::gbytes_per_s(51));
  EXPECT_FALSE(q.modelled);
  EXPECT_NEAR(swap_seconds(q, block, 0), block / 51e9, 1e-15);
}

}  // namespace
}  // namespace lcsim::inf
