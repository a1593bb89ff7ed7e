// The command line both policy servers share (apps/server_flags.h): values given either way, defaults, and clear
// errors with exit status 2 for unknown options, missing values, bad addresses and unknown policies, also as the
// lcsim-k8s-extender executable reports them.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "apps/server_flags.h"

namespace lcsim::app {
namespace {

int parse(std::vector<const char*> args, ServerFlags& out, bool takes_policy = true) {
  args.insert(args.begin(), "server");
  return parse_server_flags(static_cast<int>(args.size()), args.data(), {"server", "help\n", takes_policy, "topology"},
                            out);
}

TEST(ServerFlags, ValuesDefaultsAndMistakes) {
  ServerFlags f;
  EXPECT_EQ(parse({}, f), -1);
  EXPECT_EQ(f.listen, "127.0.0.1:0");
  EXPECT_EQ(f.policy, "topology");
  EXPECT_EQ(parse({"--listen", "0.0.0.0:8888", "--policy=fifo"}, f), -1);
  EXPECT_EQ(f.host, "0.0.0.0");
  EXPECT_EQ(f.port, 8888);
  EXPECT_EQ(f.policy, "fifo");
  EXPECT_EQ(parse({"--listen=localhost:65535"}, f), -1);
  EXPECT_EQ(f.host, "localhost");
  EXPECT_EQ(f.port, 65535);
  testing::internal::CaptureStdout();
  EXPECT_EQ(parse({"--help"}, f), 0);
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "help\n");
  const std::vector<std::pair<std::vector<const char*>, std::string>> bad = {
      {{"--port", "1"}, "unknown option '--port'"},
      {{"--listen"}, "--listen needs a value"},
      {{"--listen", "127.0.0.1"}, "expected HOST:PORT"},
      {{"--listen", "127.0.0.1:70000"}, "PORT 0..65535"},
      {{"--listen", ":80"}, "expected HOST:PORT"},
      {{"--policy", "fifx"}, "did you mean 'fifo'"},
  };
  for (const auto& [args, message] : bad) {
    testing::internal::CaptureStderr();
    EXPECT_EQ(parse(args, f), 2) << message;
    EXPECT_NE(testing::internal::GetCapturedStderr().find(message), std::string::npos) << message;
  }
  // A server that serves every policy by request takes no --policy.
  testing::internal::CaptureStderr();
  EXPECT_EQ(parse({"--policy", "fifo"}, f, false), 2);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("unknown option '--policy'"), std::string::npos);
}

TEST(ServerFlags, TheExtendersApiServerAndReservationTimeout) {
  auto parse_k8s = [](std::vector<const char*> args, ServerFlags& out) {
    args.insert(args.begin(), "server");
    return parse_server_flags(static_cast<int>(args.size()), args.data(), {"server", "help\n", true, "topology", true},
                              out);
  };
  ServerFlags f;
  EXPECT_EQ(parse_k8s({}, f), -1);
  EXPECT_EQ(f.api_server, "");
  EXPECT_EQ(f.reservation_timeout_s, 300);
  EXPECT_EQ(parse_k8s({"--api-server", "http://127.0.0.1:8001/k8s", "--reservation-timeout=90.5"}, f), -1);
  EXPECT_EQ(f.api_server, "http://127.0.0.1:8001/k8s");
  EXPECT_EQ(f.reservation_timeout_s, 90.5);
  for (const auto& [args, message] : std::vector<std::pair<std::vector<const char*>, std::string>>{
           {{"--api-server", "http://127.0.0.1"}, "expected http://HOST:PORT[/PREFIX]"},
           {{"--api-server", "http://host:0"}, "expected http://HOST:PORT[/PREFIX]"},
           {{"--reservation-timeout", "-1"}, "a number > 0"}}) {
    testing::internal::CaptureStderr();
    EXPECT_EQ(parse_k8s(args, f), 2) << message;
    EXPECT_NE(testing::internal::GetCapturedStderr().find(message), std::string::npos) << message;
  }
  // The policy server takes neither.
  testing::internal::CaptureStderr();
  EXPECT_EQ(parse({"--api-server", "http://127.0.0.1:8001"}, f), 2);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("unknown option '--api-server'"), std::string::npos);
}

TEST(ServerFlags, TheExtenderExitsWithTheMessage) {
  const std::string cmd = std::string(LCSIM_K8S_EXTENDER) + " --policy gavel-lpp 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int status = pclose(p);
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(out.find("unknown scheduling policy 'gavel-lpp'"), std::string::npos) << out;
  EXPECT_NE(out.find("(--policy)"), std::string::npos) << out;
}

}  // namespace
}  // namespace lcsim::app
