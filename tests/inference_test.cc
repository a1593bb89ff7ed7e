// Inference serving: trace readers and their errors, synthetic arrivals, the roofline cost of one request against
// figures derived here from the datasheet, continuous batching (chunked prefill, preemption), routing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "policies/request_routing.h"
#include "sim/error.h"
#include "workloads/inference/batch_scheduler.h"
#include "workloads/inference/kv_cache.h"
#include "workloads/inference/request_trace.h"
#include "workloads/inference/serving_model.h"
#include "inference_support.h"

namespace lcsim::inf {
namespace {

std::string data(const std::string& name) { return std::string(LCSIM_SOURCE_DIR) + "/data/inference/" + name; }

/// A file in a directory of this test's own (tests of other worktrees run at the same time).
std::string temp_file(const std::string& name, const std::string& text) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                                    (std::string("inference_") + info->name() + "_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / name).string();
  std::ofstream(path) << text;
  return path;
}

std::string error_of(const std::string& path, const std::string& format) {
  try {
    auto src = open_trace(path, format);
    Request r;
    while (src->next(r)) {
    }
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(InferenceTrace, ReadsMooncakeRows) {
  auto src = open_trace(data("mooncake_conversation_2k.jsonl"), "mooncake");
  Request r;
  ASSERT_TRUE(src->next(r));  // the file's first line
  EXPECT_EQ(r.arrival_s, 0);
  EXPECT_EQ(r.input_tokens, 6758u);
  EXPECT_EQ(r.output_tokens, 500u);
  ASSERT_EQ(r.hash_ids.size(), 14u);  // ceil(6758 / 512) blocks
  EXPECT_EQ(r.hash_ids[13], 13u);
  uint64_t n = 1;
  double last = 0;
  while (src->next(r)) {
    ++n;
    last = r.arrival_s;
    EXPECT_EQ(r.hash_ids.size(), (r.input_tokens + 511) / 512) << "row " << n;
  }
  EXPECT_EQ(n, 2000u);
  EXPECT_DOUBLE_EQ(last, 669.0);  // the last row's timestamp, 669000 ms
}

TEST(InferenceTrace, ReadsAzureRowsAsSecondsAfterTheFirst) {
  auto src = open_trace(data("azure_llm_2023_conv_2k.csv"), "azure");
  Request a, b;
  ASSERT_TRUE(src->next(a));
  ASSERT_TRUE(src->next(b));
  EXPECT_EQ(a.arrival_s, 0);
  EXPECT_EQ(a.input_tokens, 374u);
  EXPECT_EQ(a.output_tokens, 44u);
  // 18:15:50.9951690 - 18:15:46.6805900
  EXPECT_NEAR(b.arrival_s, 4.314579, 1e-6);
  EXPECT_EQ(b.input_tokens, 396u);
}

TEST(InferenceTrace, BadRowsNameFileAndLine) {
  const std::string csv = temp_file("bad.csv", "arrival_s,input_tokens,output_tokens\n0,10,5\n1,ten,5\n");
  EXPECT_EQ(error_of(csv, "csv"), "error: " + csv + ":3: input_tokens: expected a number, got 'ten'");
  const std::string back = temp_file("back.csv", "arrival_s,input_tokens,output_tokens\n2,10,5\n1,10,5\n");
  EXPECT_NE(error_of(back, "csv").find(back + ":3: arrival time goes backwards"), std::string::npos);
  const std::string zero = temp_file("zero.csv", "arrival_s,input_tokens,output_tokens\n0,0,5\n");
  EXPECT_NE(error_of(zero, "csv").find(zero + ":2: input_tokens: expected a whole number of tokens"),
            std::string::npos);
  const std::string jl = temp_file("bad.jsonl",
                                   "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1}\n"
                                   "{\"timestamp\": 1, \"input_lenght\": 5, \"output_length\": 1}\n");
  EXPECT_NE(error_of(jl, "mooncake")
                .find(jl + ":2: unknown field 'input_lenght' (valid: timestamp, input_length, output_length, hash_ids)"),
            std::string::npos);
  const std::string missing = temp_file("missing.jsonl", "{\"timestamp\": 0, \"input_length\": 5}\n");
  EXPECT_NE(error_of(missing, "mooncake").find(missing + ":1: missing field 'output_length'"), std::string::npos);
  const std::string az = temp_file("az.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 25:00:00,1,1\n");
  EXPECT_NE(error_of(az, "azure").find(az + ":2: TIMESTAMP: expected 'YYYY-MM-DD HH:MM:SS.fffffff'"),
            std::string::npos);
  EXPECT_NE(error_of(temp_file("hdr.csv", "time,in,out\n"), "csv").find(":1: expected the header"), std::string::npos);
  EXPECT_NE(error_of("/nonexistent/trace.jsonl", "mooncake").find("/nonexistent/trace.jsonl"), std::string::npos);
}

TEST(InferenceTrace, RateScaleAndWindow) {
  const std::string csv = temp_file("t.csv", "arrival_s,input_tokens,output_tokens\n0,1,1\n1,2,1\n2,3,1\n3,4,1\n4,5,1\n");
  // Twice as fast: arrivals 0, 0.5, 1, 1.5, 2; the window [0.5, 1.5) keeps the 2nd and 3rd, re-based to 0.
  auto src = scale_and_window(open_trace(csv, "csv"), 2.0, 0.5, 1.5);
  Request r;
  ASSERT_TRUE(src->next(r));
  EXPECT_EQ(r.arrival_s, 0);
  EXPECT_EQ(r.input_tokens, 2u);
  ASSERT_TRUE(src->next(r));
  EXPECT_EQ(r.arrival_s, 0.5);
  EXPECT_EQ(r.input_tokens, 3u);
  EXPECT_FALSE(src->next(r));
}

TEST(InferenceTrace, SyntheticArrivalsHaveTheirRateAndBurstiness) {
  LengthFits fixed;
  fixed.input = {std::log(100.0), 0, 100};
  fixed.output = {std::log(10.0), 0, 10};
  for (const char* process : {"poisson", "gamma"}) {
    ArrivalConfig a;
    a.process = process;
    a.rate_per_s = 5;
    a.burstiness = std::string(process) == "gamma" ? 3.0 : 1.0;
    a.requests = 40000;
    auto src = synthetic_requests(a, fixed, RandomStream(7));
    Request r;
    double last = 0, sum = 0, sum2 = 0;
    int n = 0;
    while (src->next(r)) {
      const double gap = r.arrival_s - last;
      last = r.arrival_s;
      sum += gap;
      sum2 += gap * gap;
      ++n;
      ASSERT_EQ(r.input_tokens, 100u);
      ASSERT_EQ(r.output_tokens, 10u);
    }
    ASSERT_EQ(n, 40000);
    const double mean = sum / n, cv = std::sqrt(sum2 / n - mean * mean) / mean;
    EXPECT_NEAR(mean, 0.2, 0.2 * 0.05) << process;  // 1 / rate
    EXPECT_NEAR(cv, a.burstiness, a.burstiness * 0.1) << process;
  }
  // The diurnal curve: more arrivals in the half-period around the peak than in the half around the trough.
  ArrivalConfig d;
  d.process = "diurnal";
  d.rate_per_s = 1;
  d.diurnal_amplitude = 0.8;
  d.diurnal_period_s = 1000;
  d.diurnal_peak_s = 500;
  d.requests = 20000;
  auto src = synthetic_requests(d, fixed, RandomStream(3));
  Request r;
  int near_peak = 0, near_trough = 0;
  while (src->next(r)) {
    const double phase = std::fmod(r.arrival_s, 1000.0);
    (phase >= 250 && phase < 750 ? near_peak : near_trough)++;
  }
  // Expected share near the peak: 1/2 + a/pi = 0.755.
  EXPECT_NEAR(static_cast<double>(near_peak) / 20000, 0.5 + 0.8 / M_PI, 0.02);
}

TEST(InferenceTrace, LengthsFittedFromATrace) {
  const std::string csv = temp_file("l.csv", "arrival_s,input_tokens,output_tokens\n0,100,10\n1,10000,1000\n");
  auto src = open_trace(csv, "csv");
  const LengthFits f = fit_lengths(*src);
  EXPECT_EQ(f.rows, 2u);
  EXPECT_NEAR(f.input.mu, std::log(1000.0), 1e-12);  // geometric mean of 100 and 10000
  EXPECT_NEAR(f.input.sigma, std::log(10.0), 1e-12);  // half the distance between the two logs
  EXPECT_EQ(f.output.max, 1000);
}

using support::datasheet_h100;
using support::llama3_8b;
using support::run_instance;

TEST(InferenceServingModel, SingleRequestTtftAndTpotAreTheRoofline) {
  const hw::AcceleratorSpec part = datasheet_h100();
  ServingConfig sv;
  const InstanceCost cost(part, llama3_8b(), sv);
  Request r;
  r.input_tokens = 1024;
  r.output_tokens = 3;
  const auto done = run_instance(cost, sv, {r});
  ASSERT_EQ(done.size(), 1u);

  // Llama-3-8B by hand: h 4096, 32 layers, 32 query heads and 8 KV heads of 128, MLP 14336, vocab 128256.
  const double attn_params = 2.0 * 4096 * 4096 + 2.0 * 4096 * (8 * 128);  // Q, O; K, V
  const double mlp_params = 3.0 * 4096 * 14336;                           // gate, up, down
  const double layer = attn_params + mlp_params, lm_head = 4096.0 * 128256;
  const double peak = 989.4e12, hbm = 3.35e12;
  const double kv_per_token = 2.0 * 8 * 128 * 2 * 32;  // K and V, bf16, every layer: 128 KiB
  // Prefill of 1024 tokens: GEMMs over every token, the LM head for the last, causal attention 4 h d sum(1..1024)
  // per layer; it is compute-bound.
  const double prefill_flops = 2 * 1024 * layer * 32 + 2 * lm_head + 4.0 * 32 * 128 * 32 * (1024.0 * 1025 / 2);
  const double prefill_bytes = (layer * 32 + lm_head) * 2 + 1024 * kv_per_token;
  const double ttft = std::max(prefill_flops / peak, prefill_bytes / hbm);
  EXPECT_GT(prefill_flops / peak, prefill_bytes / hbm);
  EXPECT_NEAR(done[0].ttft(), ttft, ttft * 1e-12);
  EXPECT_NEAR(ttft, 0.014726, 0.000001);  // 14.7 ms
  // Decode steps read every weight and the KV cache so far: memory-bound. Step 1 sees 1025 tokens, step 2 1026.
  auto step = [&](double tokens) {
    const double flops = 2 * layer * 32 + 2 * lm_head + 4.0 * 32 * 128 * 32 * (tokens - 1 + 1);
    const double bytes = (layer * 32 + lm_head) * 2 + tokens * kv_per_token;
    EXPECT_GT(bytes / hbm, flops / peak);
    return std::max(flops / peak, bytes / hbm);
  };
  const double tpot = (step(1025) + step(1026)) / 2;
  EXPECT_NEAR(done[0].tpot(), tpot, tpot * 1e-12);
  EXPECT_NEAR(tpot, 0.0045205, 0.0000001);  // 4.52 ms: 15.0 GB of weights + 134 MB of KV at 3.35 TB/s
}

TEST(InferenceServingModel, Fp8WeightsAndKvHalveTheirMemory) {
  const hw::AcceleratorSpec part = datasheet_h100();
  ServingConfig bf16, fp8;
  fp8.weight_dtype = "fp8";
  fp8.kv_dtype = "fp8";
  const InstanceCost a(part, llama3_8b(), bf16), b(part, llama3_8b(), fp8);
  EXPECT_DOUBLE_EQ(b.weight_bytes_per_gpu(), a.weight_bytes_per_gpu() / 2);
  EXPECT_DOUBLE_EQ(b.kv_bytes_per_token_per_gpu(), a.kv_bytes_per_token_per_gpu() / 2);
  EXPECT_GT(b.kv_blocks(), 2 * a.kv_blocks());  // the weights left more room too
  EXPECT_EQ(b.gemm_peak().flop_per_s(), 1978.9e12);
  // A decode step is memory-bound: half the bytes, half the time.
  const std::vector<BatchEntry> decode = {{1, 1000, true}};
  EXPECT_NEAR(b.iteration_seconds(decode) / a.iteration_seconds(decode), 0.5, 1e-9);
  ServingConfig int4 = bf16;
  int4.weight_dtype = "int4";
  EXPECT_EQ(InstanceCost(part, llama3_8b(), int4).gemm_peak().flop_per_s(), 989.4e12);  // weight-only: bf16 GEMMs
  // Tensor parallelism splits weights and KV over the group.
  ServingConfig tp2 = bf16;
  tp2.tensor_parallel = 2;
  EXPECT_DOUBLE_EQ(InstanceCost(part, llama3_8b(), tp2).weight_bytes_per_gpu(), a.weight_bytes_per_gpu() / 2);
}

TEST(InferenceBatching, ChunkedPrefillSplitsALongPrompt) {
  const hw::AcceleratorSpec part = datasheet_h100();
  ServingConfig sv;
  sv.max_num_batched_tokens = 4096;
  const InstanceCost cost(part, llama3_8b(), sv);
  BatchScheduler s({sv.max_num_seqs, sv.max_num_batched_tokens, true, sv.block_size, cost.kv_blocks()});
  Request r;
  r.input_tokens = 10000;
  r.output_tokens = 2;
  ASSERT_TRUE(s.add(r));
  BatchScheduler::Plan p;
  std::vector<FinishedRequest> done;
  std::vector<uint32_t> chunks;
  while (s.plan(p)) {
    ASSERT_EQ(p.batch.size(), 1u);
    chunks.push_back(p.batch[0].new_tokens);
    s.complete(p, 1.0 * static_cast<double>(chunks.size()), done);
  }
  EXPECT_EQ(chunks, (std::vector<uint32_t>{4096, 4096, 1808, 1}));  // three prompt chunks, one decode step
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].first_token_s, 3.0);
  // Without chunking the prompt cannot run: rejected.
  BatchScheduler whole({256, 4096, false, 16, cost.kv_blocks()});
  EXPECT_FALSE(whole.add(r));
}

TEST(InferenceBatching, DecodesJoinTheBatchAndPreemptionRecomputes) {
  // 10 blocks of 16 tokens: two requests of 40 prompt + 60 output tokens need 7 blocks each at the end, so the
  // newer one is preempted once the cache runs out and recomputes after the older one finishes.
  BatchScheduler s({256, 8192, true, 16, 10});
  Request a, b;
  a.id = 0;
  b.id = 1;
  a.input_tokens = b.input_tokens = 40;
  a.output_tokens = b.output_tokens = 60;
  ASSERT_TRUE(s.add(a));
  ASSERT_TRUE(s.add(b));
  BatchScheduler::Plan p;
  std::vector<FinishedRequest> done;
  ASSERT_TRUE(s.plan(p));
  EXPECT_EQ(p.batch.size(), 2u);  // both prompts in one iteration
  EXPECT_EQ(p.prefill_tokens, 80u);
  double now = 0;
  int both_decoding = 0;
  do {
    if (p.batch.size() == 2 && p.decode_tokens == 2) ++both_decoding;
    s.complete(p, ++now, done);
  } while (s.plan(p));
  EXPECT_GT(both_decoding, 0);
  EXPECT_EQ(s.preemptions(), 1u);
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].id, 0u);
  EXPECT_EQ(done[1].id, 1u);
  EXPECT_EQ(done[1].preemptions, 1u);
  EXPECT_EQ(s.free_blocks(), 10);
  EXPECT_EQ(s.outstanding_tokens(), 0u);
  // A request that needs more blocks than the cache has is rejected.
  Request big;
  big.input_tokens = 150;
  big.output_tokens = 20;
  EXPECT_FALSE(s.add(big));
}

