#!/usr/bin/env bash
# Callbacks (lcsim's engine facade, no actors; compute() timers, or SimGrid Execs via exec()) vs one SimGrid actor per
# GPU: N simulated GPUs x K sequential compute activities, one process per (mode, N) (SimGrid allows one engine per
# process). Prints a Markdown table; progress goes to stderr. See bench/engine_drivers.cc and docs/performance-flow.md.
#
#   bash bench/engine_drivers.sh [BUILD_DIR]       (default: build; needs the bench_engine_drivers target built)
#
# Environment:
#   K            activities per GPU (default 100)
#   MODES        default "callbacks callbacks-exec actors"
#   NS           GPU counts always run (default "1024 8192 16384")
#   EXTRA_NS     larger GPU counts run only where they look cheap (default "32768"): for each mode, the wall time
#                is estimated as (wall at the largest N run so far) x (N / that N)^2 and the run is skipped when
#                the estimate exceeds EXTRA_BUDGET_S (default 60)
#   TIMEOUT_S    per-run limit (default 900); a run that hits it is reported as such and larger N for that mode
#                are skipped
# The actors mode passes --cfg=contexts/guard-size:0 to SimGrid (no guard pages: beyond ~10^4 actors their memory
# mappings can exceed vm.max_map_count and abort the run).
set -euo pipefail
export LC_ALL=C

BUILD_DIR=${1:-build}
BIN=$BUILD_DIR/bench/bench_engine_drivers
K=${K:-100}
NS=${NS-"1024 8192 16384"}
EXTRA_NS=${EXTRA_NS-"32768"}
EXTRA_BUDGET_S=${EXTRA_BUDGET_S:-60}
TIMEOUT_S=${TIMEOUT_S:-900}
MODES=${MODES:-"callbacks callbacks-exec actors"}

if [[ ! -x $BIN ]]; then
  echo "bench/engine_drivers.sh: $BIN not found; build it first (cmake --build $BUILD_DIR --target bench_engine_drivers)" >&2
  exit 2
fi

declare -A last_n last_wall stopped rows

for mode in $MODES; do
  stopped[$mode]=0
  for n in $NS $EXTRA_NS; do
    key="$n $mode"
    if ((stopped[$mode])); then
      rows[$key]="| $mode | $n | $((n * K)) | skipped (a smaller N hit the ${TIMEOUT_S} s limit) | | | |"
      continue
    fi
    if [[ " $EXTRA_NS " == *" $n "* && -n ${last_n[$mode]:-} ]]; then
      est=$(awk -v w="${last_wall[$mode]}" -v a="${last_n[$mode]}" -v b="$n" 'BEGIN { printf "%.0f", w * (b / a) ^ 2 }')
      if ((est > EXTRA_BUDGET_S)); then
        echo "bench/engine_drivers.sh: $mode N=$n skipped (estimated ${est} s > ${EXTRA_BUDGET_S} s)" >&2
        rows[$key]="| $mode | $n | $((n * K)) | skipped (estimated ~${est} s) | | | |"
        continue
      fi
    fi
    echo "bench/engine_drivers.sh: $mode N=$n K=$K" >&2
    set +e
    line=$(timeout "$TIMEOUT_S" "$BIN" "$mode" "$n" "$K")
    rc=$?
    set -e
    if ((rc == 124)); then
      rows[$key]="| $mode | $n | $((n * K)) | > $TIMEOUT_S (timed out) | | | |"
      stopped[$mode]=1
      continue
    elif ((rc != 0)); then
      rows[$key]="| $mode | $n | $((n * K)) | failed (exit $rc) | | | |"
      stopped[$mode]=1
      continue
    fi
    read -r _ _ _ wall rss sim_end <<<"$line"
    last_n[$mode]=$n
    last_wall[$mode]=$wall
    rows[$key]=$(awk -v m="$mode" -v n="$n" -v k="$K" -v w="$wall" -v r="$rss" -v s="$sim_end" 'BEGIN {
      printf "| %s | %d | %d | %.3f | %.0f | %.1f | %s |", m, n, n * k, w, (w > 0 ? n * k / w : 0), r, s }')
  done
done

echo "| mode | GPUs (N) | activities (N x K, K=$K) | wall time (s) | activities/s | peak RSS (MiB) | simulated end (s) |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for n in $NS $EXTRA_NS; do
  for mode in $MODES; do
    echo "${rows["$n $mode"]}"
  done
done
