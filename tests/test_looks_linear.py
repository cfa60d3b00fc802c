"""Looks-Linear (Balduzzi et al. 2017): CReLU with mirrored weights is exactly linear at initialisation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sigprop as sp
from sigprop import methods as M
from sigprop.errors import ActivationError


def _forward(mats, x, phi):
    h = mats[0] @ x
    for W in mats[1:]:
        h = W @ M.crelu(h, phi)
    return h


@pytest.mark.parametrize("phi,slope", [(None, 0.0), (("leaky_relu", {"negative_slope": 0.3}), 0.3)])
def test_finite_crelu_network_is_exactly_linear(phi, slope):
    # Oracle (Balduzzi et al. 2017, "Looks linear initialization"): [W, −W]·[φ(h); φ(−h)] = (1 + s)·W h, so the
    # whole network equals the product of the W blocks. Computed here from the first halves of the mirrored
    # matrices, independently of the forward pass.
    res = M.looks_linear("relu" if phi is None else phi)
    widths = (6, 48, 64, 32, 4)
    with jax.enable_x64(True):
        mats = M.looks_linear_weights(jax.random.PRNGKey(0), widths, gamma=res.gamma)
        # mirrored structure
        for W, n in zip(mats[1:], widths[1:-1]):
            np.testing.assert_array_equal(np.asarray(W[:, :n]), -np.asarray(W[:, n:]))
        linear = mats[0]
        for W, n in zip(mats[1:], widths[1:-1]):
            linear = (W[:, :n] / res.gamma) @ linear * (1 + slope) * res.gamma
        xs = jax.random.normal(jax.random.PRNGKey(1), (10, widths[0]))
        for x in xs:
            got = np.asarray(_forward(mats, x, phi))
            want = np.asarray(linear @ x)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
        # linearity: f(a x + b y) = a f(x) + b f(y) (not true for any nonlinear network)
        x, y = xs[0], xs[1]
        lhs = _forward(mats, 2.5 * x - 0.7 * y, phi)
        rhs = 2.5 * _forward(mats, x, phi) - 0.7 * _forward(mats, y, phi)
        np.testing.assert_allclose(np.asarray(lhs), np.asarray(rhs), rtol=1e-12, atol=1e-12)


def test_orthogonal_blocks_preserve_norm():
    # Square orthogonal blocks: |W h| = |h| exactly, so q is preserved layer by layer (Q(q) = q).
    with jax.enable_x64(True):
        mats = M.looks_linear_weights(jax.random.PRNGKey(3), (32, 32, 32))
        h = jax.random.normal(jax.random.PRNGKey(4), (32,))
        out = _forward(mats, h, None)
        assert float(jnp.linalg.norm(out)) == pytest.approx(float(jnp.linalg.norm(h)), rel=1e-13)


def test_mean_field_is_identity():
    # The mean-field equivalent is the identity map: C_f(c) = c and Q(q) = q at every depth.
    res = M.looks_linear()
    assert res.activation.name == "identity" and res.sigma_w == 1.0 and res.sigma_b == 0.0
    net = sp.mlp("relu", depth=200, init=res)
    c = np.linspace(-1, 1, 21)
    np.testing.assert_allclose(net.c_map(c), c, atol=1e-14)
    np.testing.assert_allclose(net.c_trajectory(c), np.broadcast_to(c, (201, c.size)), atol=1e-14)
    assert net.q_map(1.7) == pytest.approx(1.7, abs=1e-14)


def _arccos_kernel(c):
    """E[relu(u)relu(v)] / E[relu(u)²] for standard normals with correlation c (Cho & Saul 2009)."""
    theta = np.arccos(np.clip(c, -1.0, 1.0))
    return (np.sin(theta) + (np.pi - theta) * c) / np.pi


def test_ntk_per_layer_is_the_linear_kernel_then_the_arc_cosine_kernel():
    """Θ_0 = q c and Θ_l = q κ(c) for l ≥ 1 (the CReLU features' kernel): 0.318 at c = 0 where the identity
    network that shares the C maps has 0 (issue 13). Oracle: the arc-cosine kernel, to 1e-13."""
    net = sp.mlp("relu", depth=50, init=M.looks_linear())
    c = np.linspace(-1, 1, 21)
    res = net.ntk(c, q=1.5)
    np.testing.assert_allclose(res.per_layer[0], 1.5 * c, atol=1e-13)
    np.testing.assert_allclose(res.per_layer[1:], np.broadcast_to(1.5 * _arccos_kernel(c), (50, c.size)),
                               atol=1e-13)
    assert res.per_layer[1, 10] == pytest.approx(1.5 / np.pi, abs=1e-13)  # c = 0


def _empirical_ntk_per_layer(widths, x, y, seed):
    """⟨∂f(x)/∂θ_l, ∂f(y)/∂θ_l⟩ for each layer of a finite Looks-Linear ReLU network in NTK parametrisation:
    h¹ = ω⁰x/√d₀, h^{l+1} = √2·[A, B]ρ(h^l)/√(2N) with ρ = [relu(h); relu(−h)], A = V and B = −V at
    initialisation (V standard normal), trained as independent parameters; the output h^L has width 1."""
    keys = jax.random.split(jax.random.PRNGKey(seed), len(widths))
    params = [jax.random.normal(keys[0], (widths[1], widths[0]))]
    for k, n_in, n_out in zip(keys[1:], widths[1:-1], widths[2:]):
        v = jax.random.normal(k, (n_out, n_in))
        params.append((v, -v))

    def f(params, x):
        h = params[0] @ x / jnp.sqrt(x.shape[0])
        for a, b in params[1:]:
            h = jnp.sqrt(2.0) * (a @ jax.nn.relu(h) + b @ jax.nn.relu(-h)) / jnp.sqrt(2.0 * h.shape[0])
        return h[0]

    gx, gy = jax.grad(f)(params, x), jax.grad(f)(params, y)
    return np.array([float(sum(jnp.vdot(u, v) for u, v in zip(jax.tree_util.tree_leaves(a),
                                                               jax.tree_util.tree_leaves(b))))
                     for a, b in zip(gx, gy)])


@pytest.mark.parametrize("c0", [-0.5, 0.0, 0.6])
def test_ntk_matches_a_finite_looks_linear_network(c0):
    """Finite width (N = 2048, 4 layers, jax.grad): the per-layer NTK against sigprop's infinite-width one. The
    network is linear, so the backward vectors are the same for both inputs and Θ_l(x, y)/√(Θ_l(x, x)Θ_l(y, y))
    is the CReLU features' cosine; Monte-Carlo spread ~0.3/√N ≈ 0.007, tolerance 0.03 (and 0.15 on the
    scale Θ_l(x, x)/Θ_0(x, x), whose backward norms fluctuate by ~√(2/N) a layer)."""
    d0, width, depth = 512, 2048, 4
    with jax.enable_x64(True):
        k1, k2 = jax.random.split(jax.random.PRNGKey(7))
        u, w = jax.random.normal(k1, (d0,)), jax.random.normal(k2, (d0,))
        u = u / jnp.linalg.norm(u) * jnp.sqrt(d0)
        w = w - jnp.vdot(w, u) / d0 * u
        w = w / jnp.linalg.norm(w) * jnp.sqrt(d0)
        x, y = u, c0 * u + np.sqrt(1 - c0**2) * w  # |x|²/d₀ = |y|²/d₀ = 1, cosine c0
        widths = (d0,) + (width,) * depth + (1,)
        xy = _empirical_ntk_per_layer(widths, x, y, seed=3)
        xx = _empirical_ntk_per_layer(widths, x, x, seed=3)
        yy = _empirical_ntk_per_layer(widths, y, y, seed=3)
    want = sp.mlp("relu", depth=depth, init=M.looks_linear()).ntk(np.array([c0])).per_layer[:, 0]
    np.testing.assert_allclose(xy / np.sqrt(xx * yy), want, atol=0.03)
    np.testing.assert_allclose(xx / xx[0], 1.0, atol=0.15)


def test_looks_linear_rejects_non_relu_family():
    with pytest.raises(ActivationError, match="Looks-Linear"):
        M.looks_linear("tanh")
