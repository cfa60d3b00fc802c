"""C_f'(c) at every c, and Theorem 13 of Martens et al. 2021 (arXiv:2110.01765; statement in
../shared/docs/theory.md §9).

Oracles: the ReLU arc-cosine kernel (Cho & Saul 2009) with its derivative C'(c) = (π − arccos c)/π (σ_w² = 2),
iterated here in NumPy by the chain rule; central finite differences of the network's C map (a second
method); and the theorem itself, which must hold on every network."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sigprop as sp

SQRT2 = math.sqrt(2.0)


def relu_c(c):
    theta = np.arccos(np.clip(c, -1, 1))
    return (np.sin(theta) + (np.pi - theta) * c) / np.pi


def relu_slope(c):
    return (np.pi - np.arccos(np.clip(c, -1, 1))) / np.pi


def test_c_slope_is_the_chain_rule_through_relu_layers_and_blocks():
    c0 = np.linspace(-1, 1, 41)
    c, t = c0.copy(), np.ones_like(c0)
    for _ in range(20):
        c, t = relu_c(c), t * relu_slope(c)
    np.testing.assert_allclose(sp.mlp("relu", 20, sigma_w=SQRT2).c_slope(c0), t, rtol=0, atol=1e-12)
    w, c, t = 0.7, c0.copy(), np.ones_like(c0)
    for _ in range(6):  # y = w² c + (1 − w²) C(C(c)) per block
        inner = relu_c(c)
        t = w * w * t + (1 - w * w) * relu_slope(inner) * relu_slope(c) * t
        c = w * w * c + (1 - w * w) * relu_c(inner)
    net = sp.resnet("relu", 6, shortcut_weight=w, sigma_w=SQRT2)
    np.testing.assert_allclose(net.c_slope(c0), t, rtol=0, atol=1e-12)


@pytest.mark.parametrize("make", [lambda: sp.mlp("tanh", 30, sigma_w=1.4, sigma_b=0.3),
                                  lambda: sp.mlp("erf", 12, sigma_w=2.0),
                                  lambda: sp.mlp("gelu", 10, init=sp.tat("gelu", depth=10))])
def test_c_slope_matches_finite_differences_of_the_c_map(make):
    net = make()
    c = np.linspace(-0.95, 0.95, 39)
    h = 1e-5
    fd = (np.asarray(net.c_map(c + h)) - np.asarray(net.c_map(c - h))) / (2 * h)
    np.testing.assert_allclose(net.c_slope(c), fd, rtol=0, atol=1e-7)
    assert net.c_slope(1.0) == pytest.approx(net.c_slope_at_1(), rel=1e-12)


def test_theorem13_is_tight_on_one_relu_layer():
    """One ReLU layer (σ_w² = 2, σ_b = 0): C(c) = (√(1 − c²) + (π − arccos c)c)/π, so C'(0) = 1/2, C'(1) = 1,
    C(0) = 1/π; at c = −1, C = 0 and C' = 0: max|C − c| = 1 = 2(1 − C'(0)) and max|C' − 1| = 1 = the slope
    bound, both attained."""
    got = sp.mlp("relu", 1, sigma_w=SQRT2).theorem13()
    assert got["C_f'(0)"] == pytest.approx(0.5, abs=1e-14) and got["C_f(0)"] == pytest.approx(1 / math.pi, abs=1e-14)
    assert got["deviation lower"] == pytest.approx(0.125, abs=1e-14)
    assert got["deviation upper"] == pytest.approx(1.0, abs=1e-14)
    assert got["max |C_f(c) - c|"] == pytest.approx(1.0, abs=1e-12)
    assert got["slope deviation upper"] == pytest.approx(1.0, abs=1e-14)
    assert got["max |C_f'(c) - 1|"] == pytest.approx(1.0, abs=1e-12)
    assert "deviation upper (C_f(0) = 0)" not in got  # C(0) = 1/π ≠ 0


NETWORKS = {
    "dks-tanh-1.1": lambda: sp.mlp("tanh", 50, init=sp.dks("tanh", depth=50, zeta=1.1)),
    "dks-softplus-1.5": lambda: sp.mlp("softplus", 20, init=sp.dks("softplus", depth=20)),
    "dks-gelu-3": lambda: sp.mlp("gelu", 10, init=sp.dks("gelu", depth=10, zeta=3.0)),
    "dks-resnet": lambda: sp.resnet("tanh", (2, 2), 0.6, bottleneck=True, projection=True,
                                    init=sp.dks("tanh", network=sp.resnet("tanh", (2, 2), 0.6, bottleneck=True,
                                                                          projection=True))),
    "tat-tanh": lambda: sp.mlp("tanh", 30, init=sp.tat("tanh", depth=30)),
    "tat-leaky": lambda: sp.mlp("leaky_relu", 30, init=sp.tat("leaky_relu", depth=30)),
    "eoc-tanh": lambda: sp.mlp("tanh", 100, init=sp.eoc("tanh", sigma_b=0.3)),
    "he-relu": lambda: sp.mlp("relu", 40, sigma_w=SQRT2),
    "ordered-tanh": lambda: sp.mlp("tanh", 25, sigma_w=0.8, sigma_b=0.2),
}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_theorem13_holds(name):
    got = NETWORKS[name]().theorem13()
    slack = 1e-9
    assert got["deviation lower"] <= got["max |C_f(c) - c|"] + slack
    assert got["max |C_f(c) - c|"] <= got["deviation upper"] + slack
    assert got["max |C_f'(c) - 1|"] <= got["slope deviation upper"] + slack
    if "deviation upper (C_f(0) = 0)" in got:  # DKS: C_f(0) = 0
        assert name.startswith("dks")
        assert got["max |C_f(c) - c|"] <= got["deviation upper (C_f(0) = 0)"] + slack
        assert got["max |C_f'(c) - 1|"] <= got["slope deviation upper (C_f(0) = 0)"] + slack
