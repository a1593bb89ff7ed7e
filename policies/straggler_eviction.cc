#include "policies/straggler_eviction.h"

namespace lcsim::policy {

void StragglerEvictionPolicy::visit(Section& s) {
  s.field("enabled", enabled, "evict a node that runs slow for after_steps steps in a row (swap in a spare)");
  s.field("after_steps", after_steps, "consecutive slow steps before a node is evicted (assumed)",
          Range::at_least(1));
}

}  // namespace lcsim::policy
