// Data-parallel training of a GPT-style model (every GPU holds the whole model): per micro-batch, forward and
// backward layer by layer on each GPU's compute stream; in the last micro-batch, gradients are reduced in
// buckets on the communication stream as backward produces them (overlap_grad_reduce, Megatron's bucketing:
// max(40M, 1M x DP) parameters per bucket by default), or in one collective after backward; then the optimizer
// step (mixed-precision Adam, memory bound). With a sharded optimizer (use_distributed_optimizer or ZeRO-1/2)
// gradients are reduce-scattered, each rank updates its shard, and the updated weights are all-gathered.
// Mixed clusters: every GPU runs its own part's kernel times; collectives wait for the slowest.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "models/hardware/memory.h"
#include "workloads/rendezvous.h"
#include "workloads/training/checkpoint_saver.h"
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
  bool use_distributed_optimizer = false;  // Megatron: optimizer states sharded over DP (ZeRO-1)
  int zero_stage = 0;                      // DeepSpeed-style: 1 optimizer states, 2 + gradients
  std::string recompute_granularity = "none";  // none, selective, full
  bool use_flash_attn = true;
  // fused-attention kernel: auto (the part's default), flash2, flash3, cudnn, flash4
  std::string attention_backend = "auto";
  Bytes memory_reserve = Bytes::gib(2);  // CUDA context, NCCL buffers, workspaces, fragmentation
  Duration host_op_time = Duration::us(23);  // framework overhead per kernel (models/hardware/step_overhead.h)
  int train_iters = 1;
  void visit(Section& s);
  int shard_stage() const { return std::max(zero_stage, use_distributed_optimizer ? 1 : 0); }
};

class GptDataParallel final : public Workload {
 public:
  void visit(Section& s) override { config_.visit(s); }
  void copy_config(const Workload& from) override { config_ = same_type<GptDataParallel>(from).config_; }
  void validate(const std::vector<Gpu>& gpus, Section& s) override;
  void start(RunContext& ctx) override;
  void report(MetricSet& m) const override;
  double progress() const override;
  std::string describe() const override;

  const DataParallelConfig& config() const { return config_; }
  /// Per-GPU memory of this workload on `part` with `dp` ranks (and the same with `c` instead of the config).
  hw::MemoryFit memory_fit(const hw::AcceleratorSpec& part, int dp) const { return memory_fit(config_, part, dp); }
  static hw::MemoryFit memory_fit(const DataParallelConfig& c, const hw::AcceleratorSpec& part, int dp);

 private:
  struct Step {
    std::string name;
    int bucket_ready = -1;  // gradient bucket completed by this step, or -1
    int activations = 0;    // +1: a layer's forward pass keeps its activations; -1: its backward pass frees them
  };
  struct PartPlan {
    std::vector<Duration> step_time;  // per step
    Duration compute, optimizer;
    Duration host;  // of compute, the GPU waiting for the host (hw::HostIssue::Work::wait)
    double hbm_static = 0, hbm_layer = 0;  // the memory fit without its activations; one layer's activations
  };
  struct Bucket {
    double params = 0;
    bool reduced = false;
  };
  void plan(const RunContext& ctx);
  void run_step(uint32_t rank, size_t step);
  void bucket_ready(int bucket);
  void pump_comm();
  void backward_done(uint32_t rank);
  void try_optimizer();
  void optimizer_done(uint32_t rank);
  void gather_done();
  void begin_iteration();
  void trace_comm(const std::string& name, Duration start, Bytes size) const;
  /// A traced GPU's HBM counter ("gpu3 HBM (GB)" in its node's group), as Megatron's (megatron_counters.cc).
  void count_hbm(uint32_t rank, double bytes) const;

  DataParallelConfig config_;
  RunContext* ctx_ = nullptr;
  hw::DType dtype_ = hw::DType::kBf16;
  std::string attention_label_;  // what attention follows (check_attention_backend), for the header
  std::string host_label_;       // the hosts not as fast as a DGX H100's (hw::host_factor_label), for the header
  std::vector<Step> steps_;
  std::map<const hw::AcceleratorSpec*, PartPlan> plans_;
  std::vector<Bucket> buckets_;
  std::vector<uint32_t> all_ranks_;
  std::vector<int> comm_queue_;
  bool comm_busy_ = false;
  size_t next_comm_ = 0;
  Rendezvous<int> grads_ready_;     // per bucket: the ranks whose backward produced its gradients
  Rendezvous<int> backward_;        // per iteration: the ranks done with backward
  bool all_backward_done_ = false;  // every rank is, and waits for the optimizer step
  uint32_t ranks_done_ = 0;
  int iteration_ = 0;
  Duration iteration_start_;
  std::vector<double> hbm_;  // per traced rank: HBM in use
  double grad_bytes_per_param_ = 4;
  Flops model_flops_;  // per iteration, all GPUs
  std::vector<Duration> iteration_times_;
  Duration comm_time_;  // summed over the run
  uint64_t steps_done_ = 0;
  hw::MemoryFit memory_;  // of the part with the least headroom
  CheckpointSaver checkpoints_;  // in-run checkpoints (checkpoint.run_every)
};

}  // namespace lcsim::wl
