"""Several roots of the DKS/TAT conditions: sigprop returns dks's and lists the others (issue 13: DKS swish at
depth 100, ζ = 1.5, has the root dks returns, (α, β, γ, δ) ≈ (0.1295, 0.3495, 11.50, −0.2089), and another,
≈ (0.0266, −1.52, 846, 0.273), with a 70× larger output scale).

Oracles: dks's constants as the issue quotes them (dks 0.1.2), and the four DKS conditions evaluated here by
adaptive quadrature (scipy.integrate.quad) of swish's closed-form φ and φ', independent of sigprop's rules.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

import sigprop as sp


def _swish(x):
    return x / (1.0 + math.exp(-x))


def _swish_prime(x):
    s = 1.0 / (1.0 + math.exp(-x))
    return s + x * s * (1.0 - s)


def _expect(f):
    density = 1.0 / math.sqrt(2 * math.pi)
    return sum(integrate.quad(lambda z: f(z) * math.exp(-z * z / 2) * density, lo, hi, epsabs=1e-15,
                              epsrel=1e-13, limit=200)[0] for lo, hi in ((-12, -3), (-3, 0), (0, 3), (3, 12)))


def _dks_conditions(a, b, g, d):
    """Q(1), Q'(1) = E[φ̂ φ̂' z], C(0) = E[φ̂]²/Q(1), C'(1) = E[φ̂'²]/Q(1) of φ̂ = γ(swish(αz + β) + δ)."""
    f = lambda z: g * (_swish(a * z + b) + d)  # noqa: E731
    fp = lambda z: g * a * _swish_prime(a * z + b)  # noqa: E731
    q1 = _expect(lambda z: f(z) ** 2)
    return q1, _expect(lambda z: f(z) * fp(z) * z), _expect(f) ** 2 / q1, _expect(lambda z: fp(z) ** 2) / q1


def test_swish_has_two_roots_and_the_dks_one_comes_first():
    result = sp.dks("swish", depth=100, zeta=1.5)
    roots = result.roots()
    assert len(roots) == 2
    first, other = (tuple(r[k] for k in ("alpha", "beta", "gamma", "delta")) for r in roots)
    quoted = np.array([0.1295, 0.3495, 11.50, -0.2089])  # dks's, to the digits quoted
    assert np.all(np.abs(np.array(first) - quoted) <= np.array([5e-5, 5e-5, 5e-3, 5e-5]))
    assert first == (result.alpha, result.beta, result.gamma, result.delta)
    np.testing.assert_allclose(other, (0.0266, -1.52, 846, 0.273), rtol=3e-3)
    xi = 1.5 ** (1 / 100)
    for constants in (first, other):
        q1, dq1, c0, dc1 = _dks_conditions(*constants)
        assert q1 == pytest.approx(1.0, abs=1e-9) and dq1 == pytest.approx(1.0, abs=1e-9)
        assert c0 == pytest.approx(0.0, abs=1e-12) and dc1 == pytest.approx(xi, abs=1e-9)


@pytest.mark.parametrize("call", [lambda: sp.dks("relu", depth=50), lambda: sp.dks("leaky_relu", depth=50),
                                  lambda: sp.tat("softplus", depth=50)])
def test_every_listed_root_is_distinct_and_the_result_comes_first(call):
    result = call()
    roots = result.roots()
    assert roots[0]["gamma"] == result.gamma and roots[0]["delta"] == result.delta
    keys = tuple(roots[0])
    rows = np.array([[r[k] for k in keys] for r in roots])
    for i in range(len(rows)):
        for j in range(i):
            assert np.max(np.abs(rows[i] - rows[j])) > 1e-7


def test_q_trajectory_can_mark_a_vanished_q_with_nan_for_plots():
    net = sp.mlp("gelu", 1000, sigma_w=math.sqrt(2.0))
    q = net.q_trajectory(vanished="nan")
    gone = np.isnan(q)
    assert gone.any() and not gone[:900].any() and np.all(gone[np.argmax(gone):])
    np.testing.assert_array_equal(q[:900], sp.mlp("gelu", 899, sigma_w=math.sqrt(2.0)).q_trajectory())
    with pytest.raises(sp.ConfigurationError):
        net.q_trajectory(vanished="ignore")
