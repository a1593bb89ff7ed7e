// A Megatron pipeline send is an NCCL send/recv: it takes what nccl_tests' send_recv says for the same pair of GPUs
// and size (the calibrated p2p latency and efficiency, Collectives::send_to), inside a node and across nodes.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "test_support.h"
#include "timeline_support.h"

#include "scenarios/scenario.h"
#include "timeline/model.h"

namespace lcsim {
namespace {

// Two H100s (one node of two, or two nodes of one) on a rail-optimized fabric.
std::string cluster(int nodes, int gpus) {
  return "cluster: {accelerator: H100-SXM-80GB, nodes: " + std::to_string(nodes) + ", gpus_per_node: " +
         std::to_string(gpus) +
         ",\n          fabric: {ports_per_leaf: 16, spines: 2, nic_bandwidth: 400Gb/s, uplink_bandwidth: 400Gb/s, "
         "rail_optimized: true}}\n";
}

// PP 2, one micro-batch of 1 x 2,048 tokens of hidden 2,048: the forward's send is 2,048 x 2,048 x 2 B = 8 MiB
// from rank 0 (stage 0) to rank 1 (stage 1). Its span on rank 0's pipeline lane, in seconds (timeline: whole ns).
double megatron_send(int nodes, int gpus) {
  const std::string text = "name: pp\n" + cluster(nodes, gpus) +
                           "workload:\n  type: megatron\n"
                           "  model: {num_layers: 4, hidden_size: 2048, num_attention_heads: 16, seq_length: 2048, "
                           "vocab_size: 32000}\n"
                           "  global_batch_size: 1\n  micro_batch_size: 1\n  pipeline_model_parallel_size: 2\n"
                           "simulation: {fidelity: analytical}\n"
                           "outputs: {timeline: true, timeline_format: json}\n";
  Scenario sc = parse_scenario(parse_yaml_text(text, "pp.yaml"));
  const RunResult r = run_scenario(sc);
  EXPECT_TRUE(r.completed);
  const auto dir = timeline::support::temp_dir("pipeline_send_test", std::to_string(nodes));
  const timeline::Trace t = timeline::support::read_text(dir, "timeline.json", r.timeline_json);
  for (const auto& tr : t.tracks) {
    if (tr.group != "node0" || tr.name != "gpu0 pp") continue;
    for (const auto& s : tr.slices) {
      if (std::string(t.str(s.name)) == "send activations") return static_cast<double>(s.dur_ns) * 1e-9;
    }
  }
  ADD_FAILURE() << "no send on rank 0's pipeline lane";
  return 0;
}

// nccl_tests' send_recv of 8 MiB between the same two GPUs: its table's time (to 10 ns), in seconds.
double nccl_send_recv(int nodes, int gpus) {
  const std::string text = "name: p2p\n" + cluster(nodes, gpus) +
                           "workload: {type: nccl_tests, operation: send_recv, sizes: [8MiB], iterations: 1}\n"
                           "simulation: {fidelity: analytical}\noutputs: {timeline: false}\n";
  Scenario sc = parse_scenario(parse_yaml_text(text, "p2p.yaml"));
  const RunResult r = run_scenario(sc);
  EXPECT_TRUE(r.completed);
  for (const auto& line : r.table) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    double size = 0, count = 0, time_us = 0;
    std::string type, redop, root;
    ls >> size >> count >> type >> redop >> root >> time_us;
    return time_us * 1e-6;
  }
  ADD_FAILURE() << "no row";
  return 0;
}

const double kSend = 8.0 * (1 << 20);

// Inside a node: H100's send/recv latency (8.4 us + a scale-up hop of 0.5 us each way) and efficiency (0.823 of
// 450 GB/s; catalog h100-sxm-80gb.yaml, docs/calibration.md). A raw transfer took 1 us + 18.6 us: 4.0 us less.
TEST(PipelineSend, TakesWhatNcclTestsSendRecvSaysInsideANode) {
  const double by_hand = 8.4e-6 + 2 * 0.5e-6 + kSend / (0.823 * 450e9);
  const double pp = megatron_send(1, 2), nccl = nccl_send_recv(1, 2);
  EXPECT_NEAR(nccl, by_hand, 0.01e-6);
  EXPECT_NEAR(pp, by_hand, 1e-9);
  EXPECT_NEAR(pp, nccl, 0.01e-6) << "the table prints 10 ns";
}

// Across nodes: the same latency and the scale-out efficiency (no p2p one calibrated: the collective one) over
// the NIC; both the same on the same pair.
TEST(PipelineSend, TakesWhatNcclTestsSendRecvSaysAcrossNodes) {
  const double pp = megatron_send(2, 1), nccl = nccl_send_recv(2, 1);
  EXPECT_NEAR(pp, nccl, 0.01e-6) << "the table prints 10 ns";
  EXPECT_GT(pp, 8.4e-6 + kSend / 50e9) << "at least the latency and 8 MiB at the NIC's 400 Gb/s";
}

}  // namespace
}  // namespace lcsim
