// lcsim plan: capacity planning (sweep/capacity.h).
#pragma once

#include <string>
#include <vector>

namespace lcsim::app {

/// `lcsim plan ARGS...`; returns the exit code (0 a configuration meets the deadline, 4 none does). Bad input
/// throws InputError.
int cmd_plan(const std::vector<std::string>& args);

}  // namespace lcsim::app
