// Evaluations per second through the in-process API (eval/): how fast search and sweeps can go.
//
//   bench_eval_throughput 175b [COUNT] [THREADS]   the training-model issue's 175B layout (GPT-3 175B, TP 8, PP 8 with
//                                                 6 interleaved chunks, DP 4, 192 micro-batches, 256 A100s), COUNT
//                                                 evaluations (default 200) of the loaded scenario, each on its own
//                                                 copy, over THREADS oneTBB threads (default 1)
//   bench_eval_throughput 175b-overlap [COUNT] [THREADS]  the same layout with its steady state's pipeline sends
//                                                 overlapped with the next pass (overlap_p2p_comm: Megatron-LM's default
//                                                 for the interleaved schedule; the scenario replicates SC'21, whose
//                                                 runs waited for their sends)
//   bench_eval_throughput sweep70b [COUNT] [THREADS]  COUNT (default 1000) distinct valid parallel layouts of Llama 3
//                                                 70B on 1,024 H100s (TP, CP, PP, DP, micro-batch size, interleaving,
//                                                 sequence parallelism, recomputation), each built from its overrides
//                                                 (YAML tree, validation, memory fit) and evaluated, THREADS threads
//                                                 (default 2)
//
// Prints what ran, the wall time (steady clock, from the first scenario build to the last result) and evaluations
// per second, per thread too; and a checksum of the results (sum of iteration times), the same for any THREADS.
// Run from the repository root (it reads scenarios/). Timeline and table off: evaluations are for their metrics, as
// sweeps and searches run them.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "eval/batch.h"
#include "scenarios/scenario.h"
#include "sim/config_tree.h"
#include "sim/error.h"

namespace {

using lcsim::BatchOptions;
using lcsim::Result;
using lcsim::Scenario;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// CPU seconds of the whole process (every thread): on a machine shared with other work, evaluations per CPU
/// second is what one core would do alone.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Summary {
  size_t ok = 0, errors = 0, events = 0;
  double checksum = 0;
  std::string first_error;
};

Summary summarize(const std::vector<Result>& results) {
  Summary s;
  for (const auto& r : results) {
    if (!r.ok()) {
      if (s.first_error.empty()) s.first_error = r.error;
      ++s.errors;
      continue;
    }
    ++s.ok;
    s.events += r.events;
    s.checksum += r.metrics.has("iteration_time_s") ? r.metrics.get("iteration_time_s") : 0.0;
  }
  return s;
}

void report(const char* what, size_t count, int threads, double wall, double cpu, const Summary& s) {
  const double n = static_cast<double>(count);
  std::printf("%s: %zu evaluations (%zu ok, %zu errors) on %d thread(s): wall %.3f s (%.1f evaluations/s, %.1f per "
              "thread), CPU %.3f s (%.1f evaluations per CPU second); %.0f events per evaluation; checksum %.17g\n",
              what, count, s.ok, s.errors, threads, wall, n / wall, n / wall / threads, cpu, n / cpu,
              s.ok ? static_cast<double>(s.events) / static_cast<double>(s.ok) : 0.0, s.checksum);
  if (!s.first_error.empty()) std::printf("  first error: %s\n", s.first_error.c_str());
}

int bench_175b(size_t count, int threads, bool overlap) {
  std::vector<std::string> sets = {"cluster.pools[0].count=32", "workload.pipeline_model_parallel_size=8",
                                   "workload.num_layers_per_virtual_pipeline_stage=2",
                                   "workload.global_batch_size=768"};
  if (overlap) sets.push_back("workload.overlap_p2p_comm=true");
  const Scenario sc = lcsim::load_scenario("scenarios/training/gpt3-175b-a100-1024.yaml", sets);
  std::vector<const Scenario*> batch(count, &sc);
  BatchOptions options;
  options.threads = threads;
  options.eval.table = false;  // as sweeps and searches evaluate: metrics only
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = cpu_seconds();
  const std::vector<Result> results = lcsim::evaluate_batch(batch, options);
  const double wall = seconds_since(t0), cpu = cpu_seconds() - c0;
  report(overlap ? "175b-overlap" : "175b", count, threads, wall, cpu, summarize(results));
  return 0;
}

