// Chakra execution-trace reading (MLCommons Chakra ET: length-delimited GlobalMetadata then Node messages).
// A truncated or corrupt file is an InputError naming the file, the byte offset and the last good node id.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/error.h"

namespace lcsim::wl {

struct ChakraNode {
  uint64_t id = 0;
  std::string name;
  int type = 0;  // ChakraProtoMsg::NodeType
  std::vector<uint64_t> ctrl_deps, data_deps;
  uint64_t duration_micros = 0;
  int64_t comm_type = -1;   // attribute comm_type (CollectiveCommType) for communication nodes
  int64_t comm_size = -1;   // attribute comm_size (bytes)
  int64_t num_ops = -1;     // attribute num_ops (compute nodes), -1 when absent
};

struct ChakraTrace {
  std::string version;
  std::vector<ChakraNode> nodes;
  size_t count(int type) const;
};

/// Reads one rank's trace file.
ChakraTrace read_chakra_trace(const std::string& path);

}  // namespace lcsim::wl
