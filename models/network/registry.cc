#include "models/network/registry.h"

#include <cstdlib>
#include <limits>

namespace lcsim::net {

void register_topologies(Registry<TopologyFactory>& r) {
  r.add("leaf_spine", "scale-up domain per node plus a two-tier leaf/spine scale-out fabric",
        [](const TopologyInputs& in) -> std::unique_ptr<Topology> {
          return std::make_unique<LeafSpine>(in.fabric, in.nodes);
        });
  r.add("explicit", "scale-up domain per node plus switches and links listed in the scenario",
        [](const TopologyInputs& in) -> std::unique_ptr<Topology> {
          return std::make_unique<ExplicitTopology>(in.fabric, in.explicit_topology, in.nodes);
        });
}

namespace {

/// The flow model (max-min sharing of every link on every path), whichever engine backend runs it.
std::unique_ptr<TransferModel> make_flow(sim::Engine& e, Topology& t, const policy::LoadBalancer& b,
                                         TransferOptions o, const std::vector<sim::HostId>& hosts) {
  // LCSIM_FLOW_NO_COUPLING (environment, any value): every all-to-all flow runs as its own engine flow, to measure
  // what coupling changes (bench/flowscale.sh; docs/performance-flow.md, "Coupled all-to-all classes").
  if (std::getenv("LCSIM_FLOW_NO_COUPLING") != nullptr) o.couple_from = std::numeric_limits<size_t>::max();
  auto flow = std::make_unique<FlowTransfer>(e, t, b, std::move(o));
  flow->install(hosts);
  return flow;
}

}  // namespace

void register_fidelities(Registry<Fidelity>& r) {
  r.add("flow", "every flow shares links max-min fairly with all traffic in flight (SimGrid)",
        Fidelity{"simgrid", make_flow, true});
  r.add("flow_queue",
        "the flow model on lcsim's own event queue and max-min solver instead of SimGrid: SimGrid's sharing to "
        "rounding, one solve per instant; much faster on large runs (MoE all-to-alls) and many runs per process",
        Fidelity{"queue", make_flow, true});
  r.add("analytical", "alpha-beta per transfer from its own link loads; no cross-traffic (lcsim's own event queue)",
        Fidelity{"queue",
                 [](sim::Engine& e, Topology& t, const policy::LoadBalancer& b, TransferOptions o,
                    const std::vector<sim::HostId>&) -> std::unique_ptr<TransferModel> {
                   return std::make_unique<AnalyticalTransfer>(e, t, b, std::move(o));
                 },
                 false});
}

}  // namespace lcsim::net
