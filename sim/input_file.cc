#include "sim/input_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "sim/error.h"
#include "sim/limits.h"

namespace lcsim {

std::string input_file_problem(const std::string& path, uint64_t max_bytes, const std::string& limit_name) {
  namespace fs = std::filesystem;
  if (path.empty()) return "no file name given";
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    if (ec && ec != std::errc::no_such_file_or_directory) return "cannot open: " + ec.message();
    return "file not found";
  }
  if (fs::is_directory(st)) return "is a directory, not a file";
  if (!fs::is_regular_file(st)) return "is not a regular file (a device, FIFO or socket cannot be read as input)";
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) return "cannot open: " + ec.message();
  if (size > max_bytes) {
    return "file of " + std::to_string(size) + " bytes is larger than allowed " + limits::named(limit_name, max_bytes);
  }
  return "";
}

std::string read_input_file(const std::string& path, uint64_t max_bytes, const std::string& limit_name) {
  const std::string problem = input_file_problem(path, max_bytes, limit_name);
  if (!problem.empty()) throw InputError({{{path, 0, 0}, "", problem}});
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError({{{path, 0, 0}, "", std::string("cannot open: ") + std::strerror(errno)}});
  // Read at most one byte past the limit: a file that grows while we read is still bounded.
  std::string data;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<size_t>(in.gcount()));
    if (data.size() > max_bytes) {
      throw InputError({{{path, 0, 0}, "", "file is larger than allowed " + limits::named(limit_name, max_bytes)}});
    }
  }
  return data;
}

}  // namespace lcsim
