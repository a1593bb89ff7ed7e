// Megatron-LM's global batch size schedules: which global batch an iteration runs after `consumed` samples, and how
// many iterations of each batch a sample-based job runs.
// - Ramp-up (--rampup-batch-size START INCREMENT SAMPLES; megatron/core/num_microbatches_calculator.py at 00caa53,
//   RampupBatchsizeNumMicroBatchesCalculator, removed from Megatron-LM's main in April 2026, PR #4411): from START,
//   INCREMENT more every SAMPLES / ((GLOBAL - START) / INCREMENT) consumed samples, GLOBAL once more than SAMPLES are
//   consumed.
// - Steps (--step-batch-size-schedule "THRESHOLD:BATCH ...", PR #4411's replacement): BATCH from THRESHOLD tokens
//   (samples once divided by the sequence length) on, the last pair's batch the global batch.
// A job's iterations follow Megatron-LM's update_train_iters (megatron/training/training.py at 001b00c).
// docs/training.md, "Batch-size schedules".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lcsim::wl {

class BatchSchedule {
 public:
  struct Phase {
    int64_t batch = 0;       // global batch size
    int64_t iterations = 0;  // iterations at it, in order
  };
  BatchSchedule() = default;  // none: every iteration the global batch
  /// Ramp-up from `start` by `increment` over `samples` to `global`; throws std::invalid_argument (what Megatron-core
  /// asserts, or what divides by zero there) with a reason.
  static BatchSchedule rampup(int64_t start, int64_t increment, int64_t samples, int64_t global);
  /// Steps: `text` is "THRESHOLD:BATCH ..." (thresholds in tokens: a whole number, or with a K, M, B or T suffix of
  /// 10^3 ... 10^12; the first 0, increasing), each threshold divided by `seq_length` into samples. The last batch is
  /// the global batch. Throws std::invalid_argument naming the pair at fault.
  static BatchSchedule steps(const std::string& text, int64_t seq_length);

  bool empty() const { return kind_ == Kind::kNone; }
  /// The global batch after `consumed` samples (the calculator's update()).
  int64_t batch_at(int64_t consumed) const;
  /// The global batch once the schedule is done (its largest).
  int64_t global() const { return global_; }
  /// Every batch the schedule can run before the global batch, smallest first.
  std::vector<int64_t> batches() const;
  /// A sample-based job of `train_samples` (Megatron-LM's update_train_iters): its iterations by batch, in order;
  /// the last partial batch thrown away. Without a schedule, train_samples // global of the global batch.
  std::vector<Phase> phases(int64_t train_samples) const;
  /// One line for the run header.
  std::string describe() const;

 private:
  enum class Kind { kNone, kRampup, kSteps };
  Kind kind_ = Kind::kNone;
  int64_t global_ = 0;
  // Ramp-up.
  int64_t start_ = 0, increment_ = 0, samples_ = 0;
  double per_increment_ = 0;  // samples per increment (a float, as Megatron-core divides)
  // Steps: (threshold in samples, batch), thresholds increasing, the first 0.
  std::vector<std::pair<int64_t, int64_t>> steps_;
  std::string text_;
};

}  // namespace lcsim::wl
