"""Activations: the registry, user expressions, and the transformed φ̂(x) = γ(φ(αx + β) + δ).

An :class:`Activation` is an immutable, hashable description of an elementwise φ: a JAX callable, a NumPy jet
(φ, φ', φ''; :mod:`sigprop.jets`), its LaTeX formula, whether it is smooth (C^∞; kinked ones are integrated
piecewise), where its kinks are, and — where one exists — a closed-form dual kernel (see :mod:`sigprop.kernels`).

JAX is imported only when a JAX callable or a dual kernel is first needed (a network map, a JAX input): the
shaping methods work on the NumPy jets, so ``sp.dks`` and ``sp.eoc`` never import JAX.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

import numpy as np

from . import jets
from ._lazy import Lazy as _Lazy
from .errors import ActivationError, ConfigurationError

if TYPE_CHECKING:  # pragma: no cover
    from .kernels import DualKernel


jnp = _Lazy("jax.numpy")
_nn = _Lazy("jax.nn")
_special = _Lazy("jax.scipy.special")
_stats_norm = _Lazy("jax.scipy.stats.norm")
_k = _Lazy("sigprop.kernels")

_SELU_ALPHA = jets.SELU_ALPHA
_SELU_SCALE = jets.SELU_SCALE


@dataclass(frozen=True)
class _Entry:
    make: Callable[..., Callable]  # params -> fn
    latex: str  # may contain {param} placeholders
    smooth: bool
    kinks: tuple[float, ...] = ()
    defaults: Mapping[str, float] = field(default_factory=dict)
    kernel: Callable[..., DualKernel] | None = None  # params -> closed-form kernel (built on first use)
    check: Callable[..., str | None] = lambda **_: None  # params -> error text or None
    jet: Callable[..., Callable] | None = None  # params -> NumPy jet function (φ, φ', φ''); see sigprop.jets


def _jet(name: str) -> Callable[[], Callable]:
    """A registry entry's jet maker from the primitive of the same name (no parameters)."""
    primitive = jets.PRIMITIVES[name]
    return lambda: jets.lift(primitive.rule, primitive.value)


def _slope_check(negative_slope):
    return None if math.isfinite(negative_slope) else "negative_slope must be finite"


def _alpha_check(alpha):
    return None if math.isfinite(alpha) and alpha > 0 else "alpha must be finite and > 0"


_REGISTRY: dict[str, _Entry] = {
    "tanh": _Entry(lambda: jnp.tanh, r"\tanh(x)", True, jet=_jet("tanh")),
    "sigmoid": _Entry(lambda: _nn.sigmoid, r"\sigma(x) = \frac{1}{1 + e^{-x}}", True, jet=_jet("sigmoid")),
    "erf": _Entry(lambda: _special.erf, r"\operatorname{erf}(x)", True, kernel=lambda: _k.ErfKernel(), jet=_jet("erf")),
    "relu": _Entry(lambda: _nn.relu, r"\max(x, 0)", False, (0.0,), kernel=lambda: _k.ABReluKernel(0.0, 1.0),
                   jet=_jet("relu")),
    "leaky_relu": _Entry(
        lambda negative_slope: (lambda x: jnp.where(x >= 0, x, negative_slope * x)),
        r"\max(x, 0) + {negative_slope}\,\min(x, 0)", False, (0.0,), {"negative_slope": 0.2},
        kernel=lambda negative_slope: _k.ABReluKernel(negative_slope, 1.0), check=_slope_check,
        jet=lambda negative_slope: jets.lift(lambda v: jets.PRIMITIVES["leaky_relu"].rule(v, negative_slope),
                                             lambda v: jets.PRIMITIVES["leaky_relu"].value(v, negative_slope))),
    "abs": _Entry(lambda: jnp.abs, r"|x|", False, (0.0,), kernel=lambda: _k.ABReluKernel(-1.0, 1.0), jet=_jet("abs")),
    "elu": _Entry(
        lambda alpha: (lambda x: jnp.where(x > 0, x, alpha * jnp.expm1(jnp.minimum(x, 0.0)))),
        r"x \text{ if } x > 0 \text{ else } {alpha}(e^{x} - 1)", False, (0.0,), {"alpha": 1.0},
        check=_alpha_check, jet=lambda alpha: jets.lift(jets.elu_rule(alpha), jets.elu_value(alpha))),
    "selu": _Entry(
        lambda: (lambda x: _SELU_SCALE * jnp.where(x > 0, x, _SELU_ALPHA * jnp.expm1(jnp.minimum(x, 0.0)))),
        r"\lambda\,(x \text{ if } x > 0 \text{ else } \alpha(e^{x} - 1))", False, (0.0,), jet=_jet("selu")),
    "softplus": _Entry(lambda: _nn.softplus, r"\log(1 + e^{x})", True, jet=_jet("softplus")),
    "gelu": _Entry(lambda: (lambda x: x * _stats_norm.cdf(x)), r"x\,\Phi(x)", True, kernel=lambda: _k.GeluKernel(),
                   jet=_jet("gelu")),
    "gelu_tanh": _Entry(
        lambda: (lambda x: 0.5 * x * (1 + jnp.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))),
        r"\tfrac{x}{2}\left(1 + \tanh\left(\sqrt{2/\pi}\,(x + 0.044715 x^3)\right)\right)", True,
        jet=_jet("gelu_tanh")),
    "swish": _Entry(lambda: _nn.silu, r"x\,\sigma(x)", True, jet=_jet("silu")),
    "sin": _Entry(lambda: jnp.sin, r"\sin(x)", True, kernel=lambda: _k.SinKernel(), jet=_jet("sin")),
    "identity": _Entry(lambda: (lambda x: x), r"x", True, kernel=lambda: _k.ABReluKernel(1.0, 1.0),
                       jet=_jet("identity")),
}
_ALIASES = {"silu": "swish", "linear": "identity", "gelu_exact": "gelu", "leaky": "leaky_relu"}


