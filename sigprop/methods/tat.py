"""Tailored Activation Transformations (Zhang, Botev, Martens 2022, arXiv:2203.08120)."""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize

from ..activations import activation
from ..errors import ActivationError, ConfigurationError, UnachievableError
from .architecture import _Arch, _architecture, local_curvature_target
from .common import _GLOBAL, _as_activation, _check_eta, _check_tau
from .dks import _shaping_result
from .results import ShapingResult
from .solver import solve_local


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


def tat(phi, depth=None, network=None, eta: float | None = None, tau: float | None = None) -> ShapingResult:
    """Tailored Activation Transformations (Zhang et al. 2022).

    - Leaky ReLU: γ = √(2/(1+s²)) (so Q(q) = q) and the negative slope s ∈ [0, 1] such that the whole
      network's C_f(0) = η (default 0.9), computed by composing the closed-form local C map through the
      network (``subnet_max(0, C)``) and Brent's method on s.
    - Smooth φ: φ̂(x) = γ(φ(αx + β) + δ) with Q(1) = 1, Q'(1) = 1, C'(1) = 1 and local C''(1) = κ⁻¹(τ)
      (τ/L for a depth-L MLP; τ default 0.3), so the network's C_f''(1) = τ; roots with α·γ ≥ 2 are
      rejected (as in dks).
    ReLU cannot be tailored (C'(1) > 1 whatever the slope 0): use leaky_relu.
    """
    phi = _as_activation(phi)
    arch = _architecture(depth, network)
    base_name = phi.name if not phi.is_transformed else None
    if base_name == "relu":
        raise ActivationError("TAT cannot shape ReLU (its slope is fixed); use 'leaky_relu', whose negative "
                              "slope TAT chooses so that the network's C(0) = η.")
    if base_name == "leaky_relu":
        if tau is not None:
            raise ConfigurationError("tau applies to smooth activations; leaky ReLU TAT uses eta")
        eta = _check_eta(0.9 if eta is None else eta)
        gkey = (phi, "tat", eta, arch.key)
        if arch.key is not None and (hit := _GLOBAL.get(gkey)) is not None:
            return hit
        res = _tat_leaky(phi, eta, arch)
    else:
        if eta is not None:
            raise ConfigurationError("eta applies to leaky ReLU; smooth activations use tau")
        if not phi.smooth:
            raise ActivationError(f"TAT for smooth activations needs C''(1) < ∞; {phi.display_name} is kinked. "
                                  "Use leaky_relu (η target) or a smooth activation.")
        tau = _check_tau(0.3 if tau is None else tau)
        gkey = (phi, "tat", tau, arch.key)
        if arch.key is not None and (hit := _GLOBAL.get(gkey)) is not None:
            return hit
        t_curv = tau / arch.depth if arch.plain else local_curvature_target(tau, network=arch.subnet_max)
        sol = solve_local(phi, "tat", (1.0, 1.0, t_curv))
        if isinstance(sol, tuple):
            raise UnachievableError(
                f"TAT for {phi.display_name}: no (α, β, δ) with α·γ < 2 gives Q'(1) = 1, C'(1) = 1, "
                f"C''(1) = {t_curv:.6g} (τ = {tau:g}, {arch.describe()}); {sol[1]}. Try a smaller τ, more "
                "depth, or another activation.")
        a, b, g, d = (float(v) for v in sol["c"])
        res = _shaping_result("TAT", phi, phi, a, b, g, d, {"tau": tau, "local C''(1)": t_curv}, arch)
    if arch.key is not None:
        _GLOBAL.put(gkey, res)
    return res


def _tat_leaky(phi, eta, arch):
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
    else:
        s = optimize.brentq(lambda s: _lrelu_cf0(arch, s) - eta, 0.0, 1.0, xtol=1e-15,
                            rtol=4 * np.finfo(float).eps, maxiter=200)
    g = math.sqrt(2.0 / (1.0 + s * s))
    base = activation(("leaky_relu", {"negative_slope": s}))
    res = _shaping_result("TAT", phi, base, 1.0, 0.0, g, 0.0, {"eta": eta, "negative_slope": s}, arch,
                          notes=f"network C_f(0) = {_lrelu_cf0(arch, s):.12g}.")
    return res
