// Megatron-LM's global batch-size schedules (batch_schedule.h, megatron_batch_schedule.cc): the batch after a number
// of consumed samples, a sample-based job's iterations of each batch (update_train_iters), the job's and the token
// budget's time with the smaller batches timed, and the inputs Megatron-LM refuses.
#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "megatron_support.h"
#include "workloads/training/batch_schedule.h"

namespace lcsim {
namespace {

using megatron_support::config_of;
using megatron_support::parse_error_with;
using megatron_support::parse_sets_error;
using megatron_support::parse_with;
using megatron_support::run;
using wl::BatchSchedule;

// update_train_iters (megatron/training/training.py at 001b00c) written out, one iteration at a time.
std::map<int64_t, int64_t> megatron_iterations(const BatchSchedule& s, int64_t ramp_samples, int64_t train_samples) {
  std::map<int64_t, int64_t> out;
  int64_t consumed = 0;
  while (consumed <= ramp_samples && consumed <= train_samples) {
    const int64_t b = s.batch_at(consumed);
    consumed += b;
    ++out[b];
  }
  if (train_samples > consumed) out[s.global()] += (train_samples - consumed) / s.global();
  return out;
}

std::map<int64_t, int64_t> by_batch(const std::vector<BatchSchedule::Phase>& phases) {
  std::map<int64_t, int64_t> out;
  int64_t last = 0;
  for (const auto& p : phases) {
    EXPECT_GT(p.batch, last) << "the batch grows phase by phase";
    last = p.batch;
    out[p.batch] += p.iterations;
  }
  return out;
}

TEST(BatchSchedule, RampupIsMegatronsCalculator) {
  // Megatron-LM's --rampup-batch-size help: "16 8 300000" with --global-batch-size 1024 starts at 16 and over
  // (1024 - 16) / 8 = 126 intervals grows to 1024, about 300000 / 126 = 2380 samples each.
  const BatchSchedule s = BatchSchedule::rampup(16, 8, 300000, 1024);
  EXPECT_EQ(s.batch_at(0), 16);
  EXPECT_EQ(s.batch_at(2380), 16);
  EXPECT_EQ(s.batch_at(2381), 24);
  EXPECT_EQ(s.batch_at(151000), 16 + 63 * 8);  // 151000 / 2380.95 = 63.4
  EXPECT_EQ(s.batch_at(300001), 1024) << "more than the ramp's samples: the global batch";
  EXPECT_EQ(s.global(), 1024);
  const std::vector<int64_t> batches = s.batches();
  ASSERT_EQ(batches.size(), 126u);
  EXPECT_EQ(batches.front(), 16);
  EXPECT_EQ(batches.back(), 1016);
}

TEST(BatchSchedule, PhasesCountAsUpdateTrainItersDoes) {
  // The phases count each batch's run of iterations at once; Megatron-LM counts them one by one. Jobs that end inside
  // the ramp, at its end and well after it; ramps whose increments hold a whole number of batches and ones that do
  // not; the GPT-3 example's ramp (16 by 16 over 5,859,375 samples to 1,536).
  struct Case {
    int64_t start, increment, samples, global;
  };
  for (const Case& c : {Case{16, 8, 300000, 1024}, Case{16, 16, 5859375, 1536}, Case{32, 32, 65324160, 128},
                        Case{4, 4, 4000, 32}, Case{3, 7, 1000, 52}}) {
    const BatchSchedule s = BatchSchedule::rampup(c.start, c.increment, c.samples, c.global);
    for (const int64_t train : {c.samples / 3, c.samples, c.samples + 1, 3 * c.samples + 17, 40 * c.samples}) {
      const auto phases = s.phases(train);
      EXPECT_EQ(by_batch(phases), megatron_iterations(s, c.samples, train)) << c.start << " " << c.increment << " "
                                                                             << c.samples << " " << train;
    }
  }
  // The GPT-3 175B run of Megatron-LM's examples, sample-based: 146,484,375 samples (300B tokens of 2,048).
  const auto gpt3 = BatchSchedule::rampup(16, 16, 5859375, 1536).phases(146484375);
  int64_t ramp = 0, all = 0;
  for (const auto& p : gpt3) {
    all += p.iterations;
    if (p.batch < 1536) ramp += p.iterations;
  }
  EXPECT_EQ(static_cast<int64_t>(gpt3.size()), 96) << "95 smaller batches, then 1,536";
  EXPECT_GT(ramp, 15000) << "the ramp's small batches are many iterations: " << ramp;
  EXPECT_EQ(all, ramp + gpt3.back().iterations);
}

TEST(BatchSchedule, StepsReadTokenThresholds) {
  // Megatron-LM's --step-batch-size-schedule example (PR #4411): "0:768 250B:1536 500B:3072 750B:6144", thresholds in
  // tokens divided by the sequence length into samples.
  const BatchSchedule s = BatchSchedule::steps("0:768 250B:1536 500B:3072 750B:6144", 4096);
  EXPECT_EQ(s.global(), 6144);
  EXPECT_EQ(s.batch_at(0), 768);
  EXPECT_EQ(s.batch_at(250000000000 / 4096 - 1), 768);
  EXPECT_EQ(s.batch_at(250000000000 / 4096), 1536);
  EXPECT_EQ(s.batch_at(1000000000000), 6144);
  EXPECT_EQ(s.batches(), (std::vector<int64_t>{768, 1536, 3072}));
  // 1T tokens: each batch while fewer samples than the next threshold are consumed, whole batches only.
  const auto phases = s.phases(1000000000000 / 4096);
  ASSERT_EQ(phases.size(), 4u);
  int64_t consumed = 0;
  for (size_t i = 0; i < phases.size(); ++i) {
    if (i > 0) {
      EXPECT_EQ(s.batch_at(consumed), phases[i].batch);
    }
    consumed += phases[i].batch * phases[i].iterations;
    if (i + 1 < phases.size()) {
      EXPECT_LT(consumed - phases[i].batch, 250000000000LL * static_cast<int64_t>(i + 1) / 4096);
    }
  }
  EXPECT_LE(consumed, 1000000000000 / 4096);
  EXPECT_GT(consumed + 6144, 1000000000000 / 4096);
  for (const auto& [text, why] : std::vector<std::pair<std::string, std::string>>{
           {"100:8 200:16", "the first threshold must be 0"},
           {"0:8 2M:16 1M:32", "thresholds must increase"},
           {"0:8 1M:0", "the batch size must be a positive whole number"},
           {"0:99999999999 1M:32", "each batch at least the one before"},
           {"0:8 1X:16", "the threshold must be a whole number of tokens"},
           {"0-8", "expected THRESHOLD:BATCH"},
           {"  ", "no THRESHOLD:BATCH pair"}}) {
    try {
      BatchSchedule::steps(text, 2048);
      ADD_FAILURE() << text;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << text << ": " << e.what();
    }
  }
}

TEST(BatchSchedule, BadSchedulesAreClearErrors) {
  // What Megatron-core asserts (or divides by zero on), at the key.
  for (const auto& [sets, why] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"workload.rampup_batch_size=[8, 8]"}, "needs three numbers"},
           {{"workload.rampup_batch_size=[8, 5, 1000]"}, "must be a multiple of the increment (5)"},
           {{"workload.rampup_batch_size=[32, 8, 1000]"}, "must be less than the global batch size (32)"},
           {{"workload.rampup_batch_size=[8, 8, 0]"}, "the ramp-up samples must be positive"},
           {{"workload.rampup_batch_size=[6, 2, 1000]"}, "its global batch 6 is not a multiple of micro_batch_size x "
                                                         "data-parallel size (4)"},
           {{"workload.rampup_batch_size=[8, 8, 1000]", "workload.job_train_iters=100"},
            "expected no batch-size rampup for iteration-based training"},
           {{"workload.step_batch_size_schedule=0:8 1M:16"}, "its last batch (16) is the global batch"},
           {{"workload.step_batch_size_schedule=0:8 1M:32", "workload.rampup_batch_size=[8, 8, 1000]"},
            "cannot be given with rampup_batch_size"},
           {{"workload.job_train_samples=1000", "workload.job_train_iters=10"}, "cannot be given with job_train_iters"},
       }) {
    const std::string e = parse_sets_error(sets);
    EXPECT_NE(e.find(why), std::string::npos) << sets.front() << ": " << e;
  }
  // The interleaved schedule's groups: 4 micro-batches of PP 4 pass, 2 do not.
  EXPECT_NE(parse_sets_error({"workload.num_layers_per_virtual_pipeline_stage=1", "workload.rampup_batch_size=[8, 8, 1000]"})
                .find("its global batch 8 gives 2 micro-batches, which the interleaved schedule's groups of 4"),
            std::string::npos);
  EXPECT_EQ(parse_sets_error({"workload.num_layers_per_virtual_pipeline_stage=1", "workload.rampup_batch_size=[16, 16, 1000]"}),
            "");
}

