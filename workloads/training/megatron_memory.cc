// MegatronTraining's memory fit of one pipeline stage, the last step of plan_stage (megatron_plan.cc): what the
// stage's GPUs hold at the peak, item by item (models/hardware/memory.h), for the layers, micro-batches in flight
// and recomputation of its schedule.
#include <algorithm>
#include <vector>

#include "models/hardware/memory.h"
#include "workloads/training/cp_attention.h"
#include "workloads/training/megatron.h"

namespace lcsim::wl {

void MegatronTraining::fit_memory(const hw::AcceleratorSpec& part, int stage, double embedding_shard,
                                  double output_shard, StagePlan& plan) const {
  const auto& c = config_;
  const auto& m = c.model;
  const int tp = c.tensor_model_parallel_size, cp = c.context_parallel_size, pp = c.pipeline_model_parallel_size;
  const int V = model_stages(), b = c.micro_batch_size;
  const bool sp = c.sequence_parallel && tp > 1;
  const double e = 2;
  const bool output_layer_here = m.untie_embeddings_and_output_weights || pp > 1;
  hw::TrainingMemoryInput in;
  in.parameters = plan.dense_params;
  in.expert_parameters = plan.expert_params;
  // Sharded over one optimizer instance (num_distributed_optimizer_instances; all of DP x CP with one).
  in.data_parallel = c.optimizer_dp(dp_);
  in.expert_data_parallel = c.optimizer_edp(dp_);
  in.zero_stage = c.zero_stage();
  // Megatron-FSDP's fully sharded hybrid level: the main weights and optimizer states over the whole DP x CP group.
  if (c.outer_optim()) in.optimizer_data_parallel = dp_ * c.context_parallel_size;
  in.grad_bytes = c.grad_bytes();
  in.optimizer_bytes = 4 + c.moment_bytes();  // fp32 master weights and Adam's moments
  int layers = 0, recomputed = 0, checkpoints = 0;
  const int group = c.recompute_granularity == "full" && c.recompute_method == "uniform" ? std::max(1, c.recompute_num_layers) : 1;
  std::vector<int> chunk_layers;
  bool holds_output_layer = false, moe_here = false;
  for (int chunk = 0; chunk < chunks_; ++chunk) {
    const auto [l0, l1] = layer_range(virtual_stage(stage, chunk));
    for (int l = l0; l < l1; ++l) moe_here = moe_here || m.is_moe_layer(l);
    const int v = virtual_stage(stage, chunk);
    const bool last = v == V - 1, mtp = v == mtp_stage();
    chunk_layers.push_back(l1 - l0 + (mtp ? m.mtp_num_layers : 0));
    holds_output_layer = holds_output_layer || last;
    layers += l1 - l0;
    const int r = c.recomputed_layers(l1 - l0);
    recomputed += r;
    checkpoints += (r + group - 1) / group;  // uniform: one input per group of layers; block: one per layer
    if (mtp && m.mtp_num_layers > 0) {  // each MTP module's layer, recomputed alone as plan_stage runs it
      layers += m.mtp_num_layers;
      recomputed += c.recomputed_layers(1) * m.mtp_num_layers;
      checkpoints += c.recomputed_layers(1) * m.mtp_num_layers;
    }
  }
  in.layers = layers;
  in.recomputed_layers = recomputed;
  in.checkpoints = checkpoints;
  in.recompute_group = std::min(group, std::max(1, recomputed));
  in.distribute_saved_inputs = c.distribute_saved_activations;
  in.micro_batch = b;
  // Micro-batches in flight, counted from the schedule's order with each chunk weighted by its layers: 1F1B
  // min(M, PP - stage); interleaved Megatron's warm-up of (PP - stage - 1) x 2 + (V - 1) x PP chunk passes plus the
  // first steady forward, whose extra passes (beyond whole micro-batches) fall on the first chunks, so a chunk that
  // holds only the embedding adds nothing; DualPipe PP + 1 micro-batches of a stage with equal stages (its README).
  // The stage's pass order: validate()'s (made before the memory fit), else made here.
  std::vector<Task> own;
  const std::vector<Task>& order =
      schedules_ ? (*schedules_)[stage] : (own = schedule(c.schedule(), pp, stage, micro_batches_, chunks_,
                                                                c.microbatch_group_size_per_virtual_pipeline_stage));
  const double in_flight = peak_in_flight(order, chunk_layers);
  in.in_flight = in_flight;
  c.activation_inputs(in);
  in.tensor_parallel = tp;
  in.sequence_parallel = sp;
  in.holds_output_layer = holds_output_layer;
  // No separate bucket buffers: Megatron-LM's buckets are views of the contiguous gradient (and parameter) buffer,
  // reduced and gathered in place (param_and_grad_buffer.py: reduce_scatter_tensor(local_data_view,
  // bucket.grad_data), all_reduce(bucket.grad_data), all-gather into bucket.param_data); NCCL's own buffers are in
  // the runtime reserve.
  in.bucket = Bytes();
  if (c.rs_fp32_accumulation()) {
    // reduce_scatter_with_fp32_accumulation's all-to-all output (torch.empty_like(input)), held by the work handle
    // until finish_grad_sync waits on it: with overlap_grad_reduce every bucket's from its launch in the last
    // micro-batch's backward to the step, beside at most that micro-batch's activations; without, one bucket at a
    // time after the backward.
    double all = 0, largest = 0;
    for (const Bucket& bk : plan.buckets) {
      all += bk.dense_params + bk.expert_params;
      largest = std::max(largest, bk.dense_params + bk.expert_params);
    }
    in.receive_buffers = Bytes::of((c.overlap_grad_reduce ? all : largest) * c.grad_bytes());
    in.receive_beside = c.overlap_grad_reduce && in_flight > 0 ? std::min(1.0, 1 / in_flight) : 0.0;
  }
  if (c.grads_each_micro_batch()) {
    // Megatron-FSDP's optim_grads: the gradients sharded (ZeRO-2), each bucket's whole gradients written into a
    // temporary bucket in the gradient type until its reduce-scatter has been added into the shard: at the peak the
    // bucket filling and the one reducing, the two largest.
    std::vector<double> sizes;
    for (const Bucket& bk : plan.buckets) sizes.push_back(bk.dense_params + bk.expert_params);
    std::sort(sizes.rbegin(), sizes.rend());
    double held = 0;
    for (size_t i = 0; i < std::min<size_t>(2, sizes.size()); ++i) held += sizes[i];
    in.bucket = Bytes::of(held * c.grad_bytes());
  }
  if (c.fsdp()) {
    // Per unit (a layer) at the peak, in backward, what each FSDP keeps unsharded, bytes per unit parameter.
    const double layer = m.layer_params() / tp, gb = c.grad_bytes();
    double per_layer = 0;
    if (c.use_megatron_fsdp) {
      // Megatron-FSDP with optim_grads_params (ParamAndGradBuffer: every buffer sharded over DP x CP): the 16-bit
      // compute weights and the fp32 main weights (2 + 4 B), the main gradients in the DDP's type, the optimizer's
      // moments. At the peak: the unit computing and the ones prefetched (fsdp_prefetch_end: one with
      // fsdp_double_buffer, else as many as its prefetch budget reaches) gathered into their 16-bit buckets (2 B each),
      // the unit's unsharded gradient bucket in the gradient type (Transformer Engine's fused accumulation writes into
      // it; without gradient_accumulation_fusion the 16-bit param.grad beside it, 2 B).
      in.weight_bytes = 2 + 4;
      in.optimizer_bytes = c.moment_bytes();
      in.grad_bytes = gb;
      const std::vector<double> units(static_cast<size_t>(std::max(1, layers)), layer);
      const double ahead = static_cast<double>(fsdp_prefetch_end(units, 0));
      per_layer = (1 + std::max(1.0, ahead)) * 2 + gb + (c.gradient_accumulation_fusion ? 0.0 : 2.0);
    } else {
      // PyTorch FSDP (1 and 2, with MixedPrecision / MixedPrecisionPolicy param_dtype bf16) shards the fp32
      // parameters themselves: the shard is the optimizer's master copy (4 B), Adam adds m and v (8 B), the sharded
      // gradient is fp32 (FSDP2's reduce-scatter output in reduce_dtype; FSDP1 casts it back to the parameter's
      // dtype, _cast_grad_to_param_dtype).
      in.weight_bytes = 4;
      in.optimizer_bytes = 8;
      in.grad_bytes = 4;
      // The unit computing and the one prefetched (at most two all-gathers in flight: FSDP2 prefetches one unit,
      // FSDP1's limit_all_gathers rate limiter lets the host run two ahead), the unit's unsharded 16-bit gradients
      // and, where it is a separate buffer, the reduce-scatter input in the reduce dtype (FSDP2's chunk_cat output;
      // FSDP1's cast flat gradient when reducing in fp32), plus FSDP2's all-gather output of the prefetched unit
      // until its copy-out.
      const bool fsdp2 = c.fsdp_version == 2;
      per_layer = 2 * 2 + 2 + (fsdp2 || gb != 2 ? gb : 0.0) + (fsdp2 ? 2 : 0.0);
    }
    // The root unit (embedding, final norm, output layer) stays gathered: never resharded between forward and
    // backward (FSDP2's lazy_init sets the root's post_forward_mesh_info to None; FSDP1's _post_forward_reshard skips
    // the root), and Megatron-FSDP's modules outside its units have no release hook, gathered the whole iteration.
    bool first = false;
    for (int chunk = 0; chunk < chunks_; ++chunk) first = first || virtual_stage(stage, chunk) == 0;
    const double root = (first ? embedding_shard : 0.0) + (holds_output_layer && output_layer_here ? output_shard : 0.0);
    in.bucket = Bytes::of(per_layer * layer + 2 * root);
  }
  if (cp / c.cp_a2a_size() > 1 && c.cp_comm_type != "a2a" && c.use_flash_attn) {  // a ring, or the all-gather
    // After a2a+p2p's all-to-all level (A) a rank's ring of CP / A holds A chunks of the sequence for 1/A of the heads.
    const double a2a = c.cp_a2a_size(), kv_heads = c.cp_kv_heads();
    in.cp_buffers = cp_kv_buffers({cp / c.cp_a2a_size(), c.cp_comm_type, c.cp_implementation == "pytorch", 1.0 * b,
                                   1.0 * m.seq_length, 1.0 * m.num_attention_heads / tp / a2a,
                                   std::max(1.0, kv_heads / tp) / a2a, 1.0 * m.head_dim()}, e);
  }
  // The allgather dispatcher gathers a MoE layer's tokens over its TP x EP group into Megatron-core's global memory
  // buffer (gather_from_sequence_parallel_region(..., use_global_buffer=True)): one buffer of the gathered tokens,
  // reused by every layer (permute keeps only its index map for backward).
  if (moe_here && c.moe_token_dispatcher_type == "allgather" && c.tp_ep_size() > 1) {
    const double tokens = 1.0 * b * m.seq_length / cp / tp * c.tp_ep_size();
    in.moe_gather_buffer = Bytes::of(tokens * m.hidden_size * e);
  }
  // defer_embedding_wgrad_compute: each deferred micro-batch's output-layer input (its sequence shard under
  // sequence parallelism) and logit gradient (this rank's vocabulary slice) per head, held until the flush
  // (Megatron-core's embedding_activation_buffer and grad_output_buffer); counted whole at the peak, an upper bound.
  if (plan.deferred_chunk >= 0) {
    const double tokens = 1.0 * b * m.seq_length / cp, heads = 1.0 + m.mtp_num_layers;
    const double per = tokens * (m.hidden_size / (sp ? tp : 1.0) + 1.0 * m.vocab_size / tp) * e;
    in.deferred_wgrad_buffers = Bytes::of(deferred_micro_batches() * heads * per);
  }
  in.runtime_reserve = c.memory_reserve;
  plan.memory = hw::training_memory(in, part.hbm_capacity);
  plan.in_flight = in_flight;
}

}  // namespace lcsim::wl
