"""Engine benchmark: prints import time, first-call (compile) cost and warm timings of the C maps.

Targets (issue 2, this 2-core machine): per-layer C map of a smooth activation on 1,001 points ≤ 2 ms warm;
whole-network C map at depth 10,000 on 1,001 points ≤ 50 ms warm. Figures are printed, not asserted.

    .venv/bin/python benchmarks/bench_engine.py            # full run
    .venv/bin/python benchmarks/bench_engine.py --quick    # fewer repeats

Columns: ``first`` = the first call in this process (tracing + XLA compilation + run); ``warm`` = median of
repeated identical calls; ``new σ`` = the first call after changing σ_w (what a dashboard slider does).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def import_time(repeats: int) -> list[float]:
    """Wall time of ``import sigprop`` in fresh interpreters (includes importing JAX)."""
    code = "import time; t = time.perf_counter(); import sigprop; print(time.perf_counter() - t)"
    out = []
    for _ in range(repeats):
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
        out.append(float(res.stdout.strip().splitlines()[-1]))
    return out


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def warm(fn, repeats: int) -> float:
    fn()
    return statistics.median(timed(fn) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    reps = 5 if args.quick else 20

    imports = import_time(2 if args.quick else 5)
    t0 = time.perf_counter()
    import sigprop as sp

    in_process_import = time.perf_counter() - t0
    c = np.linspace(-1.0, 1.0, 1001)
    rows = []

    # per-layer C maps: smooth (quadrature and closed form) and kinked (closed form)
    for spec in ("tanh", "swish", "erf", "gelu", "relu", "elu"):
        phi = sp.activation(spec)
        first = timed(lambda phi=phi: sp.c_map(phi, c, q=1.0, sigma_w=1.5, sigma_b=0.1))
        w = warm(lambda phi=phi: sp.c_map(phi, c, q=1.0, sigma_w=1.5, sigma_b=0.1), reps * 5)
        new_sigma = timed(lambda phi=phi: sp.c_map(phi, c, q=1.0, sigma_w=1.61, sigma_b=0.1))
        rows.append((f"per-layer C map, {spec}", "1,001", first, w, new_sigma, 2e-3))

    # whole network, depth 10,000
    for spec, sw, sb in (("relu", 2**0.5, 0.0), ("erf", 1.5, 0.1), ("tanh", 1.3, 0.05)):
        net = sp.mlp(spec, depth=10_000, sigma_w=sw, sigma_b=sb)
        first = timed(lambda net=net: net.c_map(c))
        w = warm(lambda net=net: net.c_map(c), reps)
        other = sp.mlp(spec, depth=10_000, sigma_w=sw * 1.01, sigma_b=sb)
        new_sigma = timed(lambda other=other: other.c_map(c))
        rows.append((f"depth-10,000 C_f map, {spec}", "1,001", first, w, new_sigma, 50e-3))
        traj = sp.mlp(spec, depth=10_000, sigma_w=sw * 1.02, sigma_b=sb)
        first = timed(lambda traj=traj: traj.c_trajectory(c[::10]))
        w = warm(lambda traj=traj: traj.c_trajectory(c[::10]), reps)
        rows.append((f"depth-10,000 c trajectory, {spec}", "101", first, w, float("nan"), float("nan")))

    net = sp.resnet("relu", blocks=5_000, shortcut_weight=0.8, layers_per_block=2, sigma_w=2**0.5)
    first = timed(lambda: net.c_map(c))
    rows.append(("resnet 5,000×2 C_f map, relu", "1,001", first, warm(lambda: net.c_map(c), reps), float("nan"),
                 50e-3))

    ms = lambda s: f"{'—':>9s}" if s != s else f"{1e3 * s:9.2f}"  # noqa: E731
    print(f"import sigprop (fresh interpreter, incl. JAX): median {statistics.median(imports):.2f} s "
          f"(min {min(imports):.2f} s over {len(imports)}); in this process {in_process_import:.2f} s")
    print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at the end of the run\n")
    print(f"{'what':36s} {'points':>6s} {'first ms':>9s} {'warm ms':>9s} {'new σ ms':>9s} {'target':>8s}  ok")
    for what, pts, first, w, new_sigma, target in rows:
        ok = "" if target != target else ("yes" if w <= target else "NO")
        print(f"{what:36s} {pts:>6s} {ms(first)} {ms(w)} {ms(new_sigma)} {ms(target)[1:]}  {ok}")


if __name__ == "__main__":
    main()
