#include "policies/scheduling.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "policies/gavel.h"
#include "policies/gavel_rounds.h"

namespace lcsim::policy {
namespace {

bool in_pool(const ClusterSnapshot& s, uint32_t node, int32_t pool) {
  return pool < 0 || s.nodes[node].pool == static_cast<uint32_t>(pool);
}

/// Takes `gpus` from `candidates` (node ids, in preference order): whole free nodes first, in order, then the
/// remainder from the partly free node that fits it most tightly (best fit), else the largest ones in turn.
std::vector<NodeShare> fill(const ClusterSnapshot& s, const std::vector<uint32_t>& free,
                            const std::vector<uint32_t>& candidates, uint32_t gpus) {
  std::vector<NodeShare> out;
  uint32_t left = gpus;
  std::vector<uint32_t> partial;
  for (uint32_t n : candidates) {
    if (free[n] == 0) continue;
    if (free[n] == s.nodes[n].gpus && s.nodes[n].gpus <= left) {
      out.push_back({n, free[n]});
      left -= free[n];
      if (left == 0) break;
    } else {
      partial.push_back(n);
    }
  }
  while (left > 0) {
    int best = -1;
    for (size_t i = 0; i < partial.size(); ++i) {
      uint32_t f = std::min(free[partial[i]], left);
      if (f == 0) continue;
      if (best < 0) { best = static_cast<int>(i); continue; }
      uint32_t fb = std::min(free[partial[best]], left);
      // Prefer a node that takes all that is left with the least to spare; else the one that takes most.
      bool takes_all = free[partial[i]] >= left, best_takes_all = free[partial[best]] >= left;
      if (takes_all != best_takes_all) {
        if (takes_all) best = static_cast<int>(i);
      } else if (takes_all ? free[partial[i]] < free[partial[best]] : f > fb) {
        best = static_cast<int>(i);
      }
    }
    if (best < 0) return {};
    uint32_t n = partial[best];
    uint32_t take = std::min(free[n], left);
    out.push_back({n, take});
    left -= take;
    partial.erase(partial.begin() + best);
  }
  std::sort(out.begin(), out.end(), [](const NodeShare& a, const NodeShare& b) { return a.node < b.node; });
  return out;
}

uint32_t largest_node(const ClusterSnapshot& s, int32_t pool) {
  uint32_t m = 0;
  for (uint32_t n = 0; n < s.nodes.size(); ++n)
    if (in_pool(s, n, pool)) m = std::max(m, s.nodes[n].gpus);
  return m;
}

/// A job that fits on one node gets the node that fits it most tightly (ties: the lowest id).
std::vector<NodeShare> best_fit_node(const ClusterSnapshot& s, const std::vector<uint32_t>& free, uint32_t gpus,
                                     int32_t pool) {
  int best = -1;
  for (uint32_t n = 0; n < s.nodes.size(); ++n) {
    if (!in_pool(s, n, pool) || free[n] < gpus) continue;
    if (best < 0 || free[n] < free[best]) best = static_cast<int>(n);
  }
  if (best < 0) return {};
  return {{static_cast<uint32_t>(best), gpus}};
}

}  // namespace

std::vector<NodeShare> place_first_fit(const ClusterSnapshot& s, const std::vector<uint32_t>& free, uint32_t gpus,
                                       int32_t pool) {
  if (gpus == 0) return {};
  if (gpus <= largest_node(s, pool)) {
    for (uint32_t n = 0; n < s.nodes.size(); ++n)
      if (in_pool(s, n, pool) && free[n] >= gpus) return {{n, gpus}};
    // No single node has room: a gang may still span nodes (as Slurm would place it).
  }
  std::vector<uint32_t> all;
  for (uint32_t n = 0; n < s.nodes.size(); ++n)
    if (in_pool(s, n, pool)) all.push_back(n);
  return fill(s, free, all, gpus);
}

std::vector<NodeShare> place_topology(const ClusterSnapshot& s, const std::vector<uint32_t>& free, uint32_t gpus,
                                      int32_t pool) {
  if (gpus == 0) return {};
  if (gpus <= largest_node(s, pool)) {
    auto one = best_fit_node(s, free, gpus, pool);
    if (!one.empty()) return one;
  }
  // Capacity per leaf and per pod; the job goes to the tightest single leaf that holds it, else the tightest
  // pod (its fullest leaves first), else the whole pool, fullest leaves first: fewest leaves, then fewest pods.
  uint32_t leaves = 0, pods = 0;
  for (const auto& n : s.nodes) leaves = std::max(leaves, n.leaf + 1), pods = std::max(pods, n.pod + 1);
  std::vector<uint64_t> leaf_cap(leaves, 0), pod_cap(pods, 0);
  std::vector<std::vector<uint32_t>> leaf_nodes(leaves);
  std::vector<uint32_t> leaf_pod(leaves, 0);
  for (uint32_t n = 0; n < s.nodes.size(); ++n) {
    if (!in_pool(s, n, pool)) continue;
    leaf_cap[s.nodes[n].leaf] += free[n];
    pod_cap[s.nodes[n].pod] += free[n];
    leaf_nodes[s.nodes[n].leaf].push_back(n);
    leaf_pod[s.nodes[n].leaf] = s.nodes[n].pod;
  }
  auto tightest = [&](const std::vector<uint64_t>& cap) {
    int best = -1;
    for (size_t i = 0; i < cap.size(); ++i)
      if (cap[i] >= gpus && (best < 0 || cap[i] < cap[best])) best = static_cast<int>(i);
    return best;
  };
  auto nodes_of_leaves = [&](std::vector<uint32_t> ls) {
    std::stable_sort(ls.begin(), ls.end(), [&](uint32_t a, uint32_t b) { return leaf_cap[a] > leaf_cap[b]; });
    std::vector<uint32_t> out;
    for (uint32_t l : ls) out.insert(out.end(), leaf_nodes[l].begin(), leaf_nodes[l].end());
    return out;
  };
  if (int l = tightest(leaf_cap); l >= 0) return fill(s, free, leaf_nodes[l], gpus);
  if (int p = tightest(pod_cap); p >= 0) {
    std::vector<uint32_t> ls;
    for (uint32_t l = 0; l < leaves; ++l)
      if (leaf_pod[l] == static_cast<uint32_t>(p) && !leaf_nodes[l].empty()) ls.push_back(l);
    return fill(s, free, nodes_of_leaves(ls), gpus);
  }
  std::vector<uint32_t> ls(leaves);
  std::iota(ls.begin(), ls.end(), 0u);
  return fill(s, free, nodes_of_leaves(ls), gpus);
}

PlacementSpread placement_spread(const ClusterSnapshot& s, const std::vector<NodeShare>& shares) {
  std::vector<uint32_t> leaves, pods;
  for (const auto& sh : shares) {
    leaves.push_back(s.nodes[sh.node].leaf);
    pods.push_back(s.nodes[sh.node].pod);
  }
  std::sort(leaves.begin(), leaves.end());
  std::sort(pods.begin(), pods.end());
  PlacementSpread out;
  out.leaves = static_cast<uint32_t>(std::unique(leaves.begin(), leaves.end()) - leaves.begin());
  out.pods = static_cast<uint32_t>(std::unique(pods.begin(), pods.end()) - pods.begin());
  out.max_spine_hops = out.pods > 1 ? 2 : out.leaves > 1 ? 1 : 0;
  return out;
}

namespace {

/// One scheduling pass: the state it changes as it decides (free GPUs, team usage) and the placer.
class Pass {
 public:
  Pass(const QueueSchedulerConfig& c, const ClusterSnapshot& s) : c_(c), s_(s) {
    free_.reserve(s.nodes.size());
    for (const auto& n : s.nodes) free_.push_back(n.free_gpus);
    for (const auto& t : s.teams) team_used_.push_back(t.used_gpus);
    pool_free_.assign(s.pools.size(), 0);
    for (const auto& n : s.nodes) pool_free_[n.pool] += n.free_gpus;
  }

