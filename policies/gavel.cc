// See gavel.h.
#include "policies/gavel.h"

#include <algorithm>
#include <limits>

namespace lcsim::policy {

double job_throughput(const ClusterSnapshot& s, const PendingJob& job, uint32_t pool) {
  if (pool < job.throughput.size()) return job.throughput[pool];
  return s.pools[pool].throughput;
}

double normalised_throughput(const ClusterSnapshot& s, const PendingJob& job, uint32_t pool) {
  std::vector<double> gpus(s.pools.size(), 0);
  double total = 0;
  for (const auto& n : s.nodes) gpus[n.pool] += n.gpus, total += n.gpus;
  double eq = 0;
  for (uint32_t k = 0; k < s.pools.size(); ++k) eq += job_throughput(s, job, k) * gpus[k];
  eq = total > 0 ? eq / total : 0;
  return eq > 0 ? job_throughput(s, job, pool) / eq : 0;
}

Decisions GavelPolicy::schedule(const ClusterSnapshot& s) {
  Decisions d;
  const size_t pools = s.pools.size();
  std::vector<uint32_t> free;
  std::vector<uint64_t> pool_free(pools, 0);
  std::vector<double> pool_gpus(pools, 0);
  double total = 0;
  for (const auto& n : s.nodes) {
    free.push_back(n.free_gpus);
    pool_free[n.pool] += n.free_gpus;
    pool_gpus[n.pool] += n.gpus;
    total += n.gpus;
  }
  // The window's normalised throughputs, once per pass.
  const size_t m = std::min(c_.window, s.pending.size());
  std::vector<std::vector<double>> norm(m, std::vector<double>(pools, 0));
  for (size_t j = 0; j < m; ++j) {
    double eq = 0;
    for (uint32_t k = 0; k < pools; ++k) eq += job_throughput(s, s.pending[j], k) * pool_gpus[k];
    eq = total > 0 ? eq / total : 0;
    for (uint32_t k = 0; k < pools; ++k) norm[j][k] = eq > 0 ? job_throughput(s, s.pending[j], k) / eq : 0;
  }
  std::vector<bool> done(m, false);
  // blocked[j][k]: pool k had enough free GPUs in total but no placement (fragmentation); free GPUs only shrink
  // during a pass, so it stays blocked.
  std::vector<std::vector<bool>> blocked(m, std::vector<bool>(pools, false));
  while (true) {
    size_t pick = m;
    uint32_t pick_pool = 0;
    double pick_key1 = 0, pick_key2 = 0;
    for (size_t j = 0; j < m; ++j) {
      if (done[j]) continue;
      const PendingJob& job = s.pending[j];
      double best = -1, second = 0;
      uint32_t best_k = 0;
      for (uint32_t k = 0; k < pools; ++k) {
        if (job.pool >= 0 && static_cast<uint32_t>(job.pool) != k) continue;
        if (pool_free[k] < job.gpus || blocked[j][k] || norm[j][k] <= 0) continue;
        if (norm[j][k] > best) {
          second = std::max(second, best);
          best = norm[j][k];
          best_k = k;
        } else {
          second = std::max(second, norm[j][k]);
        }
      }
      if (best < 0) continue;
      // Max-min: the smallest fallback first, then the largest gain. Total: the largest gain first.
      const double gain = best - second;
      const bool better = c_.objective == GavelConfig::Objective::kMaxMin
                              ? pick == m || second < pick_key1 || (second == pick_key1 && gain > pick_key2)
                              : pick == m || gain > pick_key2;
      if (better) pick = j, pick_pool = best_k, pick_key1 = second, pick_key2 = gain;
    }
    if (pick == m) break;
    const PendingJob& job = s.pending[pick];
    auto shares = place_topology(s, free, job.gpus, static_cast<int32_t>(pick_pool));
    if (shares.empty()) {
      blocked[pick][pick_pool] = true;
      continue;
    }
    for (const auto& sh : shares) {
      free[sh.node] -= sh.gpus;
      pool_free[pick_pool] -= sh.gpus;
    }
    done[pick] = true;
    d.start.push_back({job.id, std::move(shares)});
  }
  return d;
}

void register_gavel_policies(Registry<SchedulingPolicyFactory>& r) {
  r.add("gavel", "Gavel-style (OSDI 2020) max-min normalised throughput over pools: greedy, integral, no time slicing",
        [] { return std::make_unique<GavelPolicy>(GavelConfig{}); });
  r.add("gavel-total", "Gavel-style total normalised throughput over pools (greedy regret), no time slicing", [] {
    GavelConfig c;
    c.objective = GavelConfig::Objective::kMaxTotal;
    return std::make_unique<GavelPolicy>(c);
  });
}

}  // namespace lcsim::policy
