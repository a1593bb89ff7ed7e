#!/usr/bin/env bash
# BenchScripts.DeviceScripts*: bench/device/hopper_kernels.py (run on a lent GPU) rejects a bad command line before it
# needs a GPU and stops with a clear message, exit 2, where there is none; bench/device/compare_hopper.py puts a
# measured directory beside lcsim: here one made from the repository's measured tables (Azure's H100 FP8 GEMMs, the
# FlashAttention-3 paper's FlashAttention-2 rates on H100), so that its numbers are lcsim's own errors on them.
# Usage: tests/device_scripts_test.sh BUILD_DIR   (run from the repository root)
set -u
build=$1
source "$(dirname "$0")/bench_expect.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
k=bench/device/hopper_kernels.py
expect 0 "usage: bench/device/hopper_kernels.py" $k --help
expect 2 "name the OUT_DIR" $k
expect 2 "option --budget: '0' is not allowed" $k "$tmp/o" --budget 0
expect 2 "unknown option '--bogus'" $k "$tmp/o" --bogus
expect 2 "unexpected argument 'extra'" $k "$tmp/o" extra
# This machine has no GPU (CI never runs on one): a clear stop, never a traceback.
if ! command -v nvidia-smi >/dev/null 2>&1; then
  expect 2 "run it on a lent GPU machine" $k "$tmp/o"
fi
c=bench/device/compare_hopper.py
expect 0 "usage: bench/device/compare_hopper.py" $c -h
expect 2 "name the MEASURED_DIR" $c
expect 2 "is not a directory" $c "$tmp/none" "$build"
mkdir -p "$tmp/empty"
expect 2 "holds none of" $c "$tmp/empty" "$build"
expect 2 "BUILD_DIR 'no-such-build' has no apps/lcsim" $c "$tmp/empty" no-such-build
# A measured directory from the repository's own tables.
m=$tmp/measured
mkdir -p "$m"
cp models/hardware/calibration/data/h100_gemm_fp8_azure.csv "$m/gemm_fp8.csv"
echo '{"device": "NVIDIA H100 80GB HBM3", "phases": {}, "skipped": [], "errors": {}}' > "$m/summary.json"
# FlashAttention-2 forward, causal, head dimension 128 (h100_attention_fa3_paper.csv) at 8K and 16K tokens, as times
# of 32 heads: time = flops / rate, flops = 4 x 32 x s^2 x 128 / 2.
{
  echo "kernel,pass,causal,head_dim,seq_len,tflops,time_us,gqa_native,sm_mhz"
  awk -F, '$1 == "flash2" && $2 == "forward" && $3 == "true" && $4 == 128 && ($5 == 8192 || $5 == 16384) {
    printf "flash2,forward,true,128,%d,%s,%.1f,True,\n", $5, $6, 4 * 32 * $5 * $5 * 128 / 2 / ($6 * 1e6) }' \
    models/hardware/calibration/data/h100_attention_fa3_paper.csv
} > "$m/attention.csv"
[[ $(wc -l < "$m/attention.csv") -eq 3 ]] || fail "the FlashAttention-2 rows at 8K and 16K were not found"
out=$(python3 $c "$m" "$build" 2>&1)
rc=$?
[[ $rc -eq 0 ]] || fail "compare_hopper.py on $m -> exit $rc: $out"
# The GEMMs: calibrate's summary of the 9 FP8 shapes, and its row of 8192^3 (lcsim 1.8% fast there).
[[ "$out" == *"9 measurements from $m/gemm_fp8.csv"* ]] || fail "no calibrate summary of gemm_fp8.csv: $out"
[[ "$out" == *"| 8192 | 8192 | 8192 | fp8 | 852.3 | "* ]] || fail "no 8192^3 FP8 row: $out"
# The attention rows compared with lcsim's one-layer runs: two rows, each with a signed error.
n=$(grep -cE '^\| flash2 \| forward \| (8192|16384) \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [+-][0-9.]+% \|$' <<<"$out")
[[ $n -eq 2 ]] || fail "want 2 compared attention rows, got $n: $out"
[[ "$out" == *"2 rows: mean |error|"* ]] || fail "no attention summary: $out"
# A malformed file is named, not a traceback.
echo "kernel,pass,causal,head_dim,seq_len,tflops,time_us" > "$m/attention.csv"
echo "flash2,forward,true,128,many,300,10" >> "$m/attention.csv"
expect 2 "attention.csv: column 'seq_len' missing or not a number" $c "$m" "$build"
[[ $fails -eq 0 ]] && echo "device scripts answered as expected"
exit $((fails > 0))
