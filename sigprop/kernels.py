"""Dual kernels of activations: Gaussian expectations of φ and φ' at pre-activation variance q.

A *dual kernel* answers, for ``u, v ~ N(0, q)`` with correlation ``c`` (and ``d = 1 − c``):

==========================  =======================================================
``second_moment(q)``        ``E[φ(u)²]``
``mean(q)``                 ``E[φ(u)]``
``cross(q, c)``             ``E[φ(u) φ(v)]``
``gap(q, d)``               ``E[φ(u)²] − E[φ(u) φ(v)] = ½ E[(φ(u) − φ(v))²] ≥ 0`` without cancellation
``dot_cross(q, c)``         ``E[φ'(u) φ'(v)]``  (so ``∂ cross / ∂c = q · dot_cross``, Price's theorem)
``dot_second_moment(q)``    ``E[φ'(u)²]``
``ddot_second_moment(q)``   ``E[φ''(u)²]``  (``inf`` when φ' jumps)
``second_moment_slope(q)``  ``d/dq E[φ(u)²] = E[φ(u) φ'(u) u]/q`` (the Q map's slope, Q'(q) = σ_w² × this)
``mean_slope(q)``           ``d/dq E[φ(u)] = E[φ'(u) u]/(2q)``
==========================  =======================================================

These kernel objects are the one place a layer's Gaussian expectations come from: the network folds, the
per-layer maps, the Edge of Chaos, its fixed points and the phase diagram all ask them. All methods are
JAX-traceable, take ``q`` (a scalar; the moments also an array of variances in NumPy) and broadcast over
``c``/``d``. Closed forms are used where they exist; otherwise :class:`MehlerKernel` uses
``E[φ(u)φ(v)] = Σ_k a_k² c^k`` with Hermite coefficients ``a_k`` from Gaussian quadrature, and its moments on
the same rule as the series (so that C(1) = 1 and an odd φ's C(0) = 0 to rounding); a moments-only Mehler
kernel (``Activation.kernel(series=False)``) takes them in NumPy from :func:`sigprop.local_maps.
variance_moments`, the quadrature the shaping conditions use. Closed-form sources: ReLU family — Cho & Saul (2009),
arc-cosine kernels; erf — Williams (1997); GELU — derived by Gaussian integration by parts
(Tsuchida et al. 2021 give the same kernel); sin — elementary.
"""

from __future__ import annotations

import math
import sys
import threading
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from . import jets, local_maps
from ._jax_cache import configure as _configure_jax_cache
from ._lazy import Lazy
from .quadrature import (
    gauss_hermite,
    gauss_legendre,
    hermite_functions,
    hermite_matrix,
    piecewise_gaussian_rule,
    scaled_weights,
)

jax = Lazy("jax")
jnp = Lazy("jax.numpy")
_INF = float("inf")


def _ns(*xs):
    """The array namespace of the inputs: jax.numpy if any is a JAX array or tracer, else NumPy. Kernels run on
    both: NumPy for a few layers (no compile, no JAX import), JAX inside jitted deep loops."""
    array_type = getattr(sys.modules.get("jax"), "Array", None)  # None also while JAX is still importing
    if array_type is not None:
        for x in xs:
            if isinstance(x, array_type):
                return jnp
    return np


# Kernels are JAX pytrees (their numbers traced, their structure compiled); the registration waits until a JAX
# path first needs it (enable_jax), so that NumPy-only use never imports JAX.
_PYTREES: list = []
_JAX_READY = False
_JAX_LOCK = threading.RLock()


def _register(cls, leaves):
    if leaves is None:  # the class has tree_flatten / tree_unflatten
        jax.tree_util.register_pytree_node(cls, lambda k: k.tree_flatten(),
                                           lambda aux, ch: cls.tree_unflatten(aux, ch))
    else:
        jax.tree_util.register_pytree_node(
            cls, lambda k: (tuple(getattr(k, f) for f in leaves), None), lambda _, values: cls(*values))


def enable_jax() -> None:
    """Register the kernels as pytrees and turn JAX's persistent compilation cache on (once); every module that
    jits over kernels calls this when it is imported."""
    global _JAX_READY
    if _JAX_READY:
        return
    with _JAX_LOCK:  # a background compilation (network.propagate.TierUp) may get here at the same time
        if _JAX_READY:
            return
        _configure_jax_cache()
        for cls, leaves in _PYTREES:
            _register(cls, leaves)
        _JAX_READY = True


def _theta_and_sin(d):
    """``θ = arccos(1 − d)`` and ``sin θ = √(d(2 − d))`` without cancellation, for ``d ∈ [0, 2]``."""
    xp = _ns(d)
    d = xp.clip(d, 0.0, 2.0)
    near_one = d <= 1.0
    half = 2.0 * _arcsin_to_half(xp.sqrt(xp.where(near_one, d, 2.0 - d) / 2.0), xp)
    return xp.where(near_one, half, math.pi - half), xp.sqrt(d * (2.0 - d))


#: degree of the Chebyshev series of (arcsin(w)/w − 1)/w² in s = w² on [0, 1/2] (its coefficients decay like
#: (3 + √8)^−n, the singularity at s = 1, and reach rounding level, ~1e-17, by this degree)
_ARCSIN_DEGREE = 22


