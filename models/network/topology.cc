#include "models/network/topology.h"

#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <map>

namespace lcsim::net {

void LeafSpineConfig::visit(Section& s) {
  s.field("scale_up_bandwidth", scale_up_bandwidth,
          "per-GPU, per-direction bandwidth inside a node's scale-up domain; 0 = the accelerator's own",
          Range::at_least(0));
  s.field("scale_up_latency", scale_up_latency, "latency of one scale-up hop (GPU to switch)", Range::at_least(0));
  s.field("nic_bandwidth", nic_bandwidth,
          "bandwidth of each GPU's scale-out NIC, per direction; 0 = the node's own compute-plane NICs",
          Range::at_least(0));
  s.field("ports_per_leaf", ports_per_leaf, "NIC ports attached to each leaf switch", Range::at_least(1));
  s.field("spines", spines, "spine switches; each leaf has one uplink to each", Range::at_least(1));
  s.field("uplink_bandwidth", uplink_bandwidth, "bandwidth of each leaf-to-spine link, per direction",
          Range::positive());
  s.field("link_latency", link_latency, "latency of one scale-out hop (cable and switch)", Range::at_least(0));
  s.values("failed", failed,
           "links (e.g. leaf0.spine3.up) or switches (spine3, leaf2) that are down; flows route around them");
  s.field("planes", planes,
          "scale-out planes: each GPU's NIC bandwidth split over this many ports, each port on its own leaves and "
          "spines (multi-plane fabric)",
          Range::between(1, 16));
  s.field("host_networks", host_networks,
          "also build each node template's other networks (storage, frontend, management): one non-blocking "
          "switch per network, the node's host on it with its NICs of that plane");
  s.field("storage_servers", storage_servers, "storage servers attached to the storage network", Range::at_least(0));
  s.field("storage_server_bandwidth", storage_server_bandwidth, "network bandwidth of each storage server",
          Range::positive());
  s.field("dual_tor", dual_tor,
          "dual-homed NICs: each GPU's NIC bandwidth split over two ports, one to each leaf of a pair; both leaves "
          "reach the same spines (not with planes)");
  s.field("tiers", tiers, "2: leaf/spine; 3: pods of leaves and aggregation switches (spines) under a core layer",
          Range::between(2, 3));
  s.field("leaves_per_pod", leaves_per_pod, "three tiers: leaves per pod", Range::at_least(1));
  s.field("cores_per_spine", cores_per_spine,
          "three tiers: core switches each aggregation switch connects to (aggregation switch s of every pod reaches "
          "the same cores)",
          Range::at_least(1));
  s.field("core_bandwidth", core_bandwidth, "three tiers: bandwidth of each aggregation-to-core link",
          Range::positive());
  s.field("rail_optimized", rail_optimized,
          "rail-optimized wiring: GPU i's NIC of every node goes to rail i's leaves (ports_per_leaf nodes per leaf)");
}

uint32_t LeafSpine::local_of(uint32_t e) const {
  uint32_t first = e;
  while (first > 0 && node_of_[first - 1] == node_of_[e]) --first;
  return e - first;
}

uint32_t Topology::add_vertex(const std::string& name, const std::string& kind) {
  vertices_.push_back({name, kind});
  return static_cast<uint32_t>(vertices_.size() - 1);
}

uint32_t Topology::add_link(const std::string& name, Bandwidth bw, Duration lat, const std::string& tier, int plane,
                            uint32_t from, uint32_t to) {
  links_.push_back({name, bw, lat, tier, plane, from, to});
  up_.push_back(true);
  ++up_version_;
  return static_cast<uint32_t>(links_.size() - 1);
}

bool Topology::fail(const std::string& name) {
  LCSIM_ASSERT(!frozen_, "a shared fabric is read-only: fail() on a frozen topology");
  const std::vector<uint32_t> links = find_links(name);
  for (uint32_t l : links) up_[l] = false;
  ++up_version_;
  return !links.empty();
}

std::vector<uint32_t> Topology::find_links(const std::string& name) const {
  std::vector<uint32_t> found;
  // "spine3" also names "p1.spine3" (the same switch position in every plane).
  auto matches = [&](const std::string& v) {
    if (v == name) return true;
    const size_t dot = v.find('.');
    return v.size() > 1 && v[0] == 'p' && dot != std::string::npos && v.substr(dot + 1) == name &&
           v.find_first_not_of("0123456789", 1) == dot;
  };
  for (size_t l = 0; l < links_.size(); ++l) {
    if (links_[l].name == name || matches(vertices_[links_[l].from].name) || matches(vertices_[links_[l].to].name)) {
      found.push_back(static_cast<uint32_t>(l));
    }
  }
  return found;
}

LeafSpine::LeafSpine(const LeafSpineConfig& config, const std::vector<NodeShape>& nodes)
    : config_(config), nodes_(nodes) {
  // Dual-ToR uses the plane machinery with two port sets that share one set of spines.
  planes_ = config.dual_tor ? 2 : static_cast<uint32_t>(config.planes);
  // Vertices: GPUs first (vertex id = endpoint id), then a scale-up switch per node.
  for (uint32_t k = 0; k < nodes.size(); ++k) {
    for (uint32_t g = 0; g < nodes[k].gpus; ++g) {
      add_vertex("n" + std::to_string(k) + ".gpu" + std::to_string(g), "gpu");
      node_of_.push_back(k);
    }
  }
  const uint32_t n = endpoint_count();
  std::vector<uint32_t> node_switch;
  for (uint32_t k = 0; k < nodes.size(); ++k) {
    node_switch.push_back(add_vertex("n" + std::to_string(k) + ".nvswitch", "scale_up_switch"));
  }
  std::vector<Bandwidth> nic_bw;
  for (uint32_t e = 0; e < n; ++e) {
    const NodeShape& nd = nodes[node_of_[e]];
    const Bandwidth su = config.scale_up_bandwidth.bps() > 0 ? config.scale_up_bandwidth : nd.scale_up_bandwidth;
    // The node's own NICs are capped by their PCIe slots; a fabric-wide nic_bandwidth is a what-if NIC (with
    // whatever slot it needs).
    Bandwidth nic = config.nic_bandwidth.bps() > 0 ? config.nic_bandwidth : nd.nic_bandwidth;
    if (config.nic_bandwidth.bps() <= 0 && nd.io.nic_pcie.bps() > 0 && nd.io.nic_pcie.bps() < nic.bps()) {
      nic = nd.io.nic_pcie;
    }
    LCSIM_ASSERT(su.bps() > 0 && nic.bps() > 0, "node without scale-up or NIC bandwidth");
    const std::string name = vertices_[e].name;
    const uint32_t sw = node_switch[node_of_[e]];
    su_up_.push_back(add_link(name + ".nvl_up", su, config.scale_up_latency, "scale_up", -1, e, sw));
    su_down_.push_back(add_link(name + ".nvl_down", su, config.scale_up_latency, "scale_up", -1, sw, e));
    nic_bw.push_back(nic / static_cast<double>(planes_));
  }
  // Leaves: NICs fill them in order, or rail by rail.
  const uint32_t ppl = static_cast<uint32_t>(config.ports_per_leaf);
  if (config.rail_optimized) {
    // Rail r: the r-th GPU of every node; its NICs fill ceil(nodes / ppl) leaves of its own.
    uint32_t rails = 0;
    for (const auto& nd : nodes) rails = std::max(rails, nd.gpus);
    const uint32_t per_rail = (static_cast<uint32_t>(nodes.size()) + ppl - 1) / ppl;
    leaves_ = rails * per_rail;
    for (uint32_t e = 0; e < n; ++e) leaf_of_.push_back(local_of(e) * per_rail + node_of_[e] / ppl);
  } else {
    leaves_ = (n + ppl - 1) / ppl;
    for (uint32_t e = 0; e < n; ++e) leaf_of_.push_back(e / ppl);
  }
  auto plane_prefix = [&](uint32_t p) {
    if (config.dual_tor) return std::string(p == 0 ? "a." : "b.");
    return planes_ > 1 ? "p" + std::to_string(p) + "." : std::string();
  };
  std::vector<uint32_t> shared_spines;  // dual-ToR: the spines both port sets reach
  const bool three = config.tiers == 3;
  const uint32_t lpp = static_cast<uint32_t>(config.leaves_per_pod);
  pods_ = three ? (leaves_ + lpp - 1) / lpp : 1;
  const uint32_t spines = static_cast<uint32_t>(config.spines), cps = static_cast<uint32_t>(config.cores_per_spine);
  for (uint32_t p = 0; p < planes_; ++p) {
    const int plane = static_cast<int>(p);
    std::vector<uint32_t> leaf_v, spine_v;  // spine_v: [pod * spines + s] (one pod with two tiers)
    for (uint32_t l = 0; l < leaves_; ++l) leaf_v.push_back(add_vertex(plane_prefix(p) + "leaf" + std::to_string(l), "leaf"));
    if (config.dual_tor && p == 1) {
      spine_v = shared_spines;
    } else if (leaves_ > 1 || config.dual_tor) {
      for (uint32_t pod = 0; pod < pods_; ++pod) {
        for (uint32_t s = 0; s < spines; ++s) {
          const std::string name = three ? "pod" + std::to_string(pod) + ".spine" + std::to_string(s)
                                         : "spine" + std::to_string(s);
          spine_v.push_back(add_vertex(config.dual_tor ? name : plane_prefix(p) + name, "spine"));
        }
      }
      shared_spines = spine_v;
    }
    for (uint32_t e = 0; e < n; ++e) {
      const std::string name = vertices_[e].name + "." + plane_prefix(p);
      const uint32_t leaf = leaf_v[leaf_of_[e]];
      nic_up_.push_back(add_link(name + "nic_up", nic_bw[e], config.link_latency, "nic", plane, e, leaf));
      nic_down_.push_back(add_link(name + "nic_down", nic_bw[e], config.link_latency, "nic", plane, leaf, e));
    }
    for (uint32_t l = 0; l < leaves_ && !spine_v.empty(); ++l) {
      for (uint32_t s = 0; s < spines; ++s) {
        const uint32_t sv = spine_v[(three ? l / lpp : 0) * spines + s];
        const std::string ls = plane_prefix(p) + "leaf" + std::to_string(l) + ".spine" + std::to_string(s);
        leaf_up_.push_back(add_link(ls + ".up", config.uplink_bandwidth, config.link_latency, "spine", plane, leaf_v[l], sv));
        spine_down_.push_back(add_link(ls + ".down", config.uplink_bandwidth, config.link_latency, "spine", plane, sv, leaf_v[l]));
      }
    }
    if (three && pods_ > 1) {
      // Core group s: the cores that aggregation switch s of every pod connects to.
      std::vector<uint32_t> core_v;
      for (uint32_t c = 0; c < spines * cps; ++c) core_v.push_back(add_vertex(plane_prefix(p) + "core" + std::to_string(c), "core"));
      for (uint32_t pod = 0; pod < pods_; ++pod) {
        for (uint32_t s = 0; s < spines; ++s) {
          for (uint32_t c = 0; c < cps; ++c) {
            const uint32_t sv = spine_v[pod * spines + s], cv = core_v[s * cps + c];
            const std::string name = plane_prefix(p) + "pod" + std::to_string(pod) + ".spine" + std::to_string(s) +
                                     ".core" + std::to_string(s * cps + c);
            agg_up_.push_back(add_link(name + ".up", config.core_bandwidth, config.link_latency, "core", plane, sv, cv));
            core_down_.push_back(add_link(name + ".down", config.core_bandwidth, config.link_latency, "core", plane, cv, sv));
          }
        }
      }
    }
  }
  build_scale_up_mesh(nodes, config.scale_up_latency * 2.0);
  build_host_io(nodes);
  if (config.host_networks) build_host_networks(config, nodes);
}

void Topology::build_scale_up_mesh(const std::vector<NodeShape>& nodes, Duration latency) {
  mesh_base_.assign(endpoint_count(), -1);
  mesh_local_.assign(endpoint_count(), 0);
  uint32_t first = 0;
  for (const NodeShape& nd : nodes) {
    if (nd.scale_up_links > 0 && nd.gpus > 1) {
      for (uint32_t a = 0; a < nd.gpus; ++a) {
        const uint32_t ea = first + a;
        mesh_local_[ea] = a;
        const Bandwidth link = scale_up_bandwidth(ea) / static_cast<double>(nd.scale_up_links);
        for (uint32_t b = 0; b < nd.gpus; ++b) {
          if (b == a) continue;
          const uint32_t eb = first + b;
          const uint32_t id = add_link(vertices_[ea].name + ".xgmi.gpu" + std::to_string(b), link, latency, "scale_up",
                                       -1, ea, eb);
          if (mesh_base_[ea] < 0) mesh_base_[ea] = id;
        }
      }
    }
    first += nd.gpus;
  }
}

void Topology::build_host_io(const std::vector<NodeShape>& nodes) {
  host_service_.assign(nodes.size(), -1);
  root_complex_.assign(nodes.size(), -1);
  io_node_.assign(nodes.size(), false);
  bool any = false;
  for (const auto& nd : nodes) any = any || nd.io.gpu_link.bps() > 0;
  if (!any) return;
  constexpr uint32_t kNone = ~0u;
  uint32_t first = 0;
  for (uint32_t k = 0; k < nodes.size(); ++k) {
    const NodeShape& nd = nodes[k];
    const HostIo& io = nd.io;
    if (io.gpu_link.bps() <= 0) {
      for (uint32_t g = 0; g < nd.gpus; ++g) io_gpu_.push_back({kNone, kNone, kNone, kNone, 0});
      first += nd.gpus;
      continue;
    }
    LCSIM_ASSERT(io.switch_uplink.bps() > 0, "host I/O without a PCIe switch uplink bandwidth");
    io_node_[k] = true;
    const std::string node = "n" + std::to_string(k);
    const uint32_t rc = add_vertex(node + ".cpu", "root_complex");
    root_complex_[k] = rc;
    host_service_[k] = static_cast<int>(services_.size());
    services_.push_back({add_vertex(node + ".host", "host"), {}});
    if (io.host_memory.bps() > 0) {
      // One link for reads and writes: DRAM bandwidth is shared by both directions.
      services_.back().memory = add_link(node + ".dram", io.host_memory, Duration(), "dram", -1, rc,
                                         services_.back().vertex);
    }
    const uint32_t switches = std::min(nd.gpus, io.switches > 0 ? io.switches : nd.gpus);
    std::vector<uint32_t> sw, up, down;
    for (uint32_t s = 0; s < switches; ++s) {
      const std::string name = node + ".pcie" + std::to_string(s);
      sw.push_back(add_vertex(name, "pcie_switch"));
      up.push_back(add_link(name + ".uplink_up", io.switch_uplink, io.latency, "pcie", -1, sw.back(), rc));
      down.push_back(add_link(name + ".uplink_down", io.switch_uplink, io.latency, "pcie", -1, rc, sw.back()));
    }
    for (uint32_t g = 0; g < nd.gpus; ++g) {
      const uint32_t e = first + g, s = g * switches / nd.gpus;
      const std::string name = vertices_[e].name;
      const uint32_t u = add_link(name + ".pcie_up", io.gpu_link, io.latency, "pcie", -1, e, sw[s]);
      const uint32_t d = add_link(name + ".pcie_down", io.gpu_link, io.latency, "pcie", -1, sw[s], e);
      io_gpu_.push_back({u, d, up[s], down[s], s});
    }
    first += nd.gpus;
  }
}

int64_t Topology::pcie_link(uint32_t gpu, bool up) const {
  if (io_gpu_.empty() || !io_node_[node_of(gpu)]) return -1;
  return up ? io_gpu_[gpu].up : io_gpu_[gpu].down;
}

void Topology::add_pcie_hops(uint32_t src, uint32_t dst, std::vector<Path>& paths) const {
  if (io_gpu_.empty()) return;
  const bool a = io_node_[node_of(src)], b = io_node_[node_of(dst)];
  if (!a && !b) return;
  if ((a && !up_[io_gpu_[src].up]) || (b && !up_[io_gpu_[dst].down])) {
    paths.clear();
    return;
  }
  for (Path& p : paths) {
    if (a) p.insert(p.begin(), io_gpu_[src].up);
    if (b) p.push_back(io_gpu_[dst].down);
  }
}

Bandwidth Topology::capped_by_pcie(uint32_t e, Bandwidth nic) const {
  if (io_gpu_.empty() || !io_node_[node_of(e)]) return nic;
  const Bandwidth pcie = links_[io_gpu_[e].up].bandwidth;
  return pcie.bps() < nic.bps() ? pcie : nic;
}

void Topology::build_host_networks(const LeafSpineConfig& config, const std::vector<NodeShape>& nodes) {
  // One switch per network; each node's host joins the networks its template has NICs on (from its root
  // complex where host I/O is modelled).
  std::map<std::string, uint32_t> switch_of;
  auto network = [&](const std::string& name) {
    auto it = switch_of.find(name);
    if (it == switch_of.end()) it = switch_of.emplace(name, add_vertex(name + ".switch", name + "_switch")).first;
    return it->second;
  };
  if (host_service_.size() != nodes.size()) host_service_.assign(nodes.size(), -1);
  std::vector<uint32_t> first_gpu(nodes.size() + 1, 0);  // each node's first GPU endpoint (GPUs in node order)
  for (size_t k = 0; k < nodes.size(); ++k) first_gpu[k + 1] = first_gpu[k] + nodes[k].gpus;
  for (uint32_t k = 0; k < nodes.size(); ++k) {
    if (nodes[k].host_networks.empty() && !nodes[k].io.storage_on_gpu_nic) continue;
    if (host_service_[k] < 0) {
      host_service_[k] = static_cast<int>(services_.size());
      services_.push_back({add_vertex("n" + std::to_string(k) + ".host", "host"), {}});
    }
    Service& host = services_[static_cast<size_t>(host_service_[k])];
    if (nodes[k].io.storage_on_gpu_nic) {
      const uint32_t first = first_gpu[k];
      if (!io_node_[k]) {
        throw InputError("node " + std::to_string(k) + ": storage_nic_attach: gpu_nic needs the GPU's PCIe path to "
                         "the host (pcie_lanes_per_gpu > 0)");
      }
      std::vector<uint32_t> ports;
      for (uint32_t g = first; g < first_gpu[k + 1]; ++g) {
        nic_ports(g, true, ports);
        if (ports.empty()) {
          throw InputError({{SourceLocation{}, "cluster.explicit.links",
                             "n" + std::to_string(k) + ".gpu" + std::to_string(g - first) +
                                 " has no link of its own to the fabric, and its node's template has "
                                 "storage_nic_attach: gpu_nic (storage goes through each GPU's own NIC port): link "
                                 "it to a switch, or use storage_nic_attach: separate"}});
        }
      }
      host.converged = true;
      host.first_gpu = first;
      host.gpus = nodes[k].gpus;
      network("storage");
    }
    if (config.host_copy.bps() > 0) {  // the CPU's copy into and out of its bounce buffers, both ways together
      const std::string node = "n" + std::to_string(k);
      host.copy = add_link(node + ".cpu_copy", config.host_copy, Duration(), "cpu_copy", -1, host.vertex,
                           add_vertex(node + ".copy", "cpu"));
    }
    const uint32_t from =
        k < root_complex_.size() && root_complex_[k] >= 0 ? static_cast<uint32_t>(root_complex_[k]) : host.vertex;
    for (const auto& [net, bw] : nodes[k].host_networks) {
      const uint32_t sw = network(net);
      const std::string name = "n" + std::to_string(k) + ".host." + net;
      const uint32_t up = add_link(name + "_up", bw, config.link_latency, net, -1, from, sw);
      const uint32_t down = add_link(name + "_down", bw, config.link_latency, net, -1, sw, from);
      host.ports.push_back({net, {up, down}});
    }
  }
  for (int i = 0; i < config.storage_servers; ++i) {
    const uint32_t server = add_vertex("storage" + std::to_string(i), "storage_server");
    const uint32_t sw = network("storage");
    const std::string name = "storage" + std::to_string(i);
    const uint32_t up =
        add_link(name + ".up", config.storage_server_bandwidth, config.link_latency, "storage", -1, server, sw);
    const uint32_t down =
        add_link(name + ".down", config.storage_server_bandwidth, config.link_latency, "storage", -1, sw, server);
    storage_service_.push_back(static_cast<uint32_t>(services_.size()));
    services_.push_back({server, {{"storage", {up, down}}}});
    // The server's drives behind its port, where their rates are given.
    Service& srv = services_.back();
    const Bandwidth read = config.storage_server_read, write = config.storage_server_write;
    if (read.bps() > 0 || write.bps() > 0) {
      const uint32_t drives = add_vertex(name + ".drives", "nvme");
      if (write.bps() > 0) srv.media_write = add_link(name + ".media_write", write, Duration(), "storage_media", -1, server, drives);
      if (read.bps() > 0) srv.media_read = add_link(name + ".media_read", read, Duration(), "storage_media", -1, drives, server);
    }
  }
}

int64_t Topology::storage_media_link(uint32_t server, bool write) const {
  if (server >= storage_service_.size()) return -1;
  const Service& s = services_[storage_service_[server]];
  return write ? s.media_write : s.media_read;
}

int64_t Topology::host_copy_link(uint32_t node) const {
  if (node >= host_service_.size() || host_service_[node] < 0) return -1;
  return services_[static_cast<size_t>(host_service_[node])].copy;
}

uint32_t Topology::host_endpoint(uint32_t node) const {
  if (node >= host_service_.size() || host_service_[node] < 0) {
    throw InputError("node " + std::to_string(node) + " has no host: its template models no PCIe path to the "
                     "host and lists no storage, frontend or management NICs (or cluster.fabric.host_networks is "
                     "false)");
  }
  return endpoint_count() + static_cast<uint32_t>(host_service_[node]);
}

uint32_t Topology::storage_endpoint(uint32_t server) const {
  if (server >= storage_service_.size()) {
    throw InputError("no storage server " + std::to_string(server) + " (cluster.fabric.storage_servers is " +
                     std::to_string(storage_service_.size()) + ")");
  }
  return endpoint_count() + storage_service_[server];
}

std::string Topology::endpoint_name(uint32_t e) const {
  if (!is_service(e)) return "gpu " + std::to_string(e);
  return vertices_.at(services_.at(e - endpoint_count()).vertex).name;
}

bool Topology::attach(uint32_t e, int* service, Path* up, Path* down) const {
  up->clear();
  down->clear();
  if (!is_service(e)) {  // a GPU: its PCIe link and its switch's uplink to the root complex
    if (io_gpu_.empty() || !io_node_[node_of(e)]) return false;
    const GpuIo& g = io_gpu_[e];
    *service = host_service_[node_of(e)];
    *up = {g.up, g.uplink_up};
    *down = {g.uplink_down, g.down};
    return true;
  }
  *service = static_cast<int>(e - endpoint_count());
  const Service& s = services_.at(static_cast<size_t>(*service));
  if (s.memory >= 0) *up = *down = {static_cast<uint32_t>(s.memory)};  // a host's memory, behind its root complex
  return true;
}

void Topology::storage_legs(uint32_t e, const Service& s, const Path& up, const Path& down,
                            std::vector<std::pair<Path, Path>>& out) const {
  out.clear();
  std::vector<uint32_t> ups, downs;
  if (!is_service(e) && s.converged) {  // a GPU with a converged NIC: its PCIe link and its own NIC ports
    nic_ports(e, true, ups);
    nic_ports(e, false, downs);
    for (size_t i = 0; i < ups.size(); ++i) out.push_back({{io_gpu_[e].up, ups[i]}, {downs[i], io_gpu_[e].down}});
    return;
  }
  if (s.converged) {  // its host: memory, a PCIe switch's uplink, that switch's GPU's NIC ports (one way each)
    for (uint32_t g = s.first_gpu; g < s.first_gpu + s.gpus; ++g) {
      nic_ports(g, true, ups);
      nic_ports(g, false, downs);
      for (size_t i = 0; i < ups.size(); ++i) {
        Path u = up, d = {downs[i], io_gpu_[g].uplink_up};
        u.push_back(io_gpu_[g].uplink_down);
        u.push_back(ups[i]);
        d.insert(d.end(), down.begin(), down.end());
        out.push_back({std::move(u), std::move(d)});
      }
    }
    return;
  }
  for (const auto& [net, port] : s.ports) {
    if (net != "storage") continue;
    Path u = up, d = {port.second};
    u.push_back(port.first);
    d.insert(d.end(), down.begin(), down.end());
    out.push_back({std::move(u), std::move(d)});
  }
}

void Topology::service_paths(uint32_t src, uint32_t dst, std::vector<Path>& out) const {
  out.clear();
  if (src == dst || (!is_service(src) && !is_service(dst))) return;
  int sa = -1, sb = -1;
  Path up_a, down_a, up_b, down_b;
  if (!attach(src, &sa, &up_a, &down_a) || !attach(dst, &sb, &up_b, &down_b)) return;
  auto add_if_up = [&](Path p) {
    for (uint32_t l : p) {
      if (!up_[l]) return;
    }
    out.push_back(std::move(p));
  };
  if (sa == sb) {  // a GPU and its own host: PCIe, root complex, memory
    Path p = up_a;
    p.insert(p.end(), down_b.begin(), down_b.end());
    add_if_up(std::move(p));
    return;
  }
  const Service& a = services_.at(static_cast<size_t>(sa));
  const Service& b = services_.at(static_cast<size_t>(sb));
  // A server's drives: behind its port, read at the start of what it sends, written at the end of what it
  // receives. A host's CPU copy between its memory and the network: the sending host's (the receiving host's when
  // a server sends; between two hosts only the sender's: the receiving NIC writes into memory by DMA). A GPU's
  // own bytes (GPUDirect) never cross a CPU copy.
  const bool from_server = is_service(src) && vertices_[a.vertex].kind == "storage_server";
  if (a.media_read >= 0) up_a.insert(up_a.begin(), static_cast<uint32_t>(a.media_read));
  if (is_service(src) && a.copy >= 0) up_a.push_back(static_cast<uint32_t>(a.copy));
  if (b.media_write >= 0) down_b.push_back(static_cast<uint32_t>(b.media_write));
  if (from_server && is_service(dst) && b.copy >= 0) down_b.insert(down_b.begin(), static_cast<uint32_t>(b.copy));
  // Data between hosts and servers goes over the storage network when both ends are on it (storage NICs or
  // converged NIC ports: every way out x every way in); only otherwise over another network both are on (frontend,
  // management), so a peer-memory checkpoint never lands on a 1 Gb/s management port.
  std::vector<std::pair<Path, Path>> la, lb;
  storage_legs(src, a, up_a, down_a, la);
  storage_legs(dst, b, up_b, down_b, lb);
  for (const auto& x : la) {
    for (const auto& y : lb) {
      Path p = x.first;
      p.insert(p.end(), y.second.begin(), y.second.end());
      add_if_up(std::move(p));
    }
  }
  if (!out.empty()) return;
  for (const auto& [net, pa] : a.ports) {
    for (const auto& [net_b, pb] : b.ports) {
      if (net != net_b || net == "storage") continue;
      Path p = up_a;
      p.push_back(pa.first);
      p.push_back(pb.second);
      p.insert(p.end(), down_b.begin(), down_b.end());
      add_if_up(std::move(p));
    }
  }
}

void LeafSpine::nic_ports(uint32_t e, bool up, std::vector<uint32_t>& out) const {
  out.clear();
  const std::vector<uint32_t>& ports = up ? nic_up_ : nic_down_;
  for (uint32_t p = 0; p < planes_; ++p) out.push_back(ports[p * endpoint_count() + e]);
}

void LeafSpine::paths(uint32_t src, uint32_t dst, std::vector<Path>& out) const {
  out.clear();
  auto add_if_up = [&](Path p) {
    for (uint32_t l : p) {
      if (!up_[l]) return;
    }
    out.push_back(std::move(p));
  };
  if (node_of(src) == node_of(dst)) {
    const int64_t mesh = mesh_link(src, dst);
    if (mesh >= 0) add_if_up({static_cast<uint32_t>(mesh)});
    else add_if_up({su_up_[src], su_down_[dst]});
    return;
  }
  // The GPUs' PCIe hops start and end every scale-out path (built in place: this is the analytical model's hot
  // path, every candidate of every flow).
  const int64_t first = pcie_link(src, true), last = pcie_link(dst, false);
  if ((first >= 0 && !up_[static_cast<uint32_t>(first)]) || (last >= 0 && !up_[static_cast<uint32_t>(last)])) return;
  scale_out_paths(src, dst, first, last, out);
}

void LeafSpine::scale_out_paths(uint32_t src, uint32_t dst, int64_t first, int64_t last,
                                std::vector<Path>& out) const {
  auto add_if_up = [&](std::initializer_list<uint32_t> p) {
    for (uint32_t l : p) {
      if (!up_[l]) return;
    }
    Path q;
    q.reserve(p.size() + 2);
    if (first >= 0) q.push_back(static_cast<uint32_t>(first));
    q.insert(q.end(), p.begin(), p.end());
    if (last >= 0) q.push_back(static_cast<uint32_t>(last));
    out.push_back(std::move(q));
  };
  const uint32_t la = leaf_of(src), lb = leaf_of(dst);
  const uint32_t n = endpoint_count(), spines = static_cast<uint32_t>(config_.spines);
  if (config_.dual_tor) {
    // Ports a and b of each NIC go to the two leaves of its pair. Same pair: straight through either leaf.
    // Otherwise any port, any spine, any port: all four links long.
    for (uint32_t pa = 0; pa < 2; ++pa) {
      for (uint32_t pb = 0; pb < 2; ++pb) {
        if (la == lb) {
          if (pa == pb) add_if_up({nic_up_[pa * n + src], nic_down_[pb * n + dst]});
          continue;
        }
        for (uint32_t s = 0; s < spines; ++s) {
          add_if_up({nic_up_[pa * n + src], leaf_up_[(pa * leaves_ + la) * spines + s],
                     spine_down_[(pb * leaves_ + lb) * spines + s], nic_down_[pb * n + dst]});
        }
      }
    }
    return;
  }
  for (uint32_t p = 0; p < planes_; ++p) {  // every plane is a fabric of its own: its paths are all equal-cost
    const uint32_t up = nic_up_[p * n + src], down = nic_down_[p * n + dst];
    if (la == lb) {
      add_if_up({up, down});
      continue;
    }
    const uint32_t lpp = static_cast<uint32_t>(config_.leaves_per_pod), cps = static_cast<uint32_t>(config_.cores_per_spine);
    const uint32_t pa = config_.tiers == 3 ? la / lpp : 0, pb = config_.tiers == 3 ? lb / lpp : 0;
    for (uint32_t s = 0; s < spines; ++s) {
      const uint32_t lu = leaf_up_[(p * leaves_ + la) * spines + s], sd = spine_down_[(p * leaves_ + lb) * spines + s];
      if (pa == pb) {
        add_if_up({up, lu, sd, down});
        continue;
      }
      for (uint32_t c = 0; c < cps; ++c) {  // up to a core of group s and down into the other pod
        add_if_up({up, lu, agg_up_[((p * pods_ + pa) * spines + s) * cps + c],
                   core_down_[((p * pods_ + pb) * spines + s) * cps + c], sd, down});
      }
    }
  }
}


double LeafSpine::oversubscription() const {
  return config_.ports_per_leaf * links_[nic_up_.front()].bandwidth.bps() /
         (config_.spines * config_.uplink_bandwidth.bps());  // per plane; every plane is alike
}

std::string LeafSpine::describe() const {
  const int spines = config_.spines * static_cast<int>(config_.dual_tor ? 1 : planes_);
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "leaf_spine%s%s: %zu nodes, %u GPUs; scale-up %s per GPU per direction; %u NICs at %s%s; %u leaf "
                "switch%s of %d ports, %d spine%s at %s (oversubscription %.2g:1 when leaves are full)",
                config_.rail_optimized ? " (rail-optimized)" : "",
                config_.tiers == 3 ? (" (3 tiers, " + std::to_string(pods_) + " pods)").c_str() : "",
                nodes_.size(), endpoint_count(), to_string(links_[su_up_[0]].bandwidth).c_str(), endpoint_count(),
                to_string(nic_bandwidth(0)).c_str(),
                config_.dual_tor ? " dual-homed to leaf pairs"
                : planes_ > 1    ? (" in " + std::to_string(planes_) + " planes").c_str()
                                 : "",
                leaves_ * planes_, leaves_ * planes_ == 1 ? "" : "es", config_.ports_per_leaf, spines,
                spines == 1 ? "" : "s", to_string(config_.uplink_bandwidth).c_str(), oversubscription());
  return buf;
}

}  // namespace lcsim::net
