// What llm-foundry (MPT) runs around its kernels and collectives, as lcsim models it.
//
// attention_unpad: llm-foundry's flash_attn_fn (MPT, attn_impl: flash) runs flash-attn's variable-length kernel and
// surrounds it with bert_padding's copies: unpad_input gathers the queries, keys and values into packed tensors
// (torch.gather: read and write 2 B per element), pad_input scatters the output into a zeroed padded tensor
// (zero-fill, then index_put: 2 + 2 + 2 B per element). Backward mirrors them: each gather's gradient is a zeroed
// tensor scattered into (6 B per element), the scatter's gradient a gather (4 B per element). Byte counts below
// are derived by hand from those copies, not taken from the code under test.
#include <gtest/gtest.h>

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

using megatron_support::op_bytes;

// MPT-7B's shape (llm-foundry's mpt-7b.yaml): d_model 4096, 32 heads, sequence 2,048.
wl::GptModelConfig mpt7b() {
  wl::GptModelConfig m;
  m.num_layers = 32;
  m.hidden_size = 4096;
  m.num_attention_heads = 32;
  m.seq_length = 2048;
  m.vocab_size = 50368;
  return m;
}

std::vector<std::string> names(const std::vector<hw::OpWork>& ops) {
  std::vector<std::string> out;
  for (const auto& op : ops) out.push_back(op.name);
  return out;
}

// MPT-7B at micro-batch 6 (the H100 table's row): 6 x 2,048 = 12,288 tokens, each of q, k, v and the output
// 12,288 x 4,096 = 50,331,648 elements. Forward: 3 gathers x 4 B + the output's 6 B = 18 B per element-tensor,
// 905,969,664 B; backward: 3 x 6 B + 4 B = 22 B, 1,107,296,256 B.
TEST(AttentionUnpad, CopiesMoveTheHandCountedBytesForwardAndBackward) {
  const wl::GptModelConfig m = mpt7b();
  wl::LayerShard sh;
  sh.unpad = true;
  const double elements = 6.0 * 2048 * 4096;
  const auto fwd = wl::layer_forward(m, 0, 6, 2.0, sh).all();
  EXPECT_DOUBLE_EQ(op_bytes(fwd, "attn_unpad"), 3 * 4 * elements);
  EXPECT_DOUBLE_EQ(op_bytes(fwd, "attn_pad"), 6 * elements);
  EXPECT_DOUBLE_EQ(op_bytes(fwd, "attn_unpad") + op_bytes(fwd, "attn_pad"), 905969664.0);
  const auto bwd = wl::backward_of(fwd, 2.0);
  EXPECT_DOUBLE_EQ(op_bytes(bwd, "attn_unpad_bwd"), 3 * 6 * elements);
  EXPECT_DOUBLE_EQ(op_bytes(bwd, "attn_pad_bwd"), 4 * elements);
  EXPECT_DOUBLE_EQ(op_bytes(bwd, "attn_unpad_bwd") + op_bytes(bwd, "attn_pad_bwd"), 1107296256.0);
}

// The copies sit around the attention kernel and change nothing else: without them the layer is the same list
// minus the two names, kernel for kernel.
TEST(AttentionUnpad, OnlyAddsTheTwoCopiesAroundTheKernel) {
  const wl::GptModelConfig m = mpt7b();
  wl::LayerShard with;
  with.unpad = true;
  const wl::LayerOps a = wl::layer_forward(m, 0, 2, 2.0, with), b = wl::layer_forward(m, 0, 2, 2.0);
  const std::vector<std::string> got = names(a.attention);
  ASSERT_EQ(got.size(), b.attention.size() + 2);
  EXPECT_EQ(got.front(), "attn_unpad");
  EXPECT_EQ(got[1], "attention");
  EXPECT_EQ(got[2], "attn_pad");
  EXPECT_EQ(a.qkv, b.qkv);
  EXPECT_EQ(a.mlp, b.mlp);
  EXPECT_EQ(a.norm2, b.norm2);
}

// Grouped keys and values are gathered at their own width: 32 query heads and 8 key/value groups of 128 gather
// (32 + 2 x 8) x 128 = 6,144 elements per token, the output 4,096.
TEST(AttentionUnpad, GroupedKeysAndValuesAreCopiedAtTheirWidth) {
  wl::GptModelConfig m = mpt7b();
  m.group_query_attention = true;
  m.num_query_groups = 8;
  wl::LayerShard sh;
  sh.unpad = true;
  const auto fwd = wl::layer_forward(m, 0, 1, 2.0, sh).all();
  EXPECT_DOUBLE_EQ(op_bytes(fwd, "attn_unpad"), 4.0 * 2048 * 6144);
  EXPECT_DOUBLE_EQ(op_bytes(fwd, "attn_pad"), 6.0 * 2048 * 4096);
}

bool unpad_of(const Scenario& sc) {
  return dynamic_cast<const wl::MegatronTraining&>(*sc.workload).config().layer_shard().unpad;
}

