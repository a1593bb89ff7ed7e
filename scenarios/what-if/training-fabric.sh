#!/usr/bin/env bash
# The same training job on fabrics that differ only in wiring and load balancing: the Llama 3 405B layout
# (TP 8, PP 16 interleaved, DP 8) on 1,024 H100s, flow network model, every rank simulated (so that replicas
# drift apart as they would). Rail-optimized or not, two tiers, ECMP / spraying / adaptive routing; prints the
# iteration and the exposed pipeline and data-parallel communication side by side.
# Usage: scenarios/what-if/training-fabric.sh [BUILD_DIR]      (a few minutes)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-build}/apps/lcsim
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
metric() { sed -n "s/^ *\"$2\": \([-0-9.e+]*\),\{0,1\}$/\1/p" "$1/metrics.json"; }
printf '| wiring | policy | iteration (s) | TFLOP/s per GPU | exposed PP (ms) | exposed DP (ms) | bubble (ms) | spine util max |\n'
printf '|---|---|---:|---:|---:|---:|---:|---:|\n'
for rail in true false; do
  for policy in ecmp spray adaptive; do
    d=$out/$rail-$policy
    "$bin" run scenarios/training/llama3-405b-h100-16k.yaml -q --no-progress -o "$d" \
      --set cluster.nodes=128 --set workload.global_batch_size=128 --set cluster.fabric.tiers=2 \
      --set cluster.fabric.rail_optimized="$rail" --set policies.load_balancing="$policy" \
      --set simulation.fidelity=flow --set workload.symmetry=off
    wiring=$([[ $rail == true ]] && echo "rail-optimized" || echo "plain leaf/spine")
    awk -v w="$wiring" -v p="$policy" -v it="$(metric "$d" iteration_time_s)" -v tf="$(metric "$d" tflops_per_gpu)" \
      -v pp="$(metric "$d" time_exposed_pp_s)" -v dp="$(metric "$d" time_exposed_dp_s)" \
      -v bu="$(metric "$d" time_pipeline_bubble_s)" -v su="$(metric "$d" link_util_max_spine)" 'BEGIN {
        printf "| %s | %s | %.3f | %.0f | %.1f | %.1f | %.0f | %.3f |\n", w, p, it, tf, pp * 1e3, dp * 1e3, bu * 1e3, su }'
  done
done
