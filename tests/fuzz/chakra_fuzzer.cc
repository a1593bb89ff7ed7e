// libFuzzer target: the Chakra execution-trace reader and the replay's checks of a trace (dependencies, node
// types, attributes), through a scenario that replays the input on two ranks. Only InputError may come out.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "scenarios/scenario.h"
#include "sim/config_tree.h"
#include "sim/error.h"
#include "workloads/traces/chakra.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/lcsim_chakra_fuzz_" + std::to_string(::getpid()) + ".et";
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                static_cast<std::streamsize>(size));
  try {
    (void)lcsim::wl::read_chakra_trace(path);
  } catch (const lcsim::InputError&) {
    return 0;
  }
  try {
    const lcsim::ConfigValue tree = lcsim::parse_yaml_text(
        "name: fuzz\ncluster: {accelerator: H100-SXM-80GB, nodes: 1, gpus_per_node: 8}\n"
        "workload: {type: chakra_replay, trace: '" + path + "', ranks: 2}\n",
        "fuzz.yaml");
    (void)lcsim::parse_scenario(tree);
  } catch (const lcsim::InputError&) {
  }
  return 0;
}
