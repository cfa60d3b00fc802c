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
# # 4. Tailored Activation Transformations (TAT)
#
# DKS (notebook 3) controls the slope $C_f'(1) = \zeta$. That handle is missing for the most popular
# activation: for a leaky ReLU $\phi_s(x) = \max(x, 0) + s\min(x, 0)$, scaled by
# $\gamma = \sqrt{2/(1+s^2)}$ so that $Q(q) = q$, the C map is
#
# $$C_s(c) = c + \frac{(1-s)^2}{\pi(1+s^2)}\Big(\sqrt{1-c^2} - c\arccos c\Big), \qquad
#   C_s'(c) = 1 - \frac{(1-s)^2}{\pi(1+s^2)} \arccos c,$$
#
# so $C_s'(1) = 1$ for every slope $s$. **TAT** (Zhang, Botev & Martens 2022) controls other features of
# the network's C map instead:
#
# * **leaky ReLU**: choose $s$ so that the whole network has $C_f(0) = \eta$ ($\eta = 0.9$ by default).
#   $s = 1$ is a linear network ($C_f(0) = 0$), $s = 0$ is ReLU (the most degenerate), and $\eta$ picks the
#   point in between: how far the network may collapse is a choice, not an accident of depth;
# * **smooth $\phi$**: transform $\hat\phi(x) = \gamma(\phi(\alpha x + \beta) + \delta)$ so that
#   $Q(1) = 1$, $Q'(1) = 1$, $C'(1) = 1$ and $C''(1) = \tau/L$. With unit slopes curvatures add under
#   composition, $(f \circ g)''(1) = f''(1)\,g'(1)^2 + f'(1)\,g''(1) = f''(1) + g''(1)$, so the network has
#   $C_f'(1) = 1$ and $C_f''(1) = \tau$.

# %%
import holoviews as hv
import numpy as np
import panel as pn

import sigprop as sp

hv.extension("bokeh", inline=True)  # inline: Bokeh and Panel from the notebook itself, no CDN (works offline)
pn.extension("katex", inline=True)  # KaTeX: the formulas of the dashboard at the end


def leaky_c_map(c, s):
    """The closed-form C map of the scaled leaky ReLU (above)."""
    return c + (1 - s) ** 2 / (np.pi * (1 + s**2)) * (np.sqrt(1 - c**2) - c * np.arccos(c))


def compose(c, s, depth):
    for _ in range(depth):
        c = leaky_c_map(c, s)
    return c


# %% [markdown]
# ## Leaky ReLU: $C_f(0) = \eta$
#
# We ask TAT for a depth-100 network and check its answer by composing the closed-form map ourselves.

# %%
leaky = sp.activation("leaky_relu")
L, eta = 100, 0.9
res = sp.tat(leaky, depth=L, eta=eta)
print(res.summary())
s = res.constants["negative_slope"]
print(f"our composition of the closed form: C_f(0) = {compose(0.0, s, L):.14f}")
assert abs(compose(0.0, s, L) - eta) < 1e-10
assert abs(res.gamma**2 * (1 + s**2) / 2 - 1) < 1e-14  # Q(q) = q

# %%
cs = np.linspace(-1, 1, 201)
tat_net = sp.mlp(leaky, depth=L, init=res)
relu_net = sp.mlp("relu", depth=L, init=sp.eoc("relu"))
assert np.max(np.abs(tat_net.c_map(cs) - compose(cs, s, L))) < 1e-10
assert np.max(np.abs(relu_net.c_map(cs) - compose(cs, 0.0, L))) < 1e-10  # ReLU at the EOC is s = 0
print(f"C_f(-1): ReLU {relu_net.c_map(-1.0):.4f}, TAT {tat_net.c_map(-1.0):.4f}; "
      f"range 1 - C_f(-1) is {(1 - tat_net.c_map(-1.0)) / (1 - relu_net.c_map(-1.0)):.1f}x wider for TAT")
