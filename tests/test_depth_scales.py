"""Depth scales ξ_c = −1/log C'(c*) only where c converges exponentially (issue 13: the same ReLU network read
ξ_c = 32.55 as "He" and ∞ as "EOC"; ReLU at σ_b = 0 read 1.44 and 199.5 at σ_w² = 1 and 1.99 although its C map
does not depend on σ_w; tanh at σ_w² = 0.64, σ_b = 0 read 2.24 although its network keeps C_f(−1) = −1).

Oracles: the arc-cosine map (Cho & Saul 2009), whose 1 − c_l falls like 1/l² (polynomially) for every σ_w at
σ_b = 0; the identity, which the C map of a φ with φ'(0) ≠ 0 approaches as q → 0; and, where ξ_c is finite, the
measured decay rate (1 − c_{l+1})/(1 − c_l) → C'(1) = e^{−1/ξ_c} of a deep network's trajectory.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import sigprop as sp


@pytest.mark.parametrize("name, sw2", [("relu", 2.0), ("relu", 1.0), ("relu", 1.99), ("leaky_relu", 1.5),
                                       ("tanh", 0.64), ("tanh", 1.0), ("gelu", 2.0)])
def test_no_exponential_depth_scale_at_zero_bias_where_c_does_not_converge_exponentially(name, sw2):
    diagram = sp.phase_diagram(name, [sw2], [0.0])
    assert diagram.xi_c.ravel()[0] == math.inf


def test_relu_c_map_does_not_depend_on_sigma_w_and_converges_polynomially():
    """The ground truth behind ∞: at σ_b = 0, ReLU networks with σ_w² = 1, 1.99 and 2 have the same C map, and
    l²(1 − c_l) approaches a constant (no exponential decay)."""
    c0 = np.array([0.0])
    maps = [sp.mlp("relu", 400, sigma_w=math.sqrt(w2)).one_minus_c_trajectory(c0)[:, 0] for w2 in (1.0, 1.99, 2.0)]
    np.testing.assert_allclose(maps[0], maps[1], rtol=1e-13, atol=0)
    np.testing.assert_allclose(maps[0], maps[2], rtol=1e-13, atol=0)
    l2 = np.arange(401.0) ** 2 * maps[0]
    assert abs(l2[400] / l2[200] - 1.0) < 0.1  # l²(1 − c_l) → 9π²/2 (log corrections): polynomial, 1/l²
    assert maps[0][400] / maps[0][399] > 0.99  # an exponential rate would stay below e^{−1/ξ} < 1


def test_tanh_with_vanishing_q_keeps_its_cosines():
    """σ_w² = 0.64, σ_b = 0: q → 0 geometrically and tanh acts linearly, so once q is small the cosines stop
    moving (the identity map) instead of converging to a fixed point at any rate."""
    trajectory = sp.mlp("tanh", 200, sigma_w=0.8).c_trajectory(np.array([-0.9, -0.3, 0.2, 0.7]))
    np.testing.assert_allclose(trajectory[200], trajectory[100], rtol=0, atol=1e-10)  # (series noise ~1e-14/layer)
    assert np.all(np.abs(trajectory[200] - trajectory[0]) < 0.2)  # they keep their spread (no collapse to c*)


@pytest.mark.parametrize("name, sw2, sb2", [("tanh", 1.5, 0.05), ("relu", 1.5, 0.1), ("softplus", 1.0, 0.2)])
def test_finite_depth_scales_match_the_decay_rate_of_deep_trajectories(name, sw2, sb2):
    diagram = sp.phase_diagram(name, [sw2], [sb2])
    xi = diagram.xi_c.ravel()[0]
    assert math.isfinite(xi)
    net = sp.mlp(name, 400, sigma_w=math.sqrt(sw2), sigma_b=math.sqrt(sb2))
    d = net.one_minus_c_trajectory(np.array([0.999]))[:, 0]
    rate = d[300] / d[299]  # → C'(1) − C''(1)·d/2: d_299 ≲ 1e-11 here
    assert rate == pytest.approx(math.exp(-1.0 / xi), rel=1e-9)
