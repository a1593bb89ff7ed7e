// Request routing for inference serving: which instance of a deployment gets a new request. Pure functions of the
// request and the instances' current loads (no engine headers), so a real router can call the same code.
//   round_robin:              instances in turn.
//   least_outstanding_tokens: the instance with the fewest tokens still to compute or generate (ties: lowest index).
//   prefix_affinity:          requests that share their second prefix block (the first where there is one
//                             block only; block 0 is mostly a shared system prompt) go to the same instance (a
//                             seeded hash of the block id), so its KV cache holds the prefix; when that instance has more than
//                             `affinity_slack` times the least loaded one's outstanding tokens (plus one request's
//                             worth), the least loaded one gets it instead (SGLang's cache-aware router does the
//                             same with its balance threshold).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/registry.h"
#include "sim/rng.h"

namespace lcsim::policy {

/// What a router sees of one instance.
struct InstanceLoad {
  uint64_t outstanding_tokens = 0;
  uint32_t running = 0;
  uint32_t waiting = 0;
};

/// What a router sees of a request.
struct RouteRequest {
  uint64_t id = 0;
  uint32_t input_tokens = 0;
  uint32_t output_tokens = 0;
  const std::vector<uint64_t>* hash_ids = nullptr;  // prefix blocks; null or empty when the trace has none
};

class RequestRouter {
 public:
  virtual ~RequestRouter() = default;
  /// The index of the instance (into `loads`, at least one) that serves `r`.
  virtual uint32_t route(const RouteRequest& r, const std::vector<InstanceLoad>& loads) = 0;
};

struct RouterOptions {
  uint64_t seed = 1;
  double affinity_slack = 2.0;
};

using RouterFactory = std::unique_ptr<RequestRouter> (*)(const RouterOptions&);
void register_request_routers(Registry<RouterFactory>& r);

/// The instance with the fewest outstanding tokens (lowest index on ties).
uint32_t least_loaded(const std::vector<InstanceLoad>& loads);

}  // namespace lcsim::policy
