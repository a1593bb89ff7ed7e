#include "policies/health_check.h"

namespace lcsim::policy {

void HealthCheckPolicy::visit(Section& s) {
  s.field("enabled", enabled, "run pre-flight health checks before the start and every restart");
  s.field("latent_share", latent_share, "share of failures that are latent: present before they show (assumed)",
          Range::between(0, 1));
  s.field("coverage", coverage, "share of latent faults a check finds (assumed)", Range::between(0, 1));
  s.field("duration", duration, "time one check adds to every (re)start (assumed)", Range::at_least(0));
}

}  // namespace lcsim::policy
