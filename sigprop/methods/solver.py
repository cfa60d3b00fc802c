"""Roots of the local DKS/TAT conditions, in NumPy (no JAX compile): damped Newton, multi-start, continuation.

The unknowns are ``p = (log α, β)`` (DKS), ``(log α, β, δ)`` (TAT) or ``(s, β)`` (DKS leaky ReLU, slope s,
α ≡ 1); the residuals are the local maps of :mod:`sigprop.local_maps` minus their targets. Jacobians are
central differences of the residuals (step 1e-6: error ~1e-12 relative, far inside Newton's basin), so only
function values of φ, φ', φ'' on a fixed quadrature rule are ever needed.

Two rules say which root is returned (the conditions often have several):

- ``"dks"`` (the default): the reference library's. Starting points in dks's order — the Cartesian product of
  α ∈ (1, 0.1), β ∈ (0, 1, −1) (TAT: × δ ∈ (0, 1, −1); leaky ReLU: slope ∈ (0, 0.5) × β), the least distorted
  transform first, then uniform draws from dks's ranges with its seed 123, 50 starts in all — each solved with
  MINPACK's hybrd method as dks does through ``scipy.optimize.root`` (here :func:`sigprop.roots.hybrid`, the
  same steps without importing SciPy); the first root found that passes the rules is
  polished by Newton and returned. So sigprop returns dks's root wherever dks succeeds (dks's own golden
  values are reproduced in tests/test_dks_golden.py). One deliberate difference: TAT's rejection α·γ < 2 is
  applied to |α| (dks lets a negative α through, and with it the unstable roots the rule exists to reject).
- ``"continuation"``: a root that is a continuous function of the depth (for sliders) and independent of the
  order of calls: at an anchor target where φ̂ is nearly linear (ξ − 1 = 1e-4, resp. C''(1) = 1e-4) the
  smallest-α root of a fixed multi-start, then the moving target followed in warm-started steps (from the
  nearest target already solved on the same path). If the path fails (a fold), the smallest-α root of a
  multi-start at the target.

Sign convention: α > 0 (the conditions are even in α: a negative α found by hybr is reported as |α|, which
mirrors φ̂ to x ↦ φ̂(−x), the same kernel); with ``"continuation"`` also, for odd φ, β ≥ 0 (the conditions are
invariant under (β, δ) → (−β, −δ)); the dks rule keeps the sign of β that dks finds.
Every loop has a fixed iteration cap; solutions are cached (LRU).
"""

from __future__ import annotations

import itertools
import math
from functools import cache

import numpy as np

from ..activations import Activation
from ..jets import Lifted
from ..local_maps import (
    COARSE,
    SMOOTH_NODES,
    dks_conditions,
    dks_conditions_from_values,
    rule,
    smooth_rule,
    tat_conditions,
)
from ..roots import hybrid
from .common import _LOCAL, _PATHS, _is_odd

ROOT_TOL = 1e-12  # max |residual| of an accepted root
_DONE_TOL = 1e-14  # a start stops iterating once its residual is this small
_NEWTON_ITERS = 60
_FD_STEP = 1e-6
_STEP_LENGTHS = (1.0, 0.5, 0.25, 0.125, 0.0625)
# The last target moves with depth; it is continued in u = log(ξ − 1) (DKS) or u = log C''(1) (TAT) from the
# anchor value below, where φ̂ is nearly linear.
_ANCHOR_U = math.log(1e-4)
_PATH_STEPS = 24
_PATH_NEWTON = 8
_FINAL_NEWTON = 30
_POLISH_NEWTON = 8
FINE = (SMOOTH_NODES, 10)


# --------------------------------------------------------------------------------------------------
# residuals: p (S, P) -> (statistics (S, P), constants (S, 4) = (α, β, γ, δ))
# --------------------------------------------------------------------------------------------------


def _dks_stats(phi, p, smooth=FINE):
    alpha, beta = np.exp(p[..., 0]), p[..., 1]
    with np.errstate(all="ignore"):
        (q_slope, c_slope), (gamma, delta) = dks_conditions(phi, alpha, beta, smooth)
    return np.stack([q_slope, c_slope], -1), np.stack([alpha, beta, gamma, delta], -1)


