#!/usr/bin/env bash
# Instruction counts (valgrind --tool=callgrind) of the speed cases of docs/performance-training.md: unlike wall or CPU time
# they do not depend on what else the machine is doing, so two builds can be compared on a busy machine.
# Usage: bench/callgrind.sh [BUILD_DIR] [OTHER_BUILD_DIR]   (prints a Markdown table; one column per build)
#   - the 175B layout of the training-model issue as a whole `lcsim run` process, default outputs, and the same with
#     `outputs.timeline_format: json` (what the default `auto` format should cost for a run under its JSON limit)
#   - `lcsim --version` (process start-up)
#   - bench_eval_throughput 175b 5 1: five in-process evaluations of that layout (the per-evaluation figure is the
#     count inside lcsim::evaluate_batch divided by 5; scenario loading is left out), and 175b-overlap 5 1 (the same
#     layout with overlapped pipeline sends; n/a for a build whose benchmark lacks the case)
# Each case runs once under callgrind (~20-60x slower than natively). Needs valgrind (callgrind_annotate).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILDS=("${1:-build}")
[[ $# -ge 2 ]] && BUILDS+=("$2")
command -v valgrind >/dev/null || { echo "bench/callgrind.sh: valgrind is not installed" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
L175=(--set 'cluster.pools[0].count=32' --set workload.pipeline_model_parallel_size=8
      --set workload.num_layers_per_virtual_pipeline_stage=2 --set workload.global_batch_size=768)

total() {  # OUT-FILE: the program's total instruction count
  callgrind_annotate "$1" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,
}
inside() {  # OUT-FILE FUNCTION-SUBSTRING: inclusive count of the first function whose name contains it
  callgrind_annotate --inclusive=yes "$1" 2>/dev/null | grep -F "$2" | head -n 1 | sed 's/^ *\([0-9,]*\) .*/\1/' | tr -d ,
}
cg() {  # OUT-FILE COMMAND...
  local out=$1
  shift
  valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>&1
}

declare -a run json ver eval over  # indexed by build: an associative array would list them in hash order
for i in "${!BUILDS[@]}"; do
  b=${BUILDS[$i]}
  cg "$TMP/run$i" "$b/apps/lcsim" run scenarios/training/gpt3-175b-a100-1024.yaml -q --no-progress -o "$TMP/o$i" "${L175[@]}"
  run[$i]=$(total "$TMP/run$i")
  cg "$TMP/json$i" "$b/apps/lcsim" run scenarios/training/gpt3-175b-a100-1024.yaml -q --no-progress -o "$TMP/j$i" \
    "${L175[@]}" --set outputs.timeline_format=json
  json[$i]=$(total "$TMP/json$i")
  cg "$TMP/ver$i" "$b/apps/lcsim" --version
  ver[$i]=$(total "$TMP/ver$i")
  cg "$TMP/eval$i" "$b/bench/bench_eval_throughput" 175b 5 1
  eval[$i]=$(( $(inside "$TMP/eval$i" "lcsim::evaluate_batch(") / 5 ))
  # The same layout with overlapped pipeline sends (Megatron-LM's default for interleaving); "n/a" for a build from
  # before the benchmark had the case (6 Dec 2026).
  cg "$TMP/over$i" "$b/bench/bench_eval_throughput" 175b-overlap 5 1 || true
  n=$(inside "$TMP/over$i" "lcsim::evaluate_batch(" || true)
  over[$i]=$([[ -n "$n" ]] && echo $((n / 5)) || echo n/a)
done

header="| case |"
rule="|---|"
for b in "${BUILDS[@]}"; do header+=" $b (instructions) |"; rule+="---:|"; done
echo "$header"
echo "$rule"
row() {
  local name=$1
  shift
  local line="| $name |"
  # thousands separators by hand: printf's %'d groups only in a locale that defines grouping (not C/POSIX)
  for v in "$@"; do line+=" $(sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta' <<<"$v") |"; done
  echo "$line"
}
row "175B layout, whole lcsim run process, default outputs" "${run[@]}"
row "175B layout, whole lcsim run process, timeline_format: json" "${json[@]}"
row "lcsim --version" "${ver[@]}"
row "one in-process evaluation of the 175B layout (bench_eval_throughput 175b 5 1, per evaluation)" "${eval[@]}"
row "the same with overlapped pipeline sends (bench_eval_throughput 175b-overlap 5 1, per evaluation)" "${over[@]}"
