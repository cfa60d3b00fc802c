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
# # 1. Q and C maps: how a random network maps the geometry of its inputs
#
# Take a fully connected network with random weights and biases,
#
# $$h^l = W^l\,\phi(h^{l-1}) + b^l, \qquad W^l_{ij} \sim \mathcal N(0, \sigma_w^2/N), \qquad
#   b^l_i \sim \mathcal N(0, \sigma_b^2),$$
#
# where the input enters as the first pre-activation $h^0$. When the width $N$ is large, each unit of $h^l$
# is a sum of many independent terms, so it is Gaussian. Its distribution is fixed by two numbers, which are
# deterministic in the limit $N \to \infty$ (Poole et al. 2016):
#
# * the **length** of one input, $q^l = \frac1N \lVert h^l \rVert^2$, and
# * the **cosine** between two inputs, $c^l = \dfrac{h^l_a \cdot h^l_b}{\lVert h^l_a\rVert\,\lVert h^l_b\rVert}$.
#
# One layer maps them through the **Q map** and the **C map**:
#
# $$Q(q) = \sigma_w^2\,\mathbb E_{z\sim\mathcal N(0,1)}\big[\phi(\sqrt q\,z)^2\big] + \sigma_b^2, \qquad
#   C(c) = \frac{\sigma_w^2\,\mathbb E[\phi(u)\phi(v)] + \sigma_b^2}{Q(q)},$$
#
# with $u, v \sim \mathcal N(0, q)$ and $\operatorname{corr}(u, v) = c$. A depth-$L$ network composes them:
# $q^L = Q^{\circ L}(q^0)$, and the whole network's C map is $C_f = C_L \circ \dots \circ C_1$ (layer $l$'s C map
# taken at its input variance $q^{l-1}$).
# The C map tells us what the network does to the *geometry* of the data: if $C_f(c) \approx 1$ for every
# $c$, all inputs come out looking alike, and the network cannot tell them apart.
#
# This notebook computes these maps with `sigprop`, checks them against closed forms, and then checks the
# whole-network prediction against a simulation of real, finite networks.

# %%
import holoviews as hv
import jax
import jax.numpy as jnp
import numpy as np
import panel as pn

import sigprop as sp

hv.extension("bokeh", inline=True)  # inline: Bokeh and Panel from the notebook itself, no CDN (works offline)
pn.extension("katex", notifications=True, inline=True)  # the dashboard at the end uses both

# %% [markdown]
# ## The maps of one layer
#
# `sp.q_map` and `sp.c_map` evaluate the two maps for any activation. For ReLU both expectations have a
# closed form (the arc-cosine kernel of Cho & Saul 2009):
#
# $$Q(q) = \frac{\sigma_w^2}{2} q + \sigma_b^2, \qquad
#   \mathbb E[\phi(u)\phi(v)] = \frac{q}{2\pi}\Big(\sqrt{1-c^2} + (\pi - \arccos c)\,c\Big).$$
#
# We evaluate these formulas ourselves and compare.

# %%
relu = sp.activation("relu")
sw, sb = 1.3, 0.4
qs = np.linspace(0.1, 4.0, 40)
cs = np.linspace(-1.0, 1.0, 41)
q = 1.7

q_closed = sw**2 * qs / 2 + sb**2
k_closed = q / (2 * np.pi) * (np.sqrt(1 - cs**2) + (np.pi - np.arccos(cs)) * cs)
c_closed = (sw**2 * k_closed + sb**2) / (sw**2 * q / 2 + sb**2)

err_q = np.max(np.abs(sp.q_map(relu, qs, sigma_w=sw, sigma_b=sb) - q_closed))
err_c = np.max(np.abs(sp.c_map(relu, cs, q=q, sigma_w=sw, sigma_b=sb) - c_closed))
print(f"ReLU: max |Q - closed form| = {err_q:.1e}, max |C - closed form| = {err_c:.1e}")
assert err_q < 1e-12 and err_c < 1e-12

# %% [markdown]
# For a smooth activation such as $\tanh$ there is no closed form; sigprop integrates with Gaussian
# quadrature. A plain Monte Carlo estimate of $\mathbb E[\phi(u)\phi(v)]$ with $10^6$ samples agrees to its
# statistical error (about $10^{-3}$):

# %%
tanh = sp.activation("tanh")
rng = np.random.default_rng(0)
z1, z2 = rng.standard_normal((2, 1_000_000))
for c in (-0.5, 0.3, 0.9):
    u = np.sqrt(q) * z1
    v = np.sqrt(q) * (c * z1 + np.sqrt(1 - c**2) * z2)
    mc = (sw**2 * np.mean(np.tanh(u) * np.tanh(v)) + sb**2) / (sw**2 * np.mean(np.tanh(u) ** 2) + sb**2)
    exact = sp.c_map(tanh, c, q=q, sigma_w=sw, sigma_b=sb)
    print(f"c = {c:+.1f}: sigprop C(c) = {exact:.5f}, Monte Carlo {mc:.5f}")
    assert abs(exact - mc) < 5e-3