TEST(BatchSchedule, TheJobTimesEachBatch) {
  // Batches 8, 16 and 24 (2, 4 and 6 micro-batches of DP 4), then 32, over a job of 20,000 samples: each smaller
  // batch's iteration is timed by one iteration of a copy at that batch, the same as a run at that batch alone.
  const std::vector<std::string> ramp = {"workload.rampup_batch_size=[8, 8, 3000]", "workload.job_train_samples=20000",
                                         "workload.eval_iters=0"};
  const auto r = run(ramp);
  ASSERT_FALSE(r.count("child_failed"));
  std::map<int64_t, double> alone;
  for (int b : {8, 16, 24, 32}) {
    alone[b] = run({"workload.global_batch_size=" + std::to_string(b), "workload.eval_iters=0"}).at("iteration_time_s");
  }
  EXPECT_DOUBLE_EQ(r.at("iteration_time_s"), alone[32]) << "the simulated iterations run the global batch";
  const auto phases = BatchSchedule::rampup(8, 8, 3000, 32).phases(20000);
  double seconds = 0, ramp_seconds = 0, iterations = 0, ramp_iterations = 0, samples = 0;
  for (const auto& p : phases) {
    seconds += p.iterations * alone[p.batch];
    iterations += p.iterations;
    samples += p.iterations * p.batch;
    if (p.batch < 32) {
      ramp_seconds += p.iterations * alone[p.batch];
      ramp_iterations += p.iterations;
    }
  }
  EXPECT_EQ(r.at("job_iterations"), iterations);
  EXPECT_EQ(r.at("job_ramp_iterations"), ramp_iterations);
  EXPECT_NEAR(r.at("job_tokens"), samples * 2048, 1e-6);
  EXPECT_NEAR(r.at("job_ramp_time_days") * 86400, ramp_seconds, 1e-9 * ramp_seconds);
  EXPECT_NEAR(r.at("job_time_days") * 86400, seconds, 1e-9 * seconds);
  EXPECT_LT(alone[8], alone[32]) << "a small batch's iteration is faster";
  EXPECT_GT(alone[8] / 8, alone[32] / 32) << "but slower per sample (the pipeline's fill and drain)";
  // Without a schedule the same samples take fewer, full iterations, and less time.
  const auto flat = run({"workload.job_train_samples=20000", "workload.eval_iters=0"});
  EXPECT_EQ(flat.at("job_iterations"), 20000 / 32);
  EXPECT_LT(flat.at("job_time_days"), r.at("job_time_days"));
}

