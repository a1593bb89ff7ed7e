#include "workloads/inference/speculative.h"

#include <algorithm>
#include <cmath>

namespace lcsim::inf {

SpeculativeConfig::SpeculativeConfig() {
  // Llama-3.2-1B (meta-llama/Llama-3.2-1B config.json): the usual draft for the Llama 3 family.
  draft.num_layers = 16;
  draft.hidden_size = 2048;
  draft.num_attention_heads = 32;
  draft.num_kv_heads = 8;
  draft.ffn_hidden_size = 8192;
  draft.vocab_size = 128256;
}

void SpeculativeConfig::visit(Section& s) {
  s.field("draft_tokens", draft_tokens, "tokens the draft model proposes per step (k); 0 = no speculation",
          Range::between(0, 16));
  s.field("acceptance_rate", acceptance_rate, "chance the served model accepts each draft token (alpha)",
          Range::fraction());
  s.section("draft_model", "the draft model's shape (default Llama-3.2-1B)", [&](Section& d) { draft.visit(d); });
}

double expected_tokens_per_step(int k, double alpha) {
  if (alpha >= 1) return k + 1.0;
  return (1 - std::pow(alpha, k + 1)) / (1 - alpha);
}

uint32_t sample_step_tokens(uint32_t drafts, double alpha, RandomStream& rng) {
  uint32_t accepted = 0;
  while (accepted < drafts && rng.uniform() < alpha) ++accepted;
  return accepted + 1;
}

double draft_seconds(const InstanceCost& draft, const std::vector<BatchEntry>& batch) {
  std::vector<BatchEntry> prefill, decode;
  uint32_t k = 0;
  for (const BatchEntry& e : batch) {
    if (e.drafts > 0) {
      decode.push_back({1, e.context, true});
      k = std::max<uint32_t>(k, e.drafts);
    } else if (!(e.new_tokens == 1 && e.emits)) {
      prefill.push_back(e);  // a prompt chunk: the draft needs its KV too
    }
  }
  double t = prefill.empty() ? 0.0 : draft.iteration_seconds(prefill);
  // The k draft steps, one token each, the context growing by one per step (sequences with fewer drafts left
  // stop early; priced at the longest).
  for (uint32_t i = 0; i < k && !decode.empty(); ++i) {
    t += draft.iteration_seconds(decode);
    for (BatchEntry& e : decode) ++e.context;
  }
  return t;
}

int64_t kv_blocks_with_draft(const InstanceCost& target, const InstanceCost& draft, double gpu_memory_utilization,
                             int block_size) {
  const double free = target.part().hbm_capacity.bytes() * gpu_memory_utilization - target.weight_bytes_per_gpu() -
                      draft.weight_bytes_per_gpu();
  if (free <= 0) return 0;
  const double per_block = (target.kv_bytes_per_token_per_gpu() + draft.kv_bytes_per_token_per_gpu()) * block_size;
  return static_cast<int64_t>(std::floor(free / per_block));
}

}  // namespace lcsim::inf
