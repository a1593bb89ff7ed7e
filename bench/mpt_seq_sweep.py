#!/usr/bin/env python3
"""MosaicML's MPT tables at every sequence length they list, against lcsim (docs/validation-dense-h100.md,
"The same tables at longer sequences"): a diagnostic, not validation rows.

llm-foundry's benchmarking README (scripts/train/benchmarking/README.md, stored commit 061f2c7) tables MPT-3B and
MPT-7B on 8 GPUs from 512 to 65,536 tokens per sequence, on H100 80GB (BF16) and A100 80GB.
bench/training_validation.yaml holds their 2,048-token rows; this script runs the others with the same family
settings (the rows file's `mosaicml` and `mosaicml-a100` families and the 2,048-token row's model shape), each with
the micro-batch, global batch and activation checkpointing of its own table row, and prints lcsim's tokens/s per
GPU against the table's.

Usage: bench/mpt_seq_sweep.py [BUILD_DIR] [--markdown] [--jobs N]"""
import json, os, re, subprocess, sys, tempfile
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_args
from validation_rows import row_settings

USAGE = "bench/mpt_seq_sweep.py [BUILD_DIR] [--markdown] [--jobs N]"
opts = bench_args.parse(USAGE, flags=("--markdown",), valued={"--jobs": bench_args.positive_int})
build, markdown = opts["build"], opts["--markdown"]
jobs = opts.get("--jobs", os.cpu_count() or 1)
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
lcsim = bench_args.lcsim_binary(USAGE, root, build)

import yaml  # after the command line: a bad one is reported without needing PyYAML

data = yaml.safe_load(open(os.path.join(root, "bench", "training_validation.yaml")))
rows_by_name = {r["name"]: r for r in data["rows"]}

# (base row in the rows file: family and model shape, sequence, micro-batch, global batch, activation
# checkpointing, published tokens/s per GPU), from the README's "H100 80GB BF16" and "A100 80GB" tables, 8 GPUs.
SWEEP = [
    ("MPT-7B (FSDP8, 8 H100)", [(1024, 64, 1024, True, 10203), (2048, 6, 48, False, 10643), (4096, 16, 256, True, 8611),
                                (8192, 8, 128, True, 6935), (32768, 2, 32, True, 3318), (65536, 1, 16, True, 1956)]),
    ("MPT-7B (FSDP8, 8 A100)", [(1024, 64, 1024, True, 4357), (2048, 6, 96, False, 4641), (4096, 16, 256, True, 3684),
                                (8192, 8, 128, True, 3206), (16384, 4, 64, True, 2453), (32768, 2, 32, True, 1672),
                                (65536, 1, 16, True, 1013)]),
    ("MPT-3B (FSDP16, 16 H100)", [(512, 40, 1920, False, 27965), (1024, 20, 960, False, 27046),
                                  (4096, 5, 240, False, 20964), (8192, 3, 144, False, 16578),
                                  (16384, 1, 48, False, 11152), (32768, 3, 144, True, 5873),
                                  (65536, 1, 16, True, 3262)]),
    ("MPT-3B (FSDP8, 8 A100)", [(512, 40, 1920, False, 12127), (1024, 20, 960, False, 11580),
                                (2048, 10, 160, False, 10811), (4096, 5, 240, False, 9457), (8192, 3, 144, False, 7695),
                                (16384, 1, 48, False, 5529), (32768, 3, 144, True, 3029), (65536, 1, 16, True, 1767)]),
]


def simulate(case):
    base, (seq, mbs, gbs, ac, _) = case
    row = rows_by_name[base]
    fam = data["families"][row["family"]]
    out = tempfile.mkdtemp(prefix="lcsim-mpt-")
    sets = [s for s in row_settings(data, row) if not s.startswith("cluster.nodes=")]  # 8 GPUs: one node
    sets += [f"workload.model.seq_length={seq}", f"workload.micro_batch_size={mbs}",
             f"workload.global_batch_size={gbs}", "workload.recompute_granularity=" + ("full" if ac else "none")]
    cmd = [lcsim, "run", os.path.join(root, fam["scenario"]), "-q", "--no-progress", "-o", out]
    for s in sets:
        cmd += ["--set", s]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        why = (r.stderr.strip().splitlines() or ["failed"])[-1]
        need = re.search(r"does not fit in memory: needs ([0-9.]+ GB)", why)
        return None, f"does not fit lcsim's memory check (needs {need.group(1)} per GPU)" if need else why
    m = json.load(open(os.path.join(out, "metrics.json")))["metrics"]
    return m["tokens_per_s"] / m["num_gpus"], None


cases = [(base, c) for base, cs in SWEEP for c in cs]
with ThreadPoolExecutor(max_workers=jobs) as pool:
    results = list(pool.map(simulate, cases))
if markdown:
    print("| model, part | sequence | checkpointing | published | lcsim | error |")
    print("|---|---:|---|---:|---:|---:|")
for (base, (seq, mbs, gbs, ac, pub)), (sim, why) in zip(cases, results):
    label = base.split(" (")[0] + (", H100" if "H100" in base else ", A100")
    if sim is None:
        print(f"| {label} | {seq:,} | {'full' if ac else 'none'} | {pub:,} | - | {why} |" if markdown
              else f"{label:14s} seq {seq:6d}: {why}")
        continue
    err = sim / pub - 1
    if markdown:
        print(f"| {label} | {seq:,} | {'full' if ac else 'none'} | {pub:,} | {sim:,.0f} | {err:+.1%} |")
    else:
        print(f"{label:14s} seq {seq:6d} ({'AC' if ac else 'no AC'}): published {pub:6d}  lcsim {sim:8.0f}  {err:+.1%}")
