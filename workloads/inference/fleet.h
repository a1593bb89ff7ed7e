// Admission and autoscaling settings of a serving deployment, and the start-up time of a new instance. The
// decisions themselves are policies (policies/admission.h, policies/autoscaling.h); this file holds what the
// workload needs around them: their config sections, and how long an instance takes to come up, from loading its
// weights out of a storage tier (models/storage/tier.h): weight bytes of the instance / the tier's read rate for
// one client (the node the instance sits on), plus a fixed start-up overhead. docs/inference.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/storage/tier.h"
#include "policies/admission.h"
#include "policies/autoscaling.h"
#include "sim/config.h"
#include "sim/units.h"

namespace lcsim::inf {

struct AdmissionConfig {
  std::string policy = "always";
  double ttft_slack = 1.0;  // slo_ttft: reject above this x slo.ttft
  int max_queue = 64;       // max_queue: waiting requests per instance at most
  std::string on_refuse = "reject";  // reject, defer (wait in the deployment's queue until admitted or timed out)
  Duration max_defer;                // defer: the longest wait; 0 = ttft_slack x slo.ttft
  void visit(Section& s);
};

struct AutoscalingConfig {
  std::string policy = "none";
  int min_instances = 1;
  int max_instances = 0;      // 0: as many as the allocation holds (or `instances`)
  int initial_instances = 0;  // 0: min_instances
  double target_utilization = 0.7;
  double target_concurrency = 32;
  Duration interval = Duration::seconds(10);
  Duration scale_up_cooldown = Duration::seconds(30);
  Duration scale_down_cooldown = Duration::seconds(120);
  std::string weights_from = "local_nvme";  // storage tier a new instance loads its weights from
  Bytes weights_read_size = Bytes::gib(4);  // bytes per read request (a safetensors shard)
  Duration startup_overhead;                // engine start, memory profiling, CUDA graph capture: not modelled (0)
  void visit(Section& s);
  bool on() const { return policy != "none"; }
};

const std::vector<std::string>& weight_source_names();
/// The policies by name (policies/admission.h, policies/autoscaling.h).
const Registry<policy::AdmissionFactory>& admission_policies();
const Registry<policy::AutoscalerFactory>& autoscalers();
/// The storage tiers by name (models/storage/tier.h).
const Registry<storage::TierFactory>& storage_tiers();  // local_nvme, parallel_fs, object_store

/// Seconds for one instance to come up: `weights` (all of the instance's GPUs) over the tier's read rate for one
/// client issuing `read_size` requests, plus `overhead`.
double startup_seconds(const storage::StorageTier& tier, Bytes weights, Bytes read_size, Duration overhead);

/// An instance of a deployment under autoscaling.
enum class InstanceState : uint8_t { kOff, kStarting, kActive, kDraining };

/// The instances' states and the count over time (for the metrics and tests).
class Fleet {
 public:
  void reset(int instances, int active);
  /// Pools in order, each (instances, active at the start): its first `active` instances are active.
  void reset(const std::vector<std::pair<int, int>>& pools);
  InstanceState state(uint32_t i) const { return states_[i]; }
  void set(uint32_t i, InstanceState s, double now_s);
  uint32_t count(InstanceState s) const;
  /// Instances in [first, end) in state `s`.
  uint32_t count(InstanceState s, uint32_t first, uint32_t end) const;
  size_t size() const { return states_.size(); }
  /// (time, active instances), one entry per change.
  const std::vector<std::pair<double, uint32_t>>& history() const { return history_; }
  /// Instance-seconds active or starting (what a provider bills), up to `now_s`.
  double instance_seconds(double now_s) const;
  /// Each instance's GPUs (instances of a disaggregated deployment's pools differ); 1 each until set. Call after
  /// reset(), before any set().
  void set_gpus(const std::vector<double>& gpus);
  /// GPU-seconds held (active, starting or draining) up to `now_s`, and the GPUs held at the start.
  double gpu_seconds(double now_s) const { return held_gpu_s_ + held_gpus_ * (now_s - since_s_); }
  double gpus_held_at_start() const { return start_gpus_; }

 private:
  std::vector<InstanceState> states_;
  std::vector<std::pair<double, uint32_t>> history_;
  double held_s_ = 0, since_s_ = 0;
  uint32_t held_ = 0;  // active + starting + draining since since_s_
  std::vector<double> gpus_;  // per instance
  double held_gpu_s_ = 0, held_gpus_ = 0, start_gpus_ = 0;
  void count_held_gpus();
};

}  // namespace lcsim::inf