# %% [markdown]
# A fixed point of the Q map, $q^* = Q(q^*)$, is where the curve crosses the diagonal. The C map always has
# the fixed point $C(1) = 1$: identical inputs stay identical.

# %%
qs = np.linspace(0.0, 3.0, 121)[1:]
cs = np.linspace(-1.0, 1.0, 201)
diag = dict(color="grey", line_dash="dashed")
q_plot = hv.Overlay([hv.Curve((qs, qs), "q", "Q(q)", label="identity").opts(**diag)] + [
    hv.Curve((qs, sp.q_map(tanh, qs, sigma_w=s, sigma_b=sb)), "q", "Q(q)", label=f"σ_w = {s}")
    for s in (1.0, 1.5, 2.5)]).opts(title="tanh: Q map (σ_b = 0.4)", legend_position="top_left")
c_plot = hv.Overlay([hv.Curve((cs, cs), "c", "C(c)", label="identity").opts(**diag)] + [
    hv.Curve((cs, sp.c_map(tanh, cs, q=1.0, sigma_w=s, sigma_b=sb)), "c", "C(c)", label=f"σ_w = {s}")
    for s in (1.0, 1.5, 2.5)]).opts(title="tanh: C map at q = 1", legend_position="top_left")
(q_plot + c_plot).opts(hv.opts.Curve(width=380, height=320, show_grid=True))

# %% [markdown]
# ## A whole network, and a finite-width check
#
# `sp.mlp` describes a depth-$L$ network; `net.q_trajectory(q0)` and `net.c_trajectory(c0, q0)` return
# $q^l$ and $c^l$ for $l = 0, \dots, L$ (row 0 is the input).
#
# Now the real thing. We draw random networks of width $N = 1024$, push through them inputs $x$ with
# $\lVert x\rVert^2/N = q^0$ and four partners $y_j$ with cosines $c^0_j$ to $x$, and measure the length and
# the cosines after each layer. The infinite-width theory should agree up to fluctuations of order
# $1/\sqrt N \approx 0.03$ per network and input (and a bias of order $1/N$). We average over 8 networks
# and 16 inputs $x$ per network, and require agreement within four standard errors (estimated from the spread
# between networks) plus $2/N$.

# %%
sw, sb, q0, depth = 2.0, 0.3, 1.0, 8
c0s = np.array([0.0, 0.5, 0.9, 0.99])
net = sp.mlp(tanh, depth=depth, sigma_w=sw, sigma_b=sb)
q_theory = net.q_trajectory(q0)
c_theory = net.c_trajectory(c0s, q=q0)


@jax.jit
def simulate(key, width=1024, pairs=16):
    """q^l of x and cos(h_x, h_y_j) after each layer of one random tanh network (mean over ``pairs`` inputs x)."""
    k_in, k_net = jax.random.split(key)
    e = jnp.linalg.qr(jax.random.normal(k_in, (width, 2 * pairs)))[0]  # orthonormal directions
    x, x_perp = e[:, :pairs, None], e[:, pairs:, None]
    ys = c0s * x + np.sqrt(1 - c0s**2) * x_perp  # (width, pairs, 4): y_j has cosine c0_j to x
    h = jnp.sqrt(q0 * width) * jnp.concatenate([x, ys], axis=2).reshape(width, -1)

    def layer(h, k):
        kw, kb = jax.random.split(k)
        w = sw / jnp.sqrt(width) * jax.random.normal(kw, (width, width))
        h = w @ jnp.tanh(h) + sb * jax.random.normal(kb, (width, 1))
        g = h.reshape(width, pairs, 5)
        norms = jnp.linalg.norm(g, axis=0)
        cos = jnp.einsum("np,npj->pj", g[:, :, 0], g[:, :, 1:]) / (norms[:, :1] * norms[:, 1:])
        return h, (jnp.mean(norms[:, 0] ** 2) / width, jnp.mean(cos, axis=0))

    return jax.lax.scan(layer, h, jax.random.split(k_net, depth))[1]


n_nets, width = 8, 1024
runs = [simulate(k) for k in jax.random.split(jax.random.PRNGKey(0), n_nets)]
q_runs, c_runs = (np.array([r[i] for r in runs]) for i in (0, 1))
q_sim, c_sim = q_runs.mean(axis=0), c_runs.mean(axis=0)
q_se, c_se = q_runs.std(axis=0, ddof=1) / np.sqrt(n_nets), c_runs.std(axis=0, ddof=1) / np.sqrt(n_nets)
print("layer  q theory  q simulated   c theory (c0 = 0, 0.5, 0.9, 0.99)  /  simulated")
for i in range(depth):
    print(f"{i + 1:5d}  {q_theory[i + 1]:8.4f}  {q_sim[i]:8.4f}     "
          + " ".join(f"{v:6.3f}" for v in c_theory[i + 1]) + "  / " + " ".join(f"{v:6.3f}" for v in c_sim[i]))
print(f"max |Δq| = {np.max(np.abs(q_sim - q_theory[1:])):.3f}, "
      f"max |Δc| = {np.max(np.abs(c_sim - c_theory[1:])):.3f}")
