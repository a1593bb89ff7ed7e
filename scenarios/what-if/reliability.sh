#!/usr/bin/env bash
# Whole-run reliability what-ifs for Llama 3 405B (scenarios/training/llama3-405b-h100-16k.yaml with a 15T-token
# budget; the failure rates are Llama 3's own, docs/fault-tolerance.md), each printed as a side-by-side table:
#   1. checkpoint interval sweep (0.25x .. 4x Daly's interval): the best wall time sits at Daly's interval;
#   2. hot spares: none, a pool of 4 and 32 nodes, unlimited;
#   3. pre-flight health checks off vs on (assumed knobs: 30% of faults latent, half found, 10 min per restart);
#   3b. failure prediction off vs recall/precision 0.5/0.5, 0.9/0.9, 1/1 (a just-in-time save per alarm), and
#       the same with migration off the flagged node (a save and a swap + restart per alarm);
#   4. the same job on 4,096 vs 16,384 GPUs: interruptions grow with scale;
#   5. elastic shrink (go on at DP - 1 until the repair) vs waiting, with no spares and with a pool of 32;
#   6. stragglers: per-worker jitter (PAI's cv) alone; slow-node episodes (assumed: once a year per node, 1.5x,
#      6 h) with and without detect-and-evict (after 20 slow steps).
# Usage: scenarios/what-if/reliability.sh [BUILD_DIR] [SEEDS]   (SEEDS default 16)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-build}/apps/lcsim
seeds=${2:-16}
scenario=scenarios/training/llama3-405b-h100-16k.yaml
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
metric() { sed -n "s/^ *\"$2\": \([-0-9.e+]*\),\{0,1\}$/\1/p" "$1/metrics.json"; }
run() {  # run DIR SET...
  local d=$1; shift
  local sets=()
  for s in "$@"; do sets+=(--set "$s"); done
  "$bin" run "$scenario" -q -o "$d" --set cost.token_budget=15e12 --set reliability.enabled=true \
    --set reliability.seeds="$seeds" --set outputs.timeline=false "${sets[@]}" >/dev/null
}
row() {  # row LABEL DIR
  printf '| %s | %.0f | %.4f +- %.4f | %.2f +- %.2f | %.1f | %.0f | %.0f | %.3f |\n' "$1" \
    "$(metric "$2" reliability_checkpoint_interval_s)" "$(metric "$2" reliability_ettr)" \
    "$(metric "$2" reliability_ettr_ci95)" "$(metric "$2" reliability_time_days)" \
    "$(metric "$2" reliability_time_days_ci95)" "$(metric "$2" reliability_interruptions)" \
    "$(metric "$2" reliability_lost_gpu_hours)" "$(metric "$2" reliability_down_gpu_hours)" \
    "$(metric "$2" reliability_checkpoint_overhead)"
}
header() {
  printf '\n%s\n\n| %s | interval (s) | ETTR | time to train (days) | interruptions | GPU-h redone | GPU-h down | checkpoint share |\n' "$1" "$2"
  printf '|---|---:|---:|---:|---:|---:|---:|---:|\n'
}
run "$out/daly"
daly=$(metric "$out/daly" reliability_checkpoint_interval_s)
header "Checkpoint interval sweep (Daly's interval: ${daly} s)" "interval"
for f in 0.25 0.5 1 2 4; do
  s=$(awk -v d="$daly" -v f="$f" 'BEGIN { printf "%.0f", d * f }')
  run "$out/x$f" "reliability.checkpoint_interval=${s}s"
  row "${f} x Daly" "$out/x$f"
done
header "Hot spares" "spares"
for n in 0 4 32 -1; do
  run "$out/s$n" "reliability.spares=$n"
  row "$([ "$n" = -1 ] && echo unlimited || echo "$n")" "$out/s$n"
done
header "Pre-flight health checks" "health checks"
run "$out/hc" reliability.health_checks.enabled=true
row "off" "$out/daly"
row "on ($(metric "$out/hc" reliability_prevented | xargs printf '%.0f') failures prevented)" "$out/hc"
header "Failure prediction (assumed knobs: 10 min lead)" "recall / precision"
row "off" "$out/daly"
for rp in 0.5/0.5 0.9/0.9 1/1; do
  run "$out/p${rp/\//_}" reliability.prediction.enabled=true "reliability.prediction.recall=${rp%/*}" \
    "reliability.prediction.precision=${rp#*/}"
  row "$rp ($(metric "$out/p${rp/\//_}" reliability_false_alarms | xargs printf '%.0f') false alarms)" "$out/p${rp/\//_}"
done
for rp in 0.5/0.5 0.9/0.9 1/1; do  # the same alarms, and the job also moves off the flagged node
  d="$out/m${rp/\//_}"
  run "$d" reliability.prediction.enabled=true "reliability.prediction.recall=${rp%/*}" \
    "reliability.prediction.precision=${rp#*/}" reliability.prediction.action=migrate
  row "$rp, migrate ($(metric "$d" reliability_migrations | xargs printf '%.0f') migrations)" "$d"
done
header "Scale: the same 15T tokens on 4,096 vs 16,384 GPUs" "GPUs"
run "$out/g4k" cluster.nodes=512
row "4,096 ($(metric "$out/g4k" budget_time_days | xargs printf '%.1f') days failure-free)" "$out/g4k"
row "16,384 ($(metric "$out/daly" budget_time_days | xargs printf '%.1f') days failure-free)" "$out/daly"
header "Elastic shrink of data parallelism vs waiting for a spare or the repair" "spares, policy"
for n in 0 32; do
  run "$out/e$n" "reliability.spares=$n" reliability.elastic.enabled=true
  row "$n, wait" "$out/s$n"
  row "$n, elastic ($(metric "$out/e$n" reliability_shrinks | xargs printf '%.0f') shrinks)" "$out/e$n"
done
header "Stragglers (assumed episodes: once a year per node, 1.5x slower, 6 h)" "stragglers"
slow=(reliability.stragglers.node_mtbf=365d reliability.stragglers.slow_factor=1.5)
run "$out/sj" reliability.stragglers.cv=0.0584
run "$out/st" "${slow[@]}"
run "$out/ste" "${slow[@]}" reliability.stragglers.evict.enabled=true
row "none" "$out/daly"
row "jitter, PAI's cv 0.0584 (x$(metric "$out/sj" reliability_step_slowdown | xargs printf '%.3f') per step)" "$out/sj"
row "slow nodes, kept ($(metric "$out/st" reliability_slow_episodes | xargs printf '%.0f') episodes)" "$out/st"
row "slow nodes, evicted after 20 slow steps ($(metric "$out/ste" reliability_evictions | xargs printf '%.0f') evictions)" "$out/ste"
