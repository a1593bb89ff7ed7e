#include "scenarios/restart.h"

#include "sim/config.h"
#include "sim/config_tree.h"
#include "workloads/inference/serving.h"

namespace lcsim {

std::unique_ptr<wl::Workload> copy_workload(const Catalog& catalog, const std::string& type, const wl::Workload& from,
                                            const std::vector<wl::Gpu>& gpus, const std::vector<wl::Gpu>* from_gpus) {
  std::unique_ptr<wl::Workload> w = catalog.workloads.get(type).factory();
  // Each workload copies its own configuration as it is (Workload::copy_config): no round trip through YAML (0.83M
  // instructions per evaluation of the 175B layout, docs/performance-training-2.md), and what only parsing knew
  // stays. validate() reports against an empty section (the copy's keys are the validated original's).
  w->copy_config(from);
  ConfigValue tree;
  Diagnostics diags;
  Section v = Section::parser(&tree, "workload", &diags);
  if (from_gpus) w->validate_like(from, *from_gpus);
  w->validate(gpus, v);
  diags.throw_if_any();
  return w;
}

wl::Job::Factory restart_factory(const Catalog& catalog, const std::string& type, wl::Workload* first) {
  return [&catalog, type, first](const std::vector<wl::Gpu>& job_gpus) {
    std::unique_ptr<wl::Workload> w = copy_workload(catalog, type, *first, job_gpus);
    // What the run gave the first workload besides its configuration.
    const auto* serving = dynamic_cast<const inf::InferenceServing*>(first);
    if (auto* again = dynamic_cast<inf::InferenceServing*>(w.get()); serving && again) again->link_storage_like(*serving);
    return w;
  };
}

}  // namespace lcsim
