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
# # 6. Bring your own activation
#
# sigprop accepts any activation you can type as an expression in `x`: the registry functions (`tanh`,
# `softplus`, `sigmoid`, `erf`, `relu`, ...), arithmetic and constants. The text is parsed by an allow-list of
# syntax (never `eval`), turned into a JAX function and a LaTeX formula, and sigprop works out whether it is
# smooth. In this notebook we
#
# 1. type an activation (Mish, $x \tanh(\operatorname{softplus}(x))$) and look at its Q and C maps;
# 2. shape it with DKS and TAT for a depth-20 network;
# 3. export the transformed activation into a small network written in plain JAX, and train it for a few
#    seconds on a CPU.

# %%
import holoviews as hv
import jax
import jax.numpy as jnp
import numpy as np
import panel as pn

import sigprop as sp

hv.extension("bokeh", inline=True)  # inline: Bokeh and Panel from the notebook itself, no CDN (works offline)
pn.extension("katex", inline=True)

expression = "x * tanh(softplus(x))"
phi = sp.activation(expression)
print(f"name: {phi.name}   smooth: {phi.smooth}")
pn.pane.LaTeX(f"$\\phi(x) = {phi.latex}$", styles={"font-size": "16pt"})

# %% [markdown]
# ## Its maps
#
# First a check of the C map at $q = 1$, $\sigma_w = 1$, $\sigma_b = 0$ against our own two-dimensional
# Gauss–Hermite rule for $C(c) = \mathbb E[\phi(u)\phi(v)] / \mathbb E[\phi(u)^2]$ (the expression evaluated
# in NumPy, independently of sigprop's parser).

# %%
z, wz = np.polynomial.hermite_e.hermegauss(301)
wz = wz / wz.sum()


def mish(x):
    return x * np.tanh(np.log1p(np.exp(x)))


for c in (-0.7, 0.0, 0.5):
    ref = np.sum(wz[:, None] * wz[None, :] * mish(z[:, None]) * mish(c * z[:, None] + np.sqrt(1 - c**2) * z[None, :]))
    ref /= wz @ mish(z) ** 2
    print(f"C({c:+.1f}) = {sp.c_map(phi, c):.12f}   our quadrature {ref:.12f}")
    assert abs(sp.c_map(phi, c) - ref) < 1e-10

# %% [markdown]
# Now the whole network. He scaling ($\sigma_w^2 = 2$) is the ReLU recipe, and it does not suit Mish: a
# 20-layer network shrinks $q$ from 1 to 0.015 and squeezes every cosine into $[0.40, 1]$ ($C_f(0) = 0.46$,
# $C_f(-1) = 0.40$), while near $c = 1$ it doubles $1 - c$ ($C_f'(1) = 2.0$). Inputs do not all merge,
# but the geometry is badly distorted: $\max_c |C_f(c) - c| = 1.40$. DKS ($\zeta = 1.5$) and TAT ($\tau = 0.3$)
# transform Mish into $\hat\phi(x) = \gamma(\phi(\alpha x + \beta) + \delta)$ for this depth, with $q = 1$
# throughout, $C_f'(1) = 1.5$ and 1, and a C map much closer to the identity: $\max_c |C_f(c) - c| = 0.51$
# (DKS) and 0.46 (TAT), both at $c = -1$.

# %%
L = 20
he = sp.standard(phi, scheme="he")
dks = sp.dks(phi, depth=L, zeta=1.5)
tat = sp.tat(phi, depth=L, tau=0.3)
for res in (dks, tat):
    print(res.summary(), "\n")

cs = np.linspace(-1, 1, 201)
for name, r in (("He", he), ("DKS", dks), ("TAT", tat)):
    net = sp.mlp(phi, depth=L, init=r)
    print(f"{name}: q_{L} = {net.q_map(1.0):.4f}, C_f(0) = {net.c_at_0():.4f}, C_f(-1) = {net.c_map(-1.0):.4f}, "
          f"C_f'(1) = {net.c_slope_at_1():.4f}, max|C_f(c) - c| = {np.max(np.abs(net.c_map(cs) - cs)):.3f}")
he_net = sp.mlp(phi, depth=L, init=he)
assert he_net.c_map(-1.0) < 0.5 and he_net.c_slope_at_1() > 1.5  # not one point: cosines in [0.40, 1]
xs = np.linspace(-4, 4, 161)
diag = hv.Curve((cs, cs), "c", "C_f(c)", label="identity").opts(color="grey", line_dash="dashed")
c_maps = hv.Overlay([diag] + [hv.Curve((cs, sp.mlp(phi, depth=L, init=r).c_map(cs)), "c", "C_f(c)", label=name)
                              for name, r in (("He", he), ("DKS", dks), ("TAT", tat))]).opts(
    title=f"C_f(c), depth {L}", legend_position="top_left")
acts = hv.Overlay([hv.Curve((xs, mish(xs)), "x", "φ(x)", label="Mish").opts(color="grey", line_dash="dashed")] + [
    hv.Curve((xs, np.asarray(r.activation(xs))), "x", "φ(x)", label=name) for name, r in (("DKS", dks), ("TAT", tat))]
                  ).opts(title="φ and φ̂", legend_position="top_left")
(c_maps + acts).opts(hv.opts.Curve(width=400, height=340, show_grid=True))

