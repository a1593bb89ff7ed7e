#!/usr/bin/env python3
"""Kernel times and SM clocks of one Hopper GPU (H100 or H200), measured for lcsim's calibration.

Run on a lent device machine (/work/.library/device: one H100 or H200, PyTorch and nvidia-ml-py installed) as one
call, e.g. `python3 bench/device/hopper_kernels.py "$OUT" --budget 420`, then on this machine
`python3 bench/device/compare_hopper.py DIR [BUILD_DIR]` puts the measurements beside lcsim's model of the same kernels
(docs/calibration.md, "Measuring on a lent GPU"). What it measures is what docs/validation-dense-h100.md and
docs/validation-moe.md list as measured nowhere public:
  clocks.csv     the SM clock, board power and throttle reasons every 10 ms while (1) 8192^3 BF16 GEMMs and (2) a
                 Llama 3 8B layer's forward and backward run back to back for --sustain seconds each: a sustained
                 clock under a training-like load (lcsim's gemm_sustained_efficiency stands for it)
  layer.csv      that layer's time per forward and backward (bf16, PyTorch eager: lcsim's layer_kernels torch_eager)
  gemm_bf16.csv, gemm_fp8.csv
                 `operator,dtype,m,n,k,time_us` (lcsim calibrate's format) at the GEMM shapes of the validation rows'
                 layers (forward, data gradient and weight gradient of Llama 3 8B and Llama 3 70B at TP 4), measured
                 after the sustained phases, so at the clock a training step holds
  attention.csv  causal attention forward and backward (SDPA's flash and cuDNN backends; 32 query heads, 8 key/value
                 heads, head dimension 128) from 2K to 32K tokens, as TFLOP/s (the format of h100_attention_fa3_paper.csv
                 plus time_us)
  grouped.csv    Qwen3-30B-A3B's expert GEMMs (groups x tokens, n 1,536 / 2,048, k 2,048 / 768) in BF16 and FP8,
                 one GEMM per expert on 4 streams (as Transformer Engine's general_grouped_gemm), one after another,
                 and torch._grouped_mm where PyTorch has it (the format of h100_grouped_gemm_te.csv plus dtype)
  membound.csv   streaming kernels (copy, add, rms_norm, silu x mul, FP8 cast, amax) as bytes moved and time
  summary.json   the device, driver and library versions, the median clock and power of each phase, what was skipped
Each section writes its file when it ends; one past the time budget is skipped (summary.json says which), so a
call cut short still returns what it measured. Exit status 2 where there is no CUDA GPU or PyTorch.

usage: bench/device/hopper_kernels.py OUT_DIR [--budget SECONDS] [--sustain SECONDS]
"""
import csv
import json
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bench_args  # noqa: E402

USAGE = "bench/device/hopper_kernels.py OUT_DIR [--budget SECONDS] [--sustain SECONDS]"


_opts = bench_args.parse(USAGE, valued={"--budget": bench_args.positive_int, "--sustain": bench_args.positive_int},
                         positionals=[("OUT_DIR", None)])
OUT, BUDGET, SUSTAIN = _opts["OUT_DIR"], _opts.get("--budget") or 420, _opts.get("--sustain") or 20
try:
    import torch
    import torch.nn.functional as F
except ImportError:
    bench_args.fail(USAGE, "needs PyTorch (python3 -c 'import torch'): run it on a lent GPU machine")
if not torch.cuda.is_available():
    bench_args.fail(USAGE, "PyTorch sees no CUDA GPU: run it on a lent GPU machine")

os.makedirs(OUT, exist_ok=True)
START = time.time()
DEV = torch.device("cuda")
summary = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda,
           "sms": torch.cuda.get_device_properties(0).multi_processor_count, "budget_s": BUDGET,
           "sustain_s": SUSTAIN, "skipped": [], "errors": {}, "phases": {}}


def left():
    return BUDGET - (time.time() - START)


