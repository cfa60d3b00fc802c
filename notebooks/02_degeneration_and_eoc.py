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
# # 2. Degeneration with depth, and the Edge of Chaos
#
# Notebook 1 showed that a random network maps the length $q$ and the cosine $c$ of its inputs through the
# Q map and the C map, one layer at a time. Iterating a map many times drives it to a **fixed point**. This
# notebook asks where the fixed points are, how fast a deep network gets there (the **depth scales**), and
# which initialisations $(\sigma_w, \sigma_b)$ keep a deep network away from them (the **Edge of Chaos**,
# Poole et al. 2016; Schoenholz et al. 2017). It ends with why the Edge of Chaos is *not enough* for a deep
# ReLU network.
#
# To check sigprop we write our own small reference: a 301-point Gauss–Hermite rule for
# $\mathbb E_{z \sim \mathcal N(0,1)}[f(z)]$ (tanh's poles at $\pm i\pi/2$ make fewer points inaccurate once
# $q \gtrsim 1$) and Brent's method for the fixed point.

# %%
import holoviews as hv
import numpy as np
import panel as pn
from scipy.optimize import brentq

import sigprop as sp

hv.extension("bokeh", inline=True)  # inline: Bokeh and Panel from the notebook itself, no CDN (works offline)
pn.extension("katex", inline=True)  # KaTeX: the formulas of the dashboard at the end

tanh = sp.activation("tanh")
z, wz = np.polynomial.hermite_e.hermegauss(301)
wz = wz / wz.sum()  # E[f(z)] ≈ Σ wz f(z) for z ~ N(0, 1)


def Q_ref(q, sw2, sb2):
    return sw2 * wz @ np.tanh(np.sqrt(q) * z) ** 2 + sb2


def q_star_ref(sw2, sb2):
    """The root of Q(q) = q (unique for tanh with σ_b > 0: Q is concave and Q(0) = σ_b² > 0)."""
    return brentq(lambda q: Q_ref(q, sw2, sb2) - q, 1e-12, 100.0, xtol=1e-15, rtol=1e-15)


def chi1_ref(sw2, sb2):
    q = q_star_ref(sw2, sb2)
    return sw2 * wz @ np.cosh(np.sqrt(q) * z) ** -4  # σ_w² E[φ'(√q* z)²], φ' = sech²


def c_star_ref(sw2, sb2):
    """The fixed point c* < 1 of the C map at q* (chaotic phase), by a 2-D Gauss–Hermite rule."""
    q = q_star_ref(sw2, sb2)
    z1, z2 = z[:, None], z[None, :]
    w2d = wz[:, None] * wz[None, :]

    def C(c):
        u, v = np.sqrt(q) * z1, np.sqrt(q) * (c * z1 + np.sqrt(1 - c**2) * z2)
        return (sw2 * np.sum(w2d * np.tanh(u) * np.tanh(v)) + sb2) / q

    return brentq(lambda c: C(c) - c, -0.5, 0.99, xtol=1e-15)


# %% [markdown]
# ## The length: fixed point $q^*$
#
# $Q$ is increasing, and for tanh it is concave, so $q^l = Q(q^{l-1})$ converges to the fixed point
# $q^* = Q(q^*)$ from every start, within a few layers (here to 1% within 5–11 layers from the four starts
# below; Schoenholz's depth scale $\xi_q$ is 1.7 layers). The length of an input is forgotten quickly, and
# that is harmless: every input ends up with the same length $q^*$.

# %%
sw2, sb2 = 1.5, 0.05
net = sp.mlp(tanh, depth=200, sigma_w=np.sqrt(sw2), sigma_b=np.sqrt(sb2))
q_paths = {q0: net.q_trajectory(q0) for q0 in (0.02, 0.5, 2.0, 5.0)}
q_star = q_star_ref(sw2, sb2)
print(f"q* by our own quadrature: {q_star:.12f};  sigprop after 200 layers, from each q0: "
      + ", ".join(f"{p[-1]:.12f}" for p in q_paths.values()))
