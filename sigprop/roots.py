"""Root finders in plain NumPy: Brent's bracketing method and Powell's hybrid (dogleg) method.

sigprop's solves are small — one unknown in a bracket, or the 2–3 parameters of a DKS/TAT transform — and the
interactive path must not import ``scipy.optimize`` (≈0.4 s on a small machine, more than a whole solve).

- :func:`brentq`: Brent (1973), *Algorithms for Minimization without Derivatives*, ch. 4 ("zero"): inverse
  quadratic interpolation or secant steps, safeguarded by bisection, so the bracket always shrinks and at
  most ~ log2((b − a)/tol)² evaluations are made; converged when half the bracket is within
  ``(xtol + rtol |x|)/2``.
- :func:`hybrid`: Powell (1970), "A hybrid method for nonlinear equations", as MINPACK's ``hybrd`` implements
  it (Moré, Garbow & Hillstrom 1980, the method behind ``scipy.optimize.root(method="hybr")``): a trust
  region in the column-scaled norm ‖D p‖ ≤ Δ, the dogleg between the scaled steepest-descent step and the
  Gauss–Newton step, Broyden rank-one updates of the QR factors between forward-difference Jacobians.
  Written step for step, in plain Python floats in hybrd's order of operations, so that it evaluates the
  same points as SciPy's compiled hybrd (tests/test_root_finders.py) and gives up where hybrd gives up: the DKS/TAT
  ``"dks"`` root rule depends on that. Every loop has a fixed cap.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

_EPS = np.finfo(float).eps


def brentq(f: Callable[[float], float], a: float, b: float, *, xtol: float = 2e-12, rtol: float = 4 * _EPS,
           maxiter: int = 200) -> float:
    """A zero of ``f`` in ``[a, b]`` (``f(a)``, ``f(b)`` of opposite signs, or one of them 0) by Brent's method."""
    fa, fb = float(f(a)), float(f(b))
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    if not (math.isfinite(fa) and math.isfinite(fb)) or (fa > 0) == (fb > 0):
        raise ValueError(f"brentq needs f(a) and f(b) of opposite signs, got f({a!r}) = {fa!r}, f({b!r}) = {fb!r}")
    c, fc = a, fa
    d = e = b - a
    for _ in range(maxiter):
        if abs(fc) < abs(fb):  # b is the best estimate, c the other end of the bracket
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol = 0.5 * (xtol + rtol * abs(b))
        m = 0.5 * (c - b)
        if abs(m) <= tol or fb == 0.0:
            return b
        if abs(e) < tol or abs(fa) <= abs(fb):
            d = e = m  # bisection
        else:
            s = fb / fa
            if a == c:  # secant
                p, q = 2.0 * m * s, 1.0 - s
            else:  # inverse quadratic interpolation through a, b, c
                qa, r = fa / fc, fb / fc
                p = s * (2.0 * m * qa * (qa - r) - (b - a) * (r - 1.0))
                q = (qa - 1.0) * (r - 1.0) * (s - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            previous, e = e, d
            if 2.0 * p < 3.0 * m * q - abs(tol * q) and p < abs(0.5 * previous * q):
                d = p / q
            else:
                d = e = m
        a, fa = b, fb
        b += d if abs(d) > tol else math.copysign(tol, m)
        fb = float(f(b))
        if not math.isfinite(fb):
            raise ArithmeticError(f"brentq: f({b!r}) = {fb!r} inside the bracket")
        if (fb > 0) == (fc > 0):
            c, fc = a, fa
            d = e = b - a
    raise ArithmeticError(f"brentq did not converge in {maxiter} iterations (bracket [{b!r}, {c!r}])")


class HybridResult(NamedTuple):
    """``x`` the last iterate, ``fun`` the residual there, ``jac`` hybrd's last Jacobian approximation Q R (a
    forward-difference Jacobian with Broyden updates, as SciPy's ``fjac`` and ``r`` give it)."""

    x: np.ndarray
    success: bool
    nfev: int
    message: str
    fun: np.ndarray
    jac: np.ndarray


_HYBRID_INFO = {1: "the relative error between two consecutive iterates is at most xtol",
                2: "the number of evaluations reached max_evals",
                3: "xtol is too small: no further improvement in x is possible",
                4: "no progress over the last five Jacobian evaluations",
                5: "no progress over the last ten iterations"}


def hybrid(fun: Callable[[np.ndarray], np.ndarray], x0, *, xtol: float = 1.49012e-8, max_evals: int | None = None,
           factor: float = 100.0) -> HybridResult:
    """A zero of ``fun: Rⁿ → Rⁿ`` near ``x0`` by Powell's hybrid method, step for step as MINPACK's ``hybrd``
    with a forward-difference Jacobian (what ``scipy.optimize.root(method="hybr")`` runs by default): a QR
    factorisation of J, the dogleg step in the trust region ‖D p‖ ≤ Δ (D = running maximum of J's column
    norms), Broyden rank-one updates of Q and R between Jacobians (Givens rotations), a fresh Jacobian after
    two failed steps, and hybrd's tests for success (info 1) and for giving up (2–5).

    Following it step for step, in the same order of floating-point operations (plain Python floats, loops
    as MINPACK writes them), matters here: the DKS/TAT ``"dks"`` rule returns the first of dks's starting
    points from which this method converges, so where it gives up must be where hybrd gives up
    (tests/test_root_finders.py compares both on every start of the golden problems)."""
    x = [float(t) for t in np.ravel(x0)]
    n = len(x)
    max_evals = 200 * (n + 1) if max_evals is None else max_evals

    def call(point):
        return np.asarray(fun(np.array(point)), dtype=float).ravel().tolist()

    fvec = call(x)
    nfev = 1
    fnorm = _enorm(fvec)
    it, ncsuc, ncfail, nslow1, nslow2 = 1, 0, 0, 0, 0
    diag = [1.0] * n
    delta = xnorm = 0.0
    while True:  # outer loop: a fresh Jacobian
        jeval = True
        a = _forward_jacobian(call, x, fvec)
        nfev += n
        rdiag, acnorm = _qr_householder(a)
        if it == 1:
            diag = [c if c != 0.0 else 1.0 for c in acnorm]
            xnorm = _enorm([d * t for d, t in zip(diag, x)])
            delta = factor * xnorm
            if delta == 0.0:
                delta = factor
        qtf = list(fvec)
        for j in range(n):  # Qᵀ f from the reflectors
            if a[j][j] != 0.0:
                total = 0.0
                for i in range(j, n):
                    total += a[i][j] * qtf[i]
                temp = -total / a[j][j]
                for i in range(j, n):
                    qtf[i] += a[i][j] * temp
        r = [[(a[i][j] if j > i else rdiag[i] if j == i else 0.0) for j in range(n)] for i in range(n)]
        q = _form_q(a)
        diag = [max(d, c) for d, c in zip(diag, acnorm)]
        while True:  # inner loop: steps, with Broyden updates of Q and R
            step = [-t for t in _dogleg(r, diag, qtf, delta)]
            x_new = [t + p for t, p in zip(x, step)]
            pnorm = _enorm([d * p for d, p in zip(diag, step)])
            if it == 1:
                delta = min(delta, pnorm)
            f_new = call(x_new)
            nfev += 1
            fnorm1 = _enorm(f_new)
            actred = 1.0 - _square(fnorm1 / fnorm) if fnorm1 < fnorm else -1.0
            predicted = []  # Qᵀ f + R p
            for i in range(n):
                total = 0.0
                for j in range(i, n):
                    total += r[i][j] * step[j]
                predicted.append(qtf[i] + total)
            temp = _enorm(predicted)
            prered = 1.0 - _square(temp / fnorm) if temp < fnorm else 0.0
            ratio = actred / prered if prered > 0.0 else 0.0
            if ratio < 0.1:
                ncsuc, ncfail, delta = 0, ncfail + 1, 0.5 * delta
            else:
                ncfail, ncsuc = 0, ncsuc + 1
                if ratio >= 0.5 or ncsuc > 1:
                    delta = max(delta, pnorm / 0.5)
                if abs(ratio - 1.0) <= 0.1:
                    delta = pnorm / 0.5
            if ratio >= 1e-4:
                x, fvec, fnorm = x_new, f_new, fnorm1
                xnorm = _enorm([d * t for d, t in zip(diag, x)])
                it += 1
            nslow1 = 0 if actred >= 0.001 else nslow1 + 1
            if jeval:
                nslow2 += 1
            if actred >= 0.1:
                nslow2 = 0
            info = 0
            if delta <= xtol * xnorm or fnorm == 0.0:
                info = 1
            elif nfev >= max_evals:
                info = 2
            elif 0.1 * max(0.1 * delta, pnorm) <= _EPS * xnorm:
                info = 3
            elif nslow2 == 5:
                info = 4
            elif nslow1 == 10:
                info = 5
            if info:
                jac = [[sum(q[i][k] * r[k][j] for k in range(n)) for j in range(n)] for i in range(n)]
                return HybridResult(np.array(x), info == 1, nfev, _HYBRID_INFO[info], np.array(fvec), np.array(jac))
            if ncfail == 2:
                break
            # Broyden: Qᵀ J_new = R + v uᵀ, u = D² p/‖D p‖, v = (Qᵀ f_new − (Qᵀ f + R p))/‖D p‖
            u, v = [], []
            for j in range(n):
                total = 0.0
                for i in range(n):
                    total += q[i][j] * f_new[i]
                v.append(_divide(total - predicted[j], pnorm))
                u.append(diag[j] * _divide(diag[j] * step[j], pnorm))
                if ratio >= 1e-4:
                    qtf[j] = total
            rotations = _rotations(v, _rank_one_update(r, u, v))
            _apply_rotations(q, rotations)
            _apply_rotations([qtf], rotations)
            jeval = False


_RDWARF, _RGIANT = 3.834e-20, 1.304e19


def _enorm(v) -> float:
    """MINPACK's ``enorm``: the Euclidean norm, summed in order; components below 3.8e-20 or above 1.3e19/n
    are summed apart, scaled (:func:`_enorm_scaled`), so nothing underflows or overflows."""
    agiant = _RGIANT / len(v)
    s2 = 0.0
    for t in v:
        xabs = abs(t)
        if not _RDWARF < xabs < agiant:
            if xabs == 0.0:
                continue  # the scaled sums give the same, bit for bit
            return _enorm_scaled(v)
        s2 += xabs * xabs
    return math.sqrt(s2)


def _enorm_scaled(v) -> float:
    s1 = s2 = s3 = x1max = x3max = 0.0
    agiant = _RGIANT / len(v)
    for t in v:
        xabs = abs(t)
        if xabs != xabs:
            return math.nan
        if _RDWARF < xabs < agiant:
            s2 += xabs * xabs
        elif xabs <= _RDWARF:
            if xabs > x3max:
                s3 = 1.0 + s3 * _square(x3max / xabs)
                x3max = xabs
            elif xabs != 0.0:
                s3 += _square(xabs / x3max)
        elif xabs > x1max:  # large
            s1 = 1.0 + s1 * _square(x1max / xabs)
            x1max = xabs
        else:
            s1 += _square(xabs / x1max)
    if s1 != 0.0:
        return x1max * math.sqrt(s1 + (s2 / x1max) / x1max)
    if s2 != 0.0:
        if s2 >= x3max:
            return math.sqrt(s2 * (1.0 + (x3max / s2) * (x3max * s3)))
        return math.sqrt(x3max * ((s2 / x3max) + (x3max * s3)))
    return x3max * math.sqrt(s3)


def _forward_jacobian(call, x: list, f: list) -> list:
    """Forward differences with steps √ε·|x_j| (√ε where x_j = 0), as hybrd's ``fdjac1``; rows i, columns j."""
    n = len(x)
    jac = [[0.0] * n for _ in range(len(f))]
    h0 = math.sqrt(_EPS)
    for j in range(n):
        temp = x[j]
        h = h0 * abs(temp) or h0
        xj = list(x)
        xj[j] = temp + h
        fj = call(xj)
        for i in range(len(f)):
            jac[i][j] = (fj[i] - f[i]) / h
    return jac


def _qr_householder(a: list) -> tuple[list, list]:
    """Householder QR without pivoting, in place (MINPACK's ``qrfac``): the reflectors in and below the
    diagonal of ``a``, R's strict upper triangle above it; returns R's diagonal and the column norms of J."""
    n = len(a[0])
    m = len(a)
    acnorm = [_enorm([a[i][j] for i in range(m)]) for j in range(n)]
    rdiag = [0.0] * n
    for j in range(min(m, n)):
        ajnorm = _enorm([a[i][j] for i in range(j, m)])
        if ajnorm != 0.0:
            if a[j][j] < 0.0:
                ajnorm = -ajnorm
            for i in range(j, m):
                a[i][j] /= ajnorm
            a[j][j] += 1.0
            for k in range(j + 1, n):
                total = 0.0
                for i in range(j, m):
                    total += a[i][j] * a[i][k]
                temp = total / a[j][j]
                for i in range(j, m):
                    a[i][k] -= temp * a[i][j]
        rdiag[j] = -ajnorm
    return rdiag, acnorm


def _form_q(a: list) -> list:
    """Q itself from the reflectors (MINPACK's ``qform``)."""
    n = len(a)
    q = [[a[i][j] if i >= j else 0.0 for j in range(n)] for i in range(n)]
    for k in range(n - 1, -1, -1):
        v = [q[i][k] for i in range(k, n)]
        for i in range(k, n):
            q[i][k] = 0.0
        q[k][k] = 1.0
        if v[0] != 0.0:
            for j in range(k, n):
                total = 0.0
                for i in range(k, n):
                    total += q[i][j] * v[i - k]
                temp = total / v[0]
                for i in range(k, n):
                    q[i][j] -= temp * v[i - k]
    return q


def _dogleg(r: list, diag: list, qtb: list, delta: float) -> list:
    """MINPACK's ``dogleg``: the convex combination of the Gauss–Newton step R x = Qᵀf and the scaled steepest
    descent step that minimises the model in ‖D x‖ ≤ Δ (hybrd steps by its negative). A zero pivot of R is
    replaced by ε·max|R_{ij}| over its column (or ε): a flat direction gives a long step, which Δ cuts."""
    n = len(diag)
    x = [0.0] * n
    for j in range(n - 1, -1, -1):
        total = 0.0
        for i in range(j + 1, n):
            total += r[j][i] * x[i]
        pivot = r[j][j]
        if pivot == 0.0:
            for i in range(j + 1):
                pivot = max(pivot, abs(r[i][j]))
            pivot = _EPS * pivot
            if pivot == 0.0:
                pivot = _EPS
        x[j] = _divide(qtb[j] - total, pivot)
    qnorm = _enorm([d * t for d, t in zip(diag, x)])
    if qnorm <= delta:
        return x
    grad = [0.0] * n  # Rᵀ Qᵀf / D, the scaled gradient direction
    for j in range(n):
        temp = qtb[j]
        for i in range(j, n):
            grad[i] += r[j][i] * temp
        grad[j] /= diag[j]
    gnorm = _enorm(grad)
    sgnorm, alpha = 0.0, delta / qnorm
    if gnorm != 0.0:
        grad = [(g / gnorm) / d for g, d in zip(grad, diag)]
        rg = []
        for j in range(n):
            total = 0.0
            for i in range(j, n):
                total += r[j][i] * grad[i]
            rg.append(total)
        temp = _enorm(rg)
        sgnorm = _divide(_divide(gnorm, temp), temp)
        alpha = 0.0
        if sgnorm < delta:
            bnorm = _enorm(qtb)
            temp = (bnorm / gnorm) * (bnorm / qnorm) * (sgnorm / delta)
            temp = (temp - (delta / qnorm) * _square(sgnorm / delta)
                    + math.sqrt(_square(temp - delta / qnorm)
                                + (1.0 - _square(delta / qnorm)) * (1.0 - _square(sgnorm / delta))))
            alpha = _divide((delta / qnorm) * (1.0 - _square(sgnorm / delta)), temp)
    temp = (1.0 - alpha) * min(sgnorm, delta)
    return [temp * g + alpha * t for g, t in zip(grad, x)]


def _square(t: float) -> float:
    """t², as Fortran's t**2 (t * t: it overflows to inf where Python's ** would raise)."""
    return t * t


def _divide(a: float, b: float) -> float:
    """a / b with IEEE semantics (±inf or NaN for b = 0), as the Fortran original divides."""
    try:
        return a / b
    except ZeroDivisionError:
        return math.nan if a == 0.0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1.0, b)