// `sets` with attention_unpad on are rejected with a message naming where the key was set and each of `needles`.
void expect_unpad_rejected(std::vector<std::string> sets, const std::vector<std::string>& needles) {
  sets.insert(sets.begin(), "workload.attention_unpad=true");
  try {
    megatron_support::parse_sets(sets);
    FAIL() << "no error";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("--set 'workload.attention_unpad=true'"), std::string::npos) << msg;  // where it was set
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << n << " in " << msg;
  }
}

// The scenario key reaches the plan, and without fused attention it is an error naming the key.
TEST(AttentionUnpad, KeyNeedsFusedAttention) {
  EXPECT_TRUE(unpad_of(megatron_support::parse_sets({"workload.attention_unpad=true"})));
  EXPECT_FALSE(unpad_of(megatron_support::parse_sets({})));
  expect_unpad_rejected({"workload.use_flash_attn=false"}, {"attention_unpad", "use_flash_attn"});
}

// With context parallelism the key is an error naming it and the CP size, not silently dropped: the CP path's
// per-step kernels (cp_attention.h) take no padding copies, and llm-foundry's flash_attn_fn has no CP.
TEST(AttentionUnpad, KeyIsRejectedWithContextParallelism) {
  expect_unpad_rejected({"workload.context_parallel_size=2"}, {"attention_unpad", "context_parallel_size 2"});
  // CP 1 keeps the copies (the key works as before).
  EXPECT_TRUE(unpad_of(megatron_support::parse_sets({"workload.attention_unpad=true", "workload.context_parallel_size=1"})));
}

// Run whole, the copies make the iteration slower (they are memory-bound kernels on the compute stream), and by
// no more than their own time: every layer's forward and backward, with no recomputation in kBase.
TEST(AttentionUnpad, IterationSlowerByAtMostTheCopiesTime) {
  auto base = megatron_support::run({});
  auto unpad = megatron_support::run({"workload.attention_unpad=true"});
  EXPECT_GT(unpad["iteration_time_s"], base["iteration_time_s"]);
  // kBase: 8 layers, TP 2 (8 heads of 128 per rank), PP 4 (2 layers per rank), 32 micro-batches of 1 x 2,048
  // tokens; per layer and micro-batch 18 + 22 = 40 B x 2,048 x 1,024 elements = 83.9 MB; at most 2 layers x
  // 32 micro-batches of it per rank, at no less than 1 TB/s that is at most 5.4 ms.
  EXPECT_LT(unpad["iteration_time_s"] - base["iteration_time_s"], 2 * 32 * 40.0 * 2048 * 1024 / 1e12 + 1e-3);
}

// FSDP1's default communication hook (reduce_scatter_hook, torch/distributed/algorithms/_comm_hooks/default_hooks.py)
// divides the unsharded gradient before the reduce-scatter and the shard after it, on the reduce stream. kBase's
// stage 1 (TP 2, PP 4, DP 4 on 32 GPUs) holds 2 layers of 25,179,136 parameters per TP rank (12h^2 + 13h over 2).
// Each unit's reduce-scatter prep with fp32 reductions: FSDP2 casts into the fp32 input (2 + 4 B per parameter);
// FSDP1 casts the same bytes, then pre-divides the fp32 gradient (4 + 4 B per parameter) and post-divides the
// shard (4 + 4 B per shard element, / DP 4); with bf16 reductions FSDP1 does not cast and divides 2 + 2 B.
TEST(Fsdp1GradientDivision, ReducePrepHasTheHooksTwoDivisions) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  auto reduce_prep = [&](const std::vector<std::string>& sets) {
    Scenario sc = megatron_support::parse_sets(sets);
    const auto plan = dynamic_cast<const wl::MegatronTraining&>(*sc.workload).plan_stage(part, 1);
    std::vector<Duration> preps;
    for (const auto& seg : plan.backward.at(0).segments) {
      for (const auto& call : seg.reduce) preps.push_back(call.prep);
    }
    EXPECT_EQ(preps.size(), 2u);
    return preps.empty() ? Duration() : preps.front();
  };
  const std::vector<std::string> fsdp = {"workload.use_torch_fsdp2=true"};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), fsdp.begin(), fsdp.end());
    return more;
  };
  const double L = 25179136;
  auto mem = [&](double bytes) { return hw::memory_time(part, Bytes::of(bytes)).s(); };
  EXPECT_NEAR(reduce_prep(with({})).s(), mem(6 * L), 1e-12);
  EXPECT_NEAR(reduce_prep(with({"workload.fsdp_version=1"})).s(), mem(6 * L) + mem(8 * L) + mem(8 * L / 4), 1e-12);
  EXPECT_NEAR(reduce_prep(with({"workload.fsdp_version=1", "workload.accumulate_allreduce_grads_in_fp32=false"})).s(),
              mem(4 * L) + mem(4 * L / 4), 1e-12);
}

}  // namespace
}  // namespace lcsim
