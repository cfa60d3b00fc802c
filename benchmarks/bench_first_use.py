"""First use, measured as a new user meets it: every figure in a fresh interpreter with an empty JAX cache,
side by side with the reference library dks solving the same problem from scratch in the same run.

    python benchmarks/bench_first_use.py            # (make bench runs it)
    BENCH_ONLY=10,000 BENCH_REPEATS=5 python benchmarks/bench_first_use.py   # some rows, more repeats

dks is not a dependency: it is installed once into a throw-away venv under build/dks-venv (pip install dks
absl-py); without network access that step is skipped and the dks column reads "n/a". Each row is the
median of ``REPEATS`` fresh processes; the machine is shared and noisy, so compare the ratio column.
Targets (the engine issue): import ≤ 0.5 s; first dks/tat at depth 100 ≤ 100 ms and ≥ 2.5× faster than dks
cold; next depth ≤ 2 ms; first eoc ≤ 50 ms; first depth-100 c_map (201 points) ≤ 50 ms; depth-10,000 c_map
(1,001 points) ≤ 200 ms cold, ≤ 20 ms warm (after the background compilation that a second use
starts); kinked DKS/TAT/EOC ≤ 200 ms and ≤ 500 MB; ResNet-101 solves ≤ 1 s.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DKS_VENV = ROOT / "build" / "dks-venv"
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
ONLY = os.environ.get("BENCH_ONLY", "")  # run only the rows whose name contains this

PRELUDE = """
import json, resource, sys, time
T0 = time.perf_counter()
def clock():
    return time.perf_counter()
def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
OUT = {}
"""

SIGPROP = {
    "import sigprop": "import sigprop as sp\nOUT['t'] = clock() - T0",
    "dks tanh L=100 (first)": "import sigprop as sp\nt = clock(); sp.dks('tanh', depth=100); OUT['t'] = clock() - t",
    "dks tanh L=101 (next depth)": ("import sigprop as sp\nsp.dks('tanh', depth=100)\n"
                                    "t = clock(); sp.dks('tanh', depth=101); OUT['t'] = clock() - t"),
    "dks softplus L=100": "import sigprop as sp\nt = clock(); sp.dks('softplus', depth=100); OUT['t'] = clock() - t",
    "dks gelu L=100": "import sigprop as sp\nt = clock(); sp.dks('gelu', depth=100); OUT['t'] = clock() - t",
    "tat tanh L=100": "import sigprop as sp\nt = clock(); sp.tat('tanh', depth=100); OUT['t'] = clock() - t",
    "tat softplus L=100": "import sigprop as sp\nt = clock(); sp.tat('softplus', depth=100); OUT['t'] = clock() - t",
    "eoc tanh σ_b=0.3": "import sigprop as sp\nt = clock(); sp.eoc('tanh', sigma_b=0.3); OUT['t'] = clock() - t",
    "eoc tanh σ_b=0 (the default: q* = 0 in closed form)": (
        "import sigprop as sp\nt = clock(); sp.eoc('tanh'); OUT['t'] = clock() - t"),
    "eoc gelu σ_b=1 (closed-form kernel)": ("import sigprop as sp\nt = clock(); sp.eoc('gelu', sigma_b=1.0); "
                                            "OUT['t'] = clock() - t"),
    "q_map_slope tanh, 50 q (no JAX)": ("import numpy as np, sigprop as sp\nt = clock(); "
                                        "sp.q_map_slope('tanh', np.geomspace(0.01, 4, 50), 1.3, 0.2); "
                                        "OUT['t'] = clock() - t"),
    "mlp tanh L=100 c_map 201 pts": ("import numpy as np, sigprop as sp\nt = clock(); "
                                     "sp.mlp('tanh', 100, sigma_w=1.3, sigma_b=0.2).c_map(np.linspace(-1, 1, 201)); "
                                     "OUT['t'] = clock() - t"),
    "mlp relu L=10,000 c_map 1,001 pts (cold)": (
        "import numpy as np, sigprop as sp\nnet = sp.mlp('relu', 10_000, sigma_w=2 ** 0.5)\n"
        "t = clock(); net.c_map(np.linspace(-1, 1, 1001)); OUT['t'] = clock() - t"),
    "mlp relu L=10,000 c_map 1,001 pts (second call)": (
        "import numpy as np, sigprop as sp\nnet = sp.mlp('relu', 10_000, sigma_w=2 ** 0.5)\n"
        "net.c_map(np.linspace(-1, 1, 1001))\nnet = sp.mlp('relu', 9_999, sigma_w=1.41)\n"
        "t = clock(); net.c_map(np.linspace(-1, 1, 1001)); OUT['t'] = clock() - t"),
    "mlp relu L=10,000 c_map 1,001 pts (warm: tiered up)": (
        "import numpy as np, sigprop as sp\nfrom sigprop.network.propagate import TIER_UP\n"
        "x = np.linspace(-1, 1, 1001)\nsp.mlp('relu', 10_000, sigma_w=2 ** 0.5).c_map(x)\n"
        "net = sp.mlp('relu', 9_999, sigma_w=1.41)\nnet.c_map(x)\nTIER_UP.wait()\nnet.c_map(x)\n"
        "net = sp.mlp('relu', 9_998, sigma_w=1.42)\n"
        "t = clock(); net.c_map(x); OUT['t'] = clock() - t"),
    "resnet tanh 50 blocks NTK, 41 cosines (first)": (
        "import numpy as np, sigprop as sp\nnet = sp.resnet('tanh', 50, 0.8)\n"
        "t = clock(); sp.ntk(net, np.linspace(-1, 1, 41)); sp.ntk_condition_numbers(net); OUT['t'] = clock() - t"),
    "phase diagram tanh 200×200": (
        "import numpy as np, sigprop as sp\nt = clock(); "
        "sp.phase_diagram('tanh', np.linspace(0.1, 4, 200), np.linspace(0, 1, 200)); OUT['t'] = clock() - t"),
    "ResNet-101 DKS softplus ζ=1.2": (
        "import sigprop as sp\nnet = sp.modified_resnet('softplus', 101, 0.6)\n"
        "t = clock(); sp.dks('softplus', network=net, zeta=1.2); OUT['t'] = clock() - t"),
    "ResNet-101 TAT tanh τ=0.2": (
        "import sigprop as sp\nnet = sp.modified_resnet('tanh', 101, 0.6)\n"
        "t = clock(); sp.tat('tanh', network=net, tau=0.2); OUT['t'] = clock() - t"),
}
for _name, _call in (("relu", "sp.dks('relu', depth=50)"), ("leaky_relu", "sp.dks('leaky_relu', depth=50)"),
                     ("elu", "sp.dks('elu', depth=50)"), ("selu", "sp.dks('selu', depth=50)"),
                     ("relu(x+0.5)", "sp.eoc('relu(x+0.5)', sigma_b=0.1)"),
                     ("leaky TAT", "sp.tat('leaky_relu', depth=50)"), ("elu TAT", "sp.tat('elu', depth=50)")):
    SIGPROP[f"kinked: {_call}"] = (f"import sigprop as sp\nt = clock()\ntry:\n    {_call}\nexcept sp.SigpropError:\n"
                                   "    pass\nOUT['t'] = clock() - t\nOUT['mb'] = rss_mb()")
    if "eoc" not in _call:
        SIGPROP[f"kinked: c_map of mlp(..., init={_call})"] = (
            f"import numpy as np, sigprop as sp\nt = clock()\ntry:\n    r = {_call}\n"
            "    sp.mlp(r.activation, 50, r.sigma_w, r.sigma_b).c_map(np.linspace(-1, 1, 201))\n"
            "except sp.SigpropError:\n    pass\nOUT['t'] = clock() - t\nOUT['mb'] = rss_mb()")

DKS_MLP = """
from dks.base import activation_transform as at
def mlp(L):
    def f(x, r):
        for _ in range(L):
            x = r(x)
        return x
    return f
