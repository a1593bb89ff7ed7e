// The serving workload's per-instance state (private to its implementation files: serving.cc, serving_report.cc).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "workloads/inference/batch_scheduler.h"
#include "workloads/inference/disaggregation.h"
#include "workloads/inference/kv_cache.h"
#include "workloads/inference/preemption.h"
#include "workloads/inference/serving.h"
#include "workloads/inference/serving_model.h"

namespace lcsim::inf {

struct InferenceServing::Instance {
  Instance(const BatchScheduler::Limits& l, const InstanceCost& c) : sched(l), cost(c) {}
  BatchScheduler sched;
  InstanceCost cost;
  std::vector<uint32_t> gpus;  // indices into ctx.gpus
  Role role = Role::kColocated;
  HostPath host;  // preemption by swap: each GPU's path to host memory
  std::unique_ptr<InstanceCost> draft;  // speculative decoding: the draft model on the same GPUs
  double swap_bytes = 0, swap_s = 0, draft_s = 0;
  bool busy = false;
  uint32_t incoming = 0;  // disaggregated decode instance: KV handoffs on their way to it
  double busy_since = 0, busy_s = 0;
  uint64_t iterations = 0;
  double expert_tokens = 0, expert_rows = 0;  // MoE: tokens and the busiest GPU's token-expert rows, summed
  BatchScheduler::Plan plan;
  std::vector<std::unique_ptr<KvTier>> tiers;  // HBM, DRAM, SSD (the pool is shared)
  std::unique_ptr<PrefixCache> cache;
  double counters[3] = {-1, -1, -1};  // last running, waiting, free blocks put on the timeline
  double sample[3] = {};               // their values after the last change, at sample_s (-1: none pending)
  double sample_s = -1;
};

}  // namespace lcsim::inf
