// Collective operations on the fabric: all-reduce, reduce-scatter, all-gather, broadcast, reduce, all-to-all and
// send/recv, by the algorithms registered by name in collective_algorithms.h (ring, with C channels, one ring per
// channel, each entering and leaving a node through a different GPU and so a different NIC, as NCCL builds rings
// on rail-connected nodes; double binary tree; hierarchical; in-switch reduction on NVLS-class scale-up switches;
// recursive halving-doubling). The algorithm is pinned by the scenario or chosen per call by the tuner policy
// (policies/collective_tuner.h) from each algorithm's cost model.
//
// A collective is a short plan of phases; each phase is a latency (base_latency + steps x step_latency, NCCL's
// own model, src/graph/tuning.cc) followed by ONE wave of aggregated flows, each carrying an edge's whole
// pipelined volume (a ring edge carries 2(n-1)/n x S/C for all-reduce). So a ring all-reduce costs n x C flows
// whatever the size; a test shows it takes the same time as its 2(n-1) step-by-step waves on a small ring.
//
// Protocols (NCCL's LL, LL128, Simple): each has its own latencies and the fraction of link bandwidth it reaches
// (LL128 spends 8 of every 128 bytes on flags and runs fewer threads; Simple has the highest bandwidth and the
// highest fixed cost). Like NCCL's tuner, every call runs the (algorithm, protocol) pair with the smallest
// estimated time, so small messages go by the low-latency protocol and large ones by the high-bandwidth one. A
// protocol may name the algorithms it runs (NCCL keeps a latency and bandwidth per pair: NVLS has its own).
// Without `protocols` the scenario gets the accelerator's measured ones (part_calibration; the scenario layer
// copies them in), else one built from base_latency, step_latency and the efficiencies.
//
// Point-to-point sends (NCCL send/recv) have their own latency and efficiencies: they copy without reducing and
// without a ring's step-by-step dependency. Inside a node whose scale-up domain is a switchless mesh (MI300X's
// xGMI), a pair's send moves over the one link between the two GPUs (Topology::mesh_link), and rings follow cycles
// of the mesh that share no link (mesh_rings.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "models/network/collective_algorithms.h"
#include "models/network/transfer.h"
#include "policies/collective_tuner.h"
#include "sim/config.h"

namespace lcsim::net {

using policy::CollectiveOp;

struct CollectiveProtocol {
  std::string name = "simple";
  Duration base_latency = Duration::us(8.4);
  Duration step_latency = Duration::us(3.4);
  double scale_up_efficiency = 1.0;   // multiplies CollectiveConfig::scale_up_efficiency
  double scale_out_efficiency = 1.0;  // multiplies CollectiveConfig::scale_out_efficiency
  bool intra_node_only = false;       // not used when a call spans nodes (NCCL: LL128 only over NVLink/PCIe)
  std::vector<std::string> algorithms;  // the algorithms that run with it (NCCL's per-(algorithm, protocol) table); empty = all
  int chunk_channels = 0;               // NVLS: channels a call is split over (NCCL nvlsChannels); 0 = two steps
  Bytes max_chunk = Bytes::kib(128);    // NVLS: largest chunk per channel and GPU per round (NCCL_NVLS_CHUNKSIZE)
  Duration floor_latency;               // NVLS: the least time a call takes; 0 = none
  void visit(Section& s);
};

/// What multiplies the scale-up efficiency of `op`'s flows inside a node, given a part's or a scenario's
/// all-gather and reduce-scatter factors (0 = none): that factor for an all-gather or a reduce-scatter where it is
/// set, else 1. The collective model (CollectiveConfig::scale_up_factor) and the serving model's TP collectives both.
inline double scale_up_factor(CollectiveOp op, double all_gather, double reduce_scatter) {
  const double f = op == CollectiveOp::kAllGather ? all_gather : op == CollectiveOp::kReduceScatter ? reduce_scatter : 0;
  return f > 0 ? f : 1.0;
}

struct CollectiveConfig {
  std::string algorithm = "auto";  // auto (the tuner) or a name in collective_algorithms()
  int channels = 0;                // 0: one per GPU in a node (one ring per NIC rail)
  Duration base_latency = Duration::us(8.4);
  Duration step_latency = Duration::us(3.4);
  int qps_per_connection = 1;         // flows (RDMA queue pairs) per connection across nodes, each hashed apart
  double scale_up_efficiency = 1.0;   // fraction of scale-up bandwidth collective flows achieve (protocol overhead)
  double scale_out_efficiency = 1.0;  // the same across nodes
  std::vector<CollectiveProtocol> protocols;  // empty: the part's calibration (part_calibration), else one protocol
                                              // from base_latency, step_latency (and 1.0, 1.0)
  bool part_calibration = true;  // without protocols: use the accelerator's measured collective calibration
  Duration p2p_latency = Duration::us(8.4);   // fixed latency of one send/recv
  double p2p_scale_up_efficiency = 0;         // send/recv's fraction of scale-up bandwidth; 0 = scale_up_efficiency
  double p2p_scale_out_efficiency = 0;        // the same across nodes; 0 = scale_out_efficiency
  // An all-to-all's flows between nodes (NCCL's grouped sends to every peer): their fraction of the NIC's line rate;
  // 0 = scale_out_efficiency x the protocol's. From the part's calibration where it has one (scenario.cc).
  double all_to_all_scale_out_efficiency = 0;
  // All-gather's and reduce-scatter's kernels inside a node: the fraction of the protocol's scale-up efficiency (fitted
  // on all-reduce) they reach; 0 = the part's calibration where it has one, else 1 (scenario.cc).
  double all_gather_scale_up_factor = 0;
  double reduce_scatter_scale_up_factor = 0;
  /// What multiplies the scale-up efficiency of `op`'s flows inside a node (net::scale_up_factor of the two above).
  double scale_up_factor(CollectiveOp op) const {
    return net::scale_up_factor(op, all_gather_scale_up_factor, reduce_scatter_scale_up_factor);
  }
  /// The efficiency an all-to-all's flow between nodes moves at under protocol `p`.
  double all_to_all_out(const CollectiveProtocol& p) const {
    return all_to_all_scale_out_efficiency > 0 ? all_to_all_scale_out_efficiency
                                               : scale_out_efficiency * p.scale_out_efficiency;
  }
  void visit(Section& s);
};

class Collectives {
 public:
  Collectives(sim::Engine& engine, const Topology& topology, TransferModel& transfer, CollectiveConfig config,
              uint32_t gpus_per_node);