assert all(abs(p[-1] - q_star) < 1e-10 for p in q_paths.values())
hv.Overlay([hv.Curve((np.arange(31), p[:31]), "layer l", "q_l", label=f"q0 = {q0}") for q0, p in q_paths.items()]
           ).opts(title=f"tanh, σ_w² = {sw2}, σ_b² = {sb2}: q_l → q* = {q_star:.4f}", width=600, height=300,
                  show_grid=True)

# %% [markdown]
# ## The cosine: $c^*$ and $\chi_1$
#
# Once $q = q^*$, the C map always has the fixed point $c = 1$. Its slope there is
# $C'(1) = \sigma_w^2 q^*\, \mathbb E[\phi'(\sqrt{q^*} z)^2] / Q(q^*)$, and when $q^* > 0$ (so that
# $Q(q^*) = q^*$ cancels) it is
#
# $$\chi_1 = C'(1) = \sigma_w^2\, \mathbb E\big[\phi'(\sqrt{q^*} z)^2\big],$$
#
# which then decides everything (it is also the factor by which the squared gradient norm grows per layer
# backwards):
#
# * $\chi_1 < 1$, the **ordered phase**: $c = 1$ attracts, every pair of inputs converges, $c^l \to 1$,
#   and the network maps all inputs to the same output (for $\sigma_b > 0$; the row $\sigma_b = 0$ is below);
# * $\chi_1 > 1$, the **chaotic phase**: $c = 1$ repels, and $c^l \to c^* < 1$ for every pair of distinct
#   inputs, however close: nearby inputs are torn apart, so the function is wildly non-smooth;
# * $\chi_1 = 1$ is the **Edge of Chaos**.
#
# Near the fixed point, $|c^l - c^*| \propto \chi_c^{\,l} = e^{-l/\xi_c}$ with $\chi_c = C'(c^*)$, which
# defines the **depth scale** $\xi_c = -1/\log \chi_c$. A network of depth $L \gg \xi_c$ has forgotten its
# input's geometry; Schoenholz et al. found empirically that networks train only when $L \lesssim 6\,\xi_c$.
#
# **The row $\sigma_b = 0$ is the exception.** There $Q(0) = 0$, and for tanh with $\sigma_w^2 \le 1$ the
# fixed point is $q^* = 0$: the signal dies out. The formula above still gives $\chi_1 = \sigma_w^2 < 1$,
# but the C map's slope at 1 is $C'(1) = \sigma_w^2 q\,\mathbb E[\phi'^2]/Q(q) \to 1$ as $q \to 0$ (tanh is
# linear near 0), and the C map tends to the identity. So this is *not* an ordered network: the cosines move
# in the first layers, while $q$ is still large, and then freeze. With $\sigma_w^2 = 0.5$,
# $c^0 = (-0.5, 0, 0.5, 0.9)$ ends at $(-0.467, 0, 0.467, 0.883)$ and stays there at any depth, whereas
# $\sigma_b^2 = 0.05$ sends every pair to $c = 1$. sigprop reports $\xi_c = \infty$ at such points: there is
# no exponential depth scale. (With $\sigma_w^2 > 1$ and $\sigma_b = 0$ the network is chaotic with
# $c^* = 0$, because tanh is odd.)
#
# We check $\chi_1$ against our own quadrature, the depth scale against the decay of $1 - c^l$ in an
# ordered network, and the $\sigma_b = 0$ row.

# %%
ordered, chaotic = (1.2, 0.05), (3.0, 0.05)
pd = sp.phase_diagram(tanh, [ordered[0], chaotic[0]], [ordered[1]])
for k, (name, (w2, b2)) in enumerate((("ordered", ordered), ("chaotic", chaotic))):
    print(f"{name:8s} σ_w² = {w2}: χ₁ = {pd.chi1[0, k]:.10f} (our quadrature {chi1_ref(w2, b2):.10f}), "
          f"c* = {pd.c_star[0, k]:.6f}, ξ_c = {pd.xi_c[0, k]:.3f}")
    assert abs(pd.chi1[0, k] - chi1_ref(w2, b2)) < 1e-8
c_star = c_star_ref(*chaotic)
print(f"chaotic: c* by our quadrature {c_star:.10f}")
assert pd.c_star[0, 0] == 1 and abs(pd.c_star[0, 1] - c_star) < 1e-9

