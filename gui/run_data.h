// A run's output folder as lcsim-gui sees it: its timeline (timeline.pftrace or timeline.json, read by timeline/),
// its metrics (metrics.json) with a unit for each (from the name's suffix) and a meaning (from report.txt, which
// `lcsim run` writes with every metric's one-line description, the same text `lcsim explain` documents).
#pragma once

#include <string>
#include <vector>

#include "timeline/model.h"

namespace lcsim::gui {

struct MetricRow {
  std::string name;
  double value = 0;
  std::string unit;
  std::string meaning;
};

struct RunData {
  std::string dir;
  std::string label;          // the folder's name, or the scenario label from metrics.json
  std::string timeline_path;  // empty: the run has no timeline
  timeline::Trace trace;
  std::vector<MetricRow> metrics;
};

/// Loads a run's output folder. Throws InputError naming the file when the folder holds neither a timeline nor
/// metrics.json, or when one of them does not read.
RunData load_run(const std::string& dir);

/// The unit of a metric from its name's suffix ("iteration_time_s" -> "s"); "" when the name says none.
std::string metric_unit(const std::string& name);

/// A metric table of two runs: every name of either, in a's order then b's, with both values (NaN where absent).
struct MetricDiff {
  std::string name, unit, meaning;
  double a, b;
};
std::vector<MetricDiff> diff_metrics(const std::vector<MetricRow>& a, const std::vector<MetricRow>& b);

}  // namespace lcsim::gui
