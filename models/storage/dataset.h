// Dataset streaming into training: the bytes per second training consumes (tokens/s x bytes per token) against
// what the dataset's tier delivers to the job's nodes (large sequential reads, or shuffled reads of one sample
// each (read_size: a sample), where a tier's request rate and an object store's per-request latency bite), capped by the nodes' storage
// NICs; training slows down by needed / delivered when loading cannot keep up (no prefetch hides a rate deficit).
// Staging (a what-if): copying the dataset from the object store onto the tier before the job, with its time and
// the bytes it moves over the site link and the storage network. Assumptions: docs/storage.md.
#pragma once

#include <string>
#include <vector>

#include "models/storage/tier.h"
#include "sim/metrics.h"

namespace lcsim::storage {

struct DatasetConfig {
  std::string source = "none";  // none, local_nvme, parallel_fs, object_store
  double bytes_per_token = 4;   // pre-tokenized int32 token ids
  std::string access = "sequential";
  Bytes read_size = Bytes::mib(4);  // bytes per read request: a large chunk (sequential) or one sample (shuffled)
  Bytes size;                       // the dataset (staging what-if)
  bool staged = false;              // staged from the object store onto `source` before the job
  Bandwidth staging_link;           // the site link between the object store and the cluster; 0 = no limit
  void visit(Section& s);
  bool enabled() const { return source != "none"; }
};

struct DataLoad {
  double needed = 0;     // bytes/s training consumes
  double delivered = 0;  // bytes/s the path gives the job
  double slowdown = 1;   // needed / delivered when above 1
  std::string limit;     // what sets `delivered`
  Duration staging;      // 0 unless staged
  Bytes staging_bytes;   // over the site link (the storage plane carries them again onto the tier)
};

/// `nodes` nodes of template `node`; `storage_nic` one node's bandwidth on the storage network (0: unknown, no
/// cap); tokens_per_s from the training run.
DataLoad evaluate_dataset(const DatasetConfig& config, const StorageConfig& storage,
                          const Registry<TierFactory>& tiers, const hw::NodeSpec& node, int nodes,
                          Bandwidth storage_nic, double tokens_per_s);

/// data_* metrics (prefixed); returns a warning when loading cannot keep up.
std::vector<std::string> report_dataset(const DataLoad& d, const DatasetConfig& config, const std::string& prefix,
                                        MetricSet& m);

}  // namespace lcsim::storage
