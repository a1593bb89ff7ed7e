// The engine's shared part (slots and handles, the event heap, computes and host speed factors, state changes) and
// make_engine(). The queue backend (lcsim's own clock and max-min solver) is in queue_engine.cc, the simgrid backend
// in simgrid_engine.cc.
#include "sim/engine.h"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>

#include "sim/error.h"
#include "sim/flow_copies.h"
#include "sim/queue_engine.h"

namespace lcsim::sim {

// ---------------------------------------------------------------------------------------------------- Handle ----

bool Handle::pending() const { return engine_ && engine_->is_pending(*this); }

void Handle::cancel() const {
  if (engine_) engine_->cancel(*this);
}

// ---------------------------------------------------------------------------------------------------- Engine ----

Engine::~Engine() = default;

namespace {
// heap_key(): the sequence number in the low 40 bits (10^12 events scheduled), the priority above them, offset to be
// non-negative, in 24 bits (the kinds of kPriority are a few small numbers).
constexpr int kSeqBits = 40;
constexpr int64_t kPriorityOffset = int64_t{1} << 23;
}  // namespace

uint64_t Engine::heap_key(int priority, uint64_t seq) {
  LCSIM_ASSERT(priority >= -kPriorityOffset && priority < kPriorityOffset, "event priority out of range");
  LCSIM_ASSERT(seq < (uint64_t{1} << kSeqBits), "more than 2^40 events scheduled in one run");
  return static_cast<uint64_t>(priority + kPriorityOffset) << kSeqBits | seq;
}

void Engine::heap_push(const Entry& e) {
  size_t i = heap_.size();
  heap_.push_back(e);
  while (i > 0) {
    const size_t parent = (i - 1) / 4;
    if (!before(e, heap_[parent])) break;
    heap_[i] = heap_[parent];
    i = parent;
  }
  heap_[i] = e;
}

Engine::Entry Engine::heap_pop() {
  const Entry top = heap_.front();
  const Entry last = heap_.back();
  heap_.pop_back();
  const size_t n = heap_.size();
  if (n == 0) return top;
  size_t i = 0;
  for (;;) {
    const size_t first = 4 * i + 1;
    if (first >= n) break;
    size_t best = first;
    const size_t end = std::min(first + 4, n);
    for (size_t c = first + 1; c < end; ++c) {
      if (before(heap_[c], heap_[best])) best = c;
    }
    if (!before(heap_[best], last)) break;
    heap_[i] = heap_[best];
    i = best;
  }
  heap_[i] = last;
  return top;
}

uint32_t Engine::take_slot() {
  uint32_t s;
  if (free_.empty()) {
    s = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  } else {
    s = free_.back();
    free_.pop_back();
  }
  return s;
}

uint32_t Engine::new_slot(Kind kind, Callback cb, Callback failed) {
  const uint32_t s = take_slot();
  Slot& x = slots_[s];
  x.state = State::kPending;
  x.kind = kind;
  // A free slot's callbacks are empty (free_slot): swapping them in costs less than a move-assignment, which makes
  // and destroys a temporary std::function; the arguments take the empty ones.
  x.cb.swap(cb);
  if (failed) x.failed.swap(failed);
  x.owner = owner_;
  ++live_;
  return s;
}

void Engine::free_slot(uint32_t s) {
  Slot& x = slots_[s];
  ++x.gen;
  x.state = State::kFree;
  x.cb = nullptr;
  x.failed = nullptr;
  x.cleanup = nullptr;
  x.sink = nullptr;
  free_.push_back(s);
}

void Engine::end_slot(uint32_t s) {
  LCSIM_ASSERT(slots_[s].state == State::kPending, "ending a slot that is not pending");
  if (slots_[s].kind == Kind::kCompute) forget_running(s);
  --live_;
  free_slot(s);
}

void Engine::forget_running(uint32_t s) {
  auto& list = hosts_[slots_[s].host].computes;
  const uint32_t i = slots_[s].backend_index;
  LCSIM_ASSERT(i < list.size() && list[i] == s, "compute not on its host's list");
  list[i] = list.back();
  slots_[list[i]].backend_index = i;
  list.pop_back();
}

void Engine::schedule(uint32_t s, double time, int priority) {
  LCSIM_ASSERT(time >= now().s(), "event scheduled in the past");
  const Entry e{time, heap_key(priority, seq_++), s};
  slots_[s].live_seq = e.key;
  heap_push(e);
  if (notify_scheduled_) on_scheduled(time);
}

double Engine::next_event_time() const {
  return heap_.empty() ? std::numeric_limits<double>::infinity() : heap_.front().time;
}

// dispatch_until, at and after run once per event (43K per evaluation of the 175B layout): [[gnu::flatten]] inlines
// what they call in this file (slot, heap, std::function handling): fewer instructions per event, counted in
// docs/performance-training.md. Inlining changes no arithmetic (without -march there is no FMA to contract into).
[[gnu::flatten]] void Engine::dispatch_until(double t) {
  while (!heap_.empty() && heap_.front().time <= t) {
    const Entry e = heap_pop();
    Slot& x = slots_[e.slot];
    if (x.state != State::kPending || x.live_seq != e.key) continue;  // cancelled or re-timed
    const Owner owner = x.owner;
    if (EventSink* sink = x.sink) {  // post(): no callback to move or destroy
      const uint64_t tag = x.tag;
      end_slot(e.slot);
      ++events_;
      last_event_time_ = t;
      const Owner outer = owner_;
      owner_ = owner;
      sink->fire(tag);
      owner_ = outer;
      if (progress_hook_ && (events_ & 255) == 0) progress_hook_();
      continue;
    }
    Callback cb = std::move(x.cb);
    end_slot(e.slot);
    ++events_;
    last_event_time_ = t;
    if (cb) {
      const Owner outer = owner_;
      owner_ = owner;
      cb();
      owner_ = outer;
    }
    if (progress_hook_ && (events_ & 255) == 0) progress_hook_();
  }
}

bool Engine::is_pending(const Handle& h) const {
  return h.slot_ < slots_.size() && slots_[h.slot_].gen == h.gen_ && slots_[h.slot_].state == State::kPending;
}

void Engine::cancel(const Handle& h) {
  if (!is_pending(h)) return;
  Slot& x = slots_[h.slot_];
  if (x.kind == Kind::kExec || x.kind == Kind::kFlow) stop_activity(h.slot_);
  ++cancelled_;
  EventSink* sink = x.sink;
  const uint64_t tag = x.tag;
  Callback cleanup = std::move(x.cleanup);
  end_slot(h.slot_);
  if (sink) sink->cancelled(tag);
  if (cleanup) cleanup();
}

// Honoured for every kind of event (engine.h): a posted event's sink gets cancelled(tag) first, then the cleanup
// runs (it was dropped before 3 Dec 2026); given twice for one handle, both run, in the order given (post() with
// typed events off gives its own first: the same order as typed).
void Engine::on_cancel(const Handle& h, Callback cleanup) {
  if (!is_pending(h) || !cleanup) return;
  Callback& kept = slots_[h.slot_].cleanup;
  if (!kept) {
    kept = std::move(cleanup);
    return;
  }
  // A second cleanup (or one after post()'s own, where typed events are off): both run, the first first.
  kept = [first = std::move(kept), second = std::move(cleanup)] {
    first();
    second();
  };
}

void Engine::as_owner(Owner owner, const std::function<void()>& fn) {
  const Owner outer = owner_;
  owner_ = owner;
  fn();
  owner_ = outer;
}

size_t Engine::cancel_owned(Owner owner) {
  size_t n = 0;
  // Cleanups may cancel more of the owner's slots; sweep until none is left.
  for (bool again = true; again;) {
    again = false;
    for (uint32_t s = 0; s < slots_.size(); ++s) {
      if (slots_[s].state != State::kPending || slots_[s].owner != owner) continue;
      cancel(handle(s));
      ++n;
      again = true;
    }
  }
  return n;
}

[[gnu::flatten]] Handle Engine::at(Duration when, Callback cb, int priority) {
  const uint32_t s = new_slot(Kind::kTimer, std::move(cb), {});
  schedule(s, when.s(), priority);
  return handle(s);
}

namespace {
std::atomic<bool> typed_events{true};
}  // namespace

void Engine::set_typed_events(bool on) { typed_events.store(on); }

[[gnu::flatten]] Handle Engine::post(Duration when, EventSink* sink, uint64_t tag, int priority) {
  if (!typed_events.load(std::memory_order_relaxed)) {
    const Handle h = at(when, [sink, tag] { sink->fire(tag); }, priority);
    on_cancel(h, [sink, tag] { sink->cancelled(tag); });
    return h;
  }
  // new_slot() without callbacks to swap in (a free slot's are empty already).
  const uint32_t s = take_slot();
  Slot& x = slots_[s];
  x.state = State::kPending;
  x.kind = Kind::kTimer;
  x.owner = owner_;
  x.sink = sink;
  x.tag = tag;
  ++live_;
  schedule(s, when.s(), priority);
  return handle(s);
}

[[gnu::flatten]] Handle Engine::after(Duration delay, Callback cb, int priority) {
  LCSIM_ASSERT(delay.s() >= 0, "negative delay");
  return at(now() + delay, std::move(cb), priority);
}

HostId Engine::add_host(const std::string& name, FlopRate speed) {
  hosts_.push_back(HostState{name, speed.flop_per_s(), 1.0, true, {}});
  const HostId h = static_cast<HostId>(hosts_.size() - 1);
  on_new_host(h);
  return h;
}

LinkId Engine::add_link(const std::string& name, Bandwidth bandwidth, Duration latency) {
  LCSIM_ASSERT(bandwidth.bps() > 0, "link " + name + " has no bandwidth");
  links_.push_back(LinkState{name, bandwidth.bps(), latency.s(), true});
  const LinkId l = static_cast<LinkId>(links_.size() - 1);
  on_new_link(l);
  return l;
}

void Engine::activity_done(uint32_t s) { schedule(s, now().s(), kCompletion); }

void Engine::activity_failed(uint32_t s) {
  ++failed_;
  Slot& x = slots_[s];
  if (!x.failed) {
    end_slot(s);
    return;
  }
  x.cb = std::move(x.failed);
  x.failed = nullptr;
  schedule(s, now().s(), kCompletion);
}

Handle Engine::exec(HostId host, Flops amount, Callback done, Callback failed) {
  LCSIM_ASSERT(host < hosts_.size(), "unknown host");
  ++activities_;
  const uint32_t s = new_slot(Kind::kExec, std::move(done), std::move(failed));
  const Handle h = handle(s);
  if (!hosts_[host].on) {
    activity_failed(s);
  } else if (amount.flop() <= 0) {
    activity_done(s);
  } else {
    start_exec(s, host, amount.flop());
  }
  return h;
}

Handle Engine::compute(HostId host, Duration d, Callback done, Callback failed) {
  LCSIM_ASSERT(host < hosts_.size(), "unknown host");
  ++activities_;
  const uint32_t s = new_slot(Kind::kTimer, std::move(done), std::move(failed));
  const Handle h = handle(s);
  HostState& hs = hosts_[host];
  if (!hs.on) {
    activity_failed(s);
    return h;
  }
  Slot& x = slots_[s];
  x.kind = Kind::kCompute;
  x.host = host;
  x.work_left = d.s();
  x.since = now().s();
  x.backend_index = static_cast<uint32_t>(hs.computes.size());
  hs.computes.push_back(s);
  schedule(s, (now() + d / hs.factor).s(), kCompletion);
  return h;
}

Handle Engine::flow(HostId src, HostId dst, Bytes size, const std::vector<LinkId>& path, Callback done,
                    Callback failed, uint32_t copies) {
  LCSIM_ASSERT(copies >= 1, "a flow stands for at least one copy");
  LCSIM_ASSERT(src < hosts_.size() && dst < hosts_.size(), "unknown host");
  ++activities_;
  const uint32_t s = new_slot(Kind::kFlow, std::move(done), std::move(failed));
  const Handle h = handle(s);
  bool dead = !hosts_[src].on || !hosts_[dst].on;
  for (LinkId l : path) {
    LCSIM_ASSERT(l < links_.size(), "unknown link");
    dead = dead || !links_[l].on;
  }
  if (dead) {
    activity_failed(s);  // SimGrid would never report a flow started over a dead link: fail it here
  } else if (path.empty() || src == dst) {
    activity_done(s);
  } else {
    start_flow(s, src, dst, size.bytes(), path, nullptr, copies, -1.0);
  }
  return h;
}

Handle Engine::flow_spread(HostId src, HostId dst, Bytes size_per_path, const std::vector<std::vector<LinkId>>& paths,
                           Callback done, Callback failed, uint32_t copies) {
  LCSIM_ASSERT(!paths.empty(), "a sprayed flow needs at least one path");
  if (paths.size() == 1) return flow(src, dst, size_per_path, paths[0], std::move(done), std::move(failed), copies);
  // Each link once, in the order of its first listing, with the number of paths that cross it: the weighted
  // element that listing it that many times leaves, without the backend merging the repeats one listing at a time
  // (a link all 32 paths of a sprayed flow cross is listed 32 times). It waits its largest path latency.
  std::vector<std::pair<LinkId, uint32_t>> listed;  // (link, position of its first listing)
  double latency = 0;
  for (const auto& path : paths) {
    LCSIM_ASSERT(!path.empty(), "a sprayed flow's path is empty");
    double path_latency = 0;
    for (LinkId l : path) {
      LCSIM_ASSERT(l < links_.size(), "unknown link");
      path_latency += links_[l].latency;
      listed.emplace_back(l, static_cast<uint32_t>(listed.size()));
    }
    latency = std::max(latency, path_latency);
  }
  std::sort(listed.begin(), listed.end());
  std::vector<std::pair<uint32_t, std::pair<LinkId, uint32_t>>> first;  // (first position, (link, crossings))
  for (size_t i = 0; i < listed.size();) {
    size_t j = i;
    while (j < listed.size() && listed[j].first == listed[i].first) ++j;
    first.push_back({listed[i].second, {listed[i].first, static_cast<uint32_t>(j - i)}});
    i = j;
  }
  std::sort(first.begin(), first.end());
  std::vector<LinkId> links;
  std::vector<uint32_t> crossings;
  links.reserve(first.size());
  crossings.reserve(first.size());
  for (const auto& [pos, lc] : first) {
    links.push_back(lc.first);
    crossings.push_back(lc.second);
  }
  return flow_spread(src, dst, size_per_path, links, crossings, Duration::seconds(latency), std::move(done),
                     std::move(failed), copies);
}

Handle Engine::flow_spread(HostId src, HostId dst, Bytes size_per_path, const std::vector<LinkId>& links,
                           const std::vector<uint32_t>& crossings, Duration latency, Callback done, Callback failed,
                           uint32_t copies) {
  LCSIM_ASSERT(!links.empty() && links.size() == crossings.size(), "one crossing count per link of a sprayed flow");
  LCSIM_ASSERT(copies >= 1, "a flow stands for at least one copy");
  LCSIM_ASSERT(src < hosts_.size() && dst < hosts_.size(), "unknown host");
  ++activities_;
  const uint32_t s = new_slot(Kind::kFlow, std::move(done), std::move(failed));
  const Handle h = handle(s);
  bool dead = !hosts_[src].on || !hosts_[dst].on;
  for (size_t i = 0; i < links.size(); ++i) {
    LCSIM_ASSERT(links[i] < links_.size() && crossings[i] >= 1, "unknown link, or a link no path crosses");
    dead = dead || !links_[links[i]].on;
  }
  if (dead) {
    activity_failed(s);
  } else if (src == dst) {
    activity_done(s);
  } else {
    start_flow(s, src, dst, size_per_path.bytes(), links, &crossings, copies, std::max(0.0, latency.s()));
  }
  return h;
}

Handle flow_copies(Engine& engine, HostId src, HostId dst, Bytes size, const std::vector<LinkId>& path,
                   uint32_t copies, Callback done, Callback failed) {
  return engine.flow(src, dst, size, path, std::move(done), std::move(failed), copies);
}

void Engine::retime_computes(HostId host, double old_factor) {
  HostState& hs = hosts_[host];
  const double t = now().s();
  for (uint32_t s : hs.computes) {
    Slot& x = slots_[s];
    x.work_left = std::max(0.0, x.work_left - (t - x.since) * old_factor);
    x.since = t;
    schedule(s, t + x.work_left / hs.factor, kCompletion);
  }
}

void Engine::set_speed_factor(HostId host, double factor) {
  LCSIM_ASSERT(host < hosts_.size() && factor > 0, "bad speed factor");
  const double old = hosts_[host].factor;
  hosts_[host].factor = factor;
  if (old != factor && !hosts_[host].computes.empty()) retime_computes(host, old);
}

void Engine::fail_running(std::vector<uint32_t>& slots) {
  const std::vector<uint32_t> failing = std::move(slots);
  slots.clear();
  for (uint32_t s : failing) {
    slots_[s].kind = Kind::kTimer;  // off the host's list already
    activity_failed(s);
  }
}

void Engine::set_host_on(HostId host, bool on) {
  LCSIM_ASSERT(host < hosts_.size(), "unknown host");
  if (hosts_[host].on == on) return;
  hosts_[host].on = on;
  if (!on) fail_running(hosts_[host].computes);
  on_host_change(host);
}

void Engine::set_link_on(LinkId link, bool on) {
  LCSIM_ASSERT(link < links_.size(), "unknown link");
  if (links_[link].on == on) return;
  links_[link].on = on;
  on_link_change(link);
}

void Engine::set_link_bandwidth(LinkId link, Bandwidth bandwidth) {
  LCSIM_ASSERT(link < links_.size() && bandwidth.bps() > 0, "bad link bandwidth");
  if (links_[link].bandwidth == bandwidth.bps()) return;
  links_[link].bandwidth = bandwidth.bps();
  on_link_change(link);
}

namespace {

// The simgrid backend (simgrid_engine.cc) is a module loaded on first use: SimGrid and the ns-3 libraries it links
// cost about 60 ms of dynamic loading and relocation per process (perf, docs/performance-training.md), which analytical
// runs never need. LCSIM_SIMGRID_MODULE (environment) overrides where it is; the default is where the build put it.
using SimGridFactory = Engine* (*)();

SimGridFactory simgrid_factory() {
  static std::mutex mutex;
  static SimGridFactory factory = nullptr;
  const std::lock_guard<std::mutex> lock(mutex);
  if (factory) return factory;
  const char* env = std::getenv("LCSIM_SIMGRID_MODULE");
  const std::string path = env && *env ? env : LCSIM_SIMGRID_MODULE;
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    throw std::runtime_error("cannot load the SimGrid engine module (the flow fidelity) from '" + path +
                             "': " + dlerror() + "; set LCSIM_SIMGRID_MODULE to the path of liblcsim_simgrid.so");
  }
  factory = reinterpret_cast<SimGridFactory>(dlsym(handle, "lcsim_make_simgrid_engine"));
  if (!factory) throw std::runtime_error("'" + path + "' is not lcsim's SimGrid engine module");
  return factory;
}

}  // namespace

std::unique_ptr<Engine> make_engine(const std::string& backend) {
  if (backend == "queue") return make_queue_engine();
  if (backend == "simgrid") return std::unique_ptr<Engine>(simgrid_factory()());
  throw std::invalid_argument("unknown engine backend '" + backend + "' (valid: queue, simgrid)");
}

std::vector<std::pair<std::string, std::string>> engine_backends() {
  return {{"queue", "lcsim's own event queue and max-min fluid solver; no global state, many per process"},
          {"simgrid", "SimGrid 3.32 flow-level max-min sharing (CM02, optim:Full); one per process"}};
}

}  // namespace lcsim::sim
