"""The special functions the activations need, vectorised in NumPy: erf, erfc, the normal CDF and the logistic.

sigprop computes these itself rather than importing ``scipy.special``, which costs 0.25–0.4 s at import on a
small machine (it loads SciPy's array-API layer and, through it, numpy.f2py and numpy.testing): the interactive
path — ``import sigprop``, a DKS/TAT/EOC solve, a C map — then needs no SciPy at all. SciPy stays the
independent reference the tests compare against.

- ``erf(x)`` for |x| < 1.5: the series with positive terms (Abramowitz & Stegun 7.1.6)

      erf(x) = (2/√π) e^{−x²} Σ_{n≥0} 2ⁿ x^{2n+1} / (2n + 1)!!,

  which has no cancellation (relative error a few ulps; 27 terms reach 2⁻⁵³ at |x| = 1.5).
- ``erfc(x)`` for x ≥ 1.5: Laplace's continued fraction (A&S 7.1.14)

      erfc(x) = (e^{−x²}/√π) · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …))))),

  evaluated from its tail with 100 levels at x ≥ 1.5 down to 14 at x ≥ 6, each enough for rounding error
  (checked against 40-digit mpmath in tests/test_special.py). So erfc keeps its relative accuracy in the tail
  (erfc(26) ≈ 6e-296); below 1.5 it is 1 − erf(x), a few ulps of 1 (relative error ≤ 2e-14 there, as
  erfc ≥ 0.034), and erf is 1 − erfc above.
- ``ndtr(x) = Φ(x) = erfc(−x/√2)/2``, ``expit(x) = 1/(1 + e^{−x})`` written so neither overflows.
"""

from __future__ import annotations

import math

import numpy as np

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)
_SERIES_BELOW = 1.5  # the positive series below, the continued fraction from here on
# (lowest |x|, levels of the continued fraction) from the largest |x| down: 2⁻⁵³ is reached at each bin's start
_FRACTION_LEVELS = ((6.0, 14), (3.5, 24), (2.5, 40), (2.0, 60), (1.5, 100))


def _erf_series(x: np.ndarray) -> np.ndarray:
    """erf(x) by the positive series (0 ≤ x < 1.5), summed until a term no longer changes the sum."""
    a = 2.0 * x * x
    term = x.copy()
    total = x.copy()
    for n in range(1, 40):  # 27 terms reach 2⁻⁵³ at x = 1.5
        term *= a
        term /= 2 * n + 1
        total += term
        if n % 4 == 0 and not np.any(term > 1e-17 * total):
            break
    return _TWO_OVER_SQRT_PI * np.exp(-x * x) * total


def _erfc_fraction(x: np.ndarray, levels: int) -> np.ndarray:
    """erfc(x) by Laplace's continued fraction with ``levels`` levels (x ≥ 1.5)."""
    f = x.copy()
    for k in range(levels, 0, -1):
        f = x + (0.5 * k) / f
    return _INV_SQRT_PI * np.exp(-x * x) / f


def _erf_and_erfc(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(erf(a), erfc(a))`` for a ≥ 0 (NaN passes through): the smaller one of the pair computed directly
    (erf by the series below 1.5, erfc by the fraction above), the other as 1 minus it."""
    small = a < _SERIES_BELOW
    erf_a = np.empty_like(a)
    erfc_a = np.empty_like(a)
    if small.any():
        erf_a[small] = _erf_series(a[small])
        erfc_a[small] = 1.0 - erf_a[small]
    left = ~small & ~np.isnan(a)
    for lowest, levels in _FRACTION_LEVELS:
        part = left & (a >= lowest)
        if part.any():
            erfc_a[part] = _erfc_fraction(a[part], levels)
            left &= ~part
    big = ~small
    erf_a[big] = 1.0 - erfc_a[big]
    nan = np.isnan(a)
    erf_a[nan] = erfc_a[nan] = np.nan
    return erf_a, erfc_a


def erf(x):
    """The error function (2/√π)∫₀ˣ e^{−t²} dt, elementwise (float64; NaN stays NaN)."""
    x = np.asarray(x, dtype=float)
    out = np.copysign(_erf_and_erfc(np.abs(x))[0], x)
    return out if out.ndim else float(out)


def erfc(x):
    """The complementary error function 1 − erf(x), elementwise, accurate relative to itself for large x."""
    x = np.asarray(x, dtype=float)
    erf_a, erfc_a = _erf_and_erfc(np.abs(x))
    out = np.where(x < 0, 1.0 + erf_a, erfc_a)
    return out if out.ndim else float(out)


def ndtr(x):
    """The standard normal CDF Φ(x) = erfc(−x/√2)/2, elementwise."""
    return 0.5 * erfc(-np.asarray(x, dtype=float) / math.sqrt(2.0))


def expit(x):
    """The logistic 1/(1 + e^{−x}), elementwise, as e^{x}/(1 + e^{x}) for x < 0 (no overflow)."""
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return out if out.ndim else float(out)
