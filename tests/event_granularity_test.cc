// Event granularity (workloads/training/megatron_fold.cc): folding a training pass into one event changes nothing
// but the event count. Each Megatron scenario runs with simulation.event_granularity pass (the default) and kernel
// (every kernel and collective its own event), timeline_detail kernels: every metric, every distribution and the
// timeline's events (as data, tests/fingerprint.h) must be the same bit for bit, with fewer events for pass.
// timeline_detail passes leaves the collectives inside passes off the timeline and changes no metric.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <tuple>
#include <vector>

#include "fingerprint.h"

namespace lcsim {
namespace {

namespace fs = std::filesystem;
using fingerprint::Fingerprint;

class EventGranularity : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lcsim_granularity_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// The fingerprint of `base` (a shipped scenario) with `extra` YAML added on top.
  Fingerprint run(const std::string& base, const std::string& tag, const std::string& extra) {
    const fs::path file = dir_ / (tag + ".yaml");
    std::ofstream(file) << "base: " << (fingerprint::kSource / base).string() << "\n" << extra;
    std::string error;
    Fingerprint fp = fingerprint::take(file, dir_ / tag, &error);
    EXPECT_TRUE(error.empty()) << error;
    return fp;
  }
  fs::path dir_;
};

std::string value(const Fingerprint& fp, const std::string& key) {
  for (const auto& [k, v] : fp.lines) {
    if (k == key) return v;
  }
  return "";
}

/// The fingerprint's metrics but sim_events (a job's too: metric.<job>.sim_events), and the sum of its event counts.
std::vector<std::pair<std::string, std::string>> metrics_but_events(const Fingerprint& fp, double* events) {
  std::vector<std::pair<std::string, std::string>> out;
  *events = 0;
  for (const auto& line : fp.lines) {
    if (line.first.rfind("metric.", 0) != 0) continue;
    if (line.first.find("sim_events") != std::string::npos) {
      *events += std::stod(line.second);
    } else {
      out.push_back(line);
    }
  }
  return out;
}

void expect_same_but_events(const Fingerprint& pass, const Fingerprint& kernel, const std::string& what) {
  ASSERT_EQ(pass.lines.size(), kernel.lines.size()) << what;
  for (size_t i = 0; i < pass.lines.size(); ++i) {
    EXPECT_EQ(pass.lines[i].first, kernel.lines[i].first) << what;
    if (pass.lines[i].first == "metric.sim_events" || pass.lines[i].first == "label.scenario") continue;
    EXPECT_EQ(pass.lines[i].second, kernel.lines[i].second) << what << ": " << pass.lines[i].first;
  }
}

// Fewer micro-batches than shipped, to keep the test short; the layouts (interleaving, sequence parallelism,
// overlap, recomputation, MoE side streams) are the shipped ones.
const std::vector<std::pair<std::string, std::string>> kCases = {
    {"scenarios/training/gpt3-175b-a100-1024.yaml", "workload: {global_batch_size: 128}\n"},
    {"scenarios/training/llama3-70b-h100-1024.yaml", "workload: {global_batch_size: 128}\n"},
    {"scenarios/training/llama3-405b-h100-16k.yaml", "workload: {global_batch_size: 2048}\n"},
    // DualPipe needs at least 2 x PP = 32 micro-batches (DP 128: 4,096 sequences).
    {"scenarios/training/deepseek-v3-h800-2048.yaml", "workload: {global_batch_size: 4096}\n"},
    // 1F1B with TP 2: the shared expert beside the all-to-alls, its own gather and scatter in chains of their own.
    {"scenarios/training/deepseek-v3-h800-2048.yaml",
     "workload: {global_batch_size: 2048, pipeline_schedule: 1f1b, tensor_model_parallel_size: 2, "
     "sequence_parallel: true, moe_shared_expert_overlap: true}\n"},
    // Context parallelism (overlapped key/value exchanges beside overlapped TP), the parameter gather and
    // gradient buckets running beside the passes.
    {"scenarios/training/llama3-70b-h100-1024.yaml", "workload: {global_batch_size: 128, context_parallel_size: 2}\n"},
    // Flow fidelity: TP on private NVLink folds, pipeline and data-parallel flows stay flows.
    {"scenarios/training/llama3-70b-h100-1024.yaml",
     "cluster: {nodes: 8}\nworkload: {global_batch_size: 16, pipeline_model_parallel_size: 2}\n"
     "simulation: {fidelity: flow, event_granularity: "},
};

/// The case's YAML with `granularity` (pass or kernel) and timeline detail kernels.
std::string with(const std::string& extra, const std::string& granularity) {
  const std::string open = "simulation: {fidelity: flow, event_granularity: ";
  const std::string text = extra.find(open) != std::string::npos ? extra + granularity + "}\n"
                                                                 : extra + "simulation: {event_granularity: " + granularity + "}\n";
  return text + "outputs: {timeline_detail: kernels}\n";
}

TEST_F(EventGranularity, FoldingPassesChangesNothingButTheEventCount) {
  int folded = 0;
  for (size_t i = 0; i < kCases.size(); ++i) {
    const auto& [base, extra] = kCases[i];
    const std::string tag = "case" + std::to_string(i);
    const Fingerprint pass = run(base, tag + "_pass", with(extra, "pass"));
    const Fingerprint kernel = run(base, tag + "_kernel", with(extra, "kernel"));
    expect_same_but_events(pass, kernel, base);
    const double e_pass = std::stod(value(pass, "metric.sim_events")), e_kernel = std::stod(value(kernel, "metric.sim_events"));
    EXPECT_LE(e_pass, e_kernel) << base;
    folded += e_pass < e_kernel ? 1 : 0;
  }
  EXPECT_GE(folded, 3) << "most cases have passes to fold";
}

// With no timeline a folded pass takes replay()'s fast path (megatron_fold.cc: no spans to write): per segment its
// compute, then its collectives with an event; a collective over a group of one (TP 1 here) has no event and is
// left out of it. The 175B layout (TP 8, no sequence parallelism) overlaps each column-parallel backward's input-
// gradient all-reduce with its weight-gradient GEMM, one collective per overlapped chain: its backward passes take the
// second fast path (replay_simple), with the SM contention's extra time. Every metric the same bit for bit as the
// kernel granularity's, with far fewer events.
TEST_F(EventGranularity, FoldedPassesWithoutATimelineGiveTheSameMetrics) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"scenarios/training/gpt3-175b-a100-1024.yaml", "workload: {global_batch_size: 128}\n"},
      // TP 1, PP 16 (DP 64): 16 micro-batches; full recomputation to fit.
      {"scenarios/training/llama3-70b-h100-1024.yaml",
       "workload: {global_batch_size: 1024, pipeline_model_parallel_size: 16, tensor_model_parallel_size: 1, "
       "sequence_parallel: false, tp_comm_overlap: false, recompute_granularity: full}\n"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& [base, extra] = cases[i];
    const std::string tag = "notimeline" + std::to_string(i);
    const std::string off = "outputs: {timeline: false}\n";
    const Fingerprint pass = run(base, tag + "_pass", extra + "simulation: {event_granularity: pass}\n" + off);
    const Fingerprint kernel = run(base, tag + "_kernel", extra + "simulation: {event_granularity: kernel}\n" + off);
    expect_same_but_events(pass, kernel, tag);
    ASSERT_FALSE(value(pass, "metric.sim_events").empty()) << tag;
    EXPECT_LT(std::stod(value(pass, "metric.sim_events")) * 3, std::stod(value(kernel, "metric.sim_events"))) << tag;
  }
}