  /// Where `job` would go on `free`, by the configured placer; empty if it does not fit.
  std::vector<NodeShare> place(const PendingJob& job, const std::vector<uint32_t>& free) const {
    if (c_.placer == QueueSchedulerConfig::Placer::kHetero && job.pool < 0) {
      // Throughput-normalised: of the pools that can take the job now, the one where it runs fastest.
      std::vector<NodeShare> best;
      double best_tp = -1;
      for (uint32_t p = 0; p < s_.pools.size(); ++p) {
        if (s_.pools[p].throughput <= best_tp) continue;
        auto shares = place_topology(s_, free, job.gpus, static_cast<int32_t>(p));
        if (!shares.empty()) best = std::move(shares), best_tp = s_.pools[p].throughput;
      }
      return best;
    }
    auto one_pool = [&](int32_t p) {
      return c_.placer == QueueSchedulerConfig::Placer::kFirstFit ? place_first_fit(s_, free, job.gpus, p)
                                                                 : place_topology(s_, free, job.gpus, p);
    };
    if (job.pool >= 0) return one_pool(job.pool);
    for (uint32_t p = 0; p < s_.pools.size(); ++p) {
      auto shares = one_pool(static_cast<int32_t>(p));
      if (!shares.empty()) return shares;
    }
    return {};
  }

