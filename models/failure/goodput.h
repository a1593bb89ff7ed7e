// A training run stepped through its interruptions: compute in segments of `checkpoint_interval`, each closed by
// a synchronous checkpoint save; an interruption at any moment (computing, saving or restarting) loses the compute
// since the last completed checkpoint and costs a restart (detection, re-initialisation, restore) before computing
// resumes from that checkpoint. Spares are assumed: a restart never waits for a repair. This is the long-horizon
// model of Daly's checkpoint analysis (policies/checkpoint_interval.h), with interruptions from any process (a
// FailureProcess over the job's nodes, or a replayed trace), and no engine: a two-month run is a loop over its
// interruptions and checkpoints.
#pragma once

#include <vector>

#include "sim/units.h"

namespace lcsim::failure {

struct RunPlan {
  Duration work;                 // compute the job needs (iterations x iteration time)
  Duration checkpoint_interval;  // compute between checkpoints; 0 = never checkpoint
  Duration checkpoint_save;      // the job's time lost per save
  Duration restart;              // from an interruption to computing again
};

struct RunOutcome {
  Duration wall;             // start to the last checkpoint of the finished work
  Duration lost_work;        // compute redone after interruptions
  Duration checkpoint_time;  // time spent saving (completed saves and interrupted ones)
  Duration restart_time;     // time spent restarting (completed and interrupted)
  int interruptions = 0;
  int checkpoints = 0;        // completed saves
  bool finished = true;       // false if `horizon` came first
  /// Effective training time ratio: useful compute / wall time.
  double ettr() const { return wall.s() > 0 ? useful().s() / wall.s() : 0.0; }
  Duration useful() const { return wall - lost_work - checkpoint_time - restart_time; }
};

/// Runs `plan` against `interruptions` (wall times from the job's start, sorted); gives up at `horizon`.
RunOutcome step_run(const RunPlan& plan, const std::vector<Duration>& interruptions,
                    Duration horizon = Duration::seconds(1e300));

}  // namespace lcsim::failure