  using Phase = CollectivePhase;
  /// What one call runs: an algorithm (its registered name) and a protocol (an index into protocols()).
  struct Choice {
    std::string algo = "ring";
    size_t protocol = 0;
  };

  /// Runs `op` of `size` bytes (nccl-tests' size: the per-rank buffer; all-gather: the gathered output) over
  /// `ranks` (endpoint ids, sorted by node); `done` when finished. `algo` (a registered name) pins an algorithm
  /// for this call. `token_dispatch`: an all-to-all that stands for a token dispatcher's own transport (DeepEP,
  /// HybridEP: the workload costs its share of the line rate itself), whose flows between nodes move at
  /// scale_out_efficiency x the protocol's rather than all_to_all_scale_out_efficiency (NCCL's grouped sends).
  void run(CollectiveOp op, const std::vector<uint32_t>& ranks, Bytes size, sim::Callback done,
           std::optional<std::string> algo = std::nullopt, bool token_dispatch = false);
  void all_reduce(const std::vector<uint32_t>& ranks, Bytes size, sim::Callback done) {
    run(CollectiveOp::kAllReduce, ranks, size, std::move(done));
  }
  void reduce_scatter(const std::vector<uint32_t>& ranks, Bytes size, sim::Callback done) {
    run(CollectiveOp::kReduceScatter, ranks, size, std::move(done));
  }
  void all_gather(const std::vector<uint32_t>& ranks, Bytes size, sim::Callback done) {
    run(CollectiveOp::kAllGather, ranks, size, std::move(done));
  }

  /// All-to-all with a size per pair (NCCL's grouped sends, alltoallv): `sizes[i][j]` bytes from ranks[i] to
  /// ranks[j]. One wave of flows after the all-to-all's latency, at the protocol the tuner picks for an all-to-all
  /// of the largest row; `done` when every pair's data has arrived.
  void all_to_allv(const std::vector<uint32_t>& ranks, const std::vector<std::vector<Bytes>>& sizes,
                   sim::Callback done, bool token_dispatch = false);

  /// One point-to-point message of `size` bytes from `src` to `dst` (an NCCL send matched with its receive):
  /// p2p_latency and one flow at the link tier's p2p efficiency (p2p().flow(): what nccl_tests' send_recv runs per
  /// pair); `done` when the data has arrived. Not counted in count() (not a collective).
  void send(uint32_t src, uint32_t dst, Bytes size, sim::Callback done);
  /// The same send with `done->fire(tag)` on arrival and the caller's memo of its route (a pipeline send: no
  /// std::function, one event per send).
  void send_to(uint32_t src, uint32_t dst, Bytes size, sim::EventSink* done, uint64_t tag,
               TransferModel::RouteMemo* memo) {
    transfer_.transfer_to(p2p_flow(src, dst, size), done, tag, memo);
  }
  /// Send/recv's calibrated cost: p2p_latency and the p2p efficiencies (each falling back to the collective one).
  const P2pCost& p2p() const { return p2p_; }
  /// The flow of a send of `size` bytes between job ranks src and dst (p2p().flow() between their endpoints).
  FlowRequest p2p_flow(uint32_t src, uint32_t dst, Bytes size) const {
    return p2p_.flow(topology_, endpoint(src), endpoint(dst), size);
  }

