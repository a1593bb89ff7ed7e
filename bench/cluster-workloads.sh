#!/usr/bin/env bash
# Times `lcsim schedule` with 50 jobs as real training workloads on the flow model (scenarios/cluster-jobs/:
# 16 HGX H100 nodes, 4:1 oversubscribed leaf/spine; target: minutes, not hours), one policy per run, and prints
# wall and CPU time, peak RSS and how many groups of concurrent jobs were simulated on the fabric.
#   bash bench/cluster-workloads.sh [BUILD_DIR]   (default: build)   POLICIES=a,b overrides fifo,backfill,topology.
set -euo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LCSIM=${1:-build}/apps/lcsim
POLICIES=${POLICIES:-fifo,backfill,topology}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '| policy | jobs | wall (s) | CPU (s) | peak RSS (MB) | fabric simulations | JCT mean (min) |\n'
printf '|---|---:|---:|---:|---:|---:|---:|\n'
for p in ${POLICIES//,/ }; do
  /usr/bin/time -f '%e %U %S %M' -o "$out/time" "$LCSIM" schedule --trace "$ROOT/scenarios/cluster-jobs/jobs.csv" \
    --cluster "$ROOT/scenarios/cluster-jobs/cluster.yaml" --policies "$p" > "$out/table"
  read -r wall user sys rss < "$out/time"
  row=$(grep "^| $p |" "$out/table" | tail -1)
  IFS='|' read -r _ _ _ jobs jct _ _ _ _ _ _ sims _ <<< "$row"
  printf '| %s | %s | %s | %.1f | %.0f | %s | %s |\n' "$p" "${jobs// /}" "$wall" "$(awk "BEGIN{print $user + $sys}")" \
    "$((rss / 1024))" "${sims// /}" "${jct// /}"
done
