"""Whole-network maps (sigprop.network) against NumPy iterations of closed-form per-layer maps.

Oracles: the ReLU-family arc-cosine kernel (Cho & Saul 2009) and the erf arcsin kernel (Williams 1997),
iterated layer by layer here in NumPy (q and c both), the ReLU edge-of-chaos asymptote
1 − c_l ≈ 9π²/(2l²) (Hayou et al. 2019; the constant as quoted in ../shared/docs/theory.md), and the
chain rule for C_f'(1) (product of per-layer slopes, each from its closed form).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from numpy.polynomial.legendre import leggauss

import sigprop as sp

SQRT2 = math.sqrt(2.0)
C_GRID = np.linspace(-1.0, 1.0, 201)


# --------------------------------------------------------------------------------------------------
# NumPy oracles: covariance maps of one layer, (q, k) -> (q', k') with k = q c
# --------------------------------------------------------------------------------------------------


def _relu_k(q, c):
    theta = np.arccos(np.clip(c, -1, 1))
    return q * (np.sin(theta) + (np.pi - theta) * c) / (2 * np.pi)  # Cho & Saul (2009), E[relu(u)relu(v)]


def ab_cross(a, b, q, c):
    """E[φ(u)φ(v)] for φ = a min(x, 0) + b max(x, 0) = b relu(x) − a relu(−x)."""
    return (a * a + b * b) * _relu_k(q, c) - 2 * a * b * _relu_k(q, -c)


def erf_cross(q, c):
    return 2 / np.pi * np.arcsin(2 * q * c / (1 + 2 * q))  # Williams (1997)


def ab_gap(a, b, q, d):
    """Cancellation-free E[φ²] − E[φ(u)φ(v)] at c = 1 − d: q(a² + b²)d/2 − q(a − b)²(sin θ − θ cos θ)/(2π),
    with sin θ − θ cos θ = ∫₀^θ t sin t dt by Gauss–Legendre and θ = 2 arcsin √(d/2)."""
    theta = 2 * np.arcsin(np.sqrt(np.asarray(d, dtype=float) / 2))
    t, w = leggauss(40)
    nodes = theta[..., None] / 2 * (1 + t)
    return q * (a * a + b * b) * d / 2 - q * (a - b) ** 2 * (theta / 2 * np.sum(w * nodes * np.sin(nodes), -1)) / (
        2 * np.pi)


def iterate(cross, depth, q0, c0, sw, sb):
    """q_l and c_l, l = 0..depth, by q' = σ_w² E[φ²] + σ_b², c' = (σ_w² E[φφ] + σ_b²)/q'."""
    qs, cs = [q0], [np.asarray(c0, dtype=float)]
    for _ in range(depth):
        q, c = qs[-1], cs[-1]
        q_new = sw**2 * cross(q, 1.0) + sb**2
        cs.append((sw**2 * cross(q, c) + sb**2) / q_new)
        qs.append(q_new)
    return np.array(qs), np.array(cs)


