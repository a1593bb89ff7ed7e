// lcsim-k8s-extender: a Kubernetes scheduler extender (kube-scheduler's `extenders:` webhook) answered by one of
// lcsim's scheduling policies. A small HTTP/1.1 server of our own (one request per connection, loopback by
// default): POST <prefix>/filter and <prefix>/prioritize with an ExtenderArgs JSON body, <prefix>/bind and
// <prefix>/preempt (policies/k8s_extender.h, policies/k8s_gang.h, docs/scheduling.md). Prints "listening on
// HOST:PORT" once ready; serves until killed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "apps/k8s_binding.h"
#include "apps/server_flags.h"
#include "policies/k8s_gang.h"
#include "sim/error.h"

namespace {

const char* kHelp = R"(usage: lcsim-k8s-extender [--listen HOST:PORT] [--policy NAME] [--api-server URL]
                          [--reservation-timeout SECONDS]

A Kubernetes scheduler extender answered by an lcsim scheduling policy (default topology; fifo, backfill,
priority, topology, hetero, predictive). POST .../filter replies ExtenderFilterResult {nodes, nodenames,
failedNodes, error}; POST .../prioritize replies HostPriorityList [{host, score}] (0..10, 10 where the policy
puts the pod). Nodes' GPUs: status.allocatable nvidia.com/gpu, free ones in the annotation lcsim.io/free-gpus,
fabric position in the labels lcsim.io/leaf and lcsim.io/pod; the pod's GPUs: its containers' nvidia.com/gpu
limits. Configure kube-scheduler with nodeCacheCapable: false. Default --listen 127.0.0.1:0 (a free port); the
chosen address is printed.
Pod groups (gangs): pods labelled lcsim.io/pod-group=NAME with the annotation lcsim.io/min-member=N are admitted
all together or not at all; POST .../bind (ExtenderBindingArgs -> {Error}) takes a member's reserved slot and
POST .../preempt (ExtenderPreemptionArgs -> {NodeNameToMetaVictims}) trims victims, never a gang member. An
admitted group's reserved slots are released if its members have not all bound within --reservation-timeout
(default 300 s). With --api-server http://HOST:PORT[/PREFIX] (e.g. `kubectl proxy`'s http://127.0.0.1:8001),
bind also makes the pod's v1 Binding call there (set bindVerb in kube-scheduler's extender config); without
it, bind checks and records only. See docs/scheduling.md.
)";

bool send_all(int fd, const std::string& s) {
  size_t sent = 0;
  while (sent < s.size()) {
    ssize_t k = ::send(fd, s.data() + sent, s.size() - sent, MSG_NOSIGNAL);
    if (k <= 0) return false;
    sent += static_cast<size_t>(k);
  }
  return true;
}

void reply(int fd, int status, const char* reason, const std::string& body) {
  send_all(fd, "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: application/json\r\n" +
                   "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
}

std::string error_json(const std::string& message) {
  std::string out = "{\"error\":\"";
  for (char c : message) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (c == '\n') out += "\\n";
    else if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out + "\"}";
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Reads one request (headers, then Content-Length bytes of body) and answers it.
void serve(int fd, lcsim::policy::K8sExtender& extender) {
  constexpr size_t kMaxRequest = 64u << 20;
  std::string data;
  char buf[65536];
  size_t header_end = std::string::npos;
  while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
    ssize_t k = ::recv(fd, buf, sizeof buf, 0);
    if (k <= 0 || data.size() > kMaxRequest) return;
    data.append(buf, static_cast<size_t>(k));
  }
  std::string head = data.substr(0, header_end);
  std::string line = head.substr(0, head.find("\r\n"));
  std::string method = line.substr(0, line.find(' '));
  size_t p1 = line.find(' '), p2 = line.rfind(' ');
  std::string path = p1 == std::string::npos || p2 <= p1 ? "" : line.substr(p1 + 1, p2 - p1 - 1);
  path = path.substr(0, path.find('?'));
  size_t length = 0;
  bool has_length = false;
  for (size_t pos = head.find("\r\n"); pos != std::string::npos;) {
    size_t next = head.find("\r\n", pos + 2);
    std::string h = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    pos = next;
    std::string name = h.substr(0, h.find(':'));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name == "content-length" && h.find(':') != std::string::npos) {
      length = std::strtoull(h.c_str() + h.find(':') + 1, nullptr, 10);
      has_length = true;
    }
  }
  if (method != "POST") return reply(fd, 405, "Method Not Allowed", error_json("only POST is served, got " + method));
  if (!has_length || length > kMaxRequest)
    return reply(fd, 411, "Length Required", error_json("a Content-Length header (at most 64 MiB) is required"));
  std::string body = data.substr(header_end + 4);
  while (body.size() < length) {
    ssize_t k = ::recv(fd, buf, sizeof buf, 0);
    if (k <= 0) return;
    body.append(buf, static_cast<size_t>(k));
  }
  body.resize(length);
  try {
    if (ends_with(path, "/filter")) return reply(fd, 200, "OK", extender.filter(body));
    if (ends_with(path, "/prioritize")) return reply(fd, 200, "OK", extender.prioritize(body));
    if (ends_with(path, "/bind")) return reply(fd, 200, "OK", extender.bind(body));
    if (ends_with(path, "/preempt")) return reply(fd, 200, "OK", extender.preempt(body));
  } catch (const lcsim::InputError& e) {
    return reply(fd, 400, "Bad Request", error_json(e.what()));
  }
  reply(fd, 404, "Not Found", error_json("unknown path '" + path + "' (served: .../filter, .../prioritize, .../bind, .../preempt)"));
}

}  // namespace

int main(int argc, char** argv) {
  lcsim::app::ServerFlags flags;
  const int status = lcsim::app::parse_server_flags(argc, argv, {"lcsim-k8s-extender", kHelp, true, "topology", true}, flags);
  if (status >= 0) return status;
  lcsim::Registry<lcsim::policy::SchedulingPolicyFactory> registry("scheduling policy");
  lcsim::policy::register_scheduling_policies(registry);
  std::unique_ptr<lcsim::policy::SchedulingPolicy> policy = registry.get(flags.policy).factory();
  lcsim::policy::K8sExtenderOptions options;
  options.reservation_timeout_s = flags.reservation_timeout_s;
  if (!flags.api_server.empty()) {
    options.binder = [url = flags.api_server](const lcsim::policy::K8sBinding& b) {
      return lcsim::app::post_k8s_binding(url, b);
    };
  }
  lcsim::policy::K8sExtender extender(*policy, options);  // pod groups' reservations live between requests
  const std::string& listen = flags.listen;
  const std::string& host = flags.host;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "error: --listen '%s': expected IPV4:PORT, e.g. 127.0.0.1:0\n", listen.c_str());
    return 2;
  }
  addr.sin_port = htons(flags.port);
  int server = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  socklen_t len = sizeof addr;
  if (server < 0 || ::bind(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(server, 16) != 0 ||
      ::getsockname(server, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::fprintf(stderr, "error: cannot listen on '%s': %s\n", listen.c_str(), std::strerror(errno));
    return 2;
  }
  std::printf("listening on %s:%d\n", host.c_str(), ntohs(addr.sin_port));
  std::fflush(stdout);
  for (;;) {
    int fd = ::accept(server, nullptr, nullptr);
    if (fd < 0) continue;
    serve(fd, extender);
    ::close(fd);
  }
}
