// Helpers of the Megatron tests that read a stage's plan or a run's timeline lanes (ddp_checks_test.cc,
// ddp_fp32_accumulation_test.cc, step_syncs_test.cc, align_grad_reduce_test.cc, pipeline_flush_test.cc): kBase's
// plan of one stage on H100, its host operation, and the spans of each lane of a run's timeline.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "megatron_support.h"
#include "timeline_support.h"

#include "models/hardware/catalog.h"
#include "models/hardware/step_overhead.h"
#include "scenarios/scenario.h"
#include "timeline/model.h"
#include "workloads/training/megatron.h"

namespace lcsim::megatron_support {

inline const hw::AcceleratorSpec& h100() { return hw::PartCatalog::get().part("H100-SXM-80GB"); }

/// kBase with `sets` applied: pipeline stage `stage`'s plan on H100.
inline wl::MegatronTraining::StagePlan plan_of(const std::vector<std::string>& sets, int stage = 0) {
  Scenario sc = parse_sets(sets);
  return dynamic_cast<const wl::MegatronTraining&>(*sc.workload).plan_stage(h100(), stage);
}

/// The host's time per operation at a pass's start (hw::HostIssue::pass_start) of kBase with `sets` on H100.
inline Duration host_op(const std::vector<std::string>& sets) {
  Scenario sc = parse_sets(sets);
  return hw::HostIssue(config_of(sc).host_issue(h100())).pass_start();
}

/// A slice of a timeline lane, in ns.
struct Span {
  std::string name;
  double start, end;
};

/// A run of kBase with a timeline: its metrics and each lane's spans in start order.
struct TimelineRun {
  MetricSet metrics;
  std::map<std::pair<std::string, std::string>, std::vector<Span>> lanes;  // by (group, track): ("node0", "gpu0 dp")
  /// The spans of track `track` of node `node` (empty: no such lane).
  const std::vector<Span>& lane(int node, const std::string& track) const {
    static const std::vector<Span> kNone;
    const auto it = lanes.find({"node" + std::to_string(node), track});
    return it == lanes.end() ? kNone : it->second;
  }
};

/// kBase with `sets` applied, run in this process with a JSON timeline of its first `ranks` ranks, read back
/// (written under a temporary directory named after `test` and `name`).
inline TimelineRun run_timeline(const std::vector<std::string>& sets, int ranks, const std::string& test,
                                const std::string& name) {
  std::vector<std::string> all = {"outputs.timeline=true", "outputs.timeline_format=json",
                                  "outputs.timeline_ranks=" + std::to_string(ranks)};
  all.insert(all.end(), sets.begin(), sets.end());
  Scenario sc = parse_sets(all);
  const RunResult r = run_scenario(sc);
  EXPECT_TRUE(r.completed);
  TimelineRun out;
  out.metrics = r.metrics;
  const auto dir = timeline::support::temp_dir(test, name);
  const timeline::Trace t = timeline::support::read_text(dir, "timeline.json", r.timeline_json);
  for (const auto& tr : t.tracks) {
    auto& lane = out.lanes[{tr.group, tr.name}];
    for (const auto& s : tr.slices) {
      lane.push_back({std::string(t.str(s.name)), static_cast<double>(s.start_ns), static_cast<double>(s.end_ns())});
    }
  }
  for (auto& [key, v] : out.lanes) {
    std::stable_sort(v.begin(), v.end(), [](const Span& a, const Span& b) { return a.start < b.start; });
  }
  return out;
}

/// The spans of `v` whose name contains `part`, in order.
inline std::vector<Span> named(const std::vector<Span>& v, const std::string& part) {
  std::vector<Span> out;
  for (const Span& s : v) {
    if (s.name.find(part) != std::string::npos) out.push_back(s);
  }
  return out;
}

/// The first span of `v` named `name` (nullptr and a test failure if none).
inline const Span* find(const std::vector<Span>& v, const std::string& name) {
  for (const Span& s : v) {
    if (s.name == name) return &s;
  }
  ADD_FAILURE() << "no span " << name;
  return nullptr;
}

}  // namespace lcsim::megatron_support
