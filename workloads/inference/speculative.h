// Speculative decoding (Leviathan et al., ICML 2023; Chen et al., 2023; vLLM's draft-model speculation): a small
// draft model proposes k tokens one after another, the served (target) model checks them all in one forward pass
// of k + 1 tokens per sequence, and the sequence keeps the drafts up to the first one the target rejects, plus one
// token of the target's own. With each draft accepted with probability alpha, independently, a step emits
// (1 - alpha^(k+1)) / (1 - alpha) tokens on average (k + 1 when alpha = 1). What it costs: the target's step
// computes k + 1 tokens per decoding sequence (on a memory-bound decode, nearly the price of one), and the draft
// model runs its k steps (and its own prefill of every prompt) before it; its weights and KV cache take HBM from
// the target's KV cache. docs/inference.md.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/config.h"
#include "sim/rng.h"
#include "workloads/inference/serving_model.h"

namespace lcsim::inf {

/// `workload.speculative`.
struct SpeculativeConfig {
  int draft_tokens = 0;          // k: tokens the draft proposes per step; 0 = off
  double acceptance_rate = 0.7;  // alpha: the chance the target accepts a draft token
  ModelShape draft;              // the draft model's shape; default Llama-3.2-1B (its config.json)
  SpeculativeConfig();
  bool enabled() const { return draft_tokens > 0; }
  void visit(Section& s);
};

/// Expected tokens one verification step emits: (1 - alpha^(k+1)) / (1 - alpha); k + 1 at alpha = 1.
double expected_tokens_per_step(int k, double alpha);

/// Tokens one verification step emits: 1 + the drafts accepted before the first rejection, 1..drafts + 1.
uint32_t sample_step_tokens(uint32_t drafts, double alpha, RandomStream& rng);

/// The draft model's time before an iteration of `batch`: every prefill chunk through it once, then `k` decode
/// steps of the sequences that speculate (entries with drafts > 0), each with its context so far.
double draft_seconds(const InstanceCost& draft, const std::vector<BatchEntry>& batch);

/// KV-cache blocks an instance holds when a draft model shares its GPUs: HBM x utilization - both models'
/// weights, over both models' KV bytes per block.
int64_t kv_blocks_with_draft(const InstanceCost& target, const InstanceCost& draft, double gpu_memory_utilization,
                             int block_size);

}  // namespace lcsim::inf
