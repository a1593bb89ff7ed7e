// The queue backend: lcsim's own clock and a max-min solver for execs and flows, written to give SimGrid 3.32's
// answers (network/model:CM02, optim:Full, the settings the simgrid backend pins) without SimGrid's cost per event.
//
// What it reproduces of SimGrid (lmm::MaxMin::do_solve and the CM02 network model), so that the simgrid backend stays
// the reference and the two agree to rounding (tests/engine_test.cc and tests/flow_coupled_test.cc run on both):
// - A flow's sharing penalty is its route latency L (CM02 with network/weight-S 0), L/k for a flow standing for k
//   copies (sim/flow_copies.h), 1 for a route without latency; an exec's is 1. A variable of penalty p counts w/p on
//   each resource it crosses w times and gets (fair share) / p: shares go as 1/latency, not equally.
// - A flow first waits its latency and only then joins the sharing (CM02's latency phase: penalty 0 until then);
//   it joins early where an event falls within 1 ns of its joining time (SimGrid's surf precision).
// - Progressive filling by saturated resources: the resources whose remaining / usage is the smallest fix the rates
//   of every variable on them, those variables' consumption leaves the other resources, and again; remaining and
//   usage snap to 0 below maxmin/precision (1e-5, remaining relative to the capacity), as SimGrid's double_update.
// - Payloads are whole bytes (the simgrid backend rounds a flow's size per copy); a flow ends when the bytes left
//   drop below 1e-14 (surf x maxmin precision) or take under a picosecond at its rate.
// - At one instant, events already due run first, then the completions found at that instant are reported in the
//   order their activities started (SimGrid runs its timers before it reports finished actions).
//
// What it does differently, for speed: one solve per instant however many activities start, join, end or fail at
// it (SimGrid re-solves at every model event); flat arrays reused across solves (no allocation per solve).
#include "sim/queue_engine.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "sim/error.h"

namespace lcsim::sim {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMaxMinPrecision = 1e-5;  // SimGrid 3.32 maxmin/precision (default)
constexpr double kSurfPrecision = 1e-9;    // SimGrid 3.32 surf/precision (default)

class QueueEngine final : public Engine {
 public:
  QueueEngine() { notify_scheduled_ = false; }  // on_scheduled has nothing to do; now() reads Engine::clock_
  const char* backend() const override { return "queue"; }

  /// The rates of the last solve (what SimGrid's Link::get_usage reads): a flow started since has none yet.
  Bandwidth link_usage(LinkId link) const override {
    double sum = 0;
    const uint32_t r = link_res(link);
    if (r < members_.size()) {
      for (const Member& m : members_[r]) sum += vars_[m.var].rate * vars_[m.var].elems[m.elem].weight;
    }
    return Bandwidth::bytes_per_s(sum);
  }

  void run(Duration horizon) override {
    for (;;) {
      if (dirty_) solve();
      const double t = std::min({next_event_time(), next_done_, joins_.empty() ? kInf : joins_.front().time});
      if (!(t <= horizon.s())) break;  // nothing left (inf), or past the horizon
      advance(t);
      join_due();
      if (next_done_ <= t) take_finished();
      dispatch_until(t);
      if (!finished_.empty()) {
        std::sort(finished_.begin(), finished_.end());
        const std::vector<std::pair<uint64_t, uint32_t>> done = std::move(finished_);
        finished_.clear();
        for (const auto& [seq, s] : done) activity_done(s);
        dispatch_until(t);
      }
      run_timers(horizon.s());
    }
  }

 protected:
  void on_new_host(HostId) override { grow(); }
  void on_new_link(LinkId) override { grow(); }
  void on_scheduled(double) override {}

  void start_exec(uint32_t s, HostId host, double flops) override {
    Var& v = add_var(s, flops, 1.0, kNoHost, kNoHost);
    v.elems.push_back({host_res(host), 1.0, 0});
    join(slot_var_[s]);
  }

