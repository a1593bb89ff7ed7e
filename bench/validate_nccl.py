#!/usr/bin/env python3
"""Holds lcsim's nccl_tests workload against measured NCCL times on DGX A100 (data/calibration,
from microsoft/vidur): for each configuration (ranks, GPUs per node) and each measured size from 1 MiB up, the
measured median time next to lcsim's, and the error. Usage:
    bench/validate_nccl.py [BUILD_DIR] [--set KEY=VALUE ...] [--markdown] [--collective all_reduce|send_recv]
    [--shared-nic GPU_GBPS,NODE_GBPS]
Prints a table per configuration and a summary (max and mean |error| from 16 MiB up).

    bench/validate_nccl.py [BUILD_DIR] --scaleup [--markdown] [--set KEY=VALUE ...]
does the same for the scale-up calibration of H100, H200, B200, GB200 NVL72 and MI300X (data/calibration/nccl_scaleup_all_reduce.csv:
measured all-reduce bus bandwidth by system, ranks, algorithm and size; the MI300X and MI325X rows of AMD's
Accelerator Cloud also on 2 to 8 nodes): one scenario per part under
scenarios/validation/, the algorithm pinned where the measurement forced it (NCCL_ALGO), else NCCL's and lcsim's
own choice; then the measured all-gather and reduce-scatter tables (data/calibration/nccl_scaleup_gather_scatter.csv:
4 and 8 H100s, 2 B200s; docs/validation-nccl-gather-scatter.md); summary: max and mean |error| of the time at every
measured size (1 KiB up). Then the unfitted checks against single published figures without a table (8 x B200 and
B300 at large sizes: docs/validation-nccl.md), and the measured expert all-to-alls of Megatron Core MoE (arXiv
2603.07685, Table 7: NCCL all-to-all at 448 MiB per rank on 8-64 H100s and in a GB200 NVL72)."""
import csv, json, os, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_args


def gbps_pair(text):
    gpu, node = (float(x) for x in text.split(","))
    return gpu, node


USAGE = ("bench/validate_nccl.py [BUILD_DIR] [--set KEY=VALUE ...] [--markdown] [--collective all_reduce|send_recv] "
         "[--shared-nic GPU_GBPS,NODE_GBPS] [--scaleup]")
COLLECTIVES = ("all_reduce", "send_recv")
# The testbed's scale-out network, fitted to the 2-node rows (docs/validation.md): one NIC per node that all its
# GPUs share (215 Gb/s per node: balances the 2 x 4 and 2 x 8 all-reduce rows), each GPU reaching it at up to
# 62.2 Gb/s (send/recv 2 x 1; collectives get scale_out_efficiency 0.752 of it, all-reduce 2 x 1).
# --shared-nic 0,0 uses the dgx-a100 template's own network instead (one NIC per GPU).
opts = bench_args.parse(USAGE, flags=("--markdown", "--scaleup"),
                        valued={"--set": str, "--collective": str, "--shared-nic": gbps_pair}, repeated=("--set",))
build, sets, markdown, scaleup = opts["build"], opts["--set"], opts["--markdown"], opts["--scaleup"]
collective = opts.get("--collective", "all_reduce")
if collective not in COLLECTIVES:
    bench_args.fail(USAGE, f"option --collective: '{collective}' is not one of {', '.join(COLLECTIVES)}")
shared_nic = opts.get("--shared-nic", (62.2, 215.0))
bench_args.lcsim_binary(USAGE, os.getcwd(), build)

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 1 << 20


def bus_factor(op, ranks):
    """nccl-tests' bus bandwidth factor: busbw = algbw x this (send/recv moves the buffer once)."""
    return 1.0 if op == "send_recv" else (2 if op == "all_reduce" else 1) * (ranks - 1) / ranks


