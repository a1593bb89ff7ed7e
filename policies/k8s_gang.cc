// See k8s_gang.h.
#include "policies/k8s_gang.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <utility>
#include <nlohmann/json.hpp>

#include "sim/error.h"

namespace lcsim::policy {
namespace {

using nlohmann::json;

const char* kGroupLabel = "lcsim.io/pod-group";
const char* kMinMemberAnnotation = "lcsim.io/min-member";

/// obj[key] by Go's encoding/json rules: exact name first, else case-insensitively (the extender v1 types for
/// bind and preempt have no json tags, so kube-scheduler writes "PodName", "NodeNameToVictims", ...).
const json* field(const json& obj, const std::string& key) {
  if (!obj.is_object()) return nullptr;
  if (auto it = obj.find(key); it != obj.end()) return &*it;
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  for (auto it = obj.begin(); it != obj.end(); ++it)
    if (lower(it.key()) == lower(key)) return &*it;
  return nullptr;
}

std::string text(const json* v) { return v && v->is_string() ? v->get<std::string>() : std::string(); }

json parse_object(const std::string& body, const char* what) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw InputError(std::string("request body: not a JSON object (an ") + what + ")");
  return j;
}

/// What the extender needs of a pod beyond its GPUs.
struct PodMeta {
  std::string uid;        // metadata.uid, else NAMESPACE/NAME
  std::string group;      // NAMESPACE/GROUP, or "" when not in a pod group
  uint32_t min_member = 0;
  int64_t priority = 0;   // spec.priority
  uint32_t gpus = 0;
};

PodMeta pod_meta(const json& pod, const std::string& where) {
  PodMeta m;
  const json* meta = field(pod, "metadata");
  const std::string ns = text(field(meta ? *meta : json(), "namespace"));
  const std::string name = text(field(meta ? *meta : json(), "name"));
  m.uid = text(field(meta ? *meta : json(), "uid"));
  if (m.uid.empty()) m.uid = (ns.empty() ? "default" : ns) + "/" + name;
  if (const json* spec = field(pod, "spec"); spec && spec->is_object()) {
    if (const json* p = field(*spec, "priority"); p && p->is_number_integer()) m.priority = p->get<int64_t>();
  }
  m.gpus = pod_gpu_request(pod.dump());
  const json* labels = meta ? field(*meta, "labels") : nullptr;
  const std::string group = labels ? text(field(*labels, kGroupLabel)) : "";
  if (group.empty()) return m;
  m.group = (ns.empty() ? "default" : ns) + "/" + group;
  const json* ann = meta ? field(*meta, "annotations") : nullptr;
  const json* mm = ann ? field(*ann, kMinMemberAnnotation) : nullptr;
  const std::string mms = text(mm);
  const bool digits = !mms.empty() && mms.size() <= 5 && mms.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || std::stoul(mms) == 0) {
    throw InputError(where + ".metadata.annotations " + kMinMemberAnnotation + ": " +
                     (mm ? "'" + (mm->is_string() ? mms : mm->dump()) + "'" : std::string("missing")) +
                     " (a pod labelled " + kGroupLabel + " needs its group's size: a whole number 1..99999)");
  }
  m.min_member = static_cast<uint32_t>(std::stoul(mms));
  return m;
}

json filter_reply(const json& items, const ExtenderRequest& r, const std::vector<bool>& pass,
                  const std::string& why) {
  json nodes = json::array(), names = json::array(), failed = json::object();
  for (size_t i = 0; i < r.names.size(); ++i) {
    if (pass[i]) nodes.push_back(items[i]), names.push_back(r.names[i]);
    else failed[r.names[i]] = why;
  }
  return {{"nodes", {{"items", nodes}}}, {"nodenames", names}, {"failedNodes", failed}};
}

}  // namespace

K8sExtender::K8sExtender(SchedulingPolicy& policy, K8sExtenderOptions options)
    : policy_(policy), options_(std::move(options)) {
  if (!options_.clock) {
    options_.clock = [] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    };
  }
}

void K8sExtender::expire() {
  // The group stays, not admitted, with its members known: a late bind of one is refused, and the next member
  // filtered asks for admission again (for the members not yet bound).
  const double now = options_.clock();
  for (auto& [name, g] : groups_) {
    if (!g.admitted || now - g.admitted_s < options_.reservation_timeout_s) continue;
    ++expired_;
    g.admitted = false;
    g.reserved.clear();
    for (const auto& [uid, group] : member_of_)
      if (group == name) passed_.erase(uid);  // what its members passed was on slots now released
  }
}

HeldGpus K8sExtender::held_except(const std::string& group) const {
  HeldGpus held;
  for (const auto& [name, g] : groups_) {
    if (name == group || !g.admitted) continue;
    for (const auto& node : g.reserved) held[node] += g.pod_gpus;
  }
  return held;
}

void K8sExtender::remember(const ExtenderRequest& r) {
  for (size_t i = 0; i < r.names.size(); ++i) last_free_[r.names[i]] = r.snapshot.nodes[i].free_gpus;
}

