"""Local (per-layer) maps at unit variance of a shaped activation, in NumPy: the conditions DKS, TAT and EOC solve.

For ``φ̂(x) = γ(φ(αx + β) + δ)`` and ``z ~ N(0, 1)`` (Martens et al. 2021, arXiv:2110.01765, §"Summary of
our method"; Zhang et al. 2022, arXiv:2203.08120, §4):

- ``Q(1) = E[φ̂(z)²]``,           ``Q'(1) = E[φ̂(z) φ̂'(z) z]`` (d/dq of E[φ̂(√q z)²] at q = 1),
- ``C(0) = E[φ̂(z)]² / Q(1)``,    ``C'(1) = E[φ̂'(z)²] / Q(1)``,    ``C''(1) = E[φ̂''(z)²] / Q(1)``.

φ̂, φ̂' and φ̂'' come from the activation's NumPy jet (:mod:`sigprop.jets`), so a solve costs vectorised
NumPy work on a fixed quadrature rule and never traces or compiles a JAX graph (the reason a first
``sp.dks`` call is fast). Every function takes α, β (and δ) as arrays of one shape ``S`` (many starting points
of a root search at once) and returns arrays of that shape.

Quadrature (``E[g(αz + β)] ≈ Σ w g(αz_i + β)``):

- smooth φ: composite Gauss–Legendre on [−10, 10], 20 unit panels of ``n`` nodes, the N(0, 1) density in the
  weights (truncation e^{−50}). Unlike Gauss–Hermite it stays accurate when φ(αz + β) is sharp: 160-node
  Gauss–Hermite is off by 5e-8 for softplus(4z + 0.3), 12 nodes per panel give ~1e-13;
- kinked φ: Gauss–Legendre split at the kinks ``(k − β)/α`` on [−16, 16], 64 nodes per piece (exact to
  rounding for the ReLU family's piecewise polynomials); unknown kinks: 48 pieces of 24 nodes.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .quadrature import TRUNCATION, gauss_legendre

#: nodes per unit panel for smooth φ (solvers); 8 gives ~1e-13 at q ≈ 1 (display)
SMOOTH_NODES = 12
#: Gauss–Legendre nodes per piece between kinks
PIECE_NODES = 64
#: nodes per piece of the rule for a smooth φ at large α (:func:`rule`, ``scaled``): pieces at most one unit wide
#: in z and in x = αz + β
SCALED_NODES = 12
#: the α above which a smooth φ's rule is split in x as well (``scaled``): on unit panels in z alone, E[φ(αz)²] is
#: within 2e-13 of mpmath up to α = 2 for tanh, GELU, swish and softplus (5e-13 with 8 nodes a panel)
SCALED_FROM = 2.0


@lru_cache(maxsize=16)
def smooth_rule(n_per_panel: int = SMOOTH_NODES, half_width: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss–Legendre on [−h, h] in unit panels, weights including the N(0, 1) density."""
    t, wt = gauss_legendre(n_per_panel)
    centres = np.arange(-half_width + 0.5, half_width, 1.0)
    z = (centres[:, None] + 0.5 * t[None, :]).ravel()
    w = np.tile(0.5 * wt, centres.size) * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    for a in (z, w):
        a.setflags(write=False)
    return z, w


