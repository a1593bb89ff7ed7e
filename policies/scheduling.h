// Cluster scheduling policies: which pending jobs start now, on which GPUs, and which running jobs give way.
// A policy sees only a ClusterSnapshot (nodes with pools, free GPUs and topology coordinates; pending and
// running jobs; team quotas) and answers with Decisions. No engine headers: the simulator (workloads/cluster/)
// and a real control plane (the policy API in proto/) call the same code on the same snapshots.
// Raw numbers carry their unit in the name (`_s`, `_gpus`), as the snapshot mirrors the protobuf messages.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/registry.h"

namespace lcsim::policy {

/// One accelerator pool (a node type): its relative speed and price.
struct PoolInfo {
  std::string name;          // "h100", "a100"
  double throughput = 1.0;   // work per second relative to the trace's reference GPU (Gavel-style normalisation)
  double cost_per_gpu_hour = 0;
};

/// One node: how many GPUs it has and how many are free, and where it sits in the fabric.
struct NodeInfo {
  uint32_t pool = 0;        // index into ClusterSnapshot::pools
  uint32_t gpus = 0;
  uint32_t free_gpus = 0;
  uint32_t leaf = 0;        // leaf switch (rail-optimized: the node's rail group); nodes on one leaf talk at 0 spine hops
  uint32_t pod = 0;         // three-tier fabrics: the pod (nodes in one pod talk over one spine hop, else core)
};

/// A slice of a node given to a job.
struct NodeShare {
  uint32_t node = 0;
  uint32_t gpus = 0;
  bool operator==(const NodeShare&) const = default;
};

struct PendingJob {
  uint64_t id = 0;
  double submit_s = 0;
  uint32_t gpus = 0;
  int32_t pool = -1;        // a required pool, -1: any
  int32_t priority = 0;     // higher runs first under priority policies
  uint32_t team = 0;        // index into ClusterSnapshot::teams
  double estimate_s = 0;    // estimated run time on a throughput-1.0 GPU (what a user's time limit would say)
  std::vector<double> throughput = {};  // per pool: its speed there (Gavel's throughput matrix); empty: the pools'
};

struct RunningJob {
  uint64_t id = 0;
  uint32_t gpus = 0;
  int32_t priority = 0;
  uint32_t team = 0;
  double start_s = 0;
  double estimated_end_s = 0;  // start + estimate / the pool's throughput (may be wrong: estimates are)
  bool preemptible = true;
  std::vector<NodeShare> placement;
};

struct TeamInfo {
  std::string name;
  uint32_t quota_gpus = 0;  // 0: no quota
  uint32_t used_gpus = 0;
};

/// Everything a policy may read. Pending jobs are in submission order (ties: by id).
struct ClusterSnapshot {
  double now_s = 0;
  std::vector<PoolInfo> pools;
  std::vector<NodeInfo> nodes;
  std::vector<TeamInfo> teams;
  std::vector<PendingJob> pending;
  std::vector<RunningJob> running;
};

struct Placement {
  uint64_t job = 0;
  std::vector<NodeShare> shares;  // sums to the job's GPUs (gang: all or nothing)
  bool operator==(const Placement&) const = default;
};

struct Decisions {
  std::vector<uint64_t> preempt;   // running jobs to stop first (they return to the queue from a checkpoint)
  std::vector<Placement> start;    // in order; each fits in what is free after the preemptions and earlier starts
  double wake_s = -1;              // call the policy again at this time even if nothing happens (rounds); -1: no
  bool operator==(const Decisions&) const = default;
};

class SchedulingPolicy {
 public:
  virtual ~SchedulingPolicy() = default;
  virtual Decisions schedule(const ClusterSnapshot& snapshot) = 0;
};

/// How the queue is ordered, whether later jobs may jump a blocked head, and how GPUs are picked.
struct QueueSchedulerConfig {
  enum class Order : uint8_t { kSubmit, kPriority, kShortestEstimate };
  enum class Placer : uint8_t { kFirstFit, kTopology, kHetero };
  Order order = Order::kSubmit;
  bool backfill = false;   // EASY: a later job may start if it does not delay the head job's reservation
  bool preempt = false;    // a blocked higher-priority head job stops lower-priority running jobs
  Placer placer = Placer::kFirstFit;
  bool quotas = true;      // a team never holds more than its quota (teams with quota 0 have none)
};

/// FIFO / priority / shortest-estimate queue with optional EASY backfill, preemption and team quotas, and a
/// placer: first fit (nodes in order), topology-aware (fewest leaves, then pods, best fit inside) or
/// heterogeneity-aware (the pool where the job finishes first, at its normalised throughput; topology inside).
/// Gang: a job starts on all its GPUs or not at all. A job that fits on one node gets one node.
class QueueScheduler final : public SchedulingPolicy {
 public:
  explicit QueueScheduler(const QueueSchedulerConfig& config) : config_(config) {}
  Decisions schedule(const ClusterSnapshot& snapshot) override;

 private:
  QueueSchedulerConfig config_;
};

/// GPUs for `gpus` on `free` (free GPUs per node, of the snapshot's nodes), restricted to pool `pool` (-1: any).
/// Empty when they do not fit. Exposed for tests and the placement benchmarks.
std::vector<NodeShare> place_first_fit(const ClusterSnapshot& s, const std::vector<uint32_t>& free, uint32_t gpus,
                                       int32_t pool);
std::vector<NodeShare> place_topology(const ClusterSnapshot& s, const std::vector<uint32_t>& free, uint32_t gpus,
                                      int32_t pool);

/// Leaves and pods a placement spans, and the largest spine-hop count between two of its nodes (0 same leaf,
/// 1 same pod, 2 across pods): what topology-aware placement minimises.
struct PlacementSpread {
  uint32_t leaves = 0;
  uint32_t pods = 0;
  uint32_t max_spine_hops = 0;
};
PlacementSpread placement_spread(const ClusterSnapshot& s, const std::vector<NodeShare>& shares);

using SchedulingPolicyFactory = std::function<std::unique_ptr<SchedulingPolicy>()>;
/// Settings of the registered policies that a front end may change (lcsim schedule --gavel-round).
struct SchedulingPolicyOptions {
  double gavel_round_s = 360;  // gavel-lp's round length (Gavel's default: 6 minutes)
};
/// fifo, backfill, priority, topology, hetero, predictive (shortest estimate first + backfill), gavel, gavel-total,
/// gavel-lp.
void register_scheduling_policies(Registry<SchedulingPolicyFactory>& r, const SchedulingPolicyOptions& options = {});

}  // namespace lcsim::policy
