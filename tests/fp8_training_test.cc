// FP8 training as Transformer Engine and torchao run it on Hopper (docs/calibration.md, "FP8 training"): the
// input- and weight-gradient GEMMs accumulate with promotion to FP32 (cuBLASLt fast accumulation off), slower
// than the fast-accumulating GEMMs fp8_gemm_efficiency was measured on; current (tensorwise) scaling reads each
// cast tensor once more for its amax.
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

using megatron_support::parse_with;

// QKV of 4,096 tokens on H100 (4096 x 12288 x 4096, compute-bound: 32 x 48 = 1,536 tiles of 128x256 in 12 waves
// of 132 SMs). Fast accumulation (the forward GEMM): the FP8 peak x fp8_gemm_efficiency x k/(k + k_half). Split
// accumulation (its gradient GEMMs' mode): the same work at that rate / fp8_split_accumulation_slowdown. 16-bit
// GEMMs and the GEMMs an FP8 run keeps in 16 bits have no accumulation mode to lose.
TEST(Fp8Training, SplitAccumulationGemmsRunSlowerByThePartsMeasuredFactor) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const double slowdown = part.calibration.fp8_split_accumulation_slowdown;
  EXPECT_GT(slowdown, 1.0);
  const double launch = part.calibration.kernel_launch.s();
  const double rate = 1978.9e12 * part.calibration.fp8_gemm_efficiency * 4096 / (4096 + part.calibration.gemm_k_half);
  const double padded = 2.0 * 12 * 132 * 128 * 256 * 4096;
  hw::GemmShape fast{4096, 12288, 4096, 1};
  hw::GemmShape split = fast;
  split.split_accumulation = true;
  EXPECT_NEAR(hw::gemm_time(part, hw::DType::kFp8, fast).s() - launch, padded / rate, 1e-9);
  EXPECT_NEAR(hw::gemm_time(part, hw::DType::kFp8, split).s() - launch, slowdown * padded / rate, 1e-9);
  EXPECT_EQ(hw::gemm_time(part, hw::DType::kBf16, split), hw::gemm_time(part, hw::DType::kBf16, fast));
  hw::GemmShape kept = split;
  kept.keep_16bit = true;
  EXPECT_EQ(hw::gemm_time(part, hw::DType::kFp8, kept), hw::gemm_time(part, hw::DType::kBf16, fast));
  // Hopper parts carry the factor (H200 and H800: H100's); a part without an FP8 fit keeps 1.
  for (const char* hopper : {"H200-SXM-141GB", "H800-SXM-80GB"}) {
    EXPECT_EQ(hw::PartCatalog::get().part(hopper).calibration.fp8_split_accumulation_slowdown, slowdown) << hopper;
  }
  EXPECT_EQ(hw::PartCatalog::get().part("A100-SXM-80GB").calibration.fp8_split_accumulation_slowdown, 1.0);
}

// backward_of marks both gradient GEMMs of every GEMM (Transformer Engine's _2X_ACC_DGRAD and _2X_ACC_WGRAD,
// torchao's use_fast_accum=False outside the forward); the forward GEMMs stay fast-accumulating.
TEST(Fp8Training, GradientGemmsAccumulateWithPromotionForwardOnesDoNot) {
  wl::GptModelConfig m;
  m.num_layers = 1, m.hidden_size = 1024, m.num_attention_heads = 8, m.seq_length = 1024;
  wl::LayerShard fp8;
  fp8.fp8 = true;
  const auto fwd = wl::layer_forward(m, 0, 1, 2, fp8).all();
  const auto bwd = wl::backward_of(fwd, 2);
  int forward_gemms = 0, gradient_gemms = 0;
  for (const auto& op : fwd) {
    if (op.op_class != hw::OpClass::kGemm) continue;
    EXPECT_FALSE(op.gemm.split_accumulation) << op.name;
    ++forward_gemms;
  }
  for (const auto& op : bwd) {
    if (op.op_class != hw::OpClass::kGemm) continue;
    EXPECT_TRUE(op.gemm.split_accumulation) << op.name;
    ++gradient_gemms;
  }
  EXPECT_EQ(forward_gemms, 4);  // qkv, attn_proj, mlp_up, mlp_down
  EXPECT_EQ(gradient_gemms, 2 * forward_gemms);
}