  void start_flow(uint32_t s, HostId src, HostId dst, double bytes, const std::vector<LinkId>& path,
                  const std::vector<uint32_t>* crossings, uint32_t copies, double path_latency) override {
    double latency = 0;
    if (path_latency < 0) {
      for (LinkId l : path) latency += links_[l].latency;
    } else {
      latency = path_latency;
    }
    // ExplicitPathZone (simgrid_engine.cc): k copies report latency L/k (their penalty) with latency factor
    // L/(L/k), so they wait (L/k) x (L/(L/k)); the same operations here.
    double penalty = latency > 0 ? latency : 1.0;
    double wait = latency;
    if (copies > 1) {
      penalty = latency > 0 ? latency / copies : 1.0 / copies;
      wait = latency > 0 ? penalty * (latency / penalty) : 0.0;
    }
    const uint64_t payload = static_cast<uint64_t>(bytes + 0.5) * copies;
    Var& v = add_var(s, static_cast<double>(payload), penalty, src, dst);
    v.elems.reserve(path.size());
    for (size_t i = 0; i < path.size(); ++i) {
      v.elems.push_back({link_res(path[i]), crossings ? double((*crossings)[i]) : 1.0, 0});
    }
    if (wait > 0) {
      joins_.push_back({clock_ + wait, v.seq, s});
      std::push_heap(joins_.begin(), joins_.end(), [](const Join& a, const Join& b) { return a.later(b); });
    } else {
      join(slot_var_[s]);
    }
  }

  void stop_activity(uint32_t s) override {
    remove_var(s);
    auto it = std::find_if(finished_.begin(), finished_.end(), [s](const auto& f) { return f.second == s; });
    if (it != finished_.end()) finished_.erase(it);  // ended at this instant, cancelled before it was reported
  }

  void on_link_change(LinkId link) override {
    const uint32_t r = link_res(link);
    cap_[r] = links_[link].bandwidth;
    if (!links_[link].on) {
      fail_where([r](const Var& v) {
        return std::any_of(v.elems.begin(), v.elems.end(), [r](const Elem& e) { return e.res == r; });
      });
    }
    dirty_ = true;
  }

  void on_host_change(HostId host) override {
    if (!hosts_[host].on) {
      const uint32_t r = host_res(host);
      fail_where([host, r](const Var& v) {
        return v.src == host || v.dst == host || (!v.elems.empty() && v.elems[0].res == r);
      });
    }
    dirty_ = true;
  }

 private:
  static constexpr uint32_t kNoHost = std::numeric_limits<uint32_t>::max();
  static constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

  /// Resources (links and hosts' speeds) by one id: link l is 2l, host h 2h + 1, stable as either is added.
  static uint32_t link_res(LinkId l) { return 2 * l; }
  static uint32_t host_res(HostId h) { return 2 * h + 1; }
  struct Elem {
    uint32_t res;   // link_res or host_res
    double weight;  // how many times the variable counts there
    uint32_t pos;   // joined: its place in the resource's member list
  };
  struct Member {  // a joined variable's element, in its resource's list
    uint32_t var;
    uint32_t elem;
    double usage;  // what it adds to the resource's usage: weight / penalty (fixed: computed once, at joining)
  };
  /// An exec or a flow: SimGrid's lmm variable and its action.
  struct Var {
    uint32_t slot;
    uint64_t seq;     // start order
    double left;      // work or bytes
    double penalty;   // sharing penalty: gets (share / penalty), counts (weight / penalty)
    uint32_t src, dst;  // a flow's end hosts (it fails with them); kNoHost for an exec
    bool joined = false;
    double rate = 0;
    std::vector<Elem> elems;
  };
  struct Join {
    double time;
    uint64_t seq;
    uint32_t slot;
    bool later(const Join& o) const { return time != o.time ? time > o.time : seq > o.seq; }
  };

