// The accelerator and node-template catalogs parse an entry on first use (models/hardware/spec_catalog.h): a run
// reads only what it names, the names come from each file's `name:` line, and lookups from several threads agree.
// Each TEST runs in its own process (ctest), so the catalogs start unparsed in each.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "models/hardware/catalog.h"
#include "models/hardware/node.h"
#include "scenarios/scenario.h"
#include "sim/config_tree.h"

namespace lcsim {
namespace {

TEST(CatalogLazy, ALookupParsesOnlyTheEntryItNames) {
  const auto& parts = hw::PartCatalog::get();
  EXPECT_EQ(parts.parsed(), 0u);
  EXPECT_TRUE(parts.contains("MI300X"));  // names without parsing
  EXPECT_EQ(parts.names().size(), 12u);   // the 12 files of models/hardware/catalog/accelerators
  EXPECT_EQ(parts.parsed(), 0u);
  EXPECT_EQ(parts.part("MI300X").vendor, "AMD");
  EXPECT_EQ(parts.parsed(), 1u);
  EXPECT_EQ(parts.part("MI300X").name, "MI300X");  // the second lookup reuses it
  EXPECT_EQ(parts.parsed(), 1u);
  // A node template parses the part it names, not the others.
  const auto& nodes = hw::NodeCatalog::get();
  EXPECT_EQ(nodes.node("dgx-a100").accelerator.name, "A100-SXM-80GB");
  EXPECT_EQ(nodes.parsed(), 1u);
  EXPECT_EQ(parts.parsed(), 2u);
}

TEST(CatalogLazy, EveryNameReadFromItsFileIsItsParsedName) {
  const auto& parts = hw::PartCatalog::get();
  const std::vector<std::string> names = parts.names();
  ASSERT_EQ(parts.parts().size(), names.size());  // parses every entry (a mismatch throws there)
  for (const auto& p : parts.parts()) EXPECT_TRUE(parts.contains(p.name)) << p.name;
  const auto& nodes = hw::NodeCatalog::get();
  ASSERT_EQ(nodes.nodes().size(), nodes.names().size());
  for (const auto& n : nodes.nodes()) EXPECT_EQ(nodes.node(n.name).name, n.name);
  EXPECT_EQ(parts.parsed(), names.size());
}

TEST(CatalogLazy, AScenarioParsesOnlyThePartsAndTemplatesItUses) {
  const Scenario sc = load_scenario("scenarios/training/gpt3-175b-a100-1024.yaml", {});
  EXPECT_EQ(sc.cluster.pools.at(0).node.accelerator.name, "A100-SXM-80GB");
  // dgx-a100, its A100, and the H100 every cluster starts from (ClusterConfig's shorthand default).
  EXPECT_EQ(hw::NodeCatalog::get().parsed(), 1u);
  EXPECT_EQ(hw::PartCatalog::get().parsed(), 2u);
}

TEST(CatalogLazy, AShorthandClusterParsesTemplatesOnlyUpToTheFirstWithItsPart) {
  // The shorthand's host power comes from the first template (catalog order) holding the H100, hgx-h100: the
  // templates before it in names() and it are parsed, none after it. Its place is read, not assumed (a new
  // template may sort before it: hgx-b200 does).
  const std::vector<std::string> names = hw::NodeCatalog::get().names();
  const auto at = std::find(names.begin(), names.end(), "hgx-h100");
  ASSERT_NE(at, names.end());
  ASSERT_LT(at + 1, names.end()) << "a template after hgx-h100 shows that parsing stops there";
  const Scenario sc = load_scenario("scenarios/examples/gpt-1.3b-dp-h100.yaml", {});
  EXPECT_NE(sc.cluster.pools.at(0).node.description.find("node template hgx-h100"), std::string::npos)
      << sc.cluster.pools.at(0).node.description;
  EXPECT_EQ(hw::NodeCatalog::get().parsed(), static_cast<size_t>(at - names.begin()) + 1);
}

TEST(CatalogLazy, LookupsFromSeveralThreadsGetTheSameEntries) {
  const auto& parts = hw::PartCatalog::get();
  const std::vector<std::string> names = parts.names();
  // Each thread looks the parts up in its own order, all at once; every thread must see each part's one copy.
  constexpr int kThreads = 8;
  std::vector<std::vector<const hw::AcceleratorSpec*>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (size_t k = 0; k < names.size(); ++k) {
        const size_t i = (k + static_cast<size_t>(t) * 5) % names.size();
        seen[t].push_back(&parts.part(names[i]));
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    for (size_t k = 0; k < names.size(); ++k) {
      const size_t i = (k + static_cast<size_t>(t) * 5) % names.size();
      EXPECT_EQ(seen[t][k], &parts.part(names[i]));
      EXPECT_EQ(seen[t][k]->name, names[i]);
    }
  }
  EXPECT_EQ(parts.parsed(), names.size());
}

}  // namespace
}  // namespace lcsim
