// Real fault traces, replayed as they are or fitted. The format read here is the InfiniteHBD trace of a production
// LLM-training cluster (StepFun, data/failures/): a JSON list of events {node_id, event_time (days), event_type
// fault_start | fault_end, fault_type {Level, Class, Desc}}; a fault_end closes the open fault of the same node and
// type. Bad events are InputErrors at their file:line.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "sim/units.h"

namespace lcsim::failure {

struct Fault {
  uint32_t node;      // index of the node in order of first appearance
  Duration start;     // from the trace's time origin
  Duration end;       // repaired
  std::string level;  // "Hardware Failure", "Software Failure", ...
  std::string cls;    // "GPU", "NIC", "Parameter Plane Cable", ...
  std::string desc;
  Duration repair() const { return end - start; }
};

struct FaultTrace {
  std::string source;
  std::vector<Fault> faults;  // by start time
  std::vector<std::string> nodes;  // node ids, by first appearance
  Duration span;              // last event time
  /// Faults per class, most frequent first (ties by name).
  std::vector<std::pair<std::string, size_t>> by_class() const;
};

/// Reads a trace in the InfiniteHBD format. Throws InputError naming file, line and what is wrong.
FaultTrace load_fault_trace(const std::string& path);

}  // namespace lcsim::failure
