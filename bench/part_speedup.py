#!/usr/bin/env python3
"""Where lcsim's speed-up of one part over another comes from, against a published pair of runs
(docs/validation.md, "Is the dense H100 optimism H100-specific?").

Runs pairs of rows of bench/training_validation.yaml (the same model on two parts, each with its family's and
its own settings, as bench/validate_training.py runs them) and splits each run's iteration into what its kernels
cost by kind, from lcsim's own report (report.txt: one layer's kernels, forward and backward, on rank 0):
  gemm        the layer's GEMMs (forward, input and weight gradients; the recomputed forward with full recompute)
  attention   the fused attention kernel, forward and backward
  memory      norms, activation, residual adds (memory-bound kernels)
  rest        the rest of compute: embedding, output layer and loss, FSDP's copies on the compute stream, the host's
              issue floor where it binds (time_compute_s minus the three above)
  exposed     exposed communication (data-parallel gathers and reduce-scatters not hidden)
  optimizer   the optimizer step
Then prints, per component, the slow part's time over the fast part's, lcsim's speed-up against the published one,
and the fast part's component times that would close the gap if that component alone carried it. Last, for the
models that a table lists at two micro-batch counts on one part (LAYOUTS below), it solves
  seconds per iteration per GPU = a x tokens per GPU + c x micro-batches
for the published runs and for lcsim's: a is the cost per token, c a fixed cost per micro-batch (per layer-pass:
c over layers x passes, passes 3 with full recompute, 2 without).

With --vidur it prints instead, per model and operator, the median A100 / H100 time ratio of vidur's per-operator
profiles (data/calibration/vidur_serving_layers.csv: one layer's kernels of the same models on both parts) over the
shapes both parts measured with at least 2,048 tokens: what isolated kernels say the speed-up is.

Usage: bench/part_speedup.py [BUILD_DIR] [--set KEY=VALUE ...]   (the pairs are PAIRS below)
       bench/part_speedup.py --vidur"""
import csv, json, os, re, statistics, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_args

USAGE = "bench/part_speedup.py [BUILD_DIR] [--set KEY=VALUE ...]  |  bench/part_speedup.py --vidur"
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
opts = bench_args.parse(USAGE, flags=("--vidur",), valued={"--set": str}, repeated=("--set",))
build, extra = opts["build"], opts["--set"]
vidur = os.path.join(root, "data", "calibration", "vidur_serving_layers.csv") if opts["--vidur"] else None
lcsim = os.path.join(root, build, "apps", "lcsim") if vidur else bench_args.lcsim_binary(USAGE, root, build)

import yaml  # after the command line: a bad one is reported without needing PyYAML

def vidur_ratios(path):
    """Median A100 / H100 time per operator over the shapes (model, tokens, TP) both parts profiled, >= 2,048 tokens."""
    rows_by = {}
    for r in csv.DictReader(open(path)):
        if float(r["num_tokens"]) >= 2048:
            rows_by.setdefault(r["part"], {})[(r["model"], r["num_tokens"], r["num_tensor_parallel_workers"])] = r
    slow, fast = rows_by["A100-SXM-80GB"], rows_by["H100-SXM-80GB"]
    ratios = {}
    for key, r in slow.items():
        h = fast.get(key)
        if h is None:
            continue
        for k in r:
            if k.endswith("_ms") and float(r[k]) > 0 and float(h[k]) > 0:
                ratios.setdefault(key[0], {}).setdefault(k[:-3], []).append(float(r[k]) / float(h[k]))
    for model, ops in sorted(ratios.items()):
        print(f"{model:28s} " + ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in ops.items()))


if vidur:
    vidur_ratios(vidur)
    sys.exit(0)
data = yaml.safe_load(open(os.path.join(root, "bench", "training_validation.yaml")))
# Pairs that are checks, not validation rows (bench/speedup_checks.yaml): their families and rows join the table's.
checks = yaml.safe_load(open(os.path.join(root, "bench", "speedup_checks.yaml")))
data["families"].update(checks["families"])
rows = {r["name"]: r for r in data["rows"] + checks["rows"]}

