// Gavel's heterogeneity-aware max-min fairness policy as the linear program it is (Narayanan et al., "Heterogeneity-
// Aware Cluster Scheduling Policies for Deep Learning Workloads", OSDI 2020, section 4.1): over the throughput
// matrix T (jobs x accelerator kinds), find time fractions X[j][k] (the share of time job j runs on kind k) that
//   maximise   min_j  sum_k T[j][k] X[j][k] / T_eq[j]
//   subject to 0 <= X[j][k],  sum_k X[j][k] <= 1 (a job runs on one kind at a time),
//              sum_j gpus[j] X[j][k] <= G[k] (a kind's GPUs are busy at most all the time),
// where T_eq[j] = sum_k T[j][k] G[k] / sum_k G[k] is job j's throughput under an equal time share of every kind's
// GPUs (the normalisation of gavel.h; Gavel's X^equal up to a constant common to all jobs). A job that needs more
// GPUs than kind k has gets X[j][k] = 0. A second LP keeps the optimal minimum and maximises the sum of the
// normalised throughputs, so that jobs not at the bottleneck are not left with less than they could have (the
// max-min LP alone leaves them anywhere above the minimum). Solved with GLPK's simplex (Debian libglpk-dev);
// deterministic for the same input.
//
// Jobs with the same row (normalised throughputs and GPUs) form a class, solved as one variable per kind with the
// class's job count in the capacity rows and in the second objective: exact, as both LPs are symmetric in the jobs
// of a class and convex, so averaging any optimum over a class keeps it feasible and optimal; the class LP has
// the same optimal minimum and sum, and gives the jobs of a class the same fractions (a per-job optimum may split
// them unevenly at a vertex). On Philly with two job classes it has tens of rows instead of hundreds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lcsim::policy {

struct GavelLpInput {
  std::vector<std::vector<double>> throughput;  // [job][kind], >= 0 (0: the job cannot run there)
  std::vector<uint32_t> gpus;                   // [job]: GPUs it runs on (Gavel's scale factor)
  std::vector<double> capacity;                 // [kind]: GPUs of that kind
};

struct GavelLpResult {
  std::vector<std::vector<double>> fraction;  // X[job][kind]
  std::vector<double> normalised;             // [job]: sum_k T X / T_eq at the optimum
  double min_normalised = 0;                  // the max-min objective
  size_t classes = 0;                         // LP variables per kind (jobs with a share, collapsed into classes)
};

/// Solves the two LPs. Jobs that can run on no kind (all zero throughput, or too large for every kind) get no
/// time and are left out of the minimum. Throws std::runtime_error if GLPK fails (it should not: X = 0 is feasible).
GavelLpResult solve_gavel_lp(const GavelLpInput& in);
/// The same LPs with one variable per job and kind (no classes): the reference the class LP is tested against.
GavelLpResult solve_gavel_lp_per_job(const GavelLpInput& in);

namespace detail_lp {
struct ClassLp {
  std::vector<std::vector<double>> norm;  // [class][kind], > 0 where allowed
  std::vector<uint32_t> gpus;             // [class]
  std::vector<double> count;              // [class]: jobs in the class
};
}  // namespace detail_lp

/// solve_gavel_lp that remembers its latest class LP and its solution: the same classes with the same counts and
/// capacities (whatever the jobs' ids and order) reuse it without calling GLPK. Exact: the class LP is a function
/// of exactly what is compared. For a policy that solves every round.
class GavelLpSolver {
 public:
  GavelLpResult solve(const GavelLpInput& in, bool by_class = true, bool reuse = true);
  uint64_t solved() const { return solved_; }  // LPs handed to GLPK
  uint64_t reused() const { return reused_; }  // answered from the latest solution

 private:
  detail_lp::ClassLp last_;
  std::vector<double> last_capacity_;
  std::vector<std::vector<double>> last_x_;
  double last_t_ = 0;
  bool has_last_ = false;
  uint64_t solved_ = 0, reused_ = 0;
};

}  // namespace lcsim::policy
