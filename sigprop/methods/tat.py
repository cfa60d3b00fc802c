"""Tailored Activation Transformations (Zhang, Botev, Martens 2022, arXiv:2203.08120)."""

from __future__ import annotations

import math

import numpy as np

from ..activations import activation
from ..errors import ActivationError, ConfigurationError, UnachievableError
from ..local_maps import finite_curvature
from ..roots import brentq
from .architecture import _Arch, _architecture, _check_tol, bisect_increasing, local_curvature_target
from .common import _GLOBAL, _as_activation, _check_eta, _check_root, _check_tau
from .dks import _shaping_result, shaped_from_root
from .results import ShapingResult
from .solver import solve


def leaky_relu_c_map(c, negative_slope):
    """Local C map of the q-preserving leaky ReLU (γ = √(2/(1+s²))), from the arc-cosine kernel (Cho & Saul):
    C(c) = c + (1 − s)²/(π(1 + s²)) · (√(1 − c²) − c·arccos c)."""
    s = negative_slope
    c = np.clip(c, -1.0, 1.0)
    return c + (1 - s) ** 2 / (math.pi * (1 + s * s)) * (np.sqrt(1 - c * c) - c * np.arccos(c))


def _lrelu_cf0(arch: _Arch, s: float) -> float:
    if arch.plain:  # tight scalar loop (math, not numpy): ~0.2 µs per layer
        k = (1 - s) ** 2 / (math.pi * (1 + s * s))
        c = 0.0
        for _ in range(arch.depth):
            c = c + k * (math.sqrt(max(1 - c * c, 0.0)) - c * math.acos(min(c, 1.0)))
        return c
    return float(arch.subnet_max(0.0, lambda c: float(leaky_relu_c_map(c, s))))


def min_depth_for_eta(eta: float, max_depth: int = 10**6) -> int:
    """Smallest depth L of a plain leaky-ReLU MLP able to reach C_f(0) = η (its best is the ReLU limit s = 0:
    iterate the ReLU C map from c = 0 until it reaches η)."""
    eta = _check_eta(eta)
    c, k = 0.0, 1.0 / math.pi
    for L in range(0, max_depth + 1):
        if c >= eta - 1e-15:
            return max(L, 1)
        c = c + k * (math.sqrt(max(1 - c * c, 0.0)) - c * math.acos(min(c, 1.0)))
    raise UnachievableError(f"η = {eta:g} needs depth > {max_depth}")


def tat(phi, depth=None, network=None, eta: float | None = None, tau: float | None = None, *, root: str = "dks",
        target_tol: float | None = None) -> ShapingResult:
    """Tailored Activation Transformations (Zhang et al. 2022).

    - Leaky ReLU: γ = √(2/(1+s²)) (so Q(q) = q) and the negative slope s ∈ [0, 1] such that the whole
      network's C_f(0) = η (default 0.9), computed by composing the closed-form local C map through the
      network (``subnet_max(0, C)``) and Brent's method on s.
    - Smooth φ, and φ whose first derivative is continuous (ELU: C¹, so C''(1) = E[φ̂''²] is finite):
      φ̂(x) = γ(φ(αx + β) + δ) with Q(1) = 1, Q'(1) = 1, C'(1) = 1 and local C''(1) = κ⁻¹(τ) (τ/L for a
      depth-L MLP; τ default 0.3), so the network's C_f''(1) = τ; roots with |α|·γ ≥ 2 are rejected (as in dks).
    ReLU cannot be tailored (C'(1) > 1 whatever the slope 0): use leaky_relu.
    ``root`` and ``target_tol`` as in :func:`~sigprop.methods.dks.dks` (dks's rule and tolerance 1e-8 for the
    inversions of κ and of the leaky-ReLU C_f(0)).
    """
    phi = _as_activation(phi)
    root = _check_root(root)
    tol = _check_tol(target_tol)
    arch = _architecture(depth, network)
    base_name = phi.name if not phi.is_transformed else None
    if base_name == "relu":
        raise ActivationError("TAT cannot shape ReLU (its slope is fixed); use 'leaky_relu', whose negative "
                              "slope TAT chooses so that the network's C(0) = η.")
    if base_name == "leaky_relu":
        if tau is not None:
            raise ConfigurationError("tau applies to smooth activations; leaky ReLU TAT uses eta")
        eta = _check_eta(0.9 if eta is None else eta)
        gkey = (phi, "tat", eta, arch.key, tol)
        if arch.key is not None and (hit := _GLOBAL.get(gkey)) is not None:
            return hit
        res = _tat_leaky(phi, eta, arch, tol)
    else:
        if eta is not None:
            raise ConfigurationError("eta applies to leaky ReLU; smooth activations use tau")
        if not finite_curvature(phi):
            raise ActivationError(
                f"TAT with a C''(1) target needs C''(1) = E[φ̂''²] < ∞, i.e. a continuous φ'; the derivative of "
                f"{phi.display_name} jumps at a kink, so C''(1) = ∞ whatever the transform. Use leaky_relu "
                "(TAT's η target) or an activation with a continuous derivative (e.g. elu, softplus).")
        tau = _check_tau(0.3 if tau is None else tau)
        gkey = (phi, "tat", tau, arch.key, root, tol)
        if arch.key is not None and (hit := _GLOBAL.get(gkey)) is not None:
            return hit
        if arch.plain and tol is None:
            t_curv = tau / arch.depth
        else:
            t_curv = local_curvature_target(tau, network=arch.subnet_max, target_tol=tol)
        _check_slope_allows_tat(phi)
        res = shaped_from_root(
            "TAT", phi, solve(phi, "tat", (1.0, 1.0, t_curv), root), {"tau": tau, "local C''(1)": t_curv}, arch,
            f"no (α, β, δ) with |α|·γ < 2 gives Q'(1) = 1, C'(1) = 1, C''(1) = {t_curv:.6g} (τ = {tau:g}, "
            f"{arch.describe()})", "Try a smaller τ, more depth, or another activation.",
            search=(phi, "tat", (1.0, 1.0, t_curv)))
    if arch.key is not None:
        _GLOBAL.put(gkey, res)
    return res


