#include "scenarios/catalog.h"

#include "workloads/inference/serving.h"

namespace lcsim {

const Catalog& Catalog::get() {
  static const Catalog catalog = [] {
    Catalog c;
    policy::register_load_balancers(c.load_balancers);
    wl::register_workloads(c.workloads);
    inf::register_inference_workloads(c.workloads);
    net::register_topologies(c.topologies);
    net::register_fidelities(c.fidelities);
    net::register_collective_algorithms(c.collective_algorithms);
    storage::register_storage_tiers(c.storage_tiers);
    return c;
  }();
  return catalog;
}

}  // namespace lcsim
