#!/usr/bin/env python3
"""Fits Blackwell's fused-attention curves (KernelCalibration's attention_forward_* / attention_backward_* and the
attention_backends entries; docs/calibration.md, "Blackwell kernels") to measured kernel throughput.

Data: models/hardware/calibration/data/b200_gb200_attention_cudnn_fe.csv, NVIDIA/cudnn-frontend's SDPA training
benchmarks (run b200_pytorch: B200, NGC PyTorch 25.06, cuDNN 9.10.2 and flash_attn 2.7.4 through PyTorch, now
fitted for FlashAttention-2 only; run b200_frontend_91301: B200, cuDNN 9.13.1 through cudnn-frontend 1.14.1, NGC
PyTorch 25.09; run gb200_frontend: GB200, cuDNN through cudnn-frontend and PyTorch's FlashAttention-2), causal,
batch 1, 128 query and 8 key/value heads of 128, BF16; TFLOP/s as lcsim counts them (forward 4 b h s^2 d / 2,
backward 2.5 x).
Model (models/hardware/op_cost.cc attention_time): time = FLOPs / (16-bit peak x plateau x s / (s + seq_half))
+ kernel_launch (the part's: 4 us, the default); one plateau and seq_half per part, kernel and pass, least squares
on log time over a grid (plateau step 0.002, seq_half step 25; deterministic), over MIN to MAX tokens.
The run gb200_llama31_cudnn927 (batch 2, 64 / 8 heads, cuDNN 9.27, causal and not) is a check of GB200's cuDNN curve
and, since 5 Dec 2026, evening 2, the data of its FlashAttention-4 curve; gb300_llama31_cudnn926 (the same layer on
GB300, cuDNN 9.26) those of GB300's cuDNN and FlashAttention-4 curves. Only causal rows are fitted.
Usage: bench/fit_attention_curves.py [--min N] [--max N]"""
import csv, math, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_args

USAGE = "bench/fit_attention_curves.py [--min N] [--max N]"
opts = bench_args.parse(USAGE, valued={"--min": bench_args.positive_int, "--max": bench_args.positive_int},
                        build_dir=False)
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
lo, hi = opts.get("--min", 4096), opts.get("--max", 32768)
if lo > hi:
    bench_args.fail(USAGE, f"--min {lo} is above --max {hi}")
peaks = {"B200": 2250e12, "GB200-GPU": 2500e12, "GB300-GPU": 2500e12}
launch = 4e-6
# The run each (part, kernel) curve is fitted to: B200's cuDNN since 5 Dec 2026, evening 2, the newer run through
# cudnn-frontend (cuDNN 9.13.1, NGC PyTorch 25.09; artifacts/sdpa_fp8_benchmark_results_NVIDIA_B200.csv's bf16 rows),
# before that the PyTorch run with cuDNN 9.10.2.
# FlashAttention-4 (flash4) on GB200 and GB300, and GB300's cuDNN, since the same evening: the runner sweeps of the
# Llama 3.1 layer at batch 2, 64 / 8 heads (GB200 cuDNN 9.27, GB300 cuDNN 9.26), their causal rows.
fitted_runs = {("B200", "cudnn"): "b200_frontend_91301", ("B200", "flash2"): "b200_pytorch",
               ("GB200-GPU", "cudnn"): "gb200_frontend", ("GB200-GPU", "flash2"): "gb200_frontend",
               ("GB200-GPU", "flash4"): "gb200_llama31_cudnn927",
               ("GB300-GPU", "cudnn"): "gb300_llama31_cudnn926", ("GB300-GPU", "flash4"): "gb300_llama31_cudnn926"}
rows = list(csv.DictReader(open(os.path.join(root, "models/hardware/calibration/data/b200_gb200_attention_cudnn_fe.csv"))))


def flops(r):
    b, h, d, s = (float(r[k]) for k in ("batch", "q_heads", "head_dim", "seq_len"))
    f = 4 * b * h * s * s * d / (2 if r["causal"] == "true" else 1)
    return f * (2.5 if r["pass"] == "backward" else 1)


def predicted_s(r, plateau, half):
    s = float(r["seq_len"])
    return flops(r) / (peaks[r["part"]] * plateau * s / (s + half)) + launch


def fit(points):
    best = None
    for hs in range(0, 20001, 25):
        for ps in range(50, 1000, 2):
            p = ps / 1000
            err = sum(math.log(predicted_s(r, p, hs) * float(r["tflops"]) * 1e12 / flops(r)) ** 2 for r in points)
            if best is None or err < best[0]:
                best = (err, p, hs)
    return best[1], best[2]


print("| part | kernel | pass | plateau | seq_half | error by tokens (lcsim / measured - 1) |")
print("|---|---|---|---:|---:|---|")
for (part, kernel), run in fitted_runs.items():
    for pas in ("forward", "backward"):
        pts = [r for r in rows if r["run"] == run and r["kernel"] == kernel and r["pass"] == pas and
               r["causal"] == "true" and lo <= int(r["seq_len"]) <= hi]
        if not pts:
            continue
        p, h = fit(pts)
        errs = ", ".join(f"{r['seq_len']}: {flops(r) / predicted_s(r, p, h) / 1e12 / float(r['tflops']) - 1:+.1%}"
                         for r in pts)
        print(f"| {part} | {kernel} | {pas} | {p:.3f} | {h} | {errs} |")
