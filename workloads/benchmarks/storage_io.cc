#include "workloads/benchmarks/storage_io.h"

#include <algorithm>
#include <map>

namespace lcsim::wl {

void StorageIoConfig::visit(Section& s) {
  s.choice("op", op, {"write", "read"},
           "write: a checkpoint save to the storage servers; read: a restore or a dataset read from them");
  s.choice("path", path, {"gpudirect", "host"},
           "gpudirect: each GPU's bytes over its PCIe link and the host's storage NICs (GPUDirect Storage); host: "
           "each node's GPUs' bytes from (or to) its host memory over the storage NICs");
  s.field("size_per_gpu", size_per_gpu, "bytes each GPU of the job saves or reads per round, striped over every "
                                        "storage server", Range::positive());
  s.field("repeat", repeat, "rounds, back to back", Range::between(1, 1000000));
}

void StorageIo::validate(const std::vector<Gpu>& gpus, Section& s) {
  if (gpus.empty()) s.error("size_per_gpu", "the job has no GPUs");
}

std::string StorageIo::describe() const {
  return "storage_io: " + config_.op + " of " + to_string(config_.size_per_gpu) + " per GPU (" + config_.path +
         ")" + (config_.repeat > 1 ? ", " + std::to_string(config_.repeat) + " rounds" : std::string());
}

void StorageIo::start(RunContext& ctx) {
  ctx_ = &ctx;
  const net::Topology& t = ctx.collectives.topology();
  std::vector<uint32_t> servers;
  for (int i = 0;; ++i) {  // the storage servers: service endpoints named storage0, storage1, ...
    bool found = false;
    for (const auto& v : t.vertices()) found = found || (v.kind == "storage_server" && v.name == "storage" + std::to_string(i));
    if (!found) break;
    servers.push_back(t.storage_endpoint(static_cast<uint32_t>(i)));
  }
  if (servers.empty()) {
    throw InputError("workload storage_io: the cluster has no storage servers (set "
                     "cluster.storage.parallel_fs.servers, or cluster.fabric.storage_servers)");
  }
  servers_ = static_cast<int>(servers.size());
  // Who moves the bytes: every GPU (GPUDirect) or every node's host (its GPUs' bytes together), in rank order.
  std::vector<std::pair<uint32_t, double>> clients;
  std::map<uint32_t, size_t> host_index;
  for (uint32_t r = 0; r < ctx.gpus.size(); ++r) {
    const uint32_t e = ctx.collectives.endpoint(r);
    if (config_.path == "gpudirect") {
      clients.push_back({e, config_.size_per_gpu.bytes()});
      continue;
    }
    const uint32_t host = t.host_endpoint(t.node_of(e));
    const auto [it, added] = host_index.try_emplace(host, clients.size());
    if (added) clients.push_back({host, 0.0});
    clients[it->second].second += config_.size_per_gpu.bytes();
  }
  std::vector<net::Path> paths;
  for (const auto& [client, bytes] : clients) {
    for (uint32_t srv : servers) {
      const uint32_t src = config_.op == "write" ? client : srv, dst = config_.op == "write" ? srv : client;
      t.service_paths(src, dst, paths);
      if (paths.empty()) {
        throw InputError("workload storage_io: no path from " + t.endpoint_name(src) + " to " + t.endpoint_name(dst) +
                         " (the node template models no PCIe path to its host, or has no NIC on the storage "
                         "network; path: host needs only the latter)");
      }
      flows_.push_back({src, dst, Bytes::of(bytes / servers_), 0});
      bytes_ += bytes / servers_;
    }
  }
  start_ = ctx.engine.now();
  next();
}

void StorageIo::next() {
  if (static_cast<int>(times_.size()) >= config_.repeat) {
    ctx_->finish();
    return;
  }
  round_start_ = ctx_->engine.now();
  ctx_->collectives.transfer().transfer(flows_, [this] {
    times_.push_back((ctx_->engine.now() - round_start_).s());
    next();
  });
}

void StorageIo::report(MetricSet& m) const {
  double total = 0, worst = 0;
  for (double x : times_) {
    total += x;
    worst = std::max(worst, x);
  }
  const double mean = times_.empty() ? 0.0 : total / static_cast<double>(times_.size());
  m.set("storage_io_rounds", static_cast<double>(times_.size()), "rounds completed");
  m.set("storage_io_bytes", bytes_, "bytes moved per round (every GPU's share, all servers)");
  m.set("storage_io_servers", servers_, "storage servers the bytes are striped over");
  m.set("storage_io_time_s", mean, "one round, first byte to last, all clients at once (mean over rounds)");
  m.set("storage_io_max_time_s", worst, "the slowest round");
  m.set("storage_io_bytes_per_s", mean > 0 ? bytes_ / mean : 0.0, "bytes per round / storage_io_time_s");
}

}  // namespace lcsim::wl
