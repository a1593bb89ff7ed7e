#include "models/network/transfer.h"

#include <algorithm>
#include <map>
#include <memory>
#include <tuple>

#include "sim/flow_copies.h"

namespace lcsim::net {

void FlowCalibration::Step::visit(Section& s) {
  s.field("min_size", min_size, "the factor applies to flows of at least this size", Range::at_least(0));
  s.field("factor", factor, "the factor", Range::positive());
}

void FlowCalibration::visit(Section& s) {
  s.list("bandwidth_factors", "steps of (min_size, factor): the fraction of bandwidth a flow of that size gets",
         bandwidth_factors, [](Section& x, Step& step) { step.visit(x); });
  s.list("latency_factors", "steps of (min_size, factor): the multiple of path latency a flow of that size pays",
         latency_factors, [](Section& x, Step& step) { step.visit(x); });
  if (s.mode() != Section::Mode::kParse) return;
  for (const auto* steps : {&bandwidth_factors, &latency_factors}) {
    for (size_t i = 1; i < steps->size(); ++i) {
      if ((*steps)[i].min_size <= (*steps)[i - 1].min_size) {
        s.error(steps == &bandwidth_factors ? "bandwidth_factors" : "latency_factors",
                "steps must be in increasing min_size order");
      }
    }
  }
}

double FlowCalibration::lookup(const std::vector<Step>& steps, Bytes size) {
  double f = 1;
  for (const auto& st : steps) {
    if (size >= st.min_size) f = st.factor;
  }
  return f;
}

TransferModel::TransferModel(sim::Engine& engine, Topology& topology, const policy::LoadBalancer& balancer,
                             TransferOptions options)
    : engine_(engine), topology_(topology), balancer_(balancer), options_(options) {
  const size_t n = topology.links().size();
  active_.assign(n, 0);
  link_bytes_.assign(n, 0.0);
  busy_since_.assign(n, Duration());
  traced_.assign(n, -1);
}

void TransferModel::set_link_up(uint32_t link, bool up) {
  LCSIM_ASSERT(link < topology_.links().size(), "unknown link");
  if (topology_.link_up(link) == up) return;
  topology_.set_link_up(link, up);
  if (options_.tracer) {
    options_.tracer->state({up ? StateEvent::What::kLinkUp : StateEvent::What::kLinkDown, link, engine_.now(), 0,
                            topology_.links()[link].name});
  }
  link_changed(link);
}

void TransferModel::set_link_bandwidth(uint32_t link, Bandwidth bandwidth) {
  LCSIM_ASSERT(link < topology_.links().size() && bandwidth.bps() > 0, "bad link bandwidth");
  topology_.set_link_bandwidth(link, bandwidth);
  if (link < bandwidth_text_.size()) bandwidth_text_[link].clear();
  if (options_.tracer) {
    options_.tracer->state({StateEvent::What::kLinkBandwidth, link, engine_.now(), bandwidth.bps(),
                            topology_.links()[link].name});
  }
  link_changed(link);
}

namespace {
/// The path cache's bound, in link ids held: ~64 MiB. Past it the cache starts again (batches in flight keep theirs).
constexpr size_t kPathCacheLinks = size_t{16} << 20;
}  // namespace

const TransferModel::CandidatesPtr& TransferModel::candidates(uint32_t src, uint32_t dst) {
  if (path_cache_version_ != topology_.up_version() || path_cache_links_ > kPathCacheLinks) {
    path_cache_.clear();
    path_cache_links_ = 0;
    path_cache_version_ = topology_.up_version();
  }
  CandidatesPtr& slot = path_cache_[uint64_t{src} << 32 | dst];
  if (slot) return slot;
  const bool service = topology_.is_service(src) || topology_.is_service(dst);
  if (service) {
    topology_.service_paths(src, dst, candidates_);
  } else {
    topology_.paths(src, dst, candidates_);
  }
  if (candidates_.empty()) {
    path_cache_.erase(uint64_t{src} << 32 | dst);
    throw InputError("no path from " + topology_.endpoint_name(src) + " to " + topology_.endpoint_name(dst) +
                     (service ? ": they share no network that is up (a GPU reaches hosts and storage servers only "
                                "where its node template models its PCIe path to the host)"
                              : ": failures (cluster.fabric.failed) cut every one"));
  }
  auto c = std::make_shared<Candidates>();
  c->paths = candidates_;
  for (const Path& p : c->paths) {
    Duration latency;
    for (uint32_t l : p) latency += topology_.links()[l].latency;
    c->latency.push_back(latency);
    path_cache_links_ += p.size();
  }
  slot = std::move(c);
  return slot;
}

void TransferModel::route(const std::vector<FlowRequest>& flows, std::vector<SubFlow>& out) {
  out.clear();
  routed_.resize(flows.size());
  for (size_t i = 0; i < flows.size(); ++i) {
    const FlowRequest& f = flows[i];
    LCSIM_ASSERT(f.src != f.dst, "flow from an endpoint to itself");
    routed_[i] = candidates(f.src, f.dst);
    const Candidates& c = *routed_[i];
    balancer_.choose({f.src, f.dst, f.label}, c.paths, this, shares_);
    const double bw_factor = options_.calibration.bandwidth_factor(f.size);
    const double lat_factor = options_.calibration.latency_factor(f.size);
    for (const auto& share : shares_) {
      const Path& path = c.paths[share.path_index];
      out.push_back({f.src, f.dst, f.size * share.fraction / bw_factor, &path,
                     c.latency[share.path_index] * (lat_factor - 1), static_cast<uint32_t>(i)});
      links_busy(path);
      for (uint32_t l : path) link_bytes_[l] += out.back().size.bytes();
    }
  }
}

void TransferModel::account(const std::vector<FlowRequest>& flows) {
  flows_started_ += flows.size();
  for (const auto& f : flows) bytes_moved_ += f.size;
}

void TransferModel::links_busy(const Path& p) {
  for (uint32_t l : p) {
    if (active_[l]++ == 0) busy_since_[l] = engine_.now();
  }
}

void TransferModel::unroute(const Path& p, Bytes size) {
  for (uint32_t l : p) {
    --active_[l];
    link_bytes_[l] -= size.bytes();
  }
}

void TransferModel::links_idle(const Path& p) {
  for (uint32_t l : p) {
    LCSIM_ASSERT(active_[l] > 0, "link went idle twice");
    if (--active_[l] != 0 || !options_.tracer || !options_.tracer->enabled()) continue;
    const LinkInfo& info = topology_.links()[l];
    if (traced_[l] < 0) {
      size_t& count = traced_per_tier_[info.tier];
      traced_[l] = count < options_.max_traced_links ? 1 : 0;
      count += static_cast<size_t>(traced_[l]);
    }
    if (traced_[l] == 1) {
      if (bandwidth_text_.size() <= l) bandwidth_text_.resize(topology_.links().size());
      std::string& text = bandwidth_text_[l];
      if (text.empty()) text = to_string(info.bandwidth);
      SpanEvent& e = busy_span_;
      e.kind = SpanKind::kLink;
      e.rank = l;
      e.start = busy_since_[l];
      e.end = engine_.now();
      e.name = "busy";
      if (e.args.size() != 1) e.args.assign(1, {"bandwidth", ""});
      e.args[0].second = text;
      options_.tracer->span(e);
    }
  }
}

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
/// sub-flow; the threshold stays where it was, so the numbers do not move (docs/performance-flow.md, "Flow fidelity at
/// scale").
constexpr size_t kMergeFrom = 4096;

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

}  // namespace

