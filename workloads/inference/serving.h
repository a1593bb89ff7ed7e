// The inference_serving workload: a deployment of identical serving instances (each TP x PP GPUs of its job's
// allocation) replaying a request stream (a trace or synthetic arrivals), with a router in front
// (policies/request_routing.h), continuous batching and a paged KV cache in each instance (batch_scheduler.h) and
// iteration times from the hardware roofline (serving_model.h). Reports TTFT, TPOT and end-to-end latency, throughput,
// SLO attainment and goodput, GPU utilization; batches go on the timeline as compute spans of each instance's first
// GPU, with the instance's running and waiting sequences and free KV blocks as counters. docs/inference.md.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "policies/request_routing.h"
#include "workloads/inference/batch_scheduler.h"
#include "workloads/inference/disaggregation.h"
#include "workloads/inference/fleet.h"
#include "workloads/inference/kv_cache.h"
#include "workloads/inference/kv_fetch.h"
#include "workloads/inference/request_timeline.h"
#include "workloads/inference/request_trace.h"
#include "workloads/inference/serving_model.h"
#include "workloads/inference/speculative.h"
#include "workloads/workload.h"

namespace lcsim::inf {

/// Where requests come from.
struct RequestsConfig {
  std::string source = "trace";  // trace, synthetic
  std::string trace;             // path, relative to the scenario file
  std::string format = "mooncake";
  double rate_scale = 1;         // arrivals this many times as fast
  Duration window_start;         // replay [window_start, window_end) of the (scaled) trace
  Duration window_end;           // 0: to the end
  int64_t max_requests = 0;      // 0: every request in the window
  ArrivalConfig arrival;         // synthetic arrivals
  Duration diurnal_period = Duration::seconds(86400);
  Duration diurnal_peak = Duration::seconds(50400);
  std::string lengths_trace;     // synthetic: fit lengths to this trace (format `format`); empty: fixed lengths
  int input_tokens = 1024;       // synthetic without lengths_trace
  int output_tokens = 128;
  void visit(Section& s);
};

struct SloConfig {
  Duration ttft = Duration::seconds(2);
  Duration tpot = Duration::ms(100);
  void visit(Section& s);
};

/// Prefix reuse across KV-cache tiers (kv_cache.h). Bandwidths are per GPU (an instance loads its TP x PP shards
/// in parallel); 0 = from the cluster where lcsim models the path (the pool: the GPU's NIC).
struct KvCacheConfig {
  bool prefix_caching = false;
  int block_tokens = 512;  // tokens per hashed prefix block (the Mooncake traces' 512)
  std::string eviction = "lru";
  double hbm_share = 0.3;  // share of each instance's KV-cache blocks kept for cached prefixes
  Bytes dram_capacity;     // host memory per instance for cached prefixes (0: no DRAM tier)
  Bandwidth dram_bandwidth = Bandwidth::gbytes_per_s(51);
  Bytes ssd_capacity;      // local NVMe per instance (0: no SSD tier)
  Bandwidth ssd_bandwidth = Bandwidth::gbytes_per_s(6.9);
  Bytes pool_capacity;     // the pooled remote store, shared by every instance (0: none)
  Bandwidth pool_bandwidth;  // 0: the GPU's NIC bandwidth
  // Access latency of each tier below HBM, paid once per fetch before its bytes move (kv_fetch.h).
  Duration dram_latency = Duration::us(6);
  Duration ssd_latency = Duration::us(80);
  Duration pool_latency = Duration::us(170);
  void visit(Section& s);
};

struct ServingWorkloadConfig {
  ModelShape model;
  ServingConfig serving;
  int instances = 0;  // 0: as many as the allocation holds
  std::string routing = "least_outstanding_tokens";
  double affinity_slack = 2.0;
  RequestsConfig requests;
  SloConfig slo;
  KvCacheConfig kv_cache;
  DisaggregationConfig disaggregation;
  SpeculativeConfig speculative;
  AdmissionConfig admission;
  AutoscalingConfig autoscaling;
  int timeline_requests = 1000;  // requests traced on the timeline at most (request_timeline.h)
  void visit(Section& s);
};

/// The routers by name (policies/request_routing.h).
const Registry<policy::RouterFactory>& request_routers();

/// A request stream as configured (trace or synthetic, scaled and windowed, capped).
std::unique_ptr<RequestSource> open_requests(const RequestsConfig& c, const RngFactory& rng);

class InferenceServing final : public wl::Workload {
 public:
  InferenceServing();
  ~InferenceServing() override;
  void visit(Section& s) override;
  void copy_config(const wl::Workload& from) override { config_ = wl::same_type<InferenceServing>(from).config_; }
  void validate(const std::vector<wl::Gpu>& gpus, Section& s) override;
  void start(wl::RunContext& ctx) override;
  void report(MetricSet& m) const override;
  double progress() const override;
  std::string describe() const override;
  std::string check_inputs() const override;
  std::vector<std::string> table() const override;

