// lcsim plan: capacity planning. For each candidate part and GPU count, the best layout (lcsim search, ranked by
// time to train) and its time, GPU-hours, energy and cost to train a token budget; where the scenario enables
// `reliability:`, the same with failures over a Monte Carlo of seeds (mean, 95% interval and the quantile at the
// asked confidence), and per part the smallest GPU count that meets the deadline at that confidence.
#pragma once

#include <string>
#include <vector>

#include "sweep/search.h"

namespace lcsim::sweep {

struct CapacityOptions {
  std::vector<std::string> parts;  // catalog names (or a prefix naming one part, e.g. H200); empty: the scenario's
  std::vector<int> gpus;           // GPU counts (multiples of cluster.gpus_per_node)
  double tokens = 0;               // tokens to train (> 0)
  double deadline_days = 0;        // > 0
  double confidence = 0.9;         // share of failure seeds that must finish by the deadline (reliability on)
  int seeds = 0;                   // Monte Carlo seeds with failures; 0: the scenario's reliability.seeds
  SearchSpace space;
  int jobs = 0;
  std::vector<std::string> sets;
};

struct CapacityRow {
  std::string part;
  int gpus = 0;
  std::string layout;                 // "tp=2 pp=1 ..." of the best layout; empty when none works
  std::vector<std::string> overrides;  // the best layout's KEY=VALUE (with the part, nodes and token budget)
  std::string why_none;               // no layout: the search's reason
  double tokens_per_s = 0;
  double time_days = 0, gpu_hours = 0, energy_mwh = 0, cost = 0;  // failure-free, from the budget metrics
  double eval_days = 0;  // of time_days, Megatron-LM's evaluations (budget_eval_time_days)
  bool reliability = false;            // the fields below are set
  int seeds = 0;
  double rel_time_days = 0, rel_time_ci95 = 0, rel_time_quantile = 0;  // mean, half-width, at `confidence`
  double rel_gpu_hours = 0, rel_energy_mwh = 0, rel_cost = 0, rel_cost_ci95 = 0;
  double met_fraction = 0;             // share of seeds done by the deadline (1 or 0 without reliability)
  bool meets = false;
};

struct CapacityPlan {
  std::vector<CapacityRow> rows;  // by part, then GPU count (as given)
  std::vector<size_t> best;  // per part (in order): the row of the smallest GPU count that meets; rows.size() if none
  std::vector<std::string> parts;
  double confidence = 0, deadline_days = 0, tokens = 0;
  std::string currency;
};

/// Plans the scenario in `path` (a Megatron training scenario). Throws InputError on bad options or scenario.
CapacityPlan plan_capacity(const std::string& path, const CapacityOptions& options);

/// The table and, per part, the smallest configuration that meets the deadline.
std::string format_capacity(const CapacityPlan& plan);

}  // namespace lcsim::sweep
