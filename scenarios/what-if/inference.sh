#!/usr/bin/env bash
# Inference what-ifs, each a side-by-side table (docs/inference.md has the measured tables):
#   1. KV-cache tiers on the Mooncake conversation trace (scenarios/what-if/inference-kv-tiers.yaml): no prefix
#      caching; HBM only; HBM + 64 GiB of host DRAM per instance; HBM + a 2 TiB pooled remote store (on the
#      analytical and on the flow transfer model: the fetches share PCIe and the storage plane only on the latter).
#   2. bf16 vs fp8 weights (and KV), the same trace and hardware, no prefix caching.
# Usage: scenarios/what-if/inference.sh [BUILD_DIR]
# shellcheck source=scenarios/what-if/lib.sh
. "$(dirname "$0")/lib.sh"
run() {  # name, then --set overrides
  local d=$out/$1
  shift
  run_to "$d" scenarios/what-if/inference-kv-tiers.yaml "$@"
  printf '| %s | %.1f | %.0f | %.3f | %.3f | %.4f | %.1f | %.3f | %.3f |\n' "$(basename "$d")" \
    "$(metric "$d" requests_per_s)" "$(metric "$d" tokens_per_s)" "$(metric "$d" ttft_p50_s)" \
    "$(metric "$d" ttft_p99_s)" "$(metric "$d" tpot_p50_s)" "$(percent "$d" slo_attainment)" \
    "$(metric "$d" goodput_requests_per_s)" "$( (metric "$d" kv_hit_rate; echo 0) | head -1)"
}
header() {
  printf '| configuration | requests/s | tokens/s | TTFT p50 (s) | TTFT p99 (s) | TPOT p50 (s) | SLO met (%%) | goodput (req/s) | prefix hit rate |\n'
  printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|\n'
}
echo "KV-cache tiers (Mooncake conversation trace x1.5 rate, 8 x H100, Llama-3-8B, prefix-affinity routing):"
header
run no-prefix-caching --set workload.kv_cache.prefix_caching=false
run hbm-only
run hbm+dram-64GiB --set workload.kv_cache.dram_capacity=64GiB
run hbm+pool-2TiB --set workload.kv_cache.pool_capacity=2TiB
run hbm+pool-2TiB-flow-model --set workload.kv_cache.pool_capacity=2TiB --set simulation.fidelity=flow
echo
echo "Weight and KV precision (the same trace and hardware, no prefix caching):"
header
run bf16 --set workload.kv_cache.prefix_caching=false
run fp8 --set workload.kv_cache.prefix_caching=false --set workload.serving.weight_dtype=fp8 \
  --set workload.serving.kv_dtype=fp8
