// A control plane's side of lcsim-k8s-extender for tests: the server started as a child process (its address read
// from its first line) and one HTTP/1.1 POST per loopback connection, from a client written apart from the server.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

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

}  // namespace lcsim::policy
