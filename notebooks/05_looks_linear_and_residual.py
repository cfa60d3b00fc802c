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
# # 5. Other ways to shape the kernel: Looks-Linear and residual connections
#
# DKS and TAT change the *activation*. Two older ideas change the *weights* or the *architecture* instead,
# and both can be read as kernel shaping.
#
# **Looks-Linear** (Balduzzi et al. 2017) uses the concatenated ReLU $\rho(h) = [\,\mathrm{relu}(h);
# \mathrm{relu}(-h)\,]$ and initialises every layer after the first with mirrored blocks $\tilde W = [W, -W]$,
# $W$ orthogonal. Since $\mathrm{relu}(h) - \mathrm{relu}(-h) = h$,
#
# $$\tilde W \rho(h) = W\big(\mathrm{relu}(h) - \mathrm{relu}(-h)\big) = W h:$$
#
# at initialisation the network is *exactly linear*, at any width and depth, so $C_f(c) = c$. The weights are
# not i.i.d., so the mean-field recursion does not apply to them; sigprop represents Looks-Linear by its
# kernel, the identity activation.
#
# **Residual connections** add a shortcut: a block computes $y = w\,x + \sqrt{1-w^2}\,g(x)$, with shortcut
# weight $w$ and a branch $g$ that starts with fresh random weights, so $x$ and $g(x)$ are uncorrelated. What
# mixes with the weights $w^2$ and $1 - w^2$ is the *kernel* $K = q\,c$ (the inner product per unit):
#
# $$q_y = w^2 q + (1 - w^2)\,Q_g(q), \qquad
#   q_y\,c_y = w^2\,q\,c + (1 - w^2)\,Q_g(q)\,C_g(c).$$
#
# Only when the branch keeps the length, $Q_g(q) = q$ (a He-scaled ReLU branch, or any DKS/TAT $\hat\phi$
# at $q = 1$), is $q$ kept and do the cosines themselves mix,
#
# $$C_{\text{block}}(c) = w^2\,c + (1 - w^2)\,C_g(c),$$
#
# so a large $w$ keeps every block close to the identity. (For $w = 0.6$ and a ReLU branch with
# $\sigma_w = 1$, which halves $q$, the cosine mixture is off by up to 0.17: the check below.)

# %%
import holoviews as hv
import numpy as np
import panel as pn

import sigprop as sp

hv.extension("bokeh", inline=True)  # inline: Bokeh and Panel from the notebook itself, no CDN (works offline)
pn.extension("katex", inline=True)  # KaTeX: the formulas of the dashboard at the end

cs = np.linspace(-1, 1, 201)
diag = hv.Curve((cs, cs), "c", "C_f(c)", label="identity").opts(color="grey", line_dash="dashed")


def relu_c_map(c):
    """C map of ReLU with σ_w² = 2 (He), which keeps q: the normalised arc-cosine kernel."""
    return (np.sqrt(1 - c**2) + (np.pi - np.arccos(c)) * c) / np.pi


# %% [markdown]
# ## Looks-Linear: a finite network that is exactly linear
#
# We build a CReLU network of width 256 and depth 10 with mirrored orthogonal weights (in NumPy, float64) and
# compare its output with the product of the matrices $W$. Then we draw the same architecture, width 1024, with i.i.d.
# Gaussian weights, $\tilde W_{ij} \sim \mathcal N(0, 1/N)$: since $\mathbb E[\rho(u)\cdot\rho(v)] =
# 2\,\mathbb E[\mathrm{relu}(u)\,\mathrm{relu}(v)]$ by symmetry, its mean-field C map is that of ReLU at the
# Edge of Chaos, and the inputs drift towards each other. (We average the i.i.d. networks' cosines over 4
# networks and 8 inputs each; a single network fluctuates by about $1/\sqrt N$.)

# %%
ll = sp.looks_linear("relu")
print(ll.summary())
depth, pairs = 10, 8
c0s = np.array([-0.5, 0.0, 0.5, 0.9])
rng = np.random.default_rng(0)


def crelu(h):
    return np.concatenate([np.maximum(h, 0), np.maximum(-h, 0)], axis=0)


def inputs(N):
    """``pairs`` groups of (x, y_1, ..., y_4), |x|² = |y_j|² = N, cos(x, y_j) = c0s[j]; shape (N, 5 pairs)."""
    e = np.linalg.qr(rng.standard_normal((N, 2 * pairs)))[0]
    x, xp = e[:, :pairs, None], e[:, pairs:, None]
    return np.sqrt(N) * np.concatenate([x, c0s * x + np.sqrt(1 - c0s**2) * xp], axis=2).reshape(N, -1)


