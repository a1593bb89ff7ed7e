#!/usr/bin/env python3
"""Fits the scale-up collective calibration of H100, H200, B200 (and GB200 NVL72) and MI300X (the `collectives:` section of their catalog
entries) to the measured NCCL all-reduce bus bandwidths in data/calibration/nccl_scaleup_all_reduce.csv, with the
closed form lcsim's model reduces to inside one node (the flow model on a node's private links gives the same; hops:
the two scale-up hop latencies a transfer crosses, 1 us in all):

    ring:  hops + base + 2(n-1) x step + 2(n-1)/n x S / (link x eff)
    nvls:  hops + max(floor, base + steps(S) x step + (n+1)/n x (S + fill(S)) / (link x eff))

per protocol ((n+1)/n: the bytes NVLS moves through the switch each way, policy::nvls_traffic); a call takes the fastest (algorithm, protocol) pair its protocols allow, as the tuner does. NVLS's
steps(S) follow NCCL's chunking (src/enqueue.cc): the call moves in rounds of channels x n chunks (NVLS_NCHANNELS
16, chunk 128 KiB halved to 64/32/16 KiB for calls below 64/8/2 rounds' worth) and pays one step per round up to
NCCL_STEPS = 8 rounds in flight (policy::nvls_steps in policies/collective_algorithms.cc; nvls_steps below is the
same); fill(S) = min(S, one round), the kernel's pipeline fill (policy::nvls_fill); floor: the least a call takes
(floor_latency, fitted; H100's held under ring LL128's time at 64 KiB so that NVLS runs there, as NCCL's tuner
does). Without chunk channels (GB200 NVL72, measured only from 512 MiB): two steps, no fill, no floor. Ring step latencies are NCCL's
own (src/graph/tuning.cc, hwLat NVLink: Ring LL 0.6 us, LL128 1.9 us, Simple 3.4 us); on Hopper the ring LL128
line is NCCL's own too (baseLat 14.0 us, 0.92 of the Simple ring's bandwidth: tuning.cc), since NCCL never runs it on
one NVLS node; base latencies, efficiencies and NVLS's step are fitted (least squares of log error, Nelder-Mead from
fixed starts: deterministic). Prints the fitted constants and, per part, the error of the fit at every measured size
with the (algorithm/protocol) it picks. Usage: bench/fit_nccl_scaleup.py [--old | --variants] (--old: the previous H100/H200
constants, as shipped before the chunked NVLS model, for the before/after table; --variants: the Hopper NVLS lines
refitted without the fill, without the floor and with two rounds of fill, docs/validation-nccl-nvls.md; --gather-scatter:
also, last, Hopper's all-gather and reduce-scatter factors on the Simple ring, fitted to the measured tables at their
largest size, data/calibration/nccl_scaleup_gather_scatter.csv)"""
import csv, math, os, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = list(csv.DictReader(open(os.path.join(ROOT, "data", "calibration", "nccl_scaleup_all_reduce.csv"))))
MIB = 1 << 20
LINK = {"H100": 450e9, "H200": 450e9, "GB200": 900e9, "MI300X": 448e9}  # scale-up bandwidth per GPU per direction (catalog)
# What lcsim adds to the closed form once per call: a transfer crosses two scale-up hops (GPU -> switch -> GPU) of
# the topology's scale_up_latency, 0.5 us each (models/network/topology.h).
HOPS = 2 * 0.5e-6
STEP = {"ll": 0.6e-6, "ll128": 1.9e-6, "simple": 3.4e-6, "nvls": 12.5e-6}
NVLS_CHANNELS = 16  # NCCL_NVLS_NCHANNELS' default (src/transport/nvls.cc), "NVLS_NCHANNELS 16" in NCCL's H100 logs
STEPS_IN_FLIGHT = 8  # NCCL_STEPS