// Current (tensorwise) scaling, by hand on a 4,096-token micro-batch (h 4,096, 32 heads of 128: QKV out 3 x 4,096;
// GeLU MLP f = 4h): before each cast an amax pass reads the 16-bit input (2 B per element), and the cast itself is
// a full cast + transpose (2 + 1 + 1 B) even after a norm, which cannot write FP8 before the amax is known (delayed
// scaling: 1 B there). Backward: the output gradient's amax (2 B per element of the GEMM's output) before its cast
// and transpose (4 B, as with delayed scaling). Transformer Engine's own norm kernel computes the amax of what it
// writes (FUSED_NORM_AMAX_FP8, its default; NormCast::kAmaxFused): the QKV's and the MLP's first cast then have no
// amax pass forward, their output gradients still do; with cuDNN's norms (or torchao's float8) every cast has one.
TEST(Fp8Training, CurrentScalingReadsEachCastTensorOnceMoreForItsAmax) {
  wl::GptModelConfig m;
  m.num_layers = 1, m.hidden_size = 4096, m.num_attention_heads = 32, m.seq_length = 4096, m.swiglu = false;
  wl::LayerShard current;
  current.fp8 = true;
  current.fp8_current_scaling = true;
  current.fp8_norm_cast = wl::NormCast::kUnfused;
  const auto fwd = wl::layer_forward(m, 0, 1, 2, current).all();
  const auto bwd = wl::backward_of(fwd, 2);
  const double tok = 4096, h = 4096, f = 4 * h;
  ASSERT_EQ(m.ffn(), f);
  const std::map<std::string, std::pair<double, double>> expected = {  // forward bytes, backward bytes
      {"qkv_fp8_amax", {2 * tok * h, 2 * tok * 3 * h}},
      {"qkv_fp8_cast", {4 * tok * h, 4 * tok * 3 * h}},
      {"attn_proj_fp8_amax", {2 * tok * h, 2 * tok * h}},
      {"attn_proj_fp8_cast", {4 * tok * h, 4 * tok * h}},
      {"mlp_up_fp8_amax", {2 * tok * h, 2 * tok * f}},
      {"mlp_up_fp8_cast", {4 * tok * h, 4 * tok * f}},
      {"mlp_down_fp8_amax", {2 * tok * f, 2 * tok * h}},
      {"mlp_down_fp8_cast", {4 * tok * f, 4 * tok * h}}};
  std::map<std::string, int> seen;
  for (const auto& op : fwd) {
    if (!wl::is_fp8_amax(op) && !wl::is_fp8_cast(op)) continue;
    ASSERT_TRUE(expected.count(op.name)) << op.name;
    EXPECT_DOUBLE_EQ(op.bytes.bytes(), expected.at(op.name).first) << op.name;
    ++seen[op.name];
  }
  for (const auto& op : bwd) {
    const std::string name = op.name.size() > 4 ? op.name.substr(0, op.name.size() - 4) : "";
    if (!expected.count(name) || op.name != name + "_bwd") continue;
    EXPECT_DOUBLE_EQ(op.bytes.bytes(), expected.at(name).second) << op.name;
    ++seen[op.name];
  }
  EXPECT_EQ(seen.size(), 2 * expected.size());
  for (const auto& [name, n] : seen) EXPECT_EQ(n, 1) << name;
  // The norm's amax: the same kernels less the two norm-fed amax passes forward (2 B per element of t x h each);
  // backward unchanged, kernel for kernel.
  wl::LayerShard fused = current;
  fused.fp8_norm_cast = wl::NormCast::kAmaxFused;
  const auto fwd_fused = wl::layer_forward(m, 0, 1, 2, fused).all();
  const auto bwd_fused = wl::backward_of(fwd_fused, 2);
  EXPECT_EQ(fwd_fused.size() + 2, fwd.size());
  EXPECT_EQ(megatron_support::op_bytes(fwd_fused, "qkv_fp8_amax"), -1.0);  // none
  EXPECT_EQ(megatron_support::op_bytes(fwd_fused, "mlp_up_fp8_amax"), -1.0);
  EXPECT_DOUBLE_EQ(megatron_support::op_bytes(fwd_fused, "qkv_fp8_cast"), 4 * tok * h);
  EXPECT_DOUBLE_EQ(megatron_support::op_bytes(fwd_fused, "attn_proj_fp8_amax"), 2 * tok * h);
  ASSERT_EQ(bwd_fused.size(), bwd.size());
  for (size_t i = 0; i < bwd.size(); ++i) {
    EXPECT_EQ(bwd_fused[i].name, bwd[i].name);
    EXPECT_DOUBLE_EQ(bwd_fused[i].bytes.bytes(), bwd[i].bytes.bytes()) << bwd[i].name;
  }
  // Delayed scaling (the default) has no amax pass.
  wl::LayerShard delayed;
  delayed.fp8 = true;
  for (const auto& op : wl::layer_forward(m, 0, 1, 2, delayed).all()) EXPECT_FALSE(wl::is_fp8_amax(op)) << op.name;
}

// Transformer Engine caches each FP8 weight and its transpose across micro-batches (is_first_microbatch): once per
// iteration, every FP8 GEMM's weight is read in 16 bits and written as FP8 and FP8 transposed (2 + 1 + 1 B). By hand
// on megatron_support's layout (TP 2, PP 4: 2 layers of h 2,048 per stage, GeLU f = 4h): QKV 2,048 x 3,072, the
// projection 1,024 x 2,048, MLP up 2,048 x 4,096 and down 4,096 x 2,048 per TP rank, 12h^2 / 2 = 25,165,824 weights
// per layer, 50,331,648 per stage: 201.3 MB at H100's 3.35 TB/s x memory_efficiency, plus 8 launches (one per
// weight). The step carries it; bf16 runs have none, and it does not grow with the micro-batches (8 per DP rank or 1).
TEST(Fp8Training, TransformerEngineCastsEachFp8WeightOncePerIteration) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const double weights = 2 * 12.0 * 2048 * 2048 / 2;
  EXPECT_DOUBLE_EQ(weights, 50331648.0);
  const double by_hand = 4 * weights / (3.35e12 * part.calibration.memory_efficiency) +
                         8 * part.calibration.kernel_launch.s();
  auto bf16 = megatron_support::run({});
  auto fp8 = megatron_support::run({"workload.precision=fp8"});
  auto fp8_one = megatron_support::run({"workload.precision=fp8", "workload.global_batch_size=4"});
  EXPECT_NEAR(fp8["time_optimizer_s"] - bf16["time_optimizer_s"], by_hand, 1e-9);
  EXPECT_DOUBLE_EQ(fp8_one["time_optimizer_s"], fp8["time_optimizer_s"]);
  // The helper counts the four linear weights of a layer, not the unfused attention's activation GEMMs.
  wl::GptModelConfig m;
  m.num_layers = 1, m.hidden_size = 2048, m.num_attention_heads = 16, m.seq_length = 2048;
  wl::LayerShard sh;
  sh.tp = 2, sh.fp8 = true, sh.flash = false;
  const wl::Fp8WeightElements w = wl::fp8_gemm_weight_elements(wl::layer_forward(m, 0, 1, 2, sh).all());
  EXPECT_DOUBLE_EQ(w.all, weights / 2);
  EXPECT_EQ(w.gemms, 4);
  EXPECT_DOUBLE_EQ(w.experts, 0);  // a dense layer
  // A MoE layer (8 experts over EP 2, split over TP 2): the 4 local experts' up and down weights, 4 x 2 x f x h / 2,
  // counted apart (fp8_param_gather gathers them over the expert group); the router's 16-bit GEMM not at all.
  m.num_experts = 8, m.moe_router_topk = 2;
  sh.ep = 2;
  const wl::Fp8WeightElements moe = wl::fp8_gemm_weight_elements(wl::layer_forward(m, 0, 1, 2, sh).all());
  EXPECT_DOUBLE_EQ(moe.experts, 4.0 * 2 * 8192 * 2048 / 2);
  EXPECT_DOUBLE_EQ(moe.all - moe.experts, w.all - 2.0 * 8192 * 2048 / 2);  // attention's weights as the dense layer's
  EXPECT_EQ(moe.gemms, 4);
}

