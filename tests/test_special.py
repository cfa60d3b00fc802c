"""sigprop.special (erf, erfc, Φ, logistic in NumPy, so that the interactive path imports no SciPy) against
40-digit mpmath, and against SciPy where both are asked the same."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from scipy import special as scipy_special

from sigprop import special

mpmath.mp.dps = 40

_X = np.concatenate([np.linspace(-9.0, 9.0, 1201), np.geomspace(1e-300, 1e-2, 40), -np.geomspace(1e-300, 1e-2, 40),
                     np.linspace(9.0, 26.5, 71), [0.0, 1.5, 2.0, 2.5, 3.5, 6.0],
                     np.nextafter([1.5, 2.0, 2.5, 3.5, 6.0], 0.0)])


def _relative(ours, exact):
    nonzero = exact != 0
    assert np.all(ours[~nonzero] == 0.0)
    return np.max(np.abs(ours - exact)[nonzero] / np.abs(exact[nonzero]))


def test_erf_to_a_few_ulps():
    exact = np.array([float(mpmath.erf(x)) for x in _X])
    assert _relative(special.erf(_X), exact[:]) < 1e-15


def test_erfc_keeps_relative_accuracy_in_the_tail():
    exact = np.array([float(mpmath.erfc(x)) for x in _X])
    # the C library's erfc is within a few ulps everywhere, far below the sensitivity of erfc(x) to the rounding
    # of x itself (2x²·2⁻⁵³: 1.6e-13 at x = 26.5), which SciPy's and a NumPy formula carry
    bound = 5e-16
    assert np.all(np.abs(special.erfc(_X) - exact) <= bound * np.abs(exact))


def test_normal_cdf_and_logistic():
    x = np.concatenate([np.linspace(-37.0, 9.0, 921), [0.0]])
    exact = np.array([float(mpmath.ncdf(t)) for t in x])
    bound = 4e-16 * np.maximum(2.0, x * x)  # erfc(−x/√2): the rounding of x/√2 is amplified by 2(x/√2)² = x²
    assert np.all(np.abs(special.ndtr(x) - exact) <= bound * exact)
    y = np.linspace(-745.0, 745.0, 2001)
    exact = np.array([float(1 / (1 + mpmath.exp(-t))) for t in y])
    assert _relative(special.expit(y), exact) < 5e-16


def test_special_values_and_shapes():
    assert special.erf(0.0) == 0.0 and np.signbit(special.erf(-0.0))
    assert special.erf(np.inf) == 1.0 and special.erf(-np.inf) == -1.0
    assert special.erfc(np.inf) == 0.0 and special.erfc(-np.inf) == 2.0
    assert np.isnan(special.erf(np.nan)) and np.isnan(special.erfc(np.nan)) and np.isnan(special.ndtr(np.nan))
    assert special.expit(-np.inf) == 0.0 and special.expit(np.inf) == 1.0 and special.ndtr(0.0) == 0.5
    assert isinstance(special.erf(0.3), float)
    grid = np.linspace(-3, 3, 12).reshape(3, 4)
    for name in ("erf", "erfc", "ndtr", "expit"):
        ours = getattr(special, name)(grid)
        assert ours.shape == (3, 4)
        np.testing.assert_allclose(ours, getattr(scipy_special, name)(grid), rtol=2e-14, atol=0)


@pytest.mark.parametrize("expression", ["erf", "gelu"])
def test_activations_built_on_them_match_scipy(expression):
    """The jets of erf and GELU (value, φ', φ'') against SciPy's functions on a wide grid."""
    import sigprop as sp

    x = np.linspace(-12, 12, 4001)
    f, d1, d2 = sp.activation(expression).derivatives(x)
    if expression == "erf":
        ref = scipy_special.erf(x)
    else:
        ref = x * scipy_special.ndtr(x)
    # both sides carry e^{−x²/2}'s sensitivity to the rounding of x (x²·2⁻⁵³ ≈ 3e-14 at |x| = 12)
    np.testing.assert_allclose(f, ref, rtol=5e-14, atol=1e-300)
    assert np.all(np.isfinite(d1)) and np.all(np.isfinite(d2))


def test_large_arrays_go_to_scipy_within_their_accuracy():
    """Arrays of ≥ LARGE values (a finite-width layer) are evaluated by scipy.special, against 40-digit mpmath:
    erf to 1e-15 relative (measured 2.9e-16); erfc within 16·2⁻⁵³·max(1, x²) relative (measured 9.3·2⁻⁵³·x² at
    x = 8.1: Cephes' erfc carries the x²-fold sensitivity to the rounding of its own intermediate x²)."""
    big = np.tile(_X, special.LARGE // _X.size + 1)
    assert big.size >= special.LARGE
    exact_erf = np.array([float(mpmath.erf(x)) for x in _X])
    exact_erfc = np.array([float(mpmath.erfc(x)) for x in _X])
    ours_erf, ours_erfc = special.erf(big)[:_X.size], special.erfc(big)[:_X.size]
    assert _relative(ours_erf, exact_erf) < 1e-15
    bound = 16 * 2.0**-53 * np.maximum(1.0, _X * _X)
    assert np.all(np.abs(ours_erfc - exact_erfc) <= bound * np.abs(exact_erfc))
    # the two paths agree where both are asked
    small = big[: special.LARGE - 1]
    np.testing.assert_allclose(special.erf(small)[:_X.size], ours_erf, rtol=1e-15, atol=0)
