#include "policies/request_routing.h"

namespace lcsim::policy {

uint32_t least_loaded(const std::vector<InstanceLoad>& loads) {
  uint32_t best = 0;
  for (uint32_t i = 1; i < loads.size(); ++i) {
    if (loads[i].outstanding_tokens < loads[best].outstanding_tokens) best = i;
  }
  return best;
}

namespace {

class RoundRobin final : public RequestRouter {
 public:
  uint32_t route(const RouteRequest&, const std::vector<InstanceLoad>& loads) override {
    return static_cast<uint32_t>(next_++ % loads.size());
  }

 private:
  uint64_t next_ = 0;
};

class LeastOutstandingTokens final : public RequestRouter {
 public:
  uint32_t route(const RouteRequest&, const std::vector<InstanceLoad>& loads) override { return least_loaded(loads); }
};

class PrefixAffinity final : public RequestRouter {
 public:
  explicit PrefixAffinity(const RouterOptions& o) : rng_(o.seed), slack_(o.affinity_slack) {}
  uint32_t route(const RouteRequest& r, const std::vector<InstanceLoad>& loads) override {
    const uint32_t least = least_loaded(loads);
    if (!r.hash_ids || r.hash_ids->empty()) return least;
    // Keyed by the second block where there is one: in the Mooncake traces block 0 is a system prompt nearly every
    // request shares, while the turns of one conversation share their history from block 1 on.
    const uint64_t key = (*r.hash_ids)[r.hash_ids->size() > 1 ? 1 : 0];
    const uint32_t home = static_cast<uint32_t>(rng_.hash("route.prefix", key) % loads.size());
    const double request_tokens = static_cast<double>(r.input_tokens) + r.output_tokens;
    if (static_cast<double>(loads[home].outstanding_tokens) >
        slack_ * static_cast<double>(loads[least].outstanding_tokens) + request_tokens) {
      return least;
    }
    return home;
  }

 private:
  RngFactory rng_;
  double slack_;
};

}  // namespace

void register_request_routers(Registry<RouterFactory>& r) {
  r.add("round_robin", "instances in turn",
        [](const RouterOptions&) -> std::unique_ptr<RequestRouter> { return std::make_unique<RoundRobin>(); });
  r.add("least_outstanding_tokens", "the instance with the fewest tokens still to compute or generate",
        [](const RouterOptions&) -> std::unique_ptr<RequestRouter> {
          return std::make_unique<LeastOutstandingTokens>();
        });
  r.add("prefix_affinity",
        "requests sharing their first prefix block go to one instance (its KV cache), unless it is overloaded",
        [](const RouterOptions& o) -> std::unique_ptr<RequestRouter> { return std::make_unique<PrefixAffinity>(o); });
}

}  // namespace lcsim::policy
