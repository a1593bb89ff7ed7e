// The flow model (FlowTransfer): a batch of flows becomes engine flows with max-min sharing (SimGrid's, or the
// queue backend's), grouped where max-min gives flows equal rates (identical flows of a large wave) or where the
// model couples them (an all-to-all's classes). A coupled batch's plan is kept and reused when the same all-to-all
// comes again (docs/performance-flow.md, "Weighted elements and reused all-to-all plans").
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <tuple>

#include "models/network/transfer.h"
#include "sim/flow_copies.h"

namespace lcsim::net {

/// A batch made ready for the engine: its engine flows ("groups"), and what each needs to start and to free its
/// links when it ends.
struct FlowTransfer::Plan {
  struct Group {
    uint32_t src = 0, dst = 0;  // endpoints of its first flow
    Bytes size;                 // of each of its sub-flows, as the links see it
    Duration extra_latency;     // waited before it starts (a latency factor above 1)
    uint32_t copies = 1;        // identical flows it stands for
    std::vector<Path> paths;    // its flow's paths (one, or a sprayed flow's); none for a counted class
    /// A coupled class of several flows: each link its sub-flows cross (in the order they first cross it) and how
    /// many cross it; what listing every path would add up to, at one entry per link.
    std::vector<std::pair<uint32_t, uint32_t>> counted;
    Duration latency;                                 // a counted class: its largest path latency
    std::vector<std::vector<sim::LinkId>> sim_paths;  // `paths` as engine links
    std::vector<sim::LinkId> links;                   // `counted` as engine links, and their counts
    std::vector<uint32_t> crossings;
  };
  std::vector<FlowRequest> flows;  // the batch it was made for (a reuse compares it: the cache key is a hash)
  std::vector<Group> groups;
  size_t entries = 0;  // link entries held, the plan cache's bound
};

void FlowTransfer::install(const std::vector<sim::HostId>& endpoint_hosts) {
  LCSIM_ASSERT(endpoint_hosts.size() == topology_.endpoint_count() ||
                   endpoint_hosts.size() == topology_.all_endpoint_count(),
               "one engine host per endpoint (GPUs, or GPUs and service endpoints)");
  hosts_ = endpoint_hosts;
  for (const auto& l : topology_.links()) link_ids_.push_back(engine_.add_link(l.name, l.bandwidth, l.latency));
}

namespace {

/// Batches of at least this many sub-flows start identical sub-flows as one weighted engine flow: fewer comms in
/// SimGrid's max-min system. (It was introduced when SimGrid 3.32 paid O(comms in flight) per completed comm; the
/// simgrid backend now avoids that scan, sim/simgrid_engine.cc.) Smaller batches keep one engine flow per
/// sub-flow; the threshold stays where it was, so the numbers do not move (docs/performance-flow.md, "Flow
/// fidelity at scale").
constexpr size_t kMergeFrom = 4096;

/// The plan cache's bound in link entries (~16 bytes each with the engine's copy): ~256 MiB. Past it the cache
/// starts again (batches in flight keep their plans).
constexpr size_t kPlanEntries = size_t{16} << 20;

/// What makes two engine flows of one batch identical: the same ends, paths, size and extra latency.
struct SameFlow {
  uint32_t src, dst;
  double size, extra;
  std::vector<const Path*> paths;
  bool operator<(const SameFlow& o) const {
    if (src != o.src) return src < o.src;
    if (dst != o.dst) return dst < o.dst;
    if (size != o.size) return size < o.size;
    if (extra != o.extra) return extra < o.extra;
    if (paths.size() != o.paths.size()) return paths.size() < o.paths.size();
    for (size_t i = 0; i < paths.size(); ++i) {
      if (*paths[i] != *o.paths[i]) return *paths[i] < *o.paths[i];
    }
    return false;
  }
};

bool same_flows(const std::vector<FlowRequest>& a, const std::vector<FlowRequest>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].src != b[i].src || a[i].dst != b[i].dst || a[i].size != b[i].size || a[i].label != b[i].label ||
        a[i].coupled != b[i].coupled || a[i].latency != b[i].latency) {
      return false;
    }
  }
  return true;
}

