// What a job's restart runs: a fresh workload from the first one's configuration (written out, read back and
// validated again against the job's GPUs) and wired to the run as the first was (a serving deployment's link to
// the cluster's storage, which its autoscaler loads weights from). scenarios/run.cc builds every job with it.
#pragma once

#include <string>

#include "scenarios/catalog.h"
#include "workloads/job.h"

namespace lcsim {

/// The factory of `first`'s restarts (`type`: its workload type name). `first` outlives the factory.
wl::Job::Factory restart_factory(const Catalog& catalog, const std::string& type, wl::Workload* first);

}  // namespace lcsim
