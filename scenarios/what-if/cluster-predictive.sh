#!/usr/bin/env bash
# Scheduling from duration estimates with 0%, 20% and 50% error (each job's estimate is its duration x
# U[1-e, 1+e]): shortest-estimate-first with EASY backfill (predictive) against plain EASY backfill, which uses
# the estimates only for its reservations, on the Philly trace on the mixed cluster of cluster-policies.sh.
# Usage: scenarios/what-if/cluster-predictive.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
"${1:-build}"/apps/lcsim schedule --trace data/clusters/philly_jobs_pollux.csv \
  --pools a100:32:8:1.0:2.0,h100:32:8:2.0:3.0 --ports-per-leaf 32 --policies predictive,backfill \
  --estimate-error 0,0.2,0.5
