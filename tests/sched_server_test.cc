// lcsim-policy-server driven as a control plane would: a separate process, over gRPC on loopback, by a client
// written here apart from the server (its own message building, the generated stub only). The decisions it gets
// must be the ones the simulator's policies made on the same snapshots during a replay of the Philly trace.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdio>

#include "child_server.h"
#include "proto/policy_api.grpc.pb.h"
#include "workloads/cluster/cluster_sim.h"

namespace lcsim::cluster {
namespace {

namespace api = lcsim::policy_api;

/// The server as a child process, on a loopback port it chose.
class ServerProcess : public test_support::ChildServer {
 public:
  ServerProcess() : ChildServer({LCSIM_POLICY_SERVER, "--listen", "127.0.0.1:0"}) {}
};

/// The client's own message building (not the server's policy_wire code).
api::ScheduleRequest request(const std::string& policy, const policy::ClusterSnapshot& s) {
  api::ScheduleRequest r;
  r.set_policy(policy);
  auto* m = r.mutable_snapshot();
  m->set_now_s(s.now_s);
  for (const auto& p : s.pools) {
    auto* x = m->add_pools();
    x->set_name(p.name), x->set_throughput(p.throughput), x->set_cost_per_gpu_hour(p.cost_per_gpu_hour);
  }
  for (const auto& n : s.nodes) {
    auto* x = m->add_nodes();
    x->set_pool(n.pool), x->set_gpus(n.gpus), x->set_free_gpus(n.free_gpus), x->set_leaf(n.leaf), x->set_pod(n.pod);
  }
  for (const auto& t : s.teams) {
    auto* x = m->add_teams();
    x->set_name(t.name), x->set_quota_gpus(t.quota_gpus), x->set_used_gpus(t.used_gpus);
  }
  for (const auto& j : s.pending) {
    auto* x = m->add_pending();
    x->set_id(j.id), x->set_submit_s(j.submit_s), x->set_gpus(j.gpus), x->set_pool(j.pool);
    x->set_priority(j.priority), x->set_team(j.team), x->set_estimate_s(j.estimate_s);
    for (double tp : j.throughput) x->add_throughput(tp);
  }
  for (const auto& j : s.running) {
    auto* x = m->add_running();
    x->set_id(j.id), x->set_gpus(j.gpus), x->set_priority(j.priority), x->set_team(j.team);
    x->set_start_s(j.start_s), x->set_estimated_end_s(j.estimated_end_s), x->set_preemptible(j.preemptible);
    for (const auto& sh : j.placement) {
      auto* y = x->add_placement();
      y->set_node(sh.node), y->set_gpus(sh.gpus);
    }
  }
  return r;
}

/// Decisions as text, the same for both sides: "preempt 3; start 5 on 0x8 1x8; ... wake 360.000000".
std::string text(const policy::Decisions& d) {
  std::string s;
  for (uint64_t id : d.preempt) s += "preempt " + std::to_string(id) + "; ";
  for (const auto& p : d.start) {
    s += "start " + std::to_string(p.job) + " on";
    for (const auto& sh : p.shares) s += " " + std::to_string(sh.node) + "x" + std::to_string(sh.gpus);
    s += "; ";
  }
  if (d.wake_s >= 0) s += "wake " + std::to_string(d.wake_s);
  return s;
}
std::string text(const api::Decisions& d) {
  std::string s;
  for (uint64_t id : d.preempt()) s += "preempt " + std::to_string(id) + "; ";
  for (const auto& p : d.start()) {
    s += "start " + std::to_string(p.job()) + " on";
    for (const auto& sh : p.shares()) s += " " + std::to_string(sh.node()) + "x" + std::to_string(sh.gpus());
    s += "; ";
  }
  if (d.wake_s() >= 0) s += "wake " + std::to_string(d.wake_s());
  return s;
}

/// Wraps a policy and keeps every k-th snapshot with the decisions the simulator applied.
class Recording final : public policy::SchedulingPolicy {
 public:
  Recording(std::unique_ptr<policy::SchedulingPolicy> inner, size_t every) : inner_(std::move(inner)), every_(every) {}
  policy::Decisions schedule(const policy::ClusterSnapshot& s) override {
    policy::Decisions d = inner_->schedule(s);
    if (calls_++ % every_ == 0 && cases.size() < 60) cases.push_back({s, d});
    return d;
  }
  std::vector<std::pair<policy::ClusterSnapshot, policy::Decisions>> cases;

 private:
  std::unique_ptr<policy::SchedulingPolicy> inner_;
  size_t every_;
  size_t calls_ = 0;
};

TEST(SchedServer, ServerOverGrpcMakesTheSimulatorsDecisionsOnTheSameSnapshots) {
  ServerProcess server;
  ASSERT_FALSE(server.address().empty()) << "the server printed no address";
  auto stub = api::SchedulingPolicy::NewStub(grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));

