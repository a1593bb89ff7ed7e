// Unit-safe value types (seconds, bytes, FLOPs, rates) and their text form ("1.5us", "80GiB", "400Gb/s").
// Mixing kinds does not compile; dividing an amount by its rate gives a Duration.
#pragma once

#include <compare>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lcsim {

/// A double in a fixed base unit; `Derived` is the concrete kind (CRTP), so arithmetic keeps the kind and
/// different kinds do not mix.
template <class Derived>
class Quantity {
 public:
  constexpr Quantity() = default;
  constexpr double value() const { return v_; }  ///< in the base unit (s, B, FLOP, B/s, FLOP/s, W)
  static constexpr Derived from_base(double v) {
    Derived d;
    static_cast<Quantity&>(d).v_ = v;
    return d;
  }

  constexpr Derived operator+(Derived o) const { return from_base(v_ + o.value()); }
  constexpr Derived operator-(Derived o) const { return from_base(v_ - o.value()); }
  constexpr Derived& operator+=(Derived o) { v_ += o.value(); return self(); }
  constexpr Derived& operator-=(Derived o) { v_ -= o.value(); return self(); }
  constexpr Derived operator*(double k) const { return from_base(v_ * k); }
  constexpr Derived operator/(double k) const { return from_base(v_ / k); }
  constexpr double operator/(Derived o) const { return v_ / o.value(); }
  friend constexpr Derived operator*(double k, Derived q) { return from_base(k * q.value()); }
  friend constexpr bool operator==(Derived a, Derived b) { return a.value() == b.value(); }
  friend constexpr auto operator<=>(Derived a, Derived b) { return a.value() <=> b.value(); }

 private:
  constexpr Derived& self() { return static_cast<Derived&>(*this); }
  double v_ = 0;
};

/// Simulated time span in seconds.
struct Duration : Quantity<Duration> {
  static constexpr Duration seconds(double s) { return from_base(s); }
  static constexpr Duration ms(double v) { return seconds(v / 1e3); }
  static constexpr Duration us(double v) { return seconds(v / 1e6); }
  static constexpr Duration ns(double v) { return seconds(v / 1e9); }
  constexpr double s() const { return value(); }
};

/// Data size in bytes.
struct Bytes : Quantity<Bytes> {
  static constexpr Bytes of(double b) { return from_base(b); }
  static constexpr Bytes kib(double v) { return of(v * 1024.0); }
  static constexpr Bytes mib(double v) { return of(v * 1048576.0); }
  static constexpr Bytes gib(double v) { return of(v * 1073741824.0); }
  static constexpr Bytes mb(double v) { return of(v * 1e6); }
  static constexpr Bytes gb(double v) { return of(v * 1e9); }
  constexpr double bytes() const { return value(); }
};

/// Amount of floating-point work in FLOP.
struct Flops : Quantity<Flops> {
  static constexpr Flops of(double f) { return from_base(f); }
  constexpr double flop() const { return value(); }
};

/// Data rate in bytes per second (text may use bits: "400Gb/s").
struct Bandwidth : Quantity<Bandwidth> {
  static constexpr Bandwidth bytes_per_s(double v) { return from_base(v); }
  static constexpr Bandwidth gbytes_per_s(double v) { return bytes_per_s(v * 1e9); }
  static constexpr Bandwidth gbits_per_s(double v) { return bytes_per_s(v * 1e9 / 8.0); }
  constexpr double bps() const { return value(); }  ///< bytes per second
};

/// Compute rate in FLOP per second.
struct FlopRate : Quantity<FlopRate> {
  static constexpr FlopRate per_s(double v) { return from_base(v); }
  static constexpr FlopRate tflops(double v) { return per_s(v * 1e12); }
  constexpr double flop_per_s() const { return value(); }
};

/// Electrical power in watts.
struct Power : Quantity<Power> {
  static constexpr Power watts(double v) { return from_base(v); }
  constexpr double w() const { return value(); }
};

constexpr Duration operator/(Bytes b, Bandwidth r) { return Duration::seconds(b.value() / r.value()); }
constexpr Duration operator/(Flops f, FlopRate r) { return Duration::seconds(f.value() / r.value()); }
constexpr Bytes operator*(Bandwidth r, Duration d) { return Bytes::of(r.value() * d.value()); }
constexpr Flops operator*(FlopRate r, Duration d) { return Flops::of(r.value() * d.value()); }

/// The kinds of quantity a scenario value may carry; each has its own accepted unit suffixes.
enum class UnitKind { kDuration, kBytes, kFlops, kBandwidth, kFlopRate, kPower };

/// Parses "<number><unit>" of the given kind into the base unit. On failure returns nullopt and sets *error
/// to a message that lists the accepted units.
std::optional<double> parse_quantity(std::string_view text, UnitKind kind, std::string* error);

/// Accepted unit suffixes of a kind, e.g. {"s", "ms", "us", "ns", ...}.
std::vector<std::string> unit_suffixes(UnitKind kind);
std::string_view unit_kind_name(UnitKind kind);  ///< "duration", "bytes", ...

/// Human-readable form with a unit chosen for the magnitude, e.g. "1.5us", "80GiB", "400Gb/s".
/// Formatting then parsing gives back the value (up to 12 significant digits).
std::string format_quantity(double base_value, UnitKind kind);

template <class Q>
constexpr UnitKind unit_kind_of();
template <> constexpr UnitKind unit_kind_of<Duration>() { return UnitKind::kDuration; }
template <> constexpr UnitKind unit_kind_of<Bytes>() { return UnitKind::kBytes; }
template <> constexpr UnitKind unit_kind_of<Flops>() { return UnitKind::kFlops; }
template <> constexpr UnitKind unit_kind_of<Bandwidth>() { return UnitKind::kBandwidth; }
template <> constexpr UnitKind unit_kind_of<FlopRate>() { return UnitKind::kFlopRate; }
template <> constexpr UnitKind unit_kind_of<Power>() { return UnitKind::kPower; }

template <class Q>
std::string to_string(Q q) {
  return format_quantity(q.value(), unit_kind_of<Q>());
}

}  // namespace lcsim
