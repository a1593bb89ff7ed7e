// DualPipe (DeepSeek-V3 technical report, arXiv 2412.19437, section 3.2.1; the deepseek-ai/DualPipe repository):
// its order on each rank worked out by hand from the repository's eight steps, its bubble against the README's
// formula (PP/2 - 1)(F&B + B - 3W) on equal stages, its memory (two stages per rank, PP + 1 micro-batches of
// activations), the expert all-to-alls its F&B pairs overlap, runs of the Megatron workload with it (equal and
// uneven stages, the timeline) and its input checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "megatron_support.h"
#include "test_support.h"
#include "timeline_support.h"

#include "models/hardware/catalog.h"
#include "scenarios/scenario.h"
#include "timeline/model.h"
#include "workloads/training/megatron.h"

namespace lcsim {
namespace {

using wl::MegatronTraining;
using Task = MegatronTraining::Task;
using Part = MegatronTraining::Part;

// "F3.0", "B4.1", "I2.0" (input gradients only), "W2.0", "F3.0+B5.1" (a pair): micro-batch.chunk.
std::string spell(const Task& t) {
  auto one = [](char k, int mb, int c) { return std::string(1, k) + std::to_string(mb) + "." + std::to_string(c); };
  if (t.pair()) return one('F', t.micro_batch, t.chunk) + "+" + one('B', t.b_micro_batch, t.b_chunk);
  if (t.forward) return one('F', t.micro_batch, t.chunk);
  return one(t.part == Part::kInput ? 'I' : t.part == Part::kWeight ? 'W' : 'B', t.micro_batch, t.chunk);
}

std::vector<std::string> spelled(const std::vector<Task>& tasks) {
  std::vector<std::string> out;
  for (const auto& t : tasks) out.push_back(spell(t));
  return out;
}

// PP 4, 8 micro-batches (0-3 enter at rank 0 through chunk 0, 4-7 at rank 3 through chunk 1). Rank 0 (half-rank 0):
// step 1 two F0, step 2 one F0 F1, step 3 one B1(zero bubble) W F1, step 4 one pair F0&B1 + pair F1&B0, step 5 one
// B1 + pair F1&B0, step 6 B1 then B0 (zero bubble from the second half on), step 7 W + B0 (zero bubble), step 8 W.
// Rank 1 (a middle rank): step 2 twice, step 4 twice with its first F0 and B1 not paired, step 6 twice with zero
// bubble from its second round, step 8 two Ws. Ranks 3 and 2 mirror 0 and 1 with the chunks swapped.
TEST(DualPipeSchedule, EachRankFollowsTheReferenceOrder) {
  const std::vector<std::string> rank0 = {"F0.0", "F1.0", "F2.0", "F4.1", "I4.1", "W4.1", "F5.1", "F3.0+B5.1",
                                          "F6.1+B0.0", "B6.1", "F7.1+B1.0", "B7.1", "I2.0", "W2.0", "I3.0", "W3.0"};
  const std::vector<std::string> rank1 = {"F0.0", "F4.1", "F1.0", "F5.1", "F2.0", "B4.1", "F6.1+B0.0", "F3.0+B5.1",
                                          "F7.1+B1.0", "B6.1", "B2.0", "I7.1", "I3.0", "W7.1", "W3.0"};
  EXPECT_EQ(spelled(MegatronTraining::schedule("dualpipe", 4, 0, 8, 2)), rank0);
  EXPECT_EQ(spelled(MegatronTraining::schedule("dualpipe", 4, 1, 8, 2)), rank1);
  auto mirrored = [](std::vector<Task> tasks) {  // chunk c <-> 1 - c, micro-batch m <-> (m + 4) mod 8
    for (auto& t : tasks) {
      t.chunk = 1 - t.chunk, t.micro_batch = (t.micro_batch + 4) % 8;
      if (t.pair()) t.b_chunk = 1 - t.b_chunk, t.b_micro_batch = (t.b_micro_batch + 4) % 8;
    }
    return spelled(tasks);
  };
  EXPECT_EQ(mirrored(MegatronTraining::schedule("dualpipe", 4, 3, 8, 2)), rank0);
  EXPECT_EQ(mirrored(MegatronTraining::schedule("dualpipe", 4, 2, 8, 2)), rank1);
}

// Replays every rank's order with fixed pass times and free sends: a pass starts when its rank is free and its
// inputs are there (forward: the previous stage's forward; backward: the next stage's backward, or its own forward
// at the last stage). Returns the makespan; fails on a deadlock.
double makespan(int pp, int m, double f, double b, double w) {
  std::vector<std::vector<Task>> order;
  for (int r = 0; r < pp; ++r) order.push_back(MegatronTraining::schedule("dualpipe", pp, r, m, 2));
  auto stage = [pp](int r, int chunk) { return chunk == 0 ? r : pp - 1 - r; };
  std::map<std::pair<int, int>, double> fwd, bwd;  // (micro-batch, model stage) -> end
  std::vector<size_t> next(static_cast<size_t>(pp), 0);
  std::vector<double> free(static_cast<size_t>(pp), 0.0);
  for (bool progress = true; progress;) {
    progress = false;
    for (int r = 0; r < pp; ++r) {
      auto& i = next[static_cast<size_t>(r)];
      for (; i < order[static_cast<size_t>(r)].size(); ++i) {
        const Task& t = order[static_cast<size_t>(r)][i];
        double ready = free[static_cast<size_t>(r)];
        bool known = true;
        auto need = [&](const std::map<std::pair<int, int>, double>& done, std::pair<int, int> key) {
          auto it = done.find(key);
          if (it == done.end()) known = false;
          else ready = std::max(ready, it->second);
        };
        if (t.forward && stage(r, t.chunk) > 0) need(fwd, {t.micro_batch, stage(r, t.chunk) - 1});
        if (t.has_backward() && t.part != Part::kWeight) {
          const int s = stage(r, t.backward_chunk());
          if (s == pp - 1) need(fwd, {t.backward_micro_batch(), s});
          else need(bwd, {t.backward_micro_batch(), s + 1});
        }
        if (!known) break;
        const double d = t.pair() ? f + b : t.forward ? f : t.part == Part::kInput ? b - w : t.part == Part::kWeight ? w : b;
        const double end = ready + d;
        free[static_cast<size_t>(r)] = end;
        if (t.forward) fwd[{t.micro_batch, stage(r, t.chunk)}] = end;
        if (t.has_backward() && t.part != Part::kWeight) bwd[{t.backward_micro_batch(), stage(r, t.backward_chunk())}] = end;
        progress = true;
      }
    }
  }
  for (int r = 0; r < pp; ++r) {
    EXPECT_EQ(next[static_cast<size_t>(r)], order[static_cast<size_t>(r)].size()) << "rank " << r << " stuck";
  }
  return *std::max_element(free.begin(), free.end());
}

// Every micro-batch passes every stage once each way, each deferred weight gradient is computed once after its
// input gradients, and no rank waits forever. With F = 1, B = 2 (W = 1 of it) and a pair taking F + B, the time
// beyond each rank's m (F + B) of work is the README's (PP/2 - 1)(F&B + B - 3W) = (PP/2 - 1) x 2, against 1F1B's
// (PP - 1)(F + B) = (PP - 1) x 3.
TEST(DualPipeSchedule, BubbleIsTheReadmesOnEqualStages) {
  for (const auto& [pp, m] : std::vector<std::pair<int, int>>{{2, 4}, {4, 8}, {4, 12}, {8, 16}, {8, 20}, {16, 32}, {16, 64}}) {
    for (int r = 0; r < pp; ++r) {
      std::map<std::string, int> seen;
      for (const auto& t : MegatronTraining::schedule("dualpipe", pp, r, m, 2)) {
        if (t.forward) ++seen["F" + std::to_string(t.micro_batch) + "." + std::to_string(t.chunk)];
        if (t.has_backward() && t.part != Part::kWeight) {
          ++seen["B" + std::to_string(t.backward_micro_batch()) + "." + std::to_string(t.backward_chunk())];
        }
        if (t.part == Part::kWeight) {
          const std::string b = "B" + std::to_string(t.micro_batch) + "." + std::to_string(t.chunk);
          EXPECT_EQ(seen.count(b), 1u) << "weights before input gradients: " << b;
        }
      }
      ASSERT_EQ(seen.size(), static_cast<size_t>(2 * m)) << pp << " " << r;
      for (const auto& [k, n] : seen) EXPECT_EQ(n, 1) << k;
      for (int mb = 0; mb < m; ++mb) {  // micro-batches 0..m/2-1 through chunk 0, the others through chunk 1
        EXPECT_EQ(seen.count("F" + std::to_string(mb) + "." + std::to_string(mb < m / 2 ? 0 : 1)), 1u);
      }
    }
    EXPECT_DOUBLE_EQ(makespan(pp, m, 1, 2, 1) - m * 3.0, (pp / 2 - 1) * (3.0 + 2 - 3 * 1)) << pp << " x " << m;
  }
}

// Activations in flight at the peak: PP + 1 micro-batches of a stage on every rank (the README's table), counted
// from the order; peak_in_flight gives them in micro-batches of the rank's two chunks together, (PP + 1) / 2 with
// equal stages, chunks weighted by their layers when the stages are uneven.
TEST(DualPipeSchedule, EveryRankHoldsPpPlusOneMicroBatchesAtThePeak) {
  for (int pp : {2, 4, 8, 16}) {
    for (int m : {2 * pp, 2 * pp + 2, 4 * pp}) {
      for (int r = 0; r < pp; ++r) {
        EXPECT_DOUBLE_EQ(MegatronTraining::peak_in_flight(MegatronTraining::schedule("dualpipe", pp, r, m, 2), {1, 1}),
                         (pp + 1.0) / 2) << pp << " " << m << " " << r;
      }
    }
  }
  // 1F1B's first stage: PP micro-batches.
  EXPECT_DOUBLE_EQ(MegatronTraining::peak_in_flight(MegatronTraining::schedule("1f1b", 4, 0, 8, 1), {1}), 4.0);
  // Rank 0 of PP 4 with stages of 1 (chunk 0) and 3 layers (chunk 1), layers held pass by pass: F0.0 1, F1.0 2,
  // F2.0 3, F4.1 6, I4.1 6 (weights not done), W4.1 3, F5.1 6, F3.0 7 (the peak) then B5.1 4, F6.1 7 then B0.0 6,
  // B6.1 3, ...: 7 layers of the rank's 4, 7/4 micro-batches of both chunks.
  EXPECT_DOUBLE_EQ(MegatronTraining::peak_in_flight(MegatronTraining::schedule("dualpipe", 4, 0, 8, 2), {1, 3}), 7.0 / 4);
}

// kBase (TP 2, PP 4, DP 4: 8 micro-batches) with DualPipe.
std::vector<std::string> dualpipe_sets(std::vector<std::string> more = {}) {
  more.insert(more.begin(), "workload.pipeline_schedule=dualpipe");
  return more;
}

using megatron_support::parse_sets;

// Memory: rank 1 of PP 4 holds stages 1 and 2, twice 1F1B's parameters, and PP + 1 micro-batches of activations
// of a stage (the README: 2x parameters, PP + 1 activations); rank 0 holds the embedding and the output layer.
TEST(DualPipePlan, RanksHoldTwoStagesAndPpPlusOneMicroBatches) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  Scenario dual = parse_sets(dualpipe_sets());
  Scenario one = parse_sets({"workload.pipeline_schedule=1f1b"});
  const auto& d = dynamic_cast<const MegatronTraining&>(*dual.workload);
  const auto& o = dynamic_cast<const MegatronTraining&>(*one.workload);
  const auto d1 = d.plan_stage(part, 1), o1 = o.plan_stage(part, 1), o2 = o.plan_stage(part, 2);
  const auto d0 = d.plan_stage(part, 0), o0 = o.plan_stage(part, 0), o3 = o.plan_stage(part, 3);
  EXPECT_DOUBLE_EQ(d1.dense_params, o1.dense_params + o2.dense_params);
  EXPECT_DOUBLE_EQ(d1.dense_params, 2 * o1.dense_params);  // equal middle stages: 2x
  EXPECT_DOUBLE_EQ(d0.dense_params, o0.dense_params + o3.dense_params);
  EXPECT_DOUBLE_EQ(d1.in_flight, 2.5);  // PP + 1 = 5 stages' worth, of a rank holding two
  EXPECT_DOUBLE_EQ(o1.in_flight, 3);  // 1F1B's stage 1: PP - 1
  const auto& item = megatron_support::memory_item;
  EXPECT_DOUBLE_EQ(item(d1.memory, "weights"), 2 * item(o1.memory, "weights"));
  // Activations: 5 micro-batches of a 2-layer stage against 3 of 2 layers.
  EXPECT_NEAR(item(d1.memory, "activations") / item(o1.memory, "activations"), 5.0 / 3, 1e-12);
  // Two passes per chunk; forward chunk 0 runs model stage 1 (layers 2-3), chunk 1 stage 2 (layers 4-5).
  ASSERT_EQ(d1.forward.size(), 2u);
  ASSERT_EQ(d1.pairs.size(), 4u);
  EXPECT_EQ(d1.forward[0].compute, o1.forward[0].compute);
  EXPECT_EQ(d1.forward[1].compute, o2.forward[0].compute);
  // Deferred weight gradients: input + weight = the whole backward, each part a real share of it.
  for (size_t c = 0; c < 2; ++c) {
    EXPECT_NEAR((d1.backward_input[c].compute + d1.weight[c].compute).s(), d1.backward[c].compute.s(), 1e-12);
    EXPECT_GT(d1.weight[c].compute.s(), 0.2 * d1.backward[c].compute.s());
    EXPECT_LT(d1.weight[c].compute.s(), 0.6 * d1.backward[c].compute.s());
  }
  // A pair computes its forward and its backward, with one host wait after the receive instead of two.
  const double host = 23e-6;
  EXPECT_NEAR(d1.pairs[0 * 2 + 1].compute.s(), d1.forward[0].compute.s() + d1.backward[1].compute.s() - host, 1e-12);
}

// A mixture-of-experts model: the F&B pairs run their expert all-to-alls beside the pair's compute (side stream);
// DualPipe's single passes wait for theirs.
TEST(DualPipePlan, PairsOverlapTheirExpertAllToAllsSinglePassesDoNot) {
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  Scenario sc = parse_sets(dualpipe_sets({"workload.model.num_experts=8", "workload.model.moe_router_topk=2",
                                          "workload.model.moe_ffn_hidden_size=1024", "workload.expert_model_parallel_size=4",
                                          "workload.sequence_parallel=true"}));
  const auto& w = dynamic_cast<const MegatronTraining&>(*sc.workload);
  const auto plan = w.plan_stage(part, 1);
  int paired = 0, single = 0;
  for (const auto& pass : {plan.forward[0], plan.backward[1], plan.backward_input[1]}) {
    for (const auto& s : pass.segments) {
      for (const auto& c : s.comms) {
        if (c.op != policy::CollectiveOp::kAllToAll) continue;
        ++single;
        EXPECT_FALSE(s.side) << c.name;
      }
    }
  }
  for (const auto& s : plan.pairs[1].segments) {
    for (const auto& c : s.comms) {
      if (c.op != policy::CollectiveOp::kAllToAll) continue;
      ++paired;
      EXPECT_TRUE(s.side) << c.name;
    }
  }
  // 2 layers per stage, dispatch and combine each way: 4 per pass; the pair has its forward's and its backward's.
  EXPECT_EQ(single, 12);
  EXPECT_EQ(paired, 8);
}

// The passes on rank 0's compute lane (node0 gpu0), in order, with their ends (ms).
std::vector<std::pair<std::string, double>> rank0_passes(const RunResult& r, const std::string& name) {
  const auto dir = timeline::support::temp_dir("dualpipe_test", name);
  const timeline::Trace t = timeline::support::read_text(dir, "timeline.json", r.timeline_json);
  std::vector<std::pair<std::string, double>> out;
  for (const auto& tr : t.tracks) {
    if (tr.group != "node0" || tr.name != "gpu0 compute") continue;
    for (const auto& s : tr.slices) out.push_back({std::string(t.str(s.name)), s.end_ns() / 1e6});
  }
  return out;
}

RunResult run_sets(const std::vector<std::string>& sets) {
  Scenario sc = parse_sets(sets);
  RunResult r = run_scenario(sc);
  EXPECT_TRUE(r.completed);
  return r;
}

// A run on equal stages, compute-bound: hidden 4,096 at sequence 4,096 on one node without tensor parallelism (DP
// 2, 8 micro-batches), vocabulary 128 (the head is a few microseconds), no host overhead. Rank 0 computes m (F + B)
// and its last pass ends about (PP/2 - 1)(F&B + B - 3W) later, with this layout's own F, B and W (the formula is
// exact at F : B : W = 1 : 2 : 1, BubbleIsTheReadmesOnEqualStages; here 1 : 2.05 : 0.79, and the sends, 32 MiB
// per micro-batch over NVLink, add their part). 1F1B on the same layout takes longer.
TEST(DualPipeRun, EqualStagesTakeTheReadmesBubble) {
  const std::vector<std::string> layout = {
      "workload.model={num_layers: 8, hidden_size: 4096, num_attention_heads: 32, seq_length: 4096, vocab_size: 128}",
      "cluster.nodes=1", "workload.tensor_model_parallel_size=1", "workload.global_batch_size=16", "workload.host_op_time=0s",
      "workload.use_distributed_optimizer=true", "outputs.timeline=true", "outputs.timeline_format=json",
      "outputs.timeline_ranks=1",
      // The last pass right before the optimizer step: no DDP work on the gradients between them.
      "workload.check_for_nan_in_grad=false", "workload.ddp_average_in_collective=true"};
  const std::vector<std::string> sets = dualpipe_sets(layout);
  const RunResult r = run_sets(sets);
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  Scenario sc = parse_sets(sets);
  const auto plan = dynamic_cast<const MegatronTraining&>(*sc.workload).plan_stage(part, 1);
  const double f = plan.forward[0].compute.s() * 1e3, b = plan.backward[0].compute.s() * 1e3;
  const double w = plan.weight[0].compute.s() * 1e3;
  const double m = 8, pp = 4;
  const double bubble = (pp / 2 - 1) * ((f + b) + b - 3 * w);
  const auto passes = rank0_passes(r, "equal");
  ASSERT_GE(passes.size(), 2u);
  ASSERT_EQ(passes.back().first, "optimizer step");
  const double pipeline = passes[passes.size() - 2].second;  // the last pass's end
  EXPECT_NEAR(pipeline - m * (f + b), bubble, 0.15 * bubble) << "f " << f << " b " << b << " w " << w;
  const RunResult one = run_sets(layout);
  EXPECT_LT(r.metrics.get("iteration_time_s"), one.metrics.get("iteration_time_s"));
}

// Uneven stages (first 1 layer, last 3, middle 2 each): rank 0 holds stages 0 and 3 (4 layers and both ends),
// ranks 1 and 2 stages 1 and 2 (4 layers); ranks r and PP-1-r compute the same. Where 1F1B waits on its 3-layer
// last stage, DualPipe's busiest rank carries less and the iteration is shorter. symmetry: off agrees.
TEST(DualPipeRun, UnevenStagesShareTheEndsAndMirrorRanksComputeAlike) {
  // The schedules alone: the TP input gradients' all-reduce after each layer's backward in both (with it beside the
  // weight-gradient GEMMs, tensor_parallel_backward_async_allreduce, 1F1B hides it under GEMMs DualPipe defers).
  const std::vector<std::string> uneven = {"workload.decoder_first_pipeline_num_layers=1",
                                           "workload.decoder_last_pipeline_num_layers=3",
                                           "workload.tensor_parallel_backward_async_allreduce=false"};
  const RunResult r = run_sets(dualpipe_sets(uneven));
  const RunResult one = run_sets(uneven);
  const hw::AcceleratorSpec& part = hw::PartCatalog::get().part("H100-SXM-80GB");
  Scenario sc = parse_sets(dualpipe_sets(uneven));
  const auto& w = dynamic_cast<const MegatronTraining&>(*sc.workload);
  const auto p0 = w.plan_stage(part, 0), p1 = w.plan_stage(part, 1), p3 = w.plan_stage(part, 3);
  EXPECT_EQ(w.layer_range(0), std::make_pair(0, 1));
  EXPECT_EQ(w.layer_range(3), std::make_pair(5, 8));
  // Rank 0's chunk 0 is rank 3's chunk 1 (stage 0) and the other way round (stage 3).
  EXPECT_EQ(p0.forward[0].compute, p3.forward[1].compute);
  EXPECT_EQ(p0.forward[1].compute, p3.forward[0].compute);
  EXPECT_DOUBLE_EQ(p0.dense_params, p3.dense_params);
  // Each rank computes 4 micro-batches of each of its stages: 4 layers each, ranks 0 and 3 also the ends. 1F1B's
  // last stage computes 8 micro-batches of 3 layers and the head: more than DualPipe's busiest rank.
  auto work = [](const MegatronTraining::StagePlan& p, double m) {
    double s = 0;
    for (size_t c = 0; c < p.forward.size(); ++c) s += m * (p.forward[c].compute + p.backward[c].compute).s();
    return s;
  };
  Scenario sc1 = parse_sets(uneven);
  const auto last = dynamic_cast<const MegatronTraining&>(*sc1.workload).plan_stage(part, 3);
  EXPECT_GT(work(p0, 4), work(p1, 4));
  EXPECT_LT(work(p0, 4), work(last, 8));
  EXPECT_GT(r.metrics.get("iteration_time_s"), work(p0, 4));
  EXPECT_GT(one.metrics.get("iteration_time_s"), work(last, 8));
  EXPECT_LT(r.metrics.get("iteration_time_s"), one.metrics.get("iteration_time_s"));
  // Every rank simulated gives what one rank per stage gives.
  std::vector<std::string> every = dualpipe_sets(uneven);
  every.push_back("workload.symmetry=off");
  EXPECT_EQ(run_sets(every).metrics.get("iteration_time_s"), r.metrics.get("iteration_time_s"));
}

// The timeline shows the order: rank 0's compute lane holds its passes with the pairs as one span each, named
// after both micro-batches, in the order worked out above.
TEST(DualPipeRun, TimelineShowsPairsAndDeferredWeights) {
  const RunResult r = run_sets(dualpipe_sets({"outputs.timeline=true", "outputs.timeline_format=json", "outputs.timeline_ranks=1"}));
  std::vector<std::string> names;
  for (const auto& [name, end] : rank0_passes(r, "timeline")) names.push_back(name);
  const std::vector<std::string> expect = {"F0.0", "F1.0", "F2.0", "F4.1", "B4.1 (input grads)", "W4.1", "F5.1",
                                           "F3.0 + B5.1", "F6.1 + B0.0", "B6.1", "F7.1 + B1.0", "B7.1",
                                           "B2.0 (input grads)", "W2.0", "B3.0 (input grads)", "W3.0",
                                           // Megatron's DDP before the (not overlapped) reduction: NaN checks, scaling.
                                           "gradient checks and scaling",
                                           // The step, the host's waits on the loop's all-reduces before and after it.
                                           "host synchronizations (step)", "optimizer step", "host synchronizations (step)"};
  std::vector<std::string> passes;
  for (const auto& n : names) {
    if (n.find("send") == std::string::npos) passes.push_back(n);
  }
  EXPECT_EQ(passes, expect);
}

// Input checks: each names the file, line and key, and what DualPipe needs.
TEST(DualPipeInput, BadLayoutsNameTheKeyAndTheRule) {
  auto error_of = [](const std::vector<std::string>& sets) -> std::string {
    try {
      parse_sets(dualpipe_sets(sets));
    } catch (const InputError& e) {
      return e.what();
    }
    return "no error";
  };
  // In the file: the file and the key's line.
  std::string odd = "no error";
  try {
    megatron_support::parse_with("workload:\n  type: megatron\n  model: {num_layers: 6, hidden_size: 2048, "
                                 "num_attention_heads: 16, seq_length: 2048, vocab_size: 32000}\n  global_batch_size: 32\n"
                                 "  pipeline_schedule: dualpipe\n  pipeline_model_parallel_size: 3\n");
  } catch (const InputError& e) {
    odd = e.what();
  }
  EXPECT_NE(odd.find("mt.yaml:10:"), std::string::npos) << odd;
  EXPECT_NE(odd.find("dualpipe needs an even number of pipeline stages (rank r pairs with rank PP-1-r), got 3"),
            std::string::npos) << odd;
  // 32 sequences on DP 4: 8 micro-batches; global 16 gives 4, fewer than 2 x PP.
  const std::string few = error_of({"workload.global_batch_size=16"});
  EXPECT_NE(few.find("global_batch_size: dualpipe needs an even number of micro-batches, at least 2 x PP = 8"),
            std::string::npos) << few;
  EXPECT_NE(few.find("got 4"), std::string::npos) << few;
  const std::string odd_m = error_of({"workload.global_batch_size=36"});
  EXPECT_NE(odd_m.find("got 9"), std::string::npos) << odd_m;
  const std::string chunks = error_of({"workload.num_layers_per_virtual_pipeline_stage=1"});
  EXPECT_NE(chunks.find("num_layers_per_virtual_pipeline_stage: dualpipe holds two model chunks per rank"),
            std::string::npos) << chunks;
  const std::string moe = error_of({"workload.overlap_moe_expert_parallel_comm=true"});
  EXPECT_NE(moe.find("overlap_moe_expert_parallel_comm: dualpipe overlaps the expert all-to-alls"), std::string::npos) << moe;
  const std::string fsdp = error_of({"workload.use_torch_fsdp2=true"});
  EXPECT_NE(fsdp.find("use_torch_fsdp2"), std::string::npos) << fsdp;
  const std::string bad = error_of({"workload.pipeline_schedule=dualpip"});
  EXPECT_NE(bad.find("dualpipe"), std::string::npos) << bad;
}

}  // namespace
}  // namespace lcsim
