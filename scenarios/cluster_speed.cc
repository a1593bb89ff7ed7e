#include "scenarios/cluster_speed.h"

#include <algorithm>

#include "scenarios/scenario.h"
#include "sim/error.h"

namespace lcsim {
namespace {

ConfigValue scalar(const std::string& text) {
  ConfigValue v;
  v.kind = ConfigValue::Kind::kScalar;
  v.scalar = text;
  return v;
}

ConfigValue map() {
  ConfigValue v;
  v.kind = ConfigValue::Kind::kMap;
  return v;
}

void erase_key(ConfigValue& m, const std::string& key) {
  std::erase_if(m.children, [&](const ConfigValue& c) { return c.key == key; });
}

std::string job_name(uint64_t id) { return "job" + std::to_string(id); }

}  // namespace

ScenarioJobSpeed::ScenarioJobSpeed(const std::string& cluster_file, Options options)
    : cluster_file_(cluster_file), options_(options), base_(load_layered(cluster_file)) {
  erase_key(base_, "workload");
  erase_key(base_, "jobs");
  erase_key(base_, "name");
  Scenario sc = parse_scenario(base_);
  if (sc.cluster.topology != "leaf_spine")
    throw InputError({{SourceLocation{cluster_file, 0, 0}, "cluster.topology",
                       "the cluster scheduler places jobs on leaf_spine fabrics only, got '" + sc.cluster.topology +
                           "'"}});
  for (const auto& p : sc.cluster.pools)
    cluster_.pools.push_back({p.name, static_cast<uint32_t>(p.count), static_cast<uint32_t>(p.node.gpus), 1.0, 0.0});
  cluster_.fabric = sc.cluster.fabric;
  // Flow runs on lcsim's own queue (many runs per process); the analytical fidelity stays as it is.
  ConfigValue* sim = base_.find("simulation");
  std::string fidelity = sc.simulation.fidelity == "flow" ? "flow_queue" : sc.simulation.fidelity;
  if (!sim) sim = &base_.set("simulation", map());
  sim->set("fidelity", scalar(fidelity));
  ConfigValue outputs = map();
  outputs.set("timeline", scalar("false"));
  outputs.set("resolved_scenario", scalar("false"));
  base_.set("outputs", outputs);
  base_.set("name", scalar("cluster-speed"));
}

cluster::ClusterConfig ScenarioJobSpeed::cluster_config() const { return cluster_; }

uint32_t ScenarioJobSpeed::workload(const std::string& path) {
  auto it = std::find(names_.begin(), names_.end(), path);
  if (it != names_.end()) return static_cast<uint32_t>(it - names_.begin());
  ConfigValue tree = load_layered(path);
  const ConfigValue* w = tree.find("workload");
  if (!w || !w->is_map())
    throw InputError({{SourceLocation{path, 0, 0}, "workload",
                       "a job's workload file needs a workload: section (a megatron or gpt_data_parallel training "
                       "workload)"}});
  const ConfigValue* type = w->find("type");
  std::string t = type && type->is_scalar() ? type->scalar : "gpt_data_parallel";
  if (t != "megatron" && t != "gpt_data_parallel")
    throw InputError({{type ? type->location : w->location, "workload.type",
                       "a cluster job's workload must be a training workload (megatron or gpt_data_parallel), got '" +
                           t + "'"}});
  ConfigValue section = *w;
  section.set("train_iters", scalar(std::to_string(options_.iterations)));
  names_.push_back(path);
  workloads_.push_back(std::move(section));
  return static_cast<uint32_t>(names_.size() - 1);
}

ConfigValue ScenarioJobSpeed::group_tree(const std::vector<cluster::RunningWork>& group) const {
  ConfigValue tree = base_;
  ConfigValue jobs;
  jobs.kind = ConfigValue::Kind::kSeq;
  for (const auto& w : group) {
    LCSIM_ASSERT(w.workload < workloads_.size(), "unknown workload index");
    ConfigValue job = map();
    job.set("name", scalar(job_name(w.job)));
    ConfigValue ids;
    ids.kind = ConfigValue::Kind::kSeq;
    for (const auto& sh : w.placement) ids.children.push_back(scalar(std::to_string(sh.node)));
    job.set("node_ids", ids);
    job.set("workload", workloads_[w.workload]);
    jobs.children.push_back(std::move(job));
  }
  tree.set("jobs", jobs);
  return tree;
}

std::string ScenarioJobSpeed::group_yaml(const std::vector<cluster::RunningWork>& group) const {
  return emit_yaml(group_tree(group));
}

std::vector<double> ScenarioJobSpeed::iteration_s(const std::vector<cluster::RunningWork>& group) {
  Scenario sc = parse_scenario(group_tree(group));
  RunResult r = run_scenario(sc);
  std::vector<double> out;
  for (const auto& w : group) {
    const std::string key = job_name(w.job) + ".iteration_time_s";
    if (!r.completed || !r.metrics.has(key))
      throw InputError("cluster job " + std::to_string(w.job) + " (" + names_[w.workload] +
                       "): its workload did not complete an iteration on its placement");
    out.push_back(r.metrics.get(key));
  }
  return out;
}

}  // namespace lcsim
