"""Initialisation and activation-shaping methods: standard, Edge of Chaos, DKS, TAT, Looks-Linear.

Each method returns an immutable :class:`InitResult` (or a subclass) holding the activation to use
(the transformed φ̂, a JAX callable whose constants are Python floats, so it follows the input dtype),
the weight/bias scales ``sigma_w``/``sigma_b`` of ``W_ij ~ N(0, σ_w²/N)``, ``b_i ~ N(0, σ_b²)``, and the
named constants.

Shaping (DKS, TAT) follows Martens et al. 2021 (arXiv:2110.01765) and Zhang et al. 2022 (arXiv:2203.08120)
and the semantics of the reference library google-deepmind/dks: φ̂(x) = γ(φ(αx + β) + δ), local maps at
q = 1, γ and δ in closed form, α and β (TAT: and δ) by Newton's method with jax.jacfwd Jacobians. Unlike the
reference library (first start that converges, which can jump between roots as the depth changes), the root
is defined by continuation: at an anchor target where φ̂ is nearly linear (ξ − 1 = 1e-4, resp. C''(1) = 1e-4)
take the smallest-α root of a fixed multi-start, then follow the moving target in warm-started steps. So
the constants are continuous in the depth and independent of the order of calls; sign convention α > 0 (all
conditions are even in α) and, for odd φ, β ≥ 0 (they are invariant under (β, δ) → (−β, −δ)). Solutions are
kept in an LRU cache; every loop has a fixed iteration cap.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from types import MappingProxyType

import jax
import jax.numpy as jnp
import numpy as np
from scipy import optimize, special

from .activations import Activation, activation
from .errors import ActivationError, ConfigurationError, SigpropError, UnachievableError
from .quadrature import piecewise_gaussian_rule

__all__ = [
    "InitResult", "EOCResult", "ShapingResult", "LooksLinearResult", "PhaseDiagram",
    "standard", "eoc", "dks", "tat", "looks_linear", "phase_diagram",
    "local_slope_target", "local_curvature_target", "leaky_relu_c_map", "min_depth_for_eta",
    "looks_linear_weights", "crelu", "clear_cache",
]

# Smooth φ: composite Gauss–Legendre on [−10, 10] (20 unit panels) with the Gaussian density in the weights.
# Unlike Gauss–Hermite it stays accurate when φ(αz + β) is sharp (large α or q): Gauss–Hermite with 160 nodes
# is off by 5e-8 for softplus(4z + 0.3) and by 1e-5 for E[tanh(√10 z)²]; 12 nodes per panel give ~1e-13.
_N_SMOOTH = 12  # nodes per panel for the solvers and eoc
_N_PHASE = 8  # nodes per panel for phase diagrams (display): ~1e-13 at q ≈ 1, ~1e-6 at q ≈ 10
_N_PIECE = 64  # Gauss–Legendre nodes per piece for kinked φ
_ROOT_TOL = 1e-12  # max |residual| for an accepted root
_NEWTON_ITERS = 60
_TIME_CAP_S = 30.0


# ==================================================================================================
# Results
# ==================================================================================================


def _frozen(d: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType({k: float(v) for k, v in d.items()})


@dataclass(frozen=True, kw_only=True, eq=False)
class InitResult:
    """What an initialisation method prescribes.

    ``activation``: the φ̂ to use (an :class:`~sigprop.activations.Activation`, JAX-callable);
    ``sigma_w``, ``sigma_b``: scales of ``W ~ N(0, σ_w²/N)``, ``b ~ N(0, σ_b²)``; ``constants``: named
    numbers (read-only mapping); ``notes``: one paragraph on what was enforced.
    """

    method: str
    activation: Activation
    sigma_w: float = 1.0
    sigma_b: float = 0.0
    constants: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    notes: str = ""

    def summary(self) -> str:
        """Readable multi-line text: method, activation, scales, constants, notes."""
        lines = [f"{self.method}: {self.activation.display_name}",
                 f"  sigma_w = {self.sigma_w:.10g}  (sigma_w^2 = {self.sigma_w ** 2:.10g}),"
                 f"  sigma_b = {self.sigma_b:.10g}"]
        lines += [f"  {k} = {v:.10g}" for k, v in self.constants.items()]
        if self.notes:
            lines.append("  " + self.notes)
        return "\n".join(lines)


@dataclass(frozen=True, kw_only=True, eq=False)
class EOCResult(InitResult):
    """Edge of Chaos: χ₁ = 1 at the fixed point q*; depth scales ξ_q = −1/log Q'(q*), ξ_c = −1/log C'(c*)."""

    q_star: float
    chi1: float
    c_star: float
    xi_q: float
    xi_c: float


@dataclass(frozen=True, kw_only=True, eq=False)
class ShapingResult(InitResult):
    """DKS/TAT: φ̂(x) = γ(φ(αx + β) + δ) with the local (per-layer) and global (network) targets met."""

    base: Activation
    alpha: float
    beta: float
    gamma: float
    delta: float
    targets: Mapping[str, float]
    achieved: Mapping[str, float]


@dataclass(frozen=True, kw_only=True, eq=False)
class LooksLinearResult(InitResult):
    """Looks-Linear: CReLU with mirrored weights; mean-field equivalent to the identity activation."""

    base: Activation
    gamma: float


# ==================================================================================================
# Argument checks and helpers
# ==================================================================================================


def _as_activation(phi) -> Activation:
    return activation(phi)


def _finite(name: str, value, *, positive=False, nonneg=False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ConfigurationError(f"{name} must be finite, got {v}")
    if positive and v <= 0:
        raise ConfigurationError(f"{name} must be > 0, got {v:g}")
    if nonneg and v < 0:
        raise ConfigurationError(f"{name} must be ≥ 0, got {v:g}")
    return v


def _kinks(phi: Activation):
    """x positions of kinks for the quadrature: () for smooth φ, None if unknown."""
    if phi.smooth:
        return ()
    k = phi.kernel_kinks
    return None if k is None else tuple(float(v) for v in k)


def _rule(kinks, alpha, beta, n=None):
    """Nodes z, weights w with Σ w g(αz + β) ≈ E[g(αz + β)], z ~ N(0, 1); split at the kinks of g.
    Smooth g: ``n`` nodes per unit panel; kinked g: 64 Gauss–Legendre nodes per piece between kinks."""
    if kinks == ():
        half_width = 8 if n == _N_PHASE else 10  # display rule: truncation e^{−32} ≈ 1e-14
        return tuple(jnp.asarray(a) for a in _smooth_rule(n or _N_SMOOTH, half_width))
    if kinks is None:  # unknown kinks: many short pieces (algebraic convergence at the kinks)
        return tuple(jnp.asarray(a) for a in _static_rule((*np.linspace(-12, 12, 49)[1:-1],), 24))
    if isinstance(beta, float) and beta == 0.0 and all(isinstance(k, float) and k == 0.0 for k in kinks):
        return tuple(jnp.asarray(a) for a in _static_rule((0.0,), _N_PIECE))  # kink stays at z = 0
    breaks = (jnp.asarray(kinks) - beta) / alpha
    return piecewise_gaussian_rule(breaks, _N_PIECE)


@lru_cache(maxsize=16)
def _smooth_rule(n_per_panel, half_width=10):
    """Composite Gauss–Legendre on [−h, h] in unit panels (h = 10: truncation e^{−50}); weights include the
    N(0, 1) density."""
    t, wt = np.polynomial.legendre.leggauss(n_per_panel)
    centres = np.arange(-half_width + 0.5, half_width, 1.0)
    z = (centres[:, None] + 0.5 * t[None, :]).ravel()
    w = (0.5 * wt[None, :] * np.ones((centres.size, 1))).ravel() * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    return z, w


@lru_cache(maxsize=16)
def _static_rule(breaks, n):
    return piecewise_gaussian_rule(np.asarray(breaks, dtype=float), n, xp=np)


def _derivatives(fn, x, order):
    """(φ(x), φ'(x), φ''(x)) up to ``order`` for an elementwise φ (forward-mode, no vmap needed)."""

    def d1(y):
        return jax.jvp(fn, (y,), (jnp.ones_like(y),))[1]

    out = [fn(x)]
    if order >= 1:
        out.append(d1(x))
    if order >= 2:
        out.append(jax.jvp(d1, (x,), (jnp.ones_like(x),))[1])
    return out


@lru_cache(maxsize=256)
def _is_odd(phi: Activation) -> bool:
    with jax.enable_x64(True):
        x = jnp.asarray(np.r_[np.linspace(0.05, 6.0, 40), 0.731, 2.377])
        a, b = np.asarray(phi.fn(x)), np.asarray(phi.fn(-x))
    return bool(np.all(np.isfinite(a)) and np.allclose(a, -b, rtol=1e-12, atol=1e-14))


@lru_cache(maxsize=256)
def _is_homogeneous(phi: Activation) -> bool:
    """φ(t x) = t φ(x) for t > 0 (ReLU family): then Q(q) is linear in q and χ₁ does not depend on q."""
    with jax.enable_x64(True):
        x = jnp.asarray(np.r_[-np.linspace(0.1, 5.0, 20), np.linspace(0.1, 5.0, 20)])
        a, b = np.asarray(phi.fn(2.5 * x)), np.asarray(phi.fn(x))
    return bool(np.all(np.isfinite(a)) and np.allclose(a, 2.5 * b, rtol=1e-12, atol=1e-14))


class _LRU:
    def __init__(self, maxsize: int):
        self.maxsize, self.data = maxsize, OrderedDict()

    def get(self, key):
        if key in self.data:
            self.data.move_to_end(key)
            return self.data[key]
        return None

    def put(self, key, value):
        self.data[key] = value
        self.data.move_to_end(key)
        while len(self.data) > self.maxsize:
            self.data.popitem(last=False)


_LOCAL = _LRU(4096)  # (φ, method, local targets) -> params
_GLOBAL = _LRU(1024)  # (φ, method, global targets, architecture key) -> result


def clear_cache() -> None:
    """Forget cached DKS/TAT solutions (compiled solvers are kept)."""
    _LOCAL.data.clear()
    _GLOBAL.data.clear()


# ==================================================================================================
# Standard initialisations
# ==================================================================================================


def standard(phi, scheme: str = "he", sigma_b: float = 0.0, fan_in=None, fan_out=None) -> InitResult:
    """He, LeCun or Glorot scales for ``W ~ N(0, σ_w²/fan_in)``.

    - ``"he"`` (He et al. 2015): σ_w² = 2 (ReLU); for leaky ReLU with slope s, 2/(1 + s²) (PyTorch's
      ``kaiming_normal_`` gain); for other φ also 2 (the scheme, not a derivation).
    - ``"lecun"`` (LeCun et al. 1998): σ_w² = 1.
    - ``"glorot"`` (Glorot & Bengio 2010): Var W = 2/(fan_in + fan_out), i.e. σ_w² = 2/(1 + fan_out/fan_in)
      in the σ_w²/fan_in convention; 1 for square layers (the default when fans are not given).
    The activation is unchanged; ``sigma_b`` is user-set.
    """
    phi = _as_activation(phi)
    sb = _finite("sigma_b", sigma_b, nonneg=True)
    scheme_l = str(scheme).lower()
    if scheme_l == "he":
        slope = dict(phi.params).get("negative_slope", 0.0) if phi.name == "leaky_relu" else 0.0
        sw2 = 2.0 / (1.0 + slope**2)
        note = "He: σ_w² = 2/(1 + s²) keeps q constant for (leaky) ReLU with slope s."
    elif scheme_l == "lecun":
        sw2, note = 1.0, "LeCun: σ_w² = 1 (Var W = 1/fan_in)."
    elif scheme_l == "glorot":
        if (fan_in is None) != (fan_out is None):
            raise ConfigurationError("glorot needs both fan_in and fan_out (or neither, for square layers)")
        if fan_in is None:
            ratio = 1.0
        else:
            fi, fo = _finite("fan_in", fan_in, positive=True), _finite("fan_out", fan_out, positive=True)
            ratio = fo / fi
        sw2 = 2.0 / (1.0 + ratio)
        note = "Glorot: Var W = 2/(fan_in + fan_out), σ_w² = 2·fan_in/(fan_in + fan_out)."
    else:
        raise ConfigurationError(f"unknown scheme {scheme!r}; use 'he', 'lecun' or 'glorot'")
    return InitResult(method=f"standard ({scheme_l})", activation=phi, sigma_w=math.sqrt(sw2), sigma_b=sb,
                      constants=_frozen({"sigma_w2": sw2, "sigma_b2": sb**2}), notes=note)


# ==================================================================================================
# Edge of Chaos and the phase diagram
# ==================================================================================================


def _qmap_parts(fn, kinks, n=None):
    """``E[φ(√q z)²]`` and ``E[φ'(√q z)²]`` as JAX functions of q."""

    def second(q):
        z, w = _rule(kinks, jnp.sqrt(q), 0.0, n)
        return w @ fn(jnp.sqrt(q) * z) ** 2

    def dot_second(q):
        z, w = _rule(kinks, jnp.sqrt(q), 0.0, n)
        return w @ _derivatives(fn, jnp.sqrt(q) * z, 1)[1] ** 2

    return second, dot_second


_Q_FLOOR = 1e-24
_Q_CEIL = 1e12
_Q_TABLE = np.geomspace(_Q_FLOOR, _Q_CEIL, 373)  # ratio 1.25 between neighbours
_HERMITE_ORDER = 32


@lru_cache(maxsize=64)
def _fixed_point_fn(base: Activation, n: int, kink_at_zero: bool):
    """jit(vmap) ``(σ_w², σ_b², q0, (α, β, γ, δ)) -> (q*, χ₁, Q'(q*), c*, C'(c*))`` for φ = γ(base(αx + β) + δ)
    (float64; ``n`` quadrature nodes per panel). The transform is a traced argument, so shaped activations of
    one base share one compilation.

    q* is the fixed point that the iteration q ← Q(q) reaches from q0: Q is increasing, so the iterates move
    monotonically to the nearest root of F(q) = Q(q) − q in the direction sign F(q0). That root is bracketed
    on a table of q (ratio 1.25, E[φ(√q z)²] tabulated once for all σ's) and refined by safeguarded Newton.
    No root down to 1e-24 gives q* = 0; none up to 1e12 gives q* = inf (the Q map diverges from q0).
    c* (needed only when χ₁ > 1) is the root of the convex G(c) = C(c) − c reached by Newton from c = 0, with
    C(c) = (σ_w² Σ_k a_k² c^k + σ_b²)/q* (Mehler series; a_k Hermite coefficients of φ(√q* z), k < 32, and
    the remaining mass E[φ²] − Σ a_k² on degree 32, so C(1) = 1).
    """
    leaky = base.name == "leaky_relu"
    base_fn, base_kinks = base.fn, ((0.0,) if kink_at_zero else _kinks(base))
    if leaky:  # the slope is traced too (tr[4]): TAT's slope changes with depth without recompiling
        def base_fn(x, tr):
            return jnp.where(x >= 0, x, tr[4] * x)

    def solve(sw2, sb2, q0, m_tab, tr):
        fn, kinks = _transformed(base_fn, base_kinks, tr)
        second, dot_second = _qmap_parts(fn, kinks, n)

        q_tab = jnp.asarray(_Q_TABLE)

        def F(q):
            return sw2 * second(q) + sb2 - q

        f0 = F(q0)
        f0 = jnp.where(jnp.abs(f0) <= 1e-13 * (1.0 + q0), 0.0, f0)  # q0 is a fixed point (e.g. shaped φ̂)
        up = f0 > 0
        pos = jnp.searchsorted(q_tab, q0)  # q_tab[pos - 1] < q0 <= q_tab[pos]
        sign_tab = (sw2 * m_tab + sb2 - q_tab) > 0
        idx = jnp.arange(q_tab.size)
        # first table point beyond q0 (in the direction of motion) where F has the other sign
        flip_up = jnp.where((idx >= pos) & (sign_tab != up), idx, q_tab.size)
        flip_dn = jnp.where((idx < pos) & (sign_tab != up), idx, -1)
        j_up, j_dn = jnp.min(flip_up), jnp.max(flip_dn)
        a = jnp.where(up, jnp.where(j_up > pos, q_tab[jnp.maximum(j_up - 1, 0)], q0), q_tab[jnp.maximum(j_dn, 0)])
        b = jnp.where(up, q_tab[jnp.minimum(j_up, q_tab.size - 1)], jnp.where(j_dn < pos - 1,
                                                                              q_tab[j_dn + 1], q0))
        a, b = jnp.minimum(a, b), jnp.maximum(a, b)
        a = jnp.where(up, jnp.maximum(a, q0), a)
        b = jnp.where(up, b, jnp.minimum(b, q0))
        diverged = up & (j_up >= q_tab.size)
        vanished = ~up & (j_dn < 0)

        def refine(_, abx):  # safeguarded Newton; F(a) > 0 > F(b) by construction
            a, b, x = abx
            fx, dfx = jax.jvp(F, (x,), (jnp.ones_like(x),))
            a, b = jnp.where(fx > 0, x, a), jnp.where(fx > 0, b, x)
            newton = x - fx / dfx
            step = jnp.where((newton > a) & (newton < b), newton, 0.5 * (a + b))
            return a, b, jnp.where(fx == 0, x, step)

        a, b, x = jax.lax.fori_loop(0, 8, refine, (a, b, 0.5 * (a + b)))
        q = jnp.where(f0 == 0, q0, jnp.where(vanished, 0.0, jnp.where(diverged, jnp.inf, x)))
        qe = jnp.clip(q, 1e-12, _Q_CEIL)  # q* = 0: the slopes' limit q → 0
        chi1 = sw2 * dot_second(qe)
        dq = sw2 * jax.grad(second)(qe)
        # c* from the Mehler series (meaningful when χ₁ > 1; c* = 1 otherwise)
        z, w = _rule(kinks, jnp.sqrt(qe), 0.0, n if kinks == () else None)
        fz = fn(jnp.sqrt(qe) * z)
        a_k = _hermite_polynomials(z, _HERMITE_ORDER) @ (w * fz)
        tail = jnp.maximum(w @ fz**2 - jnp.sum(a_k**2), 0.0)  # mass beyond the last order, put on degree K
        b_k = sw2 * jnp.concatenate([a_k**2, tail[None]]) / qe
        ks = jnp.arange(_HERMITE_ORDER + 1, dtype=float)
        poly, dpoly = b_k[::-1], (ks * b_k)[1:][::-1]

        def cnewton(_, c):
            g = sb2 / qe + jnp.polyval(poly, c) - c
            return jnp.clip(c - g / (jnp.polyval(dpoly, c) - 1.0), -1.0, 1.0)

        c = jax.lax.fori_loop(0, 16, cnewton, 0.0)
        chaotic = chi1 > 1.0
        c_star = jnp.where(chaotic, c, 1.0)
        chi_c = jnp.where(chaotic, jnp.polyval(dpoly, c), chi1)
        fin = jnp.isfinite(q)
        return tuple(jnp.where(fin, v, jnp.nan) for v in (chi1, dq, c_star, chi_c)) + (q,)

    def batched(sw2, sb2, q0, tr):
        fn, kinks = _transformed(base_fn, base_kinks, tr)
        m_tab = jax.vmap(_qmap_parts(fn, kinks, n)[0])(jnp.asarray(_Q_TABLE))
        chi1, dq, c_star, chi_c, q = jax.vmap(solve, in_axes=(0, 0, None, None, None))(sw2, sb2, q0, m_tab, tr)
        return q, chi1, dq, c_star, chi_c

    return jax.jit(batched)


def _transformed(base_fn, base_kinks, tr):
    """x ↦ γ(base(αx + β) + δ) and its kink positions (traced) for tr = (α, β, γ, δ[, slope])."""

    def fn(x):
        y = tr[0] * x + tr[1]
        return tr[2] * ((base_fn(y) if tr.shape[0] == 4 else base_fn(y, tr)) + tr[3])

    if base_kinks in ((), None, (0.0,)):  # (0.0,): kinks known to stay at 0 (β = 0)
        return fn, base_kinks
    return fn, tuple((k - tr[1]) / tr[0] for k in base_kinks)


def _hermite_polynomials(z, order):
    """``He_k(z)/√k!`` for k < order, shape (order, len(z)); ``h_{k+1} = (z h_k − √k h_{k−1})/√(k+1)``.
    (No overflow for order ≤ 64 at the |z| < 20 of the rules used here.)"""
    rows = [jnp.ones_like(z), z]
    for k in range(1, order - 1):
        rows.append((z * rows[k] - math.sqrt(k) * rows[k - 1]) / math.sqrt(k + 1))
    return jnp.stack(rows[:order])


def _depth_scale(slope):
    """ξ = −1/log(slope): ∞ at slope 1, NaN where undefined."""
    s = np.asarray(slope, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = np.where(np.isclose(s, 1.0, rtol=0, atol=1e-12), np.inf, -1.0 / np.log(s))
    return np.where(s > 1, np.nan, xi) if np.ndim(xi) else (np.nan if s > 1 + 1e-12 else float(xi))


def _fixed_points(phi, sw2, sb2, q0=1.0, n=_N_SMOOTH):
    sw2 = np.atleast_1d(np.asarray(sw2, dtype=float))
    sb2 = np.broadcast_to(np.asarray(sb2, dtype=float), sw2.shape)
    tr = list(phi.transform)
    if phi.name == "leaky_relu":  # one compilation for all slopes
        base = activation("leaky_relu")
        tr.append(dict(phi.params)["negative_slope"])
    else:
        base = replace(phi, transform=(1.0, 0.0, 1.0, 0.0))
    kinks = _kinks(base)
    kink_at_zero = bool(kinks) and tr[1] == 0.0 and all(k == 0.0 for k in kinks)
    with jax.enable_x64(True):
        out = _fixed_point_fn(base, n, kink_at_zero)(jnp.asarray(sw2), jnp.asarray(sb2), jnp.asarray(float(q0)),
                                       jnp.asarray(tr, dtype=float))
        return tuple(np.asarray(o, dtype=float) for o in out)


@dataclass(frozen=True, eq=False)
class PhaseDiagram:
    """Fixed-point quantities on a grid; arrays have shape ``(len(sigma_b2), len(sigma_w2))`` (rows = σ_b²).

    ``q_star`` (inf where the Q map diverges from q0), ``chi1`` = σ_w² E[φ'(√q* z)²], ``c_star`` (1 in the
    ordered phase), ``chi_c`` = C'(c*), ``xi_c`` = −1/log C'(c*) (∞ on the EOC), ``xi_q`` = −1/log Q'(q*).
    """

    activation: Activation
    sigma_w2: np.ndarray
    sigma_b2: np.ndarray
    q0: float
    q_star: np.ndarray
    chi1: np.ndarray
    c_star: np.ndarray
    chi_c: np.ndarray
    xi_c: np.ndarray
    xi_q: np.ndarray


def phase_diagram(phi, sigma_w2, sigma_b2, q0: float = 1.0) -> PhaseDiagram:
    """χ₁, q*, c*, ξ_c (and ξ_q) on the (σ_w², σ_b²) grid, vectorised with ``jax.vmap`` (Poole et al. 2016,
    Schoenholz et al. 2017). q* is reached by iterating the Q map from the input variance ``q0``.

    Display accuracy: smooth φ use a composite Gauss–Legendre rule with 8 nodes per unit panel (error ~1e-13
    at q* ≈ 1, ~1e-6 at q* ≈ 10 where φ(√q z) is step-like); ``eoc`` uses 12 nodes per panel."""
    phi = _as_activation(phi)
    w2 = np.atleast_1d(np.asarray(sigma_w2, dtype=float))
    b2 = np.atleast_1d(np.asarray(sigma_b2, dtype=float))
    if w2.ndim != 1 or b2.ndim != 1:
        raise ConfigurationError("sigma_w2 and sigma_b2 must be 1-D grids")
    if not (np.all(np.isfinite(w2)) and np.all(np.isfinite(b2)) and np.all(w2 > 0) and np.all(b2 >= 0)):
        raise ConfigurationError("grids need finite σ_w² > 0 and σ_b² ≥ 0")
    q0 = _finite("q0", q0, positive=True)
    W, B = np.meshgrid(w2, b2)
    q, chi1, dq, cs, chic = _fixed_points(phi, W.ravel(), B.ravel(), q0, n=_N_PHASE)
    shape = W.shape
    return PhaseDiagram(activation=phi, sigma_w2=w2, sigma_b2=b2, q0=q0, q_star=q.reshape(shape),
                        chi1=chi1.reshape(shape), c_star=cs.reshape(shape), chi_c=chic.reshape(shape),
                        xi_c=_depth_scale(chic).reshape(shape), xi_q=_depth_scale(dq).reshape(shape))


def eoc(phi, sigma_b: float = 0.0, q0: float = 1.0, sigma_w2_range=(1e-2, 1e2)) -> EOCResult:
    """Edge of Chaos (Poole et al. 2016; Schoenholz et al. 2017): σ_w with χ₁ = σ_w² E[φ'(√q* z)²] = 1 at the
    fixed point q* of Q(q) = σ_w² E[φ(√q z)²] + σ_b² reached from the input variance ``q0``.

    σ_w² is bracketed by a scan of ``sigma_w2_range`` and refined by Brent's method. Reports q*, χ₁,
    c* (= 1 on the EOC), ξ_q = −1/log Q'(q*) and ξ_c = −1/log χ₁ (= ∞). Positively homogeneous φ (ReLU
    family) have a closed form: χ₁ = σ_w² E[φ'(z)²] is q-independent and Q is linear, so the EOC is the
    single point σ_w² = 1/E[φ'(z)²], σ_b = 0 (Hayou et al. 2019). Raises UnachievableError, with the reason,
    when there is no EOC (e.g. swish/GELU whose stable q* disappears before χ₁ reaches 1).
    """
    phi = _as_activation(phi)
    sb = _finite("sigma_b", sigma_b, nonneg=True)
    q0 = _finite("q0", q0, positive=True)
    sb2 = sb * sb
    if _is_homogeneous(phi):
        return _eoc_homogeneous(phi, sb, q0)
    lo, hi = (float(v) for v in sigma_w2_range)
    if not (0 < lo < hi and math.isfinite(hi)):
        raise ConfigurationError(f"sigma_w2_range must satisfy 0 < lo < hi < inf, got {sigma_w2_range}")
    grid = np.geomspace(lo, hi, 400)
    q, chi1, _, _, _ = _fixed_points(phi, grid, sb2, q0)
    ok = np.isfinite(chi1)
    crossing = np.flatnonzero(ok[:-1] & ok[1:] & ((chi1[:-1] - 1) * (chi1[1:] - 1) <= 0))
    if crossing.size == 0:
        raise UnachievableError(_no_eoc_reason(phi, sb, q0, grid, q, chi1))
    i = crossing[0]

    def g(w2):
        return _fixed_points(phi, [w2], sb2, q0)[1][0] - 1.0

    a, b = grid[i], grid[i + 1]
    if g(a) == 0:
        w2 = a
    else:
        w2 = optimize.brentq(g, a, b, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200)
    qs, chi, dq, _, _ = (v[0] for v in _fixed_points(phi, [w2], sb2, q0))
    xi_q = float(_depth_scale(dq))
    return EOCResult(
        method="edge of chaos", activation=phi, sigma_w=math.sqrt(w2), sigma_b=sb, q_star=float(qs),
        chi1=float(chi), c_star=1.0, xi_q=xi_q, xi_c=math.inf,
        constants=_frozen({"sigma_w2": w2, "sigma_b2": sb2, "q*": qs, "chi1": chi, "c*": 1.0,
                           "xi_q": xi_q, "xi_c": math.inf, "q0": q0}),
        notes=f"χ₁ = 1 at the fixed point q* = {qs:.6g} reached from q0 = {q0:g}; c* = 1 and ξ_c = ∞.")


def _eoc_homogeneous(phi, sb, q0):
    with jax.enable_x64(True):
        kinks = _kinks(phi)
        second, dot_second = _qmap_parts(phi.fn, kinks)
        m2, d2 = float(second(1.0)), float(dot_second(1.0))
    w2 = 1.0 / d2
    if sb > 0:
        raise UnachievableError(
            f"{phi.display_name} is positively homogeneous: Q(q) = σ_w²·{m2:.6g}·q + σ_b² and χ₁ = σ_w²·{d2:.6g} "
            f"does not depend on q. With σ_b = {sb:g} > 0 a finite q* needs σ_w² < {1 / m2:.6g}, where "
            f"χ₁ < {d2 / m2:.6g}; the only edge of chaos is (σ_w², σ_b²) = ({w2:.6g}, 0). Use sigma_b=0.")
    if abs(m2 * w2 - 1.0) > 1e-9:
        raise UnachievableError(
            f"{phi.display_name}: χ₁ = 1 needs σ_w² = {w2:.6g}, where Q(q) = {m2 * w2:.6g}·q has no finite "
            "non-zero fixed point; there is no edge of chaos.")
    return EOCResult(
        method="edge of chaos", activation=phi, sigma_w=math.sqrt(w2), sigma_b=0.0, q_star=q0, chi1=1.0,
        c_star=1.0, xi_q=math.inf, xi_c=math.inf,
        constants=_frozen({"sigma_w2": w2, "sigma_b2": 0.0, "q*": q0, "chi1": 1.0, "c*": 1.0,
                           "xi_q": math.inf, "xi_c": math.inf, "q0": q0}),
        notes=(f"Positively homogeneous φ: Q(q) = q at σ_w² = {w2:.6g}, σ_b = 0, so every q is a fixed point "
               "(q* = q0) and χ₁ = 1; this is the only EOC point (Hayou et al. 2019)."))


def _no_eoc_reason(phi, sb, q0, grid, q, chi1):
    fin = np.isfinite(chi1)
    head = f"no edge of chaos for {phi.display_name} with σ_b = {sb:g} (q* reached from q0 = {q0:g}): "
    if not fin.any():
        return head + "the Q map has no finite fixed point anywhere in the σ_w² range."
    if np.all(chi1[fin] > 1):
        return head + f"χ₁ > 1 (chaotic) already at σ_w² = {grid[fin][0]:.3g}."
    lost = np.flatnonzero(fin[:-1] & ~fin[1:])
    if lost.size:
        j = lost[0]
        w2 = grid[j + 1]
        with jax.enable_x64(True):
            second, _ = _qmap_parts(phi.fn, _kinks(phi))
            m_tab = np.asarray(jax.jit(jax.vmap(second))(jnp.asarray(_Q_TABLE)))
        if np.any(w2 * m_tab + sb * sb - _Q_TABLE <= 0):
            return head + (f"at σ_w² ≈ {w2:.4g} (χ₁ ≈ {chi1[j]:.3g} < 1 just before) q0 lies above the unstable "
                           "fixed point of the Q map, so q diverges from q0 although a stable q* still exists "
                           "below it. A smaller q0 follows the stable q* further.")
        return head + (f"the Q map loses its fixed points (Q(q) > q for all q) at σ_w² ≈ {w2:.4g} while "
                       f"χ₁ ≈ {chi1[j]:.3g} < 1 is still ordered. A larger σ_b may help.")
    return head + f"χ₁ stays below 1 (max {np.nanmax(chi1):.3g}) for σ_w² ≤ {grid[-1]:.3g}."


# ==================================================================================================
# Architecture: global targets -> local targets
# ==================================================================================================


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
        sig = _signature(getattr(network, "body", None))
        if sig is not None and all(u == "D" for u, _ in sig):  # only Dense layers: a plain MLP
            return _architecture(network.depth, None)
        key = None if sig is None else ("net", sig)
        return _Arch(network.subnetwork_max, getattr(network, "depth", None), key, False)
    if callable(network):  # a dks-style subnet_max_func(x, r_fn)
        return _Arch(network, None, ("fn", network), False)
    raise ConfigurationError("network must be a sigprop Network or a dks-style subnet_max_func(x, r_fn)")


def _signature(serial):
    """The architecture of a Network body without its activations/scales (a cache key), or None."""
    from .network import Dense, Residual

    if serial is None:
        return None
    out = []
    for unit, times in serial.runs:
        if isinstance(unit, Dense):
            out.append(("D", times))
        elif isinstance(unit, Residual):
            inner = _signature(unit.branch)
            if inner is None:
                return None
            out.append((("R", float(unit.shortcut_weight), inner), times))
        else:
            return None
    return tuple(out)


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
    return optimize.brentq(lambda x: f(x) - target, x_lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps,
                           maxiter=200)


def local_slope_target(zeta: float, depth=None, network=None) -> float:
    """DKS local C'(1) target ξ = μ⁻¹(ζ), μ(x) = subnet_max(1, y ↦ x·y) (maximal slope function);
    ξ = ζ^(1/L) for a plain depth-L MLP."""
    zeta = _check_zeta(zeta)
    arch = _architecture(depth, network)
    if arch.plain:
        return zeta ** (1.0 / arch.depth)
    return _invert_increasing(lambda x: float(arch.subnet_max(1.0, lambda y: x * y)), zeta, 1.0, 1.1,
                              "maximal slope function μ(x) = ζ")


def local_curvature_target(tau: float, depth=None, network=None) -> float:
    """TAT local C''(1) target κ⁻¹(τ), κ(x) = subnet_max(0, y ↦ x + y) (maximal curvature function);
    τ/L for a plain depth-L MLP."""
    tau = _check_tau(tau)
    arch = _architecture(depth, network)
    if arch.plain:
        return tau / arch.depth
    return _invert_increasing(lambda x: float(arch.subnet_max(0.0, lambda y: x + y)), tau, 0.0, 0.1,
                              "maximal curvature function κ(x) = τ")


def _check_zeta(zeta):
    z = _finite("zeta", zeta)
    if z <= 1:
        raise ConfigurationError(f"zeta (the network's C'(1) bound) must be > 1, got {z:g}; "
                                 "ζ → 1 is the linear network (see looks_linear)")
    return z


def _check_tau(tau):
    t = _finite("tau", tau)
    if t <= 0:
        raise ConfigurationError(f"tau (the network's C''(1) target) must be > 0, got {t:g}")
    return t


def _check_eta(eta):
    e = _finite("eta", eta)
    if not 0.0 <= e <= 1.0:
        raise ConfigurationError(f"eta (the network's C(0) target) must lie in [0, 1], got {e:g}")
    return e


# ==================================================================================================
# Local solvers (JAX residuals, batched damped Newton)
# ==================================================================================================


def _dks_stats(fn, kinks, p):
    """p = (log α, β) -> (Q'(1), C'(1)), (α, β, γ, δ) with δ = −E[φ(αz+β)] (C(0) = 0), γ: Q(1) = 1."""
    alpha, beta = jnp.exp(p[0]), p[1]
    z, w = _rule(kinks, alpha, beta)
    f0, f1 = _derivatives(fn, alpha * z + beta, 1)
    m = w @ f0
    s = f0 - m
    g2 = 1.0 / (w @ s**2)
    q_slope = g2 * alpha * (w @ (s * f1 * z))  # Q'(1) = E[φ̂ φ̂' z]
    c_slope = g2 * alpha**2 * (w @ f1**2)  # C'(1) = E[φ̂'²]
    return jnp.stack([q_slope, c_slope]), jnp.stack([alpha, beta, jnp.sqrt(g2), -m])


def _tat_stats(fn, kinks, p):
    """p = (log α, β, δ) -> (Q'(1), C'(1), C''(1)), (α, β, γ, δ); γ: Q(1) = 1."""
    alpha, beta, delta = jnp.exp(p[0]), p[1], p[2]
    z, w = _rule(kinks, alpha, beta)
    f0, f1, f2 = _derivatives(fn, alpha * z + beta, 2)
    s = f0 + delta
    g2 = 1.0 / (w @ s**2)
    q_slope = g2 * alpha * (w @ (s * f1 * z))
    c_slope = g2 * alpha**2 * (w @ f1**2)
    c_curv = g2 * alpha**4 * (w @ f2**2)  # C''(1) = E[φ̂''²]
    return jnp.stack([q_slope, c_slope, c_curv]), jnp.stack([alpha, beta, jnp.sqrt(g2), delta])


def _leaky_dks_stats(_fn, _kinks, p):
    """Leaky ReLU (positively homogeneous, α ≡ 1): p = (negative slope s, β) -> (Q'(1), C'(1))."""
    s_neg, beta = p[0], p[1]

    def fn(x):
        return jnp.where(x >= 0, x, s_neg * x)

    stats, consts = _dks_stats(fn, (0.0,), jnp.stack([0.0 * beta, beta]))
    return stats, jnp.stack([s_neg, beta, consts[2], consts[3]])


_STATS = {"dks": _dks_stats, "tat": _tat_stats, "dks_leaky": _leaky_dks_stats}


def _newton_steps(res, p, iters):
    """``iters`` damped Newton steps on ``res(p) = 0``: steps clipped to norm 2, the best of 5 lengths
    (1 … 1/16) taken, a step that produces NaN is refused."""

    def step(p, _):
        r = res(p)
        dp = jnp.linalg.solve(jax.jacfwd(res)(p), r)
        dp = dp * jnp.minimum(1.0, 2.0 / (jnp.linalg.norm(dp) + 1e-300))
        cands = jnp.stack([p - dp * t for t in (1.0, 0.5, 0.25, 0.125, 0.0625)])
        norms = jax.vmap(lambda c: jnp.linalg.norm(res(c)))(cands)
        norms = jnp.where(jnp.isfinite(norms), norms, jnp.inf)
        best = jnp.argmin(norms)
        ok = jnp.all(jnp.isfinite(dp)) & jnp.isfinite(norms[best])
        return jnp.where(ok, cands[best], p), None

    return jax.lax.scan(step, p, None, length=iters)[0]


# The last target is the one that moves with depth; it is continued in u = log(ξ − 1) (DKS) or
# u = log C''(1) (TAT) from the anchor value below, where φ̂ is nearly linear.
_ANCHOR_U = math.log(1e-4)
_PATH_STEPS = 24
_PATH_NEWTON = 8


def _last_target(kind, u):
    return 1.0 + jnp.exp(u) if kind in ("dks", "dks_leaky") else jnp.exp(u)


def _path_variable(kind, t):
    return math.log(t - 1.0) if kind in ("dks", "dks_leaky") else math.log(t)


@lru_cache(maxsize=128)
def _solvers(phi: Activation, kind: str):
    """(multi-start, continuation), both jitted.

    multi-start: (starts (S, P), targets (P,)) -> (params, residuals, constants), 60 Newton steps per start.
    continuation: (p at the anchor, fixed targets, u_target) -> (params, residual, constants): the last
    target follows u from the anchor to u_target in 24 equal steps, 8 Newton steps each, then 30 more.
    """
    stats = _STATS[kind]
    fn, kinks = phi.fn, _kinks(phi)

    def residual(p, targets):
        return stats(fn, kinks, p)[0] - targets

    def multi(p0, targets):
        p = _newton_steps(lambda p: residual(p, targets), p0, _NEWTON_ITERS)
        return p, residual(p, targets), stats(fn, kinks, p)[1]

    def path(p0, fixed, u_target):
        us = _ANCHOR_U + (u_target - _ANCHOR_U) * jnp.arange(1, _PATH_STEPS + 1) / _PATH_STEPS

        def along(p, u):
            targets = jnp.concatenate([fixed, _last_target(kind, u)[None]])
            return _newton_steps(lambda q: residual(q, targets), p, _PATH_NEWTON), None

        p = jax.lax.scan(along, p0, us)[0]
        targets = jnp.concatenate([fixed, _last_target(kind, u_target)[None]])
        p = _newton_steps(lambda q: residual(q, targets), p, 30)
        return p, residual(p, targets), stats(fn, kinks, p)[1]

    return jax.jit(jax.vmap(multi, in_axes=(0, None))), jax.jit(path)


def _starts(kind):
    if kind == "dks":
        grid = [(math.log(a), b) for a in (0.01, 0.1, 0.3, 1.0, 3.0) for b in (0.0, 0.5, 1.0, -0.5, -1.0, 2.0)]
    elif kind == "dks_leaky":
        grid = [(s, b) for s in (0.0, 0.3, 0.6, 0.9) for b in (0.0, 0.5, -0.5, 1.0, -1.0)]
    else:
        grid = [(math.log(a), b, d) for a in (0.01, 0.1, 0.3, 1.0) for b in (0.0, 0.5, -0.5, 1.0, -1.0)
                for d in (0.0, 0.5, -0.5, 1.0, -1.0)]
    return np.asarray(grid, dtype=float)


def _accept(kind, R, C):
    ok = np.all(np.isfinite(R), axis=-1) & (np.max(np.abs(R), axis=-1) < _ROOT_TOL)
    ok &= np.all(np.isfinite(C), axis=-1)
    if kind == "tat":
        ok &= C[..., 0] * C[..., 2] < 2.0  # reject α·γ ≥ 2 (unstable Q maps; dks does the same)
    if kind == "dks_leaky":
        ok &= (C[..., 0] > -1.0) & (C[..., 0] < 1.0)
    return ok


def _canonical(phi, kind, P, C):
    """α > 0 holds by construction (α = e^p₀ or 1); for odd φ flip (β, δ) → (−β, −δ) so that β ≥ 0."""
    P, C = np.array(P, dtype=float), np.array(C, dtype=float)
    if kind != "dks_leaky" and _is_odd(phi):
        flip = C[..., 1] < 0
        C[flip, 1] *= -1
        C[flip, 3] *= -1
        P[flip, 1] *= -1
        if kind == "tat":
            P[flip, 2] *= -1
    return P, C


def _multistart(phi, kind, targets):
    """All accepted roots from the fixed starts; returns (P, C, n_rejected_by_rules)."""
    t0 = time.perf_counter()
    with jax.enable_x64(True):
        multi, _ = _solvers(phi, kind)
        P, R, C = (np.asarray(a) for a in multi(jnp.asarray(_starts(kind)), jnp.asarray(targets)))
    if time.perf_counter() - t0 > _TIME_CAP_S:  # pragma: no cover - a safety net, the loops are bounded
        raise SigpropError(f"{kind} solve exceeded {_TIME_CAP_S:g} s")
    ok = _accept(kind, R, C)
    converged = np.all(np.isfinite(R), axis=-1) & (np.max(np.abs(R), axis=-1) < _ROOT_TOL)
    P, C = _canonical(phi, kind, P[ok], C[ok])
    return P, C, int(converged.sum() - ok.sum())


def _smallest_alpha(P, C):
    order = np.lexsort((np.round(C[:, 1], 9), np.round(np.abs(C[:, 0]), 9)))
    return {"p": P[order[0]], "c": C[order[0]]}


def _solve_local(phi: Activation, kind: str, targets: tuple[float, ...]):
    """The canonical root of the local conditions, or (None, reason).

    The root is defined by continuation: at the anchor (ξ − 1 = 1e-4, resp. C''(1) = 1e-4, a nearly linear
    φ̂) the root with the smallest α among those found from fixed starts; from there the moving target is
    followed in 24 warm-started steps to the requested value. So the constants are continuous functions of
    the target (a depth slider gives continuous curves) and do not depend on the order of calls. If the
    path fails (a fold), the smallest-α root of a multi-start at the target is used instead. Cached (LRU).
    """
    key = (phi, kind, targets)
    hit = _LOCAL.get(key)
    if hit is not None:
        return hit
    fixed = targets[:-1]
    akey = (phi, kind, fixed, "anchor")
    anchor = _LOCAL.get(akey)
    if anchor is None:
        a_targets = (*fixed, float(_last_target(kind, _ANCHOR_U)))
        P, C, _ = _multistart(phi, kind, a_targets)
        anchor = _smallest_alpha(P, C) if len(P) else {"p": None}
        _LOCAL.put(akey, anchor)
    sol = None
    if anchor["p"] is not None:
        with jax.enable_x64(True):
            _, path = _solvers(phi, kind)
            p, r, c = (np.asarray(a) for a in path(jnp.asarray(anchor["p"]), jnp.asarray(fixed, dtype=float),
                                                    jnp.asarray(_path_variable(kind, targets[-1]))))
        if _accept(kind, r[None], c[None])[0]:
            P, C = _canonical(phi, kind, p[None], c[None])
            sol = {"p": P[0], "c": C[0]}
    if sol is None:
        P, C, rejected = _multistart(phi, kind, targets)
        if not len(P):
            return None, (f"{rejected} root(s) were found but rejected (α·γ ≥ 2)" if rejected else
                          "no root was found from any start")
        sol = _smallest_alpha(P, C)
    _LOCAL.put(key, sol)
    return sol


# ==================================================================================================
# DKS
# ==================================================================================================

_RELU_DKS_SWITCH = 1.0 / (1.0 - 1.0 / math.pi)  # C'(1) of relu(x) after centring: 1.46694220692426...


def _relu_stats(b):
    """relu(z + b), z ~ N(0,1): mean, variance, P(z > −b) (closed forms)."""
    Phi, pdf = special.ndtr(b), math.exp(-0.5 * b * b) / math.sqrt(2 * math.pi)
    mean = b * Phi + pdf
    second = (1 + b * b) * Phi + b * pdf
    return mean, second - mean * mean, Phi


def dks(phi, depth=None, network=None, zeta: float = 1.5, q_slope: float = 1.0) -> ShapingResult:
    """Deep Kernel Shaping (Martens et al. 2021): φ̂(x) = γ(φ(αx + β) + δ) with local maps at q = 1

        Q(1) = 1,  Q'(1) = q_slope,  C(0) = 0,  C'(1) = ξ,   ξ = μ⁻¹(ζ)  (= ζ^(1/L) for a depth-L MLP),

    so that the whole network's C_f'(1) ≤ ζ. δ = −E[φ(αz + β)] and γ = 1/√Var φ(αz + β) in closed form; α, β
    by Newton (jax.jacfwd). ReLU (as in dks): only C'(1) = ξ, with β = +1 for ξ < 1/(1 − 1/π) and −1
    otherwise and α from a closed-form 1-D root. Leaky ReLU: α = 1, (negative slope, β) solved.
    ``network``: a Network (or dks-style ``subnet_max_func``) instead of ``depth``.
    """
    phi = _as_activation(phi)
    zeta = _check_zeta(zeta)
    q_slope = _finite("q_slope", q_slope, positive=True)
    arch = _architecture(depth, network)
    gkey = (phi, "dks", zeta, q_slope, arch.key)
    if arch.key is not None and (hit := _GLOBAL.get(gkey)) is not None:
        return hit
    xi = local_slope_target(zeta, network=arch.subnet_max) if not arch.plain else zeta ** (1.0 / arch.depth)
    targets = {"zeta": zeta, "q_slope": q_slope, "local C'(1)": xi}
    if phi.name == "relu" and not phi.is_transformed:
        res = _dks_relu(phi, xi, targets, arch)
    elif phi.name == "leaky_relu" and not phi.is_transformed:
        res = _dks_leaky(phi, xi, q_slope, targets, arch)
    else:
        sol = _solve_local(phi, "dks", (q_slope, xi))
        if isinstance(sol, tuple):
            raise UnachievableError(
                f"DKS for {phi.display_name}: no (α, β) found with Q'(1) = {q_slope:g} and C'(1) = {xi:.10g} "
                f"(ζ = {zeta:g}, {arch.describe()}); {sol[1]}. Try a smaller ζ, more depth, or q_slope "
                "closer to 1.")
        a, b, g, d = (float(v) for v in sol["c"])
        res = _shaping_result("DKS", phi, phi, a, b, g, d, targets, arch)
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
        bb = optimize.brentq(slope, -30.0, 30.0, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=300)
        b = 1.0 if bb > 0 else -1.0
        a = 1.0 / abs(bb)
    mean, var, _ = _relu_stats(b / a)
    g = 1.0 / (a * math.sqrt(var))  # relu(αz + β) = α·relu(z + β/α)
    d = -a * mean
    targets = {k: v for k, v in targets.items() if k != "q_slope"}  # not enforced for ReLU
    return _shaping_result("DKS", phi, phi, a, b, g, d, targets, arch,
                           notes="ReLU (as in dks): only C'(1) = ξ is enforced; Q'(1) is not. "
                                 "Prefer leaky_relu or a smooth φ.")


def _dks_leaky(phi, xi, q_slope, targets, arch):
    key_phi = activation("leaky_relu")
    sol = _solve_local(key_phi, "dks_leaky", (q_slope, xi))
    if isinstance(sol, tuple):
        limit = 1.0 / (1.0 - 2.0 / math.pi)
        raise UnachievableError(
            f"DKS for leaky ReLU: no negative slope in (−1, 1) gives C'(1) = {xi:.6g} with Q'(1) = {q_slope:g}"
            f" (for q_slope = 1 the reachable range is C'(1) < {limit:.6g}). Use a smaller ζ or more depth.")
    s, b, g, d = (float(v) for v in sol["c"])
    base = activation(("leaky_relu", {"negative_slope": s}))
    return _shaping_result("DKS", phi, base, 1.0, b, g, d, dict(targets, negative_slope=s), arch)


def _shaping_result(method, phi, base, a, b, g, d, targets, arch, notes=""):
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
                         targets=_frozen(targets), achieved=_frozen(achieved))


@lru_cache(maxsize=128)
def _achieved_fn(base: Activation | None):
    """jit: (α, β, γ, δ, s) -> Q(1), Q'(1), C(0), C'(1), C''(1) of γ(φ(αz + β) + δ) at q = 1 by the solver's
    quadrature (for display; ``base=None`` is leaky ReLU with slope s). One compile per base activation."""

    def run(params):
        a, b, g, d, slope = params
        if base is None:
            def fn(x):
                return jnp.where(x >= 0, x, slope * x)
            kinks = (0.0,)
        else:
            fn, kinks = base.fn, _kinks(base)
        z, w = _rule(kinks, a, b)
        f0, f1, f2 = _derivatives(fn, a * z + b, 2)
        s0, s1, s2 = g * (f0 + d), g * a * f1, g * a * a * f2
        q1 = w @ s0**2
        return jnp.stack([q1, w @ (s0 * s1 * z), (w @ s0) ** 2 / q1, w @ s1**2 / q1, w @ s2**2 / q1])

    return jax.jit(run)


def _achieved(base: Activation, a, b, g, d) -> dict:
    leaky = base.name == "leaky_relu" and not base.is_transformed
    slope = dict(base.params).get("negative_slope", 0.0) if leaky else 0.0
    with jax.enable_x64(True):
        vals = np.asarray(_achieved_fn(None if leaky else base)(jnp.asarray([a, b, g, d, slope], dtype=float)))
    out = dict(zip(("Q(1)", "Q'(1)", "C(0)", "C'(1)", "C''(1)"), (float(v) for v in vals), strict=True))
    if not base.smooth:
        out["C''(1)"] = math.inf
    return out


# ==================================================================================================
# TAT
# ==================================================================================================


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
        sol = _solve_local(phi, "tat", (1.0, 1.0, t_curv))
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


# ==================================================================================================
# Looks-Linear
# ==================================================================================================


def looks_linear(phi="relu") -> LooksLinearResult:
    """Looks-Linear initialisation (Balduzzi et al. 2017): CReLU ρ(x) = [φ(x); φ(−x)] and mirrored weights
    W̃ = [W, −W] with W orthogonal, so W̃ρ(h) = W(φ(h) − φ(−h)) = (1 + s)·W h for (leaky) ReLU with slope s:
    the network is exactly linear at initialisation, at any width and depth.

    The weights are not i.i.d., so the mean-field recursion for CReLU does not apply; the network's kernel
    maps are those of the identity activation: Q(q) = q, C(c) = c at every layer (C_f = identity,
    C_f'(1) = 1, C_f(0) = 0). The result's ``activation`` is therefore the identity (σ_w = 1, σ_b = 0), the
    mean-field-equivalent of the mirrored network; ``constants['gamma'] = 1/(1 + s)`` rescales the CReLU
    pair so the linear map is W h exactly. Works for any φ whose odd part φ(x) − φ(−x) is linear.
    """
    phi = _as_activation(phi)
    with jax.enable_x64(True):
        x = jnp.asarray(np.r_[np.linspace(-6, 6, 49), 0.3137])
        odd = np.asarray(phi.fn(x) - phi.fn(-x))
    k = odd[-1] / float(x[-1])
    if not (np.isfinite(k) and k != 0 and np.allclose(odd, k * np.asarray(x), rtol=1e-12, atol=1e-13)):
        raise ActivationError(f"Looks-Linear needs φ(x) − φ(−x) ∝ x (ReLU family); {phi.display_name} is not")
    gamma = 1.0 / k
    return LooksLinearResult(
        method="Looks-Linear", activation=activation("identity"), sigma_w=1.0, sigma_b=0.0, base=phi,
        gamma=gamma, constants=_frozen({"gamma": gamma, "width_factor": 2.0}),
        notes=("CReLU with mirrored orthogonal weights [W, −W]: exactly linear at init; kernel maps are the "
               "identity (C_f(c) = c at every depth)."))


def crelu(x, phi=None):
    """CReLU ρ(x) = [φ(x), φ(−x)] concatenated on the last axis (φ = ReLU by default)."""
    f = jax.nn.relu if phi is None else _as_activation(phi).fn
    return jnp.concatenate([f(x), f(-x)], axis=-1)


def looks_linear_weights(key, widths, gamma: float = 1.0):
    """Mirrored orthogonal weights for a CReLU network with layer widths ``widths`` = (d0, N1, ..., N_L).

    Layer 0 is ``W⁰`` (N1 × d0, orthogonal rows/columns); layer l ≥ 1 is ``γ·[Wˡ, −Wˡ]`` of shape
    (N_{l+1}, 2 N_l), acting on ρ(h) = [φ(h), φ(−h)]. Returns a list of JAX arrays.
    """
    widths = [int(w) for w in widths]
    if len(widths) < 2 or min(widths) < 1:
        raise ConfigurationError("widths must list at least two positive layer sizes")
    keys = jax.random.split(key, len(widths) - 1)
    mats = []
    for i, (k, n_in, n_out) in enumerate(zip(keys, widths[:-1], widths[1:], strict=True)):
        m = jax.random.normal(k, (max(n_in, n_out), max(n_in, n_out)))
        qm, r = jnp.linalg.qr(m)
        qm = qm * jnp.sign(jnp.diag(r))[None, :]  # Haar measure
        w = qm[:n_out, :n_in] * math.sqrt(max(n_out / n_in, 1.0))  # q-preserving scale (as dks's SUO)
        mats.append(w if i == 0 else gamma * jnp.concatenate([w, -w], axis=1))
    return mats
