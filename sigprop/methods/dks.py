"""Deep Kernel Shaping (Martens et al. 2021, arXiv:2110.01765)."""

from __future__ import annotations

import math

import numpy as np

from ..activations import Activation, activation
from ..errors import UnachievableError
from ..local_maps import local_maps
from ..roots import brentq
from .architecture import _architecture, local_slope_target
from .common import _GLOBAL, _as_activation, _check_root, _check_zeta, _finite
from .results import ShapingResult, _frozen
from .solver import solve

_RELU_DKS_SWITCH = 1.0 / (1.0 - 1.0 / math.pi)  # C'(1) of relu(x) after centring: 1.46694220692426...

def _relu_stats(b):
    """relu(z + b), z ~ N(0,1): mean, variance, P(z > −b) (closed forms)."""
    Phi, pdf = 0.5 * math.erfc(-b / math.sqrt(2.0)), math.exp(-0.5 * b * b) / math.sqrt(2 * math.pi)
    mean = b * Phi + pdf
    second = (1 + b * b) * Phi + b * pdf
    return mean, second - mean * mean, Phi


def dks(phi, depth=None, network=None, zeta: float = 1.5, q_slope: float = 1.0, *, root: str = "dks",
        target_tol: float | None = None) -> ShapingResult:
    """Deep Kernel Shaping (Martens et al. 2021): φ̂(x) = γ(φ(αx + β) + δ) with local maps at q = 1

        Q(1) = 1,  Q'(1) = q_slope,  C(0) = 0,  C'(1) = ξ,   ξ = μ⁻¹(ζ)  (= ζ^(1/L) for a depth-L MLP),

    so that the whole network's C_f'(1) ≤ ζ. δ = −E[φ(αz + β)] and γ = 1/√Var φ(αz + β) in closed form; α, β
    by Newton on the NumPy local maps (:mod:`sigprop.methods.solver`, no JAX compile). ReLU (as in dks):
    only C'(1) = ξ, with β = +1 for ξ < 1/(1 − 1/π) and −1 otherwise and α from a closed-form 1-D root.
    Leaky ReLU: α = 1, (negative slope, β); for q_slope = 1 the root is β = 0 exactly (Q'(1) = 1 holds
    identically there) and the slope has a closed form, so the shaped network keeps the arc-cosine kernel.
    ``network``: a Network (or dks-style ``subnet_max_func``) instead of ``depth``.
    ``root``: which root when there are several — ``"dks"`` (the reference library's, the default) or
    ``"continuation"`` (continuous in the depth; see :mod:`sigprop.methods.solver`).
    ``target_tol``: invert the maximal slope function only to |μ(ξ) − ζ| < target_tol, as dks does (1e-8), to
    reproduce its constants exactly; by default the inversion is exact.
    """
    phi = _as_activation(phi)
    zeta = _check_zeta(zeta)
    q_slope = _finite("q_slope", q_slope, positive=True)
    root = _check_root(root)
    arch = _architecture(depth, network)
    gkey = (phi, "dks", zeta, q_slope, arch.key, root, target_tol)
    if arch.key is not None and (hit := _GLOBAL.get(gkey)) is not None:
        return hit
    if arch.plain and target_tol is None:
        xi = zeta ** (1.0 / arch.depth)
    else:
        xi = local_slope_target(zeta, network=arch.subnet_max, target_tol=target_tol)
    targets = {"zeta": zeta, "q_slope": q_slope, "local C'(1)": xi}
    if phi.name == "relu" and not phi.is_transformed:
        res = _dks_relu(phi, xi, targets, arch)
    elif phi.name == "leaky_relu" and not phi.is_transformed:
        res = _dks_leaky(phi, xi, q_slope, targets, arch, root)
    else:
        res = shaped_from_root(
            "DKS", phi, solve(phi, "dks", (q_slope, xi), root), targets, arch,
            f"no (α, β) found with Q'(1) = {q_slope:g} and C'(1) = {xi:.10g} (ζ = {zeta:g}, {arch.describe()})",
            "Try a smaller ζ, more depth, or q_slope closer to 1.", search=(phi, "dks", (q_slope, xi)))
    if arch.key is not None:
        _GLOBAL.put(gkey, res)
    return res


def _dks_relu(phi, xi, targets, arch):
    if abs(xi - _RELU_DKS_SWITCH) < 1e-15:
        a, b = 1.0, 0.0
    else:
        def slope(bb):  # C'(1) of centred, normalised relu(z + bb)
            _, var, p = _relu_stats(bb)
            return p / var - xi

        if slope(30.0) > 0 or slope(-30.0) < 0:
            raise UnachievableError(f"DKS for ReLU: C'(1) = {xi:.6g} is outside the reachable range")
        bb = brentq(slope, -30.0, 30.0, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=300)
        b = 1.0 if bb > 0 else -1.0
        a = 1.0 / abs(bb)
    mean, var, _ = _relu_stats(b / a)
    g = 1.0 / (a * math.sqrt(var))  # relu(αz + β) = α·relu(z + β/α)
    d = -a * mean
    targets = {k: v for k, v in targets.items() if k != "q_slope"}  # not enforced for ReLU
    return _shaping_result("DKS", phi, phi, a, b, g, d, targets, arch,
                           notes="ReLU (as in dks): only C'(1) = ξ is enforced; Q'(1) is not. "
                                 "Prefer leaky_relu or a smooth φ.")


