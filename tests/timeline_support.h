// Helpers shared by the timeline tests (timeline_test.cc, timeline_deps_test.cc, timeline_counters_test.cc): a
// unique temporary directory per test and process, and a run's timeline read back from its text.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "timeline/model.h"

namespace lcsim::timeline::support {

namespace fs = std::filesystem;

/// A fresh directory for one test: <TempDir>/<prefix>_<name>_<pid> (other worktrees run the same tests at once).
inline fs::path temp_dir(const std::string& prefix, const std::string& name) {
  const fs::path d = fs::path(::testing::TempDir()) / (prefix + "_" + name + "_" + std::to_string(getpid()));
  fs::create_directories(d);
  return d;
}

inline void write(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}

/// Writes `text` as `dir`/`file` ("timeline.json" or "timeline.pftrace") and reads it back.
inline Trace read_text(const fs::path& dir, const std::string& file, const std::string& text) {
  write(dir / file, text);
  return read_timeline((dir / file).string());
}

}  // namespace lcsim::timeline::support
