// What a job's restart runs: a fresh workload from the first one's configuration (copied by the workload itself
// and validated again against the job's GPUs) and wired to the run as the first was (a serving deployment's link to
// the cluster's storage, which its autoscaler loads weights from). scenarios/run.cc builds every job with it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "scenarios/catalog.h"
#include "workloads/job.h"

namespace lcsim {

/// A fresh workload of `type` (`from`'s own) with the configuration of `from`, copied as it is
/// (Workload::copy_config), validated again against `gpus`. Nothing else of `from` is
/// carried over (see restart_factory), except with
/// `from_gpus`: `from` is validated and never started, against those GPUs, equal to `gpus` rank for rank (a copy
/// of the same cluster), and the validation may take over what from's computed (Workload::validate_like).
std::unique_ptr<wl::Workload> copy_workload(const Catalog& catalog, const std::string& type, const wl::Workload& from,
                                            const std::vector<wl::Gpu>& gpus,
                                            const std::vector<wl::Gpu>* from_gpus = nullptr);

/// The factory of `first`'s restarts (`type`: its workload type name). `first` outlives the factory.
wl::Job::Factory restart_factory(const Catalog& catalog, const std::string& type, wl::Workload* first);

}  // namespace lcsim
