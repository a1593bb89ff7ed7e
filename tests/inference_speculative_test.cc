// Speculative decoding (workloads/inference/speculative.h): tokens per step against (1 - alpha^(k+1)) / (1 - alpha),
// the scheduler's verification steps, and the draft model's cost and memory derived by hand from the roofline.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "workloads/inference/batch_scheduler.h"
#include "workloads/inference/speculative.h"
#include "inference_support.h"

namespace lcsim::inf {
namespace {

using support::datasheet_h100;

TEST(InferenceSpeculative, ExpectedTokensPerStepIsTheFormula) {
  // k = 4, alpha = 0.8: (1 - 0.8^5) / 0.2 = (1 - 0.32768) / 0.2 = 3.3616.
  EXPECT_NEAR(expected_tokens_per_step(4, 0.8), 3.3616, 1e-12);
  // k = 3, alpha = 0.5: 1 + 0.5 + 0.25 + 0.125 = 1.875.
  EXPECT_NEAR(expected_tokens_per_step(3, 0.5), 1.875, 1e-12);
  EXPECT_DOUBLE_EQ(expected_tokens_per_step(5, 1.0), 6);
  EXPECT_DOUBLE_EQ(expected_tokens_per_step(5, 0.0), 1);
  EXPECT_DOUBLE_EQ(expected_tokens_per_step(0, 0.7), 1);
}

TEST(InferenceSpeculative, SampledStepsAverageTheFormula) {
  RandomStream rng(42);
  for (const auto& [k, alpha] : std::vector<std::pair<uint32_t, double>>{{4, 0.8}, {3, 0.5}, {7, 0.6}}) {
    const int n = 200000;
    double sum = 0;
    uint32_t most = 0;
    for (int i = 0; i < n; ++i) {
      const uint32_t t = sample_step_tokens(k, alpha, rng);
      sum += t;
      most = std::max(most, t);
    }
    // The mean of 200,000 draws: its standard error is below 0.005 for these (the variance is under 4).
    EXPECT_NEAR(sum / n, expected_tokens_per_step(static_cast<int>(k), alpha), 0.02) << "k " << k << " alpha " << alpha;
    EXPECT_EQ(most, k + 1);
  }
}

/// Runs one request alone through the scheduler; returns its verification (decode) steps.
int decode_steps(uint32_t output, uint32_t k, double alpha, uint64_t seed, uint64_t* generated) {
  BatchScheduler::Limits limits;
  limits.kv_blocks = 1000;
  limits.draft_tokens = static_cast<int>(k);
  limits.acceptance_rate = alpha;
  limits.seed = seed;
  BatchScheduler s(limits);
  Request r;
  r.id = 1;
  r.input_tokens = 100;
  r.output_tokens = output;
  EXPECT_TRUE(s.add(r));
  BatchScheduler::Plan plan;
  std::vector<FinishedRequest> done;
  int steps = 0;
  double now = 0;
  while (s.plan(plan)) {
    EXPECT_EQ(plan.batch.size(), 1u);
    if (plan.decode_tokens > 0) {
      ++steps;
      // A step computes the last token and its drafts, never more drafts than the answer has tokens left.
      EXPECT_EQ(plan.batch[0].new_tokens, plan.batch[0].drafts + 1u);
      EXPECT_LE(plan.batch[0].drafts, k);
    }
    s.complete(plan, now += 0.01, done);
  }
  EXPECT_EQ(done.size(), 1u);
  *generated = done.empty() ? 0 : done[0].output_tokens;
  return steps;
}

TEST(InferenceSpeculative, TheSchedulerVerifiesKPlusOneTokensPerStep) {
  uint64_t generated = 0;
  // Every draft accepted: 1 token from the prefill, then 99 in steps of k + 1 = 5: ceil(99 / 5) = 20 steps, the
  // last with 3 drafts (4 tokens left).
  EXPECT_EQ(decode_steps(100, 4, 1.0, 1, &generated), 20);
  EXPECT_EQ(generated, 100u);
  // None accepted: one token per step, as without speculation.
  EXPECT_EQ(decode_steps(100, 4, 0.0, 1, &generated), 99);
  // alpha 0.8, k 4: 3.36 tokens per step on average, so 9,999 tokens take about 9,999 / 3.3616 = 2,975 steps.
  const int steps = decode_steps(10000, 4, 0.8, 7, &generated);
  EXPECT_EQ(generated, 10000u);
  EXPECT_NEAR(9999.0 / steps, expected_tokens_per_step(4, 0.8), 0.05);
}

TEST(InferenceSpeculative, WithSwapPreemptionEveryBlockComesBack) {
  // Four requests on 20 blocks of 16 tokens, drafts of 4 at alpha 0.6: sequences get preempted (swapped out with
  // the blocks their computed tokens fill) and resume; when all are done every HBM and host block is free again.
  BatchScheduler::Limits limits;
  limits.kv_blocks = 20;
  limits.swap = true;
  limits.swap_blocks = 40;
  limits.draft_tokens = 4;
  limits.acceptance_rate = 0.6;
  limits.seed = 3;
  BatchScheduler s(limits);
  for (uint64_t id = 0; id < 4; ++id) {
    Request r;
    r.id = id;
    r.input_tokens = 40 + static_cast<uint32_t>(id) * 10;
    r.output_tokens = 120;
    ASSERT_TRUE(s.add(r));
  }
  BatchScheduler::Plan plan;
  std::vector<FinishedRequest> done;
  int64_t out = 0, in = 0;
  double now = 0;
  while (s.plan(plan)) {
    out += plan.swap_out_blocks;
    in += plan.swap_in_blocks;
    s.complete(plan, now += 0.01, done);
  }
  ASSERT_EQ(done.size(), 4u);
  for (const auto& f : done) EXPECT_EQ(f.output_tokens, 120u);
  EXPECT_GT(s.swaps(), 0u);
  EXPECT_EQ(in, out);
  EXPECT_EQ(s.free_blocks(), 20);
  EXPECT_EQ(s.free_swap_blocks(), 40);
}

TEST(InferenceSpeculative, DraftCostAndMemoryAreTheRoofline) {
  const hw::AcceleratorSpec part = datasheet_h100();
  ServingConfig sv;
  const SpeculativeConfig spec;
  const InstanceCost draft(part, spec.draft, sv);
  const InstanceCost target(part, ModelShape{}, sv);
  // Llama-3.2-1B by hand: h 2048, 16 layers, 32 query heads and 8 KV heads of 64, MLP 8192, vocab 128256.
  const double layer = 2.0 * 2048 * 2048 + 2.0 * 2048 * (8 * 64) + 3.0 * 2048 * 8192;
  const double lm_head = 2048.0 * 128256;
  const double kv_per_token = 2.0 * 8 * 64 * 2 * 16;  // 32 KiB
  // One sequence decoding at context 1,000 with k = 3 drafts: three draft steps at contexts 1,000, 1,001, 1,002,
  // each memory-bound (every draft weight and the KV so far read once).
  auto step = [&](double context) {
    const double bytes = (layer * 16 + lm_head) * 2 + (context + 1) * kv_per_token;
    const double flops = 2 * layer * 16 + 2 * lm_head + 4.0 * 32 * 64 * 16 * (context + 1);
    EXPECT_GT(bytes / 3.35e12, flops / 989.4e12);
    return bytes / 3.35e12;
  };
  BatchEntry e{4, 1000, true};
  e.drafts = 3;
  const double t = draft_seconds(draft, {e});
  EXPECT_NEAR(t, step(1000) + step(1001) + step(1002), 1e-15);
  EXPECT_NEAR(t, 3 * 0.7476e-3, 0.0002e-3);  // 0.75 ms each: 2.47 GB of draft layers and LM head at 3.35 TB/s
  // Memory: 0.9 x 80 GB - 16.06 GB (Llama-3-8B) - 3.0 GB (Llama-3.2-1B with its input embedding) over 128 + 32
  // KiB per token, 16-token blocks.
  const double target_weights = target.weight_bytes_per_gpu();
  EXPECT_NEAR(target_weights, ModelShape{}.total_params() * 2, 1);
  const double draft_weights = (layer * 16 + 2 * lm_head) * 2;
  EXPECT_NEAR(draft.weight_bytes_per_gpu(), draft_weights, 1);
  const int64_t blocks = kv_blocks_with_draft(target, draft, 0.9, 16);
  EXPECT_EQ(blocks, static_cast<int64_t>(std::floor((72e9 - target_weights - draft_weights) /
                                                    ((131072.0 + kv_per_token) * 16))));
  EXPECT_LT(blocks, target.kv_blocks());
}

}  // namespace
}  // namespace lcsim::inf
