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
# # 3. Deep Kernel Shaping
#
# Notebook 2 ended with a problem: even at the Edge of Chaos, a deep network's C map collapses towards a
# constant, so all inputs look alike. **Deep Kernel Shaping** (DKS; Martens et al. 2021) fixes the whole
# network's C map instead of one slope. It keeps every layer's input on the sphere $q = 1$ (inputs are
# normalised per location, and weights are scaled so $\sigma_w = 1$, $\sigma_b = 0$), and it replaces the
# activation $\phi$ by a transformed one,
#
# $$\hat\phi(x) = \gamma\,\big(\phi(\alpha x + \beta) + \delta\big),$$
#
# with the four constants chosen so that, with $z \sim \mathcal N(0, 1)$,
#
# | condition | formula | why |
# |---|---|---|
# | $Q(1) = 1$ | $\mathbb E[\hat\phi(z)^2] = 1$ | the length stays 1 |
# | $Q'(1) = 1$ | $\mathbb E[\hat\phi(z)\,\hat\phi'(z)\,z] = 1$ | lengths near 1 stay near 1 |
# | $C(0) = 0$ | $\mathbb E[\hat\phi(z)] = 0$ | orthogonal inputs stay orthogonal |
# | $C_f'(1) = \zeta$ | $C'(1) = \mathbb E[\hat\phi'(z)^2] = \zeta^{1/L}$ (depth-$L$ MLP) | $C_f$ bends little |
#
# Why is this enough? At $q = 1$ each layer's C map is a power series with non-negative coefficients,
# $C(c) = \sum_k b_k c^k$ with $b_k \ge 0$ and $\sum_k b_k = C(1) = 1$ (the Hermite expansion of
# $\hat\phi$), and so is their composition $C_f$. With $b_0 = C_f(0) = 0$ and
# $\sum_k k\,b_k = C_f'(1) = \zeta$,
#
# $$|C_f(c) - c| = \Big|\sum_{k \ge 2} b_k (c^k - c)\Big| \le 2 \sum_{k\ge2} b_k \le 2\sum_{k \ge 2} (k-1)\,b_k
#   = 2(\zeta - 1):$$
#
# **a $\zeta$ close to 1 forces the whole network's C map close to the identity**, at any depth.

# %%
import holoviews as hv
import jax
import numpy as np
import panel as pn

import sigprop as sp

hv.extension("bokeh", inline=True)  # inline: Bokeh and Panel from the notebook itself, no CDN (works offline)
pn.extension("katex", inline=True)  # KaTeX: the formulas of the dashboard at the end

tanh = sp.activation("tanh")
L, zeta = 100, 1.5
res = sp.dks(tanh, depth=L, zeta=zeta)
print(res.summary())

# %% [markdown]
# ## The four conditions, checked independently
#
# We take the constants $\alpha, \beta, \gamma, \delta$ that DKS found and check the four conditions with our
# own 301-point Gauss–Hermite rule and the closed-form derivative $\hat\phi'(x) = \gamma\alpha\,
# \operatorname{sech}^2(\alpha x + \beta)$. We also check that `res.activation` is the function in the formula.
# It is a plain JAX function that keeps the dtype of its input; JAX computes in float32 unless 64-bit mode is
# on, so we compare in float64 inside `jax.enable_x64(True)`.

# %%
a, b, g, d = res.alpha, res.beta, res.gamma, res.delta
z, wz = np.polynomial.hermite_e.hermegauss(301)
wz = wz / wz.sum()
phi_hat = g * (np.tanh(a * z + b) + d)
dphi_hat = g * a / np.cosh(a * z + b) ** 2
conditions = {
    "Q(1) = E[φ̂²]": (wz @ phi_hat**2, 1.0),
    "Q'(1) = E[φ̂ φ̂' z]": (wz @ (phi_hat * dphi_hat * z), 1.0),
    "E[φ̂] (so C(0) = 0)": (wz @ phi_hat, 0.0),
    "C'(1) = E[φ̂'²]": (wz @ dphi_hat**2, zeta ** (1 / L)),
}
for name, (value, target) in conditions.items():
    print(f"{name:22s} = {value:.12f}   target {target:.12f}")
    assert abs(value - target) < 1e-9
x = np.linspace(-5, 5, 11)
with jax.enable_x64(True):
    y = np.asarray(res.activation(jax.numpy.asarray(x)))
assert y.dtype == np.float64 and np.allclose(y, g * (np.tanh(a * x + b) + d), rtol=1e-14, atol=1e-14)

# %% [markdown]
# The transformed activation is almost linear over the range of a standard Gaussian ($\alpha \approx 0.09$):
# at depth 100 each layer may only bend the kernel by $\zeta^{1/100} - 1 \approx 0.4\%$, so the linear
# (first Hermite) component of $\hat\phi$ carries $b_1 = \mathbb E[\hat\phi(z)\,z]^2 \ge 99.6\%$ of
# $\mathbb E[\hat\phi(z)^2] = 1$. It depends on the architecture: a deeper network needs a straighter
# $\hat\phi$ ($b_1 = 0.921$, $0.980$, $0.996$ at $L = 5$, 20, 100).

