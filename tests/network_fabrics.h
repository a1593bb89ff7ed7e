// Small fabrics shared by the network tests (network_test.cc, host_io_test.cc).
#pragma once

#include <vector>

#include "models/network/topology.h"

namespace lcsim::net::testing_fabrics {

inline std::vector<NodeShape> uniform(uint32_t nodes, uint32_t gpus) {
  return std::vector<NodeShape>(nodes, {gpus, Bandwidth::gbytes_per_s(450), Bandwidth::gbits_per_s(400)});
}

inline LeafSpineConfig small_fabric() {
  LeafSpineConfig c;
  c.ports_per_leaf = 16;  // two nodes of 8 GPUs per leaf
  c.spines = 4;
  return c;
}

}  // namespace lcsim::net::testing_fabrics
