// The discrete-event engine. Models see only lcsim types: now(), timers (at/after), and activities (a compute of
// known duration, an exec of work on a shared host, a flow over an explicit list of links) whose completion runs
// a callback as an event. Everything scheduled returns a Handle that can be queried and cancelled (ns-3's EventId,
// SimGrid's Activity::cancel): a cancelled callback never runs.
//
// Two backends, chosen by make_engine():
//   queue:   lcsim's own event queue and max-min solver for execs and flows (sim/queue_engine.cc): SimGrid 3.32's
//            sharing as lcsim pins it (shares weighted by route latency, its rounding and completion order), solved
//            once per instant. No SimGrid, no global state: any number of engines per process, one per thread
//            (sweeps, search, the evaluate API).
//   simgrid: SimGrid 3.32 (S4U, maestro mode: no actors) runs execs and flows, with its flow-level max-min sharing.
//            SimGrid keeps process-global state: one such engine per process, ever (a second one throws).
// The analytical fidelity runs on the queue backend, the flow fidelity on the simgrid backend (the reference), and
// flow_queue runs the flow model on the queue backend (equal to SimGrid's results to ~1e-13, several times faster).
//
// Ordering: every callback runs as an event ordered by (time, priority, sequence number) on both backends, so
// same-time events run in a defined order and runs are reproducible.
//
// State changes during a run, on both backends: links and hosts fail and recover, links change bandwidth, hosts
// change speed. Activities in flight see them: a failed link fails every flow crossing it, a failed host every
// compute, exec and flow on it; a bandwidth or speed change re-times what is running. An activity that fails runs
// its `failed` callback (when given) instead of `done`.
//
// SimGrid settings pinned by the simgrid backend (see docs/architecture.md and ../shared/simgrid-notes):
// network/model:CM02 (no hidden latency/bandwidth factors), network/optim:Full (Lazy over-allocates shared links),
// crosstraffic:0, TCP-gamma:0 (no TCP window cap on high-bandwidth, low-latency links).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sim/units.h"

namespace lcsim::sim {

using Callback = std::function<void()>;
using HostId = uint32_t;
using LinkId = uint32_t;

/// Event priorities at equal time: lower runs first.
enum Priority : int { kCompletion = 0, kDefault = 10, kLate = 100 };

class Engine;

/// A model's own kind of timer, run without a std::function (Engine::post): the engine calls fire(tag) when it is
/// due, in the same (time, priority, sequence) order as every other event, and cancelled(tag) instead of a cleanup
/// if it is cancelled before. For the events that run tens of thousands of times per evaluation (a folded pass's
/// end, an analytical batch's completion): nothing is built, moved or destroyed per event.
class EventSink {
 public:
  virtual void fire(uint64_t tag) = 0;
  virtual void cancelled(uint64_t /*tag*/) {}

 protected:
  ~EventSink() = default;
};

/// On whose behalf something is scheduled: 0 is the cluster itself, a job has its own id. Everything scheduled
/// while an owner's callback runs belongs to that owner too, so a job's whole tree of activities can be cancelled
/// at once (SimGrid kills an actor's activities the same way).
using Owner = uint32_t;

/// A handle on something scheduled: a timer, a compute, an exec or a flow. Cheap to copy. Once the thing has run,
/// failed or been cancelled, the handle is no longer pending (even after its slot is reused).
class Handle {
 public:
  Handle() = default;
  /// Scheduled or running, and its callback has not run yet.
  bool pending() const;
  /// Cancels it if pending: its callbacks never run, and a running activity stops using its resources now.
  void cancel() const;
  /// False for a default-constructed handle.
  explicit operator bool() const { return engine_ != nullptr; }

 private:
  friend class Engine;

