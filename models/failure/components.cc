#include "models/failure/components.h"

#include <algorithm>
#include <limits>

#include "models/failure/process.h"
#include "sim/error.h"

namespace lcsim::failure {
namespace {

// Llama 3 405B pre-training: 16,384 H100 GPUs on 2,048 nodes for 54 days, 419 unexpected interruptions by root
// cause (A. Grattafiori et al., "The Llama 3 Herd of Models", arXiv:2407.21783, 2024, Table 5). A unit's mean time
// between failures is its unit-days over the interruptions its class saw.
constexpr double kLlamaGpus = 16384, kLlamaNodes = 2048, kLlamaDays = 54;

Duration per_gpu(double interruptions) { return Duration::seconds(kLlamaGpus * kLlamaDays * 86400 / interruptions); }
Duration per_node(double interruptions) {
  return Duration::seconds(kLlamaNodes * kLlamaDays * 86400 / interruptions);
}

// The repair time of a server in the InfiniteHBD trace: Weibull k = 0.451, mean 125.3 h (docs/calibration.md).
DistributionConfig trace_repair() {
  DistributionConfig c;
  c.dist = "weibull";
  c.shape = 0.451;
  c.mean = Duration::seconds(125.3 * 3600);
  return c;
}

ComponentClass make(std::string name, std::string unit, Duration mtbf, std::string detected_by, std::string action) {
  ComponentClass c;
  c.name = std::move(name);
  c.unit = std::move(unit);
  c.mtbf = mtbf;
  c.detected_by = std::move(detected_by);
  c.action = std::move(action);
  c.repair = trace_repair();
  return c;
}

}  // namespace

const std::vector<std::string>& detector_names() {
  static const std::vector<std::string> n{"heartbeat", "collective_timeout", "hang_detector"};
  return n;
}
const std::vector<std::string>& action_names() {
  static const std::vector<std::string> n{"swap", "wait_repair", "restart"};
  return n;
}

Detector parse_detector(const std::string& name) {
  const auto& n = detector_names();
  const auto it = std::find(n.begin(), n.end(), name);
  LCSIM_ASSERT(it != n.end(), "unknown detector '" + name + "' (the config parser checks it)");
  return static_cast<Detector>(it - n.begin());
}
Action parse_action(const std::string& name) {
  const auto& n = action_names();
  const auto it = std::find(n.begin(), n.end(), name);
  LCSIM_ASSERT(it != n.end(), "unknown action '" + name + "' (the config parser checks it)");
  return static_cast<Action>(it - n.begin());
}

void ComponentClass::visit(Section& s) {
  s.choice("unit", unit, {"gpu", "node"}, "one failure process per GPU or per node");
  s.field("mtbf", mtbf, "mean time between failures of one unit; 0s = never fails", Range::at_least(0));
  s.choice("dist", dist, distribution_names_only(), "time-to-failure distribution (its mean is mtbf)");
  s.field("shape", shape, "weibull shape k", Range{0.05, 20.0, false});
  s.section("repair", "how long a failed unit is out (repair, or the service down)",
            [&](Section& x) { repair.visit(x); });
  s.choice("detected_by", detected_by, detector_names(), "what notices the fault (its latency: recovery.detection)");
  s.choice("action", action, action_names(),
           "swap: replace the node by a spare; wait_repair: wait until it is repaired; restart: restart in place");
  s.field("lemon_fraction", lemon_fraction, "share of units that fail more often", Range::between(0, 1));
  s.field("lemon_factor", lemon_factor, "how many times more often a lemon fails", Range::at_least(1));
}

DistributionConfig MaintenanceConfig::default_every() {
  DistributionConfig c;
  c.dist = "fixed";
  c.mean = Duration::seconds(kLlamaDays * 86400 / 47);  // Llama 3: 47 planned interruptions in 54 days
  return c;
}

void MaintenanceConfig::visit(Section& s) {
  s.field("enabled", enabled, "announced maintenance stops the job (after a checkpoint) from time to time");
  s.section("every", "time between maintenance stops (default: fixed, 54 days / 47, Llama 3)",
            [&](Section& x) { every.visit(x); });
  s.field("duration", duration, "how long one stop keeps the job down before its restart (assumed)",
          Range::at_least(0));
}

std::vector<ComponentClass> default_component_classes() {
  std::vector<ComponentClass> out;
  // Faulty GPU 148, GPU SRAM 19, GPU system processor 17, thermal interface + sensor 6, silent data corruption 6.
  out.push_back(make("gpu", "gpu", per_gpu(196), "heartbeat", "swap"));
  out.push_back(make("hbm", "gpu", per_gpu(72), "heartbeat", "swap"));  // GPU HBM3 memory 72
  out.push_back(make("nic", "gpu", per_gpu(7), "collective_timeout", "swap"));  // one NIC per GPU
  // Network switch / cable 35: the split is not published; half each (assumed).
  out.push_back(make("link", "node", per_node(17.5), "collective_timeout", "swap"));
  out.push_back(make("switch", "node", per_node(17.5), "collective_timeout", "swap"));
  // Host maintenance 32, SSD 3, power supply 3, chassis 2, IO expansion board 2, CPU 2, system memory 2.
  out.push_back(make("host", "node", per_node(46), "heartbeat", "swap"));
  // Software bug 54, NCCL watchdog timeouts 7, dependency 2: a restart in place.
  ComponentClass sw = make("software", "node", per_node(63), "hang_detector", "restart");
  sw.repair.dist = "fixed";
  sw.repair.mean = Duration::seconds(1);
  out.push_back(sw);
  // No published rate we could cite: off unless set (mtbf), the service is out for its repair time when it fails.
  ComponentClass fs = make("filesystem", "node", Duration(), "heartbeat", "wait_repair");
  fs.repair.dist = "exponential";
  fs.repair.mean = Duration::seconds(3600);
  out.push_back(fs);
  return out;
}

double job_failure_rate(const std::vector<ComponentClass>& classes, int gpus, int nodes) {
  double rate = 0;
  for (const auto& c : classes) {
    if (c.mtbf <= Duration()) continue;
    const double units = c.unit == "gpu" ? gpus : nodes;
    const double lemons = units * c.lemon_fraction;
    rate += ((units - lemons) + lemons * c.lemon_factor) / c.mtbf.s();
  }
  return rate;
}

std::vector<Interruption> draw_interruptions(const std::vector<ComponentClass>& classes,
                                             const MaintenanceConfig& maintenance, int gpus, int nodes,
                                             Duration horizon, const RngFactory& rng) {
  std::vector<Interruption> out;
  for (size_t k = 0; k < classes.size(); ++k) {
    const ComponentClass& c = classes[k];
    if (c.mtbf <= Duration()) continue;
    ProcessConfig pc;
    pc.component = c.name;
    pc.count = c.unit == "gpu" ? gpus : nodes;
    pc.time_to_failure.dist = c.dist;
    pc.time_to_failure.mean = c.mtbf;
    pc.time_to_failure.shape = c.shape;
    pc.repair = c.repair;
    pc.lemon_fraction = c.lemon_fraction;
    pc.lemon_factor = c.lemon_factor;
    const FailureProcess p(pc, rng);
    const Detector det = parse_detector(c.detected_by);
    const Action act = parse_action(c.action);
    for (const FailureEvent& e : p.events(horizon)) {
      out.push_back({e.fail_at, static_cast<uint16_t>(k), det, act, false, e.repaired_at - e.fail_at, e.component});
    }
  }
  if (maintenance.enabled) {
    RandomStream s = rng.stream("failure.maintenance");
    const auto every = make_distribution(maintenance.every);
    for (Duration t = every->sample(s); t < horizon; t += every->sample(s)) {
      out.push_back({t, static_cast<uint16_t>(classes.size()), Detector::kHeartbeat, Action::kRestart, true,
                     maintenance.duration, 0});
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Interruption& a, const Interruption& b) {
    if (a.at != b.at) return a.at < b.at;
    if (a.cause != b.cause) return a.cause < b.cause;
    return a.unit < b.unit;
  });
  return out;
}

}  // namespace lcsim::failure
