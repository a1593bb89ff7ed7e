// Served requests on the timeline (workloads/inference/request_timeline.h), read back from a whole run in both
// formats: each traced request is a span from arrival to last token with its TTFT nested, its chain of dependency
// edges reaches every batch iteration that computed it, and workload.timeline_requests bounds how many are traced;
// the instance's queue counters are exact at every moment.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "scenarios/scenario.h"
#include "timeline/model.h"

namespace lcsim {
namespace {

namespace fs = std::filesystem;

fs::path test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path d = fs::path(::testing::TempDir()) /
                     (std::string("inference_timeline_") + info->name() + "_" + std::to_string(getpid()));
  fs::create_directories(d);
  return d;
}

// One Llama-3-8B instance on one H100; four requests of 512 prompt tokens and 8 output tokens, 5 s apart (each is
// done long before the next arrives).
timeline::Trace run(const fs::path& d, const std::string& format, const std::vector<std::string>& sets,
                    const std::string& requests = "0,512,8\n5,512,8\n10,512,8\n15,512,8\n") {
  std::ofstream(d / "trace.csv") << "arrival_s,input_tokens,output_tokens\n" << requests;
  std::ofstream(d / "scenario.yaml") << "base: " << LCSIM_SOURCE_DIR << "/scenarios/clusters/h100-8.yaml\n"
                                     << R"(name: timeline-requests
workload:
  type: inference_serving
  instances: 1
  serving: {tensor_parallel: 1}
  requests: {source: trace, trace: trace.csv, format: csv}
)";
  std::vector<std::string> all = {"simulation.fidelity=analytical", "outputs.timeline_format=" + format};
  all.insert(all.end(), sets.begin(), sets.end());
  Scenario sc = load_scenario((d / "scenario.yaml").string(), all);
  const RunResult r = run_scenario(sc);
  const fs::path file = d / (format == "json" ? "timeline.json" : "timeline.pftrace");
  std::ofstream(file, std::ios::binary) << (format == "json" ? r.timeline_json : r.timeline_pftrace);
  return timeline::read_timeline(file.string());
}

std::string arg(const timeline::Trace& t, const timeline::Slice& s, const std::string& key) {
  for (const auto& [k, v] : t.slice_args(s)) {
    if (k == key) return v;
  }
  return "";
}

class InferenceTimeline : public ::testing::TestWithParam<std::string> {};

TEST_P(InferenceTimeline, RequestsAreSpansWithEdgesToEveryBatchThatComputedThem) {
  const fs::path d = test_dir();
  const timeline::Trace t = run(d, GetParam(), {"workload.timeline_requests=3"});
  // The requests' row: node 0, GPU 0's cpu lane; its iterations on GPU 0's compute lane.
  uint32_t lane = UINT32_MAX, compute = UINT32_MAX;
  for (uint32_t i = 0; i < t.tracks.size(); ++i) {
    if (t.tracks[i].group == "node0" && t.tracks[i].name == "gpu0 cpu") lane = i;
    if (t.tracks[i].group == "node0" && t.tracks[i].name == "gpu0 compute") compute = i;
  }
  ASSERT_NE(lane, UINT32_MAX);
  ASSERT_NE(compute, UINT32_MAX);
  std::map<std::string, timeline::SliceRef> requests, ttft, arrivals;
  for (uint32_t k = 0; k < t.tracks[lane].slices.size(); ++k) {
    const auto& s = t.tracks[lane].slices[k];
    const std::string name = t.str(s.name);
    (name == "TTFT" ? ttft : name == "arrival" ? arrivals : requests)[arg(t, s, "request")] = {lane, k};
  }
  // Three traced (the budget), the fourth not; each arrival marked where its request starts.
  ASSERT_EQ(requests.size(), 3u);
  ASSERT_EQ(ttft.size(), 3u);
  ASSERT_EQ(arrivals.size(), 3u);
  for (const auto& [id, ref] : arrivals) {
    EXPECT_EQ(t.slice(ref).dur_ns, 0);
    EXPECT_EQ(t.slice(ref).start_ns, t.slice(requests.at(id)).start_ns);
  }
  EXPECT_EQ(requests.count("3"), 0u);
  for (const auto& [id, ref] : requests) {
    const auto& s = t.slice(ref);
    EXPECT_EQ(t.str(s.name), "request " + id);
    EXPECT_EQ(arg(t, s, "output_tokens"), "8");
    // The TTFT span starts with the request and lasts its TTFT (the arg, in ms, to 6 digits).
    const auto& f = t.slice(ttft.at(id));
    EXPECT_EQ(f.start_ns, s.start_ns);
    EXPECT_LT(f.dur_ns, s.dur_ns);
    EXPECT_NEAR(f.dur_ns / 1e6, std::stod(arg(t, s, "ttft_ms")), 1e-5 * f.dur_ns / 1e6 + 1e-6);
    // Its chain: the request -> the prefill iteration -> 7 decode iterations, each on the compute lane, inside
    // the request's span; the last ends with the request.
    std::vector<timeline::SliceRef> chain;
    timeline::SliceRef at = ref;
    for (auto next = t.dependents(at); !next.empty(); next = t.dependents(at)) {
      ASSERT_EQ(next.size(), 1u);
      at = next.front();
      chain.push_back(at);
    }
    ASSERT_EQ(chain.size(), 8u) << "request " << id;
    EXPECT_EQ(t.str(t.slice(chain.front()).name), "prefill");
    for (size_t k = 0; k < chain.size(); ++k) {
      EXPECT_EQ(chain[k].track, compute);
      EXPECT_GE(t.slice(chain[k]).start_ns, s.start_ns);
      if (k > 0) {
        EXPECT_EQ(t.str(t.slice(chain[k]).name), "decode");
      }
    }
    // Both formats store a span as its start and its duration, each rounded to the nanosecond (a JSON reader gets
    // start + round(dur); timeline/perfetto_writer.cc writes the same), so two spans that end at the same instant
    // but start at different ones may end 1 ns apart.
    EXPECT_NEAR(t.slice(chain.back()).end_ns(), s.end_ns(), 1);
  }
  // No other edges: the untraced request's iterations are in no chain.
  EXPECT_EQ(t.flows.size(), 3u * 8u);
  fs::remove_all(d);
}

