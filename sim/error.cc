#include "sim/error.h"

#include <sstream>

namespace lcsim {

std::string SourceLocation::to_string() const {
  if (file.empty()) return "<input>";
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string Diagnostic::to_string() const {
  std::string out = location.to_string() + ": ";
  if (!key_path.empty()) out += key_path + ": ";
  return out + message;
}

namespace {
std::string join_diagnostics(const std::vector<Diagnostic>& ds) {
  std::string out;
  for (const auto& d : ds) out += (out.empty() ? "" : "\n") + std::string("error: ") + d.to_string();
  return out;
}
}  // namespace

InputError::InputError(std::vector<Diagnostic> diagnostics)
    : std::runtime_error(join_diagnostics(diagnostics)), diagnostics_(std::move(diagnostics)) {}

InputError::InputError(const std::string& message) : std::runtime_error("error: " + message) {}

void Diagnostics::throw_if_any() const {
  if (!items_.empty()) throw InputError(items_);
}

void assertion_failed(const char* expr, const char* file, int line, const std::string& message) {
  std::ostringstream os;
  os << "internal error (a bug in lcsim): " << file << ":" << line << ": assertion '" << expr
     << "' failed: " << message;
  throw std::logic_error(os.str());
}

}  // namespace lcsim
