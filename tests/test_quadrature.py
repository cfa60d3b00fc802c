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