@lru_cache(maxsize=1)
def _arcsin_coefficients() -> tuple[float, ...]:
    """Power-form coefficients (in t = 4s − 1, lowest first) of g(s) = (arcsin(√s)/√s − 1)/s = Σ_{n≥1} aₙ s^{n−1},
    aₙ = (2n)!/(4ⁿ (n!)² (2n + 1)) (the Maclaurin series of arcsin: all terms positive, so each value is exact
    to rounding; 80 terms: truncation < 1e-26 at s = 1/2). Interpolated at the Chebyshev points of t ∈ [−1, 1],
    then converted to powers of t: well conditioned here (Σ|coefficients| = 0.22 against g ≥ 1/6), because the
    Chebyshev coefficients fall faster than the (1 + √2)ⁿ growth of Tₙ's power coefficients."""
    n = _ARCSIN_DEGREE + 1
    angles = np.pi * (np.arange(n) + 0.5) / n
    s = (np.cos(angles) + 1.0) / 4.0
    a, terms = 1.0, []
    for k in range(1, 81):
        a *= (2 * k - 1) / (2 * k)  # (2k)!/(4^k (k!)²)
        terms.append(a / (2 * k + 1))
    g = np.polynomial.polynomial.polyval(s, terms)
    cheb = 2.0 / n * np.cos(np.outer(np.arange(n), angles)) @ g
    cheb[0] /= 2.0
    return tuple(float(c) for c in np.polynomial.chebyshev.cheb2poly(cheb))


def _arcsin_to_half(w, xp):
    """``arcsin w`` for ``w ∈ [0, 1/√2]``: NumPy's (correctly rounded) in NumPy; under JAX ``w + w³·g(w²)`` with g
    the polynomial of :func:`_arcsin_coefficients` (Horner), within one ulp of arcsin (tests/test_kernels.py,
    against mpmath). XLA's CPU arcsin costs ~15 ns an element, most of a deep ReLU network's compiled layer;
    this costs ~3."""
    if xp is np:
        return np.arcsin(w)
    s = w * w
    t = 4.0 * s - 1.0
    coef = _arcsin_coefficients()
    g = coef[-1]
    for c in coef[-2::-1]:
        g = g * t + c
    return w + w * s * g


def _sin_minus_theta_cos(theta, sin_theta, cos_theta):
    """``sin θ − θ cos θ`` (≈ θ³/3 near 0), by its series for θ < 0.5 (no cancellation)."""
    xp = _ns(theta)
    t2 = theta * theta
    series = xp.zeros_like(theta)
    # Σ_{n≥1} (−1)^{n+1} 2n θ^{2n+1} / (2n+1)!, 9 terms: truncation < 1e-25 for θ < 0.5
    for n in range(9, 0, -1):
        series = series * t2 + (-1) ** (n + 1) * 2 * n / math.factorial(2 * n + 1)
    return xp.where(theta < 0.5, series * theta * t2, sin_theta - theta * cos_theta)


def pytree(*leaves: str):
    """Register a frozen-dataclass kernel as a JAX pytree whose ``leaves`` fields are traced. (Not
    ``jax.tree_util.register_dataclass``: it compares tree structures by their static fields only, so two
    kernel classes without static fields, e.g. ErfKernel and SinKernel, would be equal and share compiled code.)
    """

    def register(cls):
        with _JAX_LOCK:
            _PYTREES.append((cls, leaves))
            if _JAX_READY:
                _register(cls, leaves)
        return cls

    return register


class DualKernel:
    """Base class; subclasses implement the closed forms or the quadrature.

    Kernels are JAX pytrees: their numbers (ReLU slopes, the affine transform of a shaped φ) are leaves,
    traced when a kernel is passed to a jitted function, and only their structure (the class, the base φ,
    the quadrature order) is compiled. A new DKS/TAT transform therefore reuses the compilation.
    """

    has_closed_form = True
    #: ``gap(q, d)/d`` is smooth on [0, 2] (smooth φ), so a fixed layer map can be tabulated (see :func:`tabulate`)
    tabulable = False
    #: ``gap(q, d) = q·gap(1, d)`` (positively homogeneous φ): the layer map changes with q only by a scalar factor,
    #: and ``gap/d`` is smooth in the angle θ = arccos(1 − d) (see :class:`SettledMap`)
    gap_linear_in_q = False
    #: m if E[φ(√q z)²] = m·q for every q (an affine Q map), else None
    second_moment_factor = None
    #: the kernel evaluates NumPy inputs in NumPy (closed forms always; a Mehler series when φ has a NumPy jet)
    numpy_ok = True

    def gap(self, q, d):  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def params(self, q):
        """Per-variance precomputation reused by :meth:`gap_with` (nothing for closed forms)."""
        return ()

    def gap_with(self, params, q, d):
        """``gap(q, d)`` given ``params(q)`` — lets a deep network reuse work while q stays fixed."""
        return self.gap(q, d)

    def cross(self, q, c):
        return self.second_moment(q) - self.gap(q, 1.0 - c)

    def dot_second_moment(self, q):
        return self.dot_cross(q, _ns(q).ones(()))

    def second_moment_slope(self, q):
        """d/dq E[φ(√q z)²]: a closed form's own (a kernel that lacks it is read by quadrature instead, see
        :meth:`sigprop.activations.Activation.kernel` with ``series=False``)."""
        raise NotImplementedError(f"{type(self).__name__} has no second_moment_slope")

    def mean_slope(self, q):
        """d/dq E[φ(√q z)] (see :meth:`second_moment_slope`)."""
        raise NotImplementedError(f"{type(self).__name__} has no mean_slope")

    @classmethod
    def has_slopes(cls) -> bool:
        """Whether this kernel gives the q-slopes of its moments (every built-in kernel does)."""
        return (cls.second_moment_slope is not DualKernel.second_moment_slope
                and cls.mean_slope is not DualKernel.mean_slope)

    def moments(self, q) -> dict:
        """Every moment at once, for an array of variances (NumPy): ``second``, ``mean``, ``dot``, ``ddot``,
        ``second_slope``, ``mean_slope`` (the methods above; one quadrature pass for a Mehler kernel)."""
        return {"second": self.second_moment(q), "mean": self.mean(q), "dot": self.dot_second_moment(q),
                "ddot": self.ddot_second_moment(q), "second_slope": self.second_moment_slope(q),
                "mean_slope": self.mean_slope(q)}


def _as_float(xp, x):
    return xp.asarray(x, dtype=float)


# --------------------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------------------


