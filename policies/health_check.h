// Pre-flight health checks (no engine: a control plane can call this): before the job starts and before every
// restart, stress tests of the job's nodes catch a share of the latent faults (faults already present that would
// show under load) at a time cost. A share `latent_share` of failures is taken to be latent; a check catches each
// with probability `coverage`, and a caught one is replaced before the job runs: it never interrupts the job.
// Every knob is assumed (docs/fault-tolerance.md): the literature reports that stress tests find faults (the
// InfiniteHBD trace logs 97 "Stress Test Failure" faults of 584), not what share of later failures they prevent.
#pragma once

#include "sim/config.h"
#include "sim/units.h"

namespace lcsim::policy {

struct HealthCheckPolicy {
  bool enabled = false;
  double latent_share = 0.3;                       // of failures, present before they show (assumed)
  double coverage = 0.5;                           // share of latent faults a check finds (assumed)
  Duration duration = Duration::seconds(600);      // one check, before the start and every restart (assumed)
  void visit(Section& s);
  /// Whether a failure is prevented, from two uniform draws in [0, 1): is it latent, and is it found.
  bool prevents(double u_latent, double u_found) const {
    return enabled && u_latent < latent_share && u_found < coverage;
  }
  /// The time the checks add to every (re)start.
  Duration cost() const { return enabled ? duration : Duration(); }
};

}  // namespace lcsim::policy