/// FNV-1a over what routing and grouping read of each flow.
uint64_t flows_key(const std::vector<FlowRequest>& flows) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  };
  for (const FlowRequest& f : flows) {
    const double size = f.size.bytes();
    uint64_t bits = 0;
    std::memcpy(&bits, &size, sizeof bits);
    mix(uint64_t{f.src} << 32 | f.dst);
    mix(bits);
    mix(f.label * 2 + (f.coupled ? 1 : 0));
  }
  return h;
}

}  // namespace

void FlowTransfer::transfer(const std::vector<FlowRequest>& flows, sim::Callback done, sim::Callback failed) {
  LCSIM_ASSERT(!hosts_.empty() || topology_.endpoint_count() == 0, "FlowTransfer::install() not called");
  size_t n_coupled = 0;
  for (const FlowRequest& f : flows) n_coupled += f.coupled ? 1 : 0;
  const bool couple = n_coupled >= std::max<size_t>(options_.couple_from, 2);
  // A coupled batch (an all-to-all) comes again and again with the same ranks and sizes: its routes and classes
  // are those of the last time while the routes cannot change (links up as they were, and a policy that is a
  // function of the flow, not of the loads), so they are kept by the batch.
  const bool keep = couple && !balancer_.reads_loads();
  const uint64_t key = keep ? flows_key(flows) : 0;
  std::shared_ptr<const Plan> plan = keep ? kept_plan(flows, key) : nullptr;
  if (!plan) {
    plan = make_plan(flows, couple);
    if (keep) {
      if (plans_size_ + plan->entries > kPlanEntries) {
        plans_.clear();
        plans_size_ = 0;
      }
      plans_size_ += plan->entries;
      plans_[key] = plan;
    }
  }
  account(flows);
  if (plan->groups.empty()) {
    engine_.after(Duration(), std::move(done), sim::kCompletion);
    return;
  }
  launch(std::move(plan), std::move(done), std::move(failed));
}

std::shared_ptr<const FlowTransfer::Plan> FlowTransfer::kept_plan(const std::vector<FlowRequest>& flows,
                                                                  uint64_t key) {
  if (plans_version_ != topology_.up_version()) {
    plans_.clear();
    plans_size_ = 0;
    plans_version_ = topology_.up_version();
  }
  auto it = plans_.find(key);
  if (it == plans_.end() || !same_flows(it->second->flows, flows)) return nullptr;
  // What route() marked for each sub-flow: its links busy and its bytes carried.
  for (const Plan::Group& g : it->second->groups) {
    for (const Path& p : g.paths) {
      for (uint32_t l : p) link_busy(l, g.copies, g.size);
    }
    for (const auto& [l, k] : g.counted) link_busy(l, k * g.copies, g.size);
  }
  return it->second;
}

