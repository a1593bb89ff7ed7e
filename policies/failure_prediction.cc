#include "policies/failure_prediction.h"

namespace lcsim::policy {

void FailurePredictionPolicy::visit(Section& s) {
  s.field("enabled", enabled, "predict failures: save a checkpoint just before a predicted one (false alarms cost "
                              "a save each)");
  s.field("recall", recall, "share of unplanned failures the predictor announces (assumed)", Range::between(0, 1));
  s.field("precision", precision, "share of alarms followed by a failure; the rest are false alarms (assumed)",
          Range::fraction());
  s.field("lead", lead, "alarm to failure; shorter than checkpoint_save = of no use (assumed)", Range::at_least(0));
  s.choice("action", action, {"checkpoint", "migrate"},
           "checkpoint: save just before a predicted failure; migrate: also swap a spare in for the flagged node and "
           "restart (no detection, no diagnosis; needs a spare at hand, else only the save; a false alarm costs a "
           "save and a migration)");
}

}  // namespace lcsim::policy
