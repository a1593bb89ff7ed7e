#include "policies/k8s_extender.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "sim/error.h"

namespace lcsim::policy {
namespace {

using nlohmann::json;

const char* kGpuResource = "nvidia.com/gpu";
const char* kFreeAnnotation = "lcsim.io/free-gpus";
const char* kLeafLabel = "lcsim.io/leaf";
const char* kPodLabel = "lcsim.io/pod";

/// A whole, non-negative count written as a Kubernetes quantity or label value ("8"; also a JSON number).
uint32_t count(const json& v, const std::string& where) {
  if (v.is_number_unsigned()) return v.get<uint32_t>();
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    bool digits = !s.empty() && s.size() <= 9;
    for (char c : s) digits = digits && c >= '0' && c <= '9';
    if (digits) return static_cast<uint32_t>(std::stoul(s));
  }
  throw InputError(where + ": '" + (v.is_string() ? v.get<std::string>() : v.dump()) +
                   "' is not a whole number of GPUs (allowed: a non-negative integer such as \"8\")");
}

/// The value at obj[a][b] if both exist and are objects on the way, else nullptr.
const json* at(const json& obj, const char* a, const char* b) {
  if (!obj.is_object() || !obj.contains(a) || !obj[a].is_object() || !obj[a].contains(b)) return nullptr;
  return &obj[a][b];
}

uint32_t pod_gpus(const json& pod) {
  if (!pod.is_object()) throw InputError("pod: missing (an ExtenderArgs body needs the pod being scheduled)");
  const json* containers = at(pod, "spec", "containers");
  if (!containers) return 0;
  if (!containers->is_array()) throw InputError("pod.spec.containers: not a list");
  uint32_t total = 0;
  for (size_t i = 0; i < containers->size(); ++i) {
    const json& c = (*containers)[i];
    const std::string where = "pod.spec.containers[" + std::to_string(i) + "].resources.";
    const json* res = c.is_object() && c.contains("resources") ? &c["resources"] : nullptr;
    if (!res) continue;
    if (const json* lim = at(*res, "limits", kGpuResource)) total += count(*lim, where + "limits " + kGpuResource);
    else if (const json* req = at(*res, "requests", kGpuResource))
      total += count(*req, where + "requests " + kGpuResource);
  }
  return total;
}

NodeInfo node_info(const json& node, const std::string& where, std::string& name) {
  const json* n = at(node, "metadata", "name");
  if (!n || !n->is_string()) throw InputError(where + ".metadata.name: missing");
  name = n->get<std::string>();
  NodeInfo info;
  const json* gpus = at(node, "status", "allocatable");
  std::string key = where + ".status.allocatable " + kGpuResource;
  if (gpus && gpus->is_object() && gpus->contains(kGpuResource)) {
    info.gpus = count((*gpus)[kGpuResource], key);
  } else if (const json* cap = at(node, "status", "capacity"); cap && cap->is_object() && cap->contains(kGpuResource)) {
    info.gpus = count((*cap)[kGpuResource], where + ".status.capacity " + kGpuResource);
  }
  info.free_gpus = info.gpus;
  if (const json* f = at(node, "metadata", "annotations"); f && f->is_object() && f->contains(kFreeAnnotation)) {
    info.free_gpus = count((*f)[kFreeAnnotation], where + ".metadata.annotations " + kFreeAnnotation);
    if (info.free_gpus > info.gpus)
      throw InputError(where + ".metadata.annotations " + kFreeAnnotation + ": " + std::to_string(info.free_gpus) +
                       " free GPUs on a node with " + std::to_string(info.gpus) + " " + kGpuResource);
  }
  if (const json* l = at(node, "metadata", "labels"); l && l->is_object()) {
    if (l->contains(kLeafLabel)) info.leaf = count((*l)[kLeafLabel], where + ".metadata.labels " + kLeafLabel);
    if (l->contains(kPodLabel)) info.pod = count((*l)[kPodLabel], where + ".metadata.labels " + kPodLabel);
  }
  return info;
}

json parse(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw InputError("request body: not a JSON object (an ExtenderArgs)");
  return j;
}

const json& node_items(const json& args) {
  if (!args.contains("nodes") || args["nodes"].is_null()) {
    throw InputError(std::string("nodes: missing") + (args.contains("nodenames") ? " (only nodenames given)" : "") +
                     "; this extender reads each node's " + kGpuResource +
                     " and labels, so configure it with nodeCacheCapable: false");
  }
  const json* items = at(args, "nodes", "items");
  if (!items || !items->is_array()) throw InputError("nodes.items: missing or not a list");
  return *items;
}

}  // namespace

