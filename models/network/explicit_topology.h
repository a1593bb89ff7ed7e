// A topology given as nodes and links in the scenario: switches by name, links between GPUs ("n3.gpu5") and
// switches, each bidirectional with its bandwidth, latency and tier. Every node keeps its scale-up switch
// ("nK.nvswitch", built as for leaf_spine) and uses it inside the node. Paths between GPUs of different nodes are
// all the shortest ones (fewest links) over scale-out links that are up, at most 64, found by breadth-first
// search and cached per pair (apply failures before the first flow).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "models/network/topology.h"

namespace lcsim::net {

struct ExplicitConfig {
  /// Where an entry's key was set in the scenario (file:line, and the key's path), for errors found when the
  /// topology is built.
  struct Where {
    SourceLocation location;
    std::string key;
    bool operator==(const Where&) const = default;
  };
  struct Switch {
    std::string name;
    std::string kind = "switch";  // free text: leaf, spine, core, tor, ...
    Where where;                  // of its name
    void visit(Section& s);
    bool operator==(const Switch&) const = default;
  };
  struct Link {
    std::string a, b;
    Bandwidth bandwidth = Bandwidth::gbits_per_s(400);
    Duration latency = Duration::us(0.6);
    std::string tier;  // empty: "nic" when one end is a GPU, "fabric" otherwise
    Where where_a, where_b;
    void visit(Section& s);
    bool operator==(const Link&) const = default;
  };
  std::vector<Switch> switches;
  std::vector<Link> links;
  void visit(Section& s);
  bool operator==(const ExplicitConfig&) const = default;  // every field: fabrics are shared by equal inputs
};

class ExplicitTopology final : public Topology {
 public:
  /// `scale_up` supplies the scale-up latency and bandwidth override; InputError if a link names an unknown
  /// vertex or a switch is named twice.
  ExplicitTopology(const LeafSpineConfig& scale_up, const ExplicitConfig& config, const std::vector<NodeShape>& nodes);
  uint32_t endpoint_count() const override { return static_cast<uint32_t>(node_of_.size()); }
  uint32_t node_of(uint32_t e) const override { return node_of_[e]; }
  void paths(uint32_t src, uint32_t dst, std::vector<Path>& out) const override;
  std::string describe() const override;
  Bandwidth scale_up_bandwidth(uint32_t e) const override { return links_[su_up_[e]].bandwidth; }
  Bandwidth nic_bandwidth(uint32_t e) const override;
  bool in_switch_reduction(uint32_t e) const override { return nodes_[node_of_[e]].in_switch_reduction; }
  uint32_t scale_up_links(uint32_t e) const override { return nodes_[node_of_[e]].scale_up_links; }
  void nic_ports(uint32_t e, bool up, std::vector<uint32_t>& out) const override {
    out = up ? gpu_up_[e] : gpu_down_[e];
  }

 private:
  std::vector<NodeShape> nodes_;
  std::vector<uint32_t> node_of_, su_up_, su_down_;
  std::vector<std::vector<uint32_t>> out_links_;  // per vertex
  std::vector<std::vector<uint32_t>> gpu_up_, gpu_down_;  // per GPU: its own links from it and to it, paired
  mutable std::map<std::pair<uint32_t, uint32_t>, std::vector<Path>> cache_;
};

}  // namespace lcsim::net
