#include "workloads/training/data_parallel.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <set>

#include "models/hardware/step_overhead.h"

namespace lcsim::wl {

void DataParallelConfig::visit(Section& s) {
  s.section("model", "model architecture (Megatron-LM argument names)", [this](Section& m) { model.visit(m); });
  s.field("global_batch_size", global_batch_size, "sequences per iteration, all GPUs together", Range::at_least(1));
  s.field("micro_batch_size", micro_batch_size, "sequences per GPU per forward/backward pass", Range::at_least(1));
  s.choice("precision", precision, {"bf16", "fp16", "fp8"}, "data type of the matrix multiplies");
  s.field("overlap_grad_reduce", overlap_grad_reduce,
          "reduce gradient buckets during backward instead of after it");
  s.field("ddp_bucket_size", ddp_bucket_size,
          "parameters per gradient bucket; 0 = Megatron's default max(40M, 1M x data-parallel size)",
          Range::at_least(0));
  s.field("accumulate_allreduce_grads_in_fp32", accumulate_allreduce_grads_in_fp32,
          "gradients reduced in fp32 (Megatron forces this on with bf16)");
  s.field("use_distributed_optimizer", use_distributed_optimizer,
          "shard optimizer states over data-parallel ranks (Megatron's distributed optimizer, ZeRO-1)");
  s.field("zero_stage", zero_stage,
          "ZeRO sharding over data-parallel ranks: 1 optimizer states, 2 also gradients (3 / FSDP: use the megatron "
          "workload with use_torch_fsdp2 or use_megatron_fsdp)",
          Range::between(0, 2));
  s.choice("recompute_granularity", recompute_granularity, {"none", "selective", "full"},
           "activation recomputation: full recomputes each layer's forward during backward");
  s.field("use_flash_attn", use_flash_attn, "fused attention: no score matrix in memory");
  attention_backend_key(s, attention_backend);
  s.field("memory_reserve", memory_reserve, "per-GPU memory kept for the CUDA context, NCCL, workspaces and "
                                            "fragmentation",
          Range::at_least(0));
  s.field("host_op_time", host_op_time,
          "host (CPU) time to issue one kernel in eager-mode PyTorch: a group of n kernels takes at least n x it, "
          "each layer's forward or backward is one group (measured: median of a PyTorch execution trace, "
          "docs/calibration.md; each node's host_op_time_factor scales it); 0 = the host is never the limit",
          Range::at_least(0));
  s.field("train_iters", train_iters, "iterations to simulate", Range::at_least(1));
}

hw::MemoryFit GptDataParallel::memory_fit(const DataParallelConfig& c, const hw::AcceleratorSpec& part, int dp) {
  hw::TrainingMemoryInput in;
  const auto& m = c.model;
  in.parameters = m.total_params();
  in.data_parallel = dp;
  in.zero_stage = c.shard_stage();
  in.grad_bytes = c.accumulate_allreduce_grads_in_fp32 ? 4 : 2;
  in.layers = m.num_layers;
  in.micro_batch = c.micro_batch_size;
  in.seq = m.seq_length;
  in.hidden = m.hidden_size;
  in.ffn = m.ffn();
  in.heads = m.num_attention_heads;
  in.vocab = m.vocab_size;
  in.swiglu = m.swiglu;
  in.flash_attention = c.use_flash_attn;
  in.recompute = c.recompute_granularity;
  in.runtime_reserve = c.memory_reserve;
  // No bucket buffers, with overlap or without: Megatron-LM's buckets are views of the contiguous gradient buffer,
  // all-reduced in place (param_and_grad_buffer.py; docs/calibration.md, Memory).
  return hw::training_memory(in, part.hbm_capacity);
}

void GptDataParallel::validate(const std::vector<Gpu>& gpus, Section& s) {
  const int dp = static_cast<int>(gpus.size());
  std::set<const hw::AcceleratorSpec*> parts;
  for (const auto& g : gpus) parts.insert(g.part);
  const hw::DType d = hw::parse_dtype(config_.precision);
  for (const auto* part : parts) {
    if (!part->supports(d)) s.error("precision", part->name + " has no " + config_.precision + " tensor cores");
  }
  attention_label_ = check_attention_backend(config_.attention_backend, config_.use_flash_attn, parts, s);
  host_label_ = hw::host_factor_label(parts);
  const int64_t per_step = int64_t{config_.micro_batch_size} * dp;  // up to 2^24 x 2^17: 64 bits
  if (config_.global_batch_size % per_step != 0) {
    s.error("global_batch_size", "must be a multiple of micro_batch_size x data-parallel size (" +
                                     std::to_string(config_.micro_batch_size) + " x " + std::to_string(dp) + " = " +
                                     std::to_string(per_step) + "), got " +
                                     std::to_string(config_.global_batch_size));
  }
  // Memory: every part must hold its share. Alternatives are tried one at a time for the suggestion.
  for (const auto* part : parts) {
    const hw::MemoryFit fit = memory_fit(*part, dp);
    if (memory_.items.empty() || fit.capacity - fit.total < memory_.capacity - memory_.total) memory_ = fit;
    if (fit.fits()) continue;
    // Each change alone first; if none is enough, the changes one on top of the other.
    std::vector<std::pair<std::string, std::function<void(DataParallelConfig&)>>> changes;
    if (config_.shard_stage() < 1) changes.push_back({"use_distributed_optimizer: true", [](auto& c) { c.use_distributed_optimizer = true; }});
    if (config_.shard_stage() < 2) changes.push_back({"zero_stage: 2", [](auto& c) { c.zero_stage = 2; }});
    if (config_.recompute_granularity != "full") changes.push_back({"recompute_granularity: full", [](auto& c) { c.recompute_granularity = "full"; }});
    if (config_.micro_batch_size > 1) changes.push_back({"micro_batch_size: 1", [](auto& c) { c.micro_batch_size = 1; }});
    std::vector<std::pair<std::string, hw::MemoryFit>> alts;
    bool any = false;
    for (const auto& [label, change] : changes) {
      DataParallelConfig c = config_;
      change(c);
      alts.push_back({label, memory_fit(c, *part, dp)});
      any = any || alts.back().second.fits();
    }
    if (!any) {
      DataParallelConfig c = config_;
      std::string label;
      for (const auto& [l, change] : changes) {
        change(c);
        label += (label.empty() ? "" : " + ") + l;
        alts.push_back({label, memory_fit(c, *part, dp)});
        if (alts.back().second.fits()) break;
      }
    }
    s.error_here(hw::out_of_memory_message(part->name, fit, alts));
  }
}

std::string GptDataParallel::describe() const {
  const auto& m = config_.model;
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "GPT %.3gB params (%d layers, h=%d, seq %d), data parallel, global batch %d, micro %d, %s%s%s, %s",
                m.total_params() / 1e9, m.num_layers, m.hidden_size, m.seq_length, config_.global_batch_size,
                config_.micro_batch_size, config_.precision.c_str(),
                config_.shard_stage() > 0 ? (", sharded optimizer (stage " + std::to_string(config_.shard_stage()) + ")").c_str() : "",
                config_.recompute_granularity == "full" ? ", full recompute" : "",
                config_.use_flash_attn ? ("fused attention (" + attention_label_ + ")").c_str() : "unfused attention");
  if (host_label_.empty()) return buf;
  char host[48];
  std::snprintf(host, sizeof host, ", host at %.4g us per launch x ", config_.host_op_time.s() * 1e6);
  return buf + (host + host_label_);
}

