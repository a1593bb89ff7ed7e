// Per-GPU power over time as timeline counters, by the same states the energy accounting charges (power.h): a GPU
// draws its `tdp` (or its power limit below it) while it computes, `idle_power + comm_power_fraction x (tdp -
// idle_power)` while it only communicates, `idle_power` otherwise. A trace subscriber: it keeps the compute and communication spans of each
// GPU on the timeline, and when the workload closes a stretch of that GPU's time (a BusyEvent: an iteration, a busy
// stretch of an inference instance) it turns them into a step function over the stretch and emits a sample at each
// change of state only. A stretch without spans (a memoized iteration) gets one sample: the stretch's average power
// from the BusyEvent's compute and communication times, what the energy meter charges for it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "sim/trace.h"
#include "sim/units.h"

namespace lcsim::hw {

class PowerCounter final : public TraceSink {
 public:
  struct Gpu {
    std::string group;  // the counter's group and name: "node1", "gpu3 power (W)"
    std::string name;
    double compute_w = 0, comm_w = 0, idle_w = 0;
  };
  /// `gpus` by global rank; `out` receives the counters (the tracer this subscribes to).
  PowerCounter(const Tracer& out, std::vector<Gpu> gpus);
  void on_span(const SpanEvent& e) override;
  void on_busy(const BusyEvent& e) override;
  bool wants_spans() const override { return false; }  // sees spans only when the timeline wants them anyway

  /// Writes each GPU's last change (its last stretch's end); call before the timeline closes.
  void finish();
  /// The power level of a GPU state: 2 computing, 1 only communicating, 0 idle.
  double watts(uint32_t rank, int state) const;
  uint64_t samples() const { return samples_; }

 private:
  struct Span {
    double start, end;  // seconds
    bool compute;
  };
  void emit(uint32_t rank, Duration t, double w);

  const Tracer& out_;
  std::vector<Gpu> gpus_;
  std::map<uint32_t, std::vector<Span>> spans_;  // per GPU on the timeline, since its last stretch
  std::map<uint32_t, double> last_;              // the last value emitted per GPU
  std::map<uint32_t, std::pair<Duration, double>> ends_;  // per GPU: its last stretch's end and the level there
  uint64_t samples_ = 0;
};

}  // namespace lcsim::hw
