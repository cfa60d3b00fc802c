"""Gauss–Legendre rules of many nodes (the kinked Mehler kernels use up to 1,120 per piece) against closed-form
integrals: ∫₋₁¹ eˣ dx = e − 1/e, ∫₋₁¹ cos(20x) dx = sin(20)/10, and Σ w = 2. scipy's asymptotic weights alone were
off by 2e-14 at n = 1,120, enough to put a DKS-shaped ELU network's Q(1) 2.5e-13 from 1 (so its q drifted and
every layer recomputed its Hermite projections)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sigprop as sp
from sigprop.quadrature import gauss_legendre


@pytest.mark.parametrize("n", [64, 128, 257, 512, 1120])
def test_many_node_rules_integrate_to_rounding(n):
    x, w = gauss_legendre(n)
    assert abs(w.sum() - 2.0) < 4e-15
    assert abs(w @ np.exp(x) / (math.e - 1 / math.e) - 1.0) < 2e-15
    assert abs(w @ np.cos(20 * x) - math.sin(20) / 10) < 4e-15


def test_dks_shaped_elu_keeps_q_at_one_on_the_networks_kernel():
    """Q(1) = 1 on the dual kernel the network uses, to 1e-13 (the solver's rule and the kernel's agree)."""
    r = sp.dks("elu", depth=50)
    q = sp.mlp(r.activation, 50, r.sigma_w, r.sigma_b).q_trajectory()
    assert np.max(np.abs(q - 1.0)) < 1e-12  # 50 layers of a neutral Q map (Q'(1) = 1)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16, 33, 100, 101, 255, 320, 513, 1088])
def test_gauss_hermite_against_scipy_and_moments(n):
    """sigprop's own Gauss–Hermite rule (WKB guesses + Newton, no SciPy at import) against SciPy's
    ``roots_hermitenorm`` (an independent implementation) and the Gaussian moments E[z^{2k}] = (2k − 1)!!,
    E[cos z] = e^{−1/2}."""
    from scipy.special import roots_hermitenorm

    x, w = sp.quadrature.gauss_hermite(n)
    xr, wr = roots_hermitenorm(n)
    wr = wr / wr.sum()
    assert np.all(np.diff(x) > 0) and x.size == n
    np.testing.assert_allclose(x, xr, rtol=0, atol=1e-13 * max(1.0, float(np.max(np.abs(xr)))))
    big = wr > 1e-250  # SciPy's own weights lose relative accuracy at the far ends (asymptotic formulas)
    np.testing.assert_allclose(w[big], wr[big], rtol=5e-12, atol=1e-300)
    assert abs(w.sum() - 1.0) < 1e-15
    for k in range(1, min(n, 6)):  # exact for degree 2k < 2n
        assert w @ x ** (2 * k) == pytest.approx(math.prod(range(1, 2 * k, 2)), rel=4e-15)
    if n >= 16:
        assert abs(w @ np.cos(x) - math.exp(-0.5)) < 1.5e-15


@pytest.mark.parametrize("n", [1, 2, 5, 8, 31, 100, 1120])
def test_gauss_legendre_small_rules_and_scipy_nodes(n):
    """Nodes equal SciPy's ``roots_legendre`` to rounding; the rule is exact for x^{2k} (k < n)."""
    from scipy.special import roots_legendre

    x, w = gauss_legendre(n)
    np.testing.assert_allclose(x, roots_legendre(n)[0], rtol=0, atol=4e-16)
    for k in range(min(n, 8)):
        assert w @ x ** (2 * k) == pytest.approx(2.0 / (2 * k + 1), rel=4e-15)


def test_rules_refuse_no_nodes():
    with pytest.raises(ValueError, match="n ≥ 1"):
        sp.quadrature.gauss_hermite(0)
    with pytest.raises(ValueError, match="n ≥ 1"):
        gauss_legendre(0)
