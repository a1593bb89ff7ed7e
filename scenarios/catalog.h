// Every registered model and policy, filled by explicit register_*() calls in one place (catalog.cc).
// Accelerator parts and node templates are data: hw::PartCatalog and hw::NodeCatalog.
#pragma once

#include "models/network/collective_algorithms.h"
#include "models/network/registry.h"
#include "models/storage/tier.h"
#include "policies/load_balancing.h"
#include "sim/registry.h"
#include "workloads/workload.h"

namespace lcsim {

struct Catalog {
  Registry<policy::LoadBalancerFactory> load_balancers{"load-balancing policy"};
  Registry<wl::WorkloadFactory> workloads{"workload"};
  Registry<net::TopologyFactory> topologies{"topology"};
  Registry<net::Fidelity> fidelities{"fidelity"};
  net::CollectiveAlgorithms collective_algorithms{"collective algorithm"};
  Registry<storage::TierFactory> storage_tiers{"storage tier"};

  static const Catalog& get();
};

}  // namespace lcsim
