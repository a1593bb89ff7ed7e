// The one file that includes yaml-cpp: converts between YAML text and ConfigValue trees.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <unordered_map>

#include "sim/config_tree.h"
#include "sim/input_file.h"
#include "sim/limits.h"

namespace lcsim {
namespace {

SourceLocation where(const YAML::Mark& m, const std::string& file, int line_offset) {
  if (m.is_null()) return {file, 0, 0};
  return {file, m.line + 1 + line_offset, m.column + 1};
}

/// Thrown inside the conversion when a limit is passed: the document is rejected at once, with one diagnostic.
struct LimitExceeded {
  Diagnostic diagnostic;
};

// YAML node tree -> ConfigValue tree, within the limits of sim/limits.h. yaml-cpp shares the node of an anchor
// among its aliases, so a document of a few bytes can stand for an exponential tree ("billion laughs") or a
// cyclic one (`a: &r [*r]`): both are caught here, by the value count and by the ancestors check.
class Converter {
 public:
  Converter(const std::string& text, const std::string& file, int line_offset, Diagnostics& diags)
      : text_(text), file_(file), line_offset_(line_offset), diags_(diags) {}

  /// The document's tree. Where aliases could expand it past the value limit (a billion laughs), a dry walk runs
  /// first: the same checks in the same order, so it fails with the very error the conversion would, but it builds
  /// no value and does not walk again a shared container it has walked whole (walking the billion laughs up to the
  /// limit built 250,000 values: 0.2 s, 2 s under the sanitizers; the dry walk visits a few hundred nodes).
  ConfigValue convert_document(const YAML::Node& root) {
    if (text_.find('*') != std::string::npos && expanded(root, 0) > limits::kMaxValues) {
      dry_ = true;
      convert(root, "");  // throws LimitExceeded where the conversion below would
      dry_ = false;       // not reached while the two counts agree; if they ever do not, the conversion decides
      values_ = 0;
      walked_.clear();
    }
    return convert(root, "");
  }

  ConfigValue convert(const YAML::Node& n, const std::string& path) {
    ConfigValue v;
    v.location = where(n.Mark(), file_, line_offset_);
    const bool container = n.IsSequence() || n.IsMap();
    if (dry_ && container) {  // a shared container walked whole before: its values and depth are known
      const auto it = walked_.find(key_of(n));
      if (it != walked_.end() && it->second.node.is(n) && values_ + it->second.values <= limits::kMaxValues &&
          ancestors_.size() + it->second.height <= static_cast<size_t>(limits::kMaxDepth)) {
        values_ += it->second.values;
        height_ = it->second.height;
        return v;
      }
    }
    const uint64_t values_before = values_;
    if (++values_ > limits::kMaxValues) {
      fail(v.location, path,
           "the document has more than " + std::to_string(limits::kMaxValues) +
               " values (after expanding aliases) " + limits::named("input.max_values", limits::kMaxValues));
    }
    switch (n.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        v.kind = ConfigValue::Kind::kNull;
        height_ = 0;
        return v;
      case YAML::NodeType::Scalar:
        v.kind = ConfigValue::Kind::kScalar;
        check_scalar(n, path);
        if (!dry_) v.scalar = n.Scalar();
        height_ = 0;
        return v;
      case YAML::NodeType::Sequence:
      case YAML::NodeType::Map:
        break;
    }
    for (const auto& a : ancestors_) {
      if (a.is(n)) fail(v.location, path, "an alias refers to a value that contains it (a cycle)");
    }
    if (static_cast<int>(ancestors_.size()) >= limits::kMaxDepth) {
      fail(v.location, path,
           "mappings and lists nested deeper than " + std::to_string(limits::kMaxDepth) + " levels " +
               limits::named("input.max_depth", limits::kMaxDepth));
    }
    if (n.size() > limits::kMaxListItems) {
      fail(v.location, path,
           "a list or mapping of " + std::to_string(n.size()) + " items, more than allowed " +
               limits::named("input.max_list_items", limits::kMaxListItems));
    }
    ancestors_.push_back(n);
    int height = 0;  // of the containers below
    if (n.Type() == YAML::NodeType::Sequence) {
      v.kind = ConfigValue::Kind::kSeq;
      int i = 0;
      for (const auto& item : n) {
        ConfigValue child = convert(item, path + "[" + std::to_string(i++) + "]");
        height = std::max(height, height_);
        if (!dry_) v.children.push_back(std::move(child));
      }
    } else {
      v.kind = ConfigValue::Kind::kMap;
      std::set<std::string> seen;
      for (const auto& kv : n) {
        const SourceLocation kloc = where(kv.first.Mark(), file_, line_offset_);
        if (!kv.first.IsScalar()) {
          if (!dry_) diags_.add(kloc, path, "map keys must be plain names");
          continue;
        }
        check_scalar(kv.first, path);
        const std::string key = kv.first.Scalar();
        const std::string child_path = path.empty() ? key : path + "." + key;
        if (!seen.insert(key).second) {
          if (!dry_) diags_.add(kloc, child_path, "duplicate key '" + key + "'");
          continue;
        }
        ConfigValue child = convert(kv.second, child_path);
        height = std::max(height, height_);
        if (dry_) continue;
        child.key = key;
        child.key_location = kloc;
        if (child.kind == ConfigValue::Kind::kNull) child.location = kloc;
        v.children.push_back(std::move(child));
      }
    }
    ancestors_.pop_back();
    height_ = height + 1;
    if (dry_) walked_[key_of(n)] = {n, values_ - values_before, static_cast<size_t>(height_)};
    return v;
  }