def _givens(a: float, b: float) -> tuple[float, float, float]:
    """(cos, sin, τ) of the rotation that zeroes ``b`` against ``a`` (MINPACK's form; τ encodes it)."""
    if abs(a) < abs(b):
        cotan = a / b
        sin = 0.5 / math.sqrt(0.25 + 0.25 * cotan * cotan)
        cos = sin * cotan
        tau = 1.0 / cos if abs(cos) * _GIANT > 1.0 else 1.0
    else:
        tan = _divide(b, a)
        cos = 0.5 / math.sqrt(0.25 + 0.25 * tan * tan)
        sin = cos * tan
        tau = sin
    return cos, sin, tau


_GIANT = float(np.finfo(float).max)


def _rank_one_update(r: list, u: list, v: list) -> list:
    """MINPACK's ``r1updt`` for R upper triangular: rotations G with Gᵀ(R + v uᵀ) upper triangular again.
    Updates ``r`` in place and overwrites ``v`` with the first sweep's rotations; returns the second's (w)."""
    n = len(v)
    w = [0.0] * n
    w[n - 1] = r[n - 1][n - 1]
    for j in range(n - 2, -1, -1):  # rotate v into a multiple of e_n, which puts a spike into w
        w[j] = 0.0
        if v[j] != 0.0:
            cos, sin, tau = _givens(v[n - 1], v[j])
            v[n - 1] = sin * v[j] + cos * v[n - 1]
            v[j] = tau
            for i in range(j, n):
                temp = cos * r[j][i] - sin * w[i]
                w[i] = sin * r[j][i] + cos * w[i]
                r[j][i] = temp
    for i in range(n):
        w[i] += v[n - 1] * u[i]
    for j in range(n - 1):  # eliminate the spike
        if w[j] != 0.0:
            cos, sin, tau = _givens(r[j][j], w[j])
            for i in range(j, n):
                temp = cos * r[j][i] + sin * w[i]
                w[i] = -sin * r[j][i] + cos * w[i]
                r[j][i] = temp
            w[j] = tau
    r[n - 1][n - 1] = w[n - 1]
    return w


def _rotations(v: list, w: list) -> list:
    """The (j, cos, sin) of MINPACK's ``r1mpyq`` recovered from the τ's of :func:`_rank_one_update`: the first
    sweep (v, columns n−1 … 1, sin negated) then the second (w, columns 1 … n−1)."""
    n = len(v)
    out = []
    for sweep, order, sign in ((v, range(n - 2, -1, -1), -1.0), (w, range(n - 1), 1.0)):
        for j in order:
            t = sweep[j]
            if abs(t) > 1.0:
                cos = 1.0 / t
                sin = math.sqrt(1.0 - cos * cos)
            else:
                sin = t
                cos = math.sqrt(1.0 - sin * sin)
            out.append((j, cos, sign * sin))
    return out


def _apply_rotations(a: list, rotations: list) -> None:
    """MINPACK's ``r1mpyq``: ``a ← a G`` (rows of ``a``, in place): column j and the last column rotated."""
    last = len(rotations) // 2
    for row in a:
        for j, cos, sin in rotations:
            temp = cos * row[j] + sin * row[last]
            row[last] = -sin * row[j] + cos * row[last]
            row[j] = temp