  Var& add_var(uint32_t s, double amount, double penalty, uint32_t src, uint32_t dst) {
    if (slot_var_.size() <= s) slot_var_.resize(s + 1, kNone);
    LCSIM_ASSERT(slot_var_[s] == kNone, "a slot runs two activities");
    slot_var_[s] = static_cast<uint32_t>(vars_.size());
    vars_.push_back(Var{s, seq_++, amount, penalty, src, dst, false, 0.0, {}});
    dirty_ = true;
    return vars_.back();
  }

  void remove_var(uint32_t s) {
    if (s >= slot_var_.size() || slot_var_[s] == kNone) return;
    const uint32_t i = slot_var_[s];
    if (vars_[i].joined) leave(i);
    slot_var_[s] = kNone;
    const uint32_t last = static_cast<uint32_t>(vars_.size() - 1);
    if (i != last) {
      vars_[i] = std::move(vars_[last]);
      slot_var_[vars_[i].slot] = i;
      if (vars_[i].joined) {
        for (const Elem& e : vars_[i].elems) members_[e.res][e.pos].var = i;
      }
    }
    vars_.pop_back();
    dirty_ = true;
  }

  /// A variable joins the sharing: each of its elements goes on its resource's member list.
  void join(uint32_t i) {
    Var& v = vars_[i];
    v.joined = true;
    for (uint32_t k = 0; k < v.elems.size(); ++k) {
      Elem& e = v.elems[k];
      auto& list = members_[e.res];
      if (list.empty()) {
        active_pos_[e.res] = static_cast<uint32_t>(active_.size());
        active_.push_back(e.res);
      }
      e.pos = static_cast<uint32_t>(list.size());
      list.push_back({i, k, e.weight / v.penalty});
      changed(e.res);
    }
    dirty_ = true;
  }

  /// A joined variable leaves the sharing (the last member of each list takes its place there).
  void leave(uint32_t i) {
    Var& v = vars_[i];
    v.joined = false;
    for (const Elem& e : v.elems) {
      auto& list = members_[e.res];
      const Member moved = list.back();
      list[e.pos] = moved;
      vars_[moved.var].elems[moved.elem].pos = e.pos;
      list.pop_back();
      changed(e.res);
      if (list.empty()) {
        const uint32_t at = active_pos_[e.res];
        active_[at] = active_.back();
        active_pos_[active_[at]] = at;
        active_.pop_back();
      }
    }
  }

  /// A resource's member list changed: its usage is summed again at the next solve.
  void changed(uint32_t r) {
    if (stale_[r]) return;
    stale_[r] = 1;
    stale_list_.push_back(r);
  }

  /// Sizes the per-resource arrays for the hosts and links that exist, and their capacities.
  void grow() {
    const size_t need = 2 * std::max(links_.size(), hosts_.size());
    if (cap_.size() < need) {
      // Doubled, not grown by one resource: a run adds hundreds of hosts one by one (an index past the hosts and
      // links is never used: its entries stay as made).
      const size_t n = std::max(need, 2 * cap_.size());
      cap_.resize(n, 0.0);
      members_.resize(n);
      active_pos_.resize(n, kNone);
      remaining_.resize(n);
      usage_.resize(n);
      light_pos_.resize(n, kNone);
      sum_.resize(n, 0.0);
      stale_.resize(n, 0);
    }
    if (!links_.empty()) cap_[link_res(static_cast<LinkId>(links_.size() - 1))] = links_.back().bandwidth;
    if (!hosts_.empty()) cap_[host_res(static_cast<HostId>(hosts_.size() - 1))] = hosts_.back().speed;
  }

