// Prefill/decode disaggregation (DistServe, Splitwise, Mooncake): a prefill pool computes each prompt and its first
// token, then the request's KV cache moves over the fabric to an instance of the decode pool, which generates the
// rest. The two phases stop competing for one batch (a long prefill no longer stalls every running decode), at the
// price of the transfer, which TTFT includes. Pools have their own instance counts and tensor parallelism; the
// transfer runs on the run's transfer model (analytical or flow, with whatever else shares the links) between the
// prefill instance's GPUs and the decode instance's GPUs. docs/inference.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/network/transfer.h"
#include "sim/config.h"
#include "workloads/inference/serving_model.h"

namespace lcsim::inf {

/// `workload.disaggregation`: both pool sizes, or neither (colocated serving).
struct DisaggregationConfig {
  int prefill_instances = 0;  // 0 (with decode_instances 0): colocated serving
  int decode_instances = 0;
  int prefill_tensor_parallel = 0;          // 0: serving.tensor_parallel
  int decode_tensor_parallel = 0;           // 0: serving.tensor_parallel
  int prefill_max_num_batched_tokens = 0;   // 0: serving.max_num_batched_tokens
  int decode_max_num_seqs = 0;              // 0: serving.max_num_seqs
  std::string decode_routing = "least_outstanding_tokens";
  bool enabled() const { return prefill_instances > 0 || decode_instances > 0; }
  void visit(Section& s, const std::vector<std::string>& routers);
};

/// What an instance does.
enum class Role : uint8_t { kColocated, kPrefill, kDecode };
const char* role_name(Role r);

/// One instance's place in the allocation: GPUs [first_gpu, first_gpu + tensor_parallel x pipeline_parallel).
struct InstanceSlot {
  Role role = Role::kColocated;
  int first_gpu = 0;
  ServingConfig serving;  // the pool's: tensor parallelism and batching limits
  int gpus() const { return serving.tensor_parallel * serving.pipeline_parallel; }
};

/// The instances, in allocation order: `colocated` instances of `serving` (0: as many as fit), or the prefill
/// pool then the decode pool. Empty with `problem` set when they do not fit in `gpus` GPUs.
std::vector<InstanceSlot> lay_out_instances(const ServingConfig& serving, const DisaggregationConfig& d, int colocated,
                                            int gpus, std::string& problem);

/// KV-cache bytes of one token for the whole model (every layer, every KV head) at `kv_dtype`.
double kv_bytes_per_token(const ModelShape& m, const std::string& kv_dtype);

/// The flows that move `bytes` of KV cache from a prefill instance's GPUs to a decode instance's (job ranks): each
/// GPU holds its TP shard, so max(n_from, n_to) flows, flow k from from[k % n_from] to to[k % n_to], each an equal
/// share.
std::vector<net::FlowRequest> kv_handoff_flows(const std::vector<uint32_t>& from, const std::vector<uint32_t>& to,
                                               double bytes);

}  // namespace lcsim::inf