# (model, fast part's row, slow part's row): llm-foundry's H100 and A100 80GB tables, sequence 2,048; fms-fsdp's.
PAIRS = [
    ("MPT-3B", "MPT-3B (FSDP16, 16 H100)", "MPT-3B (FSDP8, 8 A100)"),
    ("MPT-7B", "MPT-7B (FSDP8, 8 H100)", "MPT-7B (FSDP8, 8 A100)"),
    ("MPT-13B", "MPT-13B (FSDP8, 8 H100)", "MPT-13B (FSDP8, 8 A100)"),
    ("MPT-30B", "MPT-30B (FSDP8, 8 H100, full recompute)", "MPT-30B (FSDP8, 8 A100, full recompute)"),
    ("MPT-70B/32", "MPT-70B (FSDP32, 32 H100, full recompute)", "MPT-70B (FSDP32, 32 A100, full recompute, PURE)"),
    ("MPT-70B/64", "MPT-70B (FSDP64, 64 H100, full recompute)", "MPT-70B (FSDP64, 64 A100, full recompute, PURE)"),
    # fms-fsdp's table (bench/speedup_checks.yaml): Llama 2, FSDP1, sequence 4,096, 2 per GPU on both parts.
    ("fms 7B", "fms 7B (96 H100)", "fms 7B (128 A100)"),
    ("fms 13B", "fms 13B (96 H100)", "fms 13B (128 A100)"),
    ("fms 34B", "fms 34B (96 H100)", "fms 34B (128 A100)"),
    ("fms 70B", "fms 70B (96 H100)", "fms 70B (128 A100)"),
]
# (model, part, layout with more micro-batches, layout with fewer): the same model at two micro-batch counts.
LAYOUTS = [
    ("MPT-30B", "H100", "MPT-30B (FSDP8, 8 H100, full recompute)", "MPT-30B (FSDP32, 32 H100, full recompute)"),
    ("MPT-70B", "H100", "MPT-70B (FSDP32, 32 H100, full recompute)", "MPT-70B (FSDP64, 64 H100, full recompute)"),
    ("MPT-70B", "A100", "MPT-70B (FSDP32, 32 A100, full recompute, PURE)", "MPT-70B (FSDP64, 64 A100, full recompute, PURE)"),
]
KINDS = ("gemm", "attention", "memory", "rest", "exposed", "optimizer")


def kind(kernel):
    if kernel.startswith("attention"):
        return "attention"
    if re.match(r"(qkv|attn_proj|mlp_up|mlp_down)(_dgrad|_wgrad)?$", kernel):
        return "gemm"
    return "memory"


def run(name):
    row = rows[name]
    fam = data["families"][row["family"]]
    out = tempfile.mkdtemp(prefix="lcsim-speedup-")
    cmd = [lcsim, "run", os.path.join(root, fam["scenario"]), "-q", "--no-progress", "-o", out]
    for s in fam["set"] + row["set"] + extra:
        cmd += ["--set", s]
    subprocess.run(cmd, check=True, capture_output=True)
    m = json.load(open(os.path.join(out, "metrics.json")))["metrics"]
    fwd = {k: 0.0 for k in KINDS}
    bwd = {k: 0.0 for k in KINDS}
    section = None
    for line in open(os.path.join(out, "report.txt")):
        if line.startswith("kernels of one dense layer"):
            section = fwd
            continue
        f = line.split()
        if section is None or len(f) < 4 or f[0] == "kernel":
            continue
        if f[0] == "forward":
            section = bwd
        elif f[0] == "backward":
            break
        else:
            section[kind(f[0])] += float(f[-1]) * 1e-6
    res = {k: 0.0 for k in KINDS}
    wl = yaml.safe_load(open(os.path.join(out, "scenario.resolved.yaml")))["workload"]
    layers = wl["model"]["num_layers"]
    recomputed = 0  # layers whose forward runs twice: all with full recompute, the first N with the block method
    if wl.get("recompute_granularity") == "full":
        recomputed = min(wl["recompute_num_layers"], layers) if wl.get("recompute_method") == "block" else layers
    for k in ("gemm", "attention", "memory"):
        res[k] = m["micro_batches"] * (layers * (fwd[k] + bwd[k]) + recomputed * fwd[k])
    res["rest"] = m["time_compute_s"] - sum(res[k] for k in ("gemm", "attention", "memory"))
    res["exposed"] = sum(m[f"time_exposed_{x}_s"] for x in ("tp", "cp", "ep", "pp", "dp")) + m["time_pipeline_bubble_s"]
    res["optimizer"] = m["time_optimizer_s"]
    it = m["iteration_time_s"]
    tokens = m["tokens_per_iteration"] / row["gpus"]  # per GPU per iteration
    return res, it, tokens, m


