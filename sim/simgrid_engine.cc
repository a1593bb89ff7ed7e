// The simgrid backend: SimGrid 3.32 in maestro mode (no actors) runs execs and flows with its flow-level max-min
// sharing; lcsim's events ride on SimGrid timers (one per distinct event time). SimGrid types stay in this file.
#include <simgrid/kernel/Timer.hpp>
#include <simgrid/kernel/resource/Model.hpp>
#include <simgrid/kernel/resource/NetworkModelIntf.hpp>
#include <simgrid/kernel/routing/NetPoint.hpp>
#include <simgrid/kernel/routing/NetZoneImpl.hpp>
#include <simgrid/s4u.hpp>
#include <simgrid/version.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <list>
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
    // A sprayed flow (Engine::flow_spread) lists each link once per path crossing it, which SimGrid's max-min
    // system counts as that many units of consumption (System::expand adds up a variable's repeated
    // constraint); its latency, and sharing penalty, is one path's, not the sum over the listing.
    if (latency_override_ >= 0) total = latency_override_;
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
  double latency_override_ = -1;  // of the flow being started: its latency, when not the sum over its links
  double latency_factor_ = 1;  // handed to SimGrid's latency-factor callback for that flow
};

/// SimGrid 3.32's Comm::sendto_init() detaches every host-to-host comm: it sets the kernel comm's `detached_` flag
/// and appends the comm to the maestro actor's activity list (a std::list), and CommImpl::finish() then takes it off
/// with std::list::remove, a scan of every detached comm in flight. So each completion costs O(flows in flight) and
/// a wave of n flows O(n^2): 83% of a 4,096-GPU ring all-reduce (perf); a standalone wave of 32,768 comms ran 381 s
/// with it and 2.8 s without (docs/performance-flow.md, "Flow fidelity at scale").
/// lcsim keeps every flow's CommPtr until it completes and never needs the maestro list
/// (it cancels what is left itself at the end of run()), so right after sendto_init this takes the comm back off
/// the list (it is the last entry: sendto_init has just appended it) and clears the flag, as if it had never been
/// detached. Nothing else in 3.32 reads the flag for a running host-to-host comm (CommImpl::cancel only for one
/// still waiting in a mailbox, ~CommImpl only for its mailbox-data cleanup, which sendto comms do not have).
///
/// The kernel classes are not in the installed headers, so the two fields are found by their offsets in Debian 12's
/// libsimgrid 3.32 (EngineImpl::maestro_ at 0x1d0, ActorImpl::activities_ at 0xc0, CommImpl::detached_ at 0xc0, read
/// off the library's CommImpl::detach() and CommImpl::finish()). The first comm checks them: the list's last entry
/// must be this comm, the list's size field must match, the flag must be set; otherwise (another SimGrid build) the
/// fix is switched off for the run and comms stay detached: slower, same results.
class Undetacher {
 public:
  void operator()(sg4::Comm& comm) {
    if (!enabled_) return;
    using ActivityList = std::list<simgrid::kernel::activity::ActivityImplPtr>;
    auto* impl = comm.get_impl();
    auto* engine_impl = reinterpret_cast<char*>(sg4::Engine::get_instance()->get_impl());
    auto* maestro = *reinterpret_cast<char**>(engine_impl + kMaestroOffset);
    auto* list = reinterpret_cast<ActivityList*>(maestro + kActivitiesOffset);
    auto* detached = reinterpret_cast<bool*>(reinterpret_cast<char*>(impl) + kDetachedOffset);
    if (!checked_) {
      checked_ = true;
      enabled_ = maestro != nullptr && *detached && !list->empty() && list->back().get() == impl &&
                 static_cast<size_t>(std::distance(list->begin(), list->end())) == list->size();
      if (!enabled_) return;
    }
    LCSIM_ASSERT(*detached && !list->empty() && list->back().get() == impl,
                 "SimGrid's maestro activity list does not end with the comm just created");
    list->pop_back();
    *detached = false;
  }
  /// Whether comms are taken off the list (false: another SimGrid build, or LCSIM_SIMGRID_KEEP_DETACHED is set).
  bool enabled() const { return enabled_; }
 private:
  static bool library_is_3_32() {
    int major = 0, minor = 0, patch = 0;
    sg_version_get(&major, &minor, &patch);
    return SIMGRID_VERSION_MAJOR == 3 && SIMGRID_VERSION_MINOR == 32 && major == 3 && minor == 32;
  }
  static constexpr size_t kMaestroOffset = 0x1d0;
  static constexpr size_t kActivitiesOffset = 0xc0;
  static constexpr size_t kDetachedOffset = 0xc0;
  bool checked_ = false;
  // LCSIM_SIMGRID_KEEP_DETACHED (environment, any value): leave SimGrid's behaviour alone, to measure the difference.
  bool enabled_ = library_is_3_32() && std::getenv("LCSIM_SIMGRID_KEEP_DETACHED") == nullptr;
};

