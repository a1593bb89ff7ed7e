#include "workloads/cluster/job_speed.h"

#include <algorithm>
#include <numeric>
#include <set>

#include "sim/error.h"

namespace lcsim::cluster {

std::vector<std::vector<size_t>> SpeedCache::groups(const std::vector<RunningWork>& running) const {
  // Union-find over jobs; a leaf (and, for jobs spanning pods, a pod) links every job that touches it.
  std::vector<size_t> parent(running.size());
  std::iota(parent.begin(), parent.end(), 0);
  auto find = [&](size_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  };
  auto join = [&](size_t a, size_t b) {
    a = find(a), b = find(b);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  };
  std::map<uint32_t, size_t> by_leaf, by_pod;
  for (size_t i = 0; i < running.size(); ++i) {
    std::set<uint32_t> pods;
    for (const auto& sh : running[i].placement) {
      const auto& n = snap_.nodes.at(sh.node);
      auto [it, fresh] = by_leaf.emplace(n.leaf, i);
      if (!fresh) join(it->second, i);
      pods.insert(n.pod);
    }
    if (pods.size() > 1) {
      for (uint32_t p : pods) {
        auto [it, fresh] = by_pod.emplace(p, i);
        if (!fresh) join(it->second, i);
      }
    }
  }
  std::map<size_t, std::vector<size_t>> out;
  for (size_t i = 0; i < running.size(); ++i) out[find(i)].push_back(i);
  std::vector<std::vector<size_t>> g;
  for (auto& [root, members] : out) g.push_back(std::move(members));
  return g;
}

std::string SpeedCache::shape(const std::vector<RunningWork>& group) const {
  std::map<uint32_t, uint32_t> leaf, node, pod;
  std::string key;
  for (const auto& w : group) {
    key += "w" + std::to_string(w.workload) + ":";
    for (const auto& sh : w.placement) {
      const auto& n = snap_.nodes.at(sh.node);
      uint32_t l = leaf.emplace(n.leaf, static_cast<uint32_t>(leaf.size())).first->second;
      uint32_t k = node.emplace(sh.node, static_cast<uint32_t>(node.size())).first->second;
      uint32_t p = pod.emplace(n.pod, static_cast<uint32_t>(pod.size())).first->second;
      key += "p" + std::to_string(n.pool) + "o" + std::to_string(p) + "l" + std::to_string(l) + "n" +
             std::to_string(k) + "g" + std::to_string(sh.gpus) + ";";
    }
    key += "|";
  }
  return key;
}

void ServingRecord::add(const ServingLatency& l, double seconds, uint32_t group_jobs) {
  if (seconds <= 0) return;
  const double before = shared_s + alone_s, total = before + seconds;
  (group_jobs > 1 ? shared_s : alone_s) += seconds;
  ++groups;
  auto mean = [&](double& into, double x) { into = (into * before + x * seconds) / total; };
  mean(lifetime.ttft_p50_s, l.ttft_p50_s);
  mean(lifetime.tpot_p50_s, l.tpot_p50_s);
  mean(lifetime.kv_mean_s, l.kv_mean_s);
  mean(lifetime.slo_attainment, l.slo_attainment);
  lifetime.ttft_p99_s = std::max(lifetime.ttft_p99_s, l.ttft_p99_s);
  lifetime.tpot_p99_s = std::max(lifetime.tpot_p99_s, l.tpot_p99_s);
  lifetime.kv_p99_s = std::max(lifetime.kv_p99_s, l.kv_p99_s);
}

std::vector<JobSpeed> JobSpeedModel::speeds(const std::vector<RunningWork>& group) {
  std::vector<JobSpeed> out;
  for (double t : iteration_s(group)) out.push_back({t, false, {}, 1});
  return out;
}

std::vector<JobSpeed> SpeedCache::speeds(const std::vector<RunningWork>& running) {
  std::vector<JobSpeed> out(running.size());
  for (const auto& members : groups(running)) {
    std::vector<RunningWork> group;
    for (size_t i : members) group.push_back(running[i]);
    std::string key = shape(group);
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      ++evaluations_;
      std::vector<JobSpeed> t = model_.speeds(group);
      LCSIM_ASSERT(t.size() == group.size(), "job speed model answered for the wrong number of jobs");
      for (auto& x : t) {
        LCSIM_ASSERT(x.serving || x.iteration_s > 0, "job speed model gave a non-positive iteration time");
        x.group_jobs = static_cast<uint32_t>(group.size());
      }
      it = cache_.emplace(std::move(key), std::move(t)).first;
    } else {
      ++hits_;
    }
    for (size_t k = 0; k < members.size(); ++k) out[members[k]] = it->second[k];
  }
  return out;
}

std::vector<double> SpeedCache::iteration_s(const std::vector<RunningWork>& running) {
  std::vector<double> out;
  for (const auto& s : speeds(running)) out.push_back(s.iteration_s);
  return out;
}

}  // namespace lcsim::cluster