  const ServingWorkloadConfig& config() const { return config_; }
  const std::vector<FinishedRequest>& finished() const { return finished_; }
  /// The cluster's storage and the node template the deployment sits on (scenarios/run.cc, before start()): an
  /// autoscaled instance loads its weights from there. Both outlive the run.
  void set_storage(const storage::StorageConfig& storage, const hw::NodeSpec& node);
  /// A restart's fresh deployment takes the first one's storage link (scenarios/restart.h).
  void link_storage_like(const InferenceServing& first);
  bool has_storage() const { return storage_ != nullptr && node_ != nullptr; }
  /// Autoscaling: (time, active instances) at every change; the start-up time of a new instance.
  const Fleet& fleet() const { return fleet_; }
  double startup_s() const { return startup_s_; }

 private:
  struct Instance;
  void arrive();
  void admit(uint32_t i, const Request& r, uint32_t cached_tokens);
  void kick(uint32_t i);
  void step(uint32_t i);
  void close_busy(uint32_t i);
  /// The timeline's queue counters of instance `i` (running, waiting, free KV blocks) after a change: held
  /// until time moves on, so that changes at one moment give one sample; emit_counters() writes the held one.
  void sample_counters(uint32_t i);
  void emit_counters(uint32_t i);
  void maybe_finish();
  void update_load(uint32_t i);
  // Disaggregation (disaggregation.h): a prefilled request's KV cache moves to a decode instance.
  void hand_off(uint32_t from, const FinishedRequest& prefilled);
  void fix_up_decoded(size_t first);
  void report_pools(MetricSet& m, double span) const;
  uint32_t route(const policy::RouteRequest& rr);
  bool admitted(uint32_t i, const Request& r, uint32_t cached, double waited_s);
  // Routes, looks up the prefix cache, asks admission and admits (or defers, or refuses) a request; a deferred one
  // offered `again` after `waited_s` returns false when it must wait on.
  bool place(Request r, bool again = false, double waited_s = 0);
  // Deferral instead of rejection (serving_deferral.cc).
  void defer(const Request& r);
  void retry_deferred();
  void expire_deferred();
  // Autoscaling (serving_scaling.cc): each pool (colocated, or prefill and decode) on its own signal.
  void start_autoscaling();
  void scale();
  void scale_pool(uint32_t first, uint32_t end, policy::Autoscaler& autoscaler, uint64_t arrived,
                  uint64_t& arrived_at_tick, uint32_t& peak);
  uint32_t route_decode(const policy::RouteRequest& rr);
  double busy_total(uint32_t i, double now) const;
  // KV-cache tier fetches as flows on the run's transfer model (serving_kv.cc, kv_fetch.h).
  void set_up_fetcher();
  void fetch_prefix(uint32_t i, const Request& r, uint32_t cached, const std::vector<uint32_t>& per_tier);

