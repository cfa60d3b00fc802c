"""Tests of sigprop.methods: standard, EOC, DKS, TAT, phase diagram.

Oracle: every defining condition is re-evaluated with ``scipy.integrate.quad`` (adaptive Gauss–Kronrod on
the real line, split at kinks) — not the Gauss–Hermite / Gauss–Legendre rules the solvers use. Derivatives
of φ̂ come from closed forms where given (tanh) and otherwise from ``jax.grad`` (exact, not quadrature).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, optimize
from scipy.interpolate import CubicSpline

import sigprop as sp
from sigprop import methods as M
from sigprop.errors import ActivationError, ConfigurationError, UnachievableError

SQRT2PI = math.sqrt(2 * math.pi)


def gauss_expect(f, kinks=()):
    """E[f(z)], z ~ N(0, 1), by scipy.integrate.quad, split at ``kinks`` (independent oracle)."""
    edges = [-np.inf, *sorted(kinks), np.inf]
    total = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        total += integrate.quad(lambda z: f(z) * math.exp(-z * z / 2) / SQRT2PI, a, b,
                                epsabs=1e-14, epsrel=1e-13, limit=400)[0]
    return total


def derivs(act):
    """Scalar φ̂, φ̂', φ̂'' in float64 via JAX autodiff."""
    with jax.enable_x64(True):
        f = jax.jit(lambda x: act(x))
        d1 = jax.jit(jax.grad(lambda x: act(x)))
        d2 = jax.jit(jax.grad(jax.grad(lambda x: act(x))))

    def wrap(g):
        def h(x):
            with jax.enable_x64(True):
                return float(g(jnp.float64(x)))
        return h

    return wrap(f), wrap(d1), wrap(d2)


def local_maps(res, kinks=()):
    """Q(1), Q'(1), C(0), C'(1), C''(1) of res.activation at q = 1 by quad (theory.md §1.2 formulas)."""
    f, d1, d2 = derivs(res.activation)
    q1 = gauss_expect(lambda z: f(z) ** 2, kinks)
    out = {
        "Q(1)": q1,
        "Q'(1)": gauss_expect(lambda z: f(z) * d1(z) * z, kinks),
        "C(0)": gauss_expect(f, kinks) ** 2 / q1,
        "C'(1)": gauss_expect(lambda z: d1(z) ** 2, kinks) / q1,
    }
    if res.activation.smooth:
        out["C''(1)"] = gauss_expect(lambda z: d2(z) ** 2, kinks) / q1
    return out


SMOOTH = ["tanh", "softplus", "erf", "gelu", "swish", "sin"]


# -------------------------------------------------------------------------------------------------
# standard
# -------------------------------------------------------------------------------------------------


def test_standard_schemes():
    # He et al. 2015 (σ_w² = 2; leaky: 2/(1+s²)), LeCun 1998 (1), Glorot & Bengio 2010 (2/(fan_in+fan_out))
    assert sp_standard("relu", "he").sigma_w ** 2 == pytest.approx(2.0, abs=1e-15)
    assert sp_standard(("leaky_relu", {"negative_slope": 0.5}), "he").sigma_w ** 2 == pytest.approx(1.6, abs=1e-15)
    assert sp_standard("tanh", "lecun").sigma_w ** 2 == pytest.approx(1.0, abs=1e-15)
    assert sp_standard("tanh", "glorot").sigma_w ** 2 == pytest.approx(1.0, abs=1e-15)
    r = M.standard("tanh", "glorot", fan_in=100, fan_out=300, sigma_b=0.1)
    assert r.sigma_w**2 * (1 / 100) == pytest.approx(2 / (100 + 300), abs=1e-15)
    assert r.sigma_b == 0.1
    with pytest.raises(ConfigurationError):
        M.standard("tanh", "xavier_magic")
    with pytest.raises(ConfigurationError):
        M.standard("tanh", "glorot", fan_in=10)


def sp_standard(phi, scheme):
    return M.standard(phi, scheme)


# -------------------------------------------------------------------------------------------------
# Edge of Chaos
# -------------------------------------------------------------------------------------------------


