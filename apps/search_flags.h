// The flags `lcsim search` and `lcsim plan` share: comma lists, GPU-count ranges, positive numbers, and the
// layout-space flags (--tp --pp --vpp --cp --ep --mbs --recompute --dist-opt), parsed in one place.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "sweep/search.h"

namespace lcsim::app {

/// "a,b,c" -> {"a", "b", "c"} (empty items kept, so that callers can reject them).
std::vector<std::string> split_list(const std::string& s);

/// A comma-separated list of positive integers (at most 1,048,576 each). Throws InputError naming `flag`.
std::vector<int> int_list(const std::string& flag, const std::string& s);

/// GPU counts: a comma-separated list of counts and ranges. "A-B" is A, 2A, 4A, ... up to B (doubling);
/// "A-B/S" is A, A+S, A+2S, ... up to B. E.g. "8,16-64" = 8, 16, 32, 64; "16-48/16" = 16, 32, 48.
/// Duplicates are dropped, the order kept. Throws InputError naming `flag`.
std::vector<int> gpu_counts(const std::string& flag, const std::string& s);

/// A positive, finite number. Throws InputError naming `flag`.
double positive_number(const std::string& flag, const std::string& s);

/// Parses one layout-space flag into `space` (value() takes the flag's argument). Returns false when `flag` is
/// not one of them. Throws InputError for a bad value.
bool parse_space_flag(const std::string& flag, const std::function<std::string()>& value, sweep::SearchSpace& space);

/// `help` with its line "@SPACE_FLAGS@" replaced by the help lines of the layout-space flags.
std::string with_space_flags(const std::string& help);

}  // namespace lcsim::app