TEST(InferenceKvCache, EvictionOrderPerPolicy) {
  uint64_t victim = 0;
  KvTier lru("hbm", 3, "lru", 0, 0, false), fifo("hbm", 3, "fifo", 0, 0, false), lfu("hbm", 3, "lfu", 0, 0, false);
  for (KvTier* t : {&lru, &fifo, &lfu}) {
    for (uint64_t id : {1, 2, 3}) EXPECT_FALSE(t->insert(id, &victim));
    t->touch(1);  // 1 is used again
    t->touch(2);
    t->touch(2);
  }
  EXPECT_EQ(lru.eviction_order(), (std::vector<uint64_t>{3, 1, 2}));   // least recently used first
  EXPECT_EQ(fifo.eviction_order(), (std::vector<uint64_t>{1, 2, 3}));  // oldest stored first
  EXPECT_EQ(lfu.eviction_order(), (std::vector<uint64_t>{3, 1, 2}));   // 1 hit, then 2, then 3 (2 had the most)
  ASSERT_TRUE(lru.insert(4, &victim));
  EXPECT_EQ(victim, 3u);
  ASSERT_TRUE(fifo.insert(4, &victim));
  EXPECT_EQ(victim, 1u);
  lfu.touch(3);
  lfu.touch(3);
  lfu.touch(3);  // now 3 has the most hits; 1 the fewest
  ASSERT_TRUE(lfu.insert(4, &victim));
  EXPECT_EQ(victim, 1u);
  EXPECT_EQ(lru.evictions, 1u);
}