# %% [markdown]
# ## Export: train a plain-JAX network with $\hat\phi$
#
# `res.activation` is JAX-callable (also under `jax.jit` and `jax.grad`) and its constants are Python floats,
# so it keeps the dtype of its input and drops into any JAX model: Flax, Equinox, Haiku, or, as here, thirty
# lines of plain JAX in float32. The DKS recipe for the rest of the network: $\sigma_w = 1$ weights
# ($W_{ij} \sim \mathcal N(0, 1/\text{fan-in})$), zero biases, and inputs normalised to
# $\lVert x \rVert^2 / d_0 = 1$.
#
# The task: regress $y = \sin 3\theta + \tfrac12 \cos 5\theta$ from the point $x = \sqrt2(\cos\theta, \sin\theta)$
# on the circle, with a depth-20, width-64 network and full-batch Adam (learning rate $10^{-3}$).

# %%
phi_hat = dks.activation
assert phi_hat(jnp.ones(3, jnp.float32)).dtype == jnp.float32

theta = jnp.linspace(0, 2 * np.pi, 128, endpoint=False)
x_train = jnp.sqrt(2.0) * jnp.stack([jnp.cos(theta), jnp.sin(theta)], axis=1)  # |x|²/d0 = 1
y_train = jnp.sin(3 * theta) + 0.5 * jnp.cos(5 * theta)
widths = [2] + [64] * L + [1]


def init(key):
    keys = jax.random.split(key, len(widths) - 1)
    return [(jax.random.normal(k, (n_in, n_out)) / jnp.sqrt(n_in), jnp.zeros(n_out))
            for k, n_in, n_out in zip(keys, widths[:-1], widths[1:])]


def forward(params, x, act):
    (w0, b0), *rest = params
    h = x @ w0 + b0
    for w, b in rest:  # L hidden nonlinear layers, then the linear read-out
        h = act(h) @ w + b
    return h[:, 0]


def loss(params, act):
    return jnp.mean((forward(params, x_train, act) - y_train) ** 2)


def train(act, steps=300, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """Full-batch Adam; returns the loss after every step."""
    params = init(jax.random.PRNGKey(0))
    m = jax.tree_util.tree_map(jnp.zeros_like, params)
    v = jax.tree_util.tree_map(jnp.zeros_like, params)

    @jax.jit
    def step(params, m, v, t):
        value, grads = jax.value_and_grad(loss)(params, act)
        m = jax.tree_util.tree_map(lambda a, g: b1 * a + (1 - b1) * g, m, grads)
        v = jax.tree_util.tree_map(lambda a, g: b2 * a + (1 - b2) * g**2, v, grads)
        scale = lr * jnp.sqrt(1 - b2**t) / (1 - b1**t)
        params = jax.tree_util.tree_map(lambda p, a, b: p - scale * a / (jnp.sqrt(b) + eps), params, m, v)
        return params, m, v, value

    losses = []
    for t in range(1, steps + 1):
        params, m, v, value = step(params, m, v, t)
        losses.append(float(value))
    return np.array(losses)


losses = {name: train(r.activation) for name, r in (("DKS", dks), ("TAT", tat))}
for name, curve in losses.items():
    print(f"{name}-Mish, depth {L}: training loss {curve[0]:.4f} -> {curve[-1]:.2e} after {len(curve)} steps")
    assert curve[-1] < 0.01 * curve[0]
hv.Overlay([hv.Curve((np.arange(1, len(c) + 1), c), "Adam step", "training MSE", label=f"{name} φ̂")
            for name, c in losses.items()]).opts(
    logy=True, width=600, height=300, show_grid=True, title="Training depth-20 networks with the exported φ̂")

# %% [markdown]
# ## Play: type your own
#
# Type an expression in `x` and choose a depth; the plot shows the network's C map with the raw activation
# ($\sigma_w = 1$) and after DKS ($\zeta = 1.5$). A typing error or an activation that cannot be shaped shows
# sigprop's message instead. (Shaping is fast: for Mish at depth 20 the DKS solve and both C maps take about 0.02 s.)

# %%
w_expr = pn.widgets.TextInput(label="φ(x) =", value="x * tanh(softplus(x))")
w_depth = pn.widgets.DiscreteSlider(label="depth L", options=[1, 2, 5, 10, 20, 50, 100], value=20)


def byo_view(text, depth):
    try:
        f = sp.activation(text)
        raw = sp.mlp(f, depth=depth).c_map(cs)
        shaped = sp.mlp(f, depth=depth, init=sp.dks(f, depth=depth, zeta=1.5)).c_map(cs)
    except sp.SigpropError as err:
        return pn.pane.Alert(f"{type(err).__name__}: {err}", alert_type="warning", width=480)
    return pn.Column(pn.pane.LaTeX(f"$\\phi(x) = {f.latex}$"), hv.Overlay(
        [diag, hv.Curve((cs, raw), "c", "C_f(c)", label="σ_w = 1"), hv.Curve((cs, shaped), "c", "C_f(c)", label="DKS")]
    ).opts(width=480, height=400, ylim=(-1.05, 1.05), legend_position="top_left", show_grid=True,
           title=f"depth {depth}"))


pn.Row(pn.Column(w_expr, w_depth), pn.bind(byo_view, w_expr, w_depth))


# %% [markdown]
# ## The dashboard, inline
#
# The dashboard accepts typed expressions too: here your activation raw ($\sigma_w = 1$) and shaped by DKS and by
# TAT, at depth 20. Change the expression in a configuration's *Activation* box.

# %%
from sigprop_app import Configuration, Dashboard

expr = "x * tanh(softplus(x))"
dashboard = Dashboard(configurations=[
    Configuration(title="raw, σ_w = 1", activation=expr, method="standard", scheme="custom", depth=20),
    Configuration(title="DKS ζ = 1.5", activation=expr, method="dks", zeta=1.5, depth=20),
    Configuration(title="TAT τ = 0.3", activation=expr, method="tat", tau=0.3, depth=20),
], sync_url=False)
assert all(cfg.error == "" for cfg in dashboard.configurations), [cfg.error for cfg in dashboard.configurations]
dashboard