def _tat_stats(phi, p, smooth=FINE):
    alpha, beta, delta = np.exp(p[..., 0]), p[..., 1], p[..., 2]
    with np.errstate(all="ignore"):
        stats, gamma = tat_conditions(phi, alpha, beta, delta, smooth)
    return np.stack(stats, -1), np.stack([alpha, beta, gamma, delta], -1)


def _leaky_dks_stats(_phi, p, smooth=None):
    """Leaky ReLU (positively homogeneous, so α ≡ 1): p = (negative slope s, β)."""
    s, beta = p[..., 0], p[..., 1]
    z, w = rule((0.0,), np.ones_like(beta), beta)
    y = z + beta[..., None]
    pos = y >= 0
    f0 = np.where(pos, y, s[..., None] * y)
    f1 = np.where(pos, 1.0, s[..., None] * np.ones_like(y))
    with np.errstate(all="ignore"):
        (q_slope, c_slope), (gamma, delta) = dks_conditions_from_values(z, w, 1.0, f0, f1)
    return np.stack([q_slope, c_slope], -1), np.stack([s, beta, gamma, delta], -1)


_STATS = {"dks": _dks_stats, "tat": _tat_stats, "dks_leaky": _leaky_dks_stats}


def _last_target(kind, u):
    return 1.0 + np.exp(u) if kind in ("dks", "dks_leaky") else np.exp(u)


def _path_variable(kind, t):
    return math.log(t - 1.0) if kind in ("dks", "dks_leaky") else math.log(t)


# --------------------------------------------------------------------------------------------------
# damped Newton on many starts at once
# --------------------------------------------------------------------------------------------------


def _jacobian(res, P):
    """Central-difference Jacobian of ``res`` at every row of P (S, m), shape (S, m, m); one batched call."""
    m = P.shape[-1]
    e = _FD_STEP * np.eye(m)
    shifted = np.concatenate([P[None] + e[:, None], P[None] - e[:, None]])  # (2m, S, m)
    R = res(shifted.reshape(-1, m)).reshape(2, m, P.shape[0], -1)
    return np.moveaxis((R[0] - R[1]) / (2 * _FD_STEP), 0, -1)


def _solve_rows(J, R):
    """``J⁻¹ R`` row by row; NaN for a singular or non-finite row."""
    out = np.full(R.shape, np.nan)
    ok = np.all(np.isfinite(J), axis=(-1, -2)) & np.all(np.isfinite(R), -1)
    if ok.any():
        Jo, Ro = J[ok], R[ok]
        good = np.abs(np.linalg.det(Jo)) > 1e-300
        sol = np.full(Ro.shape, np.nan)
        if good.any():
            sol[good] = np.linalg.solve(Jo[good], Ro[good][..., None])[..., 0]
        out[ok] = sol
    return out


def _norms(R):
    n = np.linalg.norm(R, axis=-1)
    return np.where(np.isfinite(n), n, np.inf)


def newton(res, P, iters: int):
    """At most ``iters`` damped Newton steps on ``res(P) = 0`` for every row of P (S, m): steps clipped to norm
    2, the best of five lengths (1 … 1/16) taken (even if it does not lower |res|), a step to NaN refused and
    that row stopped; a row stops once its residual is below 1e-14. Returns (P, residuals)."""
    P = np.array(P, dtype=float)
    if P.size == 0:
        return P, np.zeros(P.shape)
    R = res(P)
    alive = np.all(np.isfinite(R), -1)
    for _ in range(iters):
        norm = np.max(np.abs(R), -1)
        active = alive & ~(np.isfinite(norm) & (norm < _DONE_TOL))
        if not active.any():
            break
        idx = np.flatnonzero(active)
        Pa, Ra = P[idx], R[idx]
        dP = _solve_rows(_jacobian(res, Pa), Ra)
        dP = dP * np.minimum(1.0, 2.0 / (np.linalg.norm(dP, axis=-1, keepdims=True) + 1e-300))
        cands = np.stack([Pa - t * dP for t in _STEP_LENGTHS])  # (5, A, m)
        Rc = res(cands.reshape(-1, P.shape[-1])).reshape(cands.shape[:2] + (R.shape[-1],))
        norms = _norms(Rc)
        best = np.argmin(norms, 0)
        rows = np.arange(idx.size)
        ok = np.all(np.isfinite(dP), -1) & np.isfinite(norms[best, rows])
        P[idx[ok]], R[idx[ok]] = cands[best, rows][ok], Rc[best, rows][ok]
        alive[idx[~ok]] = False
    return P, R