// A pipeline send that does not block its sender (the interleaved schedule's steady state with overlap_p2p_comm,
// Megatron-LM's default) and whose receiver is not waiting for it has no event when neither rank is on a timeline:
// the receiver reads its arrival time when it needs the input, and a receiver that blocks before it arrives is woken
// by an event of its own (megatron_runtime.cc: send_output, missing_input, run_task). With every rank on the
// timeline every send keeps its event: every metric the same bit for bit either way, far fewer events without.
TEST_F(EventGranularity, SendsNoOneWaitsForChangeNothingButTheEventCount) {
  // (base, extra, the most events without a timeline may be of those with one)
  const std::vector<std::tuple<std::string, std::string, double>> cases = {
      // The speed benchmark's 175B layout (PP 8 with 6 chunks, DP 4) with 64 micro-batches.
      {"scenarios/training/gpt3-175b-a100-1024.yaml",
       "cluster: {pools: [{name: dgx, node: dgx-a100, count: 32}]}\nworkload: {pipeline_model_parallel_size: 8, "
       "num_layers_per_virtual_pipeline_stage: 2, global_batch_size: 256, overlap_p2p_comm: true}\n",
       0.75},
      // Llama 3 70B as shipped (PP 4, 4 chunks), 16 micro-batches: its events are mostly the collectives' and buckets'.
      {"scenarios/training/llama3-70b-h100-1024.yaml", "workload: {global_batch_size: 512}\n", 0.99},
      // Kernel granularity: the same sends from the fine-grained path.
      {"scenarios/training/llama3-70b-h100-1024.yaml",
       "workload: {global_batch_size: 512}\nsimulation: {event_granularity: kernel}\n", 0.999},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& [base, extra, most] = cases[i];
    const std::string tag = "unwatched" + std::to_string(i);
    double on = 0, off = 0;
    const auto a = metrics_but_events(run(base, tag + "_on", extra + "outputs: {timeline_ranks: 0}\n"), &on);
    const auto b = metrics_but_events(run(base, tag + "_off", extra + "outputs: {timeline: false}\n"), &off);
    ASSERT_GT(a.size(), 20u) << tag;
    EXPECT_EQ(a, b) << tag;
    EXPECT_LT(off, most * on) << tag << ": " << off << " events without a timeline, " << on << " with";
  }
}

