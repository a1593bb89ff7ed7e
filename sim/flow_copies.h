// Identical flows started together, run as one weighted engine flow. Max-min fair sharing gives flows with the
// same ends, path, size and start time equal rates at every instant, so k such flows move exactly like one flow
// of k x size bytes that counts k times on every link it crosses (and gets k shares). That is what a collective's
// wave is full of (the 7 of 8 ring channels that cross one NVLink pair), and what SimGrid 3.32 pays for per comm:
// each completed comm costs O(comms in flight) (docs/performance-flow.md, "Flow fidelity at scale").
//
// Equal to the separate flows in exact arithmetic; the floating-point sums of the sharing can round differently
// in the last bits. On the simgrid backend the path must have a positive latency (the weight rides on it: see
// ExplicitPathZone in simgrid_engine.cc).
#pragma once

#include <cstdint>
#include <vector>

#include "sim/engine.h"

namespace lcsim::sim {

/// Starts `copies` identical flows of `size` bytes each over `path` as one activity (Engine::flow otherwise);
/// `done` runs once, when all of them have arrived (at the same time: their rates are equal).
Handle flow_copies(Engine& engine, HostId src, HostId dst, Bytes size, const std::vector<LinkId>& path,
                   uint32_t copies, Callback done, Callback failed = {});

}  // namespace lcsim::sim
