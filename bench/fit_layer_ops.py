#!/usr/bin/env python3
"""Fits the memory-bound kernel efficiencies of the operator cost model (KernelCalibration's norm_efficiency,
activation_efficiency, rope_efficiency; docs/calibration.md) to measured per-operator times.

Data: data/calibration/vidur_{a100,h100}_layer_ops.csv, cut from microsoft/vidur's per-operator profiles of
Llama-2 7B and 70B (data/README.md): median kernel times (ms) of the RMSNorm, the rotary embedding and the SwiGLU
activation (silu x mul) by token count and tensor-parallel size, fp16, one GPU.
Model (models/hardware/op_cost.cc, workloads/training/gpt_model.cc): time = bytes / (HBM bandwidth x efficiency)
+ kernel_launch, with the bytes lcsim counts for the kernel: norm 2 x tokens x h elements (read, write), rotary
2 x tokens x (q + kv heads per GPU) x head dim, SwiGLU 3 x tokens x f / TP; 2 bytes each. kernel_launch and the
bandwidth are the part's catalog values. One efficiency per kernel kind and part, least squares on log time
(a golden-section search; deterministic), over the rows with at least MIN_TOKENS tokens.
B200 (since 6 Dec 2026): RMSNorm from data/calibration/b200_rmsnorm_forward.csv, measured forward times of four
RMSNorm kernels on B200 (meta-pytorch/tritonbench PR #1130: quack, torch.compile, int21; linkedin/Liger-Kernel PR
#1462: its CuTe DSL kernel); since the second session of 6 Dec 2026 also the SwiGLU activation and the rotary
embedding from data/calibration/b200_swiglu_rope_forward.csv (Liger-Kernel's own benchmark tables on an NVIDIA B200,
v0.8.2, August 2026: its fused Triton and CuTe DSL kernels, forward, BF16, triton.testing.do_bench, which flushes the
L2 cache before each timed call; SwiGLU of 13,824 and 14,336 columns, rotary of 32 query and 4 or 8 key/value heads
and of 48 and 8, head dim 128, batch 1), the same model and loss; SwiGLU's bytes as lcsim's (gate and up read, the
product written: 3 x tokens x n_cols), the rotary's as lcsim's (queries and keys read and written; the cos / sin
tables, 3% of the bytes, are not counted).
H100's loss kernels (since 6 Dec 2026, second session; loss_efficiency): Megatron-core's own vocab-parallel
cross-entropy, fused (cross_entropy_loss_fusion) and unfused, timed by Liger-Kernel's benchmark on an H100 80GB HBM3
(data/calibration/h100_megatron_cross_entropy.csv: bf16 logits of 8,192 tokens and 4,096 to 131,072 words, one rank,
triton.testing.do_bench; forward, and forward with backward from a fresh graph); the model is lcsim's own
(cross_entropy_bytes_per_logit: 26 B per logit fused, 38 unfused, 14 more for backward; one launch per pass).
Usage: bench/fit_layer_ops.py [--min-tokens N]"""
import csv, math, os, re, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
min_tokens = int(sys.argv[sys.argv.index("--min-tokens") + 1]) if "--min-tokens" in sys.argv else 1024
parts = {"a100": "a100-sxm-80gb.yaml", "h100": "h100-sxm-80gb.yaml"}


def catalog(name):
    text = open(os.path.join(root, "models/hardware/catalog/accelerators", name)).read()
    bw = re.search(r"^hbm_bandwidth:\s*([\d.]+)(TB/s|GB/s)", text, re.M)
    launch = re.search(r"^\s+kernel_launch:\s*([\d.]+)us", text, re.M)
    # Without a kernel_launch of its own a part takes KernelCalibration's default, 4 us (models/hardware/accelerator.h).
    return float(bw.group(1)) * (1e12 if bw.group(2) == "TB/s" else 1e9), float(launch.group(1) if launch else 4) * 1e-6


