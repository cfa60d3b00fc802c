"""Per-layer Q and C maps of a random layer ``h' = W φ(h) + b``, ``W_ij ~ N(0, σ_w²/N)``, ``b ~ N(0, σ_b²)``.

For inputs with pre-activation variance q and correlation c (``u, v ~ N(0, q)``, ``corr(u, v) = c``):

- ``Q(q) = σ_w² E[φ(u)²] + σ_b²``                                  (Poole et al. 2016, Eq. 3)
- ``C(c) = (σ_w² E[φ(u)φ(v)] + σ_b²) / Q(q)``                         (Poole et al. 2016, Eq. 5)
- ``1 − C(c) = σ_w² · ½E[(φ(u) − φ(v))²] / Q(q)``                   (no cancellation near c = 1)
- ``C'(c) = σ_w² q E[φ'(u)φ'(v)] / Q(q)``; at the fixed point this is χ₁ (Schoenholz et al. 2017)
- ``C''(1) = σ_w² q² E[φ''(u)²] / Q(q)``;  ``Q'(q) = σ_w² dE[φ(√q z)²]/dq``

All functions take NumPy-compatible input, broadcast over ``c``/``q``, compute in float64 and return float64
NumPy arrays (or floats for scalar input). They evaluate the dual kernel in NumPy (closed forms, and Mehler
series of activations with a NumPy jet: no JAX import, no compile); only activations without a jet use
jitted JAX.
"""

from __future__ import annotations

import math
from functools import lru_cache
from types import SimpleNamespace

import numpy as np

from .activations import Activation, activation
from .errors import ConfigurationError, DivergenceError


def x64():
    """``jax.enable_x64(True)``: 64-bit JAX inside sigprop's own calls (imports JAX)."""
    import jax

    return jax.enable_x64(True)


# --------------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------------


def check_scale(name: str, value, minimum: float = 0.0) -> float:
    """A finite float ≥ ``minimum`` (σ_w, σ_b ≥ 0; ζ ≥ 1, ...)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < minimum:
        raise ConfigurationError(f"{name} must be finite and ≥ {minimum:g}, got {v}")
    return v


def check_array(name: str, value, lo: float, hi: float, *, open_lo: bool = False) -> np.ndarray:
    """A float64 array with every entry finite and in [lo, hi] (or (lo, hi] when ``open_lo``)."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be numeric, got {value!r}") from None
    if not np.all(np.isfinite(arr)):
        raise ConfigurationError(f"{name} must be finite (got NaN or inf)")
    bad = (arr <= lo if open_lo else arr < lo) | (arr > hi)
    if np.any(bad):
        first = arr[bad].flat[0]
        interval = f"({lo:g}, {hi:g}]" if open_lo else f"[{lo:g}, {hi:g}]"
        raise ConfigurationError(f"{name} must lie in {interval}, got {first:g}")
    return arr


def check_finite(name: str, value, hint: str = ""):
    arr = np.asarray(value)
    if not np.all(np.isfinite(arr)):
        raise DivergenceError(f"{name} is not finite{': ' + hint if hint else ''}")
    return value


MAX_Q = 1e250


def _out(x):
    arr = np.asarray(x, dtype=float)
    return float(arr) if arr.ndim == 0 else arr


def _prepare(phi, q, sigma_w, sigma_b):
    phi = activation(phi)
    q = check_array("q", q, 0.0, MAX_Q, open_lo=True)
    return phi, q, check_scale("sigma_w", sigma_w) ** 2, check_scale("sigma_b", sigma_b) ** 2


def _prepare_scalar_q(phi, q, sigma_w, sigma_b):
    """As :func:`_prepare`, for the C-map functions, whose two inputs share one variance q (a scalar)."""
    phi, q_arr, sw2, sb2 = _prepare(phi, q, sigma_w, sigma_b)
    if q_arr.size != 1:
        raise ConfigurationError(f"q must be a single variance (both inputs of a C map share it), got shape "
                                 f"{q_arr.shape}; loop over q values or use q_map for many variances")
    return phi, float(q_arr.reshape(())), sw2, sb2


# --------------------------------------------------------------------------------------------------
# the layer maps, for NumPy kernels directly and jitted for JAX ones (the dual kernel is a pytree argument:
# one compilation per kernel structure, so new scales or a new DKS/TAT transform of the same φ reuse it)
# --------------------------------------------------------------------------------------------------


def _q_fn(kern, q, sw2, sb2):
    return sw2 * kern.second_moment(q) + sb2


def _q_slope_fn(kern, q, sw2):
    return sw2 * kern.second_moment_slope(q)


def _one_minus_c_fn(kern, d, q, sw2, sb2):
    return sw2 * kern.gap(q, d) / (sw2 * kern.second_moment(q) + sb2)


def _c_slope_fn(kern, c, q, sw2, sb2):
    return sw2 * q * kern.dot_cross(q, c) / (sw2 * kern.second_moment(q) + sb2)


def _c_curvature_fn(kern, q, sw2, sb2):
    return sw2 * q**2 * kern.ddot_second_moment(q) / (sw2 * kern.second_moment(q) + sb2)


