#include "models/hardware/memory.h"

#include <algorithm>
#include <cstdio>

namespace lcsim::hw {

std::string gb(Bytes b, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f GB", decimals, b.bytes() / 1e9);
  return buf;
}

std::pair<double, double> held_parameters(const TrainingMemoryInput& in, int stage) {
  if (in.zero_stage < stage) return {in.parameters, in.expert_parameters};
  return {in.parameters / std::max(1, in.data_parallel), in.expert_parameters / std::max(1, in.expert_data_parallel)};
}

MemoryFit training_memory(const TrainingMemoryInput& in, Bytes capacity) {
  auto held = [&](int stage) {
    const auto [dense, expert] = held_parameters(in, stage);
    return dense + expert;
  };
  MemoryFit fit;
  fit.capacity = capacity;
  fit.items.push_back({"weights", Bytes::of(held(3) * in.weight_bytes)});
  fit.items.push_back({"gradients", Bytes::of(held(2) * in.grad_bytes)});
  double states = held(1);
  if (in.optimizer_data_parallel > 0 && in.zero_stage >= 1) {
    states = in.parameters / in.optimizer_data_parallel + in.expert_parameters / std::max(1, in.expert_data_parallel);
  }
  fit.items.push_back({"optimizer states", Bytes::of(states * in.optimizer_bytes)});

  // Activations of one layer for one micro-batch (16-bit), Korthikanti et al. Table 2, generalised to any FFN
  // width: attention block 11sbh (+5as^2b for the score matrix without flash attention), MLP 3sbh + 4sbf
  // (gated MLPs keep one more f-wide tensor: 3sbh + 6sbf), two layer norms 4sbh. With f = 4h: 34sbh + 5as^2b.
  const double s = in.seq, b = in.micro_batch, h = in.hidden, f = in.ffn, a = in.heads;
  const double t = std::max(1, in.tensor_parallel);
  const bool scores = !in.flash_attention && in.recompute == "none";
  // Without sequence parallelism, layer norms and dropouts (10sbh) are replicated over the TP group.
  const bool by_tensor = in.layer_split >= 0;
  const double replicated = by_tensor ? s * b * in.layer_whole : 10 * s * b * h;
  const double split = (by_tensor ? s * b * in.layer_split : 8 * s * b * h + (in.swiglu ? 6 : 4) * s * b * f) +
                       (scores ? 5 * a * s * s * b : 0.0);
  const double per_layer = split / t + (in.sequence_parallel ? replicated / t : replicated);
  double act = per_layer * in.layers * in.in_flight;
  if (in.recompute == "op") {
    // Every layer keeps what the op-level policy saves; the layer being back-propagated has the rest recomputed.
    const double saved = op_sac_saved_bytes(in);
    act = saved * in.layers * in.in_flight + std::max(0.0, per_layer - saved);
  }
  if (in.recompute == "full") {
    // Recomputed layers keep their inputs only (one per checkpoint); the rest keep everything; one group of
    // recomputed layers has its activations back at a time.
    const double recomputed = in.recomputed_layers < 0 ? in.layers : std::min<double>(in.layers, in.recomputed_layers);
    const double checkpoints = in.checkpoints < 0 ? recomputed : in.checkpoints;
    const double input = 2 * s * b * h / (in.sequence_parallel || in.distribute_saved_inputs ? t : 1.0);
    act = (input * checkpoints + per_layer * (in.layers - recomputed)) * in.in_flight;
    if (recomputed > 0) act += std::max(1, in.recompute_group) * (split / t + replicated);
  }
  fit.items.push_back({"activations", Bytes::of(act)});
  if (in.holds_output_layer) {
    // bf16 logits plus their fp32 copy for the softmax cross-entropy (Megatron; logit_bytes says what another
    // loss keeps per logit), split over TP (vocab-parallel), for the main output layer and each
    // multi-token-prediction module's.
    fit.items.push_back({"logits and loss", Bytes::of(in.logit_bytes * s * b * in.vocab / t * in.output_heads)});
  }
  fit.items.push_back({"communication buffers", in.bucket});
  if (in.cp_buffers > Bytes()) fit.items.push_back({"context-parallel K/V buffers", in.cp_buffers});
  if (in.moe_gather_buffer > Bytes()) fit.items.push_back({"MoE all-gather buffer", in.moe_gather_buffer});
  if (in.deferred_wgrad_buffers > Bytes()) {
    fit.items.push_back({"deferred output-layer wgrad buffers", in.deferred_wgrad_buffers});
  }
  if (in.receive_buffers > Bytes()) {
    // Alive from each bucket's all-to-all to the step, beside at most receive_beside of the activations.
    const double above = in.receive_buffers.value() - act * (1 - in.receive_beside);
    if (above > 0) fit.items.push_back({"gradient all-to-all buffers", Bytes::of(above)});
  }
  fit.items.push_back({"runtime reserve", in.runtime_reserve});
  std::stable_sort(fit.items.begin(), fit.items.end(),
                   [](const MemoryItem& x, const MemoryItem& y) { return x.bytes > y.bytes; });
  for (const auto& i : fit.items) fit.total += i.bytes;
  return fit;
}

double op_sac_saved_bytes(const TrainingMemoryInput& in) {
  const double s = in.seq, b = in.micro_batch, h = in.hidden, f = in.ffn, a = in.heads;
  const double kv = in.kv_heads > 0 ? in.kv_heads : a;
  const double t = std::max(1, in.tensor_parallel);
  const bool sp = in.sequence_parallel && t > 1;
  // Output widths of the layer's matrix multiplies in the order they run (torchtitan's Llama: Attention.forward
  // calls wq, wk, wv, then wo; FeedForward.forward w2(silu(w1(x)) * w3(x))). Column-parallel outputs are split
  // over TP; the row-parallel ones (wo, w2) are whole partial sums before their reduction.
  std::vector<double> mm = {h / t, h * kv / a / t, h * kv / a / t, h};
  if (in.swiglu) {
    mm.insert(mm.end(), {f / t, f / t, h});
  } else {
    mm.insert(mm.end(), {f / t, h});
  }
  double kept = 0;
  for (size_t i = 0; i < mm.size(); i += 2) kept += mm[i];  // the 1st, 3rd, ... (1-based odd counts)
  kept += h / t;                                            // the attention kernel's output
  kept += sp ? 2 * h / t : 0.0;                             // reduce_scatter_tensor outputs (sequence parallel)
  kept += sp ? h / t : h;                                   // the checkpointed layer's input
  return 2 * s * b * kept + 4 * b * (a / t) * s;            // 16-bit tensors; the fp32 log-sum-exp
}

Bytes kv_cache_bytes(double layers, double tokens, double kv_heads, double head_dim, double elem_bytes) {
  return Bytes::of(2 * layers * tokens * kv_heads * head_dim * elem_bytes);
}

std::string out_of_memory_message(const std::string& part, const MemoryFit& fit,
                                  const std::vector<std::pair<std::string, MemoryFit>>& alternatives) {
  // A need just above the capacity would read "needs 85.5 GB, has 85.5 GB" at one decimal: both get the decimals
  // that tell them apart (at most three: "needs 85.53 GB, has 85.50 GB").
  std::string need = gb(fit.total), have = gb(fit.capacity);
  for (int decimals = 2; need == have && decimals <= 3; ++decimals) {
    need = gb(fit.total, decimals), have = gb(fit.capacity, decimals);
  }
  std::string msg = "does not fit in memory: needs " + need + " per GPU, " + part + " has " + have + "; largest: ";
  for (size_t i = 0; i < std::min<size_t>(3, fit.items.size()); ++i) {
    msg += (i ? ", " : "") + fit.items[i].name + " " + gb(fit.items[i].bytes);
  }
  std::string fitting;
  for (const auto& [label, alt] : alternatives) {
    if (alt.fits()) fitting += (fitting.empty() ? "" : "; or ") + label + " (" + gb(alt.total) + ")";
  }
  msg += fitting.empty() ? "; nothing tried fits: use more GPUs per model replica (tensor or pipeline "
                           "parallelism) or a part with more memory"
                         : "; would fit with: " + fitting;
  return msg;
}

}  // namespace lcsim::hw