def nvls_round(s, n, channels, max_chunk=131072):
    """policy::nvls_round: the bytes of one round, channels x n chunks of NCCL's chunk for a call of s bytes."""
    ops, c = channels * n, max_chunk
    if s < 64 * ops * c and c > 65536: c = 65536
    if s < 8 * ops * c and c > 32768: c = 32768
    if s < 2 * ops * c and c > 16384: c = 16384
    return ops * c


def nvls_steps(s, n, channels, max_chunk=131072):
    """policy::nvls_steps: rounds of channels x n chunks, one step each up to NCCL_STEPS; 0 channels: two steps."""
    if channels <= 0:
        return 2
    return min(max(1, math.ceil(s / nvls_round(s, n, channels, max_chunk))), STEPS_IN_FLIGHT)


# The NVLS model's two terms, as shipped (policy::nvls_fill, floor_latency); --variants refits without them or with
# two rounds of fill, the alternatives docs/validation-nccl-nvls.md measures.
FILL_ROUNDS, USE_FLOOR = 1, True


def nvls_fill(s, n, channels, max_chunk=131072):
    """policy::nvls_fill: the bytes of the pipeline's one round of fill, min(S, one round); 0 unchunked."""
    return FILL_ROUNDS * min(s, nvls_round(s, n, channels, max_chunk)) if channels > 0 else 0


def nvls_time(p, link, n, s):
    """NvlsCost::estimate plus the hops: max(floor, base + steps x step + (n+1)/n x (S + fill) / (link x eff))."""
    base, eff, step = p[0], p[1], p[2] if len(p) > 2 else STEP["nvls"]
    channels, floor = (p[3] if len(p) > 3 else 0), (p[4] if len(p) > 4 else 0)
    data = (n + 1) / n * (s + nvls_fill(s, n, channels)) / (link * eff)
    return HOPS + max(floor, base + nvls_steps(s, n, channels) * step + data)


def measured_time(r):
    n, s = int(r["ranks"]), int(r["size_bytes"])
    return s * 2 * (n - 1) / n / (float(r["busbw_gbps"]) * 1e9)


def model_choice(protos, link, n, s, algos=("ring", "nvls")):
    """(time, "algorithm/protocol") of the fastest pair. protos: {name: (base_s, eff[, step_s, chunk channels])};
    ll, ll128 and simple run rings, nvls runs NVLS (only above two GPUs, as NCCL)."""
    best = (math.inf, "")
    for name, p in protos.items():
        base, eff = p[0], p[1]
        step = p[2] if len(p) > 2 else STEP[name]
        algo = "nvls" if name == "nvls" else "ring"
        if algo not in algos or (algo == "nvls" and n <= 2):
            continue
        if algo == "ring":
            t = HOPS + base + 2 * (n - 1) * step + 2 * (n - 1) / n * s / (link * eff)
        else:
            t = nvls_time(p, link, n, s)
        best = min(best, (t, f"{algo}/{name}"))
    return best


def model_time(protos, link, n, s, algos=("ring", "nvls")):
    return model_choice(protos, link, n, s, algos)[0]


def nelder_mead(f, x0, step=0.3, iters=600):
    d = len(x0)
    pts = [list(x0)] + [[x0[j] + (step if j == i else 0) for j in range(d)] for i in range(d)]
    vals = [f(p) for p in pts]
    for _ in range(iters):
        order = sorted(range(d + 1), key=lambda i: vals[i])
        pts, vals = [pts[i] for i in order], [vals[i] for i in order]
        c = [sum(p[j] for p in pts[:-1]) / d for j in range(d)]
        along = lambda t: [c[j] + t * (pts[-1][j] - c[j]) for j in range(d)]
        r = along(-1.0)
        fr = f(r)
        if fr < vals[0]:
            e = along(-2.0)
            fe = f(e)
            pts[-1], vals[-1] = (e, fe) if fe < fr else (r, fr)
        elif fr < vals[-2]:
            pts[-1], vals[-1] = r, fr
        else:
            k = along(0.5 if fr >= vals[-1] else -0.5)
            fk = f(k)
            if fk < min(fr, vals[-1]):
                pts[-1], vals[-1] = k, fk
            else:
                for i in range(1, d + 1):
                    pts[i] = [pts[0][j] + 0.5 * (pts[i][j] - pts[0][j]) for j in range(d)]
                    vals[i] = f(pts[i])
    i = min(range(d + 1), key=lambda i: vals[i])
    return pts[i], vals[i]


