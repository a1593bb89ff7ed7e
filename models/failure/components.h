// Per-component failure processes of a training job's hardware and software: GPU, HBM, NIC, optical link, switch,
// host, software hang and filesystem, plus planned maintenance. Each class has a time-to-failure distribution per
// unit (one per GPU or one per node), a repair-time distribution, a lemon knob, the detector that notices it and
// what recovery needs (swap the node for a spare, wait for the repair, or just restart). Default rates are the
// Llama 3 405B pre-training interruptions (16,384 H100s, 54 days; docs/calibration.md "Failures"); repair times
// are the Weibull fit of the InfiniteHBD production trace. Assumptions: the classes are independent; a unit's
// failures form a renewal process (it is back after its repair).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/failure/distribution.h"
#include "sim/config.h"
#include "sim/rng.h"
#include "sim/units.h"

namespace lcsim::failure {

/// Who notices a fault, and so how long detection takes (RecoveryConfig).
enum class Detector : uint8_t { kHeartbeat, kCollectiveTimeout, kHangDetector };
/// What the job needs before it can run again.
enum class Action : uint8_t { kSwap, kWaitRepair, kRestart };

const std::vector<std::string>& detector_names();  // heartbeat, collective_timeout, hang_detector
const std::vector<std::string>& action_names();    // swap, wait_repair, restart

/// One class of failures.
struct ComponentClass {
  std::string name;                 // gpu, hbm, ...: names metrics (reliability_<name>_interruptions)
  std::string unit = "node";        // gpu: one process per GPU; node: one per node
  Duration mtbf;                    // mean time between failures of one unit; 0 = this class never fails
  std::string dist = "exponential"; // time-to-failure distribution (registered name; mean = mtbf)
  double shape = 1.0;               // weibull shape
  DistributionConfig repair;        // how long a failed unit is out (in repair, or the service down)
  std::string detected_by = "heartbeat";
  std::string action = "swap";
  double lemon_fraction = 0.0;
  double lemon_factor = 1.0;
  void visit(Section& s);
};

/// Announced downtime (firmware upgrades, configuration changes): the job saves a checkpoint just before, so it
/// loses no work, then waits `duration` and restarts.
struct MaintenanceConfig {
  DistributionConfig every = default_every();
  Duration duration = Duration::seconds(600);
  bool enabled = true;
  void visit(Section& s);
  static DistributionConfig default_every();
};

/// The eight classes with the Llama 3 defaults, in a fixed order (metrics and tables follow it).
std::vector<ComponentClass> default_component_classes();

/// One interruption of the job.
struct Interruption {
  Duration at;
  uint16_t cause = 0;  // index into the classes; planned maintenance = classes.size()
  Detector detector = Detector::kHeartbeat;
  Action action = Action::kRestart;
  bool planned = false;
  Duration repair;  // how long the failed unit (or service) is out; maintenance: its duration
  uint32_t unit = 0;
  bool prevented = false;  // a policy caught it before it happened (long_run.h): skipped, counted
  bool predicted = false;  // a predictor announced it in time: the job saved a checkpoint just before (long_run.h)
  bool false_alarm = false;  // not a failure: a predictor's false alarm, which costs the job one save
  double slow_factor = 0;    // > 1: not a failure but a straggling node: every step this many times slower for
                             // `repair` (recovery.h; evicted earlier by a detect-and-evict policy)
};

/// Every interruption before `horizon` of a job of `gpus` GPUs on `nodes` nodes, by time (ties by cause, then
/// unit). Each class draws from its own streams (`failure.<name>`, one per unit), maintenance from
/// `failure.maintenance`.
std::vector<Interruption> draw_interruptions(const std::vector<ComponentClass>& classes,
                                             const MaintenanceConfig& maintenance, int gpus, int nodes,
                                             Duration horizon, const RngFactory& rng);

/// Failures per second of the whole job from the configured classes (maintenance excluded).
double job_failure_rate(const std::vector<ComponentClass>& classes, int gpus, int nodes);

Detector parse_detector(const std::string& name);
Action parse_action(const std::string& name);

}  // namespace lcsim::failure