std::shared_ptr<const FlowTransfer::Plan> FlowTransfer::make_plan(const std::vector<FlowRequest>& flows,
                                                                 bool couple) {
  auto plan = std::make_shared<Plan>();
  if (couple) plan->flows = flows;
  std::vector<SubFlow> subs;
  route(flows, subs);
  if (subs.empty()) return plan;
  // Units, one engine flow each: a sub-flow, or (when the policy's shares move at one rate: spraying) all the
  // equal shares of one flow, sprayed over their paths at one rate (Engine::flow_spread).
  std::vector<std::pair<size_t, size_t>> units;  // [first, first + count) of subs
  const bool one_rate = balancer_.one_rate();
  for (size_t k = 0; k < subs.size();) {
    size_t m = 1;
    while (one_rate && k + m < subs.size() && subs[k + m].flow == subs[k].flow &&
           subs[k + m].size == subs[k].size && subs[k + m].extra_latency == subs[k].extra_latency) {
      ++m;
    }
    units.emplace_back(k, m);
    k += m;
  }
  // Groups of units that run as one engine flow. Large batches (kMergeFrom): identical units, since max-min gives
  // identical flows equal rates, as one engine flow with `copies` shares. Coupled flows (an all-to-all's, at least
  // options_.couple_from of them): every unit of one class (same size, extra latency and path latency) as one
  // engine flow over all their paths at one rate. Groups keep the order of their first unit.
  std::vector<std::vector<size_t>> members;  // per group: its units (the first leads)
  std::vector<uint32_t> copies;              // per group: how many times each of its units counts
  auto unit_latency = [&](size_t u) {
    double latency = 0;
    for (size_t j = 0; j < units[u].second; ++j) {
      double l = 0;
      for (uint32_t link : *subs[units[u].first + j].path) l += topology_.links()[link].latency.s();
      latency = std::max(latency, l);
    }
    return latency;
  };
  if (couple) {
    std::map<std::tuple<double, double, double>, size_t> class_of;  // size, extra latency, path latency
    for (size_t u = 0; u < units.size(); ++u) {
      const SubFlow& s = subs[units[u].first];
      if (flows[s.flow].coupled) {
        auto [it, fresh] = class_of.emplace(std::make_tuple(s.size.bytes(), s.extra_latency.s(), unit_latency(u)),
                                            members.size());
        if (!fresh) {
          members[it->second].push_back(u);
          continue;
        }
      }
      members.push_back({u});
      copies.push_back(1);
    }
  } else if (subs.size() >= kMergeFrom) {
    std::map<SameFlow, size_t> group_of;
    for (size_t u = 0; u < units.size(); ++u) {
      const SubFlow& s = subs[units[u].first];
      if (unit_latency(u) > 0) {  // a weighted flow needs a path latency (sim/flow_copies.h)
        SameFlow key{s.src, s.dst, s.size.bytes(), s.extra_latency.s(), {}};
        for (size_t j = 0; j < units[u].second; ++j) key.paths.push_back(subs[units[u].first + j].path);
        auto [it, fresh] = group_of.emplace(std::move(key), members.size());
        if (!fresh) {
          ++copies[it->second];
          continue;
        }
      }
      members.push_back({u});
      copies.push_back(1);
    }
  } else {
    for (size_t u = 0; u < units.size(); ++u) members.push_back({u});
    copies.assign(units.size(), 1);
  }
  if (link_stamp_.size() != topology_.links().size()) {
    link_stamp_.assign(topology_.links().size(), 0);
    link_entry_.assign(topology_.links().size(), 0);
  }
  plan->groups.resize(members.size());
  for (size_t g = 0; g < members.size(); ++g) {
    Plan::Group& group = plan->groups[g];
    const SubFlow& s = subs[units[members[g].front()].first];
    group.src = s.src;
    group.dst = s.dst;
    group.size = s.size;
    group.extra_latency = s.extra_latency;
    group.copies = copies[g];
    // One path: the engine flow takes it as it is. Several (a sprayed flow's paths, a coupled class's): each link
    // once with the number of paths crossing it (Engine::flow_spread(links, crossings)), not a copy of every path.
    if (members[g].size() == 1 && units[members[g].front()].second == 1) {
      for (size_t u : members[g]) {
        for (size_t j = 0; j < units[u].second; ++j) {
          const Path& p = *subs[units[u].first + j].path;
          group.paths.push_back(p);
          group.sim_paths.emplace_back();
          for (uint32_t l : p) group.sim_paths.back().push_back(link_ids_[l]);
          plan->entries += p.size();
        }
      }
      continue;
    }
    ++stamp_;
    double latency = 0;
    for (size_t u : members[g]) {
      for (size_t j = 0; j < units[u].second; ++j) {
        double path_latency = 0;
        for (uint32_t l : *subs[units[u].first + j].path) {
          path_latency += topology_.links()[l].latency.s();
          if (link_stamp_[l] != stamp_) {
            link_stamp_[l] = stamp_;
            link_entry_[l] = static_cast<uint32_t>(group.counted.size());
            group.counted.emplace_back(l, 0);
          }
          ++group.counted[link_entry_[l]].second;
        }
        latency = std::max(latency, path_latency);
      }
    }
    group.latency = Duration::seconds(latency);
    for (const auto& [l, k] : group.counted) {
      group.links.push_back(link_ids_[l]);
      group.crossings.push_back(k);
    }
    plan->entries += group.counted.size();
  }
  return plan;
}

