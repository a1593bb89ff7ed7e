// Deferral instead of rejection (admission.on_refuse: defer; policies/admission.h's DeferralQueue): a request the
// admission policy refuses waits in the deployment's queue, first come first served, and the queue's head is offered
// again after every iteration of any instance (to the instance the router picks then, on its whole prompt and with
// its wait counted in slo_ttft's prediction) until it is admitted or its deadline (arrival + max_defer) passes and
// it times out. docs/inference.md.
#include "workloads/inference/serving.h"

namespace lcsim::inf {

void InferenceServing::defer(const Request& r) {
  const double max_defer = config_.admission.max_defer.s() > 0 ? config_.admission.max_defer.s()
                                                                 : config_.admission.ttft_slack * config_.slo.ttft.s();
  const bool was_empty = deferral_.empty();
  deferral_.push({r.id, r.arrival_s, r.arrival_s + max_defer});
  deferred_requests_[r.id] = r;
  // One timer at a time, at the front's deadline (the queue is in deadline order).
  if (was_empty) {
    defer_timer_.cancel();
    defer_timer_ = ctx_->engine.at(Duration::seconds(deferral_.front().deadline_s), [this] { expire_deferred(); });
  }
}

void InferenceServing::retry_deferred() {
  const double now = ctx_->engine.now().s();
  while (!deferral_.empty()) {
    const policy::DeferralQueue::Entry e = deferral_.front();
    auto it = deferred_requests_.find(e.id);
    LCSIM_ASSERT(it != deferred_requests_.end(), "a deferred request the queue does not know");
    if (!place(it->second, true, now - e.arrival_s)) break;  // head of line: the rest wait behind it
    deferral_.pop_served();
    deferred_requests_.erase(it);
  }
  // A timer left for a front that was served fires early and finds nothing due: expire_deferred() moves it on.
  if (deferral_.empty()) defer_timer_.cancel();
}

void InferenceServing::expire_deferred() {
  for (const auto& e : deferral_.expire(ctx_->engine.now().s())) deferred_requests_.erase(e.id);
  if (!deferral_.empty()) {
    defer_timer_ = ctx_->engine.at(Duration::seconds(deferral_.front().deadline_s), [this] { expire_deferred(); });
  }
  maybe_finish();
}

}  // namespace lcsim::inf
