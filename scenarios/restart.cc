#include "scenarios/restart.h"

#include "sim/config.h"
#include "sim/config_tree.h"
#include "workloads/inference/serving.h"

namespace lcsim {

wl::Job::Factory restart_factory(const Catalog& catalog, const std::string& type, wl::Workload* first) {
  return [&catalog, type, first](const std::vector<wl::Gpu>& job_gpus) {
    ConfigValue tree;
    Section emit = Section::emitter("workload", &tree);
    first->visit(emit);
    std::unique_ptr<wl::Workload> w = catalog.workloads.get(type).factory();
    Diagnostics diags;
    Section s = Section::parser(&tree, "workload", &diags);
    w->visit(s);
    s.finish();
    Section v = Section::parser(&tree, "workload", &diags);
    w->validate(job_gpus, v);
    diags.throw_if_any();
    // What the run gave the first workload besides its configuration.
    const auto* serving = dynamic_cast<const inf::InferenceServing*>(first);
    if (auto* again = dynamic_cast<inf::InferenceServing*>(w.get()); serving && again) again->link_storage_like(*serving);
    return w;
  };
}

}  // namespace lcsim
