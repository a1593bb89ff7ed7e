#!/usr/bin/env bash
# BenchScripts.MlperfStepsSplitTheStepTime: bench/mlperf_steps.py fits step = (m + b) x t + C to a family's measured and
# lcsim step times. On the two MLPerf v4.1 GPT-3 rows (m = 128 and 64, bubble 7/6) two points fix the measured line
# exactly: t = (18.3883 - 9.5002) / 64 = 0.13888 s, C = 0.450 s, as docs/validation-mlperf.md states them. A bad
# command line is named and rejected.
# Usage: tests/mlperf_steps_test.sh BUILD_DIR   (run from the repository root)
set -u
build=$1
source "$(dirname "$0")/bench_expect.sh"
s=bench/mlperf_steps.py
expect 0 "usage: bench/mlperf_steps.py" $s --help
expect 2 "option --family: 'nope' is not a family" $s "$build" --family nope
expect 2 "option --jobs: '0' is not allowed" $s "$build" --jobs 0
expect 2 "BUILD_DIR 'no-such-build' has no apps/lcsim" $s no-such-build
out=$(python3 $s "$build" --family mlperf-gpt3 --jobs 2 2>&1)
rc=$?
[[ $rc -eq 0 ]] || fail "mlperf_steps.py --family mlperf-gpt3 -> exit $rc: $out"
[[ "$out" == *"measured: step = (m + b) x 0.13888 s + 0.450 s"* ]] || fail "no measured line of 0.13888 s + 0.450 s: $out"
[[ "$out" =~ lcsim:\ +step\ =\ \(m\ \+\ b\)\ x\ 0\.1[0-9]{4}\ s ]] || fail "no lcsim line: $out"
[[ "$out" == *"per micro-batch lcsim "* ]] || fail "no comparison line: $out"
# One micro-batch count (the one-micro-batch 8B rows at GA 1 on H100): rows, but no line.
out=$(python3 $s "$build" --family mlperf-8b --jobs 2 2>&1)
[[ "$out" == *"one micro-batch count (or fewer than two rows): no line"* ]] || fail "mlperf-8b drew a line: $out"
[[ $fails -eq 0 ]] && echo "mlperf_steps answered as expected"
exit $((fails > 0))
