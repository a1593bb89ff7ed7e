// bench_timeline_load: how long lcsim's timeline reader (timeline/, what lcsim-gui loads) takes on a large timeline.
// Writes a synthetic one through the run's own writers (a training-like pattern: GPUs in nodes of 8, each with
// compute, comm and dp rows of back-to-back spans, each step's compute spans chained by flow edges across the GPUs,
// links with busy spans, a utilization counter), in the chosen
// format, until the file reaches the target size; then reads it back and prints sizes, times and rates.
//
//   bench_timeline_load FORMAT SIZE_MB [DIR]     FORMAT: protobuf | json; DIR default /tmp
//
// docs/performance.md ("Loading a large timeline") has the measured numbers.
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <unistd.h>

#include "sim/trace.h"
#include "timeline/model.h"
#include "timeline/perfetto_writer.h"

using namespace lcsim;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_timeline_load protobuf|json SIZE_MB [DIR]\n");
    return 2;
  }
  const std::string format = argv[1];
  if (format != "protobuf" && format != "json") {
    std::fprintf(stderr, "bench_timeline_load: format must be protobuf or json, got '%s'\n", format.c_str());
    return 2;
  }
  const double target = std::atof(argv[2]) * 1e6;
  const std::string dir = argc > 3 ? argv[3] : "/tmp";
  const std::string path =
      dir + "/lcsim_timeline_bench_" + std::to_string(getpid()) + (format == "json" ? ".json" : ".pftrace");
  const uint32_t gpus = 256;
  TimelineLayout layout;
  for (uint32_t g = 0; g < gpus; ++g) layout.gpu.push_back({g / 8, g % 8});
  layout.link = [](uint32_t l) { return std::make_pair(std::string(l % 2 ? "spine" : "leaf"), "l" + std::to_string(l)); };
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t spans = 0;
  {
    std::ofstream out(path, std::ios::binary);
    std::unique_ptr<TraceSink> w;
    if (format == "json") w = std::make_unique<TimelineWriter>(out, layout);
    else w = std::make_unique<timeline::PerfettoWriter>(out, layout);
    const char* names[] = {"F0c1", "B0c1", "all-reduce 64MiB", "reduce-scatter 32MiB", "send 8MiB"};
    for (uint64_t step = 0;; ++step) {
      const double t = step * 1e-4;
      for (uint32_t g = 0; g < gpus; ++g) {
        for (SpanKind k : {SpanKind::kCompute, SpanKind::kComm, SpanKind::kDataParallel}) {
          SpanEvent e;
          e.kind = k;
          e.rank = g;
          e.start = Duration::seconds(t + 1e-6 * (g % 7));
          e.end = e.start + Duration::seconds(7e-5 + 1e-7 * (step % 13));
          e.name = names[(step + static_cast<uint64_t>(k)) % 5];
          if (k != SpanKind::kCompute) e.args = {{"bytes", std::to_string(67108864 >> (step % 4))}, {"group", "dp0"}};
          // Dependency edges: each step's compute passes form a chain across the GPUs (a pipeline-like flow).
          if (k == SpanKind::kCompute) e.flow = step + 1, e.flow_in = g > 0, e.flow_out = g + 1 < gpus;
          w->on_span(e);
          ++spans;
        }
      }
      for (uint32_t l = 0; l < 64; ++l) {
        SpanEvent e;
        e.kind = SpanKind::kLink;
        e.rank = l;
        e.start = Duration::seconds(t);
        e.end = Duration::seconds(t + 5e-5);
        e.name = "busy";
        w->on_span(e);
        ++spans;
      }
      w->on_counter({"link utilization", "spine mean", Duration::seconds(t), 0.5 + 0.01 * (step % 40)});
      if (step % 64 == 0 && static_cast<double>(out.tellp()) >= target) break;
    }
  }
  const double write_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double bytes = static_cast<double>(std::filesystem::file_size(path));
  const auto t1 = std::chrono::steady_clock::now();
  const std::clock_t c1 = std::clock();
  const timeline::Trace trace = timeline::read_timeline(path);
  const double read_cpu_s = static_cast<double>(std::clock() - c1) / CLOCKS_PER_SEC;
  const double read_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  std::printf("format %s: %.1f MB, %llu spans written in %.1f s; read %zu slices, %zu samples, %zu tracks, %zu flow "
              "edges in %.2f s (%.0f MB/s, %.2f M slices/s); read CPU time %.2f s (%.0f MB/s of CPU)\n",
              format.c_str(), bytes / 1e6, static_cast<unsigned long long>(spans), write_s, trace.slice_count(),
              trace.sample_count(), trace.tracks.size(), trace.flows.size(), read_s, bytes / 1e6 / read_s,
              trace.slice_count() / 1e6 / read_s, read_cpu_s, bytes / 1e6 / read_cpu_s);
  std::filesystem::remove(path);
  return trace.slice_count() == spans ? 0 : 1;
}