@pytree("a", "b")
@dataclass(frozen=True)
class ABReluKernel(DualKernel):
    """φ(x) = a·min(x, 0) + b·max(x, 0): ReLU (0, 1), leaky ReLU (s, 1), abs (−1, 1), identity (1, 1).

    With θ = arccos c (Cho & Saul 2009):
    ``E[φ(u)φ(v)] = q[(a−b)²/(2π)(sin θ − θ cos θ) + (a²+b²)/2 · c]``,
    ``E[φ'(u)φ'(v)] = (a²+b²)/2 − (a−b)² θ/(2π)``.
    """

    a: float
    b: float
    gap_linear_in_q = True

    @property
    def second_moment_factor(self):
        """m with E[φ(√q z)²] = m·q (the Q map is affine: q' = σ_w² m q + σ_b²)."""
        return (self.a**2 + self.b**2) / 2

    def second_moment(self, q):
        return q * (self.a**2 + self.b**2) / 2

    def mean(self, q):
        return _ns(q).sqrt(q) * (self.b - self.a) / math.sqrt(2 * math.pi)

    def second_moment_slope(self, q):
        return (self.a**2 + self.b**2) / 2 + 0.0 * q

    def mean_slope(self, q):
        with np.errstate(divide="ignore"):
            return (self.b - self.a) / (2 * _ns(q).sqrt(2 * math.pi * q))

    def gap(self, q, d):
        d = _as_float(_ns(q, d, self.a), d)
        theta, sin_theta = _theta_and_sin(d)
        return q * ((self.a**2 + self.b**2) / 2 * d
                    - (self.a - self.b) ** 2 / (2 * math.pi) * _sin_minus_theta_cos(theta, sin_theta, 1.0 - d))

    def dot_cross(self, q, c):
        xp = _ns(q, c, self.a)
        theta = xp.arccos(xp.clip(_as_float(xp, c), -1.0, 1.0))
        return (self.a**2 + self.b**2) / 2 - (self.a - self.b) ** 2 * theta / (2 * math.pi) + 0.0 * q

    def ddot_second_moment(self, q):
        return _ns(q, self.a).where(self.a == self.b, 0.0, _INF) + 0.0 * q


class SmoothClosedForm(DualKernel):
    """Closed forms of smooth φ: ``gap`` integrates ``∂cross/∂c = q·dot_cross`` over [1 − d, 1] by
    32-point Gauss–Legendre when d < 0.1 (no cancellation), else takes the direct difference."""

    tabulable = True

    def gap(self, q, d):
        xp = _ns(q, d)
        d = _as_float(xp, d)
        t, w = gauss_legendre(32)
        ds = xp.minimum(d, 0.1)[..., None]
        c_nodes = 1.0 - ds / 2 * (1.0 + t)
        integral = q * (ds[..., 0] / 2) * xp.sum(w * self.dot_cross(q, c_nodes), axis=-1)
        direct = self.second_moment(q) - self.cross(q, 1.0 - d)
        return xp.where(d < 0.1, integral, direct)

    def dot_second_moment(self, q):
        return self.dot_cross(q, _ns(q).ones(()))


@pytree()
@dataclass(frozen=True)
class ErfKernel(SmoothClosedForm):
    """φ = erf (Williams 1997): ``E[φ(u)φ(v)] = (2/π) arcsin(2qc / (1 + 2q))``,
    ``E[φ'(u)φ'(v)] = (4/π) / √((1 + 2q)² − (2qc)²)``."""

    def second_moment(self, q):
        return 2 / math.pi * _ns(q).arcsin(2 * q / (1 + 2 * q))

    def mean(self, q):
        return 0.0 * q

    def second_moment_slope(self, q):
        return 4 / (math.pi * (1 + 2 * q) * _ns(q).sqrt(1 + 4 * q))

    def mean_slope(self, q):
        return 0.0 * q

    def cross(self, q, c):
        return 2 / math.pi * _ns(q, c).arcsin(2 * q * c / (1 + 2 * q))

    def dot_cross(self, q, c):
        return 4 / math.pi / _ns(q, c).sqrt((1 + 2 * q) ** 2 - (2 * q * c) ** 2)

    def ddot_second_moment(self, q):
        return 16 * q / (math.pi * (1 + 4 * q) ** 1.5)