  bool over_quota(const PendingJob& job) const {
    if (!c_.quotas || job.team >= s_.teams.size()) return false;
    uint32_t q = s_.teams[job.team].quota_gpus;
    return q > 0 && team_used_[job.team] + job.gpus > q;
  }
  /// False when the job cannot fit on what is free now: too few free GPUs in its pools, or a job of its pool
  /// constraint and no more GPUs already failed to place in this pass (free GPUs only shrink during a pass, and
  /// a placement that fails for g GPUs fails for more). Keeps a pass over a long queue cheap.
  bool could_fit_now(const PendingJob& job) const {
    uint64_t f = 0;
    for (uint32_t p = 0; p < pool_free_.size(); ++p)
      if (job.pool < 0 || job.pool == static_cast<int32_t>(p)) f += pool_free_[p];
    if (f < job.gpus) return false;
    size_t k = static_cast<size_t>(job.pool + 1);
    return k >= min_failed_.size() || job.gpus < min_failed_[k];
  }
  void failed_to_place(const PendingJob& job) {
    size_t k = static_cast<size_t>(job.pool + 1);
    if (k >= min_failed_.size()) min_failed_.resize(k + 1, std::numeric_limits<uint32_t>::max());
    min_failed_[k] = std::min(min_failed_[k], job.gpus);
  }
  bool nothing_free() const {
    for (uint64_t f : pool_free_)
      if (f > 0) return false;
    return true;
  }
  double run_estimate(const PendingJob& job, const std::vector<NodeShare>& shares) const {
    double tp = s_.pools[s_.nodes[shares.front().node].pool].throughput;
    return job.estimate_s / (tp > 0 ? tp : 1.0);
  }

  void start(const PendingJob& job, std::vector<NodeShare> shares, Decisions& d) {
    for (const auto& sh : shares) {
      free_[sh.node] -= sh.gpus;
      pool_free_[s_.nodes[sh.node].pool] -= sh.gpus;
    }
    if (job.team < team_used_.size()) team_used_[job.team] += job.gpus;
    started_.push_back({s_.now_s + run_estimate(job, shares), shares});
    d.start.push_back({job.id, std::move(shares)});
  }

