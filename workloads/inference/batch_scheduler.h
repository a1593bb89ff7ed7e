// Iteration-level (continuous) batching of one serving instance, as vLLM's v1 scheduler does it, without an
// engine: plan() picks the next iteration's work, complete() applies it. Each iteration first gives every running
// sequence its next tokens (a decode step, or the next chunk of its prompt) in admission order, then admits waiting
// sequences while the batch has room (max_num_seqs, max_num_batched_tokens) and the paged KV cache has free blocks.
// When a running sequence needs a block and none is free, the most recently admitted sequence is preempted: by
// recompute (its blocks are freed and it goes back to the head of the queue, to prefill its prompt and the tokens
// it had generated again) or, with Limits::swap, by swapping its blocks out to host memory (it goes back to the
// head of the queue and, when admitted again, its blocks are swapped in and it goes on where it stopped; the
// plan counts the blocks each way, the caller prices the copies). A swap that does not fit in the host's swap
// space recomputes instead, as vLLM does. With Limits::draft_tokens (speculative decoding, speculative.h) a decode
// step verifies up to k drafts with the last token and emits 1 + the drafts accepted before the first rejection.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "sim/rng.h"
#include "workloads/inference/request_trace.h"
#include "workloads/inference/serving_model.h"

namespace lcsim::inf {

/// A request that finished on an instance, with its latencies.
struct FinishedRequest {
  uint64_t id = 0;
  uint32_t input_tokens = 0, output_tokens = 0;
  double arrival_s = 0, first_token_s = 0, finish_s = 0;
  uint32_t preemptions = 0;
  double ttft() const { return first_token_s - arrival_s; }
  double e2e() const { return finish_s - arrival_s; }
  /// Time per output token after the first ((e2e - ttft) / (output - 1)); 0 for one-token outputs.
  double tpot() const { return output_tokens > 1 ? (finish_s - first_token_s) / (output_tokens - 1) : 0.0; }
};

class BatchScheduler {
 public:
  struct Limits {
    int max_num_seqs = 256;
    int max_num_batched_tokens = 8192;
    bool chunked_prefill = true;
    int block_size = 16;
    int64_t kv_blocks = 0;
    bool swap = false;         // preempt by swapping KV blocks to host memory (else by recompute)
    int64_t swap_blocks = 0;   // host blocks for swapped-out sequences; when full, preemption recomputes
    int draft_tokens = 0;          // speculative decoding: drafts verified per decode step (k; 0 = off)
    double acceptance_rate = 0;    // the chance each draft is accepted (alpha)
    uint64_t seed = 1;             // the acceptance draws' stream
  };
  /// One planned iteration: what each scheduled sequence computes.
  struct Plan {
    std::vector<BatchEntry> batch;
    std::vector<uint32_t> seqs;  // slot of each entry
    uint32_t prefill_tokens = 0, decode_tokens = 0;
    // KV blocks copied to host memory (preempted by swap) and back (swapped sequences resuming) before the
    // iteration runs (vLLM's swap_out / swap_in).
    int64_t swap_out_blocks = 0, swap_in_blocks = 0;
  };

  explicit BatchScheduler(const Limits& limits);
  /// Queues a request; false (rejected) when it can never run: more KV blocks than the instance has, or (without
  /// chunked prefill) a prompt longer than max_num_batched_tokens.
  /// `cached_tokens` of the prompt are already in HBM (a prefix-cache hit): its prefill starts after them.
  bool add(const Request& r, uint32_t cached_tokens = 0);
  /// The next iteration, or false when nothing is waiting or running.
  bool plan(Plan& out);
  /// Applies a planned iteration that ended at `now_s`; appends the requests that finished to `finished`.
  /// `prefilled`, when given, gets the ids of requests whose prompt is now computed (their first token came out).
  void complete(const Plan& plan, double now_s, std::vector<FinishedRequest>& finished,
                std::vector<uint64_t>* prefilled = nullptr);

  /// Tokens still to compute or generate for every queued and running request (routing's load signal).
  uint64_t outstanding_tokens() const { return outstanding_; }
  size_t running() const { return running_.size(); }
  size_t waiting() const { return waiting_.size(); }
  int64_t free_blocks() const { return free_blocks_; }
  uint64_t preemptions() const { return preemptions_; }
  /// Preemptions that swapped (the rest recomputed).
  uint64_t swaps() const { return swaps_; }
  int64_t free_swap_blocks() const { return free_swap_blocks_; }
  int block_size() const { return limits_.block_size; }
  /// The request in a plan's slot (Plan::seqs).
  uint64_t id_of(uint32_t slot) const { return seqs_[slot].id; }
  bool idle() const { return running_.empty() && waiting_.empty(); }

 private:
  struct Seq {
    uint64_t id = 0;
    uint32_t prompt = 0, output = 0, generated = 0, computed = 0, cached = 0;
    int64_t blocks = 0;
    double arrival_s = 0, first_token_s = -1;
    uint32_t preemptions = 0;
    bool swapped = false;  // its blocks are in host memory: it resumes where it stopped
    uint32_t total() const { return prompt + generated; }  // tokens whose KV the next emitted token needs
  };
  int64_t blocks_for(uint64_t tokens) const { return static_cast<int64_t>((tokens + limits_.block_size - 1) / limits_.block_size); }
  void preempt(uint32_t slot, Plan& plan);
  void release(uint32_t slot);

  Limits limits_;
  std::vector<Seq> seqs_;
  std::vector<uint32_t> free_slots_;
  std::vector<uint32_t> running_;  // slots in admission order
  std::deque<uint32_t> waiting_;
  int64_t free_blocks_ = 0;
  uint64_t outstanding_ = 0;
  uint64_t preemptions_ = 0;
  uint64_t swaps_ = 0;
  int64_t free_swap_blocks_ = 0;
  RandomStream accept_rng_;
};

}  // namespace lcsim::inf
