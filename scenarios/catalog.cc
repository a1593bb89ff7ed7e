#include "scenarios/catalog.h"

namespace lcsim {

const Catalog& Catalog::get() {
  static const Catalog catalog = [] {
    Catalog c;
    policy::register_load_balancers(c.load_balancers);
    wl::register_workloads(c.workloads);
    c.topologies.add("leaf_spine", "scale-up domain per node plus a two-tier leaf/spine scale-out fabric", 0);
    c.topologies.add("explicit", "scale-up domain per node plus switches and links listed in the scenario", 1);
    c.fidelities.add("flow", "every flow shares links max-min fairly with all traffic in flight (SimGrid)", 0);
    c.fidelities.add("analytical", "alpha-beta per transfer from its own link loads; no cross-traffic", 1);
    return c;
  }();
  return catalog;
}

}  // namespace lcsim