@pytree()
@dataclass(frozen=True)
class GeluKernel(SmoothClosedForm):
    """Exact GELU φ(x) = x Φ(x). With p = qc, s = 1 + q (Gaussian integration by parts):
    ``E[φ(u)φ(v)] = p/4 + p·arcsin(p/s)/(2π) + (q² + p²(1 − q)/s) / (2π √(s² − p²))``."""

    @staticmethod
    def _k(q, p):
        xp = _ns(q, p)
        s = 1 + q
        return p / 4 + p * xp.arcsin(p / s) / (2 * math.pi) + (q**2 + p**2 * (1 - q) / s) / (
            2 * math.pi * xp.sqrt(s**2 - p**2))

    def second_moment(self, q):
        """``_k(q, q)`` simplified (q² + q²(1 − q)/(1 + q) = 2q²/(1 + q): no cancellation at large q):
        ``q/4 + q·A/(2π) + q²/(π(1 + q)√(1 + 2q))`` with ``A = arcsin(q/(1 + q)) = arctan(q/√(1 + 2q))`` (the
        arctan keeps A accurate where q/(1 + q) rounds near 1)."""
        xp = _ns(q)
        r = xp.sqrt(1 + 2 * q)
        return q / 4 + q * xp.arctan(q / r) / (2 * math.pi) + q * q / (math.pi * (1 + q) * r)

    def dot_second_moment(self, q):
        """``dot_cross(q, 1)`` simplified (its last three terms over (1 + q)(1 + 2q)^{3/2} sum to q(3 + 5q); taken
        apart they cancel at large q): ``1/4 + A/(2π) + q(3 + 5q)/(2π(1 + q)(1 + 2q)^{3/2})``, A as above."""
        xp = _ns(q)
        return 0.25 + xp.arctan(q / xp.sqrt(1 + 2 * q)) / (2 * math.pi) + q * (3 + 5 * q) / (
            2 * math.pi * (1 + q) * (1 + 2 * q) ** 1.5)

    def mean(self, q):
        return q / _ns(q).sqrt(2 * math.pi * (1 + q))

    def second_moment_slope(self, q):
        """d/dq of ``E[φ²] = q/4 + q·A/(2π) + q²/(π(1 + q)√(1 + 2q))``, A = arctan(q/√(1 + 2q)) (``_k(q, q)``),
        with ``dA/dq = 1/((1 + q)√(1 + 2q))``."""
        xp = _ns(q)
        r = xp.sqrt(1 + 2 * q)
        return (0.25 + xp.arctan(q / r) / (2 * math.pi) + q / (2 * math.pi * (1 + q) * r)
                + q * (2 + 4 * q + q * q) / (math.pi * (1 + q) ** 2 * r**3))

    def mean_slope(self, q):
        return (2 + q) / (2 * math.sqrt(2 * math.pi) * (1 + q) ** 1.5)

    def cross(self, q, c):
        return self._k(q, q * _as_float(_ns(q, c), c))

    def dot_cross(self, q, c):
        """∂k/∂p at p = qc (so E[φ'(u)φ'(v)] = ∂ cross/∂c / q), differentiated by hand:
        1/4 + arcsin(p/s)/(2π) + p/(2π r) + 2p(1 − q)/(2π s r) + (q² + p²(1 − q)/s) p/(2π r³), r = √(s² − p²)."""
        xp = _ns(q, c)
        p = q * _as_float(xp, c)
        s = 1 + q
        r = xp.sqrt(s**2 - p**2)
        return (0.25 + xp.arcsin(p / s) / (2 * math.pi) + p / (2 * math.pi * r)
                + 2 * p * (1 - q) / (2 * math.pi * s * r) + (q**2 + p**2 * (1 - q) / s) * p / (2 * math.pi * r**3))

    def ddot_second_moment(self, q):
        # φ''(x) = (2 − x²) N(x); E over N(0, q) with τ² = q / (2q + 1)
        xp = _ns(q)
        tau2 = q / (2 * q + 1)
        return xp.sqrt(tau2) * (4 - 4 * tau2 + 3 * tau2**2) / (2 * math.pi * xp.sqrt(q))


def _half_one_minus_exp_neg_2q(q):
    """(1 − e^{−2q})/2; under JAX with the derivative e^{−2q} computed directly (JAX differentiates expm1 as
    expm1 + 1, which cancels for large q)."""
    if _ns(q) is np:
        return -np.expm1(-2 * q) / 2
    return _half_one_minus_exp_neg_2q_jax()(q)


_JVP_FN = []


def _half_one_minus_exp_neg_2q_jax():
    if not _JVP_FN:
        @jax.custom_jvp
        def f(q):
            return -jnp.expm1(-2 * q) / 2

        @f.defjvp
        def _(primals, tangents):
            (q,), (dq,) = primals, tangents
            return f(q), jnp.exp(-2 * q) * dq

        _JVP_FN.append(f)
    return _JVP_FN[0]


@pytree()
@dataclass(frozen=True)
class SinKernel(SmoothClosedForm):
    """φ = sin: ``E[sin u sin v] = e^{−q} sinh(qc)``, ``E[cos u cos v] = e^{−q} cosh(qc)``."""

    def second_moment(self, q):
        return _half_one_minus_exp_neg_2q(q)

    def mean(self, q):
        return 0.0 * q

    def cross(self, q, c):
        xp = _ns(q, c)
        return xp.exp(-q) * xp.sinh(q * _as_float(xp, c))

    def gap(self, q, d):
        # e^{−q}(sinh q − sinh(q − qd)) = 2 e^{−q} cosh(q − qd/2) sinh(qd/2)
        xp = _ns(q, d)
        d = _as_float(xp, d)
        return 2 * xp.exp(-q) * xp.cosh(q - q * d / 2) * xp.sinh(q * d / 2)

    def dot_cross(self, q, c):
        xp = _ns(q, c)
        return xp.exp(-q) * xp.cosh(q * _as_float(xp, c))

    def ddot_second_moment(self, q):
        return self.second_moment(q)

    def second_moment_slope(self, q):
        return _ns(q).exp(-2 * q)

    def mean_slope(self, q):
        return 0.0 * q


@pytree("base", "alpha", "gamma", "delta")
@dataclass(frozen=True)
class AffineKernel(DualKernel):
    """Kernel of ``γ(φ(αx) + δ)`` from the kernel of φ (β = 0): u → αu has variance α²q and the same
    correlation, so ``cross = γ²(k(α²q, c) + 2δ m(α²q) + δ²)``, ``gap = γ² gap_φ(α²q, d)``."""

    base: DualKernel
    alpha: float
    gamma: float
    delta: float

    @property
    def tabulable(self):
        return self.base.tabulable

    @property
    def numpy_ok(self):
        return self.base.numpy_ok

    @property
    def gap_linear_in_q(self):
        return self.base.gap_linear_in_q

    def _q(self, q):
        return self.alpha**2 * q

    def second_moment(self, q):
        qa = self._q(q)
        return self.gamma**2 * (self.base.second_moment(qa) + 2 * self.delta * self.base.mean(qa) + self.delta**2)

    def mean(self, q):
        return self.gamma * (self.base.mean(self._q(q)) + self.delta)

    def second_moment_slope(self, q):
        qa = self._q(q)
        return self.gamma**2 * self.alpha**2 * (self.base.second_moment_slope(qa)
                                                + 2 * self.delta * self.base.mean_slope(qa))

    def mean_slope(self, q):
        return self.gamma * self.alpha**2 * self.base.mean_slope(self._q(q))

    def cross(self, q, c):
        qa = self._q(q)
        return self.gamma**2 * (self.base.cross(qa, c) + 2 * self.delta * self.base.mean(qa) + self.delta**2)

    def gap(self, q, d):
        return self.gamma**2 * self.base.gap(self._q(q), d)

    def dot_cross(self, q, c):
        return self.gamma**2 * self.alpha**2 * self.base.dot_cross(self._q(q), c)

    def ddot_second_moment(self, q):
        return self.gamma**2 * self.alpha**4 * self.base.ddot_second_moment(self._q(q))


