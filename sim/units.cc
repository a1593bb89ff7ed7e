#include "sim/units.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace lcsim {
namespace {

struct Unit {
  const char* suffix;
  double factor;   // base units per 1 of this unit
  bool preferred;  // used when formatting
  // Sub-unit factors divide by their exact reciprocal (x / 1e9, not x * 1e-9): "0.5us" and "500ns" then give
  // the same double, and so do Duration::us(0.5) and the parsed text.
  double apply(double x) const { return factor < 1 ? x / std::round(1.0 / factor) : x * factor; }
  double unapply(double v) const { return factor < 1 ? v * std::round(1.0 / factor) : v / factor; }
};

const std::vector<Unit>& units_of(UnitKind kind) {
  static const std::vector<Unit> duration = {
      {"ps", 1e-12, false}, {"ns", 1e-9, true},   {"us", 1e-6, true},  {"ms", 1e-3, true},
      {"s", 1.0, true},     {"min", 60.0, false}, {"h", 3600.0, true}, {"d", 86400.0, true}};
  static const std::vector<Unit> bytes = {
      {"B", 1, true},          {"KB", 1e3, false},    {"MB", 1e6, false},
      {"GB", 1e9, false},      {"TB", 1e12, false},   {"PB", 1e15, false},
      {"KiB", 1024.0, true},   {"MiB", 1048576.0, true}, {"GiB", 1073741824.0, true},
      {"TiB", 1099511627776.0, true}, {"PiB", 1125899906842624.0, true}};
  static const std::vector<Unit> flops = {{"FLOP", 1, true},      {"KFLOP", 1e3, true}, {"MFLOP", 1e6, true},
                                          {"GFLOP", 1e9, true},   {"TFLOP", 1e12, true}, {"PFLOP", 1e15, true},
                                          {"EFLOP", 1e18, true}};
  static const std::vector<Unit> bandwidth = {
      {"b/s", 0.125, false},    {"Kb/s", 125.0, false}, {"Mb/s", 125e3, false},
      {"Gb/s", 125e6, false},    {"Tb/s", 125e9, false}, {"B/s", 1, true},
      {"KB/s", 1e3, true},      {"MB/s", 1e6, true},    {"GB/s", 1e9, true},
      {"TB/s", 1e12, true},     {"KiB/s", 1024.0, false}, {"MiB/s", 1048576.0, false},
      {"GiB/s", 1073741824.0, false}};
  static const std::vector<Unit> flop_rate = {
      {"FLOP/s", 1, true},     {"GFLOP/s", 1e9, true},  {"TFLOP/s", 1e12, true},
      {"PFLOP/s", 1e15, true}, {"EFLOP/s", 1e18, true}};
  static const std::vector<Unit> power = {{"W", 1, true}, {"kW", 1e3, true}, {"MW", 1e6, true}};
  switch (kind) {
    case UnitKind::kDuration: return duration;
    case UnitKind::kBytes: return bytes;
    case UnitKind::kFlops: return flops;
    case UnitKind::kBandwidth: return bandwidth;
    case UnitKind::kFlopRate: return flop_rate;
    case UnitKind::kPower: return power;
  }
  return duration;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return std::string(s.substr(b, e - b));
}

}  // namespace

std::vector<std::string> unit_suffixes(UnitKind kind) {
  std::vector<std::string> out;
  for (const auto& u : units_of(kind)) out.emplace_back(u.suffix);
  return out;
}

std::string_view unit_kind_name(UnitKind kind) {
  switch (kind) {
    case UnitKind::kDuration: return "duration";
    case UnitKind::kBytes: return "bytes";
    case UnitKind::kFlops: return "FLOP count";
    case UnitKind::kBandwidth: return "bandwidth";
    case UnitKind::kFlopRate: return "FLOP rate";
    case UnitKind::kPower: return "power";
  }
  return "?";
}

std::optional<double> parse_quantity(std::string_view raw, UnitKind kind, std::string* error) {
  const std::string text = trim(raw);
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  const double number = std::strtod(begin, &end);
  auto fail = [&](const std::string& why) -> std::optional<double> {
    if (error) *error = why;
    return std::nullopt;
  };
  if (end == begin) {
    return fail("expected a " + std::string(unit_kind_name(kind)) + " like '" +
                format_quantity(kind == UnitKind::kBandwidth ? 50e9 : 1.0, kind) + "', got '" + text + "'");
  }
  if (errno == ERANGE || !std::isfinite(number)) return fail("number out of range in '" + text + "'");
  const std::string suffix = trim(std::string_view(end));
  if (suffix.empty()) {
    return fail("missing unit in '" + text + "' (a " + std::string(unit_kind_name(kind)) +
                " needs one of: " + join(unit_suffixes(kind)) + ")");
  }
  for (const auto& u : units_of(kind)) {
    if (suffix == u.suffix) return u.apply(number);
  }
  return fail("unknown " + std::string(unit_kind_name(kind)) + " unit '" + suffix + "' in '" + text +
              "' (allowed: " + join(unit_suffixes(kind)) + ")");
}

std::string format_quantity(double v, UnitKind kind) {
  const auto& us = units_of(kind);
  const Unit* natural = nullptr;
  for (const auto& u : us) {
    if (u.preferred && (natural == nullptr || std::abs(v) >= u.factor)) natural = &u;
  }
  if (v == 0.0) {
    for (const auto& u : us) {
      if (u.factor == 1.0) natural = &u;
    }
  }
  // Links are sold in bits: whole Gb/s up to 1.6 Tb/s print as Gb/s.
  if (kind == UnitKind::kBandwidth && v >= 125e6 && v <= 2e11) {
    const double gbit = v / 125e6;
    if (std::abs(gbit - std::round(gbit)) < 1e-9 * gbit) {
      for (const auto& u : us) {
        if (std::string_view(u.suffix) == "Gb/s") natural = &u;
      }
    }
  }
  char buf[64];
  auto exact = [&](const Unit& u, int digits) {
    std::snprintf(buf, sizeof buf, "%.*g%s", digits, u.unapply(v), u.suffix);
    auto back = parse_quantity(buf, kind, nullptr);
    return back && *back == v;
  };
  // The text must read back to the same bits (a resolved scenario repeats the run exactly): try the natural
  // unit, then the others, before falling back to 17 digits.
  if (exact(*natural, 12)) return buf;
  // Then the largest unit that writes it exactly with a number >= 1 ("80GB", "2039GB/s").
  std::vector<const Unit*> by_size;
  for (const auto& u : us) by_size.push_back(&u);
  std::sort(by_size.begin(), by_size.end(), [](const Unit* a, const Unit* b) { return a->factor > b->factor; });
  for (const Unit* u : by_size) {
    if (u != natural && std::abs(u->unapply(v)) >= 1 && exact(*u, 12)) return buf;
  }
  exact(*natural, 17);
  return buf;
}

}  // namespace lcsim
