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

from ._lazy import Lazy

jnp = Lazy("jax.numpy")

#: Half-width of the truncated Gaussian domain for Gauss–Legendre rules: exp(-Z²/4) ≈ 1.6e-28.
TRUNCATION = 16.0


#: Newton steps allowed for the nodes of a rule (from the asymptotic guesses below 3–5 steps reach rounding)
_NODE_NEWTON = 12


def _newton_done(dx: np.ndarray, ratio: np.ndarray, x: np.ndarray) -> bool:
    """Whether the Newton step ``dx`` was the last one needed: the next, ≈ dx² f''/(2f') (quadratic
    convergence; ``ratio`` = f''/f'), is below 2e-17 relative for every node."""
    return bool(np.all(np.abs(dx * dx * ratio) <= 4e-17 * np.maximum(np.abs(x), 1.0)))


@lru_cache(maxsize=64)
def gauss_hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights with ``Σ w_i f(x_i) ≈ E[f(z)]``, z ~ N(0, 1); exact for polynomials of degree < 2n.

    The nodes are the zeros of He_n. Starting guesses come from the WKB quantisation of the Hermite function
    e^{−x²/4} He_n (a harmonic oscillator with turning point X = √(4n + 2)): the k-th largest zero
    x = X cos θ solves (X²/4)(θ − sin θ cos θ) = π(k − 1/4) (Tricomi's approximation, Szegő 1939 §6.32).
    Newton's method on the orthonormal h_k = He_k/√k! (h_n' = √n h_{n−1}) then converges in 3–5 steps; the
    Christoffel weights are ``1/(n h_{n−1}(x_i)²)`` (the weights of the normalised Gaussian measure); the
    recurrence is rescaled by powers of two, so no weight overflows or underflows before it should and none
    loses digits to the scaling (n ≤ 1,088 here)."""
    if n < 1:
        raise ValueError(f"a Gauss–Hermite rule needs n ≥ 1 nodes, got {n}")
    m = n // 2  # positive zeros
    k = np.arange(1, m + 1)
    X = math.sqrt(4 * n + 2)
    target = 4 * np.pi * (k - 0.25) / (X * X)  # θ − sin θ cos θ, increasing on (0, π/2]
    theta = np.clip(np.cbrt(1.5 * target), 1e-6, np.pi / 2)  # θ − sin θ cos θ ≈ 2θ³/3 near 0
    for _ in range(60):
        step = (theta - np.sin(theta) * np.cos(theta) - target) / (2 * np.sin(theta) ** 2)
        theta = np.clip(theta - step, 1e-6, np.pi / 2)
        if np.all(np.abs(step) <= 1e-15):
            break
    x = np.append(X * np.cos(theta), [0.0] if n % 2 else [])  # the positive zeros, and 0 for odd n
    for _ in range(_NODE_NEWTON):
        h, h_prev, scale = _hermite_pair(n, x)
        slope = math.sqrt(n) * h_prev  # h_n' = √n h_{n−1}
        curvature = x * slope - n * h  # h_n'' (Hermite's equation)
        dx = h / slope
        x = x - dx
        if _newton_done(dx, curvature / slope, x):
            break
    slope = slope - curvature * dx  # h_n' at the new x (error O(dx²))
    w = np.ldexp(1.0 / (slope * slope), -2 * scale)  # h was scaled by 2^−scale: exact
    order = np.argsort(x)
    pos, w_pos = x[order], w[order]  # increasing, 0 first for odd n
    nodes = np.concatenate([-pos[::-1][: m], pos])
    w = np.concatenate([w_pos[::-1][: m], w_pos])
    if not (nodes.size == n and np.all(np.diff(nodes) > 0) and np.all(np.isfinite(w))):
        raise ArithmeticError(f"Gauss–Hermite({n}): the Newton iteration for the nodes did not converge")
    w = w / w.sum()
    nodes.setflags(write=False)
    w.setflags(write=False)
    return nodes, w


def _hermite_pair(n: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(h_n(x), h_{n−1}(x)) · 2^−e`` and the integer ``e`` for the orthonormal h_k = He_k/√k! (n ≥ 1), by the
    recurrence ``h_{k+1} = (x h_k − √k h_{k−1})/√(k+1)``, rescaled by powers of two (exact) every 32 steps,
    as h_n grows like e^{x²/4}."""
    p0, p1 = np.ones_like(x), x.copy()
    scale = np.zeros(x.shape, dtype=int)
    for k in range(1, n):
        p0, p1 = p1, (x * p1 - math.sqrt(k) * p0) / math.sqrt(k + 1)
        if k % 32 == 0:
            e = np.frexp(np.maximum(np.abs(p1), np.abs(p0)))[1]
            p0, p1, scale = np.ldexp(p0, -e), np.ldexp(p1, -e), scale + e
    return p1, p0, scale


@lru_cache(maxsize=64)
def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on ``[-1, 1]``: the zeros of P_n from Tricomi's guesses
    ``cos(π(k − 1/4)/(n + 1/2)) (1 − 1/(8n²) + 1/(8n³))`` (7e-9 off at the ends for n = 1,120), polished by
    Newton's method on the three-term recurrence (3 passes) until the next step would be below rounding, and
    the weights ``2/((1 − x²) P_n'(x)²)`` with P_n' carried to the final node (∫eˣ to 4e-16 at n = 1,120;
    once per n, cached)."""
    if n < 1:
        raise ValueError(f"a Gauss–Legendre rule needs n ≥ 1 nodes, got {n}")
    k = np.arange(1, n // 2 + 1)
    x = np.cos(np.pi * (k - 0.25) / (n + 0.5)) * (1 - 1 / (8 * n * n) + 1 / (8 * n**3))
    x = np.append(x, [0.0] if n % 2 else [])  # the positive zeros (largest first), and 0 for odd n
    for _ in range(_NODE_NEWTON):
        p, dp = _legendre(n, x)
        curvature = (2 * x * dp - n * (n + 1) * p) / (1.0 - x * x)  # P_n'' (Legendre's equation)
        dx = p / dp
        x = x - dx
        if _newton_done(dx, curvature / dp, x):
            break
    dp = dp - curvature * dx  # P_n' at the new x (error O(dx²))
    w = 2.0 / ((1.0 - x * x) * dp * dp)
    m = n // 2
    nodes = np.concatenate([-x[:m], x[::-1]])
    w = np.concatenate([w[:m], w[::-1]])
    if not (nodes.size == n and np.all(np.diff(nodes) > 0)):
        raise ArithmeticError(f"Gauss–Legendre({n}): the Newton iteration for the nodes did not converge")
    nodes.setflags(write=False)
    w.setflags(write=False)
    return nodes, w


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
