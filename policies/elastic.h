// Elastic shrink of data parallelism (no engine: a control plane can call this): when a failed node cannot be
// replaced at once (no hot spare at hand), the job restarts without the data-parallel replica that node was part
// of and trains on at DP - k replicas until the node (or a spare) is back, instead of standing still. Throughput is
// scaled proportionally: the global batch is kept, so each of the DP - k replicas takes DP / (DP - k) times the
// micro-batches and an iteration takes DP / (DP - k) times as long (compute-bound steps; the gradient all-reduce
// is the same size per replica and is left as it is). The caller counts the replicas out (scenarios/reliability.cc:
// the replicas a failed node holds, at least one). docs/fault-tolerance.md.
#pragma once

#include "sim/config.h"

namespace lcsim::policy {

struct ElasticPolicy {
  bool enabled = false;
  int min_data_parallel = 1;  // below this many replicas the job waits instead
  void visit(Section& s);
  /// Share of full throughput with `out` of `data_parallel` replicas gone; 0 when the job must wait.
  double share(int data_parallel, int out) const;
};

}  // namespace lcsim::policy
