// After a run: a job's checkpoints and data loading over the cluster's storage (models/storage/), from the job's
// own metrics (parameters, parallelism, tokens per second), and the checkpoint cost handed to reliability.
#include <algorithm>
#include <cstdio>
#include <map>

#include "models/hardware/memory.h"
#include "models/storage/checkpoint_flows.h"
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

/// The per-rank state the training memory model reported (memory_weights_bytes, memory_optimizer_states_bytes: the
/// pipeline stage with the least headroom, taken for every rank). Whether it is sharded over data parallelism is
/// read from the same figures: unsharded, optimizer bytes / weight bytes per rank is the memory model's 12 / 2
/// (hw::TrainingMemoryInput) and weight bytes are 2 x parameters / (TP x PP); sharded over DP >= 2 they are at most
/// half of that (a share under 3/4 counts as sharded).
void per_rank_state(const MetricSet& m, const std::string& prefix, storage::CheckpointJob& job) {
  const double w = metric_or(m, prefix + "memory_weights_bytes", 0);
  const double o = metric_or(m, prefix + "memory_optimizer_states_bytes", 0);
  if (!(w > 0) || !(o > 0)) return;
  const hw::TrainingMemoryInput defaults;
  job.weights_per_rank = Bytes::of(w);
  job.optimizer_per_rank = Bytes::of(o);
  const double replicated_weights =
      job.parameters * defaults.weight_bytes / std::max(1, job.tensor_parallel * job.pipeline_parallel);
  job.weights_sharded = job.data_parallel > 1 && w < 0.75 * replicated_weights;
  job.optimizer_sharded = job.data_parallel > 1 && (o / defaults.optimizer_bytes) < 0.75 * (w / defaults.weight_bytes);
  if (job.weights_sharded) job.optimizer_sharded = true;  // FSDP / ZeRO-3 shards everything
}

}  // namespace

std::vector<std::string> report_storage(const Scenario& sc, const net::Topology& topology,
                                        const std::vector<wl::Gpu>& gpus, const std::vector<uint32_t>& allocation,
                                        const storage::CheckpointJob* ranks, const std::string& prefix, MetricSet& m,
                                        ReliabilityConfig* reliability) {
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
      if (ranks && !ranks->endpoints.empty()) {  // the workload's own rank-by-rank state (each stage, its experts)
        job = *ranks;
      } else {
        for (uint32_t r : allocation) job.endpoints.push_back(r);
        job.parameters = params;
        job.tensor_parallel = static_cast<int>(metric_or(m, prefix + "tensor_parallel", 1));
        job.pipeline_parallel = static_cast<int>(metric_or(m, prefix + "pipeline_parallel", 1));
        job.data_parallel = std::max(1, static_cast<int>(job.endpoints.size()) /
                                            std::max(1, job.tensor_parallel * job.pipeline_parallel));
        per_rank_state(m, prefix, job);
      }
      const storage::CheckpointCost cost = storage::checkpoint_cost(sc.checkpoint, st, topology, specs, job);
      storage::report_checkpoints(cost, prefix, m);
      // In-run checkpoints (checkpoint.run_every): what training measurably waited per save on the run's own
      // network, beside its collectives, replaces the estimate's blocking time.
      const std::string saves = prefix + "checkpoint_run_saves";
      const bool measured = sc.checkpoint.run_every > 0 && m.has(saves) && m.get(saves) > 0;
      for (size_t i = 0; sc.checkpoint.run_every > 0 && i < sc.checkpoint.levels.size(); ++i) {
        const std::string& tier = sc.checkpoint.levels[i].tier;
        if (storage::tier_on_topology(tier)) continue;
        warnings.push_back("checkpoint.levels[" + std::to_string(i) + "] (" + tier + ") is not on the topology's "
                           "links, so it is not saved during the run: its save and restore are the storage model's "
                           "estimate (checkpoint_" + tier + "_*)" +
                           (i + 1 == sc.checkpoint.levels.size() ? ", and so is reliability's checkpoint cost" : ""));
      }
      if (sc.checkpoint.run_every > 0 && !measured && storage::tier_on_topology(sc.checkpoint.levels.back().tier)) {
        warnings.push_back("checkpoint.run_every: the workload saved no checkpoint during the run (it needs more "
                           "train_iters than run_every, and a workload that saves in-run: gpt_data_parallel or megatron)");
      }
      if (reliability && sc.checkpoint.feed_reliability) {
        const Duration blocking = measured ? Duration::seconds(m.get(prefix + "checkpoint_run_blocking_s"))
                                           : cost.blocking_s();
        reliability->checkpoint_save = std::max(blocking, Duration::seconds(1e-9));
        // The restore measured on the run's own network after training, when there is one, in place of the
        // estimate's.
        const std::string restore = prefix + "checkpoint_run_restore_s";
        reliability->restore = m.has(restore) ? std::max(Duration::seconds(m.get(restore)), Duration::seconds(1e-9))
                                              : cost.restore_s();
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
      // Converged NICs (storage_nic_attach: gpu_nic): the compute NICs carry the data too.
      const std::string plane = node.storage_nic_attach == "gpu_nic" ? "compute" : "storage";
      if (g.plane == plane) nic += g.bandwidth * static_cast<double>(g.count);
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
