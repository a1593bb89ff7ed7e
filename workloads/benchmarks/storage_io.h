// Storage traffic on the run's own network model: a checkpoint save (write), a restore or a dataset read (read) of
// `size_per_gpu` per GPU of the job, striped over every storage server of the cluster's storage plane, as flows on
// the same transfer model as every other job's traffic. So a checkpoint written while another job (or another
// storage stream) uses the same storage NICs, server ports or PCIe links is slower, and so is the other traffic:
// on the flow fidelities every link is shared max-min fairly; on the analytical one each transfer sees only its own
// links' capacities (no cross-traffic). Paths (models/network/topology.h, service endpoints): `gpudirect`: GPU ->
// its PCIe link and switch uplink -> the host's storage NICs -> the storage network -> each server's port;
// `host`: each node's host memory -> its storage NICs -> ... (the node's GPUs' bytes together; the snapshot into
// host memory is not part of it). Not on this path: the servers' media and the host's CPU copy (resources of the
// storage model's own checkpoint estimate, models/storage/checkpoint.h), so a server's port is its limit here.
#pragma once

#include <string>
#include <vector>

#include "workloads/workload.h"

namespace lcsim::wl {

struct StorageIoConfig {
  std::string op = "write";    // write: a checkpoint save; read: a restore or a dataset read
  std::string path = "gpudirect";  // gpudirect: from each GPU's memory; host: from each node's host memory
  Bytes size_per_gpu = Bytes::gib(1);
  int repeat = 1;              // saves (or reads) back to back
  void visit(Section& s);
};

class StorageIo final : public Workload {
 public:
  void visit(Section& s) override { config_.visit(s); }
  void copy_config(const Workload& from) override { config_ = same_type<StorageIo>(from).config_; }
  void validate(const std::vector<Gpu>& gpus, Section& s) override;
  void start(RunContext& ctx) override;
  void report(MetricSet& m) const override;
  double progress() const override {
    return config_.repeat > 0 ? static_cast<double>(times_.size()) / config_.repeat : 1.0;
  }
  std::string describe() const override;

 private:
  void next();
  StorageIoConfig config_;
  RunContext* ctx_ = nullptr;
  std::vector<net::FlowRequest> flows_;  // one round, between topology endpoints
  std::vector<double> times_;            // per round, seconds
  Duration round_start_, start_;
  double bytes_ = 0;                     // per round
  int servers_ = 0;
};

}  // namespace lcsim::wl
