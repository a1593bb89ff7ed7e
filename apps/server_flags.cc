// See server_flags.h.
#include "apps/server_flags.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "policies/scheduling.h"
#include "sim/error.h"

namespace lcsim::app {
namespace {

int fail(const ServerFlagSpec& spec, const std::string& message) {
  std::fprintf(stderr, "error: %s (see %s --help)\n", message.c_str(), spec.program);
  return 2;
}

/// HOST:PORT with a non-empty host and a whole port 0..65535.
bool split_listen(const std::string& listen, std::string& host, uint16_t& port) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) return false;
  const std::string digits = listen.substr(colon + 1);
  if (digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos) return false;
  const unsigned long p = std::strtoul(digits.c_str(), nullptr, 10);
  if (p > 65535) return false;
  host = listen.substr(0, colon);
  port = static_cast<uint16_t>(p);
  return true;
}

}  // namespace

int parse_server_flags(int argc, const char* const* argv, const ServerFlagSpec& spec, ServerFlags& out) {
  out = ServerFlags{};
  out.policy = spec.default_policy;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i], value;
    if (a == "-h" || a == "--help") {
      std::cout << spec.help;
      return 0;
    }
    const size_t eq = a.find('=');
    const bool inline_value = a.rfind("--", 0) == 0 && eq != std::string::npos;
    if (inline_value) value = a.substr(eq + 1), a = a.substr(0, eq);
    const bool known = a == "--listen" || (a == "--policy" && spec.takes_policy) ||
                       ((a == "--api-server" || a == "--reservation-timeout") && spec.takes_k8s);
    if (!known) return fail(spec, "unknown option '" + std::string(argv[i]) + "'");
    if (!inline_value) {
      if (i + 1 >= argc) return fail(spec, a + " needs a value");
      value = argv[++i];
    }
    if (a == "--listen") {
      out.listen = value;
    } else if (a == "--policy") {
      out.policy = value;
    } else if (a == "--api-server") {
      out.api_server = value;
      const bool http = value.rfind("http://", 0) == 0, https = value.rfind("https://", 0) == 0;
      std::string host;
      uint16_t port = 0;
      const std::string rest = http ? value.substr(7) : "";
      if (!http || !split_listen(rest.substr(0, rest.find('/')), host, port) || port == 0)
        return fail(spec, "--api-server '" + value + "': expected http://HOST:PORT[/PREFIX], e.g. " +
                              "http://127.0.0.1:8001 (`kubectl proxy`)" +
                              (https ? "; https is not spoken: run `kubectl proxy` and give its address" : ""));
    } else {
      char* end = nullptr;
      out.reservation_timeout_s = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !(out.reservation_timeout_s > 0) || out.reservation_timeout_s > 1e9)
        return fail(spec, "--reservation-timeout '" + value + "': expected seconds, a number > 0, e.g. 300");
    }
  }
  if (!split_listen(out.listen, out.host, out.port))
    return fail(spec, "--listen '" + out.listen + "': expected HOST:PORT with PORT 0..65535, e.g. 127.0.0.1:0");
  if (spec.takes_policy) {
    Registry<policy::SchedulingPolicyFactory> registry("scheduling policy");
    policy::register_scheduling_policies(registry);
    try {
      (void)registry.get(out.policy);
    } catch (const InputError& e) {
      std::fprintf(stderr, "%s (--policy)\n", e.what());
      return 2;
    }
  }
  return -1;
}

}  // namespace lcsim::app