// --fp8-param-gather (NeMo's bf16_with_fp8_mixed sets it): the FP8 GEMMs' weights are kept in FP8, so the optimizer
// writes its shard of them in FP8 and the once-per-iteration work is the transpose alone (read 1 B, write 1 B: 2 B
// per element instead of TE's cache's 4), and the all-gather after the step moves 1 B for each such weight. By hand
// on megatron_support's layout (above: 50,331,648 FP8 weights per stage, a middle stage holding no embedding or
// output layer): the step is 2 x 50,331,648 B of streaming shorter, and stage 1's gather 50,331,648 B smaller than
// its 2 B per parameter.
TEST(Fp8Training, Fp8ParamGatherGathersFp8WeightsAndOnlyTransposesThem) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const double weights = 50331648.0;
  const std::vector<std::string> dist = {"workload.precision=fp8", "workload.use_distributed_optimizer=true"};
  std::vector<std::string> fp8_params = dist;
  fp8_params.push_back("workload.fp8_param_gather=true");
  auto cached = megatron_support::run(dist);
  auto gathered = megatron_support::run(fp8_params);
  EXPECT_NEAR(cached["time_optimizer_s"] - gathered["time_optimizer_s"],
              2 * weights / (3.35e12 * part.calibration.memory_efficiency), 1e-9);
  const Scenario a = megatron_support::parse_sets(dist), b = megatron_support::parse_sets(fp8_params);
  const auto pa = dynamic_cast<const wl::MegatronTraining&>(*a.workload).plan_stage(part, 1);
  const auto pb = dynamic_cast<const wl::MegatronTraining&>(*b.workload).plan_stage(part, 1);
  ASSERT_EQ(pa.param_gather.size(), 1u);
  ASSERT_EQ(pb.param_gather.size(), 1u);
  EXPECT_DOUBLE_EQ(pa.param_gather[0].size.bytes(), 2 * pa.dense_params);
  EXPECT_DOUBLE_EQ(pb.param_gather[0].size.bytes(), 2 * pb.dense_params - weights);
  EXPECT_DOUBLE_EQ(pb.memory.total.bytes(), pa.memory.total.bytes()) << "1 B weight and 1 B transpose for 2 B";
  // It needs FP8 and the distributed optimizer, as Megatron-LM's flag does.
  EXPECT_THROW(megatron_support::parse_sets({"workload.precision=fp8", "workload.fp8_param_gather=true"}),
               InputError);
  EXPECT_THROW(megatron_support::parse_sets({"workload.use_distributed_optimizer=true", "workload.fp8_param_gather=true"}),
               InputError);
}

// --fp8-param-gather with MXFP8 (Megatron-Bridge's bf16_with_mxfp8_mixed sets it): Megatron-core keeps an MXFP8
// model's gathered parameters in a 16-bit view of the gradient buffer (param_and_grad_buffer.py: shared_buffer for
// any MXFP8 parameter under the distributed optimizer), so the all-gather moves 2 B per weight and each weight is
// quantized after it (read 2 B, write the row- and column-wise copies with their scales): both as without the flag,
// where per-tensor FP8 on the same B200 gathers 1 B per FP8 weight and writes no transpose.
TEST(Fp8Training, MxFp8ParamGatherGathersSixteenBitWeightsAndQuantizesThem) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("B200");
  auto run = [&](const std::string& recipe, bool gather) {
    std::vector<std::string> sets = {"cluster.accelerator=B200", "workload.precision=fp8",
                                     "workload.use_distributed_optimizer=true", "workload.fp8_recipe=" + recipe};
    if (gather) sets.push_back("workload.fp8_param_gather=true");
    const Scenario sc = megatron_support::parse_sets(sets);
    const auto& w = dynamic_cast<const wl::MegatronTraining&>(*sc.workload);
    EXPECT_EQ(w.config().fp8_weights_gathered(), gather && recipe != "mxfp8") << recipe;
    return std::make_pair(w.plan_stage(part, 1), megatron_support::run(sets));
  };
  auto [mx_plain, mx_plain_run] = run("mxfp8", false);
  auto [mx_gather, mx_gather_run] = run("mxfp8", true);
  auto [cs_plain, cs_plain_run] = run("tensorwise", false);
  auto [cs_gather, cs_gather_run] = run("tensorwise", true);
  ASSERT_EQ(mx_gather.param_gather.size(), 1u);
  ASSERT_EQ(cs_gather.param_gather.size(), 1u);
  EXPECT_DOUBLE_EQ(mx_gather.param_gather[0].size.bytes(), 2 * mx_gather.dense_params);
  EXPECT_DOUBLE_EQ(mx_gather.param_gather[0].size.bytes(), mx_plain.param_gather[0].size.bytes());
  EXPECT_DOUBLE_EQ(mx_gather_run["time_optimizer_s"], mx_plain_run["time_optimizer_s"]);
  // Per-tensor FP8: 1 B per FP8 weight (50,331,648 per stage on this layout), and on B200 no transpose to write, so
  // nothing is cast after the step where TE's cache would read 2 B and write 1 B per weight, in 8 kernels (one per
  // FP8 GEMM weight of the stage's two layers).
  const double weights = 50331648.0;
  EXPECT_DOUBLE_EQ(cs_gather.param_gather[0].size.bytes(), 2 * cs_gather.dense_params - weights);
  EXPECT_NEAR(cs_plain_run["time_optimizer_s"] - cs_gather_run["time_optimizer_s"],
              3 * weights / (8e12 * part.calibration.memory_efficiency) + 8 * part.calibration.kernel_launch.s(),
              1e-9);
  // MXFP8's quantization after the gather writes more than per-tensor FP8's cache: 2 + 2/32 B against 1 B.
  EXPECT_NEAR(mx_plain_run["time_optimizer_s"] - cs_plain_run["time_optimizer_s"],
              (1 + 2.0 / 32) * weights / (8e12 * part.calibration.memory_efficiency), 1e-9);
}

