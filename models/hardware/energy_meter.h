// The energy meter: a trace subscriber that integrates, per GPU, the time it computed and the time it only
// communicated (BusyEvents, which every workload emits for every GPU it stands for), and turns them into energy by
// part and state over a run (power.h). It knows nothing of workloads: a GPU nobody reported on was idle.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/hardware/node.h"
#include "models/hardware/power.h"
#include "sim/trace.h"

namespace lcsim::hw {

class EnergyMeter final : public TraceSink {
 public:
  struct Pool {
    std::string name;
    const NodeSpec* node;
    int nodes;
  };
  /// `pools` in GPU order: the first pool's nodes hold GPUs 0.., then the next pool's.
  explicit EnergyMeter(std::vector<Pool> pools);
  void on_busy(const BusyEvent& e) override;
  bool wants_spans() const override { return false; }

  /// Each pool's computing and communicating fractions of its accelerator-time over [0, span].
  std::vector<PoolUsage> usage(Duration span) const;
  /// Seconds GPU `rank` computed / only communicated so far.
  double compute_s(uint32_t rank) const { return compute_[rank]; }
  double comm_s(uint32_t rank) const { return comm_[rank]; }
  uint64_t events() const { return events_; }

 private:
  std::vector<Pool> pools_;
  std::vector<uint32_t> pool_of_;  // per GPU
  std::vector<double> compute_, comm_;
  uint64_t events_ = 0;
};

}  // namespace lcsim::hw