# --------------------------------------------------------------------------------------------------
# Quadrature (Mehler series) for every other activation
# --------------------------------------------------------------------------------------------------

#: Mehler terms with (k + 1)·b_k below this fraction of Σ b are dropped in NumPy (together they move C and C'
#: by ~1e-16 relative; the order is chosen for the largest q of a network, and smaller q need fewer terms)
_SERIES_FLOOR = 1e-18
#: Orders tried for the Mehler series; the smallest whose tail is below 1e-16 of E[φ²] is used.
MEHLER_ORDERS = (16, 32, 48, 64, 96, 128, 160, 192, 256, 320, 384, 512, 768, 1024)
_UNKNOWN_KINK_PIECES = 64
#: the order of a Mehler kernel built for its moments only (``Activation.kernel(series=False)``)
MOMENTS_ONLY = 0


class MehlerKernel(DualKernel):
    """``E[φ(u)φ(v)] = Σ_{k<K} b_k c^k + tail(c)`` with ``b_k = a_k²``, ``a_k = E[φ(√q z) He_k(z)/√k!]``.

    ``gap`` uses ``1 − c^k = s_k`` with ``s_{k+1} = d + c·s_k`` (all terms positive for c ≥ 0: no cancellation).
    Smooth φ: probabilists' Gauss–Hermite (``n = K + 64``), and K is chosen so that the tail is < 1e-17·E[φ²]
    (dropped). Kinked φ: Gauss–Legendre split at the kinks; the coefficients decay algebraically, so the tail
    ``Σ_{k≥K} b_k c^k`` is modelled as ``p c^m + r c^{m+1}`` with p, r ≥ 0 chosen so that C(1) and C'(1) are exact
    (the tail's mass ``E[φ²] − Σ b_k`` and slope ``q E[φ'²] − Σ k b_k`` come from 1-D quadrature).

    φ = γ(base(αx + β) + δ): ``transform`` = (α, β, γ, δ) are the pytree leaves; ``base`` (the JAX callable),
    ``jet`` (its NumPy jet, :mod:`sigprop.jets`), ``smooth``, the ``kinks`` of φ (moved by the transform) and
    ``order`` are static. With a jet and NumPy inputs everything runs in NumPy (φ' and φ'' from the jet);
    otherwise in JAX (φ' and φ'' by autodiff).
    """
    has_closed_form = False

    def __init__(self, base, smooth: bool, kinks, order: int, transform=(1.0, 0.0, 1.0, 0.0), jet=None):
        self.base = base
        self.jet = jet
        self.smooth = smooth
        self.kinks = None if kinks is None else tuple(float(k) for k in kinks)
        self.order = int(order)
        self.transform = tuple(transform)
        self.tabulable = smooth
        self.numpy_ok = jet is not None

    def _xp(self, *xs):
        xp = _ns(*xs, *self.transform)
        return np if (xp is np and self.jet is not None) else jnp

    def _derivatives(self, x, k: int):
        """φ̂^(k)(x) for k = 0, 1, 2 (NumPy jets or JAX autodiff)."""
        alpha, beta, gamma, delta = self.transform
        if self._xp(x) is np:
            f = jets.derivatives(self.jet, alpha * x + beta)[k]
            return gamma * (f + delta) if k == 0 else gamma * alpha**k * f
        if k == 0:
            return gamma * (self.base(alpha * x + beta) + delta)
        return self._jax_derivative(k)(x)

    @cached_property
    def _jax_grads(self):
        def fn(y):
            alpha, beta, gamma, delta = self.transform
            return gamma * (self.base(alpha * y + beta) + delta)

        return jax.vmap(jax.grad(fn)), jax.vmap(jax.grad(jax.grad(fn)))

    def _jax_derivative(self, k):
        return self._jax_grads[k - 1]

    def fn(self, x):
        return self._derivatives(x, 0)

    def d1(self, x):
        return self._derivatives(x, 1)

    def d2(self, x):
        return self._derivatives(x, 2)

    def tree_flatten(self):
        return self.transform, (self.base, self.smooth, self.kinks, self.order, self.jet)

    @classmethod
    def tree_unflatten(cls, static, transform):
        base, smooth, kinks, order, jet = static
        return cls(base, smooth, kinks, order, transform, jet)

    # -- the rule ------------------------------------------------------------------------------------
    @cached_property
    def _static_rule(self):
        """(key, z, w) for rules that do not move with q, or None."""
        if self.smooth:
            n = self.order + 64  # exact for He_k·φ up to degree 2n − 1 ≥ 2K + 127
            z, w = gauss_hermite(n)
            return ("hermite", n), z, w
        if self.kinks is None:
            breaks = tuple(np.linspace(-16, 16, _UNKNOWN_KINK_PIECES + 1)[1:-1])
        elif all(k == 0.0 for k in self.kinks):
            breaks = (0.0,)
        else:
            return None
        n = self._piece_nodes
        z, w = piecewise_gaussian_rule(np.array(breaks), n, xp=np)
        return ("legendre", n, *breaks), z, w

    @property
    def _piece_nodes(self):
        return 48 if self.kinks is None else self.order + 96

    def _nodes(self, q):
        """Nodes z and weights w with E[f(z)] ≈ Σ w f(z)."""
        xp = self._xp(q)
        static = self._static_rule
        if static is not None:
            return xp.asarray(static[1]), xp.asarray(static[2])
        kinks = xp.asarray(self.kinks)
        return piecewise_gaussian_rule(xp.concatenate([kinks, -kinks]) / xp.sqrt(q), self._piece_nodes, xp=xp)

    def _hermite(self, z, xp):
        static = self._static_rule
        if static is not None:
            return xp.asarray(hermite_matrix(static[0], self.order))
        return hermite_functions(z, self.order, xp=xp)

    def coefficients(self, q):
        """Hermite coefficients ``a_k`` (k < K) of ``φ(√q z)`` and ``E[φ(√q z)²]``. In NumPy they are kept per
        variance (read-only, the 16 latest): choosing the order (:func:`sigprop.activations._mehler_order`)
        computes the very coefficients the series then needs, which for a kinked φ (order 1,024 on ~3,000
        Legendre nodes) is the largest part of a first C map."""
        if self._xp(q) is not np:
            return self._coefficients(q)
        key = float(q)
        cache = self._numpy_coefficients
        hit = cache.get(key)
        if hit is None:
            a, second = self._coefficients(q)
            a.flags.writeable = False
            hit = cache[key] = (a, second)
            while len(cache) > 16:
                cache.pop(next(iter(cache)), None)
        return hit

    @cached_property
    def _numpy_coefficients(self) -> dict:
        return {}

    def _coefficients(self, q):
        xp = self._xp(q)
        z, w = self._nodes(q)
        fz = self.fn(xp.sqrt(q) * z)
        return self._hermite(z, xp) @ (scaled_weights(z, w, xp=xp) * fz), xp.sum(w * fz * fz)

    def series(self, q):
        """``(b, tail)``: squared coefficients and the tail model ``(p_even, p_odd, m)`` (zero for smooth φ)."""
        if self.order == MOMENTS_ONLY:
            raise RuntimeError("a moments-only Mehler kernel has no series: use Activation.kernel(q_max)")
        xp = self._xp(q)
        a, second = self.coefficients(q)
        b = a * a
        order = b.shape[0]
        if self.smooth:
            if xp is np:  # drop the trailing terms below the quadrature's noise (the order serves the largest q)
                k = np.arange(order)
                significant = np.flatnonzero((k + 1.0) * b > _SERIES_FLOOR * np.sum(b))
                b = b[: int(significant[-1]) + 1] if significant.size else b[:1]
            return b, (0.0, 0.0, float(order))
        k = xp.arange(order)
        mass = xp.maximum(second - xp.sum(b), 0.0)
        # tail at c = −1 from E[φ(u)φ(−u)]: splits the mass into even and odd degrees
        at_minus_one = self._expect(q, lambda x: self.fn(x) * self.fn(-x)) - xp.sum(xp.where(k % 2, -b, b))
        even = xp.clip((mass + at_minus_one) / 2, 0.0, mass)
        slope = q * self.dot_second_moment(q) - xp.sum(k * b)
        m = xp.clip(slope / xp.where(mass > 0, mass, 1.0), order, 64.0 * order)
        return b, (even, mass - even, m)

    # -- kernel -------------------------------------------------------------------------------------
    def _expect(self, q, f):
        xp = self._xp(q)
        z, w = self._nodes(q)
        return xp.sum(w * f(xp.sqrt(q) * z))

    def moments(self, q) -> dict:
        """A moments-only kernel, in NumPy: all six moments from one pass of
        :func:`sigprop.local_maps.variance_moments`. A kernel with a series: the methods one by one, on the
        series' own rule."""
        if self.order != MOMENTS_ONLY:  # a series kernel's moments are on its own rule (see _moment)
            return super().moments(q)
        if self.jet is None:  # (every registered φ and every typed expression has a NumPy rule)
            raise TypeError("MehlerKernel.moments needs a NumPy rule of φ (a jet); this kernel has only JAX's")
        kinks = () if self.smooth else (None if self.kinks is None else
                                        tuple(self.transform[0] * k + self.transform[1] for k in self.kinks))
        out = local_maps.variance_moments(self._jet_derivatives, kinks, q, self.transform)
        if not self.smooth:
            out["ddot"] = _INF + 0.0 * out["ddot"]
        return out

    def _moment(self, name, q, f):
        """A moment at variance q. A kernel with a series takes it on the series' own rule (``E[f(√q z)]``), so
        that E[φ²] and E[φ'²] are the series' C(1) and C'(1) to rounding: an odd φ's C(0) = 0 and C(1) = 1 need
        the mass Σ b_k and E[φ²] from one rule (on two rules, `sin(x) + x` at q ≈ 500 read C_f(0) = −6e-10).
        A moments-only kernel (``Activation.kernel(series=False)``) takes it in NumPy from :meth:`moments`."""
        if self.order != MOMENTS_ONLY or self._xp(q) is not np:
            return self._expect(q, f)
        return self.moments(q)[name]

    def _jet_derivatives(self, x):
        return jets.derivatives(self.jet, x)

    def second_moment(self, q):
        return self._moment("second", q, lambda x: self.fn(x) ** 2)

    def mean(self, q):
        return self._moment("mean", q, self.fn)

    def dot_second_moment(self, q):
        return self._moment("dot", q, lambda x: self.d1(x) ** 2)

    def ddot_second_moment(self, q):
        if not self.smooth:
            return _INF + 0.0 * q
        return self._moment("ddot", q, lambda x: self.d2(x) ** 2)

    def second_moment_slope(self, q):
        return self._moment("second_slope", q, lambda x: self.fn(x) * self.d1(x) * x / q)

    def mean_slope(self, q):
        return self._moment("mean_slope", q, lambda x: self.d1(x) * x / (2 * q))

    def gap(self, q, d):
        return series_gap(*self.series(q), d)

    def params(self, q):
        return self.series(q)

    def gap_with(self, params, q, d):
        return series_gap(*params, d)

    def cross(self, q, c):
        return self.second_moment(q) - self.gap(q, 1.0 - _as_float(self._xp(q, c), c))

    def dot_cross(self, q, c):
        return series_slope(*self.series(q), c) / q


