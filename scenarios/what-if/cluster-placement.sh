#!/usr/bin/env bash
# Does topology-aware placement pay when jobs share the fabric? 50 training jobs (scenarios/cluster-jobs/jobs.csv:
# GPT 350M and 1.3B data parallel on 1, 2 or 4 nodes) on 16 HGX H100 nodes under a 4:1 oversubscribed leaf/spine
# fabric (scenarios/cluster-jobs/cluster.yaml). Each job is a real lcsim workload: its iteration time comes from
# simulating it on its nodes together with every running job it may share links with (flow model), re-evaluated
# whenever the set of running jobs changes. FIFO, EASY backfill (both first fit) and topology-aware placement
# (backfill + fewest leaves) on the same job list; the second table has the workload jobs' completion times and
# stretch (time holding GPUs / time alone on a compact placement). docs/scheduling.md has the measured table.
# Usage: scenarios/what-if/cluster-placement.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
"${1:-build}"/apps/lcsim schedule --trace scenarios/cluster-jobs/jobs.csv \
  --cluster scenarios/cluster-jobs/cluster.yaml --policies fifo,backfill,topology
