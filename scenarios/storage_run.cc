// After a run: a job's checkpoints and data loading over the cluster's storage (models/storage/), from the job's
// own metrics (parameters, parallelism, tokens per second), and the checkpoint cost handed to reliability.
#include <algorithm>
#include <cstdio>
#include <map>

#include "scenarios/catalog.h"
#include "scenarios/scenario.h"

namespace lcsim {
namespace {

double metric_or(const MetricSet& m, const std::string& name, double fallback) {
  return m.has(name) ? m.get(name) : fallback;
}

/// The node templates of the topology's nodes, in node order.
std::vector<const hw::NodeSpec*> node_specs(const ClusterConfig& cl) {
  std::vector<const hw::NodeSpec*> out;
  for (const auto& pool : cl.pools) {
    for (int k = 0; k < pool.count; ++k) out.push_back(&pool.node);
  }
  return out;
}

}  // namespace

std::vector<std::string> report_storage(const Scenario& sc, const net::Topology& topology,
                                        const std::vector<wl::Gpu>& gpus, const std::vector<uint32_t>& allocation,
                                        const std::string& prefix, MetricSet& m, ReliabilityConfig* reliability) {
  std::vector<std::string> warnings;
  const storage::StorageConfig& st = sc.cluster.storage;
  const std::vector<const hw::NodeSpec*> specs = node_specs(sc.cluster);
  if (st.parallel_fs.servers > 0) {  // the file system's figures, as a vendor quotes them (once per cluster)
    const storage::TierContext ctx{&st, specs.front()};
    const auto fs = Catalog::get().storage_tiers.get("parallel_fs").factory(ctx);
    const storage::TierFigures f = fs->figures();
    m.set("storage_pfs_read_bytes_per_s", f.read.bps(), "parallel file system: aggregate large sequential reads");
    m.set("storage_pfs_write_bytes_per_s", f.write.bps(), "parallel file system: aggregate large sequential writes");
    m.set("storage_pfs_iops", f.iops, "parallel file system: small random reads per second, aggregate");
    m.set("storage_pfs_read_bytes_per_s_per_rack_unit", f.read.bps() / f.rack_units,
          "parallel file system: aggregate reads per rack unit of servers");
  }
  if (!sc.checkpoint.levels.empty()) {
    const double params = metric_or(m, prefix + "parameters", 0);
    if (params <= 0) {
      warnings.push_back("checkpoint: the workload reports no parameter count, so no checkpoint metrics");
    } else {
      storage::CheckpointJob job;
      for (uint32_t r : allocation) job.endpoints.push_back(r);
      job.parameters = params;
      job.tensor_parallel = static_cast<int>(metric_or(m, prefix + "tensor_parallel", 1));
      job.pipeline_parallel = static_cast<int>(metric_or(m, prefix + "pipeline_parallel", 1));
      const storage::CheckpointCost cost = storage::checkpoint_cost(sc.checkpoint, st, topology, specs, job);
      storage::report_checkpoints(cost, prefix, m);
      if (reliability && sc.checkpoint.feed_reliability) {
        reliability->checkpoint_save = std::max(cost.blocking_s(), Duration::seconds(1e-9));
      }
    }
  }
  if (sc.dataset.enabled()) {
    const double tokens_per_s = metric_or(m, prefix + "tokens_per_s", 0);
    std::vector<uint32_t> nodes;
    for (uint32_t r : allocation) nodes.push_back(gpus[r].node);
    std::sort(nodes.begin(), nodes.end());
    nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
    const hw::NodeSpec& node = *specs.at(nodes.front());
    Bandwidth nic;
    for (const auto& g : node.nics) {
      if (g.plane == "storage") nic += g.bandwidth * static_cast<double>(g.count);
    }
    const storage::DataLoad d =
        storage::evaluate_dataset(sc.dataset, st, Catalog::get().storage_tiers, node, static_cast<int>(nodes.size()),
                                  nic, tokens_per_s);
    const auto w = storage::report_dataset(d, sc.dataset, prefix, m);
    warnings.insert(warnings.end(), w.begin(), w.end());
    if (d.slowdown > 1 && m.has(prefix + "iteration_time_s")) {
      m.set(prefix + "data_limited_iteration_time_s", m.get(prefix + "iteration_time_s") * d.slowdown,
            "iteration time when data loading sets the pace");
    }
  }
  return warnings;
}

}  // namespace lcsim
