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

}  // namespace lcsim::policy
