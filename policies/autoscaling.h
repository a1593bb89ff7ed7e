// Instance autoscaling for inference serving: how many serving instances a deployment should have, from what it
// saw over the last evaluation interval. Pure functions of that snapshot (no engine headers), so a real
// controller (a Kubernetes HPA / KEDA / Knative autoscaler) can call the same code.
//   none:               keep the starting count.
//   target_utilization: desired = ceil(active x utilization / target_utilization), the Kubernetes HPA rule
//                       (utilization: the share of the interval the active instances ran iterations).
//   concurrency:        desired = ceil(requests in flight (running + waiting) / target_concurrency), Knative's
//                       concurrency target.
// Every policy is clamped to [min_instances, max_instances], and changes only after a cooldown since the last
// change in the same direction (scale-up cooldown short, scale-down long, as HPA's stabilization windows).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "sim/registry.h"

namespace lcsim::policy {

/// What the autoscaler sees at an evaluation.
struct ScalingSnapshot {
  double now_s = 0;
  uint32_t active = 0;          // instances serving
  uint32_t starting = 0;        // instances loading their weights
  double utilization = 0;       // busy share of the active instances over the last interval
  uint64_t in_flight = 0;       // requests running or waiting, over the active instances
  double arrivals_per_s = 0;    // over the last interval
};

struct AutoscalerOptions {
  uint32_t min_instances = 1;
  uint32_t max_instances = 1;
  double target_utilization = 0.7;
  double target_concurrency = 32;
  double scale_up_cooldown_s = 30;
  double scale_down_cooldown_s = 120;
};

class Autoscaler {
 public:
  explicit Autoscaler(const AutoscalerOptions& o) : o_(o) {}
  virtual ~Autoscaler() = default;
  /// How many instances (active + starting) to have now: the policy's wish, clamped to [min, max], unchanged
  /// while the cooldown since the last change in that direction runs.
  uint32_t decide(const ScalingSnapshot& s);

 protected:
  /// The policy's wish, before limits and cooldowns.
  virtual double wanted(const ScalingSnapshot& s) const = 0;
  const AutoscalerOptions& options() const { return o_; }

 private:
  AutoscalerOptions o_;
  double last_up_s_ = -1e300, last_down_s_ = -1e300;
};

using AutoscalerFactory = std::unique_ptr<Autoscaler> (*)(const AutoscalerOptions&);
void register_autoscalers(Registry<AutoscalerFactory>& r);

}  // namespace lcsim::policy
