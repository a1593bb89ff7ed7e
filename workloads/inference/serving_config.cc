// The serving workload's configuration: its keys (visit), the request routers, and the request stream a run opens.
#include <memory>

#include "workloads/inference/serving.h"

namespace lcsim::inf {

void RequestsConfig::visit(Section& s) {
  s.choice("source", source, {"trace", "synthetic"}, "replay a trace file, or generate arrivals");
  s.field("trace", trace, "trace file (relative to this scenario file)");
  s.choice("format", format, trace_format_names(),
           "trace format: mooncake (JSONL), azure (LLM inference CSV), csv (arrival_s,input_tokens,output_tokens)");
  s.field("rate_scale", rate_scale, "arrival rate multiplier (2 = arrivals twice as fast)", Range::positive());
  s.field("window_start", window_start, "replay from this (scaled) arrival time; it becomes time 0",
          Range::at_least(0));
  s.field("window_end", window_end, "replay up to this (scaled) arrival time; 0s = to the end", Range::at_least(0));
  s.field("max_requests", max_requests, "at most this many requests; 0 = all", Range::at_least(0));
  s.section("arrival", "synthetic arrivals", [&](Section& a) {
    a.choice("process", arrival.process, arrival_process_names(),
             "poisson; gamma (bursty, inter-arrival CV = burstiness); diurnal (Poisson under a daily rate curve)");
    a.field("rate", arrival.rate_per_s, "mean requests per second", Range::positive());
    a.field("burstiness", arrival.burstiness, "gamma: coefficient of variation of inter-arrival times",
            Range::positive());
    a.field("diurnal_amplitude", arrival.diurnal_amplitude, "diurnal: rate swings by this share of the mean",
            Range::between(0, 1));
    a.field("diurnal_period", diurnal_period, "diurnal: length of one cycle", Range::positive());
    a.field("diurnal_peak", diurnal_peak, "diurnal: time of the peak within the cycle", Range::at_least(0));
    a.field("requests", arrival.requests, "how many requests to generate", Range::at_least(1));
  });
  s.field("lengths_trace", lengths_trace,
          "synthetic: fit log-normal input and output lengths to this trace (format `format`); empty = fixed lengths");
  s.field("input_tokens", input_tokens, "synthetic without lengths_trace: prompt tokens", Range::at_least(1));
  s.field("output_tokens", output_tokens, "synthetic without lengths_trace: generated tokens", Range::at_least(1));
  if (s.mode() != Section::Mode::kParse) return;
  if (source == "trace" && trace.empty()) s.error("trace", "source: trace needs a trace file");
  if (window_end.s() > 0 && window_end <= window_start) s.error("window_end", "must be after window_start (or 0s)");
}

void SloConfig::visit(Section& s) {
  s.field("ttft", ttft, "time to first token a request must meet", Range::positive());
  s.field("tpot", tpot, "time per output token (after the first) a request must meet", Range::positive());
}

void KvCacheConfig::visit(Section& s) {
  s.field("prefix_caching", prefix_caching, "reuse cached prompt prefixes by the trace's hash_ids");
  s.field("block_tokens", block_tokens, "tokens per hashed prefix block (Mooncake traces: 512)", Range::at_least(1));
  s.choice("eviction", eviction, eviction_policy_names(),
           "eviction in every tier: lru, fifo (oldest stored) or lfu (fewest hits, then least recent)");
  s.field("hbm_share", hbm_share, "share of each instance's KV-cache blocks kept for cached prefixes",
          Range::between(0, 0.9));
  s.field("dram_capacity", dram_capacity, "host DRAM per instance for cached prefixes; 0 = no DRAM tier",
          Range::at_least(0));
  s.field("dram_bandwidth", dram_bandwidth,
          "host-to-GPU copy bandwidth per GPU where the node models no PCIe path (else the path's links; ND H100 "
          "v5: 51 GB/s measured)",
          Range::positive());
  s.field("ssd_capacity", ssd_capacity, "local NVMe per instance for cached prefixes; 0 = no SSD tier",
          Range::at_least(0));
  s.field("ssd_bandwidth", ssd_bandwidth, "SSD read bandwidth per GPU (ND H100 v5: 55.3 GB/s over 8 GPUs)",
          Range::positive());
  s.field("pool_capacity", pool_capacity, "pooled remote KV store shared by every instance; 0 = none",
          Range::at_least(0));
  s.field("pool_bandwidth", pool_bandwidth,
          "pool-to-GPU bandwidth per GPU where the fabric has no storage servers (with them, fetches are flows "
          "from the servers); 0 = the GPU's NIC bandwidth",
          Range::at_least(0));
  s.field("dram_latency", dram_latency,
          "access latency of a fetch from host DRAM, before its bytes move (one cudaMemcpyAsync: 5-7 us measured)",
          Range::at_least(0));
  s.field("ssd_latency", ssd_latency, "access latency of a fetch from local NVMe (enterprise NVMe reads: 20-100 us)",
          Range::at_least(0));
  s.field("pool_latency", pool_latency,
          "access latency of a fetch from the pooled store (NVMe over RoCE: 160-180 us)", Range::at_least(0));
}

const Registry<policy::RouterFactory>& request_routers() {
  static const Registry<policy::RouterFactory> r = [] {
    Registry<policy::RouterFactory> reg("request router");
    policy::register_request_routers(reg);
    return reg;
  }();
  return r;
}

void ServingWorkloadConfig::visit(Section& s) {
  s.section("model", "the served model's shape", [&](Section& m) { model.visit(m); });
  s.section("serving", "each instance's parallelism, quantization and batching", [&](Section& v) { serving.visit(v); });
  s.field("instances", instances, "serving instances; 0 = as many as the allocation holds (GPUs / (TP x PP))",
          Range::at_least(0));
  s.choice("routing", routing, request_routers().names(), "request router (policies/request_routing.h)");
  s.field("affinity_slack", affinity_slack,
          "prefix_affinity: leave the prefix's instance when it has more than this x the least loaded one's tokens",
          Range::at_least(1));
  s.section("requests", "the request stream", [&](Section& r) { requests.visit(r); });
  s.section("slo", "latency objectives for SLO attainment and goodput", [&](Section& o) { slo.visit(o); });
  s.section("kv_cache", "prefix reuse across KV-cache tiers (HBM, DRAM, SSD, a shared pool)",
            [&](Section& k) { kv_cache.visit(k); });
  s.section("disaggregation", "separate prefill and decode pools, the KV cache moving between them over the fabric",
            [&](Section& d) { disaggregation.visit(d, request_routers().names()); });
  s.section("speculative", "speculative decoding with a draft model (decode steps verify draft tokens)",
            [&](Section& v) { speculative.visit(v); });
  s.section("admission", "which requests are served or rejected at the door (policies/admission.h)",
            [&](Section& a) { admission.visit(a); });
  s.section("autoscaling", "instances added and removed with the load, weights loaded from storage",
            [&](Section& a) { autoscaling.visit(a); });
  s.field("timeline_requests", timeline_requests,
          "requests traced on the timeline at most (a span each, with edges to the batches that computed it; one "
          "at a time per instance); 0 = none",
          Range::at_least(0));
}

namespace {

class Capped final : public RequestSource {
 public:
  Capped(std::unique_ptr<RequestSource> inner, uint64_t cap) : inner_(std::move(inner)), cap_(cap) {}
  bool next(Request& r) override { return (cap_ == 0 || n_++ < cap_) && inner_->next(r); }

