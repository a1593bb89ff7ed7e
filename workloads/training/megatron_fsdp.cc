// MegatronTraining's FSDP units (plan_stage, megatron_plan.cc: torch_fsdp2 with fsdp_version 1 or 2): their
// collectives wired into a model chunk's passes, and the copies around them.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "models/hardware/op_cost.h"
#include "models/hardware/step_overhead.h"
#include "workloads/training/megatron.h"

namespace lcsim::wl {

// FSDP's copies around one unit's collectives, memory-bound kernels over the bytes they move, for a unit of
// `params` (this TP rank's): {copy-in before the all-gather, on its stream: the fp32 shard cast into the 16-bit
// all-gather input (FSDP2 foreach_all_gather; FSDP1 _use_low_precision_shard); before the reduce-scatter, on
// its stream: FSDP2's chunk_cat of the 16-bit unsharded gradients into the reduce dtype's input, FSDP1's cast of
// its flat gradient only where the reduce dtype is not 16-bit; copy-out after the all-gather, on the compute
// stream: FSDP2's split_with_sizes_copy of the gathered buffer into the parameters (FSDP1 gathers into its flat
// parameter: none)}. No gradient division kernel in FSDP2: with fp32 or bf16 reductions it divides inside NCCL
// (ReduceOp.AVG / PREMUL_SUM, _get_gradient_divide_factors). FSDP1's default communication hook divides in two
// kernels on the same stream (reduce_scatter_hook in torch/distributed/algorithms/_comm_hooks/default_hooks.py:
// grad.div_(gradient_predivide_factor) on the unsharded gradient in the reduce dtype before the reduce-scatter,
// output.div_(gradient_postdivide_factor) on the shard after it; the pre-divide factor is > 1 for any DP >= 2).
// Megatron-FSDP's gradient_reduce_preprocessing before each bucket's gradient collective, on its stream, over the
// bucket's parameters (this TP rank's): with 16-bit gradients a scaling (mul_ on the bucket: read and write 2 B) by
// 1 / DP for dense gradients, none where the collective averages (ddp_average_in_collective: NCCL's AVG); by 1 / DP
// for expert gradients too, or by EDP / DP where the collective averages over the expert-DP ranks (none where that is
// 1); none where the loss is per token (no scaling factor) or with other gradient types (the division fused into
// NCCL's PREMUL_SUM).
Duration MegatronTraining::megatron_fsdp_reduce_prep(const hw::AcceleratorSpec& part, double dense, double expert) const {
  const auto& c = config_;
  if (c.grad_bytes() != 2 || c.calculate_per_token_loss) return Duration();
  const double dense_dp = static_cast<double>(dp_ * c.context_parallel_size);
  const double edp = c.expert_data_parallel(dp_);
  const double scaled = (c.ddp_average_in_collective ? 0.0 : dense) +
                        (!c.ddp_average_in_collective || edp != dense_dp ? expert : 0.0);
  return scaled > 0 ? hw::memory_time(part, Bytes::of(scaled * 2 * 2)) : Duration();
}

std::tuple<Duration, Duration, Duration> MegatronTraining::fsdp_unit_copies(const hw::AcceleratorSpec& part,
                                                                            double params) const {
  const auto& c = config_;
  const int cp = c.context_parallel_size;
  const hw::HostIssue host(c.host_issue(part));
  const double gb = c.grad_bytes();
  // The persistent shard: over DP x CP, or over one hybrid-sharding instance (num_distributed_optimizer_instances).
  const double shard = c.use_megatron_fsdp ? params / c.optimizer_dp(dp_) : params / (dp_ * cp);
  if (c.use_megatron_fsdp) {
    // Megatron-FSDP (param_and_grad_buffer.py, megatron_fsdp.py): the all-gather writes straight into the unit's
    // bucket, whose views are the parameters (fetch_bucket), from the persistent 16-bit shard: no copy-in or
    // copy-out. Without gradient_accumulation_fusion the 16-bit param.grad is copied into the bucket on the compute
    // stream (_grad_acc from the module's post-backward hook: ShardPlan::wgrad_accumulation_bytes). Before the
    // reduce-scatter, on its stream, with 16-bit gradients their scaling by 1 / DP (megatron_fsdp_reduce_prep);
    // after it the reduced shard added into the persistent gradient shard (local_grad += reduced_grad: read two,
    // write one), costed on the same stream before the collective.
    const Duration grad_in = megatron_fsdp_reduce_prep(part, params, 0) + hw::memory_time(part, Bytes::of(shard * 3 * gb));
    return std::make_tuple(Duration(), grad_in, Duration());
  }
  const bool fsdp2 = c.fsdp_version == 2;
  // FSDP1's rate limiter synchronizes the host on the event of the unit two gathers back and launches the next
  // all-gather 235 us after it is met ("there is an 235 us overhead between the time the synchronization is met
  // and the time a new all-gather is launched", pytorch/pytorch#108234, measured on FSDP1's CPU-sync limiter).
  const Duration limiter = !fsdp2 && c.fsdp_limit_all_gathers ? Duration::us(235) : Duration();
  const Duration copy_in = hw::memory_time(part, Bytes::of(shard * (4 + 2))) + limiter;
  const Duration grad_in = (fsdp2 || gb != 2 ? hw::memory_time(part, Bytes::of(params * (2 + gb))) : Duration()) +
                           (fsdp2 ? Duration() : hw::memory_time(part, Bytes::of(params * 2 * gb)) +
                                                     hw::memory_time(part, Bytes::of(shard * 2 * gb)));
  const Duration copy_out = fsdp2 ? host.group_time(hw::memory_time(part, Bytes::of(params * 2 * 2)), 1) : Duration();
  return std::make_tuple(copy_in, grad_in, copy_out);
}

// Forward gathers units 0..n-1, backward n-1..0, each prefetched as the previous unit starts computing; a unit's
// gradients are reduce-scattered when its backward is done.
void MegatronTraining::plan_fsdp_units(const hw::AcceleratorSpec& part, const FsdpUnits& u, Pass& F, Pass& B) const {
  using policy::CollectiveOp;
  const auto& c = config_;
  const size_t n = u.params.size();
  const double gb = c.grad_bytes();
  const double edp = c.expert_data_parallel(dp_);
  // Megatron-FSDP gathers the modules outside its units (embedding, output layer) once an iteration, in the first
  // micro-batch's forward (their pre-forward hook; nothing releases them until finish_grad_sync): the units' gathers
  // leave them out. FSDP2 gathers its root with the first unit each pass. Both reduce them every micro-batch.
  const bool megatron = c.megatron_fsdp_units();
  const GroupKind dense_group = c.optimizer_group(), expert_group = c.optimizer_expert_group();
  std::vector<std::vector<CommCall>> gather(n), reduce(n);
  std::vector<Duration> unpack(n);  // copy-out on the compute stream, before the unit's first kernel
  std::vector<double> elements(n);  // each unit's parameters on this rank without the root (the prefetch's sizes)
  double root = 0;
  for (size_t j = 0; j < n; ++j) {
    const auto [dense, expert, layer, unit_root, dense_fp8, expert_fp8] = u.params[j];
    const std::string unit = " layer " + std::to_string(layer);
    const double gathered = megatron ? dense - unit_root : dense;
    root += unit_root;
    elements[j] = dense - unit_root + expert;
    // 16-bit parameters, but FP8 GEMM weights in FP8 where Megatron-FSDP gathers them so (fp8_param_gather).
    // Over DP x CP, or Megatron-FSDP's inner group with hybrid sharding (optimizer_group: one instance's ranks).
    gather[j].push_back({CollectiveOp::kAllGather, dense_group, Bytes::of(gathered * 2 - dense_fp8), Exposure::kDp,
                         "fsdp all-gather" + unit, 1});
    reduce[j].push_back({CollectiveOp::kReduceScatter, dense_group, Bytes::of(dense * gb), Exposure::kDp,
                         "fsdp reduce-scatter" + unit, 2});
    const auto [copy_in, grad_in, copy_out] = fsdp_unit_copies(part, dense);
    gather[j].front().prep = copy_in;
    reduce[j].front().prep = grad_in;
    unpack[j] = copy_out;
    if (expert > 0 && edp > 1) {
      gather[j].push_back({CollectiveOp::kAllGather, expert_group, Bytes::of(expert * 2 - expert_fp8), Exposure::kDp,
                           "fsdp expert all-gather" + unit, 1});
      reduce[j].push_back({CollectiveOp::kReduceScatter, expert_group, Bytes::of(expert * gb), Exposure::kDp,
                           "fsdp expert reduce-scatter" + unit, 2});
      if (megatron) {
        // Megatron-FSDP's expert buckets: their scaling (megatron_fsdp_reduce_prep), then the reduced shard added into
        // the persistent one, as the dense unit's. The stream's kernels run before its chain (pump_fsdp takes the
        // first call's prep): added to the unit's.
        reduce[j].front().prep += megatron_fsdp_reduce_prep(part, 0, expert) +
                                  hw::memory_time(part, Bytes::of(expert / c.optimizer_edp(dp_) * 3 * gb));
      }
    }
  }
  // Gathers run in pass order on their stream: at the pass's start the first unit's, then at each unit's first
  // segment the following units' up to fsdp_prefetch_end; each unit's first segment waits for its own.
  const auto wire = [&](Pass& P, const std::vector<size_t>& first_of, bool forward) {
    std::vector<double> sizes(n);
    const auto unit_at = [&](size_t pos) { return forward ? pos : n - 1 - pos; };
    for (size_t pos = 0; pos < n; ++pos) sizes[pos] = elements[unit_at(pos)];
    size_t issued = 0;  // positions [0, issued) gathered
    const auto issue = [&](Segment& seg, size_t end) {
      for (; issued <= end && issued < n; ++issued) seg.prefetch.push_back(gather[unit_at(issued)]);
    };
    issue(P.segments[0], 0);
    P.segments[0].await = 1;
    P.segments[0].compute += unpack[unit_at(0)];
    for (size_t pos = 0; pos < n; ++pos) {
      const size_t j = unit_at(pos);
      Segment& first = P.segments[first_of[j]];
      first.await = static_cast<int>(pos + 1);
      if (pos > 0) first.compute += unpack[j];
      issue(first, fsdp_prefetch_end(sizes, pos));
    }
  };
  wire(F, u.first_fwd, true);
  wire(B, u.first_bwd, false);
  for (size_t j = n; j-- > 0;) {
    Segment& last = (j == 0 && u.embedding_last) ? B.segments.back() : B.segments[u.last_bwd[j]];
    last.reduce.insert(last.reduce.end(), reduce[j].begin(), reduce[j].end());
  }
  if (megatron && root > 0 && c.optimizer_dp(dp_) > 1) {
    // The iteration's first forward pass (Pass::first) gathers the root before its first unit: one more gather
    // ahead of every unit's.
    auto first = std::make_shared<Pass>(F);
    Segment& s0 = first->segments[0];
    s0.prefetch.insert(s0.prefetch.begin(), std::vector<CommCall>{{CollectiveOp::kAllGather, dense_group,
                                                                   Bytes::of(root * 2), Exposure::kDp,
                                                                   "fsdp all-gather embedding and output layer", 1}});
    for (Segment& s : first->segments) {
      if (s.await > 0) ++s.await;
    }
    F.first = std::move(first);
  }
  if (c.outer_optim()) {
    // Megatron-FSDP's fully sharded hybrid level (AllGatherPipeline.all_gather_params with
    // outer_fsdp_group_param_gather while microbatch_count == 0): in the first micro-batch's forward and backward (the
    // units are released after forward) each unit's 1 / (DP x CP) shard is first all-gathered over the instances
    // into its inner shard, on a stream the inner gather waits for: here the same chain, before it. The root
    // (embedding, output layer) likewise, in the first forward. Pass::first of both passes.
    const double inner = c.optimizer_dp(dp_);
    const auto with_outer = [&](const Pass& from) {
      auto first = std::make_shared<Pass>(from);
      for (Segment& s : first->segments) {
        for (std::vector<CommCall>& chain : s.prefetch) {
          if (chain.empty()) continue;
          CommCall o = chain.front();
          o.group = GroupKind::kDpCpInter;
          o.size = o.size / inner;
          const std::string plain = "fsdp all-gather";
          o.name = o.name.rfind(plain, 0) == 0 ? "fsdp outer all-gather" + o.name.substr(plain.size()) : "fsdp outer " + o.name;
          chain.front().prep = Duration();  // the chain's copies run before its first collective
          chain.insert(chain.begin(), std::move(o));
        }
      }
      return first;
    };
    F.first = with_outer(F.first ? *F.first : F);
    B.first = with_outer(B);
  }
}

size_t MegatronTraining::fsdp_prefetch_end(const std::vector<double>& sizes, size_t p) const {
  const auto& c = config_;
  const size_t n = sizes.size();
  if (p + 1 >= n) return p;
  if (!c.megatron_fsdp_units() || c.fsdp_double_buffer) return p + 1;
  // Megatron-FSDP (_init_fsdp_param_and_grad_buffer): its reduce-scatter queue holds suggested_communication_unit_size
  // elements, by default max(1e9, 2 x the mean unit); the all-gather prefetch half of it. AllGatherPipeline adds the
  // following units (whole) until the elements gathered ahead reach that.
  double mean = 0;
  for (double x : sizes) mean += x / static_cast<double>(n);
  const double capacity = c.suggested_communication_unit_size > 0 ? static_cast<double>(c.suggested_communication_unit_size)
                                                                  : std::max(1e9, 2 * mean);
  const double budget = std::floor(capacity / 2);
  double ahead = 0;
  size_t e = p;
  while (e + 1 < n && ahead < budget) ahead += sizes[++e];
  return e;
}

}  // namespace lcsim::wl