# %%
for depth in (5, 20, 100):
    f = np.asarray(sp.dks(tanh, depth=depth, zeta=zeta).activation(z))
    b1 = (wz @ (f * z)) ** 2 / (wz @ f**2)
    print(f"L = {depth:3d}: b_1 = {b1:.4f} (at least 2 - ζ^(1/L) = {2 - zeta ** (1 / depth):.4f})")
    assert 2 - zeta ** (1 / depth) - 1e-12 <= b1 <= 1

xs = np.linspace(-4, 4, 161)
hv.Overlay([hv.Curve((xs, np.tanh(xs)), "x", "φ(x)", label="tanh").opts(color="grey", line_dash="dashed")] + [
    hv.Curve((xs, np.asarray(sp.dks(tanh, depth=depth, zeta=zeta).activation(xs))), "x", "φ(x)",
             label=f"DKS φ̂, L = {depth}") for depth in (5, 20, 100)]).opts(
    width=600, height=330, legend_position="top_left", show_grid=True, title="tanh and its DKS transforms (ζ = 1.5)")

# %% [markdown]
# ## The whole network's C map at depth 100
#
# We compare the DKS network with the Edge of Chaos network of notebook 2 (tanh, $\sigma_b^2 = 0.05$), both
# of depth 100. We check $C_f(0) = 0$, and $C_f'(1) = \zeta$ by a finite difference
# $\big(1 - C_f(1 - h)\big)/h$ with $h = 10^{-7}$ (`one_minus_c_map` gives $1 - C_f$ without cancellation),
# and the bound $|C_f(c) - c| \le 2(\zeta - 1)$.

# %%
cs = np.linspace(-1, 1, 201)
dks_net = sp.mlp(tanh, depth=L, init=res)
eoc_net = sp.mlp(tanh, depth=L, init=sp.eoc(tanh, sigma_b=np.sqrt(0.05)))
cf_dks, cf_eoc = dks_net.c_map(cs), eoc_net.c_map(cs)
h = 1e-7
slope_fd = dks_net.one_minus_c_map(h) / h
print(f"DKS: C_f(0) = {dks_net.c_at_0():.2e}, C_f'(1) = {dks_net.c_slope_at_1():.10f} "
      f"(finite difference {slope_fd:.7f}), max|C_f(c) - c| = {np.max(np.abs(cf_dks - cs)):.3f}")
print(f"EOC: C_f(0) = {eoc_net.c_at_0():.3f}, max|C_f(c) - c| = {np.max(np.abs(cf_eoc - cs)):.3f}")
assert abs(dks_net.c_at_0()) < 1e-10
assert abs(slope_fd - zeta) < 1e-5
assert np.max(np.abs(cf_dks - cs)) <= 2 * (zeta - 1)
assert eoc_net.c_at_0() > 0.5  # the EOC network maps orthogonal inputs to similar ones

diag = hv.Curve((cs, cs), "c", "C_f(c)", label="identity").opts(color="grey", line_dash="dashed")
hv.Overlay([diag, hv.Curve((cs, cf_eoc), "c", "C_f(c)", label="EOC (σ_b² = 0.05)"),
            hv.Curve((cs, cf_dks), "c", "C_f(c)", label="DKS (ζ = 1.5)")]).opts(
    width=500, height=420, legend_position="top_left", show_grid=True, title="tanh networks of depth 100")

# %% [markdown]
# ### The paper's Theorem 13, measured
#
# Martens et al. (2021, Theorem 13) bound how far *any* network's C map can stray from the identity using its
# slope at 0: $\tfrac14(1 - C_f'(0)) \le \max_c |C_f(c) - c| \le 2(1 - C_f'(0))$, and
# $\max_c |C_f'(c) - 1| \le 2(1 - C_f'(0)) + (C_f'(1) - 1)$. `net.theorem13()` returns the bounds next to
# the measured maxima. For this DKS network $C_f'(0) = 0.666$: the deviation 0.502 lies between 0.084 and
# 0.668, and the theorem's upper bound is tighter than the $2(\zeta - 1) = 1$ above.

# %%
thm = dks_net.theorem13()
for key, value in thm.items():
    print(f"{key:>24}: {value:.4f}")
assert thm["deviation lower"] <= thm["max |C_f(c) - c|"] <= thm["deviation upper"] < 2 * (zeta - 1)
assert thm["max |C_f'(c) - 1|"] <= thm["slope deviation upper"]
assert abs(thm["C_f'(0)"] - 0.666) < 1e-3 and abs(thm["max |C_f(c) - c|"] - 0.502) < 1e-3