std::string K8sExtender::filter(const std::string& body) {
  expire();
  try {
    const json args = parse_object(body, "ExtenderArgs");
    const PodMeta pod = pod_meta(args.contains("pod") ? args["pod"] : json(), "pod");
    if (pod.group.empty()) {
      const HeldGpus held = held_except("");
      remember(parse_extender_args(body, held));
      return extender_filter(body, policy_, held);
    }
    const ExtenderRequest r = parse_extender_args(body, held_except(pod.group));
    remember(r);
    const json& items = args["nodes"]["items"];
    Group& g = groups_[pod.group];
    if (g.min_member == 0) g.min_member = pod.min_member, g.pod_gpus = pod.gpus;
    if (g.min_member != pod.min_member || g.pod_gpus != pod.gpus) {
      throw InputError("pod: pod group " + pod.group + " has " + std::to_string(g.min_member) + " members of " +
                       std::to_string(g.pod_gpus) + " GPUs; this member says " + std::to_string(pod.min_member) +
                       " of " + std::to_string(pod.gpus) + " (members must agree)");
    }
    member_of_[pod.uid] = pod.group;
    if (!g.admitted) {
      // All members at once, or none: each in turn where the policy puts it, taking its GPUs.
      ClusterSnapshot s = r.snapshot;
      const uint32_t need = g.min_member - static_cast<uint32_t>(g.bound.size());
      std::vector<std::string> slots;
      for (uint32_t m = 0; m < need && pod.gpus > 0; ++m) {
        s.pending = {PendingJob{1, 0, pod.gpus, -1, 0, 0, 0, {}}};
        const Decisions d = policy_.schedule(s);
        if (d.start.empty() || d.start.front().shares.size() != 1) break;
        const uint32_t n = d.start.front().shares.front().node;
        s.nodes[n].free_gpus -= pod.gpus;
        slots.push_back(r.names[n]);
      }
      if (slots.size() < need || pod.gpus == 0) {
        const std::string why = "pod group " + pod.group + ": " + std::to_string(need) + " members of " +
                                std::to_string(pod.gpus) + " " + "nvidia.com/gpu must start together; only " +
                                std::to_string(slots.size()) + " fit now (all or none)";
        passed_[pod.uid].clear();
        return filter_reply(items, r, std::vector<bool>(r.names.size(), false), why).dump();
      }
      g.admitted = true;
      g.reserved = slots;
      g.admitted_s = options_.clock();
    }
    std::vector<bool> pass(r.names.size(), false);
    std::set<std::string>& passed = passed_[pod.uid];
    passed.clear();
    for (size_t i = 0; i < r.names.size(); ++i) {
      pass[i] = std::find(g.reserved.begin(), g.reserved.end(), r.names[i]) != g.reserved.end();
      if (pass[i]) passed.insert(r.names[i]);
    }
    std::string slots;
    for (const auto& n : g.reserved) slots += (slots.empty() ? "" : ", ") + n;
    return filter_reply(items, r, pass, "pod group " + pod.group + " is admitted on its reserved nodes: " + slots)
        .dump();
  } catch (const InputError& e) {
    return json{{"error", e.what()}}.dump();
  }
}

std::string K8sExtender::prioritize(const std::string& body) {
  expire();
  const json args = parse_object(body, "ExtenderArgs");
  const PodMeta pod = pod_meta(args.contains("pod") ? args["pod"] : json(), "pod");
  auto g = groups_.find(pod.group);
  if (pod.group.empty() || g == groups_.end() || !g->second.admitted) {
    const HeldGpus held = held_except(pod.group);
    remember(parse_extender_args(body, held));
    return extender_prioritize(body, policy_, held);
  }
  // An admitted member: its group's reserved nodes, first slot first.
  const ExtenderRequest r = parse_extender_args(body, held_except(pod.group));
  remember(r);
  const auto& slots = g->second.reserved;
  json out = json::array();
  for (const auto& name : r.names) {
    auto it = std::find(slots.begin(), slots.end(), name);
    const int64_t score = it == slots.end() ? 0 : it == slots.begin() ? kMaxExtenderPriority : kMaxExtenderPriority - 1;
    out.push_back({{"host", name}, {"score", score}});
  }
  return out.dump();
}

