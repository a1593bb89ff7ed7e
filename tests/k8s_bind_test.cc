// lcsim-k8s-extender's API-server binding and its pod-group reservation timeout. Binding: the extender started as
// kube-scheduler would (a separate process, with --api-server), a small fake API server here on loopback that
// records each POST and answers with a chosen status. The timeout: the extender class in-process with a clock of
// the test's (no waiting on the wall clock).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

#include "k8s_client.h"
#include "policies/k8s_gang.h"

namespace lcsim::policy {
namespace {

using nlohmann::json;

/// A fake API server on 127.0.0.1 (a free port): records method, path and body of each request and answers
/// `status` with a v1 Status body whose message is `message`.
class FakeApiServer {
 public:
  struct Request {
    std::string method, path, body;
  };
  FakeApiServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t len = sizeof a;
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(fd_, 8), 0);
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~FakeApiServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  void answer(int status, const std::string& message) {
    std::lock_guard<std::mutex> l(m_);
    status_ = status, message_ = message;
  }
  std::vector<Request> requests() {
    std::lock_guard<std::mutex> l(m_);
    return requests_;
  }

 private:
  void loop() {
    while (!stop_) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string data;
      char buf[4096];
      size_t head = std::string::npos, length = 0;
      for (ssize_t k; (k = recv(c, buf, sizeof buf, 0)) > 0;) {
        data.append(buf, static_cast<size_t>(k));
        if (head == std::string::npos && (head = data.find("\r\n\r\n")) != std::string::npos) {
          const size_t cl = data.find("Content-Length: ");
          length = cl < head ? std::strtoul(data.c_str() + cl + 16, nullptr, 10) : 0;
        }
        if (head != std::string::npos && data.size() >= head + 4 + length) break;
      }
      Request r;
      const std::string line = data.substr(0, data.find("\r\n"));
      r.method = line.substr(0, line.find(' '));
      r.path = line.substr(line.find(' ') + 1, line.rfind(' ') - line.find(' ') - 1);
      if (head != std::string::npos) r.body = data.substr(head + 4);
      int status;
      std::string body;
      {
        std::lock_guard<std::mutex> l(m_);
        requests_.push_back(r);
        status = status_;
        body = json{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", status < 300 ? "Success" : "Failure"},
                    {"message", message_}, {"code", status}}.dump();
      }
      const std::string reply = "HTTP/1.1 " + std::to_string(status) + (status < 300 ? " Created" : " Conflict") +
                                "\r\nContent-Type: application/json\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
      send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      close(c);
    }
  }
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex m_;
  int status_ = 201;
  std::string message_;
  std::vector<Request> requests_;
};

json call(int port, const std::string& verb, const json& body) {
  Response r = post(port, "/scheduler/" + verb, body.dump());
  EXPECT_EQ(r.status, 200) << verb << ": " << r.body;
  json j = json::parse(r.body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.body;
  return j;
}

TEST(K8sBind, BindPostsTheBindingToTheApiServer) {
  FakeApiServer api;
  const std::string url = "http://127.0.0.1:" + std::to_string(api.port()) + "/proxy";
  test_support::ChildServer server({LCSIM_K8S_EXTENDER, "--policy", "topology", "--api-server", url});
  ASSERT_GT(server.port(), 0);
  const int port = server.port();

  // A pod outside any group: bound through the API server as kube-scheduler's default binder would.
  EXPECT_EQ(call(port, "bind", binding("solo", "n1"))["Error"], "");
  auto seen = api.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].path, "/proxy/api/v1/namespaces/ml/pods/solo/binding");
  const json body = json::parse(seen[0].body, nullptr, false);
  EXPECT_EQ(body["kind"], "Binding");
  EXPECT_EQ(body["apiVersion"], "v1");
  EXPECT_EQ(body["metadata"]["name"], "solo");
  EXPECT_EQ(body["metadata"]["namespace"], "ml");
  EXPECT_EQ(body["metadata"]["uid"], "uid-solo");
  EXPECT_EQ(body["target"], (json{{"apiVersion", "v1"}, {"kind", "Node"}, {"name", "n1"}}));

  // A gang member: the API server refuses (409); the reply carries its message and the slot is kept, so the
  // retry binds it on the same node.
  json f = call(port, "filter", {{"pod", pod("w0", 8, "g", "2")}, {"nodes", nodes({8, 8, 8, 8})}});
  ASSERT_EQ(passed(f).size(), 2u) << f.dump();
  const std::string slot = *passed(f).begin();
  api.answer(409, "pods \"w0\" is being deleted");
  json b = call(port, "bind", binding("w0", slot));
  const std::string error = b["Error"].get<std::string>();
  EXPECT_NE(error.find("409 Conflict"), std::string::npos) << error;
  EXPECT_NE(error.find("pods \"w0\" is being deleted"), std::string::npos) << error;
  EXPECT_NE(error.find("ml/w0 to node " + slot), std::string::npos) << error;
  api.answer(201, "");
  EXPECT_EQ(call(port, "bind", binding("w0", slot))["Error"], "");
  seen = api.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[2].path, "/proxy/api/v1/namespaces/ml/pods/w0/binding");
  // A bind the extender refuses makes no API call: a member of a group that cannot be admitted (8 of 8 GPUs on
  // four nodes), and the other member of g on a node where g holds no slot.
  f = call(port, "filter", {{"pod", pod("h0", 8, "h", "8")}, {"nodes", nodes({8, 8, 8, 8})}});
  EXPECT_TRUE(passed(f).empty()) << f.dump();
  EXPECT_NE(call(port, "bind", binding("h0", "n0"))["Error"].get<std::string>().find("not admitted"),
            std::string::npos);
  f = call(port, "filter", {{"pod", pod("w1", 8, "g", "2")}, {"nodes", nodes({8, 8, 8, 8})}});
  ASSERT_EQ(passed(f).size(), 1u) << f.dump();
  EXPECT_NE(call(port, "bind", binding("w1", slot))["Error"].get<std::string>().find("no reserved slot"),
            std::string::npos);
  EXPECT_EQ(api.requests().size(), 3u);
}

