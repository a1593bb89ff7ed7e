// Network topology: the links between accelerators and the equal-cost paths between any two of them.
// Endpoint ids are global GPU ranks (node * gpus_per_node + local index). Link ids index links().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/config.h"
#include "sim/error.h"
#include "sim/registry.h"
#include "sim/units.h"

namespace lcsim::net {

using Path = std::vector<uint32_t>;

struct VertexInfo {
  std::string name;  // "n3.gpu5", "n3.nvswitch", "leaf2", "p1.spine0", or a switch named in the scenario
  std::string kind;  // gpu, scale_up_switch, leaf, spine, switch
};

/// One direction of a link: from vertex -> to vertex.
struct LinkInfo {
  std::string name;
  Bandwidth bandwidth;
  Duration latency;
  std::string tier;  // "scale_up", "nic", "spine", ...
  int plane = -1;    // scale-out plane (0.. planes-1); -1 for scale-up links
  uint32_t from = 0, to = 0;
};

/// Scale-up domain per node (each GPU has an up and a down link to a non-blocking switch, NVSwitch-style) and
/// a two-tier leaf/spine scale-out fabric: every GPU has its own NIC; NIC ports fill leaves in order
/// (ports_per_leaf each), or, rail-optimized, the NICs of GPU i of every node fill rail i's leaves; every leaf
/// has one uplink to every spine. Paths between leaves: one per spine.
struct LeafSpineConfig {
  Bandwidth scale_up_bandwidth;  // zero: each node's accelerator's own figure
  Duration scale_up_latency = Duration::us(0.5);
  Bandwidth nic_bandwidth;  // zero: each node's own compute-plane NIC bandwidth per GPU
  int ports_per_leaf = 32;
  int spines = 32;
  Bandwidth uplink_bandwidth = Bandwidth::gbits_per_s(400);
  Duration link_latency = Duration::us(0.6);
  bool rail_optimized = false;  // NIC i of every node on rail i's leaves (same-rail traffic stays on one leaf)
  int planes = 1;               // scale-out planes: each NIC split into this many ports, each on its own fabric
  bool dual_tor = false;        // every NIC as two ports to a pair of leaves that share the spines
  int tiers = 2;                // 3: leaves grouped in pods; "spines" are each pod's aggregation switches
  int leaves_per_pod = 8;       // three tiers: leaves in one pod
  int cores_per_spine = 8;      // three tiers: core switches each aggregation switch connects to
  Bandwidth core_bandwidth = Bandwidth::gbits_per_s(400);  // three tiers: aggregation-to-core links
  std::vector<std::string> failed;  // links ("leaf0.spine3.up") or switches ("spine3", "leaf2") that are down
  bool host_networks = true;        // build the nodes' storage, frontend and management networks too
  int storage_servers = 0;          // storage servers on the storage network
  Bandwidth storage_server_bandwidth = Bandwidth::gbits_per_s(400);
  // Set by the scenario from cluster.storage, not keys of cluster.fabric: each storage server's drives behind its
  // port, reads and writes (0: the port is the limit), and each host's CPU copy between its memory and a network
  // (staging through bounce buffers; 0: no limit).
  Bandwidth storage_server_read, storage_server_write, host_copy;
  void visit(Section& s);
  bool operator==(const LeafSpineConfig&) const = default;  // every field: fabrics are shared by equal inputs
};

/// The path between a node's accelerators and everything outside their scale-up domain: each GPU's link to its
/// PCIe switch (PCIe x16, or the part's own host link), the NIC port behind that switch, each switch's uplink to
/// the host's root complex, and host memory behind the root complex. Built only where `gpu_link` is set.
struct HostIo {
  Bandwidth gpu_link;       // each GPU <-> its PCIe switch, per direction; 0 = not modelled (NIC straight on the GPU)
  Bandwidth nic_pcie;       // the PCIe bandwidth of a GPU's NICs (their own slots): caps its NIC port; 0 = no cap
  uint32_t switches = 0;    // PCIe switches in the node (GPU g on switch g * switches / gpus); 0 = one per GPU
  Bandwidth switch_uplink;  // each PCIe switch <-> the root complex
  Bandwidth host_memory;    // the root complex <-> host DRAM, reads and writes together; 0 = no DRAM hop
  Duration latency;         // one PCIe hop
  /// Converged NICs (node template storage_nic_attach: gpu_nic): the storage network is reached through each
  /// GPU's own compute NIC port, not through storage NICs on the root complex.
  bool storage_on_gpu_nic = false;
  bool operator==(const HostIo&) const = default;
};

/// What the fabric needs to know of one node: its accelerators and their own link speeds (used where the fabric
/// config leaves a bandwidth at zero).
struct NodeShape {
  uint32_t gpus;
  Bandwidth scale_up_bandwidth;
  Bandwidth nic_bandwidth;
  bool in_switch_reduction = false;
  /// The host's NICs on networks other than the compute fabric: (network, total bandwidth), e.g. storage.
  std::vector<std::pair<std::string, Bandwidth>> host_networks = {};
  HostIo io = {};
  /// Point-to-point scale-up links per GPU where the domain is a switchless full mesh (xGMI: one link to each other
  /// GPU, scale_up_bandwidth / scale_up_links each); 0 = switched. Such a node's GPUs reach each other over one link
  /// per pair (Topology::build_scale_up_mesh); each GPU's port is still built (its scale_up_bandwidth).
  uint32_t scale_up_links = 0;
  bool operator==(const NodeShape&) const = default;
};

/// The network as vertices (GPUs first: vertex id = endpoint id) and directed links, which builders fill in.
/// Endpoint ids are global GPU ranks, node by node.
class Topology {
 public:
  virtual ~Topology() = default;
  virtual uint32_t endpoint_count() const = 0;
  virtual uint32_t node_of(uint32_t endpoint) const = 0;
  /// Every equal-cost path from src to dst (src != dst) over links that are up, in a fixed order; empty when
  /// failures cut every path.
  virtual void paths(uint32_t src, uint32_t dst, std::vector<Path>& out) const = 0;
  /// One line per tier: counts and bandwidths, for `lcsim run` summaries.
  virtual std::string describe() const = 0;
  /// An endpoint's own links: scale-up bandwidth and scale-out NIC bandwidth (all planes), per direction.
  virtual Bandwidth scale_up_bandwidth(uint32_t endpoint) const = 0;
  virtual Bandwidth nic_bandwidth(uint32_t endpoint) const = 0;
  /// Whether the endpoint's scale-up switch can reduce in the network (NVLS-class).
  virtual bool in_switch_reduction(uint32_t endpoint) const = 0;
  /// The endpoint node's mesh links per GPU (NodeShape::scale_up_links; 0: switched, or no such node).
  virtual uint32_t scale_up_links(uint32_t /*endpoint*/) const { return 0; }
  /// The share of a GPU's scale-up bandwidth one pair can use: 1 / links between two GPUs of one meshed node (one
  /// link each), else 1 (a switch gives a pair the whole port; across nodes the scale-up tier is not the pair's).
  /// The tuner's closed form; the flows themselves take the pair's link (mesh_link).
  double scale_up_pair_share(uint32_t a, uint32_t b) const {
    const uint32_t links = node_of(a) == node_of(b) ? scale_up_links(a) : 0;
    return links > 0 ? 1.0 / links : 1.0;
  }
  /// The link from GPU a to GPU b of one meshed node (built by build_scale_up_mesh: paths inside such a node are
  /// this one link), -1 where a and b are not two GPUs of one meshed node.
  int64_t mesh_link(uint32_t a, uint32_t b) const {
    if (a >= mesh_base_.size() || b >= mesh_base_.size() || a == b || mesh_base_[a] < 0 || mesh_base_[b] < 0 ||
        node_of(a) != node_of(b)) {
      return -1;
    }
    const uint32_t la = mesh_local_[a], lb = mesh_local_[b];
    return mesh_base_[a] + (lb < la ? lb : lb - 1);
  }

