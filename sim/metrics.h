// Named run results. Names are flat and carry their unit (iteration_time_s, tokens_per_s, mfu); each metric
// has a one-line description, written to docs by `lcsim explain metrics`. Besides scalars, a metric can be a
// distribution (flow completion times, link utilizations): its count, mean, min, percentiles, max and a
// histogram, under "distributions" in metrics.json.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace lcsim {

class MetricSet {
 public:
  struct Metric {
    std::string name;
    double value;
    std::string description;
  };
  struct Distribution {
    std::string name;
    std::string description;
    size_t count = 0;
    double mean = 0, min = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
    std::vector<double> edges;    // histogram bin edges (bins + 1), equal width from min to max
    std::vector<size_t> counts;   // samples per bin (the last bin includes max)
  };
  void set(const std::string& name, double value, const std::string& description);
  /// A distribution of samples (any order); `bins` equal-width histogram bins. Percentiles are nearest-rank.
  void set_distribution(const std::string& name, std::vector<double> samples, const std::string& description,
                        size_t bins = 10);
  const std::vector<Distribution>& distributions() const { return distributions_; }
  void set_label(const std::string& name, const std::string& value) { labels_[name] = value; }
  double get(const std::string& name) const;  // asserts the metric exists
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  const std::vector<Metric>& metrics() const { return metrics_; }
  const std::map<std::string, std::string>& labels() const { return labels_; }
  /// {"labels": {...}, "metrics": {"name": value, ...}, "distributions": {...}} in insertion order.
  std::string to_json() const;

 private:
  std::vector<Metric> metrics_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> labels_;
  std::vector<Distribution> distributions_;
};

}  // namespace lcsim
