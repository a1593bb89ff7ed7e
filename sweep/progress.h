// Sweep progress: a bar with ETA redrawn in place on a terminal, plain lines otherwise (at most one per percent
// or per 10 s, and the last).
#pragma once

#include <chrono>
#include <cstddef>
#include <ostream>

#include "sweep/results_db.h"

namespace lcsim::sweep {

class Progress {
 public:
  /// `total` points to run (besides `skipped` already done); `out` null: silent.
  Progress(size_t total, size_t skipped, std::ostream* out, bool tty);
  /// One point finished (the caller serializes calls).
  void point_done(const PointRecord& r);
  void finish();

 private:
  size_t total_, skipped_, done_ = 0, failed_ = 0;
  std::ostream* out_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_line_;
  size_t last_percent_ = 0;
};

/// "1h02m", "3m05s", "12s".
std::string format_duration(double seconds);

}  // namespace lcsim::sweep
