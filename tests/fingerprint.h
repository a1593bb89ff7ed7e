// Fingerprints of the shipped scenarios (OMNeT++-style), shared by tests/fingerprint_test.cc, which compares them,
// and tests/update_fingerprints.cc (`make fingerprints`), which rewrites tests/fingerprints/ after a deliberate
// change. A fingerprint is each metric and distribution of metrics.json, bit for bit, and a hash of the timeline's
// events as data: each span or counter resolved to its process and thread names (not the numbers the writer gave
// them), numbers compared as doubles, the events sorted, so that neither numbering nor emission order matters.
#pragma once

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace lcsim::fingerprint {

namespace fs = std::filesystem;
using nlohmann::json;

inline const fs::path kSource = LCSIM_SOURCE_DIR;

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string exact(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

inline uint64_t fnv1a(const std::string& s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

inline std::string canonical_value(const json& v) {
  if (v.is_number()) return exact(v.get<double>());
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

/// Every shipped scenario that runs: scenarios/**/*.yaml with a workload or jobs (cluster files only define machines).
inline std::vector<fs::path> shipped_scenarios() {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(kSource / "scenarios")) {
    if (e.path().extension() != ".yaml") continue;
    const std::string text = slurp(e.path());
    if (text.find("\nworkload:") == std::string::npos && text.find("\njobs:") == std::string::npos) continue;
    out.push_back(fs::relative(e.path(), kSource));
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct Fingerprint {
  std::vector<std::pair<std::string, std::string>> lines;  // key, value (metrics in file order, then timeline)
  std::string text() const {
    std::string t;
    for (const auto& [k, v] : lines) t += k + " " + v + "\n";
    return t;
  }
};

inline Fingerprint take(const fs::path& scenario, const fs::path& out_dir, std::string* error) {
  Fingerprint fp;
  const std::string cmd = std::string(LCSIM_BINARY) + " run " + (kSource / scenario).string() + " -q -o " +
                          out_dir.string() + " > " + (out_dir.string() + ".log") + " 2>&1";
  const int status = std::system(cmd.c_str());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *error = "lcsim run failed: " + slurp(out_dir.string() + ".log");
    return fp;
  }
  const json metrics = json::parse(slurp(out_dir / "metrics.json"));
  for (const auto& [k, v] : metrics.at("labels").items()) fp.lines.push_back({"label." + k, v.get<std::string>()});
  for (const auto& [k, v] : metrics.at("metrics").items()) fp.lines.push_back({"metric." + k, canonical_value(v)});
  if (metrics.contains("distributions")) {
    for (const auto& [k, d] : metrics.at("distributions").items()) {
      for (const char* f : {"count", "mean", "min", "p50", "p90", "p99", "max"}) {
        fp.lines.push_back({"distribution." + k + "." + f, canonical_value(d.at(f))});
      }
      std::string counts;
      for (const auto& c : d.at("histogram").at("counts")) counts += (counts.empty() ? "" : ",") + canonical_value(c);
      fp.lines.push_back({"distribution." + k + ".histogram", counts});
    }
  }
  if (fs::exists(out_dir / "timeline.json")) {
    const json tl = json::parse(slurp(out_dir / "timeline.json"));
    std::map<int64_t, std::string> processes;
    std::map<std::pair<int64_t, int64_t>, std::string> threads;
    for (const auto& e : tl.at("traceEvents")) {
      if (e.at("ph") != "M") continue;
      if (e.at("name") == "process_name") processes[e.at("pid")] = e.at("args").at("name");
      if (e.at("name") == "thread_name") threads[{e.at("pid"), e.at("tid")}] = e.at("args").at("name");
    }
    std::vector<std::string> events;
    for (const auto& e : tl.at("traceEvents")) {
      // Metadata and flow events (a span's further dependency edges) are not hashed, as the flow keys are not.
      if (e.at("ph") == "M" || e.at("ph") == "s" || e.at("ph") == "t" || e.at("ph") == "f") continue;
      std::string s = e.at("ph").get<std::string>() + "|" + processes[e.at("pid")] + "|";
      if (e.contains("tid")) s += threads[{e.at("pid"), e.at("tid")}];
      for (const char* k : {"name", "cat", "ts", "dur"}) {
        s += "|";
        if (e.contains(k)) s += canonical_value(e.at(k));
      }
      if (e.contains("args")) {
        for (const auto& [k, v] : e.at("args").items()) s += "|" + k + "=" + canonical_value(v);
      }
      events.push_back(std::move(s));
    }
    std::sort(events.begin(), events.end());
    uint64_t h = 1469598103934665603ull;
    for (const auto& s : events) h = fnv1a(s + "\n", h);
    char hex[32];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    fp.lines.push_back({"timeline.events", std::to_string(events.size())});
    fp.lines.push_back({"timeline.hash", hex});
  }
  return fp;
}

inline fs::path fingerprint_file(const fs::path& scenario) {
  std::string name = scenario.string();
  std::replace(name.begin(), name.end(), '/', '.');
  return kSource / "tests" / "fingerprints" / (name + ".txt");
}


/// The text of a fingerprint file.
inline std::string file_text(const fs::path& scenario, const Fingerprint& fp) {
  return "# fingerprint of " + scenario.string() + " (tests/fingerprint_test.cc; `make fingerprints` rewrites it)\n" +
         fp.text();
}

}  // namespace lcsim::fingerprint
