// The command line both policy servers share (lcsim-policy-server, lcsim-k8s-extender): --listen HOST:PORT and,
// where the server answers with one policy, --policy NAME (checked against the scheduling-policy registry, with
// "did you mean"). One parser, so the two servers take the same flags the same way and reject the same mistakes.
#pragma once

#include <cstdint>
#include <string>

namespace lcsim::app {

struct ServerFlagSpec {
  const char* program = "";          // for messages: "lcsim-k8s-extender"
  const char* help = "";             // printed for -h / --help
  bool takes_policy = false;         // accept --policy NAME
  std::string default_policy = {};   // when --policy is not given
  bool takes_k8s = false;            // accept --api-server URL and --reservation-timeout SECONDS (the extender)
};

struct ServerFlags {
  std::string listen = "127.0.0.1:0";
  std::string host = "127.0.0.1";  // listen's part before the last ':'
  uint16_t port = 0;                // 0: a free one
  std::string policy;               // takes_policy only: a registered scheduling policy
  std::string api_server;           // takes_k8s only: http://HOST:PORT[/PREFIX] for bindings ("": record only)
  double reservation_timeout_s = 300;  // takes_k8s only: an admitted pod group's slots are released after this
};

/// Parses argv (--flag VALUE or --flag=VALUE). Returns -1 when the server should go on with `out` filled, else
/// the exit status: 0 after printing the help to stdout, 2 after printing an error to stderr (unknown option,
/// a flag without its value, a listen address that is not HOST:PORT with PORT 0..65535, an unknown policy, an
/// --api-server that is not http://HOST:PORT[/PREFIX], a --reservation-timeout that is not a positive number).
int parse_server_flags(int argc, const char* const* argv, const ServerFlagSpec& spec, ServerFlags& out);

}  // namespace lcsim::app
