// Admission control for inference serving: whether a request the router has placed on an instance is served or
// rejected at the door (an HTTP 429 / 503, as vLLM's and SGLang's front ends return under overload). Pure
// functions of the request and the instance's queue (no engine headers), so a real gateway can call the same code.
//   always:   every request is served (the default; only requests that can never fit are turned away).
//   max_queue: reject when the instance already has `max_queue` requests waiting (a bounded queue).
//   slo_ttft: reject when the predicted time to first token exceeds the TTFT objective x `ttft_slack`; the
//             prediction is the prompt tokens queued ahead of the request plus its own uncached prompt, over the
//             instance's prefill rate (tokens/s at a full prefill batch), plus the iteration now running. Serving
//             a request that will miss its SLO anyway only delays the ones behind it (goodput-optimal admission,
//             as in DistServe's and Llumnix's SLO-aware schedulers).
// Deferral instead of rejection (DeferralQueue): a request a policy turns away can wait in the deployment's queue
// with a deadline and be offered again (to the instance the router picks then) until a policy admits it or the
// deadline passes (it times out: a 504 rather than a 429). A request offered again has waited: slo_ttft counts
// the wait into its prediction, so it is admitted only if it can still meet the objective.
#pragma once

#include <cstdint>
#include <memory>
#include <deque>
#include <string>
#include <vector>

#include "sim/registry.h"

namespace lcsim::policy {

/// What an admission policy sees of the instance a request was routed to.
struct AdmissionQueue {
  uint32_t running = 0;                // sequences in the batch
  uint32_t waiting = 0;                // requests queued (not yet admitted to the batch)
  uint64_t queued_prompt_tokens = 0;   // prompt tokens still to prefill, of running and waiting requests
  double prefill_tokens_per_s = 0;     // prompt tokens/s the queue gets (see docs/inference.md)
  double busy_for_s = 0;               // what is left of the iteration now running (0 when idle)
};

/// What it sees of the request.
struct AdmissionRequest {
  uint32_t input_tokens = 0;
  uint32_t output_tokens = 0;
  uint32_t cached_tokens = 0;  // prompt tokens found in the prefix cache (not computed)
  double waited_s = 0;         // time it has waited deferred already (0 on arrival)
};

struct AdmissionDecision {
  bool admit = true;
  double predicted_ttft_s = 0;  // slo_ttft: the prediction it decided on (0 for the others)
};

struct AdmissionOptions {
  double ttft_slo_s = 2.0;
  double ttft_slack = 1.0;  // slo_ttft: reject above slack x the SLO
  uint32_t max_queue = 64;  // max_queue: waiting requests at most
};

class AdmissionPolicy {
 public:
  virtual ~AdmissionPolicy() = default;
  virtual AdmissionDecision decide(const AdmissionRequest& r, const AdmissionQueue& q) = 0;
};

using AdmissionFactory = std::unique_ptr<AdmissionPolicy> (*)(const AdmissionOptions&);
void register_admission_policies(Registry<AdmissionFactory>& r);

/// slo_ttft's prediction: (queued prompt tokens + the request's uncached prompt) / prefill rate + busy_for_s, plus
/// the time the request has waited deferred.
double predicted_ttft_s(const AdmissionRequest& r, const AdmissionQueue& q);

/// Requests waiting to be offered again, first come first served, each with its deadline. Every entry gets the
/// same maximum wait, so the queue is in deadline order too.
class DeferralQueue {
 public:
  struct Entry {
    uint64_t id = 0;
    double arrival_s = 0;
    double deadline_s = 0;
  };
  void push(const Entry& e);
  bool empty() const { return q_.empty(); }
  size_t size() const { return q_.size(); }
  const Entry& front() const { return q_.front(); }
  /// The front was admitted: it leaves the queue (counted as served).
  void pop_served();
  /// Removes the entries whose deadline is at or before `now_s` (counted as timed out); returns them in order.
  std::vector<Entry> expire(double now_s);
  uint64_t deferred() const { return deferred_; }
  uint64_t served() const { return served_; }
  uint64_t timed_out() const { return timed_out_; }

 private:
  std::deque<Entry> q_;
  uint64_t deferred_ = 0, served_ = 0, timed_out_ = 0;
};

}  // namespace lcsim::policy
