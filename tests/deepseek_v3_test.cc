// What the DeepSeek-V3 technical report (arXiv 2412.19437) says its run does and lcsim models since: dense first
// layers (section 4.2), the multi-token-prediction module (section 2.2), Adam's moments in BF16 (section 3.3.3),
// recomputation by module (RMSNorm and MLA up-projections, section 3.2.3; the SwiGLU output, section 3.3.3) and
// FP8 saved activations (section 3.3.3). Every expected number is worked out by hand from the layer's shapes.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "megatron_support.h"
#include "test_support.h"

#include "models/hardware/catalog.h"
#include "models/hardware/memory.h"
#include "models/hardware/step_overhead.h"
#include "scenarios/scenario.h"
#include "workloads/training/layer_activations.h"
#include "workloads/training/megatron.h"

namespace lcsim {
namespace {

using wl::MegatronTraining;

using megatron_support::parse_sets;
const auto& item = megatron_support::memory_item;

double flops(const std::vector<hw::OpWork>& ops) {
  double sum = 0;
  for (const auto& op : ops) sum += op.flops.value();
  return sum;
}

bool has_op(const std::vector<hw::OpWork>& ops, const std::string& name) {
  for (const auto& op : ops) {
    if (op.name == name) return true;
  }
  return false;
}

// h 1,024, 8 heads, RMSNorm, no biases, SwiGLU; 16 experts of 512, top 2, one shared expert of 512; the first
// layer dense with an FFN of 4,096.
wl::GptModelConfig small_moe() {
  wl::GptModelConfig m;
  m.num_layers = 4, m.hidden_size = 1024, m.num_attention_heads = 8, m.ffn_hidden_size = 4096, m.seq_length = 1024;
  m.vocab_size = 32000, m.swiglu = true, m.normalization = "RMSNorm", m.add_bias_linear = false;
  m.num_experts = 16, m.moe_router_topk = 2, m.moe_ffn_hidden_size = 512, m.moe_shared_expert_intermediate_size = 512;
  m.moe_first_dense_layers = 1;
  return m;
}

TEST(DeepSeekV3Model, FirstDenseLayersHaveNoExpertsAndTheirOwnWidth) {
  const wl::GptModelConfig m = small_moe();
  EXPECT_FALSE(m.is_moe_layer(0));
  EXPECT_TRUE(m.is_moe_layer(1));
  EXPECT_TRUE(m.is_moe_layer(3));
  EXPECT_EQ(m.moe_layers(), 3);
  // Attention 4h^2 + h (its norm); dense MLP 3 h 4,096 + h; MoE: 16 experts of 3 h 512, the router 16 h, the norm
  // h and the shared expert 3 h 512.
  EXPECT_DOUBLE_EQ(m.layer_params(0), 4195328.0 + 12583936.0);
  EXPECT_DOUBLE_EQ(m.layer_params(1), 4195328.0 + 25165824.0 + 16384 + 1024 + 1572864);
  // Layer 0's MLP: 2 t h 2f + 2 t f h = 6 t h f GEMM FLOPs at t = 1,024 tokens, and no router.
  const wl::LayerOps dense = wl::layer_forward(m, 0, 1, 2), moe = wl::layer_forward(m, 1, 1, 2);
  EXPECT_DOUBLE_EQ(flops(dense.mlp), 6.0 * 1024 * 1024 * 4096);
  EXPECT_FALSE(has_op(dense.norm2, "router"));
  EXPECT_TRUE(has_op(moe.norm2, "router"));
  // Layer 1: 16 local experts of 1,024 x 2 / 16 = 128 tokens each, plus the shared expert on all 1,024.
  EXPECT_DOUBLE_EQ(flops(moe.mlp), 16 * 6.0 * 128 * 1024 * 512 + 6.0 * 1024 * 1024 * 512);
  // Model FLOPs (Megatron's count): the dense layer does 4 h f 3/2 per token instead of 4 h (2 x 512 + 512) 3/2.
  wl::GptModelConfig all_moe = m;
  all_moe.moe_first_dense_layers = 0;
  EXPECT_DOUBLE_EQ(m.forward_model_flops(1) - all_moe.forward_model_flops(1), 1024.0 * 4 * 1024 * 1.5 * (4096 - 1536));
}

// The report's model (section 4.2): "671B total parameters, of which 37B are activated for each token". The main
// model by hand: embedding and untied head 2 x 129,280 x 7,168 + the final norm; 61 attention blocks of 187,114,496
// (MLA projections and the norm); 3 dense MLPs of 3 x 7,168 x 18,432 + 7,168; 58 MoE MLPs of 257 experts (routed and
// shared) of 3 x 7,168 x 2,048, the router 7,168 x 256 and the norm. The MTP module is counted apart.
TEST(DeepSeekV3Model, TheReportsModelHas671BParametersAnd37BActive) {
  wl::GptModelConfig m;
  m.num_layers = 61, m.hidden_size = 7168, m.num_attention_heads = 128, m.seq_length = 4096, m.vocab_size = 129280;
  m.swiglu = true, m.normalization = "RMSNorm", m.position_embedding_type = "rope", m.add_bias_linear = false;
  m.untie_embeddings_and_output_weights = true, m.ffn_hidden_size = 18432, m.moe_first_dense_layers = 3;
  m.multi_latent_attention = true, m.q_lora_rank = 1536, m.kv_lora_rank = 512;
  m.num_experts = 256, m.moe_router_topk = 8, m.moe_ffn_hidden_size = 2048, m.moe_shared_expert_intermediate_size = 2048;
  const double expert = 3.0 * 7168 * 2048;
  const double main = 2.0 * 129280 * 7168 + 7168 + 61 * 187114496.0 + 3 * (3.0 * 7168 * 18432 + 7168) +
                      58 * (257 * expert + 7168.0 * 256 + 7168);
  EXPECT_DOUBLE_EQ(m.total_params(), main);
  EXPECT_NEAR(m.total_params(), 671e9, 0.1e9);
  EXPECT_NEAR(m.active_params(), main - 58 * 248 * expert, 1);
  EXPECT_NEAR(m.active_params(), 37.5e9, 0.1e9);
  m.mtp_num_layers = 1;  // its own: three norms, the 2h x h projection and one MoE layer
  EXPECT_DOUBLE_EQ(m.total_params() - main, 3 * 7168 + 2.0 * 7168 * 7168 + 187114496.0 + 257 * expert + 7168.0 * 256 + 7168);
}

// One MTP module on kBase (h 2,048, 16 heads, LayerNorm with biases, GeLU 4h, 8 layers on PP 4, TP 2).
TEST(DeepSeekV3Model, MtpAddsALayerItsProjectionAndTheLogitsOnce) {
  Scenario with = parse_sets({"workload.model.mtp_num_layers=1"}), without = parse_sets({});
  const auto& w = dynamic_cast<const MegatronTraining&>(*with.workload);
  const auto& o = dynamic_cast<const MegatronTraining&>(*without.workload);
  const wl::GptModelConfig& m = w.config().model;
  // Its own parameters: three LayerNorms (2h each), the 2h x h projection and one layer (attention 4h^2 + 6h,
  // MLP 8h^2 + 7h).
  const double h = 2048, layer = 4 * h * h + 6 * h + 8 * h * h + 7 * h;
  EXPECT_DOUBLE_EQ(m.mtp_params(), 3 * 2 * h + 2 * h * h + layer);
  EXPECT_DOUBLE_EQ(m.total_params() - o.config().model.total_params(), m.mtp_params());
  // Megatron's model FLOPs per sequence of 2,048: the layer (attention 12h^2 at s = h, MLP 16h^2), 2 (3h + 2h^2)
  // for the norms and projection, 2 h V for the logits again.
  EXPECT_DOUBLE_EQ(m.forward_model_flops(1) - o.config().model.forward_model_flops(1),
                   2048 * (12 * h * h + 16 * h * h + 2 * (3 * h + 2 * h * h) + 2 * h * 32000));
  // The last stage runs it after the output layer: 1 input segment, the layer's 6 and the head's 2 more each way;
  // in backward 3 more again (TP 2 without SP: the layer's QKV and first MLP GEMMs and the logits each end their
  // input-gradient part with the all-reduce beside their weight-gradient GEMM, a segment of its own).
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const auto p = w.plan_stage(part, 3), q = o.plan_stage(part, 3);
  EXPECT_EQ(p.forward[0].segments.size(), q.forward[0].segments.size() + 9);
  EXPECT_EQ(p.backward[0].segments.size(), q.backward[0].segments.size() + 9 + 3);
  EXPECT_GT(p.forward[0].compute, q.forward[0].compute);
  EXPECT_DOUBLE_EQ(p.dense_params - q.dense_params, m.mtp_params() / 2);
  // Other stages are unchanged.
  EXPECT_EQ(w.plan_stage(part, 2).forward[0].compute, o.plan_stage(part, 2).forward[0].compute);
  // Memory on stage 3 (1F1B: one micro-batch in flight): three layers' activations instead of two, two logits.
  EXPECT_DOUBLE_EQ(item(p.memory, "activations"), 1.5 * item(q.memory, "activations"));
  EXPECT_DOUBLE_EQ(item(p.memory, "logits and loss"), 2 * item(q.memory, "logits and loss"));
}

// Adam's moments in BF16: 4 (fp32 master) + 2 + 2 bytes per parameter instead of 12; the step moves 8 B less.
TEST(DeepSeekV3Memory, Bf16MomentsTakeFourBytesPerParameterLess) {
  Scenario bf = parse_sets({"workload.exp_avg_dtype=bf16", "workload.exp_avg_sq_dtype=bf16"}), fp = parse_sets({});
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  const auto p = dynamic_cast<const MegatronTraining&>(*bf.workload).plan_stage(part, 1);
  const auto q = dynamic_cast<const MegatronTraining&>(*fp.workload).plan_stage(part, 1);
  EXPECT_DOUBLE_EQ(item(p.memory, "optimizer states"), q.dense_params * 8);
  EXPECT_DOUBLE_EQ(item(q.memory, "optimizer states"), q.dense_params * 12);
  EXPECT_LT(p.optimizer, q.optimizer);
  // Per updated parameter: grad norm 4, Adam 14 + 2 x moments, zeroing 4.
  EXPECT_DOUBLE_EQ(hw::optimizer_step_bytes({1000, 1000, 4, 4}).bytes(), 1000.0 * (4 + 14 + 8) + 1000 * 4);
  EXPECT_DOUBLE_EQ(hw::optimizer_step_bytes({1000, 1000, 4, 8}).bytes(), 1000.0 * (4 + 30) + 1000 * 4);
}

// Tensor by tensor, the closed form of Korthikanti et al. for plain attention: 10h whole, 8h + 4f (GeLU) split.
TEST(DeepSeekV3Memory, TensorInventoryGivesTheClosedFormForPlainAttention) {
  wl::GptModelConfig m;
  m.hidden_size = 2048, m.num_attention_heads = 16;
  const wl::LayerActivations a = wl::layer_activations(m, 0, {});
  EXPECT_DOUBLE_EQ(a.whole, 10 * 2048.0);
  EXPECT_DOUBLE_EQ(a.split, 8 * 2048.0 + 4 * 8192.0);
  m.swiglu = true;
  EXPECT_DOUBLE_EQ(wl::layer_activations(m, 0, {}).split, 8 * 2048.0 + 6 * 8192.0);
  hw::TrainingMemoryInput closed;
  closed.seq = 2048, closed.hidden = 2048, closed.ffn = 8192, closed.heads = 16, closed.tensor_parallel = 2;
  closed.layers = 3, closed.in_flight = 2;
  hw::TrainingMemoryInput by_tensor = closed;
  by_tensor.layer_whole = a.whole, by_tensor.layer_split = a.split;
  EXPECT_DOUBLE_EQ(item(hw::training_memory(by_tensor, Bytes::gib(80)), "activations"),
                   item(hw::training_memory(closed, Bytes::gib(80)), "activations"));
}

// DeepSeek-V3's MoE layer (h 7,168, 128 heads, MLA ranks 1,536 / 512, 192 / 128 head dims, 256 experts of 2,048,
// top 8, one shared expert), per token.
TEST(DeepSeekV3Memory, MlaMoeLayerKeepsWhatTheReportSays) {
  wl::GptModelConfig m;
  m.num_layers = 61, m.hidden_size = 7168, m.num_attention_heads = 128, m.swiglu = true;
  m.multi_latent_attention = true, m.q_lora_rank = 1536, m.kv_lora_rank = 512;
  m.qk_head_dim = 128, m.qk_pos_emb_head_dim = 64, m.v_head_dim = 128;
  m.num_experts = 256, m.moe_router_topk = 8, m.moe_ffn_hidden_size = 2048, m.moe_shared_expert_intermediate_size = 2048;
  // Nothing recomputed, 16-bit, Megatron's default dropout: norms 4h in, 4h out, masks 2h; latents 2 x 1,536 and
  // 2 x 512 twice (norm input and output) and the rotary key 2 x 64. Split: q, k (128 x 192 each) and v (128 x 128)
  // at 2 B, the output (128 x 128) at 2 B, router 4 x 256, per routed copy (x 8) input 2h, SwiGLU input
  // 2 x 2 x 2,048, output 2 x 2,048, its probability 4 (no expert output: the probability weights the SwiGLU's
  // output); shared expert 2 x 2 x 2,048 + 2 x 2,048.
  const wl::LayerActivations plain = wl::layer_activations(m, 5, {});
  EXPECT_DOUBLE_EQ(plain.whole, 10 * 7168.0 + 4 * 1536 + 4 * 512 + 128);
  EXPECT_DOUBLE_EQ(plain.split, 2 * 128.0 * (2 * 192 + 128) + 2 * 128.0 * 128 + 1024 +
                                    8 * (2 * 7168.0 + 8192 + 4096 + 4) + 8192 + 4096);
  // The report's run: no dropout (no masks), norms and up-projections recomputed (latents kept as the norms'
  // inputs), the experts' SwiGLU output recomputed, linear inputs and the SwiGLU input in FP8 (1 B), the attention
  // output in E5M6 (1.5 B).
  m.hidden_dropout = 0;
  const wl::LayerActivations ds = wl::layer_activations(m, 5, {true, true, true, true, false, 1});
  EXPECT_DOUBLE_EQ(ds.whole, 4 * 7168.0 + 2 * 1536 + 2 * 512 + 128);
  EXPECT_DOUBLE_EQ(ds.split, 1.5 * 128 * 128 + 1024 + 8 * (7168.0 + 4096 + 4) + 4096);
}

// A small MLA + MoE layout on kBase without TP (PP 4, DP 8, EP 4; 1F1B: stage 1 holds 2 layers and 3 of the 4
// micro-batches in flight).
std::vector<std::string> small_mla(std::vector<std::string> more = {}) {
  std::vector<std::string> sets = {
      "workload.model={num_layers: 8, hidden_size: 2048, num_attention_heads: 16, seq_length: 2048, vocab_size: 32000, "
      "swiglu: true, normalization: RMSNorm, add_bias_linear: false, multi_latent_attention: true, q_lora_rank: 512, "
      "kv_lora_rank: 256, qk_head_dim: 64, qk_pos_emb_head_dim: 32, v_head_dim: 64, num_experts: 8, moe_router_topk: 2, "
      "moe_ffn_hidden_size: 1024, moe_shared_expert_intermediate_size: 1024}",
      "workload.tensor_model_parallel_size=1", "workload.expert_model_parallel_size=4", "workload.precision=fp8",
      "workload.host_op_time=0s"};
  sets.insert(sets.end(), more.begin(), more.end());
  return sets;
}

TEST(DeepSeekV3Memory, RecomputedModulesAndFp8ActivationsPerGpuByHand) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  Scenario plain = parse_sets(small_mla());
  Scenario ds = parse_sets(small_mla({"workload.recompute_granularity=selective",
                                      "workload.recompute_modules=[layernorm, mla_up_proj, moe_act]",
                                      "workload.fp8_saved_activations=true"}));
  const auto p = dynamic_cast<const MegatronTraining&>(*plain.workload).plan_stage(part, 1);
  const auto d = dynamic_cast<const MegatronTraining&>(*ds.workload).plan_stage(part, 1);
  ASSERT_DOUBLE_EQ(p.in_flight, 3);
  // Per token and layer, x 2,048 tokens x 2 layers x 3 micro-batches.
  // Plain: whole 10h + 4 x 512 + 4 x 256 + 2 x 32 = 23,616; split q, k (16 x 96) and v (16 x 64) at 2 B = 8,192,
  // output 2,048, router 32, 2 routed copies of 2h + 2 x 2 x 1,024 + 2 x 1,024 + 4 (probability) = 10,244, shared
  // 6,144.
  // That is the count of 16-bit saved inputs (fp8_linear_saved_input: high_precision, torchao's). Transformer
  // Engine's FP8 linear layers keep 1-byte copies (the default): whole 8h + 3 x 512 + 3 x 256 + 2 x 32 = 18,752 (the
  // latents' norm outputs in FP8); the output 2,048 + its FP8 copy 1,024; 2 routed copies of h + 2 x 2 x 1,024 +
  // 1,024 + 4 = 7,172 (the SwiGLU input stays 16-bit); shared 4,096 + 1,024 = 5,120.
  const double plain_token = 23616 + 8192 + 2048 + 32 + 2 * 10244 + 6144;
  Scenario hp = parse_sets(small_mla({"workload.fp8_linear_saved_input=high_precision"}));
  const auto h = dynamic_cast<const MegatronTraining&>(*hp.workload).plan_stage(part, 1);
  EXPECT_DOUBLE_EQ(item(h.memory, "activations"), plain_token * 2048 * 2 * 3);
  const double te_token = 18752 + 8192 + 3072 + 32 + 2 * 7172 + 5120;
  EXPECT_DOUBLE_EQ(item(p.memory, "activations"), te_token * 2048 * 2 * 3);
  // DeepSeek's: whole 6h + 2 x 512 + 2 x 256 + 2 x 32 = 13,888; split output 1.5 x 16 x 64 = 1,536 (E5M6),
  // router 32, 2 copies of h + 2 x 1,024 + 4 = 4,100 (FP8 input and SwiGLU input, its output recomputed, the
  // probability), shared 2,048.
  const double ds_token = 13888 + 1536 + 32 + 2 * 4100 + 2048;
  EXPECT_DOUBLE_EQ(item(d.memory, "activations"), ds_token * 2048 * 2 * 3);
  // Time: the backward runs the recomputed kernels' forward again; the forward is unchanged.
  EXPECT_EQ(d.forward[0].compute, p.forward[0].compute);
  EXPECT_GT(d.backward[0].compute, p.backward[0].compute);
  // The norms, the latents' norms, up projections and rotary embedding and the experts' SwiGLU of 2 layers: no
  // more than their forward group's time (the attention and the GEMMs outside them are not rerun).
  const auto& model = dynamic_cast<const MegatronTraining&>(*ds.workload).config().model;
  const wl::LayerOps ops = wl::layer_forward(model, 2, 1, 2, {1, 1, 4, false, 1, true, true});
  std::vector<hw::OpWork> rerun;
  for (const auto* g : {&ops.norm1, &ops.qkv, &ops.norm2, &ops.mlp}) {
    for (const auto& op : *g) {
      for (const char* n : {"norm1", "norm2", "q_norm", "q_up_fp8_cast", "q_up", "kv_norm", "kv_up_fp8_cast", "kv_up",
                            "rope", "expert_act", "shared_act"}) {
        if (op.name == n) rerun.push_back(op);
      }
    }
  }
  ASSERT_EQ(rerun.size(), 11u);
  const Duration one = hw::total_time(rerun, part, hw::DType::kFp8);
  EXPECT_NEAR((d.backward[0].compute - p.backward[0].compute).s(), 2 * one.s(), 1e-9 * one.s() + 1e-12);
}

// FP8 dispatch (section 3.3.3): the tokens into the experts and the gradients into their down projections move in
// FP8 with a 4 B scale per 128 elements; the combine and the dispatch's backward stay BF16. One micro-batch of 2,048
// tokens, top 2, h 2,048: 2,048 x 2 x 2,048 x 2 B = 16,777,216 B per rank in 16 bits, x 1.03125 / 2 in FP8.
TEST(DeepSeekV3Comms, Fp8DispatchHalvesTheTokensToTheExpertsOnly) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  auto sizes = [&](const std::vector<std::string>& more) {
    Scenario sc = parse_sets(small_mla(more));
    const auto plan = dynamic_cast<const MegatronTraining&>(*sc.workload).plan_stage(part, 1);
    std::map<std::string, double> out;
    for (const auto* pass : {&plan.forward[0], &plan.backward[0]}) {
      for (const auto& seg : pass->segments) {
        for (const auto& c : seg.comms) {
          if (c.op == policy::CollectiveOp::kAllToAll) out[c.name.substr(c.name.find(" all-to-all ") + 12)] = c.size.bytes();
        }
      }
    }
    return out;
  };
  const auto bf16 = sizes({}), fp8 = sizes({"workload.moe_fp8_dispatch=true"});
  ASSERT_EQ(bf16.size(), 4u);
  for (const char* what : {"dispatch", "combine", "dispatch (bwd)", "combine (bwd)"}) {
    EXPECT_DOUBLE_EQ(bf16.at(what), 2048.0 * 2 * 2048 * 2) << what;
  }
  EXPECT_DOUBLE_EQ(fp8.at("dispatch"), 2048.0 * 2 * 2048 * 1.03125);
  EXPECT_DOUBLE_EQ(fp8.at("combine (bwd)"), 2048.0 * 2 * 2048 * 1.03125);
  EXPECT_DOUBLE_EQ(fp8.at("combine"), bf16.at("combine"));
  EXPECT_DOUBLE_EQ(fp8.at("dispatch (bwd)"), bf16.at("dispatch (bwd)"));
}