@lru_cache(maxsize=1)
def _jitted():
    import jax

    from .kernels import enable_jax

    enable_jax()
    return SimpleNamespace(
        q=jax.jit(lambda kern, q, sw2, sb2: sw2 * jax.vmap(kern.second_moment)(q) + sb2),
        q_slope=jax.jit(lambda kern, q, sw2: sw2 * jax.vmap(kern.second_moment_slope)(q)),
        one_minus_c=jax.jit(_one_minus_c_fn),
        c_slope=jax.jit(_c_slope_fn),
        c_curvature=jax.jit(_c_curvature_fn),
    )


def _evaluate(name: str, kern, *args):
    """A layer map: in NumPy when the kernel allows (float64 throughout), else jitted JAX in 64-bit mode."""
    if kern.numpy_ok:
        with np.errstate(all="ignore"):
            if name in ("q", "q_slope"):  # one variance at a time (a Mehler series' rule depends on q)
                fn = _q_fn if name == "q" else _q_slope_fn
                return np.array([float(fn(kern, float(v), *args[1:])) for v in np.ravel(args[0])])
            return np.asarray({"one_minus_c": _one_minus_c_fn, "c_slope": _c_slope_fn,
                               "c_curvature": _c_curvature_fn}[name](kern, *args), dtype=float)
    import jax.numpy as jnp

    with x64():
        out = getattr(_jitted(), name)(kern, *(jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args))
        return np.asarray(out, dtype=float)


def _layer_output_variance(phi: Activation, kern, q: float, sw2: float, sb2: float) -> float:
    out = float(np.ravel(_evaluate("q", kern, np.asarray([q]), sw2, sb2))[0])
    if not out > 0:
        raise ConfigurationError(
            f"the layer output is identically zero (σ_w²E[φ²] + σ_b² = {out:g} for {phi.display_name} at q = {q:g})")
    return check_finite("Q(q)", out, f"{phi.display_name} at q = {q:g}")


# --------------------------------------------------------------------------------------------------
# public per-layer maps
# --------------------------------------------------------------------------------------------------


def q_map(phi, q, sigma_w: float = 1.0, sigma_b: float = 0.0):
    """Q(q) = σ_w² E[φ(√q z)²] + σ_b², vectorised over q."""
    phi, q, sw2, sb2 = _prepare(phi, q, sigma_w, sigma_b)
    out = _evaluate("q", phi.kernel(float(q.max()), series=False), np.ravel(q), sw2, sb2).reshape(q.shape)
    return _out(check_finite("Q map", out, phi.display_name))


def q_map_slope(phi, q, sigma_w: float = 1.0, sigma_b: float = 0.0):
    """Q'(q) = σ_w² d/dq E[φ(√q z)²], vectorised over q."""
    phi, q, sw2, _ = _prepare(phi, q, sigma_w, sigma_b)
    out = _evaluate("q_slope", phi.kernel(float(q.max()), series=False), np.ravel(q), sw2).reshape(q.shape)
    return _out(check_finite("Q'(q)", out, phi.display_name))


def one_minus_c_map(phi, one_minus_c, q: float = 1.0, sigma_w: float = 1.0, sigma_b: float = 0.0):
    """1 − C(1 − d) = σ_w² ½E[(φ(u) − φ(v))²] / Q(q), accurate in relative terms down to d ~ 1e-12."""
    d = check_array("one_minus_c", one_minus_c, 0.0, 2.0)
    phi, q, sw2, sb2 = _prepare_scalar_q(phi, q, sigma_w, sigma_b)
    kern = phi.kernel(q)
    _layer_output_variance(phi, kern, q, sw2, sb2)
    out = check_finite("1 − C", _evaluate("one_minus_c", kern, d, q, sw2, sb2), phi.display_name)
    return _out(np.clip(out, 0.0, 2.0))  # C maps [−1, 1] into itself: a value outside is rounding


def c_map(phi, c, q: float = 1.0, sigma_w: float = 1.0, sigma_b: float = 0.0):
    """C(c) = (σ_w² E[φ(u)φ(v)] + σ_b²) / Q(q), computed as 1 − (1 − C) so C(1) = 1 exactly."""
    c = check_array("c", c, -1.0, 1.0)
    out = 1.0 - np.asarray(one_minus_c_map(phi, 1.0 - c, q, sigma_w, sigma_b))
    return _out(out)


def c_map_slope(phi, c, q: float = 1.0, sigma_w: float = 1.0, sigma_b: float = 0.0):
    """C'(c) = σ_w² q E[φ'(u)φ'(v)] / Q(q)."""
    c = check_array("c", c, -1.0, 1.0)
    phi, q, sw2, sb2 = _prepare_scalar_q(phi, q, sigma_w, sigma_b)
    kern = phi.kernel(q)
    _layer_output_variance(phi, kern, q, sw2, sb2)
    out = _evaluate("c_slope", kern, c, q, sw2, sb2)
    return _out(check_finite("C'(c)", out, phi.display_name))


def c_map_curvature(phi, q: float = 1.0, sigma_w: float = 1.0, sigma_b: float = 0.0) -> float:
    """C''(1) = σ_w² q² E[φ''(u)²] / Q(q); ``inf`` when φ' jumps (ReLU family, ELU's φ'' is finite)."""
    phi, q, sw2, sb2 = _prepare_scalar_q(phi, q, sigma_w, sigma_b)
    kern = phi.kernel(q)
    _layer_output_variance(phi, kern, q, sw2, sb2)
    return float(_evaluate("c_curvature", kern, q, sw2, sb2))
