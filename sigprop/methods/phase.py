"""The phase diagram: fixed-point quantities of the Q and C maps on a (σ_w², σ_b²) grid, vectorised with JAX
(Poole et al. 2016, arXiv:1606.05340; Schoenholz et al. 2017, arXiv:1611.01232). A grid of 40,000 points is
where a compiled, vmapped solver earns its compile; single fixed points (``eoc``) are computed in NumPy
(:mod:`sigprop.methods.eoc`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from ..activations import Activation, activation
from ..errors import ConfigurationError
from ..kernels import enable_jax
from ..quadrature import piecewise_gaussian_rule
from .common import _as_activation, _finite, _kinks
from .eoc import depth_scale

enable_jax()  # kernels are pytree arguments of the jitted functions below

_N_SMOOTH = 12  # nodes per panel for the solvers and eoc

_N_PHASE = 8  # nodes per panel for phase diagrams (display): ~1e-13 at q ≈ 1, ~1e-6 at q ≈ 10

_N_PIECE = 64  # Gauss–Legendre nodes per piece for kinked φ

def _rule(kinks, alpha, beta, n=None):
    """Nodes z, weights w with Σ w g(αz + β) ≈ E[g(αz + β)], z ~ N(0, 1); split at the kinks of g.
    Smooth g: ``n`` nodes per unit panel; kinked g: 64 Gauss–Legendre nodes per piece between kinks."""
    if kinks == ():
        half_width = 8 if n == _N_PHASE else 10  # display rule: truncation e^{−32} ≈ 1e-14
        return tuple(jnp.asarray(a) for a in _smooth_rule(n or _N_SMOOTH, half_width))
    if kinks is None:  # unknown kinks: many short pieces (algebraic convergence at the kinks)
        return tuple(jnp.asarray(a) for a in _static_rule((*np.linspace(-12, 12, 49)[1:-1],), 24))
    if isinstance(beta, float) and beta == 0.0 and all(isinstance(k, float) and k == 0.0 for k in kinks):
        return tuple(jnp.asarray(a) for a in _static_rule((0.0,), _N_PIECE))  # kink stays at z = 0
    breaks = (jnp.asarray(kinks) - beta) / alpha
    return piecewise_gaussian_rule(breaks, _N_PIECE)


@lru_cache(maxsize=16)
def _smooth_rule(n_per_panel, half_width=10):
    """Composite Gauss–Legendre on [−h, h] in unit panels (h = 10: truncation e^{−50}); weights include the
    N(0, 1) density."""
    t, wt = np.polynomial.legendre.leggauss(n_per_panel)
    centres = np.arange(-half_width + 0.5, half_width, 1.0)
    z = (centres[:, None] + 0.5 * t[None, :]).ravel()
    w = (0.5 * wt[None, :] * np.ones((centres.size, 1))).ravel() * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    return z, w


@lru_cache(maxsize=16)
def _static_rule(breaks, n):
    return piecewise_gaussian_rule(np.asarray(breaks, dtype=float), n, xp=np)


def _derivatives(fn, x, order):
    """(φ(x), φ'(x), φ''(x)) up to ``order`` for an elementwise φ (forward-mode, no vmap needed)."""

    def d1(y):
        return jax.jvp(fn, (y,), (jnp.ones_like(y),))[1]

    out = [fn(x)]
    if order >= 1:
        out.append(d1(x))
    if order >= 2:
        out.append(jax.jvp(d1, (x,), (jnp.ones_like(x),))[1])
    return out


def _qmap_parts(fn, kinks, n=None):
    """``E[φ(√q z)²]`` and ``E[φ'(√q z)²]`` as JAX functions of q."""

    def second(q):
        z, w = _rule(kinks, jnp.sqrt(q), 0.0, n)
        return w @ fn(jnp.sqrt(q) * z) ** 2

    def dot_second(q):
        z, w = _rule(kinks, jnp.sqrt(q), 0.0, n)
        return w @ _derivatives(fn, jnp.sqrt(q) * z, 1)[1] ** 2

    return second, dot_second


_Q_FLOOR = 1e-24

_Q_CEIL = 1e12

_Q_TABLE = np.geomspace(_Q_FLOOR, _Q_CEIL, 373)  # ratio 1.25 between neighbours

_HERMITE_ORDER = 32

@lru_cache(maxsize=64)
def _fixed_point_fn(base: Activation, n: int, kink_at_zero: bool):
    """jit(vmap) ``(σ_w², σ_b², q0, (α, β, γ, δ)) -> (q*, χ₁, Q'(q*), c*, C'(c*))`` for φ = γ(base(αx + β) + δ)
    (float64; ``n`` quadrature nodes per panel). The transform is a traced argument, so shaped activations of
    one base share one compilation.

    q* is the fixed point that the iteration q ← Q(q) reaches from q0: Q is increasing, so the iterates move
    monotonically to the nearest root of F(q) = Q(q) − q in the direction sign F(q0). That root is bracketed
    on a table of q (ratio 1.25, E[φ(√q z)²] tabulated once for all σ's) and refined by safeguarded Newton.
    No root down to 1e-24 gives q* = 0; none up to 1e12 gives q* = inf (the Q map diverges from q0).
    c* (needed only when χ₁ > 1) is the root of the convex G(c) = C(c) − c reached by Newton from c = 0, with
    C(c) = (σ_w² Σ_k a_k² c^k + σ_b²)/q* (Mehler series; a_k Hermite coefficients of φ(√q* z), k < 32, and
    the remaining mass E[φ²] − Σ a_k² on degree 32, so C(1) = 1).
    """
    leaky = base.name == "leaky_relu"
    base_fn, base_kinks = base.fn, ((0.0,) if kink_at_zero else _kinks(base))
    if leaky:  # the slope is traced too (tr[4]): TAT's slope changes with depth without recompiling
        def base_fn(x, tr):
            return jnp.where(x >= 0, x, tr[4] * x)

    def solve(sw2, sb2, q0, m_tab, tr):
        fn, kinks = _transformed(base_fn, base_kinks, tr)
        second, dot_second = _qmap_parts(fn, kinks, n)

        q_tab = jnp.asarray(_Q_TABLE)

        def F(q):
            return sw2 * second(q) + sb2 - q

        f0 = F(q0)
        f0 = jnp.where(jnp.abs(f0) <= 1e-13 * (1.0 + q0), 0.0, f0)  # q0 is a fixed point (e.g. shaped φ̂)
        up = f0 > 0
        pos = jnp.searchsorted(q_tab, q0)  # q_tab[pos - 1] < q0 <= q_tab[pos]
        sign_tab = (sw2 * m_tab + sb2 - q_tab) > 0
        idx = jnp.arange(q_tab.size)
        # first table point beyond q0 (in the direction of motion) where F has the other sign
        flip_up = jnp.where((idx >= pos) & (sign_tab != up), idx, q_tab.size)
        flip_dn = jnp.where((idx < pos) & (sign_tab != up), idx, -1)
        j_up, j_dn = jnp.min(flip_up), jnp.max(flip_dn)
        a = jnp.where(up, jnp.where(j_up > pos, q_tab[jnp.maximum(j_up - 1, 0)], q0), q_tab[jnp.maximum(j_dn, 0)])
        b = jnp.where(up, q_tab[jnp.minimum(j_up, q_tab.size - 1)], jnp.where(j_dn < pos - 1,
                                                                              q_tab[j_dn + 1], q0))
        a, b = jnp.minimum(a, b), jnp.maximum(a, b)
        a = jnp.where(up, jnp.maximum(a, q0), a)
        b = jnp.where(up, b, jnp.minimum(b, q0))
        diverged = up & (j_up >= q_tab.size)
        vanished = ~up & (j_dn < 0)

        def refine(_, abx):  # safeguarded Newton; F(a) > 0 > F(b) by construction
            a, b, x = abx
            fx, dfx = jax.jvp(F, (x,), (jnp.ones_like(x),))
            a, b = jnp.where(fx > 0, x, a), jnp.where(fx > 0, b, x)
            newton = x - fx / dfx
            step = jnp.where((newton > a) & (newton < b), newton, 0.5 * (a + b))
            return a, b, jnp.where(fx == 0, x, step)

        a, b, x = jax.lax.fori_loop(0, 8, refine, (a, b, 0.5 * (a + b)))
        q = jnp.where(f0 == 0, q0, jnp.where(vanished, 0.0, jnp.where(diverged, jnp.inf, x)))
        qe = jnp.clip(q, 1e-12, _Q_CEIL)  # q* = 0: the slopes' limit q → 0
        chi1 = sw2 * dot_second(qe)
        dq = sw2 * jax.grad(second)(qe)
        # c* from the Mehler series (meaningful when χ₁ > 1; c* = 1 otherwise)
        z, w = _rule(kinks, jnp.sqrt(qe), 0.0, n if kinks == () else None)
        fz = fn(jnp.sqrt(qe) * z)
        a_k = _hermite_polynomials(z, _HERMITE_ORDER) @ (w * fz)
        tail = jnp.maximum(w @ fz**2 - jnp.sum(a_k**2), 0.0)  # mass beyond the last order, put on degree K
        b_k = sw2 * jnp.concatenate([a_k**2, tail[None]]) / qe
        ks = jnp.arange(_HERMITE_ORDER + 1, dtype=float)
        poly, dpoly = b_k[::-1], (ks * b_k)[1:][::-1]

        def cnewton(_, c):
            g = sb2 / qe + jnp.polyval(poly, c) - c
            return jnp.clip(c - g / (jnp.polyval(dpoly, c) - 1.0), -1.0, 1.0)

        c = jax.lax.fori_loop(0, 16, cnewton, 0.0)
        chaotic = chi1 > 1.0
        c_star = jnp.where(chaotic, c, 1.0)
        chi_c = jnp.where(chaotic, jnp.polyval(dpoly, c), chi1)
        fin = jnp.isfinite(q)
        return tuple(jnp.where(fin, v, jnp.nan) for v in (chi1, dq, c_star, chi_c)) + (q,)

    def batched(sw2, sb2, q0, tr):
        fn, kinks = _transformed(base_fn, base_kinks, tr)
        m_tab = jax.vmap(_qmap_parts(fn, kinks, n)[0])(jnp.asarray(_Q_TABLE))
        chi1, dq, c_star, chi_c, q = jax.vmap(solve, in_axes=(0, 0, None, None, None))(sw2, sb2, q0, m_tab, tr)
        return q, chi1, dq, c_star, chi_c

    return jax.jit(batched)


def _transformed(base_fn, base_kinks, tr):
    """x ↦ γ(base(αx + β) + δ) and its kink positions (traced) for tr = (α, β, γ, δ[, slope])."""

    def fn(x):
        y = tr[0] * x + tr[1]
        return tr[2] * ((base_fn(y) if tr.shape[0] == 4 else base_fn(y, tr)) + tr[3])

    if base_kinks in ((), None, (0.0,)):  # (0.0,): kinks known to stay at 0 (β = 0)
        return fn, base_kinks
    return fn, tuple((k - tr[1]) / tr[0] for k in base_kinks)


def _hermite_polynomials(z, order):
    """``He_k(z)/√k!`` for k < order, shape (order, len(z)); ``h_{k+1} = (z h_k − √k h_{k−1})/√(k+1)``.
    (No overflow for order ≤ 64 at the |z| < 20 of the rules used here.)"""
    rows = [jnp.ones_like(z), z]
    for k in range(1, order - 1):
        rows.append((z * rows[k] - math.sqrt(k) * rows[k - 1]) / math.sqrt(k + 1))
    return jnp.stack(rows[:order])


def _fixed_points(phi, sw2, sb2, q0=1.0, n=_N_SMOOTH):
    sw2 = np.atleast_1d(np.asarray(sw2, dtype=float))
    sb2 = np.broadcast_to(np.asarray(sb2, dtype=float), sw2.shape)
    tr = list(phi.transform)
    if phi.name == "leaky_relu":  # one compilation for all slopes
        base = activation("leaky_relu")
        tr.append(dict(phi.params)["negative_slope"])
    else:
        base = replace(phi, transform=(1.0, 0.0, 1.0, 0.0))
    kinks = _kinks(base)
    kink_at_zero = bool(kinks) and tr[1] == 0.0 and all(k == 0.0 for k in kinks)
    with jax.enable_x64(True):
        out = _fixed_point_fn(base, n, kink_at_zero)(jnp.asarray(sw2), jnp.asarray(sb2), jnp.asarray(float(q0)),
                                       jnp.asarray(tr, dtype=float))
        return tuple(np.asarray(o, dtype=float) for o in out)


@dataclass(frozen=True, eq=False)
class PhaseDiagram:
    """Fixed-point quantities on a grid; arrays have shape ``(len(sigma_b2), len(sigma_w2))`` (rows = σ_b²).

    ``q_star`` (inf where the Q map diverges from q0), ``chi1`` = σ_w² E[φ'(√q* z)²], ``c_star`` (1 in the
    ordered phase), ``chi_c`` = C'(c*), ``xi_c`` = −1/log C'(c*) (∞ on the EOC), ``xi_q`` = −1/log Q'(q*).
    """

    activation: Activation
    sigma_w2: np.ndarray
    sigma_b2: np.ndarray
    q0: float
    q_star: np.ndarray
    chi1: np.ndarray
    c_star: np.ndarray
    chi_c: np.ndarray
    xi_c: np.ndarray
    xi_q: np.ndarray


def phase_diagram(phi, sigma_w2, sigma_b2, q0: float = 1.0) -> PhaseDiagram:
    """χ₁, q*, c*, ξ_c (and ξ_q) on the (σ_w², σ_b²) grid, vectorised with ``jax.vmap`` (Poole et al. 2016,
    Schoenholz et al. 2017). q* is reached by iterating the Q map from the input variance ``q0``.

    Display accuracy: smooth φ use a composite Gauss–Legendre rule with 8 nodes per unit panel (error ~1e-13
    at q* ≈ 1, ~1e-6 at q* ≈ 10 where φ(√q z) is step-like); ``eoc`` uses 12 nodes per panel."""
    phi = _as_activation(phi)
    w2 = np.atleast_1d(np.asarray(sigma_w2, dtype=float))
    b2 = np.atleast_1d(np.asarray(sigma_b2, dtype=float))
    if w2.ndim != 1 or b2.ndim != 1:
        raise ConfigurationError("sigma_w2 and sigma_b2 must be 1-D grids")
    if not (np.all(np.isfinite(w2)) and np.all(np.isfinite(b2)) and np.all(w2 > 0) and np.all(b2 >= 0)):
        raise ConfigurationError("grids need finite σ_w² > 0 and σ_b² ≥ 0")
    q0 = _finite("q0", q0, positive=True)
    W, B = np.meshgrid(w2, b2)
    q, chi1, dq, cs, chic = _fixed_points(phi, W.ravel(), B.ravel(), q0, n=_N_PHASE)
    shape = W.shape
    return PhaseDiagram(activation=phi, sigma_w2=w2, sigma_b2=b2, q0=q0, q_star=q.reshape(shape),
                        chi1=chi1.reshape(shape), c_star=cs.reshape(shape), chi_c=chic.reshape(shape),
                        xi_c=depth_scale(chic).reshape(shape), xi_q=depth_scale(dq).reshape(shape))


