// MegatronTraining's in-run checkpoints (checkpoint.run_every): what each rank saves, from its pipeline stage's
// memory fit (its shard of the weights over TP x PP and, with the distributed optimizer or FSDP, of the optimizer
// states over DP x CP; a MoE rank's experts over their expert-data-parallel group), for the CheckpointSaver
// (workloads/training/checkpoint_saver.h) that saves each level as flows on the run's own transfer model between
// iterations and restores the last save after training. The iterations a flush overlaps are simulated, never
// replayed from the memo (start_iteration, megatron_runtime.cc).
#include <algorithm>

#include "models/hardware/memory.h"
#include "workloads/training/megatron_runtime.h"

namespace lcsim::wl {

void MegatronTraining::setup_checkpoints() {
  const auto& c = config_;
  const int tp = c.tensor_model_parallel_size, cp = c.context_parallel_size, pp = c.pipeline_model_parallel_size;
  storage::CheckpointJob job;
  job.parameters = c.model.total_params();
  job.tensor_parallel = tp;
  job.pipeline_parallel = pp;
  job.data_parallel = dp_ * cp;  // context-parallel ranks hold the same weights: they save as data parallelism
  // Experts are replicated over the expert-data-parallel group (DP x CP / EP ranks), not over DP x CP.
  const bool moe = c.model.num_experts > 0;
  job.expert_data_parallel = c.expert_data_parallel(dp_);
  // The checkpoint's rank order (models/storage/checkpoint.h): tensor, then data (x context), then pipeline.
  for (int p = 0; p < pp; ++p) {
    for (int d = 0; d < dp_; ++d) {
      for (int x = 0; x < cp; ++x) {
        for (int t = 0; t < tp; ++t) {
          const uint32_t r = placement_.rank({t, x, d, p});
          job.endpoints.push_back(ctx_->collectives.endpoint(r));
          const auto key = std::make_pair(ctx_->gpus[r].part, p);
          auto it = plans_.find(key);
          if (it == plans_.end()) {
            const hw::AcceleratorSpec part = c.kernels_on(*ctx_->gpus[r].part);
            it = plans_.emplace(key, std::make_shared<const StagePlan>(plan_stage(part, p))).first;
          }
          Bytes w, o;
          for (const auto& item : it->second->memory.items) {
            if (item.name == "weights") w = item.bytes;
            // With several optimizer instances each shard has that many copies, and a fully parallel save
            // spreads its writing over them: each rank writes 1 / N of its shard, the job the same bytes.
            if (item.name == "optimizer states") o = item.bytes / static_cast<double>(c.num_distributed_optimizer_instances);
          }
          job.rank_weights.push_back(w);
          job.rank_optimizer.push_back(o);
          if (moe) {  // the experts' part of each, in the memory fit's own sharding
            const StagePlan& plan = *it->second;
            hw::TrainingMemoryInput in;
            in.parameters = plan.dense_params;
            in.expert_parameters = plan.expert_params;
            in.data_parallel = c.optimizer_dp(dp_);  // as the memory fit shards them (fit_memory)
            in.expert_data_parallel = c.optimizer_edp(dp_);
            in.zero_stage = c.zero_stage();
            auto expert_part = [&](Bytes b, int stage) {
              const auto [dense, expert] = hw::held_parameters(in, stage);
              return dense + expert > 0 ? b * (expert / (dense + expert)) : Bytes();
            };
            job.rank_expert_weights.push_back(expert_part(w, 3));
            job.rank_expert_optimizer.push_back(expert_part(o, 1));
            const std::vector<uint32_t> same = placement_.group(GroupKind::kEdp, r);
            job.rank_expert_replica.push_back(static_cast<int>(std::find(same.begin(), same.end(), r) - same.begin()));
          }
        }
      }
    }
  }
  job.optimizer_sharded = c.zero_stage() >= 1 && job.data_parallel > 1;
  job.weights_sharded = c.fsdp() && job.data_parallel > 1;
  checkpoint_job_ = std::move(job);
  checkpoints_.setup(*ctx_, checkpoint_job_);
}

}  // namespace lcsim::wl
