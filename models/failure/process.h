// A failure process: N identical components (GPUs, NICs, links, hosts, ...) that each fail after a time drawn from
// a time-to-failure distribution and come back after a repair time, over and over. A "lemon" share of components
// fails `lemon_factor` times as often (a few bad nodes cause many interruptions, as large clusters report).
// Each component draws from its own seeded stream, so the events of one do not depend on how many others there are.
#pragma once

#include <string>
#include <vector>

#include "models/failure/distribution.h"
#include "sim/config.h"
#include "sim/rng.h"

namespace lcsim::failure {

struct ProcessConfig {
  std::string component = "node";  // what fails: its name in events and metrics
  int count = 1;                    // components
  DistributionConfig time_to_failure;
  DistributionConfig repair;
  double lemon_fraction = 0.0;  // share of components that fail more often
  double lemon_factor = 1.0;    // how much more often (their mean time to failure / this)
  void visit(Section& s);
};

struct FailureEvent {
  uint32_t component;
  Duration fail_at;
  Duration repaired_at;
};

class FailureProcess {
 public:
  FailureProcess(ProcessConfig config, const RngFactory& rng);
  /// Every failure that starts before `horizon`, by time (ties by component).
  std::vector<FailureEvent> events(Duration horizon) const;
  /// Whether component `i` is a lemon.
  bool lemon(uint32_t i) const { return lemon_[i]; }
  /// Failures per second of the whole population, in the long run: sum over components of 1 / (MTTF + MTTR).
  double long_run_rate() const;
  const ProcessConfig& config() const { return config_; }

 private:
  ProcessConfig config_;
  const RngFactory& rng_;
  std::unique_ptr<Distribution> ttf_, repair_;
  std::vector<bool> lemon_;  // drawn once per component
};

}  // namespace lcsim::failure