// Two jobs on one analytical fabric, their nodes interleaved so that their pipeline sends cross the same leaves and
// spines: a send without an event still queues on the fabric links exactly where its event's send would, so the other
// job's sends see the same queues. Every metric of both jobs the same bit for bit with every rank traced and with none.
TEST_F(EventGranularity, SendsNoOneWaitsForQueueAsTheirEventsWouldUnderAnotherJob) {
  const std::string job =
      "    workload:\n"
      "      type: megatron\n"
      "      model: {num_layers: 16, hidden_size: 4096, ffn_hidden_size: 14336, num_attention_heads: 32, "
      "group_query_attention: true, num_query_groups: 8, seq_length: 8192, vocab_size: 128256, swiglu: true, "
      "normalization: RMSNorm, position_embedding_type: rope, add_bias_linear: false}\n"
      "      tensor_model_parallel_size: 8\n"
      "      pipeline_model_parallel_size: 4\n"
      "      num_layers_per_virtual_pipeline_stage: 2\n"
      "      sequence_parallel: true\n"
      "      use_distributed_optimizer: true\n"
      "      overlap_grad_reduce: true\n"
      "      global_batch_size: 64\n"
      "      micro_batch_size: 1\n";
  const std::string scenario = "name: two-pipelines\n"
                               "cluster:\n"
                               "  pools:\n"
                               "    - {node: hgx-h100, count: 16}\n"
                               "  fabric: {ports_per_leaf: 8, spines: 2, uplink_bandwidth: 100Gb/s}\n"
                               "jobs:\n"
                               "  - name: a\n"
                               "    node_ids: [0, 2, 4, 6, 8, 10, 12, 14]\n" +
                               job +
                               "  - name: b\n"
                               "    node_ids: [1, 3, 5, 7, 9, 11, 13, 15]\n"
                               "    start: 1ms\n" +
                               job + "simulation: {fidelity: analytical}\n";
  std::vector<std::pair<std::string, std::string>> metrics[2];
  double events[2] = {0, 0};
  for (int off = 0; off < 2; ++off) {
    const std::string tag = off ? "jobs_off" : "jobs_on";
    const fs::path file = dir_ / (tag + ".yaml");
    std::ofstream(file) << scenario << (off ? "outputs: {timeline: false}\n" : "outputs: {timeline_ranks: 0}\n");
    std::string error;
    const Fingerprint fp = fingerprint::take(file, dir_ / tag, &error);
    ASSERT_TRUE(error.empty()) << error;
    metrics[off] = metrics_but_events(fp, &events[off]);
  }
  ASSERT_GT(metrics[0].size(), 40u);
  EXPECT_EQ(metrics[0], metrics[1]);
  EXPECT_LT(events[1], events[0]);
}

