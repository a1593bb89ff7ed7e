// lcsim plan: the best layout per part and GPU count (sweep/search.h), then time to train with and without
// failures (sweep/capacity.h).
#include "sweep/capacity.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "eval/evaluate.h"
#include "sim/config_tree.h"
#include "sim/error.h"
#include "sweep/stats.h"

namespace lcsim::sweep {

namespace {

std::string fmt(double v, int digits = 4) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*g", digits, v);
  return b;
}

}  // namespace

CapacityPlan plan_capacity(const std::string& path, const CapacityOptions& o) {
  if (!(o.tokens > 0)) throw InputError("lcsim plan needs --tokens T > 0 (the tokens to train)");
  if (!(o.deadline_days > 0)) throw InputError("lcsim plan needs --days D > 0 (the deadline)");
  if (!(o.confidence > 0 && o.confidence < 1)) {
    throw InputError("--confidence: expected a share between 0 and 1 (exclusive), e.g. 0.9, got " + fmt(o.confidence));
  }
  if (o.gpus.empty()) throw InputError("lcsim plan needs --gpus LIST (GPU counts, e.g. 64,128,256)");
  ConfigValue tree = load_layered(path);
  for (const auto& s : o.sets) apply_override(tree, s);
  const Scenario base = parse_scenario(tree);
  if (!base.cluster.shorthand) {
    throw InputError("lcsim plan: '" + path + "' lists cluster.pools; plan needs the shorthand cluster keys "
                     "(accelerator, nodes, gpus_per_node)");
  }
  const int per_node = base.cluster.gpus_per_node;
  for (int g : o.gpus) {
    if (g % per_node != 0) {
      throw InputError("--gpus: " + std::to_string(g) + " is not a multiple of cluster.gpus_per_node (" +
                       std::to_string(per_node) + ") of '" + path + "'");
    }
  }
  CapacityPlan plan;
  plan.confidence = o.confidence;
  plan.deadline_days = o.deadline_days;
  plan.tokens = o.tokens;
  plan.currency = base.cost.currency;
  if (o.parts.empty()) plan.parts.push_back(base.cluster.accelerator.name);
  for (const auto& p : o.parts) plan.parts.push_back(resolve_part(p));
  const bool reliability = base.reliability.enabled;
  const int seeds = o.seeds > 0 ? o.seeds : base.reliability.seeds;
  char tokens[64];
  std::snprintf(tokens, sizeof tokens, "%.17g", o.tokens);

  for (const auto& part : plan.parts) {
    for (int g : o.gpus) {
      CapacityRow row;
      row.part = part;
      row.gpus = g;
      SearchOptions so;
      so.objective = "time";  // budget_time_days: tokens / tokens_per_s
      so.top = 1;
      so.jobs = o.jobs;
      so.sets = o.sets;
      const std::vector<std::string> own = {"cluster.accelerator=" + part,
                                            "cluster.nodes=" + std::to_string(g / per_node),
                                            std::string("cost.token_budget=") + tokens};
      so.sets.insert(so.sets.end(), own.begin(), own.end());
      // The layouts are ranked failure-free (reliability scales each the same way but for its checkpoints).
      if (reliability) so.sets.push_back("reliability.enabled=false");
      const SearchResult r = search(path, o.space, so);
      if (r.ranked.empty()) {
        row.why_none = r.rejected.empty() ? "no layout" : r.rejected.front().reason;
        plan.rows.push_back(std::move(row));
        continue;
      }
      const Candidate& best = r.ranked.front();
      for (const auto& [k, v] : best.layout) row.layout += (row.layout.empty() ? "" : " ") + k + "=" + v;
      row.overrides = o.sets;
      row.overrides.insert(row.overrides.end(), own.begin(), own.end());
      row.overrides.insert(row.overrides.end(), best.overrides.begin(), best.overrides.end());
      row.tokens_per_s = best.metric("tokens_per_s");
      row.time_days = best.metric("budget_time_days");
      row.eval_days = best.metric("budget_eval_time_days", 0);
      row.gpu_hours = best.metric("budget_gpu_hours");
      row.energy_mwh = best.metric("budget_energy_mwh");
      row.cost = best.metric("budget_cost_total");
      row.met_fraction = row.time_days <= o.deadline_days ? 1 : 0;
      row.meets = row.met_fraction == 1;
      if (reliability) {
        // One failure history per seed: the time-to-train distribution, not only its mean.
        std::vector<double> days, hours, energy, cost;
        for (int s = 0; s < seeds; ++s) {
          ConfigValue t = load_layered(path);
          for (const auto& x : row.overrides) apply_override(t, x);
          apply_override(t, "reliability.seeds=1");
          apply_override(t, "simulation.seed=" + std::to_string(base.simulation.seed + s));
          const Result res = evaluate(parse_scenario(t));
          if (!res.ok()) throw InputError("lcsim plan: " + part + " x " + std::to_string(g) + ": " + res.error);
          if (!res.metrics.has("reliability_time_days")) {
            throw InputError("lcsim plan: the run with failures reported no reliability_time_days");
          }
          days.push_back(res.metrics.get("reliability_time_days"));
          hours.push_back(res.metrics.get("reliability_gpu_hours"));
          energy.push_back(res.metrics.has("reliability_energy_mwh") ? res.metrics.get("reliability_energy_mwh") : 0);
          cost.push_back(res.metrics.has("reliability_cost_total") ? res.metrics.get("reliability_cost_total") : 0);
        }
        const Summary d = summarize(days), c = summarize(cost);
        row.reliability = true;
        row.seeds = seeds;
        row.rel_time_days = d.mean;
        // Identical seeds (no failure in any) give a half-width of rounding noise: print it as 0.
        row.rel_time_ci95 = std::isnan(d.ci_half) || d.ci_half > 1e-12 * d.mean ? d.ci_half : 0;
        row.rel_gpu_hours = summarize(hours).mean;
        row.rel_energy_mwh = summarize(energy).mean;
        row.rel_cost = c.mean;
        row.rel_cost_ci95 = std::isnan(c.ci_half) || c.ci_half > 1e-12 * c.mean ? c.ci_half : 0;
        std::vector<double> sorted = days;
        std::sort(sorted.begin(), sorted.end());
        // Empirical quantile: the smallest time that at least `confidence` of the seeds finish within.
        const size_t k = static_cast<size_t>(std::ceil(o.confidence * static_cast<double>(sorted.size())));
        row.rel_time_quantile = sorted[std::max<size_t>(k, 1) - 1];
        const auto met = std::count_if(days.begin(), days.end(), [&](double x) { return x <= o.deadline_days; });
        row.met_fraction = static_cast<double>(met) / static_cast<double>(days.size());
        row.meets = row.met_fraction >= o.confidence;
      }
      plan.rows.push_back(std::move(row));
    }
  }
  for (const auto& part : plan.parts) {
    size_t pick = plan.rows.size();
    for (size_t i = 0; i < plan.rows.size(); ++i) {
      const CapacityRow& row = plan.rows[i];
      if (row.part == part && row.meets && (pick == plan.rows.size() || row.gpus < plan.rows[pick].gpus)) pick = i;
    }
    plan.best.push_back(pick);
  }
  return plan;
}

