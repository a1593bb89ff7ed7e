#include "workloads/training/data_parallel.h"

#include <algorithm>
#include <cstdio>

namespace lcsim::wl {

void DataParallelConfig::visit(Section& s) {
  s.section("model", "model architecture (Megatron-LM argument names)", [this](Section& m) { model.visit(m); });
  s.field("global_batch_size", global_batch_size, "sequences per iteration, all GPUs together", Range::at_least(1));
  s.field("micro_batch_size", micro_batch_size, "sequences per GPU per forward/backward pass", Range::at_least(1));
  s.choice("precision", precision, {"bf16", "fp16", "fp8"}, "data type of the matrix multiplies");
  s.field("overlap_grad_reduce", overlap_grad_reduce,
          "all-reduce gradient buckets during backward instead of after it");
  s.field("ddp_bucket_size", ddp_bucket_size,
          "parameters per gradient bucket; 0 = Megatron's default max(40M, 1M x data-parallel size)",
          Range::at_least(0));
  s.field("accumulate_allreduce_grads_in_fp32", accumulate_allreduce_grads_in_fp32,
          "gradients reduced in fp32 (Megatron forces this on with bf16)");
  s.field("train_iters", train_iters, "iterations to simulate", Range::at_least(1));
}

void GptDataParallel::validate(const hw::AcceleratorSpec& part, uint32_t num_gpus, Section& s) {
  if (!part.dense_peak.count(hw::parse_dtype(config_.precision))) {
    s.error("precision", part.name + " has no " + config_.precision + " tensor cores");
  }
  const int dp = static_cast<int>(num_gpus);
  const int per_step = config_.micro_batch_size * dp;
  if (config_.global_batch_size % per_step != 0) {
    s.error("global_batch_size", "must be a multiple of micro_batch_size x data-parallel size (" +
                                     std::to_string(config_.micro_batch_size) + " x " + std::to_string(dp) + " = " +
                                     std::to_string(per_step) + "), got " +
                                     std::to_string(config_.global_batch_size));
  }
}

std::string GptDataParallel::describe() const {
  const auto& m = config_.model;
  char buf[256];
  std::snprintf(buf, sizeof buf, "GPT %.3gB params (%d layers, h=%d, seq %d), data parallel, global batch %d, micro %d, %s",
                m.total_params() / 1e9, m.num_layers, m.hidden_size, m.seq_length, config_.global_batch_size,
                config_.micro_batch_size, config_.precision.c_str());
  return buf;
}

void GptDataParallel::plan(const RunContext& ctx) {
  const auto& m = config_.model;
  const auto& part = *ctx.gpus.front().part;
  dtype_ = hw::parse_dtype(config_.precision);
  const double e = hw::dtype_bytes(dtype_) < 2 ? 2 : hw::dtype_bytes(dtype_);  // fp8 GEMMs keep bf16 activations
  const int b = config_.micro_batch_size;
  const int dp = static_cast<int>(ctx.gpus.size());
  const int micro_batches = config_.global_batch_size / (b * dp);
  grad_bytes_per_param_ = config_.accumulate_allreduce_grads_in_fp32 ? 4 : 2;

  const auto layer_f = layer_forward_ops(m, b, e), layer_b = backward_of(layer_f);
  const auto emb_f = embedding_forward_ops(m, b, e), emb_b = backward_of(emb_f);
  const auto head_f = head_forward_ops(m, b, e), head_b = backward_of(head_f);
  const auto& eff = ctx.efficiency;
  const Duration t_layer_f = total_time(layer_f, part, eff, dtype_), t_layer_b = total_time(layer_b, part, eff, dtype_);
  const Duration t_emb_f = total_time(emb_f, part, eff, dtype_), t_emb_b = total_time(emb_b, part, eff, dtype_);
  const Duration t_head_f = total_time(head_f, part, eff, dtype_), t_head_b = total_time(head_b, part, eff, dtype_);

  const Flops fwd = total_flops(layer_f) * m.num_layers + total_flops(head_f) + total_flops(emb_f);
  model_flops_ = fwd * 3.0 * static_cast<double>(micro_batches) * dp;

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
      buckets_.push_back({filling, 0, false});
      ready_after_layer[where] = static_cast<int>(buckets_.size() - 1);
      filling = 0;
    }
  };
  for (int l = m.num_layers; l >= 1; --l) add_params(m.layer_params(), l, false);
  add_params(m.embedding_params(), 0, true);

  steps_.clear();
  compute_time_ = Duration();
  for (int mb = 0; mb < micro_batches; ++mb) {
    const bool last = mb == micro_batches - 1;
    const std::string tag = micro_batches > 1 ? " mb" + std::to_string(mb) : "";
    steps_.push_back({"fwd embedding" + tag, t_emb_f});
    for (int l = 1; l <= m.num_layers; ++l) steps_.push_back({"fwd layer " + std::to_string(l) + tag, t_layer_f});
    steps_.push_back({"fwd+bwd output/loss" + tag, t_head_f + t_head_b});
    for (int l = m.num_layers; l >= 1; --l) {
      steps_.push_back({"bwd layer " + std::to_string(l) + tag, t_layer_b, last ? ready_after_layer[l] : -1});
    }
    steps_.push_back({"bwd embedding" + tag, t_emb_b, last ? ready_after_layer[0] : -1});
  }
  for (const auto& s : steps_) compute_time_ += s.duration;
  // Mixed-precision Adam per parameter: read fp32 grad, master, m, v (16 B); write master, m, v (12 B) and the
  // low-precision weight copy (2 B). Memory bound; a handful of multi-tensor kernels.
  const Bytes opt_bytes = Bytes::of(30.0 * m.total_params());
  optimizer_time_ = opt_bytes / (part.hbm_bandwidth * eff.memory) + eff.kernel_launch * 4.0;
}