# Ring LL moves at most half the Simple ring's bus bandwidth in NCCL's model (tuning.cc: busBw x .5 for ring LL; a
# quarter in newer releases): its fitted efficiency is kept below 0.5 x 0.823.
EFF_CAP = {"ll": 0.5 * 0.823}


def decode(x, names, chunked=True, channels=NVLS_CHANNELS):
    # per protocol: log(base in us), logit(eff); a chunked nvls also log(step in us) and its chunk channels (not
    # fitted); an unchunked one keeps NCCL's 2 x 12.5 us steps
    out, i = {}, 0
    for n in names:
        out[n] = (math.exp(x[i]) * 1e-6, EFF_CAP.get(n, 1.0) / (1 + math.exp(-x[i + 1])))
        i += 2
        if n == "nvls" and chunked:
            out[n] += (math.exp(x[i]) * 1e-6, channels, math.exp(x[i + 1]) * 1e-6 if USE_FLOOR else 0.0)
            i += 2
    return out


def start(names, b0, e0, chunked=True):
    x = []
    for n in names:
        x += [b0, e0] + ([math.log(5.0), math.log(30.0)] if n == "nvls" and chunked else [])
    return x


def fit(gpu, names, targets, fixed=None, chunked=True, channels=NVLS_CHANNELS):
    """targets: [(n, size, measured_s, algos)]. fixed: protocols kept as given (not fitted). chunked: NVLS with
    `channels` chunk channels and a fitted step (else two steps of 12.5 us)."""
    fixed = fixed or {}
    def loss(x):
        protos = dict(fixed)
        protos.update(decode(x, names, chunked, channels))
        return sum(math.log(model_time(protos, LINK[gpu], n, s, a) / t) ** 2 for n, s, t, a in targets) / len(targets)
    best = None
    for b0 in (math.log(5.0), math.log(30.0)):
        for e0 in (0.0, 1.5):
            x, v = nelder_mead(loss, start(names, b0, e0, chunked), iters=600 * len(names))
            x, v = nelder_mead(loss, x, 0.05)
            if best is None or v < best[1]:
                best = (x, v)
    protos = dict(fixed)
    protos.update(decode(best[0], names, chunked, channels))
    return protos


def rows(system=None, gpu=None, algo=None, min_size=MIB, below=None):
    return [r for r in ROWS if (system is None or r["system"] == system) and (gpu is None or r["gpu"] == gpu)
            and (algo is None or r["algorithm"] == algo) and int(r["size_bytes"]) >= min_size
            and (below is None or int(r["size_bytes"]) < below)]


def targets(rs, algos):
    return [(int(r["ranks"]), int(r["size_bytes"]), measured_time(r), algos) for r in rs]


def show(gpu, protos):
    print(f"{gpu}:")
    for name, p in protos.items():
        step = p[2] if len(p) > 2 else STEP[name]
        extra = f" chunk_channels {p[3]}" if len(p) > 3 and p[3] else ""
        extra += f" floor_latency {p[4] * 1e6:.1f}us" if len(p) > 4 else ""
        print(f"  {name:7s} base_latency {p[0] * 1e6:.1f}us step_latency {step * 1e6:.2f}us "
              f"scale_up_efficiency {p[1]:.3f}{extra}")


