// The simgrid backend: SimGrid 3.32 in maestro mode (no actors) runs execs and flows with its flow-level max-min
// sharing; lcsim's events ride on SimGrid timers (one per distinct event time). SimGrid types stay in this file.
#include <simgrid/kernel/Timer.hpp>
#include <simgrid/kernel/resource/NetworkModelIntf.hpp>
#include <simgrid/kernel/routing/NetPoint.hpp>
#include <simgrid/kernel/routing/NetZoneImpl.hpp>
#include <simgrid/s4u.hpp>

#include <cmath>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "sim/engine.h"
#include "sim/error.h"
#include "sim/flow_copies.h"

namespace lcsim::sim {
namespace {

namespace sg4 = simgrid::s4u;
namespace sgr = simgrid::kernel::routing;

bool g_engine_created = false;

/// A routing zone whose route for each flow is the path handed to it just before the flow starts. In maestro
/// mode SimGrid computes the route synchronously inside Comm::start(), so the hand-over is race-free.
///
/// Weighted flows (sim::flow_copies with copies > 1): SimGrid 3.32's CM02 sets a flow's max-min sharing penalty to
/// the latency of its route (with network/weight-S at CM02's 0), so a flow's share is proportional to
/// 1 / route latency. A flow standing for k copies reports route latency L/k (penalty L/k: k shares) and gets
/// latency factor L/(L/k) from the model's latency-factor callback, so that it still waits L before it moves.
class ExplicitPathZone final : public sgr::NetZoneImpl {
 public:
  explicit ExplicitPathZone(const std::string& name) : NetZoneImpl(name) {}
  void get_local_route(const sgr::NetPoint* /*src*/, const sgr::NetPoint* /*dst*/, sgr::Route* into,
                       double* latency) override {
    LCSIM_ASSERT(pending_ != nullptr, "SimGrid asked for a route outside Engine::flow()");
    double total = 0;
    for (sg4::Link* l : *pending_) {
      into->link_list_.push_back(l->get_impl());
      total += l->get_latency();
    }
    if (copies_ > 1) {
      LCSIM_ASSERT(total > 0, "a weighted flow needs a path with a positive latency");
      const double reported = total / copies_;
      latency_factor_ = total / reported;
      total = reported;
    }
    if (latency) *latency += total;
  }
  const std::vector<sg4::Link*>* pending_ = nullptr;
  double copies_ = 1;          // of the flow being started
  double latency_factor_ = 1;  // handed to SimGrid's latency-factor callback for that flow
};

class SimGridEngine final : public Engine {
 public:
  SimGridEngine() {
    if (g_engine_created) {
      throw std::logic_error(
          "lcsim: a second SimGrid engine in one process; SimGrid keeps process-global state, so each flow-level "
          "simulation runs in its own process (the queue backend has no such limit)");
    }
    g_engine_created = true;
    static int argc = 2;
    static char arg0[] = "lcsim";
    static char arg1[] = "--log=root.thres:critical";
    static char* argv[] = {arg0, arg1, nullptr};
    sg_ = std::make_unique<sg4::Engine>(&argc, argv);
    sg4::Engine::set_config("network/model:CM02");
    sg4::Engine::set_config("network/optim:Full");
    sg4::Engine::set_config("network/crosstraffic:0");
    sg4::Engine::set_config("network/TCP-gamma:0");
    zone_ = new ExplicitPathZone("lcsim");  // first zone: becomes SimGrid's root, owned by SimGrid
    // 1 for every flow but a weighted one (see ExplicitPathZone); multiplying a latency by 1.0 changes nothing.
    zone_->get_iface()->get_network_model()->set_lat_factor_cb(
        [this](double, const sg4::Host*, const sg4::Host*, const std::vector<sg4::Link*>&,
               const std::unordered_set<sg4::NetZone*>&) { return zone_->latency_factor_; });
    sg4::Activity::on_completion_cb([this](const sg4::Activity& a) { completed(a); });
  }

  Duration now() const override { return Duration::seconds(sg4::Engine::get_clock()); }
  const char* backend() const override { return "simgrid"; }

  Bandwidth link_usage(LinkId link) const override {
    LCSIM_ASSERT(link < sg_links_.size(), "unknown link");
    return Bandwidth::bytes_per_s(sg_links_[link]->get_usage());
  }

  void run(Duration horizon) override {
    seal();
    if (std::isinf(horizon.s())) {
      sg_->run();
    } else {
      sg_->run_until(horizon.s());
    }
    // A horizon can stop the run with activities in flight: cancel them now, or SimGrid's teardown prints a
    // backtrace for each one freed before its completion.
    std::vector<sg4::ActivityPtr> unfinished;
    for (auto& [slot, a] : by_slot_) unfinished.push_back(a);
    by_slot_.clear();
    running_.clear();
    for (auto& a : unfinished) a->cancel();
    finished_.clear();
  }

