// Prefill/decode disaggregation (workloads/inference/disaggregation.h), run as whole scenarios: the KV handoff's
// time against bytes over the fabric path derived here by hand, TTFT including it, the pools' layout and the removal
// of prefill-decode interference.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "scenarios/scenario.h"
#include "sim/error.h"
#include "workloads/inference/disaggregation.h"

namespace lcsim {
namespace {

/// A scenario file in a directory of this test's own (other worktrees run the same tests at the same time).
std::string scenario_file(const std::string& text) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                                    (std::string("inference_disagg_") + info->name() + "_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "scenario.yaml").string();
  std::ofstream(path) << "base: " << LCSIM_SOURCE_DIR << "/scenarios/clusters/h100-8.yaml\n" << text;
  return path;
}

MetricSet run(const std::string& text, const std::vector<std::string>& overrides = {}) {
  std::vector<std::string> all = {"outputs.timeline=false", "simulation.fidelity=analytical"};
  all.insert(all.end(), overrides.begin(), overrides.end());
  Scenario sc = load_scenario(scenario_file(text), all);
  return run_scenario(sc).metrics;
}

// One Llama-3-8B request (the catalog's default shape), 1,024 prompt tokens, on two HGX H100 nodes.
const char* kOneRequest = R"(name: one-request
cluster: {nodes: 2}
workload:
  type: inference_serving
  serving: {tensor_parallel: 1}
  requests: {source: synthetic, arrival: {process: poisson, rate: 1, requests: 1}, input_tokens: 1024, output_tokens: 16}
)";

TEST(InferenceDisaggregation, KvHandoffIsBytesOverThePathPlusItsLatency) {
  // 8 prefill instances fill node 0, 8 decode instances node 1: the request goes to prefill instance 0 (GPU 0) and
  // decode instance 0 (GPU 8, node 1), so its KV cache crosses the scale-out fabric.
  const MetricSet coloc = run(kOneRequest);
  const MetricSet disagg = run(kOneRequest, {"workload.disaggregation.prefill_instances=8",
                                             "workload.disaggregation.decode_instances=8"});
  // KV bytes: K and V x 8 KV heads x head dim 128 x 2 bytes (bf16) x 32 layers = 128 KiB per token, x 1,024 tokens.
  const double bytes = 2.0 * 8 * 128 * 2 * 32 * 1024;
  EXPECT_DOUBLE_EQ(disagg.get("kv_transfer_bytes"), bytes);
  EXPECT_DOUBLE_EQ(disagg.get("kv_transfers"), 1);
  // The path: GPU 0 -> its PCIe switch (Gen5 x16, 63.04 GB/s, 115 ns: hgx-h100.yaml), its 400 Gb/s NIC -> the leaf
  // (0.6 us), the leaf -> GPU 8's NIC (400 Gb/s, 0.6 us), its PCIe switch -> GPU 8 (115 ns). The NIC's 50 GB/s is
  // the narrowest link.
  const double seconds = bytes / 50e9 + 2 * 0.6e-6 + 2 * 115e-9;
  EXPECT_NEAR(disagg.get("kv_transfer_mean_s"), seconds, 1e-12);
  EXPECT_NEAR(seconds, 2.68578e-3, 1e-8);
  // TTFT is the prefill (the same iteration as colocated) plus the handoff; the decode steps are the same ones.
  EXPECT_NEAR(disagg.get("ttft_mean_s"), coloc.get("ttft_mean_s") + seconds, 1e-12);
  EXPECT_NEAR(disagg.get("tpot_mean_s"), coloc.get("tpot_mean_s"), 1e-12);
  EXPECT_DOUBLE_EQ(disagg.get("requests_completed"), 1);
  EXPECT_DOUBLE_EQ(disagg.get("generated_tokens"), 16);
  EXPECT_DOUBLE_EQ(disagg.get("prefill_pool_iterations"), 1);   // the prompt and the first token
  EXPECT_DOUBLE_EQ(disagg.get("decode_pool_iterations"), 15);   // the other 15 tokens
  EXPECT_DOUBLE_EQ(disagg.get("prefill_pool_gpus"), 8);
  EXPECT_DOUBLE_EQ(disagg.get("decode_pool_gpus"), 8);
}

TEST(InferenceDisaggregation, InsideANodeTheHandoffTakesNvlink) {
  // One prefill instance on GPU 0, one decode instance on GPU 1: NVLink through the NVSwitch, 450 GB/s per
  // direction (H100 SXM), 0.5 us per hop (cluster.fabric's scale_up_latency default), two hops.
  const MetricSet m = run(kOneRequest, {"cluster.nodes=1", "workload.disaggregation.prefill_instances=1",
                                        "workload.disaggregation.decode_instances=1"});
  const double bytes = 2.0 * 8 * 128 * 2 * 32 * 1024;
  EXPECT_NEAR(m.get("kv_transfer_mean_s"), bytes / 450e9 + 2 * 0.5e-6, 1e-12);
}

TEST(InferenceDisaggregation, TensorParallelPoolsSplitTheHandoffOverTheirGpus) {
  // Prefill TP 2 (GPUs 0-1), decode TP 4 (GPUs 2-5): four flows of a quarter each, GPU 0 -> 2, 1 -> 3, 0 -> 4,
  // 1 -> 5; GPUs 0 and 1 each send two over their one NVLink port: half the bytes at 450 GB/s.
  const MetricSet m = run(kOneRequest, {"cluster.nodes=1", "workload.disaggregation.prefill_instances=1",
                                        "workload.disaggregation.decode_instances=1",
                                        "workload.disaggregation.prefill_tensor_parallel=2",
                                        "workload.disaggregation.decode_tensor_parallel=4"});
  const double bytes = 2.0 * 8 * 128 * 2 * 32 * 1024;
  EXPECT_NEAR(m.get("kv_transfer_mean_s"), bytes / 2 / 450e9 + 2 * 0.5e-6, 1e-12);
  EXPECT_DOUBLE_EQ(m.get("prefill_pool_gpus"), 2);
  EXPECT_DOUBLE_EQ(m.get("decode_pool_gpus"), 4);
}

TEST(InferenceDisaggregation, RemovesPrefillDecodeInterference) {
  // A prefill-heavy load (4,096-token prompts, 128-token answers, 20 requests/s) on 8 H100s: colocated, a prompt's
  // chunk shares each iteration with the running decodes and stretches their token times; with 4 prefill and 4
  // decode instances the decode batches only decode.
  const std::string load = R"(name: interference
workload:
  type: inference_serving
  serving: {tensor_parallel: 1}
  requests: {source: synthetic, arrival: {process: poisson, rate: 20, requests: 200}, input_tokens: 4096, output_tokens: 128}
)";
  const MetricSet coloc = run(load);
  const MetricSet disagg = run(load, {"workload.disaggregation.prefill_instances=4",
                                      "workload.disaggregation.decode_instances=4"});
  EXPECT_DOUBLE_EQ(coloc.get("requests_completed"), 200);
  EXPECT_DOUBLE_EQ(disagg.get("requests_completed"), 200);
  EXPECT_LT(disagg.get("tpot_p99_s"), 0.9 * coloc.get("tpot_p99_s"));
  // A decode-only step is memory-bound: the spread of TPOT shrinks to the batch size's effect.
  EXPECT_LT(disagg.get("tpot_p99_s") - disagg.get("tpot_p50_s"), coloc.get("tpot_p99_s") - coloc.get("tpot_p50_s"));
  EXPECT_GT(disagg.get("kv_transfer_mean_s"), 0);
}

