// A MoE layer's router after its gate (workloads/training/moe_router.h): its kernels' bytes at a toy layout by
// hand, the losses only when weighted, Transformer Engine's fused kernels against PyTorch's operators, fp32
// logits, DeepSeek-V3's sigmoid routing, token dropping to a capacity, the Megatron arguments and bad settings.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "megatron_support.h"
#include "workloads/training/gpt_model.h"
#include "workloads/training/megatron.h"
#include "workloads/training/moe_router.h"

namespace lcsim {
namespace {

using megatron_support::op_bytes;

// 1,024 tokens into the router, 8 experts, top 2: M = 8,192 logits, K = 2,048 chosen; 16-bit logits.
constexpr double T = 1024, M = 8192, K = 2048;

wl::MoeRouterShape shape() {
  wl::MoeRouterShape s;
  s.tokens = T, s.experts = 8, s.topk = 2, s.hidden = 1024, s.elem_bytes = 2;
  return s;
}
long count(const std::vector<hw::OpWork>& ops, const std::string& prefix) {
  return std::count_if(ops.begin(), ops.end(), [&](const hw::OpWork& op) { return op.name.starts_with(prefix); });
}

TEST(MoeRouter, UnfusedSoftmaxKernelsByHand) {
  const auto ops = wl::moe_router_ops(shape()).after_gate;
  // topk over the logits: every logit read (2 B), k values (2 B) and int64 indices written per token.
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_topk"), 2 * M + 10 * K);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_topk"), 36864.0);
  // softmax over the k in fp32 (read 2, write 4), then cast back to the logits' type (read 4, write 2).
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_softmax"), 6 * K);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_probs_cast"), 6 * K);
  // zeros_like(logits).scatter(1, indices, probs): a zero fill, the out-of-place copy (read and write), the
  // indices (8 B) and values (2 B) read and written: 16,384 + 32,768 + 24,576 B.
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_probs_zeros"), 2 * M);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_probs_scatter"), 57344.0);
  // The map: zeros (2 B), to int32 (2 + 4), the scatter's copy (4 + 4) and its 8 + 4 B per chosen, to bool (4 + 1).
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_map_zeros"), 2 * M);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_map_int"), 6 * M);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_map_scatter"), 8 * M + 12 * K);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_map_bool"), 5 * M);
  EXPECT_EQ(ops.size(), 9u);  // Megatron-LM's defaults: no auxiliary loss (coefficient 0), no z-loss
  // Backward: the probabilities' gather, the cast, the softmax (fp32, then cast) and topk's zero fill and scatter;
  // the map has no gradient.
  const auto bwd = wl::backward_of(ops, 2);
  EXPECT_DOUBLE_EQ(op_bytes(bwd, "router_probs_scatter_bwd"), 12 * K);
  EXPECT_DOUBLE_EQ(op_bytes(bwd, "router_softmax_bwd"), 18 * K);
  EXPECT_DOUBLE_EQ(op_bytes(bwd, "router_topk_bwd"), 2 * M + 12 * K);
  EXPECT_EQ(count(bwd, "router_map"), 0);
  EXPECT_EQ(bwd.size(), 4u);
}

TEST(MoeRouter, LossesRunOnlyWhenWeighted) {
  wl::MoeRouterShape s = shape();
  EXPECT_EQ(count(wl::moe_router_ops(s).after_gate, "router_aux"), 0);  // aux_loss type, coefficient 0
  s.run.moe_aux_loss_coeff = 1e-2;
  auto ops = wl::moe_router_ops(s).after_gate;
  // Every expert's score again (softmax in fp32), their top-k map, the tokens per expert and the per-expert sums.
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_aux_scores"), 6 * M);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_aux_topk"), 4 * M + 12 * K);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_aux_counts"), M);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_aux_loss"), 4 * M);
  EXPECT_EQ(count(ops, "router_aux"), 8);
  // The loss's gradient reaches the logits beside the probabilities': one more kernel sums the two (2 + 2 -> 2 B).
  auto bwd = wl::backward_of(ops, 2);
  EXPECT_DOUBLE_EQ(op_bytes(bwd, "router_grad_sum"), 6 * M);
  EXPECT_DOUBLE_EQ(op_bytes(bwd, "router_aux_scores_bwd"), 6 * M);
  s.run.moe_router_load_balancing_type = "none";
  EXPECT_EQ(count(wl::moe_router_ops(s).after_gate, "router_aux"), 0);
  // z-loss: logsumexp's two passes over the logits and a few per token; its gradient summed in as well.
  s.run.moe_router_load_balancing_type = "seq_aux_loss";
  s.run.moe_z_loss_coeff = 1e-3;
  ops = wl::moe_router_ops(s).after_gate;
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_z_loss"), 4 * M + 12 * T);
  EXPECT_EQ(count(ops, "router_aux"), 8);  // sequence-level: the same kernels
  EXPECT_EQ(count(wl::backward_of(ops, 2), "router_grad_sum"), 2);
  // Forced balance (random logits): a clone and a normal fill; the gradient passes straight through.
  s.run.moe_router_force_load_balancing = true;
  ops = wl::moe_router_ops(s).after_gate;
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_random_logits"), 6 * M);
  EXPECT_EQ(count(wl::backward_of(ops, 2), "router_random"), 0);
}