void GptDataParallel::start(RunContext& ctx) {
  ctx_ = &ctx;
  plan(ctx);
  all_ranks_.clear();
  for (const auto& g : ctx.gpus) all_ranks_.push_back(g.rank);
  begin_iteration();
}

void GptDataParallel::begin_iteration() {
  iteration_start_ = ctx_->engine.now();
  for (auto& b : buckets_) b = {b.params, 0, false};
  comm_queue_.clear();
  next_comm_ = 0;
  ranks_waiting_ = 0;
  ranks_done_ = 0;
  for (uint32_t r : all_ranks_) run_step(r, 0);
}

void GptDataParallel::run_step(uint32_t rank, size_t i) {
  const Gpu& gpu = ctx_->gpus[rank];
  const Step& step = steps_[i];
  const Duration start = ctx_->engine.now();
  ctx_->engine.compute(gpu.host, step.duration, [this, rank, i, start] {
    ++steps_done_;
    const Step& s = steps_[i];
    if (rank < ctx_->traced_ranks) {
      const Gpu& g = ctx_->gpus[rank];
      ctx_->tracer.span({"node" + std::to_string(g.node), "gpu" + std::to_string(g.local) + " compute", s.name,
                         "compute", start, ctx_->engine.now(), {}});
    }
    if (s.bucket_ready >= 0 && ++buckets_[s.bucket_ready].ready_ranks == all_ranks_.size()) {
      bucket_ready(s.bucket_ready);
    }
    if (i + 1 < steps_.size()) {
      run_step(rank, i + 1);
    } else {
      backward_done(rank);
    }
  });
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
  ctx_->collectives.all_reduce(all_ranks_, size, [this, b, size, start] {
    comm_busy_ = false;
    buckets_[b].reduced = true;
    comm_time_ += ctx_->engine.now() - start;
    const uint32_t traced = std::min<uint32_t>(ctx_->traced_ranks, static_cast<uint32_t>(all_ranks_.size()));
    for (uint32_t r = 0; r < traced; ++r) {
      const Gpu& g = ctx_->gpus[r];
      ctx_->tracer.span({"node" + std::to_string(g.node), "gpu" + std::to_string(g.local) + " comm",
                         "all-reduce grads bucket " + std::to_string(b), "comm", start, ctx_->engine.now(),
                         {{"bytes", to_string(size)}, {"ranks", std::to_string(all_ranks_.size())}}});
    }
    pump_comm();
    try_optimizer();
  });
}

