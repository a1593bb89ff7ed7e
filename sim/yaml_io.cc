// The one file that includes yaml-cpp: converts between YAML text and ConfigValue trees.
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "sim/config_tree.h"

namespace lcsim {
namespace {

SourceLocation where(const YAML::Mark& m, const std::string& file, int line_offset) {
  if (m.is_null()) return {file, 0, 0};
  return {file, m.line + 1 + line_offset, m.column + 1};
}

ConfigValue convert(const YAML::Node& n, const std::string& file, int line_offset, const std::string& path,
                    Diagnostics& diags) {
  ConfigValue v;
  v.location = where(n.Mark(), file, line_offset);
  switch (n.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      v.kind = ConfigValue::Kind::kNull;
      break;
    case YAML::NodeType::Scalar:
      v.kind = ConfigValue::Kind::kScalar;
      v.scalar = n.Scalar();
      break;
    case YAML::NodeType::Sequence: {
      v.kind = ConfigValue::Kind::kSeq;
      int i = 0;
      for (const auto& item : n) {
        v.children.push_back(convert(item, file, line_offset, path + "[" + std::to_string(i++) + "]", diags));
      }
      break;
    }
    case YAML::NodeType::Map: {
      v.kind = ConfigValue::Kind::kMap;
      std::set<std::string> seen;
      for (const auto& kv : n) {
        const SourceLocation kloc = where(kv.first.Mark(), file, line_offset);
        if (!kv.first.IsScalar()) {
          diags.add(kloc, path, "map keys must be plain names");
          continue;
        }
        const std::string key = kv.first.Scalar();
        const std::string child_path = path.empty() ? key : path + "." + key;
        if (!seen.insert(key).second) {
          diags.add(kloc, child_path, "duplicate key '" + key + "'");
          continue;
        }
        ConfigValue child = convert(kv.second, file, line_offset, child_path, diags);
        child.key = key;
        child.key_location = kloc;
        if (child.kind == ConfigValue::Kind::kNull) child.location = kloc;
        v.children.push_back(std::move(child));
      }
      break;
    }
  }
  return v;
}

bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  static const std::string special = ":#{}[],&*!|>'\"%@`";
  if (special.find(s.front()) != std::string::npos || s.front() == ' ' || s.back() == ' ' || s.front() == '-')
    return !(s.size() > 1 && s.front() == '-' && std::isdigit(static_cast<unsigned char>(s[1])));
  return s.find(": ") != std::string::npos || s.find(" #") != std::string::npos ||
         s.find('\n') != std::string::npos;
}

void emit(const ConfigValue& v, int indent, std::ostringstream& os) {
  const std::string pad(indent, ' ');
  for (const auto& c : v.children) {
    if (v.kind == ConfigValue::Kind::kMap) os << pad << c.key << ":";
    else os << pad << "-";
    switch (c.kind) {
      case ConfigValue::Kind::kNull: os << " null\n"; break;
      case ConfigValue::Kind::kScalar:
        if (needs_quotes(c.scalar)) {
          std::string q;
          for (char ch : c.scalar) q += (ch == '"' || ch == '\\') ? std::string("\\") + ch : std::string(1, ch);
          os << " \"" << q << "\"\n";
        } else {
          os << " " << c.scalar << "\n";
        }
        break;
      case ConfigValue::Kind::kMap:
      case ConfigValue::Kind::kSeq:
        if (c.children.empty()) {
          os << (c.kind == ConfigValue::Kind::kMap ? " {}\n" : " []\n");
        } else {
          os << "\n";
          emit(c, indent + 2, os);
        }
        break;
    }
  }
}

}  // namespace

ConfigValue parse_yaml_text(const std::string& text, const std::string& source_name, int line_offset) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw InputError({{where(e.mark, source_name, line_offset), "", "invalid YAML: " + e.msg}});
  }
  Diagnostics diags;
  ConfigValue v = convert(root, source_name, line_offset, "", diags);
  diags.throw_if_any();
  return v;
}

ConfigValue load_yaml_file(const std::string& path) {
  if (std::filesystem::is_directory(path)) throw InputError({{{path, 0, 0}, "", "is a directory, not a YAML file"}});
  std::ifstream in(path);
  if (!in) throw InputError({{{path, 0, 0}, "", "cannot open file"}});
  std::stringstream ss;
  ss << in.rdbuf();
  ConfigValue v = parse_yaml_text(ss.str(), path);
  if (v.kind == ConfigValue::Kind::kNull) {
    v.kind = ConfigValue::Kind::kMap;  // an empty file is an empty scenario
    v.location = {path, 1, 1};
  }
  return v;
}

std::string emit_yaml(const ConfigValue& root, const std::string& header_comment) {
  std::ostringstream os;
  if (!header_comment.empty()) {
    std::istringstream lines(header_comment);
    for (std::string l; std::getline(lines, l);) os << "# " << l << "\n";
  }
  emit(root, 0, os);
  return os.str();
}

}  // namespace lcsim