def test_eoc_tanh_schoenholz_point():
    # Schoenholz et al. 2017 (Fig. / §3): tanh with σ_b² = 0.05 has its EOC at σ_w² ≈ 1.76.
    res = M.eoc("tanh", sigma_b=math.sqrt(0.05))
    assert res.sigma_w**2 == pytest.approx(1.76, abs=0.005)
    # Conditions by quad: q* = σ_w² E[tanh(√q* z)²] + σ_b², χ₁ = σ_w² E[sech⁴(√q* z)] = 1.
    sw2, qs = res.sigma_w**2, res.q_star
    q_again = sw2 * gauss_expect(lambda z: math.tanh(math.sqrt(qs) * z) ** 2) + 0.05
    chi1 = sw2 * gauss_expect(lambda z: (1 - math.tanh(math.sqrt(qs) * z) ** 2) ** 2)
    assert q_again == pytest.approx(qs, abs=1e-10)
    assert chi1 == pytest.approx(1.0, abs=1e-9)
    assert res.c_star == 1.0 and math.isinf(res.xi_c)
    # ξ_q⁻¹ = −log(χ₁ + σ_w² E[φ''φ]) (Schoenholz eq.), φ'' = −2 tanh sech²
    dq = chi1 + sw2 * gauss_expect(lambda z: -2 * math.tanh(math.sqrt(qs) * z) ** 2
                                   * (1 - math.tanh(math.sqrt(qs) * z) ** 2))
    assert res.xi_q == pytest.approx(-1 / math.log(dq), rel=1e-8)


def test_eoc_erf_against_closed_form():
    # erf's moments in closed form (Williams 1997): E[erf(√q z)²] = (2/π) arcsin(2q/(1+2q)),
    # E[erf'(√q z)²] = (4/π)/√(1+4q). The EOC (σ_w², q*) solves q* = σ_w² m(q*) + σ_b², σ_w² e(q*) = 1,
    # i.e. (q* − σ_b²) e(q*)/m(q*) = 1, found here by Brent's method on the closed forms.
    m = lambda q: 2 / math.pi * math.asin(2 * q / (1 + 2 * q))  # noqa: E731
    e = lambda q: 4 / math.pi / math.sqrt(1 + 4 * q)  # noqa: E731
    for sb in (0.05, 0.3, 1.0):
        qs = optimize.brentq(lambda q, b2=sb * sb: (q - b2) * e(q) / m(q) - 1, sb * sb * (1 + 1e-9), 100, xtol=1e-15)
        res = M.eoc("erf", sigma_b=sb)
        assert res.q_star == pytest.approx(qs, rel=1e-10)
        assert res.sigma_w**2 == pytest.approx(1 / e(qs), rel=1e-10)
        assert res.chi1 == pytest.approx(1.0, abs=1e-10)


def test_eoc_found_where_the_fixed_points_run_away_just_after_it():
    # GELU at σ_b = 1: χ₁ reaches 1 at σ_w² ≈ 1.9767 (q* ≈ 82) and q diverges from σ_w² ≈ 1.99 on, a window
    # narrower than a 400-point σ_w² scan's spacing (2.3 %). Checked by quad: q* is a fixed point, χ₁ = 1, and
    # iterating the Q map from q0 = 1 reaches it.
    res = M.eoc("gelu", sigma_b=1.0)
    sw2, qs = res.sigma_w**2, res.q_star
    cdf = lambda x: 0.5 * math.erfc(-x / math.sqrt(2))  # noqa: E731
    gelu = lambda x: x * cdf(x)  # noqa: E731
    dgelu = lambda x: cdf(x) + x * math.exp(-x * x / 2) / SQRT2PI  # noqa: E731
    Q = lambda q: sw2 * gauss_expect(lambda z: gelu(math.sqrt(q) * z) ** 2) + 1.0  # noqa: E731
    assert Q(qs) == pytest.approx(qs, rel=1e-10)
    assert sw2 * gauss_expect(lambda z: dgelu(math.sqrt(qs) * z) ** 2) == pytest.approx(1.0, abs=1e-9)
    # Q is increasing, so iterating from q0 = 1 reaches the first fixed point above 1: Q(q) > q on [1, q*)
    assert all(Q(q) > q for q in np.geomspace(1.0, qs * (1 - 1e-3), 40))
    assert 1.96 < sw2 < 1.99


