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
    # its NTK per layer is the linear kernel c (q ≡ 1 world)
    np.testing.assert_allclose(net.ntk(c).per_layer, np.broadcast_to(c, (201, c.size)), atol=1e-13)


def test_looks_linear_rejects_non_relu_family():
    with pytest.raises(ActivationError, match="Looks-Linear"):
        M.looks_linear("tanh")
