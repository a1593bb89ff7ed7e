// evaluate_batch(): evaluations spread over oneTBB worker threads, one task per scenario, results in input order.
#include "eval/batch.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <exception>
#include <string>

#include "sim/error.h"

namespace lcsim {

namespace {

Result refused_flow(const Scenario& sc) {
  Result r;
  r.error = "scenario '" + sc.name + "': simulation.fidelity " + sc.simulation.fidelity +
            " runs on SimGrid (one engine per process), so it cannot run in a parallel batch; evaluate it alone, "
            "in its own process";
  return r;
}

/// `shared`: the batch's own context, where the options give none (the batch's evaluations share its fabrics).
EvalOptions batch_eval_options(const BatchOptions& options, EvalContext& shared) {
  EvalOptions e = options.eval;
  if (!e.context) e.context = &shared;
  e.timeline_out = nullptr;  // one stream for every thread would interleave
  e.open_timeline = nullptr;
  e.progress = nullptr;
  return e;
}

}  // namespace

void for_each_index(size_t count, int threads, const std::function<void(size_t)>& fn) {
  tbb::task_arena arena(threads > 0 ? threads : tbb::task_arena::automatic);
  arena.execute([&] {
    tbb::parallel_for(tbb::blocked_range<size_t>(0, count, 1), [&](const tbb::blocked_range<size_t>& r) {
      for (size_t i = r.begin(); i != r.end(); ++i) fn(i);
    }, tbb::simple_partitioner());
  });
}

std::vector<Result> evaluate_batch(const std::vector<const Scenario*>& scenarios, const BatchOptions& options) {
  std::vector<Result> out(scenarios.size());
  EvalContext shared;
  const EvalOptions e = batch_eval_options(options, shared);
  for_each_index(scenarios.size(), options.threads, [&](size_t i) {
    const Scenario& sc = *scenarios[i];
    out[i] = uses_simgrid(sc) ? refused_flow(sc) : evaluate(sc, e);
  });
  return out;
}

std::vector<Result> evaluate_batch(size_t count, const std::function<Scenario(size_t)>& make,
                                   const BatchOptions& options) {
  std::vector<Result> out(count);
  EvalContext shared;
  const EvalOptions e = batch_eval_options(options, shared);
  for_each_index(count, options.threads, [&](size_t i) {
    try {
      Scenario sc = make(i);
      out[i] = uses_simgrid(sc) ? refused_flow(sc) : evaluate(std::move(sc), e);
    } catch (const InputError& err) {
      out[i] = Result{};
      out[i].error = err.what();
    } catch (const std::exception& err) {
      out[i] = Result{};
      out[i].error = err.what();
      out[i].internal_error = true;
    }
  });
  return out;
}

}  // namespace lcsim
