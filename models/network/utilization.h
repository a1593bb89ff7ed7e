// Link utilization over time, as an observer of the network: every interval, each link tier's mean and busiest link
// (the rate the transfer model reports / capacity), as counter events for the timeline's subscribers and as CSV rows.
// It schedules its own samples on the engine (as the cluster, not a job) until told to stop.
#pragma once

#include <functional>
#include <string>

#include "models/network/transfer.h"
#include "sim/engine.h"
#include "sim/trace.h"

namespace lcsim::net {

class UtilizationSampler {
 public:
  UtilizationSampler(sim::Engine& engine, const Topology& topology, const TransferModel& transfer, const Tracer& tracer,
                     Duration interval);
  /// Samples now and then every interval while `keep_going()` says so.
  void start(std::function<bool()> keep_going);
  /// "time_s,tier,mean,max" rows so far.
  const std::string& csv() const { return csv_; }

 private:
  void sample();
  sim::Engine& engine_;
  const Topology& topology_;
  const TransferModel& transfer_;
  const Tracer& tracer_;
  Duration interval_;
  std::function<bool()> keep_going_;
  std::string csv_ = "time_s,tier,mean,max\n";
};

}  // namespace lcsim::net
