// Typed events (Engine::post, TransferModel::transfer_to): a folded pass's end and a pipeline send's completion run
// as typed events, without a std::function. They take the same place in the (time, priority, sequence) order as the
// callbacks they replace, so every metric and the timeline are the same bit for bit with them on and off
// (Engine::set_typed_events(false) schedules each one as a callback through at(), as before they existed), over
// layouts that exercise what the events touch: interleaving, pipeline schedules, overlapped sends, gradient buckets,
// the distributed optimizer, data parallelism across the fabric, load balancing, FSDP, MoE and DualPipe, the flow
// model on lcsim's queue engine, and a run that memoizes its later iterations.
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "eval/evaluate.h"
#include "scenarios/scenario.h"
#include "sim/engine.h"

namespace lcsim {
namespace {

const std::string kSource = LCSIM_SOURCE_DIR;
const std::string k175b = kSource + "/scenarios/training/gpt3-175b-a100-1024.yaml";
const std::string k70b = kSource + "/scenarios/training/llama3-70b-h100-1024.yaml";
const std::string kDeepSeek = kSource + "/scenarios/training/deepseek-v3-h800-2048.yaml";

struct Case {
  std::string name, file;
  std::vector<std::string> sets;
};

// The 175B layout of the speed work (TP 8, PP 8 x 6 chunks, DP 4) with fewer micro-batches, and variations of it.
std::vector<std::string> small175(std::vector<std::string> more) {
  std::vector<std::string> sets = {"cluster.pools[0].count=32", "workload.pipeline_model_parallel_size=8",
                                   "workload.num_layers_per_virtual_pipeline_stage=2",
                                   "workload.global_batch_size=128"};
  sets.insert(sets.end(), more.begin(), more.end());
  return sets;
}

const std::vector<Case> kCases = {
    {"Interleaved", k175b, small175({})},
    {"OverlappedSends", k175b, small175({"workload.overlap_p2p_comm=true"})},
    {"OneF1BNoInterleaving", k175b, small175({"workload.num_layers_per_virtual_pipeline_stage=12"})},
    {"GPipe", k175b, small175({"workload.num_layers_per_virtual_pipeline_stage=12",
                               "workload.pipeline_schedule=gpipe"})},
    {"NoGradOverlap", k175b, small175({"workload.overlap_grad_reduce=false"})},
    {"DistributedOptimizer", k175b, small175({"workload.use_distributed_optimizer=true",
                                              "workload.overlap_param_gather=true"})},
    {"Tp4Pp16", k175b, {"cluster.pools[0].count=32", "workload.tensor_model_parallel_size=4",
                        "workload.pipeline_model_parallel_size=16", "workload.global_batch_size=128",
                        "workload.num_layers_per_virtual_pipeline_stage=3", "workload.use_distributed_optimizer=true"}},
    {"TwoMicroBatchSize", k175b, small175({"workload.micro_batch_size=2", "workload.global_batch_size=256"})},
    {"Spray", k175b, small175({"policies.load_balancing=spray"})},
    {"Adaptive", k175b, small175({"policies.load_balancing=adaptive"})},
    {"ThreeIterations", k175b, small175({"workload.train_iters=3"})},
    {"FineEvents", k175b, small175({"simulation.event_granularity=kernel"})},
    {"FlowQueue", k175b, small175({"simulation.fidelity=flow_queue", "workload.global_batch_size=32"})},
    {"Llama70bContextParallel", k70b, {"workload.global_batch_size=128", "workload.context_parallel_size=2"}},
    {"Fsdp", kSource + "/scenarios/validation/train-a100.yaml", {}},
    {"DeepSeekDualPipe", kDeepSeek, {"workload.global_batch_size=4096"}},
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class TypedEvents : public ::testing::TestWithParam<Case> {};

std::pair<std::string, std::string> metrics_and_timeline(const Scenario& sc, bool typed) {
  sim::Engine::set_typed_events(typed);
  EvalOptions options;
  options.timeline = true;
  const Result r = evaluate(sc, options);
  sim::Engine::set_typed_events(true);
  EXPECT_TRUE(r.ok()) << r.error;
  return {r.metrics.to_json(), r.timeline_json + r.timeline_pftrace};
}

TEST_P(TypedEvents, ChangeNoMetricAndNoTimelineEvent) {
  const Case& c = GetParam();
  const Scenario sc = load_scenario(c.file, c.sets);
  const auto typed = metrics_and_timeline(sc, true);
  const auto callbacks = metrics_and_timeline(sc, false);
  EXPECT_EQ(typed.first, callbacks.first);
  EXPECT_FALSE(typed.second.empty());
  EXPECT_TRUE(typed.second == callbacks.second) << "the timelines differ";
}

INSTANTIATE_TEST_SUITE_P(Layouts, TypedEvents, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& p) { return p.param.name; });

}  // namespace
}  // namespace lcsim