def test_eoc_relu_single_point():
    # Hayou et al. 2019: ReLU's EOC is the single point (σ_w², σ_b²) = (2, 0).
    res = M.eoc("relu")
    assert res.sigma_w**2 == pytest.approx(2.0, abs=1e-12) and res.sigma_b == 0.0
    with pytest.raises(UnachievableError, match="only edge of chaos"):
        M.eoc("relu", sigma_b=0.1)


def test_eoc_swish_has_none():
    # theory.md §4 (computed there): with σ_b = 0.2, swish loses its stable q* before χ₁ reaches 1.
    with pytest.raises(UnachievableError, match="no edge of chaos"):
        M.eoc("swish", sigma_b=0.2)


def test_phase_diagram_points_against_quad():
    w2 = np.array([0.5, 1.2, 2.5, 4.0])
    b2 = np.array([0.0, 0.05, 0.3])
    pd = M.phase_diagram("tanh", w2, b2)
    assert pd.chi1.shape == (3, 4)
    for i, sb2 in enumerate(b2):
        for j, sw2 in enumerate(w2):
            def F(q, sw2=sw2, sb2=sb2):
                return sw2 * gauss_expect(lambda z: math.tanh(math.sqrt(q) * z) ** 2) + sb2 - q
            if F(1e-14) <= 0 and sb2 == 0:  # ordered with σ_b = 0: q* = 0
                qs = 0.0
            else:
                qs = optimize.brentq(F, 1e-14, 50.0, xtol=1e-14)
            # display rule (128 Gauss–Hermite nodes): documented error ≲ 1e-7 at q* ≈ 2.5
            tol = 1e-8 if qs < 1.2 else 1e-6
            assert pd.q_star[i, j] == pytest.approx(qs, abs=tol)
            qe = max(qs, 1e-12)
            chi1 = sw2 * gauss_expect(lambda z, qe=qe: (1 - math.tanh(math.sqrt(qe) * z) ** 2) ** 2)
            assert pd.chi1[i, j] == pytest.approx(chi1, abs=tol)
            if chi1 > 1:  # chaotic: c* < 1 solves C(c) = c; oracle: 2-D Gauss–Hermite product (numpy)
                c_star = _c_star_2d(sw2, sb2, qs)
                assert pd.c_star[i, j] == pytest.approx(c_star, abs=1e-5)
            else:
                assert pd.c_star[i, j] == 1.0


def _c_star_2d(sw2, sb2, q):
    x, w = np.polynomial.hermite_e.hermegauss(120)
    w = w / w.sum()
    z1, z2 = np.meshgrid(x, x)
    W = np.outer(w, w)

    def C(c):
        u = math.sqrt(q) * z1
        v = math.sqrt(q) * (c * z1 + math.sqrt(1 - c * c) * z2)
        return (sw2 * np.sum(W * np.tanh(u) * np.tanh(v)) + sb2) / q

    return optimize.brentq(lambda c: C(c) - c, -0.999, 0.999, xtol=1e-13)


# -------------------------------------------------------------------------------------------------
# DKS
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SMOOTH + ["elu", "selu"])
@pytest.mark.parametrize("depth", [10, 100])
def test_dks_conditions(name, depth):
    zeta = 1.5
    res = M.dks(name, depth=depth, zeta=zeta)
    kinks = () if res.activation.smooth else (-res.beta / res.alpha,)
    got = local_maps(res, kinks)
    # Martens et al. 2021 §"Summary of our method": Q(1)=1, Q'(1)=1, C(0)=0, C'(1)=ζ^(1/L) for a plain MLP
    assert got["Q(1)"] == pytest.approx(1.0, abs=1e-9)
    assert got["Q'(1)"] == pytest.approx(1.0, abs=1e-9)
    assert got["C(0)"] == pytest.approx(0.0, abs=1e-9)
    assert got["C'(1)"] == pytest.approx(zeta ** (1 / depth), abs=1e-9)
    assert res.alpha > 0 and res.sigma_w == 1.0 and res.sigma_b == 0.0


