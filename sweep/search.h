// lcsim search: the best parallel layout (TP, PP, virtual stages, CP, EP, DP, micro-batch, recompute, distributed
// optimizer) of a Megatron training scenario on its cluster and global batch, and optionally over GPU counts and
// accelerator parts. Candidates that cannot work are
// pruned before anything is simulated: first by arithmetic (the GPUs, the global batch and the layers must
// divide), then by loading each candidate, which checks the memory fit (models/hardware/memory.*) and every
// other rule of the workload; the survivors are simulated (analytical fidelity, in threads) and ranked.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lcsim::sweep {

struct SearchSpace {
  std::vector<int> tp = {1, 2, 4, 8};
  std::vector<int> pp = {1, 2, 4, 8, 16};
  std::vector<int> virtual_stages = {1, 2};  // per pipeline rank (interleaving), with pp > 1
  std::vector<int> cp = {1};
  std::vector<int> micro_batch = {1, 2, 4};
  std::vector<std::string> recompute = {"none", "selective", "full"};
  std::vector<bool> distributed_optimizer = {false, true};
  std::vector<int> ep;                  // expert-parallel sizes (MoE models); empty: the scenario's
  std::vector<int> gpus;                // GPU counts (multiples of cluster.gpus_per_node); empty: the scenario's
  std::vector<std::string> parts;       // catalog parts (or a prefix naming one); empty: the scenario's
};

struct SearchOptions {
  std::string objective = "throughput";  // throughput (tokens/s), time (iteration or budget time), cost
  size_t top = 5;
  int jobs = 0;                           // threads; 0: every core
  std::vector<std::string> sets;          // overrides applied to the scenario first
  std::optional<double> deadline_days;    // budget_time_days <= this (needs cost.token_budget)
  std::optional<double> budget;           // budget_cost_total <= this (needs cost.token_budget)
  bool prune = true;                      // false: load and simulate every candidate (for tests)
};

struct Candidate {
  std::vector<std::pair<std::string, std::string>> layout;  // short name (tp, pp, ...) and value
  std::vector<std::string> overrides;                        // KEY=VALUE
  std::string status;  // ranked, pruned (arithmetic), does-not-fit (memory), invalid, failed, constraint
  std::string reason;
  std::vector<std::pair<std::string, double>> metrics;
  double score = 0;  // the objective's value (tokens/s, seconds or days, money)
  double metric(const std::string& name, double fallback = 0) const;
};

struct SearchResult {
  std::vector<Candidate> ranked;  // best first
  std::vector<Candidate> rejected;
  size_t enumerated = 0, pruned = 0, does_not_fit = 0, invalid = 0, simulated = 0, constraint = 0;
  std::string objective_metric;  // what score is
  bool higher_is_better = true;
};

/// Searches the layouts of the scenario in `path`. Throws InputError if the scenario cannot be read or is not
/// a Megatron training workload.
SearchResult search(const std::string& path, const SearchSpace& space, const SearchOptions& options);

/// The catalog part that `name` names: itself, or the one part whose name starts with it (H200 ->
/// H200-SXM-141GB). Throws InputError listing the candidates otherwise.
std::string resolve_part(const std::string& name);

/// The top N as a table, and why the best wins: its time breakdown against the runner-up.
std::string format_search(const SearchResult& r, size_t top);

}  // namespace lcsim::sweep
