"""Timings of the initialisation methods (targets from issue 3).

    python benchmarks/bench_methods.py

Prints: DKS and TAT solve times for tanh at depth 100 (cold = first call incl. JIT compilation; warm = a new
target with compiled solvers; cache hit), a depth sweep 1 … 1000 (time per depth and the largest jump of the
constants between neighbouring depths), and the time of a 200×200 EOC phase diagram.
Targets: warm ≤ 20 ms, cache hit ≤ 2 ms, phase diagram ≤ 1 s.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np
from scipy.interpolate import CubicSpline

import sigprop as sp
from sigprop import methods as M


def _time(fn, repeat=1):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, times


def bench_solver(name, method):
    phi = sp.activation("tanh")
    solve = getattr(M, method)
    M.clear_cache()
    _, cold = _time(lambda: solve(phi, depth=100))
    warm = []
    for depth in (101, 102, 103, 104, 105, 99, 98, 97):  # new targets: no cache hit, compiled solver
        warm += _time(lambda d=depth: solve(phi, depth=d))[1]
    _, hit = _time(lambda: solve(phi, depth=100), repeat=200)
    print(f"{name:4s} tanh depth 100: cold {cold[0] * 1e3:8.1f} ms | warm median "
          f"{statistics.median(warm) * 1e3:6.2f} ms (max {max(warm) * 1e3:.2f}) | cache hit median "
          f"{statistics.median(hit) * 1e6:6.1f} µs")


def bench_sweep(method):
    phi = sp.activation("tanh")
    solve = getattr(M, method)
    M.clear_cache()
    depths = np.unique(np.round(np.geomspace(1, 1000, 120)).astype(int))
    t0 = time.perf_counter()
    consts = np.array([[getattr(solve(phi, depth=int(L)), k) for k in ("alpha", "beta", "gamma", "delta")]
                       for L in depths])
    dt = time.perf_counter() - t0
    print(f"{method.upper():4s} tanh sweep over {depths.size} depths 1…1000: {dt:.2f} s "
          f"({dt / depths.size * 1e3:.1f} ms/depth)")
    # continuity: a cubic spline in log-depth through every other depth (from 2) predicts the others
    keep = depths >= 2
    u, curves = np.log(depths[keep]), consts[keep]
    curves = np.column_stack([np.log(curves[:, 0]), curves[:, 1], np.log(curves[:, 2]), curves[:, 3]])
    even, odd = np.arange(0, u.size, 2), np.arange(1, u.size - 1, 2)
    dev = np.abs(CubicSpline(u[even], curves[even])(u[odd]) - curves[odd]).max(axis=0) / np.ptp(curves, axis=0)
    print("      continuity: max spline-prediction error / range of (log α, β, log γ, δ) "
          "(a root jump is ~0.2–0.5):", np.round(dev, 4))
    d_rel = np.abs(np.diff(consts[depths >= 10], axis=0)) / np.abs(consts[depths >= 10][1:])
    print("      max relative change between neighbouring depths ≥ 10 (α, β, γ, δ):", np.round(d_rel.max(0), 4))


def bench_phase_diagram():
    w2 = np.linspace(0.05, 4.0, 200)
    b2 = np.linspace(0.0, 0.25, 200)
    for name in ("tanh", "erf", "relu"):
        _, cold = _time(lambda n=name: M.phase_diagram(n, w2, b2))
        _, warm = _time(lambda n=name: M.phase_diagram(n, w2, b2), repeat=3)
        print(f"phase diagram 200×200 {name:5s}: first {cold[0]:.2f} s, then median {statistics.median(warm):.2f} s")


def main():
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    bench_solver("DKS", "dks")
    bench_solver("TAT", "tat")
    bench_sweep("dks")
    bench_sweep("tat")
    _, t = _time(lambda: M.tat("leaky_relu", depth=100, eta=0.9))
    _, t2 = _time(lambda: M.tat("leaky_relu", depth=101, eta=0.9))
    print(f"TAT leaky_relu depth 100 (η = 0.9): first {t[0] * 1e3:.1f} ms, next depth {t2[0] * 1e3:.1f} ms")
    _, t = _time(lambda: M.eoc("tanh", sigma_b=0.3), repeat=3)
    print(f"EOC tanh σ_b = 0.3: first {t[0] * 1e3:.0f} ms, then {t[-1] * 1e3:.1f} ms")
    bench_phase_diagram()


if __name__ == "__main__":
    main()
