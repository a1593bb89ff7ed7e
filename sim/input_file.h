// Reading a file the user named, safely: regular files only (not /dev/zero, a FIFO or a directory), at most a
// limit of bytes, and every operating-system failure (missing, permission, a name too long) an InputError that
// names the file, never a std::filesystem exception.
#pragma once

#include <cstdint>
#include <string>

namespace lcsim {

/// The whole file at `path`; InputError at {path} when it is not a readable regular file of at most
/// `max_bytes` bytes (`limit_name` names the limit in the message).
std::string read_input_file(const std::string& path, uint64_t max_bytes, const std::string& limit_name);

/// Why `path` cannot be read as an input file, or "" when it can (exists, is a regular file, within the limit).
std::string input_file_problem(const std::string& path, uint64_t max_bytes, const std::string& limit_name);

}  // namespace lcsim
