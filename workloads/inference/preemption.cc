#include "workloads/inference/preemption.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "sim/error.h"

namespace lcsim::inf {

namespace {
/// The narrowest link and the summed latency of the first path (the topology's order), false when there is none.
bool narrowest(const net::Topology& t, uint32_t src, uint32_t dst, Bandwidth& bw, Duration& latency) {
  std::vector<net::Path> paths;
  t.service_paths(src, dst, paths);
  if (paths.empty() || paths.front().empty()) return false;
  double b = std::numeric_limits<double>::infinity(), l = 0;
  for (uint32_t link : paths.front()) {
    b = std::min(b, t.links()[link].bandwidth.bps());
    l += t.links()[link].latency.s();
  }
  bw = Bandwidth::bytes_per_s(b);
  latency = Duration::seconds(l);
  return true;
}
}  // namespace

HostPath host_path(const net::Topology& topology, uint32_t endpoint, Bandwidth fallback) {
  HostPath p{fallback, fallback, Duration{}, Duration{}, false};
  if (topology.pcie_link(endpoint, true) < 0) return p;  // no PCIe path modelled for this node
  uint32_t host = 0;
  try {
    host = topology.host_endpoint(topology.node_of(endpoint));
  } catch (const InputError&) {
    return p;
  }
  HostPath found = p;
  if (narrowest(topology, endpoint, host, found.to_host, found.to_host_latency) &&
      narrowest(topology, host, endpoint, found.from_host, found.from_host_latency)) {
    found.modelled = true;
    return found;
  }
  return p;
}

double swap_seconds(const HostPath& p, double out_bytes, double in_bytes) {
  double t = 0;
  if (out_bytes > 0) t += out_bytes / p.to_host.bps() + p.to_host_latency.s();
  if (in_bytes > 0) t += in_bytes / p.from_host.bps() + p.from_host_latency.s();
  return t;
}

}  // namespace lcsim::inf