TEST(MoeRouter, FusedKernelsReplaceTheOperators) {
  wl::MoeRouterShape s = shape();
  s.run.moe_aux_loss_coeff = 1e-2;
  const auto unfused = wl::moe_router_ops(s).after_gate;
  s.run.moe_router_fusion = true;
  const auto fused = wl::moe_router_ops(s).after_gate;
  // TE's fused top-k: the logits read, probabilities (2 B), map (1 B) and an fp32 copy for backward written.
  EXPECT_DOUBLE_EQ(op_bytes(fused, "router_topk_fused"), 9 * M);
  EXPECT_DOUBLE_EQ(op_bytes(fused, "router_aux_scores_fused"), 11 * M);
  // Forward: 4 kernels (top-k, aux scores, counts, loss) instead of 17; backward 4 (three and the gradient sum) instead of 6.
  EXPECT_EQ(fused.size(), 4u);
  EXPECT_EQ(unfused.size(), 17u);
  EXPECT_EQ(wl::backward_of(fused, 2).size(), 4u);
  EXPECT_EQ(wl::backward_of(unfused, 2).size(), 6u);
}

TEST(MoeRouter, Fp32LogitsWidenEveryPass) {
  wl::MoeRouterShape s = shape();
  s.run.moe_router_dtype = "fp32";
  const auto ops = wl::moe_router_ops(s).after_gate;
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_topk"), 4 * M + 12 * K);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_probs_zeros"), 4 * M);
  EXPECT_EQ(op_bytes(ops, "router_probs_cast"), -1);  // the probabilities are already fp32
}

TEST(MoeRouter, SigmoidRoutingWithExpertBiasAndGroupLimit) {
  // DeepSeek-V3's router: sigmoid scores, a bias for the selection only, node-limited groups, the chosen scores
  // normalized and scaled by 2.5.
  wl::MoeRouterShape s = shape();
  s.score_function = "sigmoid", s.expert_bias = true, s.group_limited = true, s.scaling_factor = 2.5;
  const auto ops = wl::moe_router_ops(s).after_gate;
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_scores_cast"), 6 * M);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_scores"), 8 * M);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_group_limit"), 24 * M);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_bias_add"), 8 * M);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_gather"), 16 * K);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_normalize"), 12 * K + 8 * T);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_scale"), 8 * K);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_bias_counts"), M);
  // The biased selection carries no gradient: the group mask and the top-k have none; the gather's is a zero fill
  // of the scores' shape (fp32) and a scatter.
  const auto bwd = wl::backward_of(ops, 2);
  EXPECT_EQ(op_bytes(bwd, "router_group_limit_bwd"), -1);
  EXPECT_EQ(op_bytes(bwd, "router_topk_bwd"), -1);
  EXPECT_DOUBLE_EQ(op_bytes(bwd, "router_gather_bwd_zeros"), 4 * M);
  // Without the bias the masked scores are what the top-k picks from: the mask's backward masks the gradient.
  s.expert_bias = false;
  EXPECT_DOUBLE_EQ(op_bytes(wl::backward_of(wl::moe_router_ops(s).after_gate, 2), "router_group_limit_bwd"), 9 * M);
}