  ServingWorkloadConfig config_;
  wl::RunContext* ctx_ = nullptr;
  std::vector<std::unique_ptr<Instance>> instances_;
  std::unique_ptr<RequestSource> source_;
  std::unique_ptr<policy::RequestRouter> router_;
  std::vector<policy::InstanceLoad> loads_;
  Request pending_;
  bool source_done_ = false;
  bool finished_called_ = false;
  uint64_t arrived_ = 0, rejected_ = 0;
  std::vector<FinishedRequest> finished_;
  double first_arrival_s_ = -1, last_finish_s_ = 0;
  int gpus_per_instance_ = 1;
  int instance_count_ = 0;
  int64_t kv_blocks_ = 0;
  double weight_bytes_per_gpu_ = 0;
  std::string part_name_;
  // Prefix caching: the shared pool, each instance's tiers and cache, the hash ids of requests in flight.
  std::unique_ptr<KvTier> pool_;
  std::unordered_map<uint64_t, std::vector<uint64_t>> in_flight_ids_;  // looked up by request id only
  double prefix_tokens_saved_ = 0, prefix_load_s_ = 0;
  uint64_t loading_ = 0;  // requests whose prefix is still loading
  std::unique_ptr<KvFetcher> fetcher_;
  std::unique_ptr<RequestTimeline> timeline_;  // traced requests (request_timeline.h); null when no one wants spans
  std::vector<uint64_t> prefilled_;  // scratch: requests whose prefill just ended
  // Instances in allocation order; the router sees instances [0, front_) (colocated, or the prefill pool), the
  // decode router the rest.
  std::vector<InstanceSlot> slots_;
  uint32_t front_ = 0;
  std::unique_ptr<policy::RequestRouter> decode_router_;
  std::vector<policy::InstanceLoad> decode_loads_;
  struct Handoff {
    double arrival_s = 0, first_token_s = 0;
    uint32_t input_tokens = 0, output_tokens = 0, preemptions = 0;
  };
  std::unordered_map<uint64_t, Handoff> handoffs_;  // by request id: in the prefill pool, in transfer, decoding
  std::vector<FinishedRequest> prefill_done_;       // scratch: prefill-pool requests whose first token came out
  uint64_t in_transfer_ = 0;
  std::vector<double> transfer_s_;
  double transfer_bytes_ = 0;
  // Admission: its policy, each instance's prompt tokens still to prefill, each request's uncached prompt.
  std::unique_ptr<policy::AdmissionPolicy> admission_;
  std::vector<uint64_t> prompt_left_;
  std::unordered_map<uint64_t, uint32_t> prompt_of_;  // looked up by request id only
  std::vector<double> iteration_end_s_;
  double prefill_tokens_per_s_ = 0;  // a full prefill batch's rate
  std::vector<double> prefill_rate_;  // each instance's: averaged over the iterations that left a queue
  uint64_t refused_ = 0;  // rejected by the admission policy
  policy::DeferralQueue deferral_;  // admission.on_refuse: defer
  std::unordered_map<uint64_t, Request> deferred_requests_;  // looked up by request id only
  sim::Handle defer_timer_;
  // Autoscaling: the fleet's states, the policy, the storage the weights come from.
  const storage::StorageConfig* storage_ = nullptr;
  const hw::NodeSpec* node_ = nullptr;
  Fleet fleet_;
  std::unique_ptr<policy::Autoscaler> autoscaler_;
  double startup_s_ = 0;
  sim::Handle tick_;
  std::vector<double> busy_at_tick_;
  uint64_t arrived_at_tick_ = 0;
  uint32_t scale_ups_ = 0, scale_downs_ = 0;
  std::unique_ptr<policy::Autoscaler> decode_autoscaler_;  // disaggregated: the decode pool's (autoscaler_: prefill)
  uint64_t handed_off_ = 0, handed_off_at_tick_ = 0;        // requests sent to the decode pool: its arrivals
  uint32_t front_peak_ = 0, decode_peak_ = 0;               // each pool's most active instances
  std::vector<policy::InstanceLoad> route_loads_;  // the active instances' loads, for the router
  std::vector<uint32_t> route_map_;                // their indices
};

}  // namespace lcsim::inf

namespace lcsim::inf {
/// Registers inference_serving (called from scenarios/catalog.cc, beside wl::register_workloads).
void register_inference_workloads(Registry<wl::WorkloadFactory>& r);
}  // namespace lcsim::inf