def split_rule(breaks: np.ndarray, n_per_piece: int = PIECE_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre on [−Z, Z] split at ``breaks`` (shape ``S + (k,)``, z positions, any order):
    nodes and weights of shape ``S + (n_pieces · n_per_piece,)``, weights including the N(0, 1) density."""
    breaks = np.clip(np.asarray(breaks, dtype=float), -TRUNCATION, TRUNCATION)
    shape = breaks.shape[:-1]
    lo_edge = np.full(shape + (1,), -TRUNCATION)
    edges = np.concatenate([lo_edge, np.sort(breaks, axis=-1), -lo_edge], axis=-1)
    t, wt = gauss_legendre(n_per_piece)
    lo, hi = edges[..., :-1, None], edges[..., 1:, None]
    half = (hi - lo) / 2
    z = (lo + hi) / 2 + half * t
    w = half * wt * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    n = (breaks.shape[-1] + 1) * n_per_piece
    return z.reshape(shape + (n,)), w.reshape(shape + (n,))


_UNKNOWN_KINK_BREAKS = np.linspace(-12, 12, 49)[1:-1]


#: the coarse rule for root searches from many starts: 8 nodes per panel on [−8, 8] (~1e-13 at moderate α);
#: roots found with it are polished on the default rule
COARSE = (8, 8)


#: x = αz + β positions (unit apart) that :func:`rule` adds as breaks for a smooth φ at large α (``scaled``)
_FEATURE_BREAKS = np.arange(-10.0, 11.0)
_UNIT_BREAKS = np.arange(-9.0, 10.0)


def rule(kinks, alpha, beta, smooth=(SMOOTH_NODES, 10), scaled: bool = False):
    """Nodes and weights for ``E[g(αz + β)]`` (z ~ N(0, 1)) of a φ with kinks at ``kinks`` (x positions;
    ``()`` smooth, ``None`` unknown), broadcast against α, β of shape S: arrays of shape ``S + (n,)``.
    ``smooth`` = (nodes per panel, half-width) of the smooth rule.

    ``scaled`` (smooth φ, some α > :data:`SCALED_FROM`): the unit panels in z are also split at
    ``z = (j − β)/α``, |j| ≤ 10, so that where φ has its features (|x| ≲ 10) the panels are one unit wide in x
    whatever α is. Unit panels in z alone resolve φ(αz) only up to α ≈ 2: at q = α² = 64 tanh's E[φ²] is off by
    9e-7 relative on them; with the breaks and :data:`SCALED_NODES` nodes a piece, by at most 5e-12 (E[φ²], its
    q-slope, E[φ'²]) for tanh, GELU, swish and softplus up to q = 1024 (mpmath, tests/test_local_maps_scaled.py)."""
    alpha, beta = np.broadcast_arrays(np.asarray(alpha, dtype=float), np.asarray(beta, dtype=float))
    if kinks == () and scaled and np.any(alpha > SCALED_FROM):
        breaks = np.concatenate([np.broadcast_to(_UNIT_BREAKS, alpha.shape + _UNIT_BREAKS.shape),
                                 (_FEATURE_BREAKS - beta[..., None]) / alpha[..., None]], axis=-1)
        return split_rule(breaks, SCALED_NODES)
    if kinks == ():
        z, w = smooth_rule(*smooth)
        return np.broadcast_to(z, alpha.shape + z.shape), np.broadcast_to(w, alpha.shape + w.shape)
    if kinks is None:
        z, w = split_rule(_UNKNOWN_KINK_BREAKS, 24)
        return np.broadcast_to(z, alpha.shape + z.shape), np.broadcast_to(w, alpha.shape + w.shape)
    k = np.asarray(kinks, dtype=float)
    return split_rule((k - beta[..., None]) / alpha[..., None])


def moments(phi, alpha, beta, order: int = 1, smooth=(SMOOTH_NODES, 10), scaled: bool = False):
    """Values of φ(αz + β) and its derivatives on the rule: ``(z, w, [φ, φ', (φ'')])``, each of shape S + (n,).

    ``phi`` is an :class:`~sigprop.activations.Activation` (its own transform is applied first); ``scaled``: see
    :func:`rule`."""
    return values(phi.derivatives, _kinks(phi), alpha, beta, order, smooth, scaled)


def values(derivatives, kinks, alpha, beta, order: int = 1, smooth=(SMOOTH_NODES, 10), scaled: bool = False):
    """:func:`moments` of a function given by its NumPy ``derivatives(x) -> (f, f', f'')`` and its ``kinks``
    (x positions; ``()`` smooth, ``None`` unknown): the one place where Gaussian expectations of an activation
    are taken by quadrature in NumPy (the shaping conditions here, the Edge of Chaos and the moments of the
    dual kernels without a closed form, :class:`sigprop.kernels.MehlerKernel`)."""
    alpha = np.asarray(alpha, dtype=float)
    if kinks == () and not (scaled and (alpha > SCALED_FROM).any()):  # one rule for all (α, β): unbroadcast
        z, w = smooth_rule(*smooth)
        shift = beta if np.ndim(beta) == 0 else np.asarray(beta, dtype=float)[..., None]
        x = alpha[..., None] * z + shift
    else:
        alpha, beta = np.broadcast_arrays(alpha, np.asarray(beta, dtype=float))
        z, w = rule(kinks, alpha, beta, smooth, scaled)
        x = alpha[..., None] * z + beta[..., None]
    f0, f1, f2 = derivatives(x)
    return z, w, (f0, f1, f2)[: order + 1]


def variance_moments(derivatives, kinks, q, transform=(1.0, 0.0, 1.0, 0.0)) -> dict[str, np.ndarray]:
    """Moments of ``φ̂(x) = γ(f(αx + β) + δ)`` at ``x = √q z``, z ~ N(0, 1), for an array of variances q > 0, on
    the rule resolved at every scale (``scaled``): ``E[φ̂²]``, ``E[φ̂]``, ``E[φ̂'²]``, ``E[φ̂''²]`` and the q-slopes
    ``d/dq E[φ̂²] = E[φ̂ φ̂' z]/√q``, ``d/dq E[φ̂] = E[φ̂' z]/(2√q)`` (differentiation under the integral;
    Poole et al. 2016, arXiv:1606.05340, Eq. 3). Where φ̂ = 0 at a node where φ̂' is infinite (√relu at 0) the
    product φ̂ φ̂' counts as 0."""
    alpha, beta, gamma, delta = transform
    q = np.asarray(q, dtype=float)
    large = alpha * np.sqrt(q) > SCALED_FROM
    if kinks == () and q.size > 1 and large.any() and not large.all():  # the resolved rule only where needed
        parts = [variance_moments(derivatives, kinks, q[~large], transform),
                 variance_moments(derivatives, kinks, q[large], transform)]
        out = {}
        for name in parts[0]:
            out[name] = np.empty(q.shape)
            out[name][~large], out[name][large] = parts[0][name], parts[1][name]
        return out
    sq = np.sqrt(q)
    with np.errstate(all="ignore"):
        z, w, (f0, f1, f2) = values(derivatives, kinks, alpha * sq, beta, 2, scaled=True)
        if transform != (1.0, 0.0, 1.0, 0.0):
            f0, f1, f2 = gamma * (f0 + delta), gamma * alpha * f1, gamma * alpha * alpha * f2
        f01 = f0 * f1
        if not np.isfinite(f01).all():
            f01 = np.where(f0 == 0.0, 0.0, f01)
        wz = w * z
        return {"second": _contract(f0 * f0, w), "mean": _contract(f0, w), "dot": _contract(f1 * f1, w),
                "ddot": _contract(f2 * f2, w), "second_slope": _contract(f01, wz) / sq,
                "mean_slope": _contract(f1, wz) / (2 * sq)}


def _contract(a, w):
    """``Σ_n a_n w_n`` over the last axis (a matrix-vector product when the rule is shared)."""
    return a @ w if w.ndim == 1 else np.einsum("...n,...n->...", a, w)


def _kinks(phi):
    """x positions of φ's kinks (moved by its own transform): () smooth, None unknown."""
    if phi.smooth:
        return ()
    k = phi.kernel_kinks
    return None if k is None else tuple(float(v) for v in k)


def dks_conditions(phi, alpha, beta, smooth=(SMOOTH_NODES, 10)):
    """DKS at (α, β), with δ = −E[φ(αz + β)] (so C(0) = 0) and γ from Q(1) = 1:
    ``(Q'(1), C'(1)), (γ, δ)``, each an array of α's shape."""
    z, w, (f0, f1) = moments(phi, alpha, beta, 1, smooth)
    return dks_conditions_from_values(z, w, alpha, f0, f1)


def dks_conditions_from_values(z, w, alpha, f0, f1):
    """:func:`dks_conditions` from φ(αz + β) and φ'(αz + β) on the rule (z, w)."""
    if w.ndim == 1:  # one rule for all (α, β): contractions as matrix-vector products (ndarray.dot: the
        # hybr residual calls this one point at a time, where dot's overhead is half matmul's)
        m = f0.dot(w)
        s = f0 - m[..., None]
        g2 = 1.0 / (s * s).dot(w)
        q_slope = g2 * alpha * (s * f1).dot(w * z)
        c_slope = g2 * alpha**2 * (f1 * f1).dot(w)
        return (q_slope, c_slope), (np.sqrt(g2), -m)
    m = np.sum(w * f0, axis=-1)
    s = f0 - m[..., None]
    g2 = 1.0 / np.sum(w * s * s, axis=-1)
    q_slope = g2 * alpha * np.sum(w * s * f1 * z, axis=-1)
    c_slope = g2 * alpha**2 * np.sum(w * f1 * f1, axis=-1)
    return (q_slope, c_slope), (np.sqrt(g2), -m)


def tat_conditions(phi, alpha, beta, delta, smooth=(SMOOTH_NODES, 10)):
    """TAT (smooth φ) at (α, β, δ), γ from Q(1) = 1: ``(Q'(1), C'(1), C''(1)), γ``."""
    z, w, (f0, f1, f2) = moments(phi, alpha, beta, 2, smooth)
    s = f0 + np.asarray(delta)[..., None]
    g2 = 1.0 / np.sum(w * s * s, axis=-1)
    q_slope = g2 * alpha * np.sum(w * s * f1 * z, axis=-1)
    c_slope = g2 * alpha**2 * np.sum(w * f1 * f1, axis=-1)
    c_curv = g2 * alpha**4 * np.sum(w * f2 * f2, axis=-1)
    return (q_slope, c_slope, c_curv), np.sqrt(g2)


def finite_curvature(phi) -> bool:
    """Whether C''(1) = E[φ''²] is finite: φ smooth, or its first derivative continuous at every (known) kink
    (ELU, softsign: C¹ with a jump in φ''), checked on the jets at k ± 1e-7·max(1, |k|) to 1e-5 relative."""
    if phi.smooth:
        return True
    kinks = phi.kernel_kinks
    if kinks is None:
        return False
    k = np.asarray(kinks, dtype=float)
    h = 1e-7 * np.maximum(1.0, np.abs(k))
    with np.errstate(all="ignore"):
        left, right = phi.derivatives(k - h)[1], phi.derivatives(k + h)[1]
    scale = np.maximum(1.0, np.maximum(np.abs(left), np.abs(right)))
    return bool(np.all(np.isfinite(left) & np.isfinite(right) & (np.abs(right - left) <= 1e-5 * scale)))


def local_maps(phi, alpha=1.0, beta=0.0, gamma=1.0, delta=0.0) -> dict[str, float]:
    """``Q(1), Q'(1), C(0), C'(1), C''(1)`` of ``γ(φ(αz + β) + δ)`` (C''(1) = inf where φ' jumps)."""
    z, w, (f0, f1, f2) = moments(phi, np.asarray(alpha, dtype=float), np.asarray(beta, dtype=float), 2)
    s0, s1, s2 = gamma * (f0 + delta), gamma * alpha * f1, gamma * alpha * alpha * f2
    q1 = float(w @ s0**2)
    out = {"Q(1)": q1, "Q'(1)": float(w @ (s0 * s1 * z)), "C(0)": float(w @ s0) ** 2 / q1,
           "C'(1)": float(w @ s1**2) / q1, "C''(1)": float(w @ s2**2) / q1}
    if not finite_curvature(phi):
        out["C''(1)"] = math.inf
    return out
