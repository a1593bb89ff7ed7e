// A small deterministic JSON writer (key order as written; doubles in shortest round-trip form), used for
// metrics.json and timeline.json so that equal runs give byte-identical files.
#pragma once

#include <string>
#include <string_view>

namespace lcsim {

std::string json_escape(std::string_view s);
/// Shortest decimal text that reads back to the same double; "null" for NaN and infinities.
std::string json_number(double v);

}  // namespace lcsim
