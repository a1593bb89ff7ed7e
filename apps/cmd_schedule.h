// `lcsim schedule`: replays a cluster job trace under one or more scheduling policies (and duration-estimate
// errors) and prints their metrics side by side (docs/scheduling.md).
#pragma once

#include <string>
#include <vector>

namespace lcsim::app {

extern const char* kScheduleHelp;
/// The command's arguments after "schedule". Throws InputError for bad flags; returns the exit code.
int cmd_schedule(const std::vector<std::string>& args);

}  // namespace lcsim::app
