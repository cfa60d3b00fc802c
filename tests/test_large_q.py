"""Large pre-activation variance: exact to 1e-10 or refused (issue 13: tanh's E[φ(√q z)²] was off by 1e-4 at
q = 100 and 1.2e-2 at q = 1000, with no warning).

Oracle: adaptive quadrature (scipy.integrate.quad, split at 0 and ±1 where φ(√q z) turns over) of the 1-D
moments E[φ(√q z)²] and E[φ'(√q z)²], which give Q(q) and C'(1) = σ_w² q E[φ'²]/Q(q) of a layer.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

import sigprop as sp

_DENSITY = 1.0 / math.sqrt(2 * math.pi)


def _expect(f, q):
    pieces = ((-12, -1), (-1, -0.1), (-0.1, 0), (0, 0.1), (0.1, 1), (1, 12))
    return sum(integrate.quad(lambda z: f(math.sqrt(q) * z) * math.exp(-z * z / 2) * _DENSITY, lo, hi,
                              epsabs=1e-17, epsrel=1e-14, limit=500)[0] for lo, hi in pieces)


def _softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


CASES = {  # φ, φ' (closed forms), and a variance where sigprop still answers
    "tanh": (math.tanh, lambda x: 1.0 - math.tanh(x) ** 2, 6.0),
    "softplus": (_softplus, _sigmoid, 40.0),
    "sigmoid": (_sigmoid, lambda x: _sigmoid(x) * (1.0 - _sigmoid(x)), 25.0),
}


@pytest.mark.parametrize("name", CASES)
def test_accepted_variances_are_exact_to_1e_10(name):
    f, fp, q = CASES[name]
    second, slope = _expect(lambda x: f(x) ** 2, q), _expect(lambda x: fp(x) ** 2, q)
    assert float(sp.q_map(name, q)) == pytest.approx(second, rel=1e-10)
    assert float(sp.c_map_slope(name, 1.0, q=q)) == pytest.approx(q * slope / second, rel=1e-10)


@pytest.mark.parametrize("name, q", [("tanh", 100.0), ("tanh", 1000.0), ("sigmoid", 1000.0),
                                     ("softplus", 1e4)])
def test_larger_variances_are_refused_with_the_reason(name, q):
    with pytest.raises(sp.SigpropError, match="variance is too large"):
        sp.c_map(name, np.array([0.0, 0.5]), q=q)


def test_a_network_whose_variance_grows_too_large_is_refused():
    """tanh with σ_w = 10: q* ≈ 100 (σ_w² E[tanh²] with tanh saturated); the network's C map is refused, not
    returned 5e-5 off."""
    with pytest.raises(sp.SigpropError, match="variance is too large"):
        sp.mlp("tanh", 20, sigma_w=10.0).c_map(np.array([0.0]))
