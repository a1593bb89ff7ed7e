// The timeline's dependency edges and lane attributes: flows and lane_attr events written by both writers
// read back the same, and the critical path of a small pipeline-parallel run is the 1F1B chain worked out by
// hand.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

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

// What `emit` writes, as timeline.json (a) and timeline.pftrace (b) in `d`, each read back.
std::pair<Trace, Trace> both_formats(const fs::path& d, void (*emit_into)(TraceSink&)) {
  {
    std::ofstream json(d / "t.json", std::ios::binary), pf(d / "t.pftrace", std::ios::binary);
    TimelineWriter jw(json, layout());
    PerfettoWriter pw(pf, layout());
    emit_into(jw);
    emit_into(pw);
  }
  return {read_timeline((d / "t.json").string()), read_timeline((d / "t.pftrace").string())};
}

TEST(TimelineDeps, FlowsAndLaneAttributesReadBackTheSameInBothFormats) {
  const fs::path d = temp_dir("both");
  const auto [a, b] = both_formats(d, emit);
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
       "workload.global_batch_size=4", "outputs.timeline_ranks=0", "outputs.timeline_format=" + format,
       // Without the step's small all-reduces (their edges join every stage; StepSyncs tests them).
       "workload.step_syncs=off"});
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

// A collective on three ranks: each rank's span before it (P0 0-10 us, P1 12-14 us: it arrived late, after the
// collective had begun on the others, P2 0-8 us) leads to the collective's span on every rank (C0 10-20, C1
// 14-20, C2 8-20): nine edges, each its own flow id; C1 also is a step of a chain (id 99) that goes on to X.
void emit_collective(TraceSink& s) {
  auto span = [&](SpanKind k, uint32_t rank, double t0, double t1, const char* name, std::vector<FlowStep> flows,
                  uint64_t chain = 0, bool in = false, bool out = false) {
    SpanEvent e;
    e.kind = k;
    e.rank = rank;
    e.start = Duration::us(t0);
    e.end = Duration::us(t1);
    e.name = name;
    e.flow = chain, e.flow_in = in, e.flow_out = out;
    e.flows = std::move(flows);
    s.on_span(e);
  };
  const auto edge = [](uint32_t from, uint32_t to) { return uint64_t{1000} + from * 3 + to; };
  for (uint32_t i : {0u, 2u, 1u}) {
    const double t0[] = {0, 12, 0}, t1[] = {10, 14, 8};
    const char* names[] = {"P0", "P1", "P2"};
    std::vector<FlowStep> out;
    for (uint32_t r = 0; r < 3; ++r) out.push_back({edge(i, r), false, true});
    span(SpanKind::kCompute, i, t0[i], t1[i], names[i], out);
  }
  for (uint32_t r = 0; r < 3; ++r) {
    const double t0[] = {10, 14, 8};
    const char* names[] = {"C0", "C1", "C2"};
    std::vector<FlowStep> in;
    for (uint32_t i = 0; i < 3; ++i) in.push_back({edge(i, r), true, false});
    span(SpanKind::kDataParallel, r, t0[r], 20, names[r], in, r == 1 ? 99 : 0, false, r == 1);
  }
  span(SpanKind::kCompute, 1, 20, 30, "X", {}, 99, true, false);
}

TEST(TimelineDeps, ASpanWithSeveralFlowIdsReadsBackTheSameInBothFormats) {
  const fs::path d = temp_dir("several");
  const auto [a, b] = both_formats(d, emit_collective);
  EXPECT_EQ(a.slice_count(), 7u) << "flow events are not slices";
  EXPECT_EQ(b.slice_count(), 7u);
  std::string want;  // sorted
  for (const char* p : {"node0/gpu0 compute:P0", "node0/gpu1 compute:P1", "node1/gpu0 compute:P2"}) {
    for (const char* c : {"node0/gpu0 dp:C0", "node0/gpu1 dp:C1", "node1/gpu0 dp:C2"}) {
      want += std::string(p) + " -> " + c + "\n";
    }
    if (p[9] == '1') want += "node0/gpu1 dp:C1 -> node0/gpu1 compute:X\n";
  }
  EXPECT_EQ(edges_and_attrs(a), want);
  EXPECT_EQ(edges_and_attrs(b), want);
  // What C0 waited on: every participant, P1 too (it began after C0 did); the critical path through it goes to
  // the participant that arrived last.
  const Track* dp0 = a.find("node0", "gpu0 dp");
  ASSERT_NE(dp0, nullptr);
  const SliceRef c0{static_cast<uint32_t>(dp0 - a.tracks.data()), 0};
  std::vector<std::string> preds;
  for (const auto& r : a.waited_on(c0)) preds.push_back(where(a, r));
  std::sort(preds.begin(), preds.end());
  EXPECT_EQ(preds, (std::vector<std::string>{"node0/gpu0 compute:P0", "node0/gpu1 compute:P1",
                                             "node1/gpu0 compute:P2"}));
  const auto path = critical_path(a, c0);
  ASSERT_EQ(path.size(), 2u);
  EXPECT_EQ(where(a, path[0]), "node0/gpu1 compute:P1");
  // The JSON keeps one "X" event per span: the further ids are flow v1 events beside it; a span without them
  // writes none.
  std::ifstream in(d / "t.json");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t starts = 0, ends = 0;
  for (size_t at = 0; (at = text.find("\"ph\":\"s\"", at)) != std::string::npos; ++at) ++starts;
  for (size_t at = 0; (at = text.find("\"ph\":\"f\"", at)) != std::string::npos; ++at) ++ends;
  EXPECT_EQ(starts, 9u);
  EXPECT_EQ(ends, 9u);
  fs::remove_all(d);
}