# --------------------------------------------------------------------------------------------------
# multi-start, continuation, acceptance
# --------------------------------------------------------------------------------------------------


def _starts(kind):
    if kind == "dks":
        grid = [(math.log(a), b) for a in (0.01, 0.1, 0.3, 1.0, 3.0) for b in (0.0, 0.5, 1.0, -0.5, -1.0, 2.0)]
    elif kind == "dks_leaky":
        grid = [(s, b) for s in (0.0, 0.3, 0.6, 0.9) for b in (0.0, 0.5, -0.5, 1.0, -1.0)]
    else:
        grid = [(math.log(a), b, d) for a in (0.01, 0.1, 0.3, 1.0) for b in (0.0, 0.5, -0.5, 1.0, -1.0)
                for d in (0.0, 0.5, -0.5, 1.0, -1.0)]
    return np.asarray(grid, dtype=float)


def _accept(kind, R, C):
    ok = np.all(np.isfinite(R), axis=-1) & (np.max(np.abs(R), axis=-1) < ROOT_TOL)
    ok &= np.all(np.isfinite(C), axis=-1)
    if kind == "tat":
        ok &= C[..., 0] * C[..., 2] < 2.0  # reject α·γ ≥ 2 (unstable Q maps; dks does the same)
    if kind == "dks_leaky":
        ok &= (C[..., 0] > -1.0) & (C[..., 0] < 1.0)
    return ok


def _canonical(phi, kind, P, C):
    """α > 0 holds by construction (α = e^p₀ or 1); for odd φ flip (β, δ) → (−β, −δ) so that β ≥ 0."""
    P, C = np.array(P, dtype=float), np.array(C, dtype=float)
    if kind != "dks_leaky" and _is_odd(phi):
        flip = C[..., 1] < 0
        C[flip, 1] *= -1
        C[flip, 3] *= -1
        P[flip, 1] *= -1
        if kind == "tat":
            P[flip, 2] *= -1
    return P, C


def _residual(phi, kind, targets, smooth=FINE):
    stats = _STATS[kind]
    t = np.asarray(targets, dtype=float)
    return lambda P: stats(phi, P, smooth)[0] - t


def _multistart(phi, kind, targets):
    """All accepted roots from the fixed starts: (P, C, number rejected by the rules). For odd φ the
    conditions are invariant under (β, δ) → (−β, −δ) and the start grid is symmetric, so only starts with
    (β, δ) ≥ (0, 0) lexicographically are run (the others give the mirrored roots)."""
    starts = _starts(kind)
    if kind != "dks_leaky" and _is_odd(phi):
        tail = starts[:, 1:]
        first = np.where(tail[:, 0] != 0, tail[:, 0], tail[:, -1] if tail.shape[1] > 1 else 0.0)
        starts = starts[first >= 0]
    P, R = newton(_residual(phi, kind, targets, COARSE), starts, _NEWTON_ITERS)
    found = np.all(np.isfinite(R), axis=-1) & (np.max(np.abs(R), axis=-1) < 1e-9)
    P, R = P[found], R[found]
    if len(P):  # polish on the default rule
        P, R = newton(_residual(phi, kind, targets), P, _POLISH_NEWTON)
    C = _STATS[kind](phi, P)[1]
    ok = _accept(kind, R, C)
    converged = np.all(np.isfinite(R), axis=-1) & (np.max(np.abs(R), axis=-1) < ROOT_TOL)
    P, C = _canonical(phi, kind, P[ok], C[ok])
    return P, C, int(converged.sum() - ok.sum())


def _smallest_alpha(P, C):
    order = np.lexsort((np.round(C[:, 1], 9), np.round(np.abs(C[:, 0]), 9)))
    return {"p": P[order[0]], "c": C[order[0]]}


