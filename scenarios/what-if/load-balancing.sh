#!/usr/bin/env bash
# Runs scenarios/what-if/load-balancing.yaml under each load-balancing policy, for a permutation and an
# all-to-all of large flows, on the flow model (SimGrid max-min) and on the analytical one, and prints achieved
# throughput (percent of a non-blocking fabric) and spine-link utilization side by side.
# Usage: scenarios/what-if/load-balancing.sh [BUILD_DIR] [FIDELITIES]   (FIDELITIES default: "flow analytical")
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-build}/apps/lcsim
fidelities=${2:-flow analytical}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
metric() { sed -n "s/^ *\"$2\": \([-0-9.e+]*\),\{0,1\}$/\1/p" "$1/metrics.json"; }
printf '| pattern | fidelity | policy | throughput (%% of ideal) | makespan (s) | spine util max | spine util mean | FCT p99 (s) |\n'
printf '|---|---|---|---:|---:|---:|---:|---:|\n'
# The all-to-all runs on 8 of the 16 nodes (64 GPUs on 4 leaves, 4,032 flows): sprayed over 16 spines that is
# 50,000 SimGrid flows, about 15 s; all 16 nodes take minutes (flows started without actors cost O(n) to remove).
for pattern in "permutation:1GiB:16" "all_to_all:16MiB:8"; do
  IFS=: read -r p size nodes <<< "$pattern"
  for fidelity in $fidelities; do
    for policy in ecmp spray adaptive; do
      d=$out/$p-$fidelity-$policy
      "$bin" run scenarios/what-if/load-balancing.yaml -q -o "$d" --set workload.pattern="$p" \
        --set workload.flow_size="$size" --set policies.load_balancing="$policy" \
        --set simulation.fidelity="$fidelity" --set "cluster.pools=[{node: hgx-h100, count: $nodes}]"
      printf '| %s (%s flows, %s nodes) | %s | %s | %.1f | %.4f | %.2f | %.2f | %.4f |\n' "$p" "$size" "$nodes" \
        "$fidelity" "$policy" "$(metric "$d" throughput_percent_of_ideal)" "$(metric "$d" makespan_s)" \
        "$(metric "$d" link_util_max_spine)" "$(metric "$d" link_util_mean_spine)" "$(metric "$d" fct_p99_s)"
    done
  done
done
