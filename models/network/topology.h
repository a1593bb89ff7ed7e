// Network topology: the links between accelerators and the equal-cost paths between any two of them.
// Endpoint ids are global GPU ranks (node * gpus_per_node + local index). Link ids index links().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/config.h"
#include "sim/registry.h"
#include "sim/units.h"

namespace lcsim::net {

using Path = std::vector<uint32_t>;

struct LinkInfo {
  std::string name;
  Bandwidth bandwidth;
  Duration latency;
  std::string tier;  // "scale_up", "nic", "spine"
  int plane = -1;    // scale-out plane (0.. planes-1); -1 for scale-up links
};

class Topology {
 public:
  virtual ~Topology() = default;
  virtual uint32_t endpoint_count() const = 0;
  virtual uint32_t node_of(uint32_t endpoint) const = 0;
  virtual const std::vector<LinkInfo>& links() const = 0;
  /// Every equal-cost path from src to dst (src != dst) over links that are up, in a fixed order; empty when
  /// failures cut every path.
  virtual void paths(uint32_t src, uint32_t dst, std::vector<Path>& out) const = 0;
  /// One line per tier: counts and bandwidths, for `lcsim run` summaries.
  virtual std::string describe() const = 0;
  /// An endpoint's own links: scale-up bandwidth and scale-out NIC bandwidth, per direction.
  virtual Bandwidth scale_up_bandwidth(uint32_t endpoint) const = 0;
  virtual Bandwidth nic_bandwidth(uint32_t endpoint) const = 0;
  /// Whether the endpoint's scale-up switch can reduce in the network (NVLS-class).
  virtual bool in_switch_reduction(uint32_t endpoint) const = 0;
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
  std::vector<std::string> failed;  // links ("leaf0.spine3.up") or switches ("spine3", "leaf2") that are down
  void visit(Section& s);
};

/// What the fabric needs to know of one node: its accelerators and their own link speeds (used where the fabric
/// config leaves a bandwidth at zero).
struct NodeShape {
  uint32_t gpus;
  Bandwidth scale_up_bandwidth;
  Bandwidth nic_bandwidth;
  bool in_switch_reduction = false;
};

class LeafSpine final : public Topology {
 public:
  LeafSpine(const LeafSpineConfig& config, const std::vector<NodeShape>& nodes);
  uint32_t endpoint_count() const override { return static_cast<uint32_t>(node_of_.size()); }
  uint32_t node_of(uint32_t e) const override { return node_of_[e]; }
  const std::vector<LinkInfo>& links() const override { return links_; }
  void paths(uint32_t src, uint32_t dst, std::vector<Path>& out) const override;
  std::string describe() const override;
  Bandwidth scale_up_bandwidth(uint32_t e) const override { return links_[su_up_[e]].bandwidth; }
  Bandwidth nic_bandwidth(uint32_t e) const override { return links_[nic_up_[e]].bandwidth * planes_; }
  bool in_switch_reduction(uint32_t e) const override { return nodes_[node_of_[e]].in_switch_reduction; }

  uint32_t leaf_of(uint32_t endpoint) const { return leaf_of_[endpoint]; }
  /// Takes a link (by name) or a switch ("spineS", "leafL": all its scale-out links) down; false if no such name.
  bool fail(const std::string& name);
  bool link_up(uint32_t link) const { return up_[link]; }
  const LeafSpineConfig& config() const { return config_; }
  uint32_t leaves() const { return leaves_; }  // per plane
  uint32_t planes() const { return planes_; }
  double oversubscription() const;

 private:
  uint32_t add(const std::string& name, Bandwidth bw, Duration lat, const std::string& tier, int plane = -1);
  uint32_t local_of(uint32_t endpoint) const;  // index inside its node
  LeafSpineConfig config_;
  std::vector<NodeShape> nodes_;
  std::vector<uint32_t> node_of_;
  std::vector<uint32_t> leaf_of_;
  std::vector<bool> up_;
  uint32_t leaves_;
  uint32_t planes_ = 1;
  std::vector<LinkInfo> links_;
  std::vector<uint32_t> su_up_, su_down_;                       // per endpoint
  std::vector<uint32_t> nic_up_, nic_down_;                     // [plane * endpoints + endpoint]
  std::vector<uint32_t> leaf_up_, spine_down_;                  // [(plane * leaves + leaf) * spines + spine]
};

}  // namespace lcsim::net
