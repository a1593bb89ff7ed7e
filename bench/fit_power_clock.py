#!/usr/bin/env python3
"""Fit the power-clock curve of models/hardware/power_limit.h to Perseus's A100 SXM stage profile.

The profile (models/hardware/calibration/data/perseus_a100_gpt3_stage.csv) holds the time and energy of one GPT-3
175B pipeline stage's forward and backward at locked SM clocks. Average power = (forward + backward energy) /
(forward + backward time). Fitted over the clocks the GPU actually held (<= 1,290 MHz: above it the part's own limit
binds and the time stops following the clock): P(f) = c1 f + c2 f^n by least squares for each n on a 0.01 grid.
Normalized at the clock where P = 400 W (A100's TDP): linear_share = c1 f_tdp / 400, exponent = n.

  python3 bench/fit_power_clock.py            # prints the fit, the clock-bound share and the clock at 5/7 of TDP
"""
import csv
import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "models", "hardware", "calibration", "data", "perseus_a100_gpt3_stage.csv")
TDP_W = 400.0
HELD_MHZ = 1290.0


def load():
    rows = []
    with open(DATA) as f:
        for r in csv.DictReader(f):
            t = float(r["forward_s"]) + float(r["backward_s"])
            e = float(r["forward_j"]) + float(r["backward_j"])
            rows.append((float(r["frequency_mhz"]) / 1000.0, t, e / t))
    return rows


def fit_two(x1, x2, y):
    """Least squares y = a x1 + b x2 (no intercept)."""
    s11 = sum(a * a for a in x1)
    s12 = sum(a * b for a, b in zip(x1, x2))
    s22 = sum(b * b for b in x2)
    t1 = sum(a * c for a, c in zip(x1, y))
    t2 = sum(b * c for b, c in zip(x2, y))
    det = s11 * s22 - s12 * s12
    return (t1 * s22 - t2 * s12) / det, (s11 * t2 - s12 * t1) / det


def bisect(fn, target, lo, hi):
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if fn(mid) < target else (lo, mid)
    return 0.5 * (lo + hi)


def main():
    rows = load()
    held = [r for r in rows if r[0] * 1000 <= HELD_MHZ]
    f = [r[0] for r in held]
    p = [r[2] for r in held]
    best = None
    for k in range(1200):
        n = 1.5 + 0.01 * k
        c1, c2 = fit_two(f, [x ** n for x in f], p)
        rms = math.sqrt(sum((c1 * x + c2 * x ** n - y) ** 2 for x, y in zip(f, p)) / len(f))
        if best is None or rms < best[0]:
            best = (rms, n, c1, c2)
    rms, n, c1, c2 = best
    f_tdp = bisect(lambda x: c1 * x + c2 * x ** n, TDP_W, 0.1, 3.0)
    share = c1 * f_tdp / TDP_W
    print(f"P = {c1:.1f} W/GHz f + {c2:.2f} W (f/GHz)^{n:.2f}: rms {rms:.2f} W over {len(f)} clocks "
          f"{min(f) * 1000:.0f}-{max(f) * 1000:.0f} MHz")
    print(f"{TDP_W:.0f} W at {f_tdp * 1000:.0f} MHz: linear_share {share:.4f}, exponent {n:.2f}")
    # How much of the stage's time follows the clock: t = t0 + b / f over the clocks <= 1,200 MHz.
    low = [r for r in rows if r[0] * 1000 <= 1200]
    xs = [1 / r[0] for r in low]
    ts = [r[1] for r in low]
    mx, mt = sum(xs) / len(xs), sum(ts) / len(ts)
    b = sum((x - mx) * (t - mt) for x, t in zip(xs, ts)) / sum((x - mx) ** 2 for x in xs)
    t0 = mt - b * mx
    print(f"t = {t0 * 1000:.1f} ms + {b * 1000:.1f} ms GHz / f: {b / 1.2 / (t0 + b / 1.2):.0%} of it follows "
          f"the clock at 1,200 MHz")
    for r in rows[:6]:
        print(f"  requested {r[0] * 1000:.0f} MHz: {r[2]:.1f} W, time implies {b / (r[1] - t0) * 1000:.0f} MHz")
    curve = lambda x: share * x + (1 - share) * x ** n
    for watts in (600, 500, 400, 300):
        x = bisect(curve, watts / 700.0, 0.0, 1.0)
        print(f"  a 700 W part at {watts} W: clock fraction {x:.4f}, compute-bound kernels x{1 / x:.3f}")


if __name__ == "__main__":
    main()
