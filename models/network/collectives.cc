#include "models/network/collectives.h"

#include <memory>

namespace lcsim::net {

void CollectiveConfig::visit(Section& s) {
  s.choice("algorithm", algorithm, {"ring"}, "all-reduce algorithm (tree, hierarchical, in-switch: later)");
  s.field("channels", channels, "rings run in parallel, each with 1/channels of the data; 0 = GPUs per node",
          Range::at_least(0));
  s.field("base_latency", base_latency, "fixed latency of one collective (NCCL ring/simple baseLat)",
          Range::at_least(0));
  s.field("step_latency", step_latency, "latency of each of the 2(n-1) ring steps (NCCL ring/simple hwLat)",
          Range::at_least(0));
}

Collectives::Collectives(sim::Engine& engine, const Topology& topology, TransferModel& transfer,
                         CollectiveConfig config, uint32_t gpus_per_node)
    : engine_(engine), topology_(topology), transfer_(transfer), config_(std::move(config)) {
  channels_ = config_.channels > 0 ? static_cast<uint32_t>(config_.channels) : gpus_per_node;
}

namespace {
double ring_steps(Collectives::Kind kind, size_t n) {
  return (kind == Collectives::Kind::kAllReduce ? 2.0 : 1.0) * (static_cast<double>(n) - 1);
}
}  // namespace

Duration Collectives::ring_latency(size_t n, Kind kind) const {
  return config_.base_latency + config_.step_latency * ring_steps(kind, n);
}

std::vector<FlowRequest> Collectives::ring_flows(Kind kind, const std::vector<uint32_t>& ranks, Bytes size) const {
  std::vector<FlowRequest> flows;
  const size_t n = ranks.size();
  if (n < 2) return flows;
  const Bytes per_edge = size * (ring_steps(kind, n) / n) / channels_;
  // Group ranks by node (they arrive sorted by node).
  std::vector<std::vector<uint32_t>> groups;
  for (uint32_t r : ranks) {
    if (groups.empty() || topology_.node_of(groups.back().front()) != topology_.node_of(r)) groups.emplace_back();
    groups.back().push_back(r);
  }
  std::vector<uint32_t> order;
  for (uint32_t c = 0; c < channels_; ++c) {
    order.clear();
    for (const auto& g : groups) {
      const size_t k = g.size();
      for (size_t i = 0; i < k; ++i) order.push_back(g[(i + c) % k]);  // channel c enters each node at its GPU c
    }
    for (size_t i = 0; i < n; ++i) flows.push_back({order[i], order[(i + 1) % n], per_edge, c});
  }
  return flows;
}

void Collectives::run(Kind kind, const std::vector<uint32_t>& ranks, Bytes size, sim::Callback done) {
  ++count_;
  if (ranks.size() < 2 || size.bytes() <= 0) {
    engine_.after(Duration(), std::move(done), sim::kCompletion);
    return;
  }
  const Duration start = engine_.now();
  auto flows = std::make_shared<std::vector<FlowRequest>>(ring_flows(kind, ranks, size));
  engine_.after(ring_latency(ranks.size(), kind), [this, flows, start, done = std::move(done)]() mutable {
    transfer_.transfer(*flows, [this, start, done = std::move(done)] {
      busy_ += engine_.now() - start;
      done();
    });
  }, sim::kCompletion);
}

}  // namespace lcsim::net
