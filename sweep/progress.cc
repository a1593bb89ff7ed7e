// See progress.h.
#include "sweep/progress.h"

#include <cmath>
#include <cstdio>
#include <string>

namespace lcsim::sweep {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  const long t = std::lround(s);
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  else if (t >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%.1fs", s);
  return buf;
}

Progress::Progress(size_t total, size_t skipped, std::ostream* out, bool tty)
    : total_(total), skipped_(skipped), out_(out), tty_(tty), start_(std::chrono::steady_clock::now()),
      last_line_(start_) {
  if (out_ && skipped_ > 0) {
    *out_ << "lcsim sweep: " << skipped_ << " points already in the database, skipped; " << total_ << " to run\n";
  }
}

void Progress::point_done(const PointRecord& r) {
  ++done_;
  if (r.status == "error") ++failed_;
  if (!out_) return;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double eta = elapsed / static_cast<double>(done_) * static_cast<double>(total_ - done_);
  const size_t percent = total_ ? done_ * 100 / total_ : 100;
  std::string failed = failed_ ? ", " + std::to_string(failed_) + " failed" : "";
  if (tty_) {
    constexpr int kWidth = 30;
    const int filled = total_ ? static_cast<int>(done_ * kWidth / total_) : kWidth;
    *out_ << "\r[" << std::string(static_cast<size_t>(filled), '#')
          << std::string(static_cast<size_t>(kWidth - filled), '.') << "] " << done_ << "/" << total_ << " "
          << percent << "%" << failed << ", ETA " << format_duration(eta) << "   " << std::flush;
    return;
  }
  if (percent == last_percent_ && std::chrono::duration<double>(now - last_line_).count() < 10 && done_ != total_) {
    return;
  }
  last_percent_ = percent;
  last_line_ = now;
  *out_ << "lcsim sweep: " << done_ << "/" << total_ << " points (" << percent << "%)" << failed << "; point "
        << r.id << " " << r.status << " in " << format_duration(r.wall_s) << "; ETA " << format_duration(eta)
        << "\n"
        << std::flush;
}

void Progress::finish() {
  if (out_ && tty_ && total_ > 0) *out_ << "\n";
}

}  // namespace lcsim::sweep
