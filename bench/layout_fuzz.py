#!/usr/bin/env python3
"""Random Megatron layouts through `lcsim run`, looking for what must never happen: an internal error (exit 1), a
crash (a signal), a hang (no answer in --timeout seconds), or a run that answers with a NaN or infinite metric, an MFU
outside (0, 1) or a non-positive iteration time. A layout lcsim refuses (exit 2: memory, Megatron's divisibility
rules, a combination it does not model) is counted by its message and is fine.

Each layout starts from scenarios/training/llama3-70b-h100-1024.yaml: 1 to 16 nodes of 8 H100s, TP / PP / CP that
divide the GPUs, layers a multiple of PP (with interleaving where the stage's layers divide), hidden 1,024 to 4,096,
micro-batches 1 to 4 and global batch a multiple of micro-batch x DP x PP, sequence 2K to 16K; each of sequence
parallelism (with TP), TP overlap (with it), the distributed optimizer, the overlapped gradient reduce and parameter
gather, recomputation, FP8, the CP kind, CUDA graphs, DualPipe, deferred embedding gradients, the recompute method
and the attention backend drawn at random; a quarter of the runs at flow fidelity. --moe adds experts (8 to 32, top-1
to top-4, EP dividing DP x CP, the three token dispatchers, dense first layers, MTP). Same --seed, same layouts.

Usage: bench/layout_fuzz.py [BUILD_DIR] [--seed N] [--count N] [--moe] [--timeout S]
Exit status 0 when nothing of the above happened, 1 when something did (each printed with its --set flags)."""
import collections, json, math, os, random, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_args

USAGE = "bench/layout_fuzz.py [BUILD_DIR] [--seed N] [--count N] [--moe] [--timeout S]"
opts = bench_args.parse(USAGE, flags=("--moe",), valued={"--seed": bench_args.positive_int,
                                                          "--count": bench_args.positive_int,
                                                          "--timeout": bench_args.positive_int})
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
lcsim = bench_args.lcsim_binary(USAGE, root, opts["build"])
rng = random.Random(opts.get("--seed", 1))
count, timeout, moe = opts.get("--count", 100), opts.get("--timeout", 180), opts["--moe"]


