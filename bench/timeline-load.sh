#!/usr/bin/env bash
# Loading a large timeline (docs/performance.md, "Loading a large timeline"): bench_timeline_load writes a synthetic
# protobuf timeline of SIZE_MB and reads it back. Prints, per build, the reader's instruction count on a small
# file (valgrind callgrind on one core, collected inside timeline::read_perfetto_timeline only: independent of the
# machine's load, so two builds compare on a busy machine) and the read's CPU time, wall time and peak RSS on SIZE_MB.
# Usage: bench/timeline-load.sh [SIZE_MB] [BUILD_DIR] [OTHER_BUILD_DIR]    (defaults: 100, build)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-100}
BUILDS=("${2:-build}")
[[ $# -ge 3 ]] && BUILDS+=("$3")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for b in "${BUILDS[@]}"; do
  bin=$b/bench/bench_timeline_load
  [[ -x $bin ]] || { echo "bench/timeline-load.sh: $bin is not built (cmake --build $b --target bench_timeline_load)" >&2; exit 1; }
  echo "== $b"
  if command -v valgrind >/dev/null; then
    # One core (taskset): the reader's oneTBB decode then runs on the calling thread, inside the collected frame.
    pin=(); command -v taskset >/dev/null && pin=(taskset -c 0)
    "${pin[@]}" valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out" \
      --toggle-collect='lcsim::timeline::read_perfetto_timeline*' "$bin" protobuf 10 "$TMP" >/dev/null 2>&1
    ir=$(callgrind_annotate "$TMP/cg.out" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p')
    echo "reader instructions, 10 MB file: $ir"
  fi
  /usr/bin/time -f "process: %U s user, %S s system, %e s wall, %M KiB peak RSS" "$bin" protobuf "$SIZE" "$TMP"
done
