// The discrete-event engine facade. SimGrid 3.32 (S4U, maestro mode: no actors) is the kernel underneath; models
// see only lcsim types: now(), at()/after(), and activities (exec on a compute resource, flow over an explicit
// list of links) whose completion runs a callback as an event.
//
// Ordering: every callback runs as an event ordered by (time, priority, sequence number), so same-time events
// run in a defined order and runs are reproducible. SimGrid keeps process-global state: one Engine per process,
// ever (a second one throws). Sweeps run one process per simulation.
//
// SimGrid settings pinned here (see docs/architecture.md and ../shared/simgrid-notes): network/model:CM02 (no
// hidden latency/bandwidth factors), network/optim:Full (Lazy over-allocates shared links), crosstraffic:0,
// TCP-gamma:0 (no TCP window cap on high-bandwidth, low-latency links).
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

class Engine {
 public:
  Engine();
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// Current simulated time since the start of the run.
  Duration now() const;
  /// Runs `cb` at absolute time `when` (>= now()).
  void at(Duration when, Callback cb, int priority = kDefault);
  /// Runs `cb` after `delay` (>= 0).
  void after(Duration delay, Callback cb, int priority = kDefault);

  // --- Resources: create them all before the first activity or run(). ---
  /// A compute resource (e.g. one GPU) that executes work at `speed` (FLOP/s of its work unit).
  HostId add_host(const std::string& name, FlopRate speed);
  /// A shared link; flows crossing it share its bandwidth max-min fairly.
  LinkId add_link(const std::string& name, Bandwidth bandwidth, Duration latency);
  size_t host_count() const;
  size_t link_count() const;

  // --- Activities: `done` runs as an event (priority kCompletion) when the activity completes. ---
  /// Executes `amount` of work on `host`, sharing its speed with other execs there.
  void exec(HostId host, Flops amount, Callback done);
  /// A kernel of known duration `d` on `host` (a GPU stream runs one kernel at a time, so there is nothing to
  /// share): a timer, scaled by the host's speed factor. No SimGrid activity, so it costs O(log events).
  void compute(HostId host, Duration d, Callback done);
  /// Slows (factor < 1) or speeds up a host's compute() from now on: stragglers, throttling.
  void set_speed_factor(HostId host, double factor);
  /// Moves `size` bytes from src to dst over exactly `path` (latency = sum of link latencies; rate from max-min
  /// sharing with every other flow on those links). An empty path completes after zero time.
  void flow(HostId src, HostId dst, Bytes size, const std::vector<LinkId>& path, Callback done);

  /// Bytes per second the flows on a link move right now (SimGrid's max-min solution; exact with optim:Full).
  Bandwidth link_usage(LinkId link) const;

  /// Runs until nothing is left to do, or simulated time reaches `horizon`.
  void run(Duration horizon);
  /// Called every few hundred events with the current simulated time (for progress display).
  void set_progress_hook(std::function<void()> hook) { progress_hook_ = std::move(hook); }

  uint64_t events_processed() const { return events_; }
  /// Time of the last event run (the end of the simulated activity, even when run() stopped at a horizon).
  Duration last_event_time() const { return Duration::seconds(last_event_time_); }
  uint64_t activities_started() const { return activities_; }

 private:
  struct Impl;
  void push(Duration when, int priority, Callback cb);
  void dispatch();
  void seal();

  std::unique_ptr<Impl> impl_;
  std::function<void()> progress_hook_;
  uint64_t events_ = 0;
  double last_event_time_ = 0;
  uint64_t activities_ = 0;
};

}  // namespace lcsim::sim