def layout():
    nodes = rng.choice([1, 2, 4, 8, 16])
    gpus = nodes * 8
    while True:
        tp, pp, cp = rng.choice([1, 2, 4, 8]), rng.choice([1, 2, 4, 8]), rng.choice([1, 1, 2, 4])
        if gpus % (tp * pp * cp) == 0:
            break
    dp = gpus // (tp * pp * cp)
    layers = pp * rng.choice([1, 2, 3, 4, 6])
    per_chunk = 0
    if pp > 1 and rng.random() < 0.5:
        per = layers // pp
        divisors = [d for d in range(1, per) if per % d == 0]
        per_chunk = rng.choice(divisors) if divisors else 0
    mbs = rng.choice([1, 1, 2, 4])
    hidden = rng.choice([1024, 2048, 4096])
    s = [f"cluster.nodes={nodes}", f"workload.tensor_model_parallel_size={tp}",
         f"workload.pipeline_model_parallel_size={pp}", f"workload.context_parallel_size={cp}",
         f"workload.model.num_layers={layers}", f"workload.num_layers_per_virtual_pipeline_stage={per_chunk}",
         f"workload.micro_batch_size={mbs}", f"workload.global_batch_size={mbs * dp * pp * rng.choice([1, 2, 3, 4, 8])}",
         f"workload.model.hidden_size={hidden}", f"workload.model.num_attention_heads={hidden // 128}",
         f"workload.model.ffn_hidden_size={hidden * rng.choice([3, 4])}",
         f"workload.model.num_query_groups={rng.choice([8, 8, hidden // 128])}",
         f"workload.model.seq_length={rng.choice([2048, 4096, 8192, 16384])}"]
    sp = tp > 1 and rng.random() < 0.7
    distributed = rng.random() < 0.7
    s += [f"workload.sequence_parallel={str(sp).lower()}",
          f"workload.tp_comm_overlap={str(sp and rng.random() < 0.6).lower()}",
          f"workload.use_distributed_optimizer={str(distributed).lower()}",
          f"workload.overlap_param_gather={str(distributed and rng.random() < 0.6).lower()}",
          f"workload.overlap_grad_reduce={rng.choice(['true', 'false'])}",
          f"workload.recompute_granularity={rng.choice(['selective', 'full', 'none'])}",
          f"workload.precision={rng.choice(['bf16', 'fp8'])}",
          f"simulation.fidelity={rng.choice(['analytical', 'analytical', 'analytical', 'flow'])}"]
    if rng.random() < 0.3:
        s.append(f"workload.cp_comm_type={rng.choice(['p2p', 'allgather', 'a2a'])}")
    if rng.random() < 0.2:
        s.append(f"workload.cuda_graph_impl={rng.choice(['local', 'transformer_engine'])}")
    if rng.random() < 0.2 and pp > 1 and per_chunk == 0:
        s.append("workload.pipeline_schedule=dualpipe")
    if rng.random() < 0.2:
        s.append("workload.defer_embedding_wgrad_compute=true")
    if rng.random() < 0.2:
        s.append(f"workload.recompute_method={rng.choice(['uniform', 'block'])}")
    if rng.random() < 0.2:
        s.append(f"workload.attention_backend={rng.choice(['flash2', 'flash3', 'cudnn', 'auto'])}")
    if moe:
        ep = rng.choice([d for d in [1, 2, 4, 8] if (dp * cp) % d == 0])
        s += [f"workload.model.num_experts={rng.choice([8, 16, 32])}", f"workload.expert_model_parallel_size={ep}",
              f"workload.model.moe_ffn_hidden_size={rng.choice([512, 1024])}",
              f"workload.model.moe_router_topk={rng.choice([1, 2, 4])}",
              f"workload.moe_token_dispatcher_type={rng.choice(['alltoall', 'allgather', 'flex'])}"]
        if rng.random() < 0.3:
            s.append("workload.model.moe_first_dense_layers=1")
        if rng.random() < 0.3:
            s.append("workload.model.mtp_num_layers=1")
    return s


out_dir = tempfile.mkdtemp(prefix="lcsim-fuzz-")
codes, refused, bad = collections.Counter(), collections.Counter(), []
try:
    for i in range(count):
        sets = layout()
        cmd = [lcsim, "run", os.path.join(root, "scenarios/training/llama3-70b-h100-1024.yaml"), "-q", "--no-progress",
               "-o", out_dir]
        for x in sets:
            cmd += ["--set", x]
        flags = " ".join(f"--set '{x}'" for x in sets)
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            codes["hang"] += 1
            bad.append(f"no answer in {timeout} s: {flags}")
            continue
        codes[r.returncode] += 1
        last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
        if r.returncode == 2:
            refused[last.split(": ", 2)[-1][:100]] += 1
        elif r.returncode != 0:
            bad.append(f"exit {r.returncode} ({last[:300]}): {flags}")
        else:
            m = json.load(open(os.path.join(out_dir, "metrics.json")))["metrics"]
            odd = [k for k, v in m.items() if isinstance(v, float) and (math.isnan(v) or math.isinf(v))]
            if odd or not 0 < m.get("mfu", 0.5) < 1 or m.get("iteration_time_s", 1) <= 0:
                bad.append(f"odd metrics ({odd}, mfu {m.get('mfu')}, iteration {m.get('iteration_time_s')} s): {flags}")
finally:
    shutil.rmtree(out_dir, ignore_errors=True)
ran = codes[0]
print(f"{count} layouts ({'MoE' if moe else 'dense'}, seed {opts.get('--seed', 1)}): {ran} ran, "
      f"{codes[2]} refused as bad input, {len(bad)} internal errors, crashes, hangs or odd metrics")
for why, n in refused.most_common(8):
    print(f"  refused {n}x: {why}")
for b in bad:
    print(f"  BAD {b}")
sys.exit(1 if bad else 0)
