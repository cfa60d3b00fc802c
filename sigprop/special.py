"""The special functions the activations need, elementwise on NumPy arrays: erf, erfc, the normal CDF and the
logistic.

sigprop does not import ``scipy.special`` for these: it costs 0.25–0.4 s at import on a small machine (it loads
SciPy's array-API layer and, through it, numpy.f2py and numpy.testing), more than a whole DKS solve. ``erf`` and
``erfc`` are the C library's, through Python's :func:`math.erf` and :func:`math.erfc`, mapped over the array
(≈ 75 ns a value): within 4e-16 relative of 40-digit mpmath on the grids of tests/test_special.py, erfc keeping
its relative accuracy far into the tail (erfc(26) ≈ 6e-296). On the few hundred quadrature nodes of a solve
this is 20× faster than a NumPy formula, whose dozens of whole-array passes (a series, a continued fraction)
cost more than the values. Arrays of :data:`LARGE` values or more (a finite-width network's layer: 8 seeds ×
34 inputs × 1,024 units = 278,528 values) go to ``scipy.special``'s vectorised C instead, imported then (once,
0.2–0.5 s): 6 ms against 38 ms for 278,528 values, and, unlike the ``math`` map, without holding the GIL, so
the two halves of a split finite-width run (:mod:`sigprop.finite`) share the cores. Solves, C maps and phase
diagrams (≤ 40,000 values) never import SciPy. tests/test_special.py checks both paths against mpmath.

- ``ndtr(x) = Φ(x) = erfc(−x/√2)/2``, ``expit(x) = 1/(1 + e^{−x})`` written so neither overflows.
"""

from __future__ import annotations

import math

import numpy as np

#: arrays with at least this many values are evaluated by scipy.special (see the module docstring)
LARGE = 65_536


def _elementwise(f, name: str, x):
    """``f`` (a scalar function of the math module) at every element of ``x``, or ``scipy.special.<name>`` for
    :data:`LARGE` arrays; a float for a scalar."""
    x = np.asarray(x, dtype=float)
    if not x.ndim:
        return f(float(x))
    if x.size >= LARGE:
        import scipy.special

        return getattr(scipy.special, name)(x)
    return np.fromiter(map(f, x.ravel().tolist()), float, count=x.size).reshape(x.shape)


def erf(x):
    """The error function (2/√π)∫₀ˣ e^{−t²} dt, elementwise (float64; NaN stays NaN)."""
    return _elementwise(math.erf, "erf", x)


def erfc(x):
    """The complementary error function 1 − erf(x), elementwise, accurate relative to itself for large x."""
    return _elementwise(math.erfc, "erfc", x)


def ndtr(x):
    """The standard normal CDF Φ(x) = erfc(−x/√2)/2, elementwise."""
    return 0.5 * erfc(-np.asarray(x, dtype=float) / math.sqrt(2.0))


def expit(x):
    """The logistic 1/(1 + e^{−x}), elementwise, as e^{x}/(1 + e^{x}) for x < 0 (no overflow)."""
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return out if out.ndim else float(out)
