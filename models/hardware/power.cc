#include "models/hardware/power.h"

#include <algorithm>

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
  s.field("comm_power_fraction", comm_power_fraction,
          "a GPU that communicates without computing draws idle_power + this x (tdp - idle_power), power_limit in "
          "place of tdp where the part has one (assumed: no "
          "public measurement; docs/calibration.md)",
          Range::between(0, 1));
  s.field("switch_power", switch_power,
          "power of one fabric switch (leaf, spine, core), drawn all the time (docs/calibration.md)",
          Range::at_least(0));
  s.field("switch_radix", switch_radix, "ports of that switch: each port in use draws switch_power / switch_radix",
          Range::at_least(1));
}

EnergyReport energy_over(const std::vector<PoolUsage>& pools, int switch_ports, Duration span, const CostConfig& cost) {
  EnergyReport r;
  const double hours = span.s() / 3600.0;
  for (const auto& p : pools) {
    const AcceleratorSpec& a = p.node->accelerator;
    const double gpus = static_cast<double>(p.nodes) * p.node->gpus;
    const double busy = std::clamp(p.busy_fraction, 0.0, 1.0);
    const double comm = std::clamp(p.comm_fraction, 0.0, 1.0 - busy);
    const double cap = a.power_cap().w();  // tdp, or the power limit below it: no state draws more
    const double comm_w = a.idle_power.w() + cost.comm_power_fraction * (cap - a.idle_power.w());
    const double compute_kwh = gpus * busy * hours * cap / 1000.0;
    const double comm_kwh = gpus * comm * hours * comm_w / 1000.0;
    const double idle_kwh = gpus * (1.0 - busy - comm) * hours * a.idle_power.w() / 1000.0;
    const double host_w = p.node->overhead_idle_power.w() +
                          (p.node->overhead_power.w() - p.node->overhead_idle_power.w()) * (busy + comm);
    const double host_kwh = p.nodes * host_w * hours / 1000.0;
    r.gpu_compute_kwh += compute_kwh;
    r.gpu_comm_kwh += comm_kwh;
    r.gpu_idle_kwh += idle_kwh;
    r.host_kwh += host_kwh;
    r.pool_it_kwh.push_back(compute_kwh + comm_kwh + idle_kwh + host_kwh);
    r.gpu_hours += gpus * hours;
  }
  r.network_kwh = switch_ports * cost.switch_power.w() / cost.switch_radix * hours / 1000.0;
  r.it_energy_kwh = r.gpu_compute_kwh + r.gpu_comm_kwh + r.gpu_idle_kwh + r.host_kwh + r.network_kwh;
  r.facility_energy_kwh = r.it_energy_kwh * cost.pue;
  r.average_power_kw = hours > 0 ? r.facility_energy_kwh / hours : 0.0;
  r.cost_gpu_hours = r.gpu_hours * cost.price_per_gpu_hour;
  r.cost_energy = r.facility_energy_kwh * cost.price_per_kwh;
  return r;
}

void report_energy(MetricSet& m, const EnergyReport& run, const CostConfig& cost, double tokens_per_s,
                   const std::vector<PoolUsage>& pools, int switch_ports, Duration budget_extra) {
  m.set_label("currency", cost.currency);
  m.set("power_kw", run.average_power_kw, "mean facility power (IT power x PUE) during the run");
  m.set("energy_mwh", run.facility_energy_kwh / 1000.0, "facility energy of the simulated run");
  m.set("energy_it_mwh", run.it_energy_kwh / 1000.0, "IT energy (accelerators, hosts, fabric switches)");
  m.set("energy_gpu_compute_mwh", run.gpu_compute_kwh / 1000.0, "IT energy of accelerators while computing");
  m.set("energy_gpu_comm_mwh", run.gpu_comm_kwh / 1000.0,
        "IT energy of accelerators while communicating and not computing");
  m.set("energy_gpu_idle_mwh", run.gpu_idle_kwh / 1000.0, "IT energy of accelerators while idle");
  m.set("energy_host_mwh", run.host_kwh / 1000.0, "IT energy of the rest of the nodes (CPUs, memory, NICs, fans)");
  m.set("energy_network_mwh", run.network_kwh / 1000.0, "IT energy of the fabric switches");
  m.set("fabric_switch_ports", switch_ports, "fabric switch ports in use, each drawing switch_power / switch_radix");
  for (size_t p = 0; p < pools.size() && p < run.pool_it_kwh.size(); ++p) {
    if (pools[p].name.empty()) continue;
    const std::string& n = pools[p].name;
    m.set("energy_it_mwh_" + n, run.pool_it_kwh[p] / 1000.0, "IT energy of pool " + n + " (accelerators and hosts)");
    m.set("gpu_busy_fraction_" + n, pools[p].busy_fraction, "fraction of pool " + n + "'s accelerator-time computing");
    m.set("gpu_comm_fraction_" + n, pools[p].comm_fraction,
          "fraction of pool " + n + "'s accelerator-time communicating and not computing");
  }
  m.set("gpu_hours", run.gpu_hours, "accelerator-hours of the simulated run");
  m.set("cost_gpu_hours", run.cost_gpu_hours, "gpu_hours x price_per_gpu_hour");
  m.set("cost_energy", run.cost_energy, "facility energy x price_per_kwh");
  m.set("cost_total", run.cost_gpu_hours + run.cost_energy, "cost_gpu_hours + cost_energy");
  if (cost.token_budget > 0 && tokens_per_s > 0) {
    const Duration t = Duration::seconds(cost.token_budget / tokens_per_s) + budget_extra;
    const EnergyReport all = energy_over(pools, switch_ports, t, cost);
    m.set("budget_tokens", cost.token_budget, "cost.token_budget: the tokens the budget_* metrics train");
    m.set("budget_time_days", t.s() / 86400.0,
          "time to train token_budget tokens at the simulated throughput, with what the workload spends besides "
          "(budget_eval_time_days: Megatron-LM's evaluations)");
    m.set("budget_gpu_hours", all.gpu_hours, "accelerator-hours to train token_budget tokens");
    m.set("budget_energy_mwh", all.facility_energy_kwh / 1000.0, "facility energy to train token_budget tokens");
    m.set("budget_cost_total", all.cost_gpu_hours + all.cost_energy, "money to train token_budget tokens");
  }
}

}  // namespace lcsim::hw