def test_dks_tanh_canonical_sign():
    # tanh is odd: (β, δ) → (−β, −δ) is also a root; the canonical one has β ≥ 0 (theory.md §1.5).
    res = M.dks("tanh", depth=30)
    assert res.beta >= 0 and res.alpha > 0


def test_dks_q_slope_target():
    res = M.dks("tanh", depth=20, zeta=2.0, q_slope=0.9)
    got = local_maps(res)
    assert got["Q'(1)"] == pytest.approx(0.9, abs=1e-9)
    assert got["C'(1)"] == pytest.approx(2.0 ** (1 / 20), abs=1e-9)


def test_dks_resnet_network_slope():
    # The whole network's C_f'(1) equals ζ (the whole net dominates its single branches here); checked with
    # the engine's network propagation, a different code path (dual kernels, not the solver's quadrature).
    phi = sp.activation("softplus")
    net = sp.resnet(phi, blocks=10, shortcut_weight=0.8, layers_per_block=2)
    res = M.dks(phi, network=net, zeta=1.5)
    shaped = sp.resnet(phi, blocks=10, shortcut_weight=0.8, layers_per_block=2, init=res)
    assert shaped.c_slope_at_1() == pytest.approx(1.5, abs=1e-9)
    # local target: μ(ξ) = ζ with μ from the same architecture, written out by hand:
    # block slope s_b = w² + (1 − w²) ξ², network μ = s_b^10 (≥ single branch ξ²)
    xi = res.targets["local C'(1)"]
    assert (0.64 + 0.36 * xi**2) ** 10 == pytest.approx(1.5, abs=1e-12)


def test_dks_plain_network_equals_depth():
    """A plain MLP passed as ``network=`` is solved for its own subnetwork maximum, not looked up under
    ``depth=``: the local target C'(1) = ζ^(1/L) and the other three conditions are checked by adaptive
    quadrature (independent oracle), for a network whose depth differs from every ``depth=`` solve here."""
    phi = sp.activation("tanh")
    M.dks(phi, depth=40)  # a cached neighbour that must not be returned for the depth-37 network
    res = M.dks(phi, network=sp.mlp(phi, depth=37))
    got = local_maps(res)
    assert got["Q(1)"] == pytest.approx(1.0, abs=1e-9)
    assert got["Q'(1)"] == pytest.approx(1.0, abs=1e-9)
    assert got["C(0)"] == pytest.approx(0.0, abs=1e-9)
    assert got["C'(1)"] == pytest.approx(1.5 ** (1 / 37), abs=1e-9)


def test_dks_relu_closed_form():
    # ReLU (dks semantics): β = ±1, only C'(1) = ξ. Oracle: arc-cosine moments by quad, split at the kink.
    for depth in (3, 10, 100):
        xi = 1.5 ** (1 / depth)
        res = M.dks("relu", depth=depth)
        assert res.beta == (1.0 if xi < 1 / (1 - 1 / math.pi) else -1.0)
        got = local_maps(res, kinks=(-res.beta / res.alpha,))
        assert got["Q(1)"] == pytest.approx(1.0, abs=1e-9)
        assert got["C(0)"] == pytest.approx(0.0, abs=1e-9)
        assert got["C'(1)"] == pytest.approx(xi, abs=1e-9)
    big = M.dks("relu", depth=1, zeta=3.0)  # ξ = 3 > 1.4669: β = −1
    assert big.beta == -1.0
    assert local_maps(big, kinks=(-big.beta / big.alpha,))["C'(1)"] == pytest.approx(3.0, abs=1e-9)


def test_dks_leaky_relu():
    # For q_slope = 1 the leaky-ReLU root has β = 0 and (1 − s)²/(1 + s²) = π(1 − 1/ξ) (derived from the
    # arc-cosine kernel: C'(1) = 1/(1 − (1 − s)²/(π(1 + s²)))).
    res = M.dks("leaky_relu", depth=10)
    xi = 1.5 ** 0.1
    s = res.constants["negative_slope"]
    assert (1 - s) ** 2 / (1 + s * s) == pytest.approx(math.pi * (1 - 1 / xi), abs=1e-10)
    assert abs(res.beta) < 1e-10
    got = local_maps(res, kinks=(-res.beta,))
    assert got["Q'(1)"] == pytest.approx(1.0, abs=1e-9)
    assert got["C'(1)"] == pytest.approx(xi, abs=1e-9)


