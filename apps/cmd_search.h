// lcsim search: the best parallel layout of a Megatron training scenario (sweep/search.h).
#pragma once

#include <string>
#include <vector>

namespace lcsim::app {

/// `lcsim search ARGS...`; returns the exit code (0 a layout works, 4 none does). Bad input throws InputError.
int cmd_search(const std::vector<std::string>& args);

}  // namespace lcsim::app