/// Weighted max-min elements for Engine::flow_spread(links, crossings): a link that k paths of one sprayed or coupled
/// flow cross counts k times in the sharing. SimGrid 3.32's CM02 model gives every link of a route consumption weight
/// 1, and `lmm::System::expand` merges a link listed k times into one element of weight 1 + ... + 1 = k, but it finds
/// the element by a linear search of the variable's elements for every listing (O(listings x links): 11% of the
/// DeepSeek-style slice, docs/performance-flow.md) and reserves room for one element per listing. So the route lists
/// each link once, and right after the comm starts this sets each element's weight to its count: the state that
/// listing the link k times would have left (the weight k, exactly; max_consumption_weight 1; concurrency 1 either
/// way), before any solve reads it.
///
/// The lmm classes are not in the installed headers: the comm's action is the last one of the network model's
/// started set (Action's constructor appends it), and in Debian 12's libsimgrid 3.32 a Variable keeps its elements in
/// a std::vector at 0x20, an Element is 0x50 bytes with its variable at 0x38 and consumption weight at 0x40 (read off
/// the library's System::expand and System::expand_add_to_elem). Every comm checks what it can: the action's model
/// and cost, one element per listed link, each pointing back at the variable with weight 1. Where a check fails
/// (another SimGrid build), or LCSIM_SIMGRID_LIST_CROSSINGS is set, the route lists each link k times instead:
/// SimGrid then sums the same weights itself, slower.
class ElementWeights {
 public:
  /// Whether to start the comm over each link once and call set() after it started.
  bool enabled() const { return enabled_; }
  /// Sets the weights of the comm just started over `route` (each link once); false (and switched off for the rest of
  /// the run) where the library's layout is not the expected one: the caller must then restart it listing links.
  bool set(simgrid::kernel::resource::Model* model, double cost, size_t route_size, const std::vector<uint32_t>& k) {
    using simgrid::kernel::resource::Action;
    auto* started = model->get_started_action_set();
    Action* action = started->empty() ? nullptr : &started->back();
    char* var = action ? reinterpret_cast<char*>(action->get_variable()) : nullptr;
    bool ok = action != nullptr && action->get_model() == model && action->get_cost() == cost && var != nullptr;
    char* first = nullptr;
    if (ok) {
      first = *reinterpret_cast<char**>(var + kElementsOffset);
      char* last = *reinterpret_cast<char**>(var + kElementsOffset + sizeof(char*));
      ok = first != nullptr && static_cast<size_t>(last - first) == route_size * kElementSize;
    }
    for (size_t i = 0; ok && i < route_size; ++i) {
      char* elem = first + i * kElementSize;
      ok = *reinterpret_cast<char**>(elem + kVariableOffset) == var &&
           *reinterpret_cast<double*>(elem + kWeightOffset) == 1.0;
    }
    if (!ok) {
      enabled_ = false;
      return false;
    }
    for (size_t i = 0; i < route_size; ++i) *reinterpret_cast<double*>(first + i * kElementSize + kWeightOffset) = k[i];
    return true;
  }

