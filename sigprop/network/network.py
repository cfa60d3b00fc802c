"""The public network object: a description (a :class:`~sigprop.network.base.Serial` of units) and every
whole-network quantity as a fold over it.

- q, 1 − c and C'(1) propagation: the fold of :mod:`sigprop.network.propagate` over the units' slots (NumPy,
  with settled runs tabulated; deep structures used repeatedly tier up to the jitted fold);
- the subnetwork maximum (DKS's semiring, :meth:`Network.subnetwork_max`) and the structure signature
  (:attr:`Network.signature`, the cache key of solved shapings): NumPy folds of the units;
- the NTK (:mod:`sigprop.ntk`), carried in the same (q, c) state by the units' ``ntk_forward``/``ntk_backward``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..activations import Activation
from ..errors import ConfigurationError, DivergenceError
from ..maps import MAX_Q, _out, check_array, x64
from .base import Serial
from .dense import PARAMS_RTOL, Q_FLOOR, SETTLED_RTOL, Dense
from .propagate import TIER_UP, bucket, jitted_propagate, propagate_numpy

MAX_DEPTH = 100_000
#: Network.c_map interpolates (in angle, checked against exact values) from this many points on, and accepts
#: an interpolant whose estimated error in arccos C_f is at most INTERPOLATE_ATOL.
INTERPOLATE_MIN_POINTS = 512
INTERPOLATE_ATOL = 1e-10
#: Which fold runs: "auto" (NumPy, layer by layer with settled runs tabulated: no JAX import, no compile, ~10 µs a
#: layer; networks deeper than TIER_UP_DEPTH that are used repeatedly switch to the jitted fold once it has been
#: compiled in the background, see :class:`~sigprop.network.propagate.TierUp`), "numpy" or "jax" (always). The
#: jitted fold also serves activations without a NumPy rule (plain JAX callables), whatever this says.
FOLD = os.environ.get("SIGPROP_FOLD", "auto")
TIER_UP_DEPTH = 1000


@dataclass(frozen=True)
class Network:
    """A network description; every whole-network quantity comes from this one object.

    ``depth`` counts nonlinear layers on the longest path; trajectories have one row per top-level unit
    (a layer of an MLP, a block of a ResNet) plus the input row.
    """

    body: Serial
    name: str = "network"
    init: object | None = None

    @property
    def depth(self) -> int:
        return self.body.depth

    @property
    def length(self) -> int:
        """Number of top-level units (rows of a trajectory minus one)."""
        return self.body.length

    @property
    def activations(self) -> tuple[Activation, ...]:
        return self.body.activations()

    @property
    def signature(self):
        """The architecture without activations or scales (hashable): the cache key of solved shapings."""
        return self.body.signature()

    @property
    def is_plain(self) -> bool:
        """Only Dense layers (a plain MLP)."""
        return all(isinstance(unit, Dense) for unit, _ in self.body.runs)

    # -- propagation --------------------------------------------------------------------------------
    def _kernels(self, q_max):
        return tuple(phi.kernel(q_max) for phi in self.activations)

    def _settled(self, q_traj, kernels=None) -> np.ndarray:
        """Per run: how many of its layers pass before q stops moving (|q_k − q_j| ≤ rtol·q_j for every later layer
        input q_k of the run, so the layer map made at q_j serves the rest of the run; rtol = SETTLED_RTOL = 0 for
        a tabulated map, PARAMS_RTOL for reused params; 0 layers for a gap linear in q); the run's length when it
        never does."""
        out, start = [], 0
        kern_of = dict(zip(self.activations, kernels or ()))
        for unit, times in self.body.runs:
            n = times
            kern = kern_of.get(unit.phi) if isinstance(unit, Dense) else None
            if kern is not None and kern.gap_linear_in_q:  # the map moves with q only through Q(q): settled
                n = 0
            elif q_traj is not None and isinstance(unit, Dense):
                s = np.asarray(q_traj[start:start + times], dtype=float)  # the inputs of the run's layers
                hi = np.maximum.accumulate(s[::-1])[::-1]
                lo = np.minimum.accumulate(s[::-1])[::-1]
                rtol = PARAMS_RTOL if kern is not None and not kern.tabulable else SETTLED_RTOL
                ok = np.flatnonzero((hi - s <= rtol * s) & (s - lo <= rtol * s))
                n = int(ok[0]) if ok.size else times
            out.append(n)
            start += times
        return np.asarray(out)

    def _numpy_capable(self) -> bool:
        """Whether every activation's kernel evaluates NumPy inputs in NumPy (a closed form or a NumPy jet)."""
        return all(phi.has_closed_form or phi.jet is not None for phi in self.activations)

    def _propagate(self, kernels, mode: str, record: bool, q0, d0, q_traj=None):
        index = {phi: j for j, phi in enumerate(self.activations)}
        scales: list[float] = []
        units = tuple(slot for slot, _ in self.body.slot(index, scales).runs)
        times = [t for _, t in self.body.runs]
        buffer = bucket(self.length + 1) if record else 0
        d0 = np.asarray(d0, dtype=float)
        key = None
        if FOLD != "jax" and self._numpy_capable():
            if FOLD == "auto" and self.depth > TIER_UP_DEPTH and mode in ("d", "tangent"):  # (q, C'(1): closed forms)
                key = (units, mode, buffer, d0.shape, self.activations,
                       tuple((type(k), getattr(k, "order", None), getattr(getattr(k, "base", None), "order", None))
                             for k in kernels))
            if key is None or not TIER_UP.ready(key):
                q, d, qs, ds = propagate_numpy(units, kernels, mode, record, times, np.asarray(scales, dtype=float),
                                               float(q0), d0)
                if key is not None:
                    TIER_UP.used(key, lambda: self._jitted(units, kernels, mode, buffer, times, scales, q0, d0,
                                                           q_traj))
                return (q, d, qs, ds) if record else (q, d)
        q, d, qs, ds = self._jitted(units, kernels, mode, buffer, times, scales, q0, d0, q_traj)
        if record:
            n = self.length + 1  # sliced in NumPy: a jnp slice would compile once per depth
            return q, d, np.asarray(qs)[:n], np.asarray(ds)[:n]
        return q, d

    def _jitted(self, units, kernels, mode, buffer, times, scales, q0, d0, q_traj):
        """The jitted fold (64-bit JAX inside this call only)."""
        with x64():
            import jax.numpy as jnp

            settled = jnp.asarray(self._settled(q_traj, kernels))
            out = jitted_propagate()(units, kernels, mode, buffer, jnp.asarray(times), settled,
                                     jnp.asarray(scales), jnp.asarray(q0, float), jnp.asarray(d0, float))
            return tuple(np.asarray(x) if x is not None else None for x in out)

    def _run(self, q0: float, d0, mode: str, record: bool):
        """Propagate (q0, d0); with ``record``, also return the state after every unit."""
        q_traj = self._q_path(q0)
        out = self._propagate(self._kernels(float(np.max(q_traj))), mode, record, q0, d0, q_traj)
        return out if record else out[:2]

    def _q_path(self, q0: float) -> np.ndarray:
        """q after each unit; raises DivergenceError if q explodes. Re-run with a kernel sized for max q."""
        q0 = check_array("q", q0, 0.0, MAX_Q, open_lo=True)
        if q0.ndim:
            raise ConfigurationError(f"q (the inputs' variance) must be one number, got an array of shape {q0.shape}")
        q0 = float(q0)
        q_max = q0
        for _ in range(3):
            qs = np.asarray(self._propagate(self._kernels(q_max), "q", True, q0, np.zeros((0,)))[2])
            bad = ~np.isfinite(qs) | (qs > MAX_Q)
            if bad.any():
                layer = int(np.argmax(bad))
                raise DivergenceError(
                    f"q explodes: it exceeds {MAX_Q:g} after unit {layer} of {self.length}; the forward signal "
                    "grows without bound (reduce σ_w, the depth, or use a normalised/shaped activation)")
            new_max = float(qs.max())
            if new_max <= 2 * q_max:
                return qs
            q_max = new_max
        return qs

    def q_trajectory(self, q: float = 1.0, *, vanished: str = "raise") -> np.ndarray:
        """q_l after each unit, shape (length + 1,); row 0 is the input q. Where q falls below Q_FLOOR (1e-280)
        it is not representable (C maps are: they reach their q → 0 limit): ``vanished="raise"`` raises
        DivergenceError, ``"nan"`` returns NaN from there on (for plots)."""
        if vanished not in ("raise", "nan"):
            raise ConfigurationError(f'vanished must be "raise" or "nan", got {vanished!r}')
        qs = self._q_path(q)
        below = qs <= Q_FLOOR
        if below.any() and vanished == "nan":
            return np.where(np.cumsum(below) > 0, np.nan, qs)
        if below.any():
            unit = int(np.argmax(below))
            raise DivergenceError(
                f"q vanishes: it falls below {Q_FLOOR:g} after unit {unit} of {self.length} (the forward signal "
                "decays geometrically, e.g. σ_w²·φ'(0)² < 1 with σ_b = 0), so q and the NTK cannot be represented "
                "past it; C maps can (they have reached their q → 0 limit). Use fewer layers, or σ_b > 0.")
        return qs

    def q_map(self, q=1.0):
        """Final q as a function of the input q (vectorised)."""
        q = check_array("q", q, 0.0, MAX_Q, open_lo=True)
        out = np.array([self.q_trajectory(float(v))[-1] for v in q.ravel()]).reshape(q.shape)
        return _out(out)

    def one_minus_c_map(self, one_minus_c, q: float = 1.0):
        """1 − C_f(1 − d), the whole network's degeneration, accurate for d down to ~1e-12."""
        d = check_array("one_minus_c", one_minus_c, 0.0, 2.0)
        out = np.asarray(self._run(q, d.ravel(), "d", False)[1]).reshape(d.shape)
        return _out(_finite(out, "1 − C_f"))

    def c_map(self, c, q: float = 1.0):
        """C_f(c): the whole network's C map. Many points (≥ INTERPOLATE_MIN_POINTS) are served by an
        interpolant checked against the exact map (see :meth:`_c_map_interpolated`); otherwise every c is
        propagated."""
        c = check_array("c", c, -1.0, 1.0)
        if c.size >= INTERPOLATE_MIN_POINTS:
            out = self._c_map_interpolated(c.ravel(), q)
            if out is not None:
                return _out(out.reshape(c.shape))
        return _out(1.0 - np.asarray(self.one_minus_c_map(1.0 - c, q)))

    def _c_map_interpolated(self, c: np.ndarray, q: float):
        """C_f on many points from its exact values at 2n + 1 = 129 Chebyshev–Lobatto nodes, or None.

        In angles θ = arccos c, the map θ ↦ θ_L = arccos C_f(cos θ) is smooth in u = log θ (for kinked φ too:
        1 − C(1 − d) = C'(1) d + O(d^{3/2}) makes it analytic in θ ~ √(2d); the log scale resolves the layer θ ~ 1/L
        where deep degenerate maps turn over). θ_L is interpolated in u on [log 1e-7, log π]
        (:func:`_chebyshev_lobatto_interpolate`); the few c within 1e-7 of angle 0 (1 − c < 5e-15) are propagated
        exactly. The 65-node interpolant through every other node, compared with the exact values at the others,
        gives an error estimate; if it is ≤ ``INTERPOLATE_ATOL`` (in θ_L, hence in C_f) the 129-node interpolant,
        whose error is far smaller still, gives C_f(c) = cos θ_L. Otherwise (maps with features finer than the nodes
        resolve) None: the caller propagates every c.
        """
        u_lo, u_hi, n = math.log(1e-7), math.log(math.pi), 64
        u = u_lo + (u_hi - u_lo) * 0.5 * (1.0 - np.cos(np.pi * np.arange(2 * n + 1) / (2 * n)))
        theta = np.exp(u)
        angle = np.arccos(c)
        near_one = (angle < theta[0]) & (c < 1.0)
        d = np.concatenate([2.0 * np.sin(theta / 2) ** 2, 1.0 - c[near_one]])  # d = 1 − cos θ, then exact ones
        d_out = np.asarray(self.one_minus_c_map(d, q))
        theta_out = 2.0 * np.arcsin(np.sqrt(np.clip(d_out[: theta.size] / 2.0, 0.0, 1.0)))
        coarse = _chebyshev_lobatto_interpolate(u[::2], theta_out[::2], u[1::2])
        error = np.max(np.abs(coarse - theta_out[1::2]))
        if not (np.isfinite(error) and error <= INTERPOLATE_ATOL):
            return None
        out = np.cos(_chebyshev_lobatto_interpolate(u, theta_out, np.log(np.clip(angle, theta[0], math.pi))))
        out[c == 1.0] = 1.0
        out[near_one] = 1.0 - d_out[theta.size:]
        return out

    def c_trajectory(self, c, q: float = 1.0) -> np.ndarray:
        """c_l after each unit, shape (length + 1, len(c)); row 0 is the input."""
        c = np.atleast_1d(check_array("c", c, -1.0, 1.0))
        ds = np.asarray(self._run(q, 1.0 - c, "d", True)[3])
        return 1.0 - _finite(ds, "c trajectory")

    def one_minus_c_trajectory(self, c, q: float = 1.0) -> np.ndarray:
        """1 − c_l after each unit (cancellation-free), shape (length + 1, len(c))."""
        c = np.atleast_1d(check_array("c", c, -1.0, 1.0))
        return _finite(np.asarray(self._run(q, 1.0 - c, "d", True)[3]), "1 − c trajectory")

    def c_slope(self, c, q: float = 1.0):
        """C_f'(c) = dC_f/dc at each c ∈ [−1, 1]: the chain rule through the units (t ← t·C'(c_l) at a layer,
        ``Σ wᵢ² qᵢ tᵢ / q`` at a sum), carried with the cosine in one fold."""
        c = check_array("c", c, -1.0, 1.0)
        d0 = np.stack([1.0 - c.ravel(), np.ones(c.size)])
        out = np.asarray(self._run(q, d0, "tangent", False)[1])[1].reshape(c.shape)
        return _out(_finite(out, "C_f'(c)"))

    def theorem13(self, q: float = 1.0, points: int = 2001) -> dict:
        """Martens et al. 2021 (arXiv:2110.01765) Theorem 13 for this network, next to the measured values.

        Bounds (:func:`theorem13_bounds`) from C_f'(0), C_f'(1) and C_f(0); measured: max |C_f(c) − c| and
        max |C_f'(c) − 1| on ``points`` equally spaced c ∈ [−1, 1] (a lower estimate of the maxima)."""
        grid = np.linspace(-1.0, 1.0, int(points))
        slopes = np.asarray(self.c_slope(grid, q))
        out = theorem13_bounds(float(self.c_slope(0.0, q)), self.c_slope_at_1(q), self.c_at_0(q))
        out["max |C_f(c) - c|"] = float(np.max(np.abs(np.asarray(self.c_map(grid, q)) - grid)))
        out["max |C_f'(c) - 1|"] = float(np.max(np.abs(slopes - 1.0)))
        return out

    def c_slope_at_1(self, q: float = 1.0) -> float:
        """C_f'(1) = ∏ of per-layer C'(1) through the architecture (chain rule, exact)."""
        return float(_finite(self._run(q, np.ones(1), "slope", False)[1][0], "C_f'(1)"))

    def c_at_0(self, q: float = 1.0) -> float:
        """C_f(0)."""
        return float(self.c_map(0.0, q))

    def c_deviation_bound(self, q: float = 1.0) -> float:
        """Upper bound on max_{c ∈ [−1, 1]} |C_f(c) − c| from C_f'(1) and C_f(0) (:func:`c_deviation_bound`)."""
        return c_deviation_bound(self.c_slope_at_1(q), self.c_at_0(q))

    def subnetwork_max(self, x0: float, on_layer: Callable[[float], float]) -> float:
        """Fold the architecture with ``on_layer`` at each nonlinear layer and ``Σ wᵢ² xᵢ`` at sums, and return
        the maximum over subnetworks: the whole net and every branch of a sum on its own (nested ones too).

        With ``on_layer = lambda x: ξ·x`` from 1 this is DKS's maximal slope function μ(ξ); with
        ``lambda x: x + τ`` from 0 the maximal curvature function κ(τ) (Martens et al. 2021, arXiv:2110.01765;
        Zhang et al. 2022, arXiv:2203.08120, Appendix B). The same function a dks ``subnet_max_func`` computes.
        """
        pending: dict = {}
        values = [self.body.fold(x0, on_layer, pending)]
        done: set = set()
        while len(done) < len(pending):
            for branch in [b for b in pending if b not in done]:
                done.add(branch)
                values.append(branch.fold(x0, on_layer, pending))
        return max(values)

    def ntk(self, c, q: float = 1.0):
        """Per-layer and total NTK Θ(c) for inputs of variance q (see :func:`sigprop.ntk.ntk`)."""
        from ..ntk import ntk

        return ntk(self, c, q)