TEST(InferenceKvCache, AFullTierSpillsToTheNextAndHitsComeBackUp) {
  KvTier hbm("hbm", 2, "lru", 0, 0, false), dram("dram", 2, "lru", 50e9, 0, false), pool("pool", 100, "lru", 25e9, 0, true);
  const double block_bytes = 64e6;  // 512 tokens of Llama-3-8B's 128 KiB per token
  PrefixCache c({&hbm, &dram, &pool}, block_bytes);
  c.store({1, 2, 3, 4, 5, 6});
  // HBM keeps the two newest; 1 and 2 spilled to DRAM, then 3 and 4 pushed them on to the pool.
  EXPECT_EQ(hbm.eviction_order(), (std::vector<uint64_t>{5, 6}));
  EXPECT_EQ(dram.eviction_order(), (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(pool.eviction_order(), (std::vector<uint64_t>{1, 2}));
  // Lookups, on tiers with room: block 3 in DRAM, 1 and 2 in the pool. A prompt starting 1, 2, 3, 9 finds three
  // leading blocks, two in the pool and one in DRAM.
  KvTier hbm2("hbm", 8, "lru", 0, 0, false), dram2("dram", 2, "lru", 50e9, 0, false), pool2("pool", 100, "lru", 25e9, 0, true);
  uint64_t victim = 0;
  dram2.insert(3, &victim);
  pool2.insert(1, &victim);
  pool2.insert(2, &victim);
  pool2.insert(5, &victim);
  PrefixCache c1({&hbm2, &dram2, &pool2}, block_bytes);
  const PrefixCache::Lookup hit = c1.lookup({1, 2, 3, 9, 5});
  EXPECT_EQ(hit.blocks, 3u);  // 9 breaks the run: block 5 after it cannot be reused
  EXPECT_EQ(hit.per_tier, (std::vector<uint32_t>{0, 1, 2}));
  // Load time: each tier's blocks over its own bandwidth (no latency configured).
  EXPECT_DOUBLE_EQ(hit.load_s, 1 * block_bytes / 50e9 + 2 * block_bytes / 25e9);
  EXPECT_TRUE(hbm2.contains(3));   // moved up
  EXPECT_FALSE(dram2.contains(3));
  EXPECT_TRUE(pool2.contains(1));  // the pool keeps its copy (persistent)
  EXPECT_FALSE(hbm2.contains(5));  // not reused, not moved
  // A second lookup finds the same blocks in HBM: nothing to load.
  PrefixCache c2({&hbm2}, block_bytes);
  EXPECT_EQ(c2.lookup({3}).load_s, 0);
  EXPECT_EQ(c2.lookup({3}).per_tier, (std::vector<uint32_t>{1}));
}

TEST(InferenceKvCache, PrefixHitsSkipTheMatchingPrefill) {
  const hw::AcceleratorSpec part = datasheet_h100();
  ServingConfig sv;
  const InstanceCost cost(part, llama3_8b(), sv);
  Request r;
  r.input_tokens = 2048;
  r.output_tokens = 2;
  auto first_plan = [&](uint32_t cached) {
    BatchScheduler s({256, 8192, true, 16, cost.kv_blocks()});
    EXPECT_TRUE(s.add(r, cached));
    BatchScheduler::Plan p;
    EXPECT_TRUE(s.plan(p));
    return p;
  };
  const auto cold = first_plan(0), warm = first_plan(1536);  // three 512-token blocks cached
  EXPECT_EQ(cold.prefill_tokens, 2048u);
  EXPECT_EQ(warm.prefill_tokens, 512u);
  EXPECT_EQ(warm.batch[0].context, 1536u);  // the new tokens still attend to the cached ones
  // Prefill is compute-bound: the warm one does the GEMMs of 512 tokens and attention of 512 queries over 2048 keys.
  const double layer = 2.0 * 4096 * 4096 + 2.0 * 4096 * 1024 + 3.0 * 4096 * 14336, lm = 4096.0 * 128256;
  const double warm_flops = 2 * 512 * layer * 32 + 2 * lm + 4.0 * 32 * 128 * 32 * (512.0 * 1536 + 512.0 * 513 / 2);
  EXPECT_NEAR(cost.iteration_seconds(warm.batch), warm_flops / 989.4e12, 1e-12);
  EXPECT_LT(cost.iteration_seconds(warm.batch), 0.3 * cost.iteration_seconds(cold.batch));
}

TEST(InferenceRouting, RoutersByName) {
  Registry<policy::RouterFactory> reg("request router");
  policy::register_request_routers(reg);
  std::vector<policy::InstanceLoad> loads(3);
  loads[0].outstanding_tokens = 500;
  loads[1].outstanding_tokens = 100;
  loads[2].outstanding_tokens = 300;
  policy::RouteRequest r;
  auto rr = reg.get("round_robin").factory({});
  EXPECT_EQ(rr->route(r, loads), 0u);
  EXPECT_EQ(rr->route(r, loads), 1u);
  EXPECT_EQ(rr->route(r, loads), 2u);
  EXPECT_EQ(rr->route(r, loads), 0u);
  EXPECT_EQ(reg.get("least_outstanding_tokens").factory({})->route(r, loads), 1u);
  auto pa = reg.get("prefix_affinity").factory({1, 2.0});
  const std::vector<uint64_t> conv = {0, 77, 78}, later_turn = {0, 77, 78, 79};
  r.hash_ids = &conv;
  std::vector<policy::InstanceLoad> even(3);
  const uint32_t home = pa->route(r, even);
  r.hash_ids = &later_turn;
  EXPECT_EQ(pa->route(r, even), home);  // a later turn of the same conversation goes to the same instance
  even[home].outstanding_tokens = 100000;  // overloaded: the least loaded instance takes it
  EXPECT_NE(pa->route(r, even), home);
  try {
    reg.get("round_robbin");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'round_robin'"), std::string::npos);
  }
}

}  // namespace
}  // namespace lcsim::inf
