#!/usr/bin/env bash
# Storage what-ifs on scenarios/examples/storage-checkpoint-h100.yaml (16 DGX H100 nodes, four parallel file system
# appliances, an object store), each printed as a side-by-side table:
#   1. synchronous vs asynchronous checkpoints to the parallel file system: what training waits per save, the save
#      itself, and the whole job's ETTR and checkpoint overhead with failures;
#   2. GPUDirect Storage vs staging through host memory (CPU copy at host_copy_bandwidth): the save time;
#   3. the dataset read from the remote object store vs staged onto the parallel file system first;
#   4. a checkpoint save beside another job's storage traffic on the run's own network (storage-contention.yaml);
#   5. checkpoints saved during a training run on its own network, sync vs async, and async through a converged NIC
#      (storage_nic_attach: gpu_nic) vs a storage NIC of its own (checkpoint-in-run.yaml), for the data-parallel GPT
#      job and the same model as a Megatron job (TP 2 x PP 2 x DP 8, distributed optimizer): what training waits per
#      save, the save, the restore after training, the iterations beside a flush against the others, and the ETTR.
# Usage: scenarios/what-if/storage.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-build}/apps/lcsim
scenario=scenarios/examples/storage-checkpoint-h100.yaml
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
metric() { sed -n "s/^ *\"$2\": \([-0-9.e+]*\),\{0,1\}$/\1/p" "$1/metrics.json"; }
div() { awk -v a="${1:-0}" -v b="$2" 'BEGIN { print a / b }'; }
run() { local d=$out/$1; shift; "$bin" run "$scenario" -q -o "$d" --set outputs.timeline=false "$@" >/dev/null; }

echo "## Synchronous vs asynchronous checkpoints (parallel file system, every checkpoint)"
printf '| mode | blocking per save (s) | save (s) | restore (s) | ETTR | checkpoint overhead |\n|---|---:|---:|---:|---:|---:|\n'
for mode in sync async; do
  run "ckpt-$mode" --set "checkpoint.levels=[{tier: parallel_fs, mode: $mode}]"
  d=$out/ckpt-$mode
  printf '| %s | %.3f | %.3f | %.3f | %.5f | %.6f |\n' "$mode" "$(metric "$d" checkpoint_parallel_fs_blocking_s)" \
    "$(metric "$d" checkpoint_parallel_fs_save_s)" "$(metric "$d" checkpoint_parallel_fs_restore_s)" \
    "$(metric "$d" reliability_ettr)" "$(metric "$d" reliability_checkpoint_overhead)"
done

echo
echo "## GPUDirect Storage vs staging through host memory (synchronous save to the parallel file system)"
printf '| path | host CPU copy limit | save (s) | restore (s) |\n|---|---|---:|---:|\n'
for gds in true false; do
  for copy in 0GB/s 20GB/s 5GB/s; do
    [ "$gds" = true ] && [ "$copy" != 0GB/s ] && continue
    run "gds-$gds-$copy" --set "checkpoint.levels=[{tier: parallel_fs, mode: sync}]" \
      --set cluster.storage.gpudirect=$gds --set cluster.storage.host_copy_bandwidth=$copy
    d=$out/gds-$gds-$copy
    printf '| %s | %s | %.3f | %.3f |\n' "$([ "$gds" = true ] && echo GPUDirect || echo 'staged via host')" \
      "$([ "$copy" = 0GB/s ] && echo none || echo "$copy per host")" \
      "$(metric "$d" checkpoint_parallel_fs_save_s)" "$(metric "$d" checkpoint_parallel_fs_restore_s)"
  done
done

