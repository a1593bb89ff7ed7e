// Context parallelism's attention kernel by kernel (workloads/training/cp_attention.h): the calls and merges a CP2
// and a CP4 rank runs, their FLOPs and bytes counted by hand, their time on H100 from the part's curve by hand,
// the backward's gradient accumulation, the all-gather variant's two calls and the exchange buffers' memory.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "models/hardware/catalog.h"
#include "workloads/training/cp_attention.h"
#include "workloads/training/gpt_model.h"

namespace lcsim::wl {
namespace {

// One sequence of 8,192 tokens, 4 query heads, 1 key/value head of 128 (a TP rank's share), 16-bit.
CpAttentionInput shape(int cp, const std::string& comm, bool pytorch) { return {cp, comm, pytorch, 1, 8192, 4, 1, 128}; }

double pairs(const hw::OpWork& op) { return op.flops.flop() / (4.0 * 4 * 128); }  // 4 b h d per (query, key)

// Transformer Engine's p2p ring on CP2: the diagonal step (own 2 chunks of 2,048, causal) and one step against
// the first received chunk (4,096 queries x 2,048 keys, no mask), then one fused correction.
TEST(CpAttention, Cp2RingIsACausalDiagonalStepThenOneUnmaskedStepAndItsMerge) {
  const auto ops = cp_attention_forward(shape(2, "p2p", false), 2);
  ASSERT_EQ(ops.size(), 3u);
  EXPECT_EQ(ops[0].name, "attention_step");
  EXPECT_TRUE(ops[0].attention.causal);
  EXPECT_EQ(ops[0].attention.q_len, 4096);
  EXPECT_EQ(ops[0].attention.kv_len, 4096);
  EXPECT_DOUBLE_EQ(pairs(ops[0]), 4096.0 * 4096 / 2);
  EXPECT_FALSE(ops[1].attention.causal);
  EXPECT_EQ(ops[1].attention.q_len, 4096);
  EXPECT_EQ(ops[1].attention.kv_len, 2048);
  EXPECT_DOUBLE_EQ(pairs(ops[1]), 4096.0 * 2048);
  // Together 1/CP of the causal sequence: 8192^2 / 2 / 2.
  EXPECT_DOUBLE_EQ(pairs(ops[0]) + pairs(ops[1]), 8192.0 * 8192 / 4);
  EXPECT_EQ(ops[2].name, kCpMergeTe);
  EXPECT_DOUBLE_EQ(ops[2].bytes.bytes(), 3 * 2 * 4096.0 * 4 * 128);  // step output and running output in, out
}

// CP4: chunks of 1,024; the diagonal step 2,048 x 2,048 causal, then 3 unmasked 2,048 x 1,024 steps, each merged.
// On H100 (cuDNN's curve: forward plateau x kv / (kv + seq_half) of the 16-bit peak, plus the launch) the four
// calls cost what the formula gives by hand, and more than the one long causal kernel lcsim costed before.
TEST(CpAttention, Cp4RingStepListAndItsTimeOnH100ByHand) {
  const auto ops = cp_attention_forward(shape(4, "p2p", false), 2);
  std::vector<std::string> names;
  for (const auto& op : ops) names.push_back(op.name);
  EXPECT_EQ(names, (std::vector<std::string>{"attention_step", "attention_step", kCpMergeTe, "attention_step",
                                             kCpMergeTe, "attention_step", kCpMergeTe}));
  double total_pairs = 0;
  for (const auto& op : ops) {
    if (op.op_class == hw::OpClass::kAttention) total_pairs += pairs(op);
  }
  EXPECT_DOUBLE_EQ(total_pairs, 2048.0 * 2048 / 2 + 3 * 2048.0 * 1024);
  EXPECT_DOUBLE_EQ(total_pairs, 8192.0 * 8192 / 2 / 4);

  const hw::AcceleratorSpec& h100 = hw::PartCatalog::get().part("H100-SXM-80GB");
  const auto& k = h100.calibration;
  ASSERT_GT(k.attention_forward_efficiency, 0);
  const double peak = h100.peak(hw::DType::kBf16).flop_per_s(), launch = k.kernel_launch.s();
  auto by_hand = [&](double p, double kv) {
    return 4.0 * 4 * 128 * p / (peak * k.attention_forward_efficiency * kv / (kv + k.attention_forward_seq_half)) + launch;
  };
  const double diagonal = by_hand(2048.0 * 2048 / 2, 2048), step = by_hand(2048.0 * 1024, 1024);
  const double merge = 3 * 2 * 2048.0 * 4 * 128 / (h100.hbm_bandwidth.bps() * k.memory_efficiency) + launch;
  const double expected = diagonal + 3 * step + 3 * merge;
  EXPECT_NEAR(hw::total_time(ops, h100, hw::DType::kBf16).s(), expected, 1e-12);
  // Before: this rank's 2,048 queries against the whole 8,192-token sequence in one causal kernel.
  const hw::AttentionShape one{1, 2048, 8192, 4, 1, 128, true};
  const double before = hw::attention_time(h100, hw::DType::kBf16, one).s();
  EXPECT_NEAR(before, by_hand(2048.0 * 8192 / 2, 8192), 1e-12);
  EXPECT_GT(expected, before * 1.2);  // shorter key loops, 4 launches and 3 merges
}

// PyTorch's ring (torchtitan): the same calls for p2p and allgather alike, merged in fp32 by eager kernels
// (38 B per output element per step) after step 0's cast (12 B once); backward accumulates the step's dq and
// dk/dv in fp32 (10 B per element) and casts back (6 B per element). Its copies (_attention.py): key/value
// contiguous() once and a torch.cat of the pair before each step but the last (2 x 2 B per element of the local
// pair, 2 x 4,096 x 1 x 128); in backward the same, fp32 zero-fills of dq, dk, dv (4 B), step 0's accumulation
// (10 B), and per step the fp32 dk/dv rebuilt by _partial_update's cat and cat again for the next rank (8 B each).
TEST(CpAttention, PytorchRingMergesInFp32AndAccumulatesGradientsInFp32) {
  for (const std::string comm : {"p2p", "allgather"}) {
    const auto ops = cp_attention_forward(shape(2, comm, true), 2);
    ASSERT_EQ(ops.size(), 4u) << comm;
    const double q = 4096.0 * 4 * 128, pair = 2 * 4096.0 * 128;
    EXPECT_EQ(ops[1].name, kCpMergeTorchCast);
    EXPECT_DOUBLE_EQ(ops[1].bytes.bytes(), 12 * q + 4 * pair);  // casts; contiguous()
    EXPECT_EQ(ops[3].name, kCpMergeTorch);
    EXPECT_DOUBLE_EQ(ops[3].bytes.bytes(), 38 * q + 4 * pair);  // merge; step 0's torch.cat
    const auto bwd = backward_of(ops, 2);
    ASSERT_EQ(bwd.size(), 4u);
    EXPECT_TRUE(bwd[0].attention.backward);
    // Once: zero-fills 4, step 0's accumulation 10, final casts 6 B per element of dq and the pair's dk, dv;
    // step 0's fp32 cat for the exchange 8 and contiguous() 4 B per pair element.
    EXPECT_DOUBLE_EQ(bwd[1].bytes.bytes(), (4 + 10 + 6) * (q + pair) + 8 * pair + 4 * pair);
    // Step 1: dq and the used half's dk, dv (2 x 2,048 x 1 x 128) accumulated in fp32; the pair's fp32 dk/dv
    // rebuilt and cat for the next rank (2 x 8 B), its keys/values cat (4 B) per pair element.
    EXPECT_DOUBLE_EQ(bwd[3].bytes.bytes(), 10 * (q + pair / 2) + 16 * pair + 4 * pair);
  }
  // Transformer Engine's accumulation in 16 bits: 3 x 2 B per element.
  const auto te = backward_of(cp_attention_forward(shape(2, "p2p", false), 2), 2);
  EXPECT_DOUBLE_EQ(te[2].bytes.bytes(), 6 * (4096.0 * 4 * 128 + 2 * 2048.0 * 128));
}

// Transformer Engine's all-gather (Llama 3): rank 0's two query chunks of 1,024 (CP4) against the keys up to their
// ends, causal from the bottom right: 1,024 x 1,024 / 2 and 1,024 x 8,192 - 1,024^2 / 2 pairs; no merge.
TEST(CpAttention, AllGatherRunsOneBottomRightCausalCallPerLocalChunk) {
  const auto ops = cp_attention_forward(shape(4, "allgather", false), 2);
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].attention.kv_len, 1024);
  EXPECT_EQ(ops[1].attention.kv_len, 8192);
  EXPECT_TRUE(ops[1].attention.bottom_right);
  EXPECT_DOUBLE_EQ(pairs(ops[0]), 1024.0 * 1024 / 2);
  EXPECT_DOUBLE_EQ(pairs(ops[1]), 1024.0 * 8192 - 1024.0 * 1024 / 2);
  EXPECT_DOUBLE_EQ(pairs(ops[0]) + pairs(ops[1]), 8192.0 * 8192 / 2 / 4);
}

// The exchange's buffers (a local K/V chunk: 2 x 8,192/4 tokens x 1 head x 128 x 2 B = 1 MiB): Transformer
// Engine's ring 4 chunks, its all-gather the gathered sequence and its gradients (2 x CP chunks).
TEST(CpAttention, KeyValueBuffersPerImplementation) {
  const double local = 2 * 2048.0 * 128 * 2;
  EXPECT_DOUBLE_EQ(cp_kv_buffers(shape(4, "p2p", false), 2).bytes(), 4 * local);
  EXPECT_DOUBLE_EQ(cp_kv_buffers(shape(4, "allgather", false), 2).bytes(), 2 * 4 * local);
  // PyTorch's are not at the peak: torchtitan's published peaks stay flat from CP 1 to 8.
  EXPECT_DOUBLE_EQ(cp_kv_buffers(shape(4, "allgather", true), 2).bytes(), 0);
  EXPECT_DOUBLE_EQ(cp_kv_buffers(shape(4, "p2p", true), 2).bytes(), 0);
}

}  // namespace
}  // namespace lcsim::wl
