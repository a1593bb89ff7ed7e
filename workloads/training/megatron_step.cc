// MegatronTraining's optimizer step and what follows it (plan_step, the end of plan_stage in megatron_plan.cc): the
// step's time, DualPipe's copies' gradient sum, and the distributed optimizer's parameter all-gathers.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/hardware/step_overhead.h"
#include "workloads/training/megatron.h"
#include "workloads/training/megatron_runtime.h"

namespace lcsim::wl {

using policy::CollectiveOp;

namespace {

using Pass = MegatronTraining::Pass;
using StagePlan = MegatronTraining::StagePlan;

// Every pass of the stage that can complete gradients: the backward passes, DualPipe's weight passes and pairs, the
// backward with the output layer's weight gradients deferred.
template <typename Fn>
void for_gradient_passes(StagePlan& plan, Fn&& fn) {
  for (std::vector<Pass>* passes : {&plan.backward, &plan.weight, &plan.pairs}) {
    for (Pass& p : *passes) fn(p);
  }
  fn(plan.backward_deferred);
}

// The pass as the step's last micro-batch runs it (Pass::last): a copy of `p` changed by `edit`.
template <typename Edit>
void add_last_copy(StagePlan& plan, Pass& p, Edit&& edit) {
  auto last = std::make_shared<Pass>(p);
  edit(*last);
  p.last = std::move(last);
  plan.has_last = true;
}

}  // namespace

void MegatronTraining::plan_step(const hw::AcceleratorSpec& part, StagePlan& plan, const Fp8WeightElements& casts) const {
  const auto& c = config_;
  const double e = 2;
  const int cp = c.context_parallel_size;
  // Mixed-precision Adam: per parameter read fp32 grad, master, m, v (16 B), write master, m, v (12 B) and the
  // 16-bit weights (2 B): memory bound. The distributed optimizer updates 1/DP of them.
  const double edp = c.expert_data_parallel(dp_);
  // Sharded over one optimizer instance's ranks (all of DP x CP and expert-DP with one instance).
  const double odp = c.optimizer_dp(dp_), oedp = c.optimizer_edp(dp_);
  const bool sharded = c.zero_stage() >= 1;
  // Megatron-FSDP's fully sharded hybrid level: the main weights and their optimizer states over all of DP x CP.
  const double state_dp = c.outer_optim() ? static_cast<double>(dp_ * cp) : odp;
  const double local = sharded ? plan.dense_params / state_dp + plan.expert_params / oedp
                               : plan.dense_params + plan.expert_params;
  // With gradient norm and zeroing (step_overhead.h): the gradient buffer holds every local parameter (FSDP and
  // Megatron-FSDP's optim_grads: 1/DP).
  const double buffer = c.zero_stage() >= 2 ? local : plan.dense_params + plan.expert_params;
  plan.optimizer =
      hw::optimizer_step_time(part, {local, buffer, c.grad_bytes(), c.moment_bytes()});
  // calculate_per_token_loss: every local gradient divided by the step's token count after the reduction
  // (finalize_model_grads' scale_gradients over the whole buffer: a read and a write), before the step.
  if (c.calculate_per_token_loss && !c.fsdp()) {
    plan.optimizer += hw::memory_time(part, Bytes::of(2 * buffer * c.grad_bytes()));
  }
  // Each model chunk's parameters (its buckets'), for the split step and the per-chunk gathers below.
  std::vector<double> dense(static_cast<size_t>(chunks_), 0.0), expert(dense);
  for (const Bucket& b : plan.buckets) {
    dense[static_cast<size_t>(b.chunk)] += b.dense_params;
    expert[static_cast<size_t>(b.chunk)] += b.expert_params;
  }
  if (c.overlap_param_gather_with_optimizer_step) {
    // Two optimizers (Megatron-core's get_megatron_optimizer: model chunk 0, then the other chunks), each its own
    // kernels over its parameters; the gradient norm is one, over both (ChainedOptimizer), its bytes split likewise.
    const double local0 = dense[0] / (dp_ * cp) + expert[0] / edp;  // sharded: the option needs the distributed optimizer
    const double buffer0 = dense[0] + expert[0];
    plan.optimizer_first = hw::optimizer_step_time(part, {local0, buffer0, c.grad_bytes(), c.moment_bytes()});
    plan.optimizer = plan.optimizer_first +
                     hw::optimizer_step_time(part, {local - local0, buffer - buffer0, c.grad_bytes(), c.moment_bytes()});
  }
  // Once per iteration, costed with the step (each a streaming kernel): the weights' casts (LayerShard::fp8_cast_out
  // bytes written per element); FP8 weights (fp8_param_gather): only the transpose, read 1 B and write 1 B, the
  // optimizer having written its shard in FP8, and nothing where FP8 GEMMs take any layout (no transpose to make).
  // MXFP8 with fp8_param_gather gathers 16-bit weights and quantizes them after (fp8_weights_gathered): the cast.
  const double cast_out = c.fp8_cast_out(&part);
  const double per_element =
      c.fp8_weights_gathered() ? (cast_out == 1 ? 0.0 : 2.0) : fp8_weight_cast_bytes_per_element(e, cast_out);
  if (casts.gemms > 0 && per_element > 0) {
    plan.optimizer += hw::memory_time(part, Bytes::of(per_element * casts.all)) +
                      part.calibration.kernel_launch * (casts.gemms - 1.0);
  }
  if (dualpipe_) {
    // DualPipe: ranks r and PP-1-r hold the same two stages (as chunks 0 and 1, swapped), and the copies' gradients
    // are added before the step: after the data-parallel reduction, each rank adds the part it updates (its shard
    // with a sharded optimizer), with the rank of the other copy (the DualPipe repository's example adds them the
    // same way, rank r with rank PP-1-r).
    plan.copies_reduce.push_back({CollectiveOp::kAllReduce, GroupKind::kMirror,
                                  Bytes::of(local * c.grad_bytes()), Exposure::kDp,
                                  "stage-copies all-reduce grads"});
  }
  // The updated 16-bit parameters, gathered (fp8_weights_gathered: the FP8 weights 1 B) over the optimizer
  // instance's ranks (start_param_sync: intra_distributed_optimizer_instance_group).
  if (c.dist_opt()) {
    const double fp8_dense = c.fp8_weights_gathered() ? casts.all - casts.experts : 0;
    const double fp8_experts = c.fp8_weights_gathered() ? casts.experts : 0;
    const GroupKind dense_group = c.optimizer_group(), expert_group = c.optimizer_expert_group();
    const std::string dense_name = std::string(group_kind_name(dense_group)) + " all-gather params";
    const std::string expert_name = std::string(group_kind_name(expert_group)) + " all-gather params";
    if (odp > 1) {
      plan.param_gather.push_back({CollectiveOp::kAllGather, dense_group, Bytes::of(plan.dense_params * 2 - fp8_dense),
                                   Exposure::kDp, dense_name});
    }
    if (plan.expert_params > 0 && oedp > 1) {
      plan.param_gather.push_back({CollectiveOp::kAllGather, expert_group,
                                   Bytes::of(plan.expert_params * 2 - fp8_experts), Exposure::kDp, expert_name});
    }
    // overlap_param_gather: each model chunk's own (Megatron-core's DDP wraps each chunk, start_param_sync gathers
    // its buckets), the FP8 weights' share in proportion to the chunk's parameters.
    if (c.overlap_param_gather && !plan.param_gather.empty()) {
      auto share = [](double x, double all) { return x == all ? 1.0 : x / all; };  // one chunk: exact
      for (size_t k = 0; k < dense.size(); ++k) {
        std::vector<CommCall>& g = plan.param_gather_chunks.emplace_back();
        const std::string of = chunks_ > 1 ? " (chunk " + std::to_string(k) + ")" : "";
        if (odp > 1 && dense[k] > 0) {
          g.push_back({CollectiveOp::kAllGather, dense_group,
                       Bytes::of(dense[k] * 2 - fp8_dense * share(dense[k], plan.dense_params)), Exposure::kDp,
                       dense_name + of});
        }
        if (expert[k] > 0 && oedp > 1) {
          g.push_back({CollectiveOp::kAllGather, expert_group,
                       Bytes::of(expert[k] * 2 - fp8_experts * share(expert[k], plan.expert_params)), Exposure::kDp,
                       expert_name + of});
        }
      }
    }
  }
}

// Megatron-core's DDP, start_grad_sync (param_and_grad_buffer.py), per bucket before its collective, on the compute
// stream: with check_for_nan_in_grad an L2 norm of the bucket's gradients (a read of the bucket) whose result the host
// checks twice (isnan, then isinf, each a synchronization: the GPU idles while the host issues the next kernel, one
// host operation each); then, unless the collective averages (or the loss is per token), the gradients multiplied by
// 1 / (DP x CP) (a read and a write). Expert buckets are scaled by 1 / EP when the collective averages (EP > 1).
// With overlap_grad_reduce this runs in the last micro-batch's backward, where the bucket completes: the passes that
// complete buckets get a copy for that micro-batch (Pass::last) with the work added to the completing segment, and
// the host synchronized at its end; without it, after the backward, before each collective (reduce_prep).
void MegatronTraining::plan_reduce_prep(const hw::AcceleratorSpec& part, StagePlan& plan, Duration host_op) const {
  const auto& c = config_;
  if (c.fsdp()) {
    if (c.num_distributed_optimizer_instances > 1) plan_hybrid_fsdp(plan);
    return;
  }
  const double gb = c.grad_bytes();
  const bool dense_scaled = !c.calculate_per_token_loss && !c.ddp_average_in_collective && dp_ * c.context_parallel_size > 1;
  const bool expert_scaled = !c.calculate_per_token_loss && (c.ddp_average_in_collective
                                                                 ? c.expert_model_parallel_size > 1
                                                                 : dp_ * c.context_parallel_size > 1);
  for (Bucket& b : plan.buckets) {
    b.prep = b.prep_host = Duration();
    if (c.use_megatron_fsdp) {
      // Megatron-FSDP's buckets (optim_grads, optim, no_shard): its gradient_reduce_preprocessing only (dense and
      // expert gradients), no NaN check.
      b.prep = megatron_fsdp_reduce_prep(part, b.dense_params, b.expert_params);
      plan.reduce_prep += b.prep;
      continue;
    }
    // The norm once for both checks; isnan and isinf, then the history's comparison, each a synchronization.
    if (const int syncs = (c.check_for_nan_in_grad ? 2 : 0) + (c.check_for_large_grads ? 1 : 0); syncs > 0) {
      b.prep_host = host_op * syncs;
      b.prep = hw::memory_time(part, Bytes::of((b.dense_params + b.expert_params) * gb)) + b.prep_host;
    }
    const double scaled = (dense_scaled ? b.dense_params : 0) + (expert_scaled ? b.expert_params : 0);
    if (scaled > 0) b.prep += hw::memory_time(part, Bytes::of(2 * scaled * gb));
    if (c.rs_fp32_accumulation()) {
      // reduce_scatter_with_fp32_accumulation's wait: torch.sum over the group's chunks received (a read of the
      // bucket, the fp32 sum of this rank's shard written), then the shard copied back in the gradient type (its fp32
      // read, the shard written): two streaming kernels per buffer (dense, expert).
      const double shard = b.dense_params / c.optimizer_dp(dp_) + b.expert_params / c.optimizer_edp(dp_);
      const int kernels = 2 * ((b.dense_params > 0 ? 1 : 0) + (b.expert_params > 0 ? 1 : 0));
      b.accumulate = hw::memory_time(part, Bytes::of((b.dense_params + b.expert_params) * gb + shard * (4 + 4 + gb))) +
                     part.calibration.kernel_launch * std::max(0, kernels - 1);
    }
    plan.reduce_prep += b.prep;
    plan.reduce_prep_host += b.prep_host;
  }
  if (c.grads_each_micro_batch()) {
    // Megatron-FSDP's optim_grads: every micro-batch, the segment that completes a bucket queues its reduce-scatter on
    // the reduce stream (Segment::reduce, as FSDP units do), after the scaling on that stream; the reduced shard is
    // then added into the persistent gradient shard (local_grad += reduced_grad: read two, write one; costed before
    // the collective on the same stream).
    for_gradient_passes(plan, [&](Pass& p) {
      for (Segment& s : p.segments) {
        if (s.bucket < 0) continue;
        const Bucket& b = plan.buckets[static_cast<size_t>(s.bucket)];
        s.reduce = *bucket_comms(b);
        const double shard = b.dense_params / c.optimizer_dp(dp_) + b.expert_params / c.optimizer_edp(dp_);
        s.reduce.front().prep = b.prep + hw::memory_time(part, Bytes::of(shard * 3 * gb));
      }
    });
    plan.reduce_prep = Duration();  // on the reduce stream, not before the step
    return;
  }
  // align_grad_reduce: the buckets' work runs where the schedule launches their chunk (launch_aligned_grad_sync).
  if (!c.overlap_grad_reduce || plan.reduce_prep == Duration() || aligned_grad_sync()) return;
  for_gradient_passes(plan, [&](Pass& p) {
    if (std::none_of(p.segments.begin(), p.segments.end(), [](const Segment& s) { return s.bucket >= 0; })) return;
    add_last_copy(plan, p, [&](Pass& last) {
      for (Segment& s : last.segments) {
        if (s.bucket < 0) continue;
        const Bucket& b = plan.buckets[static_cast<size_t>(s.bucket)];
        s.compute += b.prep - b.prep_host;
        last.compute += b.prep;
        if (b.prep_host > Duration()) {
          s.add_host_wait(b.prep_host);
          s.host.sync = true;
        }
      }
    });
  });
}

// Megatron-FSDP's hybrid sharding (num_distributed_optimizer_instances N > 1, outer_dp_sharding_strategy no_shard):
// each unit gathered and reduce-scattered within its instance every micro-batch (plan_fsdp_units, optimizer_group),
// and on the last micro-batch each reduced shard all-reduced across the instances right after its reduce-scatter
// (GradReducePipeline's outer_fsdp_group_grad_reduce, on a stream that waits for the reduce-scatter's; here on the
// same stream, after it): the passes that reduce get a copy for that micro-batch (Pass::last).
void MegatronTraining::plan_hybrid_fsdp(StagePlan& plan) const {
  const auto& c = config_;
  const bool sharded = c.outer_optim();
  for_gradient_passes(plan, [&](Pass& p) {
    if (std::none_of(p.segments.begin(), p.segments.end(), [](const Segment& s) { return !s.reduce.empty(); })) return;
    const auto outer_reduce = [&](Pass& last) {
      for (Segment& s : last.segments) {
        std::vector<CommCall> outer;
        for (const CommCall& r : s.reduce) {
          const bool expert = r.group == GroupKind::kEdpIntra;
          const double ranks = expert ? c.optimizer_edp(dp_) : c.optimizer_dp(dp_);
          CommCall a = r;
          // outer_dp_sharding_strategy optim: the inner shard reduce-scattered over the instances (each rank then
          // holds 1 / (DP x CP) of the unit's gradients); no_shard: all-reduced.
          a.op = sharded ? CollectiveOp::kReduceScatter : CollectiveOp::kAllReduce;
          a.group = expert ? GroupKind::kEdpInter : GroupKind::kDpCpInter;
          a.size = r.size / ranks;
          const size_t layer = r.name.find(" layer");
          a.name = std::string(expert ? "fsdp expert outer " : "fsdp outer ") +
                   (sharded ? "reduce-scatter" : "all-reduce") +
                   (layer == std::string::npos ? std::string() : r.name.substr(layer));
          a.prep = Duration();
          outer.push_back(std::move(a));
        }
        s.reduce.insert(s.reduce.end(), outer.begin(), outer.end());
      }
    };
    add_last_copy(plan, p, outer_reduce);
    // One micro-batch: it is both the first (Pass::first: the outer gathers) and the last.
    if (p.first && micro_batches_ == 1) {
      auto both = std::make_shared<Pass>(*p.first);
      outer_reduce(*both);
      p.first = std::move(both);
    }
  });
}

std::pair<double, double> MegatronTraining::layer_parameters(int l) const {
  const auto& c = config_;
  const auto& m = c.model;
  const int tp = c.tensor_model_parallel_size, ep = c.expert_model_parallel_size;
  if (!m.is_moe_layer(l)) return std::make_pair(m.attention_params() / tp + m.dense_mlp_params() / tp, 0.0);
  return std::make_pair(m.attention_params() / tp + (m.moe_mlp_params() - m.num_experts * m.expert_params()) / tp,
                        1.0 * m.num_experts / ep * m.expert_params() / c.expert_tp());
}

double MegatronTraining::embedding_parameters() const {
  const auto& m = config_.model;
  const double h = m.hidden_size;
  return (m.embedding_params() - (m.untie_embeddings_and_output_weights ? 1.0 * m.vocab_size * h : 0.0)) /
         config_.tensor_model_parallel_size;
}

double MegatronTraining::output_parameters() const {
  const auto& m = config_.model;
  return 1.0 * m.vocab_size * m.hidden_size / config_.tensor_model_parallel_size;
}

// Megatron's DDP bucket size: ddp_bucket_size, or by default max(40M, 1M x DP x CP); with --ddp-num-buckets
// Megatron-LM's get_model sets it to the parameters of every model chunk this rank holds (num_parameters, this
// stage's) over it, rounded down (multi-token prediction modules' not counted here). Without overlap_grad_reduce one
// bucket.
double MegatronTraining::gradient_bucket_limit(int stage) const {
  const auto& c = config_;
  if (!c.overlap_grad_reduce) return 1e300;
  if (c.ddp_num_buckets > 0) {
    const bool output_layer_here = c.model.untie_embeddings_and_output_weights || c.pipeline_model_parallel_size > 1;
    double n = 0;
    for (int chunk = 0; chunk < chunks_; ++chunk) {
      const int v = virtual_stage(stage, chunk);
      const auto [l0, l1] = layer_range(v);
      for (int l = l0; l < l1; ++l) n += layer_parameters(l).first + layer_parameters(l).second;
      if (v == 0) n += embedding_parameters();
      if (v == model_stages() - 1 && output_layer_here) n += output_parameters();
    }
    return std::floor(n / static_cast<double>(c.ddp_num_buckets));
  }
  if (c.ddp_bucket_size > 0) return static_cast<double>(c.ddp_bucket_size);
  return std::max(40e6, 1e6 * dp_ * c.context_parallel_size);
}

// Megatron-LM's align_grad_reduce (training.py sets config.grad_sync_func to each chunk's start_grad_sync when
// overlap_grad_reduce and align_grad_reduce; schedules.py, forward_backward_pipelining_with_interleaving): grad sync
// stays disabled during every backward pass (no_sync on every chunk, so the backward hooks only accumulate), and after
// backward step j pipeline rank r launches the chunk whose last backward step is j - r, all its buckets at once
// (start_grad_sync: the NaN check and scaling, then the collectives); chunks not launched by the last step are
// launched after it ("Launch any remaining grad reductions"). Without interleaving Megatron-LM launches the same as
// the hooks do (rank 0 enables them for its last backward; the other ranks have one bucket, complete at its end).
bool MegatronTraining::aligned_grad_sync() const {
  const auto& c = config_;
  return c.overlap_grad_reduce && c.align_grad_reduce && chunks_ > 1 && !dualpipe_ && !c.reduces_each_micro_batch();
}

void MegatronTraining::launch_aligned_grad_sync(uint32_t sim, std::vector<int> chunks, sim::Callback then) {
  RankState& st = *states_[sim];
  // The chunks' buckets, in launch order, and their work before the collectives.
  std::vector<int> buckets;
  Duration prep, prep_host;
  for (int chunk : chunks) {
    for (size_t b = 0; b < st.plan->buckets.size(); ++b) {
      const Bucket& bucket = st.plan->buckets[b];
      if (bucket.chunk != chunk) continue;
      buckets.push_back(static_cast<int>(b));
      prep += bucket.prep, prep_host += bucket.prep_host;
    }
  }
  auto launch = [this, sim, buckets = std::move(buckets), then = std::move(then)] {
    RankState& s = *states_[sim];
    s.dp_queue.insert(s.dp_queue.end(), buckets.begin(), buckets.end());
    pump_dp(sim);
    then();
  };
  if (prep == Duration()) {
    launch();
    return;
  }
  // The buckets' NaN checks and scaling on the compute stream before their collectives (Bucket::prep), as without
  // overlap: their sum, then the launch.
  const Duration d = prep * st.slow;
  st.compute += d;
  st.host += prep_host;
  compute_span(sim, d, "gradient checks and scaling", std::move(launch));
}

// Megatron-LM's training loop around each optimizer step (megatron/training/training.py train_step and
// training_log, megatron/core/optimizer: read at the commits docs/training.md names), beside the step's kernels:
//  - after the passes, the rerun state machine (rerun_mode validate_results, the default, or skip; not disabled) asks
//    every rank whether to rerun: an int32 all-reduce over the world, read with .item();
//  - in the step, the gradient norm's local sum (in the step's kernels) all-reduced over the gradient-statistics
//    group (the distributed optimizer's: every rank of the optimizer instance, here the world; without it TP x PP),
//    one float; with Transformer Engine's multi-tensor kernels not read on the host;
//  - after the step, train_step's update check (logical_and_across_model_parallel_group: an int32 MIN all-reduce
//    over TP x PP, .item()) and the gradient norm's maximum (reduce_max_stat_across_model_parallel_group: a float
//    MAX over TP x PP, .item()), the loss over DP x CP on the last pipeline stage (two floats, not read), the loss
//    scale's .item() in train, and training_log's learning rate maximum (a float over TP x PP, .item()).
// Each .item() leaves the GPU idle for one host operation before the host issues its next kernel.
MegatronTraining::CommCall MegatronTraining::small_all_reduce(GroupKind g, double bytes, const std::string& what) {
  return CommCall{CollectiveOp::kAllReduce, g, Bytes::of(bytes), Exposure::kDp,
                  std::string(group_kind_name(g)) + " all-reduce " + what};
}

void MegatronTraining::plan_step_syncs(const hw::AcceleratorSpec& part, StagePlan& plan, int stage,
                                       Duration host_op) const {
  const auto& c = config_;
  plan.step_before.clear();
  plan.step_after.clear();
  plan.step_before_host = plan.step_after_host = Duration();
  plan.step_before_compute = plan.step_after_compute = Duration();
  if (!c.step_syncs_on()) return;
  const auto call = small_all_reduce;
  // --rerun-mode disabled: no check, and so no .item() before the step (the gradient norm is not read there).
  const bool check = c.rerun_mode != "disabled";
  if (check) plan.step_before.push_back(call(GroupKind::kWorld, 4, "rerun check"));
  plan.step_before.push_back(call(c.dist_opt() ? GroupKind::kWorld : GroupKind::kMp, 4, "gradient norm"));
  if (check) plan.step_before_host = host_op;
  // The statistics Megatron-LM logs when asked, every step (training.py computes them each iteration and prints them
  // every --log-interval): the rank's fp32 main parameters and gradients, its shard with the distributed optimizer
  // (DP x CP for the dense ones, expert-DP for the experts'), whole without it (Float16Optimizer's main copies).
  const bool sharded = c.dist_opt();
  const double elements = plan.dense_params / (sharded ? c.optimizer_dp(dp_) : 1) +
                          plan.expert_params / (sharded ? c.optimizer_edp(dp_) : 1);
  const Duration launch = part.calibration.kernel_launch;
  if (c.log_num_zeros_in_grad) {
    // count_zeros_fp32: per gradient numel - count_nonzero(grad), count_nonzero being (grad != 0).sum(): the fp32
    // gradient read, a bool map written and read; the int64 total all-reduced over the gradient-statistics group
    // (every rank with the distributed optimizer, TP x PP without) and read with .item(); train_step then takes
    // its maximum over TP x PP (reduce_max_stat_across_model_parallel_group, .item()). Four kernels per tensor: the
    // launches are not counted (lcsim does not count a stage's parameter tensors), the bytes are.
    plan.step_before_compute += hw::memory_time(part, Bytes::of(elements * (4 + 1 + 1))) + launch * 2;
    plan.step_before.push_back(call(c.dist_opt() ? GroupKind::kWorld : GroupKind::kMp, 8, "zeros in gradients"));
    plan.step_before_host += host_op;
  }
  plan.step_after.push_back(call(GroupKind::kMp, 4, "update check"));
  plan.step_after.push_back(call(GroupKind::kMp, 4, "gradient norm max"));
  if (c.log_num_zeros_in_grad) plan.step_after.push_back(call(GroupKind::kMp, 4, "zeros in gradients max"));
  if (stage == c.pipeline_model_parallel_size - 1) plan.step_after.push_back(call(GroupKind::kDpCp, 8, "loss"));
  if (c.log_params_norm) {
    // calc_params_l2_norm: multi_tensor_l2norm over the fp32 main parameters (the shard's, and without the
    // distributed optimizer the dense and the expert ones apart: two calls), the squared norm all-reduced over
    // DP x CP (always) and over TP x PP, then .item(). MoE's third all-reduce over the experts' TP x EP x PP is not
    // costed (no group kind of its own).
    plan.step_after_compute += hw::memory_time(part, Bytes::of(elements * 4)) + launch * 2;
    plan.step_after.push_back(call(GroupKind::kDpCp, 4, "parameter norm"));
    plan.step_after.push_back(call(GroupKind::kMp, 4, "parameter norm"));
  }
  plan.step_after.push_back(call(GroupKind::kMp, 4, "learning rate max"));
  plan.step_after_host = host_op * (4 + (c.log_num_zeros_in_grad ? 1 : 0) + (c.log_params_norm ? 1 : 0));
}

}  // namespace lcsim::wl
