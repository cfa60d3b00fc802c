"""Second-order jets in NumPy: an activation's value, first and second derivative, with no autodiff compile.

A :class:`Jet` ``(v, d1, d2)`` is a number (or array) together with its first two derivatives with respect to
one variable. Arithmetic follows the product and quotient rules, and :func:`apply` the chain rule

    f(u)' = f'(u) u',    f(u)'' = f''(u) u'² + f'(u) u''.

Every elementwise primitive an activation may use (the registry and the expression parser) is listed once in
:data:`PRIMITIVES` with NumPy formulas (and :mod:`sigprop.special`) for ``f``, ``f'`` and ``f''``. So ``φ``,
``φ'`` and ``φ''`` on a quadrature rule cost a few vectorised NumPy calls: the local maps that DKS, TAT and EOC
solve for (:mod:`sigprop.local_maps`) need no JAX tracing or XLA compilation. For kinked primitives (ReLU family) the
derivatives are the one-sided ones away from the kink (``f'' = 0`` a.e.); quadrature rules split at kinks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from . import special

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_GELU_C = 0.044715
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


class Jet:
    """``(v, d1, d2)``: a value and its first two derivatives; NumPy arrays or floats."""

    __slots__ = ("v", "d1", "d2")
    __array_priority__ = 1000  # ndarray ⊕ Jet dispatches to the Jet's reflected operator

    def __init__(self, v, d1, d2):
        self.v, self.d1, self.d2 = v, d1, d2

    @staticmethod
    def variable(x) -> Jet:
        """The independent variable x: derivatives 1 and 0."""
        x = np.asarray(x, dtype=float)
        return Jet(x, np.ones_like(x), np.zeros_like(x))

    def __add__(self, o):
        if isinstance(o, Jet):
            return Jet(self.v + o.v, self.d1 + o.d1, self.d2 + o.d2)
        return Jet(self.v + o, self.d1, self.d2)

    __radd__ = __add__

    def __neg__(self):
        return Jet(-self.v, -self.d1, -self.d2)

    def __pos__(self):
        return self

    def __sub__(self, o):
        return self + (-o)

    def __rsub__(self, o):
        return (-self) + o

    def __mul__(self, o):
        if isinstance(o, Jet):
            return Jet(self.v * o.v, self.d1 * o.v + self.v * o.d1,
                       self.d2 * o.v + 2.0 * self.d1 * o.d1 + self.v * o.d2)
        return Jet(self.v * o, self.d1 * o, self.d2 * o)

    __rmul__ = __mul__

    def reciprocal(self) -> Jet:
        r = 1.0 / self.v
        return _chain(self, r, -r * r, 2.0 * r * r * r)

    def __truediv__(self, o):
        if isinstance(o, Jet):
            return self * o.reciprocal()
        return self * (1.0 / o)

    def __rtruediv__(self, o):
        return self.reciprocal() * o

    def __pow__(self, p):
        if isinstance(p, Jet):
            raise TypeError("a Jet exponent is not supported (exponents are number literals)")
        if p == 0:
            return Jet(np.ones_like(self.v), np.zeros_like(self.d1), np.zeros_like(self.d2))
        if p == 1:
            return self
        with np.errstate(divide="ignore", invalid="ignore"):
            v = self.v
            if float(p).is_integer():
                n = int(p)
                f, f1 = v**n, n * v ** (n - 1)
                f2 = n * (n - 1) * v ** (n - 2) if n != 1 else np.zeros_like(v)
            else:
                f, f1, f2 = v**p, p * v ** (p - 1), p * (p - 1) * v ** (p - 2)
        return _chain(self, f, f1, f2)


def _chain(u: Jet, f, f1, f2) -> Jet:
    """``f(u)`` given ``f, f', f''`` evaluated at ``u.v`` (chain rule to second order)."""
    return Jet(f, f1 * u.d1, f2 * u.d1 * u.d1 + f1 * u.d2)


class Primitive(NamedTuple):
    """An elementwise function with its first two derivatives, NumPy in and out: ``rule(v) -> (f, f', f'')``;
    ``value(v) -> f`` alone, in v's own float dtype (a finite network's forward pass needs no derivatives, and
    float32 NumPy runs several times faster than float64)."""

    rule: Callable
    nargs: int = 1
    value: Callable | None = None

    def value_of(self, v, *args):
        """``f(v)``: ``value`` where given, else the rule's first output."""
        return self.value(v, *args) if self.value is not None else self.rule(v, *args)[0]