void FlowTransfer::launch(std::shared_ptr<const Plan> plan, sim::Callback done, sim::Callback failed) {
  // The batch: its engine flows (a timer first where a latency factor delays the start), which are still
  // running, and whether a failure already ended it.
  struct Pending {
    std::shared_ptr<const Plan> plan;
    size_t left;
    sim::Callback done, failed;
    std::vector<sim::Handle> handles;
    std::vector<bool> running;
    bool dead = false;
  };
  auto pending = std::make_shared<Pending>();
  const size_t n = plan->groups.size();
  pending->plan = std::move(plan);
  pending->left = n;
  pending->done = std::move(done);
  pending->failed = std::move(failed);
  pending->handles.resize(n);
  pending->running.assign(n, true);
  // Each sub-flow of a group marked its links busy once (route()); the group frees them once per sub-flow.
  auto idle = [this, pending](size_t g) {
    const Plan::Group& group = pending->plan->groups[g];
    for (uint32_t c = 0; c < group.copies; ++c) {
      for (const Path& p : group.paths) links_idle(p);
    }
    for (const auto& [l, k] : group.counted) link_idle(l, k * group.copies);
  };
  for (size_t g = 0; g < n; ++g) {
    const Plan::Group& group = pending->plan->groups[g];
    auto on_done = [pending, idle, g] {
      pending->running[g] = false;
      idle(g);
      if (--pending->left == 0) pending->done();
    };
    auto on_failed = [this, pending, idle] {
      if (pending->dead) return;
      pending->dead = true;
      ++batches_failed_;
      for (size_t j = 0; j < pending->handles.size(); ++j) {
        if (pending->running[j]) idle(j);
        pending->running[j] = false;
        pending->handles[j].cancel();
      }
      if (pending->failed) pending->failed();
    };
    // Cancelled from outside (the job that started it was stopped): the links it held are idle again.
    auto on_cancelled = [pending, idle, g] {
      if (pending->running[g]) idle(g);
      pending->running[g] = false;
    };
    auto start = [this, pending, g](sim::Callback ok, sim::Callback bad) {
      const Plan::Group& x = pending->plan->groups[g];
      const sim::HostId src = hosts_[x.src], dst = hosts_[x.dst];
      if (!x.links.empty()) {
        return engine_.flow_spread(src, dst, x.size, x.links, x.crossings, x.latency, std::move(ok), std::move(bad),
                                   x.copies);
      }
      if (x.sim_paths.size() == 1) {
        return sim::flow_copies(engine_, src, dst, x.size, x.sim_paths[0], x.copies, std::move(ok), std::move(bad));
      }
      return engine_.flow_spread(src, dst, x.size, x.sim_paths, std::move(ok), std::move(bad), x.copies);
    };
    if (group.extra_latency.s() > 0) {
      pending->handles[g] = engine_.after(group.extra_latency, [this, pending, g, start, on_done, on_failed,
                                                               on_cancelled]() mutable {
        pending->handles[g] = start(std::move(on_done), std::move(on_failed));
        engine_.on_cancel(pending->handles[g], on_cancelled);
      });
    } else {
      pending->handles[g] = start(std::move(on_done), std::move(on_failed));
    }
    engine_.on_cancel(pending->handles[g], on_cancelled);
  }
}

void FlowTransfer::link_changed(uint32_t link) {
  const sim::LinkId l = link_ids_.at(link);
  engine_.set_link_bandwidth(l, topology_.links()[link].bandwidth);
  engine_.set_link_on(l, topology_.link_up(link));  // the engine fails the flows crossing it
}

}  // namespace lcsim::net
