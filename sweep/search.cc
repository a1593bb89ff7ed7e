// See search.h.
#include "sweep/search.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "eval/batch.h"
#include "eval/evaluate.h"
#include "models/hardware/catalog.h"
#include "sim/config_tree.h"
#include "sim/error.h"

namespace lcsim::sweep {

namespace {

double number_at(const ConfigValue& root, const std::string& dotted, double fallback) {
  const ConfigValue* v = &root;
  size_t start = 0;
  while (v) {
    const size_t dot = dotted.find('.', start);
    v = v->find(dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (!v || !v->is_scalar()) return fallback;
  char* end = nullptr;
  const double x = std::strtod(v->scalar.c_str(), &end);
  return end == v->scalar.c_str() ? fallback : x;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// What the search varies, and what it knows of the scenario for the arithmetic pruning.
struct Dims {
  bool parts, gpus, ep;  // searched (shown in the layout and overridden) or the scenario's
  int per_node;
  double global_batch, layers, experts;
};

struct Choice {
  const std::string& part;
  int gpus, tp, pp, vpp, cp, ep, mbs;
  const std::string& recompute;
  bool dist_opt;
};

/// The candidate's layout and overrides; `reason` says why the arithmetic rules it out (empty when it passes).
Candidate make_candidate(const Dims& d, const Choice& x) {
  Candidate c;
  const double gpus = x.gpus;
  const double model = static_cast<double>(x.tp) * x.pp * x.cp;
  const double dp = gpus / model;
  auto str = [](int i) { return std::to_string(i); };
  if (d.parts) c.layout.emplace_back("part", x.part);
  if (d.gpus) c.layout.emplace_back("gpus", str(x.gpus));
  c.layout.emplace_back("tp", str(x.tp));
  c.layout.emplace_back("pp", str(x.pp));
  c.layout.emplace_back("vpp", str(x.vpp));
  c.layout.emplace_back("cp", str(x.cp));
  if (d.ep) c.layout.emplace_back("ep", str(x.ep));
  c.layout.emplace_back("dp", num(dp));
  c.layout.emplace_back("mbs", str(x.mbs));
  c.layout.emplace_back("recompute", x.recompute);
  c.layout.emplace_back("dist_opt", x.dist_opt ? "true" : "false");
  if (d.parts) c.overrides.push_back("cluster.accelerator=" + x.part);
  if (d.gpus) c.overrides.push_back("cluster.nodes=" + str(x.gpus / d.per_node));
  if (d.ep) c.overrides.push_back("workload.expert_model_parallel_size=" + str(x.ep));
  c.overrides.push_back("simulation.fidelity=analytical");
  c.overrides.push_back("workload.tensor_model_parallel_size=" + str(x.tp));
  c.overrides.push_back("workload.pipeline_model_parallel_size=" + str(x.pp));
  c.overrides.push_back("workload.context_parallel_size=" + str(x.cp));
  c.overrides.push_back("workload.micro_batch_size=" + str(x.mbs));
  c.overrides.push_back("workload.recompute_granularity=" + x.recompute);
  c.overrides.push_back(std::string("workload.use_distributed_optimizer=") + (x.dist_opt ? "true" : "false"));
  c.overrides.push_back("workload.num_layers_per_virtual_pipeline_stage=0");
  c.overrides.push_back("workload.num_virtual_stages_per_pipeline_rank=" + str(x.vpp > 1 ? x.vpp : 0));
  // Overlapping the parameter all-gather needs the distributed optimizer (Megatron-LM's rule).
  if (!x.dist_opt) c.overrides.push_back("workload.overlap_param_gather=false");
  // Arithmetic pruning: each rule is one Megatron itself enforces at start-up.
  if (std::fmod(gpus, model) != 0) c.reason = "tp x pp x cp does not divide the GPUs";
  else if (std::fmod(d.global_batch, dp * x.mbs) != 0) c.reason = "dp x micro-batch does not divide the global batch";
  else if (std::fmod(d.layers, static_cast<double>(x.pp) * x.vpp) != 0) c.reason = "pp x vpp does not divide the layers";
  else if (x.vpp > 1 && x.pp == 1) c.reason = "virtual stages need pipeline parallelism";
  else if (x.ep > 1 && d.experts == 0) c.reason = "expert parallelism needs a mixture-of-experts model";
  else if (d.experts > 0 && std::fmod(d.experts, x.ep) != 0) c.reason = "ep does not divide the experts";
  else if (d.experts > 0 && std::fmod(dp * x.cp, x.ep) != 0) c.reason = "ep does not divide dp x cp";
  return c;
}

}  // namespace

std::string resolve_part(const std::string& name) {
  const hw::PartCatalog& cat = hw::PartCatalog::get();
  if (cat.contains(name)) return name;
  std::vector<std::string> hits;
  for (const auto& n : cat.names()) {
    if (n.rfind(name, 0) == 0) hits.push_back(n);
  }
  if (hits.size() == 1) return hits.front();
  std::string all;
  for (const auto& n : (hits.empty() ? cat.names() : hits)) all += (all.empty() ? "" : ", ") + n;
  throw InputError("--parts: '" + name + "' " + (hits.empty() ? "is not in the part catalog" : "names several parts") +
                   "; one of: " + all);
}

double Candidate::metric(const std::string& name, double fallback) const {
  for (const auto& [n, v] : metrics) {
    if (n == name) return v;
  }
  return fallback;
}

SearchResult search(const std::string& path, const SearchSpace& space, const SearchOptions& options) {
  ConfigValue tree = load_layered(path);
  for (const auto& o : options.sets) apply_override(tree, o);
  const Scenario base = parse_scenario(tree);
  if (base.workload_type != "megatron") {
    throw InputError("lcsim search: '" + path + "' has workload.type " + base.workload_type +
                     "; search explores the parallel layouts of a megatron workload");
  }
  if (options.objective != "throughput" && options.objective != "time" && options.objective != "cost") {
    throw InputError("--objective: expected throughput, time or cost, got '" + options.objective + "'");
  }
  const double gbs = number_at(tree, "workload.global_batch_size", 1);
  const double layers = number_at(tree, "workload.model.num_layers", 1);
  const double experts = number_at(tree, "workload.model.num_experts", 0);
  // GPU counts and parts: the shorthand cluster keys (cluster.nodes, cluster.accelerator) are what they set.
  if ((!space.gpus.empty() || !space.parts.empty()) && !base.cluster.shorthand) {
    throw InputError("lcsim search: '" + path +
                     "' lists cluster.pools; --gpus and --parts need the shorthand "
                     "cluster keys (accelerator, nodes, gpus_per_node)");
  }
  const int per_node = base.cluster.gpus_per_node;
  for (int g : space.gpus) {
    if (per_node <= 0 || g % per_node != 0) {
      throw InputError("--gpus: " + std::to_string(g) + " is not a multiple of cluster.gpus_per_node (" +
                       std::to_string(per_node) + ") of '" + path + "'");
    }
  }
  std::vector<std::string> parts;
  for (const auto& p : space.parts) parts.push_back(resolve_part(p));
  const bool search_parts = !parts.empty(), search_gpus = !space.gpus.empty(), search_ep = !space.ep.empty();
  if (!search_parts) parts.push_back(base.cluster.accelerator.name);
  std::vector<int> gpu_counts = space.gpus;
  if (!search_gpus) gpu_counts.push_back(static_cast<int>(cluster_gpus(base.cluster).size()));
  std::vector<int> eps = space.ep;
  if (!search_ep) eps.push_back(static_cast<int>(number_at(tree, "workload.expert_model_parallel_size", 1)));
  SearchResult out;
  std::vector<Candidate> todo;
  const Dims dims{search_parts, search_gpus, search_ep, per_node, gbs, layers, experts};
  for (const auto& part : parts) {
    for (int g : gpu_counts) {
      for (int tp : space.tp) {
        for (int pp : space.pp) {
          for (int v : space.virtual_stages) {
            for (int cp : space.cp) {
              for (int ep : eps) {
                for (int mbs : space.micro_batch) {
                  for (const auto& rc : space.recompute) {
                    for (bool dopt : space.distributed_optimizer) {
                      ++out.enumerated;
                      Candidate c = make_candidate(dims, {part, g, tp, pp, v, cp, ep, mbs, rc, dopt});
                      if (options.prune && !c.reason.empty()) {
                        ++out.pruned;
                        c.status = "pruned";
                        out.rejected.push_back(std::move(c));
                      } else {
                        c.reason.clear();
                        todo.push_back(std::move(c));
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
  EvalContext shared;  // the candidates share their cluster's fabric
  EvalOptions eval;
  eval.context = &shared;
  eval.table = false;  // a candidate keeps only its metrics
  for_each_index(todo.size(), options.jobs, [&](size_t i) {
    Candidate& c = todo[i];
    std::optional<Scenario> sc;
    try {
      ConfigValue t = tree;
      for (const auto& o : c.overrides) apply_override(t, o);
      sc.emplace(parse_scenario(t));  // checks the memory fit and every rule: no simulation yet
    } catch (const InputError& e) {
      const std::string msg = e.what();
      c.status = msg.find("does not fit in memory") != std::string::npos ? "does-not-fit" : "invalid";
      c.reason = msg;
      return;
    }
    Result r = evaluate(std::move(*sc), eval);
    if (!r.ok()) {
      c.status = "failed";
      c.reason = r.error;
      return;
    }
    for (const auto& m : r.metrics.metrics()) c.metrics.emplace_back(m.name, m.value);
    c.status = "ranked";
  });
  // Objective and constraints.
  const bool budget = !todo.empty() && std::any_of(todo.begin(), todo.end(), [](const Candidate& c) {
    return c.metric("budget_time_days", -1) >= 0;
  });
  if ((options.deadline_days || options.budget) && !budget) {
    throw InputError("--deadline and --budget need cost.token_budget in the scenario (the tokens to train)");
  }
  if (options.objective == "throughput") {
    out.objective_metric = "tokens_per_s";
  } else if (options.objective == "time") {
    out.objective_metric = budget ? "budget_time_days" : "iteration_time_s";
    out.higher_is_better = false;
  } else {
    out.objective_metric = budget ? "budget_cost_total" : "cost_total";
    out.higher_is_better = false;
  }
  for (auto& c : todo) {
    if (c.status == "ranked") {
      ++out.simulated;
      c.score = c.metric(out.objective_metric, std::nan(""));
      if (options.deadline_days && c.metric("budget_time_days") > *options.deadline_days) {
        c.status = "constraint";
        c.reason = "takes " + num(c.metric("budget_time_days")) + " days, over the deadline";
      } else if (options.budget && c.metric("budget_cost_total") > *options.budget) {
        c.status = "constraint";
        c.reason = "costs " + num(c.metric("budget_cost_total")) + ", over the budget";
      }
    }
    if (c.status == "ranked") {
      out.ranked.push_back(std::move(c));
    } else {
      if (c.status == "does-not-fit") ++out.does_not_fit;
      else if (c.status == "constraint") ++out.constraint;
      else if (c.status != "pruned") ++out.invalid;
      out.rejected.push_back(std::move(c));
    }
  }
  // Best first; ties broken by enumeration order (stable), so the ranking is deterministic.
  std::stable_sort(out.ranked.begin(), out.ranked.end(), [&](const Candidate& a, const Candidate& b) {
    return out.higher_is_better ? a.score > b.score : a.score < b.score;
  });
  return out;
}

std::string format_search(const SearchResult& r, size_t top) {
  std::string s;
  s += "candidates: " + std::to_string(r.enumerated) + " enumerated, " + std::to_string(r.pruned) +
       " pruned by arithmetic, " + std::to_string(r.does_not_fit) + " do not fit in memory, " +
       std::to_string(r.invalid) + " invalid, " + std::to_string(r.simulated) + " simulated" +
       (r.constraint ? ", " + std::to_string(r.constraint) + " outside the constraints" : std::string()) + "\n";
  if (r.ranked.empty()) return s + "no layout works\n";
  s += "ranked by " + r.objective_metric + (r.higher_is_better ? " (higher is better)" : " (lower is better)") + ":\n";
  s += "  rank  layout                                                                 " + r.objective_metric +
       "  iteration_s  mfu    memory_GB\n";
  for (size_t i = 0; i < r.ranked.size() && i < top; ++i) {
    const Candidate& c = r.ranked[i];
    std::string layout;
    for (const auto& [k, v] : c.layout) layout += k + "=" + v + " ";
    char line[400];
    std::snprintf(line, sizeof line, "  %4zu  %-70s %12s  %11s  %5.3f  %9.1f\n", i + 1, layout.c_str(),
                  num(c.score).c_str(), num(c.metric("iteration_time_s")).c_str(), c.metric("mfu"),
                  c.metric("memory_per_gpu_bytes") / 1e9);
    s += line;
  }
  if (r.ranked.size() >= 2) {
    const Candidate& a = r.ranked[0];
    const Candidate& b = r.ranked[1];
    s += "why #1 wins over #2 (time per iteration, seconds):\n";
    size_t shown = 0;
    for (const auto& [name, va] : a.metrics) {
      const bool timing = name == "iteration_time_s" || name.rfind("time_", 0) == 0 ||
                          name == "pipeline_bubble_ideal_fraction" || name == "memory_per_gpu_bytes";
      if (!timing) continue;
      const double vb = b.metric(name, std::nan(""));
      if (va == vb) continue;
      char line[200];
      std::snprintf(line, sizeof line, "  %-34s #1 %-11s #2 %-11s delta %+.4g\n", name.c_str(), num(va).c_str(),
                    num(vb).c_str(), va - vb);
      s += line;
      ++shown;
    }
    if (shown == 0) {
      s += "  it does not: both take the same time and memory in the model (a tie, kept in search order)\n";
    }
  }
  return s;
}

}  // namespace lcsim::sweep