// What the subscribers of a tracer see, in order.
struct Order final : TraceSink {
  std::string seen;
  void on_span(const SpanEvent& e) override {
    seen += std::string(e.name) + "(" + std::to_string(e.flows.size()) + ") ";
  }
  void on_counter(const CounterEvent& e) override { seen += e.name + " "; }
};

// Forwards a child tracer's spans to a parent (as a job's forwarder does).
struct Forward final : TraceSink {
  const Tracer& to;
  explicit Forward(const Tracer& t) : to(t) {}
  void on_span(const SpanEvent& e) override { to.span(e); }
};

TEST(TimelineDeps, AHeldSpanKeepsItsPlaceAndTakesEdges) {
  Tracer parent, child;
  Order order;
  parent.subscribe(&order);
  Forward forward(parent);
  child.subscribe(&forward);
  child.set_parent(&parent);
  SpanEvent e;
  std::string name = "A";
  e.name = name;
  child.span_held(e);
  name = "overwritten";  // the tracer keeps its own copy of the name
  ASSERT_NE(child.held_span(), nullptr);
  child.held_span()->flows.push_back({7, false, true});
  EXPECT_EQ(order.seen, "") << "held";
  parent.counter({"g", "C", Duration(), 1});  // an event of the parent's hands the child's held span on first
  EXPECT_EQ(order.seen, "A(1) C ");
  EXPECT_EQ(child.held_span(), nullptr);
  e.name = "B";
  child.span_held(e);
  child.span_held(e);  // the next span hands the first on
  EXPECT_EQ(order.seen, "A(1) C B(0) ");
  child.flush();
  EXPECT_EQ(order.seen, "A(1) C B(0) B(0) ");
  parent.flush();  // nothing held any more
  EXPECT_EQ(order.seen, "A(1) C B(0) B(0) ");
}

// Eight data-parallel ranks of train-h100.yaml's model (8 layers) on its node, every rank simulated and traced,
// gradients reduced after the last backward pass and parameters gathered after the optimizer step: each
// collective waited on every rank.
RunResult dp_run(const std::string& format, const std::vector<std::string>& more = {}) {
  std::vector<std::string> sets = {
      "workload.tensor_model_parallel_size=1", "workload.pipeline_model_parallel_size=1",
      "workload.model.num_layers=8",           "workload.global_batch_size=8",
      "workload.symmetry=off",                 "workload.overlap_grad_reduce=false",
      "workload.overlap_param_gather=false",   "outputs.timeline_ranks=0",
      "outputs.timeline_format=" + format,     "workload.step_syncs=off"};  // the step's all-reduces: StepSyncs
  sets.insert(sets.end(), more.begin(), more.end());
  Scenario sc = load_scenario("scenarios/validation/train-h100.yaml", sets);
  return run_scenario(sc);
}