def test_dks_continuity_over_depth():
    # root="continuation": a slider over depth 2 … 1000 gives continuous constants: a cubic spline in log-depth
    # through every other depth predicts the ones in between to 2% of each constant's range (smooth branches:
    # ≤ 0.6%; the branch jump dks makes for selu near L = 50, or the smallest-α rule near L = 12, moves β by ~50%
    # of its range), and the values are the same whether solved in sequence or cold (order-independent).
    # (Before the default became dks's own rule this tested the default; see test_dks_rule_follows_dks_for_selu.)
    depths = np.unique(np.round(np.geomspace(2, 1000, 60)).astype(int))
    u = np.log(depths)
    even, odd = np.arange(0, u.size, 2), np.arange(1, u.size - 1, 2)
    for name in ("tanh", "selu"):
        M.clear_cache()
        seq = np.array([[getattr(M.dks(name, depth=int(L), root="continuation"), k)
                         for k in ("alpha", "beta", "gamma", "delta")] for L in depths])
        curves = np.column_stack([np.log(seq[:, 0]), seq[:, 1], np.log(seq[:, 2]), seq[:, 3]])
        predicted = CubicSpline(u[even], curves[even])(u[odd])
        deviation = np.abs(predicted - curves[odd]).max(axis=0) / np.ptp(curves, axis=0)
        assert np.all(deviation < 0.02), f"{name}: a jump in the constants over depth {deviation}"
        M.clear_cache()
        for i in (5, 17, 40):
            cold = M.dks(name, depth=int(depths[i]), root="continuation")
            np.testing.assert_allclose([cold.alpha, cold.beta, cold.gamma, cold.delta], seq[i], rtol=1e-9)


def test_dks_rule_follows_dks_for_selu():
    """The default root is the reference library's: for a plain SELU MLP dks 0.1.2 returns (α, β) =
    (0.3074092, −0.6130726) at L = 10 and jumps to another root at L = 50, (0.9369618, 1.4335084) (values
    printed by dks itself in a throwaway venv; ../shared/docs/theory.md §1.5 has them to 3 digits). dks
    integrates the kinked SELU with an unsplit Gauss–Legendre rule, so its constants carry an error of ~1e-6
    at L = 10 and ~1e-3 at L = 50 (its roots miss the conditions by that much; sigprop's meet them to 1e-9,
    test_dks_conditions), hence the tolerances. (At L = 100 dks's first start fails on its own quadrature and
    it returns a later start's root; sigprop's first start succeeds — see the engine issue's note.)"""
    M.clear_cache()
    assert (M.dks("selu", depth=10).alpha, M.dks("selu", depth=10).beta) == pytest.approx((0.3074092, -0.6130726),
                                                                                         abs=1e-5)
    jump = M.dks("selu", depth=50)
    assert (jump.alpha, jump.beta) == pytest.approx((0.9369618, 1.4335084), abs=3e-3)
    smooth = M.dks("selu", depth=50, root="continuation")
    assert 0.088 < smooth.alpha < 0.31  # on the branch through the L = 10 and L = 100 roots
    with pytest.raises(ConfigurationError, match="root must be one of"):
        M.dks("selu", depth=50, root="nearest")


def test_dks_cache_hit_is_same_object():
    a = M.dks("tanh", depth=77)
    assert M.dks("tanh", depth=77) is a


def test_transformed_activation_follows_dtype():
    res = M.dks("tanh", depth=10)
    x32 = jnp.linspace(-2, 2, 5, dtype=jnp.float32)
    assert res.activation(x32).dtype == jnp.float32
    assert isinstance(res.alpha, float)


# -------------------------------------------------------------------------------------------------
# TAT
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tanh", "softplus", "erf", "gelu", "swish"])
@pytest.mark.parametrize("depth", [10, 100])
def test_tat_smooth_conditions(name, depth):
    tau = 0.3
    res = M.tat(name, depth=depth, tau=tau)
    got = local_maps(res)
    # Zhang et al. 2022 §4: Q(1)=1, Q'(1)=1, C'(1)=1, C''(1)=τ/L (maximal curvature function of an MLP)
    assert got["Q(1)"] == pytest.approx(1.0, abs=1e-9)
    assert got["Q'(1)"] == pytest.approx(1.0, abs=1e-9)
    assert got["C'(1)"] == pytest.approx(1.0, abs=1e-9)
    assert got["C''(1)"] == pytest.approx(tau / depth, abs=1e-9)
    assert res.alpha * res.gamma < 2