TEST(K8sBind, AnUnreachableApiServerIsTheBindsError) {
  // A port nobody listens on: taken, then closed.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  socklen_t len = sizeof a;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  close(fd);
  test_support::ChildServer server({LCSIM_K8S_EXTENDER, "--api-server", url});
  ASSERT_GT(server.port(), 0);
  const std::string error = call(server.port(), "bind", binding("solo", "n0"))["Error"].get<std::string>();
  EXPECT_NE(error.find("API server " + url + ": binding pod ml/solo to node n0: cannot connect"), std::string::npos)
      << error;
}

TEST(K8sBind, BadApiServerAndTimeoutFlagsExitWithTheReason) {
  for (const auto& [flag, value, message] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"--api-server", "https://10.0.0.1:6443", "https is not spoken: run `kubectl proxy`"},
           {"--api-server", "127.0.0.1:8001", "expected http://HOST:PORT[/PREFIX]"},
           {"--reservation-timeout", "0", "expected seconds, a number > 0"},
           {"--reservation-timeout", "5m", "expected seconds, a number > 0"}}) {
    const std::string cmd = std::string(LCSIM_K8S_EXTENDER) + " " + flag + " '" + value + "' 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    EXPECT_EQ(WEXITSTATUS(pclose(p)), 2) << cmd;
    EXPECT_NE(out.find(message), std::string::npos) << cmd << ": " << out;
  }
}

TEST(K8sGangTimeout, AnAdmittedGroupsSlotsAreReleasedAfterTheTimeout) {
  Registry<SchedulingPolicyFactory> registry("scheduling policy");
  register_scheduling_policies(registry);
  auto policy = registry.get("topology").factory();
  double now = 1000;
  K8sExtenderOptions o;
  o.reservation_timeout_s = 300;
  o.clock = [&now] { return now; };
  K8sExtender ext(*policy, o);
  auto filter = [&](const json& p, const std::vector<uint32_t>& free) {
    return json::parse(ext.filter(json{{"pod", p}, {"nodes", nodes(free)}}.dump()));
  };
  // Three members of 8 GPUs admitted on three of the four nodes; another pod of 8 fits only on the fourth.
  ASSERT_EQ(passed(filter(pod("w0", 8, "g", "3"), {8, 8, 8, 8})).size(), 3u);
  EXPECT_EQ(passed(filter(pod("other", 8), {8, 8, 8, 8})).size(), 1u);
  now += 299;  // within the timeout: still held
  EXPECT_EQ(passed(filter(pod("other", 8), {8, 8, 8, 8})).size(), 1u);
  EXPECT_EQ(ext.expired(), 0u);
  // One member binds; the others never come. Past the timeout the two slots left are released.
  const std::string slot = *passed(filter(pod("w0", 8, "g", "3"), {8, 8, 8, 8})).begin();
  ASSERT_EQ(json::parse(ext.bind(binding("w0", slot).dump()))["Error"], "");
  std::vector<uint32_t> free = {8, 8, 8, 8};
  free[static_cast<size_t>(slot[1] - '0')] = 0;
  EXPECT_EQ(passed(filter(pod("other", 8), free)).size(), 1u);
  const std::set<std::string> w1_slots = passed(filter(pod("w1", 8, "g", "3"), free));
  ASSERT_EQ(w1_slots.size(), 2u);
  now += 2;
  EXPECT_EQ(passed(filter(pod("other", 8), free)).size(), 3u);
  EXPECT_EQ(ext.expired(), 1u);
  ASSERT_EQ(ext.groups().count("ml/g"), 1u);
  EXPECT_FALSE(ext.groups().at("ml/g").admitted);
  // A late member's bind is refused (its group is no longer admitted) ...
  const std::string late = json::parse(ext.bind(binding("w1", *w1_slots.begin()).dump()))["Error"];
  EXPECT_NE(late.find("not admitted"), std::string::npos) << late;
  // ... and the group is admitted again for the two members not yet bound only, with a fresh timeout.
  EXPECT_EQ(passed(filter(pod("w2", 8, "g", "3"), free)).size(), 2u);
  EXPECT_TRUE(ext.groups().at("ml/g").admitted);
  EXPECT_EQ(ext.groups().at("ml/g").reserved.size(), 2u);
  now += 299;
  EXPECT_TRUE(ext.groups().at("ml/g").admitted);
  EXPECT_EQ(passed(filter(pod("other", 8), free)).size(), 1u);
}

