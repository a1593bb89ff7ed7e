// See k8s_binding.h.
#include "apps/k8s_binding.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

namespace lcsim::app {

std::string k8s_binding_body(const policy::K8sBinding& b) {
  nlohmann::json meta = {{"name", b.pod_name}, {"namespace", b.pod_namespace}};
  if (!b.pod_uid.empty()) meta["uid"] = b.pod_uid;  // the API server then refuses a pod re-created under the name
  return nlohmann::json{{"apiVersion", "v1"},
                        {"kind", "Binding"},
                        {"metadata", meta},
                        {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", b.node}}}}
      .dump();
}

std::string post_k8s_binding(const std::string& api_server, const policy::K8sBinding& b, double timeout_s) {
  const std::string who = "API server " + api_server + ": binding pod " + b.pod_namespace + "/" + b.pod_name +
                          " to node " + b.node + ": ";
  if (api_server.rfind("http://", 0) != 0) return who + "not an http:// address";
  const std::string rest = api_server.substr(7);
  const size_t slash = rest.find('/');
  const std::string hostport = rest.substr(0, slash);
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  const size_t colon = hostport.rfind(':');
  if (colon == std::string::npos) return who + "no port in '" + hostport + "'";
  const std::string host = hostport.substr(0, colon), port = hostport.substr(colon + 1);

  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return who + "cannot resolve '" + host + "': " + gai_strerror(rc);
  int fd = -1;
  std::string connect_error = "no address";
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout_s);
  tv.tv_usec = static_cast<suseconds_t>((timeout_s - static_cast<double>(tv.tv_sec)) * 1e6);
  for (addrinfo* a = res; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      connect_error = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) return who + "cannot connect: " + connect_error;

  // Names are DNS labels in Kubernetes (no characters that need escaping in a path).
  const std::string path = prefix + "/api/v1/namespaces/" + b.pod_namespace + "/pods/" + b.pod_name + "/binding";
  const std::string body = k8s_binding_body(b);
  const std::string req = "POST " + path + " HTTP/1.1\r\nHost: " + hostport +
                          "\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  for (size_t sent = 0; sent < req.size();) {
    ssize_t k = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (k <= 0) {
      const std::string e = k < 0 ? std::strerror(errno) : "connection closed";
      ::close(fd);
      return who + "sending POST " + path + ": " + e;
    }
    sent += static_cast<size_t>(k);
  }
  std::string data;
  char buf[4096];
  ssize_t k = 0;
  while ((k = ::recv(fd, buf, sizeof buf, 0)) > 0 && data.size() < (1u << 20)) data.append(buf, static_cast<size_t>(k));
  const int recv_errno = errno;
  ::close(fd);
  if (k < 0 && data.find("\r\n\r\n") == std::string::npos)
    return who + "no answer to POST " + path + ": " +
           (recv_errno == EAGAIN || recv_errno == EWOULDBLOCK ? "timed out" : std::strerror(recv_errno));
  if (data.rfind("HTTP/1.", 0) != 0 || data.size() < 12) return who + "not an HTTP answer to POST " + path;
  const int status = std::atoi(data.c_str() + 9);
  if (status == 200 || status == 201) return "";
  const std::string status_line = data.substr(9, data.find("\r\n") - 9);
  std::string message;
  if (size_t e = data.find("\r\n\r\n"); e != std::string::npos) {
    nlohmann::json j = nlohmann::json::parse(data.substr(e + 4), nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("message") && j["message"].is_string())
      message = j["message"].get<std::string>();  // a v1 Status
  }
  return who + "POST " + path + " answered " + status_line + (message.empty() ? "" : ": " + message);
}

}  // namespace lcsim::app
