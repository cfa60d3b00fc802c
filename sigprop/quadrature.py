"""Gaussian quadrature rules and Hermite (Mehler) coefficients.

Expectations over ``z ~ N(0, 1)`` are computed with

- probabilists' Gauss–Hermite rules (weight ``exp(-z²/2)``, normalised to sum 1) for smooth integrands;
- composite Gauss–Legendre rules on ``[-Z, Z]`` split at the kinks of the integrand, for functions whose
  derivative jumps (a Gauss–Hermite rule across a kink converges only algebraically, ~1e-3).

The Hermite coefficients of ``f(z) = Σ_k a_k He_k(z)/√k!`` are ``a_k = E[f(z) He_k(z)/√k!]``; by Mehler's
formula ``E[f(u) f(v)] = Σ_k a_k² c^k`` for standard normals ``u, v`` with correlation ``c``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.special import roots_hermitenorm, roots_legendre

from ._lazy import Lazy

jnp = Lazy("jax.numpy")

#: Half-width of the truncated Gaussian domain for Gauss–Legendre rules: exp(-Z²/4) ≈ 1.6e-28.
TRUNCATION = 16.0


@lru_cache(maxsize=64)
def gauss_hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights with ``Σ w_i f(x_i) ≈ E[f(z)]``, z ~ N(0, 1); exact for polynomials of degree < 2n."""
    x, w = roots_hermitenorm(n)
    w = w / w.sum()
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


@lru_cache(maxsize=64)
def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on ``[-1, 1]``. Beyond 100 nodes scipy's (asymptotic) weights are off by
    ~1e-14 relative in sum (2e-14 at n = 1,120, which put a DKS-shaped ELU's Q(1) 2.5e-13 from 1): the nodes
    get one Newton step on P_n and the weights are recomputed as 2/((1 − x²) P_n'(x)²), by the three-term
    recurrence (error ~4e-16 at n = 1,120; once per n, cached)."""
    x, w = roots_legendre(n)
    if n > 100:
        p, dp = _legendre(n, x)
        x = x - p / dp
        dp = _legendre(n, x)[1]
        w = 2.0 / ((1.0 - x * x) * dp * dp)
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


def _legendre(n: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P_n(x) and P_n'(x) by the recurrence k P_k = (2k − 1) x P_{k−1} − (k − 1) P_{k−2} (|x| < 1)."""
    p0, p1 = np.ones_like(x), x.copy()
    for k in range(2, n + 1):
        p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
    return p1, n * (x * p1 - p0) / (x * x - 1.0)


def piecewise_gaussian_rule(breaks, n_per_piece: int, xp=jnp):
    """Nodes/weights for ``E[f(z)]`` by Gauss–Legendre on ``[-Z, Z]`` split at ``breaks`` (z positions).

    ``breaks`` may be traced JAX values (kinks move with q); they are clipped to ``[-Z, Z]`` and sorted.
    The weights include the Gaussian density, so ``Σ w_i f(z_i) ≈ E[f(z)]``.
    """
    t, wt = gauss_legendre(n_per_piece)
    edges = xp.concatenate([xp.array([-TRUNCATION]), xp.sort(xp.clip(xp.asarray(breaks, dtype=float),
                                                                    -TRUNCATION, TRUNCATION)),
                            xp.array([TRUNCATION])])
    lo, hi = edges[:-1, None], edges[1:, None]
    half = (hi - lo) / 2
    z = (lo + hi) / 2 + half * t[None, :]
    w = half * wt[None, :] * xp.exp(-z * z / 2) / np.sqrt(2 * np.pi)
    return z.reshape(-1), w.reshape(-1)


def hermite_functions(x, order: int, xp=jnp):
    """Scaled Hermite functions ``ψ_k(x) = e^{−x²/4} He_k(x)/√k!`` for ``k < order``, shape (order, len(x)).

    Recurrence ``ψ_{k+1} = (x ψ_k − √k ψ_{k−1}) / √(k+1)``; the factor e^{−x²/4} keeps |ψ_k| ≲ 1 (no overflow).
    Pair them with :func:`scaled_weights`: ``E[f(z) He_k(z)/√k!] ≈ Σ_i w̃_i f(z_i) ψ_k(z_i)``.
    """
    g = xp.exp(-x * x / 4)
    if xp is np:
        out = np.empty((order, *np.shape(x)))
        out[0] = g
        if order > 1:
            out[1] = x * g
        for k in range(1, order - 1):
            np.multiply(x, out[k], out=out[k + 1])
            out[k + 1] -= math.sqrt(k) * out[k - 1]
            out[k + 1] /= math.sqrt(k + 1)
        return out
    if order <= 2:
        return xp.stack([g, x * g][:order])
    # traced nodes (kinks that move with q): a scan, not an unrolled loop of `order` steps, which XLA compiles
    # in minutes for order 1024
    import jax

    ks = np.arange(1, order - 1, dtype=float)
    coef = np.stack([1.0 / np.sqrt(ks + 1), np.sqrt(ks) / np.sqrt(ks + 1)], axis=1)

    def step(carry, c):
        prev, cur = carry
        nxt = x * cur * c[0] - prev * c[1]
        return (cur, nxt), nxt

    _, rest = jax.lax.scan(step, (g, x * g), xp.asarray(coef))
    return xp.concatenate([g[None], (x * g)[None], rest], axis=0)


def scaled_weights(z, w, xp=jnp):
    """``w̃ = w e^{z²/4}``, computed in log space (0 where w underflowed to 0)."""
    pos = w > 0
    return xp.where(pos, xp.exp(xp.log(xp.where(pos, w, 1.0)) + z * z / 4), 0.0)


@lru_cache(maxsize=32)
def hermite_matrix(nodes_key: tuple, order: int) -> np.ndarray:
    """Cached ``hermite_functions`` for a fixed rule (NumPy, float64), keyed by ``(kind, n, ...)``."""
    kind, n = nodes_key[:2]
    if kind == "hermite":
        x, _ = gauss_hermite(n)
    else:  # ("legendre", n_per_piece, breaks...)
        x, _ = piecewise_gaussian_rule(np.array(nodes_key[2:], dtype=float), n, xp=np)
    m = hermite_functions(np.asarray(x, dtype=float), order, xp=np)
    m.setflags(write=False)
    return m


def gaussian_expectation(f, q=1.0, kinks=(), n: int = 128):
    """``E[f(√q z)]`` for z ~ N(0, 1) (NumPy/JAX callable ``f``), splitting the rule at ``kinks`` (x positions).

    Smooth ``f`` (no kinks): Gauss–Hermite with ``n`` nodes. With kinks: Gauss–Legendre, ``n`` nodes per
    piece between kinks on ``[-16, 16]``.
    """
    sq = np.sqrt(q)
    if not kinks:
        x, w = gauss_hermite(n)
    else:
        x, w = piecewise_gaussian_rule(np.asarray(kinks, dtype=float) / sq, n, xp=np)
    return w @ f(sq * x)
