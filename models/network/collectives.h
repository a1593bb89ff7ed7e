// Collective operations on the fabric. Ring all-reduce in C channels (one ring per channel, each ring entering
// and leaving a node through a different GPU and so a different NIC, as NCCL builds rings on rail-connected
// nodes). Each ring edge is ONE aggregated flow carrying the whole pipelined volume 2(n-1)/n * S/C, so a
// collective costs n*C flows whatever the message size; the 2(n-1) pipeline steps add a latency term
// base_latency + 2(n-1) * step_latency (NCCL's own tuning model, src/graph/tuning.cc: ring/simple).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/network/transfer.h"
#include "sim/config.h"

namespace lcsim::net {

struct CollectiveConfig {
  std::string algorithm = "ring";
  int channels = 0;  // 0: one per GPU in a node (one ring per NIC rail)
  Duration base_latency = Duration::us(8.4);
  Duration step_latency = Duration::us(3.4);
  void visit(Section& s);
};

class Collectives {
 public:
  Collectives(sim::Engine& engine, const Topology& topology, TransferModel& transfer, CollectiveConfig config,
              uint32_t gpus_per_node);

  enum class Kind { kAllReduce, kReduceScatter, kAllGather };

  /// All-reduce of `size` bytes (per rank) over `ranks` (endpoint ids, sorted by node); `done` when finished.
  void all_reduce(const std::vector<uint32_t>& ranks, Bytes size, sim::Callback done) {
    run(Kind::kAllReduce, ranks, size, std::move(done));
  }
  /// Reduce-scatter of `size` bytes per rank (each rank ends with size/n reduced): one ring pass.
  void reduce_scatter(const std::vector<uint32_t>& ranks, Bytes size, sim::Callback done) {
    run(Kind::kReduceScatter, ranks, size, std::move(done));
  }
  /// All-gather to `size` bytes per rank (each contributes size/n): one ring pass.
  void all_gather(const std::vector<uint32_t>& ranks, Bytes size, sim::Callback done) {
    run(Kind::kAllGather, ranks, size, std::move(done));
  }
  void run(Kind kind, const std::vector<uint32_t>& ranks, Bytes size, sim::Callback done);

  /// The aggregated flows of a ring collective: per edge and channel, (steps/n) * S / C bytes, where steps is
  /// 2(n-1) for all-reduce and n-1 for reduce-scatter and all-gather.
  std::vector<FlowRequest> ring_flows(Kind kind, const std::vector<uint32_t>& ranks, Bytes size) const;
  std::vector<FlowRequest> ring_all_reduce_flows(const std::vector<uint32_t>& ranks, Bytes size) const {
    return ring_flows(Kind::kAllReduce, ranks, size);
  }
  /// base_latency + steps * step_latency (steps = 2(n-1) for all-reduce).
  Duration ring_latency(size_t ranks, Kind kind = Kind::kAllReduce) const;
  uint32_t channels() const { return channels_; }

  uint64_t count() const { return count_; }
  Duration busy_time() const { return busy_; }

 private:
  sim::Engine& engine_;
  const Topology& topology_;
  TransferModel& transfer_;
  CollectiveConfig config_;
  uint32_t channels_;
  uint64_t count_ = 0;
  Duration busy_;
};

}  // namespace lcsim::net
