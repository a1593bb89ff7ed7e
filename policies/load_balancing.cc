#include "policies/load_balancing.h"

namespace lcsim::policy {

void EcmpHash::choose(const FlowKey& key, uint32_t num_paths, std::vector<PathShare>& out) const {
  out.clear();
  const uint64_t h = rng_.hash("ecmp", key.src, key.dst, key.label);
  out.push_back({static_cast<uint32_t>(h % num_paths), 1.0});
}

void Spray::choose(const FlowKey& /*key*/, uint32_t num_paths, std::vector<PathShare>& out) const {
  out.clear();
  for (uint32_t i = 0; i < num_paths; ++i) out.push_back({i, 1.0 / num_paths});
}

void register_load_balancers(Registry<LoadBalancerFactory>& r) {
  r.add("ecmp", "per-flow ECMP: a seeded hash of (src, dst, channel) picks one equal-cost path",
        [](uint64_t seed) -> std::unique_ptr<LoadBalancer> { return std::make_unique<EcmpHash>(seed); });
  r.add("spray", "per-packet spraying: every flow split evenly over all equal-cost paths",
        [](uint64_t) -> std::unique_ptr<LoadBalancer> { return std::make_unique<Spray>(); });
}

}  // namespace lcsim::policy