"""
DKS = {
    "import sigprop": "from dks.base import activation_transform\nOUT['t'] = clock() - T0",
    "dks tanh L=100 (first)": DKS_MLP + "t = clock(); at._get_activations_params(['tanh'], 'DKS', "
                                        "subnet_max_func=mlp(100)); OUT['t'] = clock() - t",
    "dks softplus L=100": DKS_MLP + "t = clock(); at._get_activations_params(['softplus'], 'DKS', "
                                    "subnet_max_func=mlp(100)); OUT['t'] = clock() - t",
    "dks gelu L=100": DKS_MLP + "t = clock(); at._get_activations_params(['gelu_exact'], 'DKS', "
                                "subnet_max_func=mlp(100)); OUT['t'] = clock() - t",
    "tat tanh L=100": DKS_MLP + "t = clock(); at._get_activations_params(['tanh'], 'TAT', "
                                "subnet_max_func=mlp(100)); OUT['t'] = clock() - t",
    "tat softplus L=100": DKS_MLP + "t = clock(); at._get_activations_params(['softplus'], 'TAT', "
                                    "subnet_max_func=mlp(100)); OUT['t'] = clock() - t",
}


def run(python, body, env):
    code = PRELUDE + textwrap.dedent(body) + "\nprint('RESULT' + json.dumps(OUT))\n"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=env, timeout=600)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT")), None)
    if line is None:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(line[6:])


def dks_python():
    python = DKS_VENV / "bin" / "python"
    if not python.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(DKS_VENV)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "dks", "absl-py"], check=True, timeout=600)
        except (subprocess.SubprocessError, OSError) as err:
            print(f"(dks could not be installed: {err}; its column reads n/a)")
            return None
    return python


def median_of(python, body, base_env):
    times, mbs = [], []
    for _ in range(REPEATS):
        with tempfile.TemporaryDirectory() as cache:
            env = {**base_env, "SIGPROP_JAX_CACHE": cache}
            out = run(python, body, env)
        times.append(out["t"])
        if "mb" in out:
            mbs.append(out["mb"])
    return statistics.median(times), (max(mbs) if mbs else None)


def main():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_"))}
    env["PYTHONPATH"] = str(ROOT)
    # bytecode as an installed package has it (pip compiles on install; a machine with PYTHONDONTWRITEBYTECODE
    # would otherwise recompile sigprop's sources in every fresh interpreter, ~0.1 s)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "sigprop")], check=True)
    dks = dks_python()
    print(f"fresh interpreter per figure, empty JAX cache, median of {REPEATS}; dks {'0.1.2 (PyPI)' if dks else 'n/a'}")
    print(f"{'what':58s} {'sigprop':>10s} {'peak MB':>8s} {'dks':>10s} {'dks/sigprop':>12s}")
    for name, body in SIGPROP.items():
        if ONLY not in name:
            continue
        t, mb = median_of(sys.executable, body, env)
        ref = median_of(dks, DKS[name], env)[0] if dks and name in DKS else None
        ratio = f"{ref / t:10.1f}×" if ref else ""
        label = "import (dks: import dks)" if name == "import sigprop" else name
        print(f"{label[:58]:58s} {t * 1e3:8.1f}ms {'' if mb is None else f'{mb:8.0f}'} "
              f"{'' if ref is None else f'{ref * 1e3:8.1f}ms':>10s} {ratio:>12s}", flush=True)


if __name__ == "__main__":
    main()
