#!/usr/bin/env bash
# What-if: a training job and a serving deployment on one cluster (scenarios/examples/train-and-serve.yaml):
# sharing the oversubscribed spine uplinks vs each job alone (serving starts after training has finished), and the
# same pair placed on disjoint leaves. Prints one side-by-side table of both jobs' metrics (docs/inference.md).
# Usage: scenarios/what-if/train-and-serve.sh [BUILD_DIR]
. "$(dirname "$0")/lib.sh"
run() {  # label, then --set overrides
  local label=$1 d=$out/run
  shift
  rm -rf "$d"
  "$bin" run scenarios/examples/train-and-serve.yaml -q -o "$d" "$@" >/dev/null
  printf '| %s | %.4f | %.2f | %.2f | %.3f | %.3f | %.4f |\n' "$label" \
    "$(metric "$d" train.iteration_time_s)" \
    "$(awk "BEGIN{print 1000*$(metric "$d" serve.kv_transfer_mean_s)}")" \
    "$(awk "BEGIN{print 1000*$(metric "$d" serve.kv_transfer_p99_s)}")" \
    "$(metric "$d" serve.ttft_p50_s)" "$(metric "$d" serve.ttft_p99_s)" "$(metric "$d" serve.tpot_p99_s)"
}
echo "GPT 1.3B DP training + Llama-3-8B disaggregated serving, 4 x HGX H100, one spine (flow model):"
printf '| placement | train iteration (s) | KV handoff mean (ms) | KV handoff p99 (ms) | TTFT p50 (s) | TTFT p99 (s) | TPOT p99 (s) |\n'
printf '|---|---:|---:|---:|---:|---:|---:|\n'
run "across the spine, together"
run "across the spine, each alone" --set 'jobs[1].start=1000s'
run "disjoint leaves, together" --set 'jobs[0].node_ids=[0,1]' --set 'jobs[1].node_ids=[2,3]'
run "disjoint leaves, each alone" --set 'jobs[0].node_ids=[0,1]' --set 'jobs[1].node_ids=[2,3]' \
  --set 'jobs[1].start=1000s'