TEST(MoeRouter, CapacityCapsTheBusiestExpert) {
  wl::MoeRouterSettings r;
  EXPECT_DOUBLE_EQ(r.expert_load(1.5), 1.5);  // dropless
  r.moe_expert_capacity_factor = 1.25;
  EXPECT_DOUBLE_EQ(r.expert_load(1.5), 1.25);
  EXPECT_DOUBLE_EQ(r.expert_load(1.1), 1.1);
  r.moe_pad_expert_input_to_capacity = true;  // every expert padded to its capacity
  EXPECT_DOUBLE_EQ(r.expert_load(1.1), 1.25);
  // Kernels: a capacity of 2,048 x 1.25 / 8 = 320 rows per expert, below the 1,024 tokens: a top-k down each
  // expert's column, a scattered mask, the probabilities masked (and, without padding, the map too).
  wl::MoeRouterShape s = shape();
  s.run = r;
  auto ops = wl::moe_router_ops(s).after_gate;
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_capacity_topk"), 2 * M + 10 * 320 * 8);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_capacity_apply"), 5 * M);
  EXPECT_EQ(op_bytes(ops, "router_capacity_and"), -1);
  s.run.moe_pad_expert_input_to_capacity = false;
  s.run.moe_token_drop_policy = "position";
  ops = wl::moe_router_ops(s).after_gate;
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_capacity_int"), 5 * M);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_capacity_topk"), 4 * M + 12 * 320 * 8);
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_capacity_and"), 3 * M);
  // A capacity of at least every token keeps them all: one fill of ones, no top-k.
  s.run.moe_expert_capacity_factor = 4;
  ops = wl::moe_router_ops(s).after_gate;
  EXPECT_DOUBLE_EQ(op_bytes(ops, "router_capacity_ones"), M);
  EXPECT_EQ(op_bytes(ops, "router_capacity_topk"), -1);
}

TEST(MoeRouter, KernelsSitAroundTheGateBeforeTheDispatch) {
  wl::GptModelConfig m;
  m.num_layers = 2, m.hidden_size = 1024, m.num_attention_heads = 8, m.seq_length = 1024, m.vocab_size = 32000;
  m.num_experts = 8, m.moe_router_topk = 2;
  wl::LayerShard sh;
  sh.ep = 2;
  sh.router.moe_input_jitter_eps = 1e-2;
  const auto norm2 = wl::layer_forward(m, 0, 1, 2, sh).norm2;
  auto at = [&](const std::string& name) {
    return std::find_if(norm2.begin(), norm2.end(), [&](const hw::OpWork& op) { return op.name == name; }) - norm2.begin();
  };
  // The jitter (a uniform draw: 5 B, and the multiply: 3 B per input element) before the gate's GEMM, the top-k
  // after it, the permutation last.
  EXPECT_LT(at("router_jitter"), at("router"));
  EXPECT_LT(at("router"), at("router_topk"));
  EXPECT_LT(at("router_map_bool"), at("moe_permute"));
  EXPECT_DOUBLE_EQ(op_bytes(norm2, "router_jitter_noise"), 5 * 2 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(op_bytes(norm2, "router_jitter"), 3 * 2 * 1024 * 1024);
}

// Whole runs of a small MoE layout: the losses cost time, fusion less, dropping caps an imbalanced expert, and
// padding to capacity drops the dispatcher's host wait.
TEST(MoeRouter, RunsReflectTheRouterSettings) {
  const std::vector<std::string> base = {"workload.model.num_experts=8", "workload.model.moe_router_topk=2",
                                         "workload.expert_model_parallel_size=2", "workload.sequence_parallel=true"};
  auto iteration = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), base.begin(), base.end());
    return megatron_support::run(extra).at("iteration_time_s");
  };
  const double plain = iteration({});
  const double aux = iteration({"workload.moe_aux_loss_coeff=0.01"});
  const double aux_fused = iteration({"workload.moe_aux_loss_coeff=0.01", "workload.moe_router_fusion=true"});
  EXPECT_GT(aux, plain);
  EXPECT_LT(aux_fused, aux);
  const double skewed = iteration({"workload.moe_load_imbalance=1.5"});
  const double dropped = iteration({"workload.moe_load_imbalance=1.5", "workload.moe_expert_capacity_factor=1.0"});
  EXPECT_LT(dropped, skewed);
  const double unpadded = iteration({"workload.moe_expert_capacity_factor=1.0"});
  const double padded = iteration({"workload.moe_expert_capacity_factor=1.0", "workload.moe_pad_expert_input_to_capacity=true"});
  EXPECT_LT(padded, unpadded);
}

