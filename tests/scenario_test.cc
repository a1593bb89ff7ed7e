#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "scenarios/scenario.h"
#include "test_support.h"
#include <sys/wait.h>
#include <unistd.h>
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
    if (e.path().parent_path().filename() == "sweeps") continue;  // sweep plans: sweep_run_test loads them
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
  // Each workload type's keys come under a "workload (type: X...)" heading, each load-balancing policy's under
  // "policies.load_balancing (type: X)": the same key may appear once per type.
  std::string type;
  for (const auto& d : docs) {
    EXPECT_FALSE(d.help.empty()) << d.path;
    if (d.path.find(" (type: ") != std::string::npos) type = d.path;
    const bool typed = d.path.rfind("workload.", 0) == 0 || d.path.rfind("policies.load_balancing.", 0) == 0;
    const std::string key = typed ? type + "/" + d.path : d.path;
    EXPECT_TRUE(paths.insert(key).second) << "described twice: " << key;
  }
  EXPECT_TRUE(paths.count("workload (type: megatron)/workload.tensor_model_parallel_size"));
  for (const char* key : {"base", "cluster.nodes", "cluster.fabric.nic_bandwidth",
                          "workload (type: gpt_data_parallel, the default)/workload.model.num_layers",
                          "workload (type: gpt_data_parallel, the default)/workload.global_batch_size",
                          "policies.load_balancing", "simulation.seed",
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

namespace lcsim {
namespace {

const char* kMixed = R"(
name: mixed
cluster:
  pools:
    - {node: hgx-h100, count: 1}
    - {node: dgx-a100, count: 1}
  fabric: {ports_per_leaf: 64}
workload:
  model: {num_layers: 4, hidden_size: 2048, num_attention_heads: 16, seq_length: 2048}
  global_batch_size: 32
  micro_batch_size: 2
  overlap_grad_reduce: true
simulation: {fidelity: analytical}
outputs: {timeline: false}
)";

MetricSet run_yaml(const std::string& yaml, const std::vector<std::string>& sets) {
  ConfigValue tree = parse_yaml_text(yaml, "mixed.yaml");
  for (const auto& s : sets) apply_override(tree, s);
  Scenario sc = parse_scenario(tree);
  return run_scenario(sc).metrics;
}

TEST(Heterogeneous, MixedPoolsRunEachGpuOnItsOwnPartAndWaitForTheSlowest) {
  Scenario sc = parse_scenario(parse_yaml_text(kMixed, "mixed.yaml"));
  const auto gpus = cluster_gpus(sc.cluster);
  ASSERT_EQ(gpus.size(), 16u);
  EXPECT_EQ(gpus[0].part->name, "H100-SXM-80GB");
  EXPECT_EQ(gpus[15].part->name, "A100-SXM-80GB");
  auto mixed = testing::metrics_in_child([&] { return run_yaml(kMixed, {}); });
  ASSERT_FALSE(mixed.count("child_failed"));
  // All-H100 and all-A100 references of the same size.
  const std::string h = "cluster.pools=[{node: hgx-h100, count: 2}]", a = "cluster.pools=[{node: dgx-a100, count: 2}]";
  auto all_h = testing::metrics_in_child([&] { return run_yaml(kMixed, {h}); });
  auto all_a = testing::metrics_in_child([&] { return run_yaml(kMixed, {a}); });
  ASSERT_FALSE(all_h.count("child_failed") || all_a.count("child_failed"));
  // The A100s set the pace: compute is theirs, and the iteration is far slower than on H100s alone.
  EXPECT_DOUBLE_EQ(mixed["compute_time_s"], all_a["compute_time_s"]);
  EXPECT_GT(mixed["iteration_time_s"], 2 * all_h["iteration_time_s"]);
  EXPECT_GE(mixed["iteration_time_s"], all_a["compute_time_s"]);
  // MFU is against the sum of both parts' peaks: between the two pure clusters'.
  EXPECT_GT(mixed["mfu"], 0);
  // Energy and cost are reported for every run.
  EXPECT_GT(mixed["energy_mwh"], 0);
  EXPECT_DOUBLE_EQ(mixed["gpu_hours"], 16 * mixed["sim_time_s"] / 3600);
  EXPECT_GT(mixed["cost_total"], mixed["cost_gpu_hours"]);
}

TEST(Heterogeneous, ShorthandAndPoolsCannotBeMixed) {
  ConfigValue tree = parse_yaml_text(kMixed, "m.yaml");
  apply_override(tree, "cluster.gpus_per_node=4");
  try {
    parse_scenario(tree);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "error: --set 'cluster.gpus_per_node=4': cluster.gpus_per_node: give either pools or the "
                           "shorthand keys (accelerator, nodes, gpus_per_node)");
  }
}

TEST(Scenario, AcceleratorCanUseACalibrationFile) {
  const auto dir = std::filesystem::temp_directory_path() / ("lcsim_cal_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "cal.yaml") << "part: H100-SXM-80GB\ncalibration:\n  gemm_efficiency: 0.5\n  kernel_launch: 9us\n";
  std::ofstream(dir / "s.yaml") << "cluster:\n  accelerator: {base: H100-SXM-80GB, calibration_file: cal.yaml}\n";
  Scenario sc = load_scenario((dir / "s.yaml").string());
  EXPECT_DOUBLE_EQ(sc.cluster.accelerator.calibration.gemm_efficiency, 0.5);
  EXPECT_DOUBLE_EQ(sc.cluster.accelerator.calibration.kernel_launch.s(), 9e-6);
  EXPECT_DOUBLE_EQ(sc.cluster.pools[0].node.accelerator.calibration.gemm_efficiency, 0.5);
  // A part in its own file, with an override on top.
  std::ofstream(dir / "gpu.yaml") << "name: LabGPU\nvendor: lab\ndense_peak: {bf16: 500TFLOP/s}\nhbm_capacity: 48GB\n"
                                     "hbm_bandwidth: 2TB/s\nscale_up_bandwidth: 200GB/s\ntdp: 500W\n";
  std::ofstream(dir / "u.yaml") << "cluster:\n  accelerator: {file: gpu.yaml, hbm_capacity: 64GB}\n";
  Scenario lab = load_scenario((dir / "u.yaml").string());
  EXPECT_EQ(lab.cluster.accelerator.name, "LabGPU");
  EXPECT_DOUBLE_EQ(lab.cluster.accelerator.hbm_capacity.bytes(), 64e9);
  EXPECT_DOUBLE_EQ(lab.cluster.accelerator.peak(hw::DType::kBf16).flop_per_s(), 500e12);
  std::ofstream(dir / "t.yaml") << "cluster:\n  accelerator: {base: A100-SXM-80GB, calibration_file: cal.yaml}\n";
  try {
    load_scenario((dir / "t.yaml").string());
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'cal.yaml' calibrates H100-SXM-80GB, not A100-SXM-80GB"), std::string::npos)
        << e.what();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lcsim

namespace lcsim {
namespace {

// The load-balancing study's permutation: spraying reaches the non-blocking ideal on a 1:1 fabric; per-flow ECMP
// collides on spine links and reaches less.
TEST(Traffic, SprayingReachesTheIdealOnANonBlockingFabricAndEcmpDoesNot) {
  auto spray = testing::metrics_in_child([] {
    Scenario sc = load_scenario("scenarios/what-if/load-balancing.yaml", {"policies.load_balancing=spray"});
    return run_scenario(sc).metrics;
  });
  auto ecmp = testing::metrics_in_child([] {
    Scenario sc = load_scenario("scenarios/what-if/load-balancing.yaml", {"policies.load_balancing=ecmp"});
    return run_scenario(sc).metrics;
  });
  ASSERT_FALSE(spray.count("child_failed") || ecmp.count("child_failed"));
  EXPECT_DOUBLE_EQ(spray["flows"], 128);
  // Ideal: 1 GiB at 50 GB/s per sender.
  EXPECT_NEAR(spray["ideal_makespan_s"], 1073741824.0 / 50e9, 1e-12);
  EXPECT_NEAR(spray["throughput_percent_of_ideal"], 100, 0.1);
  EXPECT_LT(ecmp["throughput_percent_of_ideal"], 60);
  EXPECT_GT(ecmp["link_util_max_spine"], ecmp["link_util_mean_spine"]);
  // Two planes, sprayed: each plane carries half, and together all the bytes over the run.
  auto planes = testing::metrics_in_child([] {
    Scenario sc = load_scenario("scenarios/what-if/load-balancing.yaml",
                                {"policies.load_balancing=spray", "cluster.fabric.planes=2"});
    return run_scenario(sc).metrics;
  });
  ASSERT_FALSE(planes.count("child_failed"));
  EXPECT_DOUBLE_EQ(planes["plane0_throughput_bytes_per_s"], planes["plane1_throughput_bytes_per_s"]);
  EXPECT_NEAR(planes["plane0_throughput_bytes_per_s"] + planes["plane1_throughput_bytes_per_s"],
              128 * 1073741824.0 / planes["sim_time_s"], 1e3);
}

}  // namespace
}  // namespace lcsim

namespace lcsim {
namespace {

// The same fabric written out as switches and links gives the same collective times as the leaf/spine builder.
TEST(ExplicitTopology, MatchesTheEquivalentLeafSpine) {
  std::string links;
  for (int k = 0; k < 4; ++k) {
    for (int g = 0; g < 8; ++g) {
      links += "    - {a: n" + std::to_string(k) + ".gpu" + std::to_string(g) + ", b: leaf" + std::to_string(k / 2) +
               "}\n";
    }
  }
  for (int l = 0; l < 2; ++l) {
    for (int s = 0; s < 4; ++s) links += "    - {a: leaf" + std::to_string(l) + ", b: spine" + std::to_string(s) + "}\n";
  }
  const std::string common =
      "workload: {type: nccl_tests, operation: all_reduce, sizes: [64MiB, 1GiB]}\n"
      "policies: {load_balancing: spray, collectives: {algorithm: ring}}\n"
      "outputs: {timeline: false}\n";
  const std::string explicit_yaml =
      "cluster:\n  pools: [{node: hgx-h100, count: 4}]\n  topology: explicit\n  explicit:\n    switches:\n"
      "    - {name: leaf0, kind: leaf}\n    - {name: leaf1, kind: leaf}\n    - {name: spine0, kind: spine}\n"
      "    - {name: spine1, kind: spine}\n    - {name: spine2, kind: spine}\n    - {name: spine3, kind: spine}\n"
      "    links:\n" + links + common;
  const std::string leaf_spine_yaml =
      "cluster:\n  pools: [{node: hgx-h100, count: 4}]\n  fabric: {ports_per_leaf: 16, spines: 4}\n" + common;
  auto run = [](const std::string& yaml) {
    return testing::metrics_in_child([yaml] {
      Scenario sc = parse_scenario(parse_yaml_text(yaml, "t.yaml"));
      return run_scenario(sc).metrics;
    });
  };
  auto a = run(explicit_yaml), b = run(leaf_spine_yaml);
  ASSERT_FALSE(a.count("child_failed") || b.count("child_failed"));
  EXPECT_DOUBLE_EQ(a["time_at_max_size_s"], b["time_at_max_size_s"]);
  EXPECT_DOUBLE_EQ(a["busbw_avg_bytes_per_s"], b["busbw_avg_bytes_per_s"]);
  // A link to a switch that does not exist is an error at that link's end, with its file:line.
  try {
    parse_scenario(parse_yaml_text(explicit_yaml + "", "t.yaml"));
    std::string bad = explicit_yaml;
    bad.replace(bad.find("b: spine3}"), 10, "b: spine9}");
    parse_scenario(parse_yaml_text(bad, "bad.yaml"));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.yaml:"), std::string::npos) << e.what();
    // The entry at fault, where it was set: links[35] (32 GPU links, then leaf0 -> spine0..3), on line 48 (the
    // links start on line 13), its b at column 21.
    EXPECT_NE(std::string(e.what()).find("bad.yaml:48:21: cluster.explicit.links[35].b: no GPU or switch named "
                                         "'spine9'; did you mean"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace lcsim

namespace lcsim {
namespace {

TEST(Outputs, LinkUtilizationIsSampledOverTime) {
  const auto out = testing::text_in_child([] {
    Scenario sc = load_scenario("scenarios/examples/nccl-tests-h100.yaml",
                                {"workload.min_bytes=256MiB", "workload.max_bytes=256MiB",
                                 "outputs.utilization_interval=100us", "policies.load_balancing=spray"});
    return run_scenario(sc).utilization_csv;
  });
  ASSERT_TRUE(out.has_value());
  const std::string& csv = *out;
  ASSERT_EQ(csv.rfind("time_s,tier,mean,max\n", 0), 0u) << csv.substr(0, 200);
  EXPECT_NE(csv.find("\n0,nic,0,0\n"), std::string::npos) << "nothing moves at time 0";
  // During the 256 MiB ring all-reduce across two nodes the NICs are the bottleneck: some sample sees every NIC
  // busy at (close to) its full rate.
  std::istringstream in(csv);
  std::string line;
  double nic_peak = 0;
  int rows = 0;
  while (std::getline(in, line)) {
    if (line.find(",nic,") == std::string::npos) continue;
    ++rows;
    nic_peak = std::max(nic_peak, std::stod(line.substr(line.rfind(',') + 1)));
  }
  EXPECT_GT(rows, 10);
  EXPECT_GT(nic_peak, 0.95);
  EXPECT_LE(nic_peak, 1.0 + 1e-9);  // never above capacity
}

}  // namespace
}  // namespace lcsim

namespace lcsim {
namespace {

// Load-balancing policies are typed slots: a name, or {type: NAME, ...} with that policy's own keys only.
TEST(Scenario, LoadBalancingPoliciesTakeTheirOwnKeys) {
  const std::string file = "scenarios/what-if/load-balancing.yaml";
  Scenario sc = load_scenario(file, {"policies.load_balancing={type: spray, max_paths: 2, hash_seed: 7}"});
  EXPECT_EQ(sc.policies.load_balancing, "spray");
  EXPECT_EQ(sc.policies.load_balancer.max_paths, 2);
  EXPECT_EQ(sc.policies.load_balancer.hash_seed, 7);
  // The resolved scenario keeps the mapping and reloads to the same policy.
  const std::string yaml = resolved_yaml(sc);
  EXPECT_NE(yaml.find("type: spray"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("max_paths: 2"), std::string::npos);
  Scenario plain = load_scenario(file, {"policies.load_balancing=ecmp"});
  EXPECT_EQ(plain.policies.load_balancer, policy::LoadBalancerParams{});
  EXPECT_NE(resolved_yaml(plain).find("load_balancing: ecmp"), std::string::npos);
  auto error_of = [&](const std::string& set) {
    try {
      load_scenario(file, {set});
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  // A key of another policy, a missing type, an unknown type.
  EXPECT_NE(error_of("policies.load_balancing={type: pinned, max_paths: 2}")
                .find("policies.load_balancing.max_paths: unknown key 'max_paths' (valid: type)"),
            std::string::npos);
  EXPECT_NE(error_of("policies.load_balancing={max_paths: 2}").find("expected a policy name or a mapping with a type"),
            std::string::npos);
  EXPECT_NE(error_of("policies.load_balancing={type: sprai}").find("did you mean 'spray'"), std::string::npos);
}

// Spraying each flow over two of its paths instead of all of them: the what-if scenario's traffic then collides on
// the spines it hashed to, and takes much longer.
TEST(Scenario, SprayingOverFewerPathsIsAPolicyKnob) {
  auto makespan = [](const std::string& lb) {
    return testing::metrics_in_child([&] {
      Scenario sc = load_scenario("scenarios/what-if/load-balancing.yaml", {"policies.load_balancing=" + lb});
      return run_scenario(sc).metrics;
    }).at("makespan_s");
  };
  const double all = makespan("spray"), two = makespan("{type: spray, max_paths: 2}");
  EXPECT_GT(two, 1.5 * all);
}

}  // namespace
}  // namespace lcsim

namespace lcsim {
namespace {

// The user picks the timeline's detail: only the span kinds listed are written.
TEST(Scenario, TimelineKindsChooseTheDetail) {
  auto timeline = [](const std::vector<std::string>& sets) {
    std::vector<std::string> all = {"simulation.fidelity=analytical"};
    all.insert(all.end(), sets.begin(), sets.end());
    Scenario sc = load_scenario(kExample, all);
    return run_scenario(sc).timeline_json;  // analytical: in-process, no SimGrid
  };
  const std::string full = timeline({}), compute = timeline({"outputs.timeline_kinds=[compute]"});
  EXPECT_NE(full.find("\"cat\":\"comm\""), std::string::npos);
  EXPECT_NE(compute.find("\"cat\":\"compute\""), std::string::npos);
  EXPECT_EQ(compute.find("\"cat\":\"comm\""), std::string::npos);
  EXPECT_EQ(compute.find("\"cat\":\"link\""), std::string::npos);
  EXPECT_LT(compute.size(), full.size());
  try {
    load_scenario(kExample, {"outputs.timeline_kinds=[compute, kernels]"});
    ADD_FAILURE() << "an unknown span kind was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("outputs.timeline_kinds: unknown span kind 'kernels'"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace lcsim

namespace lcsim {
namespace {

TEST(Scenario, PowerLimitWhatIfSlowsOnlyComputeAndCapsEveryGpusPower) {
  // scenarios/what-if/power-limit.yaml ships at 500 W; the same run at the H100's 700 W TDP for comparison.
  const std::string file = "scenarios/what-if/power-limit.yaml";
  Scenario capped = load_scenario(file);
  Scenario full = load_scenario(file, {"cluster.accelerator={base: H100-SXM-80GB, power_limit: 700W}"});
  ASSERT_EQ(capped.cluster.pools.at(0).node.accelerator.power_cap().w(), 500);
  const MetricSet c = run_scenario(capped).metrics, f = run_scenario(full).metrics;
  // Compute-bound kernels take 1 / 0.826 = 1.211 times as long, memory-bound ones no longer: the compute time grows
  // by more than nothing and less than that; the exposed TP and DP communication does not change.
  const double slower = c.get("time_compute_s") / f.get("time_compute_s");
  EXPECT_GT(slower, 1.10);
  EXPECT_LT(slower, 1 / 0.826);
  EXPECT_NEAR(c.get("time_exposed_tp_s"), f.get("time_exposed_tp_s"), 1e-12);
  EXPECT_NEAR(c.get("time_exposed_dp_s"), f.get("time_exposed_dp_s"), 1e-12);
  EXPECT_GT(c.get("iteration_time_s"), f.get("iteration_time_s"));
  // No GPU is charged above its cap: the GPUs' energy is at most 64 x 500 W x the iteration (and 700 W uncapped).
  for (const auto& [m, cap] : {std::pair{&c, 500.0}, std::pair{&f, 700.0}}) {
    const double gpu_wh = 1e6 * (m->get("energy_gpu_compute_mwh") + m->get("energy_gpu_comm_mwh") +
                                 m->get("energy_gpu_idle_mwh"));
    EXPECT_LE(gpu_wh, 64 * cap * m->get("iteration_time_s") / 3600 * (1 + 1e-12)) << cap;
  }
  EXPECT_LT(c.get("power_kw"), f.get("power_kw"));  // the point of a cap: a lower draw
}

}  // namespace
}  // namespace lcsim