// Context parallelism's p2p ring is CP - 1 send/recv rounds in one chain under the attention kernels: a rank
// waiting for the chain has the wait so far moved to the bubble by each round that starts while it waits, so a
// wrong replay of those rounds moves time between time_exposed_cp_s and time_pipeline_bubble_s. CP 3 (768 GPUs,
// DP 8, 6,144 tokens), 4 and 8 (1,024 GPUs), both implementations and both ring kinds (a2a+p2p: Transformer
// Engine's only): every metric and the timeline the same bit for bit, and the passes folded (the shipped layout at
// CP 4 ran 505,786 events unfolded, against 9,276 at CP 1).
TEST_F(EventGranularity, ContextParallelRingsFoldAndChangeNothingButTheEventCount) {
  const std::string base = "scenarios/training/llama3-70b-h100-1024.yaml";
  bool waited = false;
  for (const int cp : {3, 4, 8}) {
    for (const std::string impl : {"transformer_engine", "pytorch"}) {
      for (const std::string ring : {"p2p", "a2a+p2p"}) {
        if (impl == "pytorch" && ring != "p2p") continue;  // a2a+p2p is Transformer Engine's
        // CP 3: 2 x CP must divide the sequence (6,144 tokens) and TP x PP x CP the GPUs.
        const std::string extra = std::string(cp == 3 ? "cluster: {nodes: 96}\n" : "") +
                                  "workload: {global_batch_size: 64, context_parallel_size: " + std::to_string(cp) +
                                  ", cp_implementation: " + impl + ", cp_comm_type: " + ring +
                                  (cp == 3 ? ", model: {seq_length: 6144}" : "") + "}\n";
        const std::string tag = "cp" + std::to_string(cp) + "_" + impl + "_" + (ring == "p2p" ? "p2p" : "a2a");
        const Fingerprint pass = run(base, tag + "_pass", with(extra, "pass"));
        const Fingerprint kernel = run(base, tag + "_kernel", with(extra, "kernel"));
        expect_same_but_events(pass, kernel, tag);
        ASSERT_FALSE(value(pass, "metric.sim_events").empty()) << tag;
        const double e_pass = std::stod(value(pass, "metric.sim_events"));
        const double e_kernel = std::stod(value(kernel, "metric.sim_events"));
        // Unfolded (main 555f495) the pass granularity ran as many events as the kernel one. Since the parameter
        // gathers run chunk by chunk (aligned: chunk k + 1's from chunk k's first forward pass), the passes that run
        // beside one do not fold (its SM contention is observable): 0.37 of the kernel granularity's events here.
        EXPECT_LT(e_pass * 2, e_kernel) << tag << ": the passes fold";
        std::cout << tag << ": " << e_pass << " events folded, " << e_kernel << " unfolded\n";
        waited = waited || (std::stod(value(pass, "metric.time_exposed_cp_s")) > 0 &&
                            std::stod(value(pass, "metric.time_pipeline_bubble_s")) > 0);
      }
    }
  }
  EXPECT_TRUE(waited) << "some case waits for its ring, so the bubble split is exercised";
}

