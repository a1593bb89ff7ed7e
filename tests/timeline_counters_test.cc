// Per-GPU counters on the timeline (outputs.timeline_counters, issue 17 item 2): power from the spans by the
// energy accounting's states, and on a pipeline-parallel run the HBM in use and the queued inputs of every stage,
// checked against the memory fit and the 1F1B schedule worked out by hand; the option turns them off.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "models/hardware/power_counter.h"
#include "scenarios/scenario.h"
#include "timeline/model.h"
#include "timeline_support.h"

namespace lcsim::timeline {
namespace {

namespace fs = std::filesystem;

struct Recorder final : TraceSink {
  std::vector<CounterEvent> counters;
  void on_counter(const CounterEvent& e) override { counters.push_back(e); }
};

std::string samples(const std::vector<CounterEvent>& cs) {
  std::string out;
  for (const auto& c : cs) out += c.group + "/" + c.name + " @" + std::to_string(c.time.s()) + " " +
                                  std::to_string(static_cast<int>(c.value)) + "\n";
  return out;
}

TEST(TimelineCounters, PowerFollowsComputeAndCommunicationSpans) {
  Tracer tracer;
  Recorder rec;
  tracer.subscribe(&rec);
  hw::PowerCounter power(tracer, {{"node0", "gpu0 power (W)", 700, 300, 100}, {"node0", "gpu1 power (W)", 700, 300, 100}});
  tracer.subscribe(&power);
  auto span = [&](SpanKind k, uint32_t rank, double t0, double t1) {
    tracer.span({.kind = k, .rank = rank, .start = Duration::seconds(t0), .end = Duration::seconds(t1), .name = "x"});
  };
  // Stretch [0, 3] of gpu0: computing over [0, 1], a collective over [0.5, 2] (hidden under the compute until 1),
  // idle over [2, 3]. A link's span with the same number is not the GPU's.
  span(SpanKind::kCompute, 0, 0, 1);
  span(SpanKind::kDataParallel, 0, 0.5, 2);
  span(SpanKind::kLink, 0, 2, 3);
  tracer.busy({.rank = 0, .start = Duration::seconds(0), .end = Duration::seconds(3), .compute = Duration::seconds(1),
               .comm = Duration::seconds(1)});
  // Stretch [3, 4] without spans (a memoized iteration): its average, half computing: 100 + 0.5 x 600.
  tracer.busy({.rank = 0, .start = Duration::seconds(3), .end = Duration::seconds(4), .compute = Duration::seconds(0.5)});
  // Stretch [5, 6] after an idle gap: the end of [3, 4] is written (idle), then computing throughout.
  span(SpanKind::kCompute, 0, 5, 6);
  tracer.busy({.rank = 0, .start = Duration::seconds(5), .end = Duration::seconds(6), .compute = Duration::seconds(1)});
  // gpu1 is not on the timeline (no spans): no counter.
  tracer.busy({.rank = 1, .start = Duration::seconds(0), .end = Duration::seconds(6), .compute = Duration::seconds(6)});
  power.finish();
  EXPECT_EQ(samples(rec.counters),
            "node0/gpu0 power (W) @0.000000 700\n"
            "node0/gpu0 power (W) @1.000000 300\n"
            "node0/gpu0 power (W) @2.000000 100\n"
            "node0/gpu0 power (W) @3.000000 400\n"
            "node0/gpu0 power (W) @4.000000 100\n"
            "node0/gpu0 power (W) @5.000000 700\n"
            "node0/gpu0 power (W) @6.000000 100\n");
}

// Llama-2-7B-shaped (scenarios/validation/train-h100.yaml) on one node, TP 2 x PP 4, 4 micro-batches of 1F1B:
// the run timeline_deps_test.cc follows edge by edge.
RunResult pipeline_run(const std::vector<std::string>& extra = {}) {
  std::vector<std::string> o = {"workload.tensor_model_parallel_size=2", "workload.pipeline_model_parallel_size=4",
                                "workload.global_batch_size=4", "outputs.timeline_ranks=0",
                                "outputs.timeline_format=json", "outputs.timeline_counters=true"};
  o.insert(o.end(), extra.begin(), extra.end());
  Scenario sc = load_scenario("scenarios/validation/train-h100.yaml", o);
  return run_scenario(sc);
}

// The traced GPU of pipeline stage `stage` (TP rank 0): its node group and lane prefix ("node0", "gpu2").
std::pair<std::string, std::string> stage_gpu(const Trace& t, int stage) {
  for (const auto& tr : t.tracks) {
    if (tr.attr("stage") == std::to_string(stage) && tr.name.find(" compute") != std::string::npos &&
        !tr.slices.empty()) {
      return {tr.group, tr.name.substr(0, tr.name.find(' '))};
    }
  }
  ADD_FAILURE() << "no compute lane for stage " << stage;
  return {};
}

const Track& counter(const Trace& t, const std::pair<std::string, std::string>& gpu, const std::string& what) {
  const Track* c = t.find(gpu.first, gpu.second + " " + what, true);
  if (c == nullptr || c->samples.empty()) {
    ADD_FAILURE() << "no counter " << gpu.first << "/" << gpu.second << " " << what;
    static const Track none;
    return none;
  }
  return *c;
}

std::pair<double, double> min_max(const Track& c) {
  double lo = 1e300, hi = -1e300;
  for (const auto& s : c.samples) lo = std::min(lo, s.value), hi = std::max(hi, s.value);
  return {lo, hi};
}

TEST(TimelineCounters, PipelineRunCountsHbmPowerAndQueuedInputs) {
  const RunResult r = pipeline_run();
  const fs::path d = support::temp_dir("timeline_counters_test", "pipeline");
  const Trace t = support::read_text(d, "timeline.json", r.timeline_json);
  const int tight = static_cast<int>(r.metrics.get("memory_stage"));
  const Scenario sc = load_scenario("scenarios/validation/train-h100.yaml");
  std::vector<double> held(4);
  for (int s = 0; s < 4; ++s) {
    const auto gpu = stage_gpu(t, s);
    const Track& hbm = counter(t, gpu, "HBM (GB)");
    const auto [lo, hi] = min_max(hbm);
    // From the iteration's start the static part; every micro-batch's activations are freed by its end.
    EXPECT_DOUBLE_EQ(hbm.samples.front().value, lo) << s;
    EXPECT_DOUBLE_EQ(hbm.samples.back().value, lo) << s;
    held[static_cast<size_t>(s)] = (hi - lo) * 1e9;
    if (s == tight) {  // the peak is the memory fit's total, its rise the fit's activations
      EXPECT_NEAR(hi * 1e9, r.metrics.get("memory_per_gpu_bytes"), 1e-6 * hi * 1e9);
      EXPECT_NEAR(held[static_cast<size_t>(s)], r.metrics.get("memory_activations_bytes"), 1e-6 * hi * 1e9);
    }
    // Power: only the three levels of the part's states, computing at its TDP.
    const double tdp = sc.cluster.accelerator.tdp.w(), idle = sc.cluster.accelerator.idle_power.w();
    const double comm = idle + sc.cost.comm_power_fraction * (tdp - idle);
    const Track& power = counter(t, gpu, "power (W)");
    std::set<double> levels;
    for (const auto& x : power.samples) levels.insert(x.value);
    for (double w : levels) EXPECT_TRUE(w == tdp || w == idle || std::abs(w - comm) < 1e-9) << s << ": " << w;
    EXPECT_TRUE(levels.count(tdp)) << s;
    EXPECT_TRUE(levels.count(idle)) << s;
    // Samples at changes only.
    for (size_t i = 1; i < power.samples.size(); ++i) {
      EXPECT_NE(power.samples[i].value, power.samples[i - 1].value) << s;
      EXPECT_LT(power.samples[i - 1].time_ns, power.samples[i].time_ns) << s;
    }
    // Queued inputs: never negative, none left at the end.
    const Track& queued = counter(t, gpu, "queued inputs");
    EXPECT_GE(min_max(queued).first, 0) << s;
    EXPECT_EQ(queued.samples.back().value, 0) << s;
    if (s == 3) {
      // The last stage runs B0 F1 B1 ...: each F arrives while it runs the B before (stage 2 sends it first).
      EXPECT_GE(min_max(queued).second, 1);
    }
  }
  // 1F1B holds min(micro-batches, stages - stage) micro-batches at once: 4, 3, 2, 1 (every stage has 8 layers).
  for (int s = 1; s < 4; ++s) {
    EXPECT_NEAR(held[static_cast<size_t>(s)] / held[0], (4.0 - s) / 4.0, 1e-9) << s;
  }
  fs::remove_all(d);
}

TEST(TimelineCounters, OptionTurnsThemOff) {
  const RunResult r = pipeline_run({"outputs.timeline_counters=false"});
  const fs::path d = support::temp_dir("timeline_counters_test", "off");
  const Trace t = support::read_text(d, "timeline.json", r.timeline_json);
  EXPECT_GT(t.slice_count(), 0u);
  for (const auto& tr : t.tracks) EXPECT_FALSE(tr.counter) << tr.group << "/" << tr.name;
  fs::remove_all(d);
}

// A job's workload numbers its nodes from 0: the job's forwarder puts its counters in the cluster's node groups.
TEST(TimelineCounters, AJobsCountersGoToTheClustersNodes) {
  const fs::path d = support::temp_dir("timeline_counters_test", "jobs");
  support::write(d / "jobs.yaml", R"(name: counters-on-node-1
cluster:
  accelerator: H100-SXM-80GB
  nodes: 2
  gpus_per_node: 8
jobs:
  - name: train
    node_ids: [1]
    workload:
      type: megatron
      model: {num_layers: 8, hidden_size: 1024, num_attention_heads: 8, seq_length: 1024, vocab_size: 32000}
      tensor_model_parallel_size: 2
      pipeline_model_parallel_size: 4
      global_batch_size: 4
      micro_batch_size: 1
      precision: bf16
simulation: {fidelity: analytical}
outputs: {timeline_ranks: 0, timeline_format: json, timeline_counters: true}
)");
  Scenario sc = load_scenario((d / "jobs.yaml").string());
  const RunResult r = run_scenario(sc);
  const Trace t = support::read_text(d, "timeline.json", r.timeline_json);
  size_t hbm = 0;
  for (const auto& tr : t.tracks) {
    if (!tr.counter || tr.name.find("HBM") == std::string::npos) continue;
    ++hbm;
    EXPECT_EQ(tr.group, "node1") << tr.name;
    // Beside the GPU's own lanes, with their attributes (grouped by stage or job, it goes with them).
    const Track* lane = t.find(tr.group, tr.name.substr(0, tr.name.find(' ')) + " compute");
    ASSERT_NE(lane, nullptr) << tr.name;
    EXPECT_FALSE(tr.attr("stage").empty()) << tr.name;
    EXPECT_EQ(tr.attr("stage"), lane->attr("stage")) << tr.name;
    EXPECT_EQ(tr.attr("job"), "train") << tr.name;
    EXPECT_EQ(tr.attr("rack"), lane->attr("rack")) << tr.name;
  }
  EXPECT_EQ(hbm, 4u) << "one per pipeline stage (the traced TP rank 0 of each)";
  fs::remove_all(d);
}

// gpt_data_parallel (the 1.3B example cut to 2 GPUs and 4 layers, two micro-batches each): each GPU's HBM rises
// by one layer's activations per forward layer step up to the memory fit's total and falls back per backward step.
TEST(TimelineCounters, DataParallelRunCountsHbm) {
  Scenario sc = load_scenario("scenarios/examples/gpt-1.3b-dp-h100.yaml",
                              {"cluster.nodes=1", "cluster.gpus_per_node=2", "workload.model.num_layers=4",
                               "workload.global_batch_size=4", "workload.micro_batch_size=1",
                               "workload.train_iters=1", "outputs.timeline_ranks=0",
                               "outputs.timeline_format=json", "outputs.timeline_counters=true"});
  const RunResult r = run_scenario(sc);
  const fs::path d = support::temp_dir("timeline_counters_test", "dp");
  const Trace t = support::read_text(d, "timeline.json", r.timeline_json);
  for (const char* gpu : {"gpu0", "gpu1"}) {
    const Track* hbm = t.find("node0", std::string(gpu) + " HBM (GB)", true);
    ASSERT_NE(hbm, nullptr) << gpu;
    const auto [lo, hi] = min_max(*hbm);
    EXPECT_NEAR(hi * 1e9, r.metrics.get("memory_per_gpu_bytes"), 1e-6 * hi * 1e9) << gpu;
    EXPECT_NEAR((hi - lo) * 1e9, r.metrics.get("memory_activations_bytes"), 1e-6 * hi * 1e9) << gpu;
    EXPECT_DOUBLE_EQ(hbm->samples.front().value, lo) << gpu;
    EXPECT_NEAR(hbm->samples.back().value, lo, 1e-9) << gpu;
    // Per micro-batch: 4 steps up, 4 down (and the first sample): one layer's activations each.
    ASSERT_EQ(hbm->samples.size(), 1u + 2 * 8) << gpu;
    for (size_t i = 1; i <= 4; ++i) {
      EXPECT_NEAR(hbm->samples[i].value - hbm->samples[i - 1].value, (hi - lo) / 4, 1e-9) << gpu << " " << i;
    }
  }
  fs::remove_all(d);
}

}  // namespace
}  // namespace lcsim::timeline
