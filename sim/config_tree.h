// A YAML document as plain data that remembers where each value came from (file, line, column), so that
// scenarios can be layered (base:), overridden (--set) and still report errors at the user's own text.
// yaml-cpp is included by yaml_io.cc only.
#pragma once

#include <string>
#include <vector>

#include "sim/error.h"

namespace lcsim {

struct ConfigValue {
  enum class Kind { kNull, kScalar, kMap, kSeq };
  Kind kind = Kind::kNull;
  std::string key;                   // this value's key in its parent map (empty in a sequence or at the root)
  std::string scalar;                // text of a scalar
  std::vector<ConfigValue> children; // map entries (in file order) or sequence items
  SourceLocation location;           // of the value
  SourceLocation key_location;       // of the key, for map entries

  const ConfigValue* find(const std::string& k) const;
  ConfigValue* find(const std::string& k);
  bool is_map() const { return kind == Kind::kMap; }
  bool is_scalar() const { return kind == Kind::kScalar; }
  /// Sets key to a scalar (creating maps on the way), replacing what was there.
  ConfigValue& set(const std::string& k, ConfigValue v);
};

/// Reads a YAML file. Syntax errors and duplicate keys are InputErrors at their position.
ConfigValue load_yaml_file(const std::string& path);
/// Reads YAML text; `source_name` is used in locations.
ConfigValue parse_yaml_text(const std::string& text, const std::string& source_name, int line_offset = 0);
/// Writes a tree as block-style YAML (scalars quoted only where YAML needs it).
std::string emit_yaml(const ConfigValue& root, const std::string& header_comment = "");

/// Overlays `top` onto `base`: maps merge key by key (recursively), anything else replaces.
void merge_into(ConfigValue& base, const ConfigValue& top);

/// Loads a scenario file and the chain of files it builds on through `base:` (relative to the file that
/// names it), merged so that the later file wins. Cycles are errors.
ConfigValue load_layered(const std::string& path);

/// Applies one "--set path.to.key=value" override (value in YAML syntax; lists as [a, b]).
void apply_override(ConfigValue& root, const std::string& assignment);

}  // namespace lcsim
