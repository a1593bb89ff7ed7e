#include "models/hardware/node.h"

#include <algorithm>
#include <cmath>

#include "models/hardware/catalog.h"

namespace lcsim::hw {

void NicGroup::visit(Section& s) {
  s.field("count", count, "NIC ports in this group", Range::at_least(1));
  s.field("bandwidth", bandwidth, "bandwidth per port, per direction", Range::positive());
  s.choice("plane", plane, {"compute", "storage", "frontend", "management"}, "network plane the ports attach to");
}

void NodeSpec::visit(Section& s) {
  s.field("name", name, "template name");
  s.field("description", description, "what this node is");
  s.custom(
      "accelerator", "accelerator part: a catalog name, or a mapping (base: NAME plus overrides, or a whole part)",
      "name or mapping", accelerator.name,
      [&](const ConfigValue& v) {
        accelerator = PartCatalog::get().resolve(v, s.child_path("accelerator"), *s.diagnostics());
      },
      [&] { return PartCatalog::get().to_config(accelerator); });
  s.describe_mapping("accelerator", [](Section& a) {
    AcceleratorSpec example = PartCatalog::get().part("H100-SXM-80GB");
    a.docs_note("base", "string", "a catalog part to start from; the other keys override it");
    a.docs_note("file", "string", "a part defined in its own YAML file (catalog format), relative to this file");
    a.docs_note("calibration_file", "string", "a file written by lcsim calibrate (relative to this file)");
    example.visit(a);
  });
  if (s.mode() == Section::Mode::kParse && accelerator.name.empty()) {
    s.error_here("a node needs an accelerator (a catalog name or a mapping)");
  }
  s.field("gpus", gpus, "accelerators in the node (one scale-up domain)", Range::between(1, 576));
  s.field("cpu_model", cpu_model, "host CPUs");
  s.field("cpu_cores", cpu_cores, "host CPU cores in all sockets", Range::at_least(0));
  s.field("host_memory", host_memory, "host DRAM capacity", Range::at_least(0));
  s.field("host_memory_bandwidth", host_memory_bandwidth, "host DRAM bandwidth, all channels", Range::at_least(0));
  s.field("pcie_generation", pcie_generation, "PCIe generation of GPU and NIC slots", Range::between(3, 7));
  s.field("pcie_lanes_per_gpu", pcie_lanes_per_gpu, "PCIe lanes to each accelerator", Range::between(0, 32));
  s.field("pcie_lanes_per_nic", pcie_lanes_per_nic, "PCIe lanes to each NIC", Range::between(0, 32));
  s.list("nics", "NIC groups, each on one network plane", nics, [](Section& n, NicGroup& g) { g.visit(n); });
  s.field("nvme_capacity", nvme_capacity, "local NVMe capacity", Range::at_least(0));
  s.field("nvme_read_bandwidth", nvme_read_bandwidth, "local NVMe read bandwidth, all drives", Range::at_least(0));
  s.field("nvme_write_bandwidth", nvme_write_bandwidth, "local NVMe write bandwidth, all drives",
          Range::at_least(0));
  s.field("overhead_power", overhead_power, "power of everything but the accelerators when busy",
          Range::at_least(0));
  s.field("overhead_idle_power", overhead_idle_power, "the same when idle", Range::at_least(0));
  s.field("source", source, "where the numbers come from");
}

Bandwidth NodeSpec::pcie_bandwidth(int lanes) const {
  // PCIe 3.0: 8 GT/s with 128b/130b coding = 0.985 GB/s per lane per direction; each generation doubles.
  return Bandwidth::gbytes_per_s(0.985 * lanes * std::pow(2.0, pcie_generation - 3));
}

Bandwidth NodeSpec::compute_nic_bandwidth_per_gpu() const {
  double total = 0;
  for (const auto& g : nics) {
    if (g.plane == "compute") total += g.count * g.bandwidth.bps();
  }
  return Bandwidth::bytes_per_s(total / gpus);
}

NodeCatalog::NodeCatalog() {
  Diagnostics diags;
  for (const auto& f : embedded_catalog_files()) {
    const std::string path(f.path);
    if (path.rfind("nodes/", 0) != 0) continue;
    ConfigValue tree = parse_yaml_text(f.text, "models/hardware/catalog/" + path);
    NodeSpec spec;
    Section s = Section::parser(&tree, "", &diags);
    spec.visit(s);
    s.finish();
    nodes_.push_back(spec);
    trees_.push_back(std::move(tree));
  }
  diags.throw_if_any();
}

const NodeCatalog& NodeCatalog::get() {
  static const NodeCatalog catalog;
  return catalog;
}

std::vector<std::string> NodeCatalog::names() const {
  std::vector<std::string> out;
  for (const auto& n : nodes_) out.push_back(n.name);
  std::sort(out.begin(), out.end());
  return out;
}

const NodeSpec& NodeCatalog::node(const std::string& name) const {
  for (const auto& n : nodes_) {
    if (n.name == name) return n;
  }
  throw InputError(unknown_name_message("node template", name, names()));
}

ConfigValue NodeCatalog::to_config(const NodeSpec& spec) const {
  auto emit = [](NodeSpec n) {
    ConfigValue v;
    Section e = Section::emitter("", &v);
    n.visit(e);
    return v;
  };
  ConfigValue full = emit(spec);
  for (const auto& n : nodes_) {
    if (n.name == spec.name && emit_yaml(emit(n)) == emit_yaml(full)) {
      ConfigValue name;
      name.kind = ConfigValue::Kind::kScalar;
      name.scalar = spec.name;
      return name;
    }
  }
  return full;
}

NodeSpec NodeCatalog::resolve(const ConfigValue& value, const std::string& path, Diagnostics& diags) const {
  if (value.is_scalar()) {
    for (const auto& n : nodes_) {
      if (n.name == value.scalar) return n;
    }
    diags.add(value.location, path, unknown_name_message("node template", value.scalar, names()));
    return NodeSpec{};
  }
  if (!value.is_map()) {
    diags.add(value.location, path, "expected a node template name or a mapping that defines a node");
    return NodeSpec{};
  }
  ConfigValue merged;
  merged.kind = ConfigValue::Kind::kMap;
  ConfigValue overlay = value;
  if (const ConfigValue* base = value.find("base")) {
    bool found = false;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (base->is_scalar() && nodes_[i].name == base->scalar) {
        merged = trees_[i];
        found = true;
      }
    }
    if (!found) {
      diags.add(base->location, path + ".base",
                unknown_name_message("node template", base->is_scalar() ? base->scalar : "?", names()));
      return NodeSpec{};
    }
    std::erase_if(overlay.children, [](const ConfigValue& c) { return c.key == "base"; });
  }
  merge_into(merged, overlay);
  NodeSpec spec;
  Section s = Section::parser(&merged, path, &diags);
  spec.visit(s);
  s.finish();
  return spec;
}

}  // namespace lcsim::hw