assert np.all(np.abs(q_sim - q_theory[1:]) < 4 * q_se + 2 * q_theory[1:] / width)
assert np.all(np.abs(c_sim - c_theory[1:]) < 4 * c_se + 2 / width)

# %% [markdown]
# The theory is exact for $N \to \infty$, and already accurate at $N = 1024$. This network, with
# $\sigma_w = 2$, is *chaotic* (notebook 2: $\chi_1 = 1.33 > 1$): every cosine flows towards the same fixed
# point $c^* = 0.26$, so nearby inputs are pushed apart and distant ones are pulled together, until the
# network has forgotten how similar its inputs were. The cosines approach $c^*$ like $e^{-l/\xi_c}$ with
# $\xi_c = 6.6$ layers: after these 8 layers they still differ (0.20 to 0.94), after 100 they all read 0.2639.

# %%
layers = np.arange(depth + 1)
sim = [hv.Scatter((layers[1:], c_sim[:, j]), "layer l", "c_l").opts(size=7, color=colour)
       for j, colour in enumerate(hv.Cycle.default_cycles["default_colors"][:4])]
theory = [hv.Curve((layers, c_theory[:, j]), "layer l", "c_l", label=f"c0 = {c0}").opts(color=colour)
          for j, (c0, colour) in enumerate(zip(c0s, hv.Cycle.default_cycles["default_colors"][:4]))]
pd_chaos = sp.phase_diagram(tanh, [sw**2], [sb**2])
c_100 = sp.mlp(tanh, depth=100, sigma_w=sw, sigma_b=sb).c_map(c0s, q=q0)
print(f"χ₁ = {pd_chaos.chi1[0, 0]:.3f}, c* = {pd_chaos.c_star[0, 0]:.4f}, ξ_c = {pd_chaos.xi_c[0, 0]:.2f}; "
      f"c_100 = {c_100.round(5)}")
assert pd_chaos.chi1[0, 0] > 1 and np.all(np.abs(c_100 - pd_chaos.c_star[0, 0]) < 1e-4)
hv.Overlay(theory + sim).opts(title="tanh, σ_w = 2, σ_b = 0.3: theory (lines) vs width-1024 networks (dots)",
                              width=650, height=350, legend_position="right", show_grid=True)

# %% [markdown]
# ## Play: the whole network's C map
#
# Move the sliders: the curve is $C_f(c)$ for a tanh network of the chosen depth and $\sigma_w$
# ($\sigma_b = 0.3$, $q^0 = 1$). Small $\sigma_w$ flattens it towards 1 (*ordered*: everything looks alike),
# large $\sigma_w$ flattens it towards $c^*$ (*chaotic*; $C_f$ jumps to 1 only at $c = 1$). In between, at the
# Edge of Chaos ($\sigma_w \approx 1.40$ here), the curve changes most slowly with depth: $C_f(0) = 0.61$,
# 0.91, 0.955 at $L = 10$, 50, 100, still moving, where $\sigma_w = 1.2$ reaches $C_f(0) = 0.999$ and
# $\sigma_w = 2$ its limit $c^* = 0.264$ by $L = 50$; even there it flattens towards 1 eventually
# (notebook 2). From $\sigma_w \approx 3.2$ on (past the first few layers) the variance $q$ is too large for
# sigprop's series for tanh, and the plot shows sigprop's message instead. (In a static copy of this notebook
# the sliders do nothing; run it to play.)

# %%
w_sigma = pn.widgets.FloatSlider(label="σ_w", start=0.5, end=4.0, step=0.05, value=1.5)
w_depth = pn.widgets.IntSlider(label="depth L", start=1, end=100, value=10)


def c_map_view(sigma_w, depth):
    try:
        cf = sp.mlp(tanh, depth=depth, sigma_w=sigma_w, sigma_b=0.3).c_map(cs)
    except sp.SigpropError as err:
        return pn.pane.Alert(f"{type(err).__name__}: {err}", alert_type="warning", width=500)
    return hv.Overlay([hv.Curve((cs, cs), "c", "C_f(c)").opts(**diag),
                       hv.Curve((cs, cf), "c", "C_f(c)")]).opts(
        title=f"C_f(c) of a depth-{depth} tanh network, σ_w = {sigma_w:.2f}", width=500, height=400,
        ylim=(-1.05, 1.05), show_grid=True)


pn.Row(pn.Column(w_sigma, w_depth), pn.bind(c_map_view, w_sigma, w_depth))

# %% [markdown]
# ## The whole laboratory, inline
#
# The sigprop dashboard (`make app` serves it in a browser) also runs inside a notebook. It compares
# several configurations (activation × initialisation × architecture × depth) in every plot of this course:
# C maps, degeneration near $c = 1$, trajectories, Q maps, the transformed activations, the NTK and the
# phase diagram. Add, duplicate and edit configurations in the left column.

# %%
from sigprop_app import Dashboard

dashboard = Dashboard(sync_url=False)
assert all(cfg.compute() is not None for cfg in dashboard.configurations), [c.error for c in dashboard.configurations]
dashboard