  Handle(Engine* e, uint32_t slot, uint32_t gen) : engine_(e), slot_(slot), gen_(gen) {}
  Engine* engine_ = nullptr;
  uint32_t slot_ = 0;
  uint32_t gen_ = 0;
};

class Engine {
 public:
  virtual ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// Current simulated time since the start of the run. Not virtual: the runtime and the transfer model read it
  /// ~15 times per pass and send (3% of an evaluation's cycles as a virtual call). The queue backend advances
  /// clock_ itself; a backend whose time is kept elsewhere (simgrid) sets external_clock_ and answers external_now().
  Duration now() const { return external_clock_ ? external_now() : Duration::seconds(clock_); }
  /// Runs `cb` at absolute time `when` (>= now()).
  Handle at(Duration when, Callback cb, int priority = kDefault);
  /// Runs `cb` after `delay` (>= 0).
  Handle after(Duration delay, Callback cb, int priority = kDefault);
  /// Runs `sink->fire(tag)` at absolute time `when` (>= now()): the same event as at() (the same slot, handle,
  /// owner and order), with a typed target instead of a callback.
  Handle post(Duration when, EventSink* sink, uint64_t tag, int priority = kDefault);
  /// For checking (tests/typed_events_test.cc): false makes post() schedule a callback through at() that calls
  /// the sink (and a cleanup that calls cancelled()), as models scheduled these events before post() existed.
  /// Process-wide, true by default; set it before any engine runs.
  static void set_typed_events(bool on);

  // --- Resources. ---
  /// A compute resource (e.g. one GPU) that executes work at `speed` (FLOP/s of its work unit).
  HostId add_host(const std::string& name, FlopRate speed);
  /// A shared link; flows crossing it share its bandwidth max-min fairly.
  LinkId add_link(const std::string& name, Bandwidth bandwidth, Duration latency);
  size_t host_count() const { return hosts_.size(); }
  size_t link_count() const { return links_.size(); }

  // --- Activities: `done` runs as an event (priority kCompletion) when the activity completes; `failed` (if
  // given) when a resource it uses fails. ---
  /// Executes `amount` of work on `host`, sharing its speed with other execs there.
  Handle exec(HostId host, Flops amount, Callback done, Callback failed = {});
  /// A kernel of known duration `d` at speed factor 1 on `host` (a GPU stream runs one kernel at a time, so
  /// there is nothing to share): a timer, re-timed when the host's speed factor changes. O(log events).
  Handle compute(HostId host, Duration d, Callback done, Callback failed = {});
  /// Moves `size` bytes from src to dst over exactly `path` (latency = sum of link latencies; rate from max-min
  /// sharing with every other flow on those links). An empty path completes after zero time.
  /// `copies` > 1: the flow stands for that many identical flows started together (sim/flow_copies.h): it carries
  /// copies x size bytes and counts copies times in the sharing of every link it crosses.
  Handle flow(HostId src, HostId dst, Bytes size, const std::vector<LinkId>& path, Callback done,
              Callback failed = {}, uint32_t copies = 1);
  /// Per-packet spraying: `size_per_path` bytes over each of `paths` (at least one, each non-empty), all paths
  /// moving at one rate. Max-min sees one flow that consumes its rate once per path on every link, so a link
  /// its k paths all cross (the NIC) counts it k times and a link one path crosses (a spine) once: the fair
  /// rate of the whole is set by its most loaded path, as packets sprayed evenly are. It waits the largest path
  /// latency, then joins the sharing; `done` runs when every path's bytes have arrived. `copies` as for flow().
  /// (The same with one path is flow().)
  Handle flow_spread(HostId src, HostId dst, Bytes size_per_path, const std::vector<std::vector<LinkId>>& paths,
                     Callback done, Callback failed = {}, uint32_t copies = 1);
  /// The same activity with its paths given by the links they cross: `links` lists each link once and
  /// `crossings[i]` (>= 1) is how many of the paths cross links[i], so links[i] counts crossings[i] times in the
  /// sharing (a weighted max-min element, as listing it that many times would); `latency` is what it waits before
  /// it joins the sharing (flow_spread: its largest path latency). O(distinct links) to start, where the path
  /// lists are O(paths x hops): what a coupled all-to-all class of thousands of flows needs.
  Handle flow_spread(HostId src, HostId dst, Bytes size_per_path, const std::vector<LinkId>& links,
                     const std::vector<uint32_t>& crossings, Duration latency, Callback done, Callback failed = {},
                     uint32_t copies = 1);

