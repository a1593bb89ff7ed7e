#!/usr/bin/env bash
# Runs each libFuzzer target for a bounded time from its seed corpus (tests/fuzz/seeds/<target>/, the shipped
# scenarios and traces), the targets side by side (one per core). Fails on any crash, sanitizer report, timeout
# (one input over 10 s) or out-of-memory (over 2 GiB); the input that did it is kept in BUILD/fuzz/.
# usage: scripts/fuzz.sh BUILD_DIR [SECONDS_EACH]   (BUILD_DIR configured with -DLCSIM_FUZZ=ON)
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: scripts/fuzz.sh BUILD_DIR [SECONDS_EACH]}
seconds=${2:-60}
out="$build/fuzz"
rm -rf "$out" && mkdir -p "$out"
pids=()
for t in scenario chakra timeline; do
  mkdir -p "$out/$t-corpus"
  cp tests/fuzz/seeds/$t/* "$out/$t-corpus/"
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=("-dict=$PWD/tests/fuzz/$t.dict")
  (cd "$out" && exec "../tests/fuzz/${t}_fuzzer" "$t-corpus" "${dict[@]}" \
     -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
     -artifact_prefix="$t-" >"$t.log" 2>&1) &
  pids+=($!)
done
status=0
i=0
for t in scenario chakra timeline; do
  wait "${pids[$i]}"; rc=$?; i=$((i + 1))
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/$t.log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]*' "$out/$t.log" | tail -1 | grep -o '[0-9]*' || echo 0)
  if [ "$rc" -ne 0 ]; then
    status=1
    echo "fuzz $t: FAILED (exit $rc) after ${runs:-0} inputs; see $out/$t.log and $out/$t-*" | tee -a "$out/summary.txt"
    grep -E 'ERROR|SUMMARY|runtime error|deadly|timeout|out-of-memory' "$out/$t.log" | head -5
  else
    echo "fuzz $t: ${runs:-0} inputs in ${seconds}s, coverage ${cov:-0} edges, 0 crashes" | tee -a "$out/summary.txt"
  fi
done
exit "$status"
