#!/usr/bin/env bash
# Times `lcsim run bench/inference-1m.yaml` (one million requests on 64 serving instances; target: at most 10 s)
# and prints wall time, peak RSS and the run's request figures.
#   bash bench/inference.sh [BUILD_DIR]   (default: build)   REQUESTS=n overrides the request count.
set -euo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LCSIM=${1:-build}/apps/lcsim
REQUESTS=${REQUESTS:-1000000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
metric() { sed -n "s/^ *\"$1\": \([-0-9.e+]*\),\{0,1\}$/\1/p" "$out/run/metrics.json"; }
/usr/bin/time -f '%e %M' -o "$out/time" "$LCSIM" run "$ROOT/bench/inference-1m.yaml" -q -o "$out/run" \
  --set workload.requests.arrival.requests="$REQUESTS"
read -r wall rss < "$out/time"
printf '| requests | instances | wall (s) | peak RSS (MB) | iterations | requests/s (simulated) | TTFT p99 (s) |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|\n'
printf '| %s | 64 | %s | %.0f | %s | %s | %s |\n' "$REQUESTS" "$wall" "$((rss / 1024))" "$(metric iterations)" \
  "$(metric requests_per_s)" "$(metric ttft_p99_s)"
