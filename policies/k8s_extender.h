// The Kubernetes scheduler-extender protocol (kube-scheduler's `extenders:` webhook, k8s.io/kube-scheduler
// extender/v1) mapped onto the policy API: an ExtenderArgs body (the pod and the candidate nodes) becomes a
// ClusterSnapshot with one pending job, and a registered scheduling policy answers /filter (which nodes can take
// the pod) and /prioritize (0..10 per node, highest where the policy would put it). JSON in, JSON out; the HTTP
// server is apps/k8s_extender_server.cc. Field names and labels: docs/scheduling.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "policies/scheduling.h"

namespace lcsim::policy {

/// An ExtenderArgs body as the policy API sees it: node i of the snapshot is names[i]; the pod is pending job 1.
struct ExtenderRequest {
  ClusterSnapshot snapshot;
  std::vector<std::string> names;
  uint32_t pod_gpus = 0;   // the pod's nvidia.com/gpu request (limits, else requests), summed over containers
};

/// GPUs per node name that are not free to this pod although the node says so (held for a pod group: k8s_gang.h).
using HeldGpus = std::map<std::string, uint32_t>;

/// Parses an ExtenderArgs JSON body. Throws InputError naming the field (e.g. "nodes.items[2].status.allocatable
/// nvidia.com/gpu: '8k' is not a whole number") when it cannot be mapped. `held` GPUs come off the nodes' free ones.
ExtenderRequest parse_extender_args(const std::string& body, const HeldGpus& held = {});

/// A pod's nvidia.com/gpu request (its containers' limits, else requests), from the pod's JSON.
uint32_t pod_gpu_request(const std::string& pod_json);

/// Nodes in the order `policy` picks them for the pod alone: its choice, then its choice with that node taken
/// away, and so on. Only nodes that can hold the whole pod appear (a pod cannot span nodes).
std::vector<uint32_t> extender_ranking(const ExtenderRequest& r, SchedulingPolicy& policy);

/// kube-scheduler's MaxExtenderPriority: scores run 0..10.
inline constexpr int64_t kMaxExtenderPriority = 10;
/// The score of the node ranked `rank` (0: the policy's choice) of `ranked`: 10 for the choice alone, then
/// 9 - floor(9 (rank - 1) / (ranked - 1)): non-increasing, at least 1.
int64_t extender_score(size_t rank, size_t ranked);

/// The JSON replies: ExtenderFilterResult {nodes, nodenames, failedNodes, error} and HostPriorityList
/// [{host, score}]. A body that cannot be mapped gets a filter result with `error` set, or (prioritize, which
/// has no error field) throws InputError.
std::string extender_filter(const std::string& body, SchedulingPolicy& policy, const HeldGpus& held = {});
std::string extender_prioritize(const std::string& body, SchedulingPolicy& policy, const HeldGpus& held = {});

}  // namespace lcsim::policy
