#include "models/network/transfer.h"

#include <algorithm>
#include <cstring>
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
  LCSIM_ASSERT(engine_.now() >= unwatched_until_, "a link changed under a batch in flight without an event");
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
  LCSIM_ASSERT(engine_.now() >= unwatched_until_, "a link changed under a batch in flight without an event");
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
                     c.latency[share.path_index] * (lat_factor - 1) + f.latency, static_cast<uint32_t>(i)});
      mark(out.back());
    }
  }
}

void TransferModel::mark(const SubFlow& s) {
  // links_busy(), then the bytes per link, in one walk: the two touch different arrays, so each gets the same
  // additions in the same order.
  const Duration now = engine_.now();
  const double bytes = s.size.bytes();
  for (uint32_t l : *s.path) {
    if (active_[l]++ == 0) busy_since_[l] = now;
    link_bytes_[l] += bytes;
  }
}

void TransferModel::count_bytes(const std::vector<std::pair<uint32_t, double>>& adds) {
  for (const auto& [l, bytes] : adds) link_bytes_[l] += bytes;
}

void TransferModel::account(const std::vector<FlowRequest>& flows) {
  for (const auto& f : flows) account(f);
}

void TransferModel::account(const FlowRequest& flow) {
  ++flows_started_;
  bytes_moved_ += flow.size;
}

void TransferModel::links_busy(const Path& p) {
  const Duration now = engine_.now();
  for (uint32_t l : p) {
    if (active_[l]++ == 0) busy_since_[l] = now;
  }
}

void TransferModel::unroute(const Path& p, Bytes size) {
  for (uint32_t l : p) {
    --active_[l];
    link_bytes_[l] -= size.bytes();
  }
}

void TransferModel::links_idle(const Path& p) {
  const bool spans = options_.tracer && options_.tracer->enabled();
  for (uint32_t l : p) {  // link_idle(l, 1), its common case inline: the link still busy, or no timeline
    LCSIM_ASSERT(active_[l] >= 1, "link went idle twice");
    if (--active_[l] == 0 && spans) link_idle(l, 0);  // its busy span
  }
}

void TransferModel::link_busy(uint32_t l, uint32_t count, Bytes each) {
  if (active_[l] == 0 && count > 0) busy_since_[l] = engine_.now();
  active_[l] += count;
  for (uint32_t i = 0; i < count; ++i) link_bytes_[l] += each.bytes();  // one sub-flow at a time, as route() adds
}

