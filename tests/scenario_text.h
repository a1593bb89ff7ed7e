// Runs a scenario given as YAML text the way `lcsim run` loads one: written to a file in a directory of its own
// (named after the test, a tag and the process, so parallel tests never share it), loaded with its timeline off,
// run, and the directory removed.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "scenarios/scenario.h"

namespace lcsim::testing {

/// The metrics of the scenario `yaml`; `prefix` and `tag` name its directory.
inline MetricSet run_scenario_text(const std::string& yaml, const std::string& prefix, const std::string& tag = "") {
  namespace fs = std::filesystem;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir =
      fs::path(::testing::TempDir()) / (prefix + "_" + std::string(info->name()) + tag + "_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const fs::path file = dir / "scenario.yaml";
  std::ofstream(file) << yaml;
  Scenario sc = load_scenario(file.string(), {"outputs.timeline=false"});
  const MetricSet m = run_scenario(sc).metrics;
  fs::remove_all(dir);
  return m;
}

}  // namespace lcsim::testing
