#!/usr/bin/env bash
# Times whole `lcsim run` invocations on the reference scenarios and prints a Markdown table (progress goes to
# stderr). `make bench` runs it on the default build folder; docs/performance.md has the measured numbers.
#
#   bash bench/run.sh [BUILD_DIR]            (default: build)
#
# Reference rows: the demo slice (scenarios/examples/gpt-1.3b-dp-h100.yaml: GPT 1.3B, pure data parallel) at 8, 64
# and 1,024 GPUs (cluster.nodes = 1, 8, 128), each with simulation.fidelity = flow and analytical. The global batch
# grows with the GPUs (weak scaling): global_batch_size = micro_batch_size (4) x GPUs x MICRO_PER_GPU, so every GPU
# does the same work in every row (MICRO_PER_GPU=2 gives the demo's own 512 at 64 GPUs).
#
# Columns: wall time of the whole process (start-up, scenario parsing, simulation, writing metrics.json,
# timeline.json and scenario.resolved.yaml), median of REPEATS runs; simulated events and iteration_time_s from
# metrics.json; events/s = events / median wall; peak RSS = the largest max-RSS of the runs (GNU time's %M).
#
# Environment: REPEATS (default 3), MICRO_PER_GPU (default 2), GPUS (default "8 64 1024"),
# FIDELITIES (default "flow analytical").
set -euo pipefail
export LC_ALL=C  # '.' as the decimal point in $EPOCHREALTIME and printf

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${1:-build}
LCSIM=$BUILD_DIR/apps/lcsim
SCENARIO=$ROOT/scenarios/examples/gpt-1.3b-dp-h100.yaml
REPEATS=${REPEATS:-3}
MICRO_PER_GPU=${MICRO_PER_GPU:-2}
GPUS=${GPUS:-"8 64 1024"}
FIDELITIES=${FIDELITIES:-"flow analytical"}
MICRO_BATCH=4
GPUS_PER_NODE=8

if [[ ! -x $LCSIM ]]; then
  echo "bench/run.sh: $LCSIM not found; build first (cmake --build $BUILD_DIR)" >&2
  exit 2
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lcsim-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# Peak RSS: GNU time when present; otherwise poll VmHWM (the kernel's high-water mark) while the run lasts, which
# can miss growth in the last polling interval (such values are marked with "~").
if [[ -x /usr/bin/time ]] && /usr/bin/time -f %M -o "$TMP/probe" true 2>/dev/null; then
  HAVE_GNU_TIME=1
else
  HAVE_GNU_TIME=0
fi

# run_once OUT_DIR ARGS... : runs lcsim once; sets WALL (s) and RSS_KB.
run_once() {
  local out=$1
  shift
  local t0 t1
  if ((HAVE_GNU_TIME)); then
    t0=$EPOCHREALTIME
    /usr/bin/time -f %M -o "$TMP/rss" "$LCSIM" run "$SCENARIO" -q --no-progress -o "$out" "$@"
    t1=$EPOCHREALTIME
    RSS_KB=$(tail -n 1 "$TMP/rss")
  else
    t0=$EPOCHREALTIME
    "$LCSIM" run "$SCENARIO" -q --no-progress -o "$out" "$@" &
    local pid=$! hwm=0 v
    while kill -0 "$pid" 2>/dev/null; do
      v=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
      if [[ -n $v ]] && ((v > hwm)); then hwm=$v; fi
      sleep 0.02
    done
    wait "$pid"
    t1=$EPOCHREALTIME
    RSS_KB=$hwm
  fi
  WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
}

# metric FILE NAME : one number from metrics.json (one "name": value pair per line).
metric() {
  sed -n "s/^ *\"$2\": *\([^,]*\),\{0,1\} *\$/\1/p" "$1" | head -n 1
}

echo "| scenario | GPUs | fidelity | wall time (s, median of $REPEATS) | simulated events | events/s | peak RSS (MiB) | iteration_time_s |"
echo "|---|---:|---|---:|---:|---:|---:|---:|"
for gpus in $GPUS; do
  nodes=$((gpus / GPUS_PER_NODE))
  gbs=$((MICRO_BATCH * gpus * MICRO_PER_GPU))
  for fidelity in $FIDELITIES; do
    walls=()
    rss_max=0
    for ((i = 1; i <= REPEATS; i++)); do
      out=$TMP/$gpus-$fidelity-$i
      echo "bench/run.sh: $gpus GPUs, $fidelity, run $i of $REPEATS" >&2
      run_once "$out" --set "cluster.nodes=$nodes" --set "workload.global_batch_size=$gbs" \
        --set "simulation.fidelity=$fidelity"
      walls+=("$WALL")
      if ((RSS_KB > rss_max)); then rss_max=$RSS_KB; fi
    done
    median=$(printf '%s\n' "${walls[@]}" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    m=$TMP/$gpus-$fidelity-1/metrics.json
    events=$(metric "$m" sim_events)
    iter=$(metric "$m" iteration_time_s)
    # Every repeat must simulate the same thing (runs are deterministic).
    for ((i = 2; i <= REPEATS; i++)); do
      if [[ $(metric "$TMP/$gpus-$fidelity-$i/metrics.json" sim_events) != "$events" ]]; then
        echo "bench/run.sh: warning: $gpus GPUs $fidelity: event counts differ between repeats" >&2
      fi
    done
    rss_mark=""
    if ((!HAVE_GNU_TIME)); then rss_mark="~"; fi
    awk -v name="$(basename "$SCENARIO" .yaml)" -v nodes="$nodes" -v gpus="$gpus" -v fid="$fidelity" -v wall="$median" -v ev="$events" -v rss="$rss_max" \
      -v mark="$rss_mark" -v iter="$iter" -v gbs="$gbs" 'BEGIN {
        printf "| %s (nodes=%d, batch %d) | %d | %s | %s | %d | %.0f | %s%.1f | %.6g |\n",
               name, nodes, gbs, gpus, fid, wall, ev, (wall > 0 ? ev / wall : 0), mark, rss / 1024, iter
      }'
  done
done
