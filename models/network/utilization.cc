#include "models/network/utilization.h"

#include <algorithm>
#include <cstdio>
#include <map>

namespace lcsim::net {

UtilizationSampler::UtilizationSampler(sim::Engine& engine, const Topology& topology, const TransferModel& transfer,
                                       const Tracer& tracer, Duration interval)
    : engine_(engine), topology_(topology), transfer_(transfer), tracer_(tracer), interval_(interval) {}

void UtilizationSampler::start(std::function<bool()> keep_going) {
  keep_going_ = std::move(keep_going);
  engine_.as_owner(0, [this] { engine_.after(Duration(), [this] { sample(); }, sim::kLate); });
}

void UtilizationSampler::sample() {
  std::map<std::string, std::pair<double, std::pair<double, size_t>>> tiers;  // tier -> (max, (sum, n))
  const auto& ls = topology_.links();
  for (size_t l = 0; l < ls.size(); ++l) {
    const double u = transfer_.current_rate(static_cast<uint32_t>(l)).bps() / ls[l].bandwidth.bps();
    auto& t = tiers[ls[l].tier];
    t.first = std::max(t.first, u);
    t.second.first += u;
    ++t.second.second;
  }
  for (const auto& [tier, t] : tiers) {
    const double mean = t.second.first / static_cast<double>(t.second.second);
    char row[128];
    std::snprintf(row, sizeof row, "%.9g,%s,%.6g,%.6g\n", engine_.now().s(), tier.c_str(), mean, t.first);
    csv_ += row;
    tracer_.counter({"link utilization", tier + " mean", engine_.now(), mean});
    tracer_.counter({"link utilization", tier + " max", engine_.now(), t.first});
  }
  if (keep_going_()) engine_.after(interval_, [this] { sample(); }, sim::kLate);
}

}  // namespace lcsim::net
