// The serving workload's KV-cache tier fetches: a request whose cached prefix sits below HBM waits for its blocks,
// moved as flows on the run's transfer model (kv_fetch.h), before it joins its instance's queue.
#include <string>
#include <vector>

#include "workloads/inference/serving.h"
#include "workloads/inference/serving_instance.h"

namespace lcsim::inf {

void InferenceServing::set_up_fetcher() {
  fetcher_.reset();
  const KvCacheConfig& kc = config_.kv_cache;
  if (!kc.prefix_caching) return;
  net::TransferModel& tm = ctx_->collectives.transfer();
  const net::Topology& topo = ctx_->collectives.topology();
  double pool_bps = kc.pool_bandwidth.bps();
  if (pool_bps <= 0) pool_bps = topo.nic_bandwidth(ctx_->collectives.endpoint(0)).bps();
  fetcher_ = std::make_unique<KvFetcher>(ctx_->engine, tm, topo,
                                         std::vector<KvTierLink>{{"dram", kc.dram_latency.s(), kc.dram_bandwidth.bps()},
                                                                 {"ssd", kc.ssd_latency.s(), kc.ssd_bandwidth.bps()},
                                                                 {"pool", kc.pool_latency.s(), pool_bps}});
  for (const auto& inst : instances_) {
    if (!inst->cache) continue;
    for (uint32_t g : inst->gpus) fetcher_->add_gpu(ctx_->collectives.endpoint(ctx_->gpus[g].rank));
  }
}

void InferenceServing::fetch_prefix(uint32_t i, const Request& r, uint32_t cached,
                                    const std::vector<uint32_t>& per_tier) {
  Instance& inst = *instances_[i];
  const auto& tiers = inst.cache->tiers();
  std::vector<std::string> names;
  std::vector<double> bytes;
  for (size_t t = 1; t < tiers.size() && t < per_tier.size(); ++t) {
    if (per_tier[t] == 0) continue;
    names.push_back(tiers[t]->name());
    bytes.push_back(per_tier[t] * inst.cache->block_bytes());
  }
  std::vector<uint32_t> endpoints;
  for (uint32_t g : inst.gpus) endpoints.push_back(ctx_->collectives.endpoint(ctx_->gpus[g].rank));
  ++loading_;
  const double start = ctx_->engine.now().s();
  fetcher_->fetch(endpoints, names, bytes, [this, i, r, cached, start, names, bytes] {
    --loading_;
    const double now = ctx_->engine.now().s();
    prefix_load_s_ += now - start;
    const uint32_t rank = ctx_->gpus[instances_[i]->gpus.front()].rank;
    if (ctx_->tracer.enabled() && rank < ctx_->traced_ranks) {
      // The fetch on the timeline: a receive on the instance's first GPU, with what came from where.
      double total = 0;
      std::vector<std::pair<std::string, std::string>> args = {{"request", std::to_string(r.id)}};
      for (size_t k = 0; k < names.size(); ++k) {
        total += bytes[k];
        args.emplace_back(names[k] + " bytes", std::to_string(static_cast<uint64_t>(bytes[k])));
      }
      const uint64_t chain = timeline_ ? timeline_->chain_at(i, r.id) : 0;  // a traced request's next step
      ctx_->tracer.span({SpanKind::kRecv, rank, Duration::seconds(start), Duration::seconds(now), "KV fetch",
                         ctx_->job, total, 0, args, chain, chain != 0, chain != 0});
    }
    admit(i, r, cached);
  });
}

}  // namespace lcsim::inf
