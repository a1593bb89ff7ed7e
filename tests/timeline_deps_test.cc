// The timeline's dependency edges and lane attributes: flows and lane_attr events written by both writers
// read back the same, and the critical path of a small pipeline-parallel run is the 1F1B chain worked out by
// hand.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "scenarios/scenario.h"
#include "timeline/model.h"
#include "timeline_support.h"
#include "timeline/perfetto_writer.h"

namespace lcsim::timeline {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) { return support::temp_dir("timeline_deps_test", name); }
using support::write;

std::string where(const Trace& t, SliceRef r) {
  return t.tracks[r.track].group + "/" + t.tracks[r.track].name + ":" + t.str(t.slice(r).name);
}

// Every edge as "from -> to" and every lane's attributes, sorted: what both formats must agree on.
std::string edges_and_attrs(const Trace& t) {
  std::vector<std::string> lines;
  for (const auto& e : t.flows) lines.push_back(where(t, e.from) + " -> " + where(t, e.to));
  for (const auto& tr : t.tracks) {
    for (const auto& [k, v] : tr.attrs) lines.push_back(tr.group + "/" + tr.name + " " + k + "=" + v);
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

TimelineLayout layout() {
  TimelineLayout l;
  l.gpu = {{0, 0}, {0, 1}, {1, 0}};
  l.link = [](uint32_t id) { return std::make_pair(std::string("spine"), "link" + std::to_string(id)); };
  return l;
}

// A chain F (gpu0) -> send (gpu0 pp) -> F (gpu1) -> B (gpu1) -> B (gpu0), a second chain of two steps, and
// lane attributes given before and after the lanes appear.
void emit(TraceSink& s) {
  s.on_lane_attr({false, 0, "stage", "0"});
  s.on_lane_attr({true, 7, "plane", "1"});
  auto span = [&](SpanKind k, uint32_t rank, double t0, double t1, const char* name, uint64_t flow, bool in,
                  bool out) {
    SpanEvent e;
    e.kind = k;
    e.rank = rank;
    e.start = Duration::us(t0);
    e.end = Duration::us(t1);
    e.name = name;
    e.flow = flow, e.flow_in = in, e.flow_out = out;
    s.on_span(e);
  };
  span(SpanKind::kCompute, 0, 0, 10, "F0", 5, false, true);
  span(SpanKind::kPipeline, 0, 10, 12, "send activations", 5, true, true);
  span(SpanKind::kCompute, 0, 10, 20, "F1", 6, false, true);  // a second chain, interleaved in time
  span(SpanKind::kCompute, 1, 12, 22, "F0", 5, true, true);
  span(SpanKind::kCompute, 1, 22, 40, "B0", 5, true, true);
  span(SpanKind::kCompute, 1, 40, 50, "F1", 6, true, false);
  span(SpanKind::kCompute, 0, 41, 60, "B0", 5, true, false);
  span(SpanKind::kCompute, 2, 0, 5, "alone", 0, false, false);
  span(SpanKind::kLink, 7, 3, 4, "busy", 0, false, false);
  s.on_lane_attr({false, 1, "stage", "1"});  // after gpu1's lanes exist
}

TEST(TimelineDeps, FlowsAndLaneAttributesReadBackTheSameInBothFormats) {
  const fs::path d = temp_dir("both");
  {
    std::ofstream json(d / "t.json", std::ios::binary), pf(d / "t.pftrace", std::ios::binary);
    TimelineWriter jw(json, layout());
    PerfettoWriter pw(pf, layout());
    emit(jw);
    emit(pw);
  }
  const Trace a = read_timeline((d / "t.json").string());
  const Trace b = read_timeline((d / "t.pftrace").string());
  EXPECT_EQ(a.slice_count(), 9u) << "attributes are not slices";
  EXPECT_EQ(b.slice_count(), 9u);
  EXPECT_EQ(edges_and_attrs(a), edges_and_attrs(b));
  EXPECT_EQ(edges_and_attrs(a),
            "links (spine)/link7 plane=1\n"
            "node0/gpu0 compute stage=0\n"
            "node0/gpu0 compute:F0 -> node0/gpu0 pp:send activations\n"
            "node0/gpu0 compute:F1 -> node0/gpu1 compute:F1\n"
            "node0/gpu0 pp stage=0\n"
            "node0/gpu0 pp:send activations -> node0/gpu1 compute:F0\n"
            "node0/gpu1 compute stage=1\n"
            "node0/gpu1 compute:B0 -> node0/gpu0 compute:B0\n"
            "node0/gpu1 compute:F0 -> node0/gpu1 compute:B0\n");
  // Lookups both ways, and the walk back from the chain's end: B0 on gpu0 waited on B0 on gpu1 (ended at 40)
  // rather than on its lane predecessor F1 (ended at 20); then the chain back to F0 on gpu0.
  const Track* g0 = a.find("node0", "gpu0 compute");
  ASSERT_NE(g0, nullptr);
  const SliceRef end{static_cast<uint32_t>(g0 - a.tracks.data()), 2};
  ASSERT_EQ(a.str(a.slice(end).name), "B0");
  ASSERT_EQ(a.waited_on(end).size(), 1u);
  EXPECT_EQ(where(a, a.waited_on(end)[0]), "node0/gpu1 compute:B0");
  EXPECT_EQ(a.dependents(a.waited_on(end)[0]).size(), 1u);
  std::string path;
  for (const auto& r : critical_path(a, end)) path += where(a, r) + "\n";
  EXPECT_EQ(path,
            "node0/gpu0 compute:F0\n"
            "node0/gpu0 pp:send activations\n"
            "node0/gpu1 compute:F0\n"
            "node0/gpu1 compute:B0\n"
            "node0/gpu0 compute:B0\n");
  // Bounded by time: nothing that ended before 30 us.
  EXPECT_EQ(critical_path(a, end, 30000).size(), 2u);
  fs::remove_all(d);
}

// A small shipped scenario cut to a pipeline: Llama-2-7B-shaped (scenarios/validation/train-h100.yaml) on one
// node, TP 2 x PP 4, 4 micro-batches of 1F1B.
RunResult pipeline_run(const std::string& format) {
  Scenario sc = load_scenario(
      "scenarios/validation/train-h100.yaml",
      {"workload.tensor_model_parallel_size=2", "workload.pipeline_model_parallel_size=4",
       "workload.global_batch_size=4", "outputs.timeline_ranks=0", "outputs.timeline_format=" + format});
  return run_scenario(sc);
}

// The compute lane of pipeline stage `stage` (the traced representative: TP rank 0).
uint32_t stage_lane(const Trace& t, int stage) {
  for (uint32_t i = 0; i < t.tracks.size(); ++i) {
    const auto& tr = t.tracks[i];
    if (tr.attr("stage") == std::to_string(stage) && tr.name.size() > 8 &&
        tr.name.compare(tr.name.size() - 8, 8, " compute") == 0 && !tr.slices.empty()) {
      return i;
    }
  }
  ADD_FAILURE() << "no compute lane for stage " << stage;
  return 0;
}

TEST(TimelineDeps, CriticalPathOfA1F1BPipelineIsItsBubbleChain) {
  const RunResult j = pipeline_run("json"), p = pipeline_run("protobuf");
  const fs::path d = temp_dir("pipeline");
  write(d / "timeline.json", j.timeline_json);
  write(d / "timeline.pftrace", p.timeline_pftrace);
  const Trace a = read_timeline((d / "timeline.json").string());
  const Trace b = read_timeline((d / "timeline.pftrace").string());
  EXPECT_EQ(edges_and_attrs(a), edges_and_attrs(b));
  // Each micro-batch's chain: 4 forward passes, 4 backward passes and 6 sends between them: 13 edges, 4
  // chains.
  EXPECT_EQ(a.flows.size(), 4u * 13u);
  // The iteration's last backward pass: B3 on stage 0.
  const uint32_t s0 = stage_lane(a, 0);
  SliceRef end{s0, 0};
  bool found = false;
  for (uint32_t i = 0; i < a.tracks[s0].slices.size(); ++i) {
    if (a.str(a.tracks[s0].slices[i].name) == "B3") end.slice = i, found = true;
  }
  ASSERT_TRUE(found);
  // By hand, for 1F1B with the last stage the slowest (it holds the output layer and the loss): micro-batch 0
  // goes forward through every stage, then the last stage alternates B0 F1 B1 F2 B2 F3 B3 (each forward there
  // has long arrived: stage 2 ran it while stage 3 was busy), then B3 goes back through stages 2, 1, 0; a
  // send between every two stages.
  std::vector<std::string> want;
  for (int s = 0; s < 4; ++s) {
    want.push_back("stage" + std::to_string(s) + " F0");
    if (s < 3) want.push_back("send activations");
  }
  for (const char* n : {"B0", "F1", "B1", "F2", "B2", "F3", "B3"}) want.push_back(std::string("stage3 ") + n);
  for (int s = 2; s >= 0; --s) {
    want.push_back("send gradients");
    want.push_back("stage" + std::to_string(s) + " B3");
  }
  std::vector<std::string> got;
  for (const auto& r : critical_path(a, end)) {
    const auto& tr = a.tracks[r.track];
    const std::string name = a.str(a.slice(r).name);
    got.push_back(name.rfind("send", 0) == 0 ? name : "stage" + tr.attr("stage") + " " + name);
  }
  EXPECT_EQ(got, want);
  // The same path from the protobuf file.
  std::vector<std::string> got_b;
  for (const auto& r : critical_path(
           b, {static_cast<uint32_t>(b.find(a.tracks[s0].group, a.tracks[s0].name) - b.tracks.data()),
               end.slice})) {
    got_b.push_back(where(b, r));
  }
  EXPECT_EQ(got_b.size(), want.size());
  // Every compute lane knows its rack (the leaf its NIC is on) and its job.
  for (const auto& tr : a.tracks) {
    if (tr.group.rfind("node", 0) != 0 || tr.counter) continue;  // a GPU's counters carry no lane attributes
    EXPECT_FALSE(tr.attr("rack").empty()) << tr.name;
    EXPECT_EQ(tr.attr("job"), a.tracks[s0].attr("job")) << tr.name;
  }
  fs::remove_all(d);
}

}  // namespace
}  // namespace lcsim::timeline
