// Straggler mitigation (no engine: a control plane can call this): a synchronous step waits for the slowest
// worker; a node that runs slow for `after_steps` steps in a row is evicted (swapped for a spare: a save, the swap,
// a restart), which costs `cost` once instead of the slowdown for the rest of the episode. Pays off when the
// episode's remaining length x (1 - 1/slow_factor) exceeds the cost. docs/fault-tolerance.md.
#pragma once

#include "sim/config.h"
#include "sim/units.h"

namespace lcsim::policy {

struct StragglerEvictionPolicy {
  bool enabled = false;
  int after_steps = 20;  // consecutive slow steps before the node is evicted (assumed)
  void visit(Section& s);
  /// How long a slow node runs before it is evicted, with iterations of `iteration` slowed `slow_factor` times;
  /// zero = never (the policy is off).
  Duration detect_after(Duration iteration, double slow_factor) const {
    return enabled ? iteration * (slow_factor * after_steps) : Duration();
  }
};

}  // namespace lcsim::policy
