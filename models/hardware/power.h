// Power, energy and cost, by part and by state (the way SimGrid's host-energy plugin integrates a host's power
// over its load). An accelerator draws its `tdp` while it computes, `idle_power + comm_power_fraction x (tdp -
// idle_power)` while it only communicates (NCCL kernels keep some SMs and the memory busy), and `idle_power` the
// rest of the time; under a power limit below TDP (AcceleratorSpec::power_limit, power_limit.h) the limit takes the
// place of `tdp` in both, so a capped GPU never draws above its cap. The rest of a node (CPUs, memory, NICs, fans, drives) draws `overhead_idle_power` plus
// (`overhead_power` - `overhead_idle_power`) x the fraction of time its accelerators are active. The fabric's
// switches draw `switch_power` each, all the time. The facility multiplies IT energy by the PUE. Money:
// GPU-hours x price per GPU-hour (rental or amortized capital) and facility energy x price per kWh.
//
// The busy and communicating GPU-seconds come from the energy meter (energy_meter.h), which integrates the
// BusyEvents that workloads emit for every GPU.
#pragma once

#include <string>
#include <vector>

#include "models/hardware/node.h"
#include "sim/config.h"
#include "sim/metrics.h"

namespace lcsim::hw {

struct CostConfig {
  double pue = 1.3;
  double price_per_gpu_hour = 2.0;  // currency units per accelerator-hour
  double price_per_kwh = 0.10;      // currency units per facility kWh
  std::string currency = "USD";
  double token_budget = 0;          // tokens to train; 0 = report the simulated run only
  double comm_power_fraction = 0.3;  // a communicating (not computing) GPU: idle + this x (tdp - idle)
  Power switch_power = Power::watts(750);  // one fabric switch (64 x 400G class), ports and fans included
  int switch_radix = 64;                   // its ports: a port in use draws switch_power / switch_radix
  void visit(Section& s);
};

/// How one pool of identical nodes spent a stretch of time.
struct PoolUsage {
  const NodeSpec* node;
  int nodes;
  double busy_fraction;        // accelerator-time computing / accelerator-time
  double comm_fraction = 0.0;  // accelerator-time only communicating / accelerator-time
  std::string name = {};       // the pool's name (per-pool metrics); empty: not reported apart
};

struct EnergyReport {
  double gpu_hours = 0;
  // IT energy by state (kWh).
  double gpu_compute_kwh = 0;
  double gpu_comm_kwh = 0;
  double gpu_idle_kwh = 0;
  double host_kwh = 0;
  double network_kwh = 0;
  double it_energy_kwh = 0;
  double facility_energy_kwh = 0;
  double cost_gpu_hours = 0;
  double cost_energy = 0;
  double average_power_kw = 0;  // facility
  std::vector<double> pool_it_kwh;  // per pool, accelerators and host (not the fabric)
};

/// Energy of `pools` (and `switch_ports` fabric switch ports in use) over `span`.
EnergyReport energy_over(const std::vector<PoolUsage>& pools, int switch_ports, Duration span, const CostConfig& cost);
/// Adds energy_mwh, its split by state and pool, power_kw, gpu_hours, cost_* (and, with a token budget, the same for
/// the whole training: its tokens at `tokens_per_s`, plus `budget_extra`, what the workload spends besides them) to
/// `m`.
void report_energy(MetricSet& m, const EnergyReport& run, const CostConfig& cost, double tokens_per_s,
                   const std::vector<PoolUsage>& pools, int switch_ports, Duration budget_extra = Duration());

}  // namespace lcsim::hw