def cosines(h):
    g = h.reshape(h.shape[0], pairs, 5)
    n = np.linalg.norm(g, axis=0)
    return np.mean(np.einsum("np,npj->pj", g[:, :, 0], g[:, :, 1:]) / (n[:, :1] * n[:, 1:]), axis=0)


N = 256
x = inputs(N)
ws = [np.linalg.qr(rng.standard_normal((N, N)))[0] for _ in range(depth)]
h = linear = ws[0] @ x
for w in ws[1:]:
    h = np.concatenate([w, -w], axis=1) @ crelu(h)
    linear = w @ linear
err = np.max(np.abs(h - linear))

N, cos_iid = 1024, []
for _ in range(4):
    h_iid = inputs(N)  # (the first, linear layer keeps cosines: we skip it)
    for _ in range(depth - 1):
        h_iid = rng.standard_normal((N, 2 * N)) / np.sqrt(N) @ crelu(h_iid)
    cos_iid.append(cosines(h_iid))
cos_iid = np.mean(cos_iid, axis=0)

print(f"Looks-Linear: max |network - linear map| = {err:.1e};  output cosines {cosines(h).round(12)}")
relu_net = sp.mlp("relu", depth=depth - 1, init=sp.eoc("relu"))  # depth - 1 CReLU layers follow the first W
print(f"i.i.d. CReLU: output cosines {cos_iid.round(4)}, mean-field (ReLU at the EOC) "
      f"{relu_net.c_map(c0s).round(4)}")
assert err < 1e-12 and np.allclose(cosines(h), c0s, atol=1e-12)
assert np.allclose(sp.mlp("relu", depth=depth, init=ll).c_map(cs), cs, atol=1e-14)
assert np.max(np.abs(cos_iid - relu_net.c_map(c0s))) < 0.01

# %% [markdown]
# Looks-Linear is the extreme end of the shaping family: $C_f$ is the identity, like DKS with $\zeta \to 1$
# or TAT with $\eta \to 0$. The network starts as a linear model and becomes nonlinear only as training
# breaks the mirror symmetry between $W$ and $-W$.
#
# ## Residual networks
#
# First the mixture rule, on one block whose branch is a single ReLU layer: with $\sigma_w = 1$ it halves
# $q$, so the kernels mix but the cosines do not; with $\sigma_w^2 = 2$ (He) it keeps $q$ and both do.

# %%
for sw2 in (1.0, 2.0):
    block = sp.resnet("relu", blocks=1, shortcut_weight=0.6, layers_per_block=1, sigma_w=np.sqrt(sw2))
    q_g = sp.q_map("relu", 1.0, sigma_w=np.sqrt(sw2))
    c_g = sp.c_map("relu", cs, q=1.0, sigma_w=np.sqrt(sw2))
    q_y = 0.36 * 1.0 + 0.64 * q_g
    kernel_mix = (0.36 * cs + 0.64 * q_g * c_g) / q_y
    cosine_mix = 0.36 * cs + 0.64 * c_g
    err_k, err_c = (np.max(np.abs(block.c_map(cs) - m)) for m in (kernel_mix, cosine_mix))
    print(f"σ_w² = {sw2}: Q_g(1) = {q_g:.2f}, q_y = {block.q_map(1.0):.2f}; "
          f"max |C_block - kernel mixture| = {err_k:.1e}, |C_block - cosine mixture| = {err_c:.1e}")
    assert err_k < 1e-12 and abs(block.q_map(1.0) - q_y) < 1e-12
    assert (err_c < 1e-12) if sw2 == 2.0 else (err_c > 0.1)

# %% [markdown]
# `sp.resnet(φ, blocks, shortcut_weight=w, layers_per_block=2)` stacks blocks
# $w\,x + \sqrt{1-w^2}\,\mathrm{branch}(x)$ whose branch has two ReLU layers. We compare 50 such blocks
# (100 ReLU layers, He-scaled) for several $w$ with our own iteration of the mixture formula; $w = 0$ is the
# plain depth-100 ReLU network of notebook 2.

