"""The neural tangent kernel (NTK) of a deep network at infinite width, as a function of the input cosine.

Convention (NTK parametrisation, Jacot et al. 2018; neural-tangents' ``parameterization='ntk'``): the input
x ∈ R^{d₀} enters through a trained input layer ``h⁰ = W⁰x/√d₀`` (so q₀ = |x|²/d₀ and c₀ is the input
cosine), then ``hˡ = σ_w Wˡ φ(hˡ⁻¹)/√N + σ_b bˡ`` for l = 1 … L with standard normal W, b; the output is
``h^L`` (width 1). The kernel maps are those of :mod:`sigprop.network` (``h' = Wφ(h) + b``, W ~ N(0, σ_w²/N)).

With c_l, q_l the cosine/variance trajectory and ``C'_k`` the slope of layer k+1's C map at c_k, the
contribution of layer l's parameters (W⁰ for l = 0; Wˡ, bˡ for l ≥ 1) is

    Θ_l(c) = q_L · c_l · ∏_{k=l}^{L−1} C'_k(c_k),        Θ(c) = Σ_{l=0}^{L} Θ_l(c),

i.e. Jacot's recursion Θ ← Θ·σ_w²E[φ'(u)φ'(v)] + (σ_w²E[φ(u)φ(v)] + σ_b²) written with normalised maps
(C'_k = σ_w² q_k E[φ'φ']/q_{k+1} telescopes the variances to q_L). In the q ≡ 1 world of DKS/TAT (Q(1) = 1)
Θ_l = c_l ∏ C'(c_k): a linear (or Looks-Linear) network has Θ_l ≡ c₀, and DKS bounds |Θ_l − c₀| by
``ntk_bound(ζ) = 11(ζ − 1)`` (Martens et al. 2021). Residual networks are not supported here yet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from .errors import ConfigurationError, DivergenceError

__all__ = ["NTKResult", "ntk", "ntk_bound", "ntk_condition_numbers", "circle_cosines"]


@dataclass(frozen=True, eq=False)
class NTKResult:
    """``per_layer`` (depth + 1, len(c)): Θ_l(c); ``total`` (len(c),): Θ(c) = Σ_l Θ_l; ``c`` the input cosines;
    ``q_out`` = q_L. ``normalised`` = Θ/(L + 1), which equals c for a linear network in the q ≡ 1 world."""

    c: np.ndarray
    per_layer: np.ndarray
    total: np.ndarray
    q_out: float

    @property
    def depth(self) -> int:
        return self.per_layer.shape[0] - 1

    @property
    def normalised(self) -> np.ndarray:
        return self.total / (self.depth + 1)


def _dense_layers(net):
    """The network's Dense layers in order, or a clear error for architectures this module does not cover."""
    from .network import Dense

    body = getattr(net, "body", None)
    if body is None:
        raise ConfigurationError(f"ntk needs a sigprop Network, got {type(net).__name__}")
    runs = []
    for unit, times in body.runs:
        if not isinstance(unit, Dense):
            raise ConfigurationError("the per-layer NTK is implemented for plain networks (sp.mlp); "
                                     f"{getattr(net, 'name', 'this network')} has residual blocks")
        runs.append((unit, int(times)))
    return runs


@lru_cache(maxsize=64)
def _dot_cross_fn(kern):
    """jit(vmap over layers) of E[φ'(u)φ'(v)] at (q_k, c_k) (kernels are cached by the activation)."""
    return jax.jit(jax.vmap(kern.dot_cross))


def _slopes(runs, q_traj, c_traj):
    """C'_k(c_k) for k = 0 … L−1, shape (L, n): layer k+1's σ_w² q_k E[φ'(u)φ'(v)] / q_{k+1}."""
    out, row = [], 0
    q_max = float(np.max(q_traj))
    with jax.enable_x64(True):
        for layer, times in runs:
            kern = layer.phi.kernel(q_max)
            qs = jnp.asarray(q_traj[row:row + times])
            cs = jnp.asarray(c_traj[row:row + times])
            dot = _dot_cross_fn(kern)(qs, cs)
            sw2 = layer.sigma_w**2
            out.append(np.asarray(sw2 * qs[:, None] * dot / jnp.asarray(q_traj[row + 1:row + 1 + times])[:, None]))
            row += times
    return np.concatenate(out, axis=0)