void TransferModel::link_idle(uint32_t l, uint32_t count) {
  LCSIM_ASSERT(active_[l] >= count, "link went idle twice");
  active_[l] -= count;
  if (active_[l] != 0 || !options_.tracer || !options_.tracer->enabled()) return;
  const LinkInfo& info = topology_.links()[l];
  if (traced_[l] < 0) {
    size_t& traced = traced_per_tier_[info.tier];
    traced_[l] = traced < options_.max_traced_links ? 1 : 0;
    traced += static_cast<size_t>(traced_[l]);
  }
  if (traced_[l] != 1) return;
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

Duration AnalyticalTransfer::estimate(const std::vector<FlowRequest>& flows) {
  std::vector<SubFlow> subs;
  route(flows, subs);
  for (const SubFlow& s : subs) unroute(*s.path, s.size);
  const uint64_t queued = batches_queued_;  // no side effects: an estimate is no batch
  const Duration t = cost(subs);
  batches_queued_ = queued;
  return t;
}

void AnalyticalTransfer::prepare_links() {
  const auto& links = topology_.links();
  const auto& vertices = topology_.vertices();
  load_.assign(links.size(), 0.0);
  drained_at_.assign(links.size(), 0.0);
  earlier_drained_.assign(links.size(), 0.0);
  earlier_at_.assign(links.size(), -1.0);
  fabric_link_.assign(links.size(), 0);
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
  double worst_latency = 0;
  for (const SubFlow& s : subs) {
    double latency = s.extra_latency.s();
    for (uint32_t l : *s.path) {
      if (load_[l] == 0.0) touched_.push_back(l);
      load_[l] += s.size.bytes();
      latency += topology_.links()[l].latency.s();
    }
    worst_latency = std::max(worst_latency, latency);
  }
  loads_.clear();
  for (uint32_t l : touched_) loads_.push_back({l, load_[l]});
  return timed(loads_, worst_latency);
}

void AnalyticalTransfer::Serialization::add(double alone) {
  worst = std::max(worst, alone);
  own = std::max(own, alone);
}

// On a fabric link, the batch's bytes queue behind those of batches routed over it before.
void AnalyticalTransfer::Serialization::add_fabric(const AnalyticalTransfer& t, uint32_t l, double alone) {
  worst = std::max(worst, std::max(0.0, t.drained_at_[l] - now) + alone);
  own = std::max(own, alone);
  behind_earlier = std::max(behind_earlier, std::max(0.0, t.earlier_drained(l, now) - now) + alone);
}

Duration AnalyticalTransfer::timed(const Serialization& q, double latency) {
  if (q.behind_earlier > q.own) ++batches_queued_;
  last_latency_ = Duration::seconds(latency);
  last_serialization_ = Duration::seconds(q.worst);
  return Duration::seconds(latency + q.worst);
}

Duration AnalyticalTransfer::timed(const LinkLoadList& loads, double worst_latency) {
  Serialization q{engine_.now().s()};
  for (const auto& [l, load] : loads) {
    const double alone = load / topology_.links()[l].bandwidth.bps();
    if (fabric_link_[l]) q.add_fabric(*this, l, alone);
    else q.add(alone);
  }
  return timed(q, worst_latency);
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
  b.done_sink = nullptr;
  drop_kept(b);
  free_batches_.push_back(slot);
}

void AnalyticalTransfer::drop_kept(Batch& b) {
  Kept* k = b.kept;
  if (!k) return;
  b.kept = nullptr;
  if (--k->live != 0 || !k->retired) return;
  const auto it = std::find_if(retired_.begin(), retired_.end(), [k](const auto& r) { return r.get() == k; });
  LCSIM_ASSERT(it != retired_.end(), "a retired kept route is not in retired_");
  std::swap(*it, retired_.back());
  retired_.pop_back();
}

namespace {
/// Kept one-flow routes (AnalyticalTransfer::kept_) before the table starts again: a few hundred bytes each.
constexpr size_t kKeptRoutes = size_t{1} << 16;
}  // namespace

size_t AnalyticalTransfer::KeptKeyHash::operator()(const KeptKey& k) const {
  uint64_t size = 0;
  std::memcpy(&size, &k.size, sizeof size);
  uint64_t h = (uint64_t{k.src} << 32 | k.dst) * 0x9e3779b97f4a7c15ULL;
  h = (h ^ (h >> 29) ^ k.label) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 31) ^ size) * 0x94d049bb133111ebULL;
  return static_cast<size_t>(h ^ (h >> 32));
}

AnalyticalTransfer::Kept* AnalyticalTransfer::find_kept(const KeptKey& key) {
  if (kept_version_ != topology_.up_version() || kept_.size() >= kKeptRoutes) forget_kept();
  const auto it = kept_.find(key);
  return it == kept_.end() ? nullptr : it->second.get();
}

void AnalyticalTransfer::forget_kept() {
  for (auto& [k, route] : kept_) {  // routes batches in flight still read wait for the last of them (drop_kept)
    if (route->live == 0) continue;
    route->retired = true;
    retired_.push_back(std::move(route));
  }
  kept_.clear();
  kept_version_ = topology_.up_version();
  ++kept_epoch_;
}

Duration AnalyticalTransfer::timed(const Kept& k) {
  Serialization q{engine_.now().s(), k.own_serialization, k.own_serialization};
  for (const auto& [l, load] : k.fabric_loads) q.add_fabric(*this, l, load / topology_.links()[l].bandwidth.bps());
  return timed(q, k.latency);
}

// Once per pipeline send (18K per evaluation of the 175B layout), as finish(): flattened (engine.cc, dispatch_until).
void AnalyticalTransfer::transfer(const std::vector<FlowRequest>& flows, sim::Callback done, sim::Callback failed) {
  begin(flows, std::move(done), std::move(failed), nullptr, 0);
}

void AnalyticalTransfer::transfer_to(const std::vector<FlowRequest>& flows, sim::EventSink* done, uint64_t tag) {
  begin(flows, {}, {}, done, tag);
}

AnalyticalTransfer::Kept* AnalyticalTransfer::memo_route(const FlowRequest& flow, const RouteMemo* memo) {
  if (!memo || !memo->route || memo->epoch != kept_epoch_ || kept_version_ != topology_.up_version()) return nullptr;
  Kept* k = static_cast<Kept*>(const_cast<void*>(memo->route));
  return k->key == KeptKey::of(flow) ? k : nullptr;
}

void AnalyticalTransfer::queue_kept(const Kept& k, double now) {
  const auto& links = topology_.links();
  for (const auto& [l, load] : k.fabric_loads) {
    if (load > 0) queue_on(l, now, load / links[l].bandwidth.bps());
  }
}

