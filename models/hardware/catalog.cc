#include "models/hardware/catalog.h"

#include <algorithm>
#include <filesystem>

namespace lcsim::hw {

PartCatalog::PartCatalog() {
  Diagnostics diags;
  for (const auto& f : embedded_catalog_files()) {
    const std::string path(f.path);
    if (path.rfind("accelerators/", 0) != 0) continue;
    ConfigValue tree = parse_yaml_text(f.text, "models/hardware/catalog/" + path);
    AcceleratorSpec spec;
    Section s = Section::parser(&tree, "", &diags);
    spec.visit(s);
    s.finish();
    parts_.push_back(spec);
    trees_.push_back(std::move(tree));
  }
  diags.throw_if_any();
}

const PartCatalog& PartCatalog::get() {
  static const PartCatalog catalog;
  return catalog;
}

std::vector<std::string> PartCatalog::names() const {
  std::vector<std::string> out;
  for (const auto& p : parts_) out.push_back(p.name);
  std::sort(out.begin(), out.end());
  return out;
}

bool PartCatalog::contains(const std::string& name) const {
  return std::any_of(parts_.begin(), parts_.end(), [&](const AcceleratorSpec& p) { return p.name == name; });
}

const AcceleratorSpec& PartCatalog::part(const std::string& name) const {
  for (const auto& p : parts_) {
    if (p.name == name) return p;
  }
  throw InputError(unknown_name_message("accelerator", name, names()));
}

ConfigValue PartCatalog::to_config(const AcceleratorSpec& spec) const {
  auto emit = [](AcceleratorSpec a) {
    ConfigValue v;
    Section e = Section::emitter("", &v);
    a.visit(e);
    return v;
  };
  ConfigValue full = emit(spec);
  if (contains(spec.name) && emit_yaml(emit(part(spec.name))) == emit_yaml(full)) {
    ConfigValue name;
    name.kind = ConfigValue::Kind::kScalar;
    name.scalar = spec.name;
    return name;
  }
  return full;
}

AcceleratorSpec PartCatalog::resolve(const ConfigValue& value, const std::string& path, Diagnostics& diags) const {
  if (value.is_scalar()) {
    if (contains(value.scalar)) return part(value.scalar);
    diags.add(value.location, path, unknown_name_message("accelerator", value.scalar, names()));
    return parts_.front();
  }
  if (!value.is_map()) {
    diags.add(value.location, path, "expected a catalog part name or a mapping that defines a part");
    return parts_.front();
  }
  ConfigValue merged;
  merged.kind = ConfigValue::Kind::kMap;
  merged.location = value.location;
  ConfigValue overlay = value;
  auto relative = [](const ConfigValue& v) {
    std::filesystem::path file = v.scalar;
    if (file.is_relative() && !v.location.file.empty() && v.location.line > 0) {
      file = std::filesystem::path(v.location.file).parent_path() / file;
    }
    return file;
  };
  // file: a part defined in its own YAML file (the catalog's format), relative to the file that names it.
  if (const ConfigValue* file = value.find("file")) {
    if (value.find("base")) {
      diags.add(file->location, path + ".file", "give either file or base, not both");
      return parts_.front();
    }
    try {
      merged = load_yaml_file(relative(*file).string());
    } catch (const InputError& e) {
      for (const auto& d : e.diagnostics()) diags.add(d);
      return parts_.front();
    }
    std::erase_if(overlay.children, [](const ConfigValue& c) { return c.key == "file"; });
  } else if (const ConfigValue* base = value.find("base")) {
    bool found = false;
    for (size_t i = 0; i < parts_.size(); ++i) {
      if (base->is_scalar() && parts_[i].name == base->scalar) {
        merged = trees_[i];
        found = true;
      }
    }
    if (!found) {
      diags.add(base->location, path + ".base",
                unknown_name_message("accelerator", base->is_scalar() ? base->scalar : "?", names()));
      return parts_.front();
    }
    std::erase_if(overlay.children, [](const ConfigValue& c) { return c.key == "base"; });
    // A derived part is a new part: it needs its own name unless the overrides give one.
    if (!overlay.find("name")) {
      ConfigValue n;
      n.kind = ConfigValue::Kind::kScalar;
      n.scalar = base->scalar + " (derived)";
      n.location = base->location;
      merged.set("name", n);
    }
  } else if (!value.find("name")) {
    diags.add(value.location, path + ".name", "an inline part needs a name (or base: NAME to derive one)");
  }
  // calibration_file: a file written by `lcsim calibrate`, relative to the file that names it.
  if (const ConfigValue* cf = overlay.find("calibration_file")) {
    const std::filesystem::path file = relative(*cf);
    try {
      const ConfigValue cal = load_yaml_file(file.string());
      const ConfigValue* part = cal.find("part");
      const ConfigValue* values = cal.find("calibration");
      const ConfigValue* name = merged.find("name");
      if (!values || !values->is_map()) {
        diags.add(cf->location, path + ".calibration_file", "'" + cf->scalar + "' has no calibration mapping");
      } else if (part && name && value.find("base") && part->scalar != value.find("base")->scalar) {
        diags.add(cf->location, path + ".calibration_file",
                  "'" + cf->scalar + "' calibrates " + part->scalar + ", not " + value.find("base")->scalar);
      } else {
        ConfigValue wrapper;
        wrapper.kind = ConfigValue::Kind::kMap;
        wrapper.set("calibration", *values);
        merge_into(merged, wrapper);
      }
    } catch (const InputError& e) {
      for (const auto& d : e.diagnostics()) diags.add(d);
    }
    std::erase_if(overlay.children, [](const ConfigValue& c) { return c.key == "calibration_file"; });
  }
  merge_into(merged, overlay);
  AcceleratorSpec spec;
  Section s = Section::parser(&merged, path, &diags);
  spec.visit(s);
  s.finish();
  return spec;
}

}  // namespace lcsim::hw
