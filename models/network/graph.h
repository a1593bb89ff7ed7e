// The topology as a graph (Boost.Graph): devices and switches as vertices, each bidirectional link pair as one
// edge. Used for what a network architect asks of a fabric (counts per tier, bisection bandwidth,
// oversubscription, diameter) and for the GraphViz export; paths for flows still come from the builder.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "models/network/topology.h"

namespace lcsim::net {

struct GraphVertex {
  std::string name;
  std::string kind;  // gpu, scale_up_switch, leaf, spine
};

struct GraphEdge {
  std::string tier;
  Bandwidth bandwidth;  // per direction
};

struct TopologyReport {
  std::vector<std::pair<std::string, size_t>> vertices_per_kind;
  std::vector<std::pair<std::string, size_t>> links_per_tier;  // bidirectional links
  Bandwidth bisection;          // scale-out, per direction, across the worst half/half split of the leaves
  double oversubscription = 1;  // leaf down / up capacity
  int diameter_hops = 0;        // longest GPU-to-GPU shortest path, in links
};

class TopologyGraph {
 public:
  /// Builds the graph of a leaf/spine fabric.
  explicit TopologyGraph(const LeafSpine& t);
  ~TopologyGraph();
  TopologyReport report() const;
  void write_dot(std::ostream& out) const;
  size_t vertex_count() const;

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace lcsim::net