# 1 - c_l in the ordered phase decays like χ₁^l: compare depths 119 and 120 (one_minus_c_map keeps 1 - c exact)
q_ord = q_star_ref(*ordered)
d119, d120 = (sp.mlp(tanh, depth=L, sigma_w=np.sqrt(ordered[0]), sigma_b=np.sqrt(ordered[1]))
              .one_minus_c_map(1.0, q=q_ord) for L in (119, 120))
print(f"ordered: (1 - c_120) / (1 - c_119) = {d120 / d119:.10f} (1 - c_120 = {d120:.2e}); "
      f"χ₁ = {chi1_ref(*ordered):.10f}")
assert abs(d120 / d119 - chi1_ref(*ordered)) < 1e-7

# σ_b = 0, σ_w² = 0.5: q* = 0, and the cosines freeze instead of converging to 1 (σ_b² = 0.05: they converge)
c0_row = np.array([-0.5, 0.0, 0.5, 0.9])
pd0 = sp.phase_diagram(tanh, [0.5], [0.0])
frozen = sp.mlp(tanh, depth=1000, sigma_w=np.sqrt(0.5)).c_trajectory(c0_row)
biased = sp.mlp(tanh, depth=1000, sigma_w=np.sqrt(0.5), sigma_b=np.sqrt(0.05)).c_trajectory(c0_row)
print(f"σ_b = 0, σ_w² = 0.5: q* = {pd0.q_star[0, 0]:.1e}, χ₁ = {pd0.chi1[0, 0]:.3f}, ξ_c = {pd0.xi_c[0, 0]}; "
      f"c_50 = {frozen[50].round(4)}, c_1000 = {frozen[1000].round(4)}; "
      f"with σ_b² = 0.05, c_1000 = {biased[1000].round(12)}")
assert pd0.q_star[0, 0] < 1e-12 and np.isinf(pd0.xi_c[0, 0])
assert np.max(np.abs(frozen[1000] - frozen[50])) < 1e-6 and np.all(frozen[1000] < 0.9)
assert np.all(biased[1000] > 1 - 1e-9)

# %%
c0s = np.array([-0.5, 0.0, 0.5, 0.9, 0.99])
plots = []
for name, (w2, b2) in (("ordered", ordered), ("chaotic", chaotic)):
    net = sp.mlp(tanh, depth=30, sigma_w=np.sqrt(w2), sigma_b=np.sqrt(b2))
    traj = net.c_trajectory(c0s, q=q_star_ref(w2, b2))
    plots.append(hv.Overlay([hv.Curve((np.arange(31), traj[:, j]), "layer l", "c_l", label=f"c0 = {c0}")
                             for j, c0 in enumerate(c0s)]).opts(title=f"{name}: σ_w² = {w2}, σ_b² = {b2}"))
hv.Layout(plots).opts(hv.opts.Curve(width=380, height=300, show_grid=True),
                      hv.opts.Overlay(legend_position="right", show_legend=True))

# %% [markdown]
# ## The phase diagram
#
# `sp.phase_diagram` computes $q^*$, $\chi_1$, $c^*$ and $\xi_c$ on a grid of $(\sigma_w^2, \sigma_b^2)$. The
# line $\chi_1 = 1$ separates the two phases; along it $\xi_c = \infty$. It is also infinite along the bottom row,
# $\sigma_b^2 = 0$, for $\sigma_w^2 \le 1$: there $q^* = 0$, and although $\chi_1 = \sigma_w^2 < 1$ colours it
# blue, the cosines are kept, not merged (above). `sp.eoc(φ, sigma_b)` finds the point of the line $\chi_1 = 1$
# at a given $\sigma_b$. Schoenholz et al. (2017, Fig. 1) report, for tanh with
# $\sigma_b^2 = 0.05$, the critical point $\sigma_w^2 \approx 1.76$.

# %%
w2_grid, b2_grid = np.linspace(0.5, 4.0, 36), np.linspace(0.0, 0.5, 21)
pd = sp.phase_diagram(tanh, w2_grid, b2_grid)
res = sp.eoc(tanh, sigma_b=np.sqrt(0.05))
print(res.summary())
assert abs(res.sigma_w**2 - 1.76) < 0.005
assert abs(chi1_ref(res.sigma_w**2, 0.05) - 1) < 1e-8
assert np.all(np.isinf(pd.xi_c[0, w2_grid < 1]))  # the σ_b² = 0 row: q* = 0, no exponential depth scale