  // --- State changes (any time, also during the run). ---
  /// Slows (factor < 1) or speeds up a host's compute() from now on, computes in flight included.
  void set_speed_factor(HostId host, double factor);
  /// A host fails (its computes, execs and flows fail; new ones fail at once) or recovers.
  void set_host_on(HostId host, bool on);
  bool host_on(HostId host) const { return hosts_.at(host).on; }
  /// A link fails (flows crossing it fail; new ones over it fail at once) or recovers.
  void set_link_on(LinkId link, bool on);
  bool link_on(LinkId link) const { return links_.at(link).on; }
  /// A link's capacity changes; flows in flight share the new bandwidth from now on.
  void set_link_bandwidth(LinkId link, Bandwidth bandwidth);
  Bandwidth link_bandwidth(LinkId link) const { return Bandwidth::bytes_per_s(links_.at(link).bandwidth); }
  /// Bytes per second the flows on a link move right now (the max-min solution).
  virtual Bandwidth link_usage(LinkId link) const = 0;

  // --- Owners. ---
  /// The owner of the callback running now (0 outside any).
  Owner owner() const { return owner_; }
  /// Runs `fn` on behalf of `owner`: what it schedules belongs to that owner.
  void as_owner(Owner owner, const std::function<void()>& fn);
  /// Cancels everything pending that `owner` scheduled (timers and activities, with their cleanup); returns how many.
  size_t cancel_owned(Owner owner);
  /// A cleanup that runs if `h` is cancelled (not when it runs or fails): models that keep state about what they
  /// scheduled (links marked busy, rates in flight) undo it here.
  void on_cancel(const Handle& h, Callback cleanup);

  /// Runs until nothing is left to do, or simulated time reaches `horizon`.
  virtual void run(Duration horizon) = 0;
  /// Called every few hundred events with the current simulated time (for progress display).
  void set_progress_hook(std::function<void()> hook) { progress_hook_ = std::move(hook); }

  /// The backend's registered name ("queue" or "simgrid").
  virtual const char* backend() const = 0;
  uint64_t events_processed() const { return events_; }
  /// Time of the last event run (the end of the simulated activity, even when run() stopped at a horizon).
  Duration last_event_time() const { return Duration::seconds(last_event_time_); }
  uint64_t activities_started() const { return activities_; }
  uint64_t activities_failed() const { return failed_; }
  uint64_t activities_cancelled() const { return cancelled_; }
  /// Events scheduled and not yet run or cancelled.
  size_t events_pending() const { return live_; }

 protected:
  Engine() = default;

  enum class Kind : uint8_t { kTimer, kCompute, kExec, kFlow };
  enum class State : uint8_t { kFree, kPending, kEnded };
  struct Slot {
    uint32_t gen = 0;
    State state = State::kFree;
    Kind kind = Kind::kTimer;
    uint64_t live_seq = 0;  // the key of the heap entry that fires this slot; older entries are stale
    Owner owner = 0;
    Callback cb;
    Callback failed;
    Callback cleanup;  // runs if cancelled
    EventSink* sink = nullptr;  // post(): fire(tag) instead of cb, cancelled(tag) instead of cleanup
    uint64_t tag = 0;
    // compute: the host, and the work left at speed factor 1 when `since` was last set
    HostId host = 0;
    double work_left = 0;
    double since = 0;
    uint32_t backend_index = 0;  // exec/flow: the backend's own record
  };
  struct HostState {
    std::string name;
    double speed = 0;
    double factor = 1;
    bool on = true;
    std::vector<uint32_t> computes;  // slots of computes in flight (unordered)
  };
  struct LinkState {
    std::string name;
    double bandwidth = 0;
    double latency = 0;
    bool on = true;
  };

  // --- For backends. ---
  // A free slot's index (one reused, or a new one at the end).
  inline uint32_t take_slot();
  uint32_t new_slot(Kind kind, Callback cb, Callback failed);
  /// Schedules the slot's callback (re-scheduling supersedes an earlier time).
  void schedule(uint32_t slot, double time, int priority);
  /// An exec or flow the backend ran to completion / saw fail: its callback runs as a kCompletion event now.
  void activity_done(uint32_t slot);
  void activity_failed(uint32_t slot);
  /// Pops and runs every event due at or before `t`, advancing last_event_time; the backend owns the clock.
  void dispatch_until(double t);
  double next_event_time() const;  // +inf when the queue is empty
  bool queue_empty() const { return heap_.empty(); }
  Handle handle(uint32_t slot) { return Handle(this, slot, slots_[slot].gen); }
  Slot& slot(uint32_t s) { return slots_[s]; }