 private:
  /// A container's identity for the memos: where it starts and its kind (checked with is(), so two nodes that share
  /// a key only miss the memo). An alias is the anchored node itself, with its mark.
  static int64_t key_of(const YAML::Node& n) {
    return static_cast<int64_t>(n.Mark().pos) * 4 + static_cast<int64_t>(n.Type());
  }

  /// The values the conversion would build (a container, its values, each first key's value of a map), counted
  /// once per shared container and no further than just past the limit. A cycle, or nesting past the depth limit,
  /// counts as past the limit: the dry walk then reports it as the conversion would.
  uint64_t expanded(const YAML::Node& n, int depth) {
    constexpr uint64_t kPast = limits::kMaxValues + 1;
    if (!n.IsSequence() && !n.IsMap()) return 1;
    if (depth > limits::kMaxDepth) return kPast;
    const int64_t key = key_of(n);
    const auto it = counted_.find(key);
    const bool mine = it == counted_.end() || it->second.first.is(n);
    if (it != counted_.end() && mine) return it->second.second;  // kPast while it is being counted: a cycle
    if (mine) counted_[key] = {n, kPast};
    uint64_t total = 1;
    if (n.IsSequence()) {
      for (const auto& item : n) {
        total += expanded(item, depth + 1);
        if (total > limits::kMaxValues) break;
      }
    } else {
      std::set<std::string> seen;
      for (const auto& kv : n) {
        if (!kv.first.IsScalar() || !seen.insert(kv.first.Scalar()).second) continue;
        total += expanded(kv.second, depth + 1);
        if (total > limits::kMaxValues) break;
      }
    }
    total = std::min(total, kPast);
    if (mine) counted_[key].second = total;
    return total;
  }

  [[noreturn]] void fail(const SourceLocation& loc, const std::string& path, const std::string& message) {
    throw LimitExceeded{{loc, path, message}};
  }

  void check_scalar(const YAML::Node& n, const std::string& path) {
    const SourceLocation loc = where(n.Mark(), file_, line_offset_);
    if (n.Scalar().size() > limits::kMaxScalarBytes) {
      fail(loc, path,
           "a value of " + std::to_string(n.Scalar().size()) + " bytes, longer than allowed " +
               limits::named("input.max_scalar_bytes", limits::kMaxScalarBytes));
    }
    // yaml-cpp accepts a quoted string that runs to the end of the text; YAML does not.
    const int pos = n.Mark().pos;
    if (n.Mark().is_null() || pos < 0 || static_cast<size_t>(pos) >= text_.size()) return;
    const char quote = text_[static_cast<size_t>(pos)];
    if (quote != '"' && quote != '\'') return;
    for (size_t i = static_cast<size_t>(pos) + 1; i < text_.size(); ++i) {
      if (quote == '"' && text_[i] == '\\') {
        ++i;
      } else if (text_[i] == quote) {
        if (quote == '\'' && i + 1 < text_.size() && text_[i + 1] == '\'') {
          ++i;
          continue;
        }
        return;
      }
    }
    if (!dry_) diags_.add(loc, path, std::string("invalid YAML: unterminated quoted string (no closing ") + quote + ")");
  }

  const std::string& text_;
  const std::string& file_;
  int line_offset_;
  Diagnostics& diags_;
  uint64_t values_ = 0;
  std::vector<YAML::Node> ancestors_;
  int height_ = 0;     // container levels of the value convert() returned last (0: a scalar or null)
  bool dry_ = false;   // convert_document's dry walk
  struct Walked {
    YAML::Node node;
    uint64_t values;  // the values its walk counted, itself included
    size_t height;
  };
  std::unordered_map<int64_t, Walked> walked_;                              // the dry walk's whole containers
  std::unordered_map<int64_t, std::pair<YAML::Node, uint64_t>> counted_;  // expanded()'s counts
};

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
  if (text.size() > limits::kMaxFileBytes) {
    throw InputError({{{source_name, 0, 0}, "",
                       "text of " + std::to_string(text.size()) + " bytes is larger than allowed " +
                           limits::named("input.max_file_bytes", limits::kMaxFileBytes)}});
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw InputError({{where(e.mark, source_name, line_offset), "", "invalid YAML: " + e.msg}});
  }
  Diagnostics diags;
  Converter converter(text, source_name, line_offset, diags);
  ConfigValue v;
  try {
    v = converter.convert_document(root);
  } catch (const LimitExceeded& e) {
    throw InputError({e.diagnostic});
  }
  diags.throw_if_any();
  return v;
}

ConfigValue load_yaml_file(const std::string& path) {
  ConfigValue v = parse_yaml_text(read_input_file(path, limits::kMaxFileBytes, "input.max_file_bytes"), path);
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
