#include "gui/run_data.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sim/error.h"

namespace lcsim::gui {

namespace fs = std::filesystem;

std::string metric_unit(const std::string& name) {
  // Longest suffixes first.
  static const std::vector<std::pair<std::string, std::string>> kSuffixes = {
      {"_tokens_per_s", "tokens/s"}, {"_per_s", "1/s"},  {"_tflops", "TFLOP/s"}, {"_bytes", "B"},
      {"_gib", "GiB"},               {"_gb", "GB"},      {"_usd", "USD"},        {"_kwh", "kWh"},
      {"_wh", "Wh"},                 {"_kw", "kW"},      {"_w", "W"},            {"_j", "J"},
      {"_ms", "ms"},                 {"_us", "us"},      {"_s", "s"},            {"_hours", "h"},
      {"_pct", "%"},                 {"_frac", "fraction"}, {"_fraction", "fraction"}, {"mfu", "fraction"},
      {"_flops", "FLOP"},            {"_gpus", "GPUs"},  {"_count", "count"}};
  for (const auto& [suffix, unit] : kSuffixes) {
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return unit;
    }
  }
  if (name.rfind("link_util_", 0) == 0) return "fraction";
  return "";
}

namespace {

// report.txt: "  <name padded to 34> <value padded to 16>   <meaning>" after the "metric (metrics.json)" header.
std::map<std::string, std::string> meanings_from_report(const fs::path& report) {
  std::map<std::string, std::string> out;
  std::ifstream in(report);
  std::string line;
  bool table = false;
  while (std::getline(in, line)) {
    if (line.find("metric (metrics.json)") != std::string::npos) {
      table = true;
      continue;
    }
    if (!table || line.size() < 2) continue;
    std::istringstream ls(line);
    std::string name, value;
    ls >> name >> value;
    std::string meaning;
    std::getline(ls, meaning);
    const auto first = meaning.find_first_not_of(' ');
    out[name] = first == std::string::npos ? "" : meaning.substr(first);
  }
  return out;
}

}  // namespace

RunData load_run(const std::string& dir) {
  RunData run;
  run.dir = dir;
  run.label = fs::path(dir).filename().string();
  if (run.label.empty()) run.label = fs::path(dir).parent_path().filename().string();
  if (!fs::is_directory(dir)) throw InputError("'" + dir + "' is not a folder (expected a run's output folder)");
  run.timeline_path = timeline::find_timeline(dir);
  const fs::path metrics = fs::path(dir) / "metrics.json";
  if (run.timeline_path.empty() && !fs::exists(metrics)) {
    throw InputError("'" + dir + "' holds neither timeline.pftrace, timeline.json nor metrics.json "
                     "(expected the output folder of `lcsim run -o DIR`)");
  }
  if (!run.timeline_path.empty()) run.trace = timeline::read_timeline(run.timeline_path);
  if (fs::exists(metrics)) {
    std::ifstream in(metrics);
    nlohmann::ordered_json doc;
    try {
      doc = nlohmann::ordered_json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw InputError(metrics.string() + ": not valid JSON (" + e.what() + ")");
    }
    const auto meanings = meanings_from_report(fs::path(dir) / "report.txt");
    if (doc.contains("labels") && doc["labels"].contains("scenario") && doc["labels"]["scenario"].is_string()) {
      run.label += " (" + doc["labels"]["scenario"].get<std::string>() + ")";
    }
    if (doc.contains("metrics") && doc["metrics"].is_object()) {
      for (const auto& [k, v] : doc["metrics"].items()) {
        MetricRow m;
        m.name = k;
        m.value = v.is_number() ? v.get<double>() : std::numeric_limits<double>::quiet_NaN();
        m.unit = metric_unit(k);
        auto it = meanings.find(k);
        if (it != meanings.end()) m.meaning = it->second;
        run.metrics.push_back(std::move(m));
      }
    }
  }
  return run;
}

std::vector<MetricDiff> diff_metrics(const std::vector<MetricRow>& a, const std::vector<MetricRow>& b) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<MetricDiff> out;
  std::map<std::string, size_t> at;
  for (const auto& m : a) {
    at[m.name] = out.size();
    out.push_back({m.name, m.unit, m.meaning, m.value, nan});
  }
  for (const auto& m : b) {
    auto it = at.find(m.name);
    if (it != at.end()) {
      out[it->second].b = m.value;
      if (out[it->second].meaning.empty()) out[it->second].meaning = m.meaning;
    } else {
      out.push_back({m.name, m.unit, m.meaning, nan, m.value});
    }
  }
  return out;
}

}  // namespace lcsim::gui
