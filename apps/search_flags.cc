// See search_flags.h.
#include "apps/search_flags.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "sim/error.h"

namespace lcsim::app {

namespace {

const char* kSpaceFlagsHelp =
    R"(  --tp LIST --pp LIST --vpp LIST --cp LIST --mbs LIST   tensor, pipeline, virtual stages per pipeline rank,
                context parallel sizes and micro-batch sizes (comma-separated positive integers)
  --ep LIST     expert-parallel sizes (mixture-of-experts models; default: the scenario's)
  --recompute LIST  none, selective, full
  --dist-opt LIST   false, true (the distributed optimizer)
)";

}  // namespace

std::string with_space_flags(const std::string& help) {
  std::string out = help;
  const size_t at = out.find("@SPACE_FLAGS@");
  if (at != std::string::npos) out.replace(at, 13, kSpaceFlagsHelp);
  return out;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

namespace {

constexpr long kMaxInt = 1048576;

bool parse_int(const std::string& x, long& v) {
  char* end = nullptr;
  v = std::strtol(x.c_str(), &end, 10);
  return !x.empty() && *end == '\0' && v >= 1 && v <= kMaxInt;
}

}  // namespace

std::vector<int> int_list(const std::string& flag, const std::string& s) {
  std::vector<int> out;
  for (const auto& x : split_list(s)) {
    long v = 0;
    if (!parse_int(x, v)) {
      throw InputError(flag + ": expected a comma-separated list of positive integers, e.g. 1,2,4, got '" + s + "'");
    }
    out.push_back(static_cast<int>(v));
  }
  return out;
}

std::vector<int> gpu_counts(const std::string& flag, const std::string& s) {
  const std::string expected =
      ": expected GPU counts and ranges, e.g. 8,16 or 16-128 (doubling) or 16-64/16 (step 16), got '" + s + "'";
  std::vector<int> out;
  auto add = [&](long v) {
    if (std::find(out.begin(), out.end(), static_cast<int>(v)) == out.end()) out.push_back(static_cast<int>(v));
  };
  for (const auto& x : split_list(s)) {
    const size_t dash = x.find('-');
    if (dash == std::string::npos) {
      long v = 0;
      if (!parse_int(x, v)) throw InputError(flag + expected);
      add(v);
      continue;
    }
    const size_t slash = x.find('/', dash);
    long lo = 0, hi = 0, step = 0;
    if (!parse_int(x.substr(0, dash), lo) ||
        !parse_int(x.substr(dash + 1, slash == std::string::npos ? std::string::npos : slash - dash - 1), hi) ||
        (slash != std::string::npos && !parse_int(x.substr(slash + 1), step))) {
      throw InputError(flag + expected);
    }
    if (hi < lo) throw InputError(flag + ": the range '" + x + "' ends below its start");
    for (long v = lo; v <= hi; v = step > 0 ? v + step : v * 2) add(v);
  }
  return out;
}

double positive_number(const std::string& flag, const std::string& s) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !(v > 0) || !std::isfinite(v)) {
    throw InputError(flag + ": expected a positive number, got '" + s + "'");
  }
  return v;
}

bool parse_space_flag(const std::string& flag, const std::function<std::string()>& value, sweep::SearchSpace& space) {
  if (flag == "--tp") space.tp = int_list(flag, value());
  else if (flag == "--pp") space.pp = int_list(flag, value());
  else if (flag == "--vpp") space.virtual_stages = int_list(flag, value());
  else if (flag == "--cp") space.cp = int_list(flag, value());
  else if (flag == "--ep") space.ep = int_list(flag, value());
  else if (flag == "--mbs") space.micro_batch = int_list(flag, value());
  else if (flag == "--recompute") {
    space.recompute = split_list(value());
    for (const auto& r : space.recompute) {
      if (r != "none" && r != "selective" && r != "full") {
        throw InputError("--recompute: expected none, selective or full (comma-separated), got '" + r + "'");
      }
    }
  } else if (flag == "--dist-opt") {
    space.distributed_optimizer.clear();
    for (const auto& b : split_list(value())) {
      if (b != "true" && b != "false") throw InputError("--dist-opt: expected true and/or false, got '" + b + "'");
      space.distributed_optimizer.push_back(b == "true");
    }
  } else {
    return false;
  }
  return true;
}

}  // namespace lcsim::app
