#include "workloads/traces/chakra.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string_view>

#include "proto/et_def.pb.h"
#include "sim/input_file.h"
#include "sim/limits.h"

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

bool find_attr_any(const ChakraProtoMsg::Node& n, const std::string& name) {
  for (const auto& a : n.attr()) {
    if (a.name() == name) return true;
  }
  return false;
}

// An integer attribute: absent (-1), or its value; a value that is not a whole number in int64_t's range (a NaN,
// an infinity, 1e300, 2.5, a uint64 above 2^63) is recorded in `bad` and read as absent.
int64_t int_attr(const ChakraProtoMsg::Node& n, const std::string& name, std::vector<std::string>* bad = nullptr) {
  for (const auto& a : n.attr()) {
    if (a.name() != name) continue;
    switch (a.value_case()) {
      case ChakraProtoMsg::AttributeProto::kInt64Val: return a.int64_val();
      case ChakraProtoMsg::AttributeProto::kInt32Val: return a.int32_val();
      case ChakraProtoMsg::AttributeProto::kUint64Val:
        if (a.uint64_val() <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(a.uint64_val());
        if (bad) bad->push_back("has " + name + " " + std::to_string(a.uint64_val()) + ", too large");
        return -1;
      case ChakraProtoMsg::AttributeProto::kUint32Val: return a.uint32_val();
      case ChakraProtoMsg::AttributeProto::kDoubleVal: {
        const double d = a.double_val();
        // 2^63 is the first double above int64_t's range.
        if (std::isfinite(d) && d == std::floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
          return static_cast<int64_t>(d);
        }
        if (bad) {
          char text[64];
          std::snprintf(text, sizeof text, "%g", d);
          bad->push_back("has " + name + " " + text + ", not a whole number");
        }
        return -1;
      }
      default:
        if (bad) bad->push_back("has " + name + " of a non-numeric type");
        return -1;
    }
  }
  return -1;
}

// A byte count attribute: absent (-1) or 0..limits::kMaxTraceBytes; anything else recorded in `bad`.
int64_t bytes_attr(const ChakraProtoMsg::Node& n, const std::string& name, std::vector<std::string>& bad) {
  const size_t before = bad.size();
  const int64_t v = int_attr(n, name, &bad);
  if (bad.size() > before) {
    bad.back() += " (bytes: 0.." + std::to_string(limits::kMaxTraceBytes) + ")";
    return -1;
  }
  if (v == -1 && !find_attr_any(n, name)) return -1;
  if (v < 0 || v > limits::kMaxTraceBytes) {
    bad.push_back("has " + name + " " + std::to_string(v) + ", outside 0.." + std::to_string(limits::kMaxTraceBytes) +
                  " bytes " + limits::named("trace.max_bytes", static_cast<uint64_t>(limits::kMaxTraceBytes)));
    return -1;
  }
  return v;
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

std::optional<int64_t> chakra_tensor_bytes(const std::string& values) {
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
        if (items.size() > 6) break;
      }
      if (items.size() == 6 && items[5].find('\'') != std::string_view::npos) {
        const auto numel = integer(items[3]), itemsize = integer(items[4]);
        bool ids = integer(items[0]) && integer(items[1]) && integer(items[2]);
        if (ids && numel && itemsize && *numel >= 0 && *itemsize >= 0) {
          int64_t bytes = 0;
          if (__builtin_mul_overflow(*numel, *itemsize, &bytes) || __builtin_add_overflow(total, bytes, &total) ||
              total > limits::kMaxTraceBytes) {
            return std::nullopt;
          }
        }
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
  const std::string data = read_input_file(path, limits::kMaxTraceFileBytes, "trace.max_file_bytes");
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
      auto& bad = c.problems;
      c.comm_type = int_attr(n, "comm_type", &bad);
      c.comm_size = bytes_attr(n, "comm_size", bad);
      c.num_ops = int_attr(n, "num_ops", &bad);
      c.is_cpu_op = bool_attr(n, "is_cpu_op");
      c.comm_src = int_attr(n, "comm_src", &bad);
      c.comm_dst = int_attr(n, "comm_dst", &bad);
      c.comm_tag = int_attr(n, "comm_tag", &bad);
      c.pg_name = string_attr(n, "pg_name");
      c.tensor_size = bytes_attr(n, "tensor_size", bad);
      if (!n.inputs().values().empty() || !n.outputs().values().empty()) {
        const auto in_bytes = chakra_tensor_bytes(n.inputs().values());
        const auto out_bytes = chakra_tensor_bytes(n.outputs().values());
        if (!in_bytes || !out_bytes || *in_bytes + *out_bytes > limits::kMaxTraceBytes) {
          bad.push_back("has input and output tensors of more than " + std::to_string(limits::kMaxTraceBytes) +
                        " bytes " + limits::named("trace.max_bytes", static_cast<uint64_t>(limits::kMaxTraceBytes)));
        } else {
          c.tensor_bytes = *in_bytes + *out_bytes;
        }
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
