// Grouped expert GEMMs (docs/calibration.md, "Grouped GEMMs"): hw::GemmShape::streams runs the `batch` GEMMs as
// separate kernels on S streams, in rounds of S, as Transformer Engine's multi-stream GroupedLinear issues them
// (4 compute streams) and SequentialMLP (one after another); checked by hand and against Transformer Engine's
// measured grouped GEMMs on H100 (models/hardware/calibration/data/h100_grouped_gemm_te.csv).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "megatron_support.h"

#include "models/hardware/catalog.h"
#include "models/hardware/op_cost.h"
#include "workloads/training/gpt_model.h"
#include "workloads/training/megatron.h"

namespace lcsim {
namespace {

using megatron_support::parse_sets;

const hw::AcceleratorSpec& h100() { return hw::PartCatalog::get().part("H100-SXM-80GB"); }

double seconds(const hw::GemmShape& s) { return hw::gemm_time(h100(), hw::DType::kBf16, s).s(); }

hw::GemmShape groups(double batch, double streams) {
  hw::GemmShape s{2048, 1536, 2048, batch};
  s.streams = streams;
  return s;
}

TEST(GroupedGemm, StreamsRunTheGroupsInRoundsOfS) {
  // 0: one kernel for all groups, the batched GEMM; S >= the groups: one round, the same.
  EXPECT_DOUBLE_EQ(seconds(groups(16, 16)), seconds(groups(16, 0)));
  // One stream: one GEMM after another.
  EXPECT_DOUBLE_EQ(seconds(groups(16, 1)), 16 * seconds(groups(1, 0)));
  // Four streams: four rounds of four; six groups: a round of four, then the two left together.
  EXPECT_DOUBLE_EQ(seconds(groups(16, 4)), 4 * seconds(groups(4, 0)));
  EXPECT_DOUBLE_EQ(seconds(groups(6, 4)), seconds(groups(4, 0)) + seconds(groups(2, 0)));
  // Rounds lose what a round's last wave leaves idle: never faster than one kernel, faster than one stream.
  EXPECT_GT(seconds(groups(16, 4)), seconds(groups(16, 0)));
  EXPECT_LT(seconds(groups(16, 4)), seconds(groups(16, 1)));
  // One GEMM is one GEMM, whatever the streams.
  EXPECT_DOUBLE_EQ(seconds(groups(1, 4)), seconds(groups(1, 0)));
}

struct Measured {
  std::string library;
  double groups, m, n, k, tflops;
};

std::vector<Measured> te_table() {
  std::ifstream in(std::string(LCSIM_SOURCE_DIR) + "/models/hardware/calibration/data/h100_grouped_gemm_te.csv");
  std::vector<Measured> rows;
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "library,groups,m,n,k,tflops");
  while (std::getline(in, line)) {
    std::replace(line.begin(), line.end(), ',', ' ');
    std::istringstream f(line);
    Measured r;
    f >> r.library >> r.groups >> r.m >> r.n >> r.k >> r.tflops;
    rows.push_back(r);
  }
  return rows;
}

// lcsim's TFLOP/s over the measured, minus 1 (positive: lcsim faster).
double error(const Measured& r, double streams) {
  hw::GemmShape s{r.m, r.n, r.k, r.groups};
  s.streams = streams;
  return 2 * r.m * r.n * r.k * r.groups / seconds(s) / 1e12 / r.tflops - 1;
}

// Transformer Engine 2.7 on H100 (pull request #2045): its multi-stream path, 4 streams, within 10% and closer
// than one kernel for all groups (which is 22% fast at 16 groups of 2,048 tokens); its CUTLASS grouped kernel, one
// launch, within 6% as one kernel. No term was fitted to these rows.
TEST(GroupedGemm, FourStreamsFollowTransformerEnginesMeasuredGroupedGemms) {
  const std::vector<Measured> rows = te_table();
  ASSERT_EQ(rows.size(), 6u);
  int checked = 0;
  for (const Measured& r : rows) {
    SCOPED_TRACE(r.library + " x" + std::to_string(static_cast<int>(r.groups)));
    if (r.library == "te2.7_multi_stream") {
      EXPECT_LT(std::abs(error(r, 4)), 0.10);
      EXPECT_LT(std::abs(error(r, 4)), std::abs(error(r, 0)));
      ++checked;
    } else if (r.library == "te2.7_cutlass") {
      EXPECT_LT(std::abs(error(r, 0)), 0.06);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 4);
  // The 16 x 2,048 row: one kernel reads 22% fast, four streams 9%.
  const Measured& sixteen = rows[3];
  ASSERT_EQ(sixteen.groups, 16);
  EXPECT_GT(error(sixteen, 0), 0.18);
}

double expert_gemm_seconds(const wl::LayerShard& sh) {
  wl::GptModelConfig m;
  m.num_layers = 2, m.hidden_size = 2048, m.num_attention_heads = 16, m.seq_length = 4096, m.vocab_size = 32000;
  m.num_experts = 128, m.moe_router_topk = 8, m.moe_ffn_hidden_size = 768, m.swiglu = true;
  const auto fwd = wl::layer_forward(m, 0, 1, 2, sh).mlp;
  double s = 0;
  for (const auto& ops : {fwd, wl::backward_of(fwd, 2)}) {
    for (const hw::OpWork& op : ops) {
      if (op.op_class == hw::OpClass::kGemm && op.name.starts_with("expert_")) {
        EXPECT_EQ(op.gemm.streams, sh.expert_gemm_streams) << op.name;  // forward and both gradients
        s += seconds(op.gemm);
      }
    }
  }
  return s;
}

TEST(GroupedGemm, TheExpertsModuleSaysHowItsGemmsRun) {
  auto shard = [](const std::vector<std::string>& sets) {
    std::vector<std::string> all = {"workload.pipeline_model_parallel_size=1", "workload.model.num_experts=16",
                                    "workload.model.moe_router_topk=2", "workload.expert_model_parallel_size=2",
                                    "workload.sequence_parallel=true"};
    all.insert(all.end(), sets.begin(), sets.end());
    const Scenario sc = parse_sets(all);
    return dynamic_cast<const wl::MegatronTraining&>(*sc.workload).config().layer_shard();
  };
  EXPECT_EQ(shard({}).expert_gemm_streams, 4);  // TEGroupedMLP, the default
  EXPECT_EQ(shard({"workload.moe_grouped_gemm=sequential"}).expert_gemm_streams, 1);
  EXPECT_EQ(shard({"workload.moe_grouped_gemm=single_kernel"}).expert_gemm_streams, 0);
  EXPECT_EQ(shard({"workload.precision=fp8"}).expert_gemm_streams, 4);
  EXPECT_EQ(shard({"workload.precision=fp8", "workload.fp8_gemm_backend=deepgemm"}).expert_gemm_streams, 0);

  // Qwen3-30B-A3B's experts at EP 8 (16 local experts of 2,048 tokens): the layer's expert GEMMs, forward and
  // backward, take longer on 4 streams than as one kernel, and longer still one after another.
  wl::LayerShard sh;
  sh.ep = 8;
  const double one_kernel = expert_gemm_seconds(sh);
  sh.expert_gemm_streams = 4;
  const double four = expert_gemm_seconds(sh);
  sh.expert_gemm_streams = 1;
  const double serial = expert_gemm_seconds(sh);
  EXPECT_GT(four, one_kernel * 1.02);
  EXPECT_GT(serial, four * 1.2);
}

}  // namespace
}  // namespace lcsim