def _continue(phi, kind, p0, fixed, u_target, u0=_ANCHOR_U, steps=_PATH_STEPS):
    """Follow the last target from ``u0`` (the anchor) to ``u_target`` in equal steps of u, warm-started."""
    p = np.asarray(p0, dtype=float)[None]
    for u in u0 + (u_target - u0) * np.arange(1, steps + 1) / steps:
        p, _ = newton(_residual(phi, kind, (*fixed, float(_last_target(kind, u)))), p, _PATH_NEWTON)
    targets = (*fixed, float(_last_target(kind, u_target)))
    p, r = newton(_residual(phi, kind, targets), p, _FINAL_NEWTON)
    return p[0], r[0], _STATS[kind](phi, p)[1][0]


def solve_local(phi: Activation, kind: str, targets: tuple[float, ...]):
    """The canonical root ``{"p", "c"}`` (c = (α, β, γ, δ), or (s, β, γ, δ) for leaky ReLU) of the local
    conditions ``kind`` ∈ {"dks", "tat", "dks_leaky"} at ``targets`` (the last one moves with depth), or
    ``(None, reason)``."""
    key = (phi, kind, targets)
    hit = _LOCAL.get(key)
    if hit is not None:
        return hit
    fixed = targets[:-1]
    akey = (phi, kind, fixed, "anchor")
    anchor = _LOCAL.get(akey)
    if anchor is None:
        P, C, _ = _multistart(phi, kind, (*fixed, float(_last_target(kind, _ANCHOR_U))))
        anchor = _smallest_alpha(P, C) if len(P) else {"p": None}
        _LOCAL.put(akey, anchor)
    sol = None
    if anchor["p"] is not None:
        u_target = _path_variable(kind, targets[-1])
        path = _PATHS.setdefault(akey, {_ANCHOR_U: anchor["p"]})
        u_near = min(path, key=lambda u: abs(u - u_target))
        # a solved target on the same path nearer than the anchor: continue from it, with steps no longer
        # than the anchor path's (same branch, so the same root as from the anchor)
        span = max(abs(u_target - _ANCHOR_U), 1e-12)
        steps = max(1, math.ceil(_PATH_STEPS * abs(u_target - u_near) / span - 1e-9))
        p, r, c = _continue(phi, kind, path[u_near], fixed, u_target, u_near, steps)
        if _accept(kind, r[None], c[None])[0]:
            P, C = _canonical(phi, kind, p[None], c[None])
            sol = {"p": P[0], "c": C[0]}
            if len(path) < 256:
                path[u_target] = p
    if sol is None:
        P, C, rejected = _multistart(phi, kind, targets)
        if not len(P):
            return None, (f"{rejected} root(s) were found but rejected (α·γ ≥ 2)" if rejected else
                          "no root was found from any start")
        sol = _smallest_alpha(P, C)
    _LOCAL.put(key, sol)
    return sol


# --------------------------------------------------------------------------------------------------
# dks's rule: fixed starts in dks's order, hybr, the first accepted root
# --------------------------------------------------------------------------------------------------

_DKS_TRIES = 50
_DKS_SEED = 123
#: dks's always-tried values and sampling ranges, per parameter (dks/base/activation_transform.py)
_DKS_ALWAYS = {"alpha": (1.0, 0.1), "beta": (0.0, 1.0, -1.0), "delta": (0.0, 1.0, -1.0), "slope": (0.0, 0.5)}
_DKS_RANGE = {"alpha": (0.0, 2.0), "beta": (-3.0, 3.0), "delta": (-3.0, 3.0), "slope": (0.0, 1.0)}
_DKS_PARAMS = {"dks": ("alpha", "beta"), "tat": ("alpha", "beta", "delta"), "dks_leaky": ("slope", "beta")}


def _dks_starts(kind):
    """dks's starting points in dks's order: the Cartesian product of the fixed values, then uniform draws from
    the stream of its ``np.random.seed(123)``, 50 in all. A generator: ``numpy.random`` (≈15 ms to import) is
    loaded only when the fixed starts all fail."""
    yield from _fixed_starts(kind)
    yield from _random_starts(kind)