# %% [markdown]
# ## The neural tangent kernel
#
# Training by gradient descent is governed, at large width, by the **neural tangent kernel** (Jacot et al.
# 2018), $\Theta(x, x') = \sum_l \Theta_l(x, x')$, where $\Theta_l$ is the contribution of layer $l$'s
# parameters. For inputs on the sphere ($q \equiv 1$) with cosine $c_0$,
#
# $$\Theta_l(c_0) = c_l \prod_{k=l}^{L-1} C'(c_k),$$
#
# the kernel seen by layer $l$ times the backward gain of the layers above it. For a linear network
# $\Theta_l \equiv c_0$. DKS keeps it close: Martens et al. (2021) bound
# $|\Theta_l(c_0) - c_0| \le 11(\zeta - 1)$ (`sp.ntk_bound`); here the deviation is 0.63, about
# $1.25(\zeta - 1)$, well inside the bound of 5.5. On the diagonal everything is explicit:
# $c_k = 1$ and $C'(1) = \zeta^{1/L}$, so
#
# $$\Theta_l(1) = \zeta^{(L-l)/L}, \qquad \frac{\Theta(1)}{L+1} = \frac{1}{L+1}\sum_{j=0}^{L} \zeta^{j/L}.$$

# %%
nt = dks_net.ntk(cs)
layers = np.arange(L + 1)
dev = np.max(np.abs(nt.per_layer - cs))
print(f"max over l and c of |Θ_l(c) - c| = {dev:.3f};  bound 11(ζ - 1) = {sp.ntk_bound(zeta):.3f}")
diag_closed = zeta ** ((L - layers) / L)
print(f"Θ(1)/(L+1) = {nt.total[-1] / (L + 1):.10f}, closed form {diag_closed.mean():.10f}")
assert np.max(np.abs(nt.per_layer[:, -1] - diag_closed)) < 1e-9  # cs[-1] = 1
assert abs(nt.total[-1] / (L + 1) - diag_closed.mean()) < 1e-9
assert sp.ntk_bound(zeta) == 11 * (zeta - 1) and dev <= sp.ntk_bound(zeta)

band = hv.Area((cs, cs - sp.ntk_bound(zeta), cs + sp.ntk_bound(zeta)), "c", ["Θ_l(c)", "upper"],
               label="c ± 11(ζ − 1)").opts(alpha=0.1, line_alpha=0)
hv.Overlay([band, diag.relabel("c (linear network)")] + [
    hv.Curve((cs, nt.per_layer[i]), "c", "Θ_l(c)", label=f"Θ_{i}") for i in (0, 50, 100)]).opts(
    width=550, height=420, ylim=(-2, 3), legend_position="top_left", show_grid=True,
    title="Per-layer NTK of the depth-100 DKS tanh network")

# %% [markdown]
# ## Play: ζ and depth
#
# The DKS transform is recomputed for every $(\zeta, L)$ (solutions are cached). However deep the network,
# $C_f(0) = 0$ and $C_f'(1) = \zeta$; the curve never leaves the band $c \pm 2(\zeta - 1)$. (A large $\zeta$
# on a very shallow network, e.g. $\zeta = 3$ or 5 at depth 1, asks for a $\hat\phi$ so bent that sigprop
# refuses it; the message is shown instead of the plot.)

# %%
w_zeta = pn.widgets.FloatSlider(label="ζ = C_f'(1)", start=1.05, end=5.0, step=0.05, value=1.5)
w_depth = pn.widgets.DiscreteSlider(label="depth L", options=[1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], value=100)


def dks_view(zeta, depth):
    try:
        net = sp.mlp(tanh, depth=depth, init=sp.dks(tanh, depth=depth, zeta=zeta))
        net.c_map(cs)
    except sp.SigpropError as err:
        return pn.pane.Alert(f"{type(err).__name__}: {err}", alert_type="warning", width=480)
    return hv.Overlay([diag, hv.Curve((cs, net.c_map(cs)), "c", "C_f(c)", label="DKS")]).opts(
        title=f"DKS tanh, depth {depth}: C_f'(1) = {net.c_slope_at_1():.3f}", width=480, height=400,
        ylim=(-1.05, 1.05), legend_position="top_left", show_grid=True)


pn.Row(pn.Column(w_zeta, w_depth), pn.bind(dks_view, w_zeta, w_depth))


# %% [markdown]
# ## The dashboard, inline
#
# The same comparison in the sigprop dashboard, opened on the DKS-versus-EOC preset. Every plot of the app
# (C maps, degeneration near $c = 1$, trajectories, NTK, phase diagram) is in its tabs; edit the
# configurations in the left column.

# %%
from sigprop_app import Dashboard

dashboard = Dashboard(preset="DKS vs EOC for tanh at depth 100", sync_url=False)
assert all(cfg.error == "" for cfg in dashboard.configurations), [cfg.error for cfg in dashboard.configurations]
dashboard