  // --- Service endpoints: each node's host (its memory, behind the root complex; on the node's storage,
  // frontend and management networks) and each storage server, numbered after the GPUs (endpoint_count() + i).
  // Flows between them cross their network's switch. Where the node's host I/O is modelled (NodeShape::io), a
  // GPU reaches them too: over its PCIe link and its switch's uplink to the root complex, then host memory (its
  // own host) or the host's NIC on a network (GPUDirect to a storage server or another host); a host reaches a
  // network from its memory. Staging through host memory is two flows: GPU -> own host, host -> server. ---
  uint32_t service_endpoint_count() const { return static_cast<uint32_t>(services_.size()); }
  uint32_t all_endpoint_count() const { return endpoint_count() + service_endpoint_count(); }
  bool is_service(uint32_t endpoint) const { return endpoint >= endpoint_count(); }
  /// The endpoint of node `node`'s host; throws InputError if the node has no host networks.
  uint32_t host_endpoint(uint32_t node) const;
  /// The endpoint of storage server `server` (cluster.fabric.storage_servers); throws InputError if there is none.
  uint32_t storage_endpoint(uint32_t server) const;
  /// "n3.host", "storage0", or "gpu 17".
  std::string endpoint_name(uint32_t endpoint) const;
  /// Every path between two endpoints of which at least one is a service endpoint: GPU <-> its own host over
  /// PCIe, else one per network both ends' hosts (or servers) are on.
  void service_paths(uint32_t src, uint32_t dst, std::vector<Path>& out) const;
  /// A GPU's compute NIC ports towards the fabric (up) or from it, one per port (leaf_spine: one per plane;
  /// explicit: each of the GPU's own links), in the same order both ways; none where the topology has no per-GPU
  /// port to offer. Converged storage NICs send a GPU's storage traffic over them.
  virtual void nic_ports(uint32_t /*endpoint*/, bool /*up*/, std::vector<uint32_t>& out) const { out.clear(); }
  /// Storage server `server`'s drives (write: the link into them), or node `node`'s host CPU copy: the link, -1
  /// where the topology has none (LeafSpineConfig::storage_server_read/write, host_copy).
  int64_t storage_media_link(uint32_t server, bool write) const;
  int64_t host_copy_link(uint32_t node) const;
  /// A GPU's PCIe link to its switch (up: towards the switch); -1 where host I/O is not modelled.
  int64_t pcie_link(uint32_t gpu, bool up) const;
  /// The PCIe switch a GPU sits on (index within its node); 0 where host I/O is not modelled.
  uint32_t pcie_switch_of(uint32_t gpu) const { return io_gpu_.empty() ? 0 : io_gpu_[gpu].local_switch; }

