#!/usr/bin/env python3
"""FP8-over-BF16 speedup of one published run, lcsim against the measurement (docs/validation.md, "FP8 training").

The measurement: torchao's float8 README (pytorch/ao, torchao/float8/README.md, "Training benchmarks", NVIDIA H100):
torchtitan Llama 3 8B on 8 H100s, FSDP2, local batch 1, sequence 8,192, torch.compile, per-op selective activation
checkpointing; bf16 6,150 tokens/s, float8 tensorwise (dynamic scaling, float8 all-gather) 7,689.5 tokens/s:
+25.03%. lcsim runs the same layout with bench/training_validation.yaml's torchtitan family settings, in bf16 and in
FP8 (its fp8_recipe: tensorwise), on the H100 SXM 80 GB and on the torchtitan rows' 96 GB part (the README does not
say which H100 it ran on), and prints both speedups. A ratio, so it does not depend on lcsim's absolute error.

Usage: bench/fp8_speedup.py [BUILD_DIR] [--set KEY=VALUE ...]
"""
import argparse, json, os, subprocess, tempfile

import yaml

parser = argparse.ArgumentParser(description="FP8-over-BF16 speedup, lcsim against torchao's measurement")
parser.add_argument("build", nargs="?", default="build")
parser.add_argument("--set", action="append", default=[], dest="extra", help="an override for every run")
opts = parser.parse_args()
extra = opts.extra
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
lcsim = os.path.join(root, opts.build, "apps", "lcsim")
family = yaml.safe_load(open(os.path.join(root, "bench", "training_validation.yaml")))["families"]["torchtitan"]
MEASURED = {"bf16": 6150.0, "fp8": 7689.5}
LAYOUT = ["workload.global_batch_size=8", "workload.micro_batch_size=1", "workload.recompute_granularity=selective"]
STANDARD_PART = "cluster.accelerator=H100-SXM-80GB"


def tokens_per_s(precision, part_sets):
    out = tempfile.mkdtemp(prefix="lcsim-fp8-")
    cmd = [lcsim, "run", os.path.join(root, family["scenario"]), "-q", "--no-progress", "-o", out]
    for s in family["set"] + part_sets + LAYOUT + [f"workload.precision={precision}"] + extra:
        cmd += ["--set", s]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"lcsim failed ({precision}): {r.stderr.strip()}")
    return json.load(open(os.path.join(out, "metrics.json")))["metrics"]["tokens_per_s"] / 8


measured = MEASURED["fp8"] / MEASURED["bf16"]
print(f"measured (torchao README, 8 H100): bf16 {MEASURED['bf16']:.0f}, fp8 {MEASURED['fp8']:.1f} tokens/s/GPU, "
      f"speedup {measured:.3f}")
for label, part_sets in (("H100 SXM 80 GB", [STANDARD_PART]), ("torchtitan rows' 96 GB part", [])):
    bf16, fp8 = tokens_per_s("bf16", part_sets), tokens_per_s("fp8", part_sets)
    print(f"lcsim, {label}: bf16 {bf16:.0f}, fp8 {fp8:.0f} tokens/s/GPU, speedup {fp8 / bf16:.3f} "
          f"({(fp8 / bf16) / measured - 1:+.1%} against the measured speedup)")