std::string K8sExtender::bind(const std::string& body) {
  expire();
  try {
    const json args = parse_object(body, "ExtenderBindingArgs");
    for (auto it = args.begin(); it != args.end(); ++it) {
      std::string k = it.key();
      for (char& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (k != "podname" && k != "podnamespace" && k != "poduid" && k != "node")
        throw InputError("'" + it.key() + "': unknown field of ExtenderBindingArgs (allowed: PodName, PodNamespace, "
                         "PodUID, Node)");
    }
    const std::string name = text(field(args, "PodName")), node = text(field(args, "Node"));
    std::string ns = text(field(args, "PodNamespace")), uid = text(field(args, "PodUID"));
    if (name.empty()) throw InputError("PodName: missing");
    if (node.empty()) throw InputError("Node: missing (the node to bind pod " + name + " to)");
    if (ns.empty()) ns = "default";
    if (uid.empty()) uid = ns + "/" + name;
    const K8sBinding binding{ns, name, text(field(args, "PodUID")), node};
    auto call_api = [&] { return options_.binder ? options_.binder(binding) : std::string(); };
    auto m = member_of_.find(uid);
    if (m == member_of_.end()) return json{{"Error", call_api()}}.dump();  // not in a pod group: nothing held
    auto g = groups_.find(m->second);
    if (g == groups_.end() || !g->second.admitted) {
      throw InputError("pod " + ns + "/" + name + ": its pod group " + m->second +
                       " is not admitted (its members start all together or not at all); bind refused");
    }
    auto& slots = g->second.reserved;
    auto slot = std::find(slots.begin(), slots.end(), node);
    if (slot == slots.end()) {
      std::string list;
      for (const auto& n : slots) list += (list.empty() ? "" : ", ") + n;
      throw InputError("pod " + ns + "/" + name + ": node " + node + " holds no reserved slot of pod group " +
                       m->second + " (reserved: " + (list.empty() ? "none left" : list) + ")");
    }
    // kube-scheduler binds a pod only on a node the extender's filter passed for it in this cycle: a member bound
    // elsewhere (its filter never offered this slot, or failed everywhere before another member's admitted the
    // group) skipped the extender's checks.
    auto p = passed_.find(uid);
    if (p == passed_.end() || !p->second.count(node)) {
      std::string list;
      if (p != passed_.end())
        for (const auto& n : p->second) list += (list.empty() ? "" : ", ") + n;
      throw InputError("pod " + ns + "/" + name + ": never passed a filter call on node " + node + " (its last " +
                       "filter passed " + (list.empty() ? "no node" : list) + "); bind refused");
    }
    if (std::string error = call_api(); !error.empty()) return json{{"Error", error}}.dump();  // the slot stays
    slots.erase(slot);
    g->second.bound.insert(uid);
    member_of_.erase(m);
    passed_.erase(p);
    if (g->second.bound.size() >= g->second.min_member) {  // the whole gang is bound: nothing left to hold
      groups_.erase(g);
    }
    return json{{"Error", ""}}.dump();
  } catch (const InputError& e) {
    return json{{"Error", e.what()}}.dump();
  }
}

std::string K8sExtender::preempt(const std::string& body) {
  expire();
  const json args = parse_object(body, "ExtenderPreemptionArgs");
  const json* pod_json = field(args, "Pod");
  if (!pod_json || !pod_json->is_object()) throw InputError("Pod: missing (the pod that would preempt)");
  const PodMeta pod = pod_meta(*pod_json, "Pod");
  const json* victims = field(args, "NodeNameToVictims");
  if (!victims || victims->is_null()) {
    throw InputError("NodeNameToVictims: missing (only NodeNameToMetaVictims given?); this extender reads the "
                     "victims' GPUs and labels, so configure it with nodeCacheCapable: false");
  }
  if (!victims->is_object()) throw InputError("NodeNameToVictims: not an object (node name -> Victims)");
  json out = json::object();
  for (auto it = victims->begin(); it != victims->end(); ++it) {
    const std::string node = it.key(), where = "NodeNameToVictims." + node;
    const json* pods = field(it.value(), "Pods");
    if (!pods || !pods->is_array()) throw InputError(where + ".Pods: missing or not a list");
    const json* pdb = field(it.value(), "NumPDBViolations");
    std::vector<PodMeta> list;
    for (size_t i = 0; i < pods->size(); ++i)
      list.push_back(pod_meta((*pods)[i], where + ".Pods[" + std::to_string(i) + "]"));
    std::vector<PodMeta> chosen;
    auto known = last_free_.find(node);
    if (known == last_free_.end()) {
      chosen = list;  // never seen in a filter: kube-scheduler's own choice stands
    } else {
      std::stable_sort(list.begin(), list.end(), [](const PodMeta& a, const PodMeta& b) {
        if (a.priority != b.priority) return a.priority < b.priority;
        return a.gpus > b.gpus;
      });
      uint64_t room = known->second;
      for (const auto& v : list) {
        if (room >= pod.gpus) break;
        chosen.push_back(v);
        room += v.gpus;
      }
      if (room < pod.gpus) continue;  // even every victim would not make room
    }
    bool breaks_gang = false;
    for (const auto& v : chosen) breaks_gang = breaks_gang || !v.group.empty();
    if (breaks_gang) continue;
    json metas = json::array();
    for (const auto& v : chosen) metas.push_back({{"UID", v.uid}});
    out[node] = {{"Pods", metas},
                 {"NumPDBViolations", pdb && pdb->is_number_integer() ? pdb->get<int64_t>() : 0}};
  }
  return json{{"NodeNameToMetaVictims", out}}.dump();
}

}  // namespace lcsim::policy
