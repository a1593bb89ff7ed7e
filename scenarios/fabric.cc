// The fabric of a cluster: its inputs, its build, its switch ports, and the cache that shares built fabrics.
#include "scenarios/fabric.h"

#include <algorithm>
#include <map>
#include <set>

#include "scenarios/catalog.h"
#include "scenarios/scenario.h"
#include "sim/error.h"

namespace lcsim {

FabricInputs fabric_inputs(const ClusterConfig& cl) {
  FabricInputs in{cl.topology, cl.fabric, cl.explicit_topology, {}};
  for (const auto& pool : cl.pools) {
    std::map<std::string, Bandwidth> other;
    for (const auto& g : pool.node.nics) {
      if (g.plane != "compute") other[g.plane] += g.bandwidth * static_cast<double>(g.count);
    }
    const hw::NodeSpec& n = pool.node;
    // The path from each GPU to its NICs and host (PCIe switches, root complex, host memory), where the template
    // gives the GPU a link.
    net::HostIo io;
    if (n.gpu_link_bandwidth().bps() > 0) {
      io = {n.gpu_link_bandwidth(), n.compute_nic_pcie_per_gpu(), static_cast<uint32_t>(n.pcie_switch_count()),
            n.pcie_uplink_bandwidth(), n.host_memory_bandwidth, n.pcie_latency, n.storage_nic_attach == "gpu_nic"};
    }
    const net::NodeShape shape{static_cast<uint32_t>(n.gpus), n.accelerator.scale_up_bandwidth,
                               n.compute_nic_bandwidth_per_gpu(), n.accelerator.scale_up_reduction,
                               {other.begin(), other.end()}, io,
                               static_cast<uint32_t>(n.accelerator.scale_up_links())};
    in.nodes.insert(in.nodes.end(), static_cast<size_t>(std::max(pool.count, 0)), shape);  // the pool's nodes alike
  }
  // A parallel file system's servers sit on the storage network with their own NICs.
  if (cl.storage.parallel_fs.servers > 0) {
    in.fabric.storage_servers = cl.storage.parallel_fs.servers;
    in.fabric.storage_server_bandwidth = cl.storage.parallel_fs.server_network;
    in.fabric.storage_server_read = cl.storage.parallel_fs.server_read;
    in.fabric.storage_server_write = cl.storage.parallel_fs.server_write;
  }
  in.fabric.host_copy = cl.storage.host_copy_bandwidth;  // staging: each host's CPU copy, a link of the topology
  return in;
}

std::unique_ptr<net::Topology> build_fabric(const FabricInputs& in) {
  std::unique_ptr<net::Topology> fabric =
      Catalog::get().topologies.get(in.topology).factory({in.fabric, in.explicit_topology, in.nodes});
  for (const auto& name : in.fabric.failed) {
    if (!fabric->fail(name)) {
      throw InputError({{SourceLocation{}, "cluster.fabric.failed",
                         "no link or switch named '" + name +
                             "' (switches: leaf0.., spine0..; links: leafL.spineS.up/down, nN.gpuG.nic_up/nic_down, "
                             "...)"}});
    }
  }
  return fabric;
}

std::unique_ptr<net::Topology> build_fabric(const ClusterConfig& cl) { return build_fabric(fabric_inputs(cl)); }

int fabric_switch_ports(const net::Topology& topology) {
  static const std::set<std::string> not_fabric = {"gpu", "scale_up_switch", "host", "storage_server", "nic",
                                                   "pcie_switch", "cpu", "root_complex", "nvme"};
  std::vector<bool> fabric;
  for (const auto& v : topology.vertices()) {
    const bool service = v.kind.size() > 7 && v.kind.compare(v.kind.size() - 7, 7, "_switch") == 0;
    fabric.push_back(!service && !not_fabric.count(v.kind));
  }
  int ports = 0;
  for (const auto& l : topology.links()) ports += fabric[l.from] ? 1 : 0;
  return ports;
}


FabricTables fabric_tables(const net::Topology& topology) {
  FabricTables t;
  t.switch_ports = fabric_switch_ports(topology);
  const auto& links = topology.links();
  std::map<std::string, uint32_t> index;
  for (const auto& l : links) index.emplace(l.tier, 0);
  for (auto& [tier, i] : index) {
    i = static_cast<uint32_t>(t.tiers.size());
    t.tiers.push_back(tier);
  }
  t.tier_links.assign(t.tiers.size(), 0);
  std::map<int, std::vector<uint32_t>> uplinks;
  for (uint32_t l = 0; l < links.size(); ++l) {
    t.tier_of.push_back(index.at(links[l].tier));
    ++t.tier_links[t.tier_of.back()];
    if (links[l].tier == "nic" && links[l].name.find("nic_up") != std::string::npos) {
      uplinks[links[l].plane].push_back(l);
    }
  }
  t.plane_uplinks.assign(uplinks.begin(), uplinks.end());
  return t;
}

SharedFabric FabricCache::get(const ClusterConfig& cluster) {
  FabricInputs in = fabric_inputs(cluster);
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [inputs, fabric] : kept_) {
    if (inputs == in) return fabric;
  }
  SharedFabric built;
  built.topology = build_fabric(in);
  built.topology->freeze();
  built.tables = std::make_shared<const FabricTables>(fabric_tables(*built.topology));
  ++builds_;
  if (kept_.size() >= kKept) kept_.erase(kept_.begin());
  kept_.emplace_back(std::move(in), built);
  return built;
}

size_t FabricCache::builds() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return builds_;
}

}  // namespace lcsim