// Transformer Engine's norm writes the FP8 input of the GEMM it feeds as its recipe allows (normalization.cpp, "Choose
// implementation"): delayed scaling fused (FULLY_FUSED), current scaling with the amax computed by the norm
// (FUSED_NORM_AMAX_FP8), MXFP8 unfused (the norm in 16 bits, then the quantization) unless cuDNN's norms are on
// (NVTE_NORM_FWD_USE_CUDNN: workload key cudnn_norm), which fuse MXFP8 and unfuse current scaling. torchao's float8
// (torch FSDP2) fuses nothing with current scaling. By hand on B200 (MXFP8 writes 2 + 2/32 B per element): the QKV's
// input cast reads 2 B and writes both copies, or the norm writes them instead of its 16-bit output (2/32 B more).
TEST(Fp8Training, TransformerEnginesNormWritesTheFp8InputAsTheRecipeAllows) {
  auto shard = [](const std::string& part, std::vector<std::string> sets) {
    sets.push_back("cluster.accelerator=" + part);
    sets.push_back("workload.precision=fp8");
    const Scenario sc = megatron_support::parse_sets(sets);
    return dynamic_cast<const wl::MegatronTraining&>(*sc.workload).config().layer_shard(
        &hw::PartCatalog::get().part(part));
  };
  const std::string h100 = "H100-SXM-80GB";
  EXPECT_EQ(shard(h100, {}).fp8_norm_cast, wl::NormCast::kFused);
  EXPECT_EQ(shard(h100, {"workload.fp8_recipe=tensorwise"}).fp8_norm_cast, wl::NormCast::kAmaxFused);
  EXPECT_EQ(shard(h100, {"workload.fp8_recipe=tensorwise", "workload.cudnn_norm=true"}).fp8_norm_cast,
            wl::NormCast::kUnfused);
  EXPECT_EQ(shard(h100, {"workload.fp8_recipe=tensorwise", "workload.use_torch_fsdp2=true",
                         "workload.use_distributed_optimizer=false", "workload.overlap_param_gather=false"})
                .fp8_norm_cast,
            wl::NormCast::kUnfused);
  const wl::LayerShard mx = shard("B200", {"workload.fp8_recipe=mxfp8"});
  const wl::LayerShard mx_cudnn = shard("B200", {"workload.fp8_recipe=mxfp8", "workload.cudnn_norm=true"});
  EXPECT_EQ(mx.fp8_norm_cast, wl::NormCast::kUnfused);
  EXPECT_EQ(mx_cudnn.fp8_norm_cast, wl::NormCast::kFused);
  EXPECT_TRUE(mx.fp8_block_scaled);
  wl::GptModelConfig m;
  m.num_layers = 1, m.hidden_size = 4096, m.num_attention_heads = 32, m.seq_length = 4096, m.swiglu = false;
  const double elements = 4096.0 * 4096;
  const auto qkv = [&](const wl::LayerShard& sh) {
    return megatron_support::op_bytes(wl::layer_forward(m, 0, 1, 2, sh).qkv, "qkv_fp8_cast");
  };
  EXPECT_DOUBLE_EQ(qkv(mx), (2 + 2 + 2.0 / 32) * elements);
  EXPECT_DOUBLE_EQ(qkv(mx_cudnn), 2.0 / 32 * elements);
  // The projection's input comes from attention, not a norm: the same cast either way.
  const auto proj = [&](const wl::LayerShard& sh) {
    return megatron_support::op_bytes(wl::layer_forward(m, 0, 1, 2, sh).attention, "attn_proj_fp8_cast");
  };
  EXPECT_DOUBLE_EQ(proj(mx), proj(mx_cudnn));
  // Multi-latent attention's latent norms sit in the up projections' LayerNormLinear modules (Megatron-core's MLA
  // spec with qk_layernorm): their casts are norm-fed too. Delayed scaling: 1 B per element of the query latent
  // (q_lora_rank 512 per token); current scaling: no amax pass forward, the output gradient's amax in backward.
  wl::GptModelConfig mla = m;
  mla.multi_latent_attention = true, mla.q_lora_rank = 512, mla.kv_lora_rank = 256, mla.qk_head_dim = 64;
  mla.qk_pos_emb_head_dim = 32, mla.v_head_dim = 64;
  wl::LayerShard delayed;
  delayed.fp8 = true;
  EXPECT_DOUBLE_EQ(megatron_support::op_bytes(wl::layer_forward(mla, 0, 1, 2, delayed).qkv, "q_up_fp8_cast"),
                   1.0 * 4096 * 512);
  wl::LayerShard cs;
  cs.fp8 = true, cs.fp8_current_scaling = true, cs.fp8_norm_cast = wl::NormCast::kAmaxFused;
  const auto mla_fwd = wl::layer_forward(mla, 0, 1, 2, cs).qkv;
  EXPECT_EQ(megatron_support::op_bytes(mla_fwd, "q_up_fp8_amax"), -1.0);
  EXPECT_EQ(megatron_support::op_bytes(mla_fwd, "kv_up_fp8_amax"), -1.0);
  EXPECT_GT(megatron_support::op_bytes(wl::backward_of(mla_fwd, 2), "kv_up_fp8_amax_bwd"), 0);
  // A whole run: the unfused MXFP8 norms take longer, by their bytes only (no kernel is added or removed; micro-
  // batches of 4 x 8,192 tokens, so that the kernels and not the host's issue set the time).
  const auto run = [](bool cudnn) {
    std::vector<std::string> sets = {"cluster.accelerator=B200", "workload.precision=fp8", "workload.fp8_recipe=mxfp8",
                                     "workload.model.seq_length=8192", "workload.micro_batch_size=4"};
    if (cudnn) sets.push_back("workload.cudnn_norm=true");
    return megatron_support::run(sets);
  };
  EXPECT_GT(run(false)["iteration_time_s"], run(true)["iteration_time_s"]);
}

