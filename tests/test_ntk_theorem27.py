"""Theorem 27 of Martens et al. 2021 (the DKS paper): every layer's NTK term stays within 11(ζ − 1) of the
linear kernel xᵀx'/d₀ = q c when C_f'(1) ≤ ζ. ``NTKResult.max_deviation`` is the measured side of it.

Oracles: the identity network (Θ_l = q c exactly: deviation 0); the Looks-Linear ReLU network, whose layers
l ≥ 1 have Θ_l = q κ(c) with κ the arc-cosine kernel (Cho & Saul 2009), so the deviation is max_c |κ(c) − c|,
attained at c = −1 where κ = 0: exactly q; and the theorem itself for DKS networks (issue 13 measured
1.26(ζ − 1) at ζ = 1.5).
"""

from __future__ import annotations

import numpy as np
import pytest

import sigprop as sp

C = np.linspace(-1.0, 1.0, 81)


def test_linear_network_has_no_deviation():
    assert sp.mlp("identity", 30).ntk(C, q=2.0).max_deviation == pytest.approx(0.0, abs=1e-13)


def test_looks_linear_deviation_is_the_arc_cosine_kernels_distance_from_c():
    res = sp.mlp("relu", 10, init=sp.looks_linear("relu")).ntk(C, q=1.7)
    assert res.max_deviation == pytest.approx(1.7, abs=1e-12)


@pytest.mark.parametrize("name, zeta", [("tanh", 1.5), ("softplus", 1.2), ("gelu", 2.0)])
def test_dks_networks_stay_within_theorem_27s_bound(name, zeta):
    r = sp.dks(name, depth=20, zeta=zeta)
    deviation = sp.mlp(name, 20, init=r).ntk(C).max_deviation
    assert 0.0 < deviation <= sp.ntk_bound(zeta)
