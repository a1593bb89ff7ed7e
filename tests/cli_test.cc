// The lcsim executable end to end: exit codes, outputs, and bit-for-bit determinism.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

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
  EXPECT_NE(r.out.find("iteration_time_s"), std::string::npos);
  EXPECT_NE(r.out.find("tflops_per_gpu"), std::string::npos);
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

}  // namespace
