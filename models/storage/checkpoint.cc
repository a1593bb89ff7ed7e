#include "models/storage/checkpoint.h"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>

#include "sim/engine.h"

namespace lcsim::storage {

void CheckpointLevel::visit(Section& s) {
  s.choice("tier", tier, {"peer_memory", "local_nvme", "parallel_fs", "object_store"},
           "where this level's copy goes: another node's host memory, the node's own NVMe, the parallel file "
           "system, the object store");
  s.choice("mode", mode, {"sync", "async"},
           "sync: training waits for the whole save; async: training waits for a snapshot into host memory, then "
           "the copy is flushed to the tier in the background");
  s.field("every", every, "this level takes every Nth checkpoint", Range::between(1, 1000000));
}

void CheckpointConfig::visit(Section& s) {
  s.list("levels", "checkpoint levels, from the fastest to the most durable (the last one is what a restart after "
                   "losing a node restores from)",
         levels, [](Section& l, CheckpointLevel& level) { level.visit(l); });
  s.choice("state", state, {"memory_model", "parameters"},
           "what each rank saves: memory_model: the weights and optimizer states the training memory model puts on "
           "it (sharded by the distributed optimizer / ZeRO / FSDP; gradients are not saved), when the workload "
           "reports them; parameters: parameters x bytes_per_parameter spread over every rank");
  s.field("bytes_per_parameter", bytes_per_parameter,
          "checkpointed bytes per model parameter: bf16 weights 2 + fp32 master 4 + Adam m 4 + v 4",
          Range::positive());
  s.field("feed_reliability", feed_reliability,
          "reliability: takes the last level's blocking time as checkpoint_save (instead of its assumed value)");
  s.field("run_every", run_every,
          "in-run checkpoints: the training workload checkpoints every this many iterations (between iterations, "
          "not after the last); each level on the topology's links (tiers parallel_fs and peer_memory) whose "
          "`every` divides the checkpoint's number saves as flows on the run's own network, beside its collectives "
          "(sync: training waits for the save; async: for the snapshot, then the flush runs beside training); "
          "levels on local_nvme or object_store keep the storage model's estimate. The last level's measured "
          "blocking time and its restore after training then feed reliability. 0: none",
          Range::at_least(0));
  if (s.mode() != Section::Mode::kParse || run_every == 0) return;
  // Levels off the topology keep the storage model's estimate (a note in the report); with none on it, nothing
  // could be saved in-run.
  const bool any = std::any_of(levels.begin(), levels.end(), [](const CheckpointLevel& l) {
    return l.tier == "parallel_fs" || l.tier == "peer_memory";
  });
  if (levels.empty()) {
    s.error("run_every", "needs checkpoint.levels (each level on the topology saves in-run)");
  } else if (!any) {
    s.error("run_every", "no level's tier is on the topology's links (" + levels.back().tier +
                             "...); in-run checkpoints save to parallel_fs or peer_memory");
  }
}

namespace {

/// Fluid flows over the topology's links (plus media, CPU-copy and object-store resources of our own) on a private
/// queue engine: max-min sharing of every resource, and the time the last flow ends.
class IoPhase {
 public:
  explicit IoPhase(const net::Topology& t) : topology_(t), engine_(sim::make_engine("queue")) {
    // Two ends: the engine completes a flow from a host to itself at once. Paths are given explicitly.
    src_ = engine_->add_host("io.src", FlopRate::tflops(1));
    dst_ = engine_->add_host("io.dst", FlopRate::tflops(1));
  }
  sim::LinkId link(uint32_t topo_link) {
    auto [it, added] = links_.try_emplace("#" + std::to_string(topo_link), 0);
    if (added) {
      const net::LinkInfo& l = topology_.links()[topo_link];
      it->second = add(l.name, l.bandwidth, l.latency);
    }
    return it->second;
  }
  sim::LinkId resource(const std::string& name, Bandwidth bw) {
    auto [it, added] = links_.try_emplace(name, 0);
    if (added) it->second = add(name, bw, Duration());
    return it->second;
  }
  void path(std::vector<sim::LinkId>& out, const net::Path& p) {
    for (uint32_t l : p) out.push_back(link(l));
  }
  void flow(const std::vector<sim::LinkId>& path, Bytes size) {
    for (sim::LinkId l : path) carried_[l] += size.bytes();
    engine_->flow(src_, dst_, size, path, [this] { end_ = engine_->now(); });
  }
  Duration run() {
    engine_->run(Duration::seconds(1e9));
    return end_;
  }
  /// The resource with the most bytes per unit of capacity.
  std::string bottleneck() const {
    std::string best;
    double worst = -1;
    for (const auto& [l, bytes] : carried_) {
      const double t = bytes / engine_->link_bandwidth(l).bps();
      if (t > worst) {
        worst = t;
        best = names_[l];
      }
    }
    return best;
  }