TEST(DeepSeekV3Input, BadSettingsNameTheKeyAndWhatIsAllowed) {
  auto error_of = [](const std::vector<std::string>& sets) -> std::string {
    try {
      parse_sets(sets);
    } catch (const InputError& e) {
      return e.what();
    }
    return "no error";
  };
  const std::string typo = error_of(small_mla({"workload.recompute_granularity=selective", "workload.recompute_modules=[layernorn]"}));
  EXPECT_NE(typo.find("recompute_modules: item 0: unknown recompute module 'layernorn'; did you mean 'layernorm'?"),
            std::string::npos) << typo;
  EXPECT_NE(typo.find("valid: core_attn, layernorm, mla_up_proj, moe_act"), std::string::npos) << typo;
  const std::string mla = error_of({"workload.recompute_granularity=selective", "workload.recompute_modules=[mla_up_proj]"});
  EXPECT_NE(mla.find("mla_up_proj needs model.multi_latent_attention: true"), std::string::npos) << mla;
  const std::string full = error_of(small_mla({"workload.recompute_granularity=full", "workload.recompute_modules=[layernorm]"}));
  EXPECT_NE(full.find("recompute_modules: takes effect only with recompute_granularity: selective (got full)"),
            std::string::npos) << full;
  const std::string fp8 = error_of({"workload.fp8_saved_activations=true"});
  EXPECT_NE(fp8.find("fp8_saved_activations: needs precision: fp8 (got bf16)"), std::string::npos) << fp8;
  const std::string dense = error_of({"workload.model.num_experts=8", "workload.model.moe_first_dense_layers=8"});
  EXPECT_NE(dense.find("moe_first_dense_layers: must be less than num_layers (8), got 8"), std::string::npos) << dense;
  const std::string fp8_dispatch = error_of({"workload.moe_fp8_dispatch=true"});
  EXPECT_NE(fp8_dispatch.find("moe_fp8_dispatch: needs precision: fp8 (got bf16)"), std::string::npos) << fp8_dispatch;
  const std::string moment = error_of({"workload.exp_avg_dtype=fp8"});
  EXPECT_NE(moment.find("exp_avg_dtype"), std::string::npos) << moment;
  // In the file: its name and the key's line.
  std::string in_file = "no error";
  try {
    megatron_support::parse_with("workload:\n  type: megatron\n  model: {num_layers: 6, hidden_size: 2048, "
                                 "num_attention_heads: 16, seq_length: 2048, vocab_size: 32000}\n  global_batch_size: 32\n"
                                 "  recompute_granularity: selective\n  recompute_modules: [core_attn, experts]\n");
  } catch (const InputError& e) {
    in_file = e.what();
  }
  EXPECT_NE(in_file.find("mt.yaml:10:"), std::string::npos) << in_file;
  EXPECT_NE(in_file.find("item 1: unknown recompute module 'experts'"), std::string::npos) << in_file;
}

}  // namespace
}  // namespace lcsim
