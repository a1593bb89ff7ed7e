#include "workloads/traces/chakra.h"

#include <charconv>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>

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

const ChakraProtoMsg::AttributeProto* find_attr(const ChakraProtoMsg::Node& n, const std::string& name) {
  for (const auto& a : n.attr()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

bool bool_attr(const ChakraProtoMsg::Node& n, const std::string& name) {
  const auto* a = find_attr(n, name);
  if (!a) return false;
  if (a->value_case() == ChakraProtoMsg::AttributeProto::kBoolVal) return a->bool_val();
  return int_attr(n, name) > 0;
}

std::string string_attr(const ChakraProtoMsg::Node& n, const std::string& name) {
  const auto* a = find_attr(n, name);
  if (!a) return "";
  if (a->value_case() == ChakraProtoMsg::AttributeProto::kStringVal) return a->string_val();
  if (a->value_case() == ChakraProtoMsg::AttributeProto::kInt64Val) return std::to_string(a->int64_val());
  return "";
}

// Whole decimal number (optionally negative) with surrounding spaces, or nullopt.
std::optional<int64_t> integer(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty()) return std::nullopt;
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

int64_t chakra_tensor_bytes(const std::string& values) {
  int64_t total = 0;
  size_t open = std::string::npos;
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] == '[') {
      open = i;
    } else if (values[i] == ']' && open != std::string::npos) {
      // An innermost list: a tensor when it has six items, five integers and a quoted device.
      const std::string_view inner(values.data() + open + 1, i - open - 1);
      std::vector<std::string_view> items;
      size_t start = 0;
      for (size_t j = 0; j <= inner.size(); ++j) {
        if (j == inner.size() || inner[j] == ',') {
          items.push_back(inner.substr(start, j - start));
          start = j + 1;
        }
      }
      if (items.size() == 6 && items[5].find('\'') != std::string_view::npos) {
        const auto numel = integer(items[3]), itemsize = integer(items[4]);
        bool ids = integer(items[0]) && integer(items[1]) && integer(items[2]);
        if (ids && numel && itemsize && *numel >= 0 && *itemsize >= 0) total += *numel * *itemsize;
      }
      open = std::string::npos;
    }
  }
  return total;
}

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
      c.is_cpu_op = bool_attr(n, "is_cpu_op");
      c.comm_src = int_attr(n, "comm_src");
      c.comm_dst = int_attr(n, "comm_dst");
      c.comm_tag = int_attr(n, "comm_tag");
      c.pg_name = string_attr(n, "pg_name");
      c.tensor_size = int_attr(n, "tensor_size");
      if (!n.inputs().values().empty() || !n.outputs().values().empty()) {
        c.tensor_bytes = chakra_tensor_bytes(n.inputs().values()) + chakra_tensor_bytes(n.outputs().values());
      }
      trace.nodes.push_back(std::move(c));
      last = "after node id " + std::to_string(trace.nodes.back().id);
    }
    pos += size;
  }
  if (metadata) fail(0, "empty trace: no GlobalMetadata");
  return trace;
}

}  // namespace lcsim::wl
