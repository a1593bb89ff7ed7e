#include "models/failure/trace_classes.h"

#include <algorithm>
#include <cmath>

#include "models/failure/fit.h"

namespace lcsim::failure {

std::string trace_class_of(const Fault& f) {
  if (f.cls == "GPU") return "gpu";
  if (f.cls == "NIC") return "nic";
  if (f.cls == "Parameter Plane Cable") return "link";
  if (f.cls == "File System") return "filesystem";
  if (f.level == "Software Failure" || f.cls == "Training Task Troubleshooting" || f.cls == "System Crash") {
    return "software";
  }
  return "host";
}

std::vector<ComponentClass> fit_trace_classes(const FaultTrace& t, int population,
                                              const std::vector<ComponentClass>& like) {
  std::vector<double> all;
  for (const Fault& f : t.faults) all.push_back(f.repair().s());
  const DistributionConfig overall = fit_weibull(all);
  const double node_seconds = static_cast<double>(population) * t.span.s();
  std::vector<ComponentClass> out;
  for (ComponentClass c : like) {
    std::vector<double> repairs;
    size_t faults = 0;
    for (const Fault& f : t.faults) {
      if (trace_class_of(f) != c.name) continue;
      ++faults;
      if (f.repair() > Duration()) repairs.push_back(f.repair().s());
    }
    c.unit = "node";
    c.dist = "exponential";
    c.shape = 1;
    c.lemon_fraction = 0;
    c.lemon_factor = 1;
    c.mtbf = faults > 0 ? Duration::seconds(node_seconds / static_cast<double>(faults)) : Duration();
    c.repair = repairs.size() >= 5 ? fit_weibull(repairs) : overall;
    out.push_back(c);
  }
  return out;
}

std::vector<Interruption> trace_interruptions(const FaultTrace& t, int population,
                                              const std::vector<ComponentClass>& classes, int nodes) {
  std::vector<Interruption> out;
  const int n = std::max(population, static_cast<int>(t.nodes.size()));
  if (n == 0 || t.span <= Duration()) return out;
  const int copies = (nodes + n - 1) / n;
  for (const Fault& f : t.faults) {
    const std::string cls = trace_class_of(f);
    const auto it = std::find_if(classes.begin(), classes.end(), [&](const ComponentClass& c) { return c.name == cls; });
    if (it == classes.end()) continue;
    for (int k = 0; k < copies; ++k) {
      const int job_node = k * n + static_cast<int>(f.node);
      if (job_node >= nodes) break;
      Duration at = f.start + t.span * (static_cast<double>(k) / copies);
      if (at >= t.span) at -= t.span;
      out.push_back({at, static_cast<uint16_t>(it - classes.begin()), parse_detector(it->detected_by),
                     parse_action(it->action), false, f.repair(), static_cast<uint32_t>(job_node)});
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Interruption& a, const Interruption& b) {
    return a.at < b.at || (a.at == b.at && a.unit < b.unit);
  });
  return out;
}

}  // namespace lcsim::failure