print("| model | part | iteration (s) | " + " | ".join(KINDS) + " | published (s) | lcsim tok/s/GPU vs published |")
print("|---|---|---:|" + "---:|" * len(KINDS) + "---:|---:|")
summary = []
for model, fast, slow in PAIRS:
    got = {}
    for label, name in (("fast", fast), ("slow", slow)):
        res, it, tokens, m = run(name)
        pub_it = tokens / rows[name]["measured"]  # the published run's seconds for this run's tokens per GPU
        got[label] = (res, it, tokens, pub_it)
        print(f"| {model} | {rows[name]['part']} | {it:.3f} | " + " | ".join(f"{res[k]:.3f}" for k in KINDS) +
              f" | {pub_it:.3f} | {it and (tokens / it) / rows[name]['measured'] - 1:+.1%} |")
    (rf, itf, tf, pf), (rs, its, ts, ps) = got["fast"], got["slow"]
    # Per token, so that pairs with different batches per GPU compare: seconds per token per GPU.
    sim = (its / ts) / (itf / tf)
    pub = (ps / ts) / (pf / tf)
    ratios = {k: (rs[k] / ts) / (rf[k] / tf) if rf[k] > 0 else float("nan") for k in KINDS}
    # What the fast part would need: its published time per token minus lcsim's other components, per component.
    need = {}
    for k in ("gemm", "attention", "memory", "rest"):
        other = itf - rf[k]
        need[k] = (pf - other) / rf[k] if rf[k] > 0 else float("nan")
    summary.append((model, sim, pub, ratios, need))

print()
print("| model | lcsim speed-up | published | excess | " + " | ".join(f"{k} ratio" for k in KINDS) +
      " | x needed on gemm / attention / memory / rest alone |")
print("|---|---:|---:|---:|" + "---:|" * len(KINDS) + "---|")
for model, sim, pub, ratios, need in summary:
    print(f"| {model} | {sim:.2f} | {pub:.2f} | {sim / pub - 1:+.1%} | " + " | ".join(f"{ratios[k]:.2f}" for k in KINDS) +
          " | " + " / ".join(f"{need[k]:.2f}" for k in ("gemm", "attention", "memory", "rest")) + " |")

print()
print("| model | part | per token: published / lcsim (ms) | per micro-batch: published / lcsim (s) | missing per layer-pass (ms) |")
print("|---|---|---:|---:|---:|")
for model, part, many, few in LAYOUTS:
    passes = 3 if "workload.recompute_granularity=full" in rows[many]["set"] else 2
    layers = next(int(x.split("=")[1]) for x in rows[many]["set"] if x.startswith("workload.model.num_layers="))
    runs = {name: run(name) for name in (many, few)}
    fits = []
    for label in ("published", "lcsim"):
        eq = []
        for name in (many, few):
            res, it, tokens, m = runs[name]
            eq.append((tokens, m["micro_batches"], tokens / rows[name]["measured"] if label == "published" else it))
        (t1, n1, y1), (t2, n2, y2) = eq
        c = (y1 * t2 - y2 * t1) / (n1 * t2 - n2 * t1)
        fits.append(((y1 - c * n1) / t1, c))
    (ap, cp), (al, cl) = fits
    print(f"| {model} | {part} | {ap * 1e3:.4f} / {al * 1e3:.4f} ({al / ap - 1:+.1%}) | {cp:.3f} / {cl:.3f} | "
          f"{(cp - cl) / (layers * passes) * 1e3:.2f} |")
