#!/usr/bin/env bash
# Demand forecasting and pool power scaling (docs/scheduling.md): the whole Philly trace (82,247 jobs; its
# arrivals follow a daily cycle, which the forecaster learns from the replay itself), on 32 A100 and 32 H100 nodes
# of 8 GPUs, EASY backfill, nodes that take 10 minutes to boot. Rows: every node always on; reactive (nodes for the demand now,
# off after 15 idle minutes); forecast (also powered ahead for the hourly-seasonal forecast of the next 30 min).
# Per-GPU power idle:busy from the part catalog (A100 50:400 W, H100 70:700 W: idle assumed, TDP from datasheets,
# docs/calibration.md); GPU energy only (no host, network or cooling).
# Usage: scenarios/what-if/cluster-forecast.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
"${1:-build}"/apps/lcsim schedule --trace data/clusters/philly_jobs_pollux.csv \
  --pools a100:32:8:1.0:2.0,h100:32:8:2.0:3.0 --ports-per-leaf 32 --policies backfill \
  --power always-on,reactive,forecast --boot 600 --gpu-watts a100=50:400,h100=70:700
# The same three on a strictly periodic load, to show the mechanism: 14 days, each day 48 jobs of 8 GPUs arriving
# one per minute from 09:00, each running 4 hours (lcsim's job CSV, written to a temporary file).
jobs=$(mktemp "${TMPDIR:-/tmp}/lcsim-periodic.XXXXXX.csv")
trap 'rm -f "$jobs"' EXIT
{
  echo "submit_s,gpus,duration_s"
  for d in $(seq 0 13); do
    for k in $(seq 0 47); do echo "$((d * 86400 + 9 * 3600 + k * 60)),8,14400"; done
  done
} >"$jobs"
echo
"${1:-build}"/apps/lcsim schedule --trace "$jobs" --pools a100:32:8:1.0:2.0,h100:32:8:2.0:3.0 --ports-per-leaf 32 \
  --policies backfill --power always-on,reactive,forecast --boot 600 --gpu-watts a100=50:400,h100=70:700
