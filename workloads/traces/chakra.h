// Chakra execution-trace reading (MLCommons Chakra ET: length-delimited GlobalMetadata then Node messages).
// A truncated or corrupt file is an InputError naming the file, the byte offset and the last good node id.
#pragma once

#include <cstdint>
#include <optional>
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
  bool is_cpu_op = false;   // attribute is_cpu_op: a host-side operator (absent: a device operation)
  int64_t comm_src = -1;    // attribute comm_src: the sending rank of a COMM_RECV_NODE
  int64_t comm_dst = -1;    // attribute comm_dst: the receiving rank of a COMM_SEND_NODE
  int64_t comm_tag = -1;    // attribute comm_tag: matches a send with its receive
  std::string pg_name;      // attribute pg_name: the process group of a collective ("" = all ranks)
  int64_t tensor_size = -1;   // attribute tensor_size (bytes; memory nodes), -1 when absent
  int64_t tensor_bytes = -1;  // bytes of the input and output tensors (PyTorch ET IOInfo), -1 when not recorded
  std::vector<std::string> problems;  // attributes out of range or of the wrong type ("has comm_size nan, ...")
};

struct ChakraTrace {
  std::string version;
  std::vector<ChakraNode> nodes;
  size_t count(int type) const;
};

/// Reads one rank's trace file.
ChakraTrace read_chakra_trace(const std::string& path);

/// Bytes of the tensors in a PyTorch execution-trace IOInfo `values` string: the sum of numel x itemsize over
/// every [tensor_id, storage_id, offset, numel, itemsize, device] list in it (0 if it holds no tensor); nullopt
/// when a product or the sum is over limits::kMaxTraceBytes (1 PiB) or would overflow.
std::optional<int64_t> chakra_tensor_bytes(const std::string& values);

}  // namespace lcsim::wl