  const std::vector<VertexInfo>& vertices() const { return vertices_; }
  const std::vector<LinkInfo>& links() const { return links_; }
  bool link_up(uint32_t link) const { return up_[link]; }
  /// Every link a name stands for: a link's own name, or a vertex (every link touching it; "spine3" also matches
  /// "p1.spine3" in every plane). Empty if nothing has that name.
  std::vector<uint32_t> find_links(const std::string& name) const;
  /// Takes down a link or a vertex by name (see find_links). False if nothing has that name.
  bool fail(const std::string& name);
  /// Runtime state (the transfer models call these): paths() skips links that are down from now on.
  void set_link_up(uint32_t link, bool up) {
    LCSIM_ASSERT(!frozen_, "a shared fabric is read-only: set_link_up on a frozen topology");
    up_[link] = up;
    ++up_version_;
  }
  /// Changes whenever a link goes up or down: paths() may differ after a change (transfer.cc caches them).
  uint64_t up_version() const { return up_version_; }
  void set_link_bandwidth(uint32_t link, Bandwidth bandwidth) {
    LCSIM_ASSERT(!frozen_, "a shared fabric is read-only: set_link_bandwidth on a frozen topology");
    links_[link].bandwidth = bandwidth;
  }
  /// Makes the topology read-only from now on: fail(), set_link_up() and set_link_bandwidth() become internal
  /// errors. A fabric shared between runs (scenarios/fabric.h), possibly on several threads, is frozen.
  void freeze() { frozen_ = true; }
  bool frozen() const { return frozen_; }

 protected:
  uint32_t add_vertex(const std::string& name, const std::string& kind);
  uint32_t add_link(const std::string& name, Bandwidth bw, Duration lat, const std::string& tier, int plane,
                    uint32_t from, uint32_t to);
  /// Every meshed node's (NodeShape::scale_up_links > 0) GPU-to-GPU links, one per ordered pair of its GPUs (tier
  /// scale_up): a GPU's scale_up_bandwidth / scale_up_links each, with `latency` (the two scale-up hops of a switched
  /// pair: the same latency, one link). Call once every endpoint's scale-up port is built; GPUs are vertices 0..n-1
  /// in node order. A GPU sending to k peers at once uses k links.
  void build_scale_up_mesh(const std::vector<NodeShape>& nodes, Duration latency);
  /// The storage, frontend and management networks: a switch each, every node's host and the storage servers.
  /// Call after build_host_io.
  void build_host_networks(const LeafSpineConfig& config, const std::vector<NodeShape>& nodes);
  /// Each node's PCIe switches, root complex and host memory (where NodeShape::io.gpu_link is set); GPUs are
  /// vertices 0..n-1 in node order.
  void build_host_io(const std::vector<NodeShape>& nodes);
  /// Puts every GPU's PCIe hop around scale-out paths from src to dst (their first and last link), dropping all
  /// of them when either PCIe link is down.
  void add_pcie_hops(uint32_t src, uint32_t dst, std::vector<Path>& paths) const;
  /// An endpoint's NIC port bandwidth, capped by its PCIe link where host I/O is modelled.
  Bandwidth capped_by_pcie(uint32_t endpoint, Bandwidth nic) const;

