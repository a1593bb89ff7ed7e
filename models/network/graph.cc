#include "models/network/graph.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/breadth_first_search.hpp>
#include <boost/graph/graphviz.hpp>

#include <algorithm>
#include <map>

namespace lcsim::net {

using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS, GraphVertex, GraphEdge>;

struct TopologyGraph::Impl {
  Graph g;
  std::vector<size_t> gpus;
  double leaf_down = 0, leaf_up = 0;  // capacity of one (full) leaf
  size_t leaves = 0;  // per plane
  uint32_t planes = 1;
  double uplink = 0;
  int spines = 0;
};

TopologyGraph::TopologyGraph(const LeafSpine& t) : impl_(new Impl) {
  Graph& g = impl_->g;
  const uint32_t n = t.endpoint_count();
  std::map<uint32_t, size_t> node_switch;
  for (uint32_t e = 0; e < n; ++e) {
    const size_t v = boost::add_vertex({"n" + std::to_string(t.node_of(e)) + ".gpu" + std::to_string(e), "gpu"}, g);
    impl_->gpus.push_back(v);
    if (!node_switch.count(t.node_of(e))) {
      node_switch[t.node_of(e)] = boost::add_vertex({"n" + std::to_string(t.node_of(e)) + ".nvswitch", "scale_up_switch"}, g);
    }
  }
  const auto& cfg = t.config();
  const uint32_t planes = t.planes();
  for (uint32_t e = 0; e < n; ++e) {
    boost::add_edge(impl_->gpus[e], node_switch[t.node_of(e)], {"scale_up", t.scale_up_bandwidth(e)}, g);
  }
  for (uint32_t p = 0; p < planes; ++p) {  // each plane: its own leaves and spines
    const std::string prefix = planes > 1 ? "p" + std::to_string(p) + "." : "";
    std::vector<size_t> leaves, spines;
    for (uint32_t l = 0; l < t.leaves(); ++l) leaves.push_back(boost::add_vertex({prefix + "leaf" + std::to_string(l), "leaf"}, g));
    if (t.leaves() > 1) {
      for (int s = 0; s < cfg.spines; ++s) spines.push_back(boost::add_vertex({prefix + "spine" + std::to_string(s), "spine"}, g));
    }
    for (uint32_t e = 0; e < n; ++e) {
      boost::add_edge(impl_->gpus[e], leaves[t.leaf_of(e)], {"nic", t.nic_bandwidth(e) / planes}, g);
    }
    for (size_t l = 0; l < leaves.size() && !spines.empty(); ++l) {
      for (size_t s = 0; s < spines.size(); ++s) boost::add_edge(leaves[l], spines[s], {"spine", cfg.uplink_bandwidth}, g);
    }
  }
  impl_->leaves = t.leaves();
  impl_->planes = planes;
  impl_->uplink = cfg.uplink_bandwidth.bps();
  impl_->spines = cfg.spines;
  impl_->leaf_down = cfg.ports_per_leaf * t.nic_bandwidth(0).bps() / planes;
  impl_->leaf_up = cfg.spines * cfg.uplink_bandwidth.bps();
}

TopologyGraph::~TopologyGraph() { delete impl_; }

size_t TopologyGraph::vertex_count() const { return boost::num_vertices(impl_->g); }

TopologyReport TopologyGraph::report() const {
  const Graph& g = impl_->g;
  TopologyReport r;
  std::map<std::string, size_t> kinds, tiers;
  for (auto v : boost::make_iterator_range(boost::vertices(g))) ++kinds[g[v].kind];
  for (auto e : boost::make_iterator_range(boost::edges(g))) ++tiers[g[e].tier];
  r.vertices_per_kind.assign(kinds.begin(), kinds.end());
  r.links_per_tier.assign(tiers.begin(), tiers.end());
  // Bisection: split the leaves in two halves; traffic between them crosses the spines (each leaf's uplinks) or,
  // with a single leaf, stays inside it (the leaf is non-blocking: half the NICs).
  if (impl_->leaves > 1) {
    r.bisection =
        Bandwidth::bytes_per_s(impl_->planes * (impl_->leaves / 2) * std::min(impl_->leaf_up, impl_->leaf_down));
    r.oversubscription = impl_->leaf_down / impl_->leaf_up;
  } else {
    double nic = 0;
    for (auto e : boost::make_iterator_range(boost::edges(g))) {
      if (g[e].tier == "nic") nic += g[e].bandwidth.bps();
    }
    r.bisection = Bandwidth::bytes_per_s(nic / 2);
  }
  // Diameter over GPUs: BFS from one GPU per leaf (the fabric is symmetric per leaf), hop counts to every GPU.
  std::vector<size_t> sources;
  std::map<size_t, bool> leaf_seen;
  for (size_t v : impl_->gpus) {
    auto [adj, end] = boost::adjacent_vertices(v, g);
    for (; adj != end; ++adj) {
      if (g[*adj].kind == "leaf" && !leaf_seen[*adj]) {
        leaf_seen[*adj] = true;
        sources.push_back(v);
      }
    }
  }
  for (size_t s : sources) {
    std::vector<int> dist(boost::num_vertices(g), 0);
    boost::breadth_first_search(
        g, s, boost::visitor(boost::make_bfs_visitor(boost::record_distances(dist.data(), boost::on_tree_edge()))));
    for (size_t v : impl_->gpus) r.diameter_hops = std::max(r.diameter_hops, dist[v]);
  }
  return r;
}

void TopologyGraph::write_dot(std::ostream& out) const {
  const Graph& g = impl_->g;
  boost::write_graphviz(
      out, g,
      [&g](std::ostream& os, size_t v) {
        os << "[label=\"" << g[v].name << "\",shape=" << (g[v].kind == "gpu" ? "box" : "ellipse") << "]";
      },
      [&g](std::ostream& os, const Graph::edge_descriptor& e) {
        os << "[label=\"" << to_string(g[e].bandwidth) << "\",tier=\"" << g[e].tier << "\"]";
      });
}

}  // namespace lcsim::net