  /// The loop above while nothing shares (no exec or flow running or waiting to join, nothing to solve or report):
  /// each instant is then its events alone, and this runs them without the sharing's steps, which would do nothing
  /// (advance() only moves the clock, join_due() and take_finished() have nothing to take). The analytical fidelity
  /// runs every event here: ~37K instants per evaluation of the 175B layout. Returns as soon as an event starts
  /// sharing, the next activity end is due, or the horizon or the last event is reached.
  void run_timers(double horizon) {
    while (!dirty_ && vars_.empty() && joins_.empty() && finished_.empty()) {
      const double t = next_event_time();
      if (!(t <= horizon) || next_done_ <= t) return;
      clock_ = t;
      dispatch_until(t);
    }
  }

  /// Moves every joined activity forward to `t` at its rate (SimGrid's update_remains, with its snapping).
  void advance(double t) {
    const double dt = t - clock_;
    clock_ = t;
    if (dt <= 0) return;
    for (Var& v : vars_) {
      if (v.rate <= 0) continue;
      v.left -= v.rate * dt;
      if (v.left < kMaxMinPrecision * kSurfPrecision) v.left = 0;
    }
  }

  void join_due() {
    auto later = [](const Join& a, const Join& b) { return a.later(b); };
    while (!joins_.empty() && joins_.front().time - clock_ < kSurfPrecision) {
      std::pop_heap(joins_.begin(), joins_.end(), later);
      const Join j = joins_.back();
      joins_.pop_back();
      if (j.slot >= slot_var_.size() || slot_var_[j.slot] == kNone) continue;  // cancelled or failed meanwhile
      if (vars_[slot_var_[j.slot]].seq != j.seq) continue;  // the slot runs a later activity
      join(slot_var_[j.slot]);
    }
  }

  /// Takes the activities that have arrived off the sharing; they are reported after this instant's events.
  /// (The clock cannot move by what one left: it has arrived too, or time would stand still.)
  void take_finished() {
    const size_t before = finished_.size();
    for (size_t i = 0; i < vars_.size();) {
      const Var& v = vars_[i];
      if (v.rate > 0 && (v.left <= 0 || v.left / v.rate <= 1e-12 || clock_ + v.left / v.rate <= clock_)) {
        finished_.emplace_back(v.seq, v.slot);
        remove_var(v.slot);  // swaps the last one into i
      } else {
        ++i;
      }
    }
    if (finished_.size() == before) dirty_ = true;  // rounding: none arrived, re-time from what is left
  }

  template <class Pred>
  void fail_where(Pred pred) {
    std::vector<std::pair<uint64_t, uint32_t>> failing;
    for (const Var& v : vars_) {
      if (pred(v)) failing.emplace_back(v.seq, v.slot);
    }
    std::sort(failing.begin(), failing.end());
    for (const auto& [seq, s] : failing) {
      remove_var(s);
      activity_failed(s);
    }
  }

  /// Max-min rates of every joined activity (SimGrid's do_solve over the whole system), then the next completion.
  void solve() {
    dirty_ = false;
    for (Var& v : vars_) v.rate = 0;
    // Usage (sum of weight / penalty over the members) of each resource whose members changed since the last solve:
    // summed afresh in list order, so a resource's sum is the same as summing it at every solve.
    for (uint32_t d : stale_list_) {
      double usage = 0;
      for (const Member& m : members_[d]) usage += m.usage;
      sum_[d] = usage;
      stale_[d] = 0;
    }
    stale_list_.clear();
    // The first remaining / usage of each resource with joined variables.
    light_list_.clear();
    light_rou_.clear();
    for (uint32_t d : active_) {
      const double bound = cap_[d];
      remaining_[d] = bound;
      if (!(bound > bound * kMaxMinPrecision)) continue;
      const double usage = sum_[d];
      usage_[d] = usage;
      if (usage > 0) {
        light_pos_[d] = static_cast<uint32_t>(light_list_.size());
        light_list_.push_back(d);
        light_rou_.push_back(bound / usage);
      }
    }
    fixed_.assign(vars_.size(), 0);
    // Rounds: the smallest remaining / usage by a scan of the unsaturated resources, as SimGrid's light table (a
    // compact array; a heap cost more here, its entries going stale as every fixed variable moves ~20 resources).
    while (!light_list_.empty()) {
      // Every resource at the smallest remaining / usage saturates together (one pass, as SimGrid's
      // saturated_constraints_update).
      double min_usage = kInf;
      saturated_.clear();
      for (size_t i = 0; i < light_rou_.size(); ++i) {
        const double rou = light_rou_[i];
        if (rou > min_usage) continue;
        if (rou < min_usage) {
          min_usage = rou;
          saturated_.clear();
        }
        saturated_.push_back(light_list_[i]);
      }
      for (uint32_t d : saturated_) {
        for (const Member& m : members_[d]) {
          if (fixed_[m.var]) continue;
          fixed_[m.var] = 1;
          fix(vars_[m.var], min_usage);
        }
        if (light_pos_[d] != kNone) unlight(d);  // all its variables are fixed now
      }
    }
    next_done_ = kInf;
    for (const Var& v : vars_) {
      if (v.rate > 0) next_done_ = std::min(next_done_, v.left > 0 ? v.left / v.rate : 0.0);
    }
    next_done_ += clock_;
  }