  /// Frees the GPUs of lower-priority running jobs (lowest priority, then latest started, first) until `job`
  /// fits; commits only if it then does.
  bool preempt_for(const PendingJob& job, Decisions& d) {
    std::vector<const RunningJob*> victims;
    for (const auto& r : s_.running)
      if (r.preemptible && r.priority < job.priority &&
          std::find(preempted_.begin(), preempted_.end(), r.id) == preempted_.end())
        victims.push_back(&r);
    std::stable_sort(victims.begin(), victims.end(), [](const RunningJob* a, const RunningJob* b) {
      return a->priority != b->priority ? a->priority < b->priority : a->start_s > b->start_s;
    });
    std::vector<uint32_t> trial = free_;
    std::vector<uint64_t> chosen;
    for (const RunningJob* v : victims) {
      for (const auto& sh : v->placement) trial[sh.node] += sh.gpus;
      chosen.push_back(v->id);
      auto shares = place(job, trial);
      if (shares.empty()) continue;
      for (const RunningJob* w : victims) {
        if (std::find(chosen.begin(), chosen.end(), w->id) == chosen.end()) continue;
        for (const auto& sh : w->placement) pool_free_[s_.nodes[sh.node].pool] += sh.gpus;
        if (w->team < team_used_.size()) team_used_[w->team] -= std::min(team_used_[w->team], w->gpus);
        preempted_.push_back(w->id);
      }
      free_ = std::move(trial);
      min_failed_.clear();  // GPUs came free: earlier failures say nothing now
      d.preempt.insert(d.preempt.end(), chosen.begin(), chosen.end());
      start(job, std::move(shares), d);
      return true;
    }
    return false;
  }

  /// EASY: the earliest time the blocked head fits as running jobs end (at their estimates), and what stays
  /// free at that time beside the head's reserved GPUs.
  void reserve(const PendingJob& head) {
    struct Release {
      double at;
      uint64_t order;
      const std::vector<NodeShare>* shares;
    };
    std::vector<Release> rel;
    for (const auto& r : s_.running) {
      if (std::find(preempted_.begin(), preempted_.end(), r.id) != preempted_.end()) continue;
      rel.push_back({std::max(r.estimated_end_s, s_.now_s), r.id, &r.placement});
    }
    for (size_t i = 0; i < started_.size(); ++i)
      rel.push_back({started_[i].first, std::numeric_limits<uint64_t>::max() - started_.size() + i,
                     &started_[i].second});
    std::sort(rel.begin(), rel.end(),
              [](const Release& a, const Release& b) { return a.at != b.at ? a.at < b.at : a.order < b.order; });
    std::vector<uint32_t> f = free_;
    shadow_s_ = std::numeric_limits<double>::infinity();
    extra_ = f;  // no reservation possible: nothing to protect
    for (size_t i = 0; i < rel.size(); ++i) {
      const Release& r = rel[i];
      for (const auto& sh : *r.shares) f[sh.node] += sh.gpus;
      if (i + 1 < rel.size() && rel[i + 1].at == r.at) continue;  // everything that ends at one time, together
      auto shares = place(head, f);
      if (shares.empty()) continue;
      shadow_s_ = r.at;
      extra_ = f;
      for (const auto& sh : shares) extra_[sh.node] -= sh.gpus;
      return;
    }
  }

  /// A job behind the blocked head starts only if it ends (by its estimate) before the head's reservation, or
  /// uses only GPUs the reservation leaves spare.
  bool backfill(const PendingJob& job, Decisions& d) {
    // A job that runs past the shadow time even on its fastest pool can only use spare GPUs; when a job of its
    // pool constraint and no more GPUs already failed to fit those (they only shrink in a pass), skip it.
    double fastest = 0;
    for (uint32_t p = 0; p < s_.pools.size(); ++p)
      if (job.pool < 0 || job.pool == static_cast<int32_t>(p)) fastest = std::max(fastest, s_.pools[p].throughput);
    const bool surely_long = s_.now_s + job.estimate_s / (fastest > 0 ? fastest : 1.0) > shadow_s_;
    const size_t k = static_cast<size_t>(job.pool + 1);
    if (surely_long && k < min_failed_spare_.size() && job.gpus >= min_failed_spare_[k]) return false;
    auto shares = place(job, free_);
    if (shares.empty()) {
      failed_to_place(job);
      return false;
    }
    if (s_.now_s + run_estimate(job, shares) <= shadow_s_) {
      start(job, std::move(shares), d);
      return true;
    }
    std::vector<uint32_t> spare(free_.size());
    for (size_t n = 0; n < spare.size(); ++n) spare[n] = std::min(free_[n], extra_[n]);
    shares = place(job, spare);
    if (shares.empty()) {
      if (k >= min_failed_spare_.size()) min_failed_spare_.resize(k + 1, std::numeric_limits<uint32_t>::max());
      min_failed_spare_[k] = std::min(min_failed_spare_[k], job.gpus);
      return false;
    }
    for (const auto& sh : shares) extra_[sh.node] -= sh.gpus;
    start(job, std::move(shares), d);
    return true;
  }

