#include "workloads/inference/disaggregation.h"

#include <algorithm>

namespace lcsim::inf {

void DisaggregationConfig::visit(Section& s, const std::vector<std::string>& routers) {
  s.field("prefill_instances", prefill_instances,
          "instances of the prefill pool; 0 (and decode_instances 0) = colocated serving", Range::at_least(0));
  s.field("decode_instances", decode_instances, "instances of the decode pool", Range::at_least(0));
  s.field("prefill_tensor_parallel", prefill_tensor_parallel,
          "GPUs of one prefill instance (inside a node); 0 = serving.tensor_parallel", Range::at_least(0));
  s.field("decode_tensor_parallel", decode_tensor_parallel,
          "GPUs of one decode instance (inside a node); 0 = serving.tensor_parallel", Range::at_least(0));
  s.field("prefill_max_num_batched_tokens", prefill_max_num_batched_tokens,
          "prefill pool: tokens per iteration at most; 0 = serving.max_num_batched_tokens", Range::at_least(0));
  s.field("decode_max_num_seqs", decode_max_num_seqs, "decode pool: sequences per batch at most; 0 = serving.max_num_seqs",
          Range::at_least(0));
  s.choice("decode_routing", decode_routing, routers,
           "how a prefilled request picks its decode instance (policies/request_routing.h)");
  if (s.mode() != Section::Mode::kParse) return;
  if (prefill_instances > 0 && decode_instances == 0) {
    s.error("decode_instances", "a prefill pool needs a decode pool: set decode_instances to 1 or more (or "
                                "prefill_instances to 0 for colocated serving)");
  }
  if (decode_instances > 0 && prefill_instances == 0) {
    s.error("prefill_instances", "a decode pool needs a prefill pool: set prefill_instances to 1 or more (or "
                                 "decode_instances to 0 for colocated serving)");
  }
}

const char* role_name(Role r) {
  switch (r) {
    case Role::kPrefill: return "prefill";
    case Role::kDecode: return "decode";
    case Role::kColocated: break;
  }
  return "colocated";
}

std::vector<InstanceSlot> lay_out_instances(const ServingConfig& serving, const DisaggregationConfig& d, int colocated,
                                            int gpus, std::string& problem) {
  std::vector<InstanceSlot> out;
  problem.clear();
  if (!d.enabled()) {
    InstanceSlot slot{Role::kColocated, 0, serving};
    const int fit = gpus / slot.gpus();
    const int n = colocated > 0 ? colocated : fit;
    if (n < 1 || n > fit) {
      problem = std::to_string(std::max(n, 1)) + " instance(s) of TP x PP = " + std::to_string(slot.gpus()) +
                " GPUs need " + std::to_string(std::max(n, 1) * slot.gpus()) + " GPUs; the allocation has " +
                std::to_string(gpus);
      return {};
    }
    for (int i = 0; i < n; ++i, slot.first_gpu += slot.gpus()) out.push_back(slot);
    return out;
  }
  InstanceSlot prefill{Role::kPrefill, 0, serving}, decode{Role::kDecode, 0, serving};
  if (d.prefill_tensor_parallel > 0) prefill.serving.tensor_parallel = d.prefill_tensor_parallel;
  if (d.decode_tensor_parallel > 0) decode.serving.tensor_parallel = d.decode_tensor_parallel;
  if (d.prefill_max_num_batched_tokens > 0) prefill.serving.max_num_batched_tokens = d.prefill_max_num_batched_tokens;
  if (d.decode_max_num_seqs > 0) decode.serving.max_num_seqs = d.decode_max_num_seqs;
  const int need = d.prefill_instances * prefill.gpus() + d.decode_instances * decode.gpus();
  if (need > gpus) {
    problem = std::to_string(d.prefill_instances) + " prefill instance(s) of " + std::to_string(prefill.gpus()) +
              " GPUs and " + std::to_string(d.decode_instances) + " decode instance(s) of " +
              std::to_string(decode.gpus()) + " GPUs need " + std::to_string(need) + " GPUs; the allocation has " +
              std::to_string(gpus);
    return {};
  }
  int next = 0;
  for (int i = 0; i < d.prefill_instances; ++i, next += prefill.gpus()) {
    prefill.first_gpu = next;
    out.push_back(prefill);
  }
  for (int i = 0; i < d.decode_instances; ++i, next += decode.gpus()) {
    decode.first_gpu = next;
    out.push_back(decode);
  }
  return out;
}

double kv_bytes_per_token(const ModelShape& m, const std::string& kv_dtype) {
  return 2.0 * m.num_kv_heads * m.head_dim() * quant_bytes(kv_dtype) * m.num_layers;
}

std::vector<net::FlowRequest> kv_handoff_flows(const std::vector<uint32_t>& from, const std::vector<uint32_t>& to,
                                               double bytes) {
  const size_t n = std::max(from.size(), to.size());
  std::vector<net::FlowRequest> flows;
  if (n == 0 || bytes <= 0) return flows;
  for (size_t k = 0; k < n; ++k) {
    flows.push_back({from[k % from.size()], to[k % to.size()], Bytes::of(bytes / static_cast<double>(n)),
                     static_cast<uint64_t>(k)});
  }
  return flows;
}

}  // namespace lcsim::inf
