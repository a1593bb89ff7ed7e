// What PyTorch FSDP and torchtitan's selective activation checkpointing keep in memory and cost, against numbers
// worked out by hand: torchtitan's op-level policy (hw::op_sac_saved_bytes), its layer-level policy, FSDP's fp32
// parameter shard as the master copy, FSDP1's and FSDP2's unsharded buffers and FSDP2's copy-out.
#include <gtest/gtest.h>

#include <string>

#include "megatron_support.h"
#include "models/hardware/memory.h"

namespace lcsim {
namespace {

using megatron_support::parse_with;
using megatron_support::run;

hw::TrainingMemoryInput small_layer(bool swiglu) {
  hw::TrainingMemoryInput in;
  in.seq = 8, in.micro_batch = 1, in.hidden = 4, in.ffn = 12, in.heads = 2, in.kv_heads = 1, in.swiglu = swiglu;
  return in;
}

TEST(FsdpMemory, OpLevelCheckpointingKeepsTheInputOddMatmulsAndTheAttentionOutput) {
  // Gated MLP: matmul widths wq 4, wk 2, wv 2, wo 4, w1 12, w3 12, w2 4; kept: wq, wv, w1, w2 = 22, the
  // attention output 4 and the layer input 4: 30 x s b = 240 elements of 2 B, and the fp32 log-sum-exp of
  // 2 heads x 8 tokens (64 B): 544 B.
  EXPECT_DOUBLE_EQ(hw::op_sac_saved_bytes(small_layer(true)), 544);
  // Plain MLP: wq 4, wk 2, wv 2, wo 4, fc1 12, fc2 4; kept wq, wv, fc1 = 18, + 4 + 4 = 26 x 8 x 2 B + 64 B.
  EXPECT_DOUBLE_EQ(hw::op_sac_saved_bytes(small_layer(false)), 480);
  // Three layers, one micro-batch in flight: each keeps 544 B; the layer in backward has the rest of its
  // activations back: 8sbh + 6sbf + 10sbh = 256 + 576 + 320 = 1,152 B, of which 544 were kept.
  hw::TrainingMemoryInput in = small_layer(true);
  in.layers = 3, in.recompute = "op", in.runtime_reserve = Bytes();
  const hw::MemoryFit fit = hw::training_memory(in, Bytes::gib(1));
  double act = -1;
  for (const auto& item : fit.items) act = item.name == "activations" ? item.bytes.bytes() : act;
  EXPECT_DOUBLE_EQ(act, 3 * 544 + (1152 - 544));
}

TEST(FsdpMemory, FsdpKeepsTheFp32ShardAsTheMasterCopy) {
  // kBase: TP 2 x PP 4 on 32 GPUs, so 4 data-parallel ranks. DDP holds 2 B of bf16 weights and 12 B of optimizer
  // state (fp32 master, m, v) per parameter; FSDP's shard is the fp32 parameter (4 B / 4 ranks) and Adam adds m
  // and v (8 B / 4); gradients fp32 either way (4 B, / 4 with FSDP).
  auto ddp = run({});
  auto fsdp = run({"workload.use_torch_fsdp2=true"});
  for (auto* m : {&ddp, &fsdp}) ASSERT_FALSE(m->count("child_failed"));
  const double w = ddp["memory_weights_bytes"];
  EXPECT_NEAR(fsdp["memory_weights_bytes"], w / 2, 1e-9 * w);
  EXPECT_NEAR(fsdp["memory_optimizer_states_bytes"], ddp["memory_optimizer_states_bytes"] / 6, 1e-9 * w);
  EXPECT_NEAR(fsdp["memory_gradients_bytes"], ddp["memory_gradients_bytes"] / 4, 1e-9 * w);
}

TEST(FsdpMemory, UnshardedBuffersOfFsdp1AndFsdp2) {
  // One layer of kBase: 12h^2 + 13h = 50,358,272 parameters (q/k/v, projection, MLP, biases, two layer norms),
  // 25,179,136 per TP rank. Per layer FSDP2 holds 2 gathered units (2 x 2 B), the unsharded bf16 gradients
  // (2 B), the reduce-scatter input in the reduce dtype and the prefetched unit's all-gather output (2 B); FSDP1
  // gathers into its flat parameter (no all-gather output) and casts its flat gradient only to reduce in fp32.
  const double layer = 25179136;
  auto v2 = run({"workload.use_torch_fsdp2=true"});
  auto v1 = run({"workload.use_torch_fsdp2=true", "workload.fsdp_version=1"});
  auto v1_bf16 = run({"workload.use_torch_fsdp2=true", "workload.fsdp_version=1",
                      "workload.accumulate_allreduce_grads_in_fp32=false"});
  for (auto* m : {&v1, &v2, &v1_bf16}) ASSERT_FALSE(m->count("child_failed"));
  const std::string key = "memory_communication_buffers_bytes";
  EXPECT_NEAR(v2[key] - v1[key], 2 * layer, 1);
  EXPECT_NEAR(v1[key] - v1_bf16[key], 4 * layer, 1);
  // Without the root unit's parameters (the first or last stage holds them), a middle stage's buffers are the
  // per-layer ones alone: FSDP1 with bf16 reductions 6 B per parameter.
  auto mid = run({"workload.use_torch_fsdp2=true", "workload.fsdp_version=1",
                  "workload.accumulate_allreduce_grads_in_fp32=false", "workload.pipeline_model_parallel_size=1",
                  "workload.model.untie_embeddings_and_output_weights=false"});
  ASSERT_FALSE(mid.count("child_failed"));
  // The root unit: the embedding (32,000 x 2,048 + 2,048 x 2,048 positions), tied to the output layer, and the
  // final layer norm (weight and bias, 2 x 2,048), / TP 2.
  const double root = (32000.0 * 2048 + 2048.0 * 2048 + 2 * 2048) / 2;
  EXPECT_NEAR(mid[key], 6 * layer + 2 * root, 1);
}

TEST(FsdpMemory, Fsdp2CopiesEveryGatherOutOnTheComputeStream) {
  // One stage (TP 2, DP 16, 2 micro-batches), SM contention off so that only kernels count as compute. FSDP1 and
  // FSDP2 differ in compute by FSDP2's copy-out alone (their copy-in and fp32 gradient copy are the same bytes, and
  // FSDP1's gradient divisions run beside them, all on the collectives' streams): each micro-batch gathers every unit in forward and again in backward, and each
  // copy-out reads and writes 2 B per unit parameter. Units: 8 layers of L = 25,179,136 parameters per TP rank,
  // the first with the root's E = (32,000 x 2,048 + 2,048 x 2,048 + 2 x 2,048) / 2 = 34,867,200. H100 copies
  // stream at 0.8711 of 3.35 TB/s plus 4.68 us per kernel (its catalog calibration, docs/calibration.md).
  const std::vector<std::string> base = {"cluster.accelerator={base: H100-SXM-80GB, calibration: {overlap_sm_share: 0}}",
                                         "workload.pipeline_model_parallel_size=1", "workload.use_torch_fsdp2=true"};
  auto v2 = run(base);
  auto with_v1 = base;
  with_v1.push_back("workload.fsdp_version=1");
  auto v1 = run(with_v1);
  for (auto* m : {&v1, &v2}) ASSERT_FALSE(m->count("child_failed"));
  const double L = 25179136, E = 34867200, bw = 3.35e12 * 0.8711, launch = 4.68e-6;
  const double copy_out = 7 * (4 * L / bw + launch) + (4 * (L + E) / bw + launch);
  EXPECT_NEAR(v2["time_compute_s"] - v1["time_compute_s"], 2 * 2 * copy_out, 1e-9);
}

TEST(FsdpMemory, Fsdp1sRateLimiterDelaysEveryGather) {
  // One stage, 8 units, 2 micro-batches: 32 all-gathers per iteration (each unit in forward and in backward), over
  // the 4 nodes' network (10 Gb/s NICs) and far longer than a unit's compute, so the gather stream sets the pace.
  // The limiter launches each gather 235 us late (pytorch/pytorch#108234): the 16 forward gathers, alone on the
  // network, add 16 x 235 us; the backward's 16 add at most as much (a delayed gather leaves the network to the
  // reduce-scatter beside it, which then ends sooner). FSDP2 has no such limiter.
  const std::vector<std::string> base = {"workload.pipeline_model_parallel_size=1", "workload.use_torch_fsdp2=true",
                                         "workload.parallel_order=tp-cp-pp-dp", "cluster.fabric.nic_bandwidth=10Gb/s"};
  auto with = [&](std::vector<std::string> extra) {
    auto sets = base;
    sets.insert(sets.end(), extra.begin(), extra.end());
    return run(sets);
  };
  auto limited = with({"workload.fsdp_version=1"});
  auto free = with({"workload.fsdp_version=1", "workload.fsdp_limit_all_gathers=false"});
  auto v2 = with({});
  auto v2_off = with({"workload.fsdp_limit_all_gathers=false"});
  for (auto* m : {&limited, &free, &v2, &v2_off}) ASSERT_FALSE(m->count("child_failed"));
  ASSERT_GT(free["time_exposed_dp_s"], 0.5 * free["iteration_time_s"]);  // gather-bound, as assumed above
  const double added = limited["iteration_time_s"] - free["iteration_time_s"];
  EXPECT_GE(added, 16 * 235e-6 - 1e-9);
  EXPECT_LE(added, 32 * 235e-6 + 1e-9);
  EXPECT_DOUBLE_EQ(v2["iteration_time_s"], v2_off["iteration_time_s"]);
}

TEST(SelectiveAc, LayerLevelPolicyRecomputesEveryNthLayer) {
  // 8 layers on 4 stages: 2 per stage. torchtitan's selective_ac_option 2 recomputes one of them whole, as
  // Megatron's block method with one layer does: the same time and memory.
  auto every2 = run({"workload.recompute_granularity=selective", "workload.selective_ac_option=2"});
  auto block1 = run({"workload.recompute_granularity=full", "workload.recompute_method=block",
                     "workload.recompute_num_layers=1"});
  auto none = run({});
  for (auto* m : {&every2, &block1, &none}) ASSERT_FALSE(m->count("child_failed"));
  EXPECT_DOUBLE_EQ(every2["iteration_time_s"], block1["iteration_time_s"]);
  EXPECT_DOUBLE_EQ(every2["memory_activations_bytes"], block1["memory_activations_bytes"]);
  EXPECT_GT(every2["iteration_time_s"], none["iteration_time_s"]);
  EXPECT_LT(every2["memory_activations_bytes"], none["memory_activations_bytes"]);
}

TEST(SelectiveAc, OpLevelPolicySitsBetweenNoneAndFull) {
  auto none = run({});
  auto op = run({"workload.recompute_granularity=selective", "workload.selective_ac_option=op"});
  auto full = run({"workload.recompute_granularity=full"});
  for (auto* m : {&none, &op, &full}) ASSERT_FALSE(m->count("child_failed"));
  // It redoes the norms, wk, rope, wo, the activation and the residual add, not the GEMMs it kept nor attention.
  EXPECT_GT(op["iteration_time_s"], none["iteration_time_s"]);
  EXPECT_LT(op["iteration_time_s"], full["iteration_time_s"]);
  EXPECT_LT(op["memory_activations_bytes"], none["memory_activations_bytes"]);
  EXPECT_GT(op["memory_activations_bytes"], full["memory_activations_bytes"]);
}

TEST(SelectiveAc, AnUnknownOptionNamesTheKeyTheFileAndWhatIsAllowed) {
  for (const char* bad : {"sometimes", "0", "-2", "2.5"}) {
    try {
      parse_with(std::string("workload:\n  type: megatron\n  model: {num_layers: 8, hidden_size: 2048, "
                             "num_attention_heads: 16, seq_length: 2048, vocab_size: 32000}\n  "
                             "recompute_granularity: selective\n  selective_ac_option: '") + bad + "'\n");
      ADD_FAILURE() << "no error for " << bad;
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("mt.yaml:"), std::string::npos) << msg;
      EXPECT_NE(msg.find("workload.selective_ac_option:"), std::string::npos) << msg;
      EXPECT_NE(msg.find("megatron, op or a positive integer"), std::string::npos) << msg;
    }
  }
}

TEST(FsdpMemory, PytorchsLossOnFp32LogitsKeepsTwelveBytesPerLogit) {
  // One stage (it holds the output layer): 2,048 tokens x 32,000 logits / TP 2 = 32.768M logits per GPU; Megatron's
  // fused loss keeps 6 B of each (bf16 logits, fp32 softmax), PyTorch's cross_entropy on upcast logits 12 B (the
  // fp32 log-softmax, its gradient and the input gradient at the start of backward).
  auto megatron = run({"workload.pipeline_model_parallel_size=1"});
  auto torch = run({"workload.pipeline_model_parallel_size=1", "workload.cross_entropy=torch_fp32"});
  for (auto* m : {&megatron, &torch}) ASSERT_FALSE(m->count("child_failed"));
  EXPECT_DOUBLE_EQ(megatron["memory_logits_and_loss_bytes"], 6 * 32768000.0);
  EXPECT_DOUBLE_EQ(torch["memory_logits_and_loss_bytes"], 12 * 32768000.0);
  EXPECT_DOUBLE_EQ(torch["iteration_time_s"], megatron["iteration_time_s"]);
}

TEST(FsdpMemory, AnFsdpVersionOtherThanOneOrTwoNamesTheKey) {
  try {
    parse_with("workload:\n  type: megatron\n  model: {num_layers: 8, hidden_size: 2048, num_attention_heads: 16, "
               "seq_length: 2048, vocab_size: 32000}\n  use_torch_fsdp2: true\n  fsdp_version: 3\n");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("mt.yaml:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("workload.fsdp_version"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace lcsim