def _finite(arr, what):
    if not np.all(np.isfinite(arr)):
        raise DivergenceError(f"{what} is not finite (the kernel map left the representable range)")
    return arr


def c_deviation_bound(slope_at_1: float, c_at_0: float) -> float:
    """``max_{c∈[−1,1]} |C_f(c) − c| ≤ min(2, 2(C_f'(1) − 1) + 4 C_f(0))``.

    A network's normalised C map is a power series ``C_f(c) = Σ_k b_k c^k`` with ``b_k ≥ 0`` (each layer's map
    is, and sums with non-negative weights and compositions keep it), ``Σ b_k = C_f(1) = 1``,
    ``Σ k b_k = C_f'(1)`` and ``b_0 = C_f(0)``. Then ``C_f(c) − c = Σ_{k≠1} b_k (c^k − c)`` with
    ``|c^k − c| ≤ 2``, so ``|C_f(c) − c| ≤ 2(1 − b_1)``, and
    ``1 − b_1 = b_0 + Σ_{k≥2} b_k ≤ b_0 + Σ_{k≥2} (k − 1) b_k = 2 b_0 + C_f'(1) − 1``.
    Equality at c = −1 for ``b = (0, 2 − ζ, ζ − 1)`` (DKS with C_f'(1) = ζ ≤ 2: bound 2(ζ − 1)) and for
    ``b = (η, 1 − 2η, η)`` (C_f'(1) = 1, C_f(0) = η ≤ 1/2: bound 4η).
    """
    slope = float(slope_at_1)
    c0 = float(c_at_0)
    if not (math.isfinite(slope) and math.isfinite(c0)):
        raise ConfigurationError(f"c_deviation_bound needs finite C_f'(1) and C_f(0), got {slope}, {c0}")
    return min(2.0, max(0.0, 2.0 * (slope - 1.0) + 4.0 * c0))


