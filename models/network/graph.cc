#include "models/network/graph.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/breadth_first_search.hpp>
#include <boost/graph/graphviz.hpp>
#include <boost/graph/push_relabel_max_flow.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>

namespace lcsim::net {

struct EdgeProps {
  std::string tier;
  Bandwidth bandwidth;  // per direction
};
using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS, VertexInfo, EdgeProps>;

struct TopologyGraph::Impl {
  const Topology& t;
  Graph g;
  explicit Impl(const Topology& topo) : t(topo) {}
};

namespace {

// A meshed node's GPU port to its scale-up switch (NodeShape::scale_up_links > 0): the topology builds it (it
// carries the GPU's scale_up_bandwidth) but no path takes it, since the node's GPUs reach each other over their mesh
// links only (Topology::mesh_link), and the hardware has no such switch (AMD's MI300X platform: seven xGMI links
// per GPU, one to each other GPU). The graph, and everything reported from it, leaves the port and the switch out.
bool meshed_port(const Topology& t, const LinkInfo& l) {
  const auto& v = t.vertices();
  auto meshed_gpu = [&](uint32_t x) { return v[x].kind == "gpu" && t.scale_up_links(x) > 0; };
  return l.tier == "scale_up" && ((meshed_gpu(l.from) && v[l.to].kind == "scale_up_switch") ||
                                  (meshed_gpu(l.to) && v[l.from].kind == "scale_up_switch"));
}

}  // namespace

TopologyGraph::TopologyGraph(const Topology& t) : impl_(std::make_unique<Impl>(t)) {
  Graph& g = impl_->g;
  // A switch whose every link is a meshed port is left out; the others keep their order (GPUs first: a GPU's graph
  // vertex is its endpoint id, as in the topology).
  std::vector<bool> kept(t.vertices().size(), true);
  for (size_t v = 0; v < kept.size(); ++v) kept[v] = t.vertices()[v].kind != "scale_up_switch";
  for (const auto& l : t.links()) {
    if (!meshed_port(t, l)) kept[l.from] = kept[l.to] = true;
  }
  std::vector<size_t> id(kept.size(), 0);
  for (size_t v = 0; v < kept.size(); ++v) {
    if (kept[v]) id[v] = boost::add_vertex(t.vertices()[v], g);
  }
  for (const auto& l : t.links()) {
    if (l.from < l.to && !meshed_port(t, l)) {
      boost::add_edge(id[l.from], id[l.to], EdgeProps{l.tier, l.bandwidth}, g);  // one edge per pair
    }
  }
}

TopologyGraph::~TopologyGraph() = default;

size_t TopologyGraph::vertex_count() const { return boost::num_vertices(impl_->g); }

namespace {

// The links between a node's GPUs and its host (PCIe, host memory): not part of the scale-out network the
// bisection and oversubscription describe (through them a GPU would reach the storage network).
bool host_side(const LinkInfo& l) { return l.tier == "pcie" || l.tier == "dram"; }

// Max flow over the directed links (those that are up) from a set of GPUs to another, in bytes/s. Capacities are
// integers (Boost's push-relabel checks that the result is a flow, exactly; doubles with an "unlimited" of 1e30
// fail that check), in units of `unit` bytes/s so that their sum fits in 62 bits whatever the bandwidths.
double max_flow(const Topology& t, const std::vector<uint32_t>& from, const std::vector<uint32_t>& to) {
  using Capacity = int64_t;
  using Traits = boost::adjacency_list_traits<boost::vecS, boost::vecS, boost::directedS>;
  using FlowGraph = boost::adjacency_list<
      boost::vecS, boost::vecS, boost::directedS, boost::no_property,
      boost::property<boost::edge_capacity_t, Capacity,
                      boost::property<boost::edge_residual_capacity_t, Capacity,
                                      boost::property<boost::edge_reverse_t, Traits::edge_descriptor>>>>;
  const size_t n = t.vertices().size();
  double total = 0;
  for (size_t l = 0; l < t.links().size(); ++l) {
    if (t.link_up(static_cast<uint32_t>(l))) total += std::max(0.0, t.links()[l].bandwidth.bps());
  }
  double unit = 1;
  while (total / unit > 0x1p60) unit *= 2;
  const Capacity unlimited = static_cast<Capacity>(std::ceil(total / unit)) + 1;
  FlowGraph f(n + 2);
  auto cap = boost::get(boost::edge_capacity, f);
  auto rev = boost::get(boost::edge_reverse, f);
  auto add = [&](size_t a, size_t b, Capacity c) {
    auto e = boost::add_edge(a, b, f).first, r = boost::add_edge(b, a, f).first;
    cap[e] = c;
    cap[r] = 0;
    rev[e] = r;
    rev[r] = e;
  };
  for (size_t l = 0; l < t.links().size(); ++l) {
    if (!t.link_up(static_cast<uint32_t>(l)) || host_side(t.links()[l]) || meshed_port(t, t.links()[l])) continue;
    add(t.links()[l].from, t.links()[l].to,
        static_cast<Capacity>(std::llround(std::max(0.0, t.links()[l].bandwidth.bps()) / unit)));
  }
  const size_t source = n, sink = n + 1;
  for (uint32_t v : from) add(source, v, unlimited);
  for (uint32_t v : to) add(v, sink, unlimited);
  return static_cast<double>(boost::push_relabel_max_flow(f, source, sink)) * unit;
}

}  // namespace

TopologyReport TopologyGraph::report() const {
  const Graph& g = impl_->g;
  const Topology& t = impl_->t;
  TopologyReport r;
  std::map<std::string, size_t> kinds, tiers;
  for (auto v : boost::make_iterator_range(boost::vertices(g))) ++kinds[g[v].kind];
  for (auto e : boost::make_iterator_range(boost::edges(g))) ++tiers[g[e].tier];
  r.vertices_per_kind.assign(kinds.begin(), kinds.end());
  r.links_per_tier.assign(tiers.begin(), tiers.end());

  // Bisection over the scale-out network: the first half of the nodes' GPUs against the second half.
  const uint32_t n = t.endpoint_count();
  std::vector<uint32_t> a, b;
  const uint32_t half_node = t.node_of(n - 1) / 2;
  for (uint32_t e = 0; e < n; ++e) (t.node_of(e) <= half_node && t.node_of(n - 1) > 0 ? a : b).push_back(e);
  if (a.empty()) {  // one node: split its GPUs
    b.clear();
    for (uint32_t e = 0; e < n; ++e) (e < n / 2 ? a : b).push_back(e);
  }
  r.bisection = Bandwidth::bytes_per_s(max_flow(t, a, b));

  // Oversubscription: per leaf, capacity down (to GPUs) over capacity up (to other switches).
  double worst = 0;
  std::vector<double> down(t.vertices().size(), 0), up(t.vertices().size(), 0);
  for (const auto& l : t.links()) {
    if (host_side(l) || meshed_port(t, l)) continue;
    if (t.vertices()[l.from].kind == "gpu") down[l.to] += l.bandwidth.bps();
    else if (t.vertices()[l.to].kind != "gpu" && t.vertices()[l.from].kind != "scale_up_switch") up[l.from] += l.bandwidth.bps();
  }
  for (size_t v = 0; v < t.vertices().size(); ++v) {
    if (t.vertices()[v].kind != "scale_up_switch" && down[v] > 0 && up[v] > 0) worst = std::max(worst, down[v] / up[v]);
  }
  r.oversubscription = worst > 0 ? worst : 1.0;

  // Diameter: BFS from up to 64 GPUs spread over the ranks.
  const uint32_t step = std::max<uint32_t>(1, n / 64);
  for (uint32_t s = 0; s < n; s += step) {
    std::vector<int> dist(boost::num_vertices(g), 0);
    boost::breadth_first_search(
        g, s, boost::visitor(boost::make_bfs_visitor(boost::record_distances(dist.data(), boost::on_tree_edge()))));
    for (uint32_t v = 0; v < n; ++v) r.diameter_hops = std::max(r.diameter_hops, dist[v]);
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
