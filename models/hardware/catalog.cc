#include "models/hardware/catalog.h"

namespace lcsim::hw {

const PartCatalog& PartCatalog::get() {
  static const PartCatalog catalog;
  return catalog;
}

AcceleratorSpec PartCatalog::resolve(const ConfigValue& value, const std::string& path, Diagnostics& diags) const {
  if (value.is_map() && !value.find("base") && !value.find("file") && !value.find("name")) {
    diags.add(value.location, path + ".name", "an inline part needs a name (or base: NAME to derive one)");
  }
  return specs_.resolve(value, path, diags, [](const ConfigValue& v, ConfigValue& merged, ConfigValue& overlay,
                                               const std::string& p, Diagnostics& d) {
    // A derived part is a new part: it gets its own name unless the overrides give one.
    const ConfigValue* base = v.find("base");
    if (base && !overlay.find("name")) {
      ConfigValue n;
      n.kind = ConfigValue::Kind::kScalar;
      n.scalar = base->scalar + " (derived)";
      n.location = base->location;
      merged.set("name", n);
    }
    // A derived part that sets the flat attention_efficiency without a curve of its own runs at that figure: the
    // base's sequence-length curve (attention_forward_* / attention_backward_*) would otherwise overrule it unseen,
    // and it is no longer the base's named kernel (its other kernels stay for a run that names one).
    const ConfigValue* oc = overlay.find("calibration");
    ConfigValue* mc = merged.find("calibration");
    if (oc && mc && oc->is_map() && mc->is_map() && oc->find("attention_efficiency") &&
        !oc->find("attention_forward_efficiency")) {
      std::erase_if(mc->children, [](const ConfigValue& c) {
        return c.key.starts_with("attention_forward_") || c.key.starts_with("attention_backward_") ||
               c.key == "attention_backend";
      });
    }
    const ConfigValue* cf = overlay.find("calibration_file");
    if (!cf) return;
    const std::string where = relative_to_source(*cf).string();
    const std::string problem =
        cf->is_scalar() ? input_file_problem(where, limits::kMaxFileBytes, "input.max_file_bytes")
                        : "expected a file path";
    if (!problem.empty()) {
      d.add(cf->location, p + ".calibration_file",
            cf->is_scalar() ? "'" + cf->scalar + "': " + problem + " (looked for " + where + ")" : problem);
      std::erase_if(overlay.children, [](const ConfigValue& c) { return c.key == "calibration_file"; });
      return;
    }
    try {
      const ConfigValue cal = load_yaml_file(where);
      const ConfigValue* part = cal.find("part");
      const ConfigValue* values = cal.find("calibration");
      if (!values || !values->is_map()) {
        d.add(cf->location, p + ".calibration_file", "'" + cf->scalar + "' has no calibration mapping");
      } else if (part && base && part->scalar != base->scalar) {
        d.add(cf->location, p + ".calibration_file",
              "'" + cf->scalar + "' calibrates " + part->scalar + ", not " + base->scalar);
      } else {
        ConfigValue wrapper;
        wrapper.kind = ConfigValue::Kind::kMap;
        wrapper.set("calibration", *values);
        merge_into(merged, wrapper);
      }
    } catch (const InputError& e) {
      for (const auto& diag : e.diagnostics()) d.add(diag);
    }
    std::erase_if(overlay.children, [](const ConfigValue& c) { return c.key == "calibration_file"; });
  });
}

void PartCatalog::describe_mapping(Section& s, const std::string& key) const {
  specs_.describe_mapping(s, key);
  s.describe_mapping(key, [](Section& m) {
    m.docs_note("calibration_file", "string", "a file written by lcsim calibrate (relative to this file)");
  });
}

}  // namespace lcsim::hw