def run_lcsim(scenario, extra):
    """Runs a scenario with --set overrides; returns {size: (time_s, algorithm column)} from its report."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [os.path.join(build, "apps", "lcsim"), "run", scenario, "-q", "-o", out]
        for x in extra + sets:
            cmd += ["--set", x]
        subprocess.run(cmd, check=True)
        report = open(os.path.join(out, "report.txt")).read().splitlines()
    rows = {}
    for line in report:
        f = line.split()
        # the nccl-tests table's rows only (the report also holds a summary and the metrics)
        if line.startswith("#") or len(f) < 8 or not f[0].isdigit():
            continue
        rows[int(f[0])] = (float(f[5]) * 1e-6, f[8] if len(f) > 8 else "")
    return rows


if scaleup:
    # System -> (scenario, part); each (system, ranks, algorithm) group is one configuration.
    scenarios = {"ND_H100_v5": "nccl-h100-hgx", "HGX_H100": "nccl-h100-hgx", "ND_H200_v5": "nccl-h200-hgx",
                 "ND_GB200_v6": "nccl-b200-gb200", "NVL72_GB200": "nccl-b200-gb200",
                 "ND_MI300X_v5": "nccl-h100-hgx", "AAC8_MI300X": "nccl-h100-hgx", "AAC10_MI300X": "nccl-h100-hgx",
                 "ROCmBlog_MI300X": "nccl-h100-hgx", "AAC11_MI325X": "nccl-h100-hgx", "HGX_H100_wh8": "nccl-h100-hgx",
                 "HGX_H100_wh8_scaling": "nccl-h100-hgx", "HGX_H100_wh8_algo": "nccl-h100-hgx", "MLE_H200": "nccl-h200-hgx",
                 "GKE_A4_B200": "nccl-b200-gb200", "P6_B200": "nccl-b200-gb200", "P6_B200_4N": "nccl-b200-gb200"}
    system_sets = {"NVL72_GB200": ["cluster.pools=[{node: gb200-nvl72, count: 1}]"],  # the whole rack
                   "GKE_A4_B200": ["cluster.pools=[{node: hgx-b200, count: 1}]"],  # 8 B200 (GCP a4-highgpu-8g)
                   "P6_B200": ["cluster.pools=[{node: hgx-b200, count: 1}]"],  # 8 B200 (AWS P6-B200)
                   "P6_B200_4N": ["cluster.pools=[{node: hgx-b200, count: 4}]"]}  # 4 P6-B200 nodes, 400G per GPU
    # Infinity Fabric systems: 8 GPUs per node (a mesh), as many nodes as the ranks need (hisohara/ai-scripts' AMD
    # Accelerator Cloud runs: 8 x 400G NICs per node, as the mi300x-platform template)
    amd_nodes = {"ND_MI300X_v5": "mi300x-platform", "AAC8_MI300X": "mi300x-platform",
                 "AAC10_MI300X": "mi300x-platform", "ROCmBlog_MI300X": "mi300x-platform", "AAC11_MI325X": "{base: mi300x-platform, accelerator: MI325X}"}
    pinned = {"HGX_H100", "AAC11_MI325X", "HGX_H100_wh8_algo"}  # measured with NCCL_ALGO set: lcsim pins the same
    data = list(csv.DictReader(open(os.path.join(root, "data", "calibration", "nccl_scaleup_all_reduce.csv"))))
    groups = []
    for r in data:
        key = (r["system"], int(r["ranks"]), r["algorithm"])
        if key not in groups:
            groups.append(key)
    summary = []

    def compare(title, factor, measured, sim):
        """Prints one configuration's table: measured {size: (time_s, busbw as printed)} against lcsim's {size:
        (time_s, ran)}, lcsim's bus bandwidth as nccl-tests computes it (size x factor / time); adds its max and
        mean |error| in time to the summary."""
        print(f"\n### {title}\n" if markdown else f"\n{title}")
        print("| size (B) | measured busbw (GB/s) | lcsim busbw (GB/s) | lcsim ran | error (time) |" if markdown
              else f"{'size':>12} {'measured':>9} {'lcsim':>9} {'ran':>12} {'error':>8}")
        if markdown:
            print("|---:|---:|---:|---|---:|")
        errs = []
        for size, (measured_t, busbw) in measured.items():
            t, ran = sim[size]
            e = (t - measured_t) / measured_t
            errs.append(abs(e))
            model_busbw = size * factor / t / 1e9
            print(f"| {size} | {busbw:.1f} | {model_busbw:.1f} | {ran} | {100 * e:+.1f}% |" if markdown
                  else f"{size:>12} {busbw:>9.1f} {model_busbw:>9.1f} {ran:>12} {100 * e:>+7.1f}%")
        summary.append((title, len(errs), max(errs), sum(errs) / len(errs)))

    for system, ranks, algo in groups:
        rows = [r for r in data if (r["system"], int(r["ranks"]), r["algorithm"]) == (system, ranks, algo)]
        sizes = [int(r["size_bytes"]) for r in rows]
        extra = [f"workload.ranks={ranks}", "workload.sizes=[" + ", ".join(f"{x}B" for x in sizes) + "]"]
        extra += system_sets.get(system, [])
        if system in amd_nodes:
            extra.append(f"cluster.pools=[{{node: {amd_nodes[system]}, count: {max(1, ranks // 8)}}}]")
        if system in pinned:
            extra.append(f"policies.collectives.algorithm={algo}")
        sim = run_lcsim(os.path.join(root, "scenarios", "validation", scenarios[system] + ".yaml"), extra)
        how = f"NCCL_ALGO={algo}" if system in pinned else f"NCCL's choice ({algo} as published)"
        factor = bus_factor("all_reduce", ranks)
        # the CSV holds bus bandwidths: the measured time is size x factor / busbw
        measured = {int(r["size_bytes"]): (int(r["size_bytes"]) * factor / (float(r["busbw_gbps"]) * 1e9),
                                           float(r["busbw_gbps"])) for r in rows}
        compare(f"{system}, {ranks} GPUs, {how}", factor, measured, sim)
    # All-gather and reduce-scatter inside one node (data/calibration/nccl_scaleup_gather_scatter.csv: measured
    # times): 4 of an HGX H100's GPUs (waynehacking8/nccl-collectives-bench), a whole HGX H100 with the ring
    # pinned (NVIDIA/nccl#1047), 2 of an HGX B200's GPUs (kubernetes-sigs/dranet). The all-reduce fit's ring lines
    # on the other two collectives; on Hopper at the part's all-gather / reduce-scatter factors, fitted to the H100
    # rows at 8 GiB (bench/fit_nccl_scaleup.py --gather-scatter; docs/validation-nccl-gather-scatter.md).
    gs_nodes = {"HGX_H100_wh8": ("nccl-h100-hgx", "hgx-h100"), "HGX_H100_nccl1047": ("nccl-h100-hgx", "hgx-h100"),
                "GKE_A4_B200": ("nccl-b200-gb200", "{base: hgx-h100, accelerator: B200}")}
    gs_pinned = {"HGX_H100_nccl1047"}
    gs = list(csv.DictReader(open(os.path.join(root, "data", "calibration", "nccl_scaleup_gather_scatter.csv"))))
    gs_groups = []
    for r in gs:
        key = (r["system"], int(r["ranks"]), r["operation"], r["algorithm"])
        if key not in gs_groups:
            gs_groups.append(key)
    for system, ranks, op, algo in gs_groups:
        rows = [r for r in gs
                if (r["system"], int(r["ranks"]), r["operation"], r["algorithm"]) == (system, ranks, op, algo)]
        sizes = [int(r["size_bytes"]) for r in rows]
        extra = [f"workload.ranks={ranks}", f"workload.operation={op}",
                 "workload.sizes=[" + ", ".join(f"{x}B" for x in sizes) + "]",
                 f"cluster.pools=[{{node: {gs_nodes[system][1]}, count: 1}}]"]
        if system in gs_pinned:
            extra.append(f"policies.collectives.algorithm={algo}")
        sim = run_lcsim(os.path.join(root, "scenarios", "validation", gs_nodes[system][0] + ".yaml"), extra)
        how = f"NCCL_ALGO={algo}" if system in gs_pinned else f"NCCL's choice ({algo}, inferred)"
        measured = {int(r["size_bytes"]): (float(r["time_us"]) * 1e-6, float(r["busbw_gbps"])) for r in rows}
        compare(f"{system}, {op}, {ranks} GPUs, {how}", (ranks - 1) / ranks, measured, sim)
    # Checks against single published figures (no table, no size: each a large-size bus bandwidth), not fitted:
    # (title, node, ranks, pinned algorithm or None, measured busbw GB/s, source). Run at 8 GiB.
    checks = [("8 x B200, NCCL's choice", "B200", 8, None, 830.0, "NVIDIA/nccl#1807 (\"830+\")"),
              ("8 x B300, NCCL's choice", "B300", 8, None, 845.0, "NVIDIA/nccl#2140"),
              ("8 x B300, NCCL_ALGO=ring", "B300", 8, "ring", 695.0, "NVIDIA/nccl#2140")]
    print("\n### Unfitted checks: one published figure each, at 8 GiB\n" if markdown else "\nunfitted checks (8 GiB)")
    if markdown:
        print("| configuration | measured busbw (GB/s) | lcsim busbw (GB/s) | lcsim ran | error (time) | source |")
        print("|---|---:|---:|---|---:|---|")
    for title, part, ranks, algo, busbw, source in checks:
        size = 8 << 30
        extra = [f"workload.ranks={ranks}", f"workload.sizes=[{size}B]",
                 f"cluster.pools=[{{node: {{base: hgx-h100, accelerator: {part}}}, count: 1}}]"]
        if algo:
            extra.append(f"policies.collectives.algorithm={algo}")
        t, ran = run_lcsim(os.path.join(root, "scenarios", "validation", "nccl-b200-gb200.yaml"), extra)[size]
        model = size * bus_factor("all_reduce", ranks) / t / 1e9
        e = busbw / model - 1
        print(f"| {title} | {busbw:.1f} | {model:.1f} | {ran} | {100 * e:+.1f}% | {source} |" if markdown
              else f"  {title}: measured {busbw:.1f}, lcsim {model:.1f} ({ran}), {100 * e:+.1f}% ({source})")
    # GB200 NVL72, GPUs of one NVLink domain (MNNVL, 4 per tray), every collective at 16 GiB, not fitted: GCP A4X
    # (yangwhale/gpu-tpu-pedia gpu/a4x/04-nccl-test/README.md at 01568bb, nccl-tests bus bandwidth "@16G", same-domain
    # runs on 2, 8 and 16 trays; NCCL release not stated). (operation, ranks, measured busbw GB/s.)
    nvl72 = [("all_reduce", 8, 839.54), ("all_gather", 8, 683.83), ("reduce_scatter", 8, 693.07), ("all_to_all", 8, 682.73),
             ("all_reduce", 32, 908.80), ("all_gather", 32, 690.52), ("reduce_scatter", 32, 708.16), ("all_to_all", 32, 675.98),
             ("all_reduce", 64, 909.96), ("all_gather", 64, 692.88), ("reduce_scatter", 64, 706.98), ("all_to_all", 64, 666.64)]
    print("\n### Unfitted checks: GB200 NVL72 (GCP A4X, one NVLink domain), every collective at 16 GiB\n" if markdown
          else "\nunfitted checks (GB200 NVL72, 16 GiB)")
    if markdown:
        print("| operation | GPUs | measured busbw (GB/s) | lcsim busbw (GB/s) | lcsim ran | error (time) |")
        print("|---|---:|---:|---:|---|---:|")
    for op, ranks, busbw in nvl72:
        size = 16 << 30
        extra = [f"workload.ranks={ranks}", f"workload.sizes=[{size}B]", f"workload.operation={op}",
                 "cluster.pools=[{node: gb200-nvl72, count: 1}]"]
        t, ran = run_lcsim(os.path.join(root, "scenarios", "validation", "nccl-b200-gb200.yaml"), extra)[size]
        model = size * bus_factor(op, ranks) / t / 1e9
        e = busbw / model - 1
        print(f"| {op} | {ranks} | {busbw:.1f} | {model:.1f} | {ran} | {100 * e:+.1f}% |" if markdown
              else f"  {op} on {ranks}: measured {busbw:.1f}, lcsim {model:.1f} ({ran}), {100 * e:+.1f}%")
    # 8 B200 in one node, every collective at 16 GiB (bus bandwidth) and 1 KiB (median time per call), not fitted:
    # stas00/ml-engineering network/benchmarks/README.md at fb75494c, "Other collectives" (torch-dist-bench.py,
    # torch 2.14.0+cu130, NCCL 2.30.7, torch.distributed; within ~1 us of nccl-tests up to 1 MiB and 2% at 16 GiB by
    # its author; batch_isend_irecv = every rank to the next, nccl-tests' sendrecv). (operation, busbw GB/s, us.)
    b200 = [("all_reduce", 839.63, 29.7), ("all_gather", 668.28, 20.5), ("reduce_scatter", 692.63, 20.5),
            ("all_to_all", 659.71, 15.6), ("send_recv", 658.84, 18.4)]
    print("\n### Unfitted checks: 8 B200 in one node (stas00/ml-engineering, NCCL 2.30.7), every collective\n"
          if markdown else "\nunfitted checks (8 B200, 16 GiB and 1 KiB)")
    if markdown:
        print("| operation | measured busbw at 16 GiB (GB/s) | lcsim | lcsim ran | error (time) "
              "| measured at 1 KiB (us) | lcsim (us) | lcsim ran | error |")
        print("|---|---:|---:|---|---:|---:|---:|---|---:|")
    for op, busbw, small_us in b200:
        big, small = 16 << 30, 1024
        extra = ["workload.ranks=8", f"workload.sizes=[{big}B, {small}B]", f"workload.operation={op}",
                 "cluster.pools=[{node: hgx-b200, count: 1}]"]
        res = run_lcsim(os.path.join(root, "scenarios", "validation", "nccl-b200-gb200.yaml"), extra)
        (t, ran), (ts, rans) = res[big], res[small]
        model = big * bus_factor(op, 8) / t / 1e9
        e, es = busbw / model - 1, ts / (small_us * 1e-6) - 1
        print(f"| {op} | {busbw:.1f} | {model:.1f} | {ran} | {100 * e:+.1f}% | {small_us:.1f} | {ts * 1e6:.1f} "
              f"| {rans} | {100 * es:+.1f}% |" if markdown
              else f"  {op}: 16 GiB measured {busbw:.1f}, lcsim {model:.1f} ({ran}), {100 * e:+.1f}%; "
                   f"1 KiB measured {small_us:.1f} us, lcsim {ts * 1e6:.1f} us ({rans}), {100 * es:+.1f}%")
    # Expert-parallel all-to-all (data/calibration/mcore_moe_ep_all_to_all.csv: Megatron Core MoE, arXiv 2603.07685,
    # Table 7): NCCL's all-to-all of the permuted tokens, hidden 7,168, 4,096 tokens per rank, top-8 in BF16 (448 MiB
    # per rank), on DGX H100 nodes (EP 8 in one, 16-64 over 2-8 nodes; InfiniBand routes by destination, lcsim's
    # pinned) and in one GB200 NVL72. H100's all_to_all_scale_out_efficiency is fitted to its EP 16-64 rows
    # (docs/calibration.md); the EP 8 and GB200 rows are checks. Its HybridEP rows follow (lcsim costs that dispatcher
    # inside the training workload, moe_token_dispatcher_type flex).
    with open(os.path.join(root, "data", "calibration", "mcore_moe_ep_all_to_all.csv")) as f:
        ep_table = list(csv.DictReader(f))  # its NCCL rows here, its HybridEP rows below
    ep_rows = [r for r in ep_table if r["backend"] == "all_to_all"]
    a2a_size = 4096 * 8 * 7168 * 2
    print("\n### Expert all-to-all: Megatron Core MoE's measured NCCL all-to-all (arXiv 2603.07685, Table 7), 448 MiB per rank\n"
          if markdown else "\nexpert all-to-all (448 MiB per rank)")
    if markdown:
        print("| part | EP | nodes | measured dispatch (us) | measured combine (us) | lcsim (us) | error dispatch | error combine |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for part, node in (("H100", "hgx-h100"), ("GB200", "gb200-nvl72")):
        for ep in sorted({int(r["ep"]) for r in ep_rows if r["part"] == part}):
            got = {r["phase"]: float(r["time_us"]) for r in ep_rows if r["part"] == part and int(r["ep"]) == ep}
            nodes = max(1, ep // 8) if part == "H100" else 1
            extra = [f"workload.ranks={ep}", f"workload.sizes=[{a2a_size}B]", "workload.operation=all_to_all",
                     f"cluster.pools=[{{node: {node}, count: {nodes}}}]", "policies.load_balancing=pinned"]
            t, ran = run_lcsim(os.path.join(root, "scenarios", "validation", "nccl-h100-hgx.yaml"), extra)[a2a_size]
            errs = [(t * 1e6 - got[ph]) / got[ph] for ph in ("dispatch", "combine")]
            summary.append((f"{part} all-to-all, EP {ep}", 2, max(abs(e) for e in errs), sum(abs(e) for e in errs) / 2))
            print(f"| {part} | {ep} | {nodes} | {got['dispatch']:.0f} | {got['combine']:.0f} | {t * 1e6:.0f} "
                  f"| {100 * errs[0]:+.1f}% | {100 * errs[1]:+.1f}% |" if markdown
                  else f"  {part} EP {ep} ({nodes} node{'s' if nodes > 1 else ''}): measured {got['dispatch']:.0f} / "
                       f"{got['combine']:.0f} us, lcsim {t * 1e6:.0f} us ({ran}), {100 * errs[0]:+.1f}% / {100 * errs[1]:+.1f}%")
    # The same table's HybridEP rows against lcsim's flex dispatcher (costed inside the training workload): a one-layer
    # MoE model (scenarios/validation/moe-layer-h100.yaml) with DeepSeek-V3's 256 experts, top-8 in 4 of 8 groups
    # (the report's routing is not stated; DeepSeek-V3's taken), its dispatch and combine all-to-alls' timeline spans.
    hyb = [r for r in ep_table if r["backend"] == "hybridep"]
    dsv3 = ("{num_layers: 1, hidden_size: 7168, ffn_hidden_size: 18432, num_attention_heads: 8, seq_length: 4096, "
            "vocab_size: 32000, swiglu: true, normalization: RMSNorm, position_embedding_type: rope, "
            "add_bias_linear: false, num_experts: 256, moe_router_topk: 8, moe_ffn_hidden_size: 2048, "
            "moe_router_num_groups: 8, moe_router_group_topk: 4, moe_router_score_function: sigmoid, "
            "moe_router_enable_expert_bias: true}")
    print("\n### Expert all-to-all: the same table's HybridEP rows against lcsim's flex dispatcher\n" if markdown
          else "\nexpert all-to-all, HybridEP against lcsim's flex dispatcher")
    if markdown:
        print("| part | EP | nodes | measured dispatch (us) | measured combine (us) | lcsim (us) | error dispatch | error combine |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for part in ("H100", "GB200"):
        for ep in sorted({int(r["ep"]) for r in hyb if r["part"] == part}):
            got = {r["phase"]: float(r["time_us"]) for r in hyb if r["part"] == part and int(r["ep"]) == ep}
            nodes = max(1, ep // 8) if part == "H100" else 1
            pool = (f"[{{node: hgx-h100, count: {nodes}}}]" if part == "H100"
                    else f"[{{node: {{base: gb200-nvl72, gpus: {ep}}}, count: 1}}]")
            with tempfile.TemporaryDirectory() as out:
                cmd = [os.path.join(build, "apps", "lcsim"), "run",
                       os.path.join(root, "scenarios", "validation", "moe-layer-h100.yaml"), "-q", "--no-progress",
                       "-o", out, "--set", f"workload.model={dsv3}", "--set", "workload.moe_token_dispatcher_type=flex",
                       "--set", f"cluster.pools={pool}", "--set", f"workload.expert_model_parallel_size={ep}",
                       "--set", f"workload.global_batch_size={ep}"]
                for x in sets:
                    cmd += ["--set", x]
                subprocess.run(cmd, check=True)
                spans = {e["name"]: e["dur"] for e in json.load(open(os.path.join(out, "timeline.json")))["traceEvents"]
                         if e.get("ph") == "X" and e["name"].startswith("ep all-to-all")}
            t = {"dispatch": spans["ep all-to-all dispatch"], "combine": spans["ep all-to-all combine"]}
            errs = [(t[ph] - got[ph]) / got[ph] for ph in ("dispatch", "combine")]
            summary.append((f"{part} HybridEP (lcsim flex), EP {ep}", 2, max(abs(e) for e in errs),
                            sum(abs(e) for e in errs) / 2))
            print(f"| {part} | {ep} | {nodes} | {got['dispatch']:.0f} | {got['combine']:.0f} | {t['dispatch']:.0f} / "
                  f"{t['combine']:.0f} | {100 * errs[0]:+.1f}% | {100 * errs[1]:+.1f}% |" if markdown
                  else f"  {part} EP {ep} ({nodes} node{'s' if nodes > 1 else ''}): measured {got['dispatch']:.0f} / "
                       f"{got['combine']:.0f} us, lcsim {t['dispatch']:.0f} / {t['combine']:.0f} us, "
                       f"{100 * errs[0]:+.1f}% / {100 * errs[1]:+.1f}%")
    print("\n| configuration | sizes | max abs error | mean abs error |" if markdown else "\nsummary (every measured size)")
    if markdown:
        print("|---|---:|---:|---:|")
    for t, count, mx, mean in summary:
        print(f"| {t} | {count} | {100 * mx:.1f}% | {100 * mean:.1f}% |" if markdown
              else f"  {t}: {count} sizes, max {100 * mx:.1f}%, mean {100 * mean:.1f}%")
    sys.exit(0)

data = os.path.join(root, "data", "calibration", f"nccl_a100_dgx_{collective}.csv")
rows = list(csv.DictReader(open(data)))
configs = sorted({(int(r["num_workers"]), int(r["devices_per_node"])) for r in rows}, key=lambda c: (c[0] // c[1] > 1, c))
targets = [1 * MiB, 2 * MiB, 4 * MiB, 8 * MiB, 16 * MiB, 24 * MiB, 32 * MiB, 48 * MiB, 64 * MiB]
summary = []
for ranks, per_node in configs:
    measured = {int(r["size"]): float(r[f"time_stats.{collective}.median"]) * 1e-3
                for r in rows if (int(r["num_workers"]), int(r["devices_per_node"])) == (ranks, per_node)}
    sizes = sorted({min(measured, key=lambda s: abs(s - t)) for t in targets})
    nodes = ranks // per_node
    scenario = os.path.join(root, "scenarios", "validation", "nccl-a100-dgx.yaml")
    with tempfile.TemporaryDirectory() as out:
        cmd = [os.path.join(build, "apps", "lcsim"), "run", scenario, "-q", "-o", out,
               "--set", f"cluster.pools=[{{node: dgx-a100, count: {nodes}}}]",
               "--set", f"workload.ranks={ranks}",
               "--set", f"workload.operation={collective}",
               "--set", "workload.sizes=[" + ", ".join(f"{s}B" for s in sizes) + "]"]
        if per_node < 8:
            cmd += ["--set", f"cluster.pools=[{{node: {{base: dgx-a100, gpus: {per_node}}}, count: {nodes}}}]"]
        if shared_nic and shared_nic[0] > 0 and nodes > 1:
            # Every GPU reaches its node's one NIC (per-GPU cap), the NIC reaches a switch (per-node cap).
            gpu_gbps, node_gbps = shared_nic
            switches = ["{name: sw, kind: leaf}"] + [f"{{name: n{k}.nic, kind: nic}}" for k in range(nodes)]
            links = [f"{{a: n{k}.gpu{g}, b: n{k}.nic, bandwidth: {gpu_gbps}Gb/s}}" for k in range(nodes) for g in range(per_node)]
            links += [f"{{a: n{k}.nic, b: sw, bandwidth: {node_gbps}Gb/s}}" for k in range(nodes)]
            cmd += ["--set", "cluster.topology=explicit",
                    "--set", "cluster.explicit={switches: [" + ", ".join(switches) + "], links: [" + ", ".join(links) + "]}"]
        for s in sets:
            cmd += ["--set", s]
        subprocess.run(cmd, check=True)
        report = open(os.path.join(out, "report.txt")).read().splitlines()
    simulated = {}
    for line in report:  # report.txt: the nccl-tests table's rows (size, count, ..., time in us) among the rest
        f = line.split()
        if line.startswith("#") or len(f) < 9 or not f[0].isdigit() or not f[1].isdigit():
            continue
        simulated[int(float(f[0]))] = float(f[5]) * 1e-6
    title = f"{ranks} ranks, {per_node} per node ({nodes} node{'s' if nodes > 1 else ''})"
    print(f"\n### {title}\n" if markdown else f"\n{title}")
    print("| size (B) | measured (us) | lcsim (us) | error |" if markdown else f"{'size':>10} {'measured':>10} {'lcsim':>10} {'error':>8}")
    if markdown:
        print("|---:|---:|---:|---:|")
    errs = []
    for s in sizes:
        m, p = measured[s], simulated[s]
        e = (p - m) / m
        if s >= 16 * MiB:
            errs.append(abs(e))
        print(f"| {s} | {m * 1e6:.1f} | {p * 1e6:.1f} | {100 * e:+.1f}% |" if markdown
              else f"{s:>10} {m * 1e6:>10.1f} {p * 1e6:>10.1f} {100 * e:>+7.1f}%")
    summary.append((title, max(errs), sum(errs) / len(errs)))
print("\n| configuration | max abs error from 16 MiB | mean abs error from 16 MiB |" if markdown else "\nsummary (16 MiB and up)")
if markdown:
    print("|---|---:|---:|")
for t, mx, mean in summary:
    print(f"| {t} | {100 * mx:.1f}% | {100 * mean:.1f}% |" if markdown else f"  {t}: max {100 * mx:.1f}%, mean {100 * mean:.1f}%")