 private:
  sim::LinkId add(const std::string& name, Bandwidth bw, Duration lat) {
    names_.push_back(name);
    return engine_->add_link(name, bw, lat);
  }
  const net::Topology& topology_;
  std::unique_ptr<sim::Engine> engine_;
  sim::HostId src_ = 0, dst_ = 0;
  std::map<std::string, sim::LinkId> links_;
  std::vector<std::string> names_;
  std::map<sim::LinkId, double> carried_;
  Duration end_;
};

class CheckpointPlanner {
 public:
  CheckpointPlanner(const StorageConfig& st, const net::Topology& t, const std::vector<const hw::NodeSpec*>& nodes,
                    const CheckpointJob& job, std::string key)
      : st_(st), t_(t), nodes_(nodes), job_(job), key_(std::move(key)) {
    for (uint32_t e : job.endpoints) {
      const uint32_t n = t.node_of(e);
      if (std::find(job_nodes_.begin(), job_nodes_.end(), n) == job_nodes_.end()) job_nodes_.push_back(n);
    }
  }

  LevelCost cost(const CheckpointLevel& level, const CheckpointState& st) {
    LevelCost c;
    c.tier = level.tier;
    c.mode = level.mode;
    c.every = level.every;
    check(level);
    const std::vector<uint32_t>& writers = st.writers;
    c.bytes = st.total;
    c.per_rank = st.per_writer;
    c.writers = static_cast<int>(writers.size());
    const bool async = level.mode == "async";
    // GPUDirect where the tier can take it; the object store's client is always the host's CPU.
    const bool direct = !async && st_.gpudirect && level.tier != "object_store";
    if (async) {
      IoPhase snap(t_), flush(t_);
      for (size_t k = 0; k < writers.size(); ++k) snap.flow(to_own_host(snap, writers[k]), st.sizes[k]);
      c.blocking = snap.run();
      for (size_t k = 0; k < writers.size(); ++k) from_host(flush, level.tier, writers[k], st.sizes[k], /*write=*/true);
      const Duration f = flush.run();
      c.save = c.blocking + f;
      c.bottleneck = flush.bottleneck();
    } else {
      IoPhase save(t_);
      for (size_t k = 0; k < writers.size(); ++k) {
        const uint32_t g = writers[k];
        if (direct) {
          from_gpu(save, level.tier, g, st.sizes[k], true);
        } else {  // staged: GPU -> bounce buffer in host memory, and host memory -> tier, pipelined
          save.flow(to_own_host(save, g), st.sizes[k]);
          from_host(save, level.tier, g, st.sizes[k], true);
        }
      }
      c.save = c.blocking = save.run();
      c.bottleneck = save.bottleneck();
    }
    // Restore: one reader per data-parallel group reads the group's state, then a chain broadcast.
    IoPhase read(t_), bcast(t_);
    const auto groups = restore_groups(job_);
    const std::vector<Bytes> group_bytes = restore_group_bytes(st, groups);
    for (size_t g = 0; g < groups.size(); ++g) {
      const std::vector<uint32_t>& chain = groups[g];
      const Bytes group_state = group_bytes[g];
      const uint32_t reader = chain.front();
      if (st_.gpudirect && level.tier != "object_store") {
        from_gpu(read, level.tier, reader, group_state, false);
      } else {
        std::vector<sim::LinkId> down;
        read.path(down, first(reader_host(reader), reader));
        read.flow(down, group_state);
        from_host(read, level.tier, reader, group_state, false);
      }
      for (size_t d = 0; d + 1 < chain.size(); ++d) {
        std::vector<net::Path> paths;
        t_.paths(chain[d], chain[d + 1], paths);
        if (paths.empty()) continue;
        std::vector<sim::LinkId> l;
        bcast.path(l, paths[g % paths.size()]);  // groups spread over the paths
        bcast.flow(l, group_state);
      }
    }
    c.restore_read = read.run();
    c.restore_broadcast = bcast.run();
    c.restore = c.restore_read + c.restore_broadcast;
    return c;
  }

