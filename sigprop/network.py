"""Network descriptions and whole-network kernel maps.

A network is described once, as data (in the spirit of neural-tangents' layer combinators), and every
quantity is computed from that one description by pushing a kernel state through it:

- :class:`Dense` — one nonlinear layer ``h' = W φ(h) + b``: ``q ← Q(q)``, ``1 − c ← 1 − C(c)`` (:mod:`sigprop.maps`);
- :class:`Residual` — ``w · x + √(1 − w²) · branch(x)``: ``q ← w² q + (1 − w²) q_b`` and
  ``q(1 − c) ← w² q (1 − c) + (1 − w²) q_b (1 − c_b)`` (so ``C = w² C_skip + (1 − w²) C_branch`` when q is fixed);
- :class:`Serial` — composition; runs of identical units are folded with ``jax.lax.scan``.

The state is ``(q, d)`` with ``d = 1 − c``, so degeneration near c = 1 is resolved without cancellation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from scipy.interpolate import BarycentricInterpolator

from .activations import Activation, activation
from .errors import ConfigurationError, DivergenceError
from .kernels import TABLE_CELLS, interpolate, tabulate
from .maps import MAX_Q, _out, check_array, check_scale, x64

MAX_DEPTH = 100_000
#: Variances below this are held there: the C map's q → 0 limit is reached to ~1e-140 relative.
Q_FLOOR = 1e-280
#: A run of Dense layers reuses one layer map once q stays within this relative distance (Network._settled).
SETTLED_RTOL = 1e-13
#: Network.c_map interpolates (in angle, checked against exact values) from this many points on, and accepts
#: an interpolant whose estimated error in arccos C_f is at most INTERPOLATE_ATOL.
INTERPOLATE_MIN_POINTS = 512
INTERPOLATE_ATOL = 1e-10


@dataclass(frozen=True)
class Dense:
    """One nonlinear layer: φ, then a random affine map with weight scale σ_w and bias scale σ_b."""

    phi: Activation
    sigma_w: float = 1.0
    sigma_b: float = 0.0

    @property
    def depth(self) -> int:
        return 1


@dataclass(frozen=True)
class Residual:
    """``w · x + √(1 − w²) · branch(x)`` — a normalised sum with shortcut weight w ∈ [0, 1]."""

    branch: Serial
    shortcut_weight: float

    @property
    def depth(self) -> int:
        return self.branch.depth


@dataclass(frozen=True)
class Serial:
    """Units applied in order; ``runs`` holds (unit, times) pairs so deep stacks stay compact."""

    runs: tuple[tuple[Dense | Residual, int], ...]

    @property
    def depth(self) -> int:
        return sum(unit.depth * times for unit, times in self.runs)

    @property
    def length(self) -> int:
        return sum(times for _, times in self.runs)


# --------------------------------------------------------------------------------------------------
# kernel propagation (traced by JAX)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _DenseSlot:
    """A Dense layer as JAX compiles it: its kernel is ``kernels[j]`` and its scales are
    ``σ_w², σ_b² = scales[k], scales[k + 1]``; kernels (pytrees) and scales are traced, so a network with new σ,
    or with a new transform of the same φ (DKS, TAT), reuses the compilation."""

    j: int
    k: int


@dataclass(frozen=True)
class _ResidualSlot:
    """A Residual unit as JAX compiles it: ``w² = scales[k]``, branch runs of slots."""

    runs: tuple
    k: int


def _slots(runs, activations) -> tuple[tuple, np.ndarray]:
    """Split (unit, times) runs into the static structure that JAX compiles (which of ``activations`` each
    layer uses, and the nesting of units) and the flat vector of their scales (σ_w², σ_b², w²), traced."""
    scales: list[float] = []
    index = {phi: j for j, phi in enumerate(activations)}

    def split(runs):
        out = []
        for unit, times in runs:
            k = len(scales)
            if isinstance(unit, Dense):
                scales.extend((unit.sigma_w**2, unit.sigma_b**2))
                out.append((_DenseSlot(index[unit.phi], k), times))
            elif isinstance(unit, Residual):
                scales.append(unit.shortcut_weight**2)
                out.append((_ResidualSlot(split(unit.branch.runs), k), times))
            else:
                raise TypeError(f"unknown network unit {unit!r}")
        return tuple(out)

    structure = split(runs)
    return structure, np.asarray(scales, dtype=float)


def _dense_step(layer: _DenseSlot, kernels, scales, q, d, cache, mode):
    kern = kernels[layer.j]
    sw2, sb2 = scales[layer.k], scales[layer.k + 1]
    q_out = sw2 * kern.second_moment(q) + sb2
    if mode == "q":
        d_out = d
    elif mode == "d":
        q_out, d_out, entry = _dense_gap(kern, cache[layer.j], q, d, sw2, q_out)
        cache = {**cache, layer.j: entry}
    else:  # "slope": tangent of d at d = 0, multiplied by C'(1) = σ_w² q E[φ'²] / Q(q)
        d_out = d * sw2 * q * kern.dot_second_moment(q) / q_out
    return jnp.maximum(q_out, Q_FLOOR), d_out, cache


def _dense_gap(kern, entry, q, d, sw2, q_out):
    """``1 − C(1 − d) = σ_w² gap(q, d) / Q(q)``, reusing work while q stays put (|Δq| ≤ 1e-15 q, e.g. at a
    fixed point): the kernel's per-variance ``params`` are kept, and for smooth φ the fixed map's
    ``gap(q, d)/d`` is tabulated once and interpolated (:func:`sigprop.kernels.tabulate`)."""
    q_cached, params, table, has_table = entry
    same = jnp.abs(q - q_cached) <= 1e-15 * q
    if not kern.tabulable:
        params = jax.lax.cond(same, lambda: params, lambda: kern.params(q))
        return q_out, sw2 * kern.gap_with(params, q, d) / q_out, (jnp.where(same, q_cached, q), params, table,
                                                                    has_table)

    def fresh():
        new = kern.params(q)
        return sw2 * kern.gap_with(new, q, d) / q_out, (q, new, table, jnp.asarray(False))

    def reuse():
        tab = jax.lax.cond(has_table, lambda: table, lambda: tabulate(kern, params, q_cached))
        return sw2 * d * interpolate(tab, d) / q_out, (q_cached, params, tab, jnp.asarray(True))

    d_out, entry = jax.lax.cond(same, reuse, fresh)
    return q_out, d_out, entry


def _apply(unit, kernels, scales, q, d, cache, mode):
    if isinstance(unit, _DenseSlot):
        return _dense_step(unit, kernels, scales, q, d, cache, mode)
    w2 = scales[unit.k]
    qb, db, cache = _apply_runs(unit.runs, kernels, scales, q, d, cache, mode)
    q_out = w2 * q + (1 - w2) * qb
    return q_out, (w2 * q * d + (1 - w2) * qb * db) / q_out, cache


def _apply_runs(runs, kernels, scales, q, d, cache, mode):
    """Push (q, d) through a (small, static) tuple of runs — used for residual branches."""
    for unit, times in runs:
        q, d, cache = jax.lax.fori_loop(
            0, times, lambda _, carry, unit=unit: _apply(unit, kernels, scales, *carry, mode), (q, d, cache)
        )
    return q, d, cache


def _bucket(n: int) -> int:
    """Power of two ≥ n: trajectories are recorded into buffers of this length, so one compilation serves
    every depth up to it (a depth slider does not recompile)."""
    return max(1024, 1 << max(n - 1, 0).bit_length())


def _settled_dense_run(kern, layer: _DenseSlot, scales, cache, q):
    """The ``d`` update of a Dense layer whose input variance no longer moves: per-variance work done once
    (``params``, and for smooth φ the table of ``gap(q, d)/d``), so the loop body has no branches."""
    sw2, sb2 = scales[layer.k], scales[layer.k + 1]
    params = kern.params(q)
    if kern.tabulable:
        table = tabulate(kern, params, q)
        entry = (q, params, table, jnp.asarray(True))

        def gap(qv, dv):
            return dv * interpolate(table, dv)
    else:
        entry = (q, params, cache[layer.j][2], cache[layer.j][3])

        def gap(qv, dv):
            return kern.gap_with(params, qv, dv)

    def step(qv, dv):
        q_out = sw2 * kern.second_moment(qv) + sb2
        return jnp.maximum(q_out, Q_FLOOR), sw2 * gap(qv, dv) / q_out

    return step, {**cache, layer.j: entry}


@partial(jax.jit, static_argnums=(0, 2, 3))
def _propagate(units, kernels, mode, record, times, settled, scales, q0, d0):
    """Push (q0, d0) through ``units`` (slots, see :func:`_slots`) repeated ``times``. The repeats and the
    ``scales`` are traced arrays: one compilation serves every depth and every σ_w, σ_b, w.

    In the ``d`` mode, a run of Dense layers switches after ``settled`` layers (where q has stopped moving,
    see :meth:`Network._settled`) to a branch-free loop over the now fixed layer map.
    Returns the final (q, d) and, with ``record``, buffers of the state after every unit (length ``record``).
    """
    cache = {j: (q0, kern.params(q0), jnp.zeros(TABLE_CELLS + 1), jnp.asarray(False))
             for j, kern in enumerate(kernels)} if mode == "d" else {}
    q, d = q0, d0
    qs = jnp.zeros((record,)).at[0].set(q0) if record else None
    ds = jnp.zeros((record, *d0.shape)).at[0].set(d0) if record else None
    start = 0
    for i, unit in enumerate(units):
        def body(j, carry, unit=unit, start=start):
            q, d, cache, qs, ds = carry
            q, d, cache = _apply(unit, kernels, scales, q, d, cache, mode)
            if record:
                qs = qs.at[start + j + 1].set(q)
                ds = ds.at[start + j + 1].set(d)
            return q, d, cache, qs, ds

        if mode == "d" and isinstance(unit, _DenseSlot):
            n_pre = jnp.minimum(settled[i], times[i])
            q, d, cache, qs, ds = jax.lax.fori_loop(0, n_pre, body, (q, d, cache, qs, ds))
            step, cache = _settled_dense_run(kernels[unit.j], unit, scales, cache, q)

            def fixed_body(j, carry, step=step, start=start):
                q, d, qs, ds = carry
                q, d = step(q, d)
                if record:
                    qs = qs.at[start + j + 1].set(q)
                    ds = ds.at[start + j + 1].set(d)
                return q, d, qs, ds

            q, d, qs, ds = jax.lax.fori_loop(n_pre, times[i], fixed_body, (q, d, qs, ds))
        else:
            q, d, cache, qs, ds = jax.lax.fori_loop(0, times[i], body, (q, d, cache, qs, ds))
        start = start + times[i]
    return q, d, qs, ds


# --------------------------------------------------------------------------------------------------
# the public network object
# --------------------------------------------------------------------------------------------------


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
        seen: dict[Activation, None] = {}

        def walk(serial):
            for unit, _ in serial.runs:
                if isinstance(unit, Dense):
                    seen.setdefault(unit.phi)
                else:
                    walk(unit.branch)

        walk(self.body)
        return tuple(seen)

    # -- propagation --------------------------------------------------------------------------------
    def _kernels(self, q_max):
        return tuple(phi.kernel(q_max) for phi in self.activations)

    def _settled(self, q_traj) -> np.ndarray:
        """Per run: how many of its layers pass before q stops moving (|q_k − q_j| ≤ SETTLED_RTOL·q_j for every
        later layer input q_k of the run, so reusing the layer map made at q_j changes each 1 − c_l by at
        most ~SETTLED_RTOL relative); the run's length when it never does."""
        out, start = [], 0
        for unit, times in self.body.runs:
            n = times
            if q_traj is not None and isinstance(unit, Dense):
                s = np.asarray(q_traj[start:start + times], dtype=float)  # the inputs of the run's layers
                hi = np.maximum.accumulate(s[::-1])[::-1]
                lo = np.minimum.accumulate(s[::-1])[::-1]
                ok = np.flatnonzero((hi - s <= SETTLED_RTOL * s) & (s - lo <= SETTLED_RTOL * s))
                n = int(ok[0]) if ok.size else times
            out.append(n)
            start += times
        return np.asarray(out)

    def _propagate(self, kernels, mode: str, record: bool, q0, d0, q_traj=None):
        structure, scales = _slots(self.body.runs, self.activations)
        units = tuple(unit for unit, _ in structure)
        times = jnp.asarray([t for _, t in self.body.runs])
        settled = jnp.asarray(self._settled(q_traj))
        buffer = _bucket(self.length + 1) if record else 0
        q, d, qs, ds = _propagate(units, kernels, mode, buffer, times, settled, jnp.asarray(scales),
                                  jnp.asarray(q0, float), jnp.asarray(d0, float))
        if record:
            n = self.length + 1  # sliced in NumPy: a jnp slice would compile once per depth
            return q, d, np.asarray(qs)[:n], np.asarray(ds)[:n]
        return q, d

    def _run(self, q0: float, d0, mode: str, record: bool):
        """Propagate (q0, d0); with ``record``, also return the state after every unit."""
        with x64():
            q_traj = self._q_path(q0)
            out = self._propagate(self._kernels(float(np.max(q_traj))), mode, record, q0, d0, q_traj)
            return out if record else out[:2]

    def _q_path(self, q0: float) -> np.ndarray:
        """q after each unit; raises DivergenceError if q explodes. Re-run with a kernel sized for max q."""
        q0 = float(check_array("q", q0, 0.0, MAX_Q, open_lo=True))
        q_max = q0
        for _ in range(3):
            qs = np.asarray(self._propagate(self._kernels(q_max), "q", True, q0, jnp.zeros((0,)))[2])
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

    def q_trajectory(self, q: float = 1.0) -> np.ndarray:
        """q_l after each unit, shape (length + 1,); row 0 is the input q."""
        with x64():
            return self._q_path(q)

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
        1 − C(1 − d) = C'(1) d + O(d^{3/2}) makes it analytic in θ ~ √(2d); the log scale resolves the layer
        θ ~ 1/L where deep degenerate maps turn over). θ_L is interpolated (barycentric, scipy) in u on
        [log 1e-7, log π]; the few c within 1e-7 of angle 0 (1 − c < 5e-15) are propagated exactly. The
        65-node interpolant through every other node, compared with the exact values at the others, gives an
        error estimate; if it is ≤ ``INTERPOLATE_ATOL`` (in θ_L, hence in C_f) the 129-node interpolant,
        whose error is far smaller still, gives C_f(c) = cos θ_L. Otherwise (maps with features finer than
        the nodes resolve) None: the caller propagates every c.
        """
        u_lo, u_hi, n = math.log(1e-7), math.log(math.pi), 64
        u = u_lo + (u_hi - u_lo) * 0.5 * (1.0 - np.cos(np.pi * np.arange(2 * n + 1) / (2 * n)))
        theta = np.exp(u)
        angle = np.arccos(c)
        near_one = (angle < theta[0]) & (c < 1.0)
        d = np.concatenate([2.0 * np.sin(theta / 2) ** 2, 1.0 - c[near_one]])  # d = 1 − cos θ, then exact ones
        d_out = np.asarray(self.one_minus_c_map(d, q))
        theta_out = 2.0 * np.arcsin(np.sqrt(np.clip(d_out[: theta.size] / 2.0, 0.0, 1.0)))
        coarse = BarycentricInterpolator(u[::2], theta_out[::2])
        error = np.max(np.abs(coarse(u[1::2]) - theta_out[1::2]))
        if not (np.isfinite(error) and error <= INTERPOLATE_ATOL):
            return None
        out = np.cos(BarycentricInterpolator(u, theta_out)(np.log(np.clip(angle, theta[0], math.pi))))
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
        """Fold the architecture with ``on_layer`` at each nonlinear layer and ``Σ w_i² x_i`` at sums, and
        return the maximum over subnetworks (the whole net and each residual branch on its own).

        With ``on_layer = lambda x: ξ·x`` from 1 this is DKS's maximal slope function μ(ξ); with
        ``lambda x: x + τ`` from 0 the maximal curvature function κ(τ) (Martens et al. 2021, TAT §4).
        """
        branches: list[Serial] = []

        def fold(serial: Serial, x):
            for unit, times in serial.runs:
                for _ in range(times):
                    if isinstance(unit, Dense):
                        x = on_layer(x)
                    else:
                        w2 = unit.shortcut_weight**2
                        x = w2 * x + (1 - w2) * fold(unit.branch, x)
                if isinstance(unit, Residual):
                    branches.append(unit.branch)
            return x

        whole = fold(self.body, x0)
        return max([whole] + [fold(b, x0) for b in branches])

    def ntk(self, c):
        """Per-layer and total NTK Θ(c) (see :func:`sigprop.ntk.ntk`)."""
        from .ntk import ntk

        return ntk(self, c)


def _finite(arr, what):
    if not np.all(np.isfinite(arr)):
        raise DivergenceError(f"{what} is not finite (the kernel map left the representable range)")
    return arr


# --------------------------------------------------------------------------------------------------
# builders
# --------------------------------------------------------------------------------------------------


def _check_depth(name: str, depth) -> int:
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) and not (
            isinstance(depth, float) and depth.is_integer()):
        raise ConfigurationError(f"{name} must be a whole number, got {depth!r}")
    depth = int(depth)
    if not 1 <= depth <= MAX_DEPTH:
        raise ConfigurationError(f"{name} must be between 1 and {MAX_DEPTH:,}, got {depth:,}")
    return depth


def _layer(phi, sigma_w, sigma_b, init):
    if init is not None:
        phi, sigma_w, sigma_b = init.activation, init.sigma_w, init.sigma_b
    return Dense(activation(phi), check_scale("sigma_w", sigma_w), check_scale("sigma_b", sigma_b))


def mlp(phi, depth: int, sigma_w: float = 1.0, sigma_b: float = 0.0, init=None) -> Network:
    """A plain network of ``depth`` nonlinear layers ``h' = W φ(h) + b``.

    ``init`` — a method result (``sp.dks(...)``, ``sp.eoc(...)``, ...) — supplies the transformed
    activation and σ_w, σ_b, overriding ``phi``/``sigma_w``/``sigma_b``.
    """
    depth = _check_depth("depth", depth)
    return Network(Serial(((_layer(phi, sigma_w, sigma_b, init), depth),)), name=f"mlp-{depth}", init=init)


def resnet(phi, blocks: int, shortcut_weight: float = 0.8, layers_per_block: int = 2,
           sigma_w: float = 1.0, sigma_b: float = 0.0, init=None) -> Network:
    """``blocks`` residual blocks ``w·x + √(1 − w²)·branch(x)``, each branch ``layers_per_block`` layers."""
    blocks = _check_depth("blocks", blocks)
    layers_per_block = _check_depth("layers_per_block", layers_per_block)
    w = check_scale("shortcut_weight", shortcut_weight)
    if w > 1:
        raise ConfigurationError(f"shortcut_weight must lie in [0, 1], got {w}")
    branch = Serial(((_layer(phi, sigma_w, sigma_b, init), layers_per_block),))
    if math.prod((blocks, layers_per_block)) > MAX_DEPTH:
        raise ConfigurationError(f"blocks × layers_per_block must be ≤ {MAX_DEPTH:,}")
    return Network(Serial(((Residual(branch, w), blocks),)), name=f"resnet-{blocks}x{layers_per_block}", init=init)


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

