// Shared set-up of the Megatron workload's tests (megatron_test.cc: schedules, placement, accounting, runs;
// megatron_input_test.cc: command-line import and input checks; megatron_args_model_test.cc: what a pasted line
// builds): a small TP 2 x PP 4 layout on 32 H100s, a run of
// it with overrides in a child process, and a scenario parsed from another workload block.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_support.h"

#include "models/hardware/memory.h"
#include "models/hardware/op_cost.h"
#include "scenarios/scenario.h"
#include "sim/error.h"
#include "workloads/training/megatron.h"

namespace lcsim::megatron_support {

inline const char* kBase = R"(
name: mt
cluster: {accelerator: H100-SXM-80GB, nodes: 4, gpus_per_node: 8,
          fabric: {ports_per_leaf: 16, spines: 4, nic_bandwidth: 400Gb/s, uplink_bandwidth: 400Gb/s, rail_optimized: true}}
workload:
  type: megatron
  model: {num_layers: 8, hidden_size: 2048, num_attention_heads: 16, seq_length: 2048, vocab_size: 32000}
  global_batch_size: 32
  micro_batch_size: 1
  tensor_model_parallel_size: 2
  pipeline_model_parallel_size: 4
  # The host as lcsim modelled it before 5 Dec 2026 (night): this toy layout's kernels (tens of microseconds) would be
  # host-bound at the fitted 62 us per kernel, hiding the kernel and collective effects these tests check. The
  # runahead model and its default are tested in step_overhead_test.cc and moe_host_test.cc.
  host_op_time: 23us
  host_issue_model: overlapped
simulation: {fidelity: analytical}
outputs: {timeline: false}
)";

/// The metrics of the scenario `yaml` with `sets` applied, run in a child process (test_support.h).
inline std::map<std::string, double> run_from(const char* yaml, const std::vector<std::string>& sets) {
  return testing::metrics_in_child([&] {
    ConfigValue tree = parse_yaml_text(yaml, "mt.yaml");
    for (const auto& s : sets) apply_override(tree, s);
    Scenario sc = parse_scenario(tree);
    RunResult r = run_scenario(sc);
    if (!r.completed) throw std::runtime_error("did not complete");
    return r.metrics;
  });
}

/// The metrics of kBase with `sets` applied, run in a child process.
inline std::map<std::string, double> run(const std::vector<std::string>& sets) { return run_from(kBase, sets); }

/// kBase with `sets` applied, parsed (not run).
inline Scenario parse_sets(const std::vector<std::string>& sets) {
  ConfigValue tree = parse_yaml_text(kBase, "mt.yaml");
  for (const auto& s : sets) apply_override(tree, s);
  return parse_scenario(tree);
}

/// Bytes of the memory fit's item `name` (-1: no such item).
inline double memory_item(const hw::MemoryFit& f, const std::string& name) {
  for (const auto& i : f.items) {
    if (i.name == name) return i.bytes.bytes();
  }
  return -1.0;
}

/// Bytes of the one op named `name` in `ops` (-1: no such op; a test failure if several share the name).
inline double op_bytes(const std::vector<hw::OpWork>& ops, const std::string& name) {
  double bytes = -1.0;
  int found = 0;
  for (const auto& op : ops) {
    if (op.name == name) bytes = op.bytes.bytes(), ++found;
  }
  EXPECT_LE(found, 1) << name;
  return bytes;
}

/// kBase with its workload block replaced by `workload_yaml`, parsed.
inline Scenario parse_with(const std::string& workload_yaml) {
  std::string text = kBase;
  text = text.substr(0, text.find("workload:")) + workload_yaml + "simulation: {fidelity: analytical}\n";
  return parse_scenario(parse_yaml_text(text, "mt.yaml"));
}

/// The Megatron workload's configuration of a parsed scenario (a reference into `sc`: keep the scenario).
inline const wl::MegatronConfig& config_of(const Scenario& sc) {
  return dynamic_cast<wl::MegatronTraining*>(sc.workload.get())->config();
}

/// The configuration a pasted Megatron-LM command line `args` gives on kBase's cluster (a copy).
inline wl::MegatronConfig config_of_line(const std::string& args) {
  return config_of(parse_with("workload:\n  type: megatron\n  megatron_args: \"" + args + "\"\n"));
}

/// The InputError message of parsing kBase with its workload block replaced by `workload_yaml`; "" if accepted.
inline std::string parse_error_with(const std::string& workload_yaml) {
  try {
    parse_with(workload_yaml);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

/// The InputError message of parsing kBase with `sets` applied; "" if accepted.
inline std::string parse_sets_error(const std::vector<std::string>& sets) {
  try {
    parse_sets(sets);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace lcsim::megatron_support