 private:
  uint32_t node(uint32_t g) const { return t_.node_of(g); }
  uint32_t reader_host(uint32_t g) const { return t_.host_endpoint(node(g)); }
  net::Path first(uint32_t a, uint32_t b) const {
    std::vector<net::Path> p;
    t_.service_paths(a, b, p);
    if (p.empty()) {
      fail("no path from " + t_.endpoint_name(a) + " to " + t_.endpoint_name(b) +
           " (the node template models no PCIe path to its host, or the host has no NIC on the storage network)");
    }
    return p.front();
  }
  [[noreturn]] void fail(const std::string& why) const { throw InputError({{SourceLocation{}, key_, why}}); }
  void check(const CheckpointLevel& level) const {
    if (level.tier == "parallel_fs" && st_.parallel_fs.servers <= 0) {
      fail("tier parallel_fs needs cluster.storage.parallel_fs.servers > 0");
    }
    if (level.tier == "object_store" && st_.object_store.bandwidth.bps() <= 0) {
      fail("tier object_store needs cluster.storage.object_store.bandwidth > 0");
    }
    if (level.tier == "peer_memory" && job_nodes_.size() < 2) fail("tier peer_memory needs a job on 2 nodes or more");
    if (level.tier == "local_nvme") {
      for (uint32_t k : job_nodes_) {
        if (nodes_.at(k)->nvme_write_bandwidth.bps() <= 0 || nodes_.at(k)->nvme_read_bandwidth.bps() <= 0) {
          fail("tier local_nvme: node template '" + nodes_.at(k)->name + "' has no nvme_read/write_bandwidth");
        }
      }
    }
  }
  std::vector<sim::LinkId> to_own_host(IoPhase& io, uint32_t g) {
    std::vector<sim::LinkId> l;
    io.path(l, first(g, reader_host(g)));
    return l;
  }
  uint32_t peer_of(uint32_t g) const {
    const auto it = std::find(job_nodes_.begin(), job_nodes_.end(), node(g));
    const size_t i = static_cast<size_t>(it - job_nodes_.begin());
    return t_.host_endpoint(job_nodes_[(i + 1) % job_nodes_.size()]);
  }
  /// A server's drives behind its port, where they are set (0: the port is the limit).
  void media(IoPhase& io, uint32_t server, bool write, std::vector<sim::LinkId>& l) {
    if (t_.storage_media_link(server, write) >= 0) return;  // a link of the topology: on the path already
    const ParallelFsConfig& fs = st_.parallel_fs;
    const Bandwidth m = write ? fs.server_write : fs.server_read;
    if (m.bps() > 0) {
      l.push_back(io.resource("storage" + std::to_string(server) + (write ? ".media_write" : ".media_read"), m));
    }
  }
  sim::LinkId nvme(IoPhase& io, uint32_t g, bool write) {
    const hw::NodeSpec& n = *nodes_.at(node(g));
    return io.resource("n" + std::to_string(node(g)) + (write ? ".nvme_write" : ".nvme_read"),
                       write ? n.nvme_write_bandwidth : n.nvme_read_bandwidth);
  }
  /// `networked`: the copy is onto the topology's network (parallel_fs, peer memory), whose paths carry the
  /// host's copy link where the topology has one.
  void cpu_copy(IoPhase& io, uint32_t g, std::vector<sim::LinkId>& l, bool networked) {
    if (networked && t_.host_copy_link(node(g)) >= 0) return;
    if (st_.host_copy_bandwidth.bps() > 0) {
      l.push_back(io.resource("n" + std::to_string(node(g)) + ".cpu_copy", st_.host_copy_bandwidth));
    }
  }
  /// GPU g's bytes straight between its memory and the tier (GPUDirect); write: towards the tier.
  void from_gpu(IoPhase& io, const std::string& tier, uint32_t g, Bytes size, bool write) {
    if (tier == "parallel_fs") {
      const int s = st_.parallel_fs.servers;
      for (int i = 0; i < s; ++i) {  // striped over every server
        const uint32_t srv = t_.storage_endpoint(static_cast<uint32_t>(i));
        std::vector<sim::LinkId> l;
        if (!write) media(io, static_cast<uint32_t>(i), false, l);
        io.path(l, write ? first(g, srv) : first(srv, g));
        if (write) media(io, static_cast<uint32_t>(i), true, l);
        io.flow(l, size / static_cast<double>(s));
      }
    } else if (tier == "peer_memory") {
      std::vector<sim::LinkId> l;
      io.path(l, write ? first(g, peer_of(g)) : first(peer_of(g), g));
      io.flow(l, size);
    } else {  // local_nvme: the GPU's PCIe link and its switch's uplink, to the drives behind the root complex
      net::Path p = write ? first(g, reader_host(g)) : first(reader_host(g), g);
      const int64_t dram = write ? static_cast<int64_t>(p.size()) - 1 : 0;
      if (t_.links()[p[static_cast<size_t>(dram)]].tier == "dram") p.erase(p.begin() + dram);
      std::vector<sim::LinkId> l;
      if (!write) l.push_back(nvme(io, g, false));
      io.path(l, p);
      if (write) l.push_back(nvme(io, g, true));
      io.flow(l, size);
    }
  }
  /// GPU g's bytes between its host's memory and the tier (the host's CPU drives the copy).
  void from_host(IoPhase& io, const std::string& tier, uint32_t g, Bytes size, bool write) {
    const uint32_t host = reader_host(g);
    if (tier == "parallel_fs") {
      const int s = st_.parallel_fs.servers;
      for (int i = 0; i < s; ++i) {
        const uint32_t srv = t_.storage_endpoint(static_cast<uint32_t>(i));
        std::vector<sim::LinkId> l;
        cpu_copy(io, g, l, true);
        if (!write) media(io, static_cast<uint32_t>(i), false, l);
        io.path(l, write ? first(host, srv) : first(srv, host));
        if (write) media(io, static_cast<uint32_t>(i), true, l);
        io.flow(l, size / static_cast<double>(s));
      }
      return;
    }
    std::vector<sim::LinkId> l;
    cpu_copy(io, g, l, tier == "peer_memory");
    if (tier == "peer_memory") {
      io.path(l, write ? first(host, peer_of(g)) : first(peer_of(g), host));
    } else if (tier == "local_nvme") {
      io.path(l, {first(g, host).back()});  // host memory
      l.push_back(nvme(io, g, write));
    } else {  // object_store: the client's connections, then the store's aggregate
      const ObjectStoreConfig& os = st_.object_store;
      io.path(l, {first(g, host).back()});
      // A checkpoint shard is one large object: each connection streams at its rate after one request latency
      // (the latency is small against a multi-GB shard and is left out of the rate).
      l.push_back(io.resource("n" + std::to_string(node(g)) + ".object_connections",
                              os.connection_bandwidth * static_cast<double>(os.connections_per_client)));
      l.push_back(io.resource("object_store", os.bandwidth));
    }
    io.flow(l, size);
  }

