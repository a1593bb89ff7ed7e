// Internal to the chakra_replay workload (chakra_load.cc: reading and checking traces; chakra_replay.cc: running
// them): the node kinds, the per-trace dependency graph and the per-rank replay state.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "workloads/traces/chakra_replay.h"

namespace lcsim::wl::chakra {

// ChakraProtoMsg::NodeType and CollectiveCommType values (proto/et_def.proto).
enum NodeType : int {
  kInvalidNode = 0,
  kMetadataNode,
  kMemLoadNode,
  kMemStoreNode,
  kCompNode,
  kCommSendNode,
  kCommRecvNode,
  kCommCollNode,
  kStorageNode,
  kBatchNode,
  kCheckpointNode
};
inline constexpr std::array<const char*, 10> kCommTypeNames = {
    "ALL_REDUCE", "REDUCE",         "ALL_GATHER",           "GATHER", "SCATTER", "BROADCAST",
    "ALL_TO_ALL", "REDUCE_SCATTER", "REDUCE_SCATTER_BLOCK", "BARRIER"};

// Where a node runs: no stream (zero time), the host (CPU) stream, the device compute stream (kernels and
// memory nodes), a communication stream (collectives), or nowhere but the network (sends and receives).
enum class Kind : uint8_t { kInstant, kCpu, kCompute, kMemory, kCollective, kSend, kRecv };

inline constexpr size_t kMaxProblemsPerFile = 10;

inline std::string quoted_name(const ChakraNode& n) { return n.name.empty() ? "" : " '" + n.name + "'"; }

inline std::string bytes_text(Bytes b) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f bytes", b.bytes());
  return buf;
}

/// Reads and checks one trace file for a replay over `ranks` ranks; problems go to `s` under `trace`. Null if any.
std::shared_ptr<ChakraReplay::Graph> prepare(const std::string& path, uint32_t ranks, bool ctrl_deps, Section& s);

}  // namespace lcsim::wl::chakra

namespace lcsim::wl {

using chakra::Kind;

struct ChakraReplay::Graph {
  struct Op {
    Kind kind = Kind::kInstant;
    net::CollectiveOp coll = net::CollectiveOp::kAllReduce;
    int comm_type = -1;
    Bytes size;         // collective or message bytes; memory-node bytes
    uint32_t peer = 0;  // send: destination rank; receive: source rank
    int64_t tag = 0;
    uint32_t group = 0;  // index into the replay's process groups
    uint32_t ndeps = 0;  // dependencies that must finish first (after dropping the ignored ones)
  };
  std::string path;
  ChakraTrace trace;
  std::vector<Op> ops;
  std::vector<uint32_t> first_dependent;  // dependents of op i: dependents[first_dependent[i] .. [i + 1])
  std::vector<uint32_t> dependents;
  std::vector<uint32_t> roots;
  /// The op that edge `k` (an index into dependents) leaves from.
  uint32_t source(uint32_t k) const {
    return static_cast<uint32_t>(std::upper_bound(first_dependent.begin(), first_dependent.end(), k) -
                                 first_dependent.begin() - 1);
  }
  uint64_t dropped_deps = 0;  // ctrl deps on nodes not in the trace, and self-dependencies
  std::set<std::string> pg_names;
};

struct ChakraReplay::Rank {
  struct Stream {
    std::set<std::tuple<double, uint64_t, uint32_t>>
        ready;  // (ready time, node id, op): ready order, ties by id
    bool busy = false;
  };
  uint32_t rank = 0;
  const Graph* g = nullptr;
  const Gpu* gpu = nullptr;
  std::shared_ptr<const std::vector<Duration>> times;  // per op: its time on its stream
  uint64_t fallbacks = 0;                              // compute: model nodes timed as recorded
  uint32_t iteration = 0;
  std::vector<uint32_t> pending;
  size_t left = 0;
  bool done = false;
  Stream cpu, gpu_stream;
  std::vector<Stream> comm;                                 // per process group
  std::vector<uint64_t> issued;                             // per process group: collectives issued
  std::vector<std::pair<uint32_t, Duration>> comm_current;  // per process group: op in flight, issue time
  uint32_t comm_outstanding = 0;                            // collectives, sends and receives not finished
  Duration last, compute_busy, cpu_busy, comm_busy, exposed, finish;
  std::array<uint64_t, 11> by_type{};
  // The timeline's dependency edges (traced ranks only): each op's edge from the dependency it waited on (the
  // last of them to finish). Edge k of the graph (op -> dependents[k]) in iteration i is flow id
  // 1 + flow_base + i x edges + k (32 bits, made unique across jobs by the job's forwarder).
  uint64_t flow_base = 0;
  std::vector<uint32_t> released_by;  // per op: the edge whose source finished last (UINT32_MAX: none)
  /// Edge k of the graph in the current iteration, numbered over every traced rank and iteration.
  uint64_t edge_index(uint32_t k) const {
    return flow_base + iteration * static_cast<uint64_t>(g->dependents.size()) + k;
  }
  uint64_t host_ops = 0;
};

}  // namespace lcsim::wl
