#!/usr/bin/env python3
"""Holds the `megatron` workload against published training throughput (docs/validation.md, "Training").

The rows, their sources and the settings of each family are data: bench/training_validation.yaml. Each row runs
lcsim once (`lcsim run SCENARIO --set ...`, analytical network model) and is compared with its published value
in its unit (see the file's header). Prints every row, then mean and max |error| overall, by group and by source,
with the signed mean error of each (positive: lcsim is faster than the published run).

Usage: bench/validate_training.py [BUILD_DIR] [--markdown] [--only NAME-PREFIX] [--jobs N] [--set KEY=VALUE ...]
Rows run N at a time (default: the machine's cores); the whole file takes about a minute on 2 cores.
--set adds an override to every row that runs, after its family's and its own (a what-if, e.g. another
attention kernel's calibration: docs/validation.md); the published tables use none."""
import os, sys, time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_args
from validation_rows import run_row

USAGE = "bench/validate_training.py [BUILD_DIR] [--markdown] [--only NAME-PREFIX] [--jobs N] [--set KEY=VALUE ...]"
opts = bench_args.parse(USAGE, flags=("--markdown",), valued={"--only": str, "--jobs": bench_args.positive_int,
                                                               "--set": str}, repeated=("--set",))
build, markdown, only, extra = opts["build"], opts["--markdown"], opts.get("--only", ""), opts["--set"]
jobs = opts.get("--jobs", os.cpu_count() or 1)
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
lcsim = bench_args.lcsim_binary(USAGE, root, build)

import yaml  # after the command line: a bad one is reported without needing PyYAML

data = yaml.safe_load(open(os.path.join(root, "bench", "training_validation.yaml")))
UNITS = {"tflops_recompute": "TFLOP/s/GPU (SC'21 count, with recompute)", "tflops_model": "TFLOP/s/GPU (model FLOPs)",
         "mfu_pct": "MFU %", "tokens_per_gpu": "tokens/s/GPU"}


def simulate(row):
    m, why = run_row(lcsim, root, data, row, extra)
    if m is None:
        return None, why
    unit = row["unit"]
    if unit == "tflops_recompute":
        B, s, l, h, V = row["sc21"]
        flops = 96 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h))
        return flops / m["iteration_time_s"] / row["gpus"] / 1e12, None
    if unit == "tflops_model":
        return m["tflops_per_gpu"], None
    if unit == "mfu_pct":
        return 100 * m["mfu"], None
    if unit == "tokens_per_gpu":
        return m["tokens_per_s"] / row["gpus"], None
    raise SystemExit(f"unknown unit {unit} in row {row['name']}")


rows = [r for r in data["rows"] if not only or r["name"].startswith(only)]
start = time.time()
with ThreadPoolExecutor(max_workers=jobs) as pool:
    results = list(pool.map(simulate, rows))
wall = time.time() - start

if markdown:
    print("| run | part | source | group | published | lcsim | unit | error |")
    print("|---|---|---|---|---:|---:|---|---:|")
errs = []  # (row, signed error)
for row, (sim, why) in zip(rows, results):
    pub = row["measured"]
    if sim is None:
        line = f"| {row['name']} | {row['part']} | {row['family']} | {row['group']} | {pub:g} | - | {UNITS[row['unit']]} | lcsim: {why} |" \
            if markdown else f"{row['name']:66s} FAILED: {why}"
        print(line)
        continue
    err = sim / pub - 1
    errs.append((row, err))
    fmt = ".1f" if pub < 100 else ".0f"
    if markdown:
        print(f"| {row['name']} | {row['part']} | {row['family']} | {row['group']} | {pub:{fmt}} | {sim:{fmt}} | "
              f"{UNITS[row['unit']]} | {err * 100:+.1f}% |")
    else:
        print(f"{row['name']:66s} {row['family']:15s} published {pub:9.1f}  lcsim {sim:9.1f}  {err * 100:+6.1f}%")


def summary(label, es):
    a = [abs(e) for e in es]
    return (label, len(es), sum(a) / len(a) * 100, max(a) * 100, sum(es) / len(es) * 100)


if errs:
    lines = [summary("all rows", [e for _, e in errs])]
    for key in ("group", "family", "part"):
        for value in sorted({r[key] for r, _ in errs}):
            lines.append(summary(f"{key}: {value}", [e for r, e in errs if r[key] == value]))
    print()
    if markdown:
        print("| rows | n | mean abs error | max abs error | mean signed error |")
        print("|---|---:|---:|---:|---:|")
        for label, n, mean, mx, signed in lines:
            print(f"| {label} | {n} | {mean:.1f}% | {mx:.1f}% | {signed:+.1f}% |")
    else:
        for label, n, mean, mx, signed in lines:
            print(f"{label:40s} {n:3d} rows: mean |error| {mean:5.1f}%, max {mx:5.1f}%, mean signed {signed:+6.1f}%")
failed = len(rows) - len(errs)
print(f"\n{len(rows)} rows ({failed} failed) in {wall:.1f} s with {jobs} at a time", file=sys.stderr)
