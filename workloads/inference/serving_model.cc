#include "workloads/inference/serving_model.h"

#include <algorithm>
#include <cmath>

#include "models/hardware/op_cost.h"
#include "workloads/training/gpt_model.h"

namespace lcsim::inf {

void ModelShape::visit(Section& s) {
  s.field("num_layers", num_layers, "transformer layers (num_hidden_layers)", Range::at_least(1));
  s.field("hidden_size", hidden_size, "model width (hidden_size)", Range::at_least(1));
  s.field("num_attention_heads", num_attention_heads, "query heads (num_attention_heads)", Range::at_least(1));
  s.field("num_kv_heads", num_kv_heads, "key/value heads (num_key_value_heads; GQA)", Range::at_least(1));
  s.field("ffn_hidden_size", ffn_hidden_size, "gated MLP width per expert (intermediate_size)", Range::at_least(1));
  s.field("vocab_size", vocab_size, "vocabulary (LM head rows)", Range::at_least(1));
  s.field("num_experts", num_experts, "MoE routed experts per layer; 0 = dense", Range::at_least(0));
  s.field("experts_per_token", experts_per_token, "MoE experts each token is routed to", Range::at_least(1));
  if (s.mode() != Section::Mode::kParse) return;
  if (hidden_size % num_attention_heads != 0) s.error("num_attention_heads", "must divide hidden_size");
  if (num_attention_heads % num_kv_heads != 0) s.error("num_kv_heads", "must divide num_attention_heads");
  if (num_experts > 0 && experts_per_token > num_experts) s.error("experts_per_token", "must be at most num_experts");
}

namespace {
double attention_params(const ModelShape& m) {
  const double h = m.hidden_size, kv = m.num_kv_heads * m.head_dim();
  return h * h * 2 + 2 * h * kv;  // Q and O: h x h; K and V: h x kv
}
double mlp_params(const ModelShape& m) { return 3.0 * m.hidden_size * m.ffn_hidden_size; }  // gate, up, down
}  // namespace

double ModelShape::params_per_layer() const {
  return attention_params(*this) + mlp_params(*this) * std::max(1, num_experts);
}
double ModelShape::active_params_per_layer() const {
  return attention_params(*this) + mlp_params(*this) * (num_experts > 0 ? experts_per_token : 1);
}
double ModelShape::total_params() const {
  return params_per_layer() * num_layers + 2.0 * vocab_size * hidden_size;
}

void ServingConfig::visit(Section& s) {
  s.field("tensor_parallel", tensor_parallel, "GPUs one layer is split over (inside a node)", Range::at_least(1));
  s.field("pipeline_parallel", pipeline_parallel, "stages the layers are split over", Range::at_least(1));
  s.choice("weight_dtype", weight_dtype, quant_dtype_names(), "stored weight type (fp8/int8: W8A8; int4: W4A16)");
  s.choice("kv_dtype", kv_dtype, quant_dtype_names(), "KV-cache element type");
  s.field("block_size", block_size, "tokens per KV-cache block (paged attention)", Range::at_least(1));
  s.field("gpu_memory_utilization", gpu_memory_utilization, "share of HBM for weights and KV cache",
          Range::fraction());
  s.field("max_num_seqs", max_num_seqs, "sequences in one batch at most", Range::at_least(1));
  s.field("max_num_batched_tokens", max_num_batched_tokens, "tokens computed in one iteration at most",
          Range::at_least(1));
  s.field("chunked_prefill", chunked_prefill,
          "split long prompts over iterations (else a prompt runs whole, and one longer than "
          "max_num_batched_tokens is rejected)");
  s.choice("preemption", preemption, {"recompute", "swap"},
           "when the KV cache runs out: recompute the newest sequence later, or swap its blocks to host memory "
           "over the GPU's PCIe path and back");
  s.field("swap_space", swap_space, "swap: host memory per GPU for swapped-out KV blocks (full: recompute)",
          Range::at_least(0));
  s.field("expert_parallel", expert_parallel,
          "MoE: spread whole experts over the tensor-parallel group (E / TP per GPU) with an all-to-all dispatch "
          "and combine per layer, instead of splitting every expert TP ways (vLLM's enable_expert_parallel)");
  s.field("expert_load_imbalance", expert_load_imbalance,
          "expert_parallel: token-expert rows of the busiest GPU over the mean (1 = perfectly balanced, as after "
          "expert load balancing)",
          Range::at_least(1));
  wl::attention_backend_key(s, attention_backend);
}

const std::vector<std::string>& quant_dtype_names() {
  static const std::vector<std::string> names = {"bf16", "fp8", "int8", "int4"};
  return names;
}

double quant_bytes(const std::string& dtype) {
  if (dtype == "bf16") return 2;
  if (dtype == "fp8" || dtype == "int8") return 1;
  LCSIM_ASSERT(dtype == "int4", "unknown dtype " + dtype);
  return 0.5;
}

InstanceCost::InstanceCost(const hw::AcceleratorSpec& part, const ModelShape& model, const ServingConfig& serving)
    : part_(&part), attention_part_(hw::with_attention_backend(part, serving.attention_backend)), model_(model),
      serving_(serving) {}

double InstanceCost::weight_bytes_per_gpu() const {
  return model_.total_params() * quant_bytes(serving_.weight_dtype) /
         (serving_.tensor_parallel * serving_.pipeline_parallel);
}

double InstanceCost::kv_bytes_per_token_per_gpu() const {
  const double per_layer = 2.0 * model_.num_kv_heads * model_.head_dim() * quant_bytes(serving_.kv_dtype);
  return per_layer * model_.num_layers / (serving_.tensor_parallel * serving_.pipeline_parallel);
}

int64_t InstanceCost::kv_blocks() const {
  const double free = part_->hbm_capacity.bytes() * serving_.gpu_memory_utilization - weight_bytes_per_gpu();
  if (free <= 0) return 0;
  return static_cast<int64_t>(std::floor(free / (kv_bytes_per_token_per_gpu() * serving_.block_size)));
}

FlopRate InstanceCost::gemm_peak() const {
  const auto& w = serving_.weight_dtype;
  if (w == "fp8" && part_->supports(hw::DType::kFp8)) return part_->peak(hw::DType::kFp8);
  if (w == "int8" && part_->supports(hw::DType::kInt8)) return part_->peak(hw::DType::kInt8);
  return part_->peak(hw::DType::kBf16);
}

IterationWork InstanceCost::work(const std::vector<BatchEntry>& batch, double layers, bool lm_head) const {
  IterationWork w;
  w.layers = layers;
  const double tp = serving_.tensor_parallel;
  const double h = model_.hidden_size, d = model_.head_dim();
  const double kv_token_layer = 2.0 * model_.num_kv_heads / tp * d * quant_bytes(serving_.kv_dtype);
  const double attn_flops_per_pair = 4 * (model_.num_attention_heads / tp) * d * layers;
  const double attn_peak = part_->peak(hw::DType::kBf16).flop_per_s();
  double attn = 0, kv_tokens = 0, emitting = 0;
  for (const auto& e : batch) {
    const double q = e.new_tokens, c = e.context;
    w.tokens += e.new_tokens;
    const double pairs = q * c + q * (q + 1) / 2;
    attn += pairs;
    // A prefill chunk runs flash attention over its c + q keys: the part's curve at that length, as in training
    // (op_cost.h). A decode step (one new token after a cached context, or a speculative verification) is a
    // different, memory-bound kernel: its few FLOPs keep the flat attention_efficiency.
    const bool decode = e.drafts > 0 || (e.new_tokens == 1 && e.context > 0);
    const hw::AttentionShape shape{.q_len = q, .kv_len = c + q};
    const double eff = decode ? attention_part_.calibration.attention_efficiency
                              : hw::attention_efficiency(attention_part_, shape);
    w.attention_seconds += attn_flops_per_pair * pairs / (attn_peak * eff);
    kv_tokens += c + q;
    emitting += e.emits ? 1 : 0;
  }
  const double t = static_cast<double>(w.tokens);
  const double wb = quant_bytes(serving_.weight_dtype);
  const bool head = lm_head && emitting > 0;
  w.linear_flops = 2 * t * model_.active_params_per_layer() * layers / tp +
                   (head ? 2 * emitting * h * model_.vocab_size / tp : 0.0);
  w.attention_flops = attn_flops_per_pair * attn;
  // Weights read once per iteration; an MoE layer reads only the experts its tokens reach (at most all of them).
  double layer_params = model_.params_per_layer();
  if (model_.num_experts > 0) {
    const double experts_read = std::min<double>(model_.num_experts, t * model_.experts_per_token);
    layer_params = model_.active_params_per_layer() + 3.0 * h * model_.ffn_hidden_size *
                                                          (experts_read - model_.experts_per_token);
    layer_params = std::max(layer_params, model_.active_params_per_layer());
  }
  w.bytes = (layer_params * layers + (head ? h * model_.vocab_size : 0.0)) * wb / tp +
            kv_tokens * kv_token_layer * layers;
  w.expert_rows = t * (model_.num_experts > 0 ? model_.experts_per_token : 1) / tp;
  if (expert_parallel()) {
    // Attention (and the LM head) TP-sharded as above; the experts on the busiest GPU (moe.cc).
    const double attn_params =
        model_.active_params_per_layer() - model_.experts_per_token * 3.0 * h * model_.ffn_hidden_size;
    w.linear_flops = 2 * t * attn_params * layers / tp + (head ? 2 * emitting * h * model_.vocab_size / tp : 0.0);
    w.bytes = (attn_params * layers + (head ? h * model_.vocab_size : 0.0)) * wb / tp +
              kv_tokens * kv_token_layer * layers;
    add_experts(w, t, layers);
  }
  w.allreduce_bytes = serving_.tensor_parallel > 1 ? t * h * 2 : 0;
  if (calibrated_kernels()) {
    // Per token per layer, 2-byte activations (the bytes bench/fit_layer_ops.py fitted the efficiencies on):
    // each RMSNorm reads and writes h; SwiGLU reads 2f and writes f per expert row on the GPU (TP-sharded: t / TP
    // rows of f, or t x k / TP for MoE); rotary reads and writes the TP rank's query and key heads; the residual
    // add reads 2h and writes h.
    w.norm_bytes = t * layers * 2 * (2 * h * 2);
    const double f = model_.ffn_hidden_size * (model_.num_experts > 0 ? model_.experts_per_token : 1);
    w.activation_bytes = expert_parallel() ? w.expert_rows * layers * 3 * model_.ffn_hidden_size * 2
                                           : t * layers * 3 * f / tp * 2;
    w.rope_bytes = t * layers * 2 * (model_.num_attention_heads + model_.num_kv_heads) / tp * d * 2;
    w.residual_bytes = t * layers * 3 * h * 2;
  }
  return w;
}

bool InstanceCost::calibrated_kernels() const {
  const auto& c = part_->calibration;
  return c.norm_efficiency > 0 && c.activation_efficiency > 0 && c.rope_efficiency > 0;
}

namespace {
// Kernels of one layer when the kernels between the GEMMs are costed: QKV, O, up (gate + up), down; two norms,
// rotary, activation, residual add; attention.
constexpr double kKernelsPerLayer = 10;
}  // namespace

double InstanceCost::layer_seconds_without_attention(uint64_t tokens) const {
  ModelShape one = model_;
  one.num_layers = 1;
  const InstanceCost c(*part_, one, serving_);
  IterationWork w = c.work(std::vector<BatchEntry>(tokens, BatchEntry{1, 0, false}));
  w.attention_flops = 0;
  w.attention_seconds = 0;
  w.allreduce_bytes = 0;  // the profile is one GPU's kernels: no all-reduce
  w.bytes -= static_cast<double>(tokens) * c.kv_bytes_per_token_per_gpu();  // no KV traffic either
  // The attention kernel's launch is not in the profile.
  return c.iteration_seconds(w) - (calibrated_kernels() ? part_->calibration.kernel_launch.s() : 0.0);
}

double InstanceCost::iteration_seconds(const IterationWork& w) const {
  if (w.tokens == 0) return 0;
  const auto& cal = part_->calibration;
  const double layers = w.layers > 0 ? w.layers : model_.num_layers;
  const double compute = w.linear_flops / (gemm_peak().flop_per_s() * cal.gemm_efficiency) + w.attention_seconds;
  const double memory = w.bytes / (part_->hbm_bandwidth.bps() * cal.memory_efficiency);
  double t = std::max(compute, memory);
  const double tp = serving_.tensor_parallel;
  if (tp > 1) {
    // Per layer two all-reduces (after attention and after the MLP), each at the collective model's estimate for
    // the part (tp_collective.cc: latency and bandwidth); with expert parallelism attention's as a reduce-scatter
    // before the dispatch and an all-gather after the combine, and the two all-to-alls.
    using policy::CollectiveOp;
    if (expert_parallel()) {
      t += layers * (tp_collective_seconds(CollectiveOp::kReduceScatter, w.allreduce_bytes) +
                     tp_collective_seconds(CollectiveOp::kAllGather, w.allreduce_bytes) +
                     2 * alltoall_seconds(w.alltoall_bytes));
    } else {
      t += 2.0 * layers * tp_collective_seconds(CollectiveOp::kAllReduce, w.allreduce_bytes);
    }
  }
  if (!calibrated_kernels()) return t + layers * cal.kernel_launch.s();
  const double hbm = part_->hbm_bandwidth.bps();
  t += w.norm_bytes / (hbm * cal.norm_efficiency) + w.activation_bytes / (hbm * cal.activation_efficiency) +
       w.rope_bytes / (hbm * cal.rope_efficiency) + w.residual_bytes / (hbm * cal.memory_efficiency);
  return t + layers * kKernelsPerLayer * cal.kernel_launch.s();
}

}  // namespace lcsim::inf