TEST_P(InferenceTimeline, NoRequestsTracedWithABudgetOfZero) {
  const fs::path d = test_dir();
  const timeline::Trace t = run(d, GetParam(), {"workload.timeline_requests=0"});
  for (const auto& tr : t.tracks) EXPECT_NE(tr.name, "gpu0 cpu");
  EXPECT_TRUE(t.flows.empty());
  fs::remove_all(d);
}

TEST_P(InferenceTimeline, QueueCountersAreExactBetweenIterations) {
  const fs::path d = test_dir();
  // Seven requests of 512 prompt tokens on an instance that runs at most two sequences: most arrive while an
  // iteration runs, and a queue forms.
  const std::vector<double> arrivals = {0, 0.001, 0.0015, 0.004, 0.03, 0.0301, 0.08};
  std::string csv;
  for (double a : arrivals) csv += std::to_string(a) + ",512,8\n";
  const timeline::Trace t = run(d, GetParam(), {"workload.timeline_requests=0", "workload.serving.max_num_seqs=2"}, csv);
  const timeline::Track* running = t.find("instance 0", "running", true);
  const timeline::Track* waiting = t.find("instance 0", "waiting", true);
  const timeline::Track* compute = t.find("node0", "gpu0 compute", false);
  ASSERT_TRUE(running && waiting && compute);
  // What the counters should read, from the requests' arrivals and the iterations on the timeline: waiting =
  // arrived - admitted (an iteration's prefill_tokens / 512 requests admitted at its start, no prompt is split
  // and the KV cache has room for all), running = the sequences of the iteration under way, 0 between them.
  auto arrived = [&](int64_t ns) {
    int n = 0;
    for (double a : arrivals) n += std::llround(a * 1e9) <= ns;
    return n;
  };
  // An iteration lasts until the next one starts when that is at its end (the file's times are rounded to the
  // nanosecond on their own, so the two may differ by one).
  const auto& it = compute->slices;
  auto until = [&](size_t k) {
    return k + 1 < it.size() && it[k + 1].start_ns - it[k].end_ns() <= 1 ? it[k + 1].start_ns : it[k].end_ns();
  };
  auto truth = [&](int64_t ns, bool queue) {
    int admitted = 0, seqs = 0;
    for (size_t k = 0; k < it.size() && it[k].start_ns <= ns; ++k) {
      admitted += std::stoi(arg(t, it[k], "prefill_tokens")) / 512;
      if (ns < until(k)) seqs = std::stoi(arg(t, it[k], "sequences"));
    }
    return queue ? arrived(ns) - admitted : seqs;
  };
  auto value = [](const timeline::Track& c, int64_t ns) {
    double v = 0;
    for (const auto& x : c.samples) {
      if (x.time_ns > ns) break;
      v = x.value;
    }
    return v;
  };
  // Every moment something changes, and the middle of every stretch between two of them.
  std::vector<int64_t> at;
  for (double a : arrivals) at.push_back(std::llround(a * 1e9));
  for (size_t k = 0; k < it.size(); ++k) at.insert(at.end(), {it[k].start_ns, until(k)});
  std::sort(at.begin(), at.end());
  at.erase(std::unique(at.begin(), at.end()), at.end());
  for (size_t k = 0, n = at.size(); k + 1 < n; ++k) at.push_back((at[k] + at[k + 1]) / 2);
  int queued = 0;
  for (int64_t ns : at) {
    EXPECT_EQ(value(*waiting, ns), truth(ns, true)) << "waiting at " << ns << " ns";
    EXPECT_EQ(value(*running, ns), truth(ns, false)) << "running at " << ns << " ns";
    queued = std::max(queued, truth(ns, true));
  }
  EXPECT_GE(queued, 2) << "the scenario forms a queue";
  EXPECT_EQ(running->samples.back().value, 0) << "drained after the last request";
  EXPECT_EQ(waiting->samples.back().value, 0);
  // One sample per moment, and only changes.
  for (const timeline::Track* c : {running, waiting, t.find("instance 0", "free KV blocks", true)}) {
    ASSERT_TRUE(c);
    for (size_t k = 1; k < c->samples.size(); ++k) {
      EXPECT_LT(c->samples[k - 1].time_ns, c->samples[k].time_ns) << c->name;
      EXPECT_NE(c->samples[k - 1].value, c->samples[k].value) << c->name;
    }
  }
  fs::remove_all(d);
}

INSTANTIATE_TEST_SUITE_P(Formats, InferenceTimeline, ::testing::Values("json", "protobuf"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace lcsim
