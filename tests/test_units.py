"""The network language: Sum (weighted sums, concatenation), LayerNorm, V1/V2/bottleneck/projection builders.

Oracles: the closed-form per-layer covariance maps (arc-cosine kernel of ReLU, Cho & Saul 2009; arcsin kernel
of erf, Williams 1997) iterated here in NumPy with the combination rules written out by hand — sums add
covariances with the squared weights (Martens et al. 2021 §"weighted sum layers"), layer normalisation sets
q = 1 and keeps c — and dks's own ``subnet_max_func`` for the ResNet structure (tests/test_dks_golden.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import sigprop as sp
from sigprop.errors import ConfigurationError

C = np.linspace(-1.0, 1.0, 41)


def relu_cov(q, k):
    """σ_w = √2 ReLU layer on (q, k = q c): E[relu(u)relu(v)]·2 (Cho & Saul 2009)."""
    c = np.clip(k / q, -1, 1)
    theta = np.arccos(c)
    return q, q * (np.sin(theta) + (np.pi - theta) * c) / np.pi


def erf_cov(q, k, sw=1.6, sb=0.3):
    """erf layer (Williams 1997): σ_w² (2/π) arcsin(2k/(1 + 2q)) + σ_b²."""
    return (sw**2 * 2 / np.pi * np.arcsin(2 * q / (1 + 2 * q)) + sb**2,
            sw**2 * 2 / np.pi * np.arcsin(2 * k / (1 + 2 * q)) + sb**2)


def test_layer_norm_sets_q_to_one_and_keeps_c():
    erf = sp.Dense(sp.activation("erf"), 1.6, 0.3)
    net = sp.Network(sp.Serial(((erf, 1), (sp.LayerNorm(), 1), (erf, 2), (sp.LayerNorm(), 1))))
    q, k = 2.5, 2.5 * C
    rows_q, rows_c = [q], [C]
    q, k = erf_cov(q, k)
    rows_q.append(q)
    rows_c.append(k / q)
    q, k = 1.0, k / q  # LayerNorm
    rows_q.append(q)
    rows_c.append(k / q)
    for _ in range(2):
        q, k = erf_cov(q, k)
        rows_q.append(q)
        rows_c.append(k / q)
    rows_q.append(1.0)
    rows_c.append(k / q)
    np.testing.assert_allclose(net.q_trajectory(2.5), rows_q, rtol=1e-12)
    np.testing.assert_allclose(net.c_trajectory(C, q=2.5), np.array(rows_c), rtol=0, atol=1e-12)
    assert net.depth == 3
    # in every C-map semiring LayerNorm is the identity
    plain = sp.mlp("erf", 3, sigma_w=1.6, sigma_b=0.3)
    assert net.subnetwork_max(1.0, lambda x: 1.1 * x) == pytest.approx(plain.subnetwork_max(1.0, lambda x: 1.1 * x))


def test_layer_norm_ntk_on_homogeneous_network():
    """ReLU at σ_w² = 2, σ_b = 0 keeps q, so a LayerNorm on the input makes the network see q = 1: its NTK at
    input variance q0 equals the plain network's at q = 1 (Θ = q c on the input layer, divided by q)."""
    relu = sp.Dense(sp.activation("relu"), math.sqrt(2.0), 0.0)
    with_ln = sp.Network(sp.Serial(((sp.LayerNorm(), 1), (relu, 4))))
    plain = sp.mlp("relu", 4, sigma_w=math.sqrt(2.0))
    a, b = with_ln.ntk(C, q=2.7), plain.ntk(C, q=1.0)
    np.testing.assert_allclose(a.total, b.total, rtol=1e-12)


def test_sum_of_three_branches_and_concatenation_add_covariances():
    relu = sp.Dense(sp.activation("relu"), math.sqrt(2.0), 0.0)
    erf = sp.Dense(sp.activation("erf"), 1.6, 0.3)
    w = (0.5, 0.5, math.sqrt(0.5))
    branches = (sp.Serial(((relu, 2),)), sp.Serial(((erf, 1),)), sp.Serial())
    for unit in (sp.Sum(branches, w), sp.concatenate(branches, [x * x for x in w])):
        net = sp.Network(sp.Serial(((unit, 3),)))
        q, k = 1.7, 1.7 * C
        for _ in range(3):
            qa, ka = relu_cov(*relu_cov(q, k))
            qb, kb = erf_cov(q, k)
            q, k = (w[0] ** 2 * qa + w[1] ** 2 * qb + w[2] ** 2 * q, w[0] ** 2 * ka + w[1] ** 2 * kb + w[2] ** 2 * k)
        assert net.q_trajectory(1.7)[-1] == pytest.approx(q, rel=1e-12)
        np.testing.assert_allclose(net.c_map(C, q=1.7), k / q, rtol=0, atol=1e-12)
        assert net.depth == 6