def errors(gpu, protos, system):
    """The fit's error in time at every measured size of `system`, as the tuner would choose."""
    out = []
    for r in rows(system, min_size=0):
        n, s = int(r["ranks"]), int(r["size_bytes"])
        t, ran = model_choice(protos, LINK[gpu], n, s)
        out.append((r["size_label"], 100 * (t / measured_time(r) - 1), ran))
    print(f"  {system}: " + " ".join(f"{label} {e:+.1f}% ({ran})" for label, e, ran in out))
    small = [abs(e) for (label, e, _), r in zip(out, rows(system, min_size=0)) if int(r["size_bytes"]) < MIB]
    below = f"{sum(small) / len(small):.1f}%" if small else "(none measured)"
    print(f"  mean |error| below 1 MiB {below}, all sizes "
          f"{sum(abs(e) for _, e, _ in out) / len(out):.1f}%, max {max(abs(e) for _, e, _ in out):.1f}%")


# Ring on H100 (NCCL_ALGO=RING, 2..8 GPUs, nvidia/nccl#1455): the Simple protocol's efficiency. Then, on the Azure
# ND H100 v5 all-reduce (8 GPUs, NCCL's own choice, 1 KiB to 8 GiB; Azure's page names NVLS: from 64 KiB, where the
# measured curve leaves ring LL's line for NVLS's plateau, the rows are NVLS's) with the NVLS forced rows of 4..8 GPUs
# (#1455; 3 GPUs left out: see docs/validation-nccl.md), ring LL and chunked NVLS together, every size (Simple held; ring LL128 at NCCL's own constants: NCCL never runs it
# on one NVLS node, and with them the tuner agrees). H200: the same with H100's Simple ring, NVLS alone (its curve is
# flat at ~30 us from 1 KiB: a ring LL line, fitted, is never the fastest and is not claimed).
ring_h100 = targets(rows("HGX_H100", algo="ring"), ("ring",))
simple = {"simple": (8.4e-6, fit("H100", ["simple"], ring_h100)["simple"][1])}  # NCCL's ring Simple baseLat 8.4 us
# (NVLS's old efficiencies x 9/8: they were fitted with NVLS moving S, and the model now moves 9/8 S on 8 GPUs.)
FITTED = {}  # the Hopper fits, by part (H100's NVLS line is carried to Blackwell below)
OLD = {"H100": {"ll": (15.9e-6, 0.015), "ll128": (7.4e-6, 0.704), "simple": (8.4e-6, 0.823), "nvls": (50.4e-6, 0.598 * 9 / 8)},
       "H200": {"ll128": (1.4e-6, 0.674), "simple": (8.4e-6, 0.823), "nvls": (45.9e-6, 0.601 * 9 / 8)}}
HELD = dict(simple, ll128=(14.0e-6, 0.92 * simple["simple"][1]))  # Simple fitted above; LL128 at NCCL's constants


def hopper_fit(gpu, system):
    """The ring LL (H100) and NVLS lines of a Hopper part over its Azure table (and H100's forced-NVLS rows)."""
    t = targets(rows(system, min_size=0, below=64 * 1024), ("ring", "nvls"))
    t += targets(rows(system, min_size=64 * 1024), ("nvls",))
    if gpu == "H100":
        t += targets([r for r in rows("HGX_H100", algo="nvls") if int(r["ranks"]) >= 4], ("nvls",))
    return fit(gpu, ["ll", "nvls"] if gpu == "H100" else ["nvls"], t, HELD)


for gpu, system in (("H100", "ND_H100_v5"), ("H200", "ND_H200_v5")):
    if "--old" in sys.argv:
        show(gpu + " (before: unchunked NVLS, fitted LL128)", OLD[gpu])
        errors(gpu, OLD[gpu], system)
        continue
    held = HELD
    protos = hopper_fit(gpu, system)
    # NCCL runs NVLS from 64 KiB on 8 GPUs (the measured step from ring LL's line onto NVLS's plateau; its tuner
    # never picks ring LL128 on one NVLS node): the floor is held, to 0.1 us, below ring LL128's time at 64 KiB.
    nv = protos["nvls"]
    ll128_64k = model_choice({"ll128": held["ll128"]}, LINK[gpu], 8, 65536)[0] - HOPS
    protos["nvls"] = nv[:4] + (min(nv[4], math.floor(ll128_64k * 1e7 - 0.5) * 1e-7),)
    show(gpu, protos)
    errors(gpu, protos, system)
    FITTED[gpu] = protos
