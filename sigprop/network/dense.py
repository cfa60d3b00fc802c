"""Dense: one nonlinear layer ``h' = W φ(h) + b``, ``W_ij ~ N(0, σ_w²/N)``, ``b_i ~ N(0, σ_b²)``.

Kernel rule (Poole et al. 2016, arXiv:1606.05340, Eqs. 3 and 5), with u, v ~ N(0, q), corr(u, v) = 1 − d:

    q' = σ_w² E[φ(u)²] + σ_b²,     d' = σ_w² · ½E[(φ(u) − φ(v))²] / q'     (no cancellation near c = 1),

the slope at c = 1 is ``C'(1) = σ_w² q E[φ'(u)²] / q'`` and the NTK step is Jacot's
``Θ' = K' + Θ · σ_w² E[φ'(u)φ'(v)]`` with ``K' = σ_w² E[φ(u)φ(v)] + σ_b²`` (Jacot et al. 2018, arXiv:1806.07572).
Orthogonal and Delta-orthogonal (convolutional) weights give the same maps at infinite width (theory.md §11).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .._lazy import Lazy
from ..activations import Activation
from ..kernels import TABLE_CELLS, SettledMap, _ns, interpolate, tabulate
from .base import Layer, NumpyMemo

jax = Lazy("jax")
jnp = Lazy("jax.numpy")

#: a kernel's per-variance work (``params``: a Mehler series' coefficients) made at q serves inputs within this
#: relative distance of q: each 1 − c then moves by ~1e-13 relative, and a neutral Q map (DKS: Q(1) = 1 and
#: Q'(1) = 1, so q random-walks by ulps) does not recompute Hermite projections every layer
PARAMS_RTOL = 1e-13
#: a *tabulated* layer map (settled runs) serves only an exactly repeated q (a fixed point of Q in floating
#: point): a table made at q ≠ q' biases the fixed points of the C map (chaotic odd erf read C_f(0) = −7.6e-12
#: with 1e-13, against 0 exactly; issue 13)
SETTLED_RTOL = 0.0
#: Variances below this are held there: the C map's q → 0 limit is reached to ~1e-140 relative.
Q_FLOOR = 1e-280


@dataclass(frozen=True)
class Dense(Layer):
    """One nonlinear layer: φ, then a random affine map with weight scale σ_w and bias scale σ_b."""

    phi: Activation
    sigma_w: float = 1.0
    sigma_b: float = 0.0

    def activations(self):
        return (self.phi,)

    def signature(self):
        return ("dense",)

    def fold(self, x, on_layer, branches):
        return on_layer(x)

    def slot(self, index, scales):
        k = len(scales)
        scales.extend((self.sigma_w**2, self.sigma_b**2))
        return DenseSlot(index[self.phi], k)

    def ntk_forward(self, ctx, q, c, theta):
        step = ntk_rule if ctx.numpy else _ntk_step()
        q2, c2, theta2, k2, dot = step(ctx.kernels[self.phi], q, c, theta, self.sigma_w**2, self.sigma_b**2)
        return q2, c2, theta2, (k2, dot)

    def ntk_backward(self, rec, B, layers):
        k2, dot = rec
        layers.append(k2 * B)
        return B * dot

    def sample(self, h, sampler):
        """A finite layer: φ(h), then fresh weights, sampled exactly (:meth:`sigprop.finite.Sampler.linear`)."""
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            features = self.phi(h)
        return sampler.linear(features, self.sigma_w, self.sigma_b)

    def init_params(self, rng, n_in, spec):
        """``w`` (n_in × width; N(0, σ_w²/n_in) or scaled orthogonal), ``b`` ~ N(0, σ_b²)."""
        from ..training import init_weight

        return {"w": init_weight(rng, n_in, spec.width, self.sigma_w, spec),
                "b": self.sigma_b * rng.standard_normal(spec.width)}, spec.width

    def apply_params(self, params, h):
        return self.phi(h) @ params["w"] + params["b"]


def ntk_rule(kern, q, c, theta, sw2, sb2):
    """One Dense layer of Jacot's recursion (NumPy or JAX inputs): (q, c, Θ) -> (q', c', Θ', K', Σ̇) with
    ``K' = σ_w² E[φ(u)φ(v)] + σ_b²``, ``Σ̇ = σ_w² E[φ'(u)φ'(v)]``, ``Θ' = K' + Θ Σ̇``."""
    q2 = sw2 * kern.second_moment(q) + sb2
    k2 = sw2 * kern.cross(q, c) + sb2
    dot = sw2 * kern.dot_cross(q, c)
    return q2, k2 / q2, k2 + theta * dot, k2, dot


