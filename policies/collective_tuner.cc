#include "policies/collective_tuner.h"

#include <algorithm>

#include "sim/error.h"

namespace lcsim::policy {

const std::vector<std::string>& collective_op_names() {
  static const std::vector<std::string> n = {"all_reduce", "reduce_scatter", "all_gather", "broadcast",
                                             "reduce",     "all_to_all",     "send_recv"};
  return n;
}

CollectiveOp parse_op(const std::string& name) {
  const auto& n = collective_op_names();
  auto it = std::find(n.begin(), n.end(), name);
  LCSIM_ASSERT(it != n.end(), "unvalidated collective " + name);
  return static_cast<CollectiveOp>(it - n.begin());
}

std::optional<size_t> choose(const std::vector<const CollectiveCost*>& candidates, const CollectiveCase& c) {
  std::optional<size_t> best;
  double best_t = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (!candidates[i]->tuned() || !candidates[i]->applies(c)) continue;
    const double t = candidates[i]->tuner_estimate(c).s();
    if (!best || t < best_t) {
      best = i;
      best_t = t;
    }
  }
  return best;
}

}  // namespace lcsim::policy
