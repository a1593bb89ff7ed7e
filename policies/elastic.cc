#include "policies/elastic.h"

namespace lcsim::policy {

void ElasticPolicy::visit(Section& s) {
  s.field("enabled", enabled,
          "on a failure with no spare at hand, restart without the failed node's data-parallel replica and train "
          "on at DP - 1 (throughput scaled proportionally) until it is back, instead of waiting");
  s.field("min_data_parallel", min_data_parallel, "below this many replicas the job waits for the repair instead",
          Range::at_least(1));
}

double ElasticPolicy::share(int data_parallel, int out) const {
  if (!enabled || data_parallel <= 0) return 0.0;
  const int left = data_parallel - out;
  if (left < min_data_parallel || left <= 0) return 0.0;
  return static_cast<double>(left) / data_parallel;
}

}  // namespace lcsim::policy
