#include "policies/admission.h"

#include <limits>

namespace lcsim::policy {

double predicted_ttft_s(const AdmissionRequest& r, const AdmissionQueue& q) {
  const double own = r.input_tokens > r.cached_tokens ? static_cast<double>(r.input_tokens - r.cached_tokens) : 0.0;
  if (q.prefill_tokens_per_s <= 0) return std::numeric_limits<double>::infinity();
  return (static_cast<double>(q.queued_prompt_tokens) + own) / q.prefill_tokens_per_s + q.busy_for_s + r.waited_s;
}

void DeferralQueue::push(const Entry& e) {
  q_.push_back(e);
  ++deferred_;
}

void DeferralQueue::pop_served() {
  q_.pop_front();
  ++served_;
}

std::vector<DeferralQueue::Entry> DeferralQueue::expire(double now_s) {
  std::vector<Entry> out;
  while (!q_.empty() && q_.front().deadline_s <= now_s) {
    out.push_back(q_.front());
    q_.pop_front();
    ++timed_out_;
  }
  return out;
}

namespace {

class Always final : public AdmissionPolicy {
 public:
  AdmissionDecision decide(const AdmissionRequest&, const AdmissionQueue&) override { return {}; }
};

class MaxQueue final : public AdmissionPolicy {
 public:
  explicit MaxQueue(const AdmissionOptions& o) : max_(o.max_queue) {}
  AdmissionDecision decide(const AdmissionRequest&, const AdmissionQueue& q) override {
    return {q.waiting < max_, 0.0};
  }

 private:
  uint32_t max_;
};

class SloTtft final : public AdmissionPolicy {
 public:
  explicit SloTtft(const AdmissionOptions& o) : limit_s_(o.ttft_slo_s * o.ttft_slack) {}
  AdmissionDecision decide(const AdmissionRequest& r, const AdmissionQueue& q) override {
    const double t = predicted_ttft_s(r, q);
    return {t <= limit_s_, t};
  }

 private:
  double limit_s_;
};

}  // namespace

void register_admission_policies(Registry<AdmissionFactory>& r) {
  r.add("always", "serve every request that fits the instance",
        [](const AdmissionOptions&) -> std::unique_ptr<AdmissionPolicy> { return std::make_unique<Always>(); });
  r.add("max_queue", "reject when the instance already has max_queue requests waiting",
        [](const AdmissionOptions& o) -> std::unique_ptr<AdmissionPolicy> { return std::make_unique<MaxQueue>(o); });
  r.add("slo_ttft",
        "reject when the predicted TTFT (queued prompt tokens / prefill rate) exceeds ttft_slack x the TTFT SLO",
        [](const AdmissionOptions& o) -> std::unique_ptr<AdmissionPolicy> { return std::make_unique<SloTtft>(o); });
}

}  // namespace lcsim::policy