 protected:
  void on_new_host(HostId h) override {
    LCSIM_ASSERT(!sealed_, "resources must be created before the simulation starts");
    sg_hosts_.push_back(zone_->get_iface()->create_host(hosts_[h].name, hosts_[h].speed));
  }

  void on_new_link(LinkId l) override {
    LCSIM_ASSERT(!sealed_, "resources must be created before the simulation starts");
    sg4::Link* link = zone_->get_iface()->create_link(links_[l].name, links_[l].bandwidth);
    link->set_latency(links_[l].latency);
    link->seal();
    sg_links_.push_back(link);
  }

  void on_scheduled(double t) override {
    if (armed_.insert(t).second) {
      simgrid::kernel::timer::Timer::set(t, [this, t] {
        armed_.erase(t);
        finished_.clear();
        dispatch_until(sg4::Engine::get_clock());
      });
    }
  }

  void start_exec(uint32_t s, HostId host, double flops) override {
    seal();
    sg4::ExecPtr e = sg4::Exec::init();
    e->set_host(sg_hosts_[host]);
    e->set_flops_amount(flops);
    track(s, e);
    e->start();
  }

  void start_flow(uint32_t s, HostId src, HostId dst, double bytes, const std::vector<LinkId>& path,
                  uint32_t copies) override {
    seal();
    path_buffer_.clear();
    for (LinkId l : path) path_buffer_.push_back(sg_links_[l]);
    sg4::CommPtr c = sg4::Comm::sendto_init(sg_hosts_[src], sg_hosts_[dst]);
    c->set_payload_size(static_cast<uint64_t>(bytes + 0.5) * copies);
    track(s, c);
    zone_->pending_ = &path_buffer_;
    zone_->copies_ = copies;
    c->start();
    zone_->pending_ = nullptr;
    zone_->copies_ = 1;
    zone_->latency_factor_ = 1;
  }

  void stop_activity(uint32_t s) override {
    auto it = by_slot_.find(s);
    if (it == by_slot_.end()) return;  // already completed; its callback event is queued
    sg4::ActivityPtr a = it->second;
    by_slot_.erase(it);
    running_.erase(a.get());
    finished_.push_back(a);
    a->cancel();  // its completion signal finds no record and is ignored
  }

  void on_link_change(LinkId l) override {
    sg4::Link* link = sg_links_[l];
    if (link->get_bandwidth() != links_[l].bandwidth) link->set_bandwidth(links_[l].bandwidth);
    if (links_[l].on && !link->is_on()) link->turn_on();
    if (!links_[l].on && link->is_on()) link->turn_off();  // SimGrid fails the comms crossing it
  }

  void on_host_change(HostId h) override {
    sg4::Host* host = sg_hosts_[h];
    if (hosts_[h].on && !host->is_on()) host->turn_on();
    if (!hosts_[h].on && host->is_on()) host->turn_off();  // SimGrid fails its execs and comms
  }

 private:
  void track(uint32_t s, const sg4::ActivityPtr& a) {
    running_.emplace(a.get(), s);
    by_slot_.emplace(s, a);
  }

  void completed(const sg4::Activity& a) {
    auto it = running_.find(&a);
    if (it == running_.end()) return;
    const uint32_t s = it->second;
    running_.erase(it);
    auto b = by_slot_.find(s);
    finished_.push_back(b->second);  // released at the next dispatch, never inside SimGrid's callback
    by_slot_.erase(b);
    if (a.get_state() == sg4::Activity::State::FINISHED) {
      activity_done(s);
    } else {
      activity_failed(s);
    }
  }

  void seal() {
    if (sealed_) return;
    for (auto* h : sg_hosts_) h->seal();
    zone_->get_iface()->seal();
    sealed_ = true;
  }

  std::unique_ptr<sg4::Engine> sg_;
  ExplicitPathZone* zone_ = nullptr;
  bool sealed_ = false;
  std::vector<sg4::Host*> sg_hosts_;
  std::vector<sg4::Link*> sg_links_;
  std::set<double> armed_;  // times for which a SimGrid timer is set
  std::unordered_map<const sg4::Activity*, uint32_t> running_;
  std::unordered_map<uint32_t, sg4::ActivityPtr> by_slot_;
  std::vector<sg4::ActivityPtr> finished_;
  std::vector<sg4::Link*> path_buffer_;
};

}  // namespace

}  // namespace lcsim::sim

/// The module's one exported symbol (sim/engine.cc loads it with dlopen on the first simgrid engine).
extern "C" __attribute__((visibility("default"))) lcsim::sim::Engine* lcsim_make_simgrid_engine() {
  return new lcsim::sim::SimGridEngine();
}
