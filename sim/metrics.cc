#include "sim/metrics.h"

#include <algorithm>
#include <cmath>

#include "sim/error.h"
#include "sim/json.h"

namespace lcsim {

void MetricSet::set(const std::string& name, double value, const std::string& description) {
  auto it = index_.find(name);
  if (it != index_.end()) {
    metrics_[it->second].value = value;
    return;
  }
  index_[name] = metrics_.size();
  metrics_.push_back({name, value, description});
}

void MetricSet::set_distribution(const std::string& name, std::vector<double> samples, const std::string& description,
                                 size_t bins) {
  Distribution d;
  d.name = name;
  d.description = description;
  d.count = samples.size();
  if (!samples.empty()) {
    std::sort(samples.begin(), samples.end());
    double sum = 0;
    for (double x : samples) sum += x;
    const size_t n = samples.size();
    auto rank = [&](double q) {  // nearest rank: the smallest sample with at least q of them at or below it
      const size_t k = static_cast<size_t>(std::ceil(q * static_cast<double>(n)));
      return samples[std::min(n - 1, k == 0 ? 0 : k - 1)];
    };
    d.mean = sum / static_cast<double>(n);
    d.min = samples.front();
    d.max = samples.back();
    d.p50 = rank(0.50);
    d.p90 = rank(0.90);
    d.p99 = rank(0.99);
    bins = std::max<size_t>(1, bins);
    const double width = (d.max - d.min) / static_cast<double>(bins);
    for (size_t b = 0; b <= bins; ++b) d.edges.push_back(d.min + width * static_cast<double>(b));
    d.counts.assign(bins, 0);
    for (double x : samples) {
      size_t b = width > 0 ? static_cast<size_t>((x - d.min) / width) : 0;
      ++d.counts[std::min(b, bins - 1)];
    }
  }
  for (auto& old : distributions_) {
    if (old.name == name) {
      old = std::move(d);
      return;
    }
  }
  distributions_.push_back(std::move(d));
}

double MetricSet::get(const std::string& name) const {
  auto it = index_.find(name);
  LCSIM_ASSERT(it != index_.end(), "no metric named " + name);
  return metrics_[it->second].value;
}

std::string MetricSet::to_json() const {
  std::string out = "{\n  \"labels\": {";
  bool first = true;
  for (const auto& [k, v] : labels_) {
    out += std::string(first ? "\n" : ",\n") + "    " + json_escape(k) + ": " + json_escape(v);
    first = false;
  }
  out += first ? "},\n" : "\n  },\n";
  out += "  \"metrics\": {";
  first = true;
  for (const auto& m : metrics_) {
    out += std::string(first ? "\n" : ",\n") + "    " + json_escape(m.name) + ": " + json_number(m.value);
    first = false;
  }
  out += first ? "}" : "\n  }";
  if (!distributions_.empty()) {
    out += ",\n  \"distributions\": {";
    first = true;
    for (const auto& d : distributions_) {
      out += std::string(first ? "\n" : ",\n") + "    " + json_escape(d.name) + ": {\"count\": " +
             json_number(static_cast<double>(d.count)) + ", \"mean\": " + json_number(d.mean) +
             ", \"min\": " + json_number(d.min) + ", \"p50\": " + json_number(d.p50) + ", \"p90\": " +
             json_number(d.p90) + ", \"p99\": " + json_number(d.p99) + ", \"max\": " + json_number(d.max) +
             ", \"histogram\": {\"edges\": [";
      for (size_t i = 0; i < d.edges.size(); ++i) out += (i ? ", " : "") + json_number(d.edges[i]);
      out += "], \"counts\": [";
      for (size_t i = 0; i < d.counts.size(); ++i) out += (i ? ", " : "") + json_number(static_cast<double>(d.counts[i]));
      out += "]}}";
      first = false;
    }
    out += "\n  }";
  }
  return out + "\n}\n";
}

}  // namespace lcsim
