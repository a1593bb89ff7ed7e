#!/usr/bin/env bash
# FIFO vs EASY backfill vs topology-aware vs heterogeneity-aware on the whole Philly trace (82,247 jobs,
# durations only) on a mixed cluster: 32 A100 nodes and 32 H100 nodes of 8 GPUs (512 GPUs, 32 GPUs per leaf),
# A100 first: the heterogeneity-unaware policies take pools in this order. A second table adds a throughput matrix
# of job classes for the Gavel-style policies.
# The trace's durations are taken as A100 run times (throughput 1.0); H100 runs them at 2.0x, an assumption to
# vary (docs/scheduling.md); prices $2 (A100) and $3 (H100) per GPU-hour, also assumptions. One row per policy.
# Usage: scenarios/what-if/cluster-policies.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
"${1:-build}"/apps/lcsim schedule --trace data/clusters/philly_jobs_pollux.csv \
  --pools a100:32:8:1.0:2.0,h100:32:8:2.0:3.0 --ports-per-leaf 32 --policies fifo,backfill,topology,hetero
# Heterogeneity-aware with a throughput matrix (Gavel-style, docs/scheduling.md): half the jobs are 'lm' (3x on an
# H100, about the dense BF16 peak ratio) and half 'small' (1.2x: input- or memory-bound jobs gain little), an
# assumption like the 2x above. hetero sees only the pools' throughput; gavel and gavel-total see each job's row.
"${1:-build}"/apps/lcsim schedule --trace data/clusters/philly_jobs_pollux.csv \
  --pools a100:32:8:1.0:2.0,h100:32:8:2.0:3.0 --ports-per-leaf 32 --policies backfill,hetero,gavel,gavel-total \
  --job-classes lm:1:a100=1/h100=3,small:1:a100=1/h100=1.2
# Gavel's LP with round-based time slicing (gavel-lp: 6-minute rounds, a preemption costs --checkpoint 60 s) against
# the greedy integral approximation, with the same throughput matrix (docs/scheduling.md).
"${1:-build}"/apps/lcsim schedule --trace data/clusters/philly_jobs_pollux.csv \
  --pools a100:32:8:1.0:2.0,h100:32:8:2.0:3.0 --ports-per-leaf 32 --policies gavel,gavel-lp \
  --job-classes lm:1:a100=1/h100=3,small:1:a100=1/h100=1.2