@dataclass(frozen=True, eq=False)
class Activation:
    """An elementwise activation ``x ↦ γ(φ(αx + β) + δ)`` (the transform is the identity unless set).

    Attributes: ``name`` (registry name or expression text), ``latex`` (formula of the base φ), ``smooth``
    (C^∞), ``kinks`` (x positions where φ is not smooth; ``None`` if unknown), ``params`` (e.g. the
    leaky-ReLU slope), ``transform`` = (α, β, γ, δ). Equality and hashing use (name, params, transform).
    """

    name: str
    make: Callable[[], Callable] = field(repr=False)  # () -> the JAX callable of the base φ (imports JAX)
    latex: str
    smooth: bool
    kinks: tuple[float, ...] | None
    params: tuple[tuple[str, float], ...] = ()
    transform: tuple[float, float, float, float] = (1.0, 0.0, 1.0, 0.0)
    make_closed_form: Callable[[], DualKernel] | None = field(default=None, repr=False)
    #: NumPy jet of the base φ (value, φ', φ''; :mod:`sigprop.jets`), used by the compile-free local maps
    jet: Callable | None = field(default=None, repr=False)

    # identity ---------------------------------------------------------------------------------------
    def _key(self):
        return (self.name, self.params, self.transform)

    def __eq__(self, other):
        return isinstance(other, Activation) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __reduce__(self):
        """Pickled as its name, parameters and transform, rebuilt by :func:`activation` (expressions are parsed
        again, safely): how networks travel to Dask workers (:mod:`sigprop.sweeps`). An activation registered at
        run time must be registered on the receiving side too."""
        return _rebuild, (self.name, self.params, self.transform)

    @cached_property
    def base(self) -> Callable:
        """The base φ as a JAX callable (JAX is imported here, on first use)."""
        return self.make()

    @cached_property
    def closed_form(self) -> DualKernel | None:
        """The closed-form dual kernel of the base φ, or None."""
        return None if self.make_closed_form is None else self.make_closed_form()

    # evaluation -------------------------------------------------------------------------------------
    def __call__(self, x):
        """φ̂(x) = γ(φ(αx + β) + δ); the constants are Python floats, so the dtype of ``x`` is kept: a JAX array
        (or a tracer, inside jit/grad) goes through JAX in its own dtype; NumPy arrays and Python numbers are
        evaluated in NumPy (no JAX call, whatever JAX's x64 setting), in x's float dtype (Python numbers and
        integers in float64): float32 stays float32, as a finite-width network runs (:func:`sigprop.jets.value`)."""
        alpha, beta, gamma, delta = self.transform
        if self.jet is not None and isinstance(x, (np.ndarray, float, int, np.floating, np.integer)) \
                and not isinstance(x, bool):
            arr = np.asarray(x)
            if not np.issubdtype(arr.dtype, np.floating):
                arr = arr.astype(float)
            with np.errstate(over="ignore", under="ignore"):
                if self.is_transformed:  # in place: a finite network applies φ̂ to (seeds, B, width) arrays
                    u = alpha * arr
                    u += beta
                    out = jets.value(self.jet, u)
                    out += delta
                    out *= gamma
                else:
                    out = jets.value(self.jet, arr)
            return out.astype(arr.dtype, copy=False) if arr.ndim else out.astype(arr.dtype)[()]
        if self.transform == (1.0, 0.0, 1.0, 0.0):
            return self.base(x)
        return gamma * (self.base(alpha * x + beta) + delta)

    def derivatives(self, x) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(φ̂(x), φ̂'(x), φ̂''(x))`` in NumPy float64, without JAX: ``φ̂ = γ(φ(αx + β) + δ)`` gives
        ``γα φ'(αx + β)`` and ``γα² φ''(αx + β)``. (φ'' is 0 a.e. for the ReLU family.)"""
        alpha, beta, gamma, delta = self.transform
        f0, f1, f2 = jets.derivatives(self.jet, alpha * np.asarray(x, dtype=float) + beta)
        return gamma * (f0 + delta), gamma * alpha * f1, gamma * alpha * alpha * f2

    @property
    def fn(self) -> Callable:
        """The activation as a plain JAX callable (usable in Flax/Equinox/Haiku code)."""
        return self.__call__

    @property
    def is_transformed(self) -> bool:
        return self.transform != (1.0, 0.0, 1.0, 0.0)

    @property
    def has_closed_form(self) -> bool:
        return self.make_closed_form is not None and (self.transform[1] == 0.0)

    @property
    def display_name(self) -> str:
        if not self.is_transformed:
            return self.name
        a, b, g, d = self.transform
        return f"{g:.4g}·({self.name}({a:.4g}x{b:+.4g}){d:+.4g})"

    def transformed(self, alpha=1.0, beta=0.0, gamma=1.0, delta=0.0) -> Activation:
        """``x ↦ γ(φ̂(αx + β) + δ)`` composed with this activation's own transform (still one affine pair)."""
        vals = [float(v) for v in (alpha, beta, gamma, delta)]
        if not all(math.isfinite(v) for v in vals):
            raise ActivationError(f"transform constants must be finite, got {tuple(vals)}")
        if vals[0] == 0.0 or vals[2] == 0.0:
            raise ActivationError("alpha and gamma must be non-zero (the activation would be constant)")
        a0, b0, g0, d0 = self.transform
        a1, b1, g1, d1 = vals
        new = (a0 * a1, a0 * b1 + b0, g0 * g1, d0 + d1 / g0)
        return replace(self, transform=tuple(float(v) for v in new))

    # kernels ----------------------------------------------------------------------------------------
    @property
    def kernel_kinks(self):
        """Kinks of φ̂ in x (moved by the input transform)."""
        if self.kinks is None:
            return None
        a, b = self.transform[:2]
        return tuple((k - b) / a for k in self.kinks)

    def kernel(self, q_max: float = 1.0, series: bool = True) -> DualKernel:
        """The dual kernel used for variances up to ``q_max`` (closed form, else a Mehler series).

        ``series=False``: a kernel for the moments only (E[φ²], E[φ], E[φ'²], E[φ''²] and the slopes in q, at any
        variance): the closed form, or a Mehler kernel without a series whose moments come from NumPy quadrature
        (no order is chosen and no variance is refused; its cross terms are unavailable). A φ without a NumPy jet
        (a JAX callable) gets its series kernel for ``q_max``, whose rule is sized for that variance."""
        if not series and self.jet is not None and not (self.has_closed_form and self.closed_form.has_slopes()):
            return _mehler_kernel(self, _k.MOMENTS_ONLY)  # (also a registered closed form without the q-slopes)
        if self.has_closed_form:
            a, _, g, d = self.transform
            if self.transform == (1.0, 0.0, 1.0, 0.0):
                return self.closed_form
            return _k.AffineKernel(self.closed_form, a, g, d)
        order = _mehler_order(self, _q_bucket(q_max))
        if self.smooth and order == _k.MEHLER_ORDERS[-1]:  # at the largest order: is it still accurate?
            q_key = float(2.0 ** (math.ceil(8 * math.log2(q_max)) / 8)) if q_max > 0 and math.isfinite(q_max) else 1.0
            _check_resolved(self, q_key)  # (q rounded up by at most 9 %: cached)
        return _mehler_kernel(self, order)


def _q_bucket(q: float) -> float:
    """Round q up to a power of two so that order selection (and JIT compilation) is cached."""
    if not (q > 0 and math.isfinite(q)):
        return 1.0
    return float(2.0 ** math.ceil(math.log2(q)))


@lru_cache(maxsize=256)
def _mehler_kernel(act: Activation, order: int):
    return _k.MehlerKernel(act.make() if act.jet is None else _LazyBase(act), act.smooth, act.kernel_kinks, order,
                           act.transform, act.jet)


class _LazyBase:
    """The base φ's JAX callable, built on first call (a NumPy-only kernel never imports JAX); hashable by the
    activation's name and parameters, as a static part of the kernel's pytree."""

    __slots__ = ("_act",)

    def __init__(self, act: Activation):
        self._act = replace(act, transform=(1.0, 0.0, 1.0, 0.0))

    def __call__(self, x):
        return self._act.base(x)

    def __eq__(self, other):
        return isinstance(other, _LazyBase) and other._act == self._act

    def __hash__(self):
        return hash(("lazy-base", self._act))


@lru_cache(maxsize=256)
def _mehler_order(act: Activation, q: float) -> int:
    """Smallest order in MEHLER_ORDERS whose tail Σ_{k≥K} a_k² is below 1e-17·E[φ²] at variance q
    (coefficients computed to order 256 first, and to 1024 only if that is not enough)."""
    orders = _k.MEHLER_ORDERS
    for trial in (256, orders[-1]):
        kern = _mehler_kernel(act, trial)
        if act.jet is not None:  # NumPy (float64, no compile)
            with np.errstate(all="ignore"):
                a, second = kern.coefficients(float(q))
        else:
            import jax

            with jax.enable_x64(True):
                a, second = kern.coefficients(jnp.asarray(q))
        b = np.asarray(a, dtype=float) ** 2
        second = float(second)
        if not (math.isfinite(second) and np.all(np.isfinite(b))):
            raise ActivationError(f"{act.display_name}: E[φ(√q z)²] is not finite at q = {q:g}")
        tails = np.cumsum(b[::-1])[::-1]  # tails[K] = Σ_{k≥K} b_k
        for order in orders:
            if order < trial and tails[order] <= 1e-17 * max(second, 1e-300):
                return order
    return orders[-1]


@lru_cache(maxsize=512)
def _check_resolved(act: Activation, q: float) -> None:
    """Refuse a smooth φ at a variance where the largest Mehler series misses more than SERIES_SHORTFALL_MAX of
    E[φ(√q z)²] or of q E[φ'(√q z)²] (the series' C(1) and C'(1)): φ(√q z) is then nearly a step, which the
    1,088-node Gauss–Hermite rule and 1,024 terms no longer resolve, and E[φ²] itself is off by ~10× the
    shortfall (tanh: 1.5e-10 at q = 16, 1e-4 at q = 100)."""
    kern = _mehler_kernel(act, _k.MEHLER_ORDERS[-1])
    with np.errstate(all="ignore"):
        if act.jet is not None:
            a, second = kern.coefficients(q)
        else:
            import jax

            with jax.enable_x64(True):
                a, second = kern.coefficients(jnp.asarray(q))
    second = float(second)
    b = np.asarray(a, dtype=float) ** 2
    with np.errstate(all="ignore"):
        slope = float(q * kern.dot_second_moment(q))  # q E[φ'²] = Σ k b_k: C'(1) needs it as much as C(1)
    shortfall = max((second - float(np.sum(b))) / max(second, 1e-300),
                    abs(slope - float(np.arange(b.size) @ b)) / max(slope, 1e-300))
    if not shortfall <= SERIES_SHORTFALL_MAX:
        raise ConfigurationError(
            f"{act.display_name} at variance q ≈ {q:.3g}: sigprop's Mehler series (1,024 terms) misses "
            f"{shortfall:.1e} of E[φ(√q z)²] or of q E[φ'(√q z)²] there, so its kernel maps would be wrong by more "
            "than 1e-10. The "
            "pre-activation variance is too large for this activation: use a smaller σ_w or σ_b, a smaller input "
            "q, or a normalised or shaped activation.")


#: the largest relative mass a smooth φ's 1,024-term Mehler series may miss (beyond it the kernel is refused:
#: E[φ²] is then off by ~10× this; at 1e-12 every map stays within ~1e-11)
SERIES_SHORTFALL_MAX = 1e-12


# --------------------------------------------------------------------------------------------------
# Constructors
# --------------------------------------------------------------------------------------------------


def register_activation(name: str, *, jax_fn: Callable[[], Callable], rule: Callable, latex: str,
                        smooth: bool = True, kinks: tuple[float, ...] = (), kernel: Callable | None = None) -> None:
    """Add an activation to the registry (a module in :mod:`sigprop.activation_defs` calls this: one file per
    activation). ``jax_fn``: a thunk returning the JAX callable (JAX is imported on first use); ``rule``:
    NumPy ``v -> (f(v), f'(v), f''(v))``; ``kernel``: a thunk returning its closed-form dual kernel, or None
    (Mehler series)."""
    if name in _REGISTRY or name in _ALIASES:
        raise ActivationError(f"an activation named {name!r} is registered already")
    _REGISTRY[name] = _Entry(lambda: jax_fn(), latex, smooth, tuple(kinks), kernel=kernel,
                             jet=lambda: jets.lift(rule))


def list_activations() -> list[str]:
    """Names of the registry activations."""
    _load_definitions()
    return sorted(_REGISTRY)


_loaded = False


def _load_definitions() -> None:
    """Import every module of :mod:`sigprop.activation_defs` (each registers one activation), once."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib
    import pkgutil

    from . import activation_defs

    for info in sorted(pkgutil.iter_modules(activation_defs.__path__), key=lambda m: m.name):
        importlib.import_module(f"{activation_defs.__name__}.{info.name}")


def _from_registry(name: str, params: Mapping[str, float]) -> Activation:
    _load_definitions()
    key = _ALIASES.get(name, name)
    entry = _REGISTRY[key]
    unknown = set(params) - set(entry.defaults)
    if unknown:
        allowed = ", ".join(entry.defaults) or "none"
        raise ActivationError(f"{key} has no parameter(s) {sorted(unknown)}; allowed: {allowed}")
    values = {}
    for k, default in entry.defaults.items():
        v = params.get(k, default)
        try:
            values[k] = float(v)
        except (TypeError, ValueError):
            raise ActivationError(f"{key}: parameter {k} must be a number, got {v!r}") from None
    problem = entry.check(**values)
    if problem:
        raise ActivationError(f"{key}: {problem}")
    latex = entry.latex
    for k, v in values.items():
        latex = latex.replace("{" + k + "}", f"{v:g}")
    kernel = entry.kernel
    return Activation(
        name=key,
        make=lambda: entry.make(**values),
        latex=latex,
        smooth=entry.smooth,
        kinks=entry.kinks,
        params=tuple(sorted(values.items())),
        make_closed_form=(lambda: kernel(**values)) if kernel else None,
        jet=entry.jet(**values),
    )


def _from_expression(text: str) -> Activation:
    from .expression import parse_expression  # local: the parser is only needed for typed expressions

    parsed = parse_expression(text)
    return Activation(name=parsed.text, make=lambda: parsed.fn, latex=parsed.latex, smooth=parsed.smooth,
                      kinks=parsed.kinks, jet=parsed.jet)


def _rebuild(name: str, params: tuple, transform: tuple) -> Activation:
    act = activation((name, dict(params)) if _ALIASES.get(name, name) in _REGISTRY else name)
    return replace(act, transform=tuple(transform))


def activation(spec) -> Activation:
    """An :class:`Activation` from a registry name, ``(name, params)``, an expression in ``x``, or an Activation.

    >>> activation("tanh"); activation(("leaky_relu", {"negative_slope": 0.2})); activation("x*sigmoid(x)")
    """
    if isinstance(spec, Activation):
        return spec
    _load_definitions()
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        name, params = spec
        if _ALIASES.get(name, name) not in _REGISTRY:
            raise ActivationError(f"unknown activation {name!r}; known: {', '.join(list_activations())}")
        if not isinstance(params, Mapping):
            raise ActivationError(f"parameters of {name!r} must be a mapping, got {type(params).__name__}")
        return _from_registry(name, params)
    if isinstance(spec, str):
        text = spec.strip()
        if _ALIASES.get(text, text) in _REGISTRY:
            return _from_registry(text, {})
        return _from_expression(text)
    raise ActivationError(
        f"cannot make an activation from {type(spec).__name__}; give a name ({', '.join(list_activations())}),"
        " a (name, params) pair, or an expression in x such as 'tanh(x) + 0.1*x'")
