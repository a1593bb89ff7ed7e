#!/usr/bin/env bash
# BenchScripts.LayoutFuzzFindsNothingWrong: bench/layout_fuzz.py runs a few random dense and MoE Megatron layouts through
# `lcsim run` and finds no internal error, crash, hang or odd metric; it runs some of them (not all refused), and a bad
# command line is named and rejected. (The session that wrote it ran ~1,000 layouts: docs/performance.md, "Benchmarks".)
# Usage: tests/layout_fuzz_test.sh BUILD_DIR   (run from the repository root)
set -u
build=$1
source "$(dirname "$0")/bench_expect.sh"
s=bench/layout_fuzz.py
expect 0 "usage: bench/layout_fuzz.py" $s --help
expect 2 "option --count: '0' is not allowed" $s "$build" --count 0
expect 2 "BUILD_DIR 'no-such-build' has no apps/lcsim" $s no-such-build
for moe in "" --moe; do
  out=$(python3 $s "$build" --seed 5 --count 8 $moe 2>&1)
  rc=$?
  [[ $rc -eq 0 ]] || fail "layout_fuzz.py $moe -> exit $rc: $out"
  [[ "$out" =~ 8\ layouts\ \((dense|MoE),\ seed\ 5\):\ [1-8]\ ran ]] || fail "no layout ran, or no summary: $out"
  [[ "$out" == *", 0 internal errors, crashes, hangs or odd metrics"* ]] || fail "summary: $out"
done
[[ $fails -eq 0 ]] && echo "layout_fuzz answered as expected"
exit $((fails > 0))
