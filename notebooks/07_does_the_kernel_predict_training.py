# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 7. Does the kernel predict training?
#
# Every curve so far describes an *infinitely wide* random network at initialisation. Two questions decide
# whether those curves matter:
#
# 1. **Is a real, finite network close to its kernel?** We sample random networks of a chosen width from the
#    same description and measure their cosines $c_l$ and their $C_f(c)$.
# 2. **Does a non-degenerate kernel train faster?** DKS (Martens et al. 2021) and TAT (Zhang et al. 2022) claim
#    that deep *vanilla* networks whose kernel stays away from the degenerate $C_f(c) \approx 1$ train fast,
#    while standard and EOC-initialised ones do not. We train them on real data and see.

# %%
import holoviews as hv
import numpy as np
import panel as pn

import sigprop as sp

hv.extension("bokeh", inline=True)  # inline: Bokeh and Panel from the notebook itself, no CDN (works offline)
pn.extension(inline=True)

# %% [markdown]
# ## 1. Finite-width bands
#
# `sp.finite_width(net, width=..., seeds=...)` draws real random networks from the description `net` and
# propagates inputs $x^0, x^j$ with $|x|^2/N = 1$ and $\cos(x^0, x^j) = c_j$. It samples each layer *exactly*
# from the Gram matrix of its inputs (rotation invariance of the weights: see `sigprop/finite.py`), so width
# 4,096 costs little more than width 64. The band is the mean $\pm$ 2 standard deviations over seeds: where a
# single random network lies.

# %%
net = sp.mlp("tanh", 100, init=sp.dks("tanh", depth=100, zeta=1.5))
c = np.linspace(-1, 1, 33)
theory = net.c_map(np.linspace(-1, 1, 201))
bands = {n: sp.finite_width(net, c, width=n, seeds=8) for n in (256, 1024, 4096)}


def band_plot(res, label, colour):
    lo, hi = res.band(spread=2.0)
    return hv.Area((res.c, lo, hi), "c", ["lower", "upper"], label=f"{label} ±2σ").opts(
        color=colour, alpha=0.25, line_alpha=0) * hv.Scatter((res.c, res.mean[-1]), "c", "C_f(c)").opts(
        color=colour, size=4)


curve = hv.Curve((np.linspace(-1, 1, 201), theory), "c", "C_f(c)", label="infinite width").opts(
    color="black", line_width=2)
(band_plot(bands[256], "width 256", "#d62728") * band_plot(bands[4096], "width 4,096", "#1f77b4") * curve).opts(
    title="DKS tanh, depth 100: finite networks against their kernel", width=640, height=420,
    legend_position="top_left")

# %% [markdown]
# The band at width 1,024 holds the curve, and 16 times the width gives about a quarter of the spread,
# the $1/\sqrt{N}$ of the central limit theorem:

# %%
r = bands[1024]
inside = np.mean(np.abs(r.mean - net.c_trajectory(c))[1:] <= 2 * r.std[1:] + 1e-12)
spread = {n: b.std[-1, 1:-1].mean() for n, b in bands.items()}
print(f"fraction of (layer, c) points inside the ±2σ band at width 1,024: {inside:.3f}")
print("mean spread of C_f(c):", {n: round(s, 4) for n, s in spread.items()},
      f"ratio 256/4096 = {spread[256] / spread[4096]:.2f} (1/√N predicts 4)")
assert inside >= 0.97
assert 3.0 < spread[256] / spread[4096] < 5.5

# %% [markdown]
# What is left at a finite width is a correction that grows with depth/width: the *mean* of the finite
# networks is biased, by an amount that a spread of single networks can hide. Measured in standard errors of
# the mean, the bias of ReLU at its EOC with depth 1,000 (L/N ≈ 1) is several times that of DKS tanh at depth
# 100 (L/N ≈ 0.1). The largest bias over (layer, c) in standard errors of 8 seeds is itself noisy: four draws of
# the initial weights (σ_w moved by 1e-16 to 1e-12 relative, which reshuffles the exact sampler's draws) gave
# 10.1–16.5 for ReLU against 3.1–3.7 for DKS, so the check below asks for twice, not three times:

# %%
def bias_in_standard_errors(net, res):
    z = np.abs(res.mean - net.c_trajectory(res.c))[1:, 1:-1] / res.sem[1:, 1:-1]
    return float(np.max(z))