@cache
def _fixed_starts(kind):
    names = _DKS_PARAMS[kind]
    starts = np.asarray(list(itertools.product(*(_DKS_ALWAYS[n] for n in names))), dtype=float)
    starts.flags.writeable = False  # cached: shared by every solve
    return starts


@cache
def _random_starts(kind):
    names = _DKS_PARAMS[kind]
    rng = np.random.RandomState(_DKS_SEED)  # the stream of dks's np.random.seed(123), without the global side effect
    starts = [tuple(rng.uniform(*_DKS_RANGE[n]) for n in names) for _ in range(_DKS_TRIES - len(_fixed_starts(kind)))]
    starts = np.asarray(starts, dtype=float)
    starts.flags.writeable = False
    return starts


def _to_p(kind, raw):
    """dks's raw parameters (α may be negative) -> the solver's p (log |α| first for dks/tat)."""
    p = np.array(raw, dtype=float)
    if kind != "dks_leaky":
        p[..., 0] = np.log(np.abs(p[..., 0]))
    return p


class _SmoothDKS:
    """The DKS conditions of a smooth φ at one point at a time, summed directly on the fixed smooth rule (the
    same sums as :func:`_dks_stats`, :func:`~sigprop.local_maps.dks_conditions_from_values`): hybr calls the
    residual ~35 times a solve, one point at a time, where the batched path's array bookkeeping costs more than
    the quadrature; the Newton polish of hybr's root runs on the same sums."""

    def __init__(self, phi: Activation, targets: tuple[float, ...]):
        self.z, self.w = smooth_rule(*FINE)
        # a registry φ's own (f, f', f'') rule, called as it is (hybr runs under np.errstate(all="ignore"))
        self.values = phi.jet.rule if isinstance(phi.jet, Lifted) and not phi.is_transformed else phi.derivatives
        self.targets = tuple(float(t) for t in targets)

    def stats(self, alpha: float, beta: float) -> tuple[float, float, float, float]:
        """(Q'(1) − target, C'(1) − target, γ, δ) of φ(αz + β), α > 0."""
        f0, f1 = self.values(alpha * self.z + beta)[:2]
        if np.ndim(f1) == 0:  # a rule's constant derivative (e.g. 1 for x ↦ x)
            f1 = np.full(self.z.shape, float(f1))
        (q_slope, c_slope), (gamma, delta) = dks_conditions_from_values(self.z, self.w, alpha, f0, f1)
        return (float(q_slope) - self.targets[0], float(c_slope) - self.targets[1], float(gamma), float(delta))

    def __call__(self, x) -> np.ndarray:
        """hybr's residual at dks's raw parameters x = (α, β) (α may be negative: the conditions are even in α)."""
        alpha = abs(float(x[0]))
        if alpha == 0.0:
            return np.full(2, np.nan)
        return np.array(self.stats(alpha, float(x[1]))[:2])

    def polish(self, sol):
        """hybr's root ``sol`` (a :class:`~sigprop.roots.HybridResult`) refined by at most ``_POLISH_NEWTON``
        chord steps x ← x − J⁻¹ r(x) with hybr's last Jacobian J (one evaluation a step, where a Newton step
        with a fresh central-difference Jacobian costs five), a step taken only where it lowers max |r|; stops
        below ``_DONE_TOL``. Returns (p, r, (α, β, γ, δ)) as rows, p = (log |α|, β), the shapes :func:`newton`
        returns; the caller falls back to :func:`newton` where r is not within ``ROOT_TOL``."""
        (j00, j01), (j10, j11) = sol.jac.tolist()
        det = j00 * j11 - j01 * j10
        x = [float(v) for v in sol.x]
        s = self.stats(abs(x[0]), x[1])
        for _ in range(_POLISH_NEWTON):
            size = max(abs(s[0]), abs(s[1]))
            if not (size >= _DONE_TOL and math.isfinite(det) and det != 0.0):
                break  # converged, NaN (left to the acceptance rules) or no usable Jacobian
            trial = [x[0] - (j11 * s[0] - j01 * s[1]) / det, x[1] - (j00 * s[1] - j10 * s[0]) / det]
            t = self.stats(abs(trial[0]), trial[1]) if trial[0] != 0.0 else (math.nan,) * 4
            if not max(abs(t[0]), abs(t[1])) < size:
                break
            x, s = trial, t
        alpha = abs(x[0])
        return (np.array([[math.log(alpha), x[1]]]), np.array([s[:2]]), np.array([[alpha, x[1], s[2], s[3]]]))