def test_sum_checks_its_weights_and_branches():
    relu = sp.Dense(sp.activation("relu"))
    with pytest.raises(ConfigurationError, match="add up to 1"):
        sp.Sum((sp.Serial(((relu, 1),)), sp.Serial()), (0.8, 0.8))
    with pytest.raises(ConfigurationError, match="no weights of their own"):
        sp.Sum((sp.Serial(), sp.Serial(((sp.LayerNorm(), 1),))), (0.6, 0.8))
    sp.concatenate((sp.Serial(), sp.Serial()))  # concatenation needs no independence
    with pytest.raises(ConfigurationError, match="one weight per branch"):
        sp.Sum((sp.Serial(),), (0.6, 0.8))
    with pytest.raises(ConfigurationError, match="finite and ≥ 0"):
        sp.Sum((sp.Serial(((relu, 1),)), sp.Serial()), (float("nan"), 1.0))
    with pytest.raises(ConfigurationError, match="shortcut_weight"):
        sp.Residual(sp.Serial(((relu, 1),)), 1.5)


@pytest.mark.parametrize("bottleneck", [False, True])
def test_resnet_v1_puts_a_nonlinearity_after_every_sum(bottleneck):
    w, blocks = 0.7, 4
    net = sp.resnet("relu", blocks, shortcut_weight=w, sigma_w=math.sqrt(2.0), version=1, bottleneck=bottleneck)
    per = 2 if bottleneck else 1
    assert net.depth == blocks * (per + 1)
    q, k = 1.0, C.copy()
    for _ in range(blocks):
        qb, kb = q, k
        for _ in range(per):
            qb, kb = relu_cov(qb, kb)
        q, k = relu_cov(w * w * q + (1 - w * w) * qb, w * w * k + (1 - w * w) * kb)
    np.testing.assert_allclose(net.c_map(C), k / q, rtol=0, atol=1e-12)
    assert net.length == blocks  # one trajectory row per block


def test_resnet_v2_bottleneck_with_projection_shortcuts():
    w = 0.6
    net = sp.resnet("relu", (2, 3), shortcut_weight=w, sigma_w=math.sqrt(2.0), bottleneck=True, projection=True,
                    final_activation=True)
    q, k = 1.0, C.copy()
    for blocks in (2, 3):
        for j in range(blocks):
            qb, kb = relu_cov(*relu_cov(*relu_cov(q, k)))
            qs, ks = relu_cov(q, k) if j == 0 else (q, k)
            q, k = w * w * qs + (1 - w * w) * qb, w * w * ks + (1 - w * w) * kb
    q, k = relu_cov(q, k)
    np.testing.assert_allclose(net.c_map(C), k / q, rtol=0, atol=1e-12)
    assert net.depth == 5 * 3 + 1
    with pytest.raises(ConfigurationError, match="either layers_per_block or bottleneck"):
        sp.resnet("relu", 3, layers_per_block=2, bottleneck=True)
    with pytest.raises(ConfigurationError, match="one bool per group"):
        sp.resnet("relu", (2, 3), projection=(True,))
    with pytest.raises(ConfigurationError, match="version"):
        sp.resnet("relu", 3, version=3)


def test_modified_resnet_configs_match_dks():
    for depth, blocks in ((18, 8), (50, 16), (152, 50)):
        net = sp.modified_resnet("tanh", depth)
        assert net.length == blocks + 1  # blocks and the final activation
    with pytest.raises(ConfigurationError, match="depth must be one of"):
        sp.modified_resnet("tanh", 42)


def test_signature_ignores_activation_and_scales():
    a = sp.resnet("tanh", (2, 2), 0.5, bottleneck=True, projection=True)
    b = sp.resnet("relu", (2, 2), 0.5, sigma_w=2.0, bottleneck=True, projection=True)
    c = sp.resnet("relu", (2, 2), 0.6, bottleneck=True, projection=True)
    assert a.signature == b.signature != c.signature
    hash(a.signature)