TEST(K8sGangBind, AMemberBindsOnlyOnANodeItsOwnFilterPassed) {
  Registry<SchedulingPolicyFactory> registry("scheduling policy");
  register_scheduling_policies(registry);
  auto policy = registry.get("topology").factory();
  K8sExtender ext(*policy);
  auto filter = [&](const json& p, const json& node_list) {
    return json::parse(ext.filter(json{{"pod", p}, {"nodes", node_list}}.dump()));
  };
  auto bind = [&](const std::string& pod_name, const std::string& node) {
    return json::parse(ext.bind(binding(pod_name, node).dump()))["Error"].get<std::string>();
  };
  // Group g, two members of 8 GPUs, admitted on two of the four nodes by w0's filter; w0 binds on the first.
  const std::set<std::string> slots = passed(filter(pod("w0", 8, "g", "2"), nodes({8, 8, 8, 8})));
  ASSERT_EQ(slots.size(), 2u);
  const std::string a = *slots.begin(), b = *slots.rbegin();
  EXPECT_EQ(bind("w0", a), "");
  // w1 is filtered on a node list without b (kube-scheduler's own predicates dropped it): nothing passes, so a bind
  // on b, though b is g's slot, skipped the extender's check and is refused.
  json without_b = nodes({8, 8, 8, 8});
  auto& items = without_b["items"];
  for (size_t i = 0; i < items.size(); ++i)
    if (items[i]["metadata"]["name"] == b) items.erase(i);
  EXPECT_TRUE(passed(filter(pod("w1", 8, "g", "2"), without_b)).empty());
  std::string e = bind("w1", b);
  EXPECT_NE(e.find("pod ml/w1: never passed a filter call on node " + b + " (its last filter passed no node)"),
            std::string::npos)
      << e;
  // Filtered again with b offered, it passes there and binds.
  EXPECT_EQ(passed(filter(pod("w1", 8, "g", "2"), nodes({8, 8, 8, 8}))), (std::set<std::string>{b}));
  EXPECT_EQ(bind("w1", b), "");
  EXPECT_EQ(ext.groups().count("ml/g"), 0u) << "the gang is bound whole";

  // Group h: x0's filter fails everywhere (one node free, two members), then x1's admits the group. x0 never passed
  // a filter on h's slots: its bind there is refused, until its own filter passes them.
  EXPECT_TRUE(passed(filter(pod("x0", 8, "h", "2"), nodes({8, 0, 0, 0}))).empty());
  const std::set<std::string> h = passed(filter(pod("x1", 8, "h", "2"), nodes({8, 8, 8, 8})));
  ASSERT_EQ(h.size(), 2u);
  e = bind("x0", *h.begin());
  EXPECT_NE(e.find("never passed a filter call on node " + *h.begin()), std::string::npos) << e;
  EXPECT_EQ(passed(filter(pod("x0", 8, "h", "2"), nodes({8, 8, 8, 8}))), h);
  EXPECT_EQ(bind("x0", *h.begin()), "");
  EXPECT_EQ(bind("x1", *h.rbegin()), "");
}

}  // namespace
}  // namespace lcsim::policy