  /// The algorithm run() would use: the pinned one when it applies, else the tuner's choice.
  std::string algorithm_for(CollectiveOp op, const std::vector<uint32_t>& ranks, Bytes size) const;
  /// The algorithm and protocol run() would use: over the protocols that apply (intra_node_only ones only inside
  /// one node) and the algorithms (`algo`, else the configured one when it applies, else all of NCCL's), the pair
  /// with the smallest tuner estimate; the first protocol on ties.
  Choice choose(CollectiveOp op, const std::vector<uint32_t>& ranks, Bytes size,
                std::optional<std::string> algo = std::nullopt) const;
  /// The phases of one call by algorithm `algo` (a registered name) and protocol `protocol` (for tests and the
  /// analytical model).
  std::vector<Phase> plan(CollectiveOp op, const std::string& algo, const std::vector<uint32_t>& ranks, Bytes size,
                          size_t protocol = 0) const;
  const std::vector<CollectiveProtocol>& protocols() const { return protocols_; }
  /// Whether the scenario listed protocols (else the one default protocol stands for the old model).
  bool protocols_configured() const { return !config_.protocols.empty(); }
  std::vector<FlowRequest> ring_all_reduce_flows(const std::vector<uint32_t>& ranks, Bytes size) const;
  /// base_latency + 2(n-1) x step_latency of the first protocol.
  Duration ring_latency(size_t ranks) const;
  uint32_t channels() const { return channels_; }

  /// A job's view: its ranks 0..n-1 stand for these topology endpoints (empty: ranks are endpoints). Every call
  /// above takes job ranks; plan() returns flows between endpoints.
  void set_endpoints(std::vector<uint32_t> rank_to_endpoint);
  uint32_t endpoint(uint32_t rank) const;
  /// Plain flows between job ranks (pipeline sends, traffic patterns) on the shared transfer model.
  void transfer(const std::vector<FlowRequest>& flows, sim::Callback done, sim::Callback failed = {});
  /// The same, with `done->fire(tag)` when they have arrived (TransferModel::transfer_to).
  void transfer_to(const std::vector<FlowRequest>& flows, sim::EventSink* done, uint64_t tag);

  uint64_t count() const { return count_; }
  /// The transfer model and topology underneath.
  TransferModel& transfer() { return transfer_; }
  const Topology& topology() const { return topology_; }
  Duration busy_time() const { return busy_; }

 private:
  policy::CollectiveCase describe(CollectiveOp op, const std::vector<uint32_t>& ranks, Bytes size,
                                  const CollectiveProtocol& p) const;
  const std::vector<uint32_t>& mapped(const std::vector<uint32_t>& ranks, std::vector<uint32_t>& scratch) const;
  /// The index in algorithms_ of a registered name (an InputError naming the valid ones if none).
  size_t algorithm_index(const std::string& name) const;
  struct IndexChoice {
    size_t algo = 0;
    size_t protocol = 0;
  };
  IndexChoice choose_endpoints(CollectiveOp op, const std::vector<uint32_t>& endpoints, Bytes size,
                               std::optional<size_t> algo) const;
  std::vector<Phase> plan_endpoints(CollectiveOp op, size_t algo, const std::vector<uint32_t>& endpoints,
                                    Bytes size, size_t protocol, bool token_dispatch = false) const;
  /// An all-to-all's efficiency between nodes under protocol `p` (CollectiveConfig::all_to_all_out; a token
  /// dispatcher's: scale_out_efficiency x the protocol's).
  double all_to_all_out(const CollectiveProtocol& p, bool token_dispatch) const {
    return token_dispatch ? config_.scale_out_efficiency * p.scale_out_efficiency : config_.all_to_all_out(p);
  }
  std::vector<std::vector<uint32_t>> by_node(const std::vector<uint32_t>& ranks) const;
  void run_phases(std::shared_ptr<std::vector<Phase>> phases, size_t i, Duration start, sim::Callback done);

  sim::Engine& engine_;
  const Topology& topology_;
  TransferModel& transfer_;
  CollectiveConfig config_;
  std::vector<CollectiveProtocol> protocols_;
  P2pCost p2p_;
  // The registered algorithms in the tuner's order of preference (ring first: the fallback), their cost models,
  // and the configured one (npos: auto).
  std::vector<const CollectiveAlgorithms::Entry*> algorithms_;
  std::vector<const policy::CollectiveCost*> costs_;
  // Per protocol: the algorithms it runs (indices into algorithms_, in the tuner's order) and their cost models.
  std::vector<std::vector<size_t>> protocol_algorithms_;
  std::vector<std::vector<const policy::CollectiveCost*>> protocol_costs_;
  size_t ring_ = 0;
  size_t configured_ = static_cast<size_t>(-1);
  uint32_t channels_;
  uint64_t count_ = 0;
  Duration busy_;
  std::vector<uint32_t> endpoints_;
  std::vector<FlowRequest> mapped_flows_;  // transfer()'s flows between endpoints (reused)
  /// transfer()'s flows with job ranks mapped to endpoints (mapped_flows_), or `flows` itself when ranks are endpoints.
  const std::vector<FlowRequest>& mapped(const std::vector<FlowRequest>& flows);
};

}  // namespace lcsim::net
