// Node model: the accelerators of one server or rack-scale domain and the host around them (CPUs, host
// memory, PCIe, NICs and the network plane each attaches to, local NVMe, non-accelerator power). Templates live
// in models/hardware/catalog/nodes/*.yaml; a scenario names one, derives one (`base:` plus overrides) or
// defines one inline.
#pragma once

#include <string>
#include <vector>

#include "models/hardware/accelerator.h"
#include "models/hardware/spec_catalog.h"

namespace lcsim::hw {

struct NicGroup {
  int count = 8;
  Bandwidth bandwidth = Bandwidth::gbits_per_s(400);
  std::string plane = "compute";  // compute, storage, frontend, management
  void visit(Section& s);
};

struct NodeSpec {
  std::string name = "generic";
  std::string description;
  AcceleratorSpec accelerator;  // resolved part
  int gpus = 8;
  std::string cpu_model;
  int cpu_cores = 0;
  /// The host's time per framework operator (Python, PyTorch's dispatcher, the kernel launch) relative to a DGX
  /// H100 host's (2 x Xeon Platinum 8480C), which the workloads' host_op_time is measured or fitted on: they issue
  /// each kernel in host_op_time x this (docs/calibration.md, "Framework overhead"). Copied into the accelerator.
  double host_op_time_factor = 1;
  Bytes host_memory;
  Bandwidth host_memory_bandwidth;
  int pcie_generation = 5;
  int pcie_lanes_per_gpu = 16;
  int pcie_lanes_per_nic = 16;
  /// PCIe switches shared by GPU + NIC pairs: GPU g and its compute NICs sit on switch g * switches / gpus,
  /// each switch has one uplink to the host's root complex. 0 = one per GPU.
  int pcie_switches = 0;
  int pcie_uplink_lanes = 16;                // lanes from each PCIe switch to the root complex
  Duration pcie_latency = Duration::ns(115);  // one PCIe switch hop (Broadcom PEX89000 Gen5: 115 ns)
  /// The accelerator's own link to the host where it is not PCIe (GB200's NVLink-C2C to Grace); 0 = PCIe
  /// (pcie_lanes_per_gpu of pcie_generation).
  Bandwidth gpu_host_link_bandwidth;
  std::vector<NicGroup> nics;
  /// Where storage traffic leaves the node: separate (its own storage-plane NICs on the root complex) or gpu_nic
  /// (one converged NIC per GPU: storage goes through the GPU's own compute NIC port, behind its PCIe switch).
  std::string storage_nic_attach = "separate";
  Bytes nvme_capacity;
  Bandwidth nvme_read_bandwidth;
  Bandwidth nvme_write_bandwidth;
  Power overhead_power;       // everything but the accelerators (CPUs, NICs, fans, drives) when busy
  Power overhead_idle_power;  // the same when idle
  std::string source;

  void visit(Section& s);
  /// PCIe bandwidth per direction of `lanes` lanes of this node's generation (PCIe 3: ~0.985 GB/s per lane,
  /// doubling per generation).
  Bandwidth pcie_bandwidth(int lanes) const;
  /// Compute-plane NIC bandwidth per accelerator (0 when the node has no compute-plane NICs).
  Bandwidth compute_nic_bandwidth_per_gpu() const;
  /// Each accelerator's link to its PCIe switch (or its own host link); 0 when it has none.
  Bandwidth gpu_link_bandwidth() const;
  /// The PCIe bandwidth of one accelerator's share of the compute NICs (their own x16 slots), which caps its
  /// NIC port; 0 when the node has no compute-plane NICs.
  Bandwidth compute_nic_pcie_per_gpu() const;
  /// Each PCIe switch's uplink to the root complex: pcie_uplink_lanes of PCIe, or, where the accelerator has
  /// its own host link, that link times the accelerators on the switch.
  Bandwidth pcie_uplink_bandwidth() const;
  int pcie_switch_count() const { return pcie_switches > 0 ? pcie_switches : gpus; }
};

class NodeCatalog {
 public:
  static const NodeCatalog& get();
  std::vector<std::string> names() const { return specs_.names(); }
  const NodeSpec& node(const std::string& name) const { return specs_.get(name); }
  const std::vector<NodeSpec>& nodes() const { return specs_.all(); }
  /// The first template (catalog order) with this accelerator and at least one of it; parses templates only up to
  /// it. nullptr if none.
  const NodeSpec* first_with_part(const std::string& part) const {
    return specs_.find_first([&](const NodeSpec& n) { return n.accelerator.name == part && n.gpus > 0; });
  }
  /// Templates parsed so far (tests: a run parses the ones it uses).
  size_t parsed() const { return specs_.parsed(); }
  /// A scenario's node value: a template name, or a mapping (`base: NAME` or `file: PATH` plus overrides).
  NodeSpec resolve(const ConfigValue& value, const std::string& path, Diagnostics& diags) const {
    return specs_.resolve(value, path, diags);
  }
  ConfigValue to_config(const NodeSpec& spec) const { return specs_.to_config(spec); }
  void describe_mapping(Section& s, const std::string& key) const { specs_.describe_mapping(s, key); }

 private:
  NodeCatalog() : specs_("nodes", "node template") {}
  SpecCatalog<NodeSpec> specs_;
};

}  // namespace lcsim::hw