[[gnu::flatten]] void AnalyticalTransfer::transfer_to(const FlowRequest& flow, sim::EventSink* done, uint64_t tag,
                                                      RouteMemo* memo) {
  if (Kept* k = memo_route(flow, memo)) {
    start_kept(flow, *k, nullptr, nullptr, done, tag);
    return;
  }
  flow_.assign(1, flow);
  begin(flow_, {}, {}, done, tag, memo);
}

[[gnu::flatten]] void AnalyticalTransfer::begin(const std::vector<FlowRequest>& flows, sim::Callback&& done,
                                                sim::Callback&& failed, sim::EventSink* sink, uint64_t tag,
                                                RouteMemo* memo) {
  // A policy that does not read loads routes a flow the same way while the links stay up as they are.
  const bool keep = flows.size() == 1 && !balancer_.reads_loads();
  if (keep) {
    if (Kept* k = find_kept(KeptKey::of(flows.front()))) {
      if (memo) *memo = {k, kept_epoch_};
      start_kept(flows.front(), *k, &done, &failed, sink, tag);
      return;
    }
  }
  route(flows, subs_);
  account(flows);
  const Duration t = cost(subs_);
  if (keep) {
    const KeptKey key = KeptKey::of(flows.front());
    auto& route = kept_[key];
    route = std::make_unique<Kept>();
    route->key = key;
    route->candidates = routed_.front();
    route->subs = subs_;
    for (const SubFlow& s : subs_) {
      for (uint32_t l : *s.path) route->byte_counts.push_back({l, s.size.bytes()});
    }
    route->loads = loads_;
    route->latency = last_latency_.s();
    for (const auto& [l, load] : loads_) {
      if (fabric_link_[l]) {
        route->fabric_loads.push_back({l, load});
      } else {
        route->own_serialization = std::max(route->own_serialization, load / topology_.links()[l].bandwidth.bps());
      }
    }
    if (memo) *memo = {route.get(), kept_epoch_};
  }
  start(subs_, loads_, t, &done, &failed, sink, tag, nullptr);
}

// transfer_to() over a kept route without the batch: start_kept()'s additions (no spans to mark: the tracer is off),
// then start()'s for a kept route without link rates (the fabric links' queues), in the same order; the batch's
// slot, its event and release() (nothing to undo for such a batch) are what is left out.
[[gnu::flatten]] bool AnalyticalTransfer::transfer_unwatched(const FlowRequest& flow, RouteMemo* memo,
                                                             Duration* arrival) {
  if (options_.link_rates || (options_.tracer && options_.tracer->enabled())) return false;
  Kept* k = memo_route(flow, memo);
  if (!k) return false;
  count_bytes(k->byte_counts);
  account(flow);
  const Duration t = timed(*k);
  const Duration at = engine_.now();
  queue_kept(*k, at.s());
  ++next_batch_;  // the id the batch would have taken: later batches keep theirs
  *arrival = at + t;
  if (*arrival > unwatched_until_) unwatched_until_ = *arrival;
  return true;
}

void AnalyticalTransfer::start_kept(const FlowRequest& flow, Kept& k, sim::Callback* done, sim::Callback* failed,
                                    sim::EventSink* sink, uint64_t tag) {
  // The links' busy marks (active_, busy_since_) have two readers: the timeline's busy spans, and load() for a
  // policy that reads loads, which keeps no routes. Without spans a kept route's batch leaves them alone (and
  // undoes nothing when it ends: Batch::counted); the bytes per link are added either way.
  const bool counted = options_.tracer && options_.tracer->enabled();
  if (counted) {
    for (const SubFlow& s : k.subs) mark(s);
  } else {
    count_bytes(k.byte_counts);
  }
  account(flow);
  start(k.subs, k.loads, timed(k), done, failed, sink, tag, &k, counted);
}

