#include "policies/policy_wire.h"

namespace lcsim::policy {
namespace {

void shares_to(const std::vector<NodeShare>& in, google::protobuf::RepeatedPtrField<policy_api::NodeShare>* out) {
  for (const auto& sh : in) {
    auto* p = out->Add();
    p->set_node(sh.node);
    p->set_gpus(sh.gpus);
  }
}
std::vector<NodeShare> shares_from(const google::protobuf::RepeatedPtrField<policy_api::NodeShare>& in) {
  std::vector<NodeShare> out;
  for (const auto& p : in) out.push_back({p.node(), p.gpus()});
  return out;
}

}  // namespace

void to_proto(const ClusterSnapshot& s, policy_api::ClusterSnapshot* out) {
  out->set_now_s(s.now_s);
  for (const auto& p : s.pools) {
    auto* m = out->add_pools();
    m->set_name(p.name);
    m->set_throughput(p.throughput);
    m->set_cost_per_gpu_hour(p.cost_per_gpu_hour);
  }
  for (const auto& n : s.nodes) {
    auto* m = out->add_nodes();
    m->set_pool(n.pool);
    m->set_gpus(n.gpus);
    m->set_free_gpus(n.free_gpus);
    m->set_leaf(n.leaf);
    m->set_pod(n.pod);
  }
  for (const auto& t : s.teams) {
    auto* m = out->add_teams();
    m->set_name(t.name);
    m->set_quota_gpus(t.quota_gpus);
    m->set_used_gpus(t.used_gpus);
  }
  for (const auto& j : s.pending) {
    auto* m = out->add_pending();
    m->set_id(j.id);
    m->set_submit_s(j.submit_s);
    m->set_gpus(j.gpus);
    m->set_pool(j.pool);
    m->set_priority(j.priority);
    m->set_team(j.team);
    m->set_estimate_s(j.estimate_s);
    for (double x : j.throughput) m->add_throughput(x);
  }
  for (const auto& r : s.running) {
    auto* m = out->add_running();
    m->set_id(r.id);
    m->set_gpus(r.gpus);
    m->set_priority(r.priority);
    m->set_team(r.team);
    m->set_start_s(r.start_s);
    m->set_estimated_end_s(r.estimated_end_s);
    m->set_preemptible(r.preemptible);
    shares_to(r.placement, m->mutable_placement());
  }
}

ClusterSnapshot from_proto(const policy_api::ClusterSnapshot& s) {
  ClusterSnapshot out;
  out.now_s = s.now_s();
  for (const auto& p : s.pools()) out.pools.push_back({p.name(), p.throughput(), p.cost_per_gpu_hour()});
  for (const auto& n : s.nodes()) out.nodes.push_back({n.pool(), n.gpus(), n.free_gpus(), n.leaf(), n.pod()});
  for (const auto& t : s.teams()) out.teams.push_back({t.name(), t.quota_gpus(), t.used_gpus()});
  for (const auto& j : s.pending()) {
    out.pending.push_back({j.id(), j.submit_s(), j.gpus(), j.pool(), j.priority(), j.team(), j.estimate_s(),
                           std::vector<double>(j.throughput().begin(), j.throughput().end())});
  }
  for (const auto& r : s.running())
    out.running.push_back({r.id(), r.gpus(), r.priority(), r.team(), r.start_s(), r.estimated_end_s(),
                           r.preemptible(), shares_from(r.placement())});
  return out;
}

void to_proto(const Decisions& d, policy_api::Decisions* out) {
  for (uint64_t id : d.preempt) out->add_preempt(id);
  for (const auto& p : d.start) {
    auto* m = out->add_start();
    m->set_job(p.job);
    shares_to(p.shares, m->mutable_shares());
  }
  out->set_wake_s(d.wake_s);
}

Decisions from_proto(const policy_api::Decisions& d) {
  Decisions out;
  for (uint64_t id : d.preempt()) out.preempt.push_back(id);
  for (const auto& p : d.start()) out.start.push_back({p.job(), shares_from(p.shares())});
  out.wake_s = d.wake_s();
  return out;
}

std::string snapshot_problem(const ClusterSnapshot& s) {
  const std::string n = std::to_string(s.nodes.size()), p = std::to_string(s.pools.size());
  for (size_t i = 0; i < s.nodes.size(); ++i) {
    const auto& node = s.nodes[i];
    if (node.pool >= s.pools.size())
      return "nodes[" + std::to_string(i) + "].pool " + std::to_string(node.pool) + " is not one of the " + p + " pools";
    if (node.free_gpus > node.gpus) return "nodes[" + std::to_string(i) + "] has more free GPUs than GPUs";
  }
  for (size_t i = 0; i < s.pending.size(); ++i) {
    const auto& j = s.pending[i];
    if (j.pool >= static_cast<int64_t>(s.pools.size()) || j.pool < -1)
      return "pending[" + std::to_string(i) + "].pool " + std::to_string(j.pool) + " is not -1 or one of the " + p + " pools";
    if (!j.throughput.empty() && j.throughput.size() != s.pools.size())
      return "pending[" + std::to_string(i) + "].throughput has " + std::to_string(j.throughput.size()) +
             " entries; expected none or one per pool (" + p + ")";
    for (double x : j.throughput)
      if (!(x > 0)) return "pending[" + std::to_string(i) + "].throughput entries must be > 0";
  }
  for (size_t i = 0; i < s.running.size(); ++i)
    for (const auto& sh : s.running[i].placement)
      if (sh.node >= s.nodes.size())
        return "running[" + std::to_string(i) + "] is placed on node " + std::to_string(sh.node) + " of " + n;
  return "";
}

}  // namespace lcsim::policy
