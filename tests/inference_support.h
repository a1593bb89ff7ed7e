// Shared set-up of the inference serving tests: the datasheet H100 (a pure roofline), Llama-3-8B and Mixtral-8x7B
// shapes, and one instance run by hand (plan, cost, complete) with no engine.
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "models/hardware/accelerator.h"
#include "workloads/inference/batch_scheduler.h"
#include "workloads/inference/serving_model.h"

namespace lcsim::inf::support {

/// H100 SXM5 80GB from NVIDIA's datasheet: 989.4 dense BF16 TFLOP/s (1,979 with sparsity), 1,979 dense FP8,
/// 3.35 TB/s HBM3, 80 GB, NVLink 900 GB/s bidirectional. Efficiencies 1 and no launch overhead: the pure roofline.
inline hw::AcceleratorSpec datasheet_h100() {
  hw::AcceleratorSpec p;
  p.name = "H100-datasheet";
  p.dense_peak[hw::DType::kBf16] = FlopRate::tflops(989.4);
  p.dense_peak[hw::DType::kFp8] = FlopRate::tflops(1978.9);
  p.hbm_capacity = Bytes::gb(80);
  p.hbm_bandwidth = Bandwidth::gbytes_per_s(3350);
  p.scale_up_bandwidth = Bandwidth::gbytes_per_s(450);
  p.calibration.gemm_efficiency = 1;
  p.calibration.attention_efficiency = 1;
  p.calibration.memory_efficiency = 1;
  p.calibration.kernel_launch = Duration::seconds(0);
  return p;
}

/// Llama-3-8B's config.json: the ModelShape defaults.
inline ModelShape llama3_8b() { return ModelShape{}; }

/// Mixtral-8x7B's config.json: 32 layers, h 4096, 32 query and 8 KV heads, 8 experts of MLP 14336, top 2, vocab
/// 32000.
inline ModelShape mixtral_8x7b() {
  ModelShape m;
  m.vocab_size = 32000;
  m.num_experts = 8;
  m.experts_per_token = 2;
  return m;
}

/// Runs one instance with no engine: plan, cost, complete, until every request has finished.
inline std::vector<FinishedRequest> run_instance(const InstanceCost& cost, const ServingConfig& sv,
                                                 const std::vector<Request>& requests,
                                                 BatchScheduler* out = nullptr) {
  BatchScheduler s({sv.max_num_seqs, sv.max_num_batched_tokens, sv.chunked_prefill, sv.block_size, cost.kv_blocks()});
  for (const auto& r : requests) EXPECT_TRUE(s.add(r));
  std::vector<FinishedRequest> done;
  BatchScheduler::Plan plan;
  double now = 0;
  while (s.plan(plan)) {
    now += cost.iteration_seconds(plan.batch);
    s.complete(plan, now, done);
  }
  if (out) *out = s;
  return done;
}

}  // namespace lcsim::inf::support