void GptDataParallel::backward_done(uint32_t /*rank*/) {
  ++ranks_waiting_;
  try_optimizer();
}

void GptDataParallel::try_optimizer() {
  if (ranks_waiting_ == 0) return;
  for (const auto& b : buckets_) {
    if (!b.reduced) return;
  }
  const uint32_t waiting = ranks_waiting_;
  ranks_waiting_ = 0;
  // Ranks are identical by construction: all wait, all start the optimizer now.
  LCSIM_ASSERT(waiting == all_ranks_.size(), "ranks finished backward at different times");
  for (uint32_t r : all_ranks_) {
    const Gpu& gpu = ctx_->gpus[r];
    const Duration start = ctx_->engine.now();
    ctx_->engine.compute(gpu.host, optimizer_time_, [this, r, start] {
      if (r < ctx_->traced_ranks) {
        const Gpu& g = ctx_->gpus[r];
        ctx_->tracer.span({"node" + std::to_string(g.node), "gpu" + std::to_string(g.local) + " compute",
                           "optimizer step", "compute", start, ctx_->engine.now(), {}});
      }
      optimizer_done(r);
    });
  }
}

void GptDataParallel::optimizer_done(uint32_t /*rank*/) {
  ++steps_done_;
  if (++ranks_done_ < all_ranks_.size()) return;
  iteration_times_.push_back(ctx_->engine.now() - iteration_start_);
  if (++iteration_ < config_.train_iters) begin_iteration();
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
  const double peak = ctx_->gpus.front().part->peak(dtype_).flop_per_s();
  m.set("num_gpus", n, "GPUs in the run");
  m.set("parameters", model.total_params(), "model parameters");
  m.set("iterations", iters, "training iterations simulated");
  m.set("iteration_time_s", it, "mean duration of one training iteration (simulated time)");
  m.set("tokens_per_iteration", tokens, "global_batch_size x seq_length");
  m.set("tokens_per_s", it > 0 ? tokens / it : 0.0, "training throughput");
  m.set("model_flops_per_iteration", model_flops_.flop(),
        "model FLOPs per iteration, all GPUs (Megatron accounting: 3 x forward)");
  const double tflops = it > 0 ? model_flops_.flop() / it / n / 1e12 : 0.0;
  m.set("tflops_per_gpu", tflops, "achieved model TFLOP/s per GPU");
  m.set("mfu", tflops * 1e12 / peak, "model FLOPs utilization: achieved / dense peak of the precision");
  m.set("compute_time_s", compute_time_.s(), "forward and backward kernel time per GPU per iteration");
  m.set("optimizer_time_s", optimizer_time_.s(), "optimizer step time per GPU per iteration");
  m.set("grad_allreduce_time_s", iters > 0 ? comm_time_.s() / iters : 0.0,
        "gradient all-reduce time per iteration (sum over buckets, overlapped or not)");
  m.set("exposed_comm_time_s", std::max(0.0, it - compute_time_.s() - optimizer_time_.s()),
        "iteration time not covered by compute or the optimizer");
  m.set("grad_buckets", static_cast<double>(buckets_.size()), "gradient all-reduce buckets per iteration");
  m.set("grad_bytes_per_gpu", model.total_params() * grad_bytes_per_param_, "gradient bytes all-reduced per GPU");
}

void register_workloads(Registry<WorkloadFactory>& r) {
  r.add("gpt_data_parallel", "GPT-style transformer, pure data parallel, bucketed gradient all-reduce",
        []() -> std::unique_ptr<Workload> { return std::make_unique<GptDataParallel>(); });
}

}  // namespace lcsim::wl