// The workload key: fp8_recipe (delayed by default, Megatron-LM's default) reaches the layer plan only in FP8 runs;
// an unknown recipe is an error that names the key, its line and the allowed values.
TEST(Fp8Training, Fp8RecipeKeyChoosesCurrentScalingOnlyForFp8Runs) {
  const char* workload = R"(workload:
  type: megatron
  model: {num_layers: 2, hidden_size: 1024, num_attention_heads: 8, seq_length: 1024, vocab_size: 32000}
  global_batch_size: 32
  micro_batch_size: 1
)";
  auto shard = [&](const std::string& extra) {
    Scenario sc = parse_with(workload + extra);
    return dynamic_cast<const wl::MegatronTraining&>(*sc.workload).config().layer_shard();
  };
  EXPECT_FALSE(shard("  precision: fp8\n").fp8_current_scaling);
  EXPECT_TRUE(shard("  precision: fp8\n  fp8_recipe: tensorwise\n").fp8_current_scaling);
  EXPECT_FALSE(shard("  fp8_recipe: tensorwise\n").fp8_current_scaling);
  try {
    shard("  precision: fp8\n  fp8_recipe: nvfp4\n");
    ADD_FAILURE() << "an unknown recipe was accepted";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("mt.yaml:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("fp8_recipe"), std::string::npos) << msg;
    EXPECT_NE(msg.find("tensorwise"), std::string::npos) << msg;
    EXPECT_NE(msg.find("delayed"), std::string::npos) << msg;
    EXPECT_NE(msg.find("mxfp8"), std::string::npos) << msg;
  }
}