std::string format_capacity(const CapacityPlan& p) {
  std::string out = "plan: " + fmt(p.tokens) + " tokens within " + fmt(p.deadline_days) + " days";
  const bool rel = std::any_of(p.rows.begin(), p.rows.end(), [](const CapacityRow& r) { return r.reliability; });
  if (rel) out += ", with failures, at " + fmt(p.confidence * 100) + "% confidence";
  out += "\n\n";
  char line[512];
  for (const auto& r : p.rows) {
    std::snprintf(line, sizeof line, "%-16s %6d GPUs  ", r.part.c_str(), r.gpus);
    out += line;
    if (r.layout.empty()) {
      out += "no layout works: " + r.why_none + "\n";
      continue;
    }
    out += r.layout + "\n";
    const std::string evals = r.eval_days > 0 ? " (" + fmt(r.eval_days) + " of them evaluation)" : "";
    std::snprintf(line, sizeof line,
                  "    failure-free: %s tokens/s, %s days%s, %s GPU-hours, %s MWh, %s %s\n", fmt(r.tokens_per_s).c_str(),
                  fmt(r.time_days).c_str(), evals.c_str(), fmt(r.gpu_hours).c_str(), fmt(r.energy_mwh).c_str(),
                  fmt(r.cost).c_str(), p.currency.c_str());
    out += line;
    if (r.reliability) {
      std::snprintf(line, sizeof line,
                    "    with failures (%d seeds): %s +- %s days (%s%% of seeds within %s), %s GPU-hours, %s MWh, "
                    "%s +- %s %s; %s of seeds meet the deadline\n",
                    r.seeds, fmt(r.rel_time_days).c_str(), fmt(r.rel_time_ci95).c_str(),
                    fmt(p.confidence * 100).c_str(),
                    fmt(r.rel_time_quantile).c_str(), fmt(r.rel_gpu_hours).c_str(), fmt(r.rel_energy_mwh).c_str(),
                    fmt(r.rel_cost).c_str(), fmt(r.rel_cost_ci95).c_str(), p.currency.c_str(),
                    fmt(r.met_fraction * 100, 3).append("%").c_str());
      out += line;
    }
    out += std::string("    meets the deadline: ") + (r.meets ? "yes" : "no") + "\n";
  }
  out += "\nsmallest configuration that meets the deadline:\n";
  for (size_t i = 0; i < p.parts.size(); ++i) {
    out += "  " + p.parts[i] + ": ";
    if (p.best[i] == p.rows.size()) out += "none of the GPU counts tried\n";
    else out += std::to_string(p.rows[p.best[i]].gpus) + " GPUs, " + p.rows[p.best[i]].layout + "\n";
  }
  return out;
}

}  // namespace lcsim::sweep
