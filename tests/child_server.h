// A server under test as a child process, as a control plane starts it: argv run with its stdout on a pipe, its
// first line ("listening on HOST:PORT") read for the address it chose; SIGTERM and a wait on destruction. Used by
// the gRPC policy server's tests and the Kubernetes extender's.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace lcsim::test_support {

class ChildServer {
 public:
  explicit ChildServer(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      execv(args[0], args.data());
      _exit(127);
    }
    close(fds[1]);
    FILE* out = fdopen(fds[0], "r");
    char line[256] = {0};
    if (out && std::fgets(line, sizeof line, out)) first_line_ = line;
    while (!first_line_.empty() && (first_line_.back() == '\n' || first_line_.back() == '\r')) first_line_.pop_back();
    if (out) std::fclose(out);
  }
  ~ChildServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  ChildServer(const ChildServer&) = delete;
  ChildServer& operator=(const ChildServer&) = delete;
  /// HOST:PORT from "listening on HOST:PORT" ("" when the server printed nothing).
  std::string address() const {
    const std::string prefix = "listening on ";
    return first_line_.rfind(prefix, 0) == 0 ? first_line_.substr(prefix.size()) : "";
  }
  int port() const {
    const size_t colon = first_line_.rfind(':');
    return colon == std::string::npos ? 0 : std::atoi(first_line_.c_str() + colon + 1);
  }

 private:
  pid_t pid_ = -1;
  std::string first_line_;
};

}  // namespace lcsim::test_support
