#include "scenarios/cluster_speed.h"

#include <algorithm>
#include <cmath>

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
  for (const auto& p : sc.cluster.pools) {
    // Each pool's GPUs draw what their part draws (models/hardware/power.h): its idle power without a job and, with
    // one, the power in force: the part's power_limit where it is set below the TDP (a capped GPU never draws above
    // its cap), else the TDP. `lcsim schedule --gpu-watts` overrides both.
    const hw::AcceleratorSpec& part = p.node.accelerator;
    cluster_.pools.push_back({p.name, static_cast<uint32_t>(p.count), static_cast<uint32_t>(p.node.gpus), 1.0, 0.0,
                              part.idle_power.w(), part.power_cap().w()});
  }
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
                       "workload, or an inference_serving deployment)"}});
  const ConfigValue* type = w->find("type");
  std::string t = type && type->is_scalar() ? type->scalar : "gpt_data_parallel";
  const bool serving = t == "inference_serving";
  if (t != "megatron" && t != "gpt_data_parallel" && !serving)
    throw InputError({{type ? type->location : w->location, "workload.type",
                       "a cluster job's workload must be a training workload (megatron or gpt_data_parallel) or a "
                       "serving deployment (inference_serving), got '" + t + "'"}});
  ConfigValue section = *w;
  if (!serving) section.set("train_iters", scalar(std::to_string(options_.iterations)));
  names_.push_back(path);
  workloads_.push_back(std::move(section));
  serving_.push_back(serving);
  return static_cast<uint32_t>(names_.size() - 1);
}

ConfigValue ScenarioJobSpeed::group_tree(const std::vector<cluster::RunningWork>& group, int iterations) const {
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
    ConfigValue section = workloads_[w.workload];
    if (iterations > 0 && !serving_[w.workload]) section.set("train_iters", scalar(std::to_string(iterations)));
    job.set("workload", section);
    jobs.children.push_back(std::move(job));
  }
  tree.set("jobs", jobs);
  return tree;
}

std::string ScenarioJobSpeed::group_yaml(const std::vector<cluster::RunningWork>& group) const {
  return emit_yaml(group_tree(group));
}

std::vector<cluster::JobSpeed> ScenarioJobSpeed::simulate(const std::vector<cluster::RunningWork>& group,
                                                          int iterations, double* serving_span_s) const {
  Scenario sc = parse_scenario(group_tree(group, iterations));
  RunResult r = run_scenario(sc);
  std::vector<cluster::JobSpeed> out;
  *serving_span_s = 0;
  for (const auto& w : group) {
    const std::string p = job_name(w.job) + ".";
    const bool serving = serving_[w.workload];
    const std::string key = p + (serving ? "requests_completed" : "iteration_time_s");
    if (!r.completed || !r.metrics.has(key) || (serving && r.metrics.get(key) <= 0))
      throw InputError("cluster job " + std::to_string(w.job) + " (" + names_[w.workload] + "): its workload did not " +
                       (serving ? "complete a request" : "complete an iteration") + " on its placement");
    cluster::JobSpeed s;
    s.serving = serving;
    if (!serving) {
      s.iteration_s = r.metrics.get(key);
    } else {
      auto get = [&](const char* name) { return r.metrics.has(p + name) ? r.metrics.get(p + name) : 0.0; };
      s.latency = {get("ttft_p50_s"), get("ttft_p99_s"),        get("tpot_p50_s"),    get("tpot_p99_s"),
                   get("kv_transfer_mean_s"), get("kv_transfer_p99_s"), get("slo_attainment")};
      *serving_span_s = std::max(*serving_span_s, get("serving_span_s"));
    }
    out.push_back(s);
  }
  return out;
}

std::vector<cluster::JobSpeed> ScenarioJobSpeed::speeds(const std::vector<cluster::RunningWork>& group) {
  double span = 0;
  std::vector<cluster::JobSpeed> out = simulate(group, options_.iterations, &span);
  // Beside a deployment, the training jobs' first iterations cover only the start of its serving span: run again
  // with enough iterations that every training job lasts the whole span (at most max_overlap_iterations).
  int need = options_.iterations;
  for (const auto& s : out)
    if (!s.serving && span > 0) need = std::max(need, static_cast<int>(std::ceil(span / s.iteration_s)));
  need = std::min(need, options_.max_overlap_iterations);
  if (need > options_.iterations) out = simulate(group, need, &span);
  return out;
}

std::vector<double> ScenarioJobSpeed::iteration_s(const std::vector<cluster::RunningWork>& group) {
  std::vector<double> out;
  for (const auto& s : speeds(group)) out.push_back(s.iteration_s);
  return out;
}

}  // namespace lcsim
