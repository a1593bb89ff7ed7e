#!/usr/bin/env python3
"""bench/device/hopper_kernels.py's measurements beside lcsim's model of the same kernels (docs/calibration.md,
"Measuring on a lent GPU").

usage: bench/device/compare_hopper.py MEASURED_DIR [BUILD_DIR] [--part NAME]

  gemm_bf16.csv, gemm_fp8.csv  `lcsim calibrate --part PART CSV --evaluate`: the catalog calibration's error per shape
  attention.csv                each kernel and length against a one-GPU run of the same layer (train-h100.yaml with
                               the part, the backend, 32 / 8 heads of 128, that sequence length): report.txt's
                               attention and attention_bwd times
  layer.csv                    the Llama 3 8B layer's forward and backward (median of the second half) against the
                               same run with layer_kernels torch_eager and no rotary embedding (the measured layer has
                               none; its norms run in bf16 where lcsim's torch_eager counts torchtitan's fp32 norm)
  clocks, grouped.csv, membound.csv
                               printed as measured (lcsim has no per-kernel counterpart to call from here)
PART defaults from summary.json's device name (H100 -> H100-SXM-80GB, H200 -> H200-SXM-141GB).
"""
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bench_args  # noqa: E402

USAGE = "bench/device/compare_hopper.py MEASURED_DIR [BUILD_DIR] [--part NAME]"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


_opts = bench_args.parse(USAGE, valued={"--part": str}, positionals=[("MEASURED_DIR", None), ("BUILD_DIR", "build")])
MEASURED, BUILD, PART = _opts["MEASURED_DIR"], _opts["BUILD_DIR"], _opts.get("--part")
if not os.path.isdir(MEASURED):
    bench_args.fail(USAGE, f"MEASURED_DIR '{MEASURED}' is not a directory")
LCSIM = bench_args.lcsim_binary(USAGE, ROOT, BUILD)
KNOWN = ("gemm_bf16.csv", "gemm_fp8.csv", "attention.csv", "layer.csv", "grouped.csv", "membound.csv", "clocks.csv")
present = [f for f in KNOWN if os.path.exists(os.path.join(MEASURED, f))]
if not present:
    bench_args.fail(USAGE, f"MEASURED_DIR '{MEASURED}' holds none of {', '.join(KNOWN)}")
summary = {}
if os.path.exists(os.path.join(MEASURED, "summary.json")):
    with open(os.path.join(MEASURED, "summary.json")) as f:
        summary = json.load(f)
if PART is None:
    device = summary.get("device", "")
    PART = "H200-SXM-141GB" if "H200" in device else "H100-SXM-80GB" if "H100" in device else None
    if PART is None:
        bench_args.fail(USAGE, f"summary.json names device '{device}': say which lcsim part it is with --part NAME")


def rows_of(name):
    with open(os.path.join(MEASURED, name), newline="") as f:
        return list(csv.DictReader(f))


def column(row, key, name, conv=float):
    """A measured file's value, or a clear error naming the file, its line and the key."""
    try:
        return conv(row[key])
    except (KeyError, TypeError, ValueError):
        bench_args.fail(USAGE, f"{name}: column '{key}' missing or not a number in row {row}")


def lcsim_layer(sets):
    """The kernel table of one dense layer from report.txt: {kernel: (gflop, us)} and the forward / backward totals."""
    out = tempfile.mkdtemp(prefix="lcsim-dev-")
    cmd = [LCSIM, "run", os.path.join(ROOT, "scenarios/validation/train-h100.yaml"), "-q", "--no-progress", "-o", out,
           "--set", f"cluster.accelerator={PART}", "--set", "cluster.gpus_per_node=1",
           "--set", "workload.model.num_layers=2", "--set", "workload.model.hidden_size=4096",
           "--set", "workload.model.num_attention_heads=32", "--set", "workload.model.group_query_attention=true",
           "--set", "workload.model.num_query_groups=8", "--set", "workload.model.ffn_hidden_size=14336",
           "--set", "workload.global_batch_size=1"]
    for s in sets:
        cmd += ["--set", s]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "lcsim run failed")
    kernels = {}
    with open(os.path.join(out, "report.txt")) as f:
        for line in f:
            m = re.match(r"^\s+(\w[\w ]*?)\s+([\d.]+)\s+([\d.]+)?\s+([\d.]+)\s*$", line)
            if m:
                kernels[m.group(1)] = (float(m.group(2)), float(m.group(4)))
    return kernels


def signed(measured, model):
    return f"{(model / measured - 1) * 100:+.1f}%"


print(f"# lcsim ({PART}) against {MEASURED} ({summary.get('device', 'device not recorded')}, "
      f"torch {summary.get('torch', '?')}, driver {summary.get('driver', '?')})\n")
