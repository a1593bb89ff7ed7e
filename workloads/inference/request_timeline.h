// Served requests on the timeline, with their dependency edges. A traced request is a span named "request <id>"
// on its instance's first GPU's "cpu" row (SpanKind::kHost: the serving engine's own work, which no iteration
// uses), from its arrival to its last token, with a nested "TTFT" span from its arrival to its first token; args:
// the instance, tokens in and out, TTFT and TPOT in ms, preemptions. Disaggregated, the prefill instance shows
// "request <id> (prefill)" until the hand-off, and the decode instance "request <id>" from the KV cache's arrival.
// The request's dependency chain (SpanEvent::flow) runs from the request span through its KV-cache fetch (if any)
// to every batch iteration that computed it, on each instance it was traced on, so the timeline draws the edges
// request -> fetch -> batch -> batch -> ... (docs/gui.md's flow format).
// A span is a step of one chain only, so an instance traces one request at a time: a request is traced when it
// arrives at (or, disaggregated, is handed to) an instance that traces none, until `max_requests` have been.
// That bounds the extra events for any run length (workload.timeline_requests; docs/inference.md).
#pragma once

#include <cstdint>
#include <vector>

#include "sim/trace.h"
#include "workloads/inference/batch_scheduler.h"

namespace lcsim::inf {

class RequestTimeline {
 public:
  /// Spans go to GPU ranks below `traced_ranks` only (the run's outputs.timeline_ranks).
  RequestTimeline(uint64_t max_requests, size_t instances, uint32_t job, uint32_t traced_ranks);
  /// Request `id` comes to `instance` at `now_s` (arrival, or a disaggregated hand-off's arrival): true when the
  /// instance traces it from now on. A request already traced elsewhere does not count against the budget again.
  /// A traced request's arrival is marked at once on GPU `rank`'s row (a zero-length "arrival" span), so that the
  /// row exists before the batches that follow: a step's ties in time are broken by row order.
  bool claim(const Tracer& tracer, uint32_t instance, uint32_t rank, uint64_t id, double now_s);
  /// The request leaves `instance` unfinished and untraced there (rejected, refused).
  void release(uint32_t instance, uint64_t id);
  /// The chain of request `id` when `instance` traces it, else 0.
  uint64_t chain_at(uint32_t instance, uint64_t id) const;
  /// The chain of the traced request in this planned iteration of `instance`, 0 when it is not in the batch.
  uint64_t chain_in(uint32_t instance, const BatchScheduler& sched, const BatchScheduler::Plan& plan) const;
  /// Request `f.id` finished on `instance` (`f` holds its whole latencies): its span goes to GPU `rank`'s row.
  void finished(const Tracer& tracer, uint32_t instance, uint32_t rank, const FinishedRequest& f);
  /// Disaggregated: request `id` leaves prefill instance `instance` at `now_s` for the decode pool.
  void handed_off(const Tracer& tracer, uint32_t instance, uint32_t rank, uint64_t id, double now_s);
  uint64_t traced() const { return traced_; }
  /// The flow id of request `id`'s chain (tagged to stay clear of other emitters' chains).
  static uint64_t chain(uint64_t id) { return (uint64_t{0x5e} << 56) | (id & ((uint64_t{1} << 56) - 1)); }

 private:
  struct Slot {
    uint64_t id = UINT64_MAX;  // the request traced, UINT64_MAX: none
    double since_s = 0;        // when it came to this instance
    bool first = true;         // its chain starts here (it arrived here, not by a hand-off)
  };
  void emit(const Tracer& tracer, const Slot& s, uint32_t rank, double end_s, const std::string& name,
            std::vector<std::pair<std::string, std::string>> args, double first_token_s) const;
  uint64_t max_;
  uint32_t job_;
  uint32_t traced_ranks_;
  uint64_t traced_ = 0;
  std::vector<Slot> slot_;
  std::vector<uint64_t> handed_;  // traced requests in a hand-off (few: one per prefill instance at most)
};

}  // namespace lcsim::inf