def golden(f, lo, hi, iters=80):
    g = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    for _ in range(iters):
        c, d = b - g * (b - a), a + g * (b - a)
        if f(c) < f(d):
            b = d
        else:
            a = c
    return (a + b) / 2


def report(part, kind, data, bw, launch):
    """data: (bytes, time) or (bytes, time, launches) per measured kernel or chain of kernels."""
    data = [d if len(d) == 3 else (d[0], d[1], 1) for d in data]
    loss = lambda e: sum(math.log((b / (bw * e) + n * launch) / t) ** 2 for b, t, n in data)
    e = golden(loss, 0.05, 1.0)
    errs = sorted(abs((b / (bw * e) + n * launch) / t - 1) for b, t, n in data)
    print(f"{part} {kind:10s} efficiency {e:.3f}  ({len(data)} kernels; |error| median {errs[len(errs) // 2]:.1%}, "
          f"p90 {errs[len(errs) * 9 // 10]:.1%}, max {errs[-1]:.1%})")


for part, yaml_name in parts.items():
    bw, launch = catalog(yaml_name)
    rows = [r for r in csv.DictReader(open(os.path.join(root, f"data/calibration/vidur_{part}_layer_ops.csv")))
            if int(r["num_tokens"]) >= min_tokens]
    samples = {"norm": [], "rope": [], "activation": []}
    for r in rows:
        T, h, f = int(r["num_tokens"]), int(r["n_embd"]), int(r["n_expanded_embd"])
        tp, heads, kv = int(r["num_tensor_parallel_workers"]), int(r["n_head"]), int(r["n_kv_head"])
        d = h / heads
        a, g = heads / tp, max(1.0, kv / tp)
        samples["norm"].append((2 * T * h * 2, float(r["time_stats.input_layernorm.median"]) * 1e-3))
        samples["rope"].append((2 * T * (a + g) * d * 2, float(r["time_stats.attn_rope.median"]) * 1e-3))
        samples["activation"].append((3 * T * f / tp * 2, float(r["time_stats.mlp_act.median"]) * 1e-3))
    for kind, data in samples.items():
        report(part, kind, data, bw, launch)

bw, launch = catalog("b200.yaml")
rows = [r for r in csv.DictReader(open(os.path.join(root, "data/calibration/b200_rmsnorm_forward.csv")))
        if int(r["tokens"]) >= min_tokens]
report("b200", "norm", [(2 * int(r["tokens"]) * int(r["hidden"]) * 2, float(r["time_us"]) * 1e-6) for r in rows],
       bw, launch)
rows = [r for r in csv.DictReader(open(os.path.join(root, "data/calibration/b200_swiglu_rope_forward.csv")))
        if int(r["tokens"]) >= min_tokens]
report("b200", "activation", [(3 * int(r["tokens"]) * int(r["n_cols"]) * 2, float(r["time_us"]) * 1e-6)
                              for r in rows if r["kernel"] == "swiglu"], bw, launch)
report("b200", "rope", [(2 * int(r["tokens"]) * (int(r["q_heads"]) + int(r["kv_heads"])) * int(r["head_dim"]) * 2,
                         float(r["time_us"]) * 1e-6) for r in rows if r["kernel"] == "rope"], bw, launch)

bw, launch = catalog("h100-sxm-80gb.yaml")
rows = list(csv.DictReader(open(os.path.join(root, "data/calibration/h100_megatron_cross_entropy.csv"))))
loss_data = []
for r in rows:
    per_logit = 26 if r["implementation"] == "fused" else 38  # gpt_model.cc, cross_entropy_bytes_per_logit (bf16)
    both = r["mode"] == "forward_backward"
    logits = int(r["tokens"]) * int(r["vocab"])
    loss_data.append((logits * (per_logit + (14 if both else 0)), float(r["time_us"]) * 1e-6, 2 if both else 1))
report("h100", "loss", loss_data, bw, launch)