# %%
ws_short = (0.0, 0.5, 0.8, 0.95)
curves, blocks = [diag], 50
for w in ws_short:
    net = sp.resnet("relu", blocks=blocks, shortcut_weight=w, layers_per_block=2, sigma_w=np.sqrt(2))
    ref = cs.copy()
    for _ in range(blocks):
        ref = w**2 * ref + (1 - w**2) * relu_c_map(relu_c_map(ref))
    cf = net.c_map(cs)
    print(f"w = {w:4.2f}: C_f(0) = {cf[100]:.4f}, max |sigprop - our iteration| = {np.max(np.abs(cf - ref)):.1e}")
    assert np.max(np.abs(cf - ref)) < 1e-12
    curves.append(hv.Curve((cs, cf), "c", "C_f(c)", label=f"w = {w}"))
hv.Overlay(curves).opts(width=520, height=420, legend_position="top_left", show_grid=True,
                        title="ReLU ResNet, 50 blocks × 2 layers (He init)")

# %% [markdown]
# Each block stays close to the identity when $w$ is large, but 50 of them still compound: $C_f(0)$ is 0.996,
# 0.994, 0.975 and 0.81 for $w = 0$, 0.5, 0.8 and 0.95. Shortcuts slow the degeneration; at this depth they
# do not stop it.

# %% [markdown]
# Shortcuts and activation shaping combine. DKS and TAT take the architecture into account (through the
# network's *maximal slope/value functions*, which combine the branches with the weights $w^2$ and $1 - w^2$):
# the more the shortcuts already protect the kernel, the more nonlinear the activation may be. Below, the
# TAT negative slope $s$ that gives $C_f(0) = 0.9$ for the ResNets above; a smaller $s$ is a more nonlinear
# leaky ReLU ($s = 0.570$, $0.514$, $0.333$ for $w = 0$, 0.5, 0.8; at $w = 0.95$ even ReLU reaches only
# $C_f(0) = 0.81$, so $\eta = 0.9$ is out of reach). We check each $C_f(0)$ with the closed-form leaky-ReLU map
# $C_s(c) = c + \frac{(1-s)^2}{\pi(1+s^2)}(\sqrt{1-c^2} - c\arccos c)$.

# %%
leaky = sp.activation("leaky_relu")
for w in ws_short[:3]:
    net = sp.resnet(leaky, blocks=blocks, shortcut_weight=w, layers_per_block=2)
    res = sp.tat(leaky, network=net, eta=0.9)
    s = res.constants["negative_slope"]
    k = (1 - s) ** 2 / (np.pi * (1 + s**2))
    c = 0.0
    for _ in range(blocks):
        branch = c
        for _ in range(2):
            branch = branch + k * (np.sqrt(1 - branch**2) - branch * np.arccos(branch))
        c = w**2 * c + (1 - w**2) * branch
    print(f"w = {w:4.2f}: TAT negative slope s = {s:.4f}, C_f(0) by our iteration = {c:.12f}")
    assert abs(c - 0.9) < 1e-10

# %% [markdown]
# ## Play: shortcut weight and depth
#
# The ReLU ResNet (He init) with the chosen shortcut weight and number of blocks (two layers each).

# %%
w_w = pn.widgets.FloatSlider(label="shortcut weight w", start=0.0, end=0.99, step=0.01, value=0.8)
w_blocks = pn.widgets.DiscreteSlider(label="blocks", options=[1, 2, 5, 10, 20, 50, 100, 200, 500], value=50)


def resnet_view(w, blocks):
    net = sp.resnet("relu", blocks=blocks, shortcut_weight=w, layers_per_block=2, sigma_w=np.sqrt(2))
    return hv.Overlay([diag, hv.Curve((cs, net.c_map(cs)), "c", "C_f(c)", label="ResNet")]).opts(
        title=f"{blocks} blocks, w = {w:.2f}: C_f(0) = {net.c_at_0():.3f}", width=480, height=400,
        ylim=(-1.05, 1.05), legend_position="top_left", show_grid=True)


pn.Row(pn.Column(w_w, w_blocks), pn.bind(resnet_view, w_w, w_blocks))


# %% [markdown]
# ## The dashboard, inline
#
# The same comparison in the sigprop dashboard, opened on the Looks-Linear preset; switch a configuration to
# *residual* to compare shortcut weights. Every plot of the app (C maps, degeneration near $c = 1$,
# trajectories, NTK, phase diagram) is in its tabs; edit the configurations in the left column.

# %%
from sigprop_app import Dashboard

dashboard = Dashboard(preset="Looks-Linear is the identity", sync_url=False)
assert all(cfg.error == "" for cfg in dashboard.configurations), [cfg.error for cfg in dashboard.configurations]
dashboard