  // What differs between backends.
  virtual void on_new_host(HostId host) = 0;
  virtual void on_new_link(LinkId link) = 0;
  /// A new event is due at `time` (the simgrid backend arms a timer).
  /// Called only where notify_scheduled_ is set (the queue backend has nothing to do: a virtual call per event less).
  virtual void on_scheduled(double time) = 0;
  /// now() where external_clock_ is set (simgrid: SimGrid's clock); unused otherwise.
  virtual Duration external_now() const { return Duration::seconds(clock_); }
  virtual void start_exec(uint32_t slot, HostId host, double flops) = 0;
  /// `path` may list a link more than once (flow_spread): it counts once per listing. `crossings` (null: 1 each)
  /// gives each listed link's count instead (the weighted flow_spread: each link listed once). `latency` < 0: the
  /// sum of the path's link latencies; otherwise the latency the flow waits (flow_spread: one path's, not the sum).
  virtual void start_flow(uint32_t slot, HostId src, HostId dst, double bytes, const std::vector<LinkId>& path,
                          const std::vector<uint32_t>* crossings, uint32_t copies, double latency) = 0;
  /// Stops a running exec or flow (cancelled, or failed by a state change); no callback.
  virtual void stop_activity(uint32_t slot) = 0;
  virtual void on_link_change(LinkId link) = 0;  // bandwidth or state changed; running flows already failed
  virtual void on_host_change(HostId host) = 0;  // state changed; running activities already failed

  std::vector<HostState> hosts_;
  std::vector<LinkState> links_;
  /// Slots of running execs and flows, per resource (for failures).
  std::vector<std::vector<uint32_t>> on_link_;
  std::vector<std::vector<uint32_t>> on_host_;
  /// The backend's clock, for now() (the queue backend advances it; unused where external_clock_ is set).
  double clock_ = 0;
  /// now() asks external_now() instead of reading clock_ (simgrid: SimGrid's clock).
  bool external_clock_ = false;
  /// schedule() calls on_scheduled() (simgrid arms a timer; the queue backend needs no call).
  bool notify_scheduled_ = true;

 private:
  friend class Handle;
  /// A heap entry: (time, priority, sequence number) with priority and sequence packed into one key that orders
  /// as the pair does (heap_key), so that ties in time cost one more comparison, not two.
  struct Entry {
    double time;
    uint64_t key;
    uint32_t slot;
  };
  static bool before(const Entry& a, const Entry& b) {
    return a.time < b.time || (a.time == b.time && a.key < b.key);
  }
  static uint64_t heap_key(int priority, uint64_t seq);
  /// A 4-ary min-heap on before() (half the levels of a binary one; moves instead of swaps). (time, priority,
  /// sequence) is a total order, so events leave it in one order whatever its shape.
  void heap_push(const Entry& e);
  Entry heap_pop();
  bool is_pending(const Handle& h) const;
  void cancel(const Handle& h);
  void end_slot(uint32_t s);  // the slot's callback will not run any more: drop its state
  void free_slot(uint32_t s);
  void retime_computes(HostId host, double old_factor);
  void fail_running(std::vector<uint32_t>& slots);
  void forget_running(uint32_t s);

  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  std::vector<Entry> heap_;
  uint64_t seq_ = 0;
  size_t live_ = 0;
  std::function<void()> progress_hook_;
  uint64_t events_ = 0;
  double last_event_time_ = 0;
  uint64_t activities_ = 0;
  uint64_t failed_ = 0;
  uint64_t cancelled_ = 0;
  Owner owner_ = 0;
};

/// "queue" (lcsim's own event queue, no SimGrid) or "simgrid". Throws std::invalid_argument for another name.
std::unique_ptr<Engine> make_engine(const std::string& backend);
/// The registered backends with a one-line description each.
std::vector<std::pair<std::string, std::string>> engine_backends();

}  // namespace lcsim::sim