TEST(BatchSchedule, UntimedBatchesAreInterpolated) {
  // Seven smaller batches (1 to 7 micro-batches): all timed, or only the smallest and the largest with the rest on
  // the line between them in their micro-batch count. A 1F1B iteration's time is close to linear in it.
  const std::vector<std::string> ramp = {"workload.rampup_batch_size=[4, 4, 4000]", "workload.job_train_samples=8000",
                                         "workload.eval_iters=0"};
  auto all = ramp, two = ramp;
  all.push_back("workload.batch_schedule_timed=8");
  two.push_back("workload.batch_schedule_timed=2");
  const auto a = run(all), t = run(two);
  EXPECT_EQ(a.at("job_iterations"), t.at("job_iterations"));
  EXPECT_NE(a.at("job_ramp_time_days"), t.at("job_ramp_time_days")) << "five batches interpolated";
  EXPECT_NEAR(t.at("job_ramp_time_days"), a.at("job_ramp_time_days"), 0.03 * a.at("job_ramp_time_days"));
  EXPECT_LT(t.at("sim_time_s"), a.at("sim_time_s")) << "two copies run instead of seven";
}

TEST(BatchSchedule, TheTokenBudgetHoldsTheRamp) {
  // 20,000 samples of 2,048 tokens: budget_time_days is the tokens at the training throughput plus the ramp's extra
  // time (its iterations' time less their tokens' at that throughput).
  const std::string tokens = "cost.token_budget=" + std::to_string(20000LL * 2048);
  const auto r = run({"workload.rampup_batch_size=[8, 8, 3000]", tokens, "workload.eval_iters=0"});
  const auto job = run({"workload.rampup_batch_size=[8, 8, 3000]", "workload.job_train_samples=20000",
                        "workload.eval_iters=0"});
  const double train_days = 20000.0 * 2048 / r.at("tokens_per_s") / 86400;
  EXPECT_GT(r.at("budget_ramp_extra_days"), 0);
  EXPECT_EQ(r.at("budget_ramp_iterations"), job.at("job_ramp_iterations"));
  EXPECT_NEAR(r.at("budget_time_days"), train_days + r.at("budget_ramp_extra_days"), 1e-12);
  EXPECT_NEAR(r.at("budget_time_days"), job.at("job_time_days"), 0.01 * job.at("job_time_days"))
      << "the same samples: the job's time but for the last partial batch";
}

