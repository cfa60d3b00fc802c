"""cos, the activation defined in one file (sigprop/activation_defs/cos.py), against an independent oracle:
for u, v ~ N(0, q) with correlation c, write v = c u + √(1 − c²) w with w independent; the inner expectation is
E_w[cos(a + b w)] = cos(a) e^{−b²/2} (sin likewise), and the outer one is adaptive quadrature in u."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

import sigprop as sp

C = np.array([-1.0, -0.7, -0.2, 0.0, 0.3, 0.9, 0.999, 1.0])


def oracle(q, c, f=np.cos):
    b2 = q * (1 - c * c)

    def integrand(z):
        u = math.sqrt(q) * z
        return f(u) * f(c * u) * math.exp(-b2 / 2) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    return integrate.quad(integrand, -40, 40, epsabs=1e-15, epsrel=1e-13, limit=400)[0]


def test_cos_is_registered_with_its_closed_form():
    phi = sp.activation("cos")
    assert "cos" in sp.list_activations() and phi.smooth and phi.has_closed_form


@pytest.mark.parametrize("q", [0.3, 1.0, 4.0])
def test_cos_maps_match_quadrature(q):
    sw, sb = 1.3, 0.2
    k = np.array([oracle(q, c) for c in C])
    k1 = oracle(q, 1.0)
    np.testing.assert_allclose(sp.q_map("cos", q, sw, sb), sw**2 * k1 + sb**2, rtol=1e-12)
    np.testing.assert_allclose(sp.c_map("cos", C, q, sw, sb), (sw**2 * k + sb**2) / (sw**2 * k1 + sb**2),
                               rtol=0, atol=1e-12)
    dot = np.array([oracle(q, c, np.sin) for c in C])  # E[φ'(u)φ'(v)] = E[sin u sin v]
    np.testing.assert_allclose(sp.c_map_slope("cos", C, q, sw, sb), sw**2 * q * dot / (sw**2 * k1 + sb**2),
                               rtol=0, atol=1e-12)


def test_cos_network_and_dks():
    net = sp.mlp("cos", 3, sigma_w=1.2)
    q, c = 1.0, C.copy()
    for _ in range(3):
        k = np.array([oracle(q, v) for v in c])
        q_new = 1.2**2 * oracle(q, 1.0)
        c, q = 1.2**2 * k / q_new, q_new
    np.testing.assert_allclose(net.c_map(C), c, rtol=0, atol=1e-11)
    res = sp.dks("cos", depth=20)
    got = sp.mlp(res.activation, 20).c_slope_at_1()
    assert got == pytest.approx(1.5, rel=1e-9)  # C_f'(1) = ζ, through the network's closed-form kernel


@pytest.mark.parametrize("q", [0.3, 1.0, 4.0])
def test_cos_q_slope_matches_quadrature(q):
    # Q'(q) = σ_w² d/dq E[cos²(√q z)] = σ_w² E[φ φ' z]/√q (differentiation under the integral), by quad
    sw = 1.3
    s = math.sqrt(q)
    want = integrate.quad(lambda z: -math.cos(s * z) * math.sin(s * z) * z * math.exp(-z * z / 2)
                          / math.sqrt(2 * math.pi), -40, 40, epsabs=1e-15, epsrel=1e-13, limit=400)[0] / s
    assert sp.q_map_slope("cos", q, sw) == pytest.approx(sw**2 * want, rel=1e-11)
