// A part's measured collective calibration: the NCCL-style protocols its scale-up domain runs (latencies and the
// fraction of scale-up bandwidth each reaches, per algorithm) and its send/recv efficiency, fitted to published
// nccl-tests measurements (bench/fit_nccl_scaleup.py; every value cited in docs/calibration.md). A scenario's
// policies.collectives uses it when it lists no protocols of its own (part_calibration). Data only: the network
// layer's CollectiveProtocol has the same keys.
#pragma once

#include <string>
#include <vector>

#include "sim/config.h"
#include "sim/units.h"

namespace lcsim::hw {

struct CollectiveProtocolCalibration {
  std::string name;
  Duration base_latency;
  Duration step_latency;
  double scale_up_efficiency = 1.0;
  bool intra_node_only = false;
  std::vector<std::string> algorithms;  // empty = every algorithm
  int chunk_channels = 0;               // NVLS: channels a call is split over; 0 = two steps
  Bytes max_chunk = Bytes::kib(128);    // NVLS: largest chunk per channel and GPU per round
  Duration floor_latency;               // NVLS: the least time a call takes; 0 = none
  void visit(Section& s);
};

struct CollectiveCalibration {
  std::vector<CollectiveProtocolCalibration> protocols;  // empty: no calibration (the scenario's defaults stand)
  double p2p_scale_up_efficiency = 0;                    // send/recv inside a node; 0 = not calibrated
  double all_to_all_scale_out_efficiency = 0;            // an all-to-all's traffic between nodes; 0 = not calibrated
  double all_gather_scale_up_factor = 0;      // all-gather's kernels inside a node, of all-reduce's; 0 = not calibrated
  double reduce_scatter_scale_up_factor = 0;  // the same for reduce-scatter
  std::string source;                                    // where the numbers come from
  bool empty() const { return protocols.empty(); }
  void visit(Section& s);
};

}  // namespace lcsim::hw