def _tat_leaky(phi, eta, arch, tol=None):
    best = _lrelu_cf0(arch, 0.0)  # s = 0 (ReLU) maximises C_f(0); s = 1 (linear) gives C_f(0) = 0
    if eta > best + 1e-15:
        hint = ""
        if arch.plain:
            hint = f" η = {eta:g} needs depth ≥ {min_depth_for_eta(eta)} for a plain leaky-ReLU MLP."
        raise UnachievableError(
            f"TAT leaky ReLU: the largest C_f(0) this network reaches is {best:.6g} (negative slope 0, i.e. ReLU, "
            f"{arch.describe()}), below η = {eta:g}.{hint} Use a smaller η or a deeper network.")
    if eta >= best:
        s = 0.0
    elif eta == 0.0:
        s = 1.0
    elif tol is not None:  # dks's inversion: 1 − C_f(0) increasing in s, from s = 0.5
        s = bisect_increasing(lambda s: 1.0 - _lrelu_cf0(arch, s), 1.0 - eta, 0.5, 0.0, 1.0, tol,
                              "leaky-ReLU C_f(0) = η")
    else:
        s = brentq(lambda s: _lrelu_cf0(arch, s) - eta, 0.0, 1.0, xtol=1e-15,
                            rtol=4 * np.finfo(float).eps, maxiter=200)
    g = math.sqrt(2.0 / (1.0 + s * s))
    base = activation(("leaky_relu", {"negative_slope": s}))
    res = _shaping_result("TAT", phi, base, 1.0, 0.0, g, 0.0, {"eta": eta, "negative_slope": s}, arch,
                          notes=f"network C_f(0) = {_lrelu_cf0(arch, s):.12g}.")
    return res


def _check_slope_allows_tat(phi) -> None:
    """TAT's C'(1) = 1 with Q(1) = 1 means γ²α² E[φ'(αz + β)²] = 1, so |α|·γ = 1/√E[φ'²] ≥ 1/max|φ'|. If
    max|φ'| ≤ 1/2, every root breaks the |α|·γ < 2 rule (which rejects unstable Q maps, as dks does): no τ and
    no depth can help, so say so instead of searching."""
    x = np.linspace(-60.0, 60.0, 24001)
    with np.errstate(all="ignore"):
        slope = np.abs(phi.derivatives(x)[1])
    top = float(np.max(slope[np.isfinite(slope)])) if np.any(np.isfinite(slope)) else 0.0
    if top <= 0.5 + 1e-12:
        bound = math.inf if top == 0 else 1.0 / top
        raise UnachievableError(
            f"TAT for {phi.display_name}: C'(1) = 1 with Q(1) = 1 forces |α|·γ = 1/√E[φ'(αz + β)²] ≥ 1/max|φ'| = "
            f"{bound:.4g}, so every root breaks the rule |α|·γ < 2 (it rejects unstable Q maps, as dks does), "
            "whatever τ or the depth. Use an activation whose slope exceeds 1/2 somewhere, e.g. tanh "
            "(= 2·sigmoid(2x) − 1) instead of sigmoid, or a rescaled one such as 4*sigmoid(x).")