def ntk(net, c, q: float = 1.0) -> NTKResult:
    """Per-layer and total infinite-width NTK Θ_l(c), Θ(c) of ``net`` for two inputs of variance ``q`` and
    cosine ``c`` (see the module docstring for the formula and the parametrisation)."""
    runs = _dense_layers(net)
    c = np.atleast_1d(np.asarray(c, dtype=float))
    if c.ndim != 1 or not np.all(np.isfinite(c)) or np.any(np.abs(c) > 1):
        raise ConfigurationError("c must be a 1-D array of cosines in [-1, 1]")
    c_traj = np.asarray(net.c_trajectory(c, q), dtype=float)  # (L+1, n)
    q_traj = np.asarray(net.q_trajectory(q), dtype=float)  # (L+1,)
    slopes = _slopes(runs, q_traj, c_traj)  # (L, n)
    # suffix products P_l = ∏_{k=l}^{L-1} C'_k, P_L = 1
    with np.errstate(over="ignore", invalid="ignore"):
        suffix = np.concatenate([np.cumprod(slopes[::-1], axis=0)[::-1], np.ones((1, c.size))], axis=0)
        per_layer = q_traj[-1] * c_traj * suffix
    if not np.all(np.isfinite(per_layer)):
        raise DivergenceError("the NTK overflows: the backward signal grows without bound (chaotic phase); "
                              "reduce the depth or σ_w")
    return NTKResult(c=c, per_layer=per_layer, total=per_layer.sum(axis=0), q_out=float(q_traj[-1]))


def ntk_bound(zeta: float) -> float:
    """The DKS bound 11(ζ − 1) on |Θ_l(x, x') − xᵀx'/d₀| for a network whose C_f'(1) ≤ ζ (Martens et al.
    2021; theory.md §3 — the constant is quoted, not re-derived here)."""
    try:
        z = float(zeta)
    except (TypeError, ValueError):
        raise ConfigurationError(f"zeta must be a number, got {zeta!r}") from None
    if not math.isfinite(z) or z < 1:
        raise ConfigurationError(f"zeta must be finite and ≥ 1, got {z}")
    return 11.0 * (z - 1.0)


def circle_cosines(n_points: int) -> np.ndarray:
    """Cosines cos(2πj/n), j = 0 … n−1, between n equally spaced points on a circle and the first one."""
    n = int(n_points)
    if n < 2:
        raise ConfigurationError("n_points must be ≥ 2")
    return np.cos(2 * np.pi * np.arange(n) / n)


def ntk_condition_numbers(net, n_points: int = 16, q: float = 1.0) -> np.ndarray:
    """Condition number κ = λ_max/λ_min of the NTK Gram matrix of ``n_points`` equally spaced points on a
    circle (inputs of variance q), for the depth-l prefix of ``net``, l = 0 … L (the trainability measure of
    Xiao et al. 2020). The Gram matrix is circulant, so its eigenvalues are the DFT of its first row.
    κ = inf where λ_min ≤ 0 (e.g. l = 0: the linear kernel of 2-D inputs has rank 2)."""
    runs = _dense_layers(net)
    c = circle_cosines(n_points)
    c_traj = np.asarray(net.c_trajectory(c, q), dtype=float)
    q_traj = np.asarray(net.q_trajectory(q), dtype=float)
    slopes = _slopes(runs, q_traj, c_traj)
    theta = q_traj[0] * c_traj[0]
    thetas = [theta]
    for k in range(slopes.shape[0]):  # Θ^{(k+1)} = Θ^{(k)} · σ_w² E[φ'φ'] + q_{k+1} c_{k+1}
        theta = theta * slopes[k] * q_traj[k + 1] / q_traj[k] + q_traj[k + 1] * c_traj[k + 1]
        thetas.append(theta)
    eig = np.real(np.fft.fft(np.asarray(thetas), axis=1))  # circulant: eigenvalues = DFT of the first row
    lmax, lmin = eig.max(axis=1), eig.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(lmin > 1e-13 * np.abs(lmax), lmax / lmin, np.inf)
    return kappa
