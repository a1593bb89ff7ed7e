#include "workloads/inference/fleet.h"

#include <algorithm>

namespace lcsim::inf {

const Registry<policy::AdmissionFactory>& admission_policies() {
  static const Registry<policy::AdmissionFactory> r = [] {
    Registry<policy::AdmissionFactory> reg("admission policy");
    policy::register_admission_policies(reg);
    return reg;
  }();
  return r;
}

const Registry<policy::AutoscalerFactory>& autoscalers() {
  static const Registry<policy::AutoscalerFactory> r = [] {
    Registry<policy::AutoscalerFactory> reg("autoscaler");
    policy::register_autoscalers(reg);
    return reg;
  }();
  return r;
}

void AdmissionConfig::visit(Section& s) {
  s.choice("policy", policy, admission_policies().names(), "admission policy (policies/admission.h)");
  s.field("ttft_slack", ttft_slack, "slo_ttft: reject when the predicted TTFT exceeds this x slo.ttft",
          Range::positive());
  s.field("max_queue", max_queue, "max_queue: reject when the instance has this many requests waiting",
          Range::at_least(0));
  s.choice("on_refuse", on_refuse, {"reject", "defer"},
           "what happens to a request the policy refuses: rejected at once, or deferred to the deployment's queue "
           "and offered again after every iteration until admitted or max_defer has passed (timed out)");
  s.field("max_defer", max_defer, "defer: the longest a request waits deferred; 0s = ttft_slack x slo.ttft",
          Range::at_least(0));
  if (s.mode() == Section::Mode::kParse && on_refuse == "defer" && policy == "always") {
    s.error("on_refuse", "defer needs a policy that refuses (max_queue or slo_ttft); policy is 'always'");
  }
}

void AutoscalingConfig::visit(Section& s) {
  s.choice("policy", policy, autoscalers().names(), "instance autoscaler (policies/autoscaling.h)");
  s.field("min_instances", min_instances, "instances at least", Range::at_least(1));
  s.field("max_instances", max_instances, "instances at most; 0 = as many as the allocation holds",
          Range::at_least(0));
  s.field("initial_instances", initial_instances, "instances serving at the start; 0 = min_instances",
          Range::at_least(0));
  s.field("target_utilization", target_utilization, "target_utilization: busy share to hold each instance at",
          Range::between(0.01, 1));
  s.field("target_concurrency", target_concurrency, "concurrency: requests in flight per instance",
          Range::positive());
  s.field("interval", interval, "how often the autoscaler looks", Range::positive());
  s.field("scale_up_cooldown", scale_up_cooldown, "no scale-up sooner than this after the last one",
          Range::at_least(0));
  s.field("scale_down_cooldown", scale_down_cooldown, "no scale-down sooner than this after any change",
          Range::at_least(0));
  s.choice("weights_from", weights_from, weight_source_names(),
           "storage tier a new instance loads its weights from (cluster.storage; local_nvme: the node template's)");
  s.field("weights_read_size", weights_read_size, "bytes per weight read request (a checkpoint shard)",
          Range::positive());
  s.field("startup_overhead", startup_overhead,
          "fixed start-up time on top of loading the weights (engine start, CUDA graphs); default 0: not modelled",
          Range::at_least(0));
  if (s.mode() != Section::Mode::kParse) return;
  if (max_instances > 0 && max_instances < min_instances) s.error("max_instances", "must be at least min_instances");
  if (initial_instances > 0 && initial_instances < min_instances) {
    s.error("initial_instances", "must be at least min_instances");
  }
  if (max_instances > 0 && initial_instances > max_instances) {
    s.error("initial_instances", "must be at most max_instances");
  }
}

const Registry<storage::TierFactory>& storage_tiers() {
  static const Registry<storage::TierFactory> r = [] {
    Registry<storage::TierFactory> reg("storage tier");
    storage::register_storage_tiers(reg);
    return reg;
  }();
  return r;
}

const std::vector<std::string>& weight_source_names() {
  static const std::vector<std::string> names = {"local_nvme", "parallel_fs", "object_store"};
  return names;
}

double startup_seconds(const storage::StorageTier& tier, Bytes weights, Bytes read_size, Duration overhead) {
  const Bandwidth rate = tier.throughput(storage::Op::kRead, read_size, 1);
  LCSIM_ASSERT(rate.bps() > 0, "storage tier " + tier.kind() + " reads at 0 B/s");
  return weights.bytes() / rate.bps() + overhead.s();
}

void Fleet::reset(int instances, int active) { reset({{instances, active}}); }

void Fleet::reset(const std::vector<std::pair<int, int>>& pools) {
  states_.clear();
  for (const auto& [instances, active] : pools) {
    for (int i = 0; i < instances; ++i) states_.push_back(i < active ? InstanceState::kActive : InstanceState::kOff);
  }
  history_.assign(1, {0.0, count(InstanceState::kActive)});
  held_s_ = since_s_ = 0;
  held_ = count(InstanceState::kActive);
  gpus_.assign(states_.size(), 1.0);
  held_gpu_s_ = 0;
  count_held_gpus();
  start_gpus_ = held_gpus_;
}

void Fleet::set_gpus(const std::vector<double>& gpus) {
  LCSIM_ASSERT(gpus.size() == states_.size(), "one GPU count per instance");
  gpus_ = gpus;
  count_held_gpus();
  start_gpus_ = held_gpus_;
}

void Fleet::count_held_gpus() {
  held_gpus_ = 0;
  for (size_t i = 0; i < states_.size(); ++i) held_gpus_ += states_[i] == InstanceState::kOff ? 0.0 : gpus_[i];
}

uint32_t Fleet::count(InstanceState s) const {
  return static_cast<uint32_t>(std::count(states_.begin(), states_.end(), s));
}

uint32_t Fleet::count(InstanceState s, uint32_t first, uint32_t end) const {
  return static_cast<uint32_t>(std::count(states_.begin() + first, states_.begin() + end, s));
}

void Fleet::set(uint32_t i, InstanceState s, double now_s) {
  held_s_ += held_ * (now_s - since_s_);
  held_gpu_s_ += held_gpus_ * (now_s - since_s_);
  since_s_ = now_s;
  states_[i] = s;
  held_ = static_cast<uint32_t>(states_.size()) - count(InstanceState::kOff);
  count_held_gpus();
  const uint32_t active = count(InstanceState::kActive);
  if (history_.back().second != active) {
    if (history_.back().first == now_s) {
      history_.back().second = active;
    } else {
      history_.push_back({now_s, active});
    }
  }
}

double Fleet::instance_seconds(double now_s) const { return held_s_ + held_ * (now_s - since_s_); }

}  // namespace lcsim::inf
