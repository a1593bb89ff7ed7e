#include "models/network/explicit_topology.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <functional>

namespace lcsim::net {

namespace {

ExplicitConfig::Where where(const Section& s, const std::string& key) {
  const ConfigValue* v = s.node() ? s.node()->find(key) : nullptr;
  return {v ? v->location : s.node() ? s.node()->location : SourceLocation{}, s.child_path(key)};
}

[[noreturn]] void fail_at(const ExplicitConfig::Where& w, const std::string& message) {
  throw InputError({{w.location, w.key, message}});
}

}  // namespace

void ExplicitConfig::Switch::visit(Section& s) {
  s.required("name", name, "switch name, as links refer to it");
  s.field("kind", kind, "what the switch is (leaf, spine, core, ...): for reports");
  if (s.mode() == Section::Mode::kParse) where = ::lcsim::net::where(s, "name");
}

void ExplicitConfig::Link::visit(Section& s) {
  s.required("a", a, "one end: a switch name or a GPU (nK.gpuG)");
  s.required("b", b, "the other end");
  if (s.mode() == Section::Mode::kParse) {
    where_a = ::lcsim::net::where(s, "a");
    where_b = ::lcsim::net::where(s, "b");
  }
  s.field("bandwidth", bandwidth, "bandwidth per direction", Range::positive());
  s.field("latency", latency, "latency per direction", Range::at_least(0));
  s.field("tier", tier, "tier for metrics; empty: nic when one end is a GPU, fabric otherwise");
}

void ExplicitConfig::visit(Section& s) {
  s.list("switches", "switches of the scale-out network", switches, [](Section& x, Switch& sw) { sw.visit(x); });
  s.list("links", "links, each bidirectional", links, [](Section& x, Link& l) { l.visit(x); });
}

ExplicitTopology::ExplicitTopology(const LeafSpineConfig& scale_up, const ExplicitConfig& config,
                                   const std::vector<NodeShape>& nodes)
    : nodes_(nodes) {
  std::map<std::string, uint32_t> by_name;
  for (uint32_t k = 0; k < nodes.size(); ++k) {
    for (uint32_t g = 0; g < nodes[k].gpus; ++g) {
      const std::string name = "n" + std::to_string(k) + ".gpu" + std::to_string(g);
      by_name[name] = add_vertex(name, "gpu");
      node_of_.push_back(k);
    }
  }
  const uint32_t n = endpoint_count();
  std::vector<uint32_t> node_switch;
  for (uint32_t k = 0; k < nodes.size(); ++k) {
    const std::string name = "n" + std::to_string(k) + ".nvswitch";
    node_switch.push_back(by_name[name] = add_vertex(name, "scale_up_switch"));
  }
  for (uint32_t e = 0; e < n; ++e) {
    const Bandwidth su = scale_up.scale_up_bandwidth.bps() > 0 ? scale_up.scale_up_bandwidth
                                                                : nodes[node_of_[e]].scale_up_bandwidth;
    const uint32_t sw = node_switch[node_of_[e]];
    su_up_.push_back(add_link(vertices_[e].name + ".nvl_up", su, scale_up.scale_up_latency, "scale_up", -1, e, sw));
    su_down_.push_back(add_link(vertices_[e].name + ".nvl_down", su, scale_up.scale_up_latency, "scale_up", -1, sw, e));
  }
  build_scale_up_mesh(nodes, scale_up.scale_up_latency * 2.0);
  for (const auto& s : config.switches) {
    if (by_name.count(s.name)) fail_at(s.where, "'" + s.name + "' is named twice");
    by_name[s.name] = add_vertex(s.name, s.kind);
  }
  std::vector<std::string> names;
  for (const auto& [name, id] : by_name) names.push_back(name);
  for (const auto& l : config.links) {
    for (const auto& [end, w] : {std::make_pair(&l.a, &l.where_a), std::make_pair(&l.b, &l.where_b)}) {
      if (!by_name.count(*end)) {
        const std::string guess = did_you_mean(*end, names);
        fail_at(*w, "no GPU or switch named '" + *end + "'" + (guess.empty() ? "" : "; did you mean '" + guess + "'?"));
      }
    }
    const uint32_t a = by_name[l.a], b = by_name[l.b];
    const bool to_gpu = vertices_[a].kind == "gpu" || vertices_[b].kind == "gpu";
    const std::string tier = !l.tier.empty() ? l.tier : to_gpu ? "nic" : "fabric";
    const uint32_t ab = add_link(l.a + "->" + l.b, l.bandwidth, l.latency, tier, 0, a, b);
    const uint32_t ba = add_link(l.b + "->" + l.a, l.bandwidth, l.latency, tier, 0, b, a);
    gpu_up_.resize(n);
    gpu_down_.resize(n);
    if (a < n) {  // a GPU's own link: one of its NIC ports
      gpu_up_[a].push_back(ab);
      gpu_down_[a].push_back(ba);
    }
    if (b < n) {
      gpu_up_[b].push_back(ba);
      gpu_down_[b].push_back(ab);
    }
  }
  gpu_up_.resize(n);
  gpu_down_.resize(n);
  build_host_io(nodes);
  if (scale_up.host_networks) build_host_networks(scale_up, nodes);
  out_links_.assign(vertices_.size(), {});
  for (uint32_t l = 0; l < links_.size(); ++l) out_links_[links_[l].from].push_back(l);
}

Bandwidth ExplicitTopology::nic_bandwidth(uint32_t e) const {
  Bandwidth total;
  for (uint32_t l : out_links_[e]) {
    if (links_[l].tier != "scale_up" && links_[l].tier != "pcie") total += links_[l].bandwidth;
  }
  return capped_by_pcie(e, total);
}

void ExplicitTopology::paths(uint32_t src, uint32_t dst, std::vector<Path>& out) const {
  auto key = std::make_pair(src, dst);
  if (auto it = cache_.find(key); it != cache_.end()) {
    out = it->second;
    if (node_of_[src] != node_of_[dst]) add_pcie_hops(src, dst, out);
    return;
  }
  out.clear();
  // Inside a node, traffic takes the scale-up network (as with leaf_spine), even where a NIC path is as short.
  if (node_of_[src] == node_of_[dst]) {
    const int64_t mesh = mesh_link(src, dst);
    if (mesh >= 0) {
      if (up_[static_cast<uint32_t>(mesh)]) out.push_back({static_cast<uint32_t>(mesh)});
    } else if (up_[su_up_[src]] && up_[su_down_[dst]]) {
      out.push_back({su_up_[src], su_down_[dst]});
    }
    cache_[key] = out;
    return;
  }
  // BFS over links that are up, then walk the shortest-path DAG back from dst. GPUs other than src and dst are
  // not transit vertices (a GPU does not forward).
  const size_t V = vertices_.size();
  std::vector<int> dist(V, -1);
  std::deque<uint32_t> q{src};
  dist[src] = 0;
  while (!q.empty()) {
    const uint32_t v = q.front();
    q.pop_front();
    if (v != src && vertices_[v].kind == "gpu") continue;
    for (uint32_t l : out_links_[v]) {
      if (!up_[l] || links_[l].tier == "scale_up" || links_[l].tier == "pcie") continue;
      const uint32_t w = links_[l].to;
      if (dist[w] < 0) {
        dist[w] = dist[v] + 1;
        q.push_back(w);
      }
    }
  }
  if (dist[dst] > 0) {
    std::vector<std::vector<uint32_t>> into(V);  // shortest-path DAG: links entering each vertex
    for (uint32_t l = 0; l < links_.size(); ++l) {
      const auto& k = links_[l];
      if (up_[l] && k.tier != "scale_up" && k.tier != "pcie" && dist[k.from] >= 0 && dist[k.to] == dist[k.from] + 1 &&
          (k.from == src || vertices_[k.from].kind != "gpu")) {
        into[k.to].push_back(l);
      }
    }
    Path rev;
    std::function<void(uint32_t)> walk = [&](uint32_t v) {
      if (out.size() >= 64) return;
      if (v == src) {
        out.emplace_back(rev.rbegin(), rev.rend());
        return;
      }
      for (uint32_t l : into[v]) {
        rev.push_back(l);
        walk(links_[l].from);
        rev.pop_back();
      }
    };
    walk(dst);
    std::sort(out.begin(), out.end());
  }
  cache_[key] = out;
  add_pcie_hops(src, dst, out);
}

std::string ExplicitTopology::describe() const {
  size_t switches = 0;
  for (const auto& v : vertices_) switches += v.kind != "gpu" && v.kind != "scale_up_switch";
  char buf[200];
  std::snprintf(buf, sizeof buf, "explicit: %zu nodes, %u GPUs, %zu switches, %zu links (both directions counted)",
                nodes_.size(), endpoint_count(), switches, links_.size());
  return buf;
}

}  // namespace lcsim::net
