#!/usr/bin/env bash
# Inference capacity what-ifs, each a side-by-side table (docs/inference.md has the measured tables):
#   1. The fewest GPUs of two kinds (H100 vs A100) that serve the busiest minute of the Mooncake conversation
#      trace with 90% of the requests inside the SLO (scenarios/what-if/inference-gpu-count.yaml, 1 to 16 GPUs
#      on two 8-GPU nodes, as instances of one GPU or of two with tensor parallelism).
#   2. A rate sweep on the Mooncake trace near saturation: throughput and goodput at the SLO with HBM-only prefix
#      caching vs a 2 TiB pooled KV store (scenarios/what-if/inference-kv-tiers.yaml, 8 x H100).
# Usage: scenarios/what-if/inference-capacity.sh [BUILD_DIR]
# shellcheck source=scenarios/what-if/lib.sh
. "$(dirname "$0")/lib.sh"
target=0.90

echo "Fewest GPUs meeting the SLO (2 s TTFT, 100 ms TPOT) for $(awk "BEGIN{print 100*$target}")% of the requests,"
echo "busiest minute of the Mooncake conversation trace (600-660 s), Llama-3-8B, instances of TP 1 or 2 GPUs:"
declare -A fewest=()
for part in H100-SXM-80GB A100-SXM-80GB; do
  echo
  printf '| %s: GPUs | TP 1: SLO met (%%) | TTFT p90 (s) | TPOT p90 (s) | TP 2: SLO met (%%) | TTFT p90 (s) | TPOT p90 (s) |\n' "$part"
  printf '|---:|---:|---:|---:|---:|---:|---:|\n'
  for gpus in $(seq 1 16); do
    row="| $gpus"
    for tp in 1 2; do
      if (( gpus % tp != 0 )); then row="$row | | |"; continue; fi
      d=$out/$part-$gpus-$tp
      run_to "$d" scenarios/what-if/inference-gpu-count.yaml --set workload.instances=$((gpus / tp)) \
        --set workload.serving.tensor_parallel="$tp" --set cluster.accelerator="$part" --set cluster.nodes=2
      met=$(metric "$d" slo_attainment)
      row="$row | $(awk "BEGIN{printf \"%.1f\", 100*$met}") | $(printf '%.3f' "$(metric "$d" ttft_p90_s)") | $(printf '%.4f' "$(metric "$d" tpot_p90_s)")"
      if [[ -z "${fewest[$part]:-}" ]] && awk "BEGIN{exit !($met >= $target)}"; then
        fewest[$part]="$gpus ($((gpus / tp)) x TP $tp)"
      fi
    done
    echo "$row |"
  done
done
echo
printf '| | H100-SXM-80GB | A100-SXM-80GB |\n|---|---:|---:|\n'
printf '| fewest GPUs meeting the SLO | %s | %s |\n' "${fewest[H100-SXM-80GB]:-more than 16}" "${fewest[A100-SXM-80GB]:-more than 16}"
echo
echo "Rate sweep (Mooncake conversation trace, first 2,000 requests, 8 x H100, Llama-3-8B, prefix-affinity routing):"
printf '| rate x | HBM only: requests/s | tokens/s | SLO met (%%) | goodput (req/s) | TTFT p50 (s) | preempted | pool 2 TiB: requests/s | tokens/s | SLO met (%%) | goodput (req/s) | TTFT p50 (s) | preempted | goodput gain |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for x in 1.5 2 2.5 3 3.5 4 5 6; do
  a=$out/hbm-$x b=$out/pool-$x
  run_to "$a" scenarios/what-if/inference-kv-tiers.yaml --set workload.requests.rate_scale="$x"
  run_to "$b" scenarios/what-if/inference-kv-tiers.yaml --set workload.requests.rate_scale="$x" \
    --set workload.kv_cache.pool_capacity=2TiB
  cells() {
    printf '%.2f | %.0f | %.1f | %.3f | %.3f | %.0f' "$(metric "$1" requests_per_s)" "$(metric "$1" tokens_per_s)" \
      "$(percent "$1" slo_attainment)" "$(metric "$1" goodput_requests_per_s)" \
      "$(metric "$1" ttft_p50_s)" "$(metric "$1" requests_preempted)"
  }
  printf '| %s | %s | %s | %+.0f%% |\n' "$x" "$(cells "$a")" "$(cells "$b")" \
    "$(awk "BEGIN{print 100*($(metric "$b" goodput_requests_per_s)/$(metric "$a" goodput_requests_per_s)-1)}")"
done
