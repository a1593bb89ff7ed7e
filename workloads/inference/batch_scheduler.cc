#include "workloads/inference/batch_scheduler.h"

#include <algorithm>

#include "sim/error.h"
#include "workloads/inference/speculative.h"

namespace lcsim::inf {

BatchScheduler::BatchScheduler(const Limits& limits)
    : limits_(limits),
      free_blocks_(limits.kv_blocks),
      free_swap_blocks_(limits.swap ? limits.swap_blocks : 0),
      accept_rng_(limits.seed) {}

bool BatchScheduler::add(const Request& r, uint32_t cached_tokens) {
  LCSIM_ASSERT(cached_tokens < r.input_tokens, "a cached prefix must leave at least one prompt token to compute");
  if (blocks_for(static_cast<uint64_t>(r.input_tokens) + r.output_tokens) > limits_.kv_blocks) return false;
  if (!limits_.chunked_prefill && static_cast<int64_t>(r.input_tokens) > limits_.max_num_batched_tokens) return false;
  uint32_t slot;
  if (free_slots_.empty()) {
    slot = static_cast<uint32_t>(seqs_.size());
    seqs_.emplace_back();
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
  }
  Seq& s = seqs_[slot];
  s = Seq{};
  s.id = r.id;
  s.prompt = r.input_tokens;
  s.output = r.output_tokens;
  s.arrival_s = r.arrival_s;
  s.computed = s.cached = cached_tokens;
  waiting_.push_back(slot);
  outstanding_ += static_cast<uint64_t>(r.input_tokens - cached_tokens) + r.output_tokens;
  return true;
}

void BatchScheduler::release(uint32_t slot) {
  free_blocks_ += seqs_[slot].blocks;
  seqs_[slot].blocks = 0;
}

void BatchScheduler::preempt(uint32_t slot, Plan& plan) {
  Seq& s = seqs_[slot];
  const int64_t keep = blocks_for(s.computed);  // the blocks its computed tokens fill (not a step's rejected drafts)
  if (limits_.swap && keep <= free_swap_blocks_) {
    // Swap out: the blocks go to host memory and come back when it resumes; what it computed stays computed.
    free_swap_blocks_ -= keep;
    plan.swap_out_blocks += keep;
    s.swapped = true;
    ++swaps_;
  } else {
    s.computed = 0;
  }
  release(slot);
  ++s.preemptions;
  ++preemptions_;
  running_.erase(std::find(running_.begin(), running_.end(), slot));
  waiting_.push_front(slot);
}

bool BatchScheduler::plan(Plan& out) {
  out.batch.clear();
  out.seqs.clear();
  out.prefill_tokens = out.decode_tokens = 0;
  out.swap_out_blocks = out.swap_in_blocks = 0;
  int64_t budget = limits_.max_num_batched_tokens;
  bool preempted = false;
  // Running sequences first, oldest first; a sequence that needs a block takes one from the newest (preempting it).
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    const uint32_t slot = running_[i];
    Seq& s = seqs_[slot];
    const int64_t remaining = s.total() - s.computed;
    int64_t q = std::min(remaining, budget);
    if (!limits_.chunked_prefill && q < remaining) {
      ++i;
      continue;
    }
    uint32_t drafts = 0;
    if (limits_.draft_tokens > 0 && remaining == 1 && s.generated > 0) {
      // Speculative decoding: verify up to k drafts with the last token, no more than the answer has left.
      const int64_t left = static_cast<int64_t>(s.output) - s.generated - 1;
      drafts = static_cast<uint32_t>(std::max<int64_t>(0, std::min({int64_t{limits_.draft_tokens}, left, budget - 1})));
      q += drafts;
    }
    const int64_t need = blocks_for(s.computed + q) - s.blocks;
    bool self_preempted = false;
    while (need > free_blocks_) {
      const uint32_t victim = running_.back();
      preempted = true;
      if (victim == slot) {
        self_preempted = true;
        preempt(victim, out);
        break;
      }
      preempt(victim, out);
    }
    if (self_preempted) break;
    free_blocks_ -= need;
    s.blocks += need;
    const bool emits = s.computed + q - drafts == s.total();
    out.batch.push_back({static_cast<uint32_t>(q), s.computed, emits, drafts});
    out.seqs.push_back(slot);
    (s.computed + 1 == s.total() && q - drafts == 1 && s.generated > 0 ? out.decode_tokens : out.prefill_tokens) +=
        static_cast<uint32_t>(q);
    budget -= q;
    ++i;
  }
  // Then waiting sequences, in order, while there is room (none after a preemption: memory is short).
  while (!preempted && !waiting_.empty() && budget > 0 &&
         static_cast<int64_t>(running_.size()) < limits_.max_num_seqs) {
    const uint32_t slot = waiting_.front();
    Seq& s = seqs_[slot];
    const int64_t remaining = s.total() - s.computed;
    const int64_t q = std::min(remaining, budget);
    if (!limits_.chunked_prefill && q < remaining) break;
    const int64_t need = blocks_for(s.computed + q) - s.blocks;
    if (need > free_blocks_) break;
    if (s.swapped) {  // its blocks come back from host memory before the iteration runs
      const int64_t back = blocks_for(s.computed);
      out.swap_in_blocks += back;
      free_swap_blocks_ += back;
      s.swapped = false;
    }
    waiting_.pop_front();
    running_.push_back(slot);
    free_blocks_ -= need;
    s.blocks += need;
    out.batch.push_back({static_cast<uint32_t>(q), s.computed, s.computed + q == s.total()});
    out.seqs.push_back(slot);
    (s.computed + 1 == s.total() && q == 1 && s.generated > 0 ? out.decode_tokens : out.prefill_tokens) +=
        static_cast<uint32_t>(q);
    budget -= q;
  }
  return !out.batch.empty();
}

void BatchScheduler::complete(const Plan& plan, double now_s, std::vector<FinishedRequest>& finished,
                              std::vector<uint64_t>* prefilled) {
  for (size_t k = 0; k < plan.seqs.size(); ++k) {
    const uint32_t slot = plan.seqs[k];
    Seq& s = seqs_[slot];
    const uint32_t drafts = plan.batch[k].drafts;
    s.computed += plan.batch[k].new_tokens;
    if (!plan.batch[k].emits) continue;
    LCSIM_ASSERT(s.computed - drafts == s.total(), "a sequence emitted before its context was computed");
    if (drafts > 0) {
      // The drafts up to the first rejection are kept, with one token of the target's own; the rejected drafts'
      // KV is dropped (their blocks stay with the sequence).
      const uint32_t tokens = sample_step_tokens(drafts, limits_.acceptance_rate, accept_rng_);
      s.computed -= drafts + 1 - tokens;
      s.generated += tokens - 1;
      outstanding_ -= tokens - 1;
    }
    if (s.generated == 0) {
      s.first_token_s = now_s;
      outstanding_ -= s.prompt - s.cached;
      if (prefilled) prefilled->push_back(s.id);
    }
    ++s.generated;
    --outstanding_;
    if (s.generated < s.output) continue;
    finished.push_back({s.id, s.prompt, s.output, s.arrival_s, s.first_token_s, now_s, s.preemptions});
    release(slot);
    running_.erase(std::find(running_.begin(), running_.end(), slot));
    free_slots_.push_back(slot);
  }
}

}  // namespace lcsim::inf