def _tanh(v):
    t = np.tanh(v)
    s = 1.0 - t * t
    return t, s, -2.0 * t * s


def _sigmoid(v):
    s = special.expit(v)
    d = s * (1.0 - s)
    return s, d, d * (1.0 - 2.0 * s)


def _erf(v):
    g = _TWO_OVER_SQRT_PI * np.exp(-v * v)
    return special.erf(v), g, -2.0 * v * g


def _erfc(v):
    f, d1, d2 = _erf(v)
    return special.erfc(v), -d1, -d2


def _exp(v):
    e = np.exp(v)
    return e, e, e


def _expm1(v):
    e = np.exp(v)
    return np.expm1(v), e, e


def _sin(v):
    s, c = np.sin(v), np.cos(v)
    return s, c, -s


def _cos(v):
    s, c = np.sin(v), np.cos(v)
    return c, -s, -c


def _sinh(v):
    s, c = np.sinh(v), np.cosh(v)
    return s, c, s


def _cosh(v):
    s, c = np.sinh(v), np.cosh(v)
    return c, s, c


def _arctan(v):
    r = 1.0 / (1.0 + v * v)
    return np.arctan(v), r, -2.0 * v * r * r


def _arcsinh(v):
    r = 1.0 / np.sqrt(1.0 + v * v)
    return np.arcsinh(v), r, -v * r * r * r


def _softplus(v):
    s = special.expit(v)
    return np.logaddexp(0.0, v), s, s * (1.0 - s)


def _gelu(v):
    """Exact GELU x Φ(x): f' = Φ + x N(x), f'' = (2 − x²) N(x)."""
    cdf, pdf = special.ndtr(v), _INV_SQRT_2PI * np.exp(-0.5 * v * v)
    return v * cdf, cdf + v * pdf, (2.0 - v * v) * pdf


def _gelu_tanh(v):
    """x/2 (1 + tanh u), u = √(2/π)(x + 0.044715 x³)."""
    u = _SQRT_2_OVER_PI * (v + _GELU_C * v**3)
    du = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_C * v * v)
    ddu = _SQRT_2_OVER_PI * 6.0 * _GELU_C * v
    t = np.tanh(u)
    s = 1.0 - t * t
    return 0.5 * v * (1.0 + t), 0.5 * (1.0 + t) + 0.5 * v * s * du, s * du + 0.5 * v * s * (ddu - 2.0 * t * du * du)


def _silu(v):
    s = special.expit(v)
    d = s * (1.0 - s)
    return v * s, s + v * d, 2.0 * d + v * d * (1.0 - 2.0 * s)


def _gelu_tanh_value(v):
    return 0.5 * v * (1.0 + np.tanh(_SQRT_2_OVER_PI * (v + _GELU_C * v**3)))


def _elu_value_with(alpha: float):
    def value(v):
        return np.where(v > 0, v, alpha * np.expm1(np.minimum(v, 0.0)))

    return value


def _relu(v):
    pos = v > 0
    return np.where(pos, v, 0.0), np.where(pos, 1.0, 0.0), np.zeros_like(v)


def _abs(v):
    return np.abs(v), np.sign(v), np.zeros_like(v)


def _elu_with(alpha: float):
    value = _elu_value_with(alpha)

    def rule(v):
        pos = v > 0
        e = np.exp(np.minimum(v, 0.0))
        return value(v), np.where(pos, 1.0, alpha * e), np.where(pos, 0.0, alpha * e)

    return rule


_elu = _elu_with(1.0)
_selu_base = _elu_with(SELU_ALPHA)
_selu_base_value = _elu_value_with(SELU_ALPHA)


def _selu(v):
    f, d1, d2 = _selu_base(v)
    return SELU_SCALE * f, SELU_SCALE * d1, SELU_SCALE * d2


def _softsign(v):
    r = 1.0 / (1.0 + np.abs(v))
    return v * r, r * r, -2.0 * np.sign(v) * r * r * r


def _leaky_relu(v, slope):
    pos = v >= 0
    return np.where(pos, v, slope * v), np.where(pos, 1.0, slope), np.zeros_like(v)


def _identity(v):
    return v, np.ones_like(v), np.zeros_like(v)


