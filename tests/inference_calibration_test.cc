// The serving model's per-layer cost against measured profiles: every row of data/calibration/
// vidur_serving_layers.csv (vidur's per-operator times of one transformer layer without attention, A100 and H100,
// six models, 1 to 4,096 tokens, TP 1 to 8) stays within the error docs/validation.md reports, and two rows equal
// what bench/validate_serving.py computes (the script that prints the table).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "models/hardware/catalog.h"
#include "workloads/inference/serving_model.h"

namespace lcsim::inf {
namespace {

struct Row {
  std::string part, model;
  int heads, kv_heads, hidden, ffn, tokens, tp;
  double measured_s;
};

std::vector<Row> rows() {
  std::ifstream in(std::string(LCSIM_SOURCE_DIR) + "/data/calibration/vidur_serving_layers.csv");
  EXPECT_TRUE(in.good());
  std::string line;
  std::getline(in, line);  // header: part,model,n_head,n_kv_head,n_embd,n_expanded_embd,use_gated_mlp,num_tokens,tp,ops
  std::vector<Row> out;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    EXPECT_EQ(f.size(), 18u) << line;
    Row r{f[0], f[1], std::stoi(f[2]), std::stoi(f[3]), std::stoi(f[4]), std::stoi(f[5]), std::stoi(f[7]),
          std::stoi(f[8]), 0};
    for (size_t i = 9; i < 18; ++i) r.measured_s += std::stod(f[i]) * 1e-3;  // the nine kernels' medians, ms
    out.push_back(r);
  }
  return out;
}

double predicted(const Row& r) {
  ModelShape m;
  m.num_layers = 1;
  m.hidden_size = r.hidden;
  m.num_attention_heads = r.heads;
  m.num_kv_heads = r.kv_heads;
  m.ffn_hidden_size = r.ffn;
  ServingConfig sv;
  sv.tensor_parallel = r.tp;
  const InstanceCost cost(hw::PartCatalog::get().part(r.part), m, sv);
  EXPECT_TRUE(cost.calibrated_kernels()) << r.part;
  return cost.layer_seconds_without_attention(static_cast<uint64_t>(r.tokens));
}

TEST(InferenceCalibration, ServingModelWithinDocumentedErrorOfVidur) {
  const std::vector<Row> all = rows();
  ASSERT_EQ(all.size(), 624u);
  std::map<std::string, std::vector<double>> groups;
  std::vector<double> abs_err;
  for (const Row& r : all) {
    const double e = predicted(r) / r.measured_s - 1;
    groups[r.part + " " + r.model + (r.tokens <= 256 ? " decode" : " prefill")].push_back(e);
    abs_err.push_back(std::fabs(e));
  }
  // docs/validation.md: per model and part, the median error is within 15% and no row misses by more than 46%
  // (H100 Llama-2-7B decode at 45.1%); over all rows the median miss is 6.5% and the p90 16.8%.
  ASSERT_EQ(groups.size(), 24u);
  for (auto& [name, e] : groups) {
    std::sort(e.begin(), e.end());
    EXPECT_LT(std::fabs(e[e.size() / 2]), 0.15) << name;
    EXPECT_LT(std::max(-e.front(), e.back()), 0.46) << name;
  }
  std::sort(abs_err.begin(), abs_err.end());
  EXPECT_LT(abs_err[abs_err.size() / 2], 0.066);
  EXPECT_LT(abs_err[abs_err.size() * 9 / 10], 0.169);
}

TEST(InferenceCalibration, RowsMatchTheScript) {
  // bench/validate_serving.py --rows: H100 Llama-2-70B TP4, one decode token: 0.188813 ms (measured 0.179);
  // A100 Llama-3-8B TP1, a 4,096-token prefill chunk: 7.56798 ms (measured 8.529).
  const Row decode{"H100-SXM-80GB", "Llama-2-70b-hf", 64, 8, 8192, 28672, 1, 4, 0.179e-3};
  const Row prefill{"A100-SXM-80GB", "Meta-Llama-3-8B", 32, 8, 4096, 14336, 4096, 1, 8.529e-3};
  EXPECT_NEAR(predicted(decode), 0.188813e-3, 1e-9);
  EXPECT_NEAR(predicted(prefill), 7.56798e-3, 1e-8);
}

}  // namespace
}  // namespace lcsim::inf
