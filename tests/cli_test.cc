// The lcsim executable end to end: exit codes, outputs, and bit-for-bit determinism.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct Result {
  int code;
  std::string out;  // stdout and stderr together
};

Result lcsim(const std::string& args) {
  const std::string cmd = std::string(LCSIM_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  Result r{-1, ""};
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Protocol-buffer wire format, enough to write a Chakra trace by hand.
std::string varint(uint64_t v) {
  std::string out;
  for (; v >= 0x80; v >>= 7) out.push_back(static_cast<char>((v & 0x7f) | 0x80));
  out.push_back(static_cast<char>(v));
  return out;
}
std::string field_varint(int field, uint64_t v) { return varint(static_cast<uint64_t>(field) << 3) + varint(v); }
std::string field_bytes(int field, const std::string& b) {
  return varint(static_cast<uint64_t>(field) << 3 | 2) + varint(b.size()) + b;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lcsim_cli_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

const std::string kDemo = "scenarios/examples/gpt-1.3b-dp-h100.yaml";

TEST_F(Cli, RunWritesMetricsTimelineAndResolvedScenario) {
  Result r = lcsim("run " + kDemo + " -o " + dir_.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("throughput"), std::string::npos) << r.out;
  const std::string metrics = slurp(dir_ / "metrics.json");
  for (const char* key : {"\"iteration_time_s\"", "\"tokens_per_s\"", "\"tflops_per_gpu\"", "\"mfu\""}) {
    EXPECT_NE(metrics.find(key), std::string::npos) << key;
  }
  const std::string timeline = slurp(dir_ / "timeline.json");
  EXPECT_EQ(timeline.rfind("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[", 0), 0u);
  EXPECT_NE(timeline.find("\"gpu0 compute\""), std::string::npos);
  EXPECT_NE(timeline.find("\"gpu0 comm\""), std::string::npos);
  EXPECT_NE(timeline.find("links (nic)"), std::string::npos);
  // The resolved scenario runs again to the same metrics.
  Result again = lcsim("run " + (dir_ / "scenario.resolved.yaml").string() + " -q -o " + (dir_ / "again").string());
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_EQ(slurp(dir_ / "again" / "metrics.json"), metrics);
}

TEST_F(Cli, SameSeedGivesByteIdenticalOutputs) {
  for (const char* fidelity : {"flow", "analytical"}) {
    const std::string common = "run " + kDemo + " -q --seed 42 --set simulation.fidelity=" + fidelity + " -o ";
    ASSERT_EQ(lcsim(common + (dir_ / "a").string()).code, 0);
    ASSERT_EQ(lcsim(common + (dir_ / "b").string()).code, 0);
    for (const char* f : {"metrics.json", "timeline.json", "scenario.resolved.yaml"}) {
      const std::string a = slurp(dir_ / "a" / f), b = slurp(dir_ / "b" / f);
      EXPECT_FALSE(a.empty()) << f;
      EXPECT_EQ(a, b) << fidelity << ": " << f << " differs between two runs with the same seed";
    }
  }
}

TEST_F(Cli, BadInputExitsWithTwoAndAClearMessage) {
  Result r = lcsim("run tests/bad_input/unknown_key.yaml -o " + dir_.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown_key.yaml:2:3: cluster.nodse: unknown key 'nodse'; did you mean 'nodes'?"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(lcsim("run no-such-file.yaml").code, 2);
  EXPECT_EQ(lcsim("run " + kDemo + " --frobnicate").code, 2);
  EXPECT_EQ(lcsim("run " + kDemo + " --seed abc").code, 2);
  EXPECT_EQ(lcsim("run " + kDemo + " --set nonsense").code, 2);
  EXPECT_EQ(lcsim("frobnicate").code, 2);
  EXPECT_EQ(lcsim("run scenarios").code, 2);                      // a directory
  EXPECT_EQ(lcsim("run " + kDemo + " -q -o README.md").code, 2);  // an output "directory" that is a file
  EXPECT_EQ(lcsim("").code, 2);
  Result typo = lcsim("rnu x.yaml");
  EXPECT_EQ(typo.code, 2);
  EXPECT_NE(typo.out.find("did you mean 'run'?"), std::string::npos) << typo.out;
}

// An input error found while the run goes (here a bad trace row, read as the trace streams) is printed once, with
// one "error: " (it was printed as "error: error: ...").
TEST_F(Cli, AnInputErrorFoundDuringTheRunIsPrintedOnce) {
  const std::string root = fs::current_path().string();
  {
    std::ofstream t(dir_ / "t.jsonl");
    t << "{\"timestamp\": 0, \"input_length\": 100, \"output_length\": 10, \"hash_ids\": [1]}\n"
      << "{\"timestamp\": \"x\", \"input_length\": 5}\n";
    std::ofstream y(dir_ / "s.yaml");
    y << "base: " << root << "/scenarios/clusters/h100-8.yaml\n"
      << "workload:\n  type: inference_serving\n"
      << "  model: {num_layers: 32, hidden_size: 4096, num_attention_heads: 32, num_kv_heads: 8,\n"
      << "          ffn_hidden_size: 14336, vocab_size: 128256}\n"
      << "  requests: {source: trace, format: mooncake, trace: t.jsonl}\n"
      << "simulation: {fidelity: analytical}\n";
  }
  Result r = lcsim("run " + (dir_ / "s.yaml").string() + " -q -o " + (dir_ / "out").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("error: " + (dir_ / "t.jsonl").string() + ":2: timestamp: expected a number"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("error: error:"), std::string::npos) << r.out;
}

// lcsim validate reads a request trace to the end, so a bad row deep in it is found before any run (exit 2, its
// file and line), and a good trace's row count is reported.
TEST_F(Cli, ValidateReadsRequestTracesToTheEnd) {
  const std::string root = fs::current_path().string();
  {
    std::ofstream t(dir_ / "t.jsonl");
    for (int i = 0; i < 300; ++i)
      t << "{\"timestamp\": " << i << ", \"input_length\": 100, \"output_length\": 10, \"hash_ids\": [1]}\n";
    t << "{\"timestamp\": 300, \"input_length\": -4, \"output_length\": 10, \"hash_ids\": [1]}\n";
    std::ofstream y(dir_ / "s.yaml");
    y << "base: " << root << "/scenarios/clusters/h100-8.yaml\n"
      << "workload:\n  type: inference_serving\n"
      << "  model: {num_layers: 32, hidden_size: 4096, num_attention_heads: 32, num_kv_heads: 8,\n"
      << "          ffn_hidden_size: 14336, vocab_size: 128256}\n"
      << "  requests: {source: trace, format: mooncake, trace: t.jsonl}\n";
  }
  Result bad = lcsim("validate " + (dir_ / "s.yaml").string());
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find((dir_ / "t.jsonl").string() + ":301: input_length"), std::string::npos) << bad.out;
  Result good = lcsim("validate " + (dir_ / "s.yaml").string() + " --set workload.requests.max_requests=300");
  // max_requests does not stop validation early: the whole file is read.
  EXPECT_EQ(good.code, 2) << good.out;
  {
    std::ofstream t(dir_ / "t.jsonl");
    for (int i = 0; i < 300; ++i)
      t << "{\"timestamp\": " << i << ", \"input_length\": 100, \"output_length\": 10, \"hash_ids\": [1]}\n";
  }
  Result ok = lcsim("validate " + (dir_ / "s.yaml").string());
  EXPECT_EQ(ok.code, 0) << ok.out;
  EXPECT_NE(ok.out.find("t.jsonl: 300 requests read, no bad row"), std::string::npos) << ok.out;
}

// outputs.timeline_format auto: past the limit the run switches to timeline.pftrace, and only that file stays (the
// partial timeline.json is deleted); under it, only timeline.json (and a later run in the same folder leaves no
// stale file of the other format).
TEST_F(Cli, AutoTimelineKeepsOnlyTheChosenFile) {
  const fs::path out = dir_ / "out";
  Result big = lcsim("run " + kDemo + " -q --set outputs.timeline_json_limit=1KB -o " + out.string());
  ASSERT_EQ(big.code, 0) << big.out;
  EXPECT_TRUE(fs::exists(out / "timeline.pftrace"));
  EXPECT_FALSE(fs::exists(out / "timeline.json"));
  Result small = lcsim("run " + kDemo + " -q -o " + out.string());
  ASSERT_EQ(small.code, 0) << small.out;
  EXPECT_TRUE(fs::exists(out / "timeline.json"));
  EXPECT_FALSE(fs::exists(out / "timeline.pftrace"));
}

TEST_F(Cli, HelpValidateExplainAndList) {
  for (const char* cmd : {"--help", "run --help", "validate --help", "explain --help", "list --help"}) {
    Result r = lcsim(cmd);
    EXPECT_EQ(r.code, 0) << cmd;
    EXPECT_NE(r.out.find("usage: lcsim"), std::string::npos) << cmd;
  }
  Result v = lcsim("validate " + kDemo);
  EXPECT_EQ(v.code, 0) << v.out;
  Result e = lcsim("explain cluster.fabric.uplink_bandwidth");
  EXPECT_EQ(e.code, 0);
  EXPECT_NE(e.out.find("default: 400Gb/s"), std::string::npos) << e.out;
  Result bad = lcsim("explain cluster.fabric.nic_bandwith");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.out.find("did you mean 'cluster.fabric.nic_bandwidth'?"), std::string::npos) << bad.out;
  Result l = lcsim("list");
  EXPECT_EQ(l.code, 0);
  for (const char* name : {"H100-SXM-80GB", "MI300X", "hgx-h100", "gpt_data_parallel", "ecmp", "spray", "leaf_spine", "analytical"}) {
    EXPECT_NE(l.out.find(name), std::string::npos) << name;
  }
  EXPECT_EQ(lcsim("list gizmos").code, 2);
  // The load-balancing study's fabric: 128 NICs at 50 GB/s on 8 leaves, 16 spines, 1:1.
  Result t = lcsim("topology scenarios/what-if/load-balancing.yaml --dot " + (dir_ / "f.dot").string());
  EXPECT_EQ(t.code, 0) << t.out;
  for (const char* count : {"128 gpu,", " 8 leaf,", " 16 scale_up_switch,", " 16 spine,", " 16 host,",
                            " 1 storage_switch,"}) {
    EXPECT_NE(t.out.find(count), std::string::npos) << count << " in " << t.out;
  }
  EXPECT_NE(t.out.find("bisection bandwidth: 3.2TB/s per direction"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("oversubscription: 1:1"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("diameter: 4 hops"), std::string::npos) << t.out;
  EXPECT_EQ(slurp(dir_ / "f.dot").rfind("graph G {", 0), 0u);
  // 2:1 when half the spines go.
  Result half = lcsim("topology scenarios/what-if/load-balancing.yaml --set cluster.fabric.spines=8");
  EXPECT_NE(half.out.find("oversubscription: 2:1"), std::string::npos) << half.out;
  EXPECT_NE(half.out.find("bisection bandwidth: 1.6TB/s"), std::string::npos) << half.out;
}

TEST_F(Cli, HorizonThatCutsTheRunShortExitsThreeAndSaysSoEvenQuietly) {
  // 1 ms of a 259 ms iteration: the run stops at the horizon with work in flight.
  for (const char* quiet : {"", " -q"}) {
    const fs::path out = dir_ / (std::string("h") + (quiet[0] ? "q" : ""));
    Result r = lcsim("run " + kDemo + quiet + " --set simulation.horizon=1ms -o " + out.string());
    EXPECT_EQ(r.code, 3) << r.out;
    EXPECT_NE(r.out.find("warning: the horizon (simulation.horizon = 1ms) ended the run before the workload "
                         "finished"),
              std::string::npos)
        << quiet << ": " << r.out;
    if (!quiet[0]) {
      EXPECT_NE(r.out.find("\n  INCOMPLETE     simulation.horizon (1 ms) ended the run before the workload finished"),
                std::string::npos)
          << r.out;
    }
    const std::string metrics = slurp(out / "metrics.json");
    EXPECT_NE(metrics.find("\"completed\": 0"), std::string::npos) << metrics;
  }
  // A Chakra all-reduce of 1 PiB (the largest a trace may name) is still in flight at a 1 s horizon. SimGrid's
  // teardown printed a backtrace for each of its 16 unfinished flows, and the run exited 0.
  const std::string node = field_varint(1, 1) + field_bytes(2, "ar") + field_varint(3, 7) +  // COMM_COLL_NODE
                           field_bytes(10, field_bytes(1, "comm_type") + field_varint(9, 0)) +  // ALL_REDUCE
                           field_bytes(10, field_bytes(1, "comm_size") + field_varint(9, uint64_t{1} << 50));
  const std::string metadata = field_bytes(1, "0.0.4");
  const std::string framed_meta = varint(metadata.size()) + metadata, framed_node = varint(node.size()) + node;
  std::ofstream(dir_ / "big.et", std::ios::binary) << framed_meta << framed_node;
  std::ofstream(dir_ / "big.yaml") << "name: big\ncluster: {accelerator: H100-SXM-80GB, nodes: 2, gpus_per_node: 8}\n"
                                      "workload: {type: chakra_replay, trace: big.et, ranks: 16}\n";
  Result big = lcsim("run " + (dir_ / "big.yaml").string() + " -q --set simulation.horizon=1s -o " +
                     (dir_ / "big").string());
  EXPECT_EQ(big.code, 3) << big.out;
  for (const char* noise : {"Backtrace", "backtrace", "xbt_", "freed before"}) {
    EXPECT_EQ(big.out.find(noise), std::string::npos) << noise << " in: " << big.out.substr(0, 2000);
  }
  EXPECT_NE(big.out.find("warning: the horizon (simulation.horizon = 1s) ended the run"), std::string::npos)
      << big.out.substr(0, 2000);

  Result done = lcsim("run " + kDemo + " -q -o " + (dir_ / "done").string());
  EXPECT_EQ(done.code, 0) << done.out;
  EXPECT_NE(slurp(dir_ / "done" / "metrics.json").find("\"completed\": 1"), std::string::npos);
}

TEST_F(Cli, OutputDirectoryMustBeNamedAndNewEmptyOrAnEarlierRun) {
  Result empty = lcsim("run " + kDemo + " -q -o ''");
  EXPECT_EQ(empty.code, 2) << empty.out;
  EXPECT_NE(empty.out.find("-o needs a directory name, got an empty one"), std::string::npos) << empty.out;
  Result root = lcsim("run " + kDemo + " -q -o /");
  EXPECT_EQ(root.code, 2) << root.out;
  EXPECT_NE(root.out.find("will not write into output directory '/': it is not empty and holds no earlier lcsim "
                          "outputs"),
            std::string::npos)
      << root.out;
  EXPECT_FALSE(fs::exists("/metrics.json"));
  EXPECT_EQ(lcsim("run " + kDemo + " -q -o tests").code, 2);  // a source folder
  // A new directory, then the same one again (an earlier run's outputs) are fine.
  EXPECT_EQ(lcsim("run " + kDemo + " -q -o " + (dir_ / "again").string()).code, 0);
  EXPECT_EQ(lcsim("run " + kDemo + " -q -o " + (dir_ / "again").string()).code, 0);
}

TEST_F(Cli, NoInputReachesExitOne) {
  // Each of these used to end in an internal error (exit 1) or a crash; they are bad input (exit 2).
  const std::string long_name(300, 'x');
  const fs::path s = dir_ / "s.yaml";
  std::ofstream(s) << "base: " << long_name << "/c.yaml\n";
  Result r = lcsim("validate " + s.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("base: '" + long_name + "/c.yaml': cannot open: File name too long"), std::string::npos)
      << r.out;
  EXPECT_EQ(lcsim("validate /dev/zero").code, 2);
  EXPECT_EQ(lcsim("run " + long_name + ".yaml").code, 2);
  EXPECT_EQ(lcsim("run " + kDemo + " -q -o " + long_name).code, 2);
  EXPECT_EQ(lcsim("calibrate --part H100-SXM-80GB /dev/zero").code, 2);
  EXPECT_EQ(lcsim("calibrate --part H100-SXM-80GB " + long_name).code, 2);
}

// `lcsim calibrate --part` takes a catalog part or the accelerator a node template defines for itself (the GB200
// NVL72 rack's GB200-GPU); any other name lists both kinds.
TEST_F(Cli, CalibrateTakesANodeTemplatesOwnAccelerator) {
  const std::string csv = "models/hardware/calibration/data/gb200_gemm_fp8_azure.csv";
  Result own = lcsim("calibrate --part GB200-GPU " + csv + " --evaluate");
  EXPECT_EQ(own.code, 0) << own.out;
  EXPECT_NE(own.out.find("GB200-GPU: 9 measurements"), std::string::npos) << own.out;
  Result bad = lcsim("calibrate --part GB200 " + csv);
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find("unknown accelerator 'GB200' (valid: A100-SXM-80GB"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("GB200-GPU (node template gb200-nvl72)"), std::string::npos) << bad.out;
}

TEST_F(Cli, ListCoversEveryRegisteredName) {
  Result all = lcsim("list");
  ASSERT_EQ(all.code, 0) << all.out;
  // Every group, and every name in it, with a description after the name.
  const std::vector<std::pair<std::string, std::vector<std::string>>> groups = {
      {"accelerators", {"H100-SXM-80GB", "B200", "MI300X", "Gaudi3", "Ascend-910B"}},
      {"nodes", {"hgx-h100", "dgx-a100", "gb200-nvl72", "mi300x-platform"}},
      {"workloads", {"chakra_replay", "gpt_data_parallel", "megatron", "nccl_tests", "traffic"}},
      {"load-balancing", {"adaptive", "ecmp", "pinned", "spray"}},
      {"collectives", {"ring", "tree", "hierarchical", "nvls", "halving_doubling"}},
      {"topologies", {"explicit", "leaf_spine"}},
      {"fidelities", {"analytical", "flow"}},
      {"engines", {"queue", "simgrid"}},
      {"distributions", {"exponential", "weibull", "lognormal", "fixed"}},
      {"routing", {"round_robin", "least_outstanding_tokens", "prefix_affinity"}},
      {"admission", {"always", "max_queue", "slo_ttft"}},
      {"autoscaling", {"none", "target_utilization", "concurrency"}},
      {"scheduling", {"fifo", "backfill", "priority", "topology", "hetero", "predictive"}},
      {"storage-tiers", {"hbm", "host_dram", "local_nvme", "parallel_fs", "object_store"}}};
  for (const auto& [group, names] : groups) {
    EXPECT_NE(("\n" + all.out).find("\n" + group + " ("), std::string::npos) << group << " missing from lcsim list";
    Result one = lcsim("list " + group);
    ASSERT_EQ(one.code, 0) << group << ": " << one.out;
    EXPECT_EQ(one.out.rfind(group + " (", 0), 0u) << one.out;
    for (const auto& name : names) {
      const auto at = one.out.find("\n  " + name + " ");
      ASSERT_NE(at, std::string::npos) << group << " lacks " << name << ":\n" << one.out;
      const std::string line = one.out.substr(at + 3, one.out.find('\n', at + 1) - at - 3);
      EXPECT_GT(line.size(), name.size() + 15) << "no description: '" << line << "'";
      EXPECT_NE(all.out.find("\n  " + name + " "), std::string::npos) << name;
    }
  }
  // The groups the README names together.
  Result policies = lcsim("list policies");
  ASSERT_EQ(policies.code, 0) << policies.out;
  for (const char* name : {"ecmp", "spray", "ring", "nvls", "prefix_affinity", "slo_ttft", "concurrency", "backfill"}) {
    EXPECT_NE(policies.out.find(name), std::string::npos) << name;
  }
  EXPECT_EQ(policies.out.find("H100-SXM-80GB"), std::string::npos);
  Result models = lcsim("list models");
  ASSERT_EQ(models.code, 0) << models.out;
  for (const char* name : {"leaf_spine", "analytical", "simgrid", "queue", "weibull", "parallel_fs"}) {
    EXPECT_NE(models.out.find(name), std::string::npos) << name;
  }
  EXPECT_EQ(models.out.find("ecmp"), std::string::npos);
  // An unknown group: exit 2, a suggestion, and every valid group.
  Result typo = lcsim("list polices");
  EXPECT_EQ(typo.code, 2);
  EXPECT_NE(typo.out.find("error: unknown list group 'polices'; did you mean 'policies'? (valid: accelerators, nodes, "
                          "workloads, load-balancing, collectives, routing, admission, autoscaling, scheduling, topologies, "
                          "fidelities, engines, "
                          "distributions, storage-tiers, models, policies)"),
            std::string::npos)
      << typo.out;
}

TEST_F(Cli, ExplainSaysWhichWorkloadTypeAKeyBelongsTo) {
  // workload.precision exists in three workload types with different allowed values: each entry is preceded by
  // its type's heading and tagged with the type.
  Result r = lcsim("explain workload.precision");
  ASSERT_EQ(r.code, 0) << r.out;
  size_t from = 0, entries = 0;
  for (const char* type : {"gpt_data_parallel, the default", "chakra_replay", "megatron"}) {
    const std::string heading = std::string("workload (type: ") + type + "):  (section) ";
    const auto h = r.out.find(heading, from);
    ASSERT_NE(h, std::string::npos) << heading << " in\n" << r.out;
    const std::string short_type = std::string(type).substr(0, std::string(type).find(','));
    const std::string entry = "\nworkload.precision  (workload type: " + short_type + ")\n";
    const auto e = r.out.find(entry, h);
    ASSERT_NE(e, std::string::npos) << entry << " in\n" << r.out;
    from = e + 1;
    ++entries;
  }
  EXPECT_EQ(entries, 3u);
  // Nothing untagged: every "workload.precision" line names its type.
  for (size_t at = 0; (at = r.out.find("\nworkload.precision", at)) != std::string::npos; ++at) {
    EXPECT_EQ(r.out.compare(at, 37, "\nworkload.precision  (workload type: "), 0) << r.out.substr(at, 60);
  }
  // The chakra_replay entry allows int8, the megatron one does not: the tags keep them apart.
  const auto chakra = r.out.find("(workload type: chakra_replay)"), mega = r.out.find("(workload type: megatron)");
  EXPECT_NE(r.out.substr(chakra, mega - chakra).find("int8"), std::string::npos);
  EXPECT_EQ(r.out.substr(mega).find("int8"), std::string::npos);
  // A key only one type has: that type's heading and nothing else.
  Result tp = lcsim("explain workload.tensor_model_parallel_size");
  ASSERT_EQ(tp.code, 0) << tp.out;
  EXPECT_EQ(tp.out.rfind("workload (type: megatron):  (section) ", 0), 0u) << tp.out;
  EXPECT_EQ(tp.out.find("gpt_data_parallel"), std::string::npos) << tp.out;
  // Keys every scenario has carry no tag; the Markdown table keeps the headings too.
  Result seed = lcsim("explain simulation.seed");
  EXPECT_EQ(seed.out.rfind("simulation.seed\n", 0), 0u) << seed.out;
  Result md = lcsim("explain workload.model.num_layers --markdown");
  ASSERT_EQ(md.code, 0) << md.out;
  const auto gpt = md.out.find("| **workload (type: gpt_data_parallel, the default)** | section |");
  const auto meg = md.out.find("| **workload (type: megatron)** | section |");
  ASSERT_NE(gpt, std::string::npos) << md.out;
  ASSERT_NE(meg, std::string::npos) << md.out;
  EXPECT_NE(md.out.find("| `workload.model.num_layers` |", gpt), std::string::npos);
  EXPECT_NE(md.out.find("| `workload.model.num_layers` |", meg), std::string::npos);
}

// Each part and node template added for planning loads, is listed, and runs a small scenario.
TEST_F(Cli, NewCatalogEntriesAreListedAndRun) {
  Result acc = lcsim("list accelerators");
  ASSERT_EQ(acc.code, 0);
  for (const char* part : {"H800-SXM-80GB", "H20", "B300", "MI325X", "TPU-v5p"}) {
    EXPECT_NE(acc.out.find(std::string("\n  ") + part + " "), std::string::npos) << part << " in\n" << acc.out;
  }
  Result nodes = lcsim("list nodes");
  for (const char* node : {"gb300-nvl72", "tpu-v5p-cube"}) {
    EXPECT_NE(nodes.out.find(std::string("\n  ") + node + " "), std::string::npos) << node;
  }
  const std::string workload =
      "workload:\n  type: gpt_data_parallel\n"
      "  model: {num_layers: 4, hidden_size: 1024, num_attention_heads: 8, seq_length: 1024, vocab_size: 32000}\n"
      "  global_batch_size: 576\n  micro_batch_size: 1\nsimulation: {fidelity: analytical}\n"
      "outputs: {timeline: false}\n";
  const std::vector<std::pair<std::string, std::string>> clusters = {
      {"H800-SXM-80GB", "cluster: {accelerator: H800-SXM-80GB, nodes: 2, gpus_per_node: 8}\n"},
      {"H20", "cluster: {accelerator: H20, nodes: 2, gpus_per_node: 8}\n"},
      {"B300", "cluster: {accelerator: B300, nodes: 2, gpus_per_node: 8}\n"},
      {"MI325X", "cluster: {accelerator: MI325X, nodes: 2, gpus_per_node: 8}\n"},
      {"TPU-v5p", "cluster: {accelerator: TPU-v5p, nodes: 2, gpus_per_node: 4}\n"},
      {"GB300-GPU", "cluster: {pools: [{node: gb300-nvl72, count: 1}]}\n"},
      {"TPU-v5p", "cluster: {pools: [{node: tpu-v5p-cube, count: 1}]}\n"}};
  for (const auto& [part, cluster] : clusters) {
    const fs::path file = dir_ / "part.yaml";
    std::ofstream(file) << "name: part-check\n" << cluster << workload;
    Result v = lcsim("validate " + file.string());
    EXPECT_EQ(v.code, 0) << cluster << v.out;
    Result run = lcsim("run " + file.string() + " -q -o " + (dir_ / "out").string());
    ASSERT_EQ(run.code, 0) << cluster << run.out;
    const std::string metrics = slurp(dir_ / "out" / "metrics.json");
    EXPECT_NE(metrics.find("\"accelerator\": \"" + part + "\""), std::string::npos) << metrics.substr(0, 300);
    EXPECT_NE(metrics.find("\"mfu\": 0."), std::string::npos) << cluster << metrics.substr(0, 600);
  }
}

}  // namespace

namespace {

/// The lines of `out` from the one starting with `first` (after its indent) up to the next empty line, each with
/// the newline before it.
std::string block_from(const std::string& out, const std::string& first) {
  const auto at = out.find("\n  " + first);
  if (at == std::string::npos) return "";
  const auto end = out.find("\n\n", at + 1);
  return out.substr(at, end == std::string::npos ? std::string::npos : end - at + 1);
}

/// What the short summary must never show: raw byte counts and long digit runs, exponents, long decimals,
/// metric names, "1 leaves".
void expect_readable(const std::string& text) {
  EXPECT_FALSE(std::regex_search(text, std::regex("[0-9]{7,}"))) << text;
  EXPECT_FALSE(std::regex_search(text, std::regex("[0-9]e[-+]?[0-9]"))) << text;
  EXPECT_FALSE(std::regex_search(text, std::regex("\\.0*[1-9][0-9]{3,}"))) << text;
  EXPECT_FALSE(std::regex_search(text, std::regex("[a-z]_(s|bytes|per_s|mwh|kw)\\b"))) << text;
  EXPECT_EQ(text.find("1 leaves"), std::string::npos) << text;
}

}  // namespace

TEST_F(Cli, ShortSummaryFirstDetailBehindVerboseAndInReport) {
  Result r = lcsim("run " + kDemo + " -o " + (dir_ / "a").string());
  ASSERT_EQ(r.code, 0) << r.out;
  // The header (what will be simulated), then the summary: about ten lines, every one a person reads.
  const auto header = r.out.find("lcsim 0.1.0: gpt-1.3b-dp-h100-64\n  pool nodes: 8 x ");
  const auto summary = r.out.find("\n  iteration      ");
  ASSERT_NE(header, std::string::npos) << r.out;
  ASSERT_NE(summary, std::string::npos) << r.out;
  EXPECT_LT(header, summary);
  EXPECT_NE(r.out.find("  workload: GPT 1.32B params"), std::string::npos) << r.out;
  const std::string lines = block_from(r.out, "iteration      ");
  for (const char* label : {"iteration      ", "throughput     ", "memory per GPU 42 GB of 85.5 GB HBM (49.1%)",
                            "simulated run  ", "job length     ",
                            // the family's row count is validation_status_test's to check against docs/validation.md
                            "Confidence: H100 dense training: validated on "}) {
    EXPECT_NE(lines.find(std::string("\n  ") + label), std::string::npos) << label << " in\n" << lines;
  }
  EXPECT_LE(std::count(lines.begin(), lines.end(), '\n'), 10) << lines;
  expect_readable(r.out.substr(0, r.out.find("\n  wall time")));
  EXPECT_EQ(r.out.find("memory_per_gpu_bytes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("outputs in " + (dir_ / "a").string() + "/ (report.txt: every detail"), std::string::npos);

  // report.txt: header, summary and every metric with its meaning, whole numbers in full; deterministic.
  const std::string report = slurp(dir_ / "a" / "report.txt");
  EXPECT_EQ(report.rfind("lcsim 0.1.0: gpt-1.3b-dp-h100-64\n", 0), 0u) << report;
  EXPECT_NE(report.find(lines), std::string::npos) << report;
  EXPECT_TRUE(std::regex_search(report, std::regex("\n  memory_per_gpu_bytes +41994985472   memory needed per GPU")))
      << report;
  EXPECT_NE(report.find("  link_util_max_spine "), std::string::npos) << report;
  EXPECT_EQ(report.find("wall time"), std::string::npos);

  // --verbose prints the same detail after the summary; -q prints nothing and still writes report.txt.
  Result v = lcsim("run " + kDemo + " --verbose -o " + (dir_ / "v").string());
  ASSERT_EQ(v.code, 0) << v.out;
  const auto detail = v.out.find("41994985472   memory needed per GPU");
  EXPECT_NE(detail, std::string::npos) << v.out;
  EXPECT_LT(v.out.find("\n  iteration      "), detail);
  EXPECT_EQ(slurp(dir_ / "v" / "report.txt"), report);
  Result q = lcsim("run " + kDemo + " -q -o " + (dir_ / "q").string());
  ASSERT_EQ(q.code, 0) << q.out;
  EXPECT_EQ(q.out, "");
  EXPECT_EQ(slurp(dir_ / "q" / "report.txt"), report);
}

TEST_F(Cli, SummaryPerWorkloadKind) {
  // nccl-tests: bus bandwidth at a few sizes, in GB/s, and where the tuner switches algorithm; H100 collectives
  // are validated inside one node only, so this 16-GPU run is outside the rows' range.
  Result n = lcsim("run scenarios/examples/nccl-tests-h100.yaml -o " + (dir_ / "n").string());
  ASSERT_EQ(n.code, 0) << n.out;
  const std::string nccl = block_from(n.out, "collective     ");
  EXPECT_NE(nccl.find("collective     all_reduce on 16 ranks, 28 sizes from 8 B to 1 GiB"), std::string::npos) << nccl;
  EXPECT_TRUE(std::regex_search(nccl, std::regex("bus bandwidth  1 MiB [0-9.]+ GB/s, 16 MiB [0-9.]+ GB/s, 256 MiB "
                                                 "[0-9.]+ GB/s, 1 GiB [0-9.]+ GB/s\n")))
      << nccl;
  EXPECT_TRUE(std::regex_search(nccl, std::regex("algorithm      tree(/[a-z0-9]+)? up to [0-9]+ MiB, ring(/[a-z0-9]+)? from [0-9]+ MiB\n"))) << nccl;
  EXPECT_NE(nccl.find("Confidence: H100 NCCL all-reduce in one node: validated on 15 measured configurations ("),
            std::string::npos)
      << nccl;
  EXPECT_NE(nccl.find("this run is outside that range: 16 GPUs (validated: 2 to 8)"), std::string::npos) << nccl;
  expect_readable(nccl);
  EXPECT_EQ(n.out.find("link_util_max_management"), std::string::npos) << n.out;
  EXPECT_NE(slurp(dir_ / "n" / "report.txt").find("#       size         count      type"), std::string::npos);

  // Traffic: flow completion time percentiles.
  Result t = lcsim("run scenarios/what-if/load-balancing.yaml -o " + (dir_ / "t").string());
  ASSERT_EQ(t.code, 0) << t.out;
  const std::string traffic = block_from(t.out, "flows          ");
  EXPECT_NE(traffic.find("makespan       85.9 ms, 25% of ideal (21.5 ms with every sender at its NIC rate)"),
            std::string::npos)
      << traffic;
  EXPECT_TRUE(std::regex_search(traffic, std::regex("flow completion mean [0-9.]+ ms, p50 [0-9.]+ ms, p90 [0-9.]+ ms, "
                                                    "p99 85.9 ms, max 85.9 ms\n")))
      << traffic;
  expect_readable(traffic);

  // Several jobs: one line per job, then the cluster; a confidence line per job.
  Result j = lcsim("run scenarios/examples/shared-cluster-jobs.yaml -o " + (dir_ / "j").string());
  ASSERT_EQ(j.code, 0) << j.out;
  const std::string jobs = block_from(j.out, "job train      ");
  EXPECT_TRUE(std::regex_search(jobs, std::regex("job train      dense training on 32 GPUs, from 0 s to [0-9.]+ ms: "
                                                 "iteration [0-9.]+ ms, [0-9.]+ M tokens/s, MFU [0-9.]+%\n")))
      << jobs;
  EXPECT_TRUE(std::regex_search(jobs, std::regex("job bench      collectives on 32 GPUs, from [0-9]+ ms to [0-9.]+ ms: "
                                                 "all_reduce bus bandwidth 64 MiB [0-9.]+ GB/s, 256 MiB")))
      << jobs;
  EXPECT_NE(jobs.find("\n  cluster        2 of 2 jobs finished"), std::string::npos) << jobs;
  EXPECT_NE(jobs.find("\n  Confidence: train: H100 dense training: validated"), std::string::npos) << jobs;
  EXPECT_NE(jobs.find("\n  Confidence: bench: H100 NCCL all-reduce in one node: validated"), std::string::npos) << jobs;
  EXPECT_NE(jobs.find("outside that range: 32 GPUs (validated: 2 to 8)"), std::string::npos) << jobs;
  expect_readable(jobs);
}

TEST_F(Cli, ConfidenceOfAValidatedCollectivesFamily) {
  // The DGX A100 NCCL scenario is the one docs/validation.md holds against vidur's measurements.
  Result r = lcsim("run scenarios/validation/nccl-a100-dgx.yaml -o " + (dir_ / "a").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("\n  Confidence: A100 NCCL collectives: validated on 9 measured configurations ("),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(", mean |error| 10.4%, max 59.0% (docs/validation.md)\n"), std::string::npos) << r.out;
}
