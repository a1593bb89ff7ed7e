#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "scenarios/scenario.h"
#include "workloads/training/data_parallel.h"

namespace lcsim {
namespace {

const std::string kExample = "scenarios/examples/gpt-1.3b-dp-h100.yaml";

TEST(Scenario, ExampleLoadsWithItsBaseCluster) {
  Scenario sc = load_scenario(kExample);
  EXPECT_EQ(sc.name, "gpt-1.3b-dp-h100-64");
  EXPECT_EQ(sc.cluster.nodes, 8);  // from ../clusters/h100-64.yaml
  EXPECT_EQ(sc.cluster.accelerator.name, "H100-SXM-80GB");
  auto* w = dynamic_cast<wl::GptDataParallel*>(sc.workload.get());
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->config().model.num_layers, 24);
  EXPECT_TRUE(w->config().overlap_grad_reduce);
}

TEST(Scenario, EveryShippedScenarioValidates) {
  int n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator("scenarios")) {
    if (e.path().extension() != ".yaml") continue;
    EXPECT_NO_THROW(load_scenario(e.path().string())) << e.path();
    ++n;
  }
  EXPECT_GE(n, 4);
}

TEST(Scenario, CommandLineOverridesWin) {
  Scenario sc = load_scenario(kExample, {"cluster.nodes=16", "simulation.fidelity=analytical",
                                         "cluster.fabric.nic_bandwidth=200Gb/s"});
  EXPECT_EQ(sc.cluster.nodes, 16);
  EXPECT_EQ(sc.simulation.fidelity, "analytical");
  EXPECT_DOUBLE_EQ(sc.cluster.fabric.nic_bandwidth.bps(), 25e9);
  try {
    load_scenario(kExample, {"cluster.nodes=lots"});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "error: --set 'cluster.nodes=lots': cluster.nodes: expected an integer, got 'lots'");
  }
}

TEST(Scenario, ResolvedYamlReloadsToTheSameResolvedYaml) {
  Scenario sc = load_scenario(kExample, {"cluster.fabric.link_latency=0.7us"});
  const std::string first = resolved_yaml(sc);
  const auto path = std::filesystem::temp_directory_path() / "lcsim_resolved_test.yaml";
  std::ofstream(path) << first;
  Scenario again = load_scenario(path.string());
  EXPECT_EQ(resolved_yaml(again), first);
  EXPECT_NE(first.find("link_latency: 700ns"), std::string::npos);
  EXPECT_NE(first.find("cost:\n  pue: 1.3"), std::string::npos);  // defaults are written out
  std::filesystem::remove(path);
}

TEST(Scenario, ExplainCoversEveryKeyWithHelp) {
  const auto docs = describe_scenario_keys();
  std::set<std::string> paths;
  for (const auto& d : docs) {
    EXPECT_FALSE(d.help.empty()) << d.path;
    EXPECT_TRUE(paths.insert(d.path).second) << "described twice: " << d.path;
  }
  for (const char* key : {"base", "cluster.nodes", "cluster.fabric.nic_bandwidth", "workload.model.num_layers",
                          "workload.global_batch_size", "policies.load_balancing", "simulation.seed",
                          "simulation.fidelity", "outputs.timeline"}) {
    EXPECT_TRUE(paths.count(key)) << key;
  }
}

// docs/scenarios.md embeds `lcsim explain --markdown`; this keeps it from drifting.
TEST(Docs, ScenarioReferenceMatchesExplain) {
  std::ifstream in("docs/scenarios.md");
  ASSERT_TRUE(in) << "docs/scenarios.md missing";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  const std::string begin = "<!-- BEGIN lcsim explain --markdown -->\n", end = "<!-- END lcsim explain -->";
  const auto b = doc.find(begin), e = doc.find(end);
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(e, std::string::npos);
  const std::string table = doc.substr(b + begin.size(), e - b - begin.size());
  const std::string cmd = std::string(LCSIM_BINARY) + " explain --markdown";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ASSERT_EQ(pclose(p), 0);
  EXPECT_EQ(table, out) << "regenerate the table: lcsim explain --markdown";
}

}  // namespace
}  // namespace lcsim
