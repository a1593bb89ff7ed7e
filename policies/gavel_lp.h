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
#pragma once

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
};

/// Solves the two LPs. Jobs that can run on no kind (all zero throughput, or too large for every kind) get no
/// time and are left out of the minimum. Throws std::runtime_error if GLPK fails (it should not: X = 0 is feasible).
GavelLpResult solve_gavel_lp(const GavelLpInput& in);

}  // namespace lcsim::policy
