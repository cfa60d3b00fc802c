"""Deep networks without compiling: the NumPy fold's settled runs (closed-form q and C'(1), the tabulated layer
map ``kernels.SettledMap``), the tier-up to the jitted fold, and what the fold must never do (leave [−1, 1],
report a q it cannot represent).

Oracles: the arc-cosine kernel of the ReLU family (Cho & Saul 2009) and the arcsin kernel of erf (Williams 1997),
iterated here layer by layer in (q, k = q·c); the affine Q map of the ReLU family iterated in Python floats; for
odd φ with σ_b = 0, C_f(−1) = −1 and C_f(0) = 0 exactly (C is odd); for φ linear near 0 (GELU, φ'(0) = 1/2) the
C map is the identity in the q → 0 limit. Mehler-series networks, which have no closed form, are checked against
the jitted fold and against the same fold with settled runs switched off (layer by layer).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import sigprop as sp
import sigprop.network.network as network_module
from sigprop import kernels
from sigprop.network import dense as dense_module
from sigprop.network import propagate as propagate_module


def _relu_cross(q, c):
    theta = np.arccos(np.clip(c, -1, 1))
    return q * (np.sin(theta) + (np.pi - theta) * c) / (2 * np.pi)


def _erf_cross(q, c):
    return 2 / np.pi * np.arcsin(2 * q * c / (1 + 2 * q))


def _erf_second(q):
    return 2 / np.pi * np.arcsin(2 * q / (1 + 2 * q))


def _iterate(cross, second, sw2, sb2, depth, c0, q0=1.0):
    """(q_L, c_L) of a plain network from a closed-form per-layer kernel, in (q, k) coordinates."""
    q, c = q0, np.asarray(c0, dtype=float)
    for _ in range(depth):
        q_next = sw2 * second(q) + sb2
        c = (sw2 * cross(q, c) + sb2) / q_next
        q = q_next
    return q, c


@pytest.mark.parametrize("name, q", [("relu", 1.0), ("leaky_relu", 2.5), ("erf", 0.3), ("erf", 4.0)])
def test_settled_map_matches_the_closed_form_gap(name, q):
    """The table against gap = E[φ²] − E[φ(u)φ(v)] from the closed forms (for erf written without cancellation;
    the ReLU family's cancels to ~1e-16/d): 3e-14 relative for d ≥ 1e-3."""
    phi = sp.activation(name)
    kern = phi.kernel(q)
    table = kernels.SettledMap(kern, kern.params(q), q)
    d = np.concatenate([np.geomspace(1e-3, 1.0, 40), np.linspace(1.0, 2.0, 41)])
    if name == "erf":  # (2/π)(arcsin a − arcsin b), a = 2q/(1 + 2q), b = a(1 − d), as one arctan (a − b = a·d exactly)
        a = 2 * q / (1 + 2 * q)
        b = a * (1.0 - d)
        ca, cb = np.sqrt(1 - a * a), np.sqrt(1 - b * b)
        with np.errstate(invalid="ignore", divide="ignore"):
            near = 2 / np.pi * np.arctan2(a * d * (a + b) / (a * cb + b * ca), a * b + ca * cb)
        exact = np.where(d <= 1.0, near, _erf_second(q) - _erf_cross(q, 1.0 - d))  # d > 1: no cancellation
    else:
        s = 0.2 if name == "leaky_relu" else 0.0  # leaky_relu: the registry default slope
        a, b = s, 1.0
        cross = (a * a + b * b) * _relu_cross(q, 1.0 - d) - 2 * a * b * _relu_cross(q, d - 1.0)
        exact = q * (a * a + b * b) / 2 - cross
    assert np.all(np.abs(table(d) / exact - 1.0) < 3e-14 + 2e-16 / d)


@pytest.mark.parametrize("name, sw, sb, depth", [("relu", math.sqrt(2.0), 0.0, 5000), ("relu", 1.2, 0.3, 3000),
                                                  ("erf", 1.0, 0.3, 3000), ("erf", 1.2, 0.05, 2000)])
def test_deep_networks_against_iterated_closed_forms(name, sw, sb, depth):
    c0 = np.array([-1.0, -0.5, 0.0, 0.5, 0.9])
    if name == "relu":
        q_ref, c_ref = _iterate(_relu_cross, lambda q: q / 2, sw**2, sb**2, depth, c0)
    else:
        q_ref, c_ref = _iterate(_erf_cross, _erf_second, sw**2, sb**2, depth, c0)
    net = sp.mlp(name, depth, sigma_w=sw, sigma_b=sb)
    np.testing.assert_allclose(net.c_map(c0), c_ref, rtol=0, atol=2e-12)
    assert net.q_trajectory()[-1] == pytest.approx(q_ref, rel=1e-12)


@pytest.mark.parametrize("sw, sb", [(1.2, 0.3), (math.sqrt(2.02), 0.0), (math.sqrt(2.0), 0.1)])
def test_affine_q_recursion_of_the_relu_family(sw, sb):
    """q' = σ_w² q/2 + σ_b², iterated in Python floats: decaying to q*, growing like 1.01^L, growing linearly."""
    depth, q, ref = 3000, 1.0, [1.0]
    for _ in range(depth):
        q = sw**2 * q / 2 + sb**2
        ref.append(q)
    np.testing.assert_allclose(sp.mlp("relu", depth, sigma_w=sw, sigma_b=sb).q_trajectory(), ref, rtol=1e-12)


@pytest.mark.parametrize("name, sw, sb", [("tanh", 1.0, 0.1), ("softplus", 1.0, 0.3), ("gelu", 1.4, 0.1),
                                          ("swish", 1.6, 0.2)])
def test_settled_runs_agree_with_layer_by_layer_and_jitted_folds(name, sw, sb, monkeypatch):
    """Mehler-series networks (no closed form): the tabulated settled run against the same fold evaluated layer by
    layer (settled runs off) and against the jitted fold. A Mehler series evaluates to ~1e-13 relative, and the
    differences add up over the layers: 3e-10 relative in 1 − c at depth 1,500 (values below 1e-290, where
    d has decayed into the subnormal range, are compared absolutely)."""
    net = sp.mlp(name, 1500, sigma_w=sw, sigma_b=sb)
    d = np.concatenate([np.geomspace(1e-10, 1.0, 11), [1.5, 2.0]])
    fast = net.one_minus_c_map(d)
    monkeypatch.delattr(dense_module.DenseSlot, "numpy_run")
    slow = net.one_minus_c_map(d)
    monkeypatch.undo()
    monkeypatch.setattr(network_module, "FOLD", "jax")
    jitted = net.one_minus_c_map(d)
    np.testing.assert_allclose(fast, slow, rtol=3e-10, atol=1e-290)
    np.testing.assert_allclose(fast, jitted, rtol=3e-10, atol=1e-290)


@pytest.mark.parametrize("fold", ["numpy", "jax"])
def test_chaotic_odd_erf_keeps_c_minus_one_and_zero(fold, monkeypatch):
    """Odd φ, σ_b = 0: C is odd, so C_f(−1) = −1 and C_f(0) = 0 exactly, although c = −1 is a repelling fixed point
    in the chaotic phase (C'(−1) = C'(1) > 1). Was −1.0000150766 and −7.6e-12 (issue 13)."""
    monkeypatch.setattr(network_module, "FOLD", fold)
    net = sp.mlp("erf", 1000, sigma_w=1.0, sigma_b=0.0)
    out = net.c_map(np.array([-1.0, 0.0, 1.0]))
    assert out[2] == 1.0 and -1.0 <= out[0] <= -1.0 + (0.0 if fold == "numpy" else 1e-14)  # (rounding, never < −1)
    assert abs(out[1]) < 1e-15


@pytest.mark.parametrize("name", ["erf", "sin"])
def test_cosines_stay_in_the_unit_interval_and_can_be_fed_back(name):
    c0 = np.linspace(-1.0, 1.0, 41)
    trajectory = sp.mlp(name, 60, sigma_w=1.0, sigma_b=0.0).c_trajectory(c0)
    assert trajectory.min() >= -1.0 and trajectory.max() <= 1.0
    layer = sp.c_map(name, c0, sigma_w=1.0)
    assert layer.min() >= -1.0 and layer.max() <= 1.0
    np.testing.assert_allclose(sp.c_map(name, trajectory[-1], sigma_w=1.0)[[0, -1]], [-1.0, 1.0], atol=0)


def test_vanishing_q_is_refused_while_the_c_map_reaches_its_limit():
    """GELU with σ_w² = 2, σ_b = 0: q halves every layer (φ'(0) = 1/2) and falls below the representable floor
    near layer 936. q and the NTK are refused with a message; the C map has reached its q → 0 limit, the
    identity map of the linear part, long before (its depth-300 value, where q ≈ 1e-90)."""
    deep = sp.mlp("gelu", 1000, sigma_w=math.sqrt(2.0), sigma_b=0.0)
    with pytest.raises(sp.SigpropError, match="q vanishes"):
        deep.q_trajectory()
    with pytest.raises(sp.SigpropError, match="q vanishes"):
        deep.ntk(np.array([0.0, 0.5]))
    c0 = np.array([-0.5, 0.0, 0.5])
    np.testing.assert_allclose(deep.c_map(c0), sp.mlp("gelu", 300, sigma_w=math.sqrt(2.0)).c_map(c0), atol=1e-13)
    q = sp.mlp("gelu", 900, sigma_w=math.sqrt(2.0)).q_trajectory()
    np.testing.assert_allclose(q[-200:] / q[-201:-1], 0.5, rtol=1e-12)  # Q(q) = 2·q/4·(1 + O(q)) as q → 0


def test_tier_up_compiles_a_reused_deep_structure_in_the_background(monkeypatch):
    tier = propagate_module.TierUp()
    tier.enabled = True
    monkeypatch.setattr(network_module, "TIER_UP", tier)
    monkeypatch.setattr(network_module, "TIER_UP_DEPTH", 40)
    calls = []
    real = network_module.propagate_numpy
    monkeypatch.setattr(network_module, "propagate_numpy", lambda *a: calls.append(a[2]) or real(*a))
    c0 = np.linspace(-1.0, 1.0, 9)
    first = sp.mlp("relu", 80, sigma_w=1.3, sigma_b=0.1).c_map(c0)
    assert not tier._ready
    sp.mlp("relu", 70, sigma_w=1.4, sigma_b=0.2).c_map(c0)  # the same structure again: compiled in the background
    tier.wait(120)
    assert len(tier._ready) == 1
    calls.clear()
    again = sp.mlp("relu", 80, sigma_w=1.3, sigma_b=0.1).c_map(c0)
    assert "d" not in calls  # the 1 − c pass ran jitted
    np.testing.assert_allclose(again, first, rtol=0, atol=1e-14)


def test_tier_up_can_be_turned_off(monkeypatch):
    tier = propagate_module.TierUp()
    tier.enabled = False
    monkeypatch.setattr(network_module, "TIER_UP", tier)
    monkeypatch.setattr(network_module, "TIER_UP_DEPTH", 40)
    for _ in range(3):
        sp.mlp("relu", 80, sigma_w=1.3).c_map(np.linspace(-1.0, 1.0, 9))
    assert tier._busy is None and not tier._ready