void GptDataParallel::plan(const RunContext& ctx) {
  const auto& m = config_.model;
  dtype_ = hw::parse_dtype(config_.precision);
  const double e = hw::dtype_bytes(dtype_) < 2 ? 2 : hw::dtype_bytes(dtype_);  // fp8 GEMMs keep bf16 activations
  const int b = config_.micro_batch_size;
  const int dp = static_cast<int>(ctx.gpus.size());
  const int micro_batches = config_.global_batch_size / (b * dp);
  grad_bytes_per_param_ = config_.accumulate_allreduce_grads_in_fp32 ? 4 : 2;
  const bool full_recompute = config_.recompute_granularity == "full";

  const auto layer_f = layer_forward_ops(m, b, e), layer_b = backward_of(layer_f, e);
  const auto emb_f = embedding_forward_ops(m, b, e), emb_b = backward_of(emb_f, e);
  const auto head_f = head_forward_ops(m, b, e), head_b = backward_of(head_f, e);
  model_flops_ = Flops::of(3.0 * m.forward_model_flops(b) * micro_batches * dp);

  // Gradient buckets, in the order backward produces gradients: layers L..1, then embeddings.
  double bucket_params = static_cast<double>(config_.ddp_bucket_size);
  if (bucket_params <= 0) bucket_params = std::max(40e6, 1e6 * dp);
  if (!config_.overlap_grad_reduce) bucket_params = 1e300;  // one bucket after backward
  buckets_.clear();
  std::vector<int> ready_after_layer(m.num_layers + 1, -1);  // index 0: embeddings
  double filling = 0;
  auto add_params = [&](double p, int where, bool last) {
    filling += p;
    if (filling >= bucket_params || last) {
      buckets_.push_back({filling, false});
      ready_after_layer[where] = static_cast<int>(buckets_.size() - 1);
      filling = 0;
    }
  };
  for (int l = m.num_layers; l >= 1; --l) add_params(m.layer_params(l - 1), l, false);
  add_params(m.embedding_params(), 0, true);

  // The step sequence is the same on every GPU; its durations depend on the GPU's part.
  enum Kind { kEmbF, kLayerF, kHead, kLayerB, kEmbB };
  std::vector<Kind> kinds;
  steps_.clear();
  for (int mb = 0; mb < micro_batches; ++mb) {
    const bool last = mb == micro_batches - 1;
    const std::string tag = micro_batches > 1 ? " mb" + std::to_string(mb) : "";
    steps_.push_back({"fwd embedding" + tag});
    kinds.push_back(kEmbF);
    for (int l = 1; l <= m.num_layers; ++l) {
      steps_.push_back({"fwd layer " + std::to_string(l) + tag, -1, 1});
      kinds.push_back(kLayerF);
    }
    steps_.push_back({"fwd+bwd output/loss" + tag});
    kinds.push_back(kHead);
    for (int l = m.num_layers; l >= 1; --l) {
      steps_.push_back({(full_recompute ? "recompute+bwd layer " : "bwd layer ") + std::to_string(l) + tag,
                        last ? ready_after_layer[l] : -1, -1});
      kinds.push_back(kLayerB);
    }
    steps_.push_back({"bwd embedding" + tag, last ? ready_after_layer[0] : -1});
    kinds.push_back(kEmbB);
  }
  plans_.clear();
  const double shard = config_.shard_stage() >= 1 ? 1.0 / dp : 1.0;
  for (const auto& g : ctx.gpus) {
    if (plans_.count(g.part)) continue;
    const hw::AcceleratorSpec part = hw::with_attention_backend(*g.part, config_.attention_backend);
    const hw::HostIssue host({config_.host_op_time * part.host_op_time_factor});  // the node's host
    auto T = [&](const std::vector<hw::OpWork>& ops) {
      return host.work(hw::total_time(ops, part, dtype_), ops.size());
    };
    const hw::HostIssue::Work lf = T(layer_f), lb = T(layer_b);
    const hw::HostIssue::Work t[] = {T(emb_f), lf, T(head_f) + T(head_b), full_recompute ? lf + lb : lb, T(emb_b)};
    PartPlan p;
    for (Kind k : kinds) {
      p.step_time.push_back(t[k].time);
      p.compute += t[k].time;
      p.host += t[k].wait;  // the part of it the GPU waits for the host (time_host_s)
    }
    // Gradient norm, mixed-precision Adam and zeroing the gradients (step_overhead.h); sharded: 1/DP of the
    // update (and of the gradients with ZeRO-2).
    const double grads = config_.shard_stage() >= 2 ? shard : 1.0;
    p.optimizer = hw::optimizer_step_time(part, {m.total_params() * shard, m.total_params() * grads, grad_bytes_per_param_});
    // HBM on the timeline: the fit's activations (one micro-batch's) held layer by layer from each layer's forward
    // step to its backward step.
    const hw::MemoryFit fit = memory_fit(part, dp);
    double activations = 0;
    for (const auto& item : fit.items) {
      if (item.name == "activations") activations += item.bytes.bytes();
    }
    p.hbm_static = fit.total.bytes() - activations;
    p.hbm_layer = activations / std::max(1, m.num_layers);
    plans_[g.part] = std::move(p);
  }
}