def test_tat_network_curvature():
    # The whole network's C_f''(1) = τ: from the engine's 1 − C_f(1 − d) = d − τd²/2 + O(d³) (C_f'(1) = 1),
    # Richardson-extrapolated over d (a different code path from the solver).
    res = M.tat("tanh", depth=20, tau=0.3)
    net = sp.mlp("tanh", depth=20, init=res)
    def est(d):
        return 2 * (d - float(net.one_minus_c_map(d))) / d**2
    d = 1e-3
    assert 2 * est(d / 2) - est(d) == pytest.approx(0.3, abs=1e-4)


def _lrelu_net_c0(s, depth):
    """Network C_f(0) of a depth-L leaky-ReLU MLP: iterate the arc-cosine kernel (Cho & Saul 2009) of
    max(x,0) + s·min(x,0), normalised: C(c) = [(1−s)²(√(1−c²) + (π − arccos c)c)/π + 2sc]/(1+s²)."""
    c = 0.0
    for _ in range(depth):
        c = ((1 - s) ** 2 * (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c) / math.pi
             + 2 * s * c) / (1 + s * s)
    return c


@pytest.mark.parametrize("depth,eta", [(13, 0.9), (50, 0.9), (100, 0.9), (100, 0.5), (30, 0.75)])
def test_tat_leaky_relu_slope(depth, eta):
    res = M.tat("leaky_relu", depth=depth, eta=eta)
    s = res.constants["negative_slope"]
    oracle = optimize.brentq(lambda s: _lrelu_net_c0(s, depth) - eta, 0.0, 1.0, xtol=1e-15, rtol=1e-15)
    assert s == pytest.approx(oracle, abs=1e-9)
    assert res.gamma == pytest.approx(math.sqrt(2 / (1 + s * s)), abs=1e-15)
    # the engine's network map agrees
    assert sp.mlp("leaky_relu", depth=depth, init=res).c_at_0() == pytest.approx(eta, abs=1e-9)


def test_tat_leaky_relu_unreachable_depth():
    # ReLU (s = 0) gives the largest C_f(0); the minimal depth is where the ReLU C map iterate reaches η.
    need = next(L for L in range(1, 1000) if _lrelu_net_c0(0.0, L) >= 0.9)
    with pytest.raises(UnachievableError, match=f"depth ≥ {need}"):
        M.tat("leaky_relu", depth=need - 1, eta=0.9)
    M.tat("leaky_relu", depth=need, eta=0.9)  # reachable
    assert M.min_depth_for_eta(0.9) == need


@pytest.mark.parametrize("depth", [10, 100])
def test_tat_elu_is_c1_and_meets_the_curvature_target(depth):
    # ELU is C¹ (φ'(0⁻) = α = 1 = φ'(0⁺); only φ'' jumps), so C''(1) = E[φ̂''²] is finite and TAT's smooth
    # conditions apply (Zhang et al. 2022 §4), integrated here by quad split at the moved kink −β/α.
    res = M.tat("elu", depth=depth, tau=0.3)
    kinks = (-res.beta / res.alpha,)
    got = local_maps(res, kinks)
    _, _, d2 = derivs(res.activation)
    assert got["Q(1)"] == pytest.approx(1.0, abs=1e-9)
    assert got["Q'(1)"] == pytest.approx(1.0, abs=1e-9)
    assert got["C'(1)"] == pytest.approx(1.0, abs=1e-9)
    assert gauss_expect(lambda z: d2(z) ** 2, kinks) / got["Q(1)"] == pytest.approx(0.3 / depth, abs=1e-9)
    assert abs(res.alpha) * res.gamma < 2


