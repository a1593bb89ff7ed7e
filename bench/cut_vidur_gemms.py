#!/usr/bin/env python3
"""Cuts the training-size GEMMs out of vidur's per-operator profiles (docs/calibration.md, "Long GEMMs").

Reads microsoft/vidur's MLP profiles (data/profiling/compute/{part}/<org>/<model>/mlp.csv at commit 7d47513, MIT,
as named DIR/{part}_<model>_mlp.csv: the project's shared data folder's calibration/vidur_compute holds them; this
repository keeps only the cut) and writes models/hardware/calibration/data/
{part}_gemm_vidur_large.csv (`operator,dtype,m,n,k,time_us`, what `lcsim calibrate` reads): every row of 2,048 to
4,096 tokens becomes its four projection GEMMs (models/hardware/calibration/data/README.md, "Op -> GEMM mapping"):
fused QKV T x (a + 2g)d/t x h, attention output T x h x ad/t, up (gate + up when the model is gated) T x f/t (x2) x h,
down T x h x f/t, with the op's median time (ms x 1000). One row per model, TP, op and token count (the first when
a file repeats one). With --provenance also writes the rows' model, TP, op, token count, min/max and source file.

Usage: bench/cut_vidur_gemms.py h100|a100 --profiles DIR [--provenance FILE]"""
import csv, glob, os, sys

args = sys.argv[1:]
if not args or args[0] not in ("h100", "a100"):
    sys.exit(__doc__)
part, provenance = args[0], None
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
shared = None
i = 1
while i < len(args):
    if args[i] == "--provenance":
        provenance = args[i + 1]; i += 2
    elif args[i] == "--profiles":
        shared = args[i + 1]; i += 2
    else:
        sys.exit(f"unknown argument '{args[i]}'\n" + __doc__)
if shared is None:
    sys.exit("bench/cut_vidur_gemms.py: --profiles DIR is required (the folder of vidur's {part}_<model>_mlp.csv)\n" + __doc__)
MIN_TOKENS = 2048

out_path = os.path.join(root, "models", "hardware", "calibration", "data", f"{part}_gemm_vidur_large.csv")
rows, seen = [], set()
for path in sorted(glob.glob(os.path.join(shared, f"{part}_*_mlp.csv"))):
    model = os.path.basename(path)[len(part) + 1:-len("_mlp.csv")]
    for r in csv.DictReader(open(path)):
        tokens, tp = int(r["num_tokens"]), int(r["num_tensor_parallel_workers"])
        if tokens < MIN_TOKENS:
            continue
        h, heads, kv, f = int(r["n_embd"]), int(r["n_head"]), int(r["n_kv_head"]), int(r["n_expanded_embd"])
        d = h // heads
        shapes = {"attn_pre_proj": (tokens, (heads + 2 * kv) * d // tp, h),
                  "attn_post_proj": (tokens, h, heads * d // tp),
                  "mlp_up_proj": (tokens, f * (2 if r["use_gated_mlp"] == "True" else 1) // tp, h),
                  "mlp_down_proj": (tokens, h, f // tp)}
        for op, (m, n, k) in shapes.items():
            if (model, tp, op, tokens) in seen:
                continue
            seen.add((model, tp, op, tokens))
            us = lambda stat: float(r[f"time_stats.{op}.{stat}"]) * 1e3
            rows.append((m, n, k, us("median"), model, tp, op, tokens, us("min"), us("max"),
                         "data/calibration/vidur_compute/" + os.path.basename(path)))
if not rows:
    sys.exit(f"no {part} profiles under {shared}")
with open(out_path, "w") as out:
    out.write("operator,dtype,m,n,k,time_us\n")
    for m, n, k, t, *_ in rows:
        out.write(f"gemm,fp16,{m},{n},{k},{t:.1f}\n")
if provenance:
    with open(provenance, "w") as out:
        out.write("operator,dtype,m,n,k,time_us,model,tp,vidur_op,num_tokens,min_us,max_us,source_file\n")
        for m, n, k, t, model, tp, op, tokens, lo, hi, src in rows:
            out.write(f"gemm,fp16,{m},{n},{k},{t:.1f},{model},{tp},{op},{tokens},{lo:.1f},{hi:.1f},{src}\n")
print(f"{out_path}: {len(rows)} GEMMs")
