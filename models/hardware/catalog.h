// The built-in accelerator parts (models/hardware/catalog/accelerators/*.yaml, compiled in), and how a scenario's
// accelerator value resolves: a name, `base: NAME` or `file: PATH` plus overrides, and `calibration_file:` (a
// file written by `lcsim calibrate`). Node templates: node.h.
#pragma once

#include <string>
#include <vector>

#include "models/hardware/accelerator.h"
#include "models/hardware/spec_catalog.h"

namespace lcsim::hw {

class PartCatalog {
 public:
  /// The built-in catalog (parsed once; a broken catalog file is reported as an InputError naming it).
  static const PartCatalog& get();

  std::vector<std::string> names() const { return specs_.names(); }
  bool contains(const std::string& name) const { return specs_.contains(name); }
  const AcceleratorSpec& part(const std::string& name) const { return specs_.get(name); }
  const std::vector<AcceleratorSpec>& parts() const { return specs_.all(); }
  /// Parts parsed so far (tests: a run parses the ones it uses).
  size_t parsed() const { return specs_.parsed(); }
  /// A scenario's value for an accelerator. Problems go to `diags` under `path`.
  AcceleratorSpec resolve(const ConfigValue& value, const std::string& path, Diagnostics& diags) const;
  ConfigValue to_config(const AcceleratorSpec& spec) const { return specs_.to_config(spec); }
  /// Describe mode: the mapping form of an accelerator value at `key`.
  void describe_mapping(Section& s, const std::string& key) const;

 private:
  PartCatalog() : specs_("accelerators", "accelerator") {}
  SpecCatalog<AcceleratorSpec> specs_;
};

}  // namespace lcsim::hw
