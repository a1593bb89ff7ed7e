#!/usr/bin/env bash
# Times `lcsim search` over GPU counts and parts as well as layouts: Llama 3 70B
# (scenarios/training/llama3-70b-h100-1024.yaml) on H100 or H200, 512 or 1,024 GPUs, TP 1..8 x PP 1..16 x VPP 1,2
# x micro-batch 1,2 x recompute selective/full x distributed optimizer off/on = 1,280 candidates, pruned by
# arithmetic and memory fit, the rest simulated on the analytical fidelity in threads. Prints the candidate counts
# and the wall and CPU time (docs/performance.md and docs/sweeps.md have the measured figures). Issue 15's
# target: 1,000 analytical candidates in under 10 s on 2 cores.
#
#   bash bench/search-wide.sh [BUILD_DIR] [THREADS]     (defaults: build, every core)
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
bin=${1:-build}/apps/lcsim
jobs=${2:-$(nproc)}
/usr/bin/time -f 'wall %e s, user %U s, sys %S s, max RSS %M KB' "$bin" search \
  scenarios/training/llama3-70b-h100-1024.yaml --parts H100-SXM-80GB,H200 --gpus 512,1024 --tp 1,2,4,8 \
  --pp 1,2,4,8,16 --vpp 1,2 --cp 1 --mbs 1,2 --recompute selective,full --dist-opt false,true --top 3 -j "$jobs"
