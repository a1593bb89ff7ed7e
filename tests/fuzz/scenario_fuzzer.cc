// libFuzzer target: the scenario loader. An input is YAML text, optionally followed by "--set" overrides, each on
// a line of its own starting "#--set " (a YAML comment, so seeds stay valid scenarios). The only acceptable
// outcome besides success is an InputError; anything else (a crash, a sanitizer report, another exception, a
// timeout) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "scenarios/scenario.h"
#include "sim/config_tree.h"
#include "sim/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::string yaml;
  std::vector<std::string> sets;
  size_t start = 0;
  while (start <= input.size()) {
    size_t end = input.find('\n', start);
    if (end == std::string::npos) end = input.size();
    const std::string line = input.substr(start, end - start);
    if (line.rfind("#--set ", 0) == 0) sets.push_back(line.substr(7));
    else yaml += line + (end < input.size() ? "\n" : "");
    start = end + 1;
  }
  try {
    lcsim::ConfigValue tree = lcsim::parse_yaml_text(yaml, "fuzz.yaml");
    if (tree.kind == lcsim::ConfigValue::Kind::kNull) tree.kind = lcsim::ConfigValue::Kind::kMap;
    if (!tree.is_map()) return 0;
    for (const auto& s : sets) lcsim::apply_override(tree, s);
    lcsim::Scenario sc = lcsim::parse_scenario(tree);
    (void)lcsim::resolved_yaml(sc);
  } catch (const lcsim::InputError&) {
  }
  return 0;
}
