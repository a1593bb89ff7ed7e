#!/usr/bin/env python3
"""Compares the inference serving model's per-layer cost (workloads/inference/serving_model.cc) with measured
per-operator profiles, and prints the error table of docs/validation.md ("Inference serving: per-layer costs
against vidur's profiles").

Data: data/calibration/vidur_serving_layers.csv, cut from microsoft/vidur's profiling/compute/{a100,h100}/*/mlp.csv
(data/README.md): median kernel times (ms) of everything in one transformer layer but attention (two RMSNorms, the
QKV and output projections, rotary, the gated MLP's up and down projections and its SwiGLU, the residual add), by
token count and tensor-parallel size, fp16, one GPU. Rows with at most 256 tokens are a decode batch of that many
sequences (memory-bound), rows with 512 to 4,096 tokens a prefill chunk (compute-bound).
Model (InstanceCost::layer_seconds_without_attention): max(2 t P / TP / (bf16 peak x gemm_efficiency),
2 P / TP / (HBM x memory_efficiency)) + the kernels between the GEMMs (bytes at the part's norm / activation /
rope efficiency; the add at memory_efficiency) + 9 kernel_launch, P = 2h^2 + 2h kv + 3hf. Constants: the part's
catalog entry. The C++ test InferenceCalibration.ServingModelWithinDocumentedErrorOfVidur checks a few rows.
Usage: bench/validate_serving.py [--rows] [--roofline]   (--rows: every row with its prediction; --roofline: the
model before the kernels between the GEMMs were costed, for comparison)"""
import csv, os, re, statistics, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_args

opts = bench_args.parse("bench/validate_serving.py [--rows] [--roofline]", flags=("--rows", "--roofline"),
                        build_dir=False)
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
files = {"H100-SXM-80GB": "h100-sxm-80gb.yaml", "A100-SXM-80GB": "a100-sxm-80gb.yaml"}


def catalog(name):
    text = open(os.path.join(root, "models/hardware/catalog/accelerators", name)).read()
    num = lambda key: float(re.search(r"^\s+%s:\s*([\d.]+)" % key, text, re.M).group(1))
    bw = re.search(r"^hbm_bandwidth:\s*([\d.]+)(TB/s|GB/s)", text, re.M)
    peak = re.search(r"^\s+bf16:\s*([\d.]+)TFLOP/s", text, re.M)
    return {"peak": float(peak.group(1)) * 1e12, "hbm": float(bw.group(1)) * (1e12 if bw.group(2) == "TB/s" else 1e9),
            "gemm": num("gemm_efficiency"), "mem": num("memory_efficiency"), "norm": num("norm_efficiency"),
            "act": num("activation_efficiency"), "rope": num("rope_efficiency"), "launch": num("kernel_launch") * 1e-6}


def predict(c, r, roofline=False):
    h, nh, nkv = int(r["n_embd"]), int(r["n_head"]), int(r["n_kv_head"])
    f, t, tp = int(r["n_expanded_embd"]), int(r["num_tokens"]), int(r["num_tensor_parallel_workers"])
    d = h / nh
    p = 2 * h * h + 2 * h * nkv * d + 3 * h * f
    gemm = max(2 * t * p / tp / (c["peak"] * c["gemm"]), p * 2 / tp / (c["hbm"] * c["mem"]))
    if roofline:  # the model before the kernels between the GEMMs were costed: one launch per layer
        return gemm + c["launch"]
    between = (t * 2 * 2 * h * 2 / c["norm"] + t * 3 * f / tp * 2 / c["act"] + t * 2 * (nh + nkv) / tp * d * 2 / c["rope"]
               + t * 3 * h * 2 / c["mem"]) / c["hbm"]
    return gemm + between + 9 * c["launch"]


ops = ["input_layernorm", "attn_pre_proj", "attn_rope", "attn_post_proj", "post_attention_layernorm", "mlp_up_proj",
       "mlp_act", "mlp_down_proj", "add"]
consts = {p: catalog(f) for p, f in files.items()}
groups = {}
show_rows = opts["--rows"]
for r in csv.DictReader(open(os.path.join(root, "data/calibration/vidur_serving_layers.csv"))):
    measured = sum(float(r[o + "_ms"]) for o in ops) * 1e-3
    pred = predict(consts[r["part"]], r, opts["--roofline"])
    err = pred / measured - 1
    phase = "decode" if int(r["num_tokens"]) <= 256 else "prefill"
    groups.setdefault((r["part"], r["model"], phase), []).append(err)
    if show_rows:
        print("%s,%s,%s,%s,%.6g,%.6g,%+.3f" % (r["part"], r["model"], r["num_tokens"],
                                               r["num_tensor_parallel_workers"], measured * 1e3, pred * 1e3, err))
if not show_rows:
    print("| part | model | part of serving | rows | median error | max abs error |")
    print("|---|---|---|---:|---:|---:|")
    for (part, model, phase), e in sorted(groups.items()):
        print("| %s | %s | %s (%s tokens) | %d | %+.1f%% | %.1f%% |" % (
            part, model, phase, "1-256" if phase == "decode" else "512-4,096", len(e), 100 * statistics.median(e),
            100 * max(abs(x) for x in e)))
    alle = [x for e in groups.values() for x in e]
    print("\nall %d rows: median %+.1f%%, median abs %.1f%%, p90 abs %.1f%%" % (
        len(alle), 100 * statistics.median(alle), 100 * statistics.median([abs(x) for x in alle]),
        100 * sorted(abs(x) for x in alle)[int(0.9 * len(alle))]))
