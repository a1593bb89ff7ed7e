#include "apps/format.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace lcsim::app {
namespace {

/// "12345678" -> "12,345,678" (digits only; a sign is kept in front).
std::string group_thousands(const std::string& digits) {
  const bool negative = !digits.empty() && digits[0] == '-';
  const std::string d = negative ? digits.substr(1) : digits;
  std::string out;
  for (size_t i = 0; i < d.size(); ++i) {
    if (i > 0 && (d.size() - i) % 3 == 0) out += ',';
    out += d[i];
  }
  return negative ? "-" + out : out;
}

/// `v` rounded to three significant digits.
double round3(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return std::stod(buf);
}

std::string strip_zeros(std::string s) {
  if (s.find('.') == std::string::npos) return s;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

/// `v` in the largest unit it reaches (at least 1 of it), each unit `step` times the previous.
std::string scaled(double v, double step, const std::vector<const char*>& units) {
  size_t i = 0;
  double x = v;
  // Round first so that 999.96 kB becomes 1 MB, not "1000 kB".
  while (i + 1 < units.size() && std::abs(round3(x)) >= round3(step)) {  // 1,024 KiB is 1 MiB
    x /= step;
    ++i;
  }
  return format_number(x) + " " + units[i];
}

}  // namespace

std::string format_number(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "n/a" : (v > 0 ? "inf" : "-inf");
  if (v == 0) return "0";
  char buf[64];
  const double r = round3(v), a = std::abs(r);  // three significant digits, written out without an exponent
  if (a >= 1000) {
    std::snprintf(buf, sizeof buf, "%.0f", std::round(v));  // whole numbers keep every digit: 5,641
    return group_thousands(buf);
  }
  const int decimals = std::max(0, 2 - static_cast<int>(std::floor(std::log10(a))));
  std::snprintf(buf, sizeof buf, "%.*f", decimals, r);
  return strip_zeros(buf);
}

std::string format_count(double v) {
  const double a = std::abs(v);
  if (a < 1e6 || !std::isfinite(v)) return format_number(v);
  static const std::vector<std::pair<double, const char*>> kSuffixes = {
      {1e15, "P"}, {1e12, "T"}, {1e9, "B"}, {1e6, "M"}};
  for (const auto& [scale, suffix] : kSuffixes) {
    if (a >= scale || scale == 1e6) return format_number(v / scale) + " " + suffix;
  }
  return format_number(v);
}

std::string format_bytes(double bytes) {
  if (std::abs(bytes) < 1000) return format_number(bytes) + " B";
  return scaled(bytes, 1000, {"B", "kB", "MB", "GB", "TB", "PB", "EB"});
}

std::string format_bytes_iec(double bytes) {
  if (std::abs(bytes) < 1024) return format_number(bytes) + " B";
  return scaled(bytes, 1024, {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"});
}

std::string format_duration(double s) {
  if (!std::isfinite(s)) return format_number(s) + " s";
  const double a = std::abs(s);
  if (a == 0) return "0 s";
  if (a < 1e-6) return format_number(s * 1e9) + " ns";
  if (a < 1e-3) return format_number(s * 1e6) + " us";
  if (a < 1) return format_number(s * 1e3) + " ms";
  if (a < 60) return format_number(s) + " s";
  if (a < 3600) return format_number(s / 60) + " min";
  if (a < 86400) return format_number(s / 3600) + " h";
  const auto plural = [](const std::string& n, const char* one, const char* many) {
    return n + " " + (n == "1" ? one : many);
  };
  if (a < 365.25 * 86400) return plural(format_number(s / 86400), "day", "days");
  return plural(format_number(s / (365.25 * 86400)), "year", "years");
}

std::string format_bandwidth(double bytes_per_s) {
  if (std::abs(bytes_per_s) < 1000) return format_number(bytes_per_s) + " B/s";
  return scaled(bytes_per_s, 1000, {"B/s", "kB/s", "MB/s", "GB/s", "TB/s", "PB/s"});
}

std::string format_flop_rate(double flop_per_s) {
  if (std::abs(flop_per_s) < 1000) return format_number(flop_per_s) + " FLOP/s";
  return scaled(flop_per_s, 1000,
                {"FLOP/s", "kFLOP/s", "MFLOP/s", "GFLOP/s", "TFLOP/s", "PFLOP/s", "EFLOP/s"});
}

std::string format_rate(double per_s, const std::string& what) {
  return format_count(per_s) + " " + what + "/s";
}

std::string format_percent(double fraction) {
  if (!std::isfinite(fraction)) return format_number(fraction);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * fraction);
  return buf;
}

std::string format_energy_mwh(double mwh) {
  const double wh = mwh * 1e6;
  if (std::abs(wh) < 1000) return format_number(wh) + " Wh";
  return scaled(wh, 1000, {"Wh", "kWh", "MWh", "GWh", "TWh"});
}

std::string format_power_kw(double kw) {
  const double w = kw * 1e3;
  if (std::abs(w) < 1000) return format_number(w) + " W";
  return scaled(w, 1000, {"W", "kW", "MW", "GW"});
}

std::string format_money(double amount, const std::string& currency) {
  const double a = std::abs(amount);
  std::string n;
  if (a >= 1e6) {
    n = format_count(amount);
  } else if (a >= 1) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f", amount);
    n = a >= 1000 ? format_number(amount) : buf;
  } else {
    n = format_number(amount);
  }
  return currency + " " + n;
}

}  // namespace lcsim::app