ds = np.array([1e-6, 1e-4, 1e-2, 1e-1])
kept = {name: n.one_minus_c_map(ds) / ds for name, n in (("ReLU", relu_net), ("TAT", tat_net))}
print("(1 - C_f(1 - d)) / d at d = " + ", ".join(f"{d:g}" for d in ds) + ": "
      + ";  ".join(f"{name} " + ", ".join(f"{r:.3f}" for r in v) for name, v in kept.items()))
assert abs(tat_net.c_slope_at_1() - 1) < 1e-12 and np.all(kept["TAT"] < 1) and np.all(kept["ReLU"] < kept["TAT"])
diag = hv.Curve((cs, cs), "c", "C_f(c)", label="identity").opts(color="grey", line_dash="dashed")
hv.Overlay([diag, hv.Curve((cs, relu_net.c_map(cs)), "c", "C_f(c)", label="ReLU at the EOC (He)"),
            hv.Curve((cs, tat_net.c_map(cs)), "c", "C_f(c)", label=f"TAT leaky ReLU, η = {eta}, s = {s:.3f}")]).opts(
    width=520, height=420, legend_position="top_left", show_grid=True, title="Depth 100: C_f(c)")

# %% [markdown]
# The ReLU network squeezes every cosine into $[0.996, 1]$; the TAT network keeps the range $[0.88, 1]$,
# about 33 times wider. Both have $C_f'(1) = 1$, but that holds only in the limit $d = 1 - c \to 0$. The
# fraction $(1 - C_f(1 - d))/d$ of a squared distance $\lVert x - y\rVert^2 = 2q\,d$ that survives is 0.996
# at $d = 10^{-6}$, 0.96 at $10^{-4}$, 0.68 at $10^{-2}$ and 0.36 at $0.1$ for TAT (ReLU: 0.97, 0.76, 0.16,
# 0.03): nearby inputs are still pulled together, far less than by ReLU, but not kept exactly as far apart.
#
# ## Smooth activations: $C_f''(1) = \tau$
#
# We check the local conditions with our own Gauss–Hermite rule and the closed-form derivatives of
# $\hat\phi = \gamma(\tanh(\alpha x + \beta) + \delta)$, and the network's curvature with a Richardson-extrapolated
# finite difference of $1 - C_f(1 - h) = h - \tfrac{\tau}{2} h^2 + O(h^3)$.

# %%
tanh = sp.activation("tanh")
tau = 0.3
res_s = sp.tat(tanh, depth=L, tau=tau)
print(res_s.summary())
a, b, g, d = res_s.alpha, res_s.beta, res_s.gamma, res_s.delta
z, wz = np.polynomial.hermite_e.hermegauss(301)
wz = wz / wz.sum()
t = np.tanh(a * z + b)
f, df, ddf = g * (t + d), g * a * (1 - t**2), -2 * g * a**2 * t * (1 - t**2)
q1 = wz @ f**2
checks = {"Q(1)": (q1, 1.0), "Q'(1)": (wz @ (f * df * z), 1.0), "C'(1)": (wz @ df**2 / q1, 1.0),
          "C''(1)": (wz @ ddf**2 / q1, tau / L)}
for name, (value, target) in checks.items():
    print(f"{name:6s} = {value:.12f}   target {target:.12f}")
    assert abs(value - target) < 1e-9

net = sp.mlp(tanh, depth=L, init=res_s)


def curvature(h):
    return 2 * (h - net.one_minus_c_map(h)) / h**2


tau_fd = 2 * curvature(5e-4) - curvature(1e-3)
print(f"network: C_f'(1) = {net.c_slope_at_1():.12f}, C_f''(1) by finite differences = {tau_fd:.7f}")
assert abs(net.c_slope_at_1() - 1) < 1e-10 and abs(tau_fd - tau) < 1e-5

