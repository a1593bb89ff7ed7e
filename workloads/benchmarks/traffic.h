// Synthetic traffic for load-balancing studies: a permutation (every GPU sends one large flow to another GPU,
// chosen by a seeded shuffle so that no GPU sends to itself) or an all-to-all (every GPU sends to every other),
// all flows started together. Reports the achieved throughput as a percent of the ideal (every flow at its
// sender's NIC rate: the time a non-blocking fabric would take), flow completion times, and how evenly the
// scale-out links were used.
#pragma once

#include <string>
#include <vector>

#include "workloads/workload.h"

namespace lcsim::wl {

struct TrafficConfig {
  std::string pattern = "permutation";  // permutation, all_to_all
  Bytes flow_size = Bytes::gib(1);
  bool cross_node_only = true;  // permutation partners on other nodes (so every flow uses the scale-out fabric)
  void visit(Section& s);
};

class Traffic final : public Workload {
 public:
  void visit(Section& s) override { config_.visit(s); }
  void copy_config(const Workload& from) override { config_ = same_type<Traffic>(from).config_; }
  void validate(const std::vector<Gpu>& gpus, Section& s) override;
  void start(RunContext& ctx) override;
  void report(MetricSet& m) const override;
  double progress() const override { return flows_ == 0 ? 0.0 : static_cast<double>(done_) / flows_; }
  std::string describe() const override;

 private:
  TrafficConfig config_;
  RunContext* ctx_ = nullptr;
  size_t flows_ = 0, done_ = 0;
  std::vector<double> fct_;  // per flow, seconds
  Duration start_, end_;
  double ideal_s_ = 0;
  double bytes_ = 0;
};

}  // namespace lcsim::wl
