// A training job stepped through its interruptions with explicit recovery phases: detection (heartbeat, collective
// timeout or hang detector, by what failed), diagnosis (localising the faulty node: a time and a success rate; a
// failed diagnosis costs a slower fallback search), replacement (a hot spare from a pool whose failed nodes come
// back after their repair, or waiting for the repair), then restart (re-initialisation of communicators and
// framework, restore). Announced maintenance saves a checkpoint first and loses nothing. Lost work is the compute
// since the last completed checkpoint. Everything is accounted per cause and, on request, kept as phase spans for
// the timeline. No engine: a two-month run is a loop over its interruptions and checkpoints (goodput.h is the
// phase-less special case: restart only, spares unlimited).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "models/failure/components.h"
#include "sim/config.h"
#include "sim/rng.h"
#include "sim/units.h"

namespace lcsim::failure {

/// Durations of the recovery phases (defaults: docs/calibration.md "Failures", most of them assumed).
struct RecoveryConfig {
  Duration heartbeat = Duration::seconds(60);            // a node's health agent misses its heartbeats
  Duration collective_timeout = Duration::seconds(600);  // PyTorch's NCCL process-group timeout (10 min)
  Duration hang_detector = Duration::seconds(600);       // no progress for this long
  Duration diagnosis = Duration::seconds(300);           // localise the faulty node
  double diagnosis_success = 0.9;                        // share found by the quick diagnosis
  Duration diagnosis_fallback = Duration::seconds(1800); // the slow search when it is not
  Duration swap = Duration::seconds(300);                // bring a spare node into the job
  void visit(Section& s);
  Duration detection(Detector d) const;
};

/// Phases of a recovery, as they show on the timeline.
enum class Phase : uint8_t { kLost, kDetection, kDiagnosis, kWaitSpare, kSwap, kWaitRepair, kRestart, kMaintenance,
                             kCheckpoint, kRestore, kShrunk, kSlow, kEvict, kMigrate };
const char* phase_name(Phase p);

struct PhaseSpan {
  Phase phase;
  Duration start, end;
  uint16_t cause;
};

struct JobPlan {
  Duration work;                 // compute the job needs
  Duration checkpoint_interval;  // compute between checkpoints; 0 = never
  Duration checkpoint_save;      // the job's time lost per save
  Duration restart;              // re-initialisation (and restore, unless `restore` is set), after the replacement
  Duration restore;              // reading the last checkpoint back (the storage model's), a phase after restart
  RecoveryConfig recovery;
  int spares = -1;               // hot spare nodes; -1 = always one at hand
  size_t causes = 0;             // number of causes (the classes + maintenance), for the per-cause tables
  bool keep_spans = false;
  size_t max_spans = 20000;
  /// Adaptive interval: after each unplanned interruption, the interval for (interruptions so far, wall time so
  /// far); empty = checkpoint_interval throughout.
  std::function<Duration(int, Duration)> adapt;
  /// Elastic shrink (policies/elastic.h): the share of full throughput with k nodes out when a failed node cannot
  /// be replaced at once (no spare at hand); the job restarts without it and runs at that share until it (or a
  /// spare) is back, then saves, re-forms at full size (restart + restore) and loses nothing. Empty, or a share
  /// <= 0, = wait for the spare or the repair instead.
  std::function<double(int)> shrink;
  /// Stragglers: every synchronous step waits for the slowest worker, so wall time per unit of compute (>= 1).
  double step_slowdown = 1;
  /// Detect-and-evict (policies/straggler_eviction.h): a slow node (an Interruption with slow_factor > 1) is
  /// evicted after running slow for `evict_after` (k slow steps): a checkpoint save, then `evict_cost` (the swap
  /// and a restart); nothing lost. 0 = never evicted: the job runs slow until the episode ends.
  Duration evict_after;
  Duration evict_cost;
  /// Failure prediction with migration (policies/failure_prediction.h, action: migrate): on a predicted failure of
  /// a node (action swap) the job saves just in time, then swaps the node for a spare and restarts (the `migrate`
  /// phase: recovery.swap + restart + restore), without detection or diagnosis; the fault then hits a node no
  /// longer in the job (it goes into repair, out of the spare pool). A false alarm costs a save and a migration (the
  /// healthy node rejoins the pool). Needs a spare at hand (spares -1: always; a pool: one not in repair; 0: never):
  /// without one, or for a fault that is not a node's (software, filesystem), only the just-in-time save.
  bool migrate = false;
};

struct CauseTotals {
  int interruptions = 0;
  Duration lost_work;  // compute redone
  Duration downtime;   // detection to computing again (and a maintenance stop's save)
};

struct JobOutcome {
  Duration wall;
  Duration lost_work, checkpoint_time;
  Duration detection, diagnosis, wait_spare, swap, wait_repair, restart, maintenance, restore;
  Duration shrunk;       // wall time run with nodes out (elastic shrink)
  Duration shrunk_loss;  // of it, the throughput missing: shrunk x (1 - share)
  Duration slow;         // wall time run with a straggling node (or with jitter: all of it)
  Duration slow_loss;    // of it, the time lost to waiting for the slowest worker
  Duration evicting;     // saves, swaps and restarts of evictions
  Duration migrating;    // swaps and restarts of migrations before predicted failures (and false alarms)
  int shrinks = 0;       // failures run through at reduced size instead of waiting
  int slow_episodes = 0;
  int evictions = 0;
  int interruptions = 0;  // unplanned
  int planned = 0;        // maintenance stops
  int checkpoints = 0;
  int failed_diagnoses = 0;
  int prevented = 0;  // failures a prevention policy caught before they happened, up to the job's end
  int predicted = 0;     // failures announced in time: a save just before, no compute lost
  int false_alarms = 0;  // alarms not followed by a failure: a save each
  int migrations = 0;    // moves off a node predicted to fail (true and false alarms): a save and a migration each
  Duration last_interval;  // the checkpoint interval in use at the end (adaptive policies move it)
  bool finished = true;
  std::vector<CauseTotals> by_cause;
  std::vector<PhaseSpan> spans;
  Duration down() const {
    return detection + diagnosis + wait_spare + swap + wait_repair + restart + maintenance + restore + evicting +
           migrating;
  }
  Duration useful() const { return wall - lost_work - checkpoint_time - down() - shrunk_loss - slow_loss; }
  double ettr() const { return wall.s() > 0 ? useful().s() / wall.s() : 0.0; }
};

/// Runs `plan` against `events` (sorted by time); `rng` decides diagnoses. Gives up at `horizon`.
JobOutcome run_job(const JobPlan& plan, const std::vector<Interruption>& events, RandomStream& rng,
                   Duration horizon);

}  // namespace lcsim::failure
