// Errors: InputError is the user's fault (bad scenario, trace or flag) and carries every problem found, each
// with file, line, column and key path; only main() turns it into an exit code. Our own bugs use LCSIM_ASSERT.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace lcsim {

/// Where a value came from: a file position, or a command-line override (file "--set", line 0).
struct SourceLocation {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown
  std::string to_string() const;
  bool operator==(const SourceLocation&) const = default;
};

/// One problem with the user's input.
struct Diagnostic {
  SourceLocation location;
  std::string key_path;  // e.g. "cluster.fabric.nic_bandwidth"; empty for file-level problems
  std::string message;
  /// "file:line:col: key.path: message"
  std::string to_string() const;
};

/// The user's input is wrong; what() lists every diagnostic, one per line, each prefixed "error: ".
class InputError : public std::runtime_error {
 public:
  explicit InputError(std::vector<Diagnostic> diagnostics);
  explicit InputError(const std::string& message);  // for problems without a location (a CLI flag)
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

 private:
  std::vector<Diagnostic> diagnostics_;
};

/// Collects diagnostics so that a whole file is checked before anything is reported.
class Diagnostics {
 public:
  void add(Diagnostic d) { items_.push_back(std::move(d)); }
  void add(const SourceLocation& where, const std::string& key_path, const std::string& message) {
    items_.push_back({where, key_path, message});
  }
  bool empty() const { return items_.empty(); }
  const std::vector<Diagnostic>& items() const { return items_; }
  /// Throws InputError with everything collected, if anything was.
  void throw_if_any() const;

 private:
  std::vector<Diagnostic> items_;
};

[[noreturn]] void assertion_failed(const char* expr, const char* file, int line, const std::string& message);

}  // namespace lcsim

/// A broken invariant: a bug in lcsim, never the user's fault.
#define LCSIM_ASSERT(cond, msg)                                          \
  do {                                                                   \
    if (!(cond)) ::lcsim::assertion_failed(#cond, __FILE__, __LINE__, (msg)); \
  } while (0)