@lru_cache(maxsize=1)
def _ntk_step():
    """jit of :func:`ntk_rule`, for kernels without a NumPy rule; kernel and scales traced (new σ or a new
    transform do not recompile)."""
    from ..kernels import enable_jax

    enable_jax()
    return jax.jit(ntk_rule)


@dataclass(frozen=True)
class DenseSlot:
    """A Dense layer as JAX compiles it: kernel ``kernels[j]``, scales ``σ_w², σ_b² = scales[k], scales[k + 1]``
    (kernels are pytrees and scales a traced vector, so new σ or a new DKS/TAT transform reuse the compilation)."""

    j: int
    k: int

    def apply(self, kernels, scales, q, d, cache, mode):
        """One layer on the state (q, d). In NumPy (``cache`` a :class:`NumpyMemo`) the kernel's per-variance
        work is memoised by q (reused while q repeats exactly); under JAX it is carried in ``cache`` and reused
        while q stays put."""
        kern = kernels[self.j]
        sw2, sb2 = scales[self.k], scales[self.k + 1]
        q_out = sw2 * kern.second_moment(q) + sb2
        if mode == "q":
            d_out = d
        elif mode == "d" and isinstance(cache, NumpyMemo):
            q_cached, params = cache.get(self.j, (None, None))
            if q_cached is None or abs(q - q_cached) > PARAMS_RTOL * q:  # as the jitted fold reuses its params
                params = kern.params(q)
                cache[self.j] = (q, params)
            d_out = _physical(sw2 * kern.gap_with(params, q, d) / q_out)
        elif mode == "d":
            q_out, d_out, entry = _gap(kern, cache[self.j], q, d, sw2, q_out)
            d_out = _physical(d_out)
            cache = {**cache, self.j: entry}
        elif mode == "tangent":  # d = (1 − c, t): t ← t·C'(c) with C'(c) = σ_w² q E[φ'(u)φ'(v)] / Q(q)
            xp = _ns(q, d)
            d_out = xp.stack([_physical(sw2 * kern.gap(q, d[0]) / q_out),
                              d[1] * sw2 * q * kern.dot_cross(q, 1.0 - d[0]) / q_out])
        else:  # "slope": the tangent of d at d = 0, multiplied by C'(1) = σ_w² q E[φ'²] / Q(q)
            d_out = d * sw2 * q * kern.dot_second_moment(q) / q_out
        if isinstance(cache, NumpyMemo):
            return max(float(q_out), Q_FLOOR), np.asarray(d_out, dtype=float), cache
        return _ns(q_out).maximum(q_out, Q_FLOOR), d_out, cache

    def numpy_run(self, kernels, scales, q, d, memo, mode, times, qs, ds):
        """``times`` of these layers in NumPy (states appended to ``qs``/``ds`` when they are lists). Layer by layer
        until the map stops changing: q at an exact fixed point of Q (Q(q) == q in floating point), or a kernel
        whose gap is linear in q (only the scalar σ_w² q_l/q_{l+1} moves, and q is a scalar recursion). The rest
        of a long run then uses closed forms ("q", "slope") or the tabulated :class:`~sigprop.kernels.SettledMap`
        ("d"), so a depth-10,000 network costs ~10 µs a layer without compiling."""
        kern = kernels[self.j]
        done = 0
        while done < times:
            q_new, d, memo = self.apply(kernels, scales, q, d, memo, mode)
            done += 1
            fixed, q = q_new == q, q_new
            if qs is not None:
                qs.append(q)
                ds.append(d)
            left = times - done
            if left >= 2 and (fixed or kern.gap_linear_in_q) and (
                    mode in ("q", "slope") or mode == "d" and (kern.tabulable or kern.gap_linear_in_q)
                    and left * max(np.size(d), 64) >= TABLE_CELLS):  # the table costs ~TABLE_CELLS evaluations
                out = self._settled_run(kern, scales, q, d, memo, mode, left, fixed, qs, ds)
                if out is not None:
                    return out
        return q, d, memo

    def _settled_run(self, kern, scales, q, d, memo, mode, n, fixed, qs, ds):
        sw2, sb2 = float(scales[self.k]), float(scales[self.k + 1])
        m = kern.second_moment_factor
        if fixed:  # (q may sit at Q_FLOOR, where Q(q) < q: the maps use the unclamped Q(q))
            q_in = np.full(n + 1, q)
            q_out = np.full(n, float(sw2 * kern.second_moment(q) + sb2))
        elif m is not None and sw2 * m > 0:  # affine Q, q' = r q + σ_b² (r = σ_w² m): q_l = r^l q_0 + σ_b² S_l
            r = sw2 * m  # with S_l = (r^l − 1)/(r − 1) = expm1(l log1p(δ))/δ, δ = r − 1 (exact near r = 1)
            steps, delta = np.arange(n + 1.0), r - 1.0
            log_r = math.log1p(delta) if abs(delta) < 0.5 else math.log(r)  # (r − 1 may round to −1)
            sums = np.expm1(steps * log_r) / delta if delta != 0.0 else steps
            q_in = np.maximum(np.exp(steps * log_r) * q + sb2 * sums, Q_FLOOR)
            q_out = r * q_in[:-1] + sb2
        else:  # the scalar recursion, as `apply` computes it
            q_in, q_out = np.empty(n + 1), np.empty(n)
            q_in[0] = q
            for i in range(n):
                q_out[i] = float(sw2 * kern.second_moment(q) + sb2)
                q = q_in[i + 1] = max(q_out[i], Q_FLOOR)
        with np.errstate(all="ignore"):
            gain = sw2 * q_in[:-1] / q_out  # σ_w² q_l / Q(q_l)
        if not np.all(np.isfinite(gain) & (q_out > 0)):
            return None  # a zero layer output (σ_w = σ_b = 0) or an overflow: layer by layer, which reports it
        if mode == "q":
            states = None
        elif mode == "slope":  # × C'(1) = σ_w² q E[φ'²] / Q(q) per layer (E[φ'²] constant: q fixed, or homogeneous φ)
            factors = gain * float(kern.dot_second_moment(q_in[0]))
            if qs is None:
                d = d * np.prod(factors)
            else:
                states = np.cumprod(factors).reshape((-1,) + (1,) * np.ndim(d)) * d
                d = states[-1]
        else:  # "d": d ← σ_w² gap(q_l, d)/q_{l+1} = (gain_l/q_ref)·gap(q_ref, d) (q_l = q_ref, or gap ∝ q)
            q_ref = float(q_in[0])
            with np.errstate(all="ignore"):
                table = SettledMap(kern, kern.params(q_ref), q_ref)
            if not (np.all(np.isfinite(table.coef)) and np.all(np.isfinite(d))):
                return None  # layer by layer: the direct path reports what is not finite
            states = [] if qs is not None else None
            d = table.iterate(d, (gain / q_ref).tolist(), states)
        if qs is not None:
            qs.extend(q_in[1:].tolist())
            ds.extend([d] * n if mode == "q" else list(states))
        return float(q_in[-1]), np.asarray(d, dtype=float), memo

    def settled_step(self, kernels, scales, cache, q):
        """The ``d`` update once the input variance no longer moves: per-variance work done once (``params``,
        and for smooth φ the table of ``gap(q, d)/d``), so the loop body has no branches."""
        kern = kernels[self.j]
        sw2, sb2 = scales[self.k], scales[self.k + 1]
        params = kern.params(q)
        if kern.tabulable:
            table = tabulate(kern, params, q)
            entry = (q, params, table, jnp.asarray(True))

            def gap(qv, dv):
                return dv * interpolate(table, dv)
        else:
            entry = (q, params, cache[self.j][2], cache[self.j][3])

            def gap(qv, dv):
                return kern.gap_with(params, qv, dv)

        def step(qv, dv):
            q_out = sw2 * kern.second_moment(qv) + sb2
            return jnp.maximum(q_out, Q_FLOOR), _physical(sw2 * gap(qv, dv) / q_out)

        return step, {**cache, self.j: entry}


def _physical(d):
    """1 − c held in [0, 2]: a C map sends [−1, 1] into itself (|E[φ(u)φ(v)]| ≤ E[φ²] by Cauchy–Schwarz), so a
    value outside is rounding — which a repelling fixed point (c = −1 of an odd φ in the chaotic phase, where
    C'(−1) = C'(1) > 1) would otherwise amplify layer after layer."""
    return _ns(d).clip(d, 0.0, 2.0)


def _gap(kern, entry, q, d, sw2, q_out):
    """``1 − C(1 − d) = σ_w² gap(q, d) / Q(q)``, reusing work while q stays put (q repeated exactly, at a
    fixed point): the kernel's per-variance ``params`` are kept, and for smooth φ the fixed map's
    ``gap(q, d)/d`` is tabulated once and interpolated (:func:`sigprop.kernels.tabulate`)."""
    q_cached, params, table, has_table = entry
    same = jnp.abs(q - q_cached) <= (SETTLED_RTOL if kern.tabulable else PARAMS_RTOL) * q
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
