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
  PartCatalog::get().describe_mapping(s, "accelerator");
  if (s.mode() == Section::Mode::kParse && accelerator.name.empty()) {
    s.error_here("a node needs an accelerator (a catalog name or a mapping)");
  }
  s.field("gpus", gpus, "accelerators in the node (one scale-up domain)", Range::between(1, 576));
  s.field("cpu_model", cpu_model, "host CPUs");
  s.field("cpu_cores", cpu_cores, "host CPU cores in all sockets", Range::at_least(0));
  s.field("host_op_time_factor", host_op_time_factor,
          "the host's time per framework operator (Python, PyTorch's dispatcher, the kernel launch) relative to a "
          "DGX H100 host's (2 x Xeon Platinum 8480C): workloads issue each kernel in host_op_time x this",
          Range::positive());
  if (s.mode() == Section::Mode::kParse) accelerator.host_op_time_factor = host_op_time_factor;
  s.field("host_memory", host_memory, "host DRAM capacity", Range::at_least(0));
  s.field("host_memory_bandwidth", host_memory_bandwidth, "host DRAM bandwidth, all channels", Range::at_least(0));
  s.field("pcie_generation", pcie_generation, "PCIe generation of GPU and NIC slots", Range::between(3, 7));
  s.field("pcie_lanes_per_gpu", pcie_lanes_per_gpu, "PCIe lanes to each accelerator", Range::between(0, 32));
  s.field("pcie_lanes_per_nic", pcie_lanes_per_nic, "PCIe lanes to each NIC", Range::between(0, 32));
  s.field("pcie_switches", pcie_switches,
          "PCIe switches, each shared by gpus / pcie_switches accelerators and their compute NICs (GPU g on switch "
          "g x pcie_switches / gpus) with one uplink to the host's root complex; 0 = one per accelerator",
          Range::between(0, 576));
  s.field("pcie_uplink_lanes", pcie_uplink_lanes, "PCIe lanes from each PCIe switch to the host's root complex",
          Range::between(1, 64));
  s.field("pcie_latency", pcie_latency, "latency of one PCIe hop (through a PCIe switch)", Range::at_least(0));
  s.field("gpu_host_link_bandwidth", gpu_host_link_bandwidth,
          "the accelerator's own link to the host where it is not PCIe (e.g. NVLink-C2C), per direction; 0 = "
          "pcie_lanes_per_gpu of PCIe",
          Range::at_least(0));
  s.list("nics", "NIC groups, each on one network plane", nics, [](Section& n, NicGroup& g) { g.visit(n); });
  s.choice("storage_nic_attach", storage_nic_attach, {"separate", "gpu_nic"},
           "where storage traffic leaves the node: separate: its storage-plane NICs on the host's root complex; "
           "gpu_nic: converged, through each GPU's own compute NIC port behind its PCIe switch (one Ethernet NIC "
           "for collectives and storage, as many clouds build it; host memory reaches it over the switch's "
           "uplink), so storage I/O and collectives share that port");
  s.field("nvme_capacity", nvme_capacity, "local NVMe capacity", Range::at_least(0));
  s.field("nvme_read_bandwidth", nvme_read_bandwidth, "local NVMe read bandwidth, all drives", Range::at_least(0));
  s.field("nvme_write_bandwidth", nvme_write_bandwidth, "local NVMe write bandwidth, all drives",
          Range::at_least(0));
  s.field("overhead_power", overhead_power, "power of everything but the accelerators when busy",
          Range::at_least(0));
  s.field("overhead_idle_power", overhead_idle_power, "the same when idle", Range::at_least(0));
  s.field("source", source, "where the numbers come from");
  if (s.mode() != Section::Mode::kParse || storage_nic_attach != "gpu_nic") return;
  bool compute = false, storage = false;
  for (const auto& g : nics) {
    compute = compute || g.plane == "compute";
    storage = storage || g.plane == "storage";
  }
  if (storage) {
    s.error("storage_nic_attach", "gpu_nic sends storage traffic through the compute NICs, but nics lists a "
                                  "storage-plane group: remove it, or use storage_nic_attach: separate");
  } else if (!compute) {
    s.error("storage_nic_attach", "gpu_nic needs compute-plane NICs in nics");
  } else if (gpu_link_bandwidth().bps() <= 0) {
    s.error("storage_nic_attach", "gpu_nic needs the GPU's PCIe path (pcie_lanes_per_gpu > 0)");
  }
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

Bandwidth NodeSpec::gpu_link_bandwidth() const {
  return gpu_host_link_bandwidth.bps() > 0 ? gpu_host_link_bandwidth : pcie_bandwidth(pcie_lanes_per_gpu);
}

Bandwidth NodeSpec::compute_nic_pcie_per_gpu() const {
  int count = 0;
  for (const auto& g : nics) {
    if (g.plane == "compute") count += g.count;
  }
  return Bandwidth::bytes_per_s(pcie_bandwidth(pcie_lanes_per_nic).bps() * count / gpus);
}

Bandwidth NodeSpec::pcie_uplink_bandwidth() const {
  if (gpu_host_link_bandwidth.bps() > 0) {
    const int switches = pcie_switch_count();
    return gpu_host_link_bandwidth * static_cast<double>((gpus + switches - 1) / switches);
  }
  return pcie_bandwidth(pcie_uplink_lanes);
}

const NodeCatalog& NodeCatalog::get() {
  static const NodeCatalog catalog;
  return catalog;
}

}  // namespace lcsim::hw
