#include "models/hardware/energy_meter.h"

#include <algorithm>

#include "sim/error.h"

namespace lcsim::hw {

EnergyMeter::EnergyMeter(std::vector<Pool> pools) : pools_(std::move(pools)) {
  for (uint32_t p = 0; p < pools_.size(); ++p) {
    const size_t gpus = static_cast<size_t>(pools_[p].nodes) * static_cast<size_t>(pools_[p].node->gpus);
    pool_of_.insert(pool_of_.end(), gpus, p);
  }
  compute_.assign(pool_of_.size(), 0.0);
  comm_.assign(pool_of_.size(), 0.0);
}

void EnergyMeter::on_busy(const BusyEvent& e) {
  LCSIM_ASSERT(e.rank < compute_.size(), "busy event for a GPU the cluster does not have");
  // A stretch holds at most its own length of activity, compute first.
  const double len = std::max(0.0, (e.end - e.start).s());
  const double c = std::clamp(e.compute.s(), 0.0, len);
  compute_[e.rank] += c;
  comm_[e.rank] += std::clamp(e.comm.s(), 0.0, len - c);
  ++events_;
}

std::vector<PoolUsage> EnergyMeter::usage(Duration span) const {
  std::vector<double> busy(pools_.size(), 0.0), comm(pools_.size(), 0.0);
  for (size_t r = 0; r < pool_of_.size(); ++r) {
    busy[pool_of_[r]] += compute_[r];
    comm[pool_of_[r]] += comm_[r];
  }
  std::vector<PoolUsage> out;
  for (size_t p = 0; p < pools_.size(); ++p) {
    const double gpu_seconds = static_cast<double>(pools_[p].nodes) * pools_[p].node->gpus * span.s();
    const double b = gpu_seconds > 0 ? std::min(1.0, busy[p] / gpu_seconds) : 0.0;
    const double c = gpu_seconds > 0 ? std::min(1.0 - b, comm[p] / gpu_seconds) : 0.0;
    out.push_back({pools_[p].node, pools_[p].nodes, b, c, pools_.size() > 1 ? pools_[p].name : std::string()});
  }
  return out;
}

}  // namespace lcsim::hw