  std::vector<uint32_t> free_;

 private:
  const QueueSchedulerConfig& c_;
  const ClusterSnapshot& s_;
  std::vector<uint32_t> team_used_;
  std::vector<uint64_t> pool_free_;
  std::vector<std::pair<double, std::vector<NodeShare>>> started_;  // estimated end, shares
  std::vector<uint64_t> preempted_;
  std::vector<uint32_t> min_failed_;        // by required pool + 1: the fewest GPUs that failed to place
  std::vector<uint32_t> min_failed_spare_;  // the same, on the GPUs the head's reservation leaves spare
  double shadow_s_ = 0;
  std::vector<uint32_t> extra_;
};

}  // namespace

Decisions QueueScheduler::schedule(const ClusterSnapshot& s) {
  std::vector<uint32_t> order(s.pending.size());
  std::iota(order.begin(), order.end(), 0u);
  using Order = QueueSchedulerConfig::Order;
  if (config_.order == Order::kPriority) {
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return s.pending[a].priority > s.pending[b].priority; });
  } else if (config_.order == Order::kShortestEstimate) {
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return s.pending[a].estimate_s < s.pending[b].estimate_s; });
  }
  Decisions d;
  Pass pass(config_, s);
  bool blocked = false;
  for (uint32_t i : order) {
    const PendingJob& job = s.pending[i];
    if (pass.over_quota(job)) continue;  // waits for its team's own jobs; blocks nobody else
    if (!blocked) {
      if (pass.could_fit_now(job)) {
        auto shares = pass.place(job, pass.free_);
        if (!shares.empty()) {
          pass.start(job, std::move(shares), d);
          continue;
        }
        pass.failed_to_place(job);
      }
      if (config_.preempt && pass.preempt_for(job, d)) continue;
      if (!config_.backfill) break;
      blocked = true;
      pass.reserve(job);
      continue;
    }
    if (pass.nothing_free()) break;  // nothing behind a blocked head can start
    if (pass.could_fit_now(job)) pass.backfill(job, d);
  }
  return d;
}

void register_scheduling_policies(Registry<SchedulingPolicyFactory>& r, const SchedulingPolicyOptions& options) {
  using C = QueueSchedulerConfig;
  auto add = [&](const std::string& name, const std::string& description, C c) {
    r.add(name, description, [c] { return std::make_unique<QueueScheduler>(c); });
  };
  add("fifo", "first come first served; a blocked head job holds everyone behind it; first-fit nodes", C{});
  add("backfill", "FIFO with EASY backfill: later jobs start if they do not delay the head job's reservation",
      C{C::Order::kSubmit, true, false, C::Placer::kFirstFit, true});
  add("priority", "highest priority first, with backfill; a blocked job preempts lower-priority jobs",
      C{C::Order::kPriority, true, true, C::Placer::kFirstFit, true});
  add("topology", "EASY backfill, placing each job on the fewest leaves, then pods (best fit inside)",
      C{C::Order::kSubmit, true, false, C::Placer::kTopology, true});
  add("hetero", "EASY backfill, each job on the fastest pool that can take it now (throughput-normalised)",
      C{C::Order::kSubmit, true, false, C::Placer::kHetero, true});
  add("predictive", "shortest estimated job first, with EASY backfill on the estimates (topology placement)",
      C{C::Order::kShortestEstimate, true, false, C::Placer::kTopology, true});
  register_gavel_policies(r);
  register_gavel_rounds_policy(r, options.gavel_round_s);
}

}  // namespace lcsim::policy
