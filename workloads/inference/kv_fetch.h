// KV-cache tier fetches as transfers on the run's network model: when a request's cached prefix sits below HBM,
// its blocks come up to the instance's GPUs as flows that share links with everything else in flight (other
// fetches, the disaggregated KV handoff, other instances, a training job on the same fabric):
//   dram: each GPU's shard from its own node's host memory over the host's memory, the PCIe switch uplink and the
//         GPU's PCIe link (models/network/topology.h's host I/O);
//   ssd:  the same PCIe path from the host side, plus the local NVMe drives, each GPU's share of them a queue served
//         at `kv_cache.ssd_bandwidth` in arrival order (the drives are not links of the topology);
//   pool: from the cluster's storage servers (cluster.fabric.storage_servers), striped evenly over them, over the
//         storage plane, the host's storage NIC and PCIe into the GPU (GPUDirect RDMA, as Mooncake's transfer engine
//         does).
// Each tier first pays its access latency (`kv_cache.{dram,ssd,pool}_latency`), then its bytes move; the tiers of
// one fetch start together and the fetch is done when the last byte of the last tier has arrived. Where the
// cluster models no such path (no PCIe path to the host, no storage servers), the tier falls back to bytes / its
// configured bandwidth per GPU after its latency, without contention. docs/inference.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "models/network/transfer.h"
#include "sim/engine.h"

namespace lcsim::inf {

/// What one tier below HBM costs: its access latency, and its per-GPU bandwidth where lcsim has no path for it.
struct KvTierLink {
  std::string name;         // dram, ssd, pool
  double latency_s = 0;     // paid once per fetch from this tier, before the bytes move
  double fallback_bps = 0;  // per GPU, where the cluster models no path (and the ssd drives' rate per GPU)
};

class KvFetcher {
 public:
  /// `tiers`: dram, ssd and pool links in any order (names as above).
  KvFetcher(sim::Engine& engine, net::TransferModel& transfer, const net::Topology& topology,
            std::vector<KvTierLink> tiers);
  /// How each tier reaches GPU endpoint `gpu` (call once per GPU before fetching to it).
  void add_gpu(uint32_t gpu);
  /// Whether the tier reaches `gpu` over the modelled network (false: the fallback figure).
  bool modelled(const std::string& tier, uint32_t gpu) const;
  /// Starts moving `bytes[k]` (the whole instance's, split evenly over `gpus`) from tier `names[k]` to `gpus`
  /// (topology endpoints); `done` runs when every tier's bytes have arrived. A tier with 0 bytes is skipped.
  void fetch(const std::vector<uint32_t>& gpus, const std::vector<std::string>& names, const std::vector<double>& bytes,
             std::function<void()> done);
  /// Bytes fetched so far, per tier name (in the order of `tiers`).
  const std::vector<KvTierLink>& tiers() const { return tiers_; }
  const std::vector<double>& bytes_fetched() const { return fetched_; }
  uint64_t fetches() const { return fetches_; }

 private:
  struct Route {
    std::vector<uint32_t> sources;  // endpoints the GPU's shard comes from (empty: not modelled)
  };
  size_t tier_index(const std::string& name) const;
  void start_tier(size_t t, const std::vector<uint32_t>& gpus, double bytes, const std::shared_ptr<int>& left,
                  const std::shared_ptr<std::function<void()>>& done);

  sim::Engine& engine_;
  net::TransferModel& transfer_;
  const net::Topology& topology_;
  std::vector<KvTierLink> tiers_;
  std::vector<double> fetched_;
  uint64_t fetches_ = 0;
  std::vector<uint32_t> storage_servers_;
  std::vector<std::vector<Route>> routes_;     // [tier][gpu endpoint]
  std::vector<double> drive_free_at_;          // ssd: per GPU endpoint, when its share of the drives is free
  uint64_t label_ = 0;                         // flow labels (ECMP hashing), one per flow
};

}  // namespace lcsim::inf
