#!/usr/bin/env bash
# Times `lcsim search` over a large layout space: Llama 3 70B on 1,024 H100s
# (scenarios/training/llama3-70b-h100-1024.yaml), TP 1..8 x PP 1..16 x VPP 1,2 x CP 1,2 x micro-batch 1,2,4 x
# recompute none/selective/full x distributed optimizer off/on = 1,440 candidates, pruned by arithmetic and memory
# fit, the rest simulated on the analytical fidelity in threads. Prints the candidate counts and the wall and CPU
# time (docs/sweeps.md has the measured figures). The target of issue 15: 1,000 analytical candidates in under
# 10 s on 2 cores.
#
#   bash bench/search.sh [BUILD_DIR] [THREADS]     (defaults: build, every core)
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
bin=${1:-build}/apps/lcsim
jobs=${2:-$(nproc)}
/usr/bin/time -f 'wall %e s, user %U s, sys %S s, max RSS %M KB' "$bin" search \
  scenarios/training/llama3-70b-h100-1024.yaml --tp 1,2,4,8 --pp 1,2,4,8,16 --vpp 1,2 --cp 1,2 --mbs 1,2,4 \
  --recompute none,selective,full --dist-opt false,true --top 3 -j "$jobs"
