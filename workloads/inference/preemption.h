// What preemption by swap costs: a preempted sequence's KV blocks go over the GPU's path to its host's memory
// (PCIe link, PCIe switch uplink, host memory: models/network/topology.h) and come back when it resumes. vLLM does
// the copies between iterations (swap_out / swap_in before the forward pass), so they add to the iteration's time.
// Each GPU of an instance copies its own shard over its own path, all at once. docs/inference.md.
#pragma once

#include <cstdint>

#include "models/network/topology.h"
#include "sim/units.h"

namespace lcsim::inf {

/// One GPU's path to its host memory, each way: the narrowest link and the sum of the links' latencies.
struct HostPath {
  Bandwidth to_host, from_host;
  Duration to_host_latency, from_host_latency;
  bool modelled = false;  // false: the node models no PCIe path; `fallback` bandwidth, no latency
};

/// The path from GPU `endpoint` to its own node's host memory and back, from the topology where the node's host
/// I/O is modelled, else `fallback` both ways.
HostPath host_path(const net::Topology& topology, uint32_t endpoint, Bandwidth fallback);

/// Seconds to copy `out_bytes` to host memory and then `in_bytes` back (each GPU's share), 0 for none.
double swap_seconds(const HostPath& p, double out_bytes, double in_bytes);

}  // namespace lcsim::inf