echo
echo "## Dataset: remote object store vs staged onto the parallel file system (shuffled 8 KiB samples)"
printf '| dataset | needed (GB/s) | delivered (GB/s) | slowdown | staging before the job (h) | staged over the site link (TB) |\n|---|---:|---:|---:|---:|---:|\n'
run data-remote --set dataset.source=object_store
run data-staged --set dataset.source=parallel_fs --set dataset.staged=true --set dataset.staging_link=100Gb/s
for v in remote staged; do
  d=$out/data-$v
  st=$(metric "$d" data_staging_s); sb=$(metric "$d" data_staging_bytes)
  printf '| %s | %.3f | %.3f | %.2f | %.2f | %.1f |\n' "$v" "$(div "$(metric "$d" data_needed_bytes_per_s)" 1e9)" \
    "$(div "$(metric "$d" data_delivered_bytes_per_s)" 1e9)" "$(metric "$d" data_loading_slowdown)" \
    "$(div "$st" 3600)" "$(div "$sb" 1e12)"
done

echo
echo "## A checkpoint beside another job's storage traffic, on the run's own network (storage-contention.yaml)"
printf '| the other job | fidelity | ckpt save (s) | other job (s) |\n|---|---|---:|---:|\n'
contend() {  # contend LABEL DIR SET...
  local label=$1 d=$out/$2; shift 2
  "$bin" run scenarios/what-if/storage-contention.yaml -q -o "$d" --set outputs.timeline=false "$@" >/dev/null
  printf '| %s | %.4f | %.4f |\n' "$label" "$(metric "$d" ckpt.storage_io_time_s)" "$(metric "$d" other.storage_io_time_s)"
}
contend "saves at the same time | flow_queue" c-write
contend "reads at the same time | flow_queue" c-read --set jobs[1].workload.op=read
contend "saves 10 s later | flow_queue" c-later --set jobs[1].start=10s
contend "saves at the same time | analytical" c-analytical --set simulation.fidelity=analytical

echo
echo "## Checkpoints saved during the run, on its own network (checkpoint-in-run.yaml, flow_queue)"
printf '| workload | mode | storage NIC | blocking per save (s) | save (s) | restore (s) | iteration (s) | iteration beside a flush (s) | slowdown | ETTR |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n'
# Converged: each node's storage traffic through its GPUs' own 400 Gb/s compute NICs (no storage NICs).
converged='cluster.pools=[{count: 4, node: {base: hgx-h100, storage_nic_attach: gpu_nic, nics: [{count: 8, bandwidth: 400Gb/s, plane: compute}, {count: 1, bandwidth: 1Gb/s, plane: management}]}}]'
# The same model and batch as a Megatron job: TP 2 x PP 2 x DP 8, 4 micro-batches of 2 per pipeline.
megatron='workload={type: megatron, model: {num_layers: 24, hidden_size: 2048, num_attention_heads: 16, seq_length: 2048, vocab_size: 50304}, global_batch_size: 64, micro_batch_size: 2, tensor_model_parallel_size: 2, pipeline_model_parallel_size: 2, use_distributed_optimizer: true, overlap_grad_reduce: true, train_iters: 7}'
for row in "gpt sync separate" "gpt async separate" "gpt async converged" \
           "megatron sync separate" "megatron async separate" "megatron async converged"; do
  set -- $row; wl=$1; mode=$2; nic=$3
  d=$out/inrun-$wl-$mode-$nic
  extra=(); [ "$nic" = converged ] && extra+=(--set "$converged")
  [ "$wl" = megatron ] && extra+=(--set "$megatron")
  "$bin" run scenarios/what-if/checkpoint-in-run.yaml -q -o "$d" --set outputs.timeline=false \
    --set "checkpoint.levels=[{tier: parallel_fs, mode: $mode}]" "${extra[@]}" >/dev/null
  clean=$(metric "$d" checkpoint_run_iteration_clean_s); during=$(metric "$d" checkpoint_run_iteration_during_flush_s)
  if [ "$mode" = sync ]; then during=-; slow=-; else
    slow=$(printf '%.3f' "$(div "$during" "$clean")"); during=$(printf '%.4f' "$during"); fi
  printf '| %s | %s | %s | %.4f | %.4f | %.4f | %.4f | %s | %s | %.5f |\n' "$wl" "$mode" "$nic" \
    "$(metric "$d" checkpoint_run_blocking_s)" "$(metric "$d" checkpoint_run_save_s)" \
    "$(metric "$d" checkpoint_run_restore_s)" "$clean" "$during" "$slow" "$(metric "$d" reliability_ettr)"
done