_PYTREES.append((MehlerKernel, None))


# --------------------------------------------------------------------------------------------------
# Tabulated fixed layer maps (deep networks whose q has converged)
# --------------------------------------------------------------------------------------------------

#: Cells of the table of ``G(d) = gap(q, d)/d`` on [0, 2]; 4-point Lagrange interpolation has error
#: ≈ (h⁴/24)·|G| with h = 2/8192 ≈ 2.4e-4, i.e. ~1e-16·|G| relative.
TABLE_CELLS = 8192


def tabulate(kern: DualKernel, params, q):
    """``G(d_i) = gap(q, d_i)/d_i`` on ``d_i = 2i/M`` (``G(0) = q E[φ'²]``, the limit)."""
    grid = jnp.arange(1, TABLE_CELLS + 1) * (2.0 / TABLE_CELLS)
    g = kern.gap_with(params, q, grid) / grid
    return jnp.concatenate([jnp.reshape(q * kern.dot_second_moment(q), (1,)), g])


def interpolate(table, d):
    """Cubic (4-point Lagrange) interpolation of a :func:`tabulate` table at ``d ∈ [0, 2]``."""
    cells = table.shape[0] - 1
    x = d * (cells / 2.0)
    i = jnp.clip(jnp.floor(x).astype(jnp.int32), 1, cells - 2)
    t = x - i
    w0 = -t * (t - 1) * (t - 2) / 6
    w1 = (t + 1) * (t - 1) * (t - 2) / 2
    w2 = -(t + 1) * t * (t - 2) / 2
    w3 = (t + 1) * t * (t - 1) / 6
    return w0 * table[i - 1] + w1 * table[i] + w2 * table[i + 1] + w3 * table[i + 2]


