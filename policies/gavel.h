// Heterogeneity-aware allocation in the manner of Gavel (Narayanan et al., "Heterogeneity-Aware Cluster
// Scheduling Policies for Deep Learning Workloads", OSDI 2020). Each job has a throughput on each accelerator
// kind (a row of the throughput matrix: PendingJob::throughput, or the pools' own throughput when a job has none).
// A job's normalised throughput on pool k is T[j][k] / T_eq[j], where T_eq[j] = sum_k T[j][k] G_k / sum_k G_k is
// its throughput under an equal time share of every pool's GPUs (G_k) — Gavel's normalisation for max-min
// fairness. The policy allocates the free GPUs of each pool to waiting jobs to maximise the minimum (max-min) or
// the sum (total) of the normalised throughputs of the jobs it starts.
//
// Gavel solves a linear program over fractional time shares and realises them with rounds of time slicing; here
// jobs hold whole pools' GPUs until they finish (no time slicing), so the allocation is integral and found by a
// greedy approximation of that LP, in passes over a window of the queue:
//   * max-min: repeatedly start the job whose normalised throughput on its second-best pool that can take it now
//     (its fallback) is smallest, on its best pool: the job that would fare worst without its preferred kind
//     gets it first (ties: the larger gain over its fallback, then queue order);
//   * total: repeatedly start the job with the largest gain of its best pool over its fallback (regret), on its
//     best pool (ties: queue order).
// Inside a pool, topology-aware placement (fewest leaves). Gang: all of a job's GPUs or none. No reservations:
// a large job can wait while smaller ones keep taking GPUs (Gavel's rounds bound that; here only the window does).
#pragma once

#include "policies/scheduling.h"

namespace lcsim::policy {

struct GavelConfig {
  enum class Objective : uint8_t { kMaxMin, kMaxTotal };
  Objective objective = Objective::kMaxMin;
  size_t window = 64;  // waiting jobs considered per pass, in queue order
};

class GavelPolicy final : public SchedulingPolicy {
 public:
  explicit GavelPolicy(const GavelConfig& config) : c_(config) {}
  Decisions schedule(const ClusterSnapshot& snapshot) override;

 private:
  GavelConfig c_;
};

/// Job `job`'s throughput on pool `pool` (its matrix row, or the pool's own throughput).
double job_throughput(const ClusterSnapshot& s, const PendingJob& job, uint32_t pool);
/// Its normalised throughput there: T[j][pool] / T_eq[j] (equal time share of every pool's GPUs).
double normalised_throughput(const ClusterSnapshot& s, const PendingJob& job, uint32_t pool);

/// gavel (max-min), gavel-total.
void register_gavel_policies(Registry<SchedulingPolicyFactory>& r);

}  // namespace lcsim::policy
