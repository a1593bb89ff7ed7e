#include "models/storage/checkpoint_flows.h"

#include <algorithm>

namespace lcsim::storage {

bool tier_on_topology(const std::string& tier) { return tier == "parallel_fs" || tier == "peer_memory"; }

SaveFlows save_flows(const CheckpointConfig& config, const StorageConfig& storage, const net::Topology& t,
                     const CheckpointJob& job, size_t level_index) {
  const CheckpointLevel& level = config.levels.at(level_index);
  const std::string key = "checkpoint.levels[" + std::to_string(level_index) + "].tier";
  auto fail = [&](const std::string& why) { throw InputError({{SourceLocation{}, key, why}}); };
  if (!tier_on_topology(level.tier)) {
    fail("tier " + level.tier + " is not on the topology's links, so a run cannot save to it (in-run checkpoints: "
         "parallel_fs or peer_memory)");
  }
  if (level.tier == "parallel_fs" && storage.parallel_fs.servers <= 0) {
    fail("tier parallel_fs needs cluster.storage.parallel_fs.servers > 0");
  }
  std::vector<uint32_t> nodes;  // the job's nodes, in rank order (peer memory: each node saves to the next)
  for (uint32_t e : job.endpoints) {
    if (std::find(nodes.begin(), nodes.end(), t.node_of(e)) == nodes.end()) nodes.push_back(t.node_of(e));
  }
  if (level.tier == "peer_memory" && nodes.size() < 2) fail("tier peer_memory needs a job on 2 nodes or more");

  const CheckpointState st = checkpoint_state(config, job);
  SaveFlows out;
  out.writers = static_cast<int>(st.writers.size());
  out.bytes = st.per_writer * static_cast<double>(st.writers.size());
  const bool async = level.mode == "async";
  const bool direct = !async && storage.gpudirect;
  std::vector<net::Path> paths;
  // Every flow's ends must be connected: a template without a PCIe path to its host, or without a storage NIC,
  // cannot save this way.
  auto add = [&](std::vector<net::FlowRequest>& to, uint32_t src, uint32_t dst, Bytes size) {
    t.service_paths(src, dst, paths);
    if (paths.empty()) {
      fail("no path from " + t.endpoint_name(src) + " to " + t.endpoint_name(dst) +
           " (the node template models no PCIe path to its host, or the host has no NIC on the storage network)");
    }
    to.push_back({src, dst, size, 0});
  };
  auto to_tier = [&](std::vector<net::FlowRequest>& to, uint32_t from, uint32_t node, Bytes size) {
    if (level.tier == "peer_memory") {
      const size_t i = static_cast<size_t>(std::find(nodes.begin(), nodes.end(), node) - nodes.begin());
      add(to, from, t.host_endpoint(nodes[(i + 1) % nodes.size()]), size);
      return;
    }
    const int s = storage.parallel_fs.servers;
    for (int i = 0; i < s; ++i) add(to, from, t.storage_endpoint(static_cast<uint32_t>(i)), size / static_cast<double>(s));
  };
  for (uint32_t g : st.writers) {
    const uint32_t node = t.node_of(g), host = t.host_endpoint(node);
    if (direct) {
      to_tier(out.blocking, g, node, st.per_writer);
    } else if (async) {
      add(out.blocking, g, host, st.per_writer);
      to_tier(out.background, host, node, st.per_writer);
    } else {  // staged through bounce buffers: both legs at once
      add(out.blocking, g, host, st.per_writer);
      to_tier(out.blocking, host, node, st.per_writer);
    }
  }
  return out;
}

}  // namespace lcsim::storage
