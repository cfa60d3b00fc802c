"""Edge of Chaos (Poole et al. 2016, arXiv:1606.05340; Schoenholz et al. 2017, arXiv:1611.01232), in NumPy.

For a layer ``h' = W φ(h) + b``, ``W_ij ~ N(0, σ_w²/N)``, ``b ~ N(0, σ_b²)``:

- the fixed point q* of ``Q(q) = σ_w² E[φ(√q z)²] + σ_b²`` reached by iterating from the input variance q0;
- ``χ₁ = σ_w² E[φ'(√q* z)²]``: ordered (< 1), chaotic (> 1), the edge of chaos (= 1);
- ``Q'(q*) = σ_w² E[φ(√q* z) φ'(√q* z) z] / √q*`` and the depth scale ξ_q = −1/log Q'(q*).

The moments come from the activation's dual kernel (``Activation.kernel(series=False)``: its closed form, else
the NumPy quadrature of :mod:`sigprop.local_maps`), the objects the networks use, so an EOC solve needs no JAX
compile. With σ_b > 0 the EOC is found on the curve of fixed points (:func:`_eoc_on_fixed_point_curve`).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ..errors import ConfigurationError, UnachievableError
from ..local_maps import SMOOTH_NODES, moments
from ..quadrature import hermite_functions, scaled_weights
from ..roots import brentq
from .common import _as_activation, _finite, _is_homogeneous
from .results import EOCResult, _frozen

Q_FLOOR = 1e-24
Q_CEIL = 1e12
#: the q table that brackets fixed points (ratio 1.25 between neighbours)
Q_TABLE = np.geomspace(Q_FLOOR, Q_CEIL, 373)
_NEWTON = 8


def _q_moments(phi, q, smooth=(SMOOTH_NODES, 10), hermite: int = 0):
    """``E[φ(√q z)²]``, its q-derivative ``E[φ φ' z]/√q`` and ``E[φ'(√q z)²]``, for an array of q, from φ's dual
    kernel (:meth:`~sigprop.activations.Activation.kernel`, moments only: the closed form where φ has one, else
    the quadrature of :func:`sigprop.local_maps.variance_moments`). With ``hermite = K`` (the phase diagram's
    c*) also the Hermite coefficients ``a_k = E[φ(√q z) He_k(z)/√k!]``, k < K (last axis), by quadrature on
    the rule ``smooth``."""
    q = np.asarray(q, dtype=float)
    with np.errstate(all="ignore"):
        m = phi.kernel(series=False).moments(q)
        out = tuple(_shaped(m[k], q.shape) for k in ("second", "second_slope", "dot"))
    if hermite:
        out += (_hermite_coefficients(phi, q, smooth, hermite),)
    return out


def _shaped(v, shape) -> np.ndarray:
    """``v`` as a float64 array of ``shape`` (a closed form may return a scalar for every q)."""
    v = np.asarray(v, dtype=float)
    return v if v.shape == shape else np.broadcast_to(v, shape).copy()


def _hermite_coefficients(phi, q, smooth, order):
    """``a_k = E[φ(√q z) He_k(z)/√k!]`` (k < order, last axis) for an array of q, by quadrature on ``smooth``."""
    sq = np.sqrt(np.asarray(q, dtype=float))
    z, w, (f0,) = moments(phi, sq, np.zeros_like(sq), 0, smooth)
    with np.errstate(all="ignore"):
        return np.einsum("...n,k...n->...k", scaled_weights(z, w, xp=np) * f0, hermite_functions(z, order, xp=np))


@lru_cache(maxsize=128)
def _second_table(phi):
    """``E[φ(√q z)²]`` on :data:`Q_TABLE` (once per activation; it does not depend on σ)."""
    table = _q_moments(phi, Q_TABLE)[0]
    table.setflags(write=False)
    return table


def fixed_points(phi, sw2, sb2, q0: float = 1.0, q_moments=None):
    """``(q*, χ₁, Q'(q*))`` for arrays σ_w², σ_b² (broadcast), q* reached by iterating the Q map from q0.

    Q is increasing, so the iterates move monotonically to the nearest root of F(q) = Q(q) − q in the direction
    sign F(q0); that root is bracketed on :data:`Q_TABLE` and refined by 8 safeguarded Newton steps. No root down
    to 1e-24 gives q* = 0; none up to 1e12 gives q* = inf (the Q map diverges from q0; χ₁ and Q' are NaN).
    ``q_moments(q) -> (E[φ²], its q-derivative, E[φ'²])`` replaces the quadrature (the phase diagram passes
    splines of tabulated moments for large grids)."""
    sw2, sb2 = np.broadcast_arrays(np.atleast_1d(np.asarray(sw2, dtype=float)), np.asarray(sb2, dtype=float))
    m_tab = _second_table(phi)
    moments_of = q_moments or (lambda q: _q_moments(phi, q))

    def F(q):
        m, dm, _ = moments_of(q)
        return sw2 * m + sb2 - q, sw2 * dm - 1.0

    f0 = sw2 * moments_of(np.array([q0]))[0] + sb2 - q0
    f0 = np.where(np.abs(f0) <= 1e-13 * (1.0 + q0), 0.0, f0)  # q0 is a fixed point (e.g. a shaped φ̂)
    up = f0 > 0
    n = Q_TABLE.size
    pos = int(np.searchsorted(Q_TABLE, q0))
    j_up, j_dn = _flips(m_tab, sw2, sb2, pos)
    a = np.where(up, np.where(j_up > pos, Q_TABLE[np.maximum(j_up - 1, 0)], q0), Q_TABLE[np.maximum(j_dn, 0)])
    b = np.where(up, Q_TABLE[np.minimum(j_up, n - 1)],
                 np.where(j_dn < pos - 1, Q_TABLE[np.minimum(j_dn + 1, n - 1)], q0))
    a, b = np.minimum(a, b), np.maximum(a, b)
    a = np.where(up, np.maximum(a, q0), a)
    b = np.where(up, b, np.minimum(b, q0))
    diverged = up & (j_up >= n)
    vanished = ~up & (j_dn < 0)
    x = 0.5 * (a + b)
    for _ in range(_NEWTON):  # F(a) > 0 > F(b)
        fx, dfx = F(x)
        a, b = np.where(fx > 0, x, a), np.where(fx > 0, b, x)
        with np.errstate(all="ignore"):
            newton = x - fx / dfx
        x_new = np.where(fx == 0, x, np.where((newton > a) & (newton < b), newton, 0.5 * (a + b)))
        if np.array_equal(x_new, x, equal_nan=True):  # a fixed point of the step: later steps change nothing
            break
        x = x_new
    q = np.where(f0 == 0, q0, np.where(vanished, 0.0, np.where(diverged, np.inf, x)))
    qe = np.clip(q, 1e-12, Q_CEIL)  # q* = 0: the slopes' limit q → 0
    _, dm, e1 = moments_of(qe)
    e1 = np.where(np.isnan(e1), np.inf, e1)  # φ' infinite at a node (√relu at 0): E[φ'²] = ∞, so χ₁ = ∞
    fin = np.isfinite(q)
    return q, np.where(fin, sw2 * e1, np.nan), np.where(fin, sw2 * dm, np.nan)


def _flips(m_tab, sw2, sb2, pos: int):
    """For each (σ_w², σ_b²): the first table index j ≥ pos where F(Q_j) = σ_w² m_j + σ_b² − Q_j ≤ 0 (n if none)
    and the last j < pos where F(Q_j) > 0 (−1 if none): where an upward (downward) iteration from q0 meets a
    root. F(Q_j) ≤ 0 ⟺ σ_w² ≤ T_j = (Q_j − σ_b²)/m_j, so per distinct σ_b² a running max (min) of T turns the
    scan into a binary search per point: O(table + points · log table), not O(points · table)."""
    n = Q_TABLE.size
    j_up = np.full(sw2.shape, n)
    j_dn = np.full(sw2.shape, -1)
    values, groups = np.unique(sb2, return_inverse=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        for g, b2 in enumerate(values):
            T = np.where(m_tab > 0, (Q_TABLE - b2) / m_tab, np.inf)
            rows = np.flatnonzero(groups == g)
            w = sw2[rows]
            if pos < n:  # first j ≥ pos with T_j ≥ σ_w²
                run_max = np.maximum.accumulate(T[pos:])
                i = np.searchsorted(run_max, w, side="left")
                j_up[rows] = np.where(i < n - pos, pos + i, n)
            if pos > 0:  # last j < pos with T_j < σ_w² (scanning down from pos − 1)
                run_min = np.minimum.accumulate(T[:pos][::-1])
                i = np.searchsorted(-run_min, -w, side="right")
                j_dn[rows] = np.where(i < pos, pos - 1 - i, -1)
    return j_up, j_dn


def depth_scale(slope):
    """ξ = −1/log(slope): ∞ at slope 1, NaN where undefined."""
    s = np.asarray(slope, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = np.where(np.isclose(s, 1.0, rtol=0, atol=1e-12), np.inf, -1.0 / np.log(s))
    return np.where(s > 1, np.nan, xi) if np.ndim(xi) else (np.nan if s > 1 + 1e-12 else float(xi))


def eoc(phi, sigma_b: float = 0.0, q0: float = 1.0, sigma_w2_range=(1e-2, 1e2)) -> EOCResult:
    """Edge of Chaos (Poole et al. 2016; Schoenholz et al. 2017): σ_w with χ₁ = σ_w² E[φ'(√q* z)²] = 1 at the
    fixed point q* of Q(q) = σ_w² E[φ(√q z)²] + σ_b² reached from the input variance ``q0``.

    σ_w² is bracketed by a scan of ``sigma_w2_range`` and refined by Brent's method. Reports q*, χ₁,
    c* (= 1 on the EOC), ξ_q = −1/log Q'(q*) and ξ_c = −1/log χ₁ (= ∞). Positively homogeneous φ (ReLU
    family) have a closed form: χ₁ = σ_w² E[φ'(z)²] is q-independent and Q is linear, so the EOC is the
    single point σ_w² = 1/E[φ'(z)²], σ_b = 0 (Hayou et al. 2019). So has σ_b = 0 with φ(0) = 0, where the EOC is
    the limit q* = 0, σ_w² = 2/(φ'(0⁺)² + φ'(0⁻)²), when q0 reaches it (tanh: σ_w = 1 exactly; see
    ``_eoc_at_vanishing_variance``). Raises UnachievableError, with the reason,
    when there is no EOC (e.g. swish/GELU whose stable q* disappears before χ₁ reaches 1).
    """
    phi = _as_activation(phi)
    sb = _finite("sigma_b", sigma_b, nonneg=True)
    q0 = _finite("q0", q0, positive=True)
    sb2 = sb * sb
    if _is_homogeneous(phi):
        return _eoc_homogeneous(phi, sb, q0)
    try:
        lo, hi = (float(v) for v in sigma_w2_range)
    except (TypeError, ValueError):
        raise ConfigurationError(f"sigma_w2_range must be two numbers, got {sigma_w2_range!r}") from None
    if not (0 < lo < hi and math.isfinite(hi)):
        raise ConfigurationError(f"sigma_w2_range must satisfy 0 < lo < hi < inf, got {sigma_w2_range}")
    if sb2 == 0.0:
        vanishing = _eoc_at_vanishing_variance(phi, q0, lo, hi)
        if vanishing is not None:
            return vanishing
    found = _eoc_on_fixed_point_curve(phi, sb2, q0, lo, hi)
    if found is not None:
        w2, qs, chi, dq = found
        return _eoc_result(phi, sb, q0, w2, qs, chi, dq)
    grid = np.geomspace(lo, hi, 400)
    q, chi1, _ = fixed_points(phi, grid, sb2, q0)
    ok = np.isfinite(chi1)
    crossing = np.flatnonzero(ok[:-1] & ok[1:] & ((chi1[:-1] - 1) * (chi1[1:] - 1) <= 0))
    if crossing.size == 0:
        raise UnachievableError(_no_eoc_reason(phi, sb, q0, grid, chi1))

    def g(w2):
        return fixed_points(phi, [w2], sb2, q0)[1][0] - 1.0

    for i in crossing:  # a sign change of χ₁ − 1 may be a jump (q* jumping between fixed points), not a root
        a, b = grid[i], grid[i + 1]
        w2 = a if g(a) == 0 else brentq(g, a, b, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200)
        qs, chi, dq = (float(v[0]) for v in fixed_points(phi, [w2], sb2, q0))
        if abs(chi - 1.0) <= 1e-8:
            break
    else:
        raise UnachievableError(
            f"{phi.display_name} at σ_b = {sb:g}: χ₁ crosses 1 only by jumping (at σ_w² ≈ {w2:.6g} the fixed point "
            f"q* reached from q0 = {q0:g} jumps, and χ₁ with it, to {chi:.6g}), so no σ_w gives χ₁ = 1: there is "
            "no edge of chaos here. Try another σ_b or q0.")
    return _eoc_result(phi, sb, q0, w2, qs, chi, dq)


def _eoc_on_fixed_point_curve(phi, sb2, q0, lo, hi):
    """The EOC found along the curve of fixed points, without iterating the Q map: a q is the fixed point of
    the layer with ``σ_w²(q) = (q − σ_b²)/E[φ(√q z)²]`` (solve Q(q) = q for σ_w²), where
    ``χ₁(q) = (q − σ_b²)·E[φ'(√q z)²]/E[φ(√q z)²]`` (Poole et al. 2016, arXiv:1606.05340, §3). One quadrature over
    :data:`Q_TABLE` brackets the crossings χ₁(q) = 1, Brent's method refines each in q, and a candidate is kept only
    if iterating the Q map from q0 at its σ_w² reaches that q (:func:`fixed_points`, χ₁ within 1e-8 of 1): the
    point the σ_w² scan of :func:`eoc` would find. ``(σ_w², q*, χ₁, Q'(q*))`` of the smallest such σ_w² in
    [lo, hi], or None (σ_b = 0, no crossing, more than 16 of them (an oscillating χ₁), or only unreachable ones):
    the caller then scans σ_w², which also explains a failure. Finer than that scan where the fixed points run
    away just after χ₁ = 1 (GELU at σ_b = 1: χ₁ = 1 at σ_w² = 1.97668, q* = 82.3, and q diverges from
    σ_w² ≈ 1.99 on, between two of the scan's points)."""
    if sb2 == 0.0:  # q* = 0 (where χ₁ = σ_w² φ'(0)²) is a limit, not on the table: left to the σ_w² scan
        return None
    q = Q_TABLE[Q_TABLE > sb2]
    with np.errstate(all="ignore"):
        m, _, e1 = _q_moments(phi, q)
        h = (q - sb2) * e1 / m - 1.0
    ok = np.isfinite(h) & (m > 0)
    brackets = np.flatnonzero(ok[:-1] & ok[1:] & (h[:-1] * h[1:] <= 0))
    if brackets.size == 0 or brackets.size > 16:
        return None

    def excess(v):
        mv, _, ev = (float(x[0]) for x in _q_moments(phi, np.array([v])))
        return (v - sb2) * ev / mv - 1.0

    candidates = []
    for j in brackets:
        a, b = float(q[j]), float(q[j + 1])
        qc = a if h[j] == 0 else brentq(excess, a, b, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=200)
        w2 = (qc - sb2) / float(_q_moments(phi, np.array([qc]))[0][0])
        if lo <= w2 <= hi:
            candidates.append((w2, qc))
    for w2, qc in sorted(candidates):
        qs, chi, dq = (float(v[0]) for v in fixed_points(phi, [w2], sb2, q0))
        if abs(chi - 1.0) <= 1e-8 and abs(qs - qc) <= 1e-9 * qc:
            return w2, qs, chi, dq
    return None


#: the smallest q at which the Q map's margin q − Q(q) is read (far above quadrature rounding, ~1e-15 q)
_VANISHING_Q_MIN = 1e-6


def _eoc_at_vanishing_variance(phi, q0, lo, hi):
    """σ_b = 0 and φ(0) = 0: the EOC in closed form, or None where it does not apply (the scan then decides).

    Q(0) = 0 is then a fixed point, and as q → 0, E[φ(√q z)²]/q and E[φ'(√q z)²] both tend to
    s² = (φ'(0⁺)² + φ'(0⁻)²)/2 (one-sided slopes, for a kink at 0): χ₁(q* = 0) = σ_w² s². Below σ_w² = 1/s² the
    iteration from q0 falls to q* = 0 with χ₁ < 1 (ordered); at σ_w² = 1/s², χ₁ = 1 and Q'(0) = 1, so q decays
    polynomially (ξ_q = ∞) — the edge of chaos (Poole et al. 2016, arXiv:1606.05340, Fig. 2; tanh: σ_w = 1),
    provided q0 still reaches 0 there: Q(q) < q on (0, q0] (checked on the q table from 1e-6 up, with a margin
    above rounding). The σ_w² scan only approached this limit (tanh σ_w = 1 + 3e-9, SELU 6e-5 off)."""
    with np.errstate(all="ignore"):
        f, d1, _ = phi.derivatives(np.array([0.0, -1e-300, 1e-300]))
    d1 = np.broadcast_to(np.asarray(d1, dtype=float), (3,))
    if not (float(f[0]) == 0.0 and np.all(np.isfinite(d1[1:]))):
        return None
    s2 = 0.5 * float(d1[1] ** 2 + d1[2] ** 2)
    if not s2 > 0.0:
        return None
    w2 = 1.0 / s2
    if not lo <= w2 <= hi:
        return None
    q = np.append(Q_TABLE[(Q_TABLE >= _VANISHING_Q_MIN) & (Q_TABLE < q0)], q0)
    second = _q_moments(phi, q)[0]
    margin = (q - w2 * second) / q
    if not np.all(margin > 1e-12):
        return None
    return EOCResult(
        method="edge of chaos", activation=phi, sigma_w=math.sqrt(w2), sigma_b=0.0, q_star=0.0, chi1=1.0,
        c_star=1.0, xi_q=math.inf, xi_c=math.inf,
        constants=_frozen({"sigma_w2": w2, "sigma_b2": 0.0, "q*": 0.0, "chi1": 1.0, "c*": 1.0,
                           "xi_q": math.inf, "xi_c": math.inf, "q0": q0}),
        notes=f"σ_b = 0 and φ(0) = 0: q* = 0, reached from q0 = {q0:g}, where χ₁ = σ_w²(φ'(0⁺)² + φ'(0⁻)²)/2 = 1; "
              "Q'(0) = 1, so q decays polynomially (ξ_q = ∞); c* = 1 and ξ_c = ∞.")


def _eoc_result(phi, sb, q0, w2, qs, chi, dq):
    sb2 = sb * sb
    xi_q = float(depth_scale(dq))
    return EOCResult(
        method="edge of chaos", activation=phi, sigma_w=math.sqrt(w2), sigma_b=sb, q_star=qs,
        chi1=chi, c_star=1.0, xi_q=xi_q, xi_c=math.inf,
        constants=_frozen({"sigma_w2": w2, "sigma_b2": sb2, "q*": qs, "chi1": chi, "c*": 1.0,
                           "xi_q": xi_q, "xi_c": math.inf, "q0": q0}),
        notes=f"χ₁ = 1 at the fixed point q* = {qs:.6g} reached from q0 = {q0:g}; c* = 1 and ξ_c = ∞.")


def _eoc_homogeneous(phi, sb, q0):
    m, _, e1 = _q_moments(phi, np.array([1.0]))
    m2, d2 = float(m[0]), float(e1[0])
    if not d2 > 0:
        raise UnachievableError(f"{phi.display_name}: E[φ'(z)²] = 0, so χ₁ = 0 for every σ_w: no edge of chaos")
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


def _no_eoc_reason(phi, sb, q0, grid, chi1):
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
        if np.any(w2 * _second_table(phi) + sb * sb - Q_TABLE <= 0):
            return head + (f"at σ_w² ≈ {w2:.4g} (χ₁ ≈ {chi1[j]:.3g} < 1 just before) q0 lies above the unstable "
                           "fixed point of the Q map, so q diverges from q0 although a stable q* still exists "
                           "below it. A smaller q0 follows the stable q* further.")
        return head + (f"the Q map loses its fixed points (Q(q) > q for all q) at σ_w² ≈ {w2:.4g} while "
                       f"χ₁ ≈ {chi1[j]:.3g} < 1 is still ordered. A larger σ_b may help.")
    return head + f"χ₁ stays below 1 (max {np.nanmax(chi1):.3g}) for σ_w² ≤ {grid[-1]:.3g}."
