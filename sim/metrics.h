// Named run results. Names are flat and carry their unit (iteration_time_s, tokens_per_s, mfu); each metric
// has a one-line description, written to docs by `lcsim explain metrics`.
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
  void set(const std::string& name, double value, const std::string& description);
  void set_label(const std::string& name, const std::string& value) { labels_[name] = value; }
  double get(const std::string& name) const;  // asserts the metric exists
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  const std::vector<Metric>& metrics() const { return metrics_; }
  const std::map<std::string, std::string>& labels() const { return labels_; }
  /// {"labels": {...}, "metrics": {"name": value, ...}} in insertion order.
  std::string to_json() const;

 private:
  std::vector<Metric> metrics_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> labels_;
};

}  // namespace lcsim