print("Error: lcsim's time over the measured time, minus 1 (negative: lcsim faster).\n")

for phase, p in summary.get("phases", {}).items():
    if "sm_mhz_median" in p:
        print(f"clock, {phase}: SM {p['sm_mhz_median']} MHz median (min {p['sm_mhz_min']}), power "
              f"{p['power_w_median']} W median (max {p['power_w_max']}), {p['temp_c_max']} C max, {p['samples']} samples")
for key in ("tflops_first_block", "tflops_second_half_median"):
    if key in summary.get("phases", {}).get("sustained_gemm", {}):
        print(f"8192^3 BF16 GEMM, {key.replace('_', ' ')}: {summary['phases']['sustained_gemm'][key]} TFLOP/s")
if summary.get("skipped") or summary.get("errors"):
    print(f"skipped: {summary.get('skipped')}; errors: {summary.get('errors')}")
print()

for name in ("gemm_bf16.csv", "gemm_fp8.csv"):
    if name not in present:
        continue
    report = os.path.join(tempfile.mkdtemp(prefix="lcsim-dev-"), "gemm.md")
    r = subprocess.run([LCSIM, "calibrate", "--part", PART, os.path.join(MEASURED, name), "--evaluate", "--report",
                        report], capture_output=True, text=True)
    print(f"## {name}: lcsim calibrate --part {PART} --evaluate\n")
    if r.returncode != 0:
        print(f"lcsim calibrate failed: {r.stderr.strip()}\n")
        continue
    print("\n".join(l for l in r.stdout.splitlines() if "error" in l or "measurements" in l))
    print()
    with open(report) as f:
        print(f.read())

if "attention.csv" in present:
    print("## attention.csv: causal, 32 query and 8 key/value heads of 128, batch 1\n")
    print("| kernel | pass | tokens | measured (us) | measured TFLOP/s | lcsim (us) | error |")
    print("|---|---|---:|---:|---:|---:|---:|")
    errs, cache = [], {}
    for row in rows_of("attention.csv"):
        kernel, s = row.get("kernel", ""), column(row, "seq_len", "attention.csv", int)
        if kernel not in ("flash2", "cudnn", "flash3"):
            bench_args.fail(USAGE, f"attention.csv: kernel '{kernel}' is not one of flash2, cudnn, flash3")
        if (kernel, s) not in cache:
            try:
                cache[(kernel, s)] = lcsim_layer([f"workload.attention_backend={kernel}", f"workload.model.seq_length={s}"])
            except RuntimeError as e:
                cache[(kernel, s)] = str(e)
        k = cache[(kernel, s)]
        t = column(row, "time_us", "attention.csv")
        name = "attention" if row.get("pass") == "forward" else "attention_bwd"
        if isinstance(k, str) or name not in k:
            print(f"| {kernel} | {row.get('pass')} | {s} | {t:.1f} | {row.get('tflops')} | - | lcsim: {k if isinstance(k, str) else 'no ' + name} |")
            continue
        errs.append(k[name][1] / t - 1)
        print(f"| {kernel} | {row.get('pass')} | {s} | {t:.1f} | {row.get('tflops')} | {k[name][1]:.1f} | "
              f"{signed(t, k[name][1])} |")
    if errs:
        print(f"\n{len(errs)} rows: mean |error| {statistics.mean(abs(e) for e in errs) * 100:.1f}%, signed "
              f"{statistics.mean(errs) * 100:+.1f}%\n")

if "layer.csv" in present:
    times = [column(r, "forward_backward_us", "layer.csv") for r in rows_of("layer.csv")]
    if times:
        measured = statistics.median(times[len(times) // 2:])
        k = lcsim_layer(["workload.attention_backend=flash2", "workload.model.seq_length=8192",
                         "workload.layer_kernels=torch_eager", "workload.model.position_embedding_type=learned_absolute"])
        model = k.get("forward total", (0, 0))[1] + k.get("backward total", (0, 0))[1]
        print("## layer.csv: Llama 3 8B layer, 8,192 tokens, bf16, PyTorch eager, forward and backward\n")
        print(f"measured {measured:.0f} us (median of the last {len(times) - len(times) // 2} of {len(times)}), "
              f"lcsim {model:.0f} us: {signed(measured, model)}\n")

for name in ("grouped.csv", "membound.csv"):
    if name in present:
        rows = rows_of(name)
        print(f"## {name} (measured)\n")
        if rows:
            print("| " + " | ".join(rows[0].keys()) + " |")
            print("|" + "---|" * len(rows[0]))
            for r in rows:
                print("| " + " | ".join(r.values()) + " |")
        print()
