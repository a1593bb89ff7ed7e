// Autoscaling of a serving deployment (policies/autoscaling.h, fleet.h): every instance exists from the start;
// those beyond the initial count are off until the autoscaler starts them (loading the weights from a storage tier
// takes startup_s_). Colocated, one pool; disaggregated (disaggregation.h), the prefill and the decode pool scale
// each on its own signal: the prefill pool on its arrivals, requests in flight and busy time, the decode pool on
// the requests handed to it, its own requests in flight and its busy time, with the same settings per pool.
// Routers see only the active instances of their pool. docs/inference.md.
#include <algorithm>

#include "workloads/inference/serving_instance.h"

namespace lcsim::inf {

void InferenceServing::start_autoscaling() {
  const auto& as = config_.autoscaling;
  const int n = static_cast<int>(instances_.size());
  const int front = static_cast<int>(front_);
  autoscaler_.reset();
  decode_autoscaler_.reset();
  scale_ups_ = scale_downs_ = 0;
  arrived_at_tick_ = handed_off_ = handed_off_at_tick_ = 0;
  busy_at_tick_.assign(static_cast<size_t>(n), 0.0);
  if (!as.on()) {
    fleet_.reset(n, n);
    return;
  }
  const int initial = as.initial_instances > 0 ? as.initial_instances : as.min_instances;
  auto make = [&as](int pool) {
    const int max = as.max_instances > 0 ? as.max_instances : pool;
    return autoscalers().get(as.policy).factory(
        {static_cast<uint32_t>(as.min_instances), static_cast<uint32_t>(max), as.target_utilization,
         as.target_concurrency, as.scale_up_cooldown.s(), as.scale_down_cooldown.s()});
  };
  if (decode_router_) {
    fleet_.reset({{front, initial}, {n - front, initial}});
    autoscaler_ = make(front);
    decode_autoscaler_ = make(n - front);
  } else {
    fleet_.reset(n, initial);
    autoscaler_ = make(n);
  }
  std::vector<double> gpus;
  for (const auto& inst : instances_) gpus.push_back(static_cast<double>(inst->gpus.size()));
  fleet_.set_gpus(gpus);
  front_peak_ = fleet_.count(InstanceState::kActive, 0, front_);
  decode_peak_ = fleet_.count(InstanceState::kActive, front_, static_cast<uint32_t>(n));
  if (!storage_ || !node_) {
    throw InputError("autoscaling: the run gave the workload no cluster storage to load weights from");
  }
  const storage::TierContext tc{storage_, node_};
  const auto tier = storage_tiers().get(as.weights_from).factory(tc);
  if (tier->figures().read.bps() <= 0) {
    throw InputError("autoscaling.weights_from: " + as.weights_from +
                     " has no read bandwidth in this cluster (configure cluster.storage or the node's NVMe)");
  }
  // Every instance holds the whole model, whatever its pool's tensor parallelism.
  startup_s_ = startup_seconds(*tier, Bytes::of(instances_.front()->cost.weight_bytes_per_gpu() * slots_.front().gpus()),
                               as.weights_read_size, as.startup_overhead);
  tick_ = ctx_->engine.after(as.interval, [this] { scale(); });
}

uint32_t InferenceServing::route(const policy::RouteRequest& rr) {
  if (!autoscaler_) return router_->route(rr, loads_);
  // The router sees the active instances only (starting ones have no weights yet, draining ones take no more).
  route_loads_.clear();
  route_map_.clear();
  for (uint32_t i = 0; i < loads_.size(); ++i) {
    if (fleet_.state(i) != InstanceState::kActive) continue;
    route_loads_.push_back(loads_[i]);
    route_map_.push_back(i);
  }
  LCSIM_ASSERT(!route_loads_.empty(), "autoscaling left no active instance");
  return route_map_[router_->route(rr, route_loads_)];
}

uint32_t InferenceServing::route_decode(const policy::RouteRequest& rr) {
  if (!decode_autoscaler_) return front_ + decode_router_->route(rr, decode_loads_);
  route_loads_.clear();
  route_map_.clear();
  for (uint32_t k = 0; k < decode_loads_.size(); ++k) {
    if (fleet_.state(front_ + k) != InstanceState::kActive) continue;
    route_loads_.push_back(decode_loads_[k]);
    route_map_.push_back(front_ + k);
  }
  LCSIM_ASSERT(!route_loads_.empty(), "autoscaling left no active decode instance");
  return route_map_[decode_router_->route(rr, route_loads_)];
}

double InferenceServing::busy_total(uint32_t i, double now) const {
  const Instance& inst = *instances_[i];
  return inst.busy_s + (inst.busy ? now - inst.busy_since : 0.0);
}

void InferenceServing::scale() {
  const uint32_t n = static_cast<uint32_t>(instances_.size());
  scale_pool(0, front_, *autoscaler_, arrived_, arrived_at_tick_, front_peak_);
  if (decode_autoscaler_) scale_pool(front_, n, *decode_autoscaler_, handed_off_, handed_off_at_tick_, decode_peak_);
  if (ctx_->tracer.enabled()) {
    ctx_->tracer.counter({"deployment", "active instances", ctx_->engine.now(),
                          static_cast<double>(fleet_.count(InstanceState::kActive))});
  }
  if (!finished_called_) tick_ = ctx_->engine.after(config_.autoscaling.interval, [this] { scale(); });
}

void InferenceServing::scale_pool(uint32_t first, uint32_t end, policy::Autoscaler& autoscaler, uint64_t arrived,
                                  uint64_t& arrived_at_tick, uint32_t& peak) {
  const double now = ctx_->engine.now().s();
  const double interval = config_.autoscaling.interval.s();
  policy::ScalingSnapshot snap;
  snap.now_s = now;
  snap.active = fleet_.count(InstanceState::kActive, first, end);
  snap.starting = fleet_.count(InstanceState::kStarting, first, end);
  double busy = 0;
  for (uint32_t i = first; i < end; ++i) {
    const double b = busy_total(i, now);
    if (fleet_.state(i) == InstanceState::kActive) {
      busy += b - busy_at_tick_[i];
      snap.in_flight += instances_[i]->sched.running() + instances_[i]->sched.waiting();
    }
    busy_at_tick_[i] = b;
  }
  snap.utilization = snap.active > 0 ? busy / (interval * snap.active) : 0.0;
  snap.arrivals_per_s = static_cast<double>(arrived - arrived_at_tick) / interval;
  arrived_at_tick = arrived;
  const uint32_t want = autoscaler.decide(snap);
  uint32_t have = snap.active + snap.starting;
  // Up: the lowest-numbered instances that are off (or draining: they are warm and stay) come up.
  for (uint32_t i = first; i < end && have < want; ++i) {
    if (fleet_.state(i) == InstanceState::kDraining) {
      fleet_.set(i, InstanceState::kActive, now);
    } else if (fleet_.state(i) == InstanceState::kOff) {
      fleet_.set(i, InstanceState::kStarting, now);
      ctx_->engine.after(Duration::seconds(startup_s_), [this, i, first, end, &peak] {
        fleet_.set(i, InstanceState::kActive, ctx_->engine.now().s());
        busy_at_tick_[i] = busy_total(i, ctx_->engine.now().s());
        peak = std::max(peak, fleet_.count(InstanceState::kActive, first, end));
      });
    } else {
      continue;
    }
    ++have;
    ++scale_ups_;
  }
  peak = std::max(peak, fleet_.count(InstanceState::kActive, first, end));
  // Down: the highest-numbered active instances drain (finish what they hold, take nothing new); one stays.
  for (uint32_t i = end; i-- > first && have > want;) {
    if (fleet_.state(i) != InstanceState::kActive || fleet_.count(InstanceState::kActive, first, end) <= 1) continue;
    Instance& inst = *instances_[i];
    const bool holds = inst.busy || !inst.sched.idle() || inst.incoming > 0;
    fleet_.set(i, holds ? InstanceState::kDraining : InstanceState::kOff, now);
    --have;
    ++scale_downs_;
  }
}

}  // namespace lcsim::inf
