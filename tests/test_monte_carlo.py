"""Finite-width Monte Carlo: random networks simulated in JAX agree with sigprop's infinite-width q and c.

Two inputs x¹, x² ∈ R^N with |x|²/N = q₀ and cosine c₀ are used as the first pre-activations h⁰ (design.md
conventions); then hˡ = Wˡ φ(hˡ⁻¹) + bˡ with W_ij ~ N(0, σ_w²/N), b_i ~ N(0, σ_b²). For each seed the empirical
qˡ = |hˡ|²/N (of x¹) and cˡ = ⟨hˡ(x¹), hˡ(x²)⟩ / (|hˡ(x¹)| |hˡ(x²)|) are recorded; across S seeds their mean
must lie within 4 standard errors of sigprop's ``net.q_trajectory`` / ``net.c_trajectory`` (the finite-width
bias is O(1/N) ≈ 5e-4, far below the statistical error of ~1e-2). A negative control shows the test can fail.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sigprop as sp

WIDTH = 2048
SEEDS = 12
DEPTH = 3
Q0, C0 = 1.0, 0.3


def _network(phi, sigma_w, sigma_b):
    """A jitted function of one PRNG key: empirical (q_l, c_l), l = 0..DEPTH, of one random network (float32:
    the statistical error, ~1e-2, dwarfs float32 rounding)."""

    def run(key):
        key, k1, k2 = jax.random.split(key, 3)
        a = jax.random.normal(k1, (WIDTH,))
        b = jax.random.normal(k2, (WIDTH,))
        # exact input statistics: orthonormalise, mix to cosine C0, scale to |x|²/N = Q0
        a = a / jnp.linalg.norm(a)
        b = b - (b @ a) * a
        b = b / jnp.linalg.norm(b)
        h = jnp.stack([a, C0 * a + np.sqrt(1 - C0**2) * b]) * np.sqrt(Q0 * WIDTH)
        qs, cs = [], []
        for layer in range(DEPTH + 1):
            n1, n2 = jnp.linalg.norm(h[0]), jnp.linalg.norm(h[1])
            qs.append(n1**2 / WIDTH)
            cs.append(h[0] @ h[1] / (n1 * n2))
            if layer < DEPTH:
                key, kw, kb = jax.random.split(key, 3)
                w = jax.random.normal(kw, (WIDTH, WIDTH)) * (sigma_w / np.sqrt(WIDTH))
                h = phi(h) @ w.T + jax.random.normal(kb, (WIDTH,)) * sigma_b
        return jnp.stack(qs), jnp.stack(cs)

    return jax.jit(run)


@lru_cache(maxsize=8)
def _empirical(phi, sigma_w, sigma_b):
    """Mean and standard error over SEEDS independent networks of q_l and c_l."""
    run = _network(phi, sigma_w, sigma_b)
    runs = [run(jax.random.PRNGKey(seed)) for seed in range(SEEDS)]
    q = np.array([np.asarray(r[0], dtype=float) for r in runs])
    c = np.array([np.asarray(r[1], dtype=float) for r in runs])
    se = lambda x: x.std(axis=0, ddof=1) / np.sqrt(SEEDS)  # noqa: E731
    return q.mean(0), se(q), c.mean(0), se(c)


CASES = [("tanh", 1.5, 0.3), ("relu", 2.0**0.5, 0.1), ("erf(x)", 1.2, 0.0)]


@pytest.mark.slow
@pytest.mark.parametrize("spec, sigma_w, sigma_b", CASES)
def test_finite_width_simulation_matches_infinite_width(spec, sigma_w, sigma_b):
    phi = sp.activation(spec)
    q_mean, q_se, c_mean, c_se = _empirical(phi, sigma_w, sigma_b)
    net = sp.mlp(phi, depth=DEPTH, sigma_w=sigma_w, sigma_b=sigma_b)
    q_pred = net.q_trajectory(Q0)
    c_pred = net.c_trajectory(C0, q=Q0)[:, 0]
    # row 0 is the input, reproduced by construction (to float32 rounding)
    assert q_mean[0] == pytest.approx(Q0, rel=1e-5) and c_mean[0] == pytest.approx(C0, rel=1e-5)
    # the test has power: standard errors are a few percent at most (see also the negative control)
    assert np.all(q_se[1:] < 0.04 * q_pred[1:]) and np.all(c_se[1:] < 0.02)
    assert np.all(np.abs(q_mean[1:] - q_pred[1:]) <= 4 * q_se[1:]), (q_mean, q_pred, q_se)
    assert np.all(np.abs(c_mean[1:] - c_pred[1:]) <= 4 * c_se[1:]), (c_mean, c_pred, c_se)


@pytest.mark.slow
def test_simulation_rejects_a_wrong_prediction():
    """Negative control: predictions for σ_w 15 % off are rejected by the same 4-SE criterion."""
    spec, sigma_w, sigma_b = CASES[0]
    phi = sp.activation(spec)
    q_mean, q_se, c_mean, c_se = _empirical(phi, sigma_w, sigma_b)
    wrong = sp.mlp(phi, depth=DEPTH, sigma_w=1.15 * sigma_w, sigma_b=sigma_b)
    assert np.any(np.abs(q_mean[1:] - wrong.q_trajectory(Q0)[1:]) > 4 * q_se[1:])
    assert np.any(np.abs(c_mean[1:] - wrong.c_trajectory(C0, q=Q0)[1:, 0]) > 4 * c_se[1:])