#: name -> Primitive; the expression parser's functions and the registry's activations use these.
PRIMITIVES: dict[str, Primitive] = {
    "tanh": Primitive(_tanh, value=np.tanh), "sigmoid": Primitive(_sigmoid, value=special.expit),
    "erf": Primitive(_erf, value=special.erf), "erfc": Primitive(_erfc, value=special.erfc),
    "exp": Primitive(_exp, value=np.exp), "expm1": Primitive(_expm1, value=np.expm1),
    "sin": Primitive(_sin, value=np.sin), "cos": Primitive(_cos, value=np.cos),
    "sinh": Primitive(_sinh, value=np.sinh), "cosh": Primitive(_cosh, value=np.cosh),
    "arctan": Primitive(_arctan, value=np.arctan), "arcsinh": Primitive(_arcsinh, value=np.arcsinh),
    "softplus": Primitive(_softplus, value=lambda v: np.logaddexp(0.0, v)),
    "gelu": Primitive(_gelu, value=lambda v: v * special.ndtr(v)),
    "gelu_tanh": Primitive(_gelu_tanh, value=_gelu_tanh_value),
    "silu": Primitive(_silu, value=lambda v: v * special.expit(v)),
    "relu": Primitive(_relu, value=lambda v: np.maximum(v, 0.0)), "abs": Primitive(_abs, value=np.abs),
    "elu": Primitive(_elu, value=_elu_value_with(1.0)),
    "selu": Primitive(_selu, value=lambda v: SELU_SCALE * _selu_base_value(v)),
    "softsign": Primitive(_softsign, value=lambda v: v / (1.0 + np.abs(v))),
    "leaky_relu": Primitive(_leaky_relu, 2, value=lambda v, slope: np.where(v >= 0, v, slope * v)),
    "identity": Primitive(_identity, value=lambda v: v.copy()),  # a new array, as every other value
}


def apply(name: str, u: Jet, *args: float) -> Jet:
    """``f(u)`` for the primitive ``name`` (extra number arguments, e.g. a leaky-ReLU slope, after u)."""
    with np.errstate(over="ignore", under="ignore"):
        return _chain(u, *PRIMITIVES[name].rule(u.v, *args))


def elu_rule(alpha: float) -> Callable:
    """The ``(f, f', f'')`` rule of ELU with parameter α (the registry's ``elu`` takes α)."""
    return _elu_with(float(alpha))


def elu_value(alpha: float) -> Callable:
    """ELU with parameter α, the value alone (NumPy, in the input's dtype)."""
    return _elu_value_with(float(alpha))


class Lifted:
    """A jet function ``u ↦ f(u)`` from a ``(f, f', f'')`` rule (``rule`` is kept: on the variable itself the
    chain rule is skipped), with the value alone as ``value`` where one is given (see :func:`value`)."""

    __slots__ = ("rule", "value")

    def __init__(self, rule: Callable, value: Callable | None = None):
        self.rule, self.value = rule, value

    def __call__(self, u: Jet) -> Jet:
        with np.errstate(over="ignore", under="ignore"):
            return _chain(u, *self.rule(u.v))


lift = Lifted


def derivatives(jet_fn: Callable[[Jet], Jet], x) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(φ(x), φ'(x), φ''(x))`` as float64 arrays of x's shape."""
    x = np.asarray(x, dtype=float)
    if isinstance(jet_fn, Lifted):
        with np.errstate(over="ignore", under="ignore"):
            return tuple(_full(a, x.shape) for a in jet_fn.rule(x))
    out = jet_fn(Jet.variable(x))
    if not isinstance(out, Jet):  # a constant
        return _full(out, x.shape), np.zeros_like(x), np.zeros_like(x)
    return tuple(_full(a, x.shape) for a in (out.v, out.d1, out.d2))


def value(jet_fn: Callable[[Jet], Jet], x: np.ndarray) -> np.ndarray:
    """``φ(x)`` alone, in x's float dtype: a lifted primitive's own value function (float32 stays float32: what
    a finite-width random network runs on), otherwise the value part of :func:`derivatives`."""
    if isinstance(jet_fn, Lifted) and jet_fn.value is not None:
        with np.errstate(over="ignore", under="ignore"):
            return np.asarray(jet_fn.value(x)).astype(x.dtype, copy=False)
    return derivatives(jet_fn, x)[0].astype(x.dtype, copy=False)


def _full(a, shape):
    """``a`` as a float64 array of ``shape`` (broadcast only where a rule returned a constant)."""
    if type(a) is np.ndarray and a.shape == shape and a.dtype == np.float64:
        return a
    return np.broadcast_to(np.asarray(a, dtype=float), shape)
