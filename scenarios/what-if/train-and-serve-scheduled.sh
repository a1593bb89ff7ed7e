#!/usr/bin/env bash
# What-if: a large training job plus a serving deployment (and a few more jobs) on one oversubscribed cluster, as a
# scheduled replay (issue 16 item 6; the fixed-placement version is train-and-serve.sh). 12 HGX H100 nodes, 3 per
# leaf, 8:1 spine (scenarios/cluster-serving/cluster.yaml); jobs.csv: two 1-node duration jobs, GPT 350M data
# parallel on 6 nodes (all-reduce not overlapped), Llama-3-8B disaggregated serving on 2 nodes for 15 minutes
# (prefill on one node, decode on the other: every KV cache crosses between them) and three small training jobs.
# Every workload job's speed, and the deployment's latency, come from simulating it with the jobs it shares a leaf
# with (flow model), whenever that set changes. Rows: FIFO with first fit, topology-aware placement (EASY backfill,
# fewest leaves), and FIFO with serving reserved its own leaf (cluster-reserved.yaml, jobs-reserved.csv: two
# pools). One side-by-side table: training JCT and stretch, the large job's stretch, the deployment's latency
# (TTFT and TPOT p99, KV handoff mean and p99: p99s the worst group it ran in) and the time it shared a leaf.
# docs/scheduling.md has the measured table.
# Usage: scenarios/what-if/train-and-serve-scheduled.sh [BUILD_DIR]
. "$(dirname "$0")/lib.sh"
dir=scenarios/cluster-serving
json_metric() { sed -n "s/^ *\"$2\": \([-0-9.e+]*\),\{0,1\}$/\1/p" "$1" | head -1; }  # FILE NAME
row() {  # label, trace, cluster, policy
  local label=$1 d=$out/$4-$2
  "$bin" schedule --trace "$dir/$2" --cluster "$dir/$3" --policies "$4" --output "$d" >/dev/null
  local m=$d/$4.metrics.json
  # The large job (id 1) and the deployment (id 3): stretch = time holding GPUs / time alone on a compact placement.
  local big leaves
  big=$(awk -F, '$1 == 1 { printf "%.3f", $6 / $7 }' "$d/$4.jobs.csv")
  leaves=$(awk -F, '$1 == 3 { print $10 }' "$d/$4.jobs.csv")
  printf '| %s | %.2f | %.3f | %s | %s | %.3f | %.3f | %.2f | %.2f | %.3f | %.1f | %.0f |\n' "$label" \
    "$(awk "BEGIN{print $(json_metric "$m" jct_s_mean)/60}")" "$(json_metric "$m" workload_stretch_mean)" "$big" "$leaves" \
    "$(json_metric "$m" job3.serving_ttft_p99_s)" "$(json_metric "$m" job3.serving_tpot_p99_s | awk '{print 1000*$1}')" \
    "$(awk "BEGIN{print 1000*$(json_metric "$m" job3.serving_kv_mean_s)}")" \
    "$(awk "BEGIN{print 1000*$(json_metric "$m" job3.serving_kv_p99_s)}")" "$(json_metric "$m" job3.serving_slo_attainment)" \
    "$(awk "BEGIN{print $(json_metric "$m" job3.serving_shared_s)/60}")" "$(json_metric "$m" speed_evaluations)"
}
echo "GPT 350M on 6 nodes + Llama-3-8B disaggregated serving on 2 + 5 more jobs, 12 x HGX H100, 8:1 spine (flow model):"
printf '| placement | JCT mean, all jobs (min) | training stretch mean | large job stretch | serving leaves |'
printf ' TTFT p99 (s) | TPOT p99 (ms) | KV handoff mean (ms) | KV handoff p99 (ms) | SLO attainment |'
printf ' serving beside others (min) | fabric simulations |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
row "FIFO, first fit" jobs.csv cluster.yaml fifo
row "topology-aware (backfill, fewest leaves)" jobs.csv cluster.yaml topology
row "FIFO, serving reserved its own leaf" jobs-reserved.csv cluster-reserved.yaml fifo
