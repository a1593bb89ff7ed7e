// Serving's attention cost: a prefill chunk runs flash attention at the part's curve against key/value length (the
// curve training uses, op_cost.h attention_efficiency), with serving.attention_backend choosing the kernel as the
// training workloads' key does; decode steps keep the flat attention_efficiency. Figures derived here by hand.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "inference_support.h"
#include "scenario_text.h"
#include "sim/error.h"
#include "workloads/inference/serving_model.h"

namespace lcsim::inf {
namespace {

using support::datasheet_h100;
using support::llama3_8b;

/// The datasheet H100 with a made-up attention curve (plateau 0.5, half at 1,000 keys; flat figure 0.25) and a
/// second kernel (flash2: plateau 0.4, half at 500), so that every efficiency below is a simple fraction.
hw::AcceleratorSpec curved_h100() {
  hw::AcceleratorSpec p = datasheet_h100();
  p.calibration.attention_efficiency = 0.25;
  p.calibration.attention_forward_efficiency = 0.5;
  p.calibration.attention_forward_seq_half = 1000;
  p.calibration.attention_backend = "cudnn";
  p.calibration.attention_backends.push_back({"flash2", 0.4, 500, 0.3, 500});
  return p;
}

// Llama-3-8B: 32 query heads of 128, 32 layers: 4 x 32 x 128 x 32 FLOPs per (query, key) pair over the model.
constexpr double kPairFlops = 4.0 * 32 * 128 * 32, kPeak = 989.4e12;

TEST(ServingAttention, APrefillChunkRunsAtTheCurveForItsKeysADecodeStepAtTheFlatFigure) {
  const hw::AcceleratorSpec part = curved_h100();
  ServingConfig sv;
  const InstanceCost cost(part, llama3_8b(), sv);
  // A whole prompt of 1,000 tokens: 1,000 keys, 0.5 x 1000 / 2000 = 0.25; causal pairs 1000 x 1001 / 2.
  const double prompt = kPairFlops * (1000.0 * 1001 / 2) / (kPeak * 0.25);
  // A later chunk of 500 after 1,500 cached: 2,000 keys, 0.5 x 2000 / 3000 = 1/3; pairs 500 x 1500 + 500 x 501 / 2.
  const double chunk = kPairFlops * (500.0 * 1500 + 500.0 * 501 / 2) / (kPeak / 3);
  // A decode step after 3,000 cached: 3,001 pairs at the flat 0.25.
  const double decode = kPairFlops * 3001 / (kPeak * 0.25);
  EXPECT_NEAR(cost.work({{1000, 0, true}}).attention_seconds, prompt, prompt * 1e-12);
  EXPECT_NEAR(cost.work({{500, 1500, false}}).attention_seconds, chunk, chunk * 1e-12);
  EXPECT_NEAR(cost.work({{1, 3000, true}}).attention_seconds, decode, decode * 1e-12);
  const IterationWork mixed = cost.work({{1000, 0, true}, {500, 1500, false}, {1, 3000, true}});
  EXPECT_NEAR(mixed.attention_seconds, prompt + chunk + decode, (prompt + chunk + decode) * 1e-12);
  EXPECT_DOUBLE_EQ(mixed.attention_flops, kPairFlops * (1000.0 * 1001 / 2 + 500.0 * 1500 + 500.0 * 501 / 2 + 3001));
  // The prompt alone is compute-bound: its iteration is the GEMMs at the peak plus that attention time.
  const double attn_params = 2.0 * 4096 * 4096 + 2.0 * 4096 * (8 * 128), mlp_params = 3.0 * 4096 * 14336;
  const double linear = 2 * 1000 * (attn_params + mlp_params) * 32 + 2 * 4096.0 * 128256;
  EXPECT_NEAR(cost.iteration_seconds(std::vector<BatchEntry>{{1000, 0, true}}), linear / kPeak + prompt,
              (linear / kPeak + prompt) * 1e-12);

  // serving.attention_backend flash2: the prompt at 0.4 x 1000 / 1500 = 0.2667; the decode step unchanged.
  ServingConfig flash2 = sv;
  flash2.attention_backend = "flash2";
  const InstanceCost f(part, llama3_8b(), flash2);
  EXPECT_NEAR(f.work({{1000, 0, true}}).attention_seconds, prompt * 0.25 / (0.4 / 1.5), prompt * 1e-12);
  EXPECT_NEAR(f.work({{1, 3000, true}}).attention_seconds, decode, decode * 1e-12);
  // A part without a curve (the datasheet roofline) keeps its flat figure for prefill too.
  const hw::AcceleratorSpec roofline = datasheet_h100();  // InstanceCost keeps a pointer to its part
  const InstanceCost flat(roofline, llama3_8b(), sv);
  EXPECT_NEAR(flat.work({{1000, 0, true}}).attention_seconds, kPairFlops * (1000.0 * 1001 / 2) / kPeak, 1e-15);
}

std::string scenario(const std::string& node, const std::string& backend) {
  return R"(
name: serve
cluster:
  pools: [{name: serve, node: )" + node + R"(, count: 1}]
  fabric: {ports_per_leaf: 16, spines: 2}
workload:
  type: inference_serving
  serving: {tensor_parallel: 1, attention_backend: )" + backend + R"(}
  requests:
    source: synthetic
    arrival: {process: poisson, rate: 4, requests: 40}
    input_tokens: 4096
    output_tokens: 8
simulation: {fidelity: analytical}
)";
}

TEST(ServingAttention, TheBackendKeyPicksTheKernelAndAPartWithoutItsCurveIsAnError) {
  // On the catalog H100 FlashAttention-2 (plateau 0.354) is slower than the default cuDNN curve (0.567) at every
  // length: a 4,096-token prompt's first token comes later, decode steps are the same.
  const MetricSet ma = testing::run_scenario_text(scenario("hgx-h100", "auto"), "serving_attention", "auto");
  const MetricSet mb = testing::run_scenario_text(scenario("hgx-h100", "flash2"), "serving_attention", "flash2");
  EXPECT_GT(mb.get("ttft_p50_s"), ma.get("ttft_p50_s"));
  // A100 has no measured curve: only auto.
  std::string err;
  try {
    testing::run_scenario_text(scenario("dgx-a100", "flash3"), "serving_attention", "a100");
  } catch (const InputError& e) {
    err = e.what();
  }
  EXPECT_NE(err.find("workload.serving"), std::string::npos) << err;
  EXPECT_NE(err.find("attention_backend: 'flash3' has no measured curve on A100-SXM-80GB"), std::string::npos) << err;
  // An unknown name is refused by the key itself, with what is allowed.
  err.clear();
  try {
    testing::run_scenario_text(scenario("hgx-h100", "flash9"), "serving_attention", "flash9");
  } catch (const InputError& e) {
    err = e.what();
  }
  EXPECT_NE(err.find("workload.serving.attention_backend"), std::string::npos) << err;
  EXPECT_NE(err.find("flash3"), std::string::npos) << err;
}

}  // namespace
}  // namespace lcsim::inf
