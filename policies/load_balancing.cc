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

void Spray::choose(const FlowKey& key, const std::vector<Path>& paths, const LinkLoads* /*loads*/,
                   std::vector<PathShare>& out) const {
  out.clear();
  const uint32_t n = static_cast<uint32_t>(paths.size());
  if (max_paths_ <= 0 || static_cast<uint32_t>(max_paths_) >= n) {
    for (uint32_t i = 0; i < n; ++i) out.push_back({i, 1.0 / n});
    return;
  }
  const uint32_t k = static_cast<uint32_t>(max_paths_);
  const uint32_t first = static_cast<uint32_t>(rng_.hash("spray", key.src, key.dst, key.label) % n);
  for (uint32_t i = 0; i < k; ++i) out.push_back({(first + i) % n, 1.0 / k});
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

namespace {

void hash_seed_key(Section& s, LoadBalancerParams& p) {
  s.field("hash_seed", p.hash_seed, "seed of the path hash; 0 = derived from simulation.seed (set it to sweep hash "
                                    "placements with everything else fixed)", Range::at_least(0));
}
uint64_t seed_of(const LoadBalancerParams& p, uint64_t derived) {
  return p.hash_seed > 0 ? static_cast<uint64_t>(p.hash_seed) : derived;
}

}  // namespace

void register_load_balancers(Registry<LoadBalancerFactory>& r) {
  r.add("ecmp", "per-flow ECMP: a seeded hash of (src, dst, channel) picks one equal-cost path",
        {hash_seed_key, [](const LoadBalancerParams& p, uint64_t seed) -> std::unique_ptr<LoadBalancer> {
           return std::make_unique<EcmpHash>(seed_of(p, seed));
         }});
  r.add("spray", "per-packet spraying: every flow split evenly over all equal-cost paths (or max_paths of them)",
        {[](Section& s, LoadBalancerParams& p) {
           s.field("max_paths", p.max_paths, "equal-cost paths each flow is sprayed over; 0 = all",
                   Range::at_least(0));
           s.field("independent_paths", p.independent_paths,
                   "flow fidelity: each path's share is its own max-min flow, so shares on lightly loaded paths "
                   "finish early (the model before Dec 2026); false: a flow's shares move at one rate, set by its "
                   "most loaded path, as sprayed packets do (and one engine flow per flow instead of one per path)");
           hash_seed_key(s, p);
         },
         [](const LoadBalancerParams& p, uint64_t seed) -> std::unique_ptr<LoadBalancer> {
           return std::make_unique<Spray>(p.max_paths, seed_of(p, seed), p.independent_paths);
         }});
  r.add("pinned", "static routing: the path is chosen by the destination alone (destination-mod-k)",
        {[](Section&, LoadBalancerParams&) {},
         [](const LoadBalancerParams&, uint64_t) -> std::unique_ptr<LoadBalancer> { return std::make_unique<Pinned>(); }});
  r.add("adaptive", "adaptive routing at flow start: the path whose busiest link carries the fewest flows",
        {hash_seed_key, [](const LoadBalancerParams& p, uint64_t seed) -> std::unique_ptr<LoadBalancer> {
           return std::make_unique<Adaptive>(seed_of(p, seed));
         }});
}

}  // namespace lcsim::policy
