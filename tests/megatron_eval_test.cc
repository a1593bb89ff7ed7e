// Megatron-LM's evaluation during training (megatron_eval.cc): the forward-only schedules, the evaluations inside
// the simulated iterations, the job's evaluations in job_time_days, and the data sets a pasted line has.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "megatron_support.h"
#include "workloads/training/megatron.h"

namespace lcsim {
namespace {

using megatron_support::config_of_line;
using megatron_support::run;
using Task = wl::MegatronTraining::Task;

std::vector<std::pair<int, int>> order(const std::vector<Task>& tasks) {
  std::vector<std::pair<int, int>> out;
  for (const Task& t : tasks) out.push_back({t.micro_batch, t.chunk});
  return out;
}

TEST(Evaluation, ForwardOnlySchedulesAreMegatronsOrder) {
  // Megatron-core's own example (schedules.py, get_schedule_table: "PP2 N3M5 with VP2"): micro-batches 0 1 2 0 1 2
  // 3 4 3 4 on model chunks 0 0 0 1 1 1 0 0 1 1; forward_only runs them all in the warm-up, in that order.
  const auto interleaved = wl::MegatronTraining::forward_only(wl::MegatronTraining::schedule("interleaved", 2, 0, 5, 2, 3));
  EXPECT_EQ(order(interleaved), (std::vector<std::pair<int, int>>{
                                    {0, 0}, {1, 0}, {2, 0}, {0, 1}, {1, 1}, {2, 1}, {3, 0}, {4, 0}, {3, 1}, {4, 1}}));
  for (const Task& t : interleaved) EXPECT_TRUE(t.forward && !t.pair());
  // 1F1B on every stage: each micro-batch's forward in order, nothing else.
  for (int stage = 0; stage < 4; ++stage) {
    const auto one = wl::MegatronTraining::forward_only(wl::MegatronTraining::schedule("1f1b", 4, stage, 6, 1));
    EXPECT_EQ(order(one), (std::vector<std::pair<int, int>>{{0, 0}, {1, 0}, {2, 0}, {3, 0}, {4, 0}, {5, 0}}));
  }
  // DualPipe: its F&B pairs give their forward halves; every rank runs each of its micro-batches' forward once per
  // chunk it holds (half of them through each).
  for (int rank = 0; rank < 4; ++rank) {
    const auto dual = wl::MegatronTraining::forward_only(wl::MegatronTraining::schedule("dualpipe", 4, rank, 8, 2));
    ASSERT_EQ(dual.size(), 8u) << rank;
    int chunk1 = 0;
    for (const Task& t : dual) {
      EXPECT_TRUE(t.forward && !t.pair());
      chunk1 += t.chunk;
    }
    EXPECT_EQ(chunk1, 4) << rank;
  }
}

TEST(Evaluation, JobTimeHoldsMegatronsEvaluations) {
  const auto off = run({"workload.job_train_iters=2500", "workload.eval_iters=0"});
  const auto on = run({"workload.job_train_iters=2500", "workload.eval_iters=10"});
  ASSERT_FALSE(off.count("child_failed") || on.count("child_failed"));
  const double it = on.at("iteration_time_s");
  EXPECT_DOUBLE_EQ(it, off.at("iteration_time_s")) << "an evaluation is no training iteration";
  EXPECT_EQ(off.count("eval_iteration_time_s"), 0u);
  EXPECT_NEAR(off.at("job_time_days"), 2500 * it / 86400, 1e-9);
  // One evaluation iteration simulated after the training iteration: the global batch's forward passes only.
  const double eval_it = on.at("eval_iteration_time_s");
  EXPECT_GT(eval_it, 0.2 * it);
  EXPECT_LT(eval_it, 0.6 * it);
  EXPECT_GT(on.at("eval_overhead_s"), 0) << "the timers' barriers";
  EXPECT_EQ(on.at("eval_iterations"), 1);
  EXPECT_NEAR(on.at("sim_time_s"), off.at("sim_time_s") + eval_it + on.at("eval_overhead_s"), 1e-9);
  // Two in the loop (iterations 1000 and 2000), then the validation and the test set after training.
  EXPECT_EQ(on.at("job_evaluations"), 4);
  const double eval_s = 4 * (on.at("eval_overhead_s") + 10 * eval_it);
  EXPECT_NEAR(on.at("job_eval_time_days"), eval_s / 86400, 1e-12);
  EXPECT_NEAR(on.at("job_time_days"), (2500 * it + eval_s) / 86400, 1e-12);
  EXPECT_NEAR(on.at("job_gpu_hours"), (2500 * it + eval_s) * 32 / 3600, 1e-9);
  // Without a validation set only the test set, once; without evaluation during training the two at the end.
  EXPECT_EQ(run({"workload.job_train_iters=2500", "workload.eval_valid_set=false"}).at("job_evaluations"), 1);
  EXPECT_EQ(run({"workload.job_train_iters=2500", "workload.eval_interval=0"}).at("job_evaluations"), 2);
  EXPECT_EQ(run({"workload.job_train_iters=2500"}).at("job_evaluations"), 4) << "Megatron-LM's 1000 and 100";
}

TEST(Evaluation, TokenBudgetHoldsMegatronsEvaluations) {
  // 2,500 iterations of 32 x 2,048 tokens: cost.token_budget's time holds the same evaluations job_train_iters
  // 2500 gives (two in the loop, then the validation and the test set), timed the same way.
  const std::string tokens = "cost.token_budget=" + std::to_string(2500 * 32 * 2048);
  const auto off = run({tokens, "workload.eval_iters=0"});
  const auto on = run({tokens, "workload.eval_iters=10"});
  const auto job = run({"workload.job_train_iters=2500", "workload.eval_iters=10"});
  ASSERT_FALSE(off.count("child_failed") || on.count("child_failed") || job.count("child_failed"));
  const double train_days = 2500.0 * 32 * 2048 / on.at("tokens_per_s") / 86400;
  EXPECT_EQ(on.at("budget_iterations"), 2500);
  EXPECT_EQ(on.at("budget_evaluations"), 4);
  EXPECT_EQ(on.at("eval_iterations"), 1) << "one evaluation iteration simulated after the training iterations";
  EXPECT_DOUBLE_EQ(on.at("eval_iteration_time_s"), job.at("eval_iteration_time_s"));
  EXPECT_NEAR(on.at("budget_eval_time_days"), job.at("job_eval_time_days"), 1e-15);
  EXPECT_GT(on.at("budget_eval_time_days"), 0);
  EXPECT_NEAR(on.at("budget_time_days"), train_days + on.at("budget_eval_time_days"), 1e-12);
  EXPECT_NEAR(on.at("budget_tokens"), 2500.0 * 32 * 2048, 1e-3);
  // Without evaluation: the tokens at the throughput, as before.
  EXPECT_EQ(off.at("budget_evaluations"), 0);
  EXPECT_EQ(off.count("eval_iteration_time_s"), 0u) << "nothing to time";
  EXPECT_DOUBLE_EQ(off.at("tokens_per_s"), on.at("tokens_per_s"));
  EXPECT_NEAR(off.at("budget_time_days"), train_days, 1e-12);
  // The GPU-hours cover the same time (32 GPUs for the budget's duration).
  EXPECT_NEAR(on.at("budget_gpu_hours"), on.at("budget_time_days") * 24 * 32, 1e-6);
  EXPECT_NEAR(off.at("budget_gpu_hours"), off.at("budget_time_days") * 24 * 32, 1e-6);
  // One token more is one iteration more: a part of an iteration is run as a whole one.
  const auto more = run({"cost.token_budget=" + std::to_string(2500 * 32 * 2048 + 1), "workload.eval_interval=2501"});
  EXPECT_EQ(more.at("budget_iterations"), 2501);
  EXPECT_EQ(more.at("budget_evaluations"), 3) << "one in the loop (iteration 2501), two after";
}

TEST(Evaluation, InsideTheSimulatedIterations) {
  // Evaluations after iterations 2 and 4 of 5, three iterations each (the first simulated, the others memoized).
  const auto off = run({"workload.train_iters=5", "workload.eval_iters=0"});
  const auto on = run({"workload.train_iters=5", "workload.eval_interval=2", "workload.eval_iters=3"});
  ASSERT_FALSE(off.count("child_failed") || on.count("child_failed"));
  EXPECT_DOUBLE_EQ(on.at("iteration_time_s"), off.at("iteration_time_s"));
  EXPECT_EQ(on.at("iterations"), 5);
  EXPECT_EQ(on.at("eval_iterations"), 6);
  EXPECT_NEAR(on.at("sim_time_s"), off.at("sim_time_s") + 2 * (on.at("eval_overhead_s") + 3 * on.at("eval_iteration_time_s")),
              1e-6 * on.at("sim_time_s"));
  // No job length: no job metrics, and no evaluation timed after the iterations.
  EXPECT_EQ(on.count("job_evaluations"), 0u);
  EXPECT_EQ(run({"workload.train_iters=1"}).count("eval_iterations"), 0u);
  // The same seed, the same result; kernel by kernel and every rank simulated, the same evaluation.
  const auto again = run({"workload.train_iters=5", "workload.eval_interval=2", "workload.eval_iters=3"});
  EXPECT_EQ(again.at("sim_time_s"), on.at("sim_time_s"));
  EXPECT_EQ(again.at("eval_iteration_time_s"), on.at("eval_iteration_time_s"));
  const auto fine = run({"workload.train_iters=5", "workload.eval_interval=2", "workload.eval_iters=3",
                         "simulation.event_granularity=kernel", "workload.symmetry=off"});
  EXPECT_EQ(fine.at("eval_iteration_time_s"), on.at("eval_iteration_time_s"));
  EXPECT_EQ(fine.at("eval_overhead_s"), on.at("eval_overhead_s"));
  EXPECT_EQ(fine.at("sim_time_s"), on.at("sim_time_s"));
}

TEST(Evaluation, TheForcedParameterGatherStartsIt) {
  // The distributed optimizer with overlap_param_gather: Megatron-LM gathers every parameter synchronously before
  // evaluating (disable_forward_pre_hook); without the overlap nothing is outstanding there.
  const std::vector<std::string> base = {"workload.job_train_iters=1000", "workload.use_distributed_optimizer=true",
                                         "workload.overlap_grad_reduce=true"};
  auto with = base, without = base;
  with.push_back("workload.overlap_param_gather=true");
  const auto a = run(with), b = run(without);
  ASSERT_FALSE(a.count("child_failed") || b.count("child_failed"));
  EXPECT_GT(a.at("eval_overhead_s"), b.at("eval_overhead_s"));
}

TEST(Evaluation, APastedLineSaysWhichDataSetsItHas) {
  const auto plain = config_of_line("--num-layers 8 --hidden-size 2048 --num-attention-heads 16");
  EXPECT_EQ(plain.eval_interval, 1000);
  EXPECT_EQ(plain.eval_iters, 100);
  EXPECT_TRUE(plain.eval_valid_set && plain.eval_test_set) << "the legacy default split 969, 30, 1";
  const auto given = config_of_line("--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --eval-interval 500 "
                                    "--eval-iters 20 --split 99,1,0");
  EXPECT_EQ(given.eval_interval, 500);
  EXPECT_EQ(given.eval_iters, 20);
  EXPECT_TRUE(given.eval_valid_set);
  EXPECT_FALSE(given.eval_test_set);
  const auto train_only = config_of_line("--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --split 100");
  EXPECT_FALSE(train_only.eval_valid_set || train_only.eval_test_set) << "missing shares are 0";
  const auto quoted = config_of_line("--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --split '98, 0, 2'");
  EXPECT_FALSE(quoted.eval_valid_set);
  EXPECT_TRUE(quoted.eval_test_set);
  // Mock data has all three sets, whatever --split says; per-split paths the sets they name.
  const auto mock = config_of_line("--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --mock-data --split 100,0,0");
  EXPECT_TRUE(mock.eval_valid_set && mock.eval_test_set);
  const auto paths = config_of_line("--num-layers 8 --hidden-size 2048 --num-attention-heads 16 "
                                    "--train-data-path 1.0 /d/train --valid-data-path 1.0 /d/valid");
  EXPECT_TRUE(paths.eval_valid_set);
  EXPECT_FALSE(paths.eval_test_set);
  // What Megatron-LM refuses: no share, more than three, all zero; an unclosed quote.
  const std::vector<std::pair<const char*, const char*>> bad = {
      {"--split x", "column 60 of the command line: --split 'x': Megatron-LM reads one to three shares"},
      {"--split 1,2,3,4", "column 60 of the command line: --split '1,2,3,4': Megatron-LM reads one to three shares"},
      {"--split 0,0,0", "summing to more than 0"},
      {"--split '1,2", "column 68 of the command line: a ' quote that is never closed"}};
  for (const auto& [line, expected] : bad) {
    const std::string err = megatron_support::parse_error_with(
        std::string("workload:\n  type: megatron\n  megatron_args: \"--num-layers 8 --hidden-size 2048 "
                    "--num-attention-heads 16 ") + line + "\"\n");
    EXPECT_NE(err.find(expected), std::string::npos) << line << ": " << err;
  }
}

}  // namespace
}  // namespace lcsim
