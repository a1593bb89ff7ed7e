// Failure prediction (no engine: a control plane can call this): a predictor raises an alarm `lead` before a
// share `recall` of the unplanned failures; `precision` is the share of its alarms that are followed by a failure.
// On an alarm the job saves a checkpoint just in time, so a predicted failure loses no compute (the fault itself
// still happens: detection, diagnosis, replacement and restart follow); a false alarm costs one checkpoint save
// and nothing else. An alarm whose lead is shorter than the save is of no use (the save cannot finish). False
// alarms come as a Poisson process at recall x (1 - precision) / precision times the job's failure rate, so that
// precision is their share of all alarms. With `action: migrate` the job also moves off the node predicted to fail
// (a spare swapped in, a restart from the just-in-time checkpoint, no detection or diagnosis; the fault no longer
// interrupts it); a false alarm then costs a save and a migration. Every knob is assumed (docs/fault-tolerance.md).
#pragma once

#include <string>

#include "sim/config.h"
#include "sim/units.h"

namespace lcsim::policy {

struct FailurePredictionPolicy {
  bool enabled = false;
  double recall = 0.5;                      // share of unplanned failures predicted (assumed)
  double precision = 0.5;                   // share of alarms followed by a failure (assumed)
  Duration lead = Duration::seconds(600);   // alarm to failure (assumed)
  std::string action = "checkpoint";        // checkpoint: a save before the failure; migrate: also move off the node
  void visit(Section& s);
  /// Whether a failure is predicted, from one uniform draw in [0, 1).
  bool predicts(double u) const { return enabled && u < recall; }
  /// Whether an alarm leaves time for a save of `save`.
  bool in_time(Duration save) const { return lead >= save; }
  /// Whether an alarm moves the job off the flagged node (when a spare is at hand).
  bool migrates() const { return enabled && action == "migrate"; }
  /// False alarms per second for a job with `failure_rate` failures per second.
  double false_alarm_rate(double failure_rate) const {
    return enabled && precision > 0 ? failure_rate * recall * (1 - precision) / precision : 0.0;
  }
};

}  // namespace lcsim::policy
