#include "policies/load_balancing.h"

#include <algorithm>
#include <iterator>
#include <limits>

namespace lcsim::policy {

void EcmpHash::choose(const FlowKey& key, const std::vector<Path>& paths, const LinkLoads* /*loads*/,
                      std::vector<PathShare>& out) const {
  out.clear();
  const uint64_t h = rng_.hash("ecmp", key.src, key.dst, key.label);
  out.push_back({static_cast<uint32_t>(h % paths.size()), 1.0});
}

void Spray::choose(const FlowKey& /*key*/, const std::vector<Path>& paths, const LinkLoads* /*loads*/,
                   std::vector<PathShare>& out) const {
  out.clear();
  const uint32_t n = static_cast<uint32_t>(paths.size());
  for (uint32_t i = 0; i < n; ++i) out.push_back({i, 1.0 / n});
}

void Pinned::choose(const FlowKey& key, const std::vector<Path>& paths, const LinkLoads* /*loads*/,
                    std::vector<PathShare>& out) const {
  out.clear();
  out.push_back({static_cast<uint32_t>(key.dst % paths.size()), 1.0});
}

void Adaptive::choose(const FlowKey& key, const std::vector<Path>& paths, const LinkLoads* loads,
                      std::vector<PathShare>& out) const {
  out.clear();
  const uint32_t n = static_cast<uint32_t>(paths.size());
  const uint32_t start = static_cast<uint32_t>(rng_.hash("adaptive", key.src, key.dst, key.label) % n);
  uint32_t best = start;
  double best_load = std::numeric_limits<double>::infinity();
  // Links on every candidate path (the NICs, the first and last switch) cannot tell the paths apart; compared
  // over them, a busy NIC would tie every path and the choice would fall back to the hash.
  std::vector<uint32_t> common = paths[0];
  std::sort(common.begin(), common.end());
  for (uint32_t i = 1; i < n && !common.empty(); ++i) {
    std::vector<uint32_t> p = paths[i], both;
    std::sort(p.begin(), p.end());
    std::set_intersection(common.begin(), common.end(), p.begin(), p.end(), std::back_inserter(both));
    common.swap(both);
  }
  for (uint32_t k = 0; k < n; ++k) {
    const uint32_t i = (start + k) % n;  // scan from the hashed path: ties keep the hash's choice
    double worst = 0;
    if (loads) {
      for (uint32_t l : paths[i]) {
        if (!std::binary_search(common.begin(), common.end(), l)) worst = std::max(worst, loads->load(l));
      }
    }
    if (worst < best_load) {
      best_load = worst;
      best = i;
    }
  }
  out.push_back({best, 1.0});
}

void register_load_balancers(Registry<LoadBalancerFactory>& r) {
  r.add("ecmp", "per-flow ECMP: a seeded hash of (src, dst, channel) picks one equal-cost path",
        [](uint64_t seed) -> std::unique_ptr<LoadBalancer> { return std::make_unique<EcmpHash>(seed); });
  r.add("spray", "per-packet spraying: every flow split evenly over all equal-cost paths",
        [](uint64_t) -> std::unique_ptr<LoadBalancer> { return std::make_unique<Spray>(); });
  r.add("pinned", "static routing: the path is chosen by the destination alone (destination-mod-k)",
        [](uint64_t) -> std::unique_ptr<LoadBalancer> { return std::make_unique<Pinned>(); });
  r.add("adaptive", "adaptive routing at flow start: the path whose busiest link carries the fewest flows",
        [](uint64_t seed) -> std::unique_ptr<LoadBalancer> { return std::make_unique<Adaptive>(seed); });
}

}  // namespace lcsim::policy