if "--variants" in sys.argv:
    # The Hopper NVLS lines refitted under each alternative (the same rows and held protocols as above), error in
    # time from 64 KiB (NVLS's sizes): mean, max and 8 MiB, per part.
    for fill_rounds, use_floor in ((0, False), (0, True), (1, False), (2, False), (1, True), (2, True)):
        FILL_ROUNDS, USE_FLOOR = fill_rounds, use_floor
        line = []
        for gpu, system in (("H100", "ND_H100_v5"), ("H200", "ND_H200_v5")):
            protos = hopper_fit(gpu, system)
            errs = {int(r["size_bytes"]): 100 * (nvls_time(protos["nvls"], LINK[gpu], 8, int(r["size_bytes"]))
                                                  / measured_time(r) - 1) for r in rows(system, min_size=64 * 1024)}
            worst = max(errs, key=lambda k: abs(errs[k]))
            line.append(f"{gpu} mean {sum(abs(e) for e in errs.values()) / len(errs):.1f}% max {abs(errs[worst]):.1f}% "
                        f"({worst >> 10} KiB) 8 MiB {errs[8 * MIB]:+.1f}%")
        print(f"fill {fill_rounds} round(s), floor {'yes' if use_floor else 'no '}: " + "; ".join(line))
    sys.exit(0)
