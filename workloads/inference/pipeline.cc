// Pipeline parallelism in time (serving_model.h): an instance of PP stages runs each iteration's batch as up to PP
// micro-batches in flight, as vLLM's pipeline-parallel engine keeps PP batches going at once.
//
// The batch's sequences go, largest new-token count first, to the micro-batch with the fewest tokens (the first on
// ties): m = min(PP, sequences) micro-batches. Each stage holds L / PP layers (an even, possibly fractional split);
// the last also runs the LM head. A micro-batch passes the stages in order with a send of its activations (tokens x
// hidden x 2 B over the scale-up link, after the collective model's point-to-point latency) between stages. In
// steady state the stages work on different micro-batches at once, so a round (every sequence advancing once) takes
//   max( sum_j last_stage(j),                                   the busiest stage's work
//        max_j [(PP - 1) x stage(j) + last_stage(j) + (PP - 1) x send(j)] )   one micro-batch's way through
// A lone request cannot be split: its time is the whole model's plus the sends (PP does not lower latency). A
// full batch splits PP ways: each stage's share of a compute-bound batch is 1 / PP^2 of the work, so the round
// takes about 1 / PP of the unpipelined time (PP raises throughput); a memory-bound decode round reads every
// stage's weights once and takes about what one GPU would (PP's gain there is the KV memory it adds).
#include <algorithm>
#include <numeric>
#include <vector>

#include "models/network/collectives.h"
#include "workloads/inference/serving_model.h"

namespace lcsim::inf {

double InstanceCost::stage_send_seconds(uint64_t tokens) const {
  const net::CollectiveConfig collectives;  // the collective model's default point-to-point latency
  return collectives.p2p_latency.s() +
         static_cast<double>(tokens) * model_.hidden_size * 2 / part_->scale_up_bandwidth.bps();
}

double InstanceCost::iteration_seconds(const std::vector<BatchEntry>& batch) const {
  const int pp = serving_.pipeline_parallel;
  if (pp <= 1) return iteration_seconds(work(batch));
  const size_t m = std::min(static_cast<size_t>(pp), batch.size());
  if (m == 0) return 0;
  std::vector<size_t> order(batch.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&batch](size_t a, size_t b) { return batch[a].new_tokens > batch[b].new_tokens; });
  std::vector<std::vector<BatchEntry>> micro(m);
  std::vector<uint64_t> tokens(m, 0);
  for (size_t i : order) {
    const size_t j = static_cast<size_t>(std::min_element(tokens.begin(), tokens.end()) - tokens.begin());
    micro[j].push_back(batch[i]);
    tokens[j] += batch[i].new_tokens;
  }
  const double stage_layers = static_cast<double>(model_.num_layers) / pp;
  double busiest = 0, slowest = 0;
  for (size_t j = 0; j < m; ++j) {
    const double stage = iteration_seconds(work(micro[j], stage_layers, false));
    const double last = iteration_seconds(work(micro[j], stage_layers, true));
    busiest += last;
    slowest = std::max(slowest, (pp - 1) * stage + last + (pp - 1) * stage_send_seconds(tokens[j]));
  }
  return std::max(busiest, slowest);
}

}  // namespace lcsim::inf
