// lcsim-k8s-extender driven as kube-scheduler would: a separate process, real HTTP/1.1 over loopback, from a
// socket client written here. Its filter and prioritize answers must be the policy's own decisions on the same
// snapshot (built here from the same numbers, apart from the server's JSON mapping).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "policies/scheduling.h"
#include "k8s_client.h"

namespace lcsim::policy {
namespace {

using nlohmann::json;

/// A cluster of 16 nodes of 8 GPUs on 4 leaves in 2 pods, with a reproducible mix of free GPUs.
struct Cluster {
  ClusterSnapshot snapshot;
  json nodes = json::array();
};
Cluster cluster(uint32_t seed) {
  Cluster c;
  c.snapshot.pools.push_back({"default", 1.0, 0.0});
  c.snapshot.teams.push_back({"default", 0, 0});
  uint32_t x = seed;
  for (uint32_t n = 0; n < 16; ++n) {
    x = x * 1664525u + 1013904223u;
    uint32_t free = (x >> 16) % 9;
    c.snapshot.nodes.push_back({0, 8, free, n / 4, n / 8});
    c.nodes.push_back({{"metadata",
                        {{"name", "gpu-node-" + std::to_string(n)},
                         {"labels", {{"lcsim.io/leaf", std::to_string(n / 4)}, {"lcsim.io/pod", std::to_string(n / 8)}}},
                         {"annotations", {{"lcsim.io/free-gpus", std::to_string(free)}}}}},
                       {"status", {{"allocatable", {{"nvidia.com/gpu", "8"}, {"cpu", "96"}}}}}});
  }
  return c;
}

json args(const Cluster& c, uint32_t gpus) {
  json pod = {{"metadata", {{"name", "trainer-0"}}},
              {"spec", {{"containers", json::array({{{"name", "main"},
                                                      {"resources", {{"limits", {{"nvidia.com/gpu", std::to_string(gpus)}}}}}}})}}}};
  return {{"pod", pod}, {"nodes", {{"items", c.nodes}}}};
}

/// The policy's own picks for the pod alone, asked directly: its choice, then again without that node, ...
std::vector<uint32_t> picks(SchedulingPolicy& p, ClusterSnapshot s, uint32_t gpus) {
  s.pending = {PendingJob{1, 0, gpus, -1, 0, 0, 0}};
  std::vector<uint32_t> out;
  for (;;) {
    Decisions d = p.schedule(s);
    if (d.start.empty() || d.start[0].shares.size() != 1) return out;
    out.push_back(d.start[0].shares[0].node);
    s.nodes[out.back()].free_gpus = 0;
  }
}

TEST(K8sExtender, FilterAndPrioritizeOverHttpAreThePolicysDecisions) {
  Registry<SchedulingPolicyFactory> registry("scheduling policy");
  register_scheduling_policies(registry);
  size_t checked = 0, distinct_choice = 0;
  for (const char* name : {"topology", "fifo"}) {
    ServerProcess server(name);
    ASSERT_GT(server.port(), 0) << "the server printed no address";
    auto policy = registry.get(name).factory();
    for (uint32_t seed = 1; seed <= 6; ++seed) {
      Cluster c = cluster(seed);
      for (uint32_t gpus : {1u, 2u, 4u, 8u, 9u}) {
        const std::string body = args(c, gpus).dump();
        std::vector<uint32_t> expect = picks(*policy, c.snapshot, gpus);
        Response f = post(server.port(), "/scheduler/filter", body);
        ASSERT_EQ(f.status, 200) << f.body;
        json fr = json::parse(f.body);
        ASSERT_FALSE(fr.contains("error")) << fr.dump();
        std::set<std::string> passed, want;
        for (const auto& n : fr["nodenames"]) passed.insert(n.get<std::string>());
        for (uint32_t n : expect) want.insert("gpu-node-" + std::to_string(n));
        EXPECT_EQ(passed, want) << name << " seed " << seed << " gpus " << gpus;
        EXPECT_EQ(fr["nodes"]["items"].size(), want.size());
        EXPECT_EQ(fr["failedNodes"].size() + passed.size(), 16u);
        for (uint32_t n = 0; n < 16; ++n) {  // what fits on one node, and nothing else, passes
          EXPECT_EQ(want.count("gpu-node-" + std::to_string(n)) == 1, c.snapshot.nodes[n].free_gpus >= gpus);
        }

        Response p = post(server.port(), "/scheduler/prioritize", body);
        ASSERT_EQ(p.status, 200) << p.body;
        json pr = json::parse(p.body);
        ASSERT_EQ(pr.size(), 16u);
        std::map<std::string, int64_t> score;
        for (const auto& h : pr) score[h["host"].get<std::string>()] = h["score"].get<int64_t>();
        ASSERT_EQ(score.size(), 16u);
        for (size_t k = 0; k < expect.size(); ++k) {  // the policy's order, 10 for its choice, >= 1 for the rest
          int64_t s = score["gpu-node-" + std::to_string(expect[k])];
          EXPECT_GE(s, 1);
          EXPECT_LE(s, 10);
          if (k == 0) {
            EXPECT_EQ(s, 10);
            for (const auto& [host, other] : score)
              if (host != "gpu-node-" + std::to_string(expect[0])) {
                EXPECT_LT(other, 10) << host;
              }
          } else {
            EXPECT_LE(s, score["gpu-node-" + std::to_string(expect[k - 1])]);
          }
        }
        for (uint32_t n = 0; n < 16; ++n)
          if (!want.count("gpu-node-" + std::to_string(n))) {
            EXPECT_EQ(score["gpu-node-" + std::to_string(n)], 0);
          }
        ++checked;
        distinct_choice += !expect.empty() && expect[0] != [&] {
          for (uint32_t n = 0; n < 16; ++n)
            if (c.snapshot.nodes[n].free_gpus >= gpus) return n;
          return 16u;
        }();
      }
    }
  }
  EXPECT_EQ(checked, 60u);
  EXPECT_GT(distinct_choice, 0u);  // topology's best fit is not always the first node that fits
}

TEST(K8sExtender, BadRequestsGetAnAnswerThatSaysWhatIsWrong) {
  ServerProcess server("topology");
  ASSERT_GT(server.port(), 0);
  Cluster c = cluster(3);

  Response r = post(server.port(), "/filter", "{not json");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("not a JSON object"), std::string::npos) << r.body;

  json only_names = {{"pod", args(c, 1)["pod"]}, {"nodenames", {"gpu-node-0"}}};
  r = post(server.port(), "/filter", only_names.dump());
  EXPECT_NE(json::parse(r.body)["error"].get<std::string>().find("nodeCacheCapable: false"), std::string::npos);

  json bad = args(c, 1);
  bad["nodes"]["items"][2]["status"]["allocatable"]["nvidia.com/gpu"] = "8k";
  r = post(server.port(), "/prioritize", bad.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("nodes.items[2].status.allocatable nvidia.com/gpu: '8k' is not a whole number"),
            std::string::npos) << r.body;

  json too_many = args(c, 1);
  too_many["nodes"]["items"][0]["metadata"]["annotations"]["lcsim.io/free-gpus"] = "9";
  r = post(server.port(), "/filter", too_many.dump());
  EXPECT_NE(r.body.find("9 free GPUs on a node with 8"), std::string::npos) << r.body;

  EXPECT_EQ(post(server.port(), "/unreserve", args(c, 1).dump()).status, 404);
  EXPECT_EQ(post(server.port(), "/filter", "", "GET").status, 405);
}

}  // namespace
}  // namespace lcsim::policy
