#!/usr/bin/env bash
# Flow fidelity at scale (docs/performance-flow.md, "Flow fidelity at scale"): wall and CPU time, peak RSS and the simulated
# result of the three cases of the training-model issue's flow-at-scale part, each as a whole `lcsim run` process:
#   ring:     one 64 MiB ring all-reduce (bench/ring-allreduce-flow.yaml: nccl_tests, ring pinned) on 512, 4,096
#             and 16,384 H100s (the rail-optimized three-tier fabric of scenarios/training/llama3-405b-h100-16k.yaml);
#   deepseek: one iteration of scenarios/training/deepseek-v3-h800-2048.yaml on the flow model;
#   deepseek-small: the same with 16 layers (one per stage) and one micro-batch (global batch 128): 1/480 of the
#             iteration's work, the case that finishes with and without coupling;
#   deepseek-2mb: all 61 layers and 2 micro-batches per pipeline (global batch 256): 1/60 of the iteration;
#   spray:    scenarios/training/llama3-70b-h100-1024.yaml on the flow model with ECMP, with spraying (one rate per
#             sprayed flow, the default) and with spraying as independent per-path sub-flows (independent_paths).
# Each run stops after TIMEOUT_S (default 600) and is reported as such. Runs are deterministic: one run each.
# CPU time is user + system (GNU time), the figure to read on a shared machine; wall time is the whole process.
# `LCSIM_SIMGRID_KEEP_DETACHED=1 bash bench/flowscale.sh build` measures the same binary with SimGrid's detached-comm
# bookkeeping left alone (the "before" of docs/performance-flow.md; sim/simgrid_engine.cc, Undetacher);
# LCSIM_FLOW_NO_COUPLING=1 runs every all-to-all flow as its own engine flow (no coupled classes), and
# LCSIM_SIMGRID_SELECTIVE_UPDATE=1 re-solves only the touched part of SimGrid's max-min system at each event.
#
# CHECK=1 only validates every case's scenario and flags (`lcsim validate`: seconds; BenchScripts.FlowscaleCasesAreValid
# runs it with every case, so a scenario change that breaks a case fails the tests, not the next measurement).
#
# FIDELITY=flow_queue runs every case on lcsim's own max-min solver (the queue backend) instead of SimGrid (`flow`,
# the default): the same flow model and, to rounding, the same results (docs/performance-flow.md).
#
#   bash bench/flowscale.sh [BUILD_DIR]        CASES="ring deepseek-small deepseek-2mb deepseek spray"  RING_GPUS="512 4096 16384"
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
LCSIM=${1:-build}/apps/lcsim
TIMEOUT_S=${TIMEOUT_S:-600}
# The slices have too few micro-batches for the scenario's DualPipe (it needs 2 x PP = 32 per pipeline): they run 1F1B
# with the expert all-to-alls beside each pass (overlap_moe_expert_parallel_comm), the scenario's schedule before
# 2 Dec 2026 and the one tests/flow_backends_test.cc runs.
SLICE="--set workload.pipeline_schedule=1f1b --set workload.overlap_moe_expert_parallel_comm=true"
CASES=${CASES:-"ring deepseek-small deepseek spray"}
FIDELITY=${FIDELITY:-flow}
RING_GPUS=${RING_GPUS:-"512 4096 16384"}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lcsim-flowscale.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

metric() { sed -n "s/^ *\"$2\": *\([^,]*\),\{0,1\} *\$/\1/p" "$1" | head -n 1; }

# run NAME RESULT_KEY FILE ARGS...: one whole process under GNU time and `timeout`
run() {
  local name=$1 key=$2 file=$3
  shift 3
  local out=$TMP/$RANDOM t0 t1 rss user sys cpu rc=0
  if [[ -n ${CHECK:-} ]]; then  # CHECK=1: validate each case's scenario instead of running it (the ctest below)
    "$LCSIM" validate "$file" "$@" >"$TMP/err" 2>&1 || { echo "bench/flowscale.sh: '$name': $(cat "$TMP/err")" >&2; exit 1; }
    echo "| $name | valid |"
    return
  fi
  t0=$EPOCHREALTIME
  /usr/bin/time -o "$TMP/time" -f "%M %U %S" timeout "$TIMEOUT_S" "$LCSIM" run "$file" -q --no-progress -o "$out" "$@" \
    >/dev/null 2>"$TMP/err" || rc=$?
  t1=$EPOCHREALTIME
  read -r rss user sys < <(tail -n 1 "$TMP/time")
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
  if ((rc == 124)); then
    printf '| %s | > %s (stopped) | %s | - | - | - |\n' "$name" "$TIMEOUT_S" "$cpu"
    return
  elif [[ ! -f $out/metrics.json ]]; then
    echo "bench/flowscale.sh: '$name' failed (exit $rc): $(head -n 1 "$TMP/err")" >&2
    exit 1
  fi
  awk -v n="$name" -v a="$t0" -v b="$t1" -v rss="$rss" -v cpu="$cpu" -v ev="$(metric "$out/metrics.json" sim_events)" \
    -v r="$(metric "$out/metrics.json" "$key")" -v k="$key" 'BEGIN {
      printf "| %s | %.2f | %s | %.0f | %s | %s = %s |\n", n, b - a, cpu, rss / 1024, ev, k, r }'
}

echo "| case | wall time (s) | CPU time (s) | peak RSS (MiB) | events | result |"
echo "|---|---:|---:|---:|---:|---|"
for c in $CASES; do
  case $c in
    ring)
      for g in $RING_GPUS; do
        run "ring all-reduce 64 MiB, $g GPUs" time_at_max_size_s bench/ring-allreduce-flow.yaml \
          --set cluster.nodes=$((g / 8)) --set simulation.fidelity=$FIDELITY
      done
      ;;
    deepseek)
      run "DeepSeek-V3-style, 2,048 H800, $FIDELITY" iteration_time_s scenarios/training/deepseek-v3-h800-2048.yaml \
        --set simulation.fidelity=$FIDELITY --set workload.train_iters=1
      ;;
    deepseek-small)
      run "DeepSeek-V3-style, 2,048 H800, $FIDELITY, 16 layers, 1 micro-batch" iteration_time_s \
        scenarios/training/deepseek-v3-h800-2048.yaml --set simulation.fidelity=$FIDELITY --set workload.train_iters=1 \
        --set workload.global_batch_size=128 --set workload.model.num_layers=16 $SLICE
      ;;
    deepseek-2mb)
      run "DeepSeek-V3-style, 2,048 H800, $FIDELITY, 2 micro-batches" iteration_time_s \
        scenarios/training/deepseek-v3-h800-2048.yaml --set simulation.fidelity=$FIDELITY --set workload.train_iters=1 \
        --set workload.global_batch_size=256 $SLICE
      ;;
    spray)
      for lb in ecmp spray "{type: spray, independent_paths: true}"; do
        run "Llama-3-70B, 1,024 H100, $FIDELITY, $lb" iteration_time_s scenarios/training/llama3-70b-h100-1024.yaml \
          --set simulation.fidelity=$FIDELITY --set "policies.load_balancing=$lb"
      done
      ;;
    *) echo "unknown case '$c' (valid: ring deepseek-small deepseek-2mb deepseek spray)" >&2; exit 2 ;;
  esac
done
