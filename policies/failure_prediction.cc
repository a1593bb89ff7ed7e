#include "policies/failure_prediction.h"

namespace lcsim::policy {

void FailurePredictionPolicy::visit(Section& s) {
  s.field("enabled", enabled, "predict failures: save a checkpoint just before a predicted one (false alarms cost "
                              "a save each)");
  s.field("recall", recall, "share of unplanned failures the predictor announces (assumed)", Range::between(0, 1));
  s.field("precision", precision, "share of alarms followed by a failure; the rest are false alarms (assumed)",
          Range::fraction());
  s.field("lead", lead, "alarm to failure; shorter than checkpoint_save = of no use (assumed)", Range::at_least(0));
}

}  // namespace lcsim::policy