class SettledMap:
    """A fixed layer's map ``d ↦ d·G(d)``, ``G(d) = gap(q, d)/d``, tabulated once and evaluated in NumPy: for
    long runs of identical layers whose map no longer changes (q at a fixed point of Q, or a kernel whose
    ``gap`` is linear in q, where only the scalar σ_w² q_l / Q(q_l) in front moves).

    G is sampled on :data:`TABLE_CELLS` + 1 nodes uniform in the angle θ = arccos(1 − d) and interpolated by
    4-point Lagrange cubics in θ (the polynomial :func:`interpolate` uses), kept per cell in power form so that
    one layer costs about twelve array operations (:meth:`iterate`). In θ, G is smooth for every kernel: the
    ReLU family's √d and √(2 − d) terms (sin θ − θ cos θ, Cho & Saul 2009) are analytic there, and the nodes
    crowd towards d = 0 and d = 2, where a smooth kernel's G varies fastest at large q. Error ≈ (h⁴/24)·|∂⁴G/∂θ⁴| with
    h = π/8192: 1e-16 to 1e-14 relative for q ≤ 4 (tests/test_deep_fold.py).
    """

    def __init__(self, kern: DualKernel, params, q: float):
        m = TABLE_CELLS
        d = 2.0 * np.sin(np.arange(1, m + 1) * (math.pi / (2 * m))) ** 2  # 1 − cos θ_i without cancellation
        self.scale = 2.0 * m / math.pi  # x = θ/h = arcsin(√(d/2))·2M/π
        g = np.concatenate([kern.gap_with(params, q, chunk) for chunk in np.array_split(d, 8)]) / d
        y = np.concatenate([[float(q * kern.dot_second_moment(q))], g])  # G(0) = q E[φ'²], the limit
        ym, y0, y1, y2 = y[:-3], y[1:-2], y[2:-1], y[3:]  # the four nodes of cells 1 … M − 2
        coef = np.stack([y0, -ym / 3 - y0 / 2 + y1 - y2 / 6, ym / 2 - y0 + y1 / 2, -ym / 6 + y0 / 2 - y1 / 2 + y2 / 6])
        # cells 0, M − 1 and M: the end cubics shifted to start at their own node, whose value they keep exactly (so
        # d = 0 and d = 2 map exactly, which the repelling fixed point c = −1 of a chaotic odd φ needs)
        ends = [_shifted(coef[:, 0], -1.0, y[0]), _shifted(coef[:, -1], 1.0, y[m - 1]),
                _shifted(coef[:, -1], 2.0, y[m])]
        self.coef = np.concatenate([ends[0][:, None], coef, np.stack(ends[1:], axis=1)], axis=1)  # column i: cell i

    def __call__(self, d: np.ndarray) -> np.ndarray:
        """``d·G(d)`` for d ∈ [0, 2] (a NumPy array)."""
        return self.iterate(np.asarray(d, dtype=float), (1.0,), clip=False)

    def iterate(self, d: np.ndarray, gains, states: list | None = None, clip: bool = True) -> np.ndarray:
        """Layer after layer ``d ← s·d·G(d)`` for each s in ``gains`` (the layers' σ_w² q_l/Q(q_l) over the table's
        q), clipped to [0, 2] (``clip``; see ``network.dense._physical``), each state appended to ``states``.
        About twelve NumPy calls a layer, in place where they can be: on ~130 points a call costs ~1 µs, so
        this loop is what a cold deep c_map costs."""
        coef, scale = self.coef, self.scale
        d = np.clip(d, 0.0, 2.0)
        for s in gains:
            x = np.sqrt(d * 0.5)
            np.arcsin(x, out=x)
            x *= scale  # x = θ/h ∈ [0, M]: cell i = ⌊x⌋ (≤ M, the last cell, as d ≤ 2), t = x − i
            i = x.astype(np.intp)
            x -= i
            c0, c1, c2, c3 = np.take(coef, i, axis=1)
            g = c3 * x
            g += c2
            g *= x
            g += c1
            g *= x
            g += c0
            g *= d
            if s != 1.0:
                g *= s
            if clip:
                np.minimum(np.maximum(g, 0.0, out=g), 2.0, out=g)
            d = g
            if states is not None:
                states.append(d)
        return d


