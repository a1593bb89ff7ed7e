#include "sim/metrics.h"

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
  out += first ? "}\n}\n" : "\n  }\n}\n";
  return out;
}

}  // namespace lcsim