void FlowTransfer::transfer(const std::vector<FlowRequest>& flows, sim::Callback done, sim::Callback failed) {
  LCSIM_ASSERT(!hosts_.empty() || topology_.endpoint_count() == 0, "FlowTransfer::install() not called");
  std::vector<SubFlow> subs;
  route(flows, subs);
  account(flows);
  if (subs.empty()) {
    engine_.after(Duration(), std::move(done), sim::kCompletion);
    return;
  }
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
  size_t n_coupled = 0;
  for (const FlowRequest& f : flows) n_coupled += f.coupled ? 1 : 0;
  const bool couple = n_coupled >= std::max<size_t>(options_.couple_from, 2);
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
  // The batch: its engine flows (a timer first where a latency factor delays the start), which are still
  // running, and whether a failure already ended it.
  struct Pending {
    size_t left;
    sim::Callback done, failed;
    std::vector<sim::Handle> handles;
    std::vector<std::vector<Path>> paths;  // per group: the paths of one of its flows
    std::vector<uint32_t> copies;
    std::vector<bool> running;
    bool dead = false;
  };
  auto pending = std::make_shared<Pending>();
  const size_t n = members.size();
  pending->left = n;
  pending->done = std::move(done);
  pending->failed = std::move(failed);
  pending->handles.resize(n);
  pending->running.assign(n, true);
  pending->copies = std::move(copies);
  pending->paths.resize(n);
  for (size_t g = 0; g < n; ++g) {
    for (size_t u : members[g]) {
      const auto [first, count] = units[u];
      for (size_t j = 0; j < count; ++j) pending->paths[g].push_back(*subs[first + j].path);
    }
  }
  // Each sub-flow of a group marked its links busy once (route()); the group frees them once per sub-flow.
  auto idle = [this, pending](size_t g) {
    for (uint32_t c = 0; c < pending->copies[g]; ++c) {
      for (const Path& p : pending->paths[g]) links_idle(p);
    }
  };
  for (size_t g = 0; g < n; ++g) {
    const SubFlow& s = subs[units[members[g].front()].first];
    const uint32_t k_copies = pending->copies[g];
    std::vector<std::vector<sim::LinkId>> sim_paths;
    for (const Path& p : pending->paths[g]) {
      sim_paths.emplace_back();
      for (uint32_t l : p) sim_paths.back().push_back(link_ids_[l]);
    }
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
    auto start = [this, src = hosts_[s.src], dst = hosts_[s.dst], size = s.size, sim_paths = std::move(sim_paths),
                  k_copies](sim::Callback ok, sim::Callback bad) {
      if (sim_paths.size() == 1) {
        return sim::flow_copies(engine_, src, dst, size, sim_paths[0], k_copies, std::move(ok), std::move(bad));
      }
      return engine_.flow_spread(src, dst, size, sim_paths, std::move(ok), std::move(bad), k_copies);
    };
    if (s.extra_latency.s() > 0) {
      pending->handles[g] = engine_.after(s.extra_latency, [this, pending, g, start, on_done, on_failed,
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

Duration AnalyticalTransfer::estimate(const std::vector<FlowRequest>& flows) {
  std::vector<SubFlow> subs;
  route(flows, subs);
  for (const SubFlow& s : subs) unroute(*s.path, s.size);
  return cost(subs);
}

void AnalyticalTransfer::prepare_links() {
  const auto& links = topology_.links();
  const auto& vertices = topology_.vertices();
  load_.assign(links.size(), 0.0);
  drained_at_.assign(links.size(), 0.0);
  fabric_link_.assign(links.size(), false);
  auto endpoint_side = [&](uint32_t v) {
    const std::string& k = vertices[v].kind;
    return k == "gpu" || k == "scale_up_switch" || k == "pcie_switch" || k == "root_complex" || k == "host" ||
           k == "storage_server";
  };
  for (size_t l = 0; l < links.size(); ++l) {
    fabric_link_[l] = !endpoint_side(links[l].from) && !endpoint_side(links[l].to);
  }
}

Duration AnalyticalTransfer::cost(const std::vector<SubFlow>& subs) {
  // Only the links this batch touches are visited (a 16K-GPU fabric has ~10^5 links, a batch a few hundred).
  if (load_.size() != topology_.links().size()) prepare_links();
  for (uint32_t l : touched_) load_[l] = 0.0;
  touched_.clear();
  double worst_latency = 0, worst_serialization = 0;
  for (const SubFlow& s : subs) {
    double latency = s.extra_latency.s();
    for (uint32_t l : *s.path) {
      if (load_[l] == 0.0) touched_.push_back(l);
      load_[l] += s.size.bytes();
      latency += topology_.links()[l].latency.s();
    }
    worst_latency = std::max(worst_latency, latency);
  }
  const double now = engine_.now().s();
  for (uint32_t l : touched_) {
    // On a fabric link, this batch's bytes queue behind those of batches routed over it before.
    const double queued = fabric_link_[l] ? std::max(0.0, drained_at_[l] - now) : 0.0;
    worst_serialization = std::max(worst_serialization, queued + load_[l] / topology_.links()[l].bandwidth.bps());
  }
  last_latency_ = Duration::seconds(worst_latency);
  last_serialization_ = Duration::seconds(worst_serialization);
  return Duration::seconds(worst_latency + worst_serialization);
}

uint32_t AnalyticalTransfer::take_slot() {
  if (free_batches_.empty()) {
    batches_.emplace_back();
    return static_cast<uint32_t>(batches_.size() - 1);
  }
  const uint32_t slot = free_batches_.back();
  free_batches_.pop_back();
  return slot;
}

void AnalyticalTransfer::free_slot(uint32_t slot) {
  Batch& b = batches_[slot];
  b.live = false;
  b.timer = {};
  b.loads.clear();
  b.rates.clear();
  b.paths.clear();
  b.keep.clear();  // releases the candidates; transfer() swaps the emptied vector into routed_ for the next batch
  b.done = nullptr;
  b.failed = nullptr;
  free_batches_.push_back(slot);
}

void AnalyticalTransfer::transfer(const std::vector<FlowRequest>& flows, sim::Callback done, sim::Callback failed) {
  std::vector<SubFlow>& subs = subs_;
  route(flows, subs);
  account(flows);
  const Duration t = cost(subs);
  if (rate_.empty()) rate_.assign(topology_.links().size(), 0.0);
  const uint32_t slot = take_slot();
  Batch& b = batches_[slot];
  b.id = next_batch_++;
  b.live = true;
  const double now = engine_.now().s();
  for (uint32_t l : touched_) {
    if (load_[l] <= 0) continue;
    if (fabric_link_[l]) drained_at_[l] = std::max(drained_at_[l], now) + load_[l] / topology_.links()[l].bandwidth.bps();
    b.loads.push_back({l, load_[l]});
    if (t.s() > 0) b.rates.push_back({l, load_[l] / t.s()});
  }
  for (const auto& [l, r] : b.rates) rate_[l] += r;
  for (const SubFlow& s : subs) b.paths.push_back(s.path);
  b.keep.swap(routed_);  // the batch takes the candidates (no copies of the shared pointers); route() refills routed_
  b.latency = last_latency_;
  b.serial_start = engine_.now();
  b.serial_end = engine_.now() + last_serialization_;
  b.done = std::move(done);
  b.failed = std::move(failed);
  b.timer = engine_.after(t, [this, slot] { finish(slot); }, sim::kCompletion);
  engine_.on_cancel(b.timer, [this, slot] { abandon(slot); });
}

void AnalyticalTransfer::abandon(uint32_t slot) {
  if (slot >= batches_.size() || !batches_[slot].live) return;
  Batch& b = batches_[slot];
  for (const auto& [l, r] : b.rates) rate_[l] -= r;
  for (const Path* p : b.paths) links_idle(*p);
  free_slot(slot);
}

void AnalyticalTransfer::retime(uint32_t slot, Duration when) {
  Batch& b = batches_[slot];
  engine_.on_cancel(b.timer, {});
  b.timer.cancel();
  b.timer = engine_.at(when, [this, slot] { finish(slot); }, sim::kCompletion);
  engine_.on_cancel(b.timer, [this, slot] { abandon(slot); });
}

void AnalyticalTransfer::finish(uint32_t slot) {
  LCSIM_ASSERT(slot < batches_.size() && batches_[slot].live, "batch finished twice");
  Batch& b = batches_[slot];
  for (const auto& [l, r] : b.rates) rate_[l] -= r;
  for (const Path* p : b.paths) links_idle(*p);
  // The slot is free before the callback runs: what it starts may take it (or grow batches_).
  sim::Callback done = std::move(b.done);
  free_slot(slot);
  done();
}

void AnalyticalTransfer::link_changed(uint32_t link) {
  const Duration now = engine_.now();
  const bool up = topology_.link_up(link);
  std::vector<sim::Callback> failures;
  // The batches in flight in the order they started (as a map by id visited them before slots were reused).
  std::vector<std::pair<uint64_t, uint32_t>> order;
  for (uint32_t i = 0; i < batches_.size(); ++i) {
    if (batches_[i].live) order.push_back({batches_[i].id, i});
  }
  std::sort(order.begin(), order.end());
  for (const auto& [id, slot] : order) {
    Batch& b = batches_[slot];
    bool crosses = false;
    for (const Path* p : b.paths) crosses = crosses || std::find(p->begin(), p->end(), link) != p->end();
    if (!crosses) continue;
    for (const auto& [l, r] : b.rates) rate_[l] -= r;
    b.rates.clear();
    if (!up) {  // the batch fails: its bytes never all arrive
      engine_.on_cancel(b.timer, {});
      b.timer.cancel();
      for (const Path* p : b.paths) links_idle(*p);
      ++batches_failed_;
      if (b.failed) failures.push_back(std::move(b.failed));
      free_slot(slot);
      continue;
    }
    if (now < b.serial_end) {  // bytes still crossing: the rest moves at the new bandwidths
      const double span = (b.serial_end - b.serial_start).s();
      const double left = span > 0 ? (b.serial_end - now).s() / span : 0.0;
      double serial = 0;
      for (auto& [l, bytes] : b.loads) {
        bytes *= left;
        serial = std::max(serial, bytes / topology_.links()[l].bandwidth.bps());
      }
      b.serial_start = now;
      b.serial_end = now + Duration::seconds(serial);
      const double t = serial + b.latency.s();
      if (t > 0) {
        for (const auto& [l, bytes] : b.loads) b.rates.push_back({l, bytes / t});
      }
      for (const auto& [l, r] : b.rates) rate_[l] += r;
      retime(slot, b.serial_end + b.latency);
    }
  }
  for (auto& f : failures) f();
}

}  // namespace lcsim::net