 private:
  std::unique_ptr<RequestSource> inner_;
  uint64_t cap_, n_ = 0;
};

}  // namespace

std::unique_ptr<RequestSource> open_requests(const RequestsConfig& c, const RngFactory& rng) {
  std::unique_ptr<RequestSource> src;
  if (c.source == "trace") {
    src = open_trace(c.trace, c.format);
  } else {
    LengthFits fits;
    if (c.lengths_trace.empty()) {
      fits.input = {std::log(static_cast<double>(c.input_tokens)), 0, static_cast<double>(c.input_tokens)};
      fits.output = {std::log(static_cast<double>(c.output_tokens)), 0, static_cast<double>(c.output_tokens)};
    } else {
      auto t = open_trace(c.lengths_trace, c.format);
      fits = fit_lengths(*t);
    }
    ArrivalConfig a = c.arrival;
    a.diurnal_period_s = c.diurnal_period.s();
    a.diurnal_peak_s = c.diurnal_peak.s();
    src = synthetic_requests(a, fits, rng.stream("inference.arrivals"));
  }
  if (c.rate_scale != 1 || c.window_start.s() > 0 || c.window_end.s() > 0) {
    src = scale_and_window(std::move(src), c.rate_scale, c.window_start.s(), c.window_end.s());
  }
  if (c.max_requests > 0) src = std::make_unique<Capped>(std::move(src), static_cast<uint64_t>(c.max_requests));
  return src;
}

}  // namespace lcsim::inf
