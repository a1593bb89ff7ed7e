#include "models/storage/dataset.h"

#include <algorithm>
#include <cstdio>

namespace lcsim::storage {

void DatasetConfig::visit(Section& s) {
  s.choice("source", source, {"none", "local_nvme", "parallel_fs", "object_store"},
           "where training reads its samples from (none: data loading is not modelled)");
  s.field("bytes_per_token", bytes_per_token, "bytes of dataset per training token (int32 token ids: 4)",
          Range::positive());
  s.choice("access", access, {"sequential", "shuffled"},
           "sequential: large reads in order; shuffled: samples in random order, one read each (set read_size to "
           "one sample: seq_length x bytes_per_token)");
  s.field("read_size", read_size, "bytes per read request: a large chunk (sequential) or one sample (shuffled)",
          Range::positive());
  s.field("size", size, "the dataset's size (for staging)", Range::at_least(0));
  s.field("staged", staged, "what-if: copy the dataset from the object store onto source before the job starts");
  s.field("staging_link", staging_link, "staging: the site link between the object store and the cluster; 0 = no "
                                        "limit",
          Range::at_least(0));
}

DataLoad evaluate_dataset(const DatasetConfig& c, const StorageConfig& st, const Registry<TierFactory>& tiers,
                          const hw::NodeSpec& node, int nodes, Bandwidth storage_nic, double tokens_per_s) {
  DataLoad d;
  d.needed = tokens_per_s * c.bytes_per_token;
  const TierContext ctx{&st, &node};
  const auto tier = tiers.get(c.source).factory(ctx);
  const Bytes request = c.read_size;
  const bool per_node = c.source == "local_nvme";
  // Each node reads its share: a node's own drives, or its share of a cluster-wide tier.
  const double tier_rate = per_node ? tier->throughput(Op::kRead, request, 1).bps() * nodes
                                    : tier->throughput(Op::kRead, request, nodes).bps();
  d.delivered = tier_rate;
  d.limit = c.source + " (" + c.access + " reads of " + std::to_string(static_cast<long long>(request.bytes())) +
            " B)";
  if (!per_node && storage_nic.bps() > 0 && storage_nic.bps() * nodes < d.delivered) {
    d.delivered = storage_nic.bps() * nodes;
    d.limit = "the nodes' storage NICs";
  }
  d.slowdown = d.delivered > 0 ? std::max(1.0, d.needed / d.delivered) : 1.0;
  if (c.staged) {
    if (st.object_store.bandwidth.bps() <= 0) {
      throw InputError({{SourceLocation{}, "dataset.staged",
                         "staging copies from the object store: set cluster.storage.object_store.bandwidth"}});
    }
    const TierContext os_ctx{&st, &node};
    const auto os = tiers.get("object_store").factory(os_ctx);
    // Large objects (64 MiB) read by every node's copy tool and written to the tier.
    double rate = os->throughput(Op::kRead, Bytes::mib(64), nodes).bps();
    rate = std::min(rate, per_node ? tier->throughput(Op::kWrite, Bytes::mib(64), 1).bps() * nodes
                                   : tier->throughput(Op::kWrite, Bytes::mib(64), nodes).bps());
    if (c.staging_link.bps() > 0) rate = std::min(rate, c.staging_link.bps());
    d.staging = c.size / Bandwidth::bytes_per_s(rate);
    d.staging_bytes = c.size;
  }
  return d;
}

std::vector<std::string> report_dataset(const DataLoad& d, const DatasetConfig& c, const std::string& prefix,
                                        MetricSet& m) {
  m.set(prefix + "data_needed_bytes_per_s", d.needed, "dataset bytes per second training consumes");
  m.set(prefix + "data_delivered_bytes_per_s", d.delivered, "dataset bytes per second the storage path delivers");
  m.set(prefix + "data_loading_slowdown", d.slowdown, "training slows by this factor (needed / delivered, >= 1)");
  if (c.staged) {
    m.set(prefix + "data_staging_s", d.staging.s(), "copying the dataset from the object store before the job");
    m.set(prefix + "data_staging_bytes", d.staging_bytes.bytes(), "bytes the staging moves over the site link");
  }
  if (d.slowdown <= 1) return {};
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "data loading cannot keep up: training needs %.2f GB/s of samples, %s delivers %.2f GB/s; training "
                "runs %.2fx slower (data_loading_slowdown)",
                d.needed / 1e9, d.limit.c_str(), d.delivered / 1e9, d.slowdown);
  return {buf};
}

}  // namespace lcsim::storage
