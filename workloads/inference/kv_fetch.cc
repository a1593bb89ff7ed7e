#include "workloads/inference/kv_fetch.h"

#include <algorithm>
#include <memory>

#include "sim/error.h"

namespace lcsim::inf {

KvFetcher::KvFetcher(sim::Engine& engine, net::TransferModel& transfer, const net::Topology& topology,
                     std::vector<KvTierLink> tiers)
    : engine_(engine), transfer_(transfer), topology_(topology), tiers_(std::move(tiers)) {
  fetched_.assign(tiers_.size(), 0.0);
  routes_.assign(tiers_.size(), {});
  // The pool's servers: every storage server the fabric has (numbered 0, 1, ...; storage_endpoint throws past the
  // last).
  for (uint32_t s = 0;; ++s) {
    try {
      storage_servers_.push_back(topology_.storage_endpoint(s));
    } catch (const InputError&) {
      break;
    }
  }
}

size_t KvFetcher::tier_index(const std::string& name) const {
  for (size_t t = 0; t < tiers_.size(); ++t) {
    if (tiers_[t].name == name) return t;
  }
  LCSIM_ASSERT(false, "KV fetch from a tier the fetcher does not know: " + name);
  return 0;
}

void KvFetcher::add_gpu(uint32_t gpu) {
  if (drive_free_at_.size() <= gpu) drive_free_at_.resize(gpu + 1, 0.0);
  std::vector<net::Path> paths;
  auto reaches = [&](uint32_t from) {
    topology_.service_paths(from, gpu, paths);
    return !paths.empty() && !paths.front().empty();
  };
  int64_t host = -1;
  if (topology_.pcie_link(gpu, false) >= 0) {
    try {
      host = topology_.host_endpoint(topology_.node_of(gpu));
    } catch (const InputError&) {
      host = -1;
    }
  }
  for (size_t t = 0; t < tiers_.size(); ++t) {
    auto& per_gpu = routes_[t];
    if (per_gpu.size() <= gpu) per_gpu.resize(gpu + 1);
    Route& r = per_gpu[gpu];
    r.sources.clear();
    if (tiers_[t].name == "pool") {
      for (uint32_t s : storage_servers_) {
        if (!reaches(s)) {
          r.sources.clear();
          break;
        }
        r.sources.push_back(s);
      }
    } else if (host >= 0 && reaches(static_cast<uint32_t>(host))) {
      r.sources.push_back(static_cast<uint32_t>(host));
    }
  }
}

bool KvFetcher::modelled(const std::string& tier, uint32_t gpu) const {
  const auto& per_gpu = routes_[tier_index(tier)];
  return gpu < per_gpu.size() && !per_gpu[gpu].sources.empty();
}

void KvFetcher::fetch(const std::vector<uint32_t>& gpus, const std::vector<std::string>& names,
                      const std::vector<double>& bytes, std::function<void()> done) {
  LCSIM_ASSERT(names.size() == bytes.size() && !gpus.empty(), "KV fetch: one byte count per tier, some GPU");
  ++fetches_;
  auto left = std::make_shared<int>(1);  // one for the set-up below, released at its end
  auto cb = std::make_shared<std::function<void()>>(std::move(done));
  for (size_t k = 0; k < names.size(); ++k) {
    if (bytes[k] <= 0) continue;
    const size_t t = tier_index(names[k]);
    fetched_[t] += bytes[k];
    ++*left;
    // The tier's access latency first, then its bytes.
    engine_.after(Duration::seconds(tiers_[t].latency_s),
                  [this, t, gpus, b = bytes[k], left, cb] { start_tier(t, gpus, b, left, cb); });
  }
  if (--*left == 0) (*cb)();
}

void KvFetcher::start_tier(size_t t, const std::vector<uint32_t>& gpus, double bytes, const std::shared_ptr<int>& left,
                           const std::shared_ptr<std::function<void()>>& done) {
  const KvTierLink& tier = tiers_[t];
  const double shard = bytes / static_cast<double>(gpus.size());
  const double now = engine_.now().s();
  // The ssd drives: each GPU's share serves its shards in arrival order.
  double drives_done = now;
  if (tier.name == "ssd") {
    for (uint32_t g : gpus) {
      double& free_at = drive_free_at_[g];
      free_at = std::max(free_at, now) + shard / tier.fallback_bps;
      drives_done = std::max(drives_done, free_at);
    }
  }
  std::vector<net::FlowRequest> flows;
  double unmodelled_done = now;
  for (uint32_t g : gpus) {
    const auto& per_gpu = routes_[t];
    const bool has_route = g < per_gpu.size() && !per_gpu[g].sources.empty();
    if (!has_route) {
      // No path in this cluster: the configured bandwidth per GPU, alone (the ssd drives' queue already is).
      if (tier.name != "ssd") unmodelled_done = std::max(unmodelled_done, now + shard / tier.fallback_bps);
      continue;
    }
    const auto& sources = per_gpu[g].sources;
    for (uint32_t s : sources) {
      flows.push_back({s, g, Bytes::of(shard / static_cast<double>(sources.size())), label_++});
    }
  }
  auto finish = [this, left, done, at = std::max(drives_done, unmodelled_done)] {
    auto release = [left, done] {
      if (--*left == 0) (*done)();
    };
    if (engine_.now().s() < at) {
      engine_.at(Duration::seconds(at), release);
    } else {
      release();
    }
  };
  if (flows.empty()) {
    finish();
  } else {
    transfer_.transfer(flows, finish);
  }
}

}  // namespace lcsim::inf
