#include "sim/engine.h"

#include <simgrid/kernel/routing/NetPoint.hpp>
#include <simgrid/kernel/routing/NetZoneImpl.hpp>
#include <simgrid/kernel/Timer.hpp>
#include <simgrid/s4u.hpp>

#include <cmath>
#include <map>
#include <queue>
#include <set>
#include <unordered_map>

#include "sim/error.h"

namespace lcsim::sim {
namespace sg4 = simgrid::s4u;
namespace sgr = simgrid::kernel::routing;

namespace {

bool g_engine_created = false;

/// A routing zone whose route for each flow is the path handed to it just before the flow starts. In maestro
/// mode SimGrid computes the route synchronously inside Comm::start(), so the hand-over is race-free.
class ExplicitPathZone final : public sgr::NetZoneImpl {
 public:
  explicit ExplicitPathZone(const std::string& name) : NetZoneImpl(name) {}
  void get_local_route(const sgr::NetPoint* /*src*/, const sgr::NetPoint* /*dst*/, sgr::Route* into,
                       double* latency) override {
    LCSIM_ASSERT(pending_ != nullptr, "SimGrid asked for a route outside Engine::flow()");
    for (sg4::Link* l : *pending_) {
      into->link_list_.push_back(l->get_impl());
      if (latency) *latency += l->get_latency();
    }
  }
  const std::vector<sg4::Link*>* pending_ = nullptr;
};

struct Event {
  double time;
  int priority;
  uint64_t seq;
  Callback cb;
};
struct EventLater {
  bool operator()(const Event& a, const Event& b) const {
    if (a.time != b.time) return a.time > b.time;
    if (a.priority != b.priority) return a.priority > b.priority;
    return a.seq > b.seq;
  }
};

}  // namespace

struct Engine::Impl {
  std::unique_ptr<sg4::Engine> sg;
  ExplicitPathZone* zone = nullptr;
  bool sealed = false;
  std::vector<sg4::Host*> hosts;
  std::vector<double> speed_factor;
  std::vector<sg4::Link*> links;
  std::priority_queue<Event, std::vector<Event>, EventLater> queue;
  uint64_t seq = 0;
  std::set<double> armed;  // times for which a SimGrid timer is set
  std::unordered_map<const sg4::Activity*, std::pair<sg4::ActivityPtr, Callback>> running;
  std::vector<sg4::ActivityPtr> finished;  // released at the next dispatch, never inside SimGrid's callback
  std::vector<sg4::Link*> path_buffer;
};

Engine::Engine() : impl_(std::make_unique<Impl>()) {
  if (g_engine_created) {
    throw std::logic_error(
        "lcsim: a second simulation engine in one process; SimGrid keeps process-global state, so each "
        "simulation runs in its own process");
  }
  g_engine_created = true;
  static int argc = 2;
  static char arg0[] = "lcsim";
  static char arg1[] = "--log=root.thres:critical";
  static char* argv[] = {arg0, arg1, nullptr};
  impl_->sg = std::make_unique<sg4::Engine>(&argc, argv);
  sg4::Engine::set_config("network/model:CM02");
  sg4::Engine::set_config("network/optim:Full");
  sg4::Engine::set_config("network/crosstraffic:0");
  sg4::Engine::set_config("network/TCP-gamma:0");
  impl_->zone = new ExplicitPathZone("lcsim");  // first zone: becomes SimGrid's root, owned by SimGrid
  Impl* impl = impl_.get();
  Engine* self = this;
  sg4::Activity::on_completion_cb([impl, self](const sg4::Activity& a) {
    auto it = impl->running.find(&a);
    if (it == impl->running.end()) return;
    Callback cb = std::move(it->second.second);
    impl->finished.push_back(std::move(it->second.first));
    impl->running.erase(it);
    self->push(self->now(), kCompletion, std::move(cb));
  });
}

Engine::~Engine() = default;

Duration Engine::now() const { return Duration::seconds(sg4::Engine::get_clock()); }

void Engine::push(Duration when, int priority, Callback cb) {
  const double t = when.s();
  LCSIM_ASSERT(t >= sg4::Engine::get_clock(), "event scheduled in the past");
  impl_->queue.push(Event{t, priority, impl_->seq++, std::move(cb)});
  if (impl_->armed.insert(t).second) {
    simgrid::kernel::timer::Timer::set(t, [this, t] {
      impl_->armed.erase(t);
      dispatch();
    });
  }
}

void Engine::at(Duration when, Callback cb, int priority) { push(when, priority, std::move(cb)); }

void Engine::after(Duration delay, Callback cb, int priority) {
  LCSIM_ASSERT(delay.s() >= 0, "negative delay");
  push(now() + delay, priority, std::move(cb));
}

void Engine::dispatch() {
  impl_->finished.clear();
  const double t = sg4::Engine::get_clock();
  while (!impl_->queue.empty() && impl_->queue.top().time <= t) {
    Callback cb = std::move(const_cast<Event&>(impl_->queue.top()).cb);
    impl_->queue.pop();
    ++events_;
    last_event_time_ = t;
    cb();
    if (progress_hook_ && (events_ & 255) == 0) progress_hook_();
  }
}

HostId Engine::add_host(const std::string& name, FlopRate speed) {
  LCSIM_ASSERT(!impl_->sealed, "resources must be created before the simulation starts");
  impl_->hosts.push_back(impl_->zone->get_iface()->create_host(name, speed.flop_per_s()));
  impl_->speed_factor.push_back(1.0);
  return static_cast<HostId>(impl_->hosts.size() - 1);
}

LinkId Engine::add_link(const std::string& name, Bandwidth bandwidth, Duration latency) {
  LCSIM_ASSERT(!impl_->sealed, "resources must be created before the simulation starts");
  LCSIM_ASSERT(bandwidth.bps() > 0, "link " + name + " has no bandwidth");
  sg4::Link* l = impl_->zone->get_iface()->create_link(name, bandwidth.bps());
  l->set_latency(latency.s());
  l->seal();
  impl_->links.push_back(l);
  return static_cast<LinkId>(impl_->links.size() - 1);
}

Bandwidth Engine::link_usage(LinkId link) const {
  LCSIM_ASSERT(link < impl_->links.size(), "unknown link");
  return Bandwidth::bytes_per_s(impl_->links[link]->get_usage());
}

size_t Engine::host_count() const { return impl_->hosts.size(); }
size_t Engine::link_count() const { return impl_->links.size(); }

void Engine::seal() {
  if (impl_->sealed) return;
  for (auto* h : impl_->hosts) h->seal();
  impl_->zone->get_iface()->seal();
  impl_->sealed = true;
}

void Engine::exec(HostId host, Flops amount, Callback done) {
  seal();
  LCSIM_ASSERT(host < impl_->hosts.size(), "unknown host");
  ++activities_;
  if (amount.flop() <= 0) {
    push(now(), kCompletion, std::move(done));
    return;
  }
  sg4::ExecPtr e = sg4::Exec::init();
  e->set_host(impl_->hosts[host]);
  e->set_flops_amount(amount.flop());
  const sg4::Activity* key = e.get();
  impl_->running.emplace(key, std::make_pair(sg4::ActivityPtr(e), std::move(done)));
  e->start();
}

void Engine::compute(HostId host, Duration d, Callback done) {
  LCSIM_ASSERT(host < impl_->hosts.size(), "unknown host");
  ++activities_;
  push(now() + d / impl_->speed_factor[host], kCompletion, std::move(done));
}

void Engine::set_speed_factor(HostId host, double factor) {
  LCSIM_ASSERT(host < impl_->hosts.size() && factor > 0, "bad speed factor");
  impl_->speed_factor[host] = factor;
}

void Engine::flow(HostId src, HostId dst, Bytes size, const std::vector<LinkId>& path, Callback done) {
  seal();
  LCSIM_ASSERT(src < impl_->hosts.size() && dst < impl_->hosts.size(), "unknown host");
  ++activities_;
  if (path.empty() || src == dst) {
    push(now(), kCompletion, std::move(done));
    return;
  }
  impl_->path_buffer.clear();
  for (LinkId l : path) {
    LCSIM_ASSERT(l < impl_->links.size(), "unknown link");
    impl_->path_buffer.push_back(impl_->links[l]);
  }
  sg4::CommPtr c = sg4::Comm::sendto_init(impl_->hosts[src], impl_->hosts[dst]);
  c->set_payload_size(static_cast<uint64_t>(size.bytes() + 0.5));
  const sg4::Activity* key = c.get();
  impl_->running.emplace(key, std::make_pair(sg4::ActivityPtr(c), std::move(done)));
  impl_->zone->pending_ = &impl_->path_buffer;
  c->start();
  impl_->zone->pending_ = nullptr;
}

void Engine::run(Duration horizon) {
  seal();
  if (std::isinf(horizon.s())) {
    impl_->sg->run();
  } else {
    impl_->sg->run_until(horizon.s());
  }
  // A horizon can stop the run with activities in flight: cancel them now, or SimGrid's teardown prints a
  // backtrace for each one freed before its completion.
  std::vector<sg4::ActivityPtr> unfinished;
  for (auto& entry : impl_->running) unfinished.push_back(entry.second.first);
  impl_->running.clear();
  for (auto& a : unfinished) a->cancel();
  impl_->finished.clear();
}

}  // namespace lcsim::sim