def _hybr_residual(phi: Activation, kind: str, targets: tuple[float, ...]):
    """The residual at one of hybr's points x (dks's raw parameters): the same conditions as :func:`_residual`
    (for DKS of a smooth φ, :class:`_SmoothDKS`)."""
    if kind == "dks" and phi.smooth:
        return _SmoothDKS(phi, targets)
    nan = np.full(len(targets), np.nan)
    residual = _residual(phi, kind, targets)

    def fun(x):
        if kind != "dks_leaky" and x[0] == 0.0:
            return nan
        return residual(_to_p(kind, x)[None])[0]

    return fun


def solve_dks_rule(phi: Activation, kind: str, targets: tuple[float, ...]):
    """The root dks returns (see the module docstring), or ``(None, reason)``."""
    key = (phi, kind, targets, "dks")
    hit = _LOCAL.get(key)
    if hit is not None:
        return hit
    residual = _residual(phi, kind, targets)
    fun = _hybr_residual(phi, kind, targets)
    rejected = 0
    for raw in _dks_starts(kind):
        if kind != "dks_leaky" and raw[0] == 0.0:
            continue  # α = 0: a constant activation

        with np.errstate(all="ignore"):
            sol = hybrid(fun, raw)
        if not (sol.success and np.all(np.isfinite(sol.x))) or (kind != "dks_leaky" and sol.x[0] == 0.0):
            continue
        P = None
        if isinstance(fun, _SmoothDKS):
            P, R, C = fun.polish(sol)
            if not _accept(kind, R, C)[0]:
                P = None  # not polished to ROOT_TOL on the fast path: the batched damped Newton decides
        if P is None:
            P, R = newton(residual, _to_p(kind, sol.x)[None], _POLISH_NEWTON)
            C = _STATS[kind](phi, P)[1]
        if not _accept(kind, R, C)[0]:  # not converged, or broke a rule (TAT: |α|·γ ≥ 2)
            rejected += bool(np.all(np.isfinite(R)) and np.max(np.abs(R)) < ROOT_TOL)
            continue
        out = {"p": P[0], "c": C[0]}  # α > 0 by construction (p₀ = log |α|); (β, δ) kept as dks finds them
        _LOCAL.put(key, out)
        return out
    return None, (f"{rejected} root(s) were found but rejected (α·γ ≥ 2)" if rejected else
                  f"no root was found from any of dks's {_DKS_TRIES} starts")


def all_roots(phi: Activation, kind: str, targets: tuple[float, ...], first=None) -> np.ndarray:
    """Every distinct root of the local conditions that the searches find and the rules accept: the batched
    grid of :func:`_multistart` (each root polished on the default rule) and, given, ``first`` (the root a
    method returned, kept first). Rows (α, β, γ, δ) ((s, β, γ, δ) for leaky ReLU), mirrored roots of an odd φ
    counted once, two roots the same when every constant agrees to 1e-7 relative."""
    key = (phi, kind, targets, "all")
    hit = _LOCAL.get(key)
    if hit is None:
        with np.errstate(all="ignore"):
            _, hit, _ = _multistart(phi, kind, targets)
        _LOCAL.put(key, hit)
    rows = ([] if first is None else [np.asarray(first, dtype=float)]) + list(hit)
    out, seen = [], []
    for row in rows:
        canon = _canonical(phi, kind, np.zeros((1, len(_DKS_PARAMS[kind]))), row[None])[1][0]
        if not any(np.all(np.abs(canon - c) <= 1e-7 * np.maximum(1.0, np.abs(c))) for c in seen):
            out.append(row)
            seen.append(canon)
    return np.asarray(out, dtype=float).reshape(-1, 4)


def solve(phi: Activation, kind: str, targets: tuple[float, ...], root: str = "dks"):
    """The root of the local conditions by the rule ``root`` (``"dks"`` or ``"continuation"``)."""
    if root == "dks":
        return solve_dks_rule(phi, kind, targets)
    return solve_local(phi, kind, targets)
