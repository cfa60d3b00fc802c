"""Regressions: DKS-shaped kinked activations in networks (the engine issue's reproducers).

Before: a per-layer ``sp.c_map`` of DKS ReLU gave no answer in 240–400 s (XLA compiled a 1,024-step unrolled
Hermite recurrence for the kinks the transform moves), ``c_at_0()`` of a DKS leaky-ReLU network none in 300 s
(β = 6.9e-16 instead of 0 lost the closed form) and the network grew to 21 GB. Each test is bounded by a
timeout. Oracles: the leaky-ReLU arc-cosine kernel (Cho & Saul 2009) iterated in NumPy; for shifted ReLU the
bivariate Gaussian expectation reduced to one adaptive quadrature with the inner expectation in closed form,
E[relu(a + b w)] = a Φ(a/b) + b N(a/b), w ~ N(0, 1).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special

import sigprop as sp


def leaky_cross(s, c):
    """E[lrelu_s(u) lrelu_s(v)], u, v standard with correlation c (arc-cosine kernel, Cho & Saul 2009)."""
    theta = np.arccos(np.clip(c, -1, 1))
    relu = (np.sin(theta) + (np.pi - theta) * c) / (2 * np.pi)
    relu_minus = (np.sin(theta) - theta * c) / (2 * np.pi)  # E[relu(u) relu(−v)]
    return (1 + s * s) * relu - 2 * s * relu_minus


@pytest.mark.timeout(120)
def test_dks_leaky_relu_network_uses_the_closed_form():
    res = sp.dks("leaky_relu", depth=50)
    assert res.beta == 0.0 and res.alpha == 1.0
    s, g, d = res.constants["negative_slope"], res.gamma, res.delta
    assert d == pytest.approx(-(1 - s) / math.sqrt(2 * math.pi), abs=1e-15)  # δ = −E[lrelu(z)]
    net = sp.mlp("leaky_relu", 50, init=res)
    c = 0.0
    for _ in range(50):  # φ̂ = γ(lrelu + δ): E[φ̂φ̂] = γ²(K(c) − δ²), Q = 1
        c = g * g * (leaky_cross(s, c) - d * d)
    assert net.c_at_0() == pytest.approx(c, abs=1e-12)
    assert net.c_slope_at_1() == pytest.approx(1.5, abs=1e-10)  # DKS: C_f'(1) = ζ


def _shifted_relu_cross(alpha, beta, gamma, delta, c):
    """E[φ̂(u)φ̂(v)] for φ̂ = γ(relu(αx + β) + δ), u, v standard with correlation c."""
    sc = math.sqrt(1 - c * c)

    def inner(u):  # E_w[φ̂(c u + √(1−c²) w)]
        a, b = alpha * c * u + beta, alpha * sc
        mean = a * special.ndtr(a / b) + b * math.exp(-0.5 * (a / b) ** 2) / math.sqrt(2 * math.pi)
        return gamma * (mean + delta)

    def outer(u):
        return gamma * (max(alpha * u + beta, 0.0) + delta) * inner(u) * math.exp(-u * u / 2) / math.sqrt(2 * math.pi)

    kink = -beta / alpha
    return sum(integrate.quad(outer, lo, hi, epsabs=1e-13, epsrel=1e-12, limit=200)[0]
               for lo, hi in ((-40.0, kink), (kink, 40.0)))


@pytest.mark.timeout(120)
def test_dks_relu_per_layer_and_network_maps_finish():
    res = sp.dks("relu", depth=20)
    assert res.beta == 1.0  # dks's ReLU rule: the kink moves to x = −1/α
    c = np.array([-0.9, -0.3, 0.0, 0.4, 0.8, 0.97])
    got = sp.c_map(res.activation, c)
    expected = [_shifted_relu_cross(res.alpha, res.beta, res.gamma, res.delta, v) for v in c]  # Q(1) = 1
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    net = sp.mlp(res.activation, 20)
    out = net.c_map(np.linspace(-1, 1, 101))
    assert np.all(np.isfinite(out)) and np.all(np.diff(out) >= -1e-12)
    assert net.c_slope_at_1() == pytest.approx(1.5, rel=1e-8)
