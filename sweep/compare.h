// Comparing named alternatives over repetitions: for every metric, each alternative's mean with its 95%
// confidence interval, the delta against the first (baseline) alternative, the relative delta, the delta's
// confidence interval and a verdict (better / worse / not significant at 5%). Alternatives run with the same
// seeds (common random numbers), so the test is paired by repetition when the repetitions match up.
#pragma once

#include <string>
#include <vector>

#include "sweep/results_db.h"
#include "sweep/stats.h"

namespace lcsim::sweep {

/// +1: higher is better (throughput, MFU, bandwidth); -1: lower is better (times, cost, energy, memory);
/// 0: neither (counts, settings echoed back).
int better_direction(const std::string& metric);

struct MetricDelta {
  std::string metric;
  std::vector<Summary> per_alternative;  // in alternative order
  // Against the baseline (alternative 0), for alternatives 1.. (index i-1):
  std::vector<double> delta, relative, delta_ci_half, p;
  std::vector<std::string> verdict;
};

struct Comparison {
  std::string group;  // the axis values the alternatives share ("" without axes)
  std::vector<std::string> alternatives;
  std::vector<MetricDelta> metrics;
  int repetitions = 0;
};

/// Groups the rows by their axis values and compares the alternatives within each group. Points that failed
/// are left out (and said so in the table).
std::vector<Comparison> compare_rows(const std::vector<PointRecord>& rows);

/// The comparison as a text table (metrics by row); `all` false keeps only metrics that differ.
std::string format_comparison(const Comparison& c, bool all);

}  // namespace lcsim::sweep
