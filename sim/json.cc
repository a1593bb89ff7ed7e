#include "sim/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace lcsim {

std::string json_escape(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[40];
  // Integers below 1e15 in plain digits; everything else in the shortest form that reads back the same.
  const auto r = (v == std::floor(v) && std::abs(v) < 1e15) ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
                                                             : std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace lcsim
