// Test helpers. One simulation per process (SimGrid): tests that compare runs fork a child per run.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "sim/metrics.h"

namespace lcsim::testing {

/// The comma-separated fields of one line of a calibration table (they quote nothing).
inline std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> f;
  for (size_t at = 0, comma; at <= line.size(); at = comma + 1) {
    comma = std::min(line.find(',', at), line.size());
    f.push_back(line.substr(at, comma - at));
  }
  return f;
}

/// The rows of the table at `path` (under the source tree), each split into its fields, below a first line equal to
/// `header`; empty if the file cannot be read or its header differs.
inline std::vector<std::vector<std::string>> csv_rows(const std::string& path, const std::string& header) {
  std::ifstream in(std::string(LCSIM_SOURCE_DIR) + "/" + path);
  std::string line;
  if (!std::getline(in, line) || line != header) return {};
  std::vector<std::vector<std::string>> rows;
  while (std::getline(in, line)) rows.push_back(csv_fields(line));
  return rows;
}

/// Runs `produce` in a forked child and returns the text it produced; nullopt if the child failed.
inline std::optional<std::string> text_in_child(const std::function<std::string()>& produce) {
  int fds[2];
  if (pipe(fds) != 0) return std::nullopt;
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::string out;
    try {
      out = produce();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
      _exit(1);
    }
    if (write(fds[1], out.data(), out.size()) != static_cast<ssize_t>(out.size())) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return text;
}

/// Runs `produce` in a forked child and returns the metrics it produced ({"child_failed": 1} if it failed).
inline std::map<std::string, double> metrics_in_child(const std::function<MetricSet()>& produce) {
  const auto text = text_in_child([&] {
    std::string out;
    const MetricSet m = produce();
    for (const auto& x : m.metrics()) {
      char buf[64];
      std::snprintf(buf, sizeof buf, " %.17g\n", x.value);
      out += x.name + buf;
    }
    return out;
  });
  if (!text) return {{"child_failed", 1}};
  std::map<std::string, double> metrics;
  std::istringstream in(*text);
  std::string name;
  double value;
  while (in >> name >> value) metrics[name] = value;
  return metrics;
}

}  // namespace lcsim::testing