deep = sp.mlp("relu", 1000, init=sp.eoc("relu"))
c9 = np.linspace(-0.8, 0.8, 9)
fw = sp.finite_width(deep, c9, width=1024, seeds=8)
z_deep = bias_in_standard_errors(deep, fw)
z_dks = bias_in_standard_errors(net, sp.finite_width(net, c9, width=1024, seeds=8))
inside_deep = np.mean(np.abs(fw.mean - deep.c_trajectory(c9))[1:] <= 2 * fw.std[1:] + 1e-12)
print(f"largest |mean − kernel| in standard errors: DKS tanh L=100: {z_dks:.1f}, ReLU EOC L=1,000: {z_deep:.1f}")
print(f"ReLU EOC L=1,000: {inside_deep:.2f} of the (layer, c) points still inside the ±2σ band")
assert z_deep > 2 * z_dks

# %% [markdown]
# ## 2. Training, live
#
# `sp.train(net, data, optimizer)` trains the finite network of a description — an input embedding, the body,
# a linear readout — on scikit-learn's handwritten digits (1,797 8×8 images, bundled: no download), with optax's
# Adam or SGD, or kfac-jax's K-FAC. Here: the dashboard's default comparison at depth 50, width 128, Adam,
# 100 steps of batch 128. (`benchmarks/bench_training.py` runs three seeds, longer, and K-FAC.)

# %%
depth = 50
configs = {
    "ReLU · He": sp.mlp("relu", depth, init=sp.standard("relu", scheme="he")),
    "tanh · EOC σ_b=0.22": sp.mlp("tanh", depth, init=sp.eoc("tanh", sigma_b=0.22)),
    "tanh · DKS ζ=1.5": sp.mlp("tanh", depth, init=sp.dks("tanh", depth=depth, zeta=1.5)),
    "leaky ReLU · TAT η=0.9": sp.mlp("leaky_relu", depth, init=sp.tat("leaky_relu", depth=depth, eta=0.9)),
}
runs = {name: sp.train(n, "digits", "adam", steps=100, width=128, eval_every=10) for name, n in configs.items()}
colours = dict(zip(configs, ["#ff7f0e", "#1f77b4", "#2ca02c", "#d62728"]))
hv.Overlay([hv.Curve((r.steps, r.train_loss), "step", "training loss", label=name).opts(color=colours[name])
            for name, r in runs.items()]).opts(
    title="Depth 50 on digits, Adam", logy=True, width=640, height=420, legend_position="top_right")

# %%
half = {name: r.second_half_loss for name, r in runs.items()}
for name, value in half.items():
    print(f"{name:24s} training loss over steps 50-100: {value:.3f}")
shaped = max(half["tanh · DKS ζ=1.5"], half["leaky ReLU · TAT η=0.9"])
assert shaped < half["tanh · EOC σ_b=0.22"] < half["ReLU · He"] / 3

# %% [markdown]
# The He-initialised ReLU network, whose $C_f$ lies in $[0.996, 1]$, trains several times more slowly than the
# others. The EOC tanh network, which degenerates less ($C_f$ in $[0.93, 1]$), comes next, behind DKS and TAT.
# That is one seed at width 128. Over three seeds (`benchmarks/bench_training.py`, `tests/test_training.py`)
# the lead over the standard network holds with Adam and K-FAC, but the lead over EOC does not hold up on this
# small data set: with K-FAC, DKS is far ahead at steps 25-75 until one seed's adaptive step jumps, and with
# Adam the EOC network catches up by step 200.
#
# ## 3. Sweeps, on one machine or a cluster
#
# `sp.sweep` trains configurations × depths × seeds × optimisers on a Dask cluster (a local one of two worker
# processes here; pass `address="tcp://scheduler:8786"` for a real one) and returns a tidy table.

# %%
sweep = sp.sweep({"ReLU · He": lambda L: sp.mlp("relu", L, init=sp.standard("relu", scheme="he")),
                  "tanh · DKS": lambda L: sp.mlp("tanh", L, init=sp.dks("tanh", depth=L))},
                 depths=(5, 50), seeds=(0, 1), optimizers=("adam",), steps=150, width=128, eval_every=50)
summary = sweep.summary()
summary

# %%
he5, he50 = (summary.query(f"configuration == 'ReLU · He' and depth == {d}")["mean"].iloc[0] for d in (5, 50))
dks50 = summary.query("configuration == 'tanh · DKS' and depth == 50")["mean"].iloc[0]
print(f"ReLU He: depth 5 → {he5:.3f}, depth 50 → {he50:.3f};  DKS tanh at depth 50 → {dks50:.3f}")
assert he50 > he5 and dks50 < he50
hv.Table(sweep.table.query("step == 150")[["configuration", "depth", "seed", "train_loss", "test_accuracy"]])

# %% [markdown]
# Depth hurts the standard network and not the shaped one: what the kernel maps of notebooks 2–4 predict.
