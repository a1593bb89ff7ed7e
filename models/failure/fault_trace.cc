#include "models/failure/fault_trace.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "sim/config_tree.h"
#include "sim/error.h"

namespace lcsim::failure {
namespace {

const ConfigValue& need(const ConfigValue& v, const std::string& key, const std::string& path, Diagnostics& diags,
                        bool* ok) {
  static const ConfigValue none;
  const ConfigValue* x = v.is_map() ? v.find(key) : nullptr;
  if (!x || !x->is_scalar()) {
    diags.add(v.location, path + "." + key, x ? "expected a value, got a list or mapping" : "missing (every event has " + key + ")");
    *ok = false;
    return none;
  }
  return *x;
}

}  // namespace

std::vector<std::pair<std::string, size_t>> FaultTrace::by_class() const {
  std::map<std::string, size_t> n;
  for (const auto& f : faults) ++n[f.cls];
  std::vector<std::pair<std::string, size_t>> out(n.begin(), n.end());
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

FaultTrace load_fault_trace(const std::string& path) {
  const ConfigValue root = load_yaml_file(path);
  Diagnostics diags;
  FaultTrace t;
  t.source = path;
  if (root.kind != ConfigValue::Kind::kSeq) {
    diags.add(root.location, "", "a fault trace is a list of events ({node_id, event_time, event_type, fault_type})");
    diags.throw_if_any();
  }
  struct Open {
    size_t event;
    Fault fault;
  };
  std::map<std::string, uint32_t> node_index;
  std::map<uint32_t, std::vector<Open>> open;  // per node, in start order
  double last = -1;
  for (size_t i = 0; i < root.children.size(); ++i) {
    const ConfigValue& e = root.children[i];
    const std::string at = "[" + std::to_string(i) + "]";
    bool ok = true;
    const ConfigValue& node = need(e, "node_id", at, diags, &ok);
    const ConfigValue& time = need(e, "event_time", at, diags, &ok);
    const ConfigValue& type = need(e, "event_type", at, diags, &ok);
    const ConfigValue* ft = e.is_map() ? e.find("fault_type") : nullptr;
    if (!ft || !ft->is_map()) {
      diags.add(e.location, at + ".fault_type", "missing: a mapping {Level, Class, Desc}");
      ok = false;
    }
    if (!ok) continue;
    double days = 0;
    const auto* b = time.scalar.data();
    const auto r = std::from_chars(b, b + time.scalar.size(), days);
    if (r.ec != std::errc() || r.ptr != b + time.scalar.size() || !std::isfinite(days) || days < 0) {
      diags.add(time.location, at + ".event_time", "expected days since the trace's start (a number >= 0), got '" +
                                                       time.scalar + "'");
      continue;
    }
    if (days < last) {
      diags.add(time.location, at + ".event_time",
                "events must be in time order: " + time.scalar + " comes after " + std::to_string(last));
      continue;
    }
    last = days;
    auto [it, fresh] = node_index.emplace(node.scalar, static_cast<uint32_t>(t.nodes.size()));
    if (fresh) t.nodes.push_back(node.scalar);
    Fault f;
    f.node = it->second;
    const auto field = [&](const char* k) {
      const ConfigValue* x = ft->find(k);
      return x && x->is_scalar() ? x->scalar : std::string();
    };
    f.level = field("Level");
    f.cls = field("Class");
    f.desc = field("Desc");
    const Duration when = Duration::seconds(days * 86400.0);
    if (type.scalar == "fault_start") {
      f.start = when;
      open[f.node].push_back({i, f});
    } else if (type.scalar == "fault_end") {
      auto& list = open[f.node];
      auto m = std::find_if(list.begin(), list.end(), [&](const Open& o) {
        return o.fault.cls == f.cls && o.fault.desc == f.desc && o.fault.level == f.level;
      });
      if (m == list.end()) {
        diags.add(type.location, at + ".event_type",
                  "fault_end of node " + node.scalar + " (" + f.cls + ": " + f.desc + ") with no open fault_start");
        continue;
      }
      Fault done = m->fault;
      done.end = when;
      list.erase(m);
      t.faults.push_back(done);
    } else {
      diags.add(type.location, at + ".event_type", "unknown event type '" + type.scalar +
                                                       "' (allowed: fault_start, fault_end)");
    }
  }
  for (const auto& [n, list] : open) {
    for (const auto& o : list) {
      diags.add(root.children[o.event].location, "[" + std::to_string(o.event) + "]",
                "fault_start of node " + t.nodes[n] + " (" + o.fault.cls + ") is never closed by a fault_end");
    }
  }
  diags.throw_if_any();
  std::stable_sort(t.faults.begin(), t.faults.end(), [](const Fault& a, const Fault& b) { return a.start < b.start; });
  t.span = Duration::seconds(std::max(0.0, last) * 86400.0);
  return t;
}

}  // namespace lcsim::failure