log_chi = hv.Image((w2_grid, b2_grid, np.log10(pd.chi1)), ["σ_w²", "σ_b²"], "log10 χ₁")
xi = hv.Image((w2_grid, b2_grid, np.log10(pd.xi_c)), ["σ_w²", "σ_b²"], "log10 ξ_c")
line = hv.operation.contours(log_chi, levels=[0.0], filled=False).opts(color="black", line_width=2)
point = hv.Points([(res.sigma_w**2, 0.05)]).opts(size=10, color="yellow", line_color="black")
((log_chi.opts(cmap="RdBu_r", clim=(-0.5, 0.5), colorbar=True, title="log10 χ₁: ordered (blue) | chaotic (red)")
  * line * point)
 + (xi.opts(cmap="viridis", clim=(0, 2), colorbar=True, title="log10 ξ_c: ∞ on the EOC and at σ_b = 0, σ_w² ≤ 1")
    * line * point)).opts(hv.opts.Image(width=430, height=340, tools=["hover"]))

# %% [markdown]
# ## Why the Edge of Chaos is not enough for deep ReLU networks
#
# ReLU is positively homogeneous, so $Q(q) = \tfrac{\sigma_w^2}{2} q + \sigma_b^2$ and $\chi_1 =
# \sigma_w^2/2$ does not depend on $q$. A finite $q^*$ needs $\sigma_w^2 < 2$ when $\sigma_b > 0$, and then
# $\chi_1 < 1$: the Edge of Chaos is the single point $(\sigma_w^2, \sigma_b^2) = (2, 0)$, which is He
# initialisation. There the C map is the normalised arc-cosine kernel
#
# $$C(c) = \frac{\sqrt{1 - c^2} + (\pi - \arccos c)\,c}{\pi},$$
#
# with $C'(1) = 1$: the convergence $c^l \to 1$ is no longer exponential, but it still happens. In fact the
# whole row $\sigma_b = 0$ has this C map: $\sigma_w$ only rescales $q$ (which decays for $\sigma_w^2 < 2$
# and grows without bound for $\sigma_w^2 > 2$), so $C'(1) = 1$ there whatever $\chi_1 = \sigma_w^2/2$ says,
# and sigprop reports $\xi_c = \infty$ along it (for $\sigma_w^2 \le 2$; above, there is no $q^*$). Expanding
# $C$ near 1, $1 - C(1-d) = d - \tfrac{2\sqrt2}{3\pi} d^{3/2} + \dots$, whose iterates decay like
#
# $$1 - c^l \sim \frac{9\pi^2}{2\,l^2}.$$
#
# This is an asymptote for large $l$: from $c^0 = 0$ it overestimates $1 - c^l$ by 3.5× at $l = 10$, 1.24× at
# $l = 100$ and 1.03× at $l = 1000$ (the table below). After 100 layers two orthogonal inputs have cosine
# $\approx 0.996$: the network sees (almost) one input.
# We check sigprop against our own iteration of the closed form, written in the angle $\theta = \arccos c$ so
# that $1 - c$ keeps full precision: $1 - C = \big((\pi - \theta)(1 - \cos\theta) + \theta - \sin\theta\big)/\pi$.

# %%
relu = sp.activation("relu")
res = sp.eoc(relu)
print(res.summary())
assert abs(res.sigma_w**2 - 2) < 1e-12 and res.sigma_b == 0
row = sp.phase_diagram(relu, [0.5, 1.0, 2.0], [0.0])
same = [sp.mlp(relu, depth=100, sigma_w=np.sqrt(w2)).c_trajectory([0.0])[:, 0] for w2 in (0.5, 1.0, 2.0, 3.0)]
print(f"ReLU, σ_b = 0: χ₁ = {row.chi1[0]}, ξ_c = {row.xi_c[0]}; c_100 from c_0 = 0 at σ_w² = 0.5, 1, 2, 3: "
      + ", ".join(f"{t[-1]:.6f}" for t in same))
