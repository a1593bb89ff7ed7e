// MegatronTraining's per-GPU timeline counters (outputs.timeline_counters), for the traced ranks only, each sampled
// when it changes: HBM in use and queued inputs. They go in the GPU's node group ("node1", "gpu3 HBM (GB)"), under
// its lanes.
//
// HBM in use: the stage's memory fit (memory.h) without its activations (weights, gradients, optimizer states,
// logits, communication buffers, the runtime reserve) from the iteration's start, plus one micro-batch's
// activations of a model chunk (the fit's activations / micro-batches in flight / chunks) from the end of that
// chunk's forward pass to the end of its backward pass. A step at the pass's end: the activations grow during the
// forward pass and are freed during the backward pass, so the counter is the memory held between passes. Its peak
// is the fit's total (without full recompute's one recomputed group, which the fit adds on top).
// Queued inputs: activations (forward) and gradients (backward) that arrived from the neighbouring stage before the
// schedule reached the pass that uses them.
#include <algorithm>
#include <string>

#include "workloads/training/megatron_runtime.h"

namespace lcsim::wl {

void MegatronTraining::counter(uint32_t sim, const char* what, double value) const {
  const Gpu& g = ctx_->gpus[states_[sim]->rank];
  ctx_->tracer.counter({"node" + std::to_string(g.node), "gpu" + std::to_string(g.local) + " " + what,
                        ctx_->engine.now(), value});
}

void MegatronTraining::counters_begin(uint32_t sim) {
  RankState& st = *states_[sim];
  const size_t slots = static_cast<size_t>(micro_batches_ * chunks_);
  for (auto& w : st.waiting_input) w.assign(slots, 0);
  st.queued = 0;
  if (!traced(sim)) return;
  double activations = 0;
  for (const auto& item : st.plan->memory.items) {
    if (item.name == "activations") activations += item.bytes.bytes();
  }
  st.hbm = st.plan->memory.total.bytes() - activations;
  counter(sim, "HBM (GB)", st.hbm / 1e9);
  counter(sim, "queued inputs", 0);
}

void MegatronTraining::count_pass_traced(uint32_t sim, bool forward) {
  RankState& st = *states_[sim];
  double activations = 0;
  for (const auto& item : st.plan->memory.items) {
    if (item.name == "activations") activations += item.bytes.bytes();
  }
  const double one = activations / std::max(1e-9, st.plan->in_flight) / chunks_;
  st.hbm += forward ? one : -one;
  counter(sim, "HBM (GB)", st.hbm / 1e9);
}

void MegatronTraining::count_queued_traced(uint32_t sim, int slot, bool forward, bool arrived) {
  RankState& st = *states_[sim];
  char& w = st.waiting_input[forward][static_cast<size_t>(slot)];
  if (arrived == (w != 0)) return;
  w = arrived ? 1 : 0;
  st.queued += arrived ? 1 : -1;
  counter(sim, "queued inputs", st.queued);
}

}  // namespace lcsim::wl