void AnalyticalTransfer::start(const std::vector<SubFlow>& subs, const LinkLoadList& loads, Duration t,
                               sim::Callback* done, sim::Callback* failed, sim::EventSink* sink, uint64_t tag,
                               Kept* kept, bool counted) {
  const bool rates = options_.link_rates;
  if (rates && rate_.empty()) rate_.assign(topology_.links().size(), 0.0);
  const uint32_t slot = take_slot();
  Batch& b = batches_[slot];
  b.id = next_batch_++;
  b.live = true;
  b.counted = counted;
  const Duration at = engine_.now();
  const double now = at.s(), span = t.s();
  const auto& links = topology_.links();
  // One pass over the links: each link's rate gets the same additions, in the same order, as in a second loop.
  // A batch from a kept route reads its loads, rates and paths from the kept route later (release, unkeep): the
  // same values (a rate is load / span either way), with nothing copied per send.
  if (kept && !rates) {  // only the fabric links' queues to move on
    queue_kept(*kept, now);
  } else {
    for (const auto& [l, load] : loads) {
      if (load <= 0) continue;
      if (fabric_link_[l]) queue_on(l, now, load / links[l].bandwidth.bps());
      if (!kept) b.loads.push_back({l, load});
      if (span > 0 && rates) {
        const double r = load / span;
        if (!kept) b.rates.push_back({l, r});
        rate_[l] += r;
      }
    }
  }
  if (kept) {
    b.kept = kept;
    ++kept->live;
    b.span = span;
  } else {
    for (const SubFlow& s : subs) b.paths.push_back(s.path);
    b.keep.swap(routed_);  // the batch takes the candidates (no copies of the shared pointers); route() refills routed_
  }
  b.latency = last_latency_;
  b.serial_start = at;
  b.serial_end = at + last_serialization_;
  if (done && *done) b.done = std::move(*done);  // a free slot's are empty: nothing to move for transfer_to()
  if (failed && *failed) b.failed = std::move(*failed);
  b.done_sink = sink;
  b.done_tag = tag;
  // A typed timer (fire: finish, cancelled: abandon): the same event as engine_.after(t, ...) at now() + t.
  b.timer = engine_.post(at + t, this, slot, sim::kCompletion);
}

void AnalyticalTransfer::abandon(uint32_t slot) {
  if (slot >= batches_.size() || !batches_[slot].live) return;
  release(batches_[slot]);
  free_slot(slot);
}

void AnalyticalTransfer::release(const Batch& b) {
  if (b.kept) {  // start()'s rates, recomputed in its order (load / span: the same quotients), and its paths
    if (options_.link_rates) {
      for (const auto& [l, load] : b.kept->loads) {
        if (load > 0 && b.span > 0) rate_[l] -= load / b.span;
      }
    }
    if (b.counted) {
      for (const SubFlow& s : b.kept->subs) links_idle(*s.path);
    }
    return;
  }
  for (const auto& [l, r] : b.rates) rate_[l] -= r;
  for (const Path* p : b.paths) links_idle(*p);
}

void AnalyticalTransfer::unkeep(Batch& b) {
  if (!b.kept) return;
  for (const auto& [l, load] : b.kept->loads) {
    if (load <= 0) continue;
    b.loads.push_back({l, load});
    if (b.span > 0 && options_.link_rates) b.rates.push_back({l, load / b.span});
  }
  for (const SubFlow& s : b.kept->subs) b.paths.push_back(s.path);
  if (!b.counted) {  // its own paths from now on, released as other batches' are (links_idle): marked busy now
    for (const Path* p : b.paths) links_busy(*p);
    b.counted = true;
  }
  b.keep.assign(1, b.kept->candidates);
  drop_kept(b);
}

void AnalyticalTransfer::retime(uint32_t slot, Duration when) {
  Batch& b = batches_[slot];
  retiming_ = true;
  b.timer.cancel();
  retiming_ = false;
  b.timer = engine_.post(when, this, slot, sim::kCompletion);
}

[[gnu::flatten]] void AnalyticalTransfer::finish(uint32_t slot) {
  LCSIM_ASSERT(slot < batches_.size() && batches_[slot].live, "batch finished twice");
  Batch& b = batches_[slot];
  release(b);
  // The slot is free before the callback runs: what it starts may take it (or grow batches_).
  if (sim::EventSink* sink = b.done_sink) {
    const uint64_t tag = b.done_tag;
    free_slot(slot);
    sink->fire(tag);
    return;
  }
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
    unkeep(b);
    bool crosses = false;
    for (const Path* p : b.paths) crosses = crosses || std::find(p->begin(), p->end(), link) != p->end();
    if (!crosses) continue;
    for (const auto& [l, r] : b.rates) rate_[l] -= r;
    b.rates.clear();
    if (!up) {  // the batch fails: its bytes never all arrive
      retiming_ = true;
      b.timer.cancel();
      retiming_ = false;
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
      if (t > 0 && options_.link_rates) {
        for (const auto& [l, bytes] : b.loads) b.rates.push_back({l, bytes / t});
      }
      for (const auto& [l, r] : b.rates) rate_[l] += r;
      retime(slot, b.serial_end + b.latency);
    }
  }
  forget_kept();  // kept routes hold their links' bandwidths (Kept::own_serialization)
  for (auto& f : failures) f();
}

}  // namespace lcsim::net