void GptDataParallel::start(RunContext& ctx) {
  ctx_ = &ctx;
  plan(ctx);
  all_ranks_.clear();
  for (const auto& g : ctx.gpus) all_ranks_.push_back(g.rank);
  storage::CheckpointJob job;  // what each rank holds (the memory model), for in-run checkpoints
  for (uint32_t r : all_ranks_) job.endpoints.push_back(ctx.collectives.endpoint(r));
  job.parameters = config_.model.total_params();
  job.data_parallel = static_cast<int>(all_ranks_.size());
  for (const auto& item : memory_.items) {
    if (item.name == "weights") job.weights_per_rank = item.bytes;
    if (item.name == "optimizer states") job.optimizer_per_rank = item.bytes;
  }
  job.optimizer_sharded = config_.shard_stage() >= 1 && all_ranks_.size() > 1;
  job.weights_sharded = config_.shard_stage() >= 3 && all_ranks_.size() > 1;
  checkpoints_.setup(ctx, job);
  begin_iteration();
}

void GptDataParallel::begin_iteration() {
  iteration_start_ = ctx_->engine.now();
  checkpoints_.iteration_started();
  for (auto& b : buckets_) b = {b.params, false};
  grads_ready_.clear();
  backward_.clear();
  all_backward_done_ = false;
  comm_queue_.clear();
  next_comm_ = 0;
  ranks_done_ = 0;
  const uint32_t traced = ctx_->tracer.enabled() ? std::min<uint32_t>(ctx_->traced_ranks, all_ranks_.size()) : 0;
  hbm_.assign(traced, 0);
  for (uint32_t r = 0; r < traced; ++r) {
    hbm_[r] = plans_.at(ctx_->gpus[r].part).hbm_static;
    count_hbm(r, hbm_[r]);
  }
  for (uint32_t r : all_ranks_) run_step(r, 0);
}

