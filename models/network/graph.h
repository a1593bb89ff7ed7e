// The topology as a graph (Boost.Graph): every vertex and link a builder made (one undirected edge per link
// pair). Answers what a network architect asks of a fabric (counts per kind and tier, bisection bandwidth,
// oversubscription, diameter) and writes GraphViz; works for any Topology.
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "models/network/topology.h"

namespace lcsim::net {

struct TopologyReport {
  std::vector<std::pair<std::string, size_t>> vertices_per_kind;
  std::vector<std::pair<std::string, size_t>> links_per_tier;  // bidirectional links
  Bandwidth bisection;          // max flow from the first half of the GPUs (by rank) to the second, per direction
  double oversubscription = 1;  // leaf down / up capacity, worst leaf (1 when there are no leaves with uplinks)
  int diameter_hops = 0;        // longest GPU-to-GPU shortest path, in links (BFS from up to 64 GPUs)
};

class TopologyGraph {
 public:
  explicit TopologyGraph(const Topology& t);
  ~TopologyGraph();
  TopologyReport report() const;
  void write_dot(std::ostream& out) const;
  size_t vertex_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lcsim::net
