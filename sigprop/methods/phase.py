"""The phase diagram: fixed-point quantities of the Q and C maps on a (σ_w², σ_b²) grid, in NumPy (Poole et al.
2016, arXiv:1606.05340; Schoenholz et al. 2017, arXiv:1611.01232).

q* and χ₁ come from the same bracketing and Newton steps as the Edge of Chaos (:func:`sigprop.methods.eoc.
fixed_points`), on the moments of φ's dual kernel (the networks' kernel objects). Grids up to ``EXACT_POINTS``
points evaluate them at every point; larger ones interpolate the moments E[φ(√q z)²], its q-derivative,
E[φ'(√q z)²] and the first 32 Hermite coefficients of φ(√q z),
tabulated once per activation on a uniform log-q grid and joined by cubic Hermite interpolation in log q,
slopes from fourth-order differences (relative error ~1e-8: display accuracy). c* (chaotic phase) solves
C(c) = c for the Mehler series
C(c) = (σ_w² Σ_k a_k² c^k + σ_b²)/q* (k < 32, the remaining mass E[φ²] − Σ a_k² put on degree 32, so C(1) = 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..activations import Activation
from ..errors import ConfigurationError
from .common import _as_activation, _finite, _is_homogeneous
from .eoc import Q_CEIL, Q_FLOOR, _hermite_coefficients, _q_moments, depth_scale, fixed_points

#: smooth rule for the phase diagram (display): 8 nodes per unit panel on [−8, 8]
_RULE = (8, 8)
_HERMITE_ORDER = 32
#: grids up to this many points are computed by quadrature at every point; larger ones from splines
EXACT_POINTS = 5000
_TABLE_POINTS = 2401


def _exact_coefficients(phi, q):
    """The first 32 Hermite coefficients of φ(√q z) for an array of q, by quadrature (display rule)."""
    return _hermite_coefficients(phi, q, _RULE, _HERMITE_ORDER)


class _UniformCubic:
    """Piecewise cubic Hermite interpolation of the columns of ``values`` (shape (n, m), n ≥ 5) on the uniform
    grid ``u``, with the slopes at the knots from fourth-order finite differences (central inside, one-sided
    at the two ends): interpolation error O(h⁴), like a cubic spline, with no linear system to solve."""

    def __init__(self, u: np.ndarray, values: np.ndarray):
        self.u0, self.h, self.values = float(u[0]), float(u[1] - u[0]), values
        f, d = values, np.empty_like(values)
        d[2:-2] = f[:-4] - 8 * f[1:-3] + 8 * f[3:-1] - f[4:]
        d[0] = -25 * f[0] + 48 * f[1] - 36 * f[2] + 16 * f[3] - 3 * f[4]
        d[1] = -3 * f[0] - 10 * f[1] + 18 * f[2] - 6 * f[3] + f[4]
        d[-1] = 25 * f[-1] - 48 * f[-2] + 36 * f[-3] - 16 * f[-4] + 3 * f[-5]
        d[-2] = 3 * f[-1] + 10 * f[-2] - 18 * f[-3] + 6 * f[-4] - f[-5]
        self.slopes = d / 12.0  # h·f'(u_i)

    def __call__(self, u) -> np.ndarray:
        s = (np.asarray(u, dtype=float) - self.u0) / self.h
        i = np.clip(np.floor(s).astype(np.intp), 0, len(self.values) - 2)
        t = (s - i)[..., None]
        f0, f1, d0, d1 = self.values[i], self.values[i + 1], self.slopes[i], self.slopes[i + 1]
        return f0 + t * (d0 + t * (3 * (f1 - f0) - 2 * d0 - d1 + t * (2 * (f0 - f1) + d0 + d1)))


@lru_cache(maxsize=16)
def _interpolants(phi):
    """Cubic interpolants in log q of the moments of φ(√q z) (E[φ²], d/dq, E[φ'²], from φ's dual kernel) and of
    its first 32 Hermite coefficients: two tables, as the fixed-point iteration needs only the first."""
    u = np.linspace(math.log(Q_FLOOR), math.log(Q_CEIL), _TABLE_POINTS)
    chunks = [np.exp(chunk) for chunk in np.array_split(u, 8)]
    moments = np.concatenate([np.stack(_q_moments(phi, q), -1) for q in chunks])
    coefficients = np.concatenate([_exact_coefficients(phi, q) for q in chunks])
    return _UniformCubic(u, moments), _UniformCubic(u, coefficients)


def _interpolated(phi):
    """(moments(q), coefficients(q)) read from :func:`_interpolants`."""
    moments, coefficients = _interpolants(phi)

    def log_q(q):
        return np.log(np.clip(np.asarray(q, dtype=float), Q_FLOOR, Q_CEIL))

    def moments_at(q):
        table = moments(log_q(q))
        return table[..., 0], table[..., 1], table[..., 2]

    return moments_at, lambda q: coefficients(log_q(q))


@dataclass(frozen=True, eq=False)
class PhaseDiagram:
    """Fixed-point quantities on a grid; arrays have shape ``(len(sigma_b2), len(sigma_w2))`` (rows = σ_b²).

    ``q_star`` (inf where the Q map diverges from q0), ``chi1`` = σ_w² E[φ'(√q* z)²], ``c_star`` (1 in the
    ordered phase), ``chi_c`` = C'(c*), ``xi_c`` = −1/log C'(c*), ``xi_q`` = −1/log Q'(q*). ξ_c is ∞ where the
    convergence of c is not exponential: on the EOC, at q* = 0 with σ_b = 0, and for the ReLU family at σ_b = 0
    (there C'(1) ≡ 1 whatever χ₁ says).
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


#: q* at or below this (with σ_b = 0) is a variance that vanishes (reached polynomially at χ₁(0) = 1)
VANISHED_Q = 1e-12


def _c_star(sw2, sb2, q, second, a):
    """c* and C'(c*) of the Mehler-series C map (16 Newton steps from c = 0, clipped to [−1, 1])."""
    b = np.concatenate([a * a, np.maximum(second - np.sum(a * a, -1), 0.0)[..., None]], -1)
    b = sw2[..., None] * b / q[..., None]
    k = np.arange(b.shape[-1], dtype=float)
    coef, dcoef = b.T, (k * b)[..., 1:].T
    c = np.zeros_like(q)
    for _ in range(16):
        g = sb2 / q + np.polynomial.polynomial.polyval(c, coef, tensor=False) - c
        c = np.clip(c - g / (np.polynomial.polynomial.polyval(c, dcoef, tensor=False) - 1.0), -1.0, 1.0)
    return c, np.polynomial.polynomial.polyval(c, dcoef, tensor=False)


def phase_diagram(phi, sigma_w2, sigma_b2, q0: float = 1.0) -> PhaseDiagram:
    """χ₁, q*, c*, ξ_c (and ξ_q) on the (σ_w², σ_b²) grid (Poole et al. 2016, Schoenholz et al. 2017). q* is
    reached by iterating the Q map from the input variance ``q0``.

    Accuracy: q*, χ₁ and ξ_q come from φ's dual kernel (closed form, or quadrature resolved at every q: ≤ 5e-12
    relative); c* and C'(c*) from 32 Hermite coefficients on a display rule of 8 nodes per unit panel (error
    ~1e-13 at q* ≈ 1, ~1e-6 at q* ≈ 10, where φ(√q z) is step-like); grids over ``EXACT_POINTS`` points add the
    splines' ~1e-8 (display)."""
    phi = _as_activation(phi)
    w2 = np.atleast_1d(np.asarray(sigma_w2, dtype=float))
    b2 = np.atleast_1d(np.asarray(sigma_b2, dtype=float))
    if w2.ndim != 1 or b2.ndim != 1:
        raise ConfigurationError("sigma_w2 and sigma_b2 must be 1-D grids")
    if not (np.all(np.isfinite(w2)) and np.all(np.isfinite(b2)) and np.all(w2 > 0) and np.all(b2 >= 0)):
        raise ConfigurationError("grids need finite σ_w² > 0 and σ_b² ≥ 0")
    q0 = _finite("q0", q0, positive=True)
    W, B = np.meshgrid(w2, b2)
    sw2, sb2 = W.ravel(), B.ravel()
    if sw2.size <= EXACT_POINTS:
        def moments_at(q):
            return _q_moments(phi, q)

        def coefficients_at(q):
            return _exact_coefficients(phi, q)
    else:
        moments_at, coefficients_at = _interpolated(phi)
    q, chi1, dq = fixed_points(phi, sw2, sb2, q0, q_moments=moments_at)
    c_star, chi_c = np.ones_like(q), chi1.copy()
    chaotic = np.isfinite(q) & (chi1 > 1.0 + 1e-12)  # (within 1e-12 of 1: the EOC, c* = 1)
    if chaotic.any():
        qc = np.clip(q[chaotic], 1e-12, Q_CEIL)
        second = moments_at(qc)[0]
        c_star[chaotic], chi_c[chaotic] = _c_star(sw2[chaotic], sb2[chaotic], qc, second, coefficients_at(qc))
    fin = np.isfinite(q)
    # No exponential depth scale (ξ_c = ∞) where σ_b = 0 and q* = 0 (q decays to 0 and the C map tends to its
    # q → 0 limit: the identity of φ's linear part, or the ReLU family's q-free arc-cosine map, C'(1) = 1), and
    # for the ReLU family at σ_b = 0 (Q(q) ∝ q makes C'(1) = σ_w² q E[φ'²]/Q(q) ≡ 1 whatever σ_w: 1 − c_l
    # falls like 1/l², not exponentially). χ₁ = σ_w² E[φ'²] is then not the slope of the C map.
    marginal = fin & (sb2 == 0.0) & ((q <= VANISHED_Q) | _is_homogeneous(phi))
    chi_c, c_star = np.where(marginal, 1.0, chi_c), np.where(marginal, 1.0, c_star)
    c_star, chi_c = np.where(fin, c_star, np.nan), np.where(fin, chi_c, np.nan)
    shape = W.shape
    return PhaseDiagram(activation=phi, sigma_w2=w2, sigma_b2=b2, q0=q0, q_star=q.reshape(shape),
                        chi1=chi1.reshape(shape), c_star=c_star.reshape(shape), chi_c=chi_c.reshape(shape),
                        xi_c=depth_scale(chi_c).reshape(shape), xi_q=depth_scale(dq).reshape(shape))