ExtenderRequest parse_extender_args(const std::string& body, const HeldGpus& held) {
  json args = parse(body);
  ExtenderRequest r;
  r.pod_gpus = pod_gpus(args.contains("pod") ? args["pod"] : json());
  const json& items = node_items(args);
  r.snapshot.pools.push_back({"default", 1.0, 0.0});
  r.snapshot.teams.push_back({"default", 0, 0});
  for (size_t i = 0; i < items.size(); ++i) {
    std::string name;
    r.snapshot.nodes.push_back(node_info(items[i], "nodes.items[" + std::to_string(i) + "]", name));
    if (auto h = held.find(name); h != held.end())
      r.snapshot.nodes.back().free_gpus -= std::min(r.snapshot.nodes.back().free_gpus, h->second);
    r.names.push_back(name);
  }
  PendingJob job;
  job.id = 1;
  job.gpus = r.pod_gpus;
  r.snapshot.pending.push_back(job);
  return r;
}

uint32_t pod_gpu_request(const std::string& pod_json) {
  json pod = json::parse(pod_json, nullptr, false);
  if (pod.is_discarded()) throw InputError("pod: not JSON");
  return pod_gpus(pod);
}

std::vector<uint32_t> extender_ranking(const ExtenderRequest& r, SchedulingPolicy& policy) {
  std::vector<uint32_t> order;
  if (r.pod_gpus == 0) return order;
  ClusterSnapshot s = r.snapshot;
  for (size_t k = 0; k < s.nodes.size(); ++k) {
    Decisions d = policy.schedule(s);
    if (d.start.empty() || d.start.front().shares.size() != 1) break;  // nowhere, or only across nodes
    uint32_t n = d.start.front().shares.front().node;
    order.push_back(n);
    s.nodes[n].free_gpus = 0;
  }
  return order;
}

int64_t extender_score(size_t rank, size_t ranked) {
  if (rank == 0) return kMaxExtenderPriority;  // the policy's choice alone gets the top score
  const auto below = static_cast<size_t>(kMaxExtenderPriority - 1);  // the others share 9..1 in order
  return static_cast<int64_t>(below - below * (rank - 1) / (ranked - 1));
}

std::string extender_filter(const std::string& body, SchedulingPolicy& policy, const HeldGpus& held) {
  json out = json::object();
  try {
    json args = parse(body);
    ExtenderRequest r = parse_extender_args(body, held);
    std::vector<bool> fits(r.names.size(), r.pod_gpus == 0);
    for (uint32_t n : extender_ranking(r, policy)) fits[n] = true;
    const json& items = node_items(args);
    json nodes = json::array(), names = json::array(), failed = json::object();
    for (size_t i = 0; i < fits.size(); ++i) {
      if (fits[i]) {
        nodes.push_back(items[i]);
        names.push_back(r.names[i]);
      } else {
        failed[r.names[i]] = std::to_string(r.snapshot.nodes[i].free_gpus) + " free " + kGpuResource + " of " +
                             std::to_string(r.snapshot.nodes[i].gpus) + "; the pod asks for " +
                             std::to_string(r.pod_gpus) + " on one node";
      }
    }
    out["nodes"] = {{"items", nodes}};
    out["nodenames"] = names;
    out["failedNodes"] = failed;
  } catch (const InputError& e) {
    out["error"] = e.what();
  }
  return out.dump();
}

std::string extender_prioritize(const std::string& body, SchedulingPolicy& policy, const HeldGpus& held) {
  ExtenderRequest r = parse_extender_args(body, held);
  std::vector<int64_t> score(r.names.size(), 0);
  std::vector<uint32_t> order = extender_ranking(r, policy);
  for (size_t k = 0; k < order.size(); ++k) score[order[k]] = extender_score(k, order.size());
  json out = json::array();
  for (size_t i = 0; i < r.names.size(); ++i) out.push_back({{"host", r.names[i]}, {"score", score[i]}});
  return out.dump();
}

}  // namespace lcsim::policy
