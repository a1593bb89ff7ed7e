// The whole run with failures through a scenario: recovery phases on the run's timeline (read back with the
// timeline reader, both formats), the restart taking the storage model's restore time, the checkpoint size from
// the memory model's per-rank state (distributed optimizer vs not), elastic shrink and stragglers from YAML, and a
// real fault trace replayed as it is (bad rows are errors at their file:line).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "models/failure/fault_trace.h"
#include "scenarios/scenario.h"
#include "sim/error.h"
#include "timeline/model.h"

namespace lcsim {
namespace {

namespace fs = std::filesystem;

const char* kExample = "scenarios/examples/storage-checkpoint-h100.yaml";  // 16 DGX H100, 6.7B, DP 128

fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::path(::testing::TempDir()) /
                     ("recovery_scenario_" + name + "_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

/// A 90-day job (10T tokens) so that every seed sees failures and maintenance stops.
RunResult run(std::vector<std::string> overrides, bool timeline = false) {
  overrides.insert(overrides.begin(), "cost.token_budget=1e13");
  if (!timeline) overrides.push_back("outputs.timeline=false");
  Scenario sc = load_scenario(kExample, overrides);
  return run_scenario(sc);
}

/// The slices of the "reliability" group, by name: their durations in seconds.
std::map<std::string, std::vector<double>> phases(const timeline::Trace& t) {
  std::map<std::string, std::vector<double>> out;
  for (const auto& track : t.tracks) {
    if (track.group != "reliability") continue;
    for (const auto& s : track.slices) out[t.str(s.name)].push_back(s.dur_ns * 1e-9);
  }
  return out;
}

TEST(RecoveryTimeline, PhasesAndTheRestoreShowOnTheRunsTimeline) {
  const std::vector<std::string> o = {"outputs.timeline_kinds=[compute, reliability]", "reliability.seeds=2"};
  const RunResult r = run(o, true);
  const MetricSet& m = r.metrics;
  ASSERT_EQ(r.timeline_file, "timeline.json");
  const fs::path d = temp_dir("timeline");
  std::ofstream(d / "timeline.json") << r.timeline_json;
  const timeline::Trace t = timeline::read_timeline((d / "timeline.json").string());
  size_t rows = 0;
  for (const auto& track : t.tracks) rows += track.group == "reliability" ? 1 : 0;
  EXPECT_EQ(rows, 1u) << "one row of phases for the one job";
  const auto p = phases(t);
  for (const char* name : {"lost work", "detection", "diagnosis", "swap in spare", "restart", "restore", "checkpoint"}) {
    EXPECT_TRUE(p.count(name)) << name;
  }
  ASSERT_TRUE(p.count("restore"));
  // Every complete restart is the re-initialisation (5 min), every complete restore the storage model's restore
  // of the last level (read by one GPU per group plus the broadcast): the longest of each, to the microsecond.
  const double restore = m.get("checkpoint_parallel_fs_restore_s");
  EXPECT_NEAR(*std::max_element(p.at("restore").begin(), p.at("restore").end()), restore, 1e-6);
  EXPECT_NEAR(*std::max_element(p.at("restart").begin(), p.at("restart").end()), 300, 1e-6);
  // Detection by heartbeat (60 s) or collective timeout / hang detector (600 s), nothing else.
  for (double x : p.at("detection")) EXPECT_LE(x, 600 + 1e-6);
  // Checkpoints take the last level's blocking time (the parallel file system, synchronous).
  EXPECT_NEAR(*std::max_element(p.at("checkpoint").begin(), p.at("checkpoint").end()),
              m.get("checkpoint_parallel_fs_blocking_s"), 1e-6);
  // The Perfetto file carries the same phases.
  auto po = o;
  po.push_back("outputs.timeline_format=protobuf");
  const RunResult pr = run(po, true);
  std::ofstream(d / "timeline.pftrace", std::ios::binary) << pr.timeline_pftrace;
  const auto pp = phases(timeline::read_timeline((d / "timeline.pftrace").string()));
  EXPECT_EQ(pp.size(), p.size());
  for (const auto& [name, v] : p) EXPECT_EQ(pp.at(name).size(), v.size()) << name;
  fs::remove_all(d);
}

// The restart is re-initialisation + the storage model's restore, and the restore is what the storage model
// derives: one reader per data-parallel group (TP = PP = 1: one group, one GPU) reads the whole state over its PCIe
// Gen5 x16 link (63.04 GB/s; the file system's 4 x 90 GB/s of reads and the node's storage NICs are wider).
TEST(RecoveryRestore, TheRestartTakesTheStorageModelsRestoreTime) {
  const MetricSet m = run({"reliability.seeds=4"}).metrics;
  const double bytes = m.get("checkpoint_parallel_fs_bytes");
  EXPECT_NEAR(m.get("checkpoint_parallel_fs_restore_read_s"), bytes / 63.04e9, 1e-3);
  EXPECT_DOUBLE_EQ(m.get("checkpoint_parallel_fs_restore_s"),
                   m.get("checkpoint_parallel_fs_restore_read_s") + m.get("checkpoint_parallel_fs_restore_broadcast_s"));
  ASSERT_TRUE(m.has("reliability_restore_h"));
  EXPECT_DOUBLE_EQ(m.get("reliability_restore_s"), m.get("checkpoint_parallel_fs_restore_s")) << "no in-run restore";
  // Each recovery and maintenance stop restores once (a failure during a recovery cuts it short): the mean restore
  // per stop is at most the restore time and close to it.
  const double stops = m.get("reliability_interruptions") + m.get("reliability_planned_stops");
  ASSERT_GT(stops, 0);
  const double per_stop = m.get("reliability_restore_h") * 3600 / stops;
  EXPECT_LE(per_stop, m.get("checkpoint_parallel_fs_restore_s") + 1e-9);
  EXPECT_GT(per_stop, 0.9 * m.get("checkpoint_parallel_fs_restore_s"));
  EXPECT_NEAR(m.get("reliability_restart_h") * 3600 / stops, 300, 30);
  // Without the hand-over, no restore phase: the assumed 10 min restart covers it.
  const MetricSet off = run({"reliability.seeds=4", "checkpoint.feed_reliability=false"}).metrics;
  EXPECT_FALSE(off.has("reliability_restore_h"));
}

// The memory model puts on each rank bf16 weights (2 B per parameter, replicated over DP) and optimizer states
// (12 B: fp32 master, Adam m and v); the distributed optimizer shards the latter over DP = 128. (8 of the 32 layers,
// so that the unsharded optimizer states fit in 80 GB too.)
TEST(CheckpointSize, FromTheMemoryModelsPerRankState) {
  const MetricSet dist = run({"reliability.enabled=false", "workload.model.num_layers=8"}).metrics;
  const double params = dist.get("parameters"), dp = 128;
  EXPECT_NEAR(dist.get("memory_optimizer_states_bytes"), params * 12 / dp, 1);
  EXPECT_NEAR(dist.get("memory_weights_bytes"), params * 2, 1);
  // Every rank writes its optimizer shard and 1/DP of the weights: the unique state, 14 B per parameter in all.
  EXPECT_EQ(dist.get("checkpoint_parallel_fs_writers"), 128);
  EXPECT_NEAR(dist.get("checkpoint_parallel_fs_per_rank_bytes"), params * 12 / dp + params * 2 / dp, 1);
  EXPECT_NEAR(dist.get("checkpoint_parallel_fs_bytes"), params * 14, 128);
  // Without it every rank holds all optimizer states (DP times as many per rank) and data-parallel rank 0 writes
  // the group's state alone: one writer of 14 B per parameter, and a much longer save.
  const MetricSet plain = run({"reliability.enabled=false", "workload.model.num_layers=8",
                               "workload.use_distributed_optimizer=false"}).metrics;
  std::printf("checkpoint save to the file system, 1.7 B parameters: %.3f s distributed optimizer (128 writers), "
              "%.3f s without (1 writer)\n", dist.get("checkpoint_parallel_fs_save_s"),
              plain.get("checkpoint_parallel_fs_save_s"));
  EXPECT_NEAR(plain.get("memory_optimizer_states_bytes") / dist.get("memory_optimizer_states_bytes"), dp, 1e-9);
  EXPECT_EQ(plain.get("checkpoint_parallel_fs_writers"), 1);
  EXPECT_NEAR(plain.get("checkpoint_parallel_fs_per_rank_bytes"), params * 14, 1);
  EXPECT_GT(plain.get("checkpoint_parallel_fs_save_s"), 3 * dist.get("checkpoint_parallel_fs_save_s"));
  // state: parameters keeps the older estimate, spread over every rank.
  const MetricSet old = run({"reliability.enabled=false", "workload.model.num_layers=8", "checkpoint.state=parameters"})
                            .metrics;
  EXPECT_DOUBLE_EQ(old.get("checkpoint_parallel_fs_per_rank_bytes"), params * 14 / 128);
}

TEST(ElasticShrinkScenario, GoingOnAtDpMinusOneBeatsWaitingWithoutSpares) {
  const std::vector<std::string> base = {"reliability.spares=0", "reliability.seeds=4"};
  const MetricSet wait = run(base).metrics;
  auto o = base;
  o.push_back("reliability.elastic.enabled=true");
  const MetricSet el = run(o).metrics;
  EXPECT_FALSE(wait.has("reliability_shrinks"));
  EXPECT_GT(el.get("reliability_shrinks"), 0);
  EXPECT_LT(el.get("reliability_wait_repair_h"), wait.get("reliability_wait_repair_h"));
  EXPECT_GT(el.get("reliability_ettr"), wait.get("reliability_ettr"));
  EXPECT_GT(el.get("reliability_shrunk_h"), 0);
}

TEST(StragglersScenario, JitterAndSlowNodesCostAndEvictionWinsItBack) {
  const MetricSet none = run({"reliability.seeds=4"}).metrics;
  const std::vector<std::string> slow = {"reliability.seeds=4", "reliability.stragglers.cv=0.0584",
                                         "reliability.stragglers.node_mtbf=30d",
                                         "reliability.stragglers.slow_factor=1.5"};
  const MetricSet s = run(slow).metrics;
  EXPECT_GT(s.get("reliability_step_slowdown"), 1.0);
  EXPECT_GT(s.get("reliability_slow_episodes"), 0);
  EXPECT_LT(s.get("reliability_ettr"), none.get("reliability_ettr"));
  auto e = slow;
  e.push_back("reliability.stragglers.evict.enabled=true");
  const MetricSet ev = run(e).metrics;
  EXPECT_GT(ev.get("reliability_evictions"), 0);
  EXPECT_LT(ev.get("reliability_slow_loss_h"), s.get("reliability_slow_loss_h"));
}

TEST(TraceReplay, TheRealFaultsOfTheJobsServersAsTheyCame) {
  const std::string trace = fs::absolute("data/failures/infinitehbd_fault_trace.json").string();
  const MetricSet m = run({"reliability.failures=trace", "reliability.failure_trace=" + trace,
                           "reliability.seeds=4"}).metrics;
  // By hand: job node j is the trace's server j (16 nodes, 400 servers): the job's rate is the faults of servers
  // 0..15 over the trace's span.
  const failure::FaultTrace t = failure::load_fault_trace(trace);
  const double faults = static_cast<double>(
      std::count_if(t.faults.begin(), t.faults.end(), [](const failure::Fault& f) { return f.node < 16; }));
  ASSERT_GT(faults, 0);
  EXPECT_NEAR(m.get("reliability_job_mtbf_h"), t.span.s() / faults / 3600, 1e-9);
  EXPECT_GT(m.get("reliability_interruptions"), 0);
  EXPECT_EQ(m.get("reliability_planned_stops"), 0);
}

TEST(TraceReplay, BadRowsAndAMissingTraceAreErrors) {
  EXPECT_THROW(load_scenario(kExample, {"reliability.failures=trace"}), InputError);
  try {
    load_scenario(kExample, {"reliability.failures=trace"});
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("failure_trace"), std::string::npos) << e.what();
  }
  const fs::path d = temp_dir("badtrace");
  const fs::path bad = d / "bad.json";
  std::ofstream(bad) << "[\n"
                        "{\"node_id\": \"a\", \"event_time\": 1.0, \"event_type\": \"fault_start\", \"fault_type\": "
                        "{\"Level\": \"Hardware Failure\", \"Class\": \"GPU\", \"Desc\": \"x\"}},\n"
                        "{\"node_id\": \"a\", \"event_time\": \"soon\", \"event_type\": \"fault_end\", \"fault_type\": "
                        "{\"Level\": \"Hardware Failure\", \"Class\": \"GPU\", \"Desc\": \"x\"}}\n"
                        "]\n";
  try {
    run({"reliability.failures=trace", "reliability.failure_trace=" + bad.string(), "reliability.seeds=1"});
    ADD_FAILURE() << "a bad trace row must be an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json:3"), std::string::npos) << e.what();
  }
  fs::remove_all(d);
}

}  // namespace
}  // namespace lcsim
