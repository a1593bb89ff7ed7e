// Limits on input size and shape: they make any input, however hostile, cheap to reject. Each is named in the
// error that reports it ("... (limit: input.max_file_bytes = 4194304)") and documented in docs/scenarios.md
// ("Limits") and docs/reliability.md. They are far above what a real scenario or trace needs.
#pragma once

#include <cstdint>
#include <string>

namespace lcsim::limits {

/// A scenario, a `base:` file, an accelerator/node `file:` or a `calibration_file:` (regular files only).
inline constexpr uint64_t kMaxFileBytes = 4u << 20;
/// Files in one chain of `base:` references.
inline constexpr int kMaxBaseChain = 16;
/// Values in one document after YAML aliases are expanded (stops "billion laughs").
inline constexpr uint64_t kMaxValues = 250'000;
/// Nesting of mappings and lists in one document.
inline constexpr int kMaxDepth = 32;
/// Bytes in one scalar (a string, a number, a key).
inline constexpr uint64_t kMaxScalarBytes = 65'536;
/// Items in one list.
inline constexpr uint64_t kMaxListItems = 65'536;
/// A Chakra execution-trace file (regular files only).
inline constexpr uint64_t kMaxTraceFileBytes = 1ull << 30;
/// Bytes one trace node may name (comm_size, tensor_size, tensors' numel x itemsize): 1 PiB.
inline constexpr int64_t kMaxTraceBytes = int64_t{1} << 50;
/// An integer key (type int) without an upper bound of its own: at most 2^24.
inline constexpr int64_t kMaxInteger = int64_t{1} << 24;
/// A 64-bit integer key (seeds, parameter counts) without an upper bound of its own: at most 2^53 (exact in a
/// double).
inline constexpr int64_t kMaxInteger64 = int64_t{1} << 53;
/// A number or quantity (bytes, seconds, FLOP/s, ...) without an upper bound of its own: |value| <= 1e18 in
/// base units (input.max_quantity): below 2^63, so that a count derived from one fits an integer.
inline constexpr double kMaxQuantity = 1e18;
/// Accelerators in one cluster.
inline constexpr int64_t kMaxClusterGpus = 131'072;

/// "limit: NAME = VALUE", the suffix every limit error carries.
inline std::string named(const std::string& name, const std::string& value) {
  return "(limit: " + name + " = " + value + ")";
}
inline std::string named(const std::string& name, uint64_t value) { return named(name, std::to_string(value)); }

}  // namespace lcsim::limits