/// Candidate layouts of Llama 3 70B (80 layers, seq 8,192) on 1,024 GPUs, in a fixed (shuffled) order; not all are
/// valid (memory fit, Megatron's divisibility rules): the driver takes the first COUNT that validate.
std::vector<std::vector<std::string>> layouts_70b() {
  std::vector<std::vector<std::string>> out;
  for (int tp : {8, 4, 2, 1}) {
    for (int cp : {1, 2, 4}) {
      for (int pp : {1, 2, 4, 8, 16}) {
        if (1024 % (tp * cp * pp) != 0) continue;
        const int dp = 1024 / (tp * cp * pp);
        const int per_stage = 80 / pp;
        std::vector<int> chunk_layers = {0};
        if (pp > 1) {
          for (int l = 1; l < per_stage; ++l) {
            if (per_stage % l == 0) chunk_layers.push_back(l);
          }
        }
        for (int mbs : {1, 2, 4, 8}) {
          const int gbs = std::max(512, dp * mbs);
          for (int layers : chunk_layers) {
            for (const char* recompute : {"selective", "full"}) {
              for (bool sp : {true, false}) {
                if (tp == 1 && !sp) continue;  // sequence parallelism means nothing without TP
                std::vector<std::string> sets = {
                    "workload.tensor_model_parallel_size=" + std::to_string(tp),
                    "workload.context_parallel_size=" + std::to_string(cp),
                    "workload.pipeline_model_parallel_size=" + std::to_string(pp),
                    "workload.micro_batch_size=" + std::to_string(mbs),
                    "workload.global_batch_size=" + std::to_string(gbs),
                    "workload.num_layers_per_virtual_pipeline_stage=" + std::to_string(layers),
                    "workload.recompute_granularity=" + std::string(recompute),
                    std::string("workload.sequence_parallel=") + (sp && tp > 1 ? "true" : "false"),
                    std::string("workload.tp_comm_overlap=") + (sp && tp > 1 ? "true" : "false"),
                };
                out.push_back(std::move(sets));
              }
            }
          }
        }
      }
    }
  }
  // A fixed shuffle, so that the first COUNT valid ones spread over the whole space (not TP 8 only).
  std::mt19937_64 rng(70);
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

int bench_sweep70b(size_t count, int threads) {
  const lcsim::ConfigValue base = lcsim::load_layered("scenarios/training/llama3-70b-h100-1024.yaml");
  const auto candidates = layouts_70b();
  auto build = [&](size_t i) {
    lcsim::ConfigValue tree = base;
    for (const auto& s : candidates[i]) lcsim::apply_override(tree, s);
    return lcsim::parse_scenario(tree);
  };
  // Which candidates are valid layouts (the memory fit and Megatron's divisibility rules): not timed.
  std::vector<size_t> valid;
  for (size_t i = 0; i < candidates.size() && valid.size() < count; ++i) {
    try {
      build(i);
      valid.push_back(i);
    } catch (const lcsim::InputError&) {
    }
  }
  std::printf("sweep70b: %zu candidate layouts, taking the first %zu valid ones\n", candidates.size(), valid.size());
  BatchOptions options;
  options.threads = threads;
  options.eval.table = false;  // as sweeps and searches evaluate: metrics only
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = cpu_seconds();
  const std::vector<Result> results =
      lcsim::evaluate_batch(valid.size(), [&](size_t k) { return build(valid[k]); }, options);
  const double wall = seconds_since(t0), cpu = cpu_seconds() - c0;
  report("sweep70b (build + evaluate)", valid.size(), threads, wall, cpu, summarize(results));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    if (mode == "175b" || mode == "175b-overlap") {
      return bench_175b(argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 200, argc > 3 ? std::atoi(argv[3]) : 1,
                        mode == "175b-overlap");
    }
    if (mode == "sweep70b") {
      return bench_sweep70b(argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1000, argc > 3 ? std::atoi(argv[3]) : 2);
    }
  } catch (const lcsim::InputError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  std::fprintf(stderr, "usage: bench_eval_throughput 175b|175b-overlap|sweep70b [COUNT] [THREADS] (run from the repository root)\n");
  return 2;
}
