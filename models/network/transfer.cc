#include "models/network/transfer.h"

#include <algorithm>
#include <memory>

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

TransferModel::TransferModel(sim::Engine& engine, const Topology& topology, const policy::LoadBalancer& balancer,
                             TransferOptions options)
    : engine_(engine), topology_(topology), balancer_(balancer), options_(options) {
  const size_t n = topology.links().size();
  active_.assign(n, 0);
  link_bytes_.assign(n, 0.0);
  busy_since_.assign(n, Duration());
  traced_.assign(n, -1);
}

void TransferModel::route(const std::vector<FlowRequest>& flows, std::vector<SubFlow>& out) {
  out.clear();
  path_store_.resize(flows.size());
  for (size_t i = 0; i < flows.size(); ++i) {
    const FlowRequest& f = flows[i];
    LCSIM_ASSERT(f.src != f.dst, "flow from an endpoint to itself");
    topology_.paths(f.src, f.dst, candidates_);
    if (candidates_.empty()) {
      throw InputError("no path from GPU " + std::to_string(f.src) + " to GPU " + std::to_string(f.dst) +
                       ": failures (cluster.fabric.failed) cut every one");
    }
    balancer_.choose({f.src, f.dst, f.label}, candidates_, this, shares_);
    auto& store = path_store_[i];
    store.clear();
    for (const auto& s : shares_) store.push_back(candidates_[s.path_index]);
    const double bw_factor = options_.calibration.bandwidth_factor(f.size);
    const double lat_factor = options_.calibration.latency_factor(f.size);
    for (size_t k = 0; k < shares_.size(); ++k) {
      Duration latency;
      for (uint32_t l : store[k]) latency += topology_.links()[l].latency;
      out.push_back({f.src, f.dst, f.size * shares_[k].fraction / bw_factor, &store[k], latency * (lat_factor - 1)});
      links_busy(store[k]);
      for (uint32_t l : store[k]) link_bytes_[l] += out.back().size.bytes();
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
      options_.tracer->span({"links (" + info.tier + ")", info.name, "busy", "link", busy_since_[l], engine_.now(),
                             {{"bandwidth", to_string(info.bandwidth)}}});
    }
  }
}

void FlowTransfer::install(const std::vector<sim::HostId>& endpoint_hosts) {
  LCSIM_ASSERT(endpoint_hosts.size() == topology_.endpoint_count(), "one host per endpoint");
  hosts_ = endpoint_hosts;
  for (const auto& l : topology_.links()) link_ids_.push_back(engine_.add_link(l.name, l.bandwidth, l.latency));
}

void FlowTransfer::transfer(const std::vector<FlowRequest>& flows, sim::Callback done) {
  LCSIM_ASSERT(!hosts_.empty() || topology_.endpoint_count() == 0, "FlowTransfer::install() not called");
  std::vector<SubFlow> subs;
  route(flows, subs);
  account(flows);
  if (subs.empty()) {
    engine_.after(Duration(), std::move(done), sim::kCompletion);
    return;
  }
  struct Pending {
    size_t left;
    sim::Callback done;
  };
  auto pending = std::make_shared<Pending>(Pending{subs.size(), std::move(done)});
  std::vector<sim::LinkId> sim_path;
  for (const SubFlow& s : subs) {
    sim_path.clear();
    for (uint32_t l : *s.path) sim_path.push_back(link_ids_[l]);
    Path path = *s.path;
    auto on_done = [this, pending, path = std::move(path)] {
      links_idle(path);
      if (--pending->left == 0) pending->done();
    };
    if (s.extra_latency.s() > 0) {
      engine_.after(s.extra_latency, [this, src = hosts_[s.src], dst = hosts_[s.dst], size = s.size, sim_path,
                                      on_done = std::move(on_done)]() mutable {
        engine_.flow(src, dst, size, sim_path, std::move(on_done));
      });
    } else {
      engine_.flow(hosts_[s.src], hosts_[s.dst], s.size, sim_path, std::move(on_done));
    }
  }
}

Duration AnalyticalTransfer::estimate(const std::vector<FlowRequest>& flows) {
  std::vector<SubFlow> subs;
  route(flows, subs);
  for (const SubFlow& s : subs) unroute(*s.path, s.size);
  return cost(subs);
}

Duration AnalyticalTransfer::cost(const std::vector<SubFlow>& subs) {
  // Only the links this batch touches are visited (a 16K-GPU fabric has ~10^5 links, a batch a few hundred).
  if (load_.size() != topology_.links().size()) load_.assign(topology_.links().size(), 0.0);
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
  for (uint32_t l : touched_) {
    worst_serialization = std::max(worst_serialization, load_[l] / topology_.links()[l].bandwidth.bps());
  }
  return Duration::seconds(worst_latency + worst_serialization);
}

void AnalyticalTransfer::transfer(const std::vector<FlowRequest>& flows, sim::Callback done) {
  std::vector<SubFlow> subs;
  route(flows, subs);
  account(flows);
  const Duration t = cost(subs);
  if (rate_.empty()) rate_.assign(topology_.links().size(), 0.0);
  auto loads = std::make_shared<std::vector<std::pair<uint32_t, double>>>();  // link, rate of this batch
  if (t.s() > 0) {
    for (uint32_t l : touched_) {
      if (load_[l] > 0) loads->push_back({l, load_[l] / t.s()});
    }
  }
  for (const auto& [l, r] : *loads) rate_[l] += r;
  auto paths = std::make_shared<std::vector<Path>>();
  for (const SubFlow& s : subs) paths->push_back(*s.path);
  engine_.after(t, [this, paths, loads, done = std::move(done)] {
    for (const auto& [l, r] : *loads) rate_[l] -= r;
    for (const Path& p : *paths) links_idle(p);
    done();
  }, sim::kCompletion);
}

}  // namespace lcsim::net
