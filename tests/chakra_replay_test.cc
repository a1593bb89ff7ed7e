// Chakra trace replay (workloads/traces/chakra_replay.h): the shared ASTRA-sim sets take exactly the time the
// collectives library gives their collective, the real PyTorch trace replays whole, dependencies order nodes,
// and broken or deadlocking traces end in an InputError that names the file and the node. Each simulation
// runs in a child process (one SimGrid engine per process).
#include "workloads/traces/chakra_replay.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "models/hardware/catalog.h"
#include "models/hardware/op_cost.h"
#include "proto/et_def.pb.h"
#include "scenarios/scenario.h"
#include "test_support.h"
#include "timeline/model.h"
#include "workloads/traces/chakra.h"

namespace lcsim {
namespace {

namespace fs = std::filesystem;
using wl::ChakraTrace;
using wl::read_chakra_trace;
const std::string kData =
    fs::path(std::string(LCSIM_SOURCE_DIR) + "/data/training/").lexically_normal().string();
const std::string kAstra = kData + "astra_microbenchmarks/";
const std::string kPyTorch = kData + "chakra_pytorch_3664_nodes.0.et";

enum : int { kComp = 4, kSend = 5, kRecv = 6, kColl = 7 };
enum : int64_t { kAllReduce = 0, kAllGather = 2, kGather = 3 };

// One node of a hand-made trace.
struct N {
  uint64_t id;
  std::string name;
  int type = kComp;
  uint64_t dur = 0;
  std::vector<uint64_t> data = {}, ctrl = {};
  bool cpu = false;
  int64_t comm_type = -1, comm_size = -1, peer = -1, num_ops = -1;
  std::string pg = {};
};

// Writes a trace as the real files are: varint length, GlobalMetadata, then varint length + Node each.
void write_trace(const std::string& path, const std::vector<N>& nodes) {
  std::string out;
  auto put = [&](const google::protobuf::MessageLite& m) {
    const std::string s = m.SerializeAsString();
    for (uint64_t v = s.size();; v >>= 7) {
      out.push_back(static_cast<char>(v < 0x80 ? v : (v & 0x7f) | 0x80));
      if (v < 0x80) break;
    }
    out += s;
  };
  ChakraProtoMsg::GlobalMetadata meta;
  meta.set_version("0.0.4");
  put(meta);
  for (const N& n : nodes) {
    ChakraProtoMsg::Node p;
    p.set_id(n.id);
    p.set_name(n.name);
    p.set_type(static_cast<ChakraProtoMsg::NodeType>(n.type));
    for (uint64_t d : n.data) p.add_data_deps(d);
    for (uint64_t d : n.ctrl) p.add_ctrl_deps(d);
    p.set_duration_micros(n.dur);
    auto int_attr = [&](const char* name, int64_t v) {
      if (v < 0) return;
      auto* a = p.add_attr();
      a->set_name(name);
      a->set_int64_val(v);
    };
    auto* cpu = p.add_attr();
    cpu->set_name("is_cpu_op");
    cpu->set_bool_val(n.cpu);
    int_attr("comm_type", n.comm_type);
    int_attr("comm_size", n.comm_size);
    int_attr(n.type == kSend ? "comm_dst" : "comm_src", n.type == kSend || n.type == kRecv ? n.peer : -1);
    int_attr("num_ops", n.num_ops);
    if (!n.pg.empty()) {
      auto* a = p.add_attr();
      a->set_name("pg_name");
      a->set_string_val(n.pg);
    }
    put(p);
  }
  std::ofstream(path, std::ios::binary) << out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A directory of its own per test (ctest runs tests in parallel processes).
std::string test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(::testing::TempDir()) / (std::string("chakra_replay_") + info->name());
  fs::create_directories(dir);
  return dir.string();
}

// A scenario on one or two HGX-like nodes of 8 H100s running `workload` (YAML mapping lines, indented by 2).
std::string scenario(const std::string& dir, const std::string& workload, int nodes = 1) {
  const std::string path = dir + "/scenario.yaml";
  std::ofstream(path) << "name: chakra-replay-test\n"
                      << "cluster: {accelerator: H100-SXM-80GB, nodes: " << nodes << ", gpus_per_node: 8}\n"
                      << "workload:\n"
                      << workload << "simulation: {fidelity: flow}\n";
  return path;
}

std::map<std::string, double> run(const std::string& path, const std::vector<std::string>& overrides = {}) {
  return testing::metrics_in_child([&] {
    Scenario sc = load_scenario(path, overrides);
    return run_scenario(sc).metrics;
  });
}

// The InputError text of loading and running a scenario ("no error" if there was none).
std::string error_of(const std::string& path, const std::vector<std::string>& overrides = {}) {
  const auto text = testing::text_in_child([&] {
    try {
      Scenario sc = load_scenario(path, overrides);
      run_scenario(sc);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  });
  return text.value_or("child crashed");
}

double nccl_tests_time(const std::string& op, int ranks, const std::string& size, int nodes) {
  const std::string dir = test_dir();
  const std::string path = scenario(dir,
                                    "  type: nccl_tests\n  operation: " + op + "\n  sizes: [" + size +
                                        "]\n  ranks: " + std::to_string(ranks) + "\n",
                                    nodes);
  return run(path).at("time_at_max_size_s");
}

void astra_set_takes_the_library_time(const std::string& op) {
  for (int n : {4, 8, 16}) {
    const std::string dir = test_dir();
    const std::string set = kAstra + op + "/" + std::to_string(n) + "npus_1MB/" + op;
    const auto m = run(scenario(dir, "  type: chakra_replay\n  trace: " + set + "\n", 2));
    ASSERT_EQ(m.count("child_failed"), 0u) << set;
    EXPECT_EQ(m.at("ranks"), n);
    EXPECT_EQ(m.at("nodes_comm_coll"), n) << "one COMM_COLL_NODE per rank";
    EXPECT_EQ(m.at("collective_calls"), 1) << "matched across the ranks into one collective";
    EXPECT_EQ(m.at("completed"), 1);
    // comm_size 1048576 is the collective's size as nccl-tests counts it; nothing else happens in the trace.
    const double expected = nccl_tests_time(op, n, "1048576B", 2);
    EXPECT_DOUBLE_EQ(m.at("replay_time_s"), expected) << set;
    EXPECT_DOUBLE_EQ(m.at("comm_time_s"), expected);
    EXPECT_DOUBLE_EQ(m.at("exposed_comm_time_s"), expected) << "no compute to hide it behind";
    EXPECT_EQ(m.at("compute_time_s"), 0);
  }
}

TEST(ChakraReplay, AstraAllReduceSetsTakeTheCollectivesLibraryTime) {
  astra_set_takes_the_library_time("all_reduce");
}
TEST(ChakraReplay, AstraAllGatherSetsTakeTheCollectivesLibraryTime) {
  astra_set_takes_the_library_time("all_gather");
}
TEST(ChakraReplay, AstraReduceScatterSetsTakeTheCollectivesLibraryTime) {
  astra_set_takes_the_library_time("reduce_scatter");
}
TEST(ChakraReplay, AstraAllToAllSetsTakeTheCollectivesLibraryTime) {
  astra_set_takes_the_library_time("all_to_all");
}

TEST(ChakraReplay, CustomRingAllReduceSendsAndReceivesInOrder) {
  // Each rank: 14 x (send 128 KiB to the next rank, then receive from the previous one), a 7 us reduction
  // after each of the first 7 receives, every node waiting for the one before. All ranks move in step, every
  // message goes over its own NVLink ports, so each send takes one isolated message's time and each receive
  // finds its data already there.
  const std::string dir = test_dir();
  const auto m = run(scenario(dir, "  type: chakra_replay\n  trace: " + kAstra +
                                       "custom_ring_allreduce_8npus_1MB/custom_allreduce\n"));
  ASSERT_EQ(m.count("child_failed"), 0u);
  EXPECT_EQ(m.at("ranks"), 8);
  EXPECT_EQ(m.at("nodes_replayed"), 8 * 35);
  EXPECT_EQ(m.at("nodes_comm_send"), 8 * 14);
  EXPECT_EQ(m.at("nodes_comm_recv"), 8 * 14);
  EXPECT_EQ(m.at("p2p_messages"), 8 * 14);
  EXPECT_DOUBLE_EQ(m.at("compute_time_s"), 7 * 7e-6);
  // nccl-tests' send_recv on 2 ranks: each sends one message to the other, over separate directions.
  const double message = nccl_tests_time("send_recv", 2, "131072B", 1);
  EXPECT_NEAR(m.at("replay_time_s"), 14 * message + 7 * 7e-6, 1e-12);
  EXPECT_NEAR(m.at("exposed_comm_time_s"), 14 * message, 1e-12) << "nothing overlaps in a chain";
}

// Longest path through the data dependencies, each node weighing its recorded duration, communication zero.
double critical_path_s(const ChakraTrace& t) {
  std::map<uint64_t, size_t> index;
  for (size_t i = 0; i < t.nodes.size(); ++i) index[t.nodes[i].id] = i;
  std::vector<double> finish(t.nodes.size(), -1);
  std::function<double(size_t)> f = [&](size_t i) {
    if (finish[i] >= 0) return finish[i];
    double start = 0;
    for (uint64_t d : t.nodes[i].data_deps) start = std::max(start, f(index.at(d)));
    const bool comm = t.nodes[i].type == kColl && !t.nodes[i].is_cpu_op;
    return finish[i] = start + (comm ? 0.0 : t.nodes[i].duration_micros * 1e-6);
  };
  double out = 0;
  for (size_t i = 0; i < t.nodes.size(); ++i) out = std::max(out, f(i));
  return out;
}

TEST(ChakraReplay, PyTorchTraceReplaysWholeOnEightRanks) {
  const ChakraTrace t = read_chakra_trace(kPyTorch);
  double kernels = 0, host = 0;
  for (const auto& n : t.nodes) {
    if (n.type == kComp) (n.is_cpu_op ? host : kernels) += n.duration_micros * 1e-6;
    if (n.type == kColl && n.is_cpu_op) host += n.duration_micros * 1e-6;
  }
  const std::string dir = test_dir();
  const std::string path =
      scenario(dir, "  type: chakra_replay\n  trace: " + kPyTorch + "\n  ranks: 8\n  dependencies: data\n");
  const auto m = run(path);
  ASSERT_EQ(m.count("child_failed"), 0u);
  EXPECT_EQ(m.at("nodes_replayed"), 8 * 3664);
  EXPECT_EQ(m.at("nodes_comm_coll"), 8 * 21);
  EXPECT_EQ(m.at("collective_calls"), 7) << "7 NCCL kernels; the 14 c10d:: calls are host operators";
  EXPECT_EQ(m.at("nodes_host"), 8 * (2434 + 14));
  EXPECT_NEAR(m.at("compute_time_s"), kernels, 1e-9) << "every kernel once, at its recorded duration";
  EXPECT_NEAR(m.at("host_time_s"), host, 1e-9);
  EXPECT_GE(m.at("replay_time_s"), critical_path_s(t));
  EXPECT_GE(m.at("replay_time_s"), kernels) << "one compute stream per rank";
  EXPECT_GT(m.at("comm_time_s"), 0);
  EXPECT_LE(m.at("exposed_comm_time_s"), m.at("comm_time_s"));
  EXPECT_EQ(m.at("rank_finish_max_s"), m.at("rank_finish_min_s")) << "identical ranks finish together";
  EXPECT_EQ(m.at("completed"), 1);
  // Same seed, same numbers.
  EXPECT_EQ(run(path), m);
  // The same trace twice back to back takes at least twice as long.
  const auto twice = run(path, {"workload.iterations=2"});
  EXPECT_EQ(twice.at("nodes_replayed"), 2 * 8 * 3664);
  EXPECT_EQ(twice.at("collective_calls"), 14);
  EXPECT_GE(twice.at("replay_time_s"), 2 * kernels);
  EXPECT_DOUBLE_EQ(twice.at("iteration_time_s"), twice.at("replay_time_s") / 2);
}

TEST(ChakraReplay, PyTorchCtrlDependencyCycleIsReportedWithTheFix) {
  const std::string dir = test_dir();
  const std::string err =
      error_of(scenario(dir, "  type: chakra_replay\n  trace: " + kPyTorch + "\n  ranks: 8\n"));
  EXPECT_NE(err.find("scenario.yaml:5:10: workload.trace: " + kPyTorch + ": dependency cycle: node "),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("`dependencies: data` follows data_deps only"), std::string::npos) << err;
}

TEST(ChakraReplay, ComputeModelRecostsKernels) {
  const std::string dir = test_dir();
  const std::string path =
      scenario(dir, "  type: chakra_replay\n  trace: " + kPyTorch + "\n  dependencies: data\n");
  const auto recorded = run(path);
  const auto model = run(path, {"workload.compute=model"});
  ASSERT_EQ(model.count("child_failed"), 0u);
  EXPECT_NE(model.at("compute_time_s"), recorded.at("compute_time_s"));
  EXPECT_EQ(model.at("model_fallback_nodes"), 0) << "every kernel of this trace records its tensors";
  EXPECT_EQ(model.at("host_time_s"), recorded.at("host_time_s")) << "host operators keep their recorded time";

  // A kernel with num_ops takes the part's roofline time; one with neither num_ops nor tensors its recorded
  // one.
  write_trace(dir + "/k.et", {{0, "gemm", kComp, 1000, {}, {}, false, -1, -1, -1, 4'000'000'000'000},
                              {1, "unknown", kComp, 25, {0}}});
  const std::string tiny = scenario(dir, "  type: chakra_replay\n  trace: " + dir + "/k.et\n  ranks: 1\n");
  const auto modelled = run(tiny, {"workload.compute=model"});
  const auto& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const double gemm = hw::roofline_time(part, hw::DType::kBf16, Flops::of(4e12), Bytes()).s();
  EXPECT_NEAR(modelled.at("compute_time_s"), gemm + 25e-6, 1e-12);
  EXPECT_EQ(modelled.at("model_fallback_nodes"), 1);
  EXPECT_NEAR(run(tiny).at("compute_time_s"), 1025e-6, 1e-12);
  const auto fp8 = run(tiny, {"workload.compute=model", "workload.precision=fp8"});
  EXPECT_LT(fp8.at("compute_time_s"), modelled.at("compute_time_s"));
}

// One rank's trace in `dir`: A (host, 100 us) -> B (kernel, 50 us) by a data dependency; C (host, 30 us) -ctrl->
// D (kernel, 40 us); E (kernel, 20 us) depends on nothing. Returns the scenario that replays it.
std::string dependency_scenario(const std::string& dir) {
  write_trace(dir + "/d.et", {{1, "A", kComp, 100, {}, {}, true},
                              {2, "B", kComp, 50, {1}},
                              {3, "C", kComp, 30, {}, {}, true},
                              {4, "D", kComp, 40, {}, {3}},
                              {5, "E", kComp, 20}});
  return scenario(dir, "  type: chakra_replay\n  trace: " + dir + "/d.et\n  ranks: 1\n");
}

TEST(ChakraReplay, DependenciesOrderNodesAcrossStreams) {
  const std::string dir = test_dir();
  // E depends on nothing and runs first on the compute stream.
  const std::string path = dependency_scenario(dir);
  const auto text = testing::text_in_child([&] {
    Scenario sc = load_scenario(path);
    auto r = run_scenario(sc);
    char end[64];
    std::snprintf(end, sizeof end, "\nreplay_time_us %.9f", r.metrics.get("replay_time_s") * 1e6);
    return r.timeline_json + end;
  });
  ASSERT_TRUE(text.has_value());
  auto start_of = [&](const std::string& name) {
    const size_t at = text->find("\"name\":\"" + name + "\"");
    if (at == std::string::npos) return -1.0;
    const size_t ts = text->find("\"ts\":", at);
    return std::stod(text->substr(ts + 5));
  };
  // Host stream: A at 0, then C at 100 (both ready at 0: ties by node id). Compute stream: E at 0 (20 us);
  // B once A ends (100); D once C ends (130), but the stream runs B until 150.
  EXPECT_NEAR(start_of("A"), 0, 1e-6);
  EXPECT_NEAR(start_of("E"), 0, 1e-6);
  EXPECT_NEAR(start_of("C"), 100, 1e-6);
  EXPECT_NEAR(start_of("B"), 100, 1e-6) << "B waits for A to finish";
  EXPECT_NEAR(start_of("D"), 150, 1e-6) << "D waits for C (ctrl) and for B on the compute stream";
  EXPECT_NEAR(std::stod(text->substr(text->rfind(' ') + 1)), 190, 1e-6);
  // Without ctrl dependencies D is ready at 0 and runs first (id 4 before E's 5); B still ends at 150.
  EXPECT_NEAR(run(path, {"workload.dependencies=data"}).at("replay_time_s"), 150e-6, 1e-12);
}

// Every dependency edge of a run's timeline, read back from `format`'s file, as "lane:slice -> lane:slice" lines
// (sorted), with the edge count first.
std::string timeline_edges(const std::string& dir, const std::string& path, const std::string& format,
                           std::vector<std::string> overrides = {}) {
  overrides.push_back("outputs.timeline_format=" + format);
  overrides.insert(overrides.begin(), "outputs.timeline_ranks=0");  // the caller's may follow
  const auto text = testing::text_in_child([&] {
    Scenario sc = load_scenario(path, overrides);
    const RunResult r = run_scenario(sc);
    const std::string file = dir + "/timeline." + format;
    std::ofstream(file, std::ios::binary) << (format == "json" ? r.timeline_json : r.timeline_pftrace);
    const timeline::Trace t = timeline::read_timeline(file);
    auto where = [&](timeline::SliceRef x) { return t.tracks[x.track].name + ":" + t.str(t.slice(x).name); };
    std::vector<std::string> lines;
    for (const auto& e : t.flows) lines.push_back(where(e.from) + " -> " + where(e.to));
    std::sort(lines.begin(), lines.end());
    std::string out = std::to_string(lines.size()) + "\n";
    for (const auto& l : lines) out += l + "\n";
    return out;
  });
  return text.value_or("child failed");
}

TEST(ChakraReplay, TimelineCarriesTheGraphsEdgesAndEachMessagesEdge) {
  const std::string dir = test_dir();
  // B waited on A (data), D on C (ctrl); E on nothing.
  const std::string path = dependency_scenario(dir);
  const std::string json = timeline_edges(dir, path, "json");
  EXPECT_EQ(json,
            "2\n"
            "gpu0 cpu:A -> gpu0 compute:B\n"
            "gpu0 cpu:C -> gpu0 compute:D\n");
  EXPECT_EQ(timeline_edges(dir, path, "protobuf"), json);
  // Without ctrl dependencies only the data edge is left.
  EXPECT_EQ(timeline_edges(dir, path, "json", {"workload.dependencies=data"}), "1\ngpu0 cpu:A -> gpu0 compute:B\n");
  // The custom ring all-reduce of CustomRingAllReduceSendsAndReceivesInOrder: on every rank a chain of 35 nodes
  // (34 edges), and each of the 14 messages a rank sends is an edge from its send to the next rank's receive.
  const std::string ring = scenario(dir, "  type: chakra_replay\n  trace: " + kAstra +
                                             "custom_ring_allreduce_8npus_1MB/custom_allreduce\n");
  const std::string edges = timeline_edges(dir, ring, "json");
  EXPECT_EQ(edges.substr(0, edges.find('\n')), std::to_string(8 * 34 + 8 * 14));
  size_t messages = 0;
  for (size_t at = 0; (at = edges.find("gpu0 send:", at)) != std::string::npos; ++at) {
    const size_t eol = edges.find('\n', at);
    messages += edges.substr(at, eol - at).find("-> gpu1 recv:") != std::string::npos;
  }
  EXPECT_EQ(messages, 14u) << "rank 1 receives each of rank 0's messages";
  EXPECT_EQ(timeline_edges(dir, ring, "protobuf"), edges);
}

TEST(ChakraReplay, ACollectiveWaitsOnWhatReleasedEveryMembersCopy) {
  const std::string dir = test_dir();
  // Four ranks: rank r computes work<r> for 10 (r + 1) us, then two all-reduces in a row, then tail. Each
  // all-reduce starts when the last rank joins: every rank's copy waited on what released each member's copy
  // (work<m> on rank m, then rank m's first all-reduce), one edge per member, its own rank's included. On rank 0
  // a metadata node (zero time, not on the timeline) sits between work0 and the all-reduce: work0 still counts.
  for (int r = 0; r < 4; ++r) {
    write_trace(dir + "/c." + std::to_string(r) + ".et",
                {{1, "work" + std::to_string(r), kComp, static_cast<uint64_t>(10 * (r + 1))},
                 {5, "meta", 1, 0, {1}},
                 {2, "ar", kColl, 0, {r == 0 ? 5u : 1u}, {}, false, kAllReduce, 4096},
                 {3, "ar2", kColl, 0, {2}, {}, false, kAllReduce, 4096},
                 {4, "tail", kComp, 5, {3}}});
  }
  const std::string path = scenario(dir, "  type: chakra_replay\n  trace: " + dir + "/c\n");
  std::vector<std::string> lines;
  for (int m = 0; m < 4; ++m) {
    for (int r = 0; r < 4; ++r) {
      const std::string from = "gpu" + std::to_string(m), to = "gpu" + std::to_string(r);
      lines.push_back(from + " compute:work" + std::to_string(m) + " -> " + to + " comm:ar");
      lines.push_back(from + " comm:ar -> " + to + " comm:ar2");
    }
    lines.push_back("gpu" + std::to_string(m) + " comm:ar2 -> gpu" + std::to_string(m) + " compute:tail");
  }
  std::sort(lines.begin(), lines.end());
  std::string expected = std::to_string(lines.size()) + "\n";
  for (const auto& l : lines) expected += l + "\n";
  const std::string json = timeline_edges(dir, path, "json");
  EXPECT_EQ(json, expected) << "16 edges into each all-reduce's four copies, 4 from ar2 to tail";
  EXPECT_EQ(timeline_edges(dir, path, "protobuf"), json);
  // With two ranks on the timeline, only edges between them: each copy on rank 0 or 1 waits on ranks 0 and 1.
  const std::string two = timeline_edges(dir, path, "json", {"outputs.timeline_ranks=2"});
  EXPECT_EQ(two.substr(0, two.find('\n')), std::to_string(2 * 2 + 2 * 2 + 2));
}

TEST(ChakraReplay, TruncatedTraceAndDanglingDependencyAreInputErrors) {
  const std::string dir = test_dir();
  const std::string bytes = slurp(kPyTorch);
  std::ofstream(dir + "/cut.et", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  std::string err = error_of(scenario(dir, "  type: chakra_replay\n  trace: " + dir + "/cut.et\n"));
  EXPECT_NE(err.find("workload.trace: " + dir + "/cut.et: truncated trace: a message of "), std::string::npos)
      << err;
  EXPECT_NE(err.find(" at byte offset "), std::string::npos) << err;
  EXPECT_NE(err.find("(after node id "), std::string::npos) << err;

  write_trace(dir + "/dangling.et", {{1, "A", kComp, 10}, {2, "B", kComp, 10, {1, 99}}});
  err = error_of(scenario(dir, "  type: chakra_replay\n  trace: " + dir + "/dangling.et\n"));
  EXPECT_NE(
      err.find(dir + "/dangling.et: node 2 'B' has a data dependency on node 99, which is not in the trace"),
      std::string::npos)
      << err;

  // A ctrl dependency on an absent node (the real traces have many: parents left out) is dropped and counted.
  write_trace(dir + "/ctrl.et", {{1, "A", kComp, 10, {}, {77}}, {2, "B", kComp, 10, {1}, {2}}});
  const auto m = run(scenario(dir, "  type: chakra_replay\n  trace: " + dir + "/ctrl.et\n  ranks: 2\n"));
  EXPECT_EQ(m.at("ignored_dependencies"), 2 * 2) << "a dangling ctrl dep and a self dep, on each of 2 ranks";
  EXPECT_DOUBLE_EQ(m.at("replay_time_s"), 20e-6);
}

TEST(ChakraReplay, BadKeysNameTheKeyAndTheAllowedRange) {
  const std::string dir = test_dir();
  const std::string set = kAstra + "all_reduce/8npus_1MB/all_reduce";
  std::string err = error_of(scenario(dir, "  type: chakra_replay\n  trace: " + kPyTorch + "\n  ranks: 9\n"));
  EXPECT_NE(err.find("scenario.yaml:6:10: workload.ranks: must be 0..8 (the cluster has 8 GPUs), got 9"),
            std::string::npos)
      << err;
  err = error_of(scenario(dir, "  type: chakra_replay\n  trace: " + set + "\n  ranks: 10\n", 2));
  EXPECT_NE(
      err.find("workload.ranks: the per-rank set has files for ranks 0..7; '" + set + ".8.et' is missing"),
      std::string::npos)
      << err;
  err = error_of(
      scenario(dir, "  type: chakra_replay\n  trace: " + kAstra + "all_reduce/16npus_1MB/all_reduce\n"));
  EXPECT_NE(err.find("workload.ranks: must be 0..8 (the cluster has 8 GPUs), got 16 files"),
            std::string::npos)
      << err;
  err = error_of(scenario(dir, "  type: chakra_replay\n  trace: nowhere/x\n"));
  EXPECT_NE(err.find("workload.trace: no trace file '" +
                     fs::absolute(dir + "/nowhere/x").lexically_normal().string() + "', and no per-rank set"),
            std::string::npos)
      << err << " (relative paths start at the scenario file)";
  err = error_of(scenario(dir, "  type: chakra_replay\n  trace: " + set + "\n  compute: guess\n"));
  EXPECT_NE(err.find("workload.compute: "), std::string::npos) << err;
  EXPECT_NE(err.find("recorded, model"), std::string::npos) << err;
  write_trace(dir + "/gather.et", {{1, "g", kColl, 0, {}, {}, false, kGather, 1024}});
  err = error_of(scenario(dir, "  type: chakra_replay\n  trace: " + dir + "/gather.et\n"));
  EXPECT_NE(err.find("node 1 'g' is a GATHER, which the replay does not support"), std::string::npos) << err;
}

TEST(ChakraReplay, DeadlocksEndWithTheRankNodeAndWhatItWaitsFor) {
  const std::string dir = test_dir();
  // Rank 0 issues an all-reduce that rank 1 never issues.
  write_trace(dir + "/a.0.et",
              {{1, "work", kComp, 5}, {2, "grads", kColl, 0, {1}, {}, false, kAllReduce, 4096}});
  write_trace(dir + "/a.1.et", {{1, "work", kComp, 5}});
  std::string err = error_of(scenario(dir, "  type: chakra_replay\n  trace: " + dir + "/a\n"));
  EXPECT_NE(
      err.find("scenario.yaml:5:10: workload.trace: replay stopped at t=5e-06 s: deadlock: rank 0 node 2 "
               "'grads' (" +
               dir +
               "/a.0.et) waits in collective #1 (ALL_REDUCE, 4096 bytes) for rank 1, "
               "which never issued it"),
      std::string::npos)
      << err;
  // Rank 1 waits for a message rank 0 never sends.
  write_trace(dir + "/b.0.et", {{1, "work", kComp, 5}});
  write_trace(dir + "/b.1.et", {{7, "in", kRecv, 0, {}, {}, false, -1, 64, 0}});
  err = error_of(scenario(dir, "  type: chakra_replay\n  trace: " + dir + "/b\n"));
  EXPECT_NE(err.find("deadlock: rank 1 node 7 'in' (" + dir +
                     "/b.1.et) waits for a message from rank 0 with tag 0, "
                     "which rank 0 never sent"),
            std::string::npos)
      << err;
  // The k-th collectives of two ranks disagree.
  write_trace(dir + "/c.0.et", {{1, "x", kColl, 0, {}, {}, false, kAllReduce, 4096}});
  write_trace(dir + "/c.1.et", {{1, "y", kColl, 0, {}, {}, false, kAllGather, 4096}});
  err = error_of(scenario(dir, "  type: chakra_replay\n  trace: " + dir + "/c\n"));
  EXPECT_NE(
      err.find(
          "collective #1 does not match across ranks: rank 1 issued node 1 'y' (ALL_GATHER, 4096 bytes)"),
      std::string::npos)
      << err;
}

TEST(ChakraReplay, ProcessGroupsMatchTheirOwnCollectives) {
  const std::string dir = test_dir();
  // Ranks 0-1 reduce in group "a", ranks 2-3 in group "b" (twice), then all four together.
  for (int r = 0; r < 4; ++r) {
    const std::string pg = r < 2 ? "a" : "b";
    std::vector<N> nodes = {{1, "pg", kColl, 0, {}, {}, false, kAllReduce, 1 << 20, -1, -1, pg}};
    if (r >= 2) nodes.push_back({2, "pg2", kColl, 0, {1}, {}, false, kAllReduce, 1 << 20, -1, -1, pg});
    nodes.push_back({3, "world", kColl, 0, {r >= 2 ? 2u : 1u}, {}, false, kAllReduce, 1 << 20});
    write_trace(dir + "/pg." + std::to_string(r) + ".et", nodes);
  }
  const auto m = run(scenario(dir, "  type: chakra_replay\n  trace: " + dir + "/pg\n"));
  ASSERT_EQ(m.count("child_failed"), 0u);
  EXPECT_EQ(m.at("collective_calls"), 4);
  EXPECT_EQ(m.at("completed"), 1);
}

TEST(ChakraReplay, ExampleScenariosRun) {
  int n = 0;
  for (const auto& e : fs::directory_iterator("scenarios/examples")) {
    const std::string name = e.path().filename().string();
    if (name.rfind("chakra-replay-", 0) != 0) continue;
    const auto m = run(e.path().string());
    EXPECT_EQ(m.count("child_failed"), 0u) << name;
    EXPECT_EQ(m.at("completed"), 1) << name;
    EXPECT_GT(m.at("replay_time_s"), 0) << name;
    ++n;
  }
  EXPECT_GE(n, 2);
}

TEST(ChakraReplay, EveryKeyIsDocumented) {
  // `lcsim explain` documents the default workload's keys only; docs/chakra-replay.md has this one's table.
  const std::string doc = slurp("docs/chakra-replay.md");
  std::vector<KeyDoc> keys;
  Section s = Section::describer("workload", &keys);
  wl::ChakraReplay replay;
  replay.visit(s);
  ASSERT_GE(keys.size(), 6u);
  for (const KeyDoc& k : keys) {
    const std::string key = k.path.substr(k.path.rfind('.') + 1);
    EXPECT_NE(doc.find("| `" + key + "` | "), std::string::npos) << key << " is not in docs/chakra-replay.md";
  }
}

}  // namespace
}  // namespace lcsim
