#include "models/hardware/power.h"

namespace lcsim::hw {

void CostConfig::visit(Section& s) {
  s.field("pue", pue, "power usage effectiveness: facility energy / IT energy", Range::at_least(1));
  s.field("price_per_gpu_hour", price_per_gpu_hour, "money per accelerator-hour (rental or amortized)",
          Range::at_least(0));
  s.field("price_per_kwh", price_per_kwh, "money per facility kWh", Range::at_least(0));
  s.field("currency", currency, "currency label of the prices");
  s.field("token_budget", token_budget, "tokens to train: also report time, GPU-hours, energy and cost for all "
                                        "of them at the simulated throughput; 0 = off",
          Range::at_least(0));
}

EnergyReport energy_over(const std::vector<PoolUsage>& pools, Duration span, const CostConfig& cost) {
  EnergyReport r;
  const double hours = span.s() / 3600.0;
  double it_kw = 0;
  for (const auto& p : pools) {
    const AcceleratorSpec& a = p.node->accelerator;
    const double u = p.busy_fraction;
    const double gpu_w = a.idle_power.w() + (a.tdp.w() - a.idle_power.w()) * u;
    const double host_w =
        p.node->overhead_idle_power.w() + (p.node->overhead_power.w() - p.node->overhead_idle_power.w()) * u;
    it_kw += p.nodes * (p.node->gpus * gpu_w + host_w) / 1000.0;
    r.gpu_hours += p.nodes * p.node->gpus * hours;
  }
  r.it_energy_kwh = it_kw * hours;
  r.facility_energy_kwh = r.it_energy_kwh * cost.pue;
  r.average_power_kw = it_kw * cost.pue;
  r.cost_gpu_hours = r.gpu_hours * cost.price_per_gpu_hour;
  r.cost_energy = r.facility_energy_kwh * cost.price_per_kwh;
  return r;
}

void report_energy(MetricSet& m, const EnergyReport& run, const CostConfig& cost, double tokens_per_s,
                   const std::vector<PoolUsage>& pools) {
  m.set_label("currency", cost.currency);
  m.set("power_kw", run.average_power_kw, "mean facility power (IT power x PUE) during the run");
  m.set("energy_mwh", run.facility_energy_kwh / 1000.0, "facility energy of the simulated run");
  m.set("gpu_hours", run.gpu_hours, "accelerator-hours of the simulated run");
  m.set("cost_gpu_hours", run.cost_gpu_hours, "gpu_hours x price_per_gpu_hour");
  m.set("cost_energy", run.cost_energy, "facility energy x price_per_kwh");
  m.set("cost_total", run.cost_gpu_hours + run.cost_energy, "cost_gpu_hours + cost_energy");
  if (cost.token_budget > 0 && tokens_per_s > 0) {
    const Duration t = Duration::seconds(cost.token_budget / tokens_per_s);
    const EnergyReport all = energy_over(pools, t, cost);
    m.set("budget_time_days", t.s() / 86400.0, "time to train token_budget tokens at the simulated throughput");
    m.set("budget_gpu_hours", all.gpu_hours, "accelerator-hours to train token_budget tokens");
    m.set("budget_energy_mwh", all.facility_energy_kwh / 1000.0, "facility energy to train token_budget tokens");
    m.set("budget_cost_total", all.cost_gpu_hours + all.cost_energy, "money to train token_budget tokens");
  }
}

}  // namespace lcsim::hw
