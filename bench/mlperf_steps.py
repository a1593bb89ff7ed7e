#!/usr/bin/env python3
"""Splits MLPerf Training's strong-scaling step times into a time per micro-batch and a fixed time per step, measured
and in lcsim (docs/validation-mlperf.md, "What the rows show").

For each family of bench/training_validation.yaml whose rows run one layout at several GPU counts (the mlperf
families by default), the step time of each row is global batch x sequence / (tokens/s per GPU x GPUs), measured
(the row's published figure) and in lcsim (one `lcsim run` per row, as bench/validate_training.py runs it). With m
micro-batches per data-parallel rank (global batch / (DP x MBS)) and the interleaved schedule's bubble b = (PP - 1) / VP
micro-batches, a least-squares line step = (m + b) x t + C gives t (per micro-batch) and C (fixed per step). A family
whose rows share one m (or have fewer than two) prints its rows and no line.

Usage: bench/mlperf_steps.py [BUILD_DIR] [--family NAME ...] [--jobs N]"""
import os, sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_args
from validation_rows import row_settings, run_row

USAGE = "bench/mlperf_steps.py [BUILD_DIR] [--family NAME ...] [--jobs N]"
opts = bench_args.parse(USAGE, valued={"--family": str, "--jobs": bench_args.positive_int}, repeated=("--family",))
build, jobs = opts["build"], opts.get("--jobs", os.cpu_count() or 1)
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
lcsim = bench_args.lcsim_binary(USAGE, root, build)

import yaml  # after the command line: a bad one is reported without needing PyYAML

data = yaml.safe_load(open(os.path.join(root, "bench", "training_validation.yaml")))
families = opts["--family"] or ["mlperf-405b-h100", "mlperf-405b-gb200", "mlperf-gpt3-v31", "mlperf-gpt3"]
for f in families:
    if f not in data["families"]:
        bench_args.fail(USAGE, f"option --family: '{f}' is not a family of bench/training_validation.yaml")


def settings(row):
    """The row's `key=value` settings after its family's (the last of each key wins, as `lcsim run --set` reads them)."""
    return dict(s.partition("=")[::2] for s in row_settings(data, row))


def layout(row):
    s = settings(row)
    num = lambda key, default: int(s.get(key, default))  # noqa: E731
    tp, pp, cp = num("workload.tensor_model_parallel_size", 1), num("workload.pipeline_model_parallel_size", 1), \
        num("workload.context_parallel_size", 1)
    mbs, gbs = num("workload.micro_batch_size", 1), num("workload.global_batch_size", 0)
    layers, per_chunk = num("workload.model.num_layers", 0), num("workload.num_layers_per_virtual_pipeline_stage", 0)
    model = s.get("workload.model", "")
    if not layers and "num_layers:" in model:  # a whole model given as one mapping
        layers = int(model.split("num_layers:")[1].split(",")[0])
    seq = num("workload.model.seq_length", 0)
    if not seq and "seq_length:" in model:
        seq = int(model.split("seq_length:")[1].split(",")[0])
    extra = int(s.get("workload.account_for_embedding_in_pipeline_split", "false") == "true") + \
        int(s.get("workload.account_for_loss_in_pipeline_split", "false") == "true")
    vp = (layers + extra) // (pp * per_chunk) if per_chunk else 1
    dp = row["gpus"] // (tp * pp * cp)
    if not (gbs and seq and dp):
        bench_args.fail(USAGE, f"row '{row['name']}': global batch, sequence or data-parallel size not found in its settings")
    return {"m": gbs / (dp * mbs), "b": (pp - 1) / vp if pp > 1 else 0.0, "tokens": gbs * seq}


def simulate(row):
    m, _ = run_row(lcsim, root, data, row)
    return m["iteration_time_s"] if m else None


def line(points):
    """Least squares of y = x t + C over (x, y); None with fewer than two distinct x."""
    xs = [x for x, _ in points]
    if len(set(xs)) < 2:
        return None
    n, sx, sy = len(points), sum(xs), sum(y for _, y in points)
    sxx, sxy = sum(x * x for x in xs), sum(x * y for x, y in points)
    t = (n * sxy - sx * sy) / (n * sxx - sx * sx)
    return t, (sy - t * sx) / n


rows = [r for r in data["rows"] if r["family"] in families and r["unit"] == "tokens_per_gpu"]
with ThreadPoolExecutor(max_workers=jobs) as pool:
    simulated = list(pool.map(simulate, rows))

for fam in families:
    print(f"\n{fam}")
    print(f"{'GPUs':>6} {'m':>6} {'measured step (s)':>18} {'lcsim step (s)':>15}  run")
    measured, model = [], []
    for row, sim in zip(rows, simulated):
        if row["family"] != fam:
            continue
        lay = layout(row)
        step = lay["tokens"] / (row["measured"] * row["gpus"])
        x = lay["m"] + lay["b"]
        measured.append((x, step))
        if sim is not None:
            model.append((x, sim))
        print(f"{row['gpus']:>6} {lay['m']:>6g} {step:>18.4f} {sim if sim is not None else float('nan'):>15.4f}  {row['name']}")
    fm, fl = line(measured), line(model)
    if fm is None or fl is None:
        print("  one micro-batch count (or fewer than two rows): no line")
        continue
    worst = max(abs((x * fm[0] + fm[1]) / y - 1) for x, y in measured)
    print(f"  measured: step = (m + b) x {fm[0]:.5f} s + {fm[1]:.3f} s (within {worst * 100:.1f}% at every row)")
    print(f"  lcsim:    step = (m + b) x {fl[0]:.5f} s + {fl[1]:.3f} s")
    print(f"  per micro-batch lcsim {(fl[0] / fm[0] - 1) * 100:+.1f}%; per step lcsim {fl[1] - fm[1]:+.3f} s")
