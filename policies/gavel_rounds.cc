// See gavel_rounds.h.
#include "policies/gavel_rounds.h"

#include <algorithm>
#include <limits>
#include <set>

#include "policies/gavel.h"

namespace lcsim::policy {
namespace {

uint32_t pool_of(const ClusterSnapshot& s, const RunningJob& r) { return s.nodes[r.placement.front().node].pool; }

/// One (job, kind) a round may pick, in Gavel's priority order.
struct Candidate {
  double priority = 0;
  double received_s = 0;  // the job's run time on every kind so far: equal priorities go to the job with least
  uint64_t job = 0;
  uint32_t kind = 0;
  uint32_t gpus = 0;
};

}  // namespace

std::vector<double> GavelRoundsPolicy::lp_fraction(uint64_t job) const {
  auto it = jobs_.find(job);
  return it == jobs_.end() ? std::vector<double>{} : it->second.lp;
}

std::vector<double> GavelRoundsPolicy::time_on_pool(uint64_t job) const {
  auto it = jobs_.find(job);
  return it == jobs_.end() ? std::vector<double>{} : it->second.on_pool_s;
}

void GavelRoundsPolicy::account(const ClusterSnapshot& s) {
  // Called for every event of the replay with hundreds of jobs running: a map lookup per job, no other container.
  const size_t pools = s.pools.size();
  const double dt = std::max(0.0, s.now_s - last_s_);
  ++calls_;
  for (const auto& r : s.running) {
    History& h = jobs_[r.id];
    h.seen = calls_;
    if (h.on_pool_s.empty()) h.since_s = r.start_s, h.on_pool_s.assign(pools, 0);
    // Running now and since the last call (only this policy starts and stops jobs).
    h.on_pool_s[pool_of(s, r)] += std::min(dt, s.now_s - r.start_s);
  }
  for (const auto& p : s.pending) {
    History& h = jobs_[p.id];
    h.seen = calls_;
    if (h.on_pool_s.empty()) h.since_s = s.now_s, h.on_pool_s.assign(pools, 0);
    if (h.row.empty()) {
      h.row.assign(pools, 0);
      for (uint32_t k = 0; k < pools; ++k)
        if (p.pool < 0 || static_cast<uint32_t>(p.pool) == k) h.row[k] = job_throughput(s, p, k);
    }
  }
  // Every job listed is in jobs_ now; more entries than that means some have left.
  if (jobs_.size() != s.running.size() + s.pending.size())
    std::erase_if(jobs_, [&](const auto& kv) { return kv.second.seen != calls_; });
  last_s_ = s.now_s;
}

void GavelRoundsPolicy::solve(const ClusterSnapshot& s) {
  const size_t pools = s.pools.size();
  GavelLpInput in;
  in.capacity.assign(pools, 0);
  for (const auto& n : s.nodes) in.capacity[n.pool] += n.gpus;
  std::vector<uint64_t> ids;
  auto row = [&](const PendingJob& j) {
    std::vector<double> t(pools, 0);
    for (uint32_t k = 0; k < pools; ++k)
      if (j.pool < 0 || static_cast<uint32_t>(j.pool) == k) t[k] = job_throughput(s, j, k);
    return t;
  };
  for (auto& [id, h] : jobs_) h.lp.clear();
  // Running jobs: their row as they were seen waiting, else the pools' throughput.
  for (const auto& r : s.running) {
    ids.push_back(r.id);
    const History& h = jobs_.at(r.id);
    PendingJob j;
    j.gpus = r.gpus;
    in.throughput.push_back(!h.row.empty() ? h.row : row(j));
    in.gpus.push_back(r.gpus);
  }
  for (size_t i = 0; i < s.pending.size() && i < c_.window; ++i) {
    const PendingJob& j = s.pending[i];
    ids.push_back(j.id);
    in.throughput.push_back(jobs_.at(j.id).row);
    in.gpus.push_back(j.gpus);
  }
  const GavelLpResult lp = lp_.solve(in, c_.by_class, c_.reuse_lp);
  for (size_t i = 0; i < ids.size(); ++i) jobs_[ids[i]].lp = lp.fraction[i];
}

Decisions GavelRoundsPolicy::schedule(const ClusterSnapshot& s) {
  Decisions d;
  const size_t pools = s.pools.size();
  account(s);
  const bool round = next_round_s_ < 0 || s.now_s >= next_round_s_ - 1e-9;
  if (round) {
    solve(s);
    ++rounds_;
    next_round_s_ = s.now_s + c_.round_s;
  }
  d.wake_s = next_round_s_;

  // Candidates: (job, kind) with a share of the LP, by X / realised fraction (none realised yet: first, by X).
  // Jobs that arrived since the round's LP use their row's shares (a job's normalised throughput per kind).
  std::vector<Candidate> cands;
  auto add = [&](uint64_t id, uint32_t gpus) {
    const History& h = jobs_.at(id);
    std::vector<double> x = h.lp;
    if (x.empty()) {
      x = h.row;
      double sum = 0;
      for (double v : x) sum += v;
      for (double& v : x) v = sum > 0 ? v / sum : 0;
    }
    const double elapsed = s.now_s - h.since_s;
    double received = 0;
    for (double v : h.on_pool_s) received += v;
    for (uint32_t k = 0; k < pools; ++k) {
      if (x[k] <= 1e-9) continue;
      const double f = elapsed > 0 ? h.on_pool_s[k] / elapsed : 0;
      cands.push_back({f > 1e-12 ? x[k] / f : 1e12 * x[k], received, id, k, gpus});
    }
  };
  if (round)
    for (const auto& r : s.running) add(r.id, r.gpus);
  for (size_t i = 0; i < s.pending.size() && i < c_.window; ++i) add(s.pending[i].id, s.pending[i].gpus);
  std::stable_sort(cands.begin(), cands.end(), [](const Candidate& a, const Candidate& b) {
    if (a.priority != b.priority) return a.priority > b.priority;
    if (a.received_s != b.received_s) return a.received_s < b.received_s;
    return a.job != b.job ? a.job < b.job : a.kind < b.kind;
  });

  // A round hands out each kind's GPUs in that order; between rounds, only the free ones.
  std::vector<uint64_t> cap(pools, 0);
  std::vector<uint32_t> free;
  for (const auto& n : s.nodes) {
    cap[n.pool] += round ? n.gpus : n.free_gpus;
    free.push_back(n.free_gpus);
  }
  std::map<uint64_t, uint32_t> assigned;
  std::vector<Candidate> order;
  for (const auto& c : cands) {
    if (assigned.count(c.job) || c.gpus > cap[c.kind]) continue;
    assigned[c.job] = c.kind;
    cap[c.kind] -= c.gpus;
    order.push_back(c);
  }
  std::set<uint64_t> kept;
  if (round) {
    for (const auto& r : s.running) {
      auto it = assigned.find(r.id);
      if (it != assigned.end() && it->second == pool_of(s, r)) {
        kept.insert(r.id);
        continue;
      }
      d.preempt.push_back(r.id);
      for (const auto& sh : r.placement) free[sh.node] += sh.gpus;
    }
  }
  for (const auto& c : order) {
    if (kept.count(c.job)) continue;
    auto shares = place_topology(s, free, c.gpus, static_cast<int32_t>(c.kind));
    if (shares.empty()) continue;  // fragmented: the job waits for the next round
    for (const auto& sh : shares) free[sh.node] -= sh.gpus;
    d.start.push_back({c.job, std::move(shares)});
  }
  return d;
}

void register_gavel_rounds_policy(Registry<SchedulingPolicyFactory>& r, double round_s) {
  GavelRoundsConfig c;
  c.round_s = round_s;
  r.add("gavel-lp", "Gavel (OSDI 2020): max-min fairness LP over the throughput matrix (GLPK), rounds of time "
                    "slicing (default 6 min, --gavel-round) that track its fractions; preempts between rounds",
        [c] { return std::make_unique<GavelRoundsPolicy>(c); });
}

}  // namespace lcsim::policy