void GptDataParallel::count_hbm(uint32_t rank, double bytes) const {
  const Gpu& g = ctx_->gpus[rank];
  ctx_->tracer.counter({"node" + std::to_string(g.node), "gpu" + std::to_string(g.local) + " HBM (GB)",
                        ctx_->engine.now(), bytes / 1e9});
}

void GptDataParallel::run_step(uint32_t rank, size_t i) {
  const Gpu& gpu = ctx_->gpus[rank];
  const Duration start = ctx_->engine.now();
  ctx_->engine.compute(gpu.host, plans_.at(gpu.part).step_time[i], [this, rank, i, start] {
    ++steps_done_;
    const Step& s = steps_[i];
    if (rank < ctx_->traced_ranks) {
      ctx_->tracer.span({.kind = SpanKind::kCompute, .rank = rank, .start = start, .end = ctx_->engine.now(),
                         .name = s.name});
    }
    if (s.activations != 0 && rank < hbm_.size()) {
      hbm_[rank] += s.activations * plans_.at(ctx_->gpus[rank].part).hbm_layer;
      count_hbm(rank, hbm_[rank]);
    }
    if (s.bucket_ready >= 0) {
      grads_ready_.arrive(s.bucket_ready, rank, {}, all_ranks_.size(),
                          [this, b = s.bucket_ready](const auto&) { bucket_ready(b); });
    }
    if (i + 1 < steps_.size()) {
      run_step(rank, i + 1);
    } else {
      backward_done(rank);
    }
  });
}