// With overlap_grad_reduce the last micro-batch's backward passes complete gradient buckets, and the buckets'
// reduce-scatters (all-reduces without the distributed optimizer) run on the data-parallel stream beside the passes
// that follow; with overlap_param_gather the first forward passes run beside the parameters' all-gathers. Those
// passes fold with the streams walked beside them (megatron_fold_dp.cc): the streams' chains' time beside the
// kernels (SM contention) and their collectives that start while the compute stream waits (the bubble split) are the
// fine path's additions in its order, so every metric is the same bit for bit. Each overlap then costs few events
// more than the same collectives run blocking: (a) the training-model issue's 175B layout (TP 8, PP 8 with 6 chunks,
// DP 4; 16 micro-batches here): 168 of its 1,536 passes run beside a bucket or complete one; unfolded (main abfc625)
// the buckets' overlap cost 8,782 events more than the buckets at the iteration's end, folded 2,052 (the passes
// beside a bucket's first reduce-scatter, whose time is not memoized yet, still run segment by segment), while
// folding saves 41,677 of the kernel granularity's 46,986 events; (b) Llama 3 70B on 1,024 H100s (128 sequences):
// the parameter gather's overlap cost 4,285 events more than gathering after the optimizer step before the gather's
// passes folded (a946de6), 822 since, against 22,874 saved by folding. Also: the buckets all-reduced (no
// distributed optimizer), and context parallelism's chains of send/recv rounds beside both streams.
TEST_F(EventGranularity, PassesBesideTheDataParallelStreamsFoldAndChangeNothingButTheEventCount) {
  const std::string off = "outputs: {timeline: false}\n";
  const std::string pass = "simulation: {event_granularity: pass}\n" + off;
  const std::string kernel = "simulation: {event_granularity: kernel}\n" + off;
  const auto events = [](const Fingerprint& fp) { return std::stod(value(fp, "metric.sim_events")); };
  // `open` ends in "<key>: " inside a workload mapping: true overlaps, false runs the collectives blocking.
  const auto overlap_costs_few_events = [&](const std::string& base, const std::string& tag, const std::string& open) {
    const Fingerprint on = run(base, tag + "_on", open + "true}\n" + pass);
    const Fingerprint on_kernel = run(base, tag + "_on_kernel", open + "true}\n" + kernel);
    const Fingerprint blocking = run(base, tag + "_blocking", open + "false}\n" + pass);
    expect_same_but_events(on, on_kernel, tag);
    ASSERT_FALSE(value(on, "metric.sim_events").empty()) << tag;
    ASSERT_FALSE(value(blocking, "metric.sim_events").empty()) << tag;
    EXPECT_LT((events(on) - events(blocking)) * 10, events(on_kernel) - events(on))
        << tag << ": the passes beside the stream fold: " << events(on) << " events overlapped, " << events(blocking)
        << " blocking, " << events(on_kernel) << " unfolded";
  };
  const std::string k175 = "scenarios/training/gpt3-175b-a100-1024.yaml";
  const std::string layout =
      "cluster: {pools: [{name: dgx, node: dgx-a100, count: 32}]}\n"
      "workload: {pipeline_model_parallel_size: 8, num_layers_per_virtual_pipeline_stage: 2, global_batch_size: 64, ";
  overlap_costs_few_events(k175, "buckets", layout + "overlap_grad_reduce: ");
  const std::string k70 = "scenarios/training/llama3-70b-h100-1024.yaml";
  overlap_costs_few_events(k70, "gathers", "workload: {global_batch_size: 128, overlap_param_gather: ");

  const std::vector<std::pair<std::string, std::string>> cases = {
      {k175, layout + "overlap_grad_reduce: true, use_distributed_optimizer: false, overlap_param_gather: false}\n"},
      {k70, "workload: {global_batch_size: 128, context_parallel_size: 2, overlap_grad_reduce: true}\n"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& [base, extra] = cases[i];
    const std::string tag = "beside_streams" + std::to_string(i);
    const Fingerprint folded = run(base, tag + "_pass", extra + pass);
    const Fingerprint fine = run(base, tag + "_kernel", extra + kernel);
    expect_same_but_events(folded, fine, tag);
    ASSERT_FALSE(value(folded, "metric.sim_events").empty()) << tag;
    EXPECT_LT(events(folded) * 3, events(fine)) << tag;
  }
}

TEST_F(EventGranularity, PassDetailDropsOnlyTheCollectivesInsidePasses) {
  const std::string base = "scenarios/training/gpt3-175b-a100-1024.yaml";
  const std::string extra = "workload: {global_batch_size: 128}\n";
  const Fingerprint kernels = run(base, "kernels", extra + "outputs: {timeline_detail: kernels}\n");
  const Fingerprint passes = run(base, "passes", extra + "outputs: {timeline_detail: passes}\n");
  for (size_t i = 0; i < kernels.lines.size(); ++i) {
    const std::string& key = kernels.lines[i].first;
    if (key.rfind("timeline.", 0) == 0 || key == "label.scenario") continue;
    EXPECT_EQ(kernels.lines[i].second, passes.lines[i].second) << key;
  }
  EXPECT_LT(std::stod(value(passes, "timeline.events")), std::stod(value(kernels, "timeline.events")) / 2);
}

}  // namespace
}  // namespace lcsim