def _leaky_slope_for(xi: float):
    """The negative slope s ∈ (−1, 1) of the β = 0 DKS root: the arc-cosine kernel gives the centred leaky
    ReLU C'(1) = 1/(1 − k/π) with k = (1 − s)²/(1 + s²) (Cho & Saul 2009), so k = π(1 − 1/ξ) and
    (1 − k)s² − 2s + (1 − k) = 0; None when ξ ≥ 1/(1 − 2/π) (k ≥ 2, beyond s = −1)."""
    k = math.pi * (1.0 - 1.0 / xi)
    if not 0.0 <= k < 2.0:
        return None
    if k == 1.0:
        return 0.0
    return (1.0 - math.sqrt(max(1.0 - (1.0 - k) ** 2, 0.0))) / (1.0 - k)


def _dks_leaky(phi, xi, q_slope, targets, arch, root):
    limit = 1.0 / (1.0 - 2.0 / math.pi)
    unreachable = (f"DKS for leaky ReLU: no negative slope in (−1, 1) gives C'(1) = {xi:.6g} with Q'(1) = "
                   f"{q_slope:g} (for q_slope = 1 the reachable range is C'(1) < {limit:.6g}). Use a smaller ζ "
                   "or more depth.")
    if q_slope == 1.0:
        # Q'(1) = 1 holds identically at β = 0: with L = leaky_relu(z), δ = −E[L] and γ² = 1/Var L,
        # Q(q) = γ²(q E[L²] − 2δ²√q + δ²), so Q'(1) = γ²(E[L²] − δ²) = 1. Only C'(1) = ξ is left (closed form).
        s = _leaky_slope_for(xi)
        if s is None:
            raise UnachievableError(unreachable)
        m = (1.0 - s) / math.sqrt(2.0 * math.pi)  # E[leaky_relu(z)]
        g = 1.0 / math.sqrt((1.0 + s * s) / 2.0 - m * m)
        b, d = 0.0, -m
    else:
        sol = solve(activation("leaky_relu"), "dks_leaky", (q_slope, xi), root)
        if isinstance(sol, tuple):
            raise UnachievableError(unreachable)
        s, b, g, d = (float(v) for v in sol["c"])
    base = activation(("leaky_relu", {"negative_slope": s}))
    return _shaping_result("DKS", phi, base, 1.0, b, g, d, dict(targets, negative_slope=s), arch,
                           search=(activation("leaky_relu"), "dks_leaky", (q_slope, xi)))


def shaped_from_root(method, phi, sol, targets, arch, failure: str, advice: str, search=None) -> ShapingResult:
    """The result for a local root ``sol`` of :func:`~sigprop.methods.solver.solve`, or UnachievableError
    saying what failed, why (the solver's reason) and what to try. ``search`` = (φ, kind, local targets) lets
    the result list the other roots (:meth:`ShapingResult.roots`)."""
    if isinstance(sol, tuple):
        raise UnachievableError(f"{method} for {phi.display_name}: {failure}; {sol[1]}. {advice}")
    a, b, g, d = (float(v) for v in sol["c"])
    return _shaping_result(method, phi, phi, a, b, g, d, targets, arch, search=search)


def _shaping_result(method, phi, base, a, b, g, d, targets, arch, notes="", search=None):
    act = base.transformed(a, b, g, d)
    achieved = _achieved(base, a, b, g, d)
    consts = {"alpha": a, "beta": b, "gamma": g, "delta": d}
    if "negative_slope" in targets:
        consts["negative_slope"] = targets["negative_slope"]
    q1, dq1, c0, dc1 = (achieved[k] for k in ("Q(1)", "Q'(1)", "C(0)", "C'(1)"))
    text = (f"{arch.describe()}; local maps at q = 1: Q(1) = {q1:.12g}, Q'(1) = {dq1:.12g}, "
            f"C(0) = {c0:.3g}, C'(1) = {dc1:.12g}.")
    return ShapingResult(method=method, activation=act, sigma_w=1.0, sigma_b=0.0, constants=_frozen(consts),
                         notes=(notes + " " + text).strip(), base=base, alpha=a, beta=b, gamma=g, delta=d,
                         targets=_frozen(targets), achieved=_frozen(achieved), search=search)


def _achieved(base: Activation, a, b, g, d) -> dict:
    """Q(1), Q'(1), C(0), C'(1), C''(1) of γ(base(αz + β) + δ) at q = 1 (the solver's quadrature), for display."""
    return local_maps(base, a, b, g, d)
