// Many evaluations at once: a batch of scenarios spread over oneTBB worker threads (sweeps, searches). Each result
// is the one evaluate() gives for that scenario alone, bit for bit: evaluations share nothing mutable.
#pragma once

#include <functional>
#include <vector>

#include "eval/evaluate.h"

namespace lcsim {

struct BatchOptions {
  int threads = 0;  // worker threads; 0: oneTBB's default (every core)
  EvalOptions eval;  // applied to each evaluation (timeline_out and progress are not used: they would interleave);
                     // eval.context null: the batch shares one context of its own between its evaluations
};

/// Calls fn(i) for every i in [0, count) on oneTBB worker threads, one index per task (evaluations differ in cost
/// by orders of magnitude, so the scheduler balances them); `threads` 0 means every core. Used by the batches below
/// and by the sweep runner and the layout search.
void for_each_index(size_t count, int threads, const std::function<void(size_t)>& fn);

/// Evaluates every scenario, in parallel; results in input order. Scenarios on the flow fidelity (SimGrid, one
/// engine per process) are refused: each comes back as an error saying so.
std::vector<Result> evaluate_batch(const std::vector<const Scenario*>& scenarios, const BatchOptions& options = {});

/// The same for scenarios made on the fly: `make(i)` builds scenario i (on a worker thread; it may throw
/// InputError, which comes back as that scenario's error), for i in [0, count).
std::vector<Result> evaluate_batch(size_t count, const std::function<Scenario(size_t)>& make,
                                   const BatchOptions& options = {});

}  // namespace lcsim
