// The sweep family of commands: lcsim sweep, lcsim compare, lcsim results (export, merge, show, compare).
#pragma once

#include <string>
#include <vector>

namespace lcsim::app {

/// Runs `lcsim CMD ARGS...` (argv = CMD ARGS...) if CMD is one of this family's commands and returns its exit
/// code; -1 if it is not. Bad input throws InputError (main prints it and exits 2).
int sweep_command(const std::vector<std::string>& argv);

}  // namespace lcsim::app