def test_tat_refuses_a_jumping_derivative():
    # SELU: φ'(0⁻) = λα ≈ 1.76 ≠ φ'(0⁺) = λ ≈ 1.05, so C''(1) = ∞ for every transform
    with pytest.raises(ActivationError, match="derivative of selu jumps"):
        M.tat("selu", depth=10)


def test_tat_relu_explains():
    with pytest.raises(ActivationError, match="leaky_relu"):
        M.tat("relu", depth=10)


# -------------------------------------------------------------------------------------------------
# bad targets: clear errors, never a hang
# -------------------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("call", [
    lambda: M.dks("tanh", depth=10, zeta=1.0),
    lambda: M.dks("tanh", depth=10, zeta=0.5),
    lambda: M.dks("tanh", depth=10, zeta=float("nan")),
    lambda: M.dks("tanh", depth=0),
    lambda: M.dks("tanh", depth=2.5),
    lambda: M.dks("tanh"),
    lambda: M.dks("tanh", depth=5, network=sp.mlp("tanh", depth=5)),
    lambda: M.tat("leaky_relu", depth=10, eta=1.5),
    lambda: M.tat("leaky_relu", depth=10, eta=-0.1),
    lambda: M.tat("tanh", depth=10, tau=0.0),
    lambda: M.tat("tanh", depth=10, tau=-1.0),
    lambda: M.tat("tanh", depth=10, eta=0.9),
    lambda: M.eoc("tanh", sigma_b=-1.0),
    lambda: M.phase_diagram("tanh", [0.0, 1.0], [0.1]),
])
def test_bad_targets(call):
    with pytest.raises(ConfigurationError):
        call()


@pytest.mark.timeout(120)
def test_unreachable_targets_raise_quickly():
    with pytest.raises(UnachievableError):
        M.dks("relu", depth=1, zeta=1e6)
    with pytest.raises(UnachievableError):
        M.tat("leaky_relu", depth=3, eta=0.99)
    with pytest.raises(UnachievableError):
        M.dks("selu", depth=1, zeta=1.5)


def test_tat_sigmoid_refusal_says_why_no_target_helps():
    # C'(1) = 1 with Q(1) = 1: γ²α² E[σ'(αz + β)²] = 1 and σ' ≤ 1/4, so |α|·γ ≥ 4 > 2 for every root (the
    # bound is σ'(0) = 1/4, elementary); the scaled 4σ has max slope 1 and is tailored (cf. tanh = 2σ(2x) − 1).
    with pytest.raises(UnachievableError, match=r"1/max\|φ'\| = 4\b.*whatever τ or the depth"):
        M.tat("sigmoid", depth=50)
    res = M.tat("4*sigmoid(x)", depth=50)
    assert abs(res.alpha) * res.gamma < 2
    assert local_maps(res)["C'(1)"] == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("name", ["tanh", "relu", "swish", "erf"])
def test_fixed_point_brackets_match_a_brute_force_scan(name):
    """The root bracketing of the Q-map iteration (binary searches on running extrema of T_j = (Q_j − σ_b²)/m_j)
    against scanning the sign of F(Q_j) = σ_w² m_j + σ_b² − Q_j over the whole table for every point."""
    import sys

    eoc_module = sys.modules["sigprop.methods.eoc"]
    rng = np.random.default_rng(7)
    phi = sp.activation(name)
    m_tab, table = eoc_module._second_table(phi), eoc_module.Q_TABLE
    sw2, sb2 = rng.uniform(0.01, 5.0, 2000), rng.choice(np.linspace(0.0, 1.0, 7), 2000)
    idx = np.arange(table.size)
    for q0 in (1e-30, 0.3, 1.0, 1e20):
        pos = int(np.searchsorted(table, q0))
        F = sw2[:, None] * m_tab + sb2[:, None] - table
        up = np.min(np.where((idx >= pos) & (F <= 0), idx, table.size), axis=1)
        down = np.max(np.where((idx < pos) & (F > 0), idx, -1), axis=1)
        got_up, got_down = eoc_module._flips(m_tab, sw2, sb2, pos)
        np.testing.assert_array_equal(got_up, up)
        np.testing.assert_array_equal(got_down, down)


