#!/usr/bin/env bash
# Wall time, events and peak memory of the megatron workload at scale (docs/performance-training.md, "Training at
# scale"):
#   Llama 3 405B (TP 8, PP 16 interleaved, DP 128) on 16,384 H100s, analytical network, one rank per stage and
#   every rank; the same layout with DP 8 on 1,024 GPUs on the flow model, both ways; GPT-3 175B on 1,024 A100s;
#   the DeepSeek-V3-style MoE on 2,048 H800s; the 175B layout of the training-model issue on 256 A100s.
# Usage: bench/training.sh [BUILD_DIR]     (prints a Markdown table; each case runs once: runs are deterministic)
# CPU user+sys is GNU time's %U + %S: on a machine busy with other work it is closer than wall time to what the run
# takes alone. CASES=REGEX runs only the cases whose name matches. CHECK=1 validates every case's scenario and flags
# instead (`lcsim validate`; the test BenchScripts.TrainingCasesAreValid).
set -euo pipefail
cd "$(dirname "$0")/.."
LCSIM=${1:-build}/apps/lcsim
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
have_time=0
if /usr/bin/time -f "%M" true >/dev/null 2>&1; then have_time=1; fi

metric() { sed -n "s/^ *\"$2\": *\([^,]*\),\{0,1\} *\$/\1/p" "$1" | head -n 1; }

case_run() {  # NAME FILE ARGS...
  local name=$1 file=$2
  shift 2
  [[ -n "${CASES:-}" && ! "$name" =~ $CASES ]] && return 0
  if [[ -n ${CHECK:-} ]]; then  # CHECK=1: validate the case's scenario and flags instead of running it
    "$LCSIM" validate "$file" "$@" >"$TMP/err" 2>&1 || { echo "bench/training.sh: '$name': $(cat "$TMP/err")" >&2; exit 1; }
    echo "| $name | valid |"
    return 0
  fi
  local out=$TMP/$RANDOM t0 t1 rss="-" cpu="-" m
  t0=$EPOCHREALTIME
  if ((have_time)); then
    m=$( { /usr/bin/time -f "%M %U %S" "$LCSIM" run "$file" -q --no-progress -o "$out" "$@" >/dev/null; } 2>&1 | tail -n 1)
    rss=$(awk -v m="$m" 'BEGIN { split(m, x, " "); printf "%.0f", x[1] / 1024 }')
    cpu=$(awk -v m="$m" 'BEGIN { split(m, x, " "); printf "%.2f", x[2] + x[3] }')
  else
    "$LCSIM" run "$file" -q --no-progress -o "$out" "$@"
  fi
  t1=$EPOCHREALTIME
  local m=$out/metrics.json
  awk -v n="$name" -v a="$t0" -v b="$t1" -v ev="$(metric "$m" sim_events)" -v rss="$rss" -v cpu="$cpu" \
    -v ranks="$(metric "$m" simulated_ranks)" -v gpus="$(metric "$m" num_gpus)" -v it="$(metric "$m" iteration_time_s)" \
    -v tf="$(metric "$m" tflops_per_gpu)" 'BEGIN {
      printf "| %s | %d | %d | %.2f | %s | %d | %s | %.4g | %.0f |\n", n, gpus, ranks, b - a, cpu, ev, rss, it, tf }'
}

echo "| case | GPUs | simulated ranks | wall time (s) | CPU user+sys (s) | events | peak RSS (MiB) | iteration_time_s | TFLOP/s per GPU |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
L3=scenarios/training/llama3-405b-h100-16k.yaml
case_run "Llama 3 405B, analytical, one rank per stage" $L3
case_run "Llama 3 405B, analytical, every rank" $L3 --set workload.symmetry=off
SMALL=(--set cluster.nodes=128 --set workload.global_batch_size=128)
case_run "Llama 3 405B layout, DP 8, flow, one rank per stage" $L3 "${SMALL[@]}" --set simulation.fidelity=flow
case_run "Llama 3 405B layout, DP 8, flow, every rank" $L3 "${SMALL[@]}" --set simulation.fidelity=flow --set workload.symmetry=off
case_run "Llama 3 405B, analytical, 100,000 iterations (memoized)" $L3 --set workload.train_iters=100000
case_run "GPT-3 175B, 1,024 A100, analytical" scenarios/training/gpt3-175b-a100-1024.yaml
case_run "GPT-3 175B, 1,024 A100, flow" scenarios/training/gpt3-175b-a100-1024.yaml --set simulation.fidelity=flow
case_run "DeepSeek-V3-style MoE, 2,048 H800, analytical" scenarios/training/deepseek-v3-h800-2048.yaml
# The 175B layout of the training-model issue: TP 8, PP 8 with 6 interleaved chunks, DP 4, 192 micro-batches.
L175=(--set 'cluster.pools[0].count=32' --set workload.pipeline_model_parallel_size=8
      --set workload.num_layers_per_virtual_pipeline_stage=2 --set workload.global_batch_size=768)
case_run "GPT-3 175B, TP8 PP8x6 DP4, 256 A100, analytical" scenarios/training/gpt3-175b-a100-1024.yaml "${L175[@]}"
case_run "the same, no timeline" scenarios/training/gpt3-175b-a100-1024.yaml "${L175[@]}" --set outputs.timeline=false
