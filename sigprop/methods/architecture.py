"""Architectures for shaping: DKS's maximal slope and curvature functions turn global targets into local ones.

A network is given as a sigprop :class:`~sigprop.network.Network` (its ``subnetwork_max`` fold), a plain depth,
or a dks-style ``subnet_max_func(x, r_fn)`` callable (Martens et al. 2021, arXiv:2110.01765, §"Maximal slope
function"; Zhang et al. 2022, arXiv:2203.08120, Appendix B).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigurationError, UnachievableError
from ..roots import brentq
from .common import _check_tau, _check_zeta


@dataclass(frozen=True)
class _Arch:
    """A network description: ``subnet_max(x0, on_layer)`` (DKS's maximal function), its depth, a cache key."""

    subnet_max: Callable
    depth: int | None
    key: object
    plain: bool  # plain MLP of the given depth (closed forms apply)

    def describe(self):
        if self.plain:
            return f"plain MLP of depth {self.depth}"
        return "the given network" + (f" (depth {self.depth})" if self.depth else "")


def _architecture(depth, network) -> _Arch:
    if (depth is None) == (network is None):
        raise ConfigurationError("give exactly one of depth= (a plain MLP) or network=")
    if network is None:
        if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)):
            try:
                ok = float(depth).is_integer()
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ConfigurationError(f"depth must be a positive integer, got {depth!r}")
        L = int(depth)
        if L < 1:
            raise ConfigurationError(f"depth must be ≥ 1 (number of nonlinear layers), got {L}")

        def subnet_max(x0, on_layer, _L=L):
            x = x0
            for _ in range(_L):
                x = on_layer(x)
            return x

        return _Arch(subnet_max, L, ("mlp", L), True)
    if hasattr(network, "subnetwork_max"):
        if getattr(network, "is_plain", False):  # only Dense layers: a plain MLP
            return _architecture(network.depth, None)
        sig = getattr(network, "signature", None)
        key = None if sig is None else ("net", sig)
        return _Arch(network.subnetwork_max, getattr(network, "depth", None), key, False)
    if callable(network):  # a dks-style subnet_max_func(x, r_fn)
        return _Arch(network, None, ("fn", network), False)
    raise ConfigurationError("network must be a sigprop Network or a dks-style subnet_max_func(x, r_fn)")


def _invert_increasing(f, target, x_lo, x0, what: str, x_max=None):
    """x ≥ x_lo with f(x) = target for increasing f, f(x_lo) ≤ target: doubling of (x − x_lo), then brentq."""
    f_lo = f(x_lo)
    if f_lo >= target:
        return x_lo
    step, hi = x0 - x_lo, x0
    for _ in range(200):
        if f(hi) >= target:
            break
        step *= 2
        hi = x_lo + step
        if x_max is not None and hi > x_max:
            raise UnachievableError(f"{what}: target {target:g} not reached for x up to {x_max:g}")
    else:
        raise UnachievableError(f"{what}: target {target:g} not reached")
    return brentq(lambda x: f(x) - target, x_lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps,
                           maxiter=200)


def bisect_increasing(f, target, x0, lo, hi, tol, what: str, max_eval: int = 100):
    """dks's inversion of an increasing f: bisection from ``x0`` in [lo, hi] (doubling while hi = ∞), stopped
    at the first x with |f(x) − target| < tol. Used when a caller asks for dks's tolerance (``target_tol``), so
    that sigprop reproduces dks's constants to rounding; the default inversion is exact (brentq)."""
    x = x0
    for _ in range(max_eval):
        value = f(x)
        if abs(value - target) < tol:
            return x
        if value > target:
            hi, x = x, 0.5 * (x + lo)
        else:
            lo = x
            x = 2.0 * x if np.isinf(hi) else 0.5 * (x + hi)
    raise UnachievableError(f"{what}: target {target:g} not reached in {max_eval} evaluations (the target is "
                            "probably unachievable for this architecture)")


def _check_tol(target_tol):
    if target_tol is None:
        return None
    try:
        t = float(target_tol)
    except (TypeError, ValueError):
        raise ConfigurationError(f"target_tol must be a positive number or None, got {target_tol!r}") from None
    if not (np.isfinite(t) and t > 0):
        raise ConfigurationError(f"target_tol must be a positive number or None, got {target_tol!r}")
    return t


def local_slope_target(zeta: float, depth=None, network=None, target_tol: float | None = None) -> float:
    """DKS local C'(1) target ξ = μ⁻¹(ζ), μ(x) = subnet_max(1, y ↦ x·y) (maximal slope function);
    ξ = ζ^(1/L) for a plain depth-L MLP. ``target_tol``: stop at |μ(ξ) − ζ| < target_tol as dks does (1e-8)
    instead of inverting μ exactly."""
    zeta = _check_zeta(zeta)
    tol = _check_tol(target_tol)
    arch = _architecture(depth, network)
    if arch.plain and tol is None:
        return zeta ** (1.0 / arch.depth)

    def mu(x):
        return float(arch.subnet_max(1.0, lambda y: x * y))

    what = "maximal slope function μ(x) = ζ"
    if tol is not None:
        return bisect_increasing(mu, zeta, 1.1, 1.0, np.inf, tol, what)
    return _invert_increasing(mu, zeta, 1.0, 1.1, what)


def local_curvature_target(tau: float, depth=None, network=None, target_tol: float | None = None) -> float:
    """TAT local C''(1) target κ⁻¹(τ), κ(x) = subnet_max(0, y ↦ x + y) (maximal curvature function);
    τ/L for a plain depth-L MLP. ``target_tol`` as in :func:`local_slope_target`."""
    tau = _check_tau(tau)
    tol = _check_tol(target_tol)
    arch = _architecture(depth, network)
    if arch.plain and tol is None:
        return tau / arch.depth

    def kappa(x):
        return float(arch.subnet_max(0.0, lambda y: x + y))

    what = "maximal curvature function κ(x) = τ"
    if tol is not None:
        return bisect_increasing(kappa, tau, 0.1, 0.0, np.inf, tol, what)
    return _invert_increasing(kappa, tau, 0.0, 0.1, what)
