#include "policies/autoscaling.h"

#include <algorithm>
#include <cmath>

namespace lcsim::policy {

uint32_t Autoscaler::decide(const ScalingSnapshot& s) {
  const uint32_t have = s.active + s.starting;
  const double w = wanted(s);
  const double lo = o_.min_instances, hi = std::max(o_.min_instances, o_.max_instances);
  const uint32_t want = static_cast<uint32_t>(std::clamp(std::ceil(w - 1e-9), lo, hi));
  if (want > have) {
    if (s.now_s - last_up_s_ < o_.scale_up_cooldown_s) return have;
    last_up_s_ = s.now_s;
    return want;
  }
  if (want < have) {
    // Scaling down waits for the cooldown after any change: a fresh instance gets time to take load.
    if (s.now_s - std::max(last_down_s_, last_up_s_) < o_.scale_down_cooldown_s) return have;
    last_down_s_ = s.now_s;
    return want;
  }
  return have;
}

namespace {

class Fixed final : public Autoscaler {
 public:
  using Autoscaler::Autoscaler;

 protected:
  double wanted(const ScalingSnapshot& s) const override { return s.active + s.starting; }
};

class TargetUtilization final : public Autoscaler {
 public:
  using Autoscaler::Autoscaler;

 protected:
  double wanted(const ScalingSnapshot& s) const override {
    // Instances still loading count as they will be: busy at the target.
    return s.active * s.utilization / options().target_utilization + s.starting;
  }
};

class Concurrency final : public Autoscaler {
 public:
  using Autoscaler::Autoscaler;

 protected:
  double wanted(const ScalingSnapshot& s) const override {
    return static_cast<double>(s.in_flight) / options().target_concurrency;
  }
};

template <class T>
std::unique_ptr<Autoscaler> make(const AutoscalerOptions& o) {
  return std::make_unique<T>(o);
}

}  // namespace

void register_autoscalers(Registry<AutoscalerFactory>& r) {
  r.add("none", "keep the starting instance count", make<Fixed>);
  r.add("target_utilization", "ceil(active x busy share / target_utilization) (Kubernetes HPA)",
        make<TargetUtilization>);
  r.add("concurrency", "ceil(requests in flight / target_concurrency) (Knative)", make<Concurrency>);
}

}  // namespace lcsim::policy
