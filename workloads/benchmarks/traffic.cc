#include "workloads/benchmarks/traffic.h"

#include <algorithm>
#include <cstdio>
#include <memory>

namespace lcsim::wl {

void TrafficConfig::visit(Section& s) {
  s.choice("pattern", pattern, {"permutation", "all_to_all"}, "who sends to whom");
  s.field("flow_size", flow_size, "bytes per flow (all_to_all: per pair)", Range::positive());
  s.field("cross_node_only", cross_node_only, "permutation partners always on another node");
}

void Traffic::validate(const std::vector<Gpu>& gpus, Section& s) {
  uint32_t nodes = 0;
  for (const auto& g : gpus) nodes = std::max(nodes, g.node + 1);
  if (config_.cross_node_only && nodes < 2) s.error("cross_node_only", "needs at least 2 nodes");
  if (config_.pattern == "all_to_all" && gpus.size() > 2048) {
    s.error("pattern", "all_to_all of " + std::to_string(gpus.size()) + " GPUs is " +
                           std::to_string(gpus.size() * (gpus.size() - 1)) + " flows; at most 2,048 GPUs");
  }
}

std::string Traffic::describe() const {
  return "traffic: " + config_.pattern + " of " + to_string(config_.flow_size) + " flows";
}

void Traffic::start(RunContext& ctx) {
  ctx_ = &ctx;
  const uint32_t n = static_cast<uint32_t>(ctx.gpus.size());
  std::vector<net::FlowRequest> flows;
  if (config_.pattern == "permutation") {
    // A seeded shuffle, then a fix-up pass so that no GPU sends to itself (or to its own node).
    std::vector<uint32_t> dst(n);
    for (uint32_t i = 0; i < n; ++i) dst[i] = i;
    RandomStream rng = ctx.rng.stream("traffic.permutation");
    for (uint32_t i = n - 1; i > 0; --i) std::swap(dst[i], dst[rng.below(i + 1)]);
    auto bad = [&](uint32_t i) {
      return dst[i] == i || (config_.cross_node_only && ctx.gpus[dst[i]].node == ctx.gpus[i].node);
    };
    for (int pass = 0; pass < 64; ++pass) {
      bool any = false;
      for (uint32_t i = 0; i < n; ++i) {
        if (!bad(i)) continue;
        any = true;
        const uint32_t j = static_cast<uint32_t>(rng.below(n));
        std::swap(dst[i], dst[j]);
      }
      if (!any) break;
    }
    for (uint32_t i = 0; i < n; ++i) {
      if (bad(i)) {
        throw InputError("workload.cross_node_only: found no permutation in which every GPU sends to another node "
                         "(a node holds more than half the GPUs?); set cross_node_only: false");
      }
      flows.push_back({i, dst[i], config_.flow_size, 0});
    }
  } else {
    for (uint32_t a = 0; a < n; ++a) {
      for (uint32_t b = 0; b < n; ++b) {
        if (a != b) flows.push_back({a, b, config_.flow_size, 0});
      }
    }
  }
  flows_ = flows.size();
  fct_.assign(flows_, 0);
  start_ = ctx.engine.now();
  // Ideal: every sender pushes its bytes at its own NIC rate (scale-out) with nothing in the way.
  std::vector<double> per_sender(n, 0);
  for (const auto& f : flows) {
    const bool same_node = ctx.gpus[f.src].node == ctx.gpus[f.dst].node;
    if (!same_node) per_sender[f.src] += f.size.bytes();
    bytes_ += f.size.bytes();
  }
  // Send one batch per flow so that each flow's completion is seen (the transfer model still sees them all in
  // flight together).
  for (size_t i = 0; i < flows.size(); ++i) {
    ctx.collectives.transfer({flows[i]}, [this, i] {
      fct_[i] = (ctx_->engine.now() - start_).s();
      ++done_;
      end_ = ctx_->engine.now();
      if (done_ == fct_.size()) ctx_->finish();
    });
  }
  for (uint32_t i = 0; i < n; ++i) {
    const double nic = ctx.collectives.topology().nic_bandwidth(ctx.collectives.endpoint(i)).bps();
    ideal_s_ = std::max(ideal_s_, per_sender[i] / nic);
  }
}

void Traffic::report(MetricSet& m) const {
  std::vector<double> f = fct_;
  std::sort(f.begin(), f.end());
  const double makespan = (end_ - start_).s();
  double sum = 0;
  for (double x : f) sum += x;
  m.set("flows", static_cast<double>(flows_), "flows started");
  m.set("makespan_s", makespan, "time until the last flow finished");
  m.set("ideal_makespan_s", ideal_s_, "the same with every sender at its NIC rate (non-blocking fabric)");
  m.set("throughput_percent_of_ideal", makespan > 0 ? 100 * ideal_s_ / makespan : 0.0,
        "ideal makespan / makespan, in percent");
  m.set("throughput_bytes_per_s", makespan > 0 ? bytes_ / makespan : 0.0, "all bytes / makespan");
  if (!f.empty()) {
    m.set("fct_mean_s", sum / f.size(), "mean flow completion time");
    m.set("fct_p99_s", f[std::min(f.size() - 1, f.size() * 99 / 100)], "99th percentile flow completion time");
    m.set("fct_max_s", f.back(), "slowest flow");
    m.set_distribution("fct_s", fct_, "flow completion times");
  }
}

}  // namespace lcsim::wl
