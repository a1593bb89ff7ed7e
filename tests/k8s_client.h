// A control plane's side of lcsim-k8s-extender for tests: the server started as a child process (its address read
// from its first line) and one HTTP/1.1 POST per loopback connection, from a client written apart from the server.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "child_server.h"

namespace lcsim::policy {

/// lcsim-k8s-extender serving `policy`, on a port it chose.
class ServerProcess : public test_support::ChildServer {
 public:
  explicit ServerProcess(const char* policy) : ChildServer({LCSIM_K8S_EXTENDER, "--policy", policy}) {}
};

struct Response {
  int status = 0;
  std::string body;
};

/// One HTTP/1.1 POST over a fresh loopback connection; reads to the server's close.
inline Response post(int port, const std::string& path, const std::string& body, const std::string& method = "POST") {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  Response r;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return r;
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                    "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  for (size_t sent = 0; sent < req.size();) {
    ssize_t k = send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (k <= 0) break;
    sent += static_cast<size_t>(k);
  }
  std::string data;
  char buf[4096];
  for (ssize_t k; (k = recv(fd, buf, sizeof buf, 0)) > 0;) data.append(buf, static_cast<size_t>(k));
  close(fd);
  if (data.size() > 12) r.status = std::atoi(data.c_str() + 9);
  size_t e = data.find("\r\n\r\n");
  if (e != std::string::npos) r.body = data.substr(e + 4);
  return r;
}


// The Kubernetes objects the tests send (the scheduler-extender protocol's JSON).

using nlohmann::json;

/// Nodes n0..n3 of 8 GPUs, two per leaf, with the given free GPUs.
inline json nodes(const std::vector<uint32_t>& free) {
  json items = json::array();
  for (size_t n = 0; n < free.size(); ++n) {
    items.push_back({{"metadata",
                      {{"name", "n" + std::to_string(n)},
                       {"labels", {{"lcsim.io/leaf", std::to_string(n / 2)}}},
                       {"annotations", {{"lcsim.io/free-gpus", std::to_string(free[n])}}}}},
                     {"status", {{"allocatable", {{"nvidia.com/gpu", "8"}}}}}});
  }
  return {{"items", items}};
}

/// A pod asking for `gpus` GPUs, in pod group `group` of at least `min` members when given, at `priority`.
inline json pod(const std::string& name, uint32_t gpus, const std::string& group = "", const std::string& min = "",
                int priority = 0) {
  json meta = {{"name", name}, {"namespace", "ml"}, {"uid", "uid-" + name}};
  if (!group.empty()) meta["labels"] = {{"lcsim.io/pod-group", group}};
  if (!min.empty()) meta["annotations"] = {{"lcsim.io/min-member", min}};
  return {{"metadata", meta},
          {"spec",
           {{"priority", priority},
            {"containers", json::array({{{"name", "main"},
                                         {"resources", {{"limits", {{"nvidia.com/gpu", std::to_string(gpus)}}}}}}})}}}};
}

/// The nodes a filter call let through.
inline std::set<std::string> passed(const json& filter_result) {
  std::set<std::string> out;
  for (const auto& n : filter_result["nodenames"]) out.insert(n.get<std::string>());
  return out;
}

/// The extender's bind request for pod `name` on `node`.
inline json binding(const std::string& name, const std::string& node) {
  return {{"PodName", name}, {"PodNamespace", "ml"}, {"PodUID", "uid-" + name}, {"Node", node}};
}

}  // namespace lcsim::policy