// MXFP8 (Transformer Engine's MXFP8BlockScaling; Megatron-LM's --fp8-recipe mxfp8): one E8M0 scale per 32 elements,
// computed inside each cast, in tensor cores that apply the scales themselves (Blackwell's, the part key
// block_scaled_fp8). A Hopper part has none: the key and the part are named. On B200 its casts are delayed
// scaling's (no amax pass: each cast reads 2 B and writes the row- and column-wise FP8 copies), unlike current
// scaling's.
TEST(Fp8Training, MxFp8RunsOnBlockScaledTensorCoresWithoutAmaxPasses) {
  const std::string msg = megatron_support::parse_sets_error({"workload.precision=fp8", "workload.fp8_recipe=mxfp8"});
  EXPECT_NE(msg.find("fp8_recipe"), std::string::npos) << msg;
  EXPECT_NE(msg.find("H100-SXM-80GB has none"), std::string::npos) << msg;
  EXPECT_NE(msg.find("block_scaled_fp8"), std::string::npos) << msg;
  EXPECT_TRUE(hw::PartCatalog::get().part("B200").block_scaled_fp8);
  EXPECT_TRUE(hw::PartCatalog::get().part("B300").block_scaled_fp8);
  EXPECT_FALSE(hw::PartCatalog::get().part("H100-SXM-80GB").block_scaled_fp8);
  auto b200 = [](const std::string& recipe) {
    std::vector<std::string> sets = {"cluster.accelerator=B200", "workload.precision=fp8",
                                     "workload.fp8_recipe=" + recipe};
    const Scenario sc = megatron_support::parse_sets(sets);
    return dynamic_cast<const wl::MegatronTraining&>(*sc.workload).config().layer_shard(
        &hw::PartCatalog::get().part("B200"));
  };
  const wl::LayerShard mx = b200("mxfp8"), current = b200("tensorwise");
  EXPECT_TRUE(mx.fp8);
  EXPECT_FALSE(mx.fp8_current_scaling);
  wl::GptModelConfig m;
  m.num_layers = 2, m.hidden_size = 1024, m.num_attention_heads = 8, m.seq_length = 1024, m.vocab_size = 32000;
  auto amax_passes = [&](const wl::LayerShard& sh) {
    int n = 0;
    for (const auto& op : wl::layer_forward(m, 0, 1, 2, sh).all()) n += wl::is_fp8_amax(op);
    return n;
  };
  EXPECT_EQ(amax_passes(mx), 0);
  EXPECT_GT(amax_passes(current), 0);
  // The attention output's cast before the projection: 2 B read, 1 + 1 B written per element (its row- and
  // column-wise copies) and one E8M0 scale per 32 elements of each, against current scaling's amax pass over the
  // same elements (2 B read) and its cast, which on B200 writes one FP8 copy and no transpose (2 B read, 1 B
  // written: FP8 GEMMs take any layout there, AcceleratorSpec::non_tn_fp8_gemm); on H100 it writes both (the layer
  // shard without a part is Hopper's).
  const auto mx_attn = wl::layer_forward(m, 0, 1, 2, mx).attention;
  const auto cs_attn = wl::layer_forward(m, 0, 1, 2, current).attention;
  const double cast = megatron_support::op_bytes(mx_attn, "attn_proj_fp8_cast");
  const double amax = megatron_support::op_bytes(cs_attn, "attn_proj_fp8_amax");
  EXPECT_GT(cast, 0);
  EXPECT_DOUBLE_EQ(cast, (2 + 2 + 2.0 / 32) / 2 * amax);
  EXPECT_DOUBLE_EQ(megatron_support::op_bytes(cs_attn, "attn_proj_fp8_cast"), 1.5 * amax);
  EXPECT_TRUE(hw::PartCatalog::get().part("B200").non_tn_fp8_gemm);
  EXPECT_FALSE(hw::PartCatalog::get().part("H100-SXM-80GB").non_tn_fp8_gemm);
  const Scenario hopper = megatron_support::parse_sets({"workload.precision=fp8", "workload.fp8_recipe=tensorwise"});
  const wl::LayerShard h100 = dynamic_cast<const wl::MegatronTraining&>(*hopper.workload).config().layer_shard(
      &hw::PartCatalog::get().part("H100-SXM-80GB"));
  EXPECT_DOUBLE_EQ(megatron_support::op_bytes(wl::layer_forward(m, 0, 1, 2, h100).attention, "attn_proj_fp8_cast"),
                   2 * amax);
  // The output gradient's cast in backward the same way: 2 B read and what the forward's cast writes, per element.
  const auto grad = [&](const wl::LayerShard& sh) {
    return megatron_support::op_bytes(wl::backward_of(wl::layer_forward(m, 0, 1, 2, sh).attention, 2,
                                                      sh.fp8_cast_out),
                                      "attn_proj_fp8_cast_bwd");
  };
  EXPECT_DOUBLE_EQ(grad(current) / grad(h100), 3.0 / 4.0);
  EXPECT_DOUBLE_EQ(grad(mx) / grad(h100), (4 + 2.0 / 32) / 4.0);
  // Its GEMMs run at the part's measured MXFP8 rate: mxfp8_gemm_slowdown (1.051 on B200, B300's measurement) times
  // a per-tensor FP8 GEMM's time, the launch apart; a BF16 GEMM as before.
  auto kernels = [](const std::string& recipe) {
    const Scenario sc = megatron_support::parse_sets(
        {"cluster.accelerator=B200", "workload.precision=fp8", "workload.fp8_recipe=" + recipe});
    const auto& c = dynamic_cast<const wl::MegatronTraining&>(*sc.workload).config();
    return c.kernels_on(hw::PartCatalog::get().part("B200"));
  };
  const hw::AcceleratorSpec mx_part = kernels("mxfp8"), cs_part = kernels("tensorwise");
  const hw::GemmShape g{8192, 8192, 8192};
  const double launch = cs_part.calibration.kernel_launch.s();
  EXPECT_DOUBLE_EQ(mx_part.calibration.mxfp8_gemm_slowdown, 1.051);
  EXPECT_NEAR((hw::gemm_time(mx_part, hw::DType::kFp8, g).s() - launch) /
                  (hw::gemm_time(cs_part, hw::DType::kFp8, g).s() - launch),
              1.051, 1e-9);
  EXPECT_DOUBLE_EQ(hw::gemm_time(mx_part, hw::DType::kBf16, g).s(), hw::gemm_time(cs_part, hw::DType::kBf16, g).s());
  // Megatron-LM's flag names the recipe; Hopper's blockwise on a Blackwell part is an error naming MXFP8, as is an
  // unknown recipe with the allowed ones.
  const Scenario cli = megatron_support::parse_sets(
      {"cluster.accelerator=B200", "workload.megatron_args=--fp8-format hybrid --fp8-recipe mxfp8"});
  EXPECT_EQ(dynamic_cast<const wl::MegatronTraining&>(*cli.workload).config().fp8_recipe, "mxfp8");
  const std::string bad = megatron_support::parse_sets_error(
      {"cluster.accelerator=B200", "workload.megatron_args=--fp8-format hybrid --fp8-recipe blockwise"});
  EXPECT_NE(bad.find("'blockwise' is Hopper's block scaling; on B200"), std::string::npos) << bad;
  EXPECT_NE(bad.find("use mxfp8"), std::string::npos) << bad;
  const std::string unknown = megatron_support::parse_sets_error(
      {"cluster.accelerator=B200", "workload.megatron_args=--fp8-format hybrid --fp8-recipe fp4"});
  EXPECT_NE(unknown.find("fp8_recipe"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("mxfp8"), std::string::npos) << unknown;
}

// Megatron-LM's --first-last-layers-bf16 (Megatron-core's is_first_last_bf16_layer: global layer index; Megatron-
// Bridge's bf16_with_fp8_current_scaling_mixed sets it with 1 and 1): those layers run as a BF16 run's, the others
// as FP8's. The test layout: 8 layers on PP 4, two per stage, TP 2, on H100.
TEST(Fp8Training, FirstAndLastLayersInBf16RunAsBf16Layers) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const std::string fp8 = "workload.precision=fp8", on = "workload.first_last_layers_bf16=true";
  auto plans = [&](const std::vector<std::string>& sets) {
    const Scenario sc = megatron_support::parse_sets(sets);
    const auto& w = dynamic_cast<const wl::MegatronTraining&>(*sc.workload);
    std::vector<wl::MegatronTraining::StagePlan> out;
    for (int s = 0; s < 4; ++s) out.push_back(w.plan_stage(part, s));
    return out;
  };
  const auto all_fp8 = plans({fp8}), ends = plans({fp8, on}), none = plans({fp8, on, "workload.num_layers_at_start_in_bf16=0",
                                                                              "workload.num_layers_at_end_in_bf16=0"});
  // Layer 0 (stage 0) and layer 7 (stage 3) costed otherwise (at this small width FP8's casts cost about what its
  // GEMMs save, so either way); stages 1 and 2 untouched; no layer counted: as off.
  EXPECT_NE(ends[0].forward[0].compute, all_fp8[0].forward[0].compute);
  EXPECT_NE(ends[3].backward[0].compute, all_fp8[3].backward[0].compute);
  for (int s : {1, 2}) {
    EXPECT_EQ(ends[s].forward[0].compute, all_fp8[s].forward[0].compute) << s;
    EXPECT_EQ(ends[s].backward[0].compute, all_fp8[s].backward[0].compute) << s;
  }
  for (int s = 0; s < 4; ++s) EXPECT_EQ(none[s].forward[0].compute, all_fp8[s].forward[0].compute) << s;
  // Every layer in BF16: each stage's passes are a BF16 run's, bit for bit.
  const auto bf16 = plans({}), every = plans({fp8, on, "workload.num_layers_at_start_in_bf16=8"});
  for (int s = 0; s < 4; ++s) {
    EXPECT_EQ(every[s].forward[0].compute, bf16[s].forward[0].compute) << s;
    EXPECT_EQ(every[s].backward[0].compute, bf16[s].backward[0].compute) << s;
  }
  // Their linear inputs kept in 16 bits: more activation memory than all-FP8 layers keep.
  EXPECT_GT(megatron_support::memory_item(ends[1].memory, "activations"),
            megatron_support::memory_item(all_fp8[1].memory, "activations"));
  // From a Megatron-LM line, and only with FP8.
  const Scenario line = parse_with(R"(workload:
  type: megatron
  megatron_args: "--fp8-format hybrid --first-last-layers-bf16 --num-layers-at-start-in-bf16 2 --num-layers-at-end-in-bf16 0"
)");
  const auto& c = dynamic_cast<const wl::MegatronTraining&>(*line.workload).config();
  EXPECT_TRUE(c.first_last_layers_bf16);
  EXPECT_TRUE(c.bf16_layer(1));
  EXPECT_FALSE(c.bf16_layer(2));
  EXPECT_FALSE(c.bf16_layer(7));
  EXPECT_TRUE(c.not_modelled_args.empty());
  const std::string e = megatron_support::parse_sets_error({on});
  EXPECT_NE(e.find("first_last_layers_bf16: keeps some layers out of FP8 or NVFP4; it needs precision: fp8 or fp4"),
            std::string::npos)
      << e;
}