# GB200 (one ND GB200 v6 VM: 4 GPUs, ring by NCCL's choice), every size from 1 KiB: LL128 and Simple. (Fitted from
# 1 MiB only, LL128 came out with no base latency and 21% of the link, 26-32% fast below 1 MiB; from 1 KiB its
# base is the measured floor. A third, LL, line changes no size by more than 3%: not claimed.)
b200 = fit("GB200", ["ll128", "simple"], targets(rows("ND_GB200_v6", min_size=0), ("ring",)))
show("B200 (GB200 data)", b200)
errors("GB200", b200, "ND_GB200_v6")
# GB200 NVL72 (72 GPUs of one rack, coreweave/nccl-tests#43, 512 MiB to 8 GiB; NVLS inferred: the rings fitted
# above cannot reach the measured bus bandwidth): the NVLS protocol alone, the rings held.
# Unchunked (two steps): from 512 MiB up every call is past NCCL_STEPS rounds, so the measured sizes cannot tell a
# chunked model's step from its base.
nvl72 = fit("GB200", ["nvls"], targets(rows("NVL72_GB200"), ("nvls",)), b200, chunked=False)
show("GB200 NVL72 (NVLS)", nvl72)
errors("GB200", nvl72, "NVL72_GB200")
# B200 in one 8-GPU HGX/DGX node (and B300: the same NVLink 5 and switch, NCCL's Blackwell index), since 5 Dec 2026
# fitted: all_reduce_perf on the 8 B200 of a GCP a4-highgpu-8g (yangwhale/gpu-tpu-pedia, one process for 8 GPUs,
# NCCL's choice; NVLS inferred: the largest sizes exceed any ring line), 8 MiB to 4 GiB: the NVLS line alone (as
# H100's), NCCL's 24 single-node Blackwell NVLS channels (src/transport/nvls.cc, NVLS_NCHANNELS_SM100_NVL), the
# floor held at H100's (it does not bind from 8 MiB), the rings held (B200's above). The table's 8 and 16 GiB rows
# are left out: both 8-GPU B200 tables found step up there by 14% in bus bandwidth (739 -> 840 GB/s), at the first
# size whose float count exceeds 2^31 - 1, which no line follows (docs/validation-nccl.md). Checked, not fitted: AWS
# P6-B200 (stas00/ml-engineering, torch.distributed all-reduce, NCCL 2.27.7, 32 KiB to 16 GiB), "830+" GB/s on 8
# B200 (NVIDIA/nccl#1807, NCCL 2.27.1, the size not given) and 845 on 8 B300 (#2140). Before 5 Dec 2026 the line was
# derived (H100's x NCCL's nvlsEfficiency 0.74/0.85); its errors are printed first.
if "--old" not in sys.argv:
    h100_nvls = FITTED["H100"]["nvls"]
    base, eff, step = round(h100_nvls[0] * 1e6, 1) * 1e-6, round(h100_nvls[1], 3), round(h100_nvls[2] * 1e6, 2) * 1e-6
    floor = round(h100_nvls[4] * 1e6, 1) * 1e-6
    derived = dict(b200)
    derived["nvls"] = (base, round(eff * 0.74 / 0.85, 3), step, 24, floor)
    show("B200 8-GPU NVLS before 5 Dec 2026 (derived: H100's line x 0.74/0.85, 24 channels)", {"nvls": derived["nvls"]})
    errors("GB200", derived, "GKE_A4_B200")
    use_floor, USE_FLOOR = USE_FLOOR, False
    b200_nvls = fit("GB200", ["nvls"], targets(rows("GKE_A4_B200", below=8 << 30), ("nvls",)), b200, channels=24)
    USE_FLOOR = use_floor
    b200_nvls["nvls"] = b200_nvls["nvls"][:4] + (floor,)
    show("B200 8-GPU NVLS (fitted on GKE_A4_B200, 8 MiB to 4 GiB; floor H100's)", {"nvls": b200_nvls["nvls"]})
    errors("GB200", b200_nvls, "GKE_A4_B200")
    errors("GB200", b200_nvls, "P6_B200")
    print("  NVLS alone on GKE_A4_B200: " + " ".join(
        f"{r['size_label']} {100 * (nvls_time(b200_nvls['nvls'], LINK['GB200'], 8, int(r['size_bytes'])) / measured_time(r) - 1):+.1f}%"
        for r in rows("GKE_A4_B200")))
    for gb in (1, 8):
        s_ = gb << 30
        t, ran = model_choice(b200_nvls, LINK["GB200"], 8, s_)
        busbw = s_ * 2 * 7 / 8 / t / 1e9
        print(f"  8 GPUs, {gb} GiB: {ran} {busbw:.0f} GB/s bus bandwidth; against 830 (nccl#1807, B200) "
              f"{100 * (busbw / 830 - 1):+.1f}%, 845 (nccl#2140, B300) {100 * (busbw / 845 - 1):+.1f}%")
    for n in (2, 3, 4, 5, 8):
        print(f"  {n} GPUs: " + ", ".join(f"{label} {model_choice(b200_nvls, LINK['GB200'], n, sz)[1]}"
                                        for label, sz in (("64 KiB", 65536), ("1 MiB", MIB), ("16 MiB", 16 * MIB),
                                                          ("256 MiB", 256 * MIB), ("1 GiB", 1 << 30))))
