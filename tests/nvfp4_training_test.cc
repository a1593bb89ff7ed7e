// NVFP4 training (precision: fp4; Megatron-LM's --fp4-format e2m1 --fp4-recipe nvfp4, Transformer Engine's
// NVFP4BlockScaling): the linear layers' three GEMMs at the part's FP4 rate, their casts writing NVFP4's row- and
// column-wise copies after an amax pass, their saved inputs as the column-wise copy (docs/calibration-fp8.md,
// "NVFP4").
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "megatron_support.h"
#include "test_support.h"

#include "models/hardware/catalog.h"
#include "models/hardware/op_cost.h"
#include "scenarios/scenario.h"
#include "workloads/training/gpt_model.h"
#include "workloads/training/megatron.h"

namespace lcsim {
namespace {

const wl::MegatronConfig& config(const Scenario& sc) {
  return dynamic_cast<const wl::MegatronTraining&>(*sc.workload).config();
}

// What a cast writes and a linear layer keeps, per element: NVFP4's 0.5 B and an E4M3 scale per 16 elements, both
// copies written (its GEMMs are TN-only), the column-wise one kept; the per-tensor scale needs the amax first (a pass
// over the input, as FP8 current scaling's), and the norm writes 16 bits before it (no fused NVFP4 norm).
TEST(Nvfp4Training, CastsWriteBothCopiesAfterAnAmaxPassAndKeepTheColumnWiseOne) {
  const Scenario sc = megatron_support::parse_sets({"cluster.accelerator=B200", "workload.precision=fp4"});
  const wl::MegatronConfig& c = config(sc);
  EXPECT_TRUE(c.nvfp4());
  EXPECT_TRUE(c.quantized());
  const wl::LayerShard sh = c.layer_shard(&hw::PartCatalog::get().part("B200"));
  EXPECT_TRUE(sh.fp8);
  EXPECT_TRUE(sh.fp8_current_scaling);
  EXPECT_DOUBLE_EQ(sh.fp8_cast_out, 2 * (0.5 + 1.0 / 16));
  EXPECT_DOUBLE_EQ(sh.fp8_saved_bytes, 0.5 + 1.0 / 16);
  EXPECT_EQ(sh.fp8_norm_cast, wl::NormCast::kUnfused);
  // The QKV's input (after the norm): an amax pass reading 2 B, then the cast reading 2 B and writing 1.125 B.
  const wl::LayerOps ops = wl::layer_forward(c.model, 0, 1, 2, sh);
  const double elements = 1.0 * c.model.seq_length * c.model.hidden_size;  // the whole input (no SP here)
  EXPECT_DOUBLE_EQ(megatron_support::op_bytes(ops.qkv, "qkv_fp8_amax"), 2 * elements);
  EXPECT_DOUBLE_EQ(megatron_support::op_bytes(ops.qkv, "qkv_fp8_cast"), (2 + 1.125) * elements);
  // The activation memory: every quantized saved input at 0.5625 B where FP8 keeps 1 B.
  const Scenario fp8 = megatron_support::parse_sets(
      {"cluster.accelerator=B200", "workload.precision=fp8", "workload.fp8_recipe=tensorwise"});
  const Scenario bf16 = megatron_support::parse_sets({"cluster.accelerator=B200"});
  hw::TrainingMemoryInput a4, a8, a16;
  c.activation_inputs(a4);
  config(fp8).activation_inputs(a8);
  config(bf16).activation_inputs(a16);
  EXPECT_LT(a4.layer_whole + a4.layer_split, a8.layer_whole + a8.layer_split);
  EXPECT_LT(a8.layer_whole + a8.layer_split, a16.layer_whole + a16.layer_split);
}

// The GEMMs at the FP4 peak x fp4_gemm_efficiency; attention and 16-bit-kept GEMMs as before; a part without FP4
// tensor cores refused at the key.
TEST(Nvfp4Training, GemmsRunAtTheFp4RateOnBlackwellOnly) {
  const hw::AcceleratorSpec& b200 = hw::PartCatalog::get().part("B200");
  ASSERT_TRUE(b200.supports(hw::DType::kFp4));
  EXPECT_DOUBLE_EQ(b200.peak(hw::DType::kFp4).flop_per_s(), 9000e12);
  EXPECT_FALSE(hw::PartCatalog::get().part("H100-SXM-80GB").supports(hw::DType::kFp4));
  const hw::GemmShape g{16384, 16384, 16384};
  const double launch = b200.calibration.kernel_launch.s();
  const double flops = 2.0 * 16384 * 16384 * 16384;
  // Long enough that the tiles' last wave is a small share: the rate within 2% of peak x efficiency.
  EXPECT_NEAR(flops / (hw::gemm_time(b200, hw::DType::kFp4, g).s() - launch) /
                  (9000e12 * b200.calibration.fp4_gemm_efficiency),
              1.0, 0.02);
  EXPECT_LT(hw::gemm_time(b200, hw::DType::kFp4, g), hw::gemm_time(b200, hw::DType::kFp8, g));
  hw::GemmShape kept = g;
  kept.keep_16bit = true;
  EXPECT_EQ(hw::gemm_time(b200, hw::DType::kFp4, kept), hw::gemm_time(b200, hw::DType::kBf16, g));
  hw::AttentionShape att;
  att.batch = 1, att.heads = 32, att.q_len = att.kv_len = 4096, att.head_dim = 128, att.causal = true;
  EXPECT_EQ(hw::attention_time(b200, hw::DType::kFp4, att), hw::attention_time(b200, hw::DType::kBf16, att));
  const std::string e = megatron_support::parse_sets_error({"workload.precision=fp4"});
  EXPECT_NE(e.find("workload.precision: H100-SXM-80GB has no fp4 tensor cores (NVFP4 training needs Blackwell"),
            std::string::npos)
      << e;
}

// One iteration end to end on B200: NVFP4 faster than FP8 current scaling (on this toy model FP8's casts cost what its
// GEMMs gain over BF16; NVFP4's GEMMs gain more); MFU against the FP4 peak (the precision's); the memory fit smaller.
TEST(Nvfp4Training, AnIterationRunsFasterThanFp8AndCountsMfuAgainstTheFp4Peak) {
  const std::vector<std::string> b200 = {"cluster.accelerator=B200", "workload.host_op_time=0us"};
  auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> s = b200;
    s.insert(s.end(), more.begin(), more.end());
    return megatron_support::run(s);
  };
  const auto fp8 = with({"workload.precision=fp8", "workload.fp8_recipe=tensorwise"});
  const auto fp4 = with({"workload.precision=fp4"});
  EXPECT_LT(fp4.at("iteration_time_s"), fp8.at("iteration_time_s"));
  EXPECT_LT(fp4.at("memory_per_gpu_bytes"), fp8.at("memory_per_gpu_bytes"));
  // tflops_per_gpu counts the model's FLOPs; MFU divides them by the precision's dense peak.
  EXPECT_NEAR(fp4.at("mfu"), fp4.at("tflops_per_gpu") * 1e12 / 9000e12, 1e-9);
  EXPECT_NEAR(fp8.at("mfu"), fp8.at("tflops_per_gpu") * 1e12 / 4500e12, 1e-9);
}

// Megatron-LM's flags: --fp4-format e2m1 (with --fp4-recipe nvfp4, its default) is precision fp4; not with
// --fp8-format; --fp4-recipe custom (a quantizer factory) refused; --fp4-param-gather named as not modelled; the
// first and last layers in BF16 as with FP8 (fp4_utils.py, get_fp4_context). TP overlap refused (userbuffers).
TEST(Nvfp4Training, MegatronLinesReadTheFp4Flags) {
  const std::string base = "cluster.accelerator=B200";
  const Scenario line = megatron_support::parse_sets(
      {base, "workload.megatron_args=--bf16 --fp4-format e2m1 --fp4-recipe nvfp4 --fp4-param-gather "
             "--first-last-layers-bf16 --num-layers-at-start-in-bf16 2 --num-layers-at-end-in-bf16 1"});
  const wl::MegatronConfig& c = config(line);
  EXPECT_EQ(c.precision, "fp4");
  EXPECT_TRUE(c.bf16_layer(1));
  EXPECT_FALSE(c.bf16_layer(2));
  EXPECT_TRUE(c.bf16_layer(c.model.num_layers - 1));
  bool named = false;
  for (const auto& a : c.not_modelled_args) named = named || a.find("--fp4-param-gather") != std::string::npos;
  EXPECT_TRUE(named);
  const std::string both = megatron_support::parse_sets_error(
      {base, "workload.megatron_args=--bf16 --fp8-format hybrid --fp4-format e2m1"});
  EXPECT_NE(both.find("--fp4-format and --fp8-format cannot be used simultaneously"), std::string::npos) << both;
  const std::string custom = megatron_support::parse_sets_error(
      {base, "workload.megatron_args=--bf16 --fp4-format e2m1 --fp4-recipe custom"});
  EXPECT_NE(custom.find("--fp4-recipe custom: a quantizer factory"), std::string::npos) << custom;
  const std::string format = megatron_support::parse_sets_error({base, "workload.megatron_args=--fp4-format e3m0"});
  EXPECT_NE(format.find("e2m1"), std::string::npos) << format;
  const std::string overlap = megatron_support::parse_sets_error(
      {base, "workload.precision=fp4", "workload.sequence_parallel=true", "workload.tp_comm_overlap=true"});
  EXPECT_NE(overlap.find("tp_comm_overlap: with precision: fp4 Transformer Engine's userbuffers"), std::string::npos)
      << overlap;
}

}  // namespace
}  // namespace lcsim
