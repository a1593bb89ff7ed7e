#!/usr/bin/env python3
"""Holds the `megatron` workload against published training throughput (docs/validation.md, "Training"):
  * Narayanan et al., SC'21, Table 1: GPT models of 1.7B to 1T parameters on up to 3,072 A100 80GB (Selene).
    The paper's teraFLOP/s per GPU count a recomputed forward pass (F = 96 B s l h^2 (1 + s/(6h) + V/(16 l h))),
    so its iteration time is F / (TFLOP/s x GPUs); lcsim's iteration time is turned into the same count.
  * the same paper, section 5.1: GPT-3 175B on 1,024 A100s, batch 1,536, 140 TFLOP/s per GPU.
  * Llama 3 405B on 8,192 and 16,384 H100s (Llama Team 2024, Table 4): 430 and 400 TFLOP/s per GPU.
  * DeepSeek-V3 on 2,048 H800s: 180K GPU-hours per trillion tokens (1,543 tokens/s per GPU).
Usage: bench/validate_training.py [BUILD_DIR] [--markdown] [--only NAME-PREFIX]
Each row runs lcsim once (analytical network model); prints measured, lcsim and the error per row."""
import json, os, subprocess, sys, tempfile

args = sys.argv[1:]
build, markdown, only = "build", False, ""
i = 0
while i < len(args):
    if args[i] == "--markdown":
        markdown = True; i += 1
    elif args[i] == "--only":
        only = args[i + 1]; i += 2
    else:
        build = args[i]; i += 1
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
lcsim = os.path.join(root, build, "apps", "lcsim")
training = os.path.join(root, "scenarios", "training")


def run(scenario, sets):
    out = tempfile.mkdtemp(prefix="lcsim-val-")
    cmd = [lcsim, "run", scenario, "-q", "--no-progress", "-o", out] + sum((["--set", s] for s in sets), [])
    subprocess.run(cmd, check=True)
    return json.load(open(os.path.join(out, "metrics.json")))["metrics"]


rows = []  # (name, source, measured, lcsim, unit, notes)

# --- Narayanan et al. SC'21 Table 1 (vocabulary 51,200, sequence 2,048) -------------------------------------
# params, heads, hidden, layers, TP, PP, GPUs, batch, published TFLOP/s per GPU
table1 = [
    ("1.7B", 24, 2304, 24, 1, 1, 32, 512, 137),
    ("3.6B", 32, 3072, 30, 2, 1, 64, 512, 138),
    ("7.5B", 32, 4096, 36, 4, 1, 128, 512, 142),
    ("18.4B", 48, 6144, 40, 8, 1, 256, 1024, 135),
    ("39.1B", 64, 8192, 48, 8, 2, 512, 1536, 138),
    ("76.1B", 80, 10240, 60, 8, 4, 1024, 1792, 140),
    ("145.6B", 96, 12288, 80, 8, 8, 1536, 2304, 148),
    ("310.1B", 128, 16384, 96, 8, 16, 1920, 2160, 155),
    ("529.6B", 128, 20480, 105, 8, 35, 2520, 2520, 163),
    ("1008B", 160, 25600, 128, 8, 64, 3072, 3072, 163),
]
base = os.path.join(training, "gpt3-175b-a100-1024.yaml")
for name, a, h, l, tp, pp, gpus, batch, published in table1:
    label = f"GPT {name} ({tp}x{pp}, {gpus} A100)"
    if only and not label.startswith(only):
        continue
    sets = [f"cluster.pools=[{{name: dgx, node: dgx-a100, count: {gpus // 8}}}]",
            f"workload.model.num_attention_heads={a}", f"workload.model.hidden_size={h}",
            f"workload.model.num_layers={l}", f"workload.tensor_model_parallel_size={tp}",
            f"workload.pipeline_model_parallel_size={pp}", "workload.num_layers_per_virtual_pipeline_stage=0",
            f"workload.global_batch_size={batch}"]
    m = run(base, sets)
    s, V = 2048, 51200
    flops = 96 * batch * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h))
    rows.append((label, "SC'21 Table 1", published, flops / m["iteration_time_s"] / gpus / 1e12, "TFLOP/s/GPU (with recompute)"))

# --- GPT-3 175B, SC'21 section 5.1 ------------------------------------------------------------------------------
if not only or "GPT-3".startswith(only[:5]):
    m = run(base, [])
    B, s, l, h, V = 1536, 2048, 96, 12288, 51200
    flops = 96 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h))
    rows.append(("GPT-3 175B (8x16 interleaved, 1,024 A100)", "SC'21 5.1", 140, flops / m["iteration_time_s"] / 1024 / 1e12,
                 "TFLOP/s/GPU (with recompute)"))

# --- Llama 3 405B, Table 4 --------------------------------------------------------------------------------------
l3 = os.path.join(training, "llama3-405b-h100-16k.yaml")
for gpus, published in ((8192, 430), (16384, 400)):
    label = f"Llama 3 405B (8x16x{gpus // 128}, {gpus:,} H100)"
    if only and not label.startswith(only):
        continue
    # 16M tokens per batch either way: 2,048 sequences of 8,192.
    m = run(l3, [f"cluster.nodes={gpus // 8}"])
    rows.append((label, "Llama 3 Table 4", published, m["tflops_per_gpu"], "TFLOP/s/GPU (model FLOPs)"))

# --- DeepSeek-V3 ------------------------------------------------------------------------------------------------
if not only or "DeepSeek".startswith(only[:8]):
    m = run(os.path.join(training, "deepseek-v3-h800-2048.yaml"), [])
    rows.append(("DeepSeek-V3-style MoE (PP16 EP64, 2,048 H800)", "DeepSeek-V3 report", 1e12 / (180e3 * 3600),
                 m["tokens_per_s"] / 2048, "tokens/s/GPU"))

if markdown:
    print("| run | source | published | lcsim | unit | error |")
    print("|---|---|---:|---:|---|---:|")
for name, src, pub, sim, unit in rows:
    err = (sim / pub - 1) * 100
    if markdown:
        print(f"| {name} | {src} | {pub:.0f} | {sim:.0f} | {unit} | {err:+.1f}% |")
    else:
        print(f"{name:48s} {src:20s} published {pub:8.1f}  lcsim {sim:8.1f}  {unit:30s} {err:+6.1f}%")
errs = [abs(r[3] / r[2] - 1) * 100 for r in rows]
if errs:
    print(f"\n{len(errs)} rows: mean |error| {sum(errs) / len(errs):.1f}%, max {max(errs):.1f}%")