assert np.all(np.isinf(row.xi_c)) and all(np.max(np.abs(t - same[2])) < 1e-12 for t in same)

L = 10_000
net = sp.mlp(relu, depth=L, init=res)
d_sp = 1 - net.c_trajectory([0.0])[:, 0]

d_ref = np.empty(L + 1)
d_ref[0] = 1.0
for i in range(L):
    theta = 2 * np.arcsin(np.sqrt(d_ref[i] / 2))
    d_ref[i + 1] = ((np.pi - theta) * d_ref[i] + theta - np.sin(theta)) / np.pi

ls = np.array([10, 100, 1000, 10_000])
print("l      1 - c_l (sigprop)   (our iteration)     l²(1 - c_l)   [limit 9π²/2 = %.4f]" % (9 * np.pi**2 / 2))
for i in ls:
    print(f"{i:6d}  {d_sp[i]:.12e}  {d_ref[i]:.12e}  {i**2 * d_sp[i]:9.4f}")
assert np.max(np.abs(d_sp[1:] / d_ref[1:] - 1)) < 1e-9
assert abs(L**2 * d_sp[L] / (9 * np.pi**2 / 2) - 1) < 0.01
print(f"C_f(0) after 100 layers: {1 - d_sp[100]:.5f}")
assert 1 - d_sp[100] > 0.99

# %%
hv.Overlay([hv.Curve((np.arange(1, L + 1), d_sp[1:]), "layer l", "1 - c_l", label="ReLU at the EOC"),
            hv.Curve((np.arange(1, L + 1), 9 * np.pi**2 / (2 * np.arange(1, L + 1) ** 2)), "layer l", "1 - c_l",
                     label="9π²/(2 l²)").opts(line_dash="dashed", color="black")]).opts(
    logx=True, logy=True, width=600, height=320, show_grid=True, legend_position="bottom_left",
    title="ReLU at the Edge of Chaos: orthogonal inputs still merge, polynomially")

# %% [markdown]
# The Edge of Chaos removes the *exponential* loss of information but not the loss itself. The fix is to
# shape the whole network's C map, not just its slope at 1: that is Deep Kernel Shaping (notebook 3).
#
# ## Play: pick a point of the phase diagram
#
# The sliders set $(\sigma_w^2, \sigma_b^2)$ for a depth-50 tanh network (input $q^0 = 1$). The plot shows
# $c^l$ for five input cosines; the title gives $\chi_1$ and $\xi_c$.

# %%
w_sw2 = pn.widgets.FloatSlider(label="σ_w²", start=0.5, end=4.0, step=0.05, value=1.76)
w_sb2 = pn.widgets.FloatSlider(label="σ_b²", start=0.0, end=0.5, step=0.01, value=0.05)


def trajectory_view(sw2, sb2):
    net = sp.mlp(tanh, depth=50, sigma_w=np.sqrt(sw2), sigma_b=np.sqrt(sb2))
    traj = net.c_trajectory(c0s)
    p = sp.phase_diagram(tanh, [sw2], [sb2])
    return hv.Overlay([hv.Curve((np.arange(51), traj[:, j]), "layer l", "c_l", label=f"c0 = {c0}")
                       for j, c0 in enumerate(c0s)]).opts(
        title=f"χ₁ = {p.chi1[0, 0]:.3f}, ξ_c = {p.xi_c[0, 0]:.1f}", width=550, height=350, ylim=(-0.6, 1.05),
        show_grid=True, legend_position="right")


pn.Row(pn.Column(w_sw2, w_sb2), pn.bind(trajectory_view, w_sw2, w_sb2))


# %% [markdown]
# ## The dashboard, inline
#
# The same comparison in the sigprop dashboard, opened on the deep-ReLU-at-the-EOC preset. Every plot of the app
# (C maps, degeneration near $c = 1$, trajectories, NTK, phase diagram) is in its tabs; edit the
# configurations in the left column.

# %%
from sigprop_app import Dashboard

dashboard = Dashboard(preset="Deep ReLU degenerates even at the EOC", sync_url=False)
assert all(cfg.error == "" for cfg in dashboard.configurations), [cfg.error for cfg in dashboard.configurations]
dashboard