  const StorageConfig& st_;
  const net::Topology& t_;
  const std::vector<const hw::NodeSpec*>& nodes_;
  const CheckpointJob& job_;
  std::string key_;
  std::vector<uint32_t> job_nodes_;
};

}  // namespace

std::vector<std::vector<uint32_t>> restore_groups(const CheckpointJob& job) {
  const int tp = std::max(1, job.tensor_parallel), pp = std::max(1, job.pipeline_parallel);
  const int dp = std::max(1, static_cast<int>(job.endpoints.size()) / (tp * pp));
  std::vector<std::vector<uint32_t>> groups;
  for (int p = 0; p < pp; ++p) {
    for (int x = 0; x < tp; ++x) {
      groups.emplace_back();
      for (int d = 0; d < dp; ++d) groups.back().push_back(job.endpoints.at(static_cast<size_t>(x + tp * (d + dp * p))));
    }
  }
  return groups;
}

CheckpointState checkpoint_state(const CheckpointConfig& config, const CheckpointJob& job) {
  CheckpointState st;
  const size_t n = job.endpoints.size();
  const bool per_rank = !job.rank_weights.empty();
  if (config.state == "memory_model" && (per_rank || job.weights_per_rank.bytes() > 0)) {
    const int tp = std::max(1, job.tensor_parallel), pp = std::max(1, job.pipeline_parallel);
    const int dp = std::max(1, static_cast<int>(n) / (tp * pp));
    const bool experts = !job.rank_expert_weights.empty();
    const double edp = std::max(1, job.expert_data_parallel);
    for (size_t i = 0; i < n; ++i) {
      const Bytes w = per_rank ? job.rank_weights.at(i) : job.weights_per_rank;
      const Bytes o = per_rank ? job.rank_optimizer.at(i) : job.optimizer_per_rank;
      const Bytes we = experts ? job.rank_expert_weights.at(i) : Bytes();
      const Bytes oe = experts ? job.rank_expert_optimizer.at(i) : Bytes();
      const bool first_replica = !experts || job.rank_expert_replica.at(i) == 0;
      if (job.optimizer_sharded) {  // every rank: its optimizer shard and its share of the replicated weights
        st.writers.push_back(job.endpoints[i]);
        st.sizes.push_back(o + (job.weights_sharded ? w : (w - we) / static_cast<double>(dp) + we / edp));
      } else if ((i / static_cast<size_t>(tp)) % static_cast<size_t>(dp) == 0) {
        // data-parallel rank 0 of each group writes the group's whole dense state, and its own experts' when it
        // is their first replica
        st.writers.push_back(job.endpoints[i]);
        st.sizes.push_back(first_replica ? w + o : (w - we) + (o - oe));
      } else if (experts && first_replica && we + oe > Bytes()) {  // the first replica of other experts writes them
        st.writers.push_back(job.endpoints[i]);
        st.sizes.push_back(we + oe);
      }
    }
  } else {
    st.writers = job.endpoints;
    const Bytes each = Bytes::of(n > 0 ? job.parameters * config.bytes_per_parameter / static_cast<double>(n) : 0.0);
    st.sizes.assign(n, each);
  }
  for (const Bytes& b : st.sizes) st.total += b;
  st.per_writer = st.writers.empty() ? Bytes() : st.total / static_cast<double>(st.writers.size());
  return st;
}

std::vector<Bytes> restore_group_bytes(const CheckpointState& state, const std::vector<std::vector<uint32_t>>& groups) {
  std::map<uint32_t, Bytes> wrote;
  for (size_t i = 0; i < state.writers.size(); ++i) wrote[state.writers[i]] += state.sizes[i];
  std::vector<Bytes> out;
  for (const auto& g : groups) {
    out.emplace_back();
    for (uint32_t e : g) {
      const auto it = wrote.find(e);
      if (it != wrote.end()) out.back() += it->second;
    }
  }
  return out;
}

CheckpointCost checkpoint_cost(const CheckpointConfig& config, const StorageConfig& storage,
                               const net::Topology& topology, const std::vector<const hw::NodeSpec*>& nodes,
                               const CheckpointJob& job) {
  CheckpointCost out;
  const CheckpointState st = checkpoint_state(config, job);
  for (size_t i = 0; i < config.levels.size(); ++i) {
    CheckpointPlanner p(storage, topology, nodes, job, "checkpoint.levels[" + std::to_string(i) + "].tier");
    out.levels.push_back(p.cost(config.levels[i], st));
  }
  return out;
}

void report_checkpoints(const CheckpointCost& cost, const std::string& prefix, MetricSet& m) {
  for (const LevelCost& c : cost.levels) {
    const std::string k = prefix + "checkpoint_" + c.tier + "_";
    const std::string what = " (" + c.tier + ", " + c.mode + ")";
    m.set(k + "bytes", c.bytes.bytes(), "the whole job's checkpoint" + what);
    m.set(k + "per_rank_bytes", c.per_rank.bytes(), "each writing rank's part of the checkpoint" + what);
    m.set(k + "writers", c.writers, "ranks that write the checkpoint (all, or data-parallel rank 0 of each group "
                                    "without a sharded optimizer)" + what);
    m.set(k + "save_s", c.save.s(), "one save, until the last byte is on the tier, all ranks at once" + what);
    m.set(k + "blocking_s", c.blocking.s(), "what training waits per save: all of it (sync) or the snapshot to "
                                            "host memory (async)" + what);
    m.set(k + "restore_s", c.restore.s(), "one restore: the readers' read plus the broadcast to each data-parallel "
                                          "group" + what);
    m.set(k + "restore_read_s", c.restore_read.s(), "restore: one reader per data-parallel group reads" + what);
    m.set(k + "restore_broadcast_s", c.restore_broadcast.s(), "restore: chain broadcast to the group" + what);
    m.set(k + "every", c.every, "this level takes every Nth checkpoint" + what);
  }
}

}  // namespace lcsim::storage
