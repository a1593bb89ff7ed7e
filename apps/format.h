// Numbers for people: sizes, durations, rates, energy and money with a unit a reader knows and three
// significant digits, for the short summary of `lcsim run` (metrics.json keeps the exact values).
#pragma once

#include <string>

namespace lcsim::app {

/// Three significant digits, no exponent for values a person meets (0.00123 to 999,999): 0.0123, 1.23, 123,
/// 12,300.
std::string format_number(double v);
/// A count with thousands separators (1,048,576), or with a suffix from a million up (4.05 M, 2.1 B, 15.6 T).
std::string format_count(double v);
/// Decimal sizes, as datasheets give HBM (80 GB): B, kB, MB, GB, TB, PB.
std::string format_bytes(double bytes);
/// Binary sizes, as nccl-tests and allocators count (1 GiB = 2^30 B): B, KiB, MiB, GiB, TiB.
std::string format_bytes_iec(double bytes);
/// ns, us, ms, s; min, h, days and years from a minute up (2.5 h, 1.84 days).
std::string format_duration(double seconds);
/// Bytes per second, decimal: 391 GB/s.
std::string format_bandwidth(double bytes_per_s);
/// FLOP per second: 574 TFLOP/s, 1.2 PFLOP/s.
std::string format_flop_rate(double flop_per_s);
/// A rate of things: "4.05 M tokens/s".
std::string format_rate(double per_s, const std::string& what);
/// A fraction as a percentage: 0.5801 -> "58.0%".
std::string format_percent(double fraction);
/// Energy given in MWh: 4.06 Wh, 12.3 kWh, 8.84 MWh, 1.2 GWh.
std::string format_energy_mwh(double mwh);
/// Power given in kW: 850 W, 56.4 kW, 1.2 MW.
std::string format_power_kw(double kw);
/// Money: "USD 14,987", "USD 7.58 M", "USD 0.0096".
std::string format_money(double amount, const std::string& currency);

}  // namespace lcsim::app
