// The token dispatcher's permutations around a MoE layer's all-to-alls (workloads/training/moe_permutation.h):
// their bytes at a toy layout by hand, Transformer Engine's fused kernels against PyTorch's operators, where each
// sits relative to the dispatch and the combine, and the --moe-permute-fusion flag.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "megatron_support.h"
#include "models/hardware/catalog.h"
#include "workloads/training/gpt_model.h"
#include "workloads/training/megatron.h"
#include "workloads/training/moe_permutation.h"

namespace lcsim {
namespace {

using megatron_support::op_bytes;

// 1,024 tokens (one sequence), hidden 1,024, 8 experts, top 2, EP 2 (4 local experts), no TP: n = 1,024 tokens into
// the dispatcher, c = n x 2 = 2,048 copies, and the local experts get EP x n x 2 / 8 = 512 rows each, 2,048 in all.
wl::GptModelConfig toy() {
  wl::GptModelConfig m;
  m.num_layers = 2, m.hidden_size = 1024, m.num_attention_heads = 8, m.seq_length = 1024, m.vocab_size = 32000;
  m.num_experts = 8, m.moe_router_topk = 2;
  return m;
}
wl::LayerShard shard(bool fused) {
  wl::LayerShard sh;
  sh.ep = 2;
  sh.permute_fusion = fused;
  return sh;
}
constexpr double n = 1024, c = 2048, rows = 2048, h = 1024, e = 2, E = 8;

size_t index_of(const std::vector<hw::OpWork>& ops, const std::string& name) {
  const auto it = std::find_if(ops.begin(), ops.end(), [&](const hw::OpWork& op) { return op.name == name; });
  return static_cast<size_t>(it - ops.begin());
}

TEST(MoePermutation, FusedKernelsMoveTheTokensOncePerCopy) {
  const wl::LayerOps ops = wl::layer_forward(toy(), 0, 1, 2, shard(true));
  // Permute (before the dispatch, with the router): each token read once (n e h), written per copy (c e h), its
  // probabilities read and written per copy (4 + 4 B): 2 x 1024 x 3072 + 8 x 2048 = 6,307,840 B. Its row-id map:
  // 5, 8 and 4 B per routing-map entry (n x 8 = 8,192 entries) and 8 B per copy in the third pass.
  EXPECT_DOUBLE_EQ(op_bytes(ops.norm2, wl::kMoePermute), e * h * (n + c) + 8 * c);
  EXPECT_DOUBLE_EQ(op_bytes(ops.norm2, wl::kMoePermute), 6307840.0);
  EXPECT_DOUBLE_EQ(op_bytes(ops.norm2, "moe_row_id_map_1"), 5 * n * E);
  EXPECT_DOUBLE_EQ(op_bytes(ops.norm2, "moe_row_id_map_2"), 8 * n * E);
  EXPECT_DOUBLE_EQ(op_bytes(ops.norm2, "moe_row_id_map_3"), 4 * n * E + 8 * c);
  // Sort by local expert (after the dispatch): every received row read and written with its probability:
  // 2,048 x (4,096 + 8) = 8,404,992 B, and a 4 B row map; the unsort before the combine without probabilities.
  EXPECT_DOUBLE_EQ(op_bytes(ops.mlp, wl::kMoeSort), 8404992.0);
  EXPECT_DOUBLE_EQ(op_bytes(ops.mlp, std::string(wl::kMoeSort) + "_map"), 4 * rows);
  EXPECT_DOUBLE_EQ(op_bytes(ops.mlp, wl::kMoeUnsort), 2 * e * h * rows);
  // Unpermute (after the combine): the copies read, one row per token written: 2 x 1024 x 3072 = 6,291,456 B.
  EXPECT_DOUBLE_EQ(op_bytes(ops.residual, wl::kMoeUnpermute), 6291456.0);
  // Backward: each kernel's mirror image moves the same bytes; the maps have no gradient.
  const auto bwd = wl::backward_of(ops.all(), 2);
  EXPECT_DOUBLE_EQ(op_bytes(bwd, std::string(wl::kMoePermute) + "_bwd"), 6307840.0);
  EXPECT_DOUBLE_EQ(op_bytes(bwd, std::string(wl::kMoeSort) + "_bwd"), 8404992.0);
  EXPECT_DOUBLE_EQ(op_bytes(bwd, std::string(wl::kMoeUnsort) + "_bwd"), 2 * e * h * rows);
  EXPECT_DOUBLE_EQ(op_bytes(bwd, std::string(wl::kMoeUnpermute) + "_bwd"), 6291456.0);
  EXPECT_EQ(op_bytes(bwd, "moe_row_id_map_1_bwd"), -1);
}

TEST(MoePermutation, UnfusedOperatorsAndTheirGradients) {
  const wl::LayerOps ops = wl::layer_forward(toy(), 0, 1, 2, shard(false));
  // index_select: per copy an 8 B index, a row read and a row written: 2,048 x (8 + 4,096) = 8,404,992 B.
  EXPECT_DOUBLE_EQ(op_bytes(ops.norm2, wl::kMoePermute), c * (8 + 2 * e * h));
  EXPECT_DOUBLE_EQ(op_bytes(ops.norm2, wl::kMoePermute), 8404992.0);
  // The map's transpose (1 + 1 B), argsort (1 + 8 B) per entry, the indices modulo n (8 + 8 B per copy), the
  // probabilities' transpose (4 + 4 B per entry) and gather (8 + 4 + 4 B per copy).
  EXPECT_DOUBLE_EQ(op_bytes(ops.norm2, "moe_map_transpose"), 2 * n * E);
  EXPECT_DOUBLE_EQ(op_bytes(ops.norm2, "moe_map_argsort"), 9 * n * E);
  EXPECT_DOUBLE_EQ(op_bytes(ops.norm2, "moe_map_modulo"), 16 * c);
  EXPECT_DOUBLE_EQ(op_bytes(ops.norm2, "moe_probs_transp"), 8 * n * E);
  EXPECT_DOUBLE_EQ(op_bytes(ops.norm2, "moe_probs_gather"), 16 * c);
  // torch.cat of the split chunks: every row read and written (4,096 B), the probabilities (4 + 4 B) in a cat of
  // their own.
  EXPECT_DOUBLE_EQ(op_bytes(ops.mlp, wl::kMoeSort), 2 * e * h * rows);
  EXPECT_DOUBLE_EQ(op_bytes(ops.mlp, "moe_sort_probs"), 8 * rows);
  EXPECT_DOUBLE_EQ(op_bytes(ops.mlp, wl::kMoeUnsort), 2 * e * h * rows);
  // zeros of n rows (2,097,152 B), then scatter_add_: per copy an 8 B index and a row read, each output row
  // written once: 2,048 x 2,056 + 2,097,152 = 6,307,840 B.
  EXPECT_DOUBLE_EQ(op_bytes(ops.residual, std::string(wl::kMoeUnpermute) + "_zeros"), 2097152.0);
  EXPECT_DOUBLE_EQ(op_bytes(ops.residual, wl::kMoeUnpermute), 6307840.0);
  const auto bwd = wl::backward_of(ops.all(), 2);
  // index_select's gradient: a zero fill of n rows and index_add_ of the copies (as scatter_add_ forward);
  // scatter_add_'s gradient: a gather into the copies (as index_select forward).
  EXPECT_DOUBLE_EQ(op_bytes(bwd, std::string(wl::kMoePermute) + "_bwd_zeros"), 2097152.0);
  EXPECT_DOUBLE_EQ(op_bytes(bwd, std::string(wl::kMoePermute) + "_bwd"), 6307840.0);
  EXPECT_DOUBLE_EQ(op_bytes(bwd, std::string(wl::kMoeUnpermute) + "_bwd"), 8404992.0);
  EXPECT_EQ(op_bytes(bwd, std::string(wl::kMoeUnpermute) + "_zeros_bwd"), -1);
  // The probabilities' gather: a zero fill of the dense fp32 gradient (4 B per entry) and index_put_ (16 B per copy).
  EXPECT_DOUBLE_EQ(op_bytes(bwd, "moe_probs_bwd_zeros"), 4 * n * E);
  EXPECT_DOUBLE_EQ(op_bytes(bwd, "moe_probs_gather_bwd"), 16 * c);
  EXPECT_EQ(op_bytes(bwd, "moe_map_argsort_bwd"), -1);
}

TEST(MoePermutation, FusedPathIssuesFewerOperators) {
  auto count = [](bool fused) {
    const auto fwd = wl::layer_forward(toy(), 0, 1, 2, shard(fused)).all();
    const auto bwd = wl::backward_of(fwd, 2);
    auto moe = [](const std::vector<hw::OpWork>& ops) {
      return std::count_if(ops.begin(), ops.end(), [](const hw::OpWork& op) { return op.name.starts_with("moe_"); });
    };
    return std::make_pair(moe(fwd), moe(bwd));
  };
  // Fused: forward the split counts (moe_token_counts: the preprocess's counts, gathered and copied to the host),
  // 3 row-id passes + permute, sort map + sort, unsort map + unsort, unpermute = 10; backward one kernel for each
  // of the four = 4. Unfused: forward the counts + 6 (map transpose, argsort, modulo, probabilities' transpose
  // and gather, index_select) + 2 (cat, probabilities' cat) + 1 (cat) + 2 (zeros, scatter_add_) = 12; backward
  // 5 (transpose, zeros + index_put_, zeros + index_add_) + 2 + 1 + 1 (gather) = 9.
  EXPECT_EQ(count(true), std::make_pair(10L, 4L));
  EXPECT_EQ(count(false), std::make_pair(12L, 9L));
  // One local expert (EP 8): no sort, no unsort.
  wl::LayerShard one = shard(true);
  one.ep = 8;
  const auto ops = wl::layer_forward(toy(), 0, 1, 2, one).all();
  EXPECT_EQ(op_bytes(ops, wl::kMoeSort), -1);
  EXPECT_EQ(op_bytes(ops, wl::kMoeUnsort), -1);
  EXPECT_GT(op_bytes(ops, wl::kMoePermute), 0);
}

TEST(MoePermutation, KernelsSitBetweenTheRouterTheAllToAllsAndTheExperts) {
  // alltoall: the permute after the router (the group before the dispatch), the sort first in the expert group
  // (after the dispatch), the unsort after the experts' last GEMM (before the combine), the unpermute first in the
  // residual group (after the combine).
  const wl::LayerOps ops = wl::layer_forward(toy(), 0, 1, 2, shard(true));
  EXPECT_LT(index_of(ops.norm2, "router"), index_of(ops.norm2, wl::kMoePermute));
  EXPECT_EQ(ops.norm2.back().name, wl::kMoePermute);
  EXPECT_EQ(ops.mlp[1].name, wl::kMoeSort);
  EXPECT_LT(index_of(ops.mlp, wl::kMoeSort), index_of(ops.mlp, "expert_up"));
  EXPECT_LT(index_of(ops.mlp, "expert_down"), index_of(ops.mlp, wl::kMoeUnsort));
  EXPECT_EQ(ops.mlp.back().name, wl::kMoeUnsort);
  EXPECT_EQ(ops.residual.front().name, wl::kMoeUnpermute);
  // flex: DeepEP's dispatch permutes as it sends; the received rows are permuted after it and unpermuted before
  // the combine, nothing around the residual; after the router only its dispatch layout (setup_metadata's top-k and
  // get_dispatch_layout: 3 launches).
  wl::LayerShard flex = shard(true);
  flex.flex_dispatch = true;
  const wl::LayerOps f = wl::layer_forward(toy(), 0, 1, 2, flex);
  ASSERT_GE(f.norm2.size(), 2u);
  EXPECT_EQ(f.norm2.back().name, "moe_dispatch_layout");
  EXPECT_EQ(f.norm2.back().launches, 3);
  EXPECT_TRUE(f.norm2[f.norm2.size() - 2].name.starts_with("router")) << f.norm2[f.norm2.size() - 2].name;
  EXPECT_EQ(f.residual.size(), 1u);
  EXPECT_LT(index_of(f.mlp, wl::kMoePermute), index_of(f.mlp, "expert_up"));
  EXPECT_LT(index_of(f.mlp, "expert_down"), index_of(f.mlp, wl::kMoeUnpermute));
  EXPECT_EQ(op_bytes(f.mlp, wl::kMoeSort), -1);
  // DeepEP delivers a token once per destination rank: with EP 2 its 2 experts are on 2 (1 - 1/2^2) = 1.5 distinct
  // ranks, so the 2,048 rows arrive as 2,048 x 1.5 / 2 = 1,536 received rows, read once and written per copy.
  EXPECT_DOUBLE_EQ(wl::distinct_ranks(2, 2), 1.5);
  EXPECT_DOUBLE_EQ(op_bytes(f.mlp, wl::kMoePermute), e * h * (1536 + rows) + 8 * rows);
  EXPECT_DOUBLE_EQ(op_bytes(f.mlp, wl::kMoeUnpermute), e * h * (rows + 1536));
  // FP8 dispatch (DeepSeek-V3): the received rows arrive in FP8 with a 4 B scale per 128 elements, 1.03125 B, and
  // the combine's backward gradients too: the permute's forward and the unpermute's backward move those; the
  // permute's backward (the dispatch's gradients) and the unpermute's forward stay 16-bit.
  flex.fp8_dispatch = true;
  const auto q = wl::layer_forward(toy(), 0, 1, 2, flex).mlp;
  const auto qb = wl::backward_of(q, 2);
  EXPECT_DOUBLE_EQ(op_bytes(q, wl::kMoePermute), 1.03125 * h * (1536 + rows) + 8 * rows);
  EXPECT_DOUBLE_EQ(op_bytes(qb, std::string(wl::kMoePermute) + "_bwd"), e * h * (1536 + rows) + 8 * rows);
  EXPECT_DOUBLE_EQ(op_bytes(q, wl::kMoeUnpermute), e * h * (rows + 1536));
  EXPECT_DOUBLE_EQ(op_bytes(qb, std::string(wl::kMoeUnpermute) + "_bwd"), 1.03125 * h * (rows + 1536));
}

// In the plan: each slot's kernels in the segment that the right all-to-all closes or follows. Fused and unfused
// plans differ, segment by segment, by exactly the two paths' kernel time of the slot's ops (host issue off, so a
// segment's compute is its kernels' time), and nowhere else.
TEST(MoePermutation, PlanSegmentsHoldEachSlotBesideItsAllToAll) {
  auto plan = [](bool fused) {
    const Scenario sc = megatron_support::parse_sets(
        {"workload.pipeline_model_parallel_size=1", "workload.model.num_experts=8", "workload.model.moe_router_topk=2",
         "workload.expert_model_parallel_size=2", "workload.sequence_parallel=true", "workload.host_op_time=0us",
         "workload.expert_launch_time=0us", std::string("workload.moe_permute_fusion=") + (fused ? "true" : "false")});
    const auto& w = dynamic_cast<const wl::MegatronTraining&>(*sc.workload);
    const hw::AcceleratorSpec part = w.config().kernels_on(hw::PartCatalog::get().part("H100-SXM-80GB"));
    return std::make_pair(w.plan_stage(part, 0), part);
  };
  // Not a structured binding: clang 14 (the sanitizer build) cannot capture one in the lambdas below.
  const auto fused_plan = plan(true);
  const auto& fused = fused_plan.first;
  const auto& part = fused_plan.second;
  const auto unfused = plan(false).first;
  // megatron_support's layout with TP 2 and sequence parallelism: 2,048 tokens, 1,024 per rank into the dispatcher,
  // 8 experts over EP 2, top 2; the 4 local experts get their EP group's copies gathered over TP: 4,096 rows.
  wl::MoePermutationShape s;
  s.tokens = 1024, s.topk = 2, s.rows = 4096, s.experts = 8, s.local_experts = 4, s.hidden = 2048;
  s.count_splits = s.gather_splits = true;  // the alltoall dispatcher's preprocess, its counts gathered over EP x TP
  auto slots = [&](bool f) {
    s.fused = f;
    return wl::moe_permutation_ops(s);
  };
  const auto a = slots(true), b = slots(false);
  auto t = [&](const std::vector<hw::OpWork>& ops) { return hw::total_time(ops, part, hw::DType::kBf16).s(); };
  auto tb = [&](const std::vector<hw::OpWork>& ops) { return t(wl::backward_of(ops, 2)); };
  auto both = [](const std::vector<hw::OpWork>& x, const std::vector<hw::OpWork>& y) {
    std::vector<hw::OpWork> z = x;
    z.insert(z.end(), y.begin(), y.end());
    return z;
  };
  // What the unfused plan's segments take more than the fused one's, summed by class: [0] the segments whose
  // comms hold `first`, [1] those holding `second`, [2] those after a segment holding `second`, [3] the others.
  using Segments = std::vector<wl::MegatronTraining::Segment>;
  auto by_slot = [](const Segments& f, const Segments& u, const std::string& first, const std::string& second) {
    std::vector<double> out(4, 0.0);
    EXPECT_EQ(f.size(), u.size());
    auto holds = [&](size_t i, const std::string& what) {
      return std::any_of(f[i].comms.begin(), f[i].comms.end(),
                         [&](const auto& cc) { return cc.name.find(what) != std::string::npos; });
    };
    for (size_t i = 0; i < f.size() && i < u.size(); ++i) {
      const size_t k = holds(i, first) ? 0 : holds(i, second) ? 1 : i > 0 && holds(i - 1, second) ? 2 : 3;
      out[k] += (u[i].compute - f[i].compute).s();
    }
    return out;
  };
  // 8 MoE layers of one micro-batch pass, each with the same four slots.
  const double layers = 8, tol = 1e-12;
  const auto sorts_a = both(a.after_dispatch, a.before_combine), sorts_b = both(b.after_dispatch, b.before_combine);
  // Forward: the permute in the segment the dispatch closes, the expert group (the sort after the dispatch, the
  // unsort before the combine) in the one the combine closes, the unpermute in the one after it, nothing elsewhere.
  const auto fwd = by_slot(fused.forward[0].segments, unfused.forward[0].segments, "all-to-all dispatch",
                           "all-to-all combine");
  const std::vector<double> fwd_slots = {t(b.before_dispatch) - t(a.before_dispatch), t(sorts_b) - t(sorts_a),
                                         t(b.after_combine) - t(a.after_combine), 0.0};
  // Backward, in reverse: the unpermute's gradient before the combine's backward all-to-all, the sorts' between the
  // two, the permute's after the dispatch's.
  const auto bwd = by_slot(fused.backward[0].segments, unfused.backward[0].segments, "all-to-all combine (bwd)",
                           "all-to-all dispatch (bwd)");
  const std::vector<double> bwd_slots = {tb(b.after_combine) - tb(a.after_combine), tb(sorts_b) - tb(sorts_a),
                                         tb(b.before_dispatch) - tb(a.before_dispatch), 0.0};
  for (size_t k = 0; k < 4; ++k) {
    EXPECT_NEAR(fwd[k], layers * fwd_slots[k], tol) << "forward class " << k;
    EXPECT_NEAR(bwd[k], layers * bwd_slots[k], tol) << "backward class " << k;
  }
  EXPECT_GT(fwd[0], 0);
  EXPECT_GT(bwd[2], 0);
}

TEST(MoePermutation, MegatronFlagSetsTheKey) {
  const std::string line = "--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 "
                           "--vocab-size 32000 --global-batch-size 32 --micro-batch-size 1 --bf16 --use-flash-attn "
                           "--num-experts 8 --moe-router-topk 2 --moe-grouped-gemm ";
  auto parse = [&](const std::string& extra) {
    return megatron_support::parse_with("workload:\n  type: megatron\n  megatron_args: \"" + line + extra + "\"\n");
  };
  auto config = [](const Scenario& sc) -> const wl::MegatronConfig& {
    return dynamic_cast<wl::MegatronTraining*>(sc.workload.get())->config();
  };
  EXPECT_TRUE(config(parse("--moe-permute-fusion")).moe_permute_fusion);
  EXPECT_FALSE(config(parse("")).moe_permute_fusion);  // Megatron-LM's default
  const Scenario fused = parse("--moe-permute-fusion");  // kept: the config lives in its workload
  const auto& ignored = config(fused).ignored_args;
  EXPECT_EQ(std::find(ignored.begin(), ignored.end(), "--moe-permute-fusion"), ignored.end());
}

TEST(MoePermutation, BadValueIsRejectedWithItsKey) {
  try {
    megatron_support::parse_sets({"workload.model.num_experts=8", "workload.moe_permute_fusion=te"});
    ADD_FAILURE() << "no error";
  } catch (const InputError& err) {
    EXPECT_NE(std::string(err.what()).find("workload.moe_permute_fusion: expected true or false, got 'te'"),
              std::string::npos)
        << err.what();
  }
}

}  // namespace
}  // namespace lcsim