// Hopper's block scaling (--fp8-recipe blockwise, Transformer Engine's Float8BlockScaling, which NVIDIA's H100 FP8
// MoE recipes use): each cast writes the row- and column-wise copies with an FP32 scale per 128 elements each (2 +
// 2 x 4/128 B per element) and needs no amax pass (the scales come from each block's own amax, inside the cast); the
// norm before a GEMM writes 16 bits, then the cast; the GEMMs run fp8_block_gemm_slowdown (1.209 on H100) longer
// than per-tensor FP8's. Not on Blackwell (FP8RecipeTest below: an error naming mxfp8).
TEST(Fp8Training, BlockwiseCastsWriteScaledCopiesWithoutAmaxAndItsGemmsRunAtTheBlockRate) {
  auto config = [](const std::string& recipe) {
    return megatron_support::parse_sets({"workload.precision=fp8", "workload.fp8_recipe=" + recipe});
  };
  const Scenario block_sc = config("blockwise"), delayed_sc = config("delayed"), current_sc = config("tensorwise");
  const auto& block = dynamic_cast<const wl::MegatronTraining&>(*block_sc.workload).config();
  const auto& delayed = dynamic_cast<const wl::MegatronTraining&>(*delayed_sc.workload).config();
  const auto& current = dynamic_cast<const wl::MegatronTraining&>(*current_sc.workload).config();
  const hw::AcceleratorSpec& h100 = hw::PartCatalog::get().part("H100-SXM-80GB");
  const wl::LayerShard b = block.layer_shard(&h100), d = delayed.layer_shard(&h100), c = current.layer_shard(&h100);
  EXPECT_DOUBLE_EQ(b.fp8_cast_out, 2 + 2 * 4.0 / 128);
  EXPECT_FALSE(b.fp8_current_scaling);
  EXPECT_EQ(b.fp8_norm_cast, wl::NormCast::kUnfused);
  wl::GptModelConfig m;
  m.num_layers = 2, m.hidden_size = 1024, m.num_attention_heads = 8, m.seq_length = 1024, m.vocab_size = 32000;
  const auto bl = wl::layer_forward(m, 0, 1, 2, b).attention, dl = wl::layer_forward(m, 0, 1, 2, d).attention,
             cl = wl::layer_forward(m, 0, 1, 2, c).attention;
  EXPECT_LT(megatron_support::op_bytes(bl, "attn_proj_fp8_amax"), 0);  // no such op (op_bytes: -1)
  EXPECT_GT(megatron_support::op_bytes(cl, "attn_proj_fp8_amax"), 0);
  EXPECT_DOUBLE_EQ(megatron_support::op_bytes(bl, "attn_proj_fp8_cast") / megatron_support::op_bytes(dl, "attn_proj_fp8_cast"),
                   (2 + 2 + 2 * 4.0 / 128) / (2 + 2.0));
  const hw::GemmShape g{8192, 8192, 8192};
  const double launch = h100.calibration.kernel_launch.s();
  EXPECT_NEAR((hw::gemm_time(block.kernels_on(h100), hw::DType::kFp8, g).s() - launch) /
                  (hw::gemm_time(delayed.kernels_on(h100), hw::DType::kFp8, g).s() - launch),
              1.209, 1e-9);
  EXPECT_DOUBLE_EQ(hw::gemm_time(block.kernels_on(h100), hw::DType::kBf16, g).s(),
                   hw::gemm_time(h100, hw::DType::kBf16, g).s());
}

