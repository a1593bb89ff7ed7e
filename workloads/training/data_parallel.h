// Data-parallel training of a GPT-style model (every GPU holds the whole model): per micro-batch, forward and
// backward layer by layer on each GPU's compute stream; in the last micro-batch, gradients are all-reduced in
// buckets on the communication stream as backward produces them (overlap_grad_reduce, Megatron's bucketing:
// max(40M, 1M x DP) parameters per bucket by default), or in one all-reduce after backward; then the
// optimizer step (mixed-precision Adam, memory bound).
#pragma once

#include <string>
#include <vector>

#include "workloads/training/gpt_model.h"
#include "workloads/workload.h"

namespace lcsim::wl {

struct DataParallelConfig {
  GptModelConfig model;
  int global_batch_size = 512;
  int micro_batch_size = 1;
  std::string precision = "bf16";
  bool overlap_grad_reduce = false;
  int64_t ddp_bucket_size = 0;  // parameters per gradient bucket; 0 = Megatron's max(40M, 1M x DP)
  bool accumulate_allreduce_grads_in_fp32 = true;
  int train_iters = 1;
  void visit(Section& s);
};

class GptDataParallel final : public Workload {
 public:
  void visit(Section& s) override { config_.visit(s); }
  void validate(const hw::AcceleratorSpec& part, uint32_t num_gpus, Section& s) override;
  void start(RunContext& ctx) override;
  void report(MetricSet& m) const override;
  double progress() const override;
  std::string describe() const override;

  const DataParallelConfig& config() const { return config_; }
  DataParallelConfig& mutable_config() { return config_; }

 private:
  struct Step {
    std::string name;
    Duration duration;
    int bucket_ready = -1;  // gradient bucket completed by this step, or -1
  };
  struct Bucket {
    double params = 0;
    uint32_t ready_ranks = 0;
    bool reduced = false;
  };
  void plan(const RunContext& ctx);
  void run_step(uint32_t rank, size_t step);
  void bucket_ready(int bucket);
  void pump_comm();
  void backward_done(uint32_t rank);
  void try_optimizer();
  void optimizer_done(uint32_t rank);
  void begin_iteration();

  DataParallelConfig config_;
  RunContext* ctx_ = nullptr;
  hw::DType dtype_ = hw::DType::kBf16;
  std::vector<Step> steps_;
  std::vector<Bucket> buckets_;
  std::vector<uint32_t> all_ranks_;
  std::vector<int> comm_queue_;
  bool comm_busy_ = false;
  size_t next_comm_ = 0;
  uint32_t ranks_waiting_ = 0;
  uint32_t ranks_done_ = 0;
  int iteration_ = 0;
  Duration iteration_start_;
  Duration optimizer_time_;
  Duration compute_time_;  // per rank per iteration
  double grad_bytes_per_param_ = 4;
  Flops model_flops_;      // per iteration, all GPUs
  std::vector<Duration> iteration_times_;
  Duration comm_time_;     // summed over the run
  uint64_t steps_done_ = 0;
};

}  // namespace lcsim::wl