TEST(TimelineDeps, DataParallelCollectivesWaitOnEveryParticipant) {
  const RunResult j = dp_run("json"), p = dp_run("protobuf");
  const fs::path d = temp_dir("dp");
  write(d / "timeline.json", j.timeline_json);
  write(d / "timeline.pftrace", p.timeline_pftrace);
  const Trace a = read_timeline((d / "timeline.json").string());
  const Trace b = read_timeline((d / "timeline.pftrace").string());
  EXPECT_EQ(edges_and_attrs(a), edges_and_attrs(b));
  const Track* dp0 = a.find("node0", "gpu0 dp");
  ASSERT_NE(dp0, nullptr);
  ASSERT_GE(dp0->slices.size(), 2u);
  const uint32_t lane = static_cast<uint32_t>(dp0 - a.tracks.data());
  // The first gradient collective waited on each rank's DDP work after its backward pass (one micro-batch: B0, then
  // the buckets' NaN checks and scaling, Megatron-LM's defaults), which ended as the rank arrived.
  std::vector<std::string> preds;
  for (const auto& r : a.waited_on({lane, 0})) {
    preds.push_back(where(a, r));
    EXPECT_LE(a.slice(r).end_ns(), dp0->slices[0].end_ns());
  }
  std::sort(preds.begin(), preds.end());
  std::vector<std::string> want;
  for (int g = 0; g < 8; ++g) want.push_back("node0/gpu" + std::to_string(g) + " compute:gradient checks and scaling");
  EXPECT_EQ(preds, want);
  // The gradients go in one bucket; the next collective gathers the updated parameters: it waited on every rank's
  // optimizer step.
  ASSERT_EQ(a.str(dp0->slices[0].name), "dp-cp reduce-scatter grads");
  ASSERT_EQ(a.str(dp0->slices[1].name), "dp-cp all-gather params");
  preds.clear();
  for (const auto& r : a.waited_on({lane, 1})) preds.push_back(where(a, r));
  std::sort(preds.begin(), preds.end());
  want.clear();
  for (int g = 0; g < 8; ++g) want.push_back("node0/gpu" + std::to_string(g) + " compute:optimizer step");
  EXPECT_EQ(preds, want);
  // 8 x 8 edges into each of the two collectives, and one chain per rank's micro-batch (F0 -> B0): 136.
  EXPECT_EQ(a.flows.size(), 2u * 64u + 8u);
  // Each rank's backward pass: its dependents are the first collective on all eight ranks.
  EXPECT_EQ(a.dependents(a.waited_on({lane, 0})[0]).size(), 8u);
  fs::remove_all(d);
}

TEST(TimelineDeps, AnOverlappedBucketWaitsOnThePassThatFilledItOnEveryRank) {
  // Gradient buckets of about one layer, reduced during the backward pass: each rank joins its first bucket's
  // collective from the middle of its backward pass B0, which is what every rank's copy waited on. A later bucket
  // that queued behind the one before it on the DP stream waited on that one last (on the other ranks: the rank's
  // own is its lane predecessor) or, when the stream was free, on B0 again.
  const std::vector<std::string> overlap = {"workload.overlap_grad_reduce=true", "workload.ddp_bucket_size=100000000"};
  const RunResult j = dp_run("json", overlap), p = dp_run("protobuf", overlap);
  const fs::path d = temp_dir("dp-overlap");
  write(d / "timeline.json", j.timeline_json);
  write(d / "timeline.pftrace", p.timeline_pftrace);
  const Trace a = read_timeline((d / "timeline.json").string());
  const Trace b = read_timeline((d / "timeline.pftrace").string());
  EXPECT_EQ(edges_and_attrs(a), edges_and_attrs(b));
  std::vector<std::string> want;
  for (int g = 0; g < 8; ++g) want.push_back("node0/gpu" + std::to_string(g) + " compute:B0");
  size_t buckets = 0, mid_pass = 0;
  for (int g = 0; g < 8; ++g) {
    const Track* dp = a.find("node0", "gpu" + std::to_string(g) + " dp");
    ASSERT_NE(dp, nullptr);
    const uint32_t lane = static_cast<uint32_t>(dp - a.tracks.data());
    const size_t first = buckets;  // this rank's first bucket
    for (uint32_t k = 0; k < dp->slices.size(); ++k) {
      const Slice& c = dp->slices[k];
      if (a.str(c.name).find("grads") == std::string::npos) continue;
      std::vector<std::string> preds, previous;
      for (const auto& r : a.waited_on({lane, k})) {
        preds.push_back(where(a, r));
        EXPECT_LE(a.slice(r).start_ns, c.start_ns);
        mid_pass += a.slice(r).end_ns() > c.start_ns;
      }
      std::sort(preds.begin(), preds.end());
      if (buckets++ == first || preds == want) {
        EXPECT_EQ(preds, want) << "bucket " << k << " on gpu" << g;
        continue;
      }
      for (int o = 0; o < 8; ++o) {
        if (o != g) previous.push_back("node0/gpu" + std::to_string(o) + " dp:" + a.str(dp->slices[k - 1].name));
      }
      EXPECT_EQ(preds, previous) << "bucket " << k << " on gpu" << g;
    }
  }
  EXPECT_GE(buckets, 8u * 2u) << "several buckets per rank";
  EXPECT_GT(mid_pass, 0u) << "buckets start while B0 still runs";
  fs::remove_all(d);
}

}  // namespace
}  // namespace lcsim::timeline