// Transformer Engine's own GEMM benchmark (data/calibration/te_gemm_profiling.csv: benchmarks/gemm/benchmark_gemm.py
// as TE's GEMM profiling guide ran it, a 5B layer of hidden 4,096 and FFN 16,384 at 15,872 tokens, its 12 GEMMs:
// fprop, dgrad, wgrad of QKV, attention out, MLP up and down), per layer, against lcsim's kernels for the same
// GEMMs: each at the recipe's GEMM rate (kernels_on: MXFP8's measured slowdown; dgrad and wgrad with split
// accumulation, as Transformer Engine's training GEMMs), and, in autocast mode, both operands of every GEMM cast by
// the recipe's rule (fp8_input_cast: 2 B read and fp8_cast_out written per element, current scaling an amax pass
// before; block scaling no amax pass and both copies with FP32 scales per 128 elements). H200 NVL rows run on lcsim's
// H200 SXM (700 W; the NVL is a 600 W card lcsim has no part for); B300 rows on B300. Every FP8 row and B300's BF16
// rows within 7%; current scaling over delayed within 7% on both parts. Not independent of the table: B300's BF16
// and FP8 GEMM rates were fitted to its forward rows (b300.yaml), MXFP8's slowdown to two of its B300 rows, and Hopper's
// block-scaled GEMM slowdown (fp8_block_gemm_slowdown 1.209) to the H200 block row, and (since 8 Dec 2026) B300's
// NVFP4 rate (fp4_gemm_efficiency) to its pre-quantized NVFP4 forward row; the NVFP4 autocast row (casts as FP8
// current scaling's, writing NVFP4's two copies) and the H200 current and delayed rows are checks (H200's rates are
// H100's measurements). H200's BF16 rows are not checked: lcsim runs them 14%
// faster (its BF16 rate, 0.70 of peak, is H100 SXM's sustained rate at 700 W; the NVL's 600 W shows on BF16 GEMMs,
// 0.60 of peak here, while its FP8 GEMMs match lcsim's within 1%).
TEST(Fp8Training, RecipesGemmsAndCastsAsTransformerEnginesOwnBenchmarkMeasuresThem) {
  const auto rows = testing::csv_rows("data/calibration/te_gemm_profiling.csv",
                                      "source,gpu,mode,recipe,fprop_ms,dgrad_ms,wgrad_ms,layer_ms");
  ASSERT_EQ(rows.size(), 17u);
  struct Shape { double m, k, n; };
  const std::vector<Shape> gemms = {{15872, 4096, 12288}, {15872, 4096, 4096}, {15872, 4096, 16384},
                                    {15872, 16384, 4096}};
  // lcsim's time for one layer's 12 GEMMs (ms), with or without the autocast casts.
  auto layer_ms = [&](const std::string& part_name, const std::string& recipe, bool casts) {
    std::vector<std::string> sets = {"cluster.accelerator=" + part_name};
    if (recipe == "nvfp4") {
      sets.push_back("workload.precision=fp4");
    } else if (recipe != "bf16") {
      sets.push_back("workload.precision=fp8");
      sets.push_back("workload.fp8_recipe=" + recipe);
    }
    const Scenario sc = megatron_support::parse_sets(sets);
    const auto& c = dynamic_cast<const wl::MegatronTraining&>(*sc.workload).config();
    const hw::AcceleratorSpec& base = hw::PartCatalog::get().part(part_name);
    const hw::AcceleratorSpec part = c.kernels_on(base);
    const wl::LayerShard sh = c.layer_shard(&base);
    const hw::DType dtype = recipe == "bf16"    ? hw::DType::kBf16
                            : recipe == "nvfp4" ? hw::DType::kFp4
                                                : hw::DType::kFp8;
    auto cast = [&](double elements) {
      if (!casts || recipe == "bf16") return 0.0;
      std::vector<hw::OpWork> ops;
      wl::fp8_input_cast(ops, "x_fp8_cast", elements, 2, sh, false);
      double t = 0;
      for (const auto& op : ops) t += hw::op_time(part, dtype, op).s();
      return t;
    };
    double t = 0;
    for (const Shape& g : gemms) {
      const hw::GemmShape fprop{g.m, g.n, g.k};
      hw::GemmShape dgrad{g.m, g.k, g.n}, wgrad{g.k, g.n, g.m};
      dgrad.split_accumulation = wgrad.split_accumulation = wgrad.weight_gradient = true;
      t += hw::gemm_time(part, dtype, fprop).s() + hw::gemm_time(part, dtype, dgrad).s() +
           hw::gemm_time(part, dtype, wgrad).s();
      t += 2 * cast(g.m * g.k) + 2 * cast(g.k * g.n) + 2 * cast(g.m * g.n);  // X, W, dY: each in two GEMMs
    }
    return t * 1e3;
  };
  const std::map<std::string, std::string> parts = {{"H200 NVL", "H200-SXM-141GB"}, {"B300 SXM6 AC", "B300"}};
  const std::map<std::string, std::string> recipes = {
      {"bf16", "bf16"},   {"current", "tensorwise"}, {"delayed", "delayed"},
      {"mxfp8", "mxfp8"}, {"block", "blockwise"},    {"nvfp4", "nvfp4"}};
  std::map<std::string, double> measured, simulated;
  int checked = 0;
  for (const auto& r : rows) {
    const auto recipe = recipes.find(r[3]);
    if (recipe == recipes.end() || (r[2] == "prequantized" && r[3] == "delayed")) continue;  // delayed
    // stays in autocast even when pre-quantized (the guide's note)
    const std::string part = parts.at(r[1]);
    const double m = std::stod(r[7]), s = layer_ms(part, recipe->second, r[2] == "autocast");
    measured[r[1] + r[2] + r[3]] = m;
    simulated[r[1] + r[2] + r[3]] = s;
    if (r[1] == "H200 NVL" && r[3] == "bf16") continue;  // the 600 W card's BF16 rate (above)
    // NVFP4's autocast row reads -8.1%: its casts (amax pass, then both copies, the Hadamard transform and stochastic
    // rounding inside) cost 2.69 ms there against lcsim's memory-bound 2.17 ms; not fitted (docs/calibration-fp8.md).
    const double band = r[2] == "autocast" && r[3] == "nvfp4" ? 0.09 : 0.07;
    EXPECT_NEAR(s / m, 1.0, band) << r[1] << " " << r[2] << " " << r[3] << ": lcsim " << s << " ms, measured " << m;
    ++checked;
  }
  EXPECT_EQ(checked, 13);
  for (const std::string gpu : {"H200 NVL", "B300 SXM6 AC"}) {
    const double m = measured[gpu + "autocastcurrent"] / measured[gpu + "autocastdelayed"];
    const double s = simulated[gpu + "autocastcurrent"] / simulated[gpu + "autocastdelayed"];
    EXPECT_NEAR(s / m, 1.0, 0.07) << gpu << ": current over delayed, lcsim " << s << ", measured " << m;
  }
  // The miss left unchecked above, as documented: lcsim's H200 BF16 faster than the 600 W card's.
  EXPECT_LT(simulated["H200 NVLautocastbf16"], measured["H200 NVLautocastbf16"]);
}

}  // namespace
}  // namespace lcsim