# --- the clock sampler (NVML, every 10 ms, tagged with the phase the main thread is in) ---
class Sampler:
    def __init__(self):
        self.phase = "idle"
        self.rows = []
        self.stop = threading.Event()
        self.nvml = None
        try:
            import pynvml
            pynvml.nvmlInit()
            self.nvml = pynvml
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            summary["driver"] = _text(pynvml.nvmlSystemGetDriverVersion())
        except Exception as e:  # noqa: BLE001 (no NVML: the kernels are still timed)
            summary["errors"]["nvml"] = repr(e)
        self.thread = threading.Thread(target=self.run, daemon=True)

    def read(self):
        n, h = self.nvml, self.handle
        sm = n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_SM)
        power = n.nvmlDeviceGetPowerUsage(h) / 1000.0
        temp = n.nvmlDeviceGetTemperature(h, n.NVML_TEMPERATURE_GPU)
        reasons_fn = getattr(n, "nvmlDeviceGetCurrentClocksEventReasons", None) or n.nvmlDeviceGetCurrentClocksThrottleReasons
        return sm, power, temp, reasons_fn(h)

    def run(self):
        while not self.stop.is_set():
            try:
                sm, power, temp, reasons = self.read()
                self.rows.append((self.phase, round(time.time() - START, 4), sm, round(power, 1), temp, reasons))
            except Exception as e:  # noqa: BLE001
                summary["errors"]["nvml_read"] = repr(e)
                return
            time.sleep(0.01)

    def start(self):
        if self.nvml:
            self.thread.start()

    def clock_now(self):
        try:
            return self.read()[0] if self.nvml else None
        except Exception:  # noqa: BLE001
            return None

    def finish(self):
        self.stop.set()
        if self.nvml:
            self.thread.join(timeout=1)
        with open(os.path.join(OUT, "clocks.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["phase", "t_s", "sm_mhz", "power_w", "temp_c", "clock_event_reasons"])
            w.writerows(self.rows)
        for phase in sorted({r[0] for r in self.rows}):
            rs = [r for r in self.rows if r[0] == phase]
            summary["phases"].setdefault(phase, {}).update(
                {"samples": len(rs), "sm_mhz_median": statistics.median(r[2] for r in rs),
                 "sm_mhz_min": min(r[2] for r in rs), "power_w_median": statistics.median(r[3] for r in rs),
                 "power_w_max": max(r[3] for r in rs), "temp_c_max": max(r[4] for r in rs)})


def _text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


sampler = Sampler()
sampler.start()


def timed(fn, target_s=0.05, min_iters=3):
    """Mean time of fn() in microseconds: a warm-up call, then enough calls for about target_s, between CUDA events."""
    fn()
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    fn()
    b.record()
    b.synchronize()
    one = max(a.elapsed_time(b) / 1e3, 1e-6)
    n = max(min_iters, min(1000, int(target_s / one)))
    a.record()
    for _ in range(n):
        fn()
    b.record()
    b.synchronize()
    return a.elapsed_time(b) * 1e3 / n


def section(name, fn):
    if left() <= 0:
        summary["skipped"].append(name)
        return
    sampler.phase = name
    t0 = time.time()
    try:
        fn()
    except Exception as e:  # noqa: BLE001 (one section's failure must not cost the others)
        summary["errors"][name] = repr(e)
    summary["phases"].setdefault(name, {})["wall_s"] = round(time.time() - t0, 2)
    sampler.phase = "idle"


def write_csv(name, header, rows):
    with open(os.path.join(OUT, name), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


HAS_FP8 = hasattr(torch, "float8_e4m3fn") and hasattr(torch, "_scaled_mm")


def fp8_gemm(m, n, k):
    """C[m x n] = A[m x k] B[k x n] in FP8 (e4m3, per-tensor scales, BF16 out): cuBLASLt through torch._scaled_mm,
    which wants B column-major (the transpose of an n x k row-major weight)."""
    a = torch.randn(m, k, device=DEV).to(torch.float8_e4m3fn)
    w = torch.randn(n, k, device=DEV).to(torch.float8_e4m3fn)
    one = torch.tensor(1.0, device=DEV)
    return lambda: torch._scaled_mm(a, w.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16)


def bf16_gemm(m, n, k):
    a = torch.randn(m, k, device=DEV, dtype=torch.bfloat16)
    b = torch.randn(k, n, device=DEV, dtype=torch.bfloat16)
    return lambda: a @ b


# --- 1. sustained GEMMs: TFLOP/s per block of 20 and the clock, for SUSTAIN seconds ---
def sustained_gemm():
    f = bf16_gemm(8192, 8192, 8192)
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    rows, end = [], time.time() + SUSTAIN
    while time.time() < end:
        a.record()
        for _ in range(20):
            f()
        b.record()
        b.synchronize()
        rows.append((round(time.time() - START, 3), round(20 * 2 * 8192 ** 3 / (a.elapsed_time(b) / 1e3) / 1e12, 1),
                     sampler.clock_now()))
    write_csv("sustained_gemm.csv", ["t_s", "tflops", "sm_mhz"], rows)
    first, last = rows[0][1], statistics.median(r[1] for r in rows[len(rows) // 2:])
    summary["phases"].setdefault("sustained_gemm", {}).update({"tflops_first_block": first, "tflops_second_half_median": last})


# --- 2. a Llama 3 8B layer, forward and backward, back to back (PyTorch eager, bf16, one micro-batch of 8,192) ---
def llama_layer(tokens=8192, h=4096, ffn=14336, heads=32, kv=8, d=128):
    bf = dict(device=DEV, dtype=torch.bfloat16)
    w = {n: (torch.randn(*s, **bf) * 0.02).requires_grad_() for n, s in {
        "qkv": ((heads + 2 * kv) * d, h), "proj": (h, heads * d), "up": (2 * ffn, h), "down": (h, ffn),
        "n1": (h,), "n2": (h,)}.items()}
    x = torch.randn(1, tokens, h, **bf).requires_grad_()

    def step():
        y = F.rms_norm(x, (h,), w["n1"])
        q, k, v = (y @ w["qkv"].t()).split([heads * d, kv * d, kv * d], dim=-1)
        q = q.view(1, tokens, heads, d).transpose(1, 2)
        k = k.view(1, tokens, kv, d).transpose(1, 2)
        v = v.view(1, tokens, kv, d).transpose(1, 2)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        r = x + o.transpose(1, 2).reshape(1, tokens, heads * d) @ w["proj"].t()
        g, u = (F.rms_norm(r, (h,), w["n2"]) @ w["up"].t()).chunk(2, dim=-1)
        out = r + (F.silu(g) * u) @ w["down"].t()
        out.sum().backward()
    return step


def sustained_layer():
    step = llama_layer()
    rows, end = [], time.time() + SUSTAIN
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    while time.time() < end:
        a.record()
        step()
        b.record()
        b.synchronize()
        rows.append((round(time.time() - START, 3), round(a.elapsed_time(b) * 1e3, 1), sampler.clock_now()))
    write_csv("layer.csv", ["t_s", "forward_backward_us", "sm_mhz"], rows)
    summary["phases"].setdefault("sustained_layer", {})["layer_us_second_half_median"] = statistics.median(
        r[1] for r in rows[len(rows) // 2:])


# --- 3. GEMMs at the validation rows' shapes (forward, data gradient, weight gradient) ---
def layer_gemms(h, ffn, heads, kv, d, tp, tokens):
    qkv, up = (heads + 2 * kv) * d // tp, 2 * ffn // tp
    shapes = []
    for n, k in ((qkv, h), (h, heads * d // tp), (up, h), (h, ffn // tp)):
        shapes += [(tokens, n, k), (tokens, k, n), (n, k, tokens)]  # forward, dgrad, wgrad (m, n, k)
    return shapes


GEMM_SHAPES = sorted({s for t in (4096, 8192, 16384) for s in
                      layer_gemms(4096, 14336, 32, 8, 128, 1, t) + layer_gemms(8192, 28672, 64, 8, 128, 4, t)})


def gemms(dtype):
    def run():
        rows = []
        for m, n, k in GEMM_SHAPES:
            if left() <= 0:
                summary["skipped"].append(f"gemm_{dtype} after {len(rows)} shapes")
                break
            f = fp8_gemm(m, n, k) if dtype == "fp8" else bf16_gemm(m, n, k)
            rows.append(("gemm", dtype, m, n, k, round(timed(f), 2)))
            del f
        write_csv(f"gemm_{dtype}.csv", ["operator", "dtype", "m", "n", "k", "time_us"], rows)
    return run


# --- 4. causal attention, flash and cuDNN, forward and backward ---
def attention():
    from torch.nn.attention import SDPBackend, sdpa_kernel
    rows = []
    heads, kv, d = 32, 8, 128
    for backend, name in ((SDPBackend.FLASH_ATTENTION, "flash2"), (SDPBackend.CUDNN_ATTENTION, "cudnn")):
        for s in (2048, 4096, 8192, 16384, 32768):
            if left() <= 0:
                summary["skipped"].append(f"attention {name} from {s}")
                break
            q = torch.randn(1, heads, s, d, device=DEV, dtype=torch.bfloat16, requires_grad=True)
            k = torch.randn(1, kv, s, d, device=DEV, dtype=torch.bfloat16, requires_grad=True)
            v = torch.randn(1, kv, s, d, device=DEV, dtype=torch.bfloat16, requires_grad=True)
            gqa = True
            try:
                with sdpa_kernel(backend):
                    fwd = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)  # noqa: E731
                    fwd()
            except Exception:  # noqa: BLE001 (a backend without GQA: the key/value heads repeated, as torchtitan does)
                gqa = False
                kr, vr = k.repeat_interleave(heads // kv, 1), v.repeat_interleave(heads // kv, 1)
                fwd = lambda: F.scaled_dot_product_attention(q, kr, vr, is_causal=True)  # noqa: E731
            try:
                with sdpa_kernel(backend):
                    t_f = timed(fwd)
                    o = fwd()
                    g = torch.randn_like(o)
                    t_fb = timed(lambda: torch.autograd.grad(fwd(), (q, k, v), g))
            except Exception as e:  # noqa: BLE001
                summary["errors"][f"attention {name} {s}"] = repr(e)
                continue
            flops = 4 * heads * s * s * d / 2  # causal: half the score matrix (lcsim's count)
            clock = sampler.clock_now()
            rows.append((name, "forward", "true", d, s, round(flops / t_f / 1e6, 1), round(t_f, 1), gqa, clock))
            t_b = t_fb - t_f
            rows.append((name, "backward", "true", d, s, round(2.5 * flops / t_b / 1e6, 1), round(t_b, 1), gqa, clock))
            del q, k, v
    write_csv("attention.csv", ["kernel", "pass", "causal", "head_dim", "seq_len", "tflops", "time_us", "gqa_native",
                                "sm_mhz"], rows)


# --- 5. Qwen3-30B-A3B's expert GEMMs, grouped three ways ---
def grouped():
    rows = []
    streams = [torch.cuda.Stream() for _ in range(4)]
    for dtype in ("bf16", "fp8") if HAS_FP8 else ("bf16",):
        for groups, tokens in ((8, 4096), (16, 2048), (16, 4096), (32, 1024)):
            for n, k in ((1536, 2048), (2048, 768)):
                if left() <= 0:
                    summary["skipped"].append(f"grouped {dtype} {groups}x{tokens}")
                    break
                fs = [fp8_gemm(tokens, n, k) if dtype == "fp8" else bf16_gemm(tokens, n, k) for _ in range(groups)]

                def multi_stream():
                    cur = torch.cuda.current_stream()
                    for s in streams:
                        s.wait_stream(cur)
                    for i, f in enumerate(fs):
                        with torch.cuda.stream(streams[i % 4]):
                            f()
                    for s in streams:
                        cur.wait_stream(s)

                def sequential():
                    for f in fs:
                        f()
                flops = 2.0 * groups * tokens * n * k
                for lib, fn in (("torch_multi_stream4", multi_stream), ("torch_sequential", sequential)):
                    rows.append((lib, dtype, groups, tokens, n, k, round(flops / timed(fn) / 1e6, 1)))
                gm = getattr(torch, "_grouped_mm", None)
                if gm is not None and dtype == "bf16":
                    try:
                        a = torch.randn(groups * tokens, k, device=DEV, dtype=torch.bfloat16)
                        b = torch.randn(groups, n, k, device=DEV, dtype=torch.bfloat16).transpose(-2, -1)
                        offs = torch.arange(tokens, groups * tokens + 1, tokens, device=DEV, dtype=torch.int32)
                        rows.append(("torch_grouped_mm", dtype, groups, tokens, n, k,
                                     round(flops / timed(lambda: gm(a, b, offs=offs, out_dtype=torch.bfloat16)) / 1e6, 1)))
                    except Exception as e:  # noqa: BLE001
                        summary["errors"]["torch_grouped_mm"] = repr(e)
                del fs
    write_csv("grouped.csv", ["library", "dtype", "groups", "m", "n", "k", "tflops"], rows)


# --- 6. streaming kernels: bytes read and written, time ---
def membound():
    tokens, h = 16384, 4096
    x = torch.randn(tokens, h, device=DEV, dtype=torch.bfloat16)
    y, wn = torch.randn_like(x), torch.ones(h, device=DEV, dtype=torch.bfloat16)
    g2 = torch.randn(tokens, 2 * h, device=DEV, dtype=torch.bfloat16)
    nb = x.numel() * 2
    cases = [("copy", lambda: x.clone(), 2 * nb), ("add", lambda: x + y, 3 * nb),
             ("rms_norm", lambda: F.rms_norm(x, (h,), wn), 2 * nb),
             ("silu_mul", lambda: F.silu(g2[:, :h]) * g2[:, h:], 5 * nb)]  # eager: silu (2 x nb), then mul (3 x nb)
    if HAS_FP8:
        cases += [("cast_fp8", lambda: x.to(torch.float8_e4m3fn), nb + nb // 2), ("amax", lambda: x.abs().amax(), 3 * nb)]  # eager: abs (2 x nb), then amax (nb)
    rows = []
    for name, fn, moved in cases:
        t = timed(fn)
        rows.append((name, moved, round(t, 2), round(moved / t / 1e6, 3)))
    write_csv("membound.csv", ["kernel", "bytes", "time_us", "tb_per_s"], rows)


try:
    section("sustained_gemm", sustained_gemm)
    section("sustained_layer", sustained_layer)
    section("gemm_bf16", gemms("bf16"))
    if HAS_FP8:
        section("gemm_fp8", gemms("fp8"))
    section("attention", attention)
    section("grouped", grouped)
    section("membound", membound)
finally:
    sampler.finish()
    summary["wall_s"] = round(time.time() - START, 1)
    with open(os.path.join(OUT, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps({k: summary[k] for k in ("device", "wall_s", "skipped", "errors")}, indent=1))
