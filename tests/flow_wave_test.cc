// Waves of many flows on the simgrid backend, the pattern the flow fidelity at scale is made of
// (docs/performance-flow.md, "Flow fidelity at scale"): the backend takes each comm off SimGrid 3.32's maestro activity list as it creates it
// (sim/simgrid_engine.cc, Undetacher), which turned each completion's O(flows in flight) scan into O(1). These tests
// check that the flows still complete, fail and cancel exactly as SimGrid alone and lcsim's own solver say: the
// same wave runs on the simgrid backend as shipped, on the simgrid backend with SimGrid's own bookkeeping left alone
// (LCSIM_SIMGRID_KEEP_DETACHED, in a child process: one SimGrid engine per process), and on the queue backend.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "sim/engine.h"

namespace lcsim::sim {
namespace {

constexpr int kFlows = 600;
constexpr int kCores = 4;

/// kFlows flows start together, each over its own uplink, one of kCores shared core links (20 GB/s: the
/// bottleneck) and its own downlink, with sizes of 1 to 7 MB; every 50th flow is cancelled at 30 us, and the
/// uplink of flow 7 fails at 40 us. Returns each flow's end time (-1: never reported), negated for a failure.
std::vector<double> run_wave(Engine& e) {
  std::vector<LinkId> core;
  for (int c = 0; c < kCores; ++c) {
    core.push_back(e.add_link("core" + std::to_string(c), Bandwidth::gbytes_per_s(20), Duration::us(1)));
  }
  std::vector<double> end(kFlows, -1);
  std::vector<Handle> handles;
  std::vector<LinkId> up;
  std::vector<HostId> src, dst;
  for (int i = 0; i < kFlows; ++i) {
    const std::string n = std::to_string(i);
    src.push_back(e.add_host("s" + n, FlopRate::tflops(1)));
    dst.push_back(e.add_host("d" + n, FlopRate::tflops(1)));
    up.push_back(e.add_link("up" + n, Bandwidth::gbytes_per_s(50), Duration::us(1)));
  }
  std::vector<LinkId> down;
  for (int i = 0; i < kFlows; ++i) {
    down.push_back(e.add_link("down" + std::to_string(i), Bandwidth::gbytes_per_s(50), Duration::us(1)));
  }
  for (int i = 0; i < kFlows; ++i) {
    handles.push_back(e.flow(
        src[i], dst[i], Bytes::mb(1.0 + i % 7), {up[i], core[i % kCores], down[i]},
        [&e, &end, i] { end[i] = e.now().s(); }, [&e, &end, i] { end[i] = -e.now().s(); }));
  }
  e.at(Duration::us(30), [&] {
    for (int i = 0; i < kFlows; i += 50) handles[i].cancel();
  });
  e.at(Duration::us(40), [&] { e.set_link_on(up[7], false); });
  e.run(Duration::seconds(1e9));
  return end;
}

TEST(FlowWave, SimGridBackendMatchesSimGridAloneAndTheQueueBackend) {
  // SimGrid with its own bookkeeping, in a child process that writes its end times to a pipe.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    setenv("LCSIM_SIMGRID_KEEP_DETACHED", "1", 1);
    auto e = make_engine("simgrid");
    const std::vector<double> end = run_wave(*e);
    const auto* p = reinterpret_cast<const char*>(end.data());
    size_t left = end.size() * sizeof(double);
    while (left > 0) {
      const ssize_t n = write(fds[1], p, left);
      if (n <= 0) _exit(2);
      p += n;
      left -= static_cast<size_t>(n);
    }
    close(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  std::vector<double> alone(kFlows, 0);
  {
    auto* p = reinterpret_cast<char*>(alone.data());
    size_t left = alone.size() * sizeof(double);
    while (left > 0) {
      const ssize_t n = read(fds[0], p, left);
      if (n <= 0) break;
      p += n;
      left -= static_cast<size_t>(n);
    }
    close(fds[0]);
    ASSERT_EQ(left, 0u) << "the child process did not report every flow";
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  auto simgrid = make_engine("simgrid");
  const std::vector<double> shipped = run_wave(*simgrid);
  auto queue = make_engine("queue");
  const std::vector<double> own = run_wave(*queue);

  int cancelled = 0, failed = 0, done = 0;
  for (int i = 0; i < kFlows; ++i) {
    // Bit for bit against SimGrid alone: the comms are the same, only the list they were kept on differs.
    EXPECT_EQ(shipped[i], alone[i]) << "flow " << i;
    EXPECT_NEAR(shipped[i], own[i], 1e-9 * std::abs(own[i]) + 1e-15) << "flow " << i;
    if (i % 50 == 0) {
      EXPECT_EQ(shipped[i], -1) << "cancelled flow " << i << " reported";
      ++cancelled;
    } else if (i == 7) {
      EXPECT_NEAR(shipped[i], -40e-6, 1e-12) << "flow 7 fails when its uplink does";
      ++failed;
    } else {
      EXPECT_GT(shipped[i], 40e-6) << "flow " << i;
      ++done;
    }
  }
  EXPECT_EQ(cancelled, kFlows / 50);
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(done, kFlows - kFlows / 50 - 1);
  // Core 1 carries only flows that neither fail nor get cancelled (i = 1 mod 4), 150 of them: it is every one's
  // bottleneck (20 GB/s / 150 against 50 GB/s up and down) and stays full until the last one ends, so that one
  // ends after the path latency plus all their bytes at 20 GB/s.
  double bytes = 0, last = 0;
  for (int i = 1; i < kFlows; i += kCores) {
    bytes += 1e6 * (1.0 + i % 7);
    last = std::max(last, shipped[i]);
  }
  EXPECT_NEAR(last, 3e-6 + bytes / 20e9, 1e-9);
}

}  // namespace
}  // namespace lcsim::sim
