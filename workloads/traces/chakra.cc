#include "workloads/traces/chakra.h"

#include <fstream>
#include <sstream>

#include "proto/et_def.pb.h"

namespace lcsim::wl {
namespace {

// A varint at `pos`; false if the bytes end inside it or it is longer than 10 bytes.
bool read_varint(const std::string& data, size_t& pos, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64 && pos < data.size(); shift += 7) {
    const uint8_t b = static_cast<uint8_t>(data[pos++]);
    value |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

int64_t int_attr(const ChakraProtoMsg::Node& n, const std::string& name) {
  for (const auto& a : n.attr()) {
    if (a.name() != name) continue;
    switch (a.value_case()) {
      case ChakraProtoMsg::AttributeProto::kInt64Val: return a.int64_val();
      case ChakraProtoMsg::AttributeProto::kInt32Val: return a.int32_val();
      case ChakraProtoMsg::AttributeProto::kUint64Val: return static_cast<int64_t>(a.uint64_val());
      case ChakraProtoMsg::AttributeProto::kUint32Val: return a.uint32_val();
      case ChakraProtoMsg::AttributeProto::kDoubleVal: return static_cast<int64_t>(a.double_val());
      default: return -1;
    }
  }
  return -1;
}

}  // namespace

size_t ChakraTrace::count(int type) const {
  size_t n = 0;
  for (const auto& node : nodes) n += node.type == type;
  return n;
}

ChakraTrace read_chakra_trace(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError({{{path, 0, 0}, "", "cannot open trace"}});
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string data = ss.str();
  ChakraTrace trace;
  size_t pos = 0;
  bool metadata = true;
  std::string last = "before the first node";
  auto fail = [&](size_t at, const std::string& why) {
    throw InputError({{{path, 0, 0}, "", why + " at byte offset " + std::to_string(at) + " (" + last + ")"}});
  };
  while (pos < data.size()) {
    const size_t start = pos;
    uint64_t size = 0;
    if (!read_varint(data, pos, size)) fail(start, "truncated or corrupt message length");
    if (size > data.size() - pos) {
      fail(start, "truncated trace: a message of " + std::to_string(size) + " bytes, " +
                      std::to_string(data.size() - pos) + " left");
    }
    if (metadata) {
      ChakraProtoMsg::GlobalMetadata m;
      if (!m.ParseFromArray(data.data() + pos, static_cast<int>(size))) fail(start, "corrupt GlobalMetadata");
      trace.version = m.version();
      metadata = false;
    } else {
      ChakraProtoMsg::Node n;
      if (!n.ParseFromArray(data.data() + pos, static_cast<int>(size))) fail(start, "corrupt node");
      ChakraNode c;
      c.id = n.id();
      c.name = n.name();
      c.type = n.type();
      c.ctrl_deps.assign(n.ctrl_deps().begin(), n.ctrl_deps().end());
      c.data_deps.assign(n.data_deps().begin(), n.data_deps().end());
      c.duration_micros = n.duration_micros();
      c.comm_type = int_attr(n, "comm_type");
      c.comm_size = int_attr(n, "comm_size");
      c.num_ops = int_attr(n, "num_ops");
      trace.nodes.push_back(std::move(c));
      last = "after node id " + std::to_string(trace.nodes.back().id);
    }
    pos += size;
  }
  if (metadata) fail(0, "empty trace: no GlobalMetadata");
  return trace;
}

}  // namespace lcsim::wl