void GptDataParallel::trace_comm(const std::string& name, Duration start, Bytes size) const {
  const uint32_t traced = std::min<uint32_t>(ctx_->traced_ranks, static_cast<uint32_t>(all_ranks_.size()));
  for (uint32_t r = 0; r < traced; ++r) {
    ctx_->tracer.span({.kind = SpanKind::kComm, .rank = r, .start = start, .end = ctx_->engine.now(), .name = name,
                       .bytes = size.bytes(),
                       .args = {{"bytes", to_string(size)}, {"ranks", std::to_string(all_ranks_.size())}}});
  }
}

void GptDataParallel::bucket_ready(int bucket) {
  comm_queue_.push_back(bucket);
  pump_comm();
}

void GptDataParallel::pump_comm() {
  if (comm_busy_ || next_comm_ >= comm_queue_.size()) return;
  const int b = comm_queue_[next_comm_++];
  comm_busy_ = true;
  const Bytes size = Bytes::of(buckets_[b].params * grad_bytes_per_param_);
  const Duration start = ctx_->engine.now();
  const bool sharded = config_.shard_stage() >= 1;
  auto done = [this, b, size, start, sharded] {
    comm_busy_ = false;
    buckets_[b].reduced = true;
    comm_time_ += ctx_->engine.now() - start;
    trace_comm((sharded ? "reduce-scatter grads bucket " : "all-reduce grads bucket ") + std::to_string(b), start,
               size);
    pump_comm();
    try_optimizer();
  };
  if (sharded) {
    ctx_->collectives.reduce_scatter(all_ranks_, size, std::move(done));
  } else {
    ctx_->collectives.all_reduce(all_ranks_, size, std::move(done));
  }
}

void GptDataParallel::backward_done(uint32_t rank) {
  backward_.arrive(iteration_, rank, {}, all_ranks_.size(),
                   [this](const auto&) { all_backward_done_ = true; });
  try_optimizer();
}

void GptDataParallel::try_optimizer() {
  bool reduced = true;
  for (const auto& b : buckets_) reduced = reduced && b.reduced;
  // The last bucket closes with the last backward step, so every rank is waiting once all are reduced.
  LCSIM_ASSERT(!reduced || all_backward_done_ || backward_.arrived(iteration_) == 0,
               "gradients reduced before every rank finished backward");
  if (!all_backward_done_ || !reduced) return;
  all_backward_done_ = false;
  for (uint32_t r : all_ranks_) {
    const Gpu& gpu = ctx_->gpus[r];
    const Duration start = ctx_->engine.now();
    ctx_->engine.compute(gpu.host, plans_.at(gpu.part).optimizer, [this, r, start] {
      if (r < ctx_->traced_ranks) {
        ctx_->tracer.span({.kind = SpanKind::kCompute, .rank = r, .start = start, .end = ctx_->engine.now(),
                           .name = "optimizer step"});
      }
      optimizer_done(r);
    });
  }
}

void GptDataParallel::optimizer_done(uint32_t /*rank*/) {
  ++steps_done_;
  if (++ranks_done_ < all_ranks_.size()) return;
  if (config_.shard_stage() < 1) {
    gather_done();
    return;
  }
  // Sharded optimizer: every rank updated its shard; gather the updated low-precision weights.
  const Bytes size = Bytes::of(config_.model.total_params() * hw::dtype_bytes(dtype_ == hw::DType::kFp8 ? hw::DType::kBf16 : dtype_));
  const Duration start = ctx_->engine.now();
  ctx_->collectives.all_gather(all_ranks_, size, [this, size, start] {
    comm_time_ += ctx_->engine.now() - start;
    trace_comm("all-gather weights", start, size);
    gather_done();
  });
}

