#!/usr/bin/env bash
# What-if: colocated vs disaggregated prefill/decode on the Azure LLM inference traces (2023), the same 8 H100s
# (scenarios/what-if/inference-disaggregation.yaml; docs/inference.md has the measured table): 8 colocated instances,
# then the 8 GPUs split into prefill and decode pools three ways, on the conversation trace at 16x its rate and the
# code trace (long prompts, short answers) at 8x.
# Usage: scenarios/what-if/inference-disaggregation.sh [BUILD_DIR]
# shellcheck source=scenarios/what-if/lib.sh
. "$(dirname "$0")/lib.sh"
run() {  # name, then --set overrides
  local d=$out/$1
  shift
  run_to "$d" scenarios/what-if/inference-disaggregation.yaml "$@"
  printf '| %s | %.1f | %.3f | %.3f | %.4f | %.4f | %.1f | %.2f | %s |\n' "$(basename "$d")" \
    "$(metric "$d" requests_per_s)" "$(metric "$d" ttft_p50_s)" "$(metric "$d" ttft_p99_s)" \
    "$(metric "$d" tpot_p50_s)" "$(metric "$d" tpot_p99_s)" "$(percent "$d" slo_attainment)" \
    "$(metric "$d" goodput_requests_per_s)" \
    "$(metric "$d" kv_transfer_mean_s | awk '{printf "%.3f", 1000*$1} END {if (NR == 0) printf "-"}')"
}
header() {
  printf '| configuration | requests/s | TTFT p50 (s) | TTFT p99 (s) | TPOT p50 (s) | TPOT p99 (s) | SLO met (%%) | goodput (req/s) | KV handoff mean (ms) |\n'
  printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|\n'
}
pools() { echo --set "workload.disaggregation.prefill_instances=$1" --set "workload.disaggregation.decode_instances=$2"; }
for trace in conv code; do
  if [ "$trace" = conv ]; then scale=16; else scale=8; fi
  set_trace=(--set "workload.requests.trace=data/inference/azure_llm_2023_${trace}_2k.csv"
             --set "workload.requests.rate_scale=$scale")
  echo "Azure $trace trace x$scale rate, Llama-3-8B on 8 x H100 (SLO: TTFT 1 s, TPOT 50 ms):"
  header
  run "$trace: colocated, 8 instances" "${set_trace[@]}"
  # shellcheck disable=SC2046
  run "$trace: 4 prefill + 4 decode" "${set_trace[@]}" $(pools 4 4)
  # shellcheck disable=SC2046
  run "$trace: 6 prefill + 2 decode" "${set_trace[@]}" $(pools 6 2)
  # shellcheck disable=SC2046
  run "$trace: 2 prefill + 6 decode" "${set_trace[@]}" $(pools 2 6)
  echo
done
