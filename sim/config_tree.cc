#include <filesystem>
#include <set>

#include "sim/config_tree.h"
#include "sim/input_file.h"
#include "sim/limits.h"

namespace lcsim {

const ConfigValue* ConfigValue::find(const std::string& k) const {
  for (const auto& c : children) {
    if (c.key == k) return &c;
  }
  return nullptr;
}

ConfigValue* ConfigValue::find(const std::string& k) {
  for (auto& c : children) {
    if (c.key == k) return &c;
  }
  return nullptr;
}

ConfigValue& ConfigValue::set(const std::string& k, ConfigValue v) {
  v.key = k;
  if (ConfigValue* existing = find(k)) {
    *existing = std::move(v);
    return *existing;
  }
  children.push_back(std::move(v));
  return children.back();
}

void merge_into(ConfigValue& base, const ConfigValue& top) {
  if (base.kind != ConfigValue::Kind::kMap || top.kind != ConfigValue::Kind::kMap) {
    const std::string key = base.key;
    const SourceLocation key_location = base.key_location;
    base = top;
    if (!key.empty()) base.key = key;
    if (top.key_location.file.empty()) base.key_location = key_location;
    return;
  }
  for (const auto& c : top.children) {
    if (ConfigValue* b = base.find(c.key)) {
      merge_into(*b, c);
      b->key_location = c.key_location;
    } else {
      base.children.push_back(c);
    }
  }
  base.location = top.location;
}

namespace {

ConfigValue load_layered_impl(const std::filesystem::path& path, std::vector<std::string>& chain) {
  std::error_code ec;
  std::string canonical = std::filesystem::weakly_canonical(path, ec).string();
  if (ec) canonical = path.lexically_normal().string();
  for (const auto& c : chain) {
    if (c == canonical) {
      std::string cycle;
      for (const auto& x : chain) cycle += x + " -> ";
      throw InputError({{{path.string(), 0, 0}, "base", "scenarios build on each other in a cycle: " + cycle + canonical}});
    }
  }
  if (chain.size() >= static_cast<size_t>(limits::kMaxBaseChain)) {
    throw InputError({{{path.string(), 0, 0}, "base",
                       "more than " + std::to_string(limits::kMaxBaseChain) + " files build on each other " +
                           limits::named("input.max_base_chain", limits::kMaxBaseChain)}});
  }
  chain.push_back(canonical);
  ConfigValue top = load_yaml_file(path.string());
  if (!top.is_map()) {
    throw InputError({{top.location, "", "a scenario file must be a mapping of keys to values"}});
  }
  const ConfigValue* base_key = top.find("base");
  if (!base_key) return top;
  if (!base_key->is_scalar()) throw InputError({{base_key->location, "base", "expected a file path"}});
  std::filesystem::path base_path = base_key->scalar;
  if (base_path.is_relative()) base_path = path.parent_path() / base_path;
  const std::string problem = input_file_problem(base_path.string(), limits::kMaxFileBytes, "input.max_file_bytes");
  if (problem == "file not found") {
    throw InputError({{base_key->location, "base", "file not found: '" + base_key->scalar + "' (looked for " +
                                                       base_path.lexically_normal().string() + ")"}});
  }
  if (!problem.empty()) throw InputError({{base_key->location, "base", "'" + base_key->scalar + "': " + problem}});
  ConfigValue merged = load_layered_impl(base_path, chain);
  ConfigValue overlay = top;
  std::erase_if(overlay.children, [](const ConfigValue& c) { return c.key == "base"; });
  merge_into(merged, overlay);
  return merged;
}

}  // namespace

ConfigValue load_layered(const std::string& path) {
  std::vector<std::string> chain;
  return load_layered_impl(path, chain);
}

void apply_override(ConfigValue& root, const std::string& assignment) {
  const std::string where = "--set '" + assignment + "'";
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw InputError({{{where, 0, 0}, "", "expected KEY=VALUE, e.g. --set simulation.seed=7"}});
  }
  const std::string path = assignment.substr(0, eq);
  ConfigValue value = parse_yaml_text(assignment.substr(eq + 1), where);
  if (value.kind == ConfigValue::Kind::kNull) value.kind = ConfigValue::Kind::kScalar;  // "--set k=" sets ""
  auto stamp = [&](auto& self, ConfigValue& v) -> void {
    v.location = {where, 0, 0};
    v.key_location = {where, 0, 0};
    for (auto& c : v.children) self(self, c);
  };
  stamp(stamp, value);
  ConfigValue* node = &root;
  size_t start = 0;
  while (true) {
    const auto dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) throw InputError({{{where, 0, 0}, path, "empty key segment"}});
    if (node->kind != ConfigValue::Kind::kMap) {
      if (node->kind != ConfigValue::Kind::kNull) {
        throw InputError({{{where, 0, 0}, path, "cannot set a key inside a value that is not a mapping"}});
      }
      node->kind = ConfigValue::Kind::kMap;
    }
    if (dot == std::string::npos) {
      value.key = part;
      ConfigValue* existing = node->find(part);
      if (existing && existing->is_map() && value.is_map()) {
        merge_into(*existing, value);
      } else {
        node->set(part, value);
      }
      return;
    }
    // "jobs[1]": an item of a list that is already there (lists are replaced whole otherwise).
    if (const auto open = part.find('['); open != std::string::npos && part.back() == ']' && open > 0) {
      const std::string key = part.substr(0, open), index = part.substr(open + 1, part.size() - open - 2);
      ConfigValue* list = node->find(key);
      if (!list || list->kind != ConfigValue::Kind::kSeq) {
        throw InputError({{{where, 0, 0}, path, "'" + key + "' is not a list in this scenario, so '" + part +
                                                    "' names nothing"}});
      }
      if (index.empty() || index.size() > 9 || index.find_first_not_of("0123456789") != std::string::npos ||
          std::stoul(index) >= list->children.size()) {
        throw InputError({{{where, 0, 0}, path, "'" + key + "' has items 0.." +
                                                    std::to_string(list->children.size() - 1) + "; got [" + index +
                                                    "]"}});
      }
      node = &list->children[std::stoul(index)];
      start = dot + 1;
      continue;
    }
    ConfigValue* next = node->find(part);
    if (!next) {
      ConfigValue fresh;
      fresh.kind = ConfigValue::Kind::kMap;
      fresh.location = {where, 0, 0};
      fresh.key_location = {where, 0, 0};
      next = &node->set(part, fresh);
    }
    node = next;
    start = dot + 1;
  }
}

}  // namespace lcsim