void GptDataParallel::gather_done() {
  const Duration now = ctx_->engine.now();
  iteration_times_.push_back(now - iteration_start_);
  checkpoints_.iteration_ended(now - iteration_start_);
  // Power: each GPU computed its part's steps and optimizer; the rest of the iteration it sat in the gradient (and
  // weight) collectives, waiting for them or for slower ranks inside them.
  for (uint32_t r : all_ranks_) {
    const PartPlan& p = plans_.at(ctx_->gpus[r].part);
    const Duration compute = p.compute + p.optimizer;
    ctx_->tracer.busy({.rank = r, .start = iteration_start_, .end = now, .compute = compute,
                       .comm = now - iteration_start_ - compute});
  }
  if (++iteration_ < config_.train_iters) {
    checkpoints_.after_iteration(iteration_, config_.train_iters, [this] { begin_iteration(); });
  } else {
    checkpoints_.at_end([this] { ctx_->finish(); });
  }
}

double GptDataParallel::progress() const {
  const double total = static_cast<double>(steps_.size() + 1) * all_ranks_.size() * config_.train_iters;
  return total > 0 ? std::min(1.0, static_cast<double>(steps_done_) / total) : 0.0;
}

void GptDataParallel::report(MetricSet& m) const {
  const auto& model = config_.model;
  const double n = static_cast<double>(all_ranks_.size());
  Duration sum;
  for (const auto& t : iteration_times_) sum += t;
  const double iters = static_cast<double>(iteration_times_.size());
  const double it = iters > 0 ? sum.s() / iters : 0.0;
  const double tokens = static_cast<double>(config_.global_batch_size) * model.seq_length;
  double peak_sum = 0;
  for (const auto& g : ctx_->gpus) peak_sum += g.part->peak(dtype_).flop_per_s();
  Duration compute, optimizer, host;  // of the slowest part (its host part with its compute)
  for (const auto& [part, p] : plans_) {
    if (p.compute > compute) compute = p.compute, host = p.host;
    optimizer = std::max(optimizer, p.optimizer);
  }
  m.set("num_gpus", n, "GPUs in the run");
  m.set("parameters", model.total_params(), "model parameters");
  m.set("iterations", iters, "training iterations simulated");
  m.set("iteration_time_s", it, "mean duration of one training iteration (simulated time)");
  m.set("tokens_per_iteration", tokens, "global_batch_size x seq_length");
  m.set("tokens_per_s", it > 0 ? tokens / it : 0.0, "training throughput");
  m.set("model_flops_per_iteration", model_flops_.flop(),
        "model FLOPs per iteration, all GPUs (Megatron accounting: 3 x forward)");
  const double achieved = it > 0 ? model_flops_.flop() / it : 0.0;
  m.set("tflops_per_gpu", achieved / n / 1e12, "achieved model TFLOP/s per GPU");
  m.set("mfu", achieved / peak_sum, "model FLOPs utilization: achieved / dense peak of the precision, all GPUs");
  m.set("compute_time_s", compute.s(), "forward and backward kernel time per GPU per iteration (slowest part)");
  m.set("time_host_s", host.s(),
        "of compute_time_s, the time the GPU waits for the host to issue kernels (host_op_time per kernel beyond the "
        "kernels' own time, per layer's forward or backward)");
  m.set("optimizer_time_s", optimizer.s(), "optimizer step time per GPU per iteration (slowest part)");
  m.set("grad_allreduce_time_s", iters > 0 ? comm_time_.s() / iters : 0.0,
        "gradient (and sharded-weight) collective time per iteration, summed, overlapped or not");
  m.set("exposed_comm_time_s", std::max(0.0, it - compute.s() - optimizer.s()),
        "iteration time not covered by compute or the optimizer");
  m.set("grad_buckets", static_cast<double>(buckets_.size()), "gradient buckets per iteration");
  m.set("grad_bytes_per_gpu", model.total_params() * grad_bytes_per_param_, "gradient bytes reduced per GPU");
  m.set("memory_per_gpu_bytes", memory_.total.bytes(), "memory needed per GPU (part with the least headroom)");
  m.set("memory_capacity_bytes", memory_.capacity.bytes(), "memory of that part");
  checkpoints_.report(m);
  for (const auto& item : memory_.items) {
    std::string key = item.name;
    std::replace(key.begin(), key.end(), ' ', '_');
    m.set("memory_" + key + "_bytes", item.bytes.bytes(), "per-GPU memory: " + item.name);
  }
}

}  // namespace lcsim::wl
