#include "models/storage/tier.h"

#include <algorithm>
#include <cstdio>
#include <limits>

namespace lcsim::storage {

void ParallelFsConfig::visit(Section& s) {
  s.field("servers", servers, "storage servers on the cluster's storage network (0: no parallel file system)",
          Range::between(0, 4096));
  s.field("server_network", server_network, "each server's NICs on the storage plane, all ports together",
          Range::positive());
  s.field("server_read", server_read, "each server's media read rate, large sequential; 0 = its network",
          Range::at_least(0));
  s.field("server_write", server_write, "each server's media write rate; 0 = its network", Range::at_least(0));
  s.field("server_iops", server_iops, "small (4 KiB class) random reads per second per server; 0 = no limit",
          Range::at_least(0));
  s.field("metadata_ops", metadata_ops, "file opens and creates per second, whole file system; 0 = no limit",
          Range::at_least(0));
  s.field("client_bandwidth", client_bandwidth, "what one client (a host) can move at most; 0 = no cap",
          Range::at_least(0));
  s.field("rack_units", rack_units, "height of one server (for GB/s per rack unit)", Range::positive());
}

void ObjectStoreConfig::visit(Section& s) {
  s.field("bandwidth", bandwidth, "aggregate rate the object store gives this cluster; 0 = no object store",
          Range::at_least(0));
  s.field("request_latency", request_latency, "time to first byte of one GET/PUT", Range::at_least(0));
  s.field("connection_bandwidth", connection_bandwidth, "streaming rate of one connection", Range::positive());
  s.field("connections_per_client", connections_per_client, "parallel connections each client keeps open",
          Range::between(1, 4096));
}

void StorageConfig::visit(Section& s) {
  s.section("parallel_fs", "a parallel file system: servers on the storage network",
            [&](Section& x) { parallel_fs.visit(x); });
  s.section("object_store", "an S3-class object store (datasets, remote checkpoints)",
            [&](Section& x) { object_store.visit(x); });
  s.field("gpudirect", gpudirect, "GPUDirect Storage: GPU memory <-> storage without a copy through host memory "
                                  "(false: staged through the host's DRAM and CPU)");
  s.field("host_copy_bandwidth", host_copy_bandwidth,
          "staging only: one host's CPU copy rate through its bounce buffers; 0 = no limit", Range::at_least(0));
  s.field("local_nvme_iops", local_nvme_iops, "small random reads per second of one node's NVMe drives together; "
                                              "0 = no limit",
          Range::at_least(0));
}

Bandwidth StorageTier::throughput(Op op, Bytes request, int clients) const {
  const TierFigures f = figures();
  double rate = op == Op::kRead ? f.read.bps() : f.write.bps();
  if (f.iops > 0 && request.bytes() > 0) rate = std::min(rate, f.iops * request.bytes());
  if (client_cap().bps() > 0) rate = std::min(rate, client_cap().bps() * std::max(1, clients));
  return Bandwidth::bytes_per_s(rate);
}

std::string StorageTier::describe() const {
  const TierFigures f = figures();
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s: read %.1f GB/s, write %.1f GB/s, %.3g IOPS, capacity %.1f TB", kind().c_str(),
                f.read.bps() / 1e9, f.write.bps() / 1e9, f.iops, f.capacity.bytes() / 1e12);
  return buf;
}

namespace {

class HbmTier final : public StorageTier {
 public:
  explicit HbmTier(const TierContext& c) : node_(*c.node) {}
  std::string kind() const override { return "hbm"; }
  TierFigures figures() const override {
    const double g = node_.gpus;
    const Bandwidth bw = node_.accelerator.hbm_bandwidth * g;
    return {bw, bw, 0, 0, 0, node_.accelerator.hbm_capacity * g};
  }

 private:
  hw::NodeSpec node_;
};

class HostDramTier final : public StorageTier {
 public:
  explicit HostDramTier(const TierContext& c) : node_(*c.node) {}
  std::string kind() const override { return "host_dram"; }
  // Reads and writes share the memory channels: each figure is the whole bandwidth.
  TierFigures figures() const override {
    return {node_.host_memory_bandwidth, node_.host_memory_bandwidth, 0, 0, 0, node_.host_memory};
  }

 private:
  hw::NodeSpec node_;
};

class LocalNvmeTier final : public StorageTier {
 public:
  explicit LocalNvmeTier(const TierContext& c) : node_(*c.node), iops_(c.storage->local_nvme_iops) {}
  std::string kind() const override { return "local_nvme"; }
  TierFigures figures() const override {
    return {node_.nvme_read_bandwidth, node_.nvme_write_bandwidth, iops_, 0, 0, node_.nvme_capacity};
  }

 private:
  hw::NodeSpec node_;
  double iops_;
};

class ParallelFsTier final : public StorageTier {
 public:
  explicit ParallelFsTier(const TierContext& c) : c_(c.storage->parallel_fs) {}
  std::string kind() const override { return "parallel_fs"; }
  TierFigures figures() const override {
    const double n = c_.servers;
    auto media = [&](Bandwidth m) {
      return m.bps() > 0 ? std::min(m.bps(), c_.server_network.bps()) : c_.server_network.bps();
    };
    return {Bandwidth::bytes_per_s(media(c_.server_read) * n), Bandwidth::bytes_per_s(media(c_.server_write) * n),
            c_.server_iops * n, c_.metadata_ops, c_.rack_units * n, Bytes()};
  }

 protected:
  Bandwidth client_cap() const override { return c_.client_bandwidth; }

 private:
  ParallelFsConfig c_;
};

class ObjectStoreTier final : public StorageTier {
 public:
  explicit ObjectStoreTier(const TierContext& c) : c_(c.storage->object_store) {}
  std::string kind() const override { return "object_store"; }
  TierFigures figures() const override { return {c_.bandwidth, c_.bandwidth, 0, 0, 0, Bytes()}; }
  /// Each connection moves one object of `request` bytes per request_latency + request / connection_bandwidth.
  Bandwidth throughput(Op /*op*/, Bytes request, int clients) const override {
    const double per_conn = request.bytes() > 0
                                ? request.bytes() / (c_.request_latency.s() + request.bytes() / c_.connection_bandwidth.bps())
                                : c_.connection_bandwidth.bps();
    const double want = per_conn * c_.connections_per_client * std::max(1, clients);
    return Bandwidth::bytes_per_s(std::min(want, c_.bandwidth.bps()));
  }

 private:
  ObjectStoreConfig c_;
};

template <class T>
std::unique_ptr<StorageTier> make(const TierContext& c) {
  return std::make_unique<T>(c);
}

}  // namespace

void register_storage_tiers(Registry<TierFactory>& r) {
  r.add("hbm", "the node's accelerator memory: GPUs x HBM bandwidth (checkpoint snapshots start here)", make<HbmTier>);
  r.add("host_dram", "the node's host memory: its DRAM bandwidth, reads and writes together", make<HostDramTier>);
  r.add("local_nvme", "the node's NVMe drives (node template nvme_*), small reads capped by local_nvme_iops",
        make<LocalNvmeTier>);
  r.add("parallel_fs", "servers on the storage plane: servers x min(network, media); IOPS, metadata, client cap",
        make<ParallelFsTier>);
  r.add("object_store", "S3 class: per-request latency, rate per connection, an aggregate cap", make<ObjectStoreTier>);
}

}  // namespace lcsim::storage