TEST(BatchSchedule, APastedLineIsSampleBased) {
  // Megatron-LM's GPT-3 175B example passes --rampup-batch-size with --train-iters, which its own validate_args
  // refuses; sample-based, the line's samples are the job's length.
  const std::string base = "--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 "
                           "--vocab-size 32000 --micro-batch-size 1 --tensor-model-parallel-size 2 "
                           "--pipeline-model-parallel-size 4 --bf16 --global-batch-size 32 --rampup-batch-size 8 8 3000 ";
  const Scenario s = parse_with("workload:\n  type: megatron\n  megatron_args: \"" + base + "--train-samples 20000\"\n");
  const auto& c = config_of(s);
  EXPECT_EQ(c.rampup_batch_size, (std::vector<int64_t>{8, 8, 3000}));
  EXPECT_EQ(c.job_train_samples, 20000);
  EXPECT_EQ(c.job_train_iters, 0);
  int64_t iterations = 0;
  for (const auto& p : BatchSchedule::rampup(8, 8, 3000, 32).phases(20000)) iterations += p.iterations;
  EXPECT_EQ(c.job_iterations(), iterations);
  EXPECT_NE(s.workload->describe().find("batch-size schedule: ramp-up from 8 by 8"), std::string::npos)
      << s.workload->describe();
  const std::string e = parse_error_with("workload:\n  type: megatron\n  megatron_args: \"" + base + "--train-iters 500\"\n");
  EXPECT_NE(e.find("expected no batch-size rampup for iteration-based training"), std::string::npos) << e;
  const Scenario steps = parse_with("workload:\n  type: megatron\n  megatron_args: \"" + std::string(base).replace(
                                        base.find("--rampup-batch-size 8 8 3000"), 28,
                                        "--step-batch-size-schedule '0:16 20M:32'") + "--train-samples 20000\"\n");
  EXPECT_EQ(config_of(steps).step_batch_size_schedule, "0:16 20M:32");
  EXPECT_EQ(config_of(steps).batch_schedule.batch_at(20000000 / 2048), 32);
}

}  // namespace
}  // namespace lcsim