  /// Fixes a variable at its share and takes its consumption off every resource it crosses.
  void fix(Var& v, double min_usage) {
    v.rate = min_usage / v.penalty;
    for (const Elem& e : v.elems) {
      const uint32_t d = e.res;
      const uint32_t pos = light_pos_[d];
      if (pos == kNone) continue;
      const double bound = cap_[d];
      double rem = remaining_[d] - e.weight * v.rate;
      if (rem < bound * kMaxMinPrecision) rem = 0;
      double usage = usage_[d] - e.weight / v.penalty;
      if (usage < kMaxMinPrecision) usage = 0;
      remaining_[d] = rem;
      usage_[d] = usage;
      if (!(usage > kMaxMinPrecision) || !(rem > bound * kMaxMinPrecision)) {
        unlight(d);
      } else {
        light_rou_[pos] = rem / usage;
      }
    }
  }

  /// Takes a resource out of the unsaturated ones (the last one takes its place, as in SimGrid's light table).
  void unlight(uint32_t d) {
    const uint32_t pos = light_pos_[d];
    const uint32_t last = light_list_.back();
    light_list_[pos] = last;
    light_rou_[pos] = light_rou_.back();
    light_pos_[last] = pos;
    light_pos_[d] = kNone;
    light_list_.pop_back();
    light_rou_.pop_back();
  }

  std::vector<Var> vars_;
  std::vector<uint32_t> slot_var_;  // slot -> index in vars_ (kNone: none)
  uint64_t seq_ = 0;
  bool dirty_ = false;
  double next_done_ = kInf;
  std::vector<Join> joins_;                               // min-heap of latency phases ending
  std::vector<std::pair<uint64_t, uint32_t>> finished_;  // (start order, slot) arrived, not yet reported
  // Per resource (by link_res / host_res): capacity, joined members, place among the active ones (kNone: none).
  std::vector<double> cap_;
  std::vector<std::vector<Member>> members_;
  std::vector<uint32_t> active_, active_pos_;
  std::vector<double> sum_;  // usage with every member unfixed (summed again when the list changes: stale_)
  std::vector<char> stale_;
  std::vector<uint32_t> stale_list_;
  // The solve's buffers.
  std::vector<double> remaining_, usage_;
  std::vector<uint32_t> light_list_, light_pos_;  // unsaturated resources; each one's place there (kNone: none)
  std::vector<double> light_rou_;                 // their remaining / usage
  std::vector<uint32_t> saturated_;
  std::vector<char> fixed_;
};

}  // namespace

std::unique_ptr<Engine> make_queue_engine() { return std::make_unique<QueueEngine>(); }

}  // namespace lcsim::sim
