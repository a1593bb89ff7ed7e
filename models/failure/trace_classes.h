// A real fault trace as failure classes: each trace fault mapped to one of lcsim's classes (gpu, nic, link, host,
// software, filesystem), per-class processes fitted from it, and the faults replayed as a job's interruptions.
#pragma once

#include <string>
#include <vector>

#include "models/failure/components.h"
#include "models/failure/fault_trace.h"

namespace lcsim::failure {

/// lcsim's class for a trace fault: GPU -> gpu, NIC -> nic, Parameter Plane Cable -> link, File System ->
/// filesystem, any other Software Failure and Training Task Troubleshooting / System Crash -> software, everything
/// else (other hardware, unknown errors, stress-test failures, changes, tests) -> host.
std::string trace_class_of(const Fault& f);

/// The number of servers the InfiniteHBD trace was drawn from (its README: 400 randomly chosen servers; only
/// those with a fault appear in the events).
constexpr int kInfiniteHbdServers = 400;

/// For each of `like`'s classes (their detection and action kept): unit node, exponential mtbf = `population` x
/// the trace's span / the class's faults (0 = none seen), repair = Weibull MLE of the class's positive repair
/// times (the whole trace's when the class has fewer than 5).
std::vector<ComponentClass> fit_trace_classes(const FaultTrace& t, int population,
                                              const std::vector<ComponentClass>& like);

/// The trace's faults as interruptions of a job on `nodes` nodes of a trace drawn from `population` servers: job
/// node j is the trace's server j mod population, and the k-th copy of the trace (j / population) is shifted
/// cyclically by k x span / copies so that copies do not fail together. Causes index `classes` by name (a fault
/// whose class is missing there is dropped). Sorted by time.
std::vector<Interruption> trace_interruptions(const FaultTrace& t, int population,
                                              const std::vector<ComponentClass>& classes, int nodes);

}  // namespace lcsim::failure