  std::vector<VertexInfo> vertices_;
  std::vector<LinkInfo> links_;
  std::vector<bool> up_;
  std::vector<int64_t> mesh_base_;    // per GPU: its first mesh link (to the lowest other local index), -1: none
  std::vector<uint32_t> mesh_local_;  // per GPU: its index inside its node
  uint64_t up_version_ = 0;
  bool frozen_ = false;

 private:
  struct Service {
    uint32_t vertex;
    std::vector<std::pair<std::string, std::pair<uint32_t, uint32_t>>> ports;  // network -> (up link, down link)
    /// A server's drives (read: out of them, write: into them) and a host's CPU copy (both directions), -1: none.
    int64_t media_read = -1, media_write = -1, copy = -1;
    int64_t memory = -1;  // a host's memory link (root complex <-> DRAM, both directions), -1 if none
    /// A host whose storage traffic goes through its GPUs' compute NIC ports (HostIo::storage_on_gpu_nic): its
    /// GPUs are endpoints first_gpu .. first_gpu + gpus - 1.
    bool converged = false;
    uint32_t first_gpu = 0, gpus = 0;
  };
  /// The ways from endpoint e (its service s, its links up to and down from the attachment point) onto the
  /// storage network and back: (links up to the network's switch, links down from it), one pair per port.
  void storage_legs(uint32_t e, const Service& s, const Path& up, const Path& down,
                    std::vector<std::pair<Path, Path>>& out) const;
  struct GpuIo {
    uint32_t up, down;                  // GPU <-> its PCIe switch
    uint32_t uplink_up, uplink_down;    // its switch <-> the root complex
    uint32_t local_switch;
  };
  /// How an endpoint reaches the attachment point of its service's ports (the root complex): links up and down.
  bool attach(uint32_t endpoint, int* service, Path* up, Path* down) const;
  std::vector<Service> services_;
  std::vector<int> host_service_;  // per node: index into services_, -1 if none
  std::vector<uint32_t> storage_service_;
  std::vector<GpuIo> io_gpu_;             // per GPU; empty when no node models host I/O
  std::vector<bool> io_node_;             // per node: host I/O modelled
  std::vector<int64_t> root_complex_;     // per node: the root complex vertex, -1 if none
};



class LeafSpine final : public Topology {
 public:
  LeafSpine(const LeafSpineConfig& config, const std::vector<NodeShape>& nodes);
  uint32_t endpoint_count() const override { return static_cast<uint32_t>(node_of_.size()); }
  uint32_t node_of(uint32_t e) const override { return node_of_[e]; }
  void paths(uint32_t src, uint32_t dst, std::vector<Path>& out) const override;
  std::string describe() const override;
  Bandwidth scale_up_bandwidth(uint32_t e) const override { return links_[su_up_[e]].bandwidth; }
  Bandwidth nic_bandwidth(uint32_t e) const override {
    return capped_by_pcie(e, links_[nic_up_[e]].bandwidth * static_cast<double>(planes_));
  }
  bool in_switch_reduction(uint32_t e) const override { return nodes_[node_of_[e]].in_switch_reduction; }
  uint32_t scale_up_links(uint32_t e) const override { return nodes_[node_of_[e]].scale_up_links; }
  void nic_ports(uint32_t e, bool up, std::vector<uint32_t>& out) const override;

  uint32_t leaf_of(uint32_t endpoint) const { return leaf_of_[endpoint]; }
  const LeafSpineConfig& config() const { return config_; }
  uint32_t leaves() const { return leaves_; }  // per plane
  uint32_t planes() const { return planes_; }
  double oversubscription() const;

 private:
  uint32_t local_of(uint32_t endpoint) const;  // index inside its node
  /// NIC to NIC, between the GPUs' PCIe links `first` and `last` (-1: none).
  void scale_out_paths(uint32_t src, uint32_t dst, int64_t first, int64_t last, std::vector<Path>& out) const;
  LeafSpineConfig config_;
  std::vector<NodeShape> nodes_;
  std::vector<uint32_t> node_of_;
  std::vector<uint32_t> leaf_of_;
  uint32_t leaves_;
  uint32_t planes_ = 1;
  std::vector<uint32_t> su_up_, su_down_;                       // per endpoint
  std::vector<uint32_t> nic_up_, nic_down_;                     // [plane * endpoints + endpoint]
  std::vector<uint32_t> leaf_up_, spine_down_;                  // [(plane * leaves + leaf) * spines + spine]
  std::vector<uint32_t> agg_up_, core_down_;  // three tiers: [((plane * pods + pod) * spines + s) * cores_per_spine + c]
  uint32_t pods_ = 1;
};

}  // namespace lcsim::net