def test_large_phase_diagram_splines_agree_with_quadrature():
    """Grids above EXACT_POINTS interpolate tabulated moments; on the dashboard's grid both ways agree to 1e-7."""
    import sys

    phase_module = sys.modules["sigprop.methods.phase"]
    w2, b2 = np.linspace(0.25, 4.0, 46), np.linspace(0.0, 1.0, 26)
    exact = M.phase_diagram("tanh", w2, b2)
    limit = phase_module.EXACT_POINTS
    try:
        phase_module.EXACT_POINTS = 0
        splined = M.phase_diagram("tanh", w2, b2)
    finally:
        phase_module.EXACT_POINTS = limit
    for field in ("q_star", "chi1", "c_star"):
        a, b = getattr(exact, field), getattr(splined, field)
        ok = np.isfinite(a)
        assert np.array_equal(ok, np.isfinite(b))
        np.testing.assert_allclose(b[ok], a[ok], rtol=0, atol=1e-7)


@pytest.mark.parametrize("name,slopes", [
    ("tanh", (1.0, 1.0)), ("erf", (2 / math.sqrt(math.pi),) * 2), ("sin", (1.0, 1.0)),
    ("tanh(x) + 0.1*x", (1.1, 1.1)), ("elu", (1.0, 1.0)),
    ("selu", (1.0507009873554804934, 1.0507009873554804934 * 1.6732632423543772848)),
])
def test_eoc_without_bias_is_the_vanishing_variance_limit(name, slopes):
    """σ_b = 0, φ(0) = 0: q* = 0 with χ₁ = σ_w² (φ'(0⁺)² + φ'(0⁻)²)/2, so the EOC is σ_w² = 2/(φ'(0⁺)² + φ'(0⁻)²)
    exactly (tanh: σ_w = 1; erf: √π/2), reached from q0 = 1 since Q(q) < q there (checked by quad at a few q)."""
    res = M.eoc(name)
    w2 = 2.0 / (slopes[0] ** 2 + slopes[1] ** 2)
    assert res.sigma_w**2 == pytest.approx(w2, rel=1e-14)
    assert res.q_star == 0.0 and res.chi1 == 1.0 and math.isinf(res.xi_q)
    phi = sp.activation(name)
    for q in (1e-3, 0.1, 1.0):
        second = integrate.quad(lambda z, q=q: float(phi(np.sqrt(q) * z)) ** 2 * math.exp(-z * z / 2), -40, 40,
                                points=[0.0], epsabs=1e-14, epsrel=1e-13)[0] / math.sqrt(2 * math.pi)
        assert w2 * second < q


def test_eoc_without_bias_refuses_the_limit_where_q0_does_not_reach_it():
    """φ = x + x³: E[φ²] = q + 6q² + 15q³ > q, so at σ_w² = 1 (φ'(0) = 1) the Q map grows from q0 and q* = 0 is
    not the fixed point reached: the closed form must not be returned (the scan explains why there is no EOC)."""
    with pytest.raises(sp.UnachievableError, match="no edge of chaos"):
        M.eoc("x + x**3")


def test_phase_table_interpolant_is_fourth_order_on_smooth_functions():
    """The phase diagram's uniform cubic Hermite table (slopes from fourth-order differences) against the exact
    functions it tabulates: exact at the knots, error falling like h⁴ (halving h cuts it ~16×)."""
    from sigprop.methods.phase import _UniformCubic

    def exact(u):
        return np.stack([np.sin(u), np.exp(-u / 3), 1 / (1 + u * u)], -1)

    probe = np.random.default_rng(0).uniform(-3, 5, 2000)
    errors = []
    for n in (201, 401):
        u = np.linspace(-3, 5, n)
        table = _UniformCubic(u, exact(u))
        assert np.max(np.abs(table(u) - exact(u))) < 1e-14  # to rounding (a knot may read as t = 1 of the cell before)
        errors.append(np.max(np.abs(table(probe) - exact(probe))))
    # cubic Hermite with exact slopes: |error| ≤ h⁴ max|f⁗|/384 (max|f⁗| = 24, of 1/(1 + u²)); the
    # difference slopes (error O(h⁴) too) may add about as much
    h = 8 / 200
    assert errors[0] < 2 * h**4 * 24 / 384 and 10 < errors[0] / errors[1] < 25
