// Measures the engine design choice: how to drive many simulated GPUs on SimGrid.
//
//   bench_engine_drivers callbacks|callbacks-exec|actors N K [--cfg=...]
//
// N simulated GPUs each run K sequential compute activities (about 1 ms each; GPU i's activities last
// 1 ms x (1 + 0.001 x (i mod 97)) so completions are not all simultaneous). Modes:
// - callbacks: lcsim's facade (lcsim::sim::Engine), no actors: each completion callback starts the next
//   Engine::compute() on the same host. This is how lcsim drives its models. (Since commit c3f11f7, compute()
//   is a timer in lcsim's own event queue, not a SimGrid activity.)
// - callbacks-exec: the same chains through Engine::exec(): each step is a SimGrid Exec started from maestro
//   (no actor) and completed through Activity::on_completion_cb, the way flows (SimGrid Comms) still are.
// - actors: plain S4U, one sg4::Actor per GPU looping over this_actor::execute() (a SimGrid Exec each; every
//   actor has its own context and stack).
// One mode and one N per process: SimGrid keeps process-global state (one engine per process, ever).
//
// The actor mode hands "--cfg=contexts/guard-size:0" to sg4::Engine by default: with guard pages every actor
// stack costs extra memory mappings, and beyond about 10^4 actors the process can abort on vm.max_map_count
// (docs/performance-flow.md). Extra --cfg=... arguments go to sg4::Engine too (the later one wins).
//
// Prints one line: mode N K wall_s peak_rss_mib sim_end_s (wall time from before engine creation to the end
// of run(); peak RSS from getrusage ru_maxrss; sim_end_s is the simulated end time, the same in every mode).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <simgrid/s4u.hpp>
#include <string>
#include <vector>

#include "sim/engine.h"

namespace {

namespace sg4 = simgrid::s4u;

constexpr double kSpeed = 1e12;  // FLOP/s of one simulated GPU (any value: durations are what matters)

double activity_seconds(long gpu) { return 1e-3 * (1.0 + 0.001 * static_cast<double>(gpu % 97)); }

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

struct Result {
  double sim_end_s = 0;
  long completed = 0;
};

Result run_callbacks(long n, long k, bool use_exec) {
  auto engine_owner = lcsim::sim::make_engine(use_exec ? "simgrid" : "queue");
  lcsim::sim::Engine& engine = *engine_owner;
  std::vector<lcsim::sim::HostId> hosts;
  hosts.reserve(static_cast<size_t>(n));
  for (long i = 0; i < n; ++i) {
    hosts.push_back(engine.add_host("gpu-" + std::to_string(i), lcsim::FlopRate::per_s(kSpeed)));
  }
  Result r;
  std::vector<long> left(static_cast<size_t>(n), k);
  // step(i): start GPU i's next activity; its completion callback calls step(i) again.
  std::function<void(long)> step = [&](long i) {
    if (left[static_cast<size_t>(i)]-- == 0) return;
    auto done = [&, i] {
      ++r.completed;
      step(i);
    };
    const lcsim::sim::HostId h = hosts[static_cast<size_t>(i)];
    if (use_exec) {
      engine.exec(h, lcsim::Flops::of(activity_seconds(i) * kSpeed), done);
    } else {
      engine.compute(h, lcsim::Duration::seconds(activity_seconds(i)), done);
    }
  };
  for (long i = 0; i < n; ++i) step(i);
  engine.run(lcsim::Duration::seconds(1e30));
  r.sim_end_s = engine.last_event_time().s();
  return r;
}

Result run_actors(long n, long k, const std::vector<std::string>& extra_cfg) {
  std::vector<std::string> args = {"bench_engine_drivers", "--log=root.thres:critical",
                                   "--cfg=contexts/guard-size:0"};
  args.insert(args.end(), extra_cfg.begin(), extra_cfg.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int argc = static_cast<int>(args.size());
  sg4::Engine engine(&argc, argv.data());
  // The same pinned settings as lcsim's facade (they do not affect execs, but keep the two modes alike).
  sg4::Engine::set_config("network/model:CM02");
  sg4::Engine::set_config("network/optim:Full");
  sg4::Engine::set_config("network/crosstraffic:0");
  sg4::Engine::set_config("network/TCP-gamma:0");
  sg4::NetZone* zone = sg4::create_full_zone("bench");
  std::vector<sg4::Host*> hosts;
  hosts.reserve(static_cast<size_t>(n));
  for (long i = 0; i < n; ++i) hosts.push_back(zone->create_host("gpu-" + std::to_string(i), kSpeed));
  zone->seal();
  Result r;
  for (long i = 0; i < n; ++i) {
    const double flops = activity_seconds(i) * kSpeed;
    sg4::Actor::create("gpu-" + std::to_string(i), hosts[static_cast<size_t>(i)], [k, flops, &r] {
      for (long j = 0; j < k; ++j) {
        sg4::this_actor::execute(flops);
        ++r.completed;
      }
    });
  }
  engine.run();
  r.sim_end_s = sg4::Engine::get_clock();
  return r;
}

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: bench_engine_drivers callbacks|callbacks-exec|actors N K [--cfg=...]\n");
  std::exit(2);
}

long positive(const char* s) {
  char* end = nullptr;
  const long v = std::strtol(s, &end, 10);
  if (end == s || *end != '\0' || v <= 0) usage();
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) usage();
  const std::string mode = argv[1];
  const long n = positive(argv[2]);
  const long k = positive(argv[3]);
  std::vector<std::string> extra_cfg;
  for (int i = 4; i < argc; ++i) extra_cfg.emplace_back(argv[i]);
  if (mode != "callbacks" && mode != "callbacks-exec" && mode != "actors") usage();
  if (mode != "actors" && !extra_cfg.empty()) {
    std::fprintf(stderr, "bench_engine_drivers: --cfg arguments apply to the actors mode only\n");
    return 2;
  }

  const auto start = std::chrono::steady_clock::now();
  const Result r =
      mode == "actors" ? run_actors(n, k, extra_cfg) : run_callbacks(n, k, mode == "callbacks-exec");
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (r.completed != n * k) {
    std::fprintf(stderr, "bench_engine_drivers: %ld of %ld activities completed\n", r.completed, n * k);
    return 1;
  }
  std::printf("%s %ld %ld %.3f %.1f %.6f\n", mode.c_str(), n, k, wall, peak_rss_mib(), r.sim_end_s);
  return 0;
}
