#include "models/storage/checkpoint_flows.h"

#include <algorithm>

namespace lcsim::storage {

bool tier_on_topology(const std::string& tier) { return tier == "parallel_fs" || tier == "peer_memory"; }

namespace {

/// The job's nodes and a level's tier as flow ends, with the checks every save and restore makes.
class TierFlows {
 public:
  TierFlows(const CheckpointLevel& level, const StorageConfig& storage, const net::Topology& t,
            const CheckpointJob& job, size_t level_index)
      : level_(level), storage_(storage), t_(t), key_("checkpoint.levels[" + std::to_string(level_index) + "].tier") {
    if (!tier_on_topology(level.tier)) {
      fail("tier " + level.tier + " is not on the topology's links, so a run cannot save to it (in-run checkpoints: "
           "parallel_fs or peer_memory)");
    }
    if (level.tier == "parallel_fs" && storage.parallel_fs.servers <= 0) {
      fail("tier parallel_fs needs cluster.storage.parallel_fs.servers > 0");
    }
    for (uint32_t e : job.endpoints) {  // in rank order (peer memory: each node saves to the next)
      if (std::find(nodes_.begin(), nodes_.end(), t.node_of(e)) == nodes_.end()) nodes_.push_back(t.node_of(e));
    }
    if (level.tier == "peer_memory" && nodes_.size() < 2) fail("tier peer_memory needs a job on 2 nodes or more");
  }
  /// Every flow's ends must be connected: a template without a PCIe path to its host, or without a storage NIC,
  /// cannot save or restore this way.
  void add(std::vector<net::FlowRequest>& to, uint32_t src, uint32_t dst, Bytes size) {
    t_.service_paths(src, dst, paths_);
    if (paths_.empty()) {
      fail("no path from " + t_.endpoint_name(src) + " to " + t_.endpoint_name(dst) +
           " (the node template models no PCIe path to its host, or the host has no NIC on the storage network)");
    }
    to.push_back({src, dst, size, 0});
  }
  /// `size` bytes between `end` (a GPU or a host of node `node`) and the tier: the next node's host memory, or
  /// striped over every file-system server. write: towards the tier.
  void tier(std::vector<net::FlowRequest>& to, uint32_t end, uint32_t node, Bytes size, bool write) {
    auto one = [&](uint32_t there, Bytes b) { write ? add(to, end, there, b) : add(to, there, end, b); };
    if (level_.tier == "peer_memory") {
      const size_t i = static_cast<size_t>(std::find(nodes_.begin(), nodes_.end(), node) - nodes_.begin());
      one(t_.host_endpoint(nodes_[(i + 1) % nodes_.size()]), size);
      return;
    }
    const int s = storage_.parallel_fs.servers;
    for (int i = 0; i < s; ++i) one(t_.storage_endpoint(static_cast<uint32_t>(i)), size / static_cast<double>(s));
  }

 private:
  [[noreturn]] void fail(const std::string& why) const { throw InputError({{SourceLocation{}, key_, why}}); }
  const CheckpointLevel& level_;
  const StorageConfig& storage_;
  const net::Topology& t_;
  std::string key_;
  std::vector<uint32_t> nodes_;
  std::vector<net::Path> paths_;
};

}  // namespace

SaveFlows save_flows(const CheckpointConfig& config, const StorageConfig& storage, const net::Topology& t,
                     const CheckpointJob& job, size_t level_index) {
  const CheckpointLevel& level = config.levels.at(level_index);
  TierFlows io(level, storage, t, job, level_index);
  const CheckpointState st = checkpoint_state(config, job);
  SaveFlows out;
  out.writers = static_cast<int>(st.writers.size());
  out.bytes = st.total;
  const bool async = level.mode == "async";
  const bool direct = !async && storage.gpudirect;
  for (size_t k = 0; k < st.writers.size(); ++k) {
    const uint32_t g = st.writers[k], node = t.node_of(g), host = t.host_endpoint(node);
    const Bytes size = st.sizes[k];
    if (direct) {
      io.tier(out.blocking, g, node, size, true);
    } else if (async) {
      io.add(out.blocking, g, host, size);
      io.tier(out.background, host, node, size, true);
    } else {  // staged through bounce buffers: both legs at once
      io.add(out.blocking, g, host, size);
      io.tier(out.blocking, host, node, size, true);
    }
  }
  return out;
}

RestoreFlows restore_flows(const CheckpointConfig& config, const StorageConfig& storage, const net::Topology& t,
                           const CheckpointJob& job, size_t level_index) {
  const CheckpointLevel& level = config.levels.at(level_index);
  TierFlows io(level, storage, t, job, level_index);
  const CheckpointState st = checkpoint_state(config, job);
  RestoreFlows out;
  const auto groups = restore_groups(job);
  const std::vector<Bytes> group_bytes = restore_group_bytes(st, groups);
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::vector<uint32_t>& chain = groups[g];
    const uint32_t reader = chain.front(), node = t.node_of(reader);
    const Bytes size = group_bytes[g];
    ++out.readers;
    out.bytes += size;
    out.group_bytes = std::max(out.group_bytes, size);
    if (storage.gpudirect) {
      io.tier(out.read, reader, node, size, false);
    } else {  // staged: the tier into host memory and host memory into the GPU, pipelined
      const uint32_t host = t.host_endpoint(node);
      io.tier(out.read, host, node, size, false);
      io.add(out.read, host, reader, size);
    }
    for (size_t d = 0; d + 1 < chain.size(); ++d) {  // label g: groups spread over the paths
      out.broadcast.push_back({chain[d], chain[d + 1], size, static_cast<uint64_t>(g)});
    }
  }
  return out;
}

}  // namespace lcsim::storage
