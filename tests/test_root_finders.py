"""sigprop.roots (Brent's method and MINPACK's hybrid method in plain Python, so that the interactive path
imports no SciPy) against SciPy's compiled ``brentq`` and ``root(method="hybr")``, which are independent
implementations of the same algorithms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize

import sigprop as sp
from sigprop.methods import solver
from sigprop.roots import brentq, hybrid

_BRACKETS = [
    (lambda x: x**3 - 2 * x - 5, 2.0, 3.0),
    (lambda x: math.cos(x) - x, 0.0, 1.0),
    (lambda x: math.exp(x) - 1e-10, -30.0, 1.0),
    (lambda x: (x - 1e-3) ** 3, -1.0, 2.0),  # a triple root: bisection does the work
    (lambda x: math.atan(x - 0.3), -1e3, 1e4),
]


@pytest.mark.parametrize("case", range(len(_BRACKETS)))
def test_brentq_takes_scipys_steps(case):
    f, a, b = _BRACKETS[case]
    ours, theirs = [], []
    root = brentq(lambda x: ours.append(x) or f(x), a, b, xtol=1e-15, maxiter=500)
    expected = optimize.brentq(lambda x: theirs.append(x) or f(x), a, b, xtol=1e-15, maxiter=500)
    assert root == expected and len(ours) == len(theirs)  # the same steps, up to the last bit of each
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=4e-16 * (b - a))


def test_brentq_refuses_a_bad_bracket_and_stops():
    with pytest.raises(ValueError, match="opposite signs"):
        brentq(lambda x: x * x + 1, -1.0, 1.0)
    with pytest.raises(ArithmeticError, match="did not converge"):
        brentq(lambda x: (x - 1e-3) ** 3, -1.0, 2.0, xtol=1e-15, maxiter=20)
    assert brentq(lambda x: x, 0.0, 1.0) == 0.0


def _trace(method, fun, x0):
    points = []

    def spy(x):
        points.append(np.array(x, dtype=float))
        return fun(x)

    with np.errstate(all="ignore"):
        sol = method(spy, x0)
    return sol, points


def _scipy_hybr(fun, x0):
    return optimize.root(fun, x0, method="hybr")


@pytest.mark.parametrize("fun,x0", [
    (lambda x: np.array([10 * (x[1] - x[0] ** 2), 1 - x[0]]), [-1.2, 1.0]),  # Rosenbrock
    (lambda x: np.array([1e4 * x[0] * x[1] - 1, math.exp(-x[0]) + math.exp(-x[1]) - 1.0001]), [0.0, 1.0]),  # Powell
    (lambda x: np.array([x[0] ** 2 + x[1] ** 2 + x[2] ** 2 - 3, x[0] * x[1] - x[2], math.sin(x[0]) - 0.5 * x[1]]),
     [0.2, -2.0, 3.0]),
    (lambda x: np.array([math.exp(x[0]) - 1e300, x[1]]), [0.0, 1.0]),  # overflow on the way
])
def test_hybrid_evaluates_where_hybrd_evaluates(fun, x0):
    """The same sequence of evaluation points, bit for bit (SciPy's wrapper evaluates x0 once or twice more
    to check shapes)."""
    theirs, p_theirs = _trace(_scipy_hybr, fun, x0)
    ours, p_ours = _trace(hybrid, fun, x0)
    assert ours.success == theirs.success
    np.testing.assert_array_equal(ours.x, theirs.x)
    extra = len(p_theirs) - len(p_ours)
    assert extra in (1, 2) and all(np.array_equal(p, p_theirs[0]) for p in p_theirs[:extra])
    for a, b in zip(p_ours, p_theirs[extra:]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name,kind,depth", [("tanh", "tat", 30), ("gelu", "dks", 30), ("selu", "dks", 30),
                                             ("sin", "dks", 30), ("gelu", "tat", 30)])
def test_hybrid_agrees_with_hybrd_on_every_dks_start(name, kind, depth):
    """On all 50 of dks's starting points of a DKS/TAT problem, the same success and the same root: the "dks"
    root rule (the first start that converges) then picks dks's root. These problems include hybrd runs of
    300+ evaluations that end in failure."""
    phi = sp.activation(name)
    targets = (1.0, 1.5 ** (1 / depth)) if kind == "dks" else (1.0, 1.0, 0.3 / depth)
    fun = solver._hybr_residual(phi, kind, targets)
    for raw in solver._dks_starts(kind):
        if raw[0] == 0.0:
            continue
        with np.errstate(all="ignore"):
            ours, theirs = hybrid(fun, raw), _scipy_hybr(fun, raw)
        assert ours.success == theirs.success, raw
        np.testing.assert_array_equal(ours.x, theirs.x)


def test_hybrid_reports_a_non_finite_start():
    sol = hybrid(lambda x: np.array([math.nan, 0.0]), [1.0, 1.0])
    assert not sol.success and np.all(np.isfinite(sol.x))