def _shifted(a, s: float, value: float) -> np.ndarray:
    """Power-form coefficients of p(t + s) for p(t) = Σ a_k t^k (cubic), with the constant term set to ``value``."""
    a0, a1, a2, a3 = a
    return np.array([value, a1 + 2 * a2 * s + 3 * a3 * s * s, a2 + 3 * a3 * s, a3])


def _one_minus_power(c, d, m):
    """``1 − c^m`` for integer-valued m ≥ 1 (float), via expm1/log1p for c > 0 (no cancellation near c = 1)."""
    xp = _ns(c, d, m)
    with np.errstate(divide="ignore"):
        pos = -xp.expm1(m * xp.log1p(-xp.minimum(d, 1.0)))
    return xp.where(c > 0, pos, 1.0 - _power(c, m))


def _power(c, m):
    xp = _ns(c, m)
    sign = xp.where((c < 0) & (xp.mod(m, 2) == 1), -1.0, 1.0)
    return sign * xp.abs(c) ** m


def _tail_terms(tail):
    """Tail ``Σ_{k≥K} b_k c^k`` ≈ even mass on degrees (e, e+2), odd mass on (o, o+2), each pair weighted so the
    mean degree is m: mass, slope and the value at c = −1 are then exact."""
    even, odd, m = tail
    terms = []
    xp = _ns(even, odd, m)
    for mass, parity in ((even, 0.0), (odd, 1.0)):
        m0 = xp.floor((m - parity) / 2) * 2 + parity
        upper = mass * (m - m0) / 2
        terms += [(mass - upper, m0), (upper, m0 + 2)]
    return terms


_UNROLL_MAX = 0  # orders up to this are unrolled in Python; beyond, scanned (unrolling compiles slowly)


def _polynomial(c, coef: np.ndarray) -> np.ndarray:
    """``Σ_{j<n} coef_j c^j`` at every element of ``c`` (NumPy), in blocks of m = ⌈√n⌉ terms:

        Σ_i (c^m)^i · Σ_{r<m} coef_{im+r} c^r,

    two m-column Vandermonde matrices and one matrix product, ~2√n operations a point instead of the n of an
    n-column Vandermonde matrix (n = 1,023, a kinked φ's series: 0.8 → 0.05 ms a layer on 201 points). Every
    power is a product of at most 2√n factors (rounding ≲ n ulps, as a running product has)."""
    c = np.asarray(c, dtype=float)
    n = coef.shape[0]
    m = math.isqrt(max(n - 1, 0)) + 1
    blocks = -(-n // m)
    table = np.zeros(blocks * m)
    table[:n] = coef
    flat = c.ravel()
    low = np.vander(flat, m, increasing=True)  # c^r, r < m
    high = np.vander(low[:, -1] * flat, blocks, increasing=True)  # (c^m)^i, i < blocks
    return np.einsum("pi,pi->p", low @ table.reshape(blocks, m).T, high).reshape(c.shape)


def series_gap(b, tail, d):
    """``Σ_k b_k (1 − c^k) + tail`` with ``c = 1 − d``, by ``s_{k+1} = d + c s_k`` (no cancellation).

    For K ≤ 256 the loop over k is unrolled (K is static), which XLA fuses into one pass over d.
    """
    xp = _ns(b, d, *tail)
    d = _as_float(xp, d)
    c = 1.0 - d
    if xp is np:
        # Σ_k b_k (1 − c^k) = d Σ_j B_j c^j with B_j = Σ_{k>j} b_k ≥ 0 (1 − c^k = d Σ_{j<k} c^j): Horner on
        # positive coefficients, no cancellation for c ≥ 0
        tails = np.cumsum(b[::-1])[::-1][1:]
        acc = d * _polynomial(c, tails) if tails.size else np.zeros_like(d)
    elif b.shape[0] <= _UNROLL_MAX:
        s, acc = jnp.zeros_like(d), jnp.zeros_like(d)
        for k in range(1, b.shape[0]):
            s = d + c * s
            acc = acc + b[k] * s
    else:
        def step(carry, bk):
            s, acc = carry
            s = d + c * s
            return (s, acc + bk * s), None

        (_, acc), _ = jax.lax.scan(step, (jnp.zeros_like(d), jnp.zeros_like(d)), b[1:], unroll=16)
    if xp is np and tail[0] == 0.0 and tail[1] == 0.0:  # smooth φ: no tail
        return acc
    return acc + sum(w * _one_minus_power(c, d, m) for w, m in _tail_terms(tail))


def series_slope(b, tail, c):
    """``d/dc`` of the series: ``Σ_k k b_k c^{k−1}`` (Horner) plus the tail's."""
    xp = _ns(b, c, *tail)
    c = _as_float(xp, c)
    kb = b * xp.arange(b.shape[0])
    if xp is np:
        acc = _polynomial(c, kb[1:]) if kb.shape[0] > 1 else np.zeros_like(c)
    elif b.shape[0] <= _UNROLL_MAX:
        acc = jnp.zeros_like(c)
        for k in range(b.shape[0] - 1, 0, -1):
            acc = acc * c + kb[k]
    else:
        acc, _ = jax.lax.scan(lambda acc, x: (acc * c + x, None), jnp.zeros_like(c), kb[:0:-1], unroll=16)
    if xp is np and tail[0] == 0.0 and tail[1] == 0.0:
        return acc
    return acc + sum(w * m * _power(c, m - 1) for w, m in _tail_terms(tail))


if "jax" in sys.modules:  # JAX is in use already: register now (cheap), so kernels are pytrees from the start
    enable_jax()