CASES = {
    # name: (activation spec, cross(q, c), σ_w, σ_b)
    "relu-eoc": ("relu", lambda q, c: ab_cross(0.0, 1.0, q, c), SQRT2, 0.0),
    "relu-bias": ("relu", lambda q, c: ab_cross(0.0, 1.0, q, c), 1.3, 0.2),
    "leaky-bias": (("leaky_relu", {"negative_slope": 0.3}), lambda q, c: ab_cross(0.3, 1.0, q, c), 1.2, 0.4),
    "erf-bias": ("erf", erf_cross, 1.6, 0.3),
    "erf-ordered": ("erf", erf_cross, 0.9, 0.1),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_depth_100_network_matches_numpy_iteration(case):
    spec, cross, sw, sb = CASES[case]
    net = sp.mlp(spec, depth=100, sigma_w=sw, sigma_b=sb)
    assert net.depth == 100
    for q0 in (0.5, 2.0):
        qs, cs = iterate(cross, 100, q0, C_GRID, sw, sb)
        np.testing.assert_allclose(net.q_trajectory(q0), qs, rtol=1e-12)
        np.testing.assert_allclose(net.q_map(q0), qs[-1], rtol=1e-12)
        np.testing.assert_allclose(net.c_map(C_GRID, q=q0), cs[-1], rtol=0, atol=1e-9)
        traj = net.c_trajectory(C_GRID, q=q0)
        assert traj.shape == (101, C_GRID.size) and traj.dtype == np.float64
        np.testing.assert_allclose(traj, cs, rtol=0, atol=1e-9)
        np.testing.assert_allclose(net.c_at_0(q0), iterate(cross, 100, q0, 0.0, sw, sb)[1][-1], rtol=0, atol=1e-9)


@pytest.mark.parametrize("case", sorted(CASES))
def test_c_map_on_many_points_matches_numpy_iteration(case):
    """1,001 points (Network.c_map interpolates in angle above 512 points, checked against exact values)
    against the NumPy closed-form iteration, to 1e-10."""
    spec, cross, sw, sb = CASES[case]
    grid = np.linspace(-1.0, 1.0, 1001)
    for depth in (3, 100):
        net = sp.mlp(spec, depth=depth, sigma_w=sw, sigma_b=sb)
        np.testing.assert_allclose(net.c_map(grid), iterate(cross, depth, 1.0, grid, sw, sb)[1][-1], rtol=0,
                                   atol=1e-10)


class _LongDouble:
    """Vectorised extended precision (numpy long double: a 64-bit mantissa on x86-64)."""
    acos, asin, sin, exp, sinh = np.arccos, np.arcsin, np.sin, np.exp, np.sinh
    pi = np.arccos(np.longdouble(-1))
    num = np.longdouble

    @staticmethod
    def clip(x):
        return np.clip(x, -1, 1)


class _MP40:
    """40-digit mpmath scalars, for inputs within 1e-12 of ±1 (where long double keeps only ~5 digits of 1 ∓ c)."""
    acos, asin, sin, exp, sinh = mpmath.acos, mpmath.asin, mpmath.sin, mpmath.exp, mpmath.sinh
    pi = mpmath.mpf(mpmath.pi)
    num = mpmath.mpf

    @staticmethod
    def clip(x):
        return min(max(x, mpmath.mpf(-1)), mpmath.mpf(1))


def _relu_k_in(m, q, c):
    theta = m.acos(c)
    return q * (m.sin(theta) + (m.pi - theta) * c) / (2 * m.pi)  # Cho & Saul (2009)


CLOSED_CROSS = {  # E[φ(u)φ(v)], u, v ~ N(0, q) with correlation c, in the arithmetic m
    "relu": _relu_k_in,
    "abs": lambda m, q, c: 2 * _relu_k_in(m, q, c) + 2 * _relu_k_in(m, q, -c),  # |x| = relu(x) + relu(−x)
    "erf": lambda m, q, c: 2 / m.pi * m.asin(2 * q * c / (1 + 2 * q)),  # Williams (1997)
    "sin": lambda m, q, c: m.exp(-q) * m.sinh(q * c),  # ½(E cos(u − v) − E cos(u + v))
}


def closed_form_network_c_map(m, name, depth, sw, sb, c0, q0=1.0, shortcut_weight=None, per_block=2):
    """C_f(c₀) of a plain (or, with ``shortcut_weight``, a residual) network: the closed-form layer maps iterated
    in the arithmetic ``m`` (an oracle independent of sigprop's kernels and folds)."""
    cross = lambda q, c: CLOSED_CROSS[name](m, q, c)  # noqa: E731
    sw2, sb2, one = m.num(sw) ** 2, m.num(sb) ** 2, m.num(1)

    def layer(q, k):
        return sw2 * cross(q, one) + sb2, sw2 * cross(q, m.clip(k / q)) + sb2

    q = m.num(q0)
    k = q * c0
    if shortcut_weight is None:
        for _ in range(depth):
            q, k = layer(q, k)
    else:
        w2 = m.num(shortcut_weight) ** 2
        for _ in range(depth // per_block):
            qb, kb = q, k
            for _ in range(per_block):
                qb, kb = layer(qb, kb)
            q, k = w2 * q + (1 - w2) * qb, w2 * k + (1 - w2) * kb
    return k / q


def oracle_c_map(oracle, c0, **residual):
    """Interior points in long double, points near ±1 in 40-digit arithmetic."""
    c0 = np.asarray(c0, dtype=float)
    out = closed_form_network_c_map(_LongDouble, *oracle, c0.astype(np.longdouble), **residual).astype(float)
    with mpmath.workdps(40):
        for i in np.flatnonzero(np.abs(c0) > 1 - 1e-12):
            out[i] = float(closed_form_network_c_map(_MP40, *oracle, mpmath.mpf(c0[i]), **residual))
    return out


DEEP_NETWORKS = {  # deep nets whose many-point (interpolated) c_map must reproduce the extended-precision oracle
    "relu-eoc-10000": (lambda: sp.mlp("relu", depth=10_000, sigma_w=SQRT2), ("relu", 10_000, SQRT2, 0.0)),
    "erf-chaotic-10000": (lambda: sp.mlp("erf", depth=10_000, sigma_w=1.5, sigma_b=0.1),
                          ("erf", 10_000, 1.5, 0.1)),
    "erf-ordered-3000": (lambda: sp.mlp("erf", depth=3000, sigma_w=0.9, sigma_b=0.3), ("erf", 3000, 0.9, 0.3)),
    "abs-100": (lambda: sp.mlp("abs", depth=100), ("abs", 100, 1.0, 0.0)),
    "sin-chaotic-50": (lambda: sp.mlp("sin", depth=50, sigma_w=2.0), ("sin", 50, 2.0, 0.0)),
    "resnet-relu-2x2000": (lambda: sp.resnet("relu", blocks=2000, shortcut_weight=0.8, sigma_w=SQRT2),
                           ("relu", 4000, SQRT2, 0.0)),
}
RESIDUAL_ORACLE = {"resnet-relu-2x2000": {"shortcut_weight": 0.8, "per_block": 2}}
INTERPOLATED = {"relu-eoc-10000", "erf-chaotic-10000", "resnet-relu-2x2000"}


@pytest.mark.parametrize("name", sorted(DEEP_NETWORKS))
def test_many_point_c_map_agrees_with_extended_precision_iteration(name):
    """1,005 points through Network.c_map (an interpolant in angle for the smooth deep maps), checked at 21 of
    them (off the interpolation nodes, and at c within 1e-15 of ±1, where a chaotic map jumps from 1 to c*)
    against the closed-form layer maps iterated in extended precision, to 1e-10.

    Near c = −1 an odd chaotic map is ill-conditioned at the level of the input's own rounding: one ulp of
    c = −1 + 1e-15 (1.1e-16) moves the depth-50 chaotic sin network's C_f by 3e-2. There the test asks for
    backward stability: C_f(c) must lie between the oracle's values 2 ulps either side."""
    make, oracle = DEEP_NETWORKS[name]
    net = make()
    residual = RESIDUAL_ORACLE.get(name, {})
    edges = [1 - 1e-15, 1 - 4e-15, 1 - 1e-13]
    grid = np.concatenate([np.linspace(-1.0, 1.0, 1001), edges, [-1 + 1e-15]])
    picked = np.r_[np.arange(3, 1001, 59), np.arange(1001, 1004)]
    got = net.c_map(grid)
    np.testing.assert_allclose(got[picked], oracle_c_map(oracle, grid[picked], **residual), rtol=0, atol=1e-10)
    near_minus_one = grid[-1] + np.array([-2, 2]) * np.spacing(1.0) / 2
    lo, hi = np.sort(oracle_c_map(oracle, near_minus_one, **residual))
    assert lo - 1e-10 <= got[-1] <= hi + 1e-10
    if name in INTERPOLATED:  # (white box: these maps are smooth enough in angle that the interpolant is used)
        assert net._c_map_interpolated(grid, 1.0) is not None


def test_erf_network_through_quadrature_path_matches_closed_form_iteration():
    """The same erf network typed as an expression (Mehler series, q varying per layer) to 1e-9."""
    sw, sb = 1.6, 0.3
    net = sp.mlp("erf(x)", depth=100, sigma_w=sw, sigma_b=sb)
    qs, cs = iterate(erf_cross, 100, 1.0, C_GRID, sw, sb)
    np.testing.assert_allclose(net.q_trajectory(1.0), qs, rtol=1e-11)
    np.testing.assert_allclose(net.c_trajectory(C_GRID), cs, rtol=0, atol=1e-9)


# --------------------------------------------------------------------------------------------------
# ReLU at the edge of chaos: 1 − c_l → 9π²/(2 l²)
# --------------------------------------------------------------------------------------------------


def test_relu_eoc_degeneration_rate():
    """1 − c_l for ReLU at σ_w² = 2 from c_0 = 0: (i) equals a NumPy cancellation-free iteration of the arc-cosine
    map to 1e-9 relative at every layer up to 10⁴; (ii) its ratio to 9π²/(2l²) approaches 1 monotonically
    (measured 0.805, 0.971, 0.996 at l = 10², 10³, 10⁴) and is within 1 % of 1 at l = 10⁴."""
    depth = 10_000
    net = sp.mlp("relu", depth=depth, sigma_w=SQRT2)
    d = net.one_minus_c_trajectory(0.0)[:, 0]
    assert d.shape == (depth + 1,)
    ref = np.empty(depth + 1)
    ref[0] = 1.0
    for layer in range(depth):  # σ_w² = 2 and σ_b = 0 keep q fixed; 1 − C = 2 gap / q
        ref[layer + 1] = 2 * ab_gap(0.0, 1.0, 1.0, ref[layer])
    np.testing.assert_allclose(d, ref, rtol=1e-9)

    ls = np.array([100, 1_000, 10_000])
    ratio = d[ls] * ls**2 / (9 * np.pi**2 / 2)
    assert np.all(np.diff(ratio) > 0) and np.all(ratio < 1.0)
    assert abs(ratio[-1] - 1) < 0.01
    assert abs(ratio[0] - 1) > 0.1  # the approach is slow: the trend is real, not a constant


# --------------------------------------------------------------------------------------------------
# residual networks
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("w", [0.0, 0.5, 0.8, 0.97, 1.0])
def test_resnet_homogeneous_matches_weighted_sum(w):
    """ReLU at σ_w² = 2 keeps q fixed, so each block maps c ↦ w² c + (1 − w²) C(C(c)) (two-layer branch)."""
    blocks = 30
    net = sp.resnet("relu", blocks=blocks, shortcut_weight=w, layers_per_block=2, sigma_w=SQRT2)
    assert net.depth == 2 * blocks

    def layer(c):
        return 2 * ab_cross(0.0, 1.0, 1.0, c)

    cs = [C_GRID]
    for _ in range(blocks):
        cs.append(w**2 * cs[-1] + (1 - w**2) * layer(layer(cs[-1])))
    traj = net.c_trajectory(C_GRID, q=0.7)
    assert traj.shape == (blocks + 1, C_GRID.size)
    np.testing.assert_allclose(traj, np.array(cs), rtol=0, atol=1e-11)
    np.testing.assert_allclose(net.q_trajectory(0.7), 0.7, rtol=1e-13)


def test_resnet_with_varying_q_adds_covariances():
    """With q changing (erf, σ_b > 0) the block adds covariances: q' = w²q + (1 − w²)q_b, k' = w²k + (1 − w²)k_b."""
    w, sw, sb, blocks = 0.6, 1.4, 0.3, 20
    net = sp.resnet("erf", blocks=blocks, shortcut_weight=w, layers_per_block=3, sigma_w=sw, sigma_b=sb)
    q, k = 1.3, 1.3 * C_GRID
    qs, cs = [q], [C_GRID]
    for _ in range(blocks):
        qb, kb = q, k
        for _ in range(3):
            qb, kb = sw**2 * erf_cross(qb, 1.0) + sb**2, sw**2 * erf_cross(qb, kb / qb) + sb**2
        q, k = w**2 * q + (1 - w**2) * qb, w**2 * k + (1 - w**2) * kb
        qs.append(q)
        cs.append(k / q)
    np.testing.assert_allclose(net.q_trajectory(1.3), qs, rtol=1e-12)
    np.testing.assert_allclose(net.c_trajectory(C_GRID, q=1.3), np.array(cs), rtol=0, atol=1e-10)


# --------------------------------------------------------------------------------------------------
# C_f'(1) and C_f(0)
# --------------------------------------------------------------------------------------------------


SLOPE_CASES = {
    # spec, σ_w, σ_b, per-layer C'(1) as a function of q (closed form), Q(q)
    "leaky": (("leaky_relu", {"negative_slope": 0.2}), 1.2, 0.3,
              lambda q, sw, sb: sw**2 * q * (1 + 0.04) / 2 / (sw**2 * q * 1.04 / 2 + sb**2)),
    "relu-eoc": ("relu", SQRT2, 0.0, lambda q, sw, sb: 1.0),
    "erf": ("erf", 1.5, 0.2,
            lambda q, sw, sb: sw**2 * q * 4 / np.pi / np.sqrt(1 + 4 * q) / (sw**2 * erf_cross(q, 1.0) + sb**2)),
}
SLOPE_CROSS = {"leaky": lambda q, c: ab_cross(0.2, 1.0, q, c), "relu-eoc": lambda q, c: ab_cross(0.0, 1.0, q, c),
               "erf": erf_cross}


@pytest.mark.parametrize("case", sorted(SLOPE_CASES))
def test_c_slope_at_1_is_product_of_layer_slopes(case):
    spec, sw, sb, slope = SLOPE_CASES[case]
    depth = 20
    net = sp.mlp(spec, depth=depth, sigma_w=sw, sigma_b=sb)
    qs, _ = iterate(SLOPE_CROSS[case], depth, 0.8, 0.0, sw, sb)
    expected = math.prod(slope(q, sw, sb) for q in qs[:-1])
    assert net.c_slope_at_1(0.8) == pytest.approx(expected, rel=1e-11)
    # second method: a one-sided difference of the cancellation-free whole-network 1 − C_f at small d
    # (error O(√h) for kinked φ, whose C'' is infinite at 1; O(h) for erf)
    h = 1e-12 if case != "erf" else 1e-9
    fd = net.one_minus_c_map(h, q=0.8) / h
    assert fd == pytest.approx(expected, rel=1e-4 if case != "erf" else 1e-6)


def test_c_at_0_relu_one_layer_is_one_over_pi():
    """ReLU, σ_b = 0: C(0) = K(0)/K(1) = (1/2π)/(1/2) = 1/π (Cho & Saul 2009), for any σ_w and q."""
    for sw in (0.5, SQRT2, 3.0):
        assert sp.mlp("relu", depth=1, sigma_w=sw).c_at_0(q=2.0) == pytest.approx(1 / np.pi, rel=1e-14)


# --------------------------------------------------------------------------------------------------
# shapes, conventions and errors
# --------------------------------------------------------------------------------------------------


def test_shapes_and_rows():
    net = sp.mlp("tanh", depth=7, sigma_w=1.2, sigma_b=0.1)
    assert net.q_trajectory(1.5).shape == (8,) and net.q_trajectory(1.5)[0] == 1.5
    traj = net.c_trajectory([0.1, 0.5, 0.9])
    assert traj.shape == (8, 3)
    np.testing.assert_allclose(traj[0], [0.1, 0.5, 0.9], rtol=0, atol=1e-16)
    assert net.c_trajectory(0.3).shape == (8, 1)
    assert isinstance(net.c_map(0.3), float) and isinstance(net.c_at_0(), float)
    assert net.c_map(np.zeros((2, 3))).shape == (2, 3)
    erf_net = sp.mlp("erf", depth=7, sigma_w=1.2, sigma_b=0.1)  # vector q in, closed-form oracle (Williams 1997)
    np.testing.assert_allclose(erf_net.q_map([0.5, 1.0, 2.0]),
                               [iterate(erf_cross, 7, q, 1.0, 1.2, 0.1)[0][-1] for q in (0.5, 1.0, 2.0)], rtol=1e-13)
    one = sp.mlp("erf", depth=1, sigma_w=1.2, sigma_b=0.1)
    np.testing.assert_allclose(one.c_map(C_GRID), iterate(erf_cross, 1, 1.0, C_GRID, 1.2, 0.1)[1][-1], rtol=0,
                               atol=1e-14)
    assert net.c_map(1.0) == 1.0 and net.one_minus_c_map(0.0) == 0.0


@pytest.mark.parametrize("depth", [0, -3, 10**9, 2.5, "10", None, True])
def test_bad_depth(depth):
    with pytest.raises(sp.ConfigurationError):
        sp.mlp("relu", depth=depth)


@pytest.mark.parametrize("kwargs", [
    {"sigma_w": -1.0}, {"sigma_b": -0.1}, {"sigma_w": float("nan")}, {"sigma_b": float("inf")}, {"sigma_w": "big"},
])
def test_bad_scales(kwargs):
    with pytest.raises(sp.ConfigurationError):
        sp.mlp("relu", depth=3, **kwargs)
    with pytest.raises(sp.ConfigurationError):
        sp.resnet("relu", blocks=3, **kwargs)


@pytest.mark.parametrize("kwargs", [
    {"shortcut_weight": 1.5}, {"shortcut_weight": -0.2}, {"blocks": 0}, {"layers_per_block": 0},
    {"blocks": 10**5, "layers_per_block": 10},
])
def test_bad_resnet(kwargs):
    with pytest.raises(sp.ConfigurationError):
        sp.resnet("relu", **{"blocks": 3, **kwargs})


def test_bad_inputs_to_network_maps():
    net = sp.mlp("tanh", depth=5)
    for call in (lambda: net.c_map(1.5), lambda: net.c_map(np.nan), lambda: net.q_map(-1.0),
                 lambda: net.q_map(0.0), lambda: net.q_trajectory(np.inf), lambda: net.c_trajectory([0.2, -1.01]),
                 lambda: net.one_minus_c_map(-1e-3), lambda: net.one_minus_c_map(2.5), lambda: net.c_map("x"),
                 lambda: net.c_map(0.2, q=-1.0)):
        with pytest.raises(sp.ConfigurationError):
            call()


def test_exploding_q_is_a_divergence_error():
    """ReLU with σ_w² = 4 doubles q each layer: 2^1000 > 1e250, so a depth-1000 network must refuse."""
    net = sp.mlp("relu", depth=1000, sigma_w=2.0)
    with pytest.raises(sp.DivergenceError):
        net.q_trajectory(1.0)
    with pytest.raises(sp.DivergenceError):
        net.c_map(0.5)
    # ...while a depth that stays representable is exact: q_l = 2^l
    np.testing.assert_allclose(sp.mlp("relu", depth=100, sigma_w=2.0).q_trajectory(1.0), 2.0 ** np.arange(101),
                               rtol=1e-13)


def test_vanishing_q_stays_finite():
    """tanh with σ_w < 1, σ_b = 0: q → 0 geometrically (by σ_w² = 1/4 a layer). C maps stay finite and stop
    moving (tanh ≈ x for small q, and a linear φ's C map is the identity): depth 2,000 equals depth 400, where
    q ≈ 1e-241, to 1e-10 (measured 3.5e-11: the Mehler series' mass and the quadrature's E[φ²] agree to ~1e-14,
    and 1,600 layers add that up). q itself underflows near layer 466 and is refused, not clamped (it read 1e-280
    before)."""
    net = sp.mlp("tanh", depth=2000, sigma_w=0.5)
    out = net.c_map(C_GRID)
    assert np.all(np.isfinite(out)) and np.all(np.abs(out) <= 1)
    np.testing.assert_allclose(out, sp.mlp("tanh", depth=400, sigma_w=0.5).c_map(C_GRID), rtol=0, atol=1e-10)
    with pytest.raises(sp.SigpropError, match="q vanishes"):
        net.q_trajectory(1.0)


def test_new_scales_and_new_transforms_reuse_the_compilation(monkeypatch):
    """σ_w, σ_b, w and the affine transform of φ (DKS/TAT constants) are traced (kernels are pytrees): changing
    them adds no compilation of the network propagation (a slider move would otherwise stall for ~1 s). Only
    the kernel's structure is compiled: its class, base φ and Mehler order (which can change with the
    transform, so the two transforms here are checked to share it)."""
    from sigprop import network as network_module

    monkeypatch.setattr(network_module.network, "FOLD", "jax")  # the jitted fold (deep networks' path)
    c = np.linspace(-1.0, 1.0, 11)
    tanh, relu = sp.activation("tanh"), sp.activation("relu")
    shaped = [tanh.transformed(0.5, 0.1, 2.0, 0.3), tanh.transformed(0.48, 0.08, 1.95, 0.28)]
    orders = [net._kernels(float(net.q_trajectory().max()))[0].order for net in (sp.mlp(s, depth=30) for s in shaped)]
    assert orders[0] == orders[1]
    runs = [
        lambda k: sp.mlp(tanh, depth=30, sigma_w=1.2 + 0.1 * k, sigma_b=0.1 + 0.1 * k).c_map(c),
        lambda k: sp.mlp(shaped[k], depth=30).c_map(c),
        lambda k: sp.resnet(relu, blocks=10, shortcut_weight=0.8 - 0.2 * k, sigma_w=1.3 - 0.2 * k).c_map(c),
    ]
    for run in runs:
        run(0)
    before = network_module._propagate._cache_size()
    for run in runs:
        run(1)
    assert network_module._propagate._cache_size() == before


def test_c_deviation_bound_holds_for_random_positive_series_and_is_tight():
    """Independent check: C(c) = Σ b_k c^k with random b_k ≥ 0, Σ b_k = 1 (a normalised dual kernel) never strays
    from the identity by more than the bound computed from C'(1) = Σ k b_k and C(0) = b_0; the two extremal
    series of the docstring reach it at c = −1."""
    rng = np.random.default_rng(7)
    c = np.linspace(-1.0, 1.0, 2001)
    for _ in range(200):
        b = rng.dirichlet(np.full(rng.integers(2, 9), 0.5))
        if rng.random() < 0.5:
            b[0] = 0.0
            b /= b.sum()
        dev = np.max(np.abs(np.polyval(b[::-1], c) - c))
        assert dev <= sp.c_deviation_bound(np.arange(b.size) @ b, b[0]) + 1e-12
    for zeta in (1.1, 1.5, 2.0):
        b = np.array([0.0, 2.0 - zeta, zeta - 1.0])
        assert abs(np.polyval(b[::-1], -1.0) + 1.0) == pytest.approx(sp.c_deviation_bound(zeta, 0.0), abs=1e-12)
    for eta in (0.1, 0.5):
        b = np.array([eta, 1.0 - 2 * eta, eta])
        assert abs(np.polyval(b[::-1], -1.0) + 1.0) == pytest.approx(sp.c_deviation_bound(1.0, eta), abs=1e-12)


@pytest.mark.parametrize(
    "make",
    [
        lambda: sp.mlp("tanh", depth=100, init=sp.dks("tanh", depth=100, zeta=1.5)),  # bound 1.0, measured 0.50
        lambda: sp.mlp("softplus", depth=50, init=sp.dks("softplus", depth=50, zeta=1.1)),  # 0.2, 0.167
        lambda: sp.resnet("gelu", blocks=10, shortcut_weight=0.8,  # 0.4, 0.281
                          init=sp.dks("gelu", network=sp.resnet("gelu", blocks=10, shortcut_weight=0.8), zeta=1.2)),
        lambda: sp.mlp("tanh", depth=30, init=sp.tat("tanh", depth=30, tau=1.05)),  # 1.38, 1.03
        lambda: sp.mlp("erf", depth=5, sigma_w=1.05),  # 1.20, 0.086
    ],
)
def test_networks_stay_within_their_c_deviation_bound(make):
    """Only configurations whose bound says something (< 2 = the width of [−1, 1]): the bound
    min(2, 2(C_f'(1) − 1) + 4 C_f(0)) is checked against the network's own C_f on 401 points."""
    net = make()
    assert net.c_deviation_bound() < 1.5
    c = np.linspace(-1.0, 1.0, 401)
    assert np.max(np.abs(net.c_map(c) - c)) <= net.c_deviation_bound() + 1e-10


FOLD_NETWORKS = {
    "tanh-bias": lambda: sp.mlp("tanh", 40, sigma_w=1.3, sigma_b=0.2),
    "erf": lambda: sp.mlp("erf", 60, sigma_w=1.5, sigma_b=0.1),
    "cos": lambda: sp.mlp("cos", 10, sigma_w=1.2),
    "dks-relu (moved kink)": lambda: sp.mlp("relu", 20, init=sp.dks("relu", depth=20)),
    "dks-gelu resnet, projections": lambda: sp.resnet("gelu", (2, 2), 0.6, bottleneck=True, projection=True,
                                                      init=sp.dks("gelu", depth=13)),
    "layer norm": lambda: sp.Network(sp.Serial(((sp.Dense(sp.activation("swish"), 1.7, 0.3), 3),
                                                (sp.LayerNorm(), 1), (sp.Dense(sp.activation("erf"), 1.2), 2)))),
}


@pytest.mark.parametrize("name", sorted(FOLD_NETWORKS))
def test_numpy_and_jitted_folds_agree(name, monkeypatch):
    """Two methods for the same maps: the layer-by-layer NumPy fold (modest depths) and the jitted JAX fold
    (tabulated layer maps once q settles, autodiff for φ' of a Mehler series)."""
    from sigprop import network as network_module

    net = FOLD_NETWORKS[name]()
    grid = np.linspace(-1.0, 1.0, 41)
    numpy = (net.q_trajectory(1.3), net.c_trajectory(grid, q=1.3), net.c_slope_at_1(1.3))
    monkeypatch.setattr(network_module.network, "FOLD", "jax")
    jitted = (net.q_trajectory(1.3), net.c_trajectory(grid, q=1.3), net.c_slope_at_1(1.3))
    np.testing.assert_allclose(numpy[0], jitted[0], rtol=1e-12)
    np.testing.assert_allclose(numpy[1], jitted[1], rtol=0, atol=1e-11)
    assert numpy[2] == pytest.approx(jitted[2], rel=1e-11)
