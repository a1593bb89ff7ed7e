#!/usr/bin/env python3
"""Holds lcsim's MoE layer against Megatron-LM's own MoE layer benchmark on H100 (tests/functional_tests/test_cases/
common/moe_perf in NVIDIA/Megatron-LM: one MoELayer with Transformer Engine's grouped GEMM, EP 8 and TP 1 on one
8-GPU H100 node, 4,096 tokens per rank, the fused permutation and router, forced load balancing, an aux loss; forward
and backward timed with CUDA events, the mean of 20 iterations after 5 warm-ups, each after a dummy 8192^3 GEMM;
its recorded baselines are data/calibration/megatron_moe_perf_h100.csv). Two model proxies (DeepSeek: hidden 7,168,
32 experts of 2,048, top-8 in 4 of 8 groups, sigmoid with expert bias; Mixtral: hidden 4,096, 8 experts of 14,336,
top-2), three dispatchers (alltoall; DeepEP and HybridEP, both lcsim's flex) and two precisions (BF16; FP8 with
block scaling). Usage:
    bench/validate_moe_layer.py [BUILD_DIR] [--markdown] [--set KEY=VALUE ...]
lcsim runs scenarios/validation/moe-layer-h100.yaml (a one-layer model) per case; the layer is its kernels from the
router to the unpermutation (the report's kernel table, between norm2 and residual2, forward and backward) plus its
two expert all-to-alls (the timeline's spans), one after another as the benchmark's single stream runs them.
Prints measured against lcsim, forward and backward, and the mean |error|."""
import csv, json, os, re, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_args

USAGE = "bench/validate_moe_layer.py [BUILD_DIR] [--markdown] [--set KEY=VALUE ...]"
opts = bench_args.parse(USAGE, flags=("--markdown",), valued={"--set": str}, repeated=("--set",))
build, sets, markdown = opts["build"], opts["--set"], opts["--markdown"]
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
lcsim = bench_args.lcsim_binary(USAGE, root, build)

MODELS = {  # the benchmark's MoEModelConfig proxies (test_cases.py); no shared expert: the harness does not pass it
    "deepseek_proxy": "{num_layers: 1, hidden_size: 7168, ffn_hidden_size: 18432, num_attention_heads: 8, "
                      "seq_length: 4096, vocab_size: 32000, swiglu: true, normalization: RMSNorm, "
                      "position_embedding_type: rope, add_bias_linear: false, num_experts: 32, moe_router_topk: 8, "
                      "moe_ffn_hidden_size: 2048, moe_router_num_groups: 8, moe_router_group_topk: 4, "
                      "moe_router_score_function: sigmoid, moe_router_enable_expert_bias: true}",
    "mixtral_proxy": "{num_layers: 1, hidden_size: 4096, ffn_hidden_size: 14336, num_attention_heads: 8, "
                     "seq_length: 4096, vocab_size: 32000, swiglu: true, normalization: RMSNorm, "
                     "position_embedding_type: rope, add_bias_linear: false, num_experts: 8, moe_router_topk: 2, "
                     "moe_ffn_hidden_size: 14336}",
}


def layer_times(out):
    """(forward, backward) seconds of the MoE layer in one run's outputs."""
    report = open(os.path.join(out, "report.txt")).read()
    table = report[report.index("kernels of one MoE layer"):]
    times, inside = {"f": 0.0, "b": 0.0}, None
    for line in table.splitlines()[2:]:
        if line.strip().startswith(("forward total", "backward total")):
            if line.strip().startswith("backward total"):
                break
            continue
        m = re.match(r"\s+(\S+)\s+[\d.]+\s+[\d.]+\s+([\d.]+)$", line)
        if not m:
            continue
        name, us = m.group(1), float(m.group(2))
        if name in ("norm2", "norm2_bwd"):
            inside = "b" if name.endswith("_bwd") else "f"
        elif name in ("residual2", "residual2_bwd"):
            inside = None
        elif inside:
            times[inside] += us * 1e-6
    events = json.load(open(os.path.join(out, "timeline.json")))["traceEvents"]
    for e in events:
        if e.get("ph") == "X" and e["name"].startswith("ep all-to-all"):
            times["b" if e["name"].endswith("(bwd)") else "f"] += e["dur"] * 1e-6
    return times["f"], times["b"]


rows = list(csv.DictReader(open(os.path.join(root, "data", "calibration", "megatron_moe_perf_h100.csv"))))
print("| case | measured forward (ms) | lcsim | error | measured backward (ms) | lcsim | error |" if markdown
      else f"{'case':32s} {'fwd meas':>9} {'lcsim':>7} {'error':>7}   {'bwd meas':>9} {'lcsim':>7} {'error':>7}")
if markdown:
    print("|---|---:|---:|---:|---:|---:|---:|")
errs = {"f": [], "b": []}
for r in rows:
    extra = [f"workload.model={MODELS[r['model']]}",
             "workload.moe_token_dispatcher_type=" + ("alltoall" if r["dispatcher"] == "alltoall" else "flex")]
    if r["precision"] == "fp8_blockwise":
        extra += ["workload.precision=fp8", "workload.fp8_recipe=blockwise"]
    with tempfile.TemporaryDirectory() as out:
        cmd = [lcsim, "run", os.path.join(root, "scenarios", "validation", "moe-layer-h100.yaml"), "-q", "--no-progress",
               "-o", out]
        for s in extra + sets:
            cmd += ["--set", s]
        subprocess.run(cmd, check=True)
        f, b = layer_times(out)
    mf, mb = float(r["forward_ms"]) * 1e-3, float(r["backward_ms"]) * 1e-3
    ef, eb = f / mf - 1, b / mb - 1
    errs["f"].append(ef)
    errs["b"].append(eb)
    print(f"| {r['case']} | {mf * 1e3:.2f} | {f * 1e3:.2f} | {100 * ef:+.1f}% | {mb * 1e3:.2f} | {b * 1e3:.2f} | {100 * eb:+.1f}% |"
          if markdown else
          f"{r['case']:32s} {mf * 1e3:9.2f} {f * 1e3:7.2f} {100 * ef:+6.1f}%   {mb * 1e3:9.2f} {b * 1e3:7.2f} {100 * eb:+6.1f}%")
for k, label in (("f", "forward"), ("b", "backward")):
    e = errs[k]
    print(f"{label}: {len(e)} cases, mean |error| {100 * sum(abs(x) for x in e) / len(e):.1f}%, "
          f"mean signed {100 * sum(e) / len(e):+.1f}% (positive: lcsim slower)")