#: |C_f(0)| up to which a network counts as having C_f(0) = 0 for Theorem 13's extra bounds (DKS meets C(0) = 0
#: to rounding)
C0_ZERO_ATOL = 1e-12


def theorem13_bounds(slope_at_0: float, slope_at_1: float, c_at_0: float) -> dict:
    """Theorem 13 of Martens et al. 2021 (arXiv:2110.01765, as stated in theory.md §9) for any (sub)network f:

        (1/4)(1 − C_f'(0)) ≤ max_c |C_f(c) − c| ≤ 2(1 − C_f'(0)),
        max_c |C_f'(c) − 1| ≤ 2(1 − C_f'(0)) + (C_f'(1) − 1),

    and, if C_f(0) = 0 (here |C_f(0)| ≤ C0_ZERO_ATOL), also max |C_f(c) − c| ≤ 2(C_f'(1) − 1) and
    max |C_f'(c) − 1| ≤ 3(C_f'(1) − 1). (With C_f(c) = Σ b_k c^k, b_k ≥ 0, Σ b_k = 1: C_f'(0) = b_1.)"""
    s0, s1, c0 = float(slope_at_0), float(slope_at_1), float(c_at_0)
    if not all(math.isfinite(v) for v in (s0, s1, c0)):
        raise ConfigurationError(f"theorem13_bounds needs finite C_f'(0), C_f'(1), C_f(0), got {s0}, {s1}, {c0}")
    out = {"C_f'(0)": s0, "C_f'(1)": s1, "C_f(0)": c0,
           "deviation lower": 0.25 * (1.0 - s0), "deviation upper": 2.0 * (1.0 - s0),
           "slope deviation upper": 2.0 * (1.0 - s0) + (s1 - 1.0)}
    if abs(c0) <= C0_ZERO_ATOL:
        out["deviation upper (C_f(0) = 0)"] = 2.0 * (s1 - 1.0)
        out["slope deviation upper (C_f(0) = 0)"] = 3.0 * (s1 - 1.0)
    return out


def _chebyshev_lobatto_interpolate(nodes: np.ndarray, values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The polynomial through ``values`` at Chebyshev–Lobatto ``nodes`` (x_j = a + (b − a)(1 − cos(πj/n))/2,
    j = 0 … n), evaluated at ``x`` by the second barycentric formula with its closed-form weights
    w_j = (−1)^j, halved at both ends (Berrut & Trefethen 2004, SIAM Review 46(3), §5): stable, O(n) a point,
    and no weights to compute. A point on a node takes that node's value."""
    n = nodes.size - 1
    weights = np.where(np.arange(n + 1) % 2 == 0, 1.0, -1.0)
    weights[[0, n]] *= 0.5
    diff = x[:, None] - nodes[None, :]
    exact = diff == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = weights / diff
        out = (ratio @ values) / ratio.sum(axis=1)
    hit = exact.any(axis=1)
    if hit.any():
        out[hit] = values[np.argmax(exact[hit], axis=1)]
    return out

