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
#pragma once

#include <cstdint>
#include <memory>
#include <string>

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

/// slo_ttft's prediction: (queued prompt tokens + the request's uncached prompt) / prefill rate + busy_for_s.
double predicted_ttft_s(const AdmissionRequest& r, const AdmissionQueue& q);

}  // namespace lcsim::policy
