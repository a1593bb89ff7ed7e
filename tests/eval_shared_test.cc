// What evaluations share (EvalContext, scenarios/fabric.h): a fabric built once per distinct cluster and read by
// every evaluation of it, on any thread. Shared or not, an evaluation gives the same results, bit for bit; a fabric
// is never reused for a cluster whose fabric differs in any key it is built from; a shared fabric is read-only.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "eval/batch.h"
#include "eval/evaluate.h"
#include "scenarios/fabric.h"
#include "scenarios/scenario.h"

namespace lcsim {
namespace {

const std::string kSource = LCSIM_SOURCE_DIR;
const std::string k175b = kSource + "/scenarios/training/gpt3-175b-a100-1024.yaml";
const std::string k70b = kSource + "/scenarios/training/llama3-70b-h100-1024.yaml";

Scenario load(const std::string& file, std::vector<std::string> sets) {
  sets.push_back("workload.global_batch_size=256");  // a short iteration
  return load_scenario(file, sets);
}

std::string alone(const Scenario& sc) {
  const Result r = evaluate(sc);  // no context: the evaluation builds its own fabric
  EXPECT_TRUE(r.ok()) << r.error;
  return r.metrics.to_json();
}

// Evaluations of four clusters (two fabrics of the 175B scenario's A100 cluster, the 70B scenario's H100 one, and
// a changed fabric of it), each scenario three times, spread over four threads with one shared context: every
// result is the one its scenario gives alone, and each distinct fabric was built once.
TEST(SharedSetup, DifferentClustersOnSeveralThreadsGiveTheirOwnSingleThreadResults) {
  std::vector<Scenario> scenarios;
  scenarios.push_back(load(k175b, {}));
  scenarios.push_back(load(k175b, {"cluster.pools[0].count=64"}));
  scenarios.push_back(load(k70b, {}));
  scenarios.push_back(load(k70b, {"cluster.fabric.spines=8"}));
  scenarios.push_back(load(k175b, {"workload.tensor_model_parallel_size=4"}));  // the first cluster again
  std::vector<std::string> single;
  for (const auto& sc : scenarios) single.push_back(alone(sc));
  for (size_t i = 1; i < single.size(); ++i) EXPECT_NE(single[i], single[i - 1]) << i;

  EvalContext context;
  BatchOptions options;
  options.threads = 4;
  options.eval.context = &context;
  std::vector<const Scenario*> batch;
  for (int round = 0; round < 3; ++round) {
    for (const auto& sc : scenarios) batch.push_back(&sc);
  }
  const std::vector<Result> results = evaluate_batch(batch, options);
  ASSERT_EQ(results.size(), batch.size());
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].error;
    EXPECT_EQ(results[i].metrics.to_json(), single[i % scenarios.size()]) << "evaluation " << i;
  }
  EXPECT_EQ(context.fabrics.builds(), 4u);
  // The batch's own context (none given) shares too, with the same results.
  BatchOptions two;
  two.threads = 2;
  const std::vector<Result> own = evaluate_batch(batch, two);
  for (size_t i = 0; i < own.size(); ++i) EXPECT_EQ(own[i].metrics.to_json(), single[i % scenarios.size()]) << i;
}

// Each key the fabric is built from, changed alone, gets a fabric of its own (a new build), and the evaluation
// gives what it gives without a context; keys the fabric is not built from (the workload, the seed, the cost
// model) share the first one, with the same results as alone.
TEST(SharedSetup, AFabricIsNotReusedForAClusterWhoseFabricDiffersInAnyKey) {
  const std::vector<std::vector<std::string>> fabric_keys = {
      {"cluster.pools[0].count=64"},
      {"cluster.pools[0].node=hgx-h100"},
      {"cluster.topology=leaf_spine", "cluster.fabric.tiers=3", "cluster.fabric.leaves_per_pod=4"},
      {"cluster.fabric.spines=10"},
      {"cluster.fabric.ports_per_leaf=40"},
      {"cluster.fabric.uplink_bandwidth=400Gb/s"},
      {"cluster.fabric.link_latency=1us"},
      {"cluster.fabric.rail_optimized=false"},
      {"cluster.fabric.nic_bandwidth=100Gb/s"},
      {"cluster.fabric.scale_up_bandwidth=300GB/s"},
      {"cluster.fabric.scale_up_latency=1us"},
      {"cluster.fabric.planes=2"},
      {"cluster.fabric.dual_tor=true"},
      {"cluster.fabric.failed=[spine3]"},
      {"cluster.fabric.host_networks=false"},
  };
  EvalContext context;
  EvalOptions shared;
  shared.context = &context;
  const Scenario base = load(k175b, {});
  const std::string base_alone = alone(base);
  ASSERT_EQ(evaluate(base, shared).metrics.to_json(), base_alone);
  ASSERT_EQ(context.fabrics.builds(), 1u);
  size_t builds = 1;
  for (const auto& sets : fabric_keys) {
    const Scenario sc = load(k175b, sets);
    const Result r = evaluate(sc, shared);
    ASSERT_TRUE(r.ok()) << sets.front() << ": " << r.error;
    EXPECT_EQ(context.fabrics.builds(), ++builds) << sets.front() << " reused a fabric of another cluster";
    EXPECT_EQ(r.metrics.to_json(), alone(sc)) << sets.front();
  }
  for (const auto& sets : std::vector<std::vector<std::string>>{
           {"workload.tensor_model_parallel_size=4"}, {"simulation.seed=7"}, {"cost.pue=1.3"}}) {
    const Scenario sc = load(k175b, sets);
    const Result r = evaluate(sc, shared);
    ASSERT_TRUE(r.ok()) << sets.front() << ": " << r.error;
    EXPECT_EQ(context.fabrics.builds(), builds) << sets.front() << " built a fabric equal to the first";
    EXPECT_EQ(r.metrics.to_json(), alone(sc)) << sets.front();
  }
  // And the first cluster again: its fabric was kept.
  EXPECT_EQ(evaluate(base, shared).metrics.to_json(), base_alone);
  EXPECT_EQ(context.fabrics.builds(), builds);
}

// A fabric from the cache is frozen: what would change it (a link down, a bandwidth, a failure by name) is an
// internal error, not a change another evaluation would see; a fabric a run builds for itself is not frozen.
TEST(SharedSetup, ASharedFabricIsReadOnly) {
  const Scenario sc = load(k175b, {});
  FabricCache cache;
  const SharedFabric f = cache.get(sc.cluster);
  ASSERT_TRUE(f.topology && f.topology->frozen());
  EXPECT_EQ(cache.get(sc.cluster).topology, f.topology);  // the same object, not an equal one
  EXPECT_THROW(f.topology->set_link_up(0, false), std::logic_error);
  EXPECT_THROW(f.topology->set_link_bandwidth(0, Bandwidth::gbits_per_s(1)), std::logic_error);
  EXPECT_THROW(f.topology->fail("spine3"), std::logic_error);
  EXPECT_TRUE(f.topology->link_up(0));
  EXPECT_EQ(f.tables->switch_ports, fabric_switch_ports(*build_fabric(sc.cluster)));
  EXPECT_FALSE(build_fabric(sc.cluster)->frozen());
  // A cluster the builder rejects comes back as its error, and nothing is kept for it.
  const Scenario bad = load(k175b, {});
  ClusterConfig broken = bad.cluster;
  broken.fabric.failed = {"no-such-switch"};
  EXPECT_THROW(cache.get(broken), InputError);
  EXPECT_EQ(cache.builds(), 1u);
}

}  // namespace
}  // namespace lcsim
