// MegatronTraining's reporting: the run header, the placement, progress, metrics and the per-rank table.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "workloads/training/megatron_runtime.h"

namespace lcsim::wl {

using policy::CollectiveOp;
using Exposure = MegatronTraining::Exposure;

std::string MegatronTraining::describe() const {
  const auto& c = config_;
  const auto& m = c.model;
  char buf[512];
  std::string extras;
  if (c.sequence_parallel && c.tensor_model_parallel_size > 1) extras += ", SP";
  if (c.use_megatron_fsdp) {
    extras += ", Megatron-FSDP";
    if (!c.megatron_fsdp_units()) extras += " (" + c.data_parallel_sharding_strategy + ")";
  } else if (c.dist_opt()) {
    extras += ", distributed optimizer";
  }
  if (c.num_distributed_optimizer_instances > 1) {  // Megatron's partial distributed optimizer (or hybrid FSDP)
    extras += " (" + std::to_string(c.num_distributed_optimizer_instances) + " instances)";
  }
  if (c.recompute_granularity == "full") {
    extras += ", full recompute (" + c.recompute_method + " " + std::to_string(c.recompute_num_layers) + ")";
  } else if (c.recompute_granularity != "none") {
    extras += ", " + c.recompute_granularity + " recompute";
    if (c.recompute_modules != std::vector<std::string>{"core_attn"}) {  // the default stays as it was written
      std::string modules;
      for (const auto& mod : c.recompute_modules) modules += (modules.empty() ? "" : " ") + mod;
      extras += " (" + modules + ")";
    }
  }
  if (c.context_parallel_size > 1) extras += ", CP " + c.cp_comm_type + (c.cp_repeat_kv ? " (keys/values per query head)" : "");
  extras += c.use_flash_attn ? ", fused attention (" + attention_label_ + ")" : ", unfused attention";
  if (m.num_experts > 0) extras += ", " + std::to_string(m.num_experts) + " experts top-" + std::to_string(m.moe_router_topk);
  if (c.fp8_gemm_backend != "auto") extras += ", FP8 GEMMs " + c.fp8_gemm_backend;
  if (c.torch_eager()) extras += ", PyTorch eager kernels";
  // The host's model where it is not the default (docs/calibration.md, "Framework overhead").
  if (c.host_issue_model != MegatronConfig{}.host_issue_model || c.host_op_time != MegatronConfig{}.host_op_time ||
      c.host_module_time != MegatronConfig{}.host_module_time || !host_label_.empty()) {
    char host[128];
    std::snprintf(host, sizeof host, ", host %s at %.4g us per launch", c.host_issue_model.c_str(),
                  c.host_op_time.s() * 1e6);
    if (c.host_module_time > Duration()) {
      std::snprintf(host + std::strlen(host), sizeof host - std::strlen(host), " and %.4g us per module call",
                    c.host_module_time.s() * 1e6);
    }
    extras += host + (host_label_.empty() ? "" : " x " + host_label_);
  }
  std::snprintf(buf, sizeof buf,
                "Megatron GPT %.4gB params (%d layers, h=%d, %d heads/%d kv, seq %d), TP %d CP %d PP %d (%s%s) DP %d "
                "EP %d, global batch %d, micro %d (%d micro-batches), %s%s",
                m.total_params() / 1e9, m.num_layers, m.hidden_size, m.num_attention_heads, m.query_groups(),
                m.seq_length, c.tensor_model_parallel_size, c.context_parallel_size, c.pipeline_model_parallel_size,
                c.schedule().c_str(), chunks_ > 1 ? (", " + std::to_string(chunks_) + " chunks").c_str() : "", dp_,
                c.expert_model_parallel_size, c.global_batch_size, c.micro_batch_size, micro_batches_,
                c.precision.c_str(), extras.c_str());
  std::string out = buf;
  if (!c.layout.empty()) {
    out += "\n  pipeline layout (pipeline_model_parallel_layout): " + describe_pipeline_layout(c.layout, c.pipeline_model_parallel_size);
    if (standalone_mtp()) {
      out += "; MTP standalone in virtual stage " + std::to_string(mtp_stage()) + ": sends after it carry " +
             std::to_string(1 + m.mtp_num_layers) + " hidden states";
    }
  }
  if (!c.ignored_args.empty()) {
    out += "\n  megatron_args ignored (no effect on speed or memory):";
    for (const auto& a : c.ignored_args) out += " " + a;
  }
  if (!c.assumed_args.empty()) {
    out += "\n  megatron_args attention:";
    for (const auto& a : c.assumed_args) out += " " + a;
    out += " -> " + (c.use_flash_attn ? "fused attention, attention_backend " + c.attention_backend + " (" + attention_label_ + ")"
                                      : std::string("unfused attention (score matrix in memory)"));
  }
  if (c.deterministic_mode) {
    out += "\n  deterministic mode (--deterministic-mode): collectives on rings where network.collectives.algorithm is "
           "auto (Megatron-LM's NCCL_ALGO=Ring), " + deterministic_label_ +
           "; MoE's deterministic scatter and sort, the embedding's deterministic backward not costed";
  }
  if (!c.not_modelled_args.empty()) {
    out += "\n  megatron_args not modelled (costed as without them; docs/training-megatron-args.md):";
    for (const auto& a : c.not_modelled_args) out += " " + a;
  }
  for (const auto& f : c.flags_read) out += "\n  megatron_args read as: " + f;
  if (!c.defaults_taken.empty()) {
    out += "\n  megatron_args left out, lcsim's default taken:";
    for (size_t i = 0; i < c.defaults_taken.size(); ++i) out += (i ? "; " : " ") + c.defaults_taken[i];
  }
  const long long job_iters = c.job_iterations();
  if (c.job_train_iters > 0 || c.job_train_samples > 0) {
    out += "\n  job: " + (c.job_train_samples > 0 ? std::to_string(c.job_train_samples) +
                                                     " samples (job_train_samples, Megatron's --train-samples), " +
                                                     std::to_string(job_iters) + " iterations"
                                               : std::to_string(job_iters) +
                                                     " iterations (job_train_iters, Megatron's --train-iters)") +
           "; simulated: " + std::to_string(c.train_iters) +
           " (train_iters); job_time_days, job_gpu_hours and job_tokens extrapolate from the simulated iteration";
  } else if (c.train_iters > 1) {
    out += "\n  iterations simulated: " + std::to_string(c.train_iters) + " (train_iters)";
  }
  if (!c.batch_schedule.empty()) {  // megatron_batch_schedule.cc
    const size_t timed = batches_to_time().size();
    out += "\n  batch-size schedule: " + c.batch_schedule.describe() + "; the simulated iterations run the global batch" +
           (timed > 0 ? ", " + std::to_string(timed) + " smaller batches of the job's each timed by one iteration after "
                        "them (batch_schedule_timed " + std::to_string(c.batch_schedule_timed) + "; others interpolated)"
                      : " (no job length: job_train_samples or cost.token_budget times the schedule)");
  }
  // Megatron-LM's evaluation (megatron_eval.cc), where the run or the job's estimate has one.
  const long long in_run = c.evaluates_after(c.eval_interval) ? c.train_iters / c.eval_interval : 0;
  const long long job_evals = job_iters > 0 ? c.evaluations(job_iters) : 0;
  const long long budget_evals = c.token_budget > 0 ? c.evaluations(c.budget_train_iters()) : 0;
  if (in_run > 0 || job_evals > 0 || budget_evals > 0) {
    const std::string sets = c.eval_valid_set && c.eval_test_set ? "the validation and the test set"
                             : c.eval_valid_set                   ? "the validation set"
                                                                  : "the test set";
    out += "\n  evaluation (Megatron-LM's, eval_iters " + std::to_string(c.eval_iters) + ", eval_interval " +
           std::to_string(c.eval_interval) + "): " + std::to_string(c.eval_iters) + " forward-only iterations" +
           (c.eval_valid_set && c.eval_interval > 0 ? " every " + std::to_string(c.eval_interval) +
                                                          " training iterations and" : "") +
           " after training on " + sets;
    if (in_run > 0) out += "; " + std::to_string(in_run) + " of them inside the simulated iterations";
    if (job_evals > 0) out += "; the job's " + std::to_string(job_evals) + " are in job_time_days and job_gpu_hours";
    if (budget_evals > 0) {
      out += std::string(job_evals > 0 ? "," : ";") + " the token budget's " + std::to_string(budget_evals) + " (of " +
             std::to_string(c.budget_train_iters()) + " iterations) in budget_time_days";
    }
    if (in_run == 0) out += " (one evaluation iteration simulated after the training iterations)";
  }
  return out;
}

std::vector<std::string> MegatronTraining::explain_placement(const std::vector<Gpu>& gpus) const {
  const auto& c = config_;
  Placement pl(c.tensor_model_parallel_size, c.context_parallel_size, dp_, c.pipeline_model_parallel_size,
               c.expert_model_parallel_size, c.parallel_order, c.expert_tp());
  pl.set_optimizer_instances(c.num_distributed_optimizer_instances);
  std::vector<std::string> out;
  char line[256];
  std::snprintf(line, sizeof line, "placement: order %s (innermost first), TP %d x CP %d x DP %d x PP %d, EP %d",
                c.parallel_order.c_str(), pl.size(Dim::kTp), pl.size(Dim::kCp), pl.size(Dim::kDp), pl.size(Dim::kPp),
                pl.ep());
  out.push_back(line);
  if (c.model.num_experts > 0 && c.experts_fold_tp()) {
    out.back() += ", expert TP " + std::to_string(c.expert_tp()) + " (the expert groups cut from TP x CP x DP)";
  }
  std::vector<GroupKind> kinds = {GroupKind::kTp, GroupKind::kCp, GroupKind::kDp, GroupKind::kPp};
  if (c.model.num_experts > 0) kinds.push_back(GroupKind::kEp);
  if (c.model.num_experts > 0 && c.experts_fold_tp() && c.expert_tp() > 1) kinds.push_back(GroupKind::kEtp);
  if (c.num_distributed_optimizer_instances > 1) {  // the partial distributed optimizer's instances and their copies
    kinds.push_back(GroupKind::kDpCpIntra);
    kinds.push_back(GroupKind::kDpCpInter);
  }
  for (GroupKind k : kinds) {
    std::set<std::vector<uint32_t>> groups;
    for (uint32_t r = 0; r < gpus.size(); ++r) groups.insert(pl.group(k, r));
    size_t in_node = 0, on_rail = 0;
    for (const auto& g : groups) {
      bool same_node = true, same_rail = true;
      for (uint32_t r : g) {
        same_node = same_node && gpus[r].node == gpus[g.front()].node;
        same_rail = same_rail && gpus[r].local == gpus[g.front()].local;
      }
      in_node += same_node;
      on_rail += !same_node && same_rail;
    }
    std::snprintf(line, sizeof line, "  %-3s groups: %zu of %zu ranks; inside one node: %zu; across nodes on one rail: %zu; "
                  "across nodes and rails: %zu",
                  group_kind_name(k), groups.size(), groups.begin()->size(), in_node, on_rail,
                  groups.size() - in_node - on_rail);
    out.push_back(line);
  }
  out.push_back("  rank  node  gpu  tp  cp  dp  pp");
  const uint32_t n = static_cast<uint32_t>(gpus.size());
  for (uint32_t r = 0; r < n; ++r) {
    if (n > 48 && r == 32) {
      out.push_back("  ... (" + std::to_string(n - 40) + " more)");
      r = n - 8;
    }
    const Coord co = pl.coord(r);
    std::snprintf(line, sizeof line, "  %4u  %4u  %3u  %2d  %2d  %2d  %2d", r, gpus[r].node, gpus[r].local, co.tp, co.cp,
                  co.dp, co.pp);
    out.push_back(line);
  }
  return out;
}

double MegatronTraining::progress() const {
  const double total = static_cast<double>(tasks_total_) * config_.train_iters;
  return total > 0 ? std::min(1.0, static_cast<double>(tasks_done_) / total) : 0.0;
}

void MegatronTraining::report(MetricSet& m) const {
  const auto& c = config_;
  const auto& model = c.model;
  const double n = static_cast<double>(ctx_->gpus.size());
  const double it = iteration_times_.empty() ? 0.0 : iteration_times_.front().s();
  const double tokens = static_cast<double>(c.global_batch_size) * model.seq_length;
  double peak = 0;
  for (const auto& g : ctx_->gpus) peak += g.part->peak(dtype_).flop_per_s();
  m.set("num_gpus", n, "GPUs in the run");
  m.set("tensor_parallel", c.tensor_model_parallel_size, "TP size");
  m.set("pipeline_parallel", c.pipeline_model_parallel_size, "PP size");
  m.set("data_parallel", dp_, "DP size");
  m.set("context_parallel", c.context_parallel_size, "CP size");
  m.set("expert_parallel", c.expert_model_parallel_size, "EP size");
  m.set("micro_batches", micro_batches_, "micro-batches per iteration per pipeline");
  m.set("parameters", model.total_params(), "model parameters");
  m.set("active_parameters", model.active_params(), "parameters a token passes through (MoE: routed experts only)");
  m.set("simulated_ranks", static_cast<double>(states_.size()), "ranks simulated (the others are identical to one of them)");
  m.set("iterations", static_cast<double>(iteration_times_.size() + static_cast<size_t>(memoized_)), "training iterations");
  m.set("iterations_memoized", memoized_, "iterations that repeated the first one's result (same cluster state)");
  m.set("iteration_time_s", it, "duration of one training iteration (simulated time)");
  // Megatron-LM's evaluation (megatron_eval.cc): one evaluation iteration and one evaluation's start and end as the
  // run simulated them first.
  const double eval_it = eval_times_.empty() ? 0.0 : eval_times_.front().s();
  const double eval_overhead = eval_overheads_.empty() ? 0.0 : eval_overheads_.front().s();
  if (!eval_overheads_.empty()) {
    m.set("eval_iteration_time_s", eval_it,
          "one forward-only evaluation iteration (Megatron-LM's evaluate: the global batch's forward passes, the "
          "loss's all-reduce), simulated");
    m.set("eval_overhead_s", eval_overhead,
          "per evaluation besides its iterations: the parameters' forced all-gather (distributed optimizer with "
          "overlap_param_gather) and the timers' barriers, simulated");
    m.set("eval_iterations", static_cast<double>(eval_times_.size()) + eval_memoized_,
          "evaluation iterations the run simulated (memoized ones included; with job_train_iters and none in the "
          "training iterations, one after them to time the job's)");
  }
  const bool schedule = !c.batch_schedule.empty();
  const double per_evaluation = eval_overhead + c.eval_iters * eval_it;  // its start and end, and its iterations
  if (const auto phases = c.job_phases(); !phases.empty()) {
    const PhaseTime job = phase_time(phases);
    const double evals = static_cast<double>(c.evaluations(static_cast<long long>(job.iterations)));
    const double eval_s = evals * per_evaluation;
    m.set("job_iterations", job.iterations,
          "the whole job's iterations (job_train_iters, or job_train_samples' as Megatron-LM counts them); not "
          "simulated, extrapolated");
    m.set("job_tokens", job.samples * model.seq_length,
          "tokens of the whole job: its iterations' global batches x seq_length");
    if (schedule) {
      m.set("job_ramp_iterations", job.ramp_iterations,
            "the job's iterations at batches below global_batch_size (the batch-size schedule)");
      m.set("job_ramp_time_days", job.ramp_seconds / 86400,
            "their time: each at its batch's iteration time (timed, or interpolated); in job_time_days");
    }
    m.set("job_evaluations", evals,
          "the whole job's evaluations (eval_iters iterations each): one every eval_interval iterations with a "
          "validation set, one on each data set after training");
    m.set("job_eval_time_days", eval_s / 86400,
          "the whole job's evaluations: job_evaluations x (eval_overhead_s + eval_iters x eval_iteration_time_s)");
    m.set("job_time_days", (job.seconds + eval_s) / 86400,
          "the whole job's duration: its iterations at the simulated iteration time (a batch-size schedule's smaller "
          "batches at theirs), and its evaluations");
    m.set("job_gpu_hours", (job.seconds + eval_s) * n / 3600, "the whole job's GPU-hours (job_time_days x GPUs)");
  }
  if (c.token_budget > 0) {  // cost.token_budget: its iterations' evaluations and schedule, in budget_time_days
    const PhaseTime budget = phase_time(c.budget_phases());
    const double evals = static_cast<double>(c.evaluations(static_cast<long long>(budget.iterations)));
    m.set("budget_iterations", budget.iterations,
          "iterations to train cost.token_budget tokens: token_budget / tokens_per_iteration, rounded up (with a "
          "batch-size schedule, its samples as Megatron-LM counts them)");
    if (schedule) {
      m.set("budget_ramp_iterations", budget.ramp_iterations,
            "the budget's iterations at batches below global_batch_size (the batch-size schedule)");
      m.set("budget_ramp_extra_days", (budget.ramp_seconds - it * budget.ramp_samples / c.global_batch_size) / 86400,
            "their time less their tokens' at the training throughput: in budget_time_days");
    }
    m.set("budget_evaluations", evals,
          "evaluations while training cost.token_budget tokens (eval_iters iterations each): one every eval_interval "
          "of budget_iterations with a validation set, one on each data set after training");
    m.set("budget_eval_time_days", evals * per_evaluation / 86400,
          "time of budget_evaluations: each eval_overhead_s + eval_iters x eval_iteration_time_s; in "
          "budget_time_days");
  }
  if (c.save_interval > 0) {
    m.set("checkpoint_every_iterations", c.save_interval,
          "iterations between checkpoint saves (save_interval, Megatron's --save-interval): the reliability model's "
          "checkpoint interval unless reliability.checkpoint_interval is set");
  }
  m.set("tokens_per_iteration", tokens, "global_batch_size x seq_length");
  m.set("tokens_per_s", it > 0 ? tokens / it : 0.0, "training throughput");
  m.set("model_flops_per_iteration", model_flops(), "Megatron-LM's model FLOPs per iteration, all GPUs");
  const double achieved = it > 0 ? model_flops() / it : 0.0;
  m.set("tflops_per_gpu", achieved / n / 1e12, "model TFLOP/s per GPU, counted as Megatron-LM counts them");
  m.set("mfu", peak > 0 ? achieved / peak : 0.0, "model FLOPs utilization against the dense peak of the precision");
  m.set("time_compute_s", compute_.s(), "per iteration, mean over ranks: forward, backward and recompute kernels");
  m.set("time_host_s", std::max(0.0, host_.s()),
        "per iteration, mean over ranks: the part of time_compute_s the GPU waited for the host to issue kernels "
        "(host_op_time per launch, the waits after a pipeline receive or a dropless dispatch; 0 with a host that "
        "never binds)");
  m.set("time_ddp_bucket_work_s", bucket_work_.s(),
        "per iteration, mean over ranks: the part of time_compute_s that is Megatron's DDP before the gradient "
        "collectives (each bucket's NaN check, its norm and host synchronizations, and its scaling by 1 / DP)");
  m.set("time_optimizer_s", optimizer_.s(), "per iteration, mean over ranks: optimizer step");
  const char* names[] = {"tp", "cp", "ep", "pp", "dp", "bubble"};
  const char* help[] = {"tensor-parallel collectives", "context-parallel key/value exchange",
                        "expert-parallel token all-to-alls", "pipeline sends (after the producer finished)",
                        "data-parallel gradient reduction, embedding and parameter all-gather",
                        "pipeline bubble: waiting for another stage's compute, and idle at the iteration's end"};
  for (size_t k = 0; k < 6; ++k) {
    const double v = breakdown_.empty() ? 0.0 : breakdown_[k];
    m.set(k == 5 ? std::string("time_pipeline_bubble_s") : std::string("time_exposed_") + names[k] + "_s", v,
          std::string("per iteration, mean over ranks: ") + help[k] + (k < 5 ? " not hidden behind compute" : ""));
  }
  m.set("symmetry_spread", mirror_spread_,
        "flow model, one rank per stage: largest (last - first) / duration among the copies of a cross-node "
        "collective or pipeline send run for every group; near 0 means the groups really are alike, large "
        "values say that some groups are slower (ECMP collisions): check with symmetry: off");
  // DualPipe: its README's (p/2 - 1)(F&B + B - 3W) over m (F + B), with F : B : W = 1 : 2 : 1 and F&B = F + B.
  const double p = c.pipeline_model_parallel_size;
  m.set("pipeline_bubble_ideal_fraction",
        dualpipe_ ? (p - 2) / (3.0 * micro_batches_) : (p - 1) / (static_cast<double>(chunks_) * micro_batches_),
        "textbook bubble of the schedule, relative to the ideal time, for reference: (p - 1) / (v m); DualPipe "
        "(p/2 - 1)(F&B + B - 3W) / (m (F + B)) = (p - 2) / (3 m) with backward = 2 x forward, weight gradients = "
        "forward, and a pair's time F + B");
  m.set("memory_per_gpu_bytes", memory_.total.bytes(), "memory needed per GPU (stage with the least headroom)");
  m.set("memory_capacity_bytes", memory_.capacity.bytes(), "memory of that part");
  m.set("memory_stage", memory_stage_, "pipeline stage with the least headroom");
  for (const auto& item : memory_.items) {
    std::string key = item.name;
    std::replace(key.begin(), key.end(), ' ', '_');
    m.set("memory_" + key + "_bytes", item.bytes.bytes(), "per-GPU memory: " + item.name);
  }
  checkpoints_.report(m);
}

std::vector<std::string> MegatronTraining::table() const {
  std::vector<std::string> out;
  char line[256];
  out.push_back("time per iteration by simulated rank (ms): compute (of it, waiting for the host), optimizer, then "
                "exposed waits");
  out.push_back("  rank stage  compute    host  optim     tp     cp     ep     pp     dp  bubble");
  for (size_t i = 0; i < stage_rows_.size() && i < 64; ++i) {
    const auto& r = stage_rows_[i];
    std::snprintf(line, sizeof line, "  %4u %5d %8.2f %7.2f %6.2f %6.2f %6.2f %6.2f %6.2f %6.2f %7.2f",
                  states_[i]->rank, static_cast<int>(r[8]), r[0] * 1e3, std::max(0.0, r[9]) * 1e3, r[1] * 1e3,
                  r[2] * 1e3, r[3] * 1e3, r[4] * 1e3, r[5] * 1e3, r[6] * 1e3, r[7] * 1e3);
    out.push_back(line);
  }
  if (stage_rows_.size() > 64) out.push_back("  ... (" + std::to_string(stage_rows_.size() - 64) + " more)");
  if (symmetric_) out.push_back("  (one rank per pipeline stage simulated; the others are identical to it)");
  // The operator graph of one layer as rank 0 runs it (its shard of every kernel), forward and backward.
  const auto& c = config_;
  const LayerShard sh = c.layer_shard(ctx_->gpus[0].part);
  const hw::AcceleratorSpec part = c.kernels_on(*ctx_->gpus[0].part);
  int first_dense = -1, first_moe = -1;
  for (int l = c.model.num_layers - 1; l >= 0; --l) (c.model.is_moe_layer(l) ? first_moe : first_dense) = l;
  for (int layer : {first_dense, first_moe}) {
    if (layer < 0) continue;
    const auto fwd = layer_forward(c.model, layer, c.micro_batch_size, 2, sh).all();
    const auto bwd = with_wgrad_accumulation(backward_of(fwd, 2, sh.fp8_cast_out), sh.wgrad_accumulation_bytes);
    out.push_back("");
    out.push_back(std::string("kernels of one ") + (c.model.is_moe_layer(layer) ? "MoE" : "dense") +
                  " layer, one micro-batch, on rank 0 (" + part.name + ", its shard):");
    out.push_back("  kernel                     GFLOP        MB   time (us)");
    for (const auto* ops : {&fwd, &bwd}) {
      Duration sum;
      for (const auto& op : *ops) {
        const Duration d = hw::op_time(part, dtype_, op);
        sum += d;
        std::snprintf(line, sizeof line, "  %-22s %9.2f %9.2f %11.1f", op.name.c_str(), op.flops.flop() / 1e9,
                      op.bytes.bytes() / 1e6, d.s() * 1e6);
        out.push_back(line);
      }
      std::snprintf(line, sizeof line, "  %-22s %9.2f %9s %11.1f", ops == &fwd ? "forward total" : "backward total",
                    hw::total_flops(*ops).flop() / 1e9, "", sum.s() * 1e6);
      out.push_back(line);
    }
  }
  return out;
}

double MegatronTraining::model_flops() const {
  return 3.0 * config_.model.forward_model_flops(config_.global_batch_size);
}

}  // namespace lcsim::wl