# MI300X (since 5 Dec 2026): AMD's own all_reduce_perf on the 8 MI300X of one node (ROCm blog "Understanding RCCL
# Bandwidth and xGMI Performance on AMD Instinct MI300X": RCCL 2.22.3-develop, one process per GPU), 1 KiB to 16 GiB,
# RCCL's choice; no in-switch reduction, so rings, with NCCL's NVLink step latencies (RCCL's own xGMI values not
# used). Three ring lines fitted together on every size: LL, LL128 and Simple. RCCL runs LL128 on gfx942 where every
# GPU pair is on xGMI (ROCm/rccl#1089; its CHANGELOG, "Added support for the LL128 protocol on gfx942", RCCL 2.22.3
# for ROCm 6.4.2); whether the blog's develop build ran it is not recorded, and the middle line stands for whatever
# RCCL ran from 2 to 16 MiB, where LL and Simple alone miss the measured bend by up to +51% (printed below).
# On the mesh (since 3 Dec 2026, midday) the 8-GPU ring runs over 7 cycles that share no link (models/network/
# mesh_rings.cc), 7 links x 64 GB/s = LINK["MI300X"]: the closed form above is unchanged.
mi300x = fit("MI300X", ["ll", "ll128", "simple"], targets(rows("ROCmBlog_MI300X", min_size=0), ("ring",)))
show("MI300X", mi300x)
errors("MI300X", mi300x, "ROCmBlog_MI300X")
# Checked, not fitted: AMD Accelerator Cloud's 8 x MI300X (hisohara/ai-scripts, AAC8, a newer RCCL build: whole
# node, one process per GPU) and Azure's ND MI300X v5 VM (SR-IOV; the line fitted to it until 5 Dec 2026 gave 45 us
# at 1 KiB where both whole-node tables measure 13 us; docs/validation-rccl.md).
errors("MI300X", mi300x, "AAC8_MI300X")
errors("MI300X", mi300x, "ND_MI300X_v5")
# The alternative without the middle line (LL below 1 MiB, Simple from 1 MiB, fitted in turn), for the record.
two = fit("MI300X", ["simple"], targets(rows("ROCmBlog_MI300X"), ("ring",)))
two = fit("MI300X", ["ll"], targets(rows("ROCmBlog_MI300X", min_size=0, below=MIB), ("ring",)), two)
show("MI300X without LL128 (not used)", two)
errors("MI300X", two, "ROCmBlog_MI300X")
errors("MI300X", two, "AAC8_MI300X")
# All-gather and reduce-scatter inside a Hopper node (since 6 Dec 2026, sixth session): their kernels reach less of
# the link than all-reduce's ring does (data/calibration/nccl_scaleup_gather_scatter.csv; NVIDIA/nccl#1281: "There
# isn't a known reason for this. The CUDA compiler may make better choices when building reduce_scatter than
# allgather"). Each collective's factor on the Simple ring's efficiency is what makes lcsim's closed-form ring
# (hops + base + (n-1) x step + (n-1)/n x S / (link x eff x factor)) take the measured time at each table's largest
# size (8 GiB), where the rate has settled; over several tables the geometric mean. The middle sizes, whose measured
# rate approaches that slowly, are left as a miss (docs/validation-nccl-gather-scatter.md).
GS = list(csv.DictReader(open(os.path.join(ROOT, "data", "calibration", "nccl_scaleup_gather_scatter.csv"))))


def gather_scatter_factors(simple_eff=0.823, base=8.4e-6, step=3.4e-6, link=450e9):
    factors = {}
    for op in ("all_gather", "reduce_scatter"):
        per_table = []
        for system in sorted({r["system"] for r in GS if r["system"].startswith("HGX_H100") and r["operation"] == op}):
            r = max((r for r in GS if r["system"] == system and r["operation"] == op), key=lambda r: int(r["size_bytes"]))
            n, s, t = int(r["ranks"]), int(r["size_bytes"]), float(r["time_us"]) * 1e-6
            f = (n - 1) / n * s / (link * simple_eff) / (t - HOPS - base - (n - 1) * step)
            per_table.append(f)
            print(f"  {op} {system} ({n} GPUs, {s >> 30} GiB, {r['time_us']} us): factor {f:.4f}")
        factors[op] = math.exp(sum(math.log(f) for f in per_table) / len(per_table))
        print(f"{op}_scale_up_factor (H100, H200): {factors[op]:.4f} (geometric mean of {len(per_table)})")
    return factors


if "--gather-scatter" in sys.argv:
    gather_scatter_factors()