TEST(MoeRouter, MegatronArgumentsSetTheKeys) {
  const std::string line =
      "--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 --vocab-size 32000 "
      "--global-batch-size 32 --micro-batch-size 1 --bf16 --use-flash-attn --num-experts 8 --moe-router-topk 2 "
      "--moe-router-score-function sigmoid --moe-router-enable-expert-bias --moe-router-bias-update-rate 1e-3 "
      "--moe-router-topk-scaling-factor 2.5 --moe-router-load-balancing-type seq_aux_loss --moe-aux-loss-coeff 1e-4 "
      "--moe-z-loss-coeff 1e-3 --moe-router-dtype fp32 --moe-router-fusion --moe-router-force-load-balancing "
      "--moe-expert-capacity-factor 1.25 --moe-pad-expert-input-to-capacity --moe-token-drop-policy position "
      "--moe-input-jitter-eps 0.01 --moe-per-layer-logging";
  const Scenario sc = megatron_support::parse_with("workload:\n  type: megatron\n  megatron_args: \"" + line + "\"\n");
  const auto& c = dynamic_cast<wl::MegatronTraining&>(*sc.workload).config();
  EXPECT_EQ(c.model.moe_router_score_function, "sigmoid");
  EXPECT_TRUE(c.model.moe_router_enable_expert_bias);
  EXPECT_DOUBLE_EQ(c.model.moe_router_topk_scaling_factor, 2.5);
  EXPECT_EQ(c.router.moe_router_load_balancing_type, "seq_aux_loss");
  EXPECT_DOUBLE_EQ(c.router.moe_aux_loss_coeff, 1e-4);
  EXPECT_DOUBLE_EQ(c.router.moe_z_loss_coeff, 1e-3);
  EXPECT_EQ(c.router.moe_router_dtype, "fp32");
  EXPECT_TRUE(c.router.moe_router_fusion);
  EXPECT_TRUE(c.router.moe_router_force_load_balancing);
  EXPECT_DOUBLE_EQ(c.router.moe_expert_capacity_factor, 1.25);
  EXPECT_TRUE(c.router.moe_pad_expert_input_to_capacity);
  EXPECT_EQ(c.router.moe_token_drop_policy, "position");
  EXPECT_DOUBLE_EQ(c.router.moe_input_jitter_eps, 0.01);
  EXPECT_EQ(c.ignored_args, (std::vector<std::string>{"--moe-router-bias-update-rate", "--moe-per-layer-logging"}));
}

TEST(MoeRouter, BadSettingsNameTheirKeys) {
  auto error = [](const std::vector<std::string>& sets) {
    std::vector<std::string> all = {"workload.model.num_experts=8", "workload.expert_model_parallel_size=2"};
    all.insert(all.end(), sets.begin(), sets.end());
    try {
      megatron_support::parse_sets(all);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  auto has = [](const std::string& msg, const std::string& part) { return msg.find(part) != std::string::npos; };
  std::string e = error({"workload.moe_pad_expert_input_to_capacity=true"});
  EXPECT_TRUE(has(e, "moe_pad_expert_input_to_capacity") && has(e, "needs moe_expert_capacity_factor")) << e;
  e = error({"workload.moe_expert_capacity_factor=1", "workload.moe_token_dispatcher_type=flex"});
  EXPECT_TRUE(has(e, "moe_expert_capacity_factor") && has(e, "alltoall")) << e;
  e = error({"workload.model.moe_router_score_function=sigmoid", "workload.model.moe_router_pre_softmax=true"});
  EXPECT_TRUE(has(e, "moe_router_pre_softmax")) << e;
  e = error({"workload.model.moe_router_enable_expert_bias=true"});
  EXPECT_TRUE(has(e, "moe_router_enable_expert_bias") && has(e, "sigmoid")) << e;
  e = error({"workload.moe_router_dtype=fp64"});
  EXPECT_TRUE(has(e, "workload.moe_router_dtype") && has(e, "fp32")) << e;
  e = error({"workload.moe_router_load_balancing_type=sinkhorn"});
  EXPECT_TRUE(has(e, "workload.moe_router_load_balancing_type") && has(e, "aux_loss")) << e;
  e = error({"workload.moe_aux_loss_coeff=-1"});
  EXPECT_TRUE(has(e, "workload.moe_aux_loss_coeff")) << e;
}

}  // namespace
}  // namespace lcsim