 private:
  static constexpr size_t kElementsOffset = 0x20;
  static constexpr size_t kElementSize = 0x50;
  static constexpr size_t kVariableOffset = 0x38;
  static constexpr size_t kWeightOffset = 0x40;
  bool enabled_ = SIMGRID_VERSION_MAJOR == 3 && SIMGRID_VERSION_MINOR == 32 &&
                  std::getenv("LCSIM_SIMGRID_LIST_CROSSINGS") == nullptr;
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
    external_clock_ = true;  // now() is SimGrid's clock; on_scheduled arms its timers (notify_scheduled_)
    static int argc = 2;
    static char arg0[] = "lcsim";
    static char arg1[] = "--log=root.thres:critical";
    static char* argv[] = {arg0, arg1, nullptr};
    sg_ = std::make_unique<sg4::Engine>(&argc, argv);
    sg4::Engine::set_config("network/model:CM02");
    sg4::Engine::set_config("network/optim:Full");
    // LCSIM_SIMGRID_SELECTIVE_UPDATE (environment, any value): re-solve only the part of the max-min system that an
    // event touched (the same equations: results were bit-identical wherever measured). Off by default: it saved
    // 4-17% of the CPU time on rings and the DeepSeek-style slice and cost 0-17% on Llama-3-70B (noise-sized;
    // docs/performance-flow.md, "Coupled all-to-all classes and selective max-min updates").
    if (std::getenv("LCSIM_SIMGRID_SELECTIVE_UPDATE") != nullptr) {
      sg4::Engine::set_config("network/maxmin-selective-update:yes");
    }
    sg4::Engine::set_config("network/crosstraffic:0");
    sg4::Engine::set_config("network/TCP-gamma:0");
    zone_ = new ExplicitPathZone("lcsim");  // first zone: becomes SimGrid's root, owned by SimGrid
    // 1 for every flow but a weighted one (see ExplicitPathZone); multiplying a latency by 1.0 changes nothing.
    zone_->get_iface()->get_network_model()->set_lat_factor_cb(
        [this](double, const sg4::Host*, const sg4::Host*, const std::vector<sg4::Link*>&,
               const std::unordered_set<sg4::NetZone*>&) { return zone_->latency_factor_; });
    sg4::Activity::on_completion_cb([this](const sg4::Activity& a) { completed(a); });
  }

  Duration external_now() const override { return Duration::seconds(sg4::Engine::get_clock()); }
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
    flow_ends_.clear();
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
                  const std::vector<uint32_t>* crossings, uint32_t copies, double latency) override {
    seal();
    const bool weighted = crossings != nullptr && weights_.enabled();
    path_buffer_.clear();
    for (size_t i = 0; i < path.size(); ++i) {
      // Without element weights, a link that k paths cross is listed k times (SimGrid sums them).
      const uint32_t times = crossings == nullptr || weighted ? 1 : (*crossings)[i];
      for (uint32_t j = 0; j < times; ++j) path_buffer_.push_back(sg_links_[path[i]]);
    }
    sg4::CommPtr c = sg4::Comm::sendto_init(sg_hosts_[src], sg_hosts_[dst]);
    undetach_(*c);
    flow_ends_[s] = {src, dst};
    const uint64_t payload = static_cast<uint64_t>(bytes + 0.5) * copies;
    c->set_payload_size(payload);
    track(s, c);
    zone_->pending_ = &path_buffer_;
    zone_->copies_ = copies;
    zone_->latency_override_ = latency;
    c->start();
    zone_->pending_ = nullptr;
    zone_->copies_ = 1;
    zone_->latency_override_ = -1;
    zone_->latency_factor_ = 1;
    if (weighted && !weights_.set(network_model(), static_cast<double>(payload), path_buffer_.size(), *crossings)) {
      // Not the expected library layout (checked on every comm): start this one again listing each link k times.
      stop_activity(s);
      start_flow(s, src, dst, bytes, path, crossings, copies, latency);
    }
  }

  void stop_activity(uint32_t s) override {
    auto it = by_slot_.find(s);
    if (it == by_slot_.end()) return;  // already completed; its callback event is queued
    sg4::ActivityPtr a = it->second;
    by_slot_.erase(it);
    running_.erase(a.get());
    flow_ends_.erase(s);
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
    // SimGrid fails the comms of a host that goes off by walking the maestro's detached list, which the flows are no
    // longer on (Undetacher): fail the flows from or to it here, in slot order, before SimGrid sees the host go.
    // (Comms left detached are SimGrid's to fail: cancelling them here too crashes SimGrid 3.32.)
    if (!hosts_[h].on && undetach_.enabled()) {
      std::vector<uint32_t> failing;
      for (const auto& [slot, ends] : flow_ends_) {
        if (ends.first == h || ends.second == h) failing.push_back(slot);
      }
      std::sort(failing.begin(), failing.end());
      for (uint32_t s : failing) {
        auto it = by_slot_.find(s);
        if (it == by_slot_.end()) continue;
        sg4::ActivityPtr a = it->second;
        by_slot_.erase(it);
        running_.erase(a.get());
        flow_ends_.erase(s);
        finished_.push_back(a);
        a->cancel();
        activity_failed(s);
      }
    }
    if (hosts_[h].on && !host->is_on()) host->turn_on();
    if (!hosts_[h].on && host->is_on()) host->turn_off();  // SimGrid fails its execs and comms
  }

 private:
  /// The network model as a resource::Model (a cross-cast from its public interface; both are its bases).
  simgrid::kernel::resource::Model* network_model() {
    if (!model_) model_ = dynamic_cast<simgrid::kernel::resource::Model*>(zone_->get_iface()->get_network_model());
    LCSIM_ASSERT(model_ != nullptr, "SimGrid's network model is not a resource::Model");
    return model_;
  }

  void track(uint32_t s, const sg4::ActivityPtr& a) {
    running_.emplace(a.get(), s);
    by_slot_.emplace(s, a);
  }

  void completed(const sg4::Activity& a) {
    auto it = running_.find(&a);
    if (it == running_.end()) return;
    const uint32_t s = it->second;
    running_.erase(it);
    flow_ends_.erase(s);
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
  Undetacher undetach_;
  ElementWeights weights_;
  simgrid::kernel::resource::Model* model_ = nullptr;
  std::unordered_map<uint32_t, std::pair<HostId, HostId>> flow_ends_;  // running flows' ends, by slot
};

}  // namespace

}  // namespace lcsim::sim

/// The module's one exported symbol (sim/engine.cc loads it with dlopen on the first simgrid engine).
extern "C" __attribute__((visibility("default"))) lcsim::sim::Engine* lcsim_make_simgrid_engine() {
  return new lcsim::sim::SimGridEngine();
}
