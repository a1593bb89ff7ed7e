// lcsim-k8s-extender's bind and preempt verbs and pod-group (gang) admission, driven as kube-scheduler would: the
// server in a separate process, real HTTP/1.1 over loopback, requests built here from Kubernetes' own field names.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "k8s_client.h"

namespace lcsim::policy {
namespace {

using nlohmann::json;

json call(int port, const std::string& verb, const json& body, int want_status = 200) {
  Response r = post(port, "/scheduler/" + verb, body.dump());
  EXPECT_EQ(r.status, want_status) << verb << ": " << r.body;
  json j = json::parse(r.body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.body;
  return j;
}

TEST(K8sGang, APodGroupIsAdmittedAllOrNoneAndItsSlotsAreHeld) {
  ServerProcess server("topology");
  ASSERT_GT(server.port(), 0);
  const int port = server.port();
  // Four members of 8 GPUs; n2 is busy, so only three fit: every node fails, for every member.
  json f = call(port, "filter", {{"pod", pod("w0", 8, "llm", "4")}, {"nodes", nodes({8, 8, 0, 8})}});
  EXPECT_TRUE(passed(f).empty());
  ASSERT_EQ(f["failedNodes"].size(), 4u);
  EXPECT_NE(f["failedNodes"]["n0"].get<std::string>().find("only 3 fit now (all or none)"), std::string::npos)
      << f.dump();
  // A member cannot be bound while its group is not admitted.
  json b = call(port, "bind", binding("w0", "n0"));
  EXPECT_NE(b["Error"].get<std::string>().find("not admitted"), std::string::npos) << b.dump();

  // n2 frees up: the group is admitted on all four nodes, and its members pass only there.
  json all_free = nodes({8, 8, 8, 8});
  f = call(port, "filter", {{"pod", pod("w0", 8, "llm", "4")}, {"nodes", all_free}});
  EXPECT_EQ(passed(f), (std::set<std::string>{"n0", "n1", "n2", "n3"})) << f.dump();
  // Prioritize puts the member on its group's first slot.
  json p = call(port, "prioritize", {{"pod", pod("w0", 8, "llm", "4")}, {"nodes", all_free}});
  std::string first;
  for (const auto& h : p)
    if (h["score"] == 10) first = h["host"];
  ASSERT_FALSE(first.empty()) << p.dump();
  EXPECT_EQ(call(port, "bind", binding("w0", first))["Error"], "");

  // Another team's pod sees the other three slots as taken, though the nodes still say 8 free.
  std::vector<uint32_t> free = {8, 8, 8, 8};
  free[first[1] - '0'] = 0;
  f = call(port, "filter", {{"pod", pod("other", 8)}, {"nodes", nodes(free)}});
  EXPECT_TRUE(passed(f).empty()) << f.dump();
  // Each next member passes only on its group's slots left; binding it on the node already used (no slot left
  // there) is refused, on a slot it succeeds.
  int bound = 1;
  for (const char* w : {"w1", "w2", "w3"}) {
    f = call(port, "filter", {{"pod", pod(w, 8, "llm", "4")}, {"nodes", nodes(free)}});
    ASSERT_EQ(passed(f).size(), static_cast<size_t>(4 - bound)) << f.dump();
    b = call(port, "bind", binding(w, first));  // not a slot of the group any more
    EXPECT_NE(b["Error"].get<std::string>().find("holds no reserved slot"), std::string::npos) << b.dump();
    const std::string node = *passed(f).begin();
    EXPECT_EQ(call(port, "bind", binding(w, node))["Error"], "");
    free[node[1] - '0'] = 0;
    ++bound;
  }
  // The gang is bound whole: nothing is held any more.
  f = call(port, "filter", {{"pod", pod("other", 8)}, {"nodes", all_free}});
  EXPECT_EQ(passed(f).size(), 4u) << f.dump();
}

TEST(K8sGang, PreemptTakesTheFewestLowestPriorityVictimsAndNeverAGangMember) {
  ServerProcess server("topology");
  ASSERT_GT(server.port(), 0);
  const int port = server.port();
  // The extender learns the nodes' free GPUs from a filter call (n0: 2 free, n1: none).
  call(port, "filter", {{"pod", pod("big", 8, "", "", 100)}, {"nodes", nodes({2, 0})}});
  auto victim = [](const std::string& name, uint32_t gpus, int prio, const std::string& group = "") {
    return pod(name, gpus, group, group.empty() ? "" : "2", prio);
  };
  json args = {
      {"Pod", pod("big", 8, "", "", 100)},
      {"NodeNameToVictims",
       {{"n0", {{"Pods", json::array({victim("v1", 2, 0), victim("v2", 4, 0), victim("v3", 2, 5)})},
                {"NumPDBViolations", 0}}},
        {"n1", {{"Pods", json::array({victim("g1", 8, 0, "job")})}, {"NumPDBViolations", 0}}},
        {"n9", {{"Pods", json::array({victim("x1", 8, 0)})}, {"NumPDBViolations", 1}}}}}};
  json r = call(port, "preempt", args);
  const json& m = r["NodeNameToMetaVictims"];
  // n0: 2 free + v2 (4) + v1 (2) = 8; v3 (priority 5) stays. n1: only a gang member would make room: dropped.
  // n9 was never seen in a filter: kube-scheduler's victims stand.
  ASSERT_TRUE(m.contains("n0")) << r.dump();
  std::set<std::string> uids;
  for (const auto& v : m["n0"]["Pods"]) uids.insert(v["UID"].get<std::string>());
  EXPECT_EQ(uids, (std::set<std::string>{"uid-v1", "uid-v2"}));
  EXPECT_FALSE(m.contains("n1")) << r.dump();
  ASSERT_TRUE(m.contains("n9"));
  EXPECT_EQ(m["n9"]["Pods"].size(), 1u);
  EXPECT_EQ(m["n9"]["NumPDBViolations"], 1);
}

TEST(K8sGang, BadGangAndVerbRequestsSayWhatIsWrong) {
  ServerProcess server("topology");
  ASSERT_GT(server.port(), 0);
  const int port = server.port();
  json f = call(port, "filter", {{"pod", pod("w0", 8, "llm")}, {"nodes", nodes({8})}});
  EXPECT_NE(f["error"].get<std::string>().find("pod.metadata.annotations lcsim.io/min-member: missing"),
            std::string::npos)
      << f.dump();
  f = call(port, "filter", {{"pod", pod("w0", 8, "llm", "two")}, {"nodes", nodes({8})}});
  EXPECT_NE(f["error"].get<std::string>().find("'two'"), std::string::npos) << f.dump();
  call(port, "filter", {{"pod", pod("a", 8, "mix", "2")}, {"nodes", nodes({8, 8})}});
  f = call(port, "filter", {{"pod", pod("b", 4, "mix", "2")}, {"nodes", nodes({8, 8})}});
  EXPECT_NE(f["error"].get<std::string>().find("members must agree"), std::string::npos) << f.dump();
  json b = call(port, "bind", {{"PodName", "x"}});
  EXPECT_NE(b["Error"].get<std::string>().find("Node: missing"), std::string::npos) << b.dump();
  b = call(port, "bind", {{"PodName", "x"}, {"Node", "n0"}, {"Nodes", "n1"}});
  EXPECT_NE(b["Error"].get<std::string>().find("'Nodes': unknown field"), std::string::npos) << b.dump();
  json e = call(port, "preempt", {{"Pod", pod("big", 8)}, {"NodeNameToMetaVictims", json::object()}}, 400);
  EXPECT_NE(e["error"].get<std::string>().find("nodeCacheCapable: false"), std::string::npos) << e.dump();
}

}  // namespace
}  // namespace lcsim::policy
