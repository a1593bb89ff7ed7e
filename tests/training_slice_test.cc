// The first end-to-end slice against figures derived by hand from the model's definition:
//   compute   = sum over kernels of max(FLOPs / (peak x eff), bytes / (HBM x eff)) + launch overhead
//               (the part's calibration is set to the plain roofline: no tiling, no k dependence, no sustained
//               ceiling), each step at least its kernels' host issue time
//   all-reduce = base + 2(n-1) x step latency + NIC and PCIe hop latencies + 2(n-1)/n x S / (C x B_nic)
//   iteration = compute + all-reduce + optimizer   (no overlap), or less with overlap.
#include <gtest/gtest.h>

#include <map>

#include "test_support.h"

#include "scenarios/scenario.h"

namespace lcsim {
namespace {

const char* kScenario = R"(
name: slice
cluster:
  accelerator:
    base: H100-SXM-80GB
    calibration: {gemm_efficiency: 0.8, gemm_k_half: 0, gemm_tiling: false, gemm_sustained_efficiency: 0,
                  attention_efficiency: 0.5, memory_efficiency: 0.9, norm_efficiency: 0.45, activation_efficiency: 0.6,
                  loss_efficiency: 0.7, kernel_launch: 5us}
  nodes: 2
  gpus_per_node: 8
  fabric: {ports_per_leaf: 64, nic_bandwidth: 400Gb/s, link_latency: 0.6us}
workload:
  type: gpt_data_parallel
  model: {num_layers: 2, hidden_size: 4096, num_attention_heads: 32, seq_length: 2048, vocab_size: 32768}
  global_batch_size: 16
  micro_batch_size: 1
  overlap_grad_reduce: false
policies: {collectives: {algorithm: ring}}
outputs: {timeline: false}
)";

struct Hand {
  double compute, allreduce, optimizer, params, model_flops;
};

// Everything below is written from the definitions, not from lcsim's code.
Hand derive() {
  const double P = 989.4e12, HBM = 3350e9, ge = 0.8, ae = 0.5, me = 0.9, launch = 5e-6;
  const double L = 2, h = 4096, f = 4 * h, s = 2048, V = 32768, t = 1 * s, e = 2;
  auto gemm = [&](double m, double n, double k) {
    return std::max(2 * m * n * k / (P * ge), e * (m * k + k * n + m * n) / (HBM * me)) + launch;
  };
  auto mem = [&](double bytes) { return bytes / (HBM * me) + launch; };
  // Norms and the activation stream at their own fractions of HBM bandwidth.
  const double ne = 0.45, act = 0.6;
  auto norm = [&](double bytes) { return bytes / (HBM * ne) + launch; };
  auto gelu = [&](double bytes) { return bytes / (HBM * act) + launch; };
  // The loss's passes over the logits at theirs.
  auto loss = [&](double bytes) { return bytes / (HBM * 0.7) + launch; };
  // Causal flash attention: half of the 4tsh score FLOPs forward; the backward kernel does 2.5x the forward.
  const double attn_f = std::max(2 * t * s * h / (P * ae), e * 4 * t * h / (HBM * me)) + launch;
  const double attn_b = std::max(2.5 * 2 * t * s * h / (P * ae), 2 * e * 4 * t * h / (HBM * me)) + launch;
  const double gemms = gemm(t, 3 * h, h) + gemm(t, h, h) + gemm(t, f, h) + gemm(t, h, f);
  // Five memory-bound kernels per layer: two layer norms (read + write), two residual adds (2 reads, 1 write),
  // the GeLU (read + write of the MLP activation).
  const double mem_f = norm(e * 2 * t * h) + mem(e * 3 * t * h) + norm(e * 2 * t * h) + gelu(e * 2 * t * f) +
                       mem(e * 3 * t * h);
  const double mem_b = norm(2 * e * 2 * t * h) + mem(2 * e * 3 * t * h) + norm(2 * e * 2 * t * h) +
                       gelu(2 * e * 2 * t * f) + mem(2 * e * 3 * t * h);
  // The host issues every kernel at 23 us (workload.host_op_time): each step (a layer's forward or backward, the
  // embedding's, the head's forward and backward) takes at least its kernels' issue time. Only the embedding's
  // forward (one ~22 us kernel) is host-bound here.
  const double issue = 23e-6;
  auto host = [&](double gpu, int kernels) { return std::max(gpu, kernels * issue); };
  const double layer_fwd = host(gemms + attn_f + mem_f, 10);
  const double layer_bwd = host(2 * gemms + attn_b + mem_b, 14);
  const double emb = host(mem(e * 3 * t * h), 1) + host(mem(2 * e * 3 * t * h), 1);
  // The loss: Megatron's cross-entropy passes, 38 B per logit forward and 14 B backward with bf16 logits (cast to
  // fp32 6, max 4, subtract 8, exp 8, sum 4, divide 8; scale 8, cast back 6).
  const double head = host(norm(e * 2 * t * h) + gemm(t, V, h) + loss(38 * t * V), 3) +             // forward
                      host(norm(2 * e * 2 * t * h) + 2 * gemm(t, V, h) + loss(14 * t * V), 4);  // backward
  Hand r;
  r.compute = L * (layer_fwd + layer_bwd) + emb + head;
  r.params = L * (12 * h * h + 13 * h) + V * h + s * h + 2 * h;
  // Gradient norm (read 4 B), Adam (30 B), zeroing the gradients (write 4 B) per parameter; five kernels.
  r.optimizer = (4 + 30 + 4) * r.params / (HBM * me) + 5 * launch;
  const double n = 16, C = 8, S = 4 * r.params, nic = 50e9;
  // Latency: NIC up and down (0.6 us each) and the two GPUs' PCIe hops to their NICs (115 ns each, the default
  // PCIe switch hop; docs/calibration.md).
  r.allreduce = 8.4e-6 + 2 * (n - 1) * 3.4e-6 + 2 * 0.6e-6 + 2 * 0.115e-6 + 2 * (n - 1) / n * S / (C * nic);
  // Megatron: 72 B s L h^2 (1 + s/(6h)) + 6 B s h V, with B = 16 sequences.
  r.model_flops = 72 * 16 * s * L * h * h * (1 + s / (6 * h)) + 6 * 16 * s * h * V;
  return r;
}

RunResult run(const std::vector<std::string>& sets) {
  ConfigValue tree = parse_yaml_text(kScenario, "slice.yaml");
  for (const auto& s : sets) apply_override(tree, s);
  Scenario sc = parse_scenario(tree);
  return run_scenario(sc);
}

void expect_matches_hand_derivation(const RunResult& r) {
  const Hand h = derive();
  const auto& m = r.metrics;
  ASSERT_TRUE(r.completed);
  EXPECT_DOUBLE_EQ(m.get("parameters"), h.params);
  EXPECT_NEAR(m.get("compute_time_s"), h.compute, 1e-9 * h.compute);
  EXPECT_NEAR(m.get("optimizer_time_s"), h.optimizer, 1e-9 * h.optimizer);
  EXPECT_NEAR(m.get("grad_allreduce_time_s"), h.allreduce, 1e-6 * h.allreduce)
      << "expected 2(n-1)/n * S / (C * B) + latency = " << h.allreduce;
  const double it = h.compute + h.allreduce + h.optimizer;
  EXPECT_NEAR(m.get("iteration_time_s"), it, 1e-6 * it) << "expected compute + all-reduce + optimizer = " << it;
  EXPECT_NEAR(m.get("model_flops_per_iteration"), h.model_flops, 1e-9 * h.model_flops);
  EXPECT_NEAR(m.get("tokens_per_s"), 16 * 2048 / it, 1e-6 * 16 * 2048 / it);
  EXPECT_NEAR(m.get("tflops_per_gpu"), h.model_flops / it / 16 / 1e12, 1e-5);
  EXPECT_NEAR(m.get("mfu"), h.model_flops / it / 16 / 989.4e12, 1e-6);
}

TEST(TrainingSlice, FlowModelMatchesTheHandDerivedIteration) { expect_matches_hand_derivation(run({})); }

TEST(TrainingSlice, AnalyticalModelMatchesTheHandDerivedIteration) {
  expect_matches_hand_derivation(run({"simulation.fidelity=analytical"}));
}

TEST(TrainingSlice, OverlapHidesGradientReductionBehindBackward) {
  const Hand h = derive();
  // Small buckets (one layer's parameters each) so that reduction can start while backward runs.
  RunResult r = run({"workload.overlap_grad_reduce=true", "workload.ddp_bucket_size=1000000"});
  const auto& m = r.metrics;
  const double serial = h.compute + h.allreduce + h.optimizer;
  EXPECT_GT(m.get("grad_buckets"), 2);
  EXPECT_LT(m.get("iteration_time_s"), serial);
  EXPECT_GT(m.get("iteration_time_s"), h.compute + h.optimizer);
  EXPECT_LT(m.get("exposed_comm_time_s"), m.get("grad_allreduce_time_s"));
}

std::map<std::string, double> run_in_child(const std::vector<std::string>& sets) {
  return testing::metrics_in_child([&] { return run(sets).metrics; });
}

// gpt_data_parallel takes the attention kernel too. The part above sets a flat attention_efficiency (0.5; its
// base's kernel name is dropped with its curve, its other measured kernels stay): attention_backend: flash3 costs
// attention at FlashAttention-3's curve, forward 0.6618 x s / (s + 558) and backward 0.597 x s / (s + 418) of the
// peak, so compute moves by exactly that difference over the 2 layers (launches cancel), by hand.
TEST(TrainingSlice, AttentionBackendCostsAttentionAtItsKernelsCurve) {
  auto flat = run_in_child({"simulation.fidelity=analytical"});
  auto fa3 = run_in_child({"simulation.fidelity=analytical", "workload.attention_backend=flash3"});
  ASSERT_TRUE(flat.count("compute_time_s") && fa3.count("compute_time_s"));
  const double P = 989.4e12, s = 2048, h = 4096, fwd = 2 * s * s * h;  // causal: half of 4 s^2 h
  auto at = [&](double flops, double efficiency) { return flops / (P * efficiency); };
  const double flat_layer = at(fwd, 0.5) + at(2.5 * fwd, 0.5);
  const double fa3_layer = at(fwd, 0.6618 * s / (s + 558)) + at(2.5 * fwd, 0.597 * s / (s + 418));
  EXPECT_NEAR(flat["compute_time_s"] - fa3["compute_time_s"], 2 * (flat_layer - fa3_layer), 1e-9 * flat["compute_time_s"]);
}

TEST(TrainingSlice, GradientAccumulationRepeatsComputeNotCommunication) {
  auto one = run_in_child({"simulation.fidelity=analytical"});
  // Four micro-batches per GPU: compute x4, one all-reduce as before.
  auto four = run_in_child({"simulation.fidelity=analytical", "workload.global_batch_size=64"});
  ASSERT_TRUE(one.count("compute_time_s") && four.count("compute_time_s"));
  EXPECT_NEAR(four["compute_time_s"], 4 * one["compute_time_s"], 1e-9);
  EXPECT_NEAR(four["grad_allreduce_time_s"], one["grad_allreduce_time_s"], 1e-12);
  EXPECT_GT(four["iteration_time_s"], one["iteration_time_s"] + 2.5 * one["compute_time_s"]);
}

}  // namespace
}  // namespace lcsim