TEST(InferenceDisaggregation, LayoutAndItsErrors) {
  inf::ServingConfig sv;
  sv.tensor_parallel = 2;
  inf::DisaggregationConfig d;
  d.prefill_instances = 2;
  d.decode_instances = 1;
  d.decode_tensor_parallel = 4;
  std::string problem;
  const auto slots = inf::lay_out_instances(sv, d, 0, 8, problem);
  ASSERT_EQ(slots.size(), 3u) << problem;
  EXPECT_EQ(slots[0].role, inf::Role::kPrefill);
  EXPECT_EQ(slots[1].first_gpu, 2);
  EXPECT_EQ(slots[2].role, inf::Role::kDecode);
  EXPECT_EQ(slots[2].first_gpu, 4);
  EXPECT_EQ(slots[2].gpus(), 4);
  d.decode_instances = 2;  // 2 x 2 + 2 x 4 = 12 GPUs
  EXPECT_TRUE(inf::lay_out_instances(sv, d, 0, 8, problem).empty());
  EXPECT_EQ(problem, "2 prefill instance(s) of 2 GPUs and 2 decode instance(s) of 4 GPUs need 12 GPUs; the allocation "
                     "has 8");
  // A scenario with one pool and a misspelt key: both reported with file and line.
  const std::string path = scenario_file(R"(name: bad
workload:
  type: inference_serving
  requests: {source: synthetic}
  disaggregation: {prefill_instances: 2, decode_tensor_paralel: 2}
)");
  try {
    load_scenario(path);
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path + ":6:42: workload.disaggregation.decode_tensor_paralel"), std::string::npos) << what;  // line 1 is base:
    EXPECT_NE(what.find("workload.disaggregation.decode_tensor_paralel"), std::string::npos) << what;
    EXPECT_NE(what.find("did you mean 'decode_tensor_parallel'"), std::string::npos) << what;
    EXPECT_NE(what.find("a prefill pool needs a decode pool"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace lcsim
