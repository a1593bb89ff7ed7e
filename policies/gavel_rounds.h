// Gavel with its LP and round-based time slicing (`gavel-lp`; Narayanan et al., OSDI 2020, sections 4.1 and 5):
// every round (of round_s seconds) the policy solves the max-min LP of gavel_lp.h over the active jobs (running,
// then the first `window` waiting ones) and the kinds (pools), then assigns jobs to kinds for the round in order
// of Gavel's priority X[j][k] / f[j][k], where f[j][k] is the share of the job's time since it arrived that it
// has run on kind k (a job that has had none of its share comes first; equal priorities go to the job that has
// run least in all, so a job that has never run is not passed over by one only new to that kind). A running job kept on its kind goes on;
// one moved or left out is preempted (the replay charges its checkpoint cost on its next start). Between rounds
// the policy only fills free GPUs with waiting jobs, in the same priority order, and preempts nothing. It asks to
// be called again at the next round boundary (Decisions::wake_s). Jobs hold whole-kind placements, topology-aware
// inside a pool; gang: all of a job's GPUs or none.
//
// This policy keeps state between calls (each job's time per kind, the LP of the round): one instance per replay.
#pragma once

#include <map>
#include <vector>

#include "policies/gavel_lp.h"
#include "policies/scheduling.h"

namespace lcsim::policy {

struct GavelRoundsConfig {
  double round_s = 360;  // Gavel's default round: 6 minutes
  size_t window = 256;   // waiting jobs in the LP, in queue order (running jobs are always in)
  bool by_class = true;  // solve over job classes (false: one LP variable per job; tests)
  bool reuse_lp = true;  // a round with the same classes and counts as the last solved reuses its solution
};

class GavelRoundsPolicy final : public SchedulingPolicy {
 public:
  explicit GavelRoundsPolicy(const GavelRoundsConfig& config) : c_(config) {}
  Decisions schedule(const ClusterSnapshot& snapshot) override;

  /// The LP's fractions from the latest round for `job` (per pool), empty if it was not in it. For tests.
  std::vector<double> lp_fraction(uint64_t job) const;
  /// Seconds `job` has run on each pool, as this policy saw it (up to its latest call). For tests.
  std::vector<double> time_on_pool(uint64_t job) const;
  /// Rounds begun.
  uint64_t rounds() const { return rounds_; }
  /// Rounds whose LP went to GLPK, and rounds that reused the previous round's (the same job classes and counts).
  uint64_t lp_solved() const { return lp_.solved(); }
  uint64_t lp_reused() const { return lp_.reused(); }

 private:
  struct History {
    double since_s = 0;              // first seen
    std::vector<double> on_pool_s;   // run time per pool
    std::vector<double> lp;          // the latest round's X row (empty: not in it)
    std::vector<double> row;         // its throughput row as first seen waiting (0 where it may not run)
    uint64_t seen = 0;               // the latest call that listed it (running or waiting)
  };
  void account(const ClusterSnapshot& s);
  void solve(const ClusterSnapshot& s);

  GavelRoundsConfig c_;
  std::map<uint64_t, History> jobs_;
  uint64_t calls_ = 0;
  double last_s_ = 0;
  double next_round_s_ = -1;
  uint64_t rounds_ = 0;
  GavelLpSolver lp_;
};

/// gavel-lp, with rounds of `round_s` seconds.
void register_gavel_rounds_policy(Registry<SchedulingPolicyFactory>& r, double round_s = 360);

}  // namespace lcsim::policy