  // The first 4,000 Philly jobs on 96 GPUs in two pools and three tiers: queues build, so snapshots carry
  // pending and running jobs, reservations matter and multi-node jobs need placing.
  JobTrace trace = read_philly_trace(std::string(LCSIM_SOURCE_DIR) + "/data/clusters/philly_jobs_pollux.csv");
  trace.jobs.resize(4000);
  ClusterConfig c;
  c.pools = {{"h100", 4, 8, 2.0, 4.0}, {"a100", 8, 8, 1.0, 2.0}};
  c.fabric.ports_per_leaf = 16;
  c.fabric.tiers = 3;
  c.fabric.leaves_per_pod = 2;
  Registry<policy::SchedulingPolicyFactory> registry("scheduling policy");
  policy::register_scheduling_policies(registry);
  size_t compared = 0, nonempty = 0;
  for (const auto& name : registry.names()) {
    // gavel-lp keeps state between calls (time per kind): the server, which keeps one instance per policy, must
    // see the same snapshots in the same order, so its first calls are all recorded and sent.
    // Its LP over a long queue is also the slowest replay here: 400 jobs give it its 60 calls.
    Recording rec(registry.get(name).factory(), name == "gavel-lp" ? 1 : 37);
    SimOptions o;
    o.estimate_error = 0.2;
    JobTrace jobs = trace;
    if (name == "gavel-lp") jobs.jobs.resize(400);
    simulate_cluster(c, jobs, rec, o);
    ASSERT_GE(rec.cases.size(), 20u) << name;
    for (const auto& [snapshot, decided] : rec.cases) {
      api::ScheduleReply reply;
      grpc::ClientContext ctx;
      grpc::Status st = stub->Schedule(&ctx, request(name, snapshot), &reply);
      ASSERT_TRUE(st.ok()) << st.error_message();
      ASSERT_EQ(reply.error(), "");
      EXPECT_EQ(text(reply.decisions()), text(decided)) << name << " at t=" << snapshot.now_s;
      ++compared;
      nonempty += !decided.start.empty();
    }
  }
  EXPECT_GT(nonempty, compared / 10) << nonempty << " of " << compared;  // not only empty decisions

  // A control plane's mistakes get an answer that says what is wrong.
  api::ScheduleReply reply;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub->Schedule(&ctx, request("backfil", policy::ClusterSnapshot{}), &reply).ok());
  EXPECT_NE(reply.error().find("unknown scheduling policy 'backfil'; did you mean 'backfill'?"), std::string::npos)
      << reply.error();
  policy::ClusterSnapshot bad;
  bad.nodes.push_back({3, 8, 8, 0, 0});
  api::ScheduleReply reply2;
  grpc::ClientContext ctx2;
  ASSERT_TRUE(stub->Schedule(&ctx2, request("fifo", bad), &reply2).ok());
  EXPECT_EQ(reply2.error(), "bad snapshot: nodes[0].pool 3 is not one of the 0 pools");
  // Gavel's throughput matrix crosses the wire: two 8-GPU jobs, one free 8-GPU node in each of two pools of
  // equal speed; job 2 runs 3x faster on pool 0 and job 1 no faster, so the max-min allocation puts job 2 on
  // pool 0's node (node 0) and job 1 on node 1. Without the rows both jobs look alike and job 1, first, takes node 0.
  policy::ClusterSnapshot matrix;
  matrix.pools = {{"h100", 1.0, 4.0}, {"a100", 1.0, 2.0}};
  matrix.nodes = {{0, 8, 8, 0, 0}, {1, 8, 8, 1, 0}};
  matrix.pending.push_back({.id = 1, .submit_s = 0, .gpus = 8, .throughput = {1.0, 1.0}});
  matrix.pending.push_back({.id = 2, .submit_s = 1, .gpus = 8, .throughput = {3.0, 1.0}});
  const policy::Decisions local = registry.get("gavel").factory()->schedule(matrix);
  ASSERT_NE(text(local).find("start 2 on 0x8;"), std::string::npos) << text(local);
  ASSERT_NE(text(local).find("start 1 on 1x8;"), std::string::npos) << text(local);
  api::ScheduleReply reply_matrix;
  grpc::ClientContext ctx_matrix;
  ASSERT_TRUE(stub->Schedule(&ctx_matrix, request("gavel", matrix), &reply_matrix).ok());
  EXPECT_EQ(text(reply_matrix.decisions()), text(local));
  policy::ClusterSnapshot bad_row;
  bad_row.pools.push_back({"h100", 2.0, 4.0});
  bad_row.pending.push_back({.id = 1, .gpus = 8, .throughput = {1.0, 2.0}});
  api::ScheduleReply reply3;
  grpc::ClientContext ctx3;
  ASSERT_TRUE(stub->Schedule(&ctx3, request("gavel", bad_row), &reply3).ok());
  EXPECT_EQ(reply3.error(), "bad snapshot: pending[0].throughput has 2 entries; expected none or one per pool (1)");
}

}  // namespace
}  // namespace lcsim::cluster
