// Power, energy and cost. An accelerator draws idle_power plus (tdp - idle_power) x its busy fraction; the rest
// of a node draws overhead_idle_power plus (overhead_power - overhead_idle_power) x the busy fraction of its
// accelerators; the facility multiplies IT energy by the PUE. Money: GPU-hours x price per GPU-hour (rental or
// amortized capital) and facility energy x price per kWh, reported apart and summed.
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
  void visit(Section& s);
};

/// How one pool of identical nodes spent a stretch of time.
struct PoolUsage {
  const NodeSpec* node;
  int nodes;
  double busy_fraction;  // mean accelerator busy fraction over the stretch
};

struct EnergyReport {
  double gpu_hours = 0;
  double it_energy_kwh = 0;
  double facility_energy_kwh = 0;
  double cost_gpu_hours = 0;
  double cost_energy = 0;
  double average_power_kw = 0;  // facility
};

EnergyReport energy_over(const std::vector<PoolUsage>& pools, Duration span, const CostConfig& cost);
/// Adds energy_mwh, gpu_hours, cost_* (and, with a token budget, the same for the whole training) to `m`.
void report_energy(MetricSet& m, const EnergyReport& run, const CostConfig& cost, double tokens_per_s,
                   const std::vector<PoolUsage>& pools);

}  // namespace lcsim::hw