# %% [markdown]
# ## Unreachable targets
#
# Not every target can be met. A leaky-ReLU network's $C_f(0)$ grows as $s$ falls, and is largest for $s = 0$,
# plain ReLU. A shallow ReLU network does not degenerate much, so it cannot reach $C_f(0) = 0.9$ at all.
# sigprop raises `sp.UnachievableError` and says why:

# %%
try:
    sp.tat(leaky, depth=5, eta=eta)
except sp.UnachievableError as err:
    print("UnachievableError:", err)

# %% [markdown]
# The smallest depth that works is the first at which the *ReLU* network's $C_f(0) \ge \eta$. We find it
# with the closed form ($s = 0$) and check that TAT fails just below it and succeeds at it.

# %%
c, depth_min = 0.0, 0
while c < eta:
    c, depth_min = leaky_c_map(c, 0.0), depth_min + 1
print(f"ReLU reaches C_f(0) = {eta} first at depth {depth_min} (C_f(0) = {c:.4f})")
try:
    sp.tat(leaky, depth=depth_min - 1, eta=eta)
    raise AssertionError("expected UnachievableError")
except sp.UnachievableError:
    pass
print(sp.tat(leaky, depth=depth_min, eta=eta).summary())

# %% [markdown]
# Smooth activations have their own limits: a large curvature $\tau$ on a shallow network needs a strongly
# bent $\hat\phi$, and TAT keeps only roots with $\alpha\gamma < 2$ (the reference implementation's guard
# against unstable Q maps). For tanh at depth 1, $\alpha\gamma$ grows with $\tau$ (1.77 at
# $\tau = 0.5$, 1.95 at $\tau = 0.8$); from $\tau = 0.9$ on, every root found has $\alpha\gamma \ge 2$ and
# is rejected. (For a much larger $\tau$, such as 100, no root is found at all.)

# %%
for tau_1 in (0.5, 0.8):
    r = sp.tat(tanh, depth=1, tau=tau_1)
    print(f"depth 1, τ = {tau_1}: αγ = {abs(r.alpha) * r.gamma:.3f}")
try:
    sp.tat(tanh, depth=1, tau=1.0)
except sp.UnachievableError as err:
    print("UnachievableError:", err)

# %% [markdown]
# ## Play: η and depth for leaky ReLU
#
# An unreachable combination shows the error message instead of the plot.

# %%
w_eta = pn.widgets.FloatSlider(label="η = C_f(0)", start=0.0, end=0.99, step=0.01, value=0.9)
w_depth = pn.widgets.DiscreteSlider(label="depth L", options=[2, 5, 10, 13, 20, 50, 100, 200, 500, 1000], value=100)


def tat_view(eta, depth):
    try:
        r = sp.tat(leaky, depth=depth, eta=eta)
    except sp.UnachievableError as err:
        return pn.pane.Alert(str(err), alert_type="warning", width=480)
    net = sp.mlp(leaky, depth=depth, init=r)
    return hv.Overlay([diag, hv.Curve((cs, net.c_map(cs)), "c", "C_f(c)", label="TAT")]).opts(
        title=f"depth {depth}: negative slope s = {r.constants['negative_slope']:.4f}", width=480, height=400,
        ylim=(-1.05, 1.05), legend_position="top_left", show_grid=True)


pn.Row(pn.Column(w_eta, w_depth), pn.bind(tat_view, w_eta, w_depth))


# %% [markdown]
# ## The dashboard, inline
#
# The same comparison in the sigprop dashboard, opened on the TAT preset. Every plot of the app
# (C maps, degeneration near $c = 1$, trajectories, NTK, phase diagram) is in its tabs; edit the
# configurations in the left column.

# %%
from sigprop_app import Dashboard

dashboard = Dashboard(preset="TAT leaky ReLU, η = 0.9", sync_url=False)
assert all(cfg.error == "" for cfg in dashboard.configurations), [cfg.error for cfg in dashboard.configurations]
dashboard
