// Checkpoint interval policies (no engine: a control plane can call them). Inputs are typed: the time one
// checkpoint save costs the job (delta), the mean time between the job's interruptions (M), and the time a restart
// costs (R: detection, re-initialisation, restore).
//
//   Young (1974):  tau = sqrt(2 delta M)
//   Daly (2006):   tau = sqrt(2 delta M) [1 + sqrt(delta / 2M) / 3 + delta / (18 M)] - delta, for delta < 2M;
//                  tau = M otherwise  (J. T. Daly, "A higher order estimate of the optimum checkpoint interval for
//                  restart dumps", Future Generation Computer Systems 22(3), 2006, eq. 37)
//
// and Daly's expected wall time for a job of `work` seconds of computation checkpointed every tau, with
// exponentially distributed interruptions (eq. 20 of the same paper):
//   T(tau) = M e^{R/M} (e^{(tau + delta)/M} - 1) work / tau
#pragma once

#include <string>
#include <vector>

#include "sim/units.h"

namespace lcsim::policy {

struct CheckpointCosts {
  Duration save;     // delta: the job's time lost to one checkpoint save
  Duration restart;  // R: from interruption to computing again (excluding lost work)
  Duration mtbf;     // M: mean time between the job's interruptions
};

Duration young_interval(const CheckpointCosts& c);
Duration daly_interval(const CheckpointCosts& c);
/// Expected wall time to finish `work` of computation checkpointing every `interval` (Daly's model).
Duration expected_wall_time(const CheckpointCosts& c, Duration interval, Duration work);

/// Adaptive: Daly's interval from the failure rate observed so far, shrunk toward a prior. The job's MTBF estimate
/// after n interruptions in wall time T is (w M0 + T) / (w + n): the mean of a gamma posterior whose prior is
/// worth w interruptions at MTBF M0 (so one early failure does not swing the interval).
struct AdaptiveInterval {
  CheckpointCosts prior;     // its mtbf is M0
  double prior_weight = 4;   // w, in interruptions
  Duration mtbf_after(int interruptions, Duration elapsed) const;
  Duration interval_after(int interruptions, Duration elapsed) const;
};

/// The registered interval policies: young, daly, adaptive (starts at Daly's; the stepper moves it).
const std::vector<std::string>& checkpoint_policy_names();
/// The interval `policy` chooses; a non-zero `fixed` overrides every policy.
Duration checkpoint_interval(const std::string& policy, const CheckpointCosts& c, Duration fixed);

}  // namespace lcsim::policy
